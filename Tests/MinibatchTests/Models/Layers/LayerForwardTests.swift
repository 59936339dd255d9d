import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// Every layer's forward pass against a naive loop written from its definition (PyTorch's
/// conventions: channels first, cross-correlation, zero padding, floor output sizes), in Float and
/// Double over random shapes, strides and paddings.
@Suite struct LayerForwardTests {
  @Test(arguments: allScalarTypes)
  func forwardPassesMatchNaiveLoops(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func output<Scalar: BLASScalar>(
    _ layer: some NetworkLayer<Scalar>, _ parameters: [Scalar], _ input: [Scalar], k: Int
  ) -> [Scalar] {
    parameters.withUnsafeBufferPointer { w in
      layer.forward(parameters: w, input: input, exampleCount: k).output
    }
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-13 : 2e-6
    var rng = SeededGenerator(seed: 17)
    for trial in 0..<24 {
      let k = 1 + Int(rng.next() % 3)
      let channels = 1 + Int(rng.next() % 3)
      let height = 1 + Int(rng.next() % 6)
      let width = 2 + Int(rng.next() % 6)
      let twoD = trial % 2 == 0
      let (h, shape) = twoD ? (height, [channels, height, width]) : (1, [channels, width])
      let kernel = 1 + Int(rng.next() % UInt64(min(width, twoD ? height : width)))
      let stride = 1 + Int(rng.next() % 2)
      let padding = Int(rng.next() % UInt64(kernel))
      let filters = 1 + Int(rng.next() % 3)
      let label =
        "trial \(trial): k \(k) shape \(shape) kernel \(kernel) stride \(stride) padding \(padding)"
      let input: [Scalar] = rng.signedArray(count: k * shape.reduce(1, *))
      let x = { (i: Int, c: Int, r: Int, s: Int) -> Double in
        guard r >= 0, r < h, s >= 0, s < width else { return 0 }
        return Double(input[((i * channels + c) * h + r) * width + s])
      }

      // Convolution.
      let convolution = try Convolution<Scalar>(
        inputShape: TensorShape(shape), filters: filters, kernel: kernel, stride: stride,
        padding: padding)
      let w: [Scalar] = rng.signedArray(count: convolution.parameterCount)
      let (kh, ph, sh) = twoD ? (kernel, padding, stride) : (1, 0, 1)
      let ho = (h + 2 * ph - kh) / sh + 1
      let wo = (width + 2 * padding - kernel) / stride + 1
      #expect(convolution.outputShape.dimensions == (twoD ? [filters, ho, wo] : [filters, wo]))
      var expected: [Double] = []
      for i in 0..<k {
        for f in 0..<filters {
          for oh in 0..<ho {
            for ow in 0..<wo {
              var total = Double(w[filters * channels * kh * kernel + f])
              for c in 0..<channels {
                for r in 0..<kh {
                  for s in 0..<kernel {
                    let weight = Double(w[((f * channels + c) * kh + r) * kernel + s])
                    total += weight * x(i, c, oh * sh - ph + r, ow * stride - padding + s)
                  }
                }
              }
              expected.append(total)
            }
          }
        }
      }
      #expect(
        relativeError(output(convolution, w, input, k: k), expected) <= tolerance, "conv \(label)")

      // Max and average pooling (no padding).
      let poolKernel = 1 + Int(rng.next() % UInt64(min(width, twoD ? height : width)))
      for kind in [PoolingKind.max, .average] {
        let pooling = try Pooling<Scalar>(
          kind, inputShape: TensorShape(shape), kernel: poolKernel, stride: stride)
        let (pkh, psh) = twoD ? (poolKernel, stride) : (1, 1)
        let pho = (h - pkh) / psh + 1
        let pwo = (width - poolKernel) / stride + 1
        var pooled: [Double] = []
        for i in 0..<k {
          for c in 0..<channels {
            for oh in 0..<pho {
              for ow in 0..<pwo {
                var values: [Double] = []
                for r in 0..<pkh {
                  for s in 0..<poolKernel { values.append(x(i, c, oh * psh + r, ow * stride + s)) }
                }
                pooled.append(
                  kind == .max ? values.max()! : values.reduce(0, +) / Double(values.count))
              }
            }
          }
        }
        #expect(
          relativeError(output(pooling, [], input, k: k), pooled) <= tolerance,
          "\(kind) pool \(label)")
      }

      // Global mean pooling, LayerNorm and GroupNorm.
      let positions = h * width
      let mean = try GlobalAveragePooling<Scalar>(inputShape: TensorShape(shape))
      let means = (0..<(k * channels)).map { e in
        (0..<positions).reduce(0.0) { $0 + Double(input[e * positions + $1]) } / Double(positions)
      }
      #expect(relativeError(output(mean, [], input, k: k), means) <= tolerance, "meanpool")
      let groups = [1, channels].randomElement(using: &rng)!
      for kind in [Normalization<Scalar>.Kind.layer, .group(groups: groups)] {
        let norm = try Normalization<Scalar>(kind, inputShape: TensorShape(shape))
        let affine: [Scalar] = rng.signedArray(count: norm.parameterCount)
        let p = norm.parameterCount / 2
        var normalized: [Double] = []
        let sets = kind == .layer ? 1 : groups
        let size = channels * positions / sets
        for i in 0..<k {
          for g in 0..<sets {
            let values = (0..<size).map { Double(input[i * channels * positions + g * size + $0]) }
            let mu = values.reduce(0, +) / Double(size)
            let variance = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(size)
            for (e, value) in values.enumerated() {
              let index = g * size + e
              let a = kind == .layer ? index : index / positions
              normalized.append(
                Double(affine[a]) * (value - mu) / (variance + 1e-5).squareRoot()
                  + Double(affine[p + a]))
            }
          }
        }
        #expect(
          relativeError(output(norm, affine, input, k: k), normalized) <= 10 * tolerance,
          "\(kind) \(label)")
      }
    }

    // Dense and the activations.
    let dense = try Dense<Scalar>(inputShape: TensorShape([3]), units: 2)
    let dw: [Scalar] = [1, 2, 3, -1, 0.5, 0, 0.25, -0.5]
    let expectedDense: [Scalar] = [5.25, -2]  // (1 − 2 + 6) + 0.25, (−1 − 0.5 + 0) − 0.5
    #expect(output(dense, dw, [1, -1, 2], k: 1) == expectedDense)
    let values: [Scalar] = [-3, -0.5, 0, 0.7, 4]
    let shape = try TensorShape([5])
    for function in ActivationFunction.allCases {
      let got = output(ActivationLayer<Scalar>(function, inputShape: shape), [], values, k: 1)
      let expected = values.map { v -> Double in
        let x = Double(v)
        switch function {
        case .relu: return max(x, 0)
        case .leakyReLU: return x > 0 ? x : 0.01 * x
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .gelu: return x * (1 + Foundation.erf(x / 2.0.squareRoot())) / 2
        }
      }
      #expect(relativeError(got, expected) <= 4 * tolerance, "\(function)")
    }

    // The embedding bag, with padding (−1 and a padding id), mean and sum; and the sequence.
    let table: [Scalar] = rng.signedArray(count: 5 * 2)
    let ids: [Scalar] = [1, 4, 1, -1, 3, 3, 3, 3, -1, -1, -1, -1]
    for pooling in Embedding<Scalar>.Pooling.allCases {
      let embedding = try Embedding<Scalar>(
        inputShape: TensorShape([4]), vocabulary: 5, dimension: 2, pooling: pooling, paddingID: 4)
      var expected: [Double] = []
      for i in 0..<3 {
        let tokens = ids[(i * 4)..<(i * 4 + 4)].map { Int($0) }
        let valid = tokens.filter { $0 >= 0 && $0 != 4 }
        if pooling == .none {
          for c in 0..<2 {
            for t in tokens { expected.append(t >= 0 && t != 4 ? Double(table[t * 2 + c]) : 0) }
          }
        } else {
          for c in 0..<2 {
            let total = valid.reduce(0.0) { $0 + Double(table[$1 * 2 + c]) }
            expected.append(
              pooling == .sum ? total : valid.isEmpty ? 0 : total / Double(valid.count))
          }
        }
      }
      #expect(
        relativeError(output(embedding, table, ids, k: 3), expected) <= tolerance, "\(pooling)")
    }
  }
}
