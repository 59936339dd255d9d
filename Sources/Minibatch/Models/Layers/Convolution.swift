import CMinibatchKernels

/// A 1-D or 2-D convolution (cross-correlation, as in PyTorch), channels first, with bias:
/// `C×L → F×L′` or `C×H×W → F×H′×W′`, by unfolding (im2col) and GEMM.
///
/// Shapes (a 1-D input is `H = 1` with a `1 × kernel` window):
///
/// ```
/// H′ = ⌊(H + 2·padding − kernel)/stride⌋ + 1      (likewise W′)      T = H′·W′ output positions
/// U_i:  T × p, p = C·kh·kw      U_i[t, (c, r, s)] = x_i[c, h′·stride − padding + r, w′·stride − padding + s]
///                                                   (0 outside the input)
/// forward:   Z_i = U_i·Wᵀ + 1·bᵀ   (T × F; one GEMM over all k·T rows), stored as F × T
/// backward:  Δ_in = fold(Δ·W)       (one GEMM over k·T rows, then col2im)
/// ```
///
/// Parameter layout: `W` is `F × p` row-major with column `(c, r, s)` at `c·kh·kw + r·kw + s`
/// (PyTorch's `weight` flattened), then `b` (`F`).
///
/// Its factor of `J` (``ConvolutionFactor``) is a sum over positions: example `i`'s weight gradient
/// is `Δ_iᵀ·U_i` (`F × p`, `Δ_i` is `T × F`) and its bias gradient `Σ_t δ_{i,t}`. `Jᵀv` is one GEMM
/// over all positions with `v_i` repeated `T` times; the squared norms are **ghost**
/// (`⟨U_iU_iᵀ, Δ_iΔ_iᵀ⟩`, O(T²·(p + F)) per example) or **materialised** (`‖Δ_iᵀU_i‖²`,
/// O(T·p·F)), chosen per layer by cost: ghost when `2T² ≤ p·F`, as mixed ghost clipping does.
public struct Convolution<Scalar: BLASScalar>: NetworkLayer {
  public let inputShape: TensorShape
  public let outputShape: TensorShape
  /// `F`, the output channels.
  public let filters: Int
  /// The window's extent on each spatial axis (square in 2-D).
  public let kernel: Int
  public let stride: Int
  public let padding: Int
  /// How the factor computes the weights' per-example norms.
  public let normMethod: ConvolutionFactor<Scalar>.NormMethod

  /// - Parameters:
  ///   - inputShape: `[C, L]` for a 1-D convolution, `[C, H, W]` for 2-D.
  ///   - filters: `F ≥ 1`.
  ///   - kernel: `≥ 1`, at most the padded input's extent.
  ///   - stride: `≥ 1`.
  ///   - padding: zeros added on every side, `≥ 0`.
  ///   - normMethod: ghost, materialised, or chosen by cost (the default).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming what does not fit.
  public init(
    inputShape: TensorShape, filters: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
    normMethod: ConvolutionFactor<Scalar>.NormMethod = .automatic
  ) throws(MinibatchError) {
    let spatial = Array(inputShape.dimensions.dropFirst())
    try validateArgument(
      inputShape, named: "convolution input shape", expected: "C×L (conv1d) or C×H×W (conv2d)",
      (1...2).contains(spatial.count))
    try validateArgument(filters, named: "convolution filters", expected: "≥ 1", filters >= 1)
    try validateArgument(kernel, named: "convolution kernel", expected: "≥ 1", kernel >= 1)
    try validateArgument(stride, named: "convolution stride", expected: "≥ 1", stride >= 1)
    try validateArgument(
      padding, named: "convolution padding",
      expected: "0...\(spatial.max() ?? 0) (at most the input's extent)",
      padding >= 0 && spatial.allSatisfy { padding <= $0 })
    try validateArgument(
      kernel, named: "convolution kernel",
      expected:
        "at most the padded input's extent (\(spatial.map { String($0 + 2 * padding) }.joined(separator: "×")))",
      spatial.allSatisfy { kernel <= $0 + 2 * padding })
    try validateArgument(
      padding, named: "convolution padding", expected: "less than the kernel (\(kernel))",
      padding < kernel)
    self.inputShape = inputShape
    self.filters = filters
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    self.normMethod = normMethod
    // Checked: filters × output positions, and the unfolded patch, within Int.
    outputShape = try TensorShape(
      [filters] + spatial.map { ($0 + 2 * padding - kernel) / stride + 1 })
    let (patch, overflow) = inputShape.dimensions[0].multipliedReportingOverflow(
      by: spatial.count == 2 ? kernel * kernel : kernel)
    let (size, overflow2) = (patch + 1).multipliedReportingOverflow(by: filters)
    try validateArgument(
      kernel, named: "convolution kernel",
      expected: "(C·kernel² + 1)·filters parameters within Int",
      !overflow && !overflow2 && size > 0)
  }

