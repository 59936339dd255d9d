import Foundation

extension PrivacyLossDistribution {
  /// One step of DP-SGD: the **Poisson-subsampled Gaussian mechanism** with noise multiplier `σ`
  /// and sampling rate `q` (sensitivity 1: noise `N(0, σ²)` on a sum that one example moves by
  /// at most 1).
  ///
  /// With `μ = N(0, σ²)`, the two relations are (dp-accounting's convention):
  ///
  /// ```
  /// remove:  P = (1 − q)·μ + q·μ(· + 1),  Q = μ          L(x) = log(1 − q + q·e^{(−1/2 − x)/σ²})
  /// add:     P = μ,  Q = (1 − q)·μ + q·μ(· − 1)          L(x) = −log(1 − q + q·e^{(x − 1/2)/σ²})
  /// ```
  ///
  /// Both losses fall as `x` grows, so the hockey-stick divergence at `ε` is
  /// `P(X ≤ x_ε) − e^ε·Q(X ≤ x_ε)` at the point `x_ε` where the loss is `ε`, which reduces to the
  /// Gaussian mechanism's `δ_G(ℓ) = Φ(1/(2σ) − σℓ) − e^ℓ·Φ(−1/(2σ) − σℓ)`:
  ///
  /// ```
  /// remove:  δ(ε) = q·δ_G(log(1 + (e^ε − 1)/q))              for ε > log(1 − q), else 1 − e^ε
  /// add:     δ(ε) = (1 − (1 − q)e^ε)·δ_G(−log(1 + (e^{−ε} − 1)/q))   for ε < −log(1 − q), else 0
  /// ```
  ///
  /// The pessimistic grid is connect-the-dots (Doroshenko et al. 2022, Algorithm 1; `δ` exact at
  /// each grid point up to rounding, which the masses' second differences amplify by about
  /// `1/(e^Δ − 1)`, to ~10⁻¹² for `Δ = 10⁻⁴`) on the losses
  /// `iΔ` between the losses at `x = ±σ·Φ⁻¹(e^{−50}/2)` (shifted by the sensitivity as
  /// dp-accounting does): the mass at `iΔ` is
  /// `((δ_{i+1} − δ_i) − e^Δ·(δ_i − δ_{i−1}))/(e^Δ − 1)`, the end points take what lies beyond
  /// them, and `δ` at the last point goes to `+∞`. The optimistic grid puts the noise mass whose
  /// loss lies in `[iΔ, (i + 1)Δ)` at `iΔ` and drops the noise's tails. `q = 1` is the Gaussian
  /// mechanism, whose two relations coincide.
  ///
  /// - Parameters:
  ///   - noiseMultiplier: `σ > 0`.
  ///   - samplingRate: `q ∈ (0, 1]`.
  ///   - discretization: `Δ > 0`.
  ///   - estimate: pessimistic (an upper bound, the default) or optimistic.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `σ`, `q` or
  ///   `Δ`; ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when one step's grid exceeds
  ///   ``maximumGridPoints`` (a tiny `σ` with a fine `Δ`).
  public static func poissonSubsampledGaussian(
    noiseMultiplier: Double, samplingRate: Double,
    discretization: Double = defaultDiscretization, estimate: Estimate = .pessimistic
  ) throws(MinibatchError) -> PrivacyLossDistribution {
    try RDPAccountant.validate(noiseMultiplier: noiseMultiplier)
    try RDPAccountant.validate(samplingRate: samplingRate, steps: 0)
    try validate(discretization: discretization)
    let mechanism = SubsampledGaussian(sigma: noiseMultiplier, q: samplingRate)
    func grid(_ relation: SubsampledGaussian.Relation) throws(MinibatchError)
      -> DiscretePrivacyLoss
    {
      switch estimate {
      case .pessimistic: try mechanism.connectTheDots(relation, discretization: discretization)
      case .optimistic: try mechanism.roundedDown(relation, discretization: discretization)
      }
    }
    let remove = try grid(.remove)
    let add = samplingRate == 1 ? remove : try grid(.add)
    return PrivacyLossDistribution(
      discretization: discretization, estimate: estimate, remove: remove, add: add)
  }
}

/// The Poisson-subsampled Gaussian mechanism's losses and hockey-stick divergences (formulas in
/// ``PrivacyLossDistribution/poissonSubsampledGaussian(noiseMultiplier:samplingRate:discretization:estimate:)``).
struct SubsampledGaussian: Sendable {
  enum Relation: Sendable { case remove, add }

  let sigma: Double
  let q: Double

  /// `log(1 − q)`, the remove relation's smallest loss (`−∞` at `q = 1`).
  var logOneMinusQ: Double { log1p(-q) }

