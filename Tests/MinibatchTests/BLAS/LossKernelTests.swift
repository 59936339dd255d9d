import Foundation
import MinibatchTestSupport
import RealModule
import Testing

@_spi(Benchmark) @testable import Minibatch

/// The output-loss kernels (`losses.c`) against the formulas written plainly with libm's `exp` and
/// `log1p` in the same precision: losses within 8 ulp (relative), δ within 8 ulp of its largest
/// term, over random shapes (k = 1, m = 2, logits from 10⁻² to 10⁴ in scale, ties, underflowing
/// exponentials); and the baseline body bit for bit equal to the vector one.
@Suite struct LossKernelTests {
  @Test(arguments: allScalarTypes)
  func softmaxCrossEntropyAgreesWithItsFormula(_ type: any BLASScalar.Type) throws {
    try softmax(type)
  }

  @Test(arguments: allScalarTypes)
  func binaryCrossEntropyAgreesWithItsFormula(_ type: any BLASScalar.Type) throws {
    try binary(type)
  }

  /// The plain reference: `(max − z_y) + log1p(Σ_{j≠top} exp(z_j − max))`, δ from the same sums.
  func softmaxReference<Scalar: BLASScalar>(_ z: [Scalar], label: Int) -> (Scalar, [Scalar]) {
    let top = z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) }!
    let largest = z[top]
    var others: Scalar = 0
    for j in z.indices where j != top { others += Scalar.exp(z[j] - largest) }
    var delta = z.map { Scalar.exp($0 - largest) / (1 + others) }
    delta[label] -= 1
    return ((largest - z[label]) + Scalar.log(onePlus: others), delta)
  }

  func run<Scalar: BLASScalar>(
    level: Int? = nil, _ body: () -> [Scalar]
  ) -> [Scalar] {
    guard let level else { return body() }
    return Kernels.withInstructionSet(level: level, body)
  }

  func softmaxKernel<Scalar: BLASScalar>(
    _ z: [Scalar], labels: [Int], k: Int, m: Int, level: Int? = nil
  ) -> (loss: [Scalar], delta: [Scalar]) {
    var delta = [Scalar](repeating: .nan, count: k * m)
    let loss: [Scalar] = run(level: level) {
      [Scalar](unsafeUninitializedCapacity: k) { loss, initialized in
        delta.withUnsafeMutableBufferPointer { d in
          Scalar.softmaxCrossEntropy(
            z, labels: labels, k: k, m: m, loss: loss.baseAddress!, delta: d.baseAddress!)
        }
        initialized = k
      }
    }
    return (loss, delta)
  }

  func softmax<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 23)
    let eps = Double(Scalar.ulpOfOne)
    for (k, m) in [(1, 2), (1, 10), (5, 3), (64, 10), (7, 17), (3, 100), (2, 1000)] {
      for scale in [0.01, 1, 30, 10_000] {
        var z: [Scalar] = (0..<(k * m)).map { _ in Scalar(scale) * rng.nextSigned() }
        let labels = (0..<k).map { _ in Int(rng.next() % UInt64(m)) }
        if k > 2 {
          // Row 1: a tie at the top (the first of the two is the argmax). Row 2: an exponential
          // that underflows to 0, and an infinitely negative logit.
          let top = z[m..<(2 * m)].max()! + 1
          (z[m], z[2 * m - 1]) = (top, top)
          z[2 * m] = -.greatestFiniteMagnitude / 2
          if m > 2 { z[2 * m + 1] = -.infinity }
        }
        let (loss, delta) = softmaxKernel(z, labels: labels, k: k, m: m)
        for i in 0..<k {
          let row = Array(z[(i * m)..<((i + 1) * m)])
          let (expected, expectedDelta) = softmaxReference(row, label: labels[i])
          if expected.isInfinite {
            #expect(loss[i] == expected, "a label on the −∞ logit: an infinite loss")
          } else {
            let error = Double(abs(loss[i] - expected))
            #expect(
              error <= 8 * eps * Double(abs(expected)) + Double(Scalar.leastNormalMagnitude),
              "\(Scalar.self) k=\(k) m=\(m) scale \(scale) row \(i): \(loss[i]) vs \(expected)")
          }
          // δ_j = p_j relatively off the label (however small p_j is), within 8 ulp of 1 at it.
          for j in 0..<m {
            let (got, want) = (Double(delta[i * m + j]), Double(expectedDelta[j]))
            let tolerance =
              j == labels[i] ? 8 * eps : 8 * eps * abs(want) + Double(Scalar.leastNormalMagnitude)
            #expect(abs(got - want) <= tolerance, "\(Scalar.self) m=\(m) δ[\(i), \(j)]")
          }
          if Scalar.self == Float.self && expected.isFinite {
            // An independent reference in Double: log Σ exp(z − max) − (z_y − max).
            let d = row.map { Double($0) }
            let largest = d.max()!
            let lse = Foundation.log(d.reduce(0) { $0 + Foundation.exp($1 - largest) })
            let reference = lse + (largest - d[labels[i]])
            #expect(
              abs(Double(loss[i]) - reference) <= 8 * eps * reference + 1e-300,
              "Float against Double: \(loss[i]) vs \(reference)")
          }
          let sum = delta[(i * m)..<((i + 1) * m)].reduce(0.0) { $0 + Double($1) }
          #expect(abs(sum) <= Double(m) * 4 * eps, "δ sums to 0 (row \(i))")
        }
        let baseline = softmaxKernel(z, labels: labels, k: k, m: m, level: 0)
        #expect(baseline.loss == loss && baseline.delta == delta, "baseline == vector bits")
        // Through `OutputLoss`, without δ (the kernel's scratch path): the same losses.
        let lossOnly = z.withUnsafeBufferPointer {
          OutputLoss.softmaxCrossEntropy.evaluate(
            $0.baseAddress!, k: k, m: m, targets: .labels(labels), delta: nil)
        }
        #expect(lossOnly == loss, "OutputLoss.evaluate without δ")
      }
    }
    // A small loss keeps its relative accuracy at large logits (the naive form loses it).
    let (loss, _) = softmaxKernel([10_000, 9_990] as [Scalar], labels: [0], k: 1, m: 2)
    let exact = Foundation.log1p(Foundation.exp(-10.0))
    #expect(abs(Double(loss[0]) - exact) <= 4 * eps * exact, "\(loss[0]) vs \(exact)")
    // NaN logits give a NaN loss, never a crash or a silent number.
    let (nanLoss, _) = softmaxKernel([.nan, 1, 2] as [Scalar], labels: [1], k: 1, m: 3)
    #expect(nanLoss[0].isNaN)
  }

  func binaryKernel<Scalar: BLASScalar>(
    _ z: [Scalar], labels: [Int], withDelta: Bool, level: Int? = nil
  ) -> (loss: [Scalar], delta: [Scalar]) {
    let k = z.count
    var delta = [Scalar](repeating: .nan, count: k)
    let loss: [Scalar] = run(level: level) {
      [Scalar](unsafeUninitializedCapacity: k) { loss, initialized in
        delta.withUnsafeMutableBufferPointer { d in
          Scalar.binaryCrossEntropy(
            z, labels: labels, k: k, loss: loss.baseAddress!,
            delta: withDelta ? d.baseAddress! : nil)
        }
        initialized = k
      }
    }
    return (loss, delta)
  }

  func binary<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 29)
    let eps = Double(Scalar.ulpOfOne)
    for k in [1, 2, 63, 1000] {
      for scale in [0.01, 1, 30, 10_000] {
        var z: [Scalar] = (0..<k).map { _ in Scalar(scale) * rng.nextSigned() }
        if k > 2 { z[1] = 0 }
        let labels = (0..<k).map { _ in Int(rng.next() % 2) }
        let (loss, delta) = binaryKernel(z, labels: labels, withDelta: true)
        for i in 0..<k {
          let y = Scalar(labels[i])
          let e = Scalar.exp(-abs(z[i]))
          let expected = max(z[i], 0) - y * z[i] + Scalar.log(onePlus: e)
          let sigmoid = z[i] >= 0 ? 1 / (1 + e) : e / (1 + e)
          let error = Double(abs(loss[i] - expected))
          #expect(
            error <= 8 * eps * Double(abs(expected)) + Double(Scalar.leastNormalMagnitude),
            "\(Scalar.self) z=\(z[i]) y=\(y): \(loss[i]) vs \(expected)")
          // δ = σ relatively for y = 0 (however small σ is); σ − 1 within 4 ulp of 1 for y = 1.
          let want = Double(sigmoid - y)
          let tolerance =
            labels[i] == 0 ? 8 * eps * abs(want) + Double(Scalar.leastNormalMagnitude) : 4 * eps
          #expect(Double(abs(delta[i] - (sigmoid - y))) <= tolerance, "δ at z=\(z[i]) y=\(y)")
        }
        let lossOnly = binaryKernel(z, labels: labels, withDelta: false)
        #expect(lossOnly.loss == loss && lossOnly.delta.allSatisfy(\.isNaN), "δ untouched")
        let throughLoss = z.withUnsafeBufferPointer {
          OutputLoss.binaryCrossEntropy.evaluate(
            $0.baseAddress!, k: k, m: 1, targets: .labels(labels), delta: nil)
        }
        #expect(throughLoss == loss, "OutputLoss.evaluate without δ")
        let baseline = binaryKernel(z, labels: labels, withDelta: true, level: 0)
        #expect(baseline.loss == loss && baseline.delta == delta, "baseline == vector bits")
      }
    }
  }
}
