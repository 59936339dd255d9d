/// What a pooling window is reduced to.
public enum PoolingKind: String, Sendable, Hashable, Codable { case max, average }

/// Max or average pooling over windows of a `C×L` (1-D) or `C×H×W` (2-D) input, channel by
/// channel, without padding (no parameters).
///
/// ```
/// output extent   ⌊(L − kernel)/stride⌋ + 1                     (per spatial axis)
/// max:            y[c, o] = max_{t ∈ window(o)} x[c, t]      Δ_in[c, argmax] += Δ_out[c, o]
/// average:        y[c, o] = (1/|window|)·Σ_{t ∈ window(o)} x[c, t]   Δ_in[c, t] += Δ_out[c, o]/|window|
/// ```
///
/// A max window's ties go to the first (row-major) position. Cost O(k·C·outputs·kernel²) both ways.
public struct Pooling<Scalar: BLASScalar>: NetworkLayer {
  public let kind: PoolingKind
  public let inputShape: TensorShape
  public let outputShape: TensorShape
  /// Window and stride per spatial axis (`[kernel]` for 1-D, `[kh, kw]` for 2-D).
  public let kernel: [Int]
  public let stride: [Int]

  /// - Parameters:
  ///   - kind: max or average.
  ///   - inputShape: `[C, L]` for 1-D pooling, `[C, H, W]` for 2-D.
  ///   - kernel: the window's extent on every spatial axis, ≥ 1 and at most the input's.
  ///   - stride: the step between windows, ≥ 1 (PyTorch's default is the kernel).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming what does not fit.
  public init(_ kind: PoolingKind, inputShape: TensorShape, kernel: Int, stride: Int)
    throws(MinibatchError)
  {
    let spatial = Array(inputShape.dimensions.dropFirst())
    try validateArgument(
      inputShape, named: "pooling input shape", expected: "C×L (1-D) or C×H×W (2-D)",
      (1...2).contains(spatial.count))
    // Max pooling records each output's source as an Int32 offset within its example.
    try validateArgument(
      inputShape, named: "pooling input shape", expected: "fewer than 2^31 values per example",
      inputShape.count < Int(Int32.max))
    try validateArgument(kernel, named: "pooling kernel", expected: "≥ 1", kernel >= 1)
    try validateArgument(stride, named: "pooling stride", expected: "≥ 1", stride >= 1)
    try validateArgument(
      kernel, named: "pooling kernel",
      expected:
        "at most the input's spatial extent \(spatial.map(String.init).joined(separator: "×"))",
      spatial.allSatisfy { kernel <= $0 })
    self.kind = kind
    self.inputShape = inputShape
    self.kernel = Array(repeating: kernel, count: spatial.count)
    self.stride = Array(repeating: stride, count: spatial.count)
    outputShape = TensorShape(
      unchecked: [inputShape.dimensions[0]] + spatial.map { ($0 - kernel) / stride + 1 })
  }

  public var parameterTensorSizes: [Int] { [] }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {}

  /// `(C, H, W, kh, kw, sh, sw, Ho, Wo)`, a 1-D input seen as `H = 1`.
  var geometry: (c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, ho: Int, wo: Int) {
    let d = inputShape.dimensions
    let o = outputShape.dimensions
    if d.count == 2 {
      return (d[0], 1, d[1], 1, kernel[0], 1, stride[0], 1, o[1])
    }
    return (d[0], d[1], d[2], kernel[0], kernel[1], stride[0], stride[1], o[1], o[2])
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let g = geometry
    let (inCount, outCount) = (inputShape.count, outputShape.count)
    var output = [Scalar](repeating: 0, count: k * outCount)
    // For max pooling, the input index each output came from.
    var sources = kind == .max ? [Int32](repeating: 0, count: k * outCount) : []
    let scale = 1 / Scalar(g.kh * g.kw)
    let isMax = kind == .max
    input.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        sources.withUnsafeMutableBufferPointer { from in
          for i in 0..<k {
            for c in 0..<g.c {
              let plane = i * inCount + c * g.h * g.w
              for oh in 0..<g.ho {
                for ow in 0..<g.wo {
                  let o = i * outCount + (c * g.ho + oh) * g.wo + ow
                  let top = plane + oh * g.sh * g.w + ow * g.sw
                  if isMax {
                    var best = top
                    var largest = x[top]
                    for r in 0..<g.kh {
                      let row = top + r * g.w
                      for s in 0..<g.kw where x[row + s] > largest {
                        best = row + s
                        largest = x[best]
                      }
                    }
                    y[o] = largest
                    from[o] = Int32(truncatingIfNeeded: best - i * inCount)
                  } else {
                    var total: Scalar = 0
                    for r in 0..<g.kh {
                      let row = top + r * g.w
                      for s in 0..<g.kw { total += x[row + s] }
                    }
                    y[o] = total * scale
                  }
                }
              }
            }
          }
        }
      }
    }
    return Pass(layer: self, output: output, sources: sources, k: k)
  }

  struct Pass: LayerPass {
    let layer: Pooling
    let output: [Scalar]
    let sources: [Int32]
    let k: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      guard needsInputDeltas else { return (nil, nil) }
      let g = layer.geometry
      let (inCount, outCount) = (layer.inputShape.count, layer.outputShape.count)
      var below = [Scalar](repeating: 0, count: k * inCount)
      switch layer.kind {
      case .max:
        for i in 0..<k {
          for o in 0..<outCount {
            below[i * inCount + Int(sources[i * outCount + o])] += outputDeltas[i * outCount + o]
          }
        }
      case .average:
        let scale = 1 / Scalar(g.kh * g.kw)
        for i in 0..<k {
          for c in 0..<g.c {
            let plane = i * inCount + c * g.h * g.w
            for oh in 0..<g.ho {
              for ow in 0..<g.wo {
                let share = outputDeltas[i * outCount + (c * g.ho + oh) * g.wo + ow] * scale
                let top = plane + oh * g.sh * g.w + ow * g.sw
                for r in 0..<g.kh {
                  for s in 0..<g.kw { below[top + r * g.w + s] += share }
                }
              }
            }
          }
        }
      }
      return (below, nil)
    }
  }
}
