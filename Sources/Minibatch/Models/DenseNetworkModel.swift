/// A model that is a particular ``MultilayerPerceptron``: linear, logistic and softmax regression
/// are single dense layers with a fixed output loss. Every requirement of
/// ``PerExampleGradientModel`` forwards to ``network``, so all of them share one tested engine and
/// one parameter layout (`W` row-major, then `b`).
public protocol DenseNetworkModel: PerExampleGradientModel {
  /// The network that computes everything.
  var network: MultilayerPerceptron<Scalar> { get }
}

extension DenseNetworkModel {
  public var parameterCount: Int { network.parameterCount }
  public var inputCount: Int { network.inputCount }
  public var outputCount: Int { network.outputCount }
  public var parameterBlocks: ParameterBlocks { network.parameterBlocks }

  public func validate(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) {
    try network.validate(parameters: parameters, batch: batch)
  }

  public func initialParameters(seed: UInt64) -> [Scalar] {
    network.initialParameters(seed: seed)
  }

  public func outputs(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try network.outputs(parameters: parameters, inputs: inputs)
  }

  public func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]
  {
    try network.losses(parameters: parameters, batch: batch)
  }

  public func perExampleRowWriter(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Scalar>, losses: [Scalar]) {
    try network.perExampleRowWriter(parameters: parameters, batch: batch)
  }

  /// Class probabilities (see ``MultilayerPerceptron/probabilities(parameters:inputs:)``).
  public func probabilities(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try network.probabilities(parameters: parameters, inputs: inputs)
  }

  public func perExampleGradientFactors(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar])? {
    try network.perExampleGradientFactors(parameters: parameters, batch: batch)
  }

  public func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    try network.meanLossAndGradient(parameters: parameters, batch: batch)
  }
}
