import Minibatch

/// A batch of `k` examples with inputs uniform in `[-scale, scale)` and targets that suit
/// `loss` with `outputs` outputs (labels drawn uniformly; values uniform in `[-1, 1)`).
public func randomBatch<Scalar: BLASScalar>(
  _: Scalar.Type, k: Int, d: Int, outputs: Int, loss: OutputLoss, seed: UInt64,
  scale: Scalar = 1
) throws -> Batch<Scalar> {
  var rng = SeededGenerator(seed: seed)
  let inputs = try Matrix(
    rows: k, columns: d, elements: rng.signedArray(Scalar.self, count: k * d).map { $0 * scale })
  let targets: Targets<Scalar>
  switch loss {
  case .squaredError:
    targets = .values(
      try Matrix(rows: k, columns: outputs, elements: rng.signedArray(count: k * outputs)))
  case .binaryCrossEntropy:
    targets = .labels((0..<k).map { _ in Int(rng.next() % 2) })
  case .softmaxCrossEntropy:
    targets = .labels((0..<k).map { _ in Int(rng.next() % UInt64(outputs)) })
  }
  return try Batch(inputs: inputs, targets: targets)
}

/// One model of every kind (linear, logistic and softmax regression; MLPs with tanh, ReLU and
/// identity hidden layers, for classification, regression and binary labels).
public func modelZoo<Scalar: BLASScalar>(
  _: Scalar.Type, d: Int, classes: Int
) throws -> [(name: String, model: any PerExampleGradientModel<Scalar>, loss: OutputLoss)] {
  [
    ("linear", try LinearRegression(inputCount: d), .squaredError),
    ("logistic", try LogisticRegression(inputCount: d), .binaryCrossEntropy),
    ("softmax", try SoftmaxRegression(inputCount: d, classCount: classes), .softmaxCrossEntropy),
    (
      "mlp tanh",
      try MultilayerPerceptron(layerSizes: [d, 7, 5, classes], hiddenActivation: .tanh),
      .softmaxCrossEntropy
    ),
    (
      "mlp relu", try MultilayerPerceptron(layerSizes: [d, 9, classes], hiddenActivation: .relu),
      .softmaxCrossEntropy
    ),
    (
      "mlp identity",
      try MultilayerPerceptron(layerSizes: [d, 3, classes], hiddenActivation: .identity),
      .softmaxCrossEntropy
    ),
    (
      "mlp regression",
      try MultilayerPerceptron(
        layerSizes: [d, 6, 2], hiddenActivation: .tanh, outputLoss: .squaredError),
      .squaredError
    ),
    (
      "mlp binary",
      try MultilayerPerceptron(
        layerSizes: [d, 4, 1], hiddenActivation: .relu, outputLoss: .binaryCrossEntropy),
      .binaryCrossEntropy
    ),
    (
      "sequential conv1d",
      try Sequential<Scalar>(
        inputShape: TensorShape([1, d]),
        layers:
          "conv1d(3,\(min(2, d)),padding=\(min(1, d - 1))) gelu layernorm flatten dense(\(classes))"
      ),
      .softmaxCrossEntropy
    ),
    (
      "sequential regression",
      try Sequential<Scalar>(
        inputShape: TensorShape([d]), layers: "dense(5) sigmoid dense(4) leakyrelu dense(2)",
        outputLoss: .squaredError),
      .squaredError
    ),
  ]
}

/// An MLP with the given layer sizes (binary cross-entropy for one output, softmax cross-entropy
/// otherwise) and a random batch of `k` examples for it.
public func randomNetworkCase<Scalar: BLASScalar>(
  _: Scalar.Type, layers: [Int], k: Int, activation: Activation, seed: UInt64, scale: Scalar = 1
) throws -> (model: MultilayerPerceptron<Scalar>, batch: Batch<Scalar>) {
  let loss: OutputLoss = layers.last == 1 ? .binaryCrossEntropy : .softmaxCrossEntropy
  let model = try MultilayerPerceptron<Scalar>(
    layerSizes: layers, hiddenActivation: activation, outputLoss: loss)
  let batch = try randomBatch(
    Scalar.self, k: k, d: layers[0], outputs: model.outputCount, loss: loss, seed: seed,
    scale: scale)
  return (model, batch)
}
