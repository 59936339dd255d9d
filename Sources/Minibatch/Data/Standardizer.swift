/// Feature standardisation `x'_j = (x_j − μ_j) / σ_j`, with `μ` and `σ` fitted on one data set
/// (the training set) and applied unchanged to others (the test set).
///
/// `σ_j` is the population standard deviation (divide by the count). A constant column
/// (`σ_j = 0`, such as the always-blank corner pixels of the digits) is only centred: its `σ_j`
/// is taken as 1, so no division by zero happens.
public struct Standardizer<Scalar: BLASScalar>: Sendable, Hashable {
  /// Per-feature means `μ_j`.
  public let means: [Scalar]
  /// Per-feature scales `σ_j` (1 for constant features).
  public let scales: [Scalar]

  /// Fits means and scales on the rows of `inputs`, in two passes accumulated in Double: the mean
  /// first, then `σ² = (1/m)·Σ (x − μ)²`. The one-pass `E[x²] − μ²` cancels catastrophically when
  /// `|μ|/σ` is large (a feature of 1e6 ± 1 gets a wrong scale, or none); the centred second pass
  /// does not.
  ///
  /// - Throws: ``MinibatchError/nonFiniteEntry(row:column:of:)`` naming the first NaN or infinite
  ///   input (a mean or scale fitted on it would be NaN).
  public init(fitting inputs: Matrix<Scalar>) throws(MinibatchError) {
    try validateFiniteEntries(inputs, of: "inputs to standardise")
    let d = inputs.columns
    let count = Double(inputs.rows)
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<inputs.rows {
      for (j, x) in inputs.rowUnchecked(i).enumerated() { mean[j] += Double(x) }
    }
    for j in 0..<d { mean[j] /= count }
    var squares = [Double](repeating: 0, count: d)
    for i in 0..<inputs.rows {
      for (j, x) in inputs.rowUnchecked(i).enumerated() {
        let deviation = Double(x) - mean[j]
        squares[j] += deviation * deviation
      }
    }
    means = mean.map { Scalar($0) }
    scales = zip(squares, mean).map { squares, mu in
      let deviation = (squares / count).squareRoot()
      // Constant up to rounding (relative to the column's magnitude): only centre it.
      return deviation > 1e-12 * max(1, abs(mu)) ? Scalar(deviation) : 1
    }
  }

  init(means: [Scalar], scales: [Scalar]) {
    self.means = means
    self.scales = scales
  }

  /// `inputs` standardised column by column.
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if the column count differs
  ///   from the fitted one.
  public func transform(_ inputs: Matrix<Scalar>) throws(MinibatchError) -> Matrix<Scalar> {
    try validateCount(inputs.columns, expected: means.count, of: "features to standardise")
    var result = inputs
    let d = means.count
    result.withUnsafeMutableElements { x in
      for i in 0..<inputs.rows {
        for j in 0..<d { x[i * d + j] = (x[i * d + j] - means[j]) / scales[j] }
      }
    }
    return result
  }

  /// `batch` with standardised inputs and the same targets.
  public func transform(_ batch: Batch<Scalar>) throws(MinibatchError) -> Batch<Scalar> {
    Batch(checkedInputs: try transform(batch.inputs), targets: batch.targets)
  }
}
