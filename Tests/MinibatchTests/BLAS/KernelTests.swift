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

  /// The baseline body of each kernel against the one this machine runs: tanh to rounding (within
  /// twice its 4-ulp bound: FMA contraction differs); the noise, the bulk draws, the stored row
  /// combination and the moments sweep bit for bit (contraction is off in their files; the
  /// noise's fast path is exact and its slow path compiled once). Nested overrides restore the
  /// outer level.
  @Test(arguments: allScalarTypes)
  func baselineAgreesWithTheVectorPath(_ type: any BLASScalar.Type) throws {
    try checkBaseline(type)
  }

  func checkBaseline<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 9)
    let values: [Scalar] = (0..<4_099).map { _ in Scalar(Double(rng.next() >> 11) * 0x1p-50 - 4) }
    func tanh(level: Int) -> [Scalar] {
      Kernels.withInstructionSet(level: level) {
        var y = [Scalar](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { x in
          y.withUnsafeMutableBufferPointer { y in
            Scalar.tanh(x.baseAddress!, into: y.baseAddress!, count: x.count)
          }
        }
        return y
      }
    }
    let (baseline, vector) = (tanh(level: 0), tanh(level: Kernels.instructionSetLevel))
    for (b, v) in zip(baseline, vector) {
      // Each is within 4 ulp of libm; FMA contraction moves the vector path by up to 3 here.
      #expect(abs(b - v) <= 8 * max(b.magnitude.ulp, Scalar.leastNormalMagnitude), "\(b) \(v)")
    }
    // The noise, with a length that is not a multiple of the block (256) or the lanes (8).
    func noisy(level: Int) -> ([Scalar], Int, (UInt64, UInt64, UInt64, UInt64)) {
      Kernels.withInstructionSet(level: level) {
        var state: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
        var x = values
        let bad = x.withUnsafeMutableBufferPointer { x in
          Scalar.addGaussianNoise(
            x.baseAddress!, count: x.count, standardDeviation: 0.5, scale: 0.25, state: &state)
        }
        return (x, bad, state)
      }
    }
    let (b, v) = (noisy(level: 0), noisy(level: Kernels.instructionSetLevel))
    #expect(b.0 == v.0 && b.1 == 0 && v.1 == 0 && b.2 == v.2)
    #expect(b.0 != values.map { $0 * 0.25 })
    // The moments sweep, with columns that are safe, cancelling (squares = mean²) and zero.
    let n = values.count
    let mean = values.map { $0 / 8 }
    let squares: [Scalar] = (0..<n).map { (j: Int) -> Scalar in
      let square: Scalar = mean[j] * mean[j]
      if j % 7 == 0 { return 0 }
      return j % 3 == 0 ? square : square + values[j].magnitude
    }
    let meanZero: [Scalar] = (0..<n).map { (j: Int) -> Scalar in j % 7 == 0 ? 0 : mean[j] }
    func sweep(level: Int) -> ([Double], [Double], [Int64]) {
      Kernels.withInstructionSet(level: level) {
        var (mu, m2) = ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
        var listed = [Int64](repeating: -1, count: n)
        let count = Scalar.momentsSweep(
          mean: meanZero, squares: squares, count: n, total: 3, threshold: 1e-3,
          smallest: Double(Scalar.leastNormalMagnitude), mu: &mu, m2: &m2, inexact: &listed)
        return (mu, m2, Array(listed[..<count]))
      }
    }
    // The stored row combination: 37 rows (not a multiple of 8), an odd column range, eight at a
    // time or one at a time, and squared; and the bulk draws.
    let (rows, lda) = (37, 133)
    let matrix = (0..<(rows * lda)).map { values[$0 % n] }
    let coefficients = (0..<rows).map { values[(7 * $0) % n] }
    func combine(level: Int, eight: Bool, squared: Bool) -> [Scalar] {
      Kernels.withInstructionSet(level: level) {
        var y = (0..<lda).map { Scalar($0) / 8 }
        Scalar.addRows(
          matrix, lda: lda, rows: rows, columns: 3..<128, coefficients: coefficients, into: &y,
          eightAtATime: eight, squared: squared)
        return y
      }
    }
    for (eight, squared) in [(true, false), (false, false), (false, true)] {
      let vector = combine(level: Kernels.instructionSetLevel, eight: eight, squared: squared)
      #expect(combine(level: 0, eight: eight, squared: squared) == vector)
      #expect(
        vector[..<3] == [0, 0.125, 0.25]
          && vector[128...] == (128..<lda).map { Scalar($0) / 8 }[...])
    }
    func draws(level: Int) throws -> [Double] {
      try Kernels.withInstructionSet(level: level) {
        var noise = GaussianNoise(seed: 31)
        return try noise.draws(count: 1_001, standardDeviation: 1.5)
      }
    }
    #expect(try draws(level: 0) == draws(level: Kernels.instructionSetLevel))
    let (sb, sv) = (sweep(level: 0), sweep(level: Kernels.instructionSetLevel))
    #expect(sb.0 == sv.0 && sb.1 == sv.1 && sb.2 == sv.2)
    #expect(!sb.2.isEmpty && sb.2.allSatisfy { $0 % 3 == 0 && $0 % 7 != 0 })
    #expect(sb.1.allSatisfy { $0 >= 0 })
    // Nested: the inner override ends at the outer level, not the default.
    Kernels.withInstructionSet(level: 0) {
      Kernels.withInstructionSet(level: Kernels.instructionSetLevel) {}
      var y = [Scalar](repeating: 0, count: values.count)
      values.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { y in
          Scalar.tanh(x.baseAddress!, into: y.baseAddress!, count: x.count)
        }
      }
      #expect(y == baseline)
    }
  }

  /// The bulk draws (the vector kernel) against `Φ`, as the single draws are tested: the
  /// empirical distribution function of 10⁶ draws at points through the body, the wedges and
  /// both tails (beyond its `r = 3.65`), within 5 standard errors `√(p(1 − p)/m)`; mean 0 and
  /// variance 1 within 5 standard errors; and the same seed gives the same draws.
  @Test func bulkDrawsFollowTheStandardNormal() throws {
    var noise = GaussianNoise(seed: 2027)
    let m = 1_000_000
    let draws = try noise.draws(count: m, standardDeviation: 1)
    let sorted = draws.sorted()
    for t in [-5.0, -4.2, -3.7, -3.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 3.7, 4.2, 5.0] {
      let p = 0.5 * erfc(-t / 2.0.squareRoot())
      let below = Double(sorted.partitioningIndex { $0 > t }) / Double(m)
      let error = (p * (1 - p) / Double(m)).squareRoot()
      #expect(abs(below - p) <= 5 * error + 1e-7, "F(\(t)) = \(below), Φ = \(p)")
    }
    let mean = draws.reduce(0, +) / Double(m)
    let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m - 1)
    #expect(abs(mean) <= 5 / Double(m).squareRoot())
    #expect(abs(variance - 1) <= 5 * (2 / Double(m)).squareRoot())
    // Draws beyond the base layer's edge exist (the tail is sampled, not cut off).
    #expect(draws.contains { $0 > 3.7 } && draws.contains { $0 < -3.7 })
    var again = GaussianNoise(seed: 2027)
    #expect(try again.draws(count: 1000, standardDeviation: 2) == draws[..<1000].map { 2 * $0 })
    #expect(try again.draws(count: 0, standardDeviation: 1).isEmpty)
    #expect(throws: MinibatchError.self) { try again.draws(count: Int.max, standardDeviation: 1) }
  }
}
