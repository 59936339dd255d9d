import MinibatchTestSupport
import Testing

@_spi(Benchmark) @testable import Minibatch

/// The unfold and fold kernels (`unfold.c`) against a plain reference that computes each entry
/// from its indices, over random 1-D and 2-D geometries (1×1 kernels, kernels wider than the
/// input with padding, strides larger than the kernel, padding beyond the kernel), into buffers
/// of NaN (every entry written); fold bit for bit equal to the plain sum
/// in output-position order, and the baseline bodies equal to the vector ones.
@Suite struct UnfoldKernelTests {
  @Test(arguments: allScalarTypes)
  func unfoldAndFoldAgreeWithTheirIndexFormulas(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  struct Case {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int
    var oh: Int { (h + 2 * ph - kh) / sh + 1 }
    var ow: Int { (w + 2 * pw - kw) / sw + 1 }
    var geometry: ConvolutionGeometry {
      ConvolutionGeometry(
        channels: c, height: h, width: w, kernelHeight: kh, kernelWidth: kw, strideHeight: sh,
        strideWidth: sw, paddingHeight: ph, paddingWidth: pw, outputHeight: oh, outputWidth: ow)
    }
    /// The input index of patch entry `(c, r, s)` at output position `(y, x)`, or nil in padding.
    func source(channel: Int, r: Int, s: Int, y: Int, x: Int) -> Int? {
      let (row, column) = (y * sh - ph + r, x * sw - pw + s)
      guard (0..<h).contains(row) && (0..<w).contains(column) else { return nil }
      return (channel * h + row) * w + column
    }
  }

  static let cases: [Case] = [
    Case(c: 1, h: 1, w: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0),
    Case(c: 3, h: 1, w: 17, kh: 1, kw: 5, sh: 1, sw: 2, ph: 0, pw: 2),  // 1-D
    Case(c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2),
    Case(c: 4, h: 7, w: 9, kh: 3, kw: 3, sh: 2, sw: 3, ph: 1, pw: 1),
    Case(c: 2, h: 3, w: 3, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2),  // kernel wider than input
    Case(c: 2, h: 8, w: 8, kh: 2, kw: 2, sh: 4, sw: 4, ph: 0, pw: 0),  // stride beyond kernel
    Case(c: 16, h: 14, w: 14, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
    Case(c: 1, h: 5, w: 40, kh: 1, kw: 9, sh: 1, sw: 1, ph: 0, pw: 8),  // padding kw − 1
    // Padding beyond the kernel (Convolution never builds it; the kernel's clamps handle it).
    Case(c: 2, h: 4, w: 5, kh: 2, kw: 3, sh: 1, sw: 2, ph: 3, pw: 4),
  ]

  /// The kernels called into buffers full of NaN: every entry must be written.
  func direct<Scalar: BLASScalar>(
    _ g: ConvolutionGeometry, _ input: [Scalar], count: Int, k: Int, fold: Bool
  ) -> [Scalar] {
    var out = [Scalar](repeating: .nan, count: count)
    input.withUnsafeBufferPointer { x in
      out.withUnsafeMutableBufferPointer { o in
        if fold {
          Scalar.fold(x.baseAddress!, k: k, geometry: g.kernelGeometry, into: o.baseAddress!)
        } else {
          Scalar.unfold(x.baseAddress!, k: k, geometry: g.kernelGeometry, into: o.baseAddress!)
        }
      }
    }
    return out
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 31)
    for test in Self.cases {
      for k in [1, 3] {
        let g = test.geometry
        let (t, p, size) = (g.positions, g.patch, test.c * test.h * test.w)
        let x: [Scalar] = rng.signedArray(count: k * size)
        var expected = [Scalar](repeating: 0, count: k * t * p)
        let patches: [Scalar] = rng.signedArray(count: k * t * p)
        var folded = [Scalar](repeating: 0, count: k * size)
        for i in 0..<k {
          for y in 0..<test.oh {
            for column in 0..<test.ow {
              let row = (i * t + y * test.ow + column) * p
              for channel in 0..<test.c {
                for r in 0..<test.kh {
                  for s in 0..<test.kw {
                    let entry = row + (channel * test.kh + r) * test.kw + s
                    guard let at = test.source(channel: channel, r: r, s: s, y: y, x: column)
                    else { continue }
                    expected[entry] = x[i * size + at]
                    folded[i * size + at] += patches[entry]
                  }
                }
              }
            }
          }
        }
        let label = "\(Scalar.self) \(test) k=\(k)"
        #expect(g.unfold(x, k: k) == expected, "unfold \(label)")
        #expect(g.fold(patches, k: k) == folded, "fold \(label)")
        #expect(direct(g, x, count: k * t * p, k: k, fold: false) == expected, "unfold \(label)")
        #expect(direct(g, patches, count: k * size, k: k, fold: true) == folded, "fold \(label)")
        #expect(
          Kernels.withInstructionSet(level: 0) { g.unfold(x, k: k) } == expected,
          "baseline unfold \(label)")
        #expect(
          Kernels.withInstructionSet(level: 0) { g.fold(patches, k: k) } == folded,
          "baseline fold \(label)")
      }
    }
  }
}
