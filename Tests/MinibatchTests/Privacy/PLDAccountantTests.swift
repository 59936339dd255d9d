import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// The privacy-loss-distribution accountant against Google's dp-accounting and Opacus' PRV
/// (committed values, `make privacy-reference`), the Gaussian mechanism's closed form, direct
/// quadrature of one step's hockey-stick divergence, and its own monotonicity and bounds.
@Suite struct PLDAccountantTests {
  /// ε within [1.000, 1.005]× dp-accounting's PLD at Δ = 1e-4 (and 1e-3) on ten settings spanning
  /// q ∈ [1e-3, 1], T ∈ [10, 1e5], σ ∈ [0.6, 5], δ ∈ [1e-7, 1e-4]; below Opacus' PRV (an upper
  /// bound with error 0.01) and RDP; δ at a probe ε within 1% of dp-accounting's, not below it.
  @Test(arguments: privacyReferences.indices)
  func matchesDPAccounting(_ index: Int) throws {
    let reference = privacyReferences[index]
    var accountant = try PLDAccountant()
    try accountant.compose(
      noiseMultiplier: reference.sigma, samplingRate: reference.samplingRate,
      steps: reference.steps)
    let distribution = try accountant.distribution()
    let epsilon = try distribution.epsilon(delta: reference.delta)
    let ratio = epsilon / reference.pld
    #expect(ratio >= 1 - 1e-9 && ratio <= 1.005, "\(reference): ε = \(epsilon), ratio \(ratio)")
    #expect(epsilon <= reference.prv + 1e-9, "\(reference): ε = \(epsilon)")
    #expect(epsilon < reference.rdp, "\(reference): ε = \(epsilon)")
    let delta = try distribution.delta(epsilon: reference.probe)
    let deltaRatio = delta / reference.deltaAtProbe
    #expect(deltaRatio >= 1 - 1e-6 && deltaRatio <= 1.01, "\(reference): δ = \(delta)")

    let coarse = try PLDAccountant.epsilon(
      noiseMultiplier: reference.sigma, samplingRate: reference.samplingRate,
      steps: reference.steps, delta: reference.delta, discretization: 1e-3)
    let coarseRatio = coarse / reference.pldCoarse
    #expect(coarseRatio >= 1 - 1e-9 && coarseRatio <= 1.005, "\(reference): Δ = 1e-3 ε = \(coarse)")
  }

