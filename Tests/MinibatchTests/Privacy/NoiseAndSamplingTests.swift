import Minibatch
import MinibatchTestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The Gaussian noise (reproducible, the right spread) and Poisson sampling (the binomial batch
/// sizes, each example's inclusion rate), with fixed seeds and 5-standard-error bounds.
@Suite struct NoiseAndSamplingTests {
  @Test func seededNoiseIsReproducibleAndUnseededIsNot() throws {
    var a = GaussianNoise(seed: 42)
    var b = GaussianNoise(seed: 42)
    let first = (0..<1001).map { _ in a.nextStandardNormal() }
    #expect(first == (0..<1001).map { _ in b.nextStandardNormal() })
    var c = GaussianNoise(seed: 43)
    #expect(first != (0..<1001).map { _ in c.nextStandardNormal() })
    var system1 = GaussianNoise()
    var system2 = GaussianNoise()
    #expect(system1.seed == nil)
    let draws1 = try system1.draws(count: 4, standardDeviation: 1)
    let draws2 = try system2.draws(count: 4, standardDeviation: 1)
    #expect(draws1 != draws2)
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
      try abs(GradientClipping.perBlock(totalBound: 2, blockCount: 4).sensitivity - 2) <= 1e-15)
  }

  /// The noise on a vector longer than one chunk is the same for 1, 2 and 5 threads.
  @Test func noiseDoesNotDependOnTheThreadCount() throws {
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: 2), noiseMultiplier: 0.7, delta: 1e-5)
    let sum = [Float](repeating: 1, count: 100_003)
    let results = try [1, 2, 5].map { threads in
      var noise = GaussianNoise(seed: 11)
      return try privacy.noisyGradient(
        clippedSum: sum, expectedBatchSize: 3, noise: &noise, parallelism: .threads(threads))
    }
    #expect(results[0] == results[1] && results[1] == results[2])
    #expect(Set(results[0]).count > 99_000)
  }

  /// The empirical distribution function of 10⁶ draws against `Φ` at points through the body,
  /// the wedges and the tails (beyond the ziggurat's `r = 3.44`), within 5 standard errors
  /// `√(p(1 − p)/m)`.
  @Test func noiseFollowsTheStandardNormal() {
    var noise = GaussianNoise(seed: 2026)
    let m = 1_000_000
    let draws = (0..<m).map { _ in noise.nextStandardNormal() }.sorted()
    for t in [-4.5, -3.6, -3.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 3.6, 4.5] {
      let p = 0.5 * erfc(-t / 2.0.squareRoot())
      let below = Double(draws.partitioningIndex { $0 > t }) / Double(m)
      let error = (p * (1 - p) / Double(m)).squareRoot()
      #expect(abs(below - p) <= 5 * error + 1e-7, "F(\(t)) = \(below), Φ = \(p)")
    }
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
    #expect(joined.allSatisfy { abs(Double($0) / m - q) <= perExampleError })
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
    let steps = "1...1000000 (pass stepsPerEpoch for tiny rates)"
    expectError(.invalidArgument(name: "steps per epoch", value: "0", expected: steps)) {
      try BatchSampler(exampleCount: 10, poissonRate: 0.5, stepsPerEpoch: 0, seed: 1)
    }
    expectError(.invalidArgument(name: "steps per epoch", value: "1000000000", expected: steps)) {
      try BatchSampler(exampleCount: 10, poissonRate: 1e-12, seed: 1)
    }
    expectError(.invalidArgument(name: "example count", value: "0", expected: "≥ 1")) {
      try BatchSampler(exampleCount: 0, poissonRate: 0.5, seed: 1)
    }
  }
}

extension Array where Element: Comparable {
  /// The first index whose element satisfies `predicate` (which must be false then true along
  /// the sorted array).
  func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
    var (low, high) = (0, count)
    while low < high {
      let middle = (low + high) / 2
      if predicate(self[middle]) { high = middle } else { low = middle + 1 }
    }
    return low
  }
}
