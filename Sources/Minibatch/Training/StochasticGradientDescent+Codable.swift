extension StochasticGradientDescent: Codable {
  enum CodingKeys: String, CodingKey { case regularization }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    self = try validated(decoder) { () throws(MinibatchError) in
      try StochasticGradientDescent(regularization: regularization)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(regularization, forKey: .regularization)
  }
}