  /// A change of σ and q mid-run: the accountant's history, dp-accounting's value, and the
  /// composition of the two phases' distributions done by hand agree.
  @Test func phasesComposeInOrder() throws {
    for reference in privacyPhaseReferences {
      var accountant = try PLDAccountant()
      try accountant.compose(
        noiseMultiplier: reference.first.0, samplingRate: reference.first.1,
        steps: reference.first.2)
      try accountant.compose(
        noiseMultiplier: reference.second.0, samplingRate: reference.second.1,
        steps: reference.second.2)
      #expect(
        accountant.phases.count == 2 && accountant.steps == reference.first.2 + reference.second.2)
      let epsilon = try accountant.epsilon(delta: reference.delta)
      let ratio = epsilon / reference.pld
      #expect(ratio >= 1 - 1e-9 && ratio <= 1.005, "ε = \(epsilon) against \(reference.pld)")

      let first = try PrivacyLossDistribution.poissonSubsampledGaussian(
        noiseMultiplier: reference.first.0, samplingRate: reference.first.1
      ).selfComposed(times: reference.first.2)
      let second = try PrivacyLossDistribution.poissonSubsampledGaussian(
        noiseMultiplier: reference.second.0, samplingRate: reference.second.1
      ).selfComposed(times: reference.second.2)
      let byHand = try first.composed(with: second).epsilon(delta: reference.delta)
      #expect(byHand == epsilon)
      // Each phase alone spends less than both.
      #expect(try first.epsilon(delta: reference.delta) < epsilon)
      #expect(try second.epsilon(delta: reference.delta) < epsilon)
    }
  }

  /// Equal consecutive settings merge into one phase: composing 3 + 7 steps is composing 10.
  @Test func equalPhasesMerge() throws {
    var split = try PLDAccountant()
    try split.compose(noiseMultiplier: 1.2, samplingRate: 0.05, steps: 3)
    try split.compose(noiseMultiplier: 1.2, samplingRate: 0.05, steps: 7)
    try split.compose(noiseMultiplier: 1.2, samplingRate: 0.05, steps: 0)
    #expect(split.phases == [PrivacyPhase(noiseMultiplier: 1.2, samplingRate: 0.05, steps: 10)])
    let whole = try PLDAccountant.epsilon(
      noiseMultiplier: 1.2, samplingRate: 0.05, steps: 10, delta: 1e-5)
    #expect(try split.epsilon(delta: 1e-5) == whole)
    var none = try PLDAccountant()
    #expect(try none.epsilon(delta: 1e-5) == 0)
    #expect(try none.delta(epsilon: 0) == 0)
    // No noise: refused by the accountant, +∞ through the trainer's entry point.
    #expect(throws: MinibatchError.self) {
      try none.compose(noiseMultiplier: 0, samplingRate: 0.1, steps: 1)
    }
    #expect(none.phases.isEmpty)
    let noiseless = [PrivacyPhase(noiseMultiplier: 0, samplingRate: 0.1, steps: 1)]
    #expect(try PrivacyAccountantKind.pld.epsilon(phases: noiseless, delta: 1e-5) == .infinity)
    #expect(try PrivacyAccountantKind.rdp.epsilon(phases: noiseless, delta: 1e-5) == .infinity)
  }

  /// ε falls as σ grows and rises with T and with q (Δ = 1e-3 keeps this quick).
  @Test func epsilonIsMonotone() throws {
    func epsilon(_ sigma: Double, _ q: Double, _ steps: Int) throws -> Double {
      try PLDAccountant.epsilon(
        noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: 1e-5, discretization: 1e-3)
    }
    let sigmas = [0.8, 1.0, 1.5, 2.5, 4.0].map { try? epsilon($0, 0.02, 500) }
    let steps = [10, 100, 1000, 5000].map { try? epsilon(1.2, 0.02, $0) }
    let rates = [0.001, 0.01, 0.1, 0.5, 1].map { try? epsilon(2, $0, 100) }
    for series in [sigmas.reversed(), steps, rates] {
      let values = series.compactMap { $0 }
      #expect(values.count == series.count)
      #expect(zip(values, values.dropFirst()).allSatisfy { $0 < $1 }, "\(values)")
    }
  }

  /// The pessimistic bound lies above the optimistic estimate, and the two close in on each other
  /// as the interval shrinks.
  @Test func pessimisticAboveOptimisticAndConverging() throws {
    var (gaps, last) = ([Double](), 0.0)
    for discretization in [1e-2, 1e-3, 1e-4] {
      var accountant = try PLDAccountant(discretization: discretization)
      try accountant.compose(noiseMultiplier: 1.0, samplingRate: 0.05, steps: 300)
      let upper = try accountant.distribution(estimate: .pessimistic)
      let lower = try accountant.distribution(estimate: .optimistic)
      let (high, low) = (try upper.epsilon(delta: 1e-5), try lower.epsilon(delta: 1e-5))
      #expect(high >= low, "Δ = \(discretization): \(high) < \(low)")
      for epsilon in [0.5, 1.0, 2.0] {
        #expect(try upper.delta(epsilon: epsilon) >= lower.delta(epsilon: epsilon))
      }
      gaps.append(high - low)
      last = high
    }
    #expect(gaps[1] < gaps[0] / 3 && gaps[2] < gaps[1] / 3, "gaps \(gaps)")
    #expect(gaps[2] < 0.01 * last, "gap \(gaps[2]) at ε = \(last)")
  }

  /// q = 1 is the Gaussian mechanism, composed T times into a Gaussian mechanism with
  /// μ = √T/σ: `δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2)`. The pessimistic δ is above it, the
  /// optimistic one below, both within 0.5%.
  @Test(arguments: [(1.0, 1), (2.0, 10), (5.0, 100), (0.8, 4)])
  func gaussianMechanismMatchesItsClosedForm(_ sigma: Double, _ steps: Int) throws {
    let step = try PrivacyLossDistribution.poissonSubsampledGaussian(
      noiseMultiplier: sigma, samplingRate: 1)
    let upper = try step.selfComposed(times: steps)
    let lower = try PrivacyLossDistribution.poissonSubsampledGaussian(
      noiseMultiplier: sigma, samplingRate: 1, estimate: .optimistic
    ).selfComposed(times: steps)
    let mu = Double(steps).squareRoot() / sigma
    func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
    for epsilon in [0.1, 0.5, 1.0, 2.0, 4.0] {
      let exact = phi(-epsilon / mu + mu / 2) - exp(epsilon) * phi(-epsilon / mu - mu / 2)
      guard exact > 1e-12 else { continue }
      let (high, low) = (try upper.delta(epsilon: epsilon), try lower.delta(epsilon: epsilon))
      #expect(high >= exact * (1 - 1e-9), "σ \(sigma) T \(steps) ε \(epsilon): \(high) < \(exact)")
      #expect(low <= exact * (1 + 1e-9), "σ \(sigma) T \(steps) ε \(epsilon): \(low) > \(exact)")
      #expect(high <= exact * 1.005 + 1e-14, "σ \(sigma) T \(steps) ε \(epsilon): \(high)")
      #expect(low >= exact * 0.995 - 1e-14, "σ \(sigma) T \(steps) ε \(epsilon): \(low)")
    }
  }

  /// One step's δ(ε) for both relations against direct quadrature of
  /// `∫ (P(x) − e^ε·Q(x))₊ dx` (trapezoid rule on a fine grid) — independent of the closed forms.
  @Test(arguments: [(1.0, 0.01), (0.7, 0.2), (2.5, 0.5), (1.3, 1.0)])
  func oneStepDeltaMatchesQuadrature(_ sigma: Double, _ q: Double) throws {
    let mechanism = SubsampledGaussian(sigma: sigma, q: q)
    func density(_ x: Double, mean: Double) -> Double {
      exp(-(x - mean) * (x - mean) / (2 * sigma * sigma)) / (sigma * (2 * Double.pi).squareRoot())
    }
    for epsilon in [0.0, 0.05, 0.3, 1.0, 2.0] {
      var (removeSum, addSum) = (0.0, 0.0)
      let (a, b, n) = (-14 * sigma - 1, 14 * sigma + 1, 400_000)
      let h = (b - a) / Double(n)
      for i in 0...n {
        let x = a + Double(i) * h
        let weight = i == 0 || i == n ? 0.5 : 1.0
        let mixedRemove = (1 - q) * density(x, mean: 0) + q * density(x, mean: -1)
        let mixedAdd = (1 - q) * density(x, mean: 0) + q * density(x, mean: 1)
        removeSum += weight * max(0, mixedRemove - exp(epsilon) * density(x, mean: 0))
        addSum += weight * max(0, density(x, mean: 0) - exp(epsilon) * mixedAdd)
      }
      let (remove, add) = (removeSum * h, addSum * h)
      let ours = (
        mechanism.delta(.remove, epsilon: epsilon), mechanism.delta(.add, epsilon: epsilon)
      )
      #expect(
        abs(ours.0 - remove) <= 1e-6 * max(remove, 1e-8), "remove σ \(sigma) q \(q) ε \(epsilon)")
      #expect(abs(ours.1 - add) <= 1e-6 * max(add, 1e-8), "add σ \(sigma) q \(q) ε \(epsilon)")
    }
  }

  /// The calibrated σ reaches the target, and 0.1% less does not; 14,062 steps at q = 256/60,000.
  @Test(arguments: [
    (2.0, 256.0 / 60_000, 14_062, 1e-5), (3.0, 0.04, 2_250, 1e-5), (0.5, 0.01, 1_000, 1e-6),
  ])
  func calibrationReachesTheTarget(
    _ target: Double, _ q: Double, _ steps: Int, _ delta: Double
  ) throws {
    let sigma = try PLDAccountant.noiseMultiplier(
      targetEpsilon: target, samplingRate: q, steps: steps, delta: delta)
    let reached = try PLDAccountant.epsilon(
      noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: delta)
    let below = try PLDAccountant.epsilon(
      noiseMultiplier: sigma * (1 - 1e-3), samplingRate: q, steps: steps, delta: delta)
    #expect(reached <= target, "σ = \(sigma): ε = \(reached)")
    #expect(below > target, "σ·(1 − 0.001) = \(sigma * 0.999): ε = \(below) ≤ \(target)")
    let rdp = try RDPAccountant.noiseMultiplier(
      targetEpsilon: target, samplingRate: q, steps: steps, delta: delta)
    #expect(sigma < rdp, "PLD σ \(sigma) against RDP σ \(rdp)")
    let settings = try DifferentialPrivacy.calibrated(
      targetEpsilon: target, delta: delta, samplingRate: q, steps: steps,
      clipping: .flat(bound: 1))
    #expect(settings.noiseMultiplier == sigma && settings.accountant == .pld)
  }

  /// Several tasks accounting at once (the C kernels' dispatch, the FFT's tables) give the
  /// serial answers bit for bit.
  @Test func concurrentAccountingAgrees() async throws {
    let settings: [(Double, Double, Int)] = [(1.0, 0.02, 200), (1.5, 0.05, 300), (0.9, 0.01, 500)]
    let serial = try settings.map {
      try PLDAccountant.epsilon(
        noiseMultiplier: $0.0, samplingRate: $0.1, steps: $0.2, delta: 1e-5, discretization: 1e-3)
    }
    let concurrent = try await withThrowingTaskGroup(of: (Int, Double).self) { group in
      for (index, setting) in (settings + settings).enumerated() {
        group.addTask {
          let epsilon = try PLDAccountant.epsilon(
            noiseMultiplier: setting.0, samplingRate: setting.1, steps: setting.2, delta: 1e-5,
            discretization: 1e-3)
          return (index % settings.count, epsilon)
        }
      }
      var results: [(Int, Double)] = []
      for try await result in group { results.append(result) }
      return results
    }
    #expect(concurrent.count == 2 * settings.count)
    for (index, epsilon) in concurrent { #expect(epsilon == serial[index]) }
  }

  /// A target so loose that any σ reaches it, and one needing a σ whose grid is at the limit:
  /// the calibration returns a σ that reaches the target, never an error it did not need.
  @Test func calibrationSurvivesExtremeTargets() throws {
    let loose = try PLDAccountant.noiseMultiplier(
      targetEpsilon: 500, samplingRate: 1, steps: 1, delta: 1e-5, discretization: 1e-2)
    #expect(loose > 0)
    #expect(
      try PLDAccountant.epsilon(
        noiseMultiplier: loose, samplingRate: 1, steps: 1, delta: 1e-5, discretization: 1e-2)
        <= 500)
  }

  /// A trainer whose accountant could not answer at the end (a grid too large for a tiny σ)
  /// refuses before the first step, parameters untouched.
  @Test func trainerChecksTheAccountantBeforeTheFirstStep() throws {
    let model = try SoftmaxRegression<Double>(inputCount: 6, classCount: 3)
    let data = try randomBatch(
      Double.self, k: 20, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 2)
    let sampler = try BatchSampler(exampleCount: 20, poissonRate: 0.25, seed: 1)
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: 1), noiseMultiplier: 0.001, delta: 1e-5, noiseSeed: 1)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(), sampler: sampler,
      schedule: .constant(0.1), normalization: .expectedBatchSize, privacy: privacy)
    let start = model.initialParameters(seed: 0)
    var w = start
    let steps = StepCounter()
    trainer.onStep = { _ in steps.add() }
    #expect(throws: MinibatchError.self) {
      try trainer.train(parameters: &w, data: data, epochs: 2)
    }
    #expect(w == start && steps.count == 0)
  }

  @Test func badInputThrowsTypedErrors() {
    func expectInvalid(_ name: String, _ body: () throws -> Void) {
      do {
        try body()
        Issue.record("\(name): no error")
      } catch {
        guard case .invalidArgument(let got, _, _) = error as? MinibatchError else {
          Issue.record("\(name): \(error)")
          return
        }
        #expect(got == name)
      }
    }
    expectInvalid("noise multiplier") {
      _ = try PLDAccountant.epsilon(noiseMultiplier: 0, samplingRate: 0.1, steps: 1, delta: 1e-5)
    }
    expectInvalid("noise multiplier") {
      _ = try PLDAccountant.epsilon(noiseMultiplier: -1, samplingRate: 0.1, steps: 1, delta: 1e-5)
    }
    expectInvalid("noise multiplier") {
      _ = try PrivacyLossDistribution.poissonSubsampledGaussian(
        noiseMultiplier: .nan, samplingRate: 0.1)
    }
    for q in [0, -0.1, 1.5, Double.nan] {
      expectInvalid("sampling rate") {
        _ = try PLDAccountant.epsilon(noiseMultiplier: 1, samplingRate: q, steps: 1, delta: 1e-5)
      }
    }
    for delta in [0, 1, -1e-5, 2, Double.nan] {
      expectInvalid("delta") {
        _ = try PLDAccountant.epsilon(noiseMultiplier: 1, samplingRate: 0.1, steps: 1, delta: delta)
      }
    }
    expectInvalid("steps") {
      _ = try PLDAccountant.epsilon(noiseMultiplier: 1, samplingRate: 0.1, steps: -1, delta: 1e-5)
    }
    for sigma in [0, -1, Double.infinity] {
      expectInvalid("noise multiplier") {
        var accountant = try PLDAccountant()
        try accountant.compose(noiseMultiplier: sigma, samplingRate: 0.1, steps: 3)
      }
    }
    for interval in [0, -1e-4, Double.infinity, .nan] {
      expectInvalid("discretization interval") { _ = try PLDAccountant(discretization: interval) }
    }
    expectInvalid("epsilon") {
      _ = try PrivacyLossDistribution.identity().delta(epsilon: -1)
    }
    expectInvalid("target epsilon") {
      _ = try PLDAccountant.noiseMultiplier(
        targetEpsilon: 0, samplingRate: 0.1, steps: 10, delta: 1e-5)
    }
    expectInvalid("steps") {
      _ = try PLDAccountant.noiseMultiplier(
        targetEpsilon: 1, samplingRate: 0.1, steps: 0, delta: 1e-5)
    }
    // A failed compose adds nothing.
    var accountant = try! PLDAccountant()
    expectInvalid("sampling rate") {
      try accountant.compose([
        PrivacyPhase(noiseMultiplier: 1, samplingRate: 0.1, steps: 5),
        PrivacyPhase(noiseMultiplier: 1, samplingRate: 2, steps: 5),
      ])
    }
    #expect(accountant.phases.isEmpty)
    // A grid too fine for σ is refused with a named error, not an allocation of gigabytes.
    do {
      _ = try PrivacyLossDistribution.poissonSubsampledGaussian(
        noiseMultiplier: 0.01, samplingRate: 1, discretization: 1e-6)
      Issue.record("a 10⁹-point grid was accepted")
    } catch {
      guard case .allocationTooLarge = error else {
        Issue.record("\(error)")
        return
      }
    }
  }
}

