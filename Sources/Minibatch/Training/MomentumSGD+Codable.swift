extension MomentumSGD: Codable {
  enum CodingKeys: String, CodingKey { case momentum, nesterov, regularization, velocity }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let momentum = try container.decode(Scalar.self, forKey: .momentum)
    let nesterov = try container.decode(Bool.self, forKey: .nesterov)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    let velocity = try container.decode([Scalar].self, forKey: .velocity)
    self = try validated(decoder) { () throws(MinibatchError) in
      var optimizer = try MomentumSGD(
        momentum: momentum, nesterov: nesterov, regularization: regularization)
      try validateFinite(velocity, of: "velocity")
      optimizer.velocity = velocity
      return optimizer
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(momentum, forKey: .momentum)
    try container.encode(nesterov, forKey: .nesterov)
    try container.encode(regularization, forKey: .regularization)
    try container.encode(velocity, forKey: .velocity)
  }
}
