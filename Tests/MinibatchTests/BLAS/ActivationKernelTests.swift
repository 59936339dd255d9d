import CMinibatchKernels
import Foundation
import MinibatchTestSupport
import Testing

@_spi(Benchmark) @testable import Minibatch

/// The forward activation kernels (`activations.c`): relu and leaky relu exactly as their formulas
/// (NaN kept by relu), sigmoid within 4 ulp of libm over magnitudes from 2⁻³⁰ to beyond where it
/// underflows, its special values exact; gelu against Float80; and the baseline body bit for bit
/// equal to the vector one.
@Suite struct ActivationKernelTests {
  @Test(arguments: allScalarTypes)
  func forwardActivationsAgreeWithTheirFormulas(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  @Test(arguments: allScalarTypes)
  func geluAgreesWithAnExtendedPrecisionReference(_ type: any BLASScalar.Type) throws {
    try checkGelu(type)
  }

  /// gelu and its derivative against Float80 (`erfc` of a Float80 `t`: its own error is below
  /// 2t²·2⁻⁶⁴, under an ulp of Double for every `t` where the result is normal): within 12 ulp
  /// in Double and 2 in Float, relatively, down to where the result underflows.
  func checkGelu<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 43)
    var values: [Scalar] = (0..<20_000).map { _ in
      let magnitude = Scalar(Double.exp2(Double(rng.next() % 36_000) / 1000 - 30))  // to 64
      return rng.next() % 2 == 0 ? magnitude : -magnitude
    }
    values += [0, -0.0, -0.75179, 1, -1, 5.3, -5.3, -10, -13, -18, -26, -37, -37.5, -38, 41, 100]
    let f = forward(Int32(MINIBATCH_GELU), values)
    let ones = [Scalar](repeating: 1, count: values.count)
    var derivative = [Scalar](repeating: .nan, count: values.count)
    values.withUnsafeBufferPointer { x in
      f.withUnsafeBufferPointer { f in
        ones.withUnsafeBufferPointer { g in
          derivative.withUnsafeMutableBufferPointer { d in
            Scalar.activationBackward(
              kind: Int32(MINIBATCH_GELU), outputDeltas: g.baseAddress!, input: x.baseAddress!,
              output: f.baseAddress!, into: d.baseAddress!, count: x.count)
          }
        }
      }
    }
    let bound: Scalar = Scalar.self == Double.self ? 12 : 2
    let floor = 64 * Scalar.leastNonzeroMagnitude
    for (j, x) in values.enumerated() {
      let x80 = Float80(x)
      let erfc = Float80.erfc(abs(x80) / Float80(2).squareRoot())
      let cdf = x80 >= 0 ? 1 - erfc / 2 : erfc / 2
      let density = Float80.exp(-x80 * x80 / 2) / (2 * Float80.pi).squareRoot()
      let expected = Scalar(x80 * cdf)
      #expect(
        abs(f[j] - expected) <= bound * expected.ulp + floor,
        "\(Scalar.self) gelu(\(x)) = \(f[j]), expected \(expected)")
      let slope = Scalar(cdf + x80 * density)
      let scale = Scalar(abs(cdf) + abs(x80 * density))
      #expect(
        abs(derivative[j] - slope) <= bound * Scalar.ulpOfOne * scale + floor,
        "\(Scalar.self) gelu′(\(x)) = \(derivative[j]), expected \(slope)")
    }
    let special = forward(Int32(MINIBATCH_GELU), [.infinity, .nan, -50] as [Scalar])
    #expect(
      special[0] == .infinity && special[1].isNaN && special[2] == 0 && special[2].sign == .minus)
  }

  func forward<Scalar: BLASScalar>(_ kind: Int32, _ x: [Scalar], level: Int? = nil) -> [Scalar] {
    let run = {
      [Scalar](unsafeUninitializedCapacity: x.count) { y, initialized in
        x.withUnsafeBufferPointer {
          Scalar.activationForward(
            kind: kind, input: $0.baseAddress!, into: y.baseAddress!, count: x.count)
        }
        initialized = x.count
      }
    }
    guard let level else { return run() }
    return Kernels.withInstructionSet(level: level, run)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 41)
    var values: [Scalar] = (0..<20_003).map { _ in
      let magnitude = Scalar(Double.exp2(Double(rng.next() % 40_000) / 1000 - 30))
      return rng.next() % 2 == 0 ? magnitude : -magnitude
    }
    values += [
      0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, -80,
      -87.5, -100, -103.9, -104.5, -700, -740, -745, -746, -800, 30, 50, 710,
    ]
    let relu = forward(Int32(MINIBATCH_RELU), values)
    let leaky = forward(Int32(MINIBATCH_LEAKY_RELU), values)
    let sigmoid = forward(Int32(MINIBATCH_SIGMOID), values)
    var worst = 0.0
    for (j, x) in values.enumerated() {
      #expect(relu[j] == max(x, 0) && relu[j].sign == max(x, 0).sign, "relu(\(x))")
      #expect(leaky[j] == (x > 0 ? x : 0.01 * x), "leaky relu(\(x))")
      let e = Double.exp(-abs(Double(x)))
      let expected = Scalar(x >= 0 ? 1 / (1 + e) : e / (1 + e))
      let ulps = Double(abs(sigmoid[j] - expected) / max(expected.ulp, .leastNonzeroMagnitude))
      worst = max(worst, ulps)
    }
    #expect(worst <= 4, "\(Scalar.self) sigmoid: worst \(worst) ulp")
    let last = values.count
    #expect(sigmoid[last - 19] == 0.5 && sigmoid[last - 18] == 0.5)
    #expect(sigmoid[last - 17] == 1 && sigmoid[last - 16] == 0)
    #expect(sigmoid[last - 4] == 0 && sigmoid[last - 1] == 1)
    let nan: [Scalar] = [.nan, 1]
    #expect(forward(Int32(MINIBATCH_SIGMOID), nan)[0].isNaN)
    #expect(forward(Int32(MINIBATCH_RELU), nan)[0].isNaN)
    #expect(forward(Int32(MINIBATCH_LEAKY_RELU), nan)[0].isNaN)
    // Baseline and vector bodies: the same bits (contraction is off in the file).
    for kind in [MINIBATCH_RELU, MINIBATCH_LEAKY_RELU, MINIBATCH_SIGMOID, MINIBATCH_GELU] {
      let vector = forward(Int32(kind), values, level: Kernels.instructionSetLevel)
      let baseline = forward(Int32(kind), values, level: 0)
      #expect(
        zip(vector, baseline).allSatisfy {
          ($0 == $1 && $0.sign == $1.sign) || ($0.isNaN && $1.isNaN)
        },
        "kind \(kind)")
    }
  }
}
