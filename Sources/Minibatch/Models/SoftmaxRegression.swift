/// Multinomial (softmax) logistic regression over `c` classes: logits `z = W·x + b`,
/// `P(y = j | x) = softmax(z)_j`, loss `ℓ_i = logsumexp(z_i) − z_{i, y_i}`.
///
/// Targets are ``Targets/labels(_:)`` in `0..<c`. Parameters: `n = c·d + c`, `W` (`c × d`,
/// row-major: class `j`'s weights at `j·d ..< (j+1)·d`) then `b`. The per-example gradient of
/// the `W` block is the outer product `(softmax(z_i) − onehot(y_i))·x_iᵀ`. Regularisation belongs
/// to the optimiser (``Regularization``).
public struct SoftmaxRegression<Scalar: BLASScalar>: DenseNetworkModel {
  public let network: MultilayerPerceptron<Scalar>

  /// - Parameters:
  ///   - inputCount: `d ≥ 1` features.
  ///   - classCount: `c ≥ 2` classes.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `d` or `c`.
  public init(inputCount: Int, classCount: Int) throws(MinibatchError) {
    try validateArgument(inputCount, named: "input count", expected: "≥ 1", inputCount >= 1)
    try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    network = try MultilayerPerceptron(
      layerSizes: [inputCount, classCount], hiddenActivation: .identity,
      outputLoss: .softmaxCrossEntropy)
  }

  /// Number of classes `c`.
  public var classCount: Int { outputCount }
}
