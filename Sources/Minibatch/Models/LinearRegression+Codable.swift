// Saved as the single-layer `MultilayerPerceptron` it wraps.

extension LinearRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .squaredError, kind: "a linear regression ([d, 1], squared error)")
    guard network.outputCount == 1 else {
      throw decodingError(
        .invalidArgument(
          name: "outputs", value: "\(network.outputCount)", expected: "1 (a linear regression)"),
        decoder)
    }
    self = try validated(decoder) { () throws(MinibatchError) in
      try LinearRegression(inputCount: network.inputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}
