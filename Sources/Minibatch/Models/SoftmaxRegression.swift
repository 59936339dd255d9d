/// Multinomial (softmax) logistic regression over `c` classes: logits `z = W·x + b`,
/// `P(y = j | x) = softmax(z)_j`, loss `ℓ_i = logsumexp(z_i) − z_{i, y_i} + (λ/2)·‖W‖²`.
///
/// Targets are ``Targets/labels(_:)`` in `0..<c`. Parameters: `n = c·d + c`, `W` (`c × d`,
/// row-major: class `j`'s weights at `j·d ..< (j+1)·d`) then `b`. The per-example gradient of
/// the `W` block is the outer product `(softmax(z_i) − onehot(y_i))·x_iᵀ`.
public struct SoftmaxRegression<Scalar: BLASScalar>: DenseNetworkModel {
  public let network: MultilayerPerceptron<Scalar>

  /// - Parameters:
  ///   - inputCount: `d ≥ 1` features.
  ///   - classCount: `c ≥ 2` classes.
  ///   - l2Penalty: `λ ≥ 0`.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `d`, `c` or `λ`.
  public init(inputCount: Int, classCount: Int, l2Penalty: Scalar = 0) throws(MinibatchError) {
    network = try MultilayerPerceptron(
      layerSizes: [inputCount, classCount], hiddenActivation: .identity,
      outputLoss: .softmaxCrossEntropy, l2Penalty: l2Penalty)
  }

  /// Number of classes `c`.
  public var classCount: Int { outputCount }
}
