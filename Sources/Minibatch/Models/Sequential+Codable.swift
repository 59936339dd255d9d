// Saved as the input shape, the layers' text (`LayerSpecification.text`) and the loss; decoding
// parses and checks them as `init(inputShape:layers:outputLoss:)` does.

extension Sequential: Codable {
  enum CodingKeys: String, CodingKey { case inputShape, layers, outputLoss }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let shape = try container.decode(TensorShape.self, forKey: .inputShape)
    let text = try container.decode(String.self, forKey: .layers)
    let loss = try container.decode(OutputLoss.self, forKey: .outputLoss)
    self = try validated(decoder) { () throws(MinibatchError) in
      try Sequential(inputShape: shape, layers: text, outputLoss: loss)
    }
  }

  /// Writes the input shape, the layers' text and the loss. A network of custom layers throws
  /// `EncodingError.invalidValue`.
  public func encode(to encoder: Encoder) throws {
    guard let specification else {
      throw EncodingError.invalidValue(
        layerText,
        .init(
          codingPath: encoder.codingPath,
          debugDescription: "a Sequential of custom layers has no saved form"))
    }
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(inputShape, forKey: .inputShape)
    try container.encode(LayerSpecification.text(specification), forKey: .layers)
    try container.encode(outputLoss, forKey: .outputLoss)
  }
}
