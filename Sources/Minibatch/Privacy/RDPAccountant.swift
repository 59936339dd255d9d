import Foundation

/// The privacy spent by DP-SGD, tracked in **Rényi differential privacy** (RDP) and converted to
/// `(ε, δ)`-DP.
///
/// Each step of DP-SGD is the **Poisson-subsampled Gaussian mechanism**: every example joins the
/// batch independently with probability `q` (the sampling rate), each example's gradient is
/// clipped to norm `C`, and Gaussian noise of standard deviation `σ·C` is added to the clipped sum
/// (`σ` is the noise multiplier). Its RDP at order `α` is `log(A_α)/(α − 1)` with
///
/// ```
/// A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α],   μ₀ = N(0, σ²),  μ = (1 − q)·μ₀ + q·N(1, σ²)
/// ```
///
/// computed as in Mironov, Talwar and Zhang (2019), "Rényi Differential Privacy of the Sampled
/// Gaussian Mechanism", section 3.3: for integer `α` the finite binomial sum
/// `A_α = Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²))`; for fractional `α` the
/// two-sided series with `erfc` terms, summed in log space until its terms fall below `e^−30`.
/// `q = 1` gives the Gaussian mechanism's `α/(2σ²)`.
///
/// RDP composes by addition over steps. The conversion to `(ε, δ)` is Balle et al. (2020),
/// "Hypothesis Testing Interpretations and Renyi Differential Privacy", Theorem 21:
///
/// ```
/// ε = min_α  RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1)        (clamped at 0)
/// ```
///
/// over the orders {1.1, 1.2, …, 10.9} ∪ {12, 13, …, 63} ∪ {64, 80, 96, …, 10⁴} by default (the
/// large orders keep a large `σ` from being stuck at `ε ≈ (log(1/δ) + log 63)/62 ≈ 0.1`). When the
/// best order is the largest one tried (``isLargestOrder(_:)``), `ε` may be loose: Opacus
/// warns then, and so does `minibatch-privacy`. The published check (σ = 1.5, q = 0.04, 2,250
/// steps, δ = 1e-5 → ε = 7.3291) is a test.
///
/// RDP is exact for RDP, but RDP itself is loose: ``PLDAccountant``, the default, reports an `ε`
/// 5–30% smaller for the same training.
public struct RDPAccountant: Sendable, Hashable {
  /// {1.1, 1.2, …, 10.9} ∪ {12, 13, …, 63} (Opacus' and TF Privacy's 151) ∪ {64, 80, 96, 128,
  /// 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 10⁴}.
  public static let defaultOrders: [Double] = {
    let small: [Double] = (1...99).map { 1 + Double($0) / 10 }
    let integers: [Double] = (12...63).map { Double($0) }
    let large: [Double] = [
      64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1536, 2048, 3072, 4096, 6144,
      8192, 10_000,
    ]
    return small + integers + large
  }()

  /// The largest order accepted (the series' cost grows with the order).
  public static let maximumOrder = 10_000.0

  /// The orders `α > 1` tracked.
  public let orders: [Double]
  /// The composed RDP at each order (same length as ``orders``); `+∞` after a step with `σ = 0`.
  public private(set) var renyiDivergences: [Double]
  /// The steps composed so far.
  public private(set) var steps = 0

  /// An accountant that has spent nothing.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for no orders or an order
  ///   outside `(1, 10⁴]` (``maximumOrder``).
  public init(orders: [Double] = RDPAccountant.defaultOrders) throws(MinibatchError) {
    try validateArgument(orders, named: "RDP orders", expected: "at least one", !orders.isEmpty)
    for order in orders { try Self.validate(order: order) }
    self.orders = orders
    renyiDivergences = [Double](repeating: 0, count: orders.count)
  }

  /// Adds `steps` steps of the Poisson-subsampled Gaussian mechanism.
  ///
  /// - Parameters:
  ///   - noiseMultiplier: `σ ≥ 0` (noise standard deviation over the clipping bound); `0` means
  ///     no privacy (`ε = ∞` from then on).
  ///   - samplingRate: `q ∈ (0, 1]`, each example's probability of joining a batch.
  ///   - steps: `≥ 0`.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)``; nothing is added then.
  public mutating func compose(
    noiseMultiplier: Double, samplingRate: Double, steps: Int
  ) throws(MinibatchError) {
    try validateArgument(
      noiseMultiplier, named: "noise multiplier", expected: "finite and ≥ 0",
      noiseMultiplier.isFinite && noiseMultiplier >= 0)
    try Self.validate(samplingRate: samplingRate, steps: steps)
    let total = try Self.validate(adding: steps, to: self.steps)
    guard steps > 0 else { return }
    for (index, order) in orders.enumerated() {
      let perStep =
        noiseMultiplier == 0
        ? Double.infinity
        : Self.divergence(sigma: noiseMultiplier, q: samplingRate, order: order)
      renyiDivergences[index] += Double(steps) * perStep
    }
    self.steps = total
  }

