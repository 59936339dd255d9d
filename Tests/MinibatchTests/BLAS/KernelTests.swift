import Foundation
import MinibatchTestSupport
import Testing

@_spi(Benchmark) @testable import Minibatch

/// The C kernels against libm: every value within a few ulp over many magnitudes, the special
/// values exact.
@Suite struct KernelTests {
  @Test(arguments: allScalarTypes)
  func tanhAgreesWithLibm(_ type: any BLASScalar.Type) throws {
    try checkTanh(type)
  }

  func checkTanh<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 3)
    // Magnitudes from 2^-30 to 2^5 (tanh's whole curve, and the region where it rounds to 1).
    var values: [Scalar] = (0..<20_000).map { _ in
      let magnitude = Scalar(Double.exp2(Double(rng.next() % 36_000) / 1000 - 30))
      return rng.next() % 2 == 0 ? magnitude : -magnitude
    }
    values += [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
    var results = [Scalar](repeating: .nan, count: values.count)
    values.withUnsafeBufferPointer { x in
      results.withUnsafeMutableBufferPointer { y in
        Scalar.tanh(x.baseAddress!, into: y.baseAddress!, count: x.count)
      }
    }
    var worst = 0.0
    for (x, y) in zip(values, results) {
      let expected = Scalar.tanh(x)
      let ulps = Double(
        abs(y - expected) / max(expected.magnitude.ulp, Scalar.leastNormalMagnitude))
      worst = max(worst, ulps)
      #expect(y.sign == x.sign, "tanh(\(x)) = \(y)")
    }
    #expect(worst <= 4, "\(Scalar.self): worst \(worst) ulp")
    #expect(results[values.count - 6] == 0 && results[values.count - 5] == 0)
    #expect(results[values.count - 4] == 1 && results[values.count - 3] == -1)
    // NaN stays NaN; in place works.
    var inPlace: [Scalar] = [.nan, 0.5]
    inPlace.withUnsafeMutableBufferPointer { p in
      Scalar.tanh(p.baseAddress!, into: p.baseAddress!, count: 2)
    }
    #expect(inPlace[0].isNaN && abs(inPlace[1] - Scalar.tanh(0.5)) <= 4 * Scalar.tanh(0.5).ulp)
    #expect(!Kernels.instructionSet.isEmpty)
  }
}