  /// The noise's truncation point `σ·Φ⁻¹(e^{−50}/2)` (negative), as dp-accounting's default.
  var truncation: Double { sigma * Self.inverseNormalCDF(logProbability: log(0.5) - 50) }

  /// The loss at the noise value `x` (formulas above).
  func loss(_ relation: Relation, at x: Double) -> Double {
    switch relation {
    case .remove: removeLoss(x)
    case .add: -removeLoss(-x)
    }
  }

  /// `log(1 − q + q·e^ℓ)`, `ℓ = (−1/2 − x)/σ²`, as a log-sum of `log q + ℓ` and `log(1 − q)`.
  private func removeLoss(_ x: Double) -> Double {
    let l = (-0.5 - x) / (sigma * sigma)
    if q == 1 { return l }
    return RDPAccountant.logAdd(log(q) + l, logOneMinusQ)
  }

  /// `δ(ε)` of one step for the relation (formulas above), in `[0, 1]`.
  func delta(_ relation: Relation, epsilon: Double) -> Double {
    switch relation {
    case .remove:
      if q < 1, epsilon <= logOneMinusQ { return min(1, max(0, -expm1(epsilon))) }
      // ℓ = log((e^ε − 1 + q)/q): for ε > 0 as ε − log q + log1p(−(1 − q)e^{−ε}) (no overflow),
      // else log(expm1(ε) + q) − log q.
      // Just above log(1 − q), expm1(ε) + q may round to ≤ 0: that is the boundary's value.
      if epsilon <= 0, !(expm1(epsilon) + q > 0) { return min(1, max(0, -expm1(epsilon))) }
      let l =
        epsilon > 0
        ? epsilon - log(q) + log1p(-(1 - q) * exp(-epsilon))
        : log(expm1(epsilon) + q) - log(q)
      return Self.bounded(q * gaussianDelta(l))
    case .add:
      if q < 1, epsilon >= -logOneMinusQ { return 0 }
      // v = log((e^{−ε} − 1 + q)/q), the same two forms with −ε.
      // Just below −log(1 − q), expm1(−ε) + q may round to ≤ 0: δ is 0 there.
      if epsilon >= 0, !(expm1(-epsilon) + q > 0) { return 0 }
      let v =
        epsilon < 0
        ? -epsilon - log(q) + log1p(-(1 - q) * exp(epsilon))
        : log(expm1(-epsilon) + q) - log(q)
      // 1 − (1 − q)e^ε as −expm1(ε + log(1 − q)): no cancellation near the boundary.
      let coefficient = q == 1 ? 1 : -expm1(epsilon + logOneMinusQ)
      return Self.bounded(coefficient * gaussianDelta(-v))
    }
  }

  /// `δ` clamped to `[0, 1]`, NaN (which `max(0, ·)` would turn into 0, an under-estimate) to 1.
  static func bounded(_ delta: Double) -> Double {
    delta.isNaN ? 1 : min(1, max(0, delta))
  }

  /// The Gaussian mechanism's `δ_G(ℓ) = Φ(1/(2σ) − σℓ) − e^ℓ·Φ(−1/(2σ) − σℓ)`, the second term
  /// as `exp(ℓ + log Φ(…))` so that neither factor overflows or underflows alone.
  func gaussianDelta(_ l: Double) -> Double {
    let a = 0.5 / sigma
    let upper = Self.normalCDF(a - sigma * l)
    let lower = exp(l + Self.logNormalCDF(-a - sigma * l))
    return max(0, upper - lower)
  }

  /// The grid indices `[floor(ε_min/Δ), ceil(ε_max/Δ)]` between the losses at the truncation
  /// points.
  func gridRange(
    _ relation: Relation, discretization: Double, roundUpperUp: Bool
  ) throws(MinibatchError) -> (low: Int, high: Int) {
    var (xLow, xHigh) = (truncation, -truncation)
    switch relation {
    case .remove: xLow -= 1
    case .add: xHigh += 1
    }
    let (epsilonLow, epsilonHigh) = (loss(relation, at: xHigh), loss(relation, at: xLow))
    let low = (epsilonLow / discretization).rounded(.down)
    let high = (epsilonHigh / discretization).rounded(roundUpperUp ? .up : .down)
    let points = high - low + 1
    guard points.isFinite, points <= Double(PrivacyLossDistribution.maximumGridPoints) else {
      throw .allocationTooLarge(
        bytes: points.isFinite && points < 0x1p60 ? Int(points) * 8 : Int.max,
        limit: PrivacyLossDistribution.maximumGridPoints * 8,
        of:
          "privacy loss grid for σ = \(sigma) at discretization \(discretization) "
          + "(use a larger discretization interval)")
    }
    return (Int(low), Int(high))
  }