/// The transform behind the composition: numpy's FFT (committed values), a Float80 direct DFT,
/// round trips, and FFT convolution against direct convolution.
@Suite struct FourierTransformTests {
  static func input(_ n: Int) -> (real: [Double], imaginary: [Double]) {
    (
      (0..<n).map { Double(($0 * 7919) % 1009) / 1009 - 0.5 },
      (0..<n).map { Double(($0 * 104729) % 997) / 997 - 0.5 }
    )
  }

  /// `‖ours − numpy‖∞ / ‖numpy‖∞ ≤ 1e-14`.
  @Test func matchesNumpy() {
    for reference in numpyFFTReferences {
      var (re, im) = Self.input(reference.count)
      FourierTransform(count: reference.count).transform(real: &re, imaginary: &im, inverse: false)
      var (error, size) = (0.0, 0.0)
      for k in 0..<reference.count {
        let (expectedRe, expectedIm) = (
          reference.interleaved[2 * k], reference.interleaved[2 * k + 1]
        )
        error = max(error, abs(re[k] - expectedRe), abs(im[k] - expectedIm))
        size = max(size, abs(expectedRe), abs(expectedIm))
      }
      #expect(error <= 1e-14 * size, "n = \(reference.count): \(error / size)")
    }
  }

  #if arch(x86_64)
    /// Against the direct sum accumulated in Float80 (twiddles from cos/sin of the exact angle
    /// reduced mod 2π): every power-of-two length 1…2048, seeded random inputs.
    @Test func matchesADirectTransformInExtendedPrecision() {
      var generator = SeededGenerator(seed: 11)
      for log2n in 0...11 {
        let n = 1 << log2n
        let re = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
        let im = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
        var (fre, fim) = (re, im)
        FourierTransform(count: n).transform(real: &fre, imaginary: &fim, inverse: false)
        var (error, size) = (0.0, 0.0)
        for k in 0..<n {
          var (sumRe, sumIm): (Float80, Float80) = (0, 0)
          for j in 0..<n {
            let angle = -2 * Float80.pi * Float80((j * k) % n) / Float80(n)
            let (c, s) = (Float80(cos(Double(angle))), Float80(sin(Double(angle))))
            sumRe += Float80(re[j]) * c - Float80(im[j]) * s
            sumIm += Float80(re[j]) * s + Float80(im[j]) * c
          }
          error = max(error, abs(Double(sumRe) - fre[k]), abs(Double(sumIm) - fim[k]))
          size = max(size, abs(Double(sumRe)), abs(Double(sumIm)))
        }
        #expect(error <= 1e-14 * max(size, 1), "n = \(n): \(error) of \(size)")
      }
    }
  #endif

