/// Binary logistic regression: `P(y = 1 | x) = σ(wᵀx + b)`, with binary cross-entropy
/// `ℓ_i = softplus(z_i) − y_i·z_i` on the logit `z_i = wᵀx_i + b`.
///
/// **Label convention:** targets are ``Targets/labels(_:)`` with `1` for the positive class and
/// `0` for the negative class (not ±1). ``PerExampleGradientModel/outputs(parameters:inputs:)``
/// returns the logits. Parameters: `n = d + 1`, the `d` weights then the bias. The per-example
/// gradient is `(σ(z_i) − y_i)·[x_i, 1]`. Regularisation belongs to the optimiser
/// (``Regularization``).
public struct LogisticRegression<Scalar: BLASScalar>: DenseNetworkModel {
  public let network: MultilayerPerceptron<Scalar>

  /// - Parameter inputCount: `d ≥ 1` features.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `d`.
  public init(inputCount: Int) throws(MinibatchError) {
    try validateArgument(inputCount, named: "input count", expected: "≥ 1", inputCount >= 1)
    network = try MultilayerPerceptron(
      layerSizes: [inputCount, 1], hiddenActivation: .identity, outputLoss: .binaryCrossEntropy)
  }
}