  /// The smallest `ε` over the orders for which the steps so far are `(ε, δ)`-DP, and the order
  /// that gives it: `ε = 0` before any step, `+∞` after a step without noise.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 < δ < 1`.
  public func epsilon(delta: Double) throws(MinibatchError) -> (epsilon: Double, order: Double) {
    try Self.validate(delta: delta)
    guard steps > 0 else { return (0, orders[0]) }
    var best = (epsilon: Double.infinity, order: orders[0])
    for (order, rdp) in zip(orders, renyiDivergences) {
      let epsilon = rdp + log((order - 1) / order) - (log(delta) + log(order)) / (order - 1)
      if epsilon < best.epsilon { best = (max(0, epsilon), order) }
    }
    return best
  }

  /// Whether `order` is the largest of ``orders``: when ``epsilon(delta:)`` returns it, a larger
  /// order might give a smaller `ε` (extend the orders, or use ``PLDAccountant``).
  public func isLargestOrder(_ order: Double) -> Bool { order >= orders.max()! }

  // MARK: - One-shot forms (the command-line accountant's two questions)

  /// `ε` after `steps` steps at noise multiplier `σ > 0` and sampling rate `q`, for `δ`.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `σ ≤ 0`,
  ///   `q ∉ (0, 1]`, `δ ∉ (0, 1)`, `steps < 0` or a non-finite value.
  public static func epsilon(
    noiseMultiplier: Double, samplingRate: Double, steps: Int, delta: Double,
    orders: [Double] = defaultOrders
  ) throws(MinibatchError) -> Double {
    try validate(noiseMultiplier: noiseMultiplier)
    try validate(delta: delta)
    var accountant = try RDPAccountant(orders: orders)
    try accountant.compose(
      noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, steps: steps)
    return try accountant.epsilon(delta: delta).epsilon
  }

  /// The smallest noise multiplier `σ` whose `ε` (after `steps` steps at rate `q`, for `δ`) is at
  /// most `targetEpsilon`, to within `tolerance` in `ε`: the result's `ε` lies in
  /// `[targetEpsilon − tolerance, targetEpsilon]`. Bisection on `σ` (`ε` falls as `σ` grows).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a target or
  ///   tolerance that is not finite and `> 0`, bad `q`, `δ` or `steps` (`≥ 1` here), or a target
  ///   that no `σ ≤ 10⁶` reaches.
  public static func noiseMultiplier(
    targetEpsilon: Double, samplingRate: Double, steps: Int, delta: Double,
    tolerance: Double = 0.01, orders: [Double] = defaultOrders
  ) throws(MinibatchError) -> Double {
    try validateArgument(
      targetEpsilon, named: "target epsilon", expected: "finite and > 0",
      targetEpsilon.isFinite && targetEpsilon > 0)
    try validateArgument(
      tolerance, named: "epsilon tolerance", expected: "finite and > 0",
      tolerance.isFinite && tolerance > 0)
    try validate(samplingRate: samplingRate, steps: steps)
    try validateArgument(steps, named: "steps", expected: "≥ 1", steps >= 1)
    try validate(delta: delta)
    func epsilon(_ sigma: Double) throws(MinibatchError) -> Double {
      try Self.epsilon(
        noiseMultiplier: sigma, samplingRate: samplingRate, steps: steps, delta: delta,
        orders: orders)
    }
    var (low, high) = (0.0, 1.0)
    var highEpsilon = try epsilon(high)
    while highEpsilon > targetEpsilon {
      (low, high) = (high, 2 * high)
      try validateArgument(
        targetEpsilon, named: "target epsilon",
        expected: "reachable with a noise multiplier ≤ 1e6 (\(steps) steps at q = \(samplingRate))",
        high <= 1e6)
      highEpsilon = try epsilon(high)
    }
    var iterations = 0
    while targetEpsilon - highEpsilon > tolerance, iterations < 200 {
      let middle = (low + high) / 2
      let middleEpsilon = try epsilon(middle)
      if middleEpsilon <= targetEpsilon {
        (high, highEpsilon) = (middle, middleEpsilon)
      } else {
        low = middle
      }
      iterations += 1
    }
    return high
  }

  /// The RDP of one step at order `α`, `log(A_α)/(α − 1)`.
  ///
  /// - Throws: as ``epsilon(noiseMultiplier:samplingRate:steps:delta:orders:)``, and for an order
  ///   that is not finite and `> 1`.
  public static func renyiDivergence(
    noiseMultiplier: Double, samplingRate: Double, order: Double
  ) throws(MinibatchError) -> Double {
    try validate(noiseMultiplier: noiseMultiplier)
    try validate(samplingRate: samplingRate, steps: 1)
    try validate(order: order)
    return divergence(sigma: noiseMultiplier, q: samplingRate, order: order)
  }

  // MARK: - Implementation

  static func validate(noiseMultiplier: Double) throws(MinibatchError) {
    try validateArgument(
      noiseMultiplier, named: "noise multiplier", expected: "finite and > 0",
      noiseMultiplier.isFinite && noiseMultiplier > 0)
  }

  static func validate(samplingRate: Double, steps: Int) throws(MinibatchError) {
    try validateArgument(
      samplingRate, named: "sampling rate", expected: "in (0, 1]",
      samplingRate > 0 && samplingRate <= 1)
    try validateArgument(steps, named: "steps", expected: "≥ 0", steps >= 0)
  }

