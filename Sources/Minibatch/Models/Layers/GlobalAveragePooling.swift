/// The mean over every position of each channel: `C×L` or `C×H×W` to `[C]` (the spec's
/// `meanpool`; no parameters).
///
/// ```
/// y[c] = (1/P)·Σ_t x[c, t]        Δ_in[c, t] = Δ_out[c]/P        (P positions per channel)
/// ```
///
/// Right after an ``Embedding`` a `meanpool` is the embedding's own mean pooling instead (an
/// embedding bag, which skips padding tokens); see ``LayerSpecification``.
public struct GlobalAveragePooling<Scalar: BLASScalar>: NetworkLayer {
  public let inputShape: TensorShape
  public var outputShape: TensorShape { TensorShape(unchecked: [inputShape.dimensions[0]]) }
  public var parameterTensorSizes: [Int] { [] }

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a flat input.
  public init(inputShape: TensorShape) throws(MinibatchError) {
    try validateArgument(
      inputShape, named: "meanpool input shape", expected: "C×L or C×H×W (channels first)",
      inputShape.dimensions.count >= 2)
    self.inputShape = inputShape
  }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {}

  var positions: Int { inputShape.count / inputShape.dimensions[0] }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let (channels, positions) = (inputShape.dimensions[0], self.positions)
    let scale = 1 / Scalar(positions)
    var output = [Scalar](repeating: 0, count: k * channels)
    for e in 0..<(k * channels) {
      var total: Scalar = 0
      for t in 0..<positions { total += input[e * positions + t] }
      output[e] = total * scale
    }
    return Pass(output: output, positions: positions)
  }

  struct Pass: LayerPass {
    let output: [Scalar]
    let positions: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      guard needsInputDeltas else { return (nil, nil) }
      let scale = 1 / Scalar(positions)
      var below = [Scalar](repeating: 0, count: outputDeltas.count * positions)
      for e in outputDeltas.indices {
        let share = outputDeltas[e] * scale
        for t in 0..<positions { below[e * positions + t] = share }
      }
      return (below, nil)
    }
  }
}
