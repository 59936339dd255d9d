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
    var sums = [Double](repeating: 0, count: inputs.columns)
    Self.addColumnSums(of: inputs, to: &sums)
    let mean = sums.map { $0 / Double(inputs.rows) }
    var squares = [Double](repeating: 0, count: inputs.columns)
    Self.addSquaredDeviations(of: inputs, from: mean, to: &squares)
    self.init(count: Double(inputs.rows), mean: mean, squares: squares)
  }

  /// Fits means and scales on the examples `source` holds, read a piece at a time (a
  /// ``MemoryMappedNPY`` is never loaded): the same two passes in Double, over the rows in the
  /// same order, so the result has the bits of ``init(fitting:)-(Matrix<Scalar>)`` on the
  /// source's inputs. Each pass reads the source once.
  ///
  /// For shards of one data set on several ranks, ``init(fitting:across:)`` fits on all of them.
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` for a source of no examples,
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` naming the first NaN or infinite input
  ///   (its global row), ``MinibatchError/shapeMismatch(expected:got:of:)`` for pieces of
  ///   different widths, and the source's read errors.
  public init(fitting source: some ExampleSource<Scalar>) throws(MinibatchError) {
    let (count, sums) = try Self.columnSums(of: source)
    guard let sums, count > 0 else { throw .emptyBatch }
    let mean = sums.map { $0 / count }
    let squares = try Self.squaredDeviations(of: source, from: mean)
    self.init(count: count, mean: mean, squares: squares)
  }

  /// The pieces of a streamed fit: examples per pass piece.
  static var pieceCount: Int { 4096 }

  /// The first pass over `source`: its held examples and their column sums `Σ x` in Double, row
  /// after row (`nil` sums when it holds none).
  static func columnSums(
    of source: some ExampleSource<Scalar>
  ) throws(MinibatchError) -> (count: Double, sums: [Double]?) {
    var sums: [Double]?
    var count = 0
    try source.forEachPiece(maximumCount: pieceCount) { (first, piece) throws(MinibatchError) in
      do throws(MinibatchError) {
        try validateFiniteEntries(piece.inputs, of: "inputs to standardise")
      } catch .nonFiniteEntry(let row, let column, let what) {
        throw .nonFiniteEntry(row: first + row, column: column, of: what)
      }
      if sums == nil { sums = [Double](repeating: 0, count: piece.inputs.columns) }
      try validateCount(piece.inputs.columns, expected: sums!.count, of: "features to standardise")
      addColumnSums(of: piece.inputs, to: &sums!)
      count += piece.count
    }
    return (Double(count), sums)
  }

  /// The second pass over `source`: `Σ (x − μ)²` per column in Double, row after row.
  static func squaredDeviations(
    of source: some ExampleSource<Scalar>, from mean: [Double]
  ) throws(MinibatchError) -> [Double] {
    var squares = [Double](repeating: 0, count: mean.count)
    try source.forEachPiece(maximumCount: pieceCount) { (_, piece) throws(MinibatchError) in
      try validateCount(piece.inputs.columns, expected: mean.count, of: "features to standardise")
      addSquaredDeviations(of: piece.inputs, from: mean, to: &squares)
    }
    return squares
  }

  /// `sums[j] += x_ij` over the rows in order (specialised: a pass over a mapped file runs at
  /// memory speed, not through the generic scalar's witnesses).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func addColumnSums(of inputs: Matrix<Scalar>, to sums: inout [Double]) {
    let d = inputs.columns
    inputs.withUnsafeElements { x in
      sums.withUnsafeMutableBufferPointer { sums in
        for i in 0..<inputs.rows {
          for j in 0..<d { sums[j] += Double(x[i * d + j]) }
        }
      }
    }
  }

  /// `squares[j] += (x_ij − μ_j)²` over the rows in order.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func addSquaredDeviations(
    of inputs: Matrix<Scalar>, from mean: [Double], to squares: inout [Double]
  ) {
    let d = inputs.columns
    inputs.withUnsafeElements { x in
      mean.withUnsafeBufferPointer { mean in
        squares.withUnsafeMutableBufferPointer { squares in
          for i in 0..<inputs.rows {
            for j in 0..<d {
              let deviation = Double(x[i * d + j]) - mean[j]
              squares[j] += deviation * deviation
            }
          }
        }
      }
    }
  }

  /// The standardiser of `count` examples of column means `mean` and sums of squared deviations
  /// `squares`.
  init(count: Double, mean: [Double], squares: [Double]) {
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
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func transform(_ inputs: Matrix<Scalar>) throws(MinibatchError) -> Matrix<Scalar> {
    try validateCount(inputs.columns, expected: means.count, of: "features to standardise")
    var result = inputs
    let d = means.count
    result.withUnsafeMutableElements { x in
      means.withUnsafeBufferPointer { means in
        scales.withUnsafeBufferPointer { scales in
          for i in 0..<inputs.rows {
            for j in 0..<d { x[i * d + j] = (x[i * d + j] - means[j]) / scales[j] }
          }
        }
      }
    }
    return result
  }

  /// `batch` with standardised inputs and the same targets.
  public func transform(_ batch: Batch<Scalar>) throws(MinibatchError) -> Batch<Scalar> {
    Batch(checkedInputs: try transform(batch.inputs), targets: batch.targets)
  }
}
