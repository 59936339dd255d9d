/// A built-in layer named by its hyperparameters, before it knows its input shape: the
/// vocabulary of ``Sequential`` networks, of their saved files and of `minibatch-train --layers`.
///
/// Every specification has a text form, and a network is written as its layers' texts separated by
/// spaces (``parse(_:)`` reads it back):
///
/// ```
/// conv1d(filters,kernel,stride=1,padding=0)   conv2d(filters,kernel,stride=1,padding=0)
/// maxpool1d(kernel,stride=kernel)  maxpool2d(…)  avgpool1d(…)  avgpool2d(…)
/// flatten  dense(units)  relu  leakyrelu  tanh  sigmoid  gelu  layernorm  groupnorm(groups)
/// embedding(vocabulary,dimension)  meanpool
/// ```
///
/// `meanpool` right after `embedding` is the embedding's mean over the valid tokens (an embedding
/// bag, ``Embedding/Pooling/mean``); anywhere else it is ``GlobalAveragePooling``. For example the
/// bundled digits as images: `conv2d(16,3,padding=1) relu maxpool2d(2) flatten dense(10)` on
/// input shape `1×8×8`.
public enum LayerSpecification: Sendable, Hashable, Codable, CustomStringConvertible {
  /// ``Dense``.
  case dense(units: Int)
  /// ``Convolution`` on `C×L` (`dimensions: 1`) or `C×H×W` (`dimensions: 2`).
  case convolution(dimensions: Int, filters: Int, kernel: Int, stride: Int, padding: Int)
  /// ``Pooling`` over 1 or 2 spatial dimensions.
  case pooling(PoolingKind, dimensions: Int, kernel: Int, stride: Int)
  /// ``Flatten``.
  case flatten
  /// ``ActivationLayer``.
  case activation(ActivationFunction)
  /// ``Normalization`` over the whole example.
  case layerNorm
  /// ``Normalization`` over groups of channels.
  case groupNorm(groups: Int)
  /// ``Embedding`` (pooled by a following `meanpool`).
  case embedding(vocabulary: Int, dimension: Int)
  /// `meanpool`: see the type's documentation.
  case meanPool

  /// The text form, e.g. `conv2d(16,3,stride=1,padding=1)`.
  public var description: String {
    switch self {
    case .dense(let units): return "dense(\(units))"
    case .convolution(let dimensions, let filters, let kernel, let stride, let padding):
      return "conv\(dimensions)d(\(filters),\(kernel),stride=\(stride),padding=\(padding))"
    case .pooling(let kind, let dimensions, let kernel, let stride):
      return "\(kind == .max ? "max" : "avg")pool\(dimensions)d(\(kernel),stride=\(stride))"
    case .flatten: return "flatten"
    case .activation(let function): return function.rawValue
    case .layerNorm: return "layernorm"
    case .groupNorm(let groups): return "groupnorm(\(groups))"
    case .embedding(let vocabulary, let dimension): return "embedding(\(vocabulary),\(dimension))"
    case .meanPool: return "meanpool"
    }
  }

  /// A network's text: the layers' texts separated by spaces.
  public static func text(_ layers: [LayerSpecification]) -> String {
    layers.map(\.description).joined(separator: " ")
  }

  /// Reads layers separated by white space, each `name` or `name(arguments)` with positional
  /// integers first and `key=value` after (spaces inside parentheses are allowed).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming the token that is
  ///   wrong and what was expected there.
  public static func parse(_ text: String) throws(MinibatchError) -> [LayerSpecification] {
    var tokens: [String] = []
    var current = ""
    var depth = 0
    for character in text {
      if character == "(" { depth += 1 }
      if character == ")" { depth -= 1 }
      if character.isWhitespace && depth == 0 {
        if !current.isEmpty { tokens.append(current) }
        current = ""
      } else if !character.isWhitespace {
        current.append(character)
      }
    }
    if !current.isEmpty { tokens.append(current) }
    guard !tokens.isEmpty else {
      throw .invalidArgument(name: "layers", value: "\"\(text)\"", expected: "at least one layer")
    }
    var layers: [LayerSpecification] = []
    for token in tokens { layers.append(try parseToken(token)) }
    return layers
  }

