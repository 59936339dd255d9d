/// Linear regression with squared error: `ŷ = wᵀx + b`, `ℓ_i = ½·(ŷ_i − y_i)² + (λ/2)·‖w‖²`.
///
/// Targets are ``Targets/values(_:)`` with one column. Parameters: `n = d + 1`, the `d` weights
/// then the bias. The mean loss over a batch is half the mean squared error plus the penalty;
/// its exact minimiser is ``leastSquaresParameters(data:)``.
public struct LinearRegression<Scalar: BLASScalar>: DenseNetworkModel {
  public let network: MultilayerPerceptron<Scalar>

  /// - Parameters:
  ///   - inputCount: `d ≥ 1` features.
  ///   - l2Penalty: `λ ≥ 0`.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `d` or `λ`.
  public init(inputCount: Int, l2Penalty: Scalar = 0) throws(MinibatchError) {
    network = try MultilayerPerceptron(
      layerSizes: [inputCount, 1], hiddenActivation: .identity, outputLoss: .squaredError,
      l2Penalty: l2Penalty)
  }

  /// The exact minimiser of the mean loss over `data`, by LAPACK least squares
  /// (``solveLeastSquares(_:_:rcond:)``, `?gelsd`).
  ///
  /// Minimising `(1/k)·Σ ½(wᵀx_i + b − y_i)² + (λ/2)·‖w‖²` is the least-squares problem
  /// `[X 1; √(kλ)·I 0]·[w; b] ≈ [y; 0]` (the penalty rows are added only when `λ > 0`).
  /// Returns the parameters in this model's layout (`w`, then `b`).
  ///
  /// - Throws: the validation errors of the model, and LAPACK's.
  public func leastSquaresParameters(data: Batch<Scalar>) throws(MinibatchError) -> [Scalar] {
    try network.validate(parameters: [Scalar](repeating: 0, count: parameterCount), batch: data)
    guard case .values(let targets) = data.targets else {
      throw .wrongTargetKind(expected: "real values", got: data.targets.kindDescription)
    }
    try validateFinite(data.inputs.elements, of: "inputs")
    let d = inputCount
    let k = data.count
    let penaltyRows = l2Penalty > 0 ? d : 0
    var a = [Scalar](repeating: 0, count: (k + penaltyRows) * (d + 1))
    for i in 0..<k {
      a.replaceSubrange((i * (d + 1))..<(i * (d + 1) + d), with: data.inputs.row(i))
      a[i * (d + 1) + d] = 1
    }
    let root = (Scalar(k) * l2Penalty).squareRoot()
    for j in 0..<penaltyRows { a[(k + j) * (d + 1) + j] = root }
    let b = targets.elements + [Scalar](repeating: 0, count: penaltyRows)
    let system = try Matrix(rows: k + penaltyRows, columns: d + 1, elements: a)
    return try solveLeastSquares(system, b).solution
  }
}
