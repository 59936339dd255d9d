import MinibatchTestSupport
import Testing

@testable import Minibatch

/// A convolution's per-example norms are shared among threads by example: each example's norm is
/// computed the same way on any thread, so every thread count gives the same bits, and both
/// methods equal the norm of the formed gradient `Δ_iᵀ·U_i` (a plain Double loop).
@Suite struct ConvolutionNormTests {
  @Test(arguments: allScalarTypes)
  func normsAreTheSameOnEveryThreadCount(_ type: any BLASScalar.Type) {
    check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) {
    // Big enough that both weight-norm methods split the examples among threads (at least
    // 2¹⁷ multiply-adds per thread).
    let (k, t, p, f) = (23, 64, 48, 40)
    var rng = SeededGenerator(seed: 77)
    let unfolded: [Scalar] = rng.signedArray(count: k * t * p)
    let deltas: [Scalar] = rng.signedArray(count: k * t * f)
    let factor = ConvolutionFactor<Scalar>(
      unfolded: unfolded, deltas: deltas, exampleCount: k, positions: t, patch: p, filters: f,
      normMethod: .automatic)
    let reference = (0..<k).map { i in
      var total = 0.0
      for o in 0..<f {
        for c in 0..<p {
          var g = 0.0
          for position in 0..<t {
            let row = i * t + position
            g += Double(deltas[row * f + o]) * Double(unfolded[row * p + c])
          }
          total += g * g
        }
      }
      return total
    }
    let biasReference = (0..<k).map { i in
      (0..<f).reduce(0.0) { total, o in
        let b = (0..<t).reduce(Scalar(0)) { $0 + deltas[(i * t + $1) * f + o] }
        return total + Double(b) * Double(b)
      }
    }
    let tolerance = Scalar.self == Float.self ? 1e-4 : 1e-12
    for method in [ConvolutionFactor<Scalar>.NormMethod.ghost, .materialized] {
      let serial = factor.squaredWeightNorms(method: method, parallelism: .serial)
      #expect(relativeError(serial, reference) <= tolerance, "\(method) \(Scalar.self)")
      for threads in [2, 3, 8] {
        #expect(
          factor.squaredWeightNorms(method: method, parallelism: .threads(threads)) == serial,
          "\(method) on \(threads) threads, \(Scalar.self)")
      }
    }
    let bias = factor.squaredBiasNorms(parallelism: .serial)
    #expect(relativeError(bias, biasReference) <= tolerance, "bias \(Scalar.self)")
    #expect(factor.squaredBiasNorms(parallelism: .threads(3)) == bias, "bias \(Scalar.self)")
    #expect(
      factor.squaredTensorNorms(parallelism: .threads(2))
        == factor.squaredTensorNorms(parallelism: .serial), "tensor norms \(Scalar.self)")
  }
}
