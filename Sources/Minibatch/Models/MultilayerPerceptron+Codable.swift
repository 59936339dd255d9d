// Saved as its layer sizes, hidden activation and loss; decoding runs the initialiser's checks.

extension MultilayerPerceptron: Codable {
  enum CodingKeys: String, CodingKey { case layerSizes, hiddenActivation, outputLoss }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let layerSizes = try container.decode([Int].self, forKey: .layerSizes)
    let activation = try container.decode(Activation.self, forKey: .hiddenActivation)
    let loss = try container.decode(OutputLoss.self, forKey: .outputLoss)
    self = try validated(decoder) { () throws(MinibatchError) in
      try MultilayerPerceptron(
        layerSizes: layerSizes, hiddenActivation: activation, outputLoss: loss)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(layerSizes, forKey: .layerSizes)
    try container.encode(hiddenActivation, forKey: .hiddenActivation)
    try container.encode(outputLoss, forKey: .outputLoss)
  }
}

/// A single dense layer with `loss` decoded from `decoder`, or a `DecodingError` naming `kind`.
func singleLayer<Scalar: BLASScalar>(
  _ decoder: Decoder, loss: OutputLoss, kind: String
) throws -> MultilayerPerceptron<Scalar> {
  let network = try MultilayerPerceptron<Scalar>(from: decoder)
  guard network.layerSizes.count == 2, network.outputLoss == loss else {
    throw decodingError(
      .invalidArgument(
        name: "model", value: "\(network.layerSizes) \(network.outputLoss)", expected: kind),
      decoder)
  }
  return network
}