  /// Forward then inverse returns the input to rounding, up to 2¹⁸ points.
  @Test(arguments: [1, 2, 4, 1 << 10, 1 << 18])
  func roundTrips(_ n: Int) {
    var generator = SeededGenerator(seed: UInt64(n))
    let re = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
    let im = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
    var (a, b) = (re, im)
    let fft = FourierTransform(count: n)
    fft.transform(real: &a, imaginary: &b, inverse: false)
    fft.transform(real: &a, imaginary: &b, inverse: true)
    let error = zip(a, re).map { abs($0 - $1) }.max()! + zip(b, im).map { abs($0 - $1) }.max()!
    #expect(error <= 1e-14, "n = \(n): \(error)")
  }

  /// Composition's convolutions against direct sums: a two-distribution convolution, and a
  /// 50-fold self-composition against 49 direct convolutions; the FFT's error stays under the
  /// noise floor the pessimistic composition counts at +∞.
  @Test func convolutionsMatchDirectSums() throws {
    var generator = SeededGenerator(seed: 5)
    func distribution(_ count: Int) -> [Double] {
      let raw = (0..<count).map { _ in Double.random(in: 0...1, using: &generator) }
      let total = raw.reduce(0, +)
      return raw.map { $0 / total }
    }
    func direct(_ a: [Double], _ b: [Double]) -> [Double] {
      var out = [Double](repeating: 0, count: a.count + b.count - 1)
      for i in a.indices { for j in b.indices { out[i + j] += a[i] * b[j] } }
      return out
    }
    let (a, b) = (distribution(37), distribution(60))
    let pa = DiscretePrivacyLoss(lowerIndex: -5, masses: a, infinityMass: 0.001)
    let pb = DiscretePrivacyLoss(lowerIndex: 3, masses: b, infinityMass: 0.002)
    let composed = try pa.composed(with: pb, pessimistic: true)
    let expected = direct(a, b)
    #expect(composed.lowerIndex == -2)
    #expect(abs(composed.infinityMass - (0.001 + 0.002 - 0.000002)) < 1e-14)
    for (j, value) in expected.enumerated() where j < composed.masses.count {
      #expect(abs(composed.masses[j] - value) <= 1e-15, "entry \(j)")
    }

    let p = distribution(25)
    let step = DiscretePrivacyLoss(lowerIndex: -10, masses: p, infinityMass: 0)
    var power = p
    for _ in 1..<50 { power = direct(power, p) }
    let fiftyFold = try step.selfComposed(times: 50, pessimistic: true)
    let (lower, _) = try DiscretePrivacyLoss.selfConvolutionBounds(
      p, times: 50, tailMass: PrivacyLossDistribution.tailMassTruncation)
    #expect(fiftyFold.lowerIndex == -500 + lower)
    var error = 0.0
    for (j, value) in fiftyFold.masses.enumerated() { error += abs(value - power[lower + j]) }
    let floor = fiftyFold.infinityMass - PrivacyLossDistribution.tailMassTruncation
    #expect(error <= max(floor, 1e-16) * 10 + 1e-15, "Σ|error| \(error), floor \(floor)")
    // What the truncation dropped is within its budget.
    let kept = fiftyFold.masses.reduce(0, +)
    #expect(abs(1 - kept) <= PrivacyLossDistribution.tailMassTruncation + 1e-13)
  }
}