  static let syntax =
    "one of conv1d(filters,kernel,stride=1,padding=0), conv2d(…), maxpool1d(kernel,stride=kernel), "
    + "maxpool2d(…), avgpool1d(…), avgpool2d(…), flatten, dense(units), relu, leakyrelu, tanh, "
    + "sigmoid, gelu, layernorm, groupnorm(groups), embedding(vocabulary,dimension), meanpool"

  static func parseToken(_ token: String) throws(MinibatchError) -> LayerSpecification {
    func bad(_ expected: String) -> MinibatchError {
      .invalidArgument(name: "layer", value: "'\(token)'", expected: expected)
    }
    let name: String
    var positional: [Int] = []
    var named: [String: Int] = [:]
    if let open = token.firstIndex(of: "(") {
      guard token.hasSuffix(")"), token.filter({ $0 == "(" }).count == 1,
        token.filter({ $0 == ")" }).count == 1
      else { throw bad("name(arguments) with one pair of parentheses") }
      name = String(token[..<open]).lowercased()
      let inner = token[token.index(after: open)..<token.index(before: token.endIndex)]
      if !inner.isEmpty {
        for argument in inner.split(separator: ",", omittingEmptySubsequences: false) {
          let parts = argument.split(separator: "=", omittingEmptySubsequences: false)
          if parts.count == 1 {
            guard named.isEmpty else { throw bad("positional arguments before key=value ones") }
            guard let value = Int(parts[0]) else { throw bad("an integer, not '\(argument)'") }
            positional.append(value)
          } else if parts.count == 2 {
            let key = parts[0].lowercased()
            guard let value = Int(parts[1]) else { throw bad("an integer in '\(argument)'") }
            guard named[key] == nil else { throw bad("'\(key)' given once") }
            named[key] = value
          } else {
            throw bad("arguments like 16 or stride=2, not '\(argument)'")
          }
        }
      }
    } else {
      name = token.lowercased()
    }
    /// Exactly `count` positional arguments and only the `keys` as named ones.
    func arguments(_ count: Int, keys: [String] = [], usage: String) throws(MinibatchError)
      -> [Int]
    {
      guard positional.count == count else {
        throw bad("\(usage) (\(count) positional argument\(count == 1 ? "" : "s"))")
      }
      if let unknown = named.keys.sorted().first(where: { !keys.contains($0) }) {
        throw bad("\(usage) (no argument '\(unknown)')")
      }
      return positional
    }
    switch name {
    case "dense":
      return .dense(units: try arguments(1, usage: "dense(units)")[0])
    case "conv1d", "conv2d":
      let dimensions = name == "conv1d" ? 1 : 2
      let values = try arguments(
        2, keys: ["stride", "padding"], usage: "\(name)(filters,kernel,stride=1,padding=0)")
      return .convolution(
        dimensions: dimensions, filters: values[0], kernel: values[1],
        stride: named["stride"] ?? 1, padding: named["padding"] ?? 0)
    case "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d":
      let values = try arguments(1, keys: ["stride"], usage: "\(name)(kernel,stride=kernel)")
      return .pooling(
        name.hasPrefix("max") ? .max : .average, dimensions: name.hasSuffix("1d") ? 1 : 2,
        kernel: values[0], stride: named["stride"] ?? values[0])
    case "flatten":
      _ = try arguments(0, usage: "flatten")
      return .flatten
    case "layernorm":
      _ = try arguments(0, usage: "layernorm")
      return .layerNorm
    case "groupnorm":
      return .groupNorm(groups: try arguments(1, usage: "groupnorm(groups)")[0])
    case "embedding":
      let values = try arguments(2, usage: "embedding(vocabulary,dimension)")
      return .embedding(vocabulary: values[0], dimension: values[1])
    case "meanpool":
      _ = try arguments(0, usage: "meanpool")
      return .meanPool
    default:
      if let function = ActivationFunction(rawValue: name) {
        _ = try arguments(0, usage: name)
        return .activation(function)
      }
      throw bad(syntax)
    }
  }

  public init(from decoder: Decoder) throws {
    let text = try String(from: decoder)
    self = try validated(decoder) { () throws(MinibatchError) in
      try LayerSpecification.parseToken(text)
    }
  }

  public func encode(to encoder: Encoder) throws { try description.encode(to: encoder) }
}
