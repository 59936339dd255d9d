import Minibatch
import MinibatchTestSupport
import Testing

/// The accountant against published and reference values (Opacus 1.5's `compute_rdp` /
/// `get_privacy_spent` over the same orders, run once to produce the constants below), its
/// monotonicity, the inverse, and every error.
@Suite struct RDPAccountantTests {
  @Test func publishedValue() throws {
    let epsilon = try RDPAccountant.epsilon(
      noiseMultiplier: 1.5, samplingRate: 0.04, steps: 2250, delta: 1e-5)
    #expect(abs(epsilon - 7.3291) <= 1e-4, "ε = \(epsilon)")
  }

  /// `(σ, q, steps, δ) → (ε, optimal order)`; fractional and integer optimal orders, `q = 1`.
  static let references: [(Double, Double, Int, Double, Double, Double)] = [
    (1.5, 0.04, 2250, 1e-5, 7.3291111714386545, 3.9),
    (1.1, 256.0 / 60000, 14062, 1e-5, 2.5965558689607486, 8.1),
    (0.8, 0.01, 1000, 1e-6, 4.293340801773579, 4.9),
    (5.0, 1.0, 10, 1e-5, 2.8136532471298397, 7.9),
    (2.0, 0.5, 1, 1e-3, 0.9771204076324482, 8.4),
  ]

  @Test(arguments: references)
  func referenceValues(_ reference: (Double, Double, Int, Double, Double, Double)) throws {
    let (sigma, q, steps, delta, expected, expectedOrder) = reference
    var accountant = try RDPAccountant()
    try accountant.compose(noiseMultiplier: sigma, samplingRate: q, steps: steps)
    let (epsilon, order) = try accountant.epsilon(delta: delta)
    #expect(abs(epsilon - expected) <= 1e-9 * expected, "ε = \(epsilon), expected \(expected)")
    #expect(order == expectedOrder)
  }

  /// One step's RDP at integer and fractional orders (σ = 1.2, q = 0.01).
  @Test func perStepDivergence() throws {
    for (order, expected) in [
      (2.0, 0.00010025459547913576), (3.5, 0.00017897925224655186),
      (10.0, 0.0005664979877940928), (2.5, 0.00012614056055989406),
    ] {
      let rdp = try RDPAccountant.renyiDivergence(
        noiseMultiplier: 1.2, samplingRate: 0.01, order: order)
      #expect(abs(rdp - expected) <= 1e-10 * expected, "α = \(order): \(rdp)")
    }
  }

  @Test func monotoneInNoiseRateAndSteps() throws {
    func epsilon(_ sigma: Double, _ q: Double, _ steps: Int) throws -> Double {
      try RDPAccountant.epsilon(noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: 1e-5)
    }
    let sigmas = [0.6, 0.8, 1.0, 1.5, 2.5, 5.0]
    let bySigma = try sigmas.map { try epsilon($0, 0.02, 500) }
    #expect(zip(bySigma, bySigma.dropFirst()).allSatisfy { $0 > $1 }, "\(bySigma)")
    let rates = [0.001, 0.01, 0.05, 0.2, 1.0]
    let byRate = try rates.map { try epsilon(1.0, $0, 500) }
    #expect(zip(byRate, byRate.dropFirst()).allSatisfy { $0 < $1 }, "\(byRate)")
    let stepCounts = [1, 10, 100, 1000, 10000]
    let bySteps = try stepCounts.map { try epsilon(1.0, 0.02, $0) }
    #expect(zip(bySteps, bySteps.dropFirst()).allSatisfy { $0 < $1 }, "\(bySteps)")
  }

  /// Composing step by step equals composing all at once; no step spends nothing; σ = 0 is ∞.
  @Test func composition() throws {
    var stepwise = try RDPAccountant()
    for _ in 0..<3 { try stepwise.compose(noiseMultiplier: 1.3, samplingRate: 0.05, steps: 100) }
    var atOnce = try RDPAccountant()
    try atOnce.compose(noiseMultiplier: 1.3, samplingRate: 0.05, steps: 300)
    let (a, b) = (
      try stepwise.epsilon(delta: 1e-5).epsilon, try atOnce.epsilon(delta: 1e-5).epsilon
    )
    #expect(abs(a - b) <= 1e-12 * b)
    #expect(try RDPAccountant().epsilon(delta: 1e-5).epsilon == 0)
    var noNoise = try RDPAccountant()
    try noNoise.compose(noiseMultiplier: 0, samplingRate: 0.05, steps: 1)
    #expect(try noNoise.epsilon(delta: 1e-5).epsilon == .infinity)
  }

