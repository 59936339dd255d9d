extension Adam: Codable {
  enum CodingKeys: String, CodingKey {
    case beta1, beta2, epsilon, regularization, firstMoment, secondMoment, stepCount
  }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let beta1 = try container.decode(Scalar.self, forKey: .beta1)
    let beta2 = try container.decode(Scalar.self, forKey: .beta2)
    let epsilon = try container.decode(Scalar.self, forKey: .epsilon)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    let first = try container.decode([Scalar].self, forKey: .firstMoment)
    let second = try container.decode([Scalar].self, forKey: .secondMoment)
    let steps = try container.decode(Int.self, forKey: .stepCount)
    self = try validated(decoder) { () throws(MinibatchError) in
      var adam = try Adam(
        beta1: beta1, beta2: beta2, epsilon: epsilon, regularization: regularization)
      try validateCount(second.count, expected: first.count, of: "second moment (as the first)")
      try validateFinite(first, of: "first moment")
      try validateFinite(second, of: "second moment")
      try validateArgument(
        steps, named: "step count", expected: "≥ 0, and > 0 exactly when moments are stored",
        steps >= 0 && (steps > 0) == !first.isEmpty)
      (adam.firstMoment, adam.secondMoment, adam.stepCount) = (first, second, steps)
      return adam
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(beta1, forKey: .beta1)
    try container.encode(beta2, forKey: .beta2)
    try container.encode(epsilon, forKey: .epsilon)
    try container.encode(regularization, forKey: .regularization)
    try container.encode(firstMoment, forKey: .firstMoment)
    try container.encode(secondMoment, forKey: .secondMoment)
    try container.encode(stepCount, forKey: .stepCount)
  }
}
