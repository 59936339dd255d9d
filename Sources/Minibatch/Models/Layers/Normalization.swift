/// Layer normalisation and group normalisation with an affine `γ`, `β`, per example.
///
/// An example's values (`C × S`: `C` channels of `S` positions; a flat `[d]` is `d` channels of one
/// position) are split into normalisation **sets**: the whole example (LayerNorm) or `G` groups
/// of `C/G` channels (GroupNorm). In each set of `N` values, with `ε = 10⁻⁵`:
///
/// ```
/// μ = (1/N)·Σ x,   σ² = (1/N)·Σ (x − μ)²   (two passes),   x̂ = (x − μ)/√(σ² + ε)
/// y = γ ⊙ x̂ + β        LayerNorm: γ, β have the example's shape (C·S); GroupNorm: one per channel (C)
/// backward:  ĝ = γ ⊙ Δ_out,   Δ_in = (ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)) / √(σ² + ε)   per set
/// factor:    ∂ℓ_i/∂γ = Σ x̂ ⊙ Δ_out,   ∂ℓ_i/∂β = Σ Δ_out   (summed over the positions sharing an entry)
/// ```
///
/// The per-example rows are small (`2·P` entries, `P` the size of `γ`) and simply stored
/// (``MaterializedGradientFactor``). `γ` starts at 1, `β` at 0. Cost O(k·C·S) both ways.
public struct Normalization<Scalar: BLASScalar>: NetworkLayer {
  /// Which values are normalised together.
  public enum Kind: Sendable, Hashable, Codable {
    /// All of an example's values; `γ`, `β` elementwise.
    case layer
    /// `groups` groups of channels; `γ`, `β` per channel.
    case group(groups: Int)
  }

  public let kind: Kind
  public let inputShape: TensorShape
  public var outputShape: TensorShape { inputShape }
  /// `ε` in `√(σ² + ε)`.
  public static var epsilon: Scalar { 1e-5 }

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless the groups divide
  ///   the channels.
  public init(_ kind: Kind, inputShape: TensorShape) throws(MinibatchError) {
    if case .group(let groups) = kind {
      let channels = inputShape.dimensions[0]
      try validateArgument(
        groups, named: "groupnorm groups", expected: "≥ 1 and dividing the \(channels) channels",
        groups >= 1 && channels % groups == 0)
    }
    self.kind = kind
    self.inputShape = inputShape
  }

  var channels: Int { inputShape.dimensions[0] }
  var positionsPerChannel: Int { inputShape.count / channels }
  /// Normalisation sets per example.
  var sets: Int {
    switch kind {
    case .layer: 1
    case .group(let groups): groups
    }
  }
  /// `P`, the size of `γ` (and of `β`).
  var affineCount: Int {
    switch kind {
    case .layer: inputShape.count
    case .group: channels
    }
  }
  public var parameterTensorSizes: [Int] { [affineCount, affineCount] }

  /// The affine entry that value `e` of an example uses.
  func affineIndex(_ e: Int) -> Int {
    switch kind {
    case .layer: e
    case .group: e / positionsPerChannel
    }
  }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {
    UnsafeMutableBufferPointer(rebasing: parameters[0..<affineCount]).update(repeating: 1)
    UnsafeMutableBufferPointer(rebasing: parameters[affineCount...]).update(repeating: 0)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let (count, sets, p) = (inputShape.count, self.sets, affineCount)
    let size = count / sets
    var normalized = [Scalar](repeating: 0, count: k * count)
    var inverseScales = [Scalar](repeating: 0, count: k * sets)
    var output = [Scalar](repeating: 0, count: k * count)
    for i in 0..<k {
      for g in 0..<sets {
        let start = i * count + g * size
        var mean: Scalar = 0
        for e in start..<(start + size) { mean += input[e] }
        mean /= Scalar(size)
        var variance: Scalar = 0
        for e in start..<(start + size) { variance += (input[e] - mean) * (input[e] - mean) }
        variance /= Scalar(size)
        let inverse = 1 / (variance + Self.epsilon).squareRoot()
        inverseScales[i * sets + g] = inverse
        for e in start..<(start + size) {
          let xhat = (input[e] - mean) * inverse
          normalized[e] = xhat
          let a = affineIndex(e - i * count)
          output[e] = parameters[a] * xhat + parameters[p + a]
        }
      }
    }
    return Pass(
      layer: self, normalized: normalized, inverseScales: inverseScales, output: output, k: k)
  }

  struct Pass: LayerPass {
    let layer: Normalization
    let normalized: [Scalar]
    let inverseScales: [Scalar]
    let output: [Scalar]
    let k: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      let (count, sets, p) = (layer.inputShape.count, layer.sets, layer.affineCount)
      let size = count / sets
      var rows = [Scalar](repeating: 0, count: k * 2 * p)
      for i in 0..<k {
        for e in 0..<count {
          let a = layer.affineIndex(e)
          let g = outputDeltas[i * count + e]
          rows[i * 2 * p + a] += g * normalized[i * count + e]
          rows[i * 2 * p + p + a] += g
        }
      }
      var below: [Scalar]? = nil
      if needsInputDeltas {
        var deltas = [Scalar](repeating: 0, count: k * count)
        for i in 0..<k {
          for g in 0..<sets {
            let start = i * count + g * size
            var meanG: Scalar = 0
            var meanGX: Scalar = 0
            for e in start..<(start + size) {
              let scaled = outputDeltas[e] * parameters[layer.affineIndex(e - i * count)]
              meanG += scaled
              meanGX += scaled * normalized[e]
            }
            meanG /= Scalar(size)
            meanGX /= Scalar(size)
            let inverse = inverseScales[i * sets + g]
            for e in start..<(start + size) {
              let scaled = outputDeltas[e] * parameters[layer.affineIndex(e - i * count)]
              deltas[e] = (scaled - meanG - normalized[e] * meanGX) * inverse
            }
          }
        }
        below = deltas
      }
      let factor: MaterializedGradientFactor<Scalar>
      do {
        factor = try MaterializedGradientFactor(
          rows: Matrix(rows: k, columns: 2 * p, storage: rows), tensorSizes: [p, p])
      } catch {
        preconditionFailure("a normalisation layer's rows have an invalid shape: \(error)")
      }
      return (below, factor)
    }
  }
}
