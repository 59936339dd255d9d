/// Linear regression with squared error: `ŷ = wᵀx + b`, `ℓ_i = ½·(ŷ_i − y_i)²`.
///
/// Targets are ``Targets/values(_:)`` with one column. Parameters: `n = d + 1`, the `d` weights
/// then the bias. The mean loss over a batch is half the mean squared error; the exact minimiser
/// of it plus `(λ/2)·‖θ‖²` is ``leastSquaresSolution(data:l2Penalty:rcond:)``.
public struct LinearRegression<Scalar: BLASScalar>: DenseNetworkModel {
  public let network: MultilayerPerceptron<Scalar>

  /// - Parameter inputCount: `d ≥ 1` features.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `d`.
  public init(inputCount: Int) throws(MinibatchError) {
    try validateArgument(inputCount, named: "input count", expected: "≥ 1", inputCount >= 1)
    network = try MultilayerPerceptron(
      layerSizes: [inputCount, 1], hiddenActivation: .identity, outputLoss: .squaredError)
  }

  /// The exact minimiser `θ = [w, b]` of the mean loss plus an L2 penalty on every parameter,
  ///
  /// ```
  /// (1/k)·Σ_i ½·(wᵀx_i + b − y_i)² + (λ/2)·‖θ‖²
  /// ```
  ///
  /// (what ``StochasticGradientDescent`` with ``Regularization/l2(_:)`` converges to), by LAPACK
  /// least squares on `[X 1; √(kλ)·I]·θ ≈ [y; 0]` (the penalty rows only when `λ > 0`). Returns
  /// the parameters in this model's layout (`w`, then `b`), the effective rank and the singular
  /// values; see ``solveLeastSquares(_:_:rcond:)`` for `rcond`.
  ///
  /// - Throws: the validation errors of the model, ``MinibatchError/invalidArgument(name:value:expected:)``
  ///   for a negative or non-finite `λ`, and LAPACK's.
  public func leastSquaresSolution(
    data: Batch<Scalar>, l2Penalty: Scalar = 0, rcond: Scalar? = nil
  ) throws(MinibatchError) -> LeastSquaresSolution<Scalar> {
    try network.validate(parameters: [Scalar](repeating: 0, count: parameterCount), batch: data)
    try validateArgument(
      l2Penalty, named: "L2 penalty", expected: "finite and ≥ 0",
      l2Penalty.isFinite && l2Penalty >= 0)
    guard case .values(let targets) = data.targets else {
      throw .wrongTargetKind(expected: "real values", got: data.targets.kindDescription)
    }
    try validateFinite(data.inputs.elements, of: "inputs")
    let d = inputCount
    let k = data.count
    let penaltyRows = l2Penalty > 0 ? d + 1 : 0
    var a = [Scalar](repeating: 0, count: (k + penaltyRows) * (d + 1))
    for i in 0..<k {
      a.replaceSubrange((i * (d + 1))..<(i * (d + 1) + d), with: data.inputs.rowUnchecked(i))
      a[i * (d + 1) + d] = 1
    }
    let root = (Scalar(k) * l2Penalty).squareRoot()
    for j in 0..<penaltyRows { a[(k + j) * (d + 1) + j] = root }
    let b = targets.elements + [Scalar](repeating: 0, count: penaltyRows)
    let system = try Matrix(rows: k + penaltyRows, columns: d + 1, elements: a)
    return try solveLeastSquares(system, b, rcond: rcond)
  }
}