  /// The convolution seen as 2-D: a 1-D one has `H = 1`, a `1 × kernel` window, no vertical
  /// stride or padding.
  var geometry: ConvolutionGeometry {
    let d = inputShape.dimensions
    let is1D = d.count == 2
    return ConvolutionGeometry(
      channels: d[0], height: is1D ? 1 : d[1], width: d[d.count - 1],
      kernelHeight: is1D ? 1 : kernel, kernelWidth: kernel, strideHeight: is1D ? 1 : stride,
      strideWidth: stride, paddingHeight: is1D ? 0 : padding, paddingWidth: padding,
      outputHeight: is1D ? 1 : outputShape.dimensions[1],
      outputWidth: outputShape.dimensions[outputShape.dimensions.count - 1])
  }

  public var parameterTensorSizes: [Int] { [filters * geometry.patch, filters] }

  /// `W` uniform in `[−r, r]` with fan-in `p = C·kh·kw` and fan-out `F·kh·kw` (He before a
  /// rectifier, Glorot otherwise); `b = 0`.
  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {
    let g = geometry
    let weights = filters * g.patch
    fillUniform(
      UnsafeMutableBufferPointer(rebasing: parameters[0..<weights]),
      radius: initializationRadius(
        fanIn: g.patch, fanOut: filters * g.kernelHeight * g.kernelWidth,
        rectifierFollows: rectifierFollows), generator: &generator)
    UnsafeMutableBufferPointer(rebasing: parameters[weights...]).update(repeating: 0)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let g = geometry
    let (t, p, f) = (g.positions, g.patch, filters)
    let unfolded = g.unfold(input, k: k)
    var z = [Scalar](repeating: 0, count: k * t * f)
    unfolded.withUnsafeBufferPointer { u in
      z.withUnsafeMutableBufferPointer { z in
        Scalar.gemm(
          transposeA: false, transposeB: true, m: k * t, n: f, k: p, alpha: 1,
          a: u.baseAddress!, lda: p, b: parameters.baseAddress!, ldb: p, beta: 0,
          c: z.baseAddress!, ldc: f)
      }
    }
    // (k·T) × F to k × F × T, plus the bias.
    let bias = parameters.baseAddress! + f * p
    var output = [Scalar](repeating: 0, count: k * f * t)
    z.withUnsafeBufferPointer { z in
      output.withUnsafeMutableBufferPointer { y in
        for i in 0..<k {
          for c in 0..<f {
            let destination = y.baseAddress! + (i * f + c) * t
            let source = z.baseAddress! + i * t * f + c
            let b = bias[c]
            for position in 0..<t { destination[position] = source[position * f] + b }
          }
        }
      }
    }
    return Pass(layer: self, unfolded: unfolded, output: output, k: k)
  }

