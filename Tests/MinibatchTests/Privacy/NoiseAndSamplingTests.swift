import Minibatch
import MinibatchTestSupport
import Testing

/// The Gaussian noise (reproducible, the right spread) and Poisson sampling (the binomial batch
/// sizes, each example's inclusion rate), with fixed seeds and 5-standard-error bounds.
@Suite struct NoiseAndSamplingTests {
  @Test func seededNoiseIsReproducibleAndUnseededIsNot() {
    var a = GaussianNoise(seed: 42)
    var b = GaussianNoise(seed: 42)
    let first = (0..<1001).map { _ in a.nextStandardNormal() }
    #expect(first == (0..<1001).map { _ in b.nextStandardNormal() })
    var c = GaussianNoise(seed: 43)
    #expect(first != (0..<1001).map { _ in c.nextStandardNormal() })
    var system1 = GaussianNoise()
    var system2 = GaussianNoise()
    #expect(system1.seed == nil)
    #expect(
      system1.draws(count: 4, standardDeviation: 1) != system2.draws(count: 4, standardDeviation: 1)
    )
  }

  /// The noise on the private gradient has mean 0 and standard deviation `σC/B`: with
  /// `m = 200,000` draws the sample mean's standard error is `s/√m` and the sample standard
  /// deviation's about `s/√(2m)`; both are held to 5 standard errors.
  @Test(arguments: allScalarTypes)
  func noiseHasTheCalibratedSpread(_ type: any BLASScalar.Type) throws {
    try checkSpread(type)
  }

  func checkSpread<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let (sigma, bound, batchSize, m) = (1.3, 0.7, 4.0, 200_000)
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: bound), noiseMultiplier: sigma, delta: 1e-5)
    var noise = GaussianNoise(seed: 7)
    let gradient = try privacy.noisyGradient(
      clippedSum: [Scalar](repeating: 0, count: m), expectedBatchSize: batchSize, noise: &noise)
    let expected = sigma * bound / batchSize
    let mean = gradient.reduce(0.0) { $0 + Double($1) } / Double(m)
    let deviation =
      (gradient.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
      / Double(m - 1)).squareRoot()
    #expect(abs(mean) <= 5 * expected / Double(m).squareRoot(), "mean \(mean)")
    #expect(
      abs(deviation - expected) <= 5 * expected / (2 * Double(m)).squareRoot(),
      "standard deviation \(deviation), expected \(expected)")
    // Per-block clipping: the sensitivity is √(Σ C_b²).
    let perBlock = try DifferentialPrivacy(
      clipping: .perBlock(bounds: [0.3, 0.4]), noiseMultiplier: 2, delta: 1e-5)
    #expect(abs(perBlock.noiseStandardDeviation - 1.0) <= 1e-15)
    #expect(
      abs(GradientClipping.perBlock(totalBound: 2, blockCount: 4).sensitivity - 2) <= 1e-15)
  }

  /// Batch sizes are Binomial(N, q): over 4,000 batches the mean is within 5 standard errors of
  /// `qN` and the variance within 5 of `q(1 − q)N`; each example joins at rate `q`.
  @Test func poissonBatchSizesAreBinomial() throws {
    let (n, q) = (1000, 0.05)
    let sampler = try BatchSampler(exampleCount: n, poissonRate: q, seed: 2024)
    #expect(sampler.batchesPerEpoch == 20)
    #expect(sampler.expectedBatchSize == 50)
    var sizes: [Double] = []
    var joined = [Int](repeating: 0, count: n)
    for epoch in 0..<200 {
      for batch in sampler.batches(epoch: epoch) {
        sizes.append(Double(batch.count))
        #expect(Array(batch) == Array(Set(batch)).sorted(), "members are distinct and sorted")
        for i in batch { joined[i] += 1 }
      }
    }
    let m = Double(sizes.count)
    let mean = sizes.reduce(0, +) / m
    let variance = sizes.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (m - 1)
    let expectedVariance = q * (1 - q) * Double(n)
    #expect(abs(mean - q * Double(n)) <= 5 * (expectedVariance / m).squareRoot(), "mean \(mean)")
    #expect(
      abs(variance - expectedVariance) <= 5 * expectedVariance * (2 / (m - 1)).squareRoot(),
      "variance \(variance), expected \(expectedVariance)")
    // Each example: 4,000 Bernoulli(q) trials.
    let perExampleError = 5 * (q * (1 - q) / m).squareRoot()
    #expect(joined.allSatisfy { abs(Double($0) / m - q) <= perExampleError + 0.02 })
    // Reproducible per (seed, epoch); q = 1 takes everyone.
    #expect(sampler.batches(epoch: 3) == sampler.batches(epoch: 3))
    #expect(sampler.batches(epoch: 3) != sampler.batches(epoch: 4))
    let everyone = try BatchSampler(exampleCount: 7, poissonRate: 1, seed: 1)
    #expect(everyone.batches(epoch: 0).map(Array.init) == [Array(0..<7)])
  }

  @Test func samplerErrors() {
    expectError(
      .invalidArgument(name: "Poisson sampling rate", value: "0.0", expected: "in (0, 1]")
    ) { try BatchSampler(exampleCount: 10, poissonRate: 0, seed: 1) }
    expectError(
      .invalidArgument(name: "Poisson sampling rate", value: "nan", expected: "in (0, 1]")
    ) { try BatchSampler(exampleCount: 10, poissonRate: .nan, seed: 1) }
    expectError(.invalidArgument(name: "steps per epoch", value: "0", expected: "≥ 1")) {
      try BatchSampler(exampleCount: 10, poissonRate: 0.5, stepsPerEpoch: 0, seed: 1)
    }
    expectError(.invalidArgument(name: "example count", value: "0", expected: "≥ 1")) {
      try BatchSampler(exampleCount: 0, poissonRate: 0.5, seed: 1)
    }
  }
}
