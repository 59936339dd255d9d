extension Standardizer: Codable {
  enum CodingKeys: String, CodingKey { case means, scales }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let means = try container.decode([Scalar].self, forKey: .means)
    let scales = try container.decode([Scalar].self, forKey: .scales)
    self = try validated(decoder) { () throws(MinibatchError) in
      try validateCount(scales.count, expected: means.count, of: "scales (one per feature)")
      try validateFinite(means, of: "means")
      try validateArgument(
        scales, named: "scales", expected: "finite and > 0",
        scales.allSatisfy { $0.isFinite && $0 > 0 })
      return Standardizer(means: means, scales: scales)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(means, forKey: .means)
    try container.encode(scales, forKey: .scales)
  }
}
