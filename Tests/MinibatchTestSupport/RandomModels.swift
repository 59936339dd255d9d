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

/// One model of every kind, for a given input width, each with and without L2.
public func modelZoo<Scalar: BLASScalar>(
  _: Scalar.Type, d: Int, classes: Int
) throws -> [(name: String, model: any PerExampleGradientModel<Scalar>, loss: OutputLoss)] {
  var zoo: [(String, any PerExampleGradientModel<Scalar>, OutputLoss)] = []
  for l2: Scalar in [0, 0.3] {
    zoo += [
      ("linear λ=\(l2)", try LinearRegression(inputCount: d, l2Penalty: l2), .squaredError),
      (
        "logistic λ=\(l2)", try LogisticRegression(inputCount: d, l2Penalty: l2),
        .binaryCrossEntropy
      ),
      (
        "softmax λ=\(l2)", try SoftmaxRegression(inputCount: d, classCount: classes, l2Penalty: l2),
        .softmaxCrossEntropy
      ),
      (
        "mlp tanh λ=\(l2)",
        try MultilayerPerceptron(
          layerSizes: [d, 7, 5, classes], hiddenActivation: .tanh, l2Penalty: l2),
        .softmaxCrossEntropy
      ),
      (
        "mlp relu λ=\(l2)",
        try MultilayerPerceptron(
          layerSizes: [d, 9, classes], hiddenActivation: .relu, l2Penalty: l2),
        .softmaxCrossEntropy
      ),
      (
        "mlp regression λ=\(l2)",
        try MultilayerPerceptron(
          layerSizes: [d, 6, 2], hiddenActivation: .tanh, outputLoss: .squaredError, l2Penalty: l2),
        .squaredError
      ),
      (
        "mlp binary λ=\(l2)",
        try MultilayerPerceptron(
          layerSizes: [d, 4, 1], hiddenActivation: .relu, outputLoss: .binaryCrossEntropy,
          l2Penalty: l2),
        .binaryCrossEntropy
      ),
    ]
  }
  return zoo
}