  /// `total + steps`, or the error naming how many more steps fit (shared by the accountants).
  static func validate(adding steps: Int, to total: Int) throws(MinibatchError) -> Int {
    let (sum, overflow) = total.addingReportingOverflow(steps)
    try validateArgument(
      steps, named: "steps", expected: "≤ \(Int.max - total) more (the total overflows)",
      !overflow)
    return sum
  }

  static func validate(order: Double) throws(MinibatchError) {
    try validateArgument(
      order, named: "RDP order", expected: "in (1, \(Int(maximumOrder))]",
      order > 1 && order <= maximumOrder)
  }

  static func validate(delta: Double) throws(MinibatchError) {
    try validateArgument(delta, named: "delta", expected: "in (0, 1)", delta > 0 && delta < 1)
  }

  /// `log(A_α)/(α − 1)` for valid `σ > 0`, `q ∈ (0, 1]`, `α > 1`.
  static func divergence(sigma: Double, q: Double, order alpha: Double) -> Double {
    if q == 1 { return alpha / (2 * sigma * sigma) }
    let logA =
      alpha.rounded() == alpha
      ? logAIntegerOrder(sigma: sigma, q: q, alpha: Int(alpha))
      : logAFractionalOrder(sigma: sigma, q: q, alpha: alpha)
    return logA / (alpha - 1)
  }

  /// `log A_α = log Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²))`.
  static func logAIntegerOrder(sigma: Double, q: Double, alpha: Int) -> Double {
    let (logQ, logOneMinusQ) = (log(q), log1p(-q))
    var logA = -Double.infinity
    var logBinomial = 0.0  // log C(α, 0)
    for i in 0...alpha {
      if i > 0 { logBinomial += log(Double(alpha - i + 1)) - log(Double(i)) }
      let x = Double(i)
      let term =
        logBinomial + x * logQ + Double(alpha - i) * logOneMinusQ + (x * x - x)
        / (2 * sigma * sigma)
      logA = logAdd(logA, term)
    }
    return logA
  }

  /// `log A_α` for fractional `α`: the series of Mironov, Talwar and Zhang (2019), section 3.3,
  /// split at `z₀ = σ²·log(1/q − 1) + 1/2`, with generalised binomial coefficients `C(α, i)`
  /// (whose sign alternates once `i > α`).
  static func logAFractionalOrder(sigma: Double, q: Double, alpha: Double) -> Double {
    let (logQ, logOneMinusQ) = (log(q), log1p(-q))
    let z0 = sigma * sigma * log(1 / q - 1) + 0.5
    let scale = 2.0.squareRoot() * sigma
    var (logA0, logA1) = (-Double.infinity, -Double.infinity)
    var logBinomial = 0.0  // log |C(α, i)|
    var binomialSign = 1.0
    var i = 0
    while true {
      if i > 0 {
        let factor = (alpha - Double(i) + 1) / Double(i)
        logBinomial += log(abs(factor))
        if factor < 0 { binomialSign = -binomialSign }
      }
      let x = Double(i)
      let j = alpha - x
      let logT0 = logBinomial + x * logQ + j * logOneMinusQ
      let logT1 = logBinomial + j * logQ + x * logOneMinusQ
      let logE0 = log(0.5) + logErfc((x - z0) / scale)
      let logE1 = log(0.5) + logErfc((z0 - j) / scale)
      let logS0 = logT0 + (x * x - x) / (2 * sigma * sigma) + logE0
      let logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
      if binomialSign > 0 {
        logA0 = logAdd(logA0, logS0)
        logA1 = logAdd(logA1, logS1)
      } else {
        logA0 = logSubtract(logA0, logS0)
        logA1 = logSubtract(logA1, logS1)
      }
      i += 1
      if max(logS0, logS1) < -30 || i > 100_000 { break }
    }
    return logAdd(logA0, logA1)
  }

  /// `log(eˣ + eʸ)` without overflow.
  static func logAdd(_ x: Double, _ y: Double) -> Double {
    let (low, high) = (min(x, y), max(x, y))
    if low == -.infinity { return high }
    return log1p(exp(low - high)) + high
  }

  /// `log(eˣ − eʸ)` for `x ≥ y` (the series' partial sums stay positive).
  static func logSubtract(_ x: Double, _ y: Double) -> Double {
    if y == -.infinity { return x }
    if x <= y { return -.infinity }
    return log(expm1(x - y)) + y
  }

  /// `log(erfc(x))`, accurate where `erfc` itself underflows: beyond `x = 20`, the asymptotic
  /// series `erfc(x) ≈ e^{−x²}/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸))` (relative
  /// error below 10⁻¹¹ there).
  static func logErfc(_ x: Double) -> Double {
    if x < 20 { return log(erfc(x)) }
    let t = 1 / (2 * x * x)
    let series = 1 - t + 3 * t * t - 15 * t * t * t + 105 * t * t * t * t
    return -x * x - log(x) - 0.5 * log(Double.pi) + log(series)
  }
}
