// Saved as the single-layer `MultilayerPerceptron` it wraps.

extension SoftmaxRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .softmaxCrossEntropy,
      kind: "a softmax regression ([d, c], softmax cross-entropy)")
    self = try validated(decoder) { () throws(MinibatchError) in
      try SoftmaxRegression(inputCount: network.inputCount, classCount: network.outputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}