  /// The pessimistic connect-the-dots grid (Algorithm 1 of Doroshenko et al. 2022).
  func connectTheDots(
    _ relation: Relation, discretization: Double
  ) throws(MinibatchError) -> DiscretePrivacyLoss {
    let (low, high) = try gridRange(relation, discretization: discretization, roundUpperUp: true)
    let count = high - low + 1
    // δ at each grid loss, made non-increasing against rounding.
    var deltas = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      for j in 0..<count {
        buffer[j] = delta(relation, epsilon: Double(low + j) * discretization)
      }
      initialized = count
    }
    for j in 1..<max(1, count) where deltas[j] > deltas[j - 1] { deltas[j] = deltas[j - 1] }
    if count == 1 {
      return DiscretePrivacyLoss(lowerIndex: low, masses: [1 - deltas[0]], infinityMass: deltas[0])
    }
    let (grow, shrink) = (expm1(discretization), expm1(-discretization))
    let e = exp(discretization)
    let masses = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      buffer[0] = max(0, 1 - deltas[0] + (deltas[1] - deltas[0]) / grow)
      for j in 1..<(count - 1) {
        let next = deltas[j + 1] - deltas[j]
        let previous = deltas[j] - deltas[j - 1]
        buffer[j] = max(0, (next - e * previous) / grow)
      }
      buffer[count - 1] = max(0, (deltas[count - 1] - deltas[count - 2]) / shrink)
      initialized = count
    }
    return DiscretePrivacyLoss(lowerIndex: low, masses: masses, infinityMass: deltas[count - 1])
  }

  /// The optimistic grid: the noise mass with loss in `[iΔ, (i + 1)Δ)` at `iΔ`, between the
  /// truncation points; the mass beyond the upper loss at the top point, the rest dropped.
  func roundedDown(
    _ relation: Relation, discretization: Double
  ) throws(MinibatchError) -> DiscretePrivacyLoss {
    let (low, high) = try gridRange(relation, discretization: discretization, roundUpperUp: false)
    var (xLow, xHigh) = (truncation, -truncation)
    switch relation {
    case .remove: xLow -= 1
    case .add: xHigh += 1
    }
    let count = high - low + 1
    // x at which the loss is `e` (the loss falls as x grows), clamped to the truncation range.
    func point(_ e: Double) -> Double {
      let x: Double
      switch relation {
      case .remove:
        if q < 1, e <= logOneMinusQ { return xHigh }
        let l = e > 0 ? e - log(q) + log1p(-(1 - q) * exp(-e)) : log(expm1(e) + q) - log(q)
        x = -0.5 - sigma * sigma * l
      case .add:
        if q < 1, e >= -logOneMinusQ { return xLow }
        let v = e < 0 ? -e - log(q) + log1p(-(1 - q) * exp(e)) : log(expm1(-e) + q) - log(q)
        x = 0.5 + sigma * sigma * v
      }
      return min(xHigh, max(xLow, x))
    }
    // P's distribution function.
    func upperCDF(_ x: Double) -> Double {
      switch relation {
      case .remove:
        (1 - q) * Self.normalCDF(x / sigma) + q * Self.normalCDF((x + 1) / sigma)
      case .add: Self.normalCDF(x / sigma)
      }
    }
    var masses = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      var right = upperCDF(point(Double(low) * discretization))
      for j in 0..<count {
        let left = upperCDF(point(Double(low + j + 1) * discretization))
        buffer[j] = max(0, right - left)
        right = left
      }
      initialized = count
    }
    masses[count - 1] += upperCDF(xLow)
    return DiscretePrivacyLoss(lowerIndex: low, masses: masses, infinityMass: 0)
  }

  // MARK: - The normal distribution

  /// `Φ(x) = erfc(−x/√2)/2`, accurate in the lower tail (no `1 − …`).
  static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

  /// `log Φ(x)`, accurate where `Φ` underflows (``RDPAccountant/logErfc(_:)``'s asymptotic
  /// series beyond `−x/√2 = 20`).
  static func logNormalCDF(_ x: Double) -> Double {
    log(0.5) + RDPAccountant.logErfc(-x / 2.0.squareRoot())
  }

  /// The `x` with `log Φ(x) = logProbability` (≤ log ½), by bisection on `[−40, 0]` to full
  /// precision (`log Φ` is increasing).
  static func inverseNormalCDF(logProbability: Double) -> Double {
    var (low, high) = (-40.0, 0.0)
    for _ in 0..<200 {
      let middle = (low + high) / 2
      if middle == low || middle == high { break }
      if logNormalCDF(middle) < logProbability { low = middle } else { high = middle }
    }
    return high
  }
}