  struct Pass: LayerPass {
    let layer: Convolution
    let unfolded: [Scalar]
    let output: [Scalar]
    let k: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      let g = layer.geometry
      let (t, p, f) = (g.positions, g.patch, layer.filters)
      // k × F × T to (k·T) × F.
      var deltas = [Scalar](repeating: 0, count: k * t * f)
      outputDeltas.withUnsafeBufferPointer { d in
        deltas.withUnsafeMutableBufferPointer { delta in
          for i in 0..<k {
            for c in 0..<f {
              let source = d.baseAddress! + (i * f + c) * t
              let destination = delta.baseAddress! + i * t * f + c
              for position in 0..<t { destination[position * f] = source[position] }
            }
          }
        }
      }
      var below: [Scalar]? = nil
      if needsInputDeltas {
        var patches = [Scalar](repeating: 0, count: k * t * p)
        deltas.withUnsafeBufferPointer { d in
          patches.withUnsafeMutableBufferPointer { dp in
            Scalar.gemm(
              transposeA: false, transposeB: false, m: k * t, n: p, k: f, alpha: 1,
              a: d.baseAddress!, lda: f, b: parameters.baseAddress!, ldb: p, beta: 0,
              c: dp.baseAddress!, ldc: p)
          }
        }
        below = g.fold(patches, k: k)
      }
      let factor = ConvolutionFactor(
        unfolded: unfolded, deltas: deltas, exampleCount: k, positions: t, patch: p, filters: f,
        normMethod: layer.normMethod)
      return (below, factor)
    }
  }
}

/// A convolution's sizes seen as 2-D.
struct ConvolutionGeometry: Sendable, Hashable {
  let channels: Int, height: Int, width: Int
  let kernelHeight: Int, kernelWidth: Int
  let strideHeight: Int, strideWidth: Int
  let paddingHeight: Int, paddingWidth: Int
  let outputHeight: Int, outputWidth: Int

  /// `T`, output positions per channel.
  var positions: Int { outputHeight * outputWidth }
  /// `p = C·kh·kw`, the entries of one unfolded patch.
  var patch: Int { channels * kernelHeight * kernelWidth }

  /// The sizes as the C kernels take them.
  var kernelGeometry: minibatch_convolution_geometry {
    minibatch_convolution_geometry(
      channels: channels, height: height, width: width, kernel_height: kernelHeight,
      kernel_width: kernelWidth, stride_height: strideHeight, stride_width: strideWidth,
      padding_height: paddingHeight, padding_width: paddingWidth, output_height: outputHeight,
      output_width: outputWidth)
  }

  /// `U` (`(k·T) × p`): row `(i, t)` is the patch under output position `t` of example `i`,
  /// laid out `(c, r, s)`, zeros where it covers padding (the C kernel `minibatch_unfold_*`,
  /// `unfold.c`); cost `O(k·T·p)` copies.
  func unfold<Scalar: BLASScalar>(_ x: [Scalar], k: Int) -> [Scalar] {
    let count = k * positions * patch
    guard count > 0 else { return [] }
    let geometry = kernelGeometry
    return [Scalar](unsafeUninitializedCapacity: count) { u, initialized in
      x.withUnsafeBufferPointer { x in
        Scalar.unfold(x.baseAddress!, k: k, geometry: geometry, into: u.baseAddress!)
      }
      initialized = count
    }
  }

  /// The adjoint of ``unfold(_:k:)`` (col2im): every patch entry added back to the input
  /// position it came from, output positions in order; `k × C × H × W` (the C kernel
  /// `minibatch_fold_*`); cost `O(k·T·p)` additions.
  func fold<Scalar: BLASScalar>(_ patches: [Scalar], k: Int) -> [Scalar] {
    let count = k * channels * height * width
    guard count > 0 else { return [] }
    guard !patches.isEmpty else { return [Scalar](repeating: 0, count: count) }
    let geometry = kernelGeometry
    return [Scalar](unsafeUninitializedCapacity: count) { x, initialized in
      patches.withUnsafeBufferPointer { u in
        Scalar.fold(u.baseAddress!, k: k, geometry: geometry, into: x.baseAddress!)
      }
      initialized = count
    }
  }
}
