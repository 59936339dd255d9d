// Saved as the single-layer `MultilayerPerceptron` it wraps.

extension LogisticRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .binaryCrossEntropy,
      kind: "a logistic regression ([d, 1], binary cross-entropy)")
    self = try validated(decoder) { () throws(MinibatchError) in
      try LogisticRegression(inputCount: network.inputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}