  /// The inverse reaches the target within 0.01 and is the smallest such σ (a slightly smaller
  /// one overshoots).
  @Test(arguments: [(1.0, 0.01, 1000), (3.0, 0.04, 2250), (8.0, 256.0 / 60000, 14062)])
  func inverseRoundTrips(_ target: (Double, Double, Int)) throws {
    let (epsilon, q, steps) = target
    let sigma = try RDPAccountant.noiseMultiplier(
      targetEpsilon: epsilon, samplingRate: q, steps: steps, delta: 1e-5)
    let reached = try RDPAccountant.epsilon(
      noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: 1e-5)
    #expect(reached <= epsilon && reached >= epsilon - 0.01, "σ = \(sigma) gives ε = \(reached)")
    let smaller = try RDPAccountant.epsilon(
      noiseMultiplier: sigma * 0.98, samplingRate: q, steps: steps, delta: 1e-5)
    #expect(smaller > epsilon, "a 2 % smaller σ still reaches the target")
    let settings = try DifferentialPrivacy.calibrated(
      targetEpsilon: epsilon, delta: 1e-5, samplingRate: q, steps: steps,
      clipping: .flat(bound: 1), accountant: .rdp)
    #expect(settings.noiseMultiplier == sigma && settings.accountant == .rdp)
  }

  @Test func errors() throws {
    func invalid(_ name: String, _ value: Any, _ expected: String) -> MinibatchError {
      .invalidArgument(name: name, value: "\(value)", expected: expected)
    }
    let epsilon = { (sigma: Double, q: Double, steps: Int, delta: Double) in
      try RDPAccountant.epsilon(noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: delta)
    }
    expectError(invalid("noise multiplier", 0.0, "finite and > 0")) { try epsilon(0, 0.1, 1, 1e-5) }
    expectError(invalid("noise multiplier", -1.0, "finite and > 0")) {
      try epsilon(-1, 0.1, 1, 1e-5)
    }
    expectError(invalid("noise multiplier", Double.nan, "finite and > 0")) {
      try epsilon(.nan, 0.1, 1, 1e-5)
    }
    expectError(invalid("sampling rate", 0.0, "in (0, 1]")) { try epsilon(1, 0, 1, 1e-5) }
    expectError(invalid("sampling rate", 1.5, "in (0, 1]")) { try epsilon(1, 1.5, 1, 1e-5) }
    expectError(invalid("sampling rate", Double.nan, "in (0, 1]")) { try epsilon(1, .nan, 1, 1e-5) }
    expectError(invalid("delta", 0.0, "in (0, 1)")) { try epsilon(1, 0.1, 1, 0) }
    expectError(invalid("delta", 1.0, "in (0, 1)")) { try epsilon(1, 0.1, 1, 1) }
    expectError(invalid("delta", Double.infinity, "in (0, 1)")) {
      try epsilon(1, 0.1, 1, .infinity)
    }
    expectError(invalid("steps", -1, "≥ 0")) { try epsilon(1, 0.1, -1, 1e-5) }
    expectError(invalid("target epsilon", 0.0, "finite and > 0")) {
      try RDPAccountant.noiseMultiplier(targetEpsilon: 0, samplingRate: 0.1, steps: 1, delta: 1e-5)
    }
    expectError(invalid("target epsilon", Double.infinity, "finite and > 0")) {
      try RDPAccountant.noiseMultiplier(
        targetEpsilon: .infinity, samplingRate: 0.1, steps: 1, delta: 1e-5)
    }
    expectError(invalid("steps", 0, "≥ 1")) {
      try RDPAccountant.noiseMultiplier(targetEpsilon: 1, samplingRate: 0.1, steps: 0, delta: 1e-5)
    }
    expectError(
      invalid(
        "target epsilon", 1e-9,
        "reachable with a noise multiplier ≤ 1e6 (100000 steps at q = 1.0)")
    ) {
      try RDPAccountant.noiseMultiplier(
        targetEpsilon: 1e-9, samplingRate: 1, steps: 100_000, delta: 1e-5)
    }
    expectError(invalid("RDP order", 1.0, "in (1, 10000]")) { try RDPAccountant(orders: [1]) }
    expectError(invalid("RDP order", 1e12, "in (1, 10000]")) { try RDPAccountant(orders: [1e12]) }
    var full = try RDPAccountant()
    try full.compose(noiseMultiplier: 1, samplingRate: 0.1, steps: Int.max)
    expectError(invalid("steps", 1, "≤ 0 more (the total overflows)")) {
      try full.compose(noiseMultiplier: 1, samplingRate: 0.1, steps: 1)
    }
    expectError(invalid("RDP orders", [Double](), "at least one")) { try RDPAccountant(orders: []) }
    var accountant = try RDPAccountant()
    expectError(invalid("noise multiplier", -0.5, "finite and ≥ 0")) {
      try accountant.compose(noiseMultiplier: -0.5, samplingRate: 0.1, steps: 1)
    }
    #expect(accountant.steps == 0)
  }
}
