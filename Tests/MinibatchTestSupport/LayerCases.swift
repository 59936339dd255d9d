import Minibatch

/// A `Sequential` architecture the layer tests run: input shape, layers' text, loss, outputs, and
/// whether its inputs are token ids (`vocabulary`).
public struct LayerCase: Sendable, CustomStringConvertible {
  public let shape: [Int]
  public let layers: String
  public let loss: OutputLoss
  public let outputs: Int
  public let vocabulary: Int?

  public init(
    _ shape: [Int], _ layers: String, _ loss: OutputLoss = .softmaxCrossEntropy, outputs: Int = 3,
    vocabulary: Int? = nil
  ) {
    self.shape = shape
    self.layers = layers
    self.loss = loss
    self.outputs = outputs
    self.vocabulary = vocabulary
  }

  public var description: String { "\(shape) '\(layers)' \(loss)" }

  /// Every built-in layer appears in at least one case.
  public static let all: [LayerCase] = [
    LayerCase(
      [2, 5, 5], "conv2d(3,3,stride=2,padding=1) tanh maxpool2d(2,stride=1) flatten dense(3)"),
    LayerCase(
      [2, 9],
      "conv1d(4,3,padding=1) gelu avgpool1d(2) conv1d(3,2,stride=2) sigmoid flatten dense(1)",
      .binaryCrossEntropy, outputs: 1),
    LayerCase([1, 6, 6], "conv2d(4,2) relu avgpool2d(2) layernorm flatten dense(3)"),
    LayerCase(
      [4, 3], "groupnorm(2) conv1d(3,2) layernorm tanh flatten dense(2)", .squaredError, outputs: 2),
    LayerCase(
      [3, 4, 4], "conv2d(2,3,padding=1) leakyrelu maxpool2d(2) meanpool dense(2)", outputs: 2),
    LayerCase([5], "dense(4) tanh layernorm dense(3) gelu dense(3)"),
    LayerCase([6], "embedding(7,3) meanpool dense(4) relu dense(2)", outputs: 2, vocabulary: 7),
    LayerCase([5], "embedding(5,3) conv1d(2,2) tanh meanpool dense(2)", outputs: 2, vocabulary: 5),
    LayerCase(
      [1, 7], "conv1d(2,7,padding=3) groupnorm(1) relu maxpool1d(3,stride=2) flatten dense(3)"),
  ]

  public func model<Scalar: BLASScalar>(_: Scalar.Type) throws -> Sequential<Scalar> {
    try Sequential<Scalar>(inputShape: TensorShape(shape), layers: layers, outputLoss: loss)
  }

  /// `k` random examples that suit the case: values in `[−1, 1)` or token ids (some padding).
  public func batch<Scalar: BLASScalar>(_: Scalar.Type, k: Int, seed: UInt64) throws -> Batch<
    Scalar
  > {
    var rng = SeededGenerator(seed: seed)
    let d = shape.reduce(1, *)
    let base = try randomBatch(Scalar.self, k: k, d: d, outputs: outputs, loss: loss, seed: seed)
    guard let vocabulary else { return base }
    let sequences = (0..<k).map { _ in
      (0..<(1 + Int(rng.next() % UInt64(d)))).map { _ in Int(rng.next() % UInt64(vocabulary)) }
    }
    // Pad every sequence to the case's length T = d.
    let padded = sequences.map { $0 + Array(repeating: -1, count: d - $0.count) }
    let inputs = try Matrix(
      rows: k, columns: d, elements: padded.flatMap { $0.map { Scalar($0) } })
    return try Batch(inputs: inputs, targets: base.targets)
  }
}

/// `J` as a dense `k × n` array, from any representation's tiles.
public func denseRows<Scalar: BLASScalar>(
  _ gradients: some PerExampleGradientOperator<Scalar>
) throws -> [Scalar] {
  let (k, n) = (gradients.exampleCount, gradients.parameterCount)
  var rows = [Scalar](repeating: 0, count: k * n)
  try rows.withUnsafeMutableBufferPointer { buffer in
    try gradients.writeTile(rows: 0..<k, columns: 0..<n, into: buffer, rowStride: n)
  }
  return rows
}