/// Printed privacy parameters are rounded up, never below the bound.
@Suite struct PrivacyFormattingTests {
  @Test func examples() {
    #expect(PrivacyFormatting.roundedUp(8.39605) == "8.397")
    #expect(PrivacyFormatting.roundedUp(8.396) == "8.396")
    #expect(PrivacyFormatting.roundedUp(0.0123401) == "0.01235")
    #expect(PrivacyFormatting.roundedUp(123.45) == "123.5")
    #expect(PrivacyFormatting.roundedUp(12_345.6) == "12346")
    #expect(PrivacyFormatting.roundedUp(7.32913, significantDigits: 5) == "7.3292")
    #expect(PrivacyFormatting.roundedUp(2) == "2.000")
    #expect(PrivacyFormatting.roundedUp(.infinity) == "inf")
    #expect(PrivacyFormatting.roundedUp(0) == "0")
  }

  @Test func neverBelowTheValue() {
    var generator = SeededGenerator(seed: 3)
    for _ in 0..<5_000 {
      let value = exp(Double.random(in: -12...12, using: &generator))
      for digits in [4, 5, 7] {
        let text = PrivacyFormatting.roundedUp(value, significantDigits: digits)
        let printed = Double(text)!
        #expect(printed >= value, "\(value) printed \(text)")
        #expect(
          printed <= value * (1 + 2 * pow(10, Double(1 - digits))), "\(value) printed \(text)")
      }
    }
  }
}

/// Counts `onStep` calls (the callback is `@Sendable`).
final class StepCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var value = 0
  var count: Int { lock.withLock { value } }
  func add() { lock.withLock { value += 1 } }
}
