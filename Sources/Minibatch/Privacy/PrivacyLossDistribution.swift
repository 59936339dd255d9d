import Foundation

/// The **privacy loss distribution** (PLD) of a mechanism, discretised on a grid, composed exactly
/// by convolution: the tight accounting behind ``PLDAccountant`` (Meiser and Mohammadi 2018;
/// Koskela, Jälkö and Honkela 2020; Doroshenko et al. 2022, "Connect the Dots").
///
/// For neighbouring data sets with output distributions `P` (upper) and `Q` (lower), the privacy
/// loss of an outcome `o` is `L(o) = log(P(o)/Q(o))`, `o ∼ P`. The mechanism is `(ε, δ)`-DP for
///
/// ```
/// δ(ε) = P(L = ∞) + E_{o∼P}[ (1 − e^{ε − L(o)})₊ ]              (the hockey-stick divergence)
/// ```
///
/// and the loss of a composition is the sum of the losses, so `T` steps' distribution is the
/// `T`-fold convolution of one step's. Here each distribution is held as masses on the grid
/// `iΔ` (``discretization`` `Δ`, default `10⁻⁴`) plus a mass at `+∞`, for each of the two
/// neighbouring relations of Poisson sampling (**remove** an example, and **add** one); every
/// question is answered for the worse of the two, as Google's dp-accounting does.
///
/// **The bound.** With ``Estimate-swift.enum/pessimistic`` (the default, and what the trainer
/// reports), every approximation moves mass towards larger losses, so the computed `δ(ε)` is an
/// upper bound on the true one and the computed `ε(δ)` is an upper bound on the true `ε` — up to
/// floating-point rounding, which is estimated, not bounded:
/// - one step is discretised by connect-the-dots (its `δ(ε)` is exact at every grid point and the
///   discrete distribution dominates the continuous one between them); the mechanism's tails
///   beyond `e^{−50}` of the noise are inside the grid's end points, whose masses include them;
/// - a composition keeps the losses whose total mass outside is at most ``tailMassTruncation``
///   (Chernoff bounds), and counts that mass at `+∞`;
/// - the FFT's rounding is estimated by its noise floor (the largest negative residue, times the
///   grid size), which is counted at `+∞` too, and negative residue is set to 0. This is a
///   measured floor, not a proof: the worst-case bound (Higham, Theorem 24.2, times `T` after a
///   `T`-th power) is far larger than the error seen against direct convolution (tested).
///
/// ``Estimate-swift.enum/optimistic`` rounds every loss down instead (and drops truncated mass):
/// a lower estimate, for checking how tight the pessimistic one is; the two meet as `Δ → 0`.
///
/// Cost: one step's grid has `(ε_max − ε_min)/Δ` points (about 38,000 for `σ = 1.1`,
/// `q = 0.004`); composing `T` steps is one FFT of the composed support (`O(n log n)`, ≈ 0.25 M
/// points for `T = 14,062`), whatever `T` is.
public struct PrivacyLossDistribution: Sendable, Equatable {
  /// Which way the discretisation rounds.
  public enum Estimate: String, Sendable, Hashable, Codable, CaseIterable {
    /// Losses rounded up (connect-the-dots), truncated mass counted at `+∞`: an upper bound.
    case pessimistic
    /// Losses rounded down, truncated mass dropped: a lower estimate.
    case optimistic
  }

  /// `Δ = 10⁻⁴`, dp-accounting's default.
  public static let defaultDiscretization = 1e-4
  /// The mass a composition may move off the ends of its grid (counted at `+∞` when
  /// pessimistic): `10⁻¹⁵`.
  public static let tailMassTruncation = 1e-15
  /// The largest grid accepted for one step or one composition (`2²⁵` points: 256 MiB per
  /// array, and a composition holds about five such arrays at once, ≈ 1.3 GiB): a finer `Δ` or a
  /// much smaller `σ` is refused with an error naming the interval instead of exhausting memory.
  public static let maximumGridPoints = 1 << 25

  /// `Δ`, the spacing of the losses.
  public let discretization: Double
  /// Which way it rounds.
  public let estimate: Estimate
  /// The remove relation's distribution (upper: the data set with the example).
  var remove: DiscretePrivacyLoss
  /// The add relation's distribution; equal to ``remove`` when the two coincide (`q = 1`).
  var add: DiscretePrivacyLoss

  init(
    discretization: Double, estimate: Estimate, remove: DiscretePrivacyLoss,
    add: DiscretePrivacyLoss
  ) {
    self.discretization = discretization
    self.estimate = estimate
    self.remove = remove
    self.add = add
  }

  /// The distribution of a mechanism that reveals nothing: all mass at loss 0.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `Δ` not finite and
  ///   `> 0`.
  public static func identity(
    discretization: Double = defaultDiscretization, estimate: Estimate = .pessimistic
  ) throws(MinibatchError) -> PrivacyLossDistribution {
    try validate(discretization: discretization)
    let zero = DiscretePrivacyLoss(lowerIndex: 0, masses: [1], infinityMass: 0)
    return PrivacyLossDistribution(
      discretization: discretization, estimate: estimate, remove: zero, add: zero)
  }

  /// The number of grid points held (the larger relation's).
  public var gridPointCount: Int { max(remove.masses.count, add.masses.count) }

  /// The mass at `+∞` (the larger relation's): a floor under every `δ`.
  public var infinityMass: Double { max(remove.infinityMass, add.infinityMass) }

  // MARK: - Questions

  /// `δ(ε)`, the hockey-stick divergence above, for the worse relation.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `ε` not finite and
  ///   `≥ 0`.
  public func delta(epsilon: Double) throws(MinibatchError) -> Double {
    try validateArgument(
      epsilon, named: "epsilon", expected: "finite and ≥ 0", epsilon.isFinite && epsilon >= 0)
    return max(
      remove.delta(epsilon: epsilon, discretization: discretization),
      add.delta(epsilon: epsilon, discretization: discretization))
  }

  /// The smallest `ε ≥ 0` with `δ(ε) ≤ delta`, for the worse relation; `+∞` when the mass at
  /// infinity alone exceeds `delta`.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 < δ < 1`.
  public func epsilon(delta: Double) throws(MinibatchError) -> Double {
    try validateArgument(delta, named: "delta", expected: "in (0, 1)", delta > 0 && delta < 1)
    return max(
      remove.epsilon(delta: delta, discretization: discretization),
      add.epsilon(delta: delta, discretization: discretization))
  }

  // MARK: - Composition

  /// The distribution of this mechanism followed by `other` (independent noise): each
  /// relation's masses convolved (FFT), the masses at infinity combined as
  /// `1 − (1 − a)(1 − b)`, then the tails truncated as described above.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` when the two differ in
  ///   ``discretization`` or ``estimate``.
  public func composed(
    with other: PrivacyLossDistribution
  ) throws(MinibatchError) -> PrivacyLossDistribution {
    try validateArgument(
      other.discretization, named: "discretization of the composed distribution",
      expected: "equal to \(discretization)", other.discretization == discretization)
    try validateArgument(
      other.estimate.rawValue, named: "estimate of the composed distribution",
      expected: estimate.rawValue, other.estimate == estimate)
    let pessimistic = estimate == .pessimistic
    let removed = try remove.composed(with: other.remove, pessimistic: pessimistic)
    let added =
      remove == add && other.remove == other.add
      ? removed : try add.composed(with: other.add, pessimistic: pessimistic)
    return PrivacyLossDistribution(
      discretization: discretization, estimate: estimate, remove: removed, add: added)
  }

  /// The distribution of `times` independent runs of this mechanism: each relation's masses
  /// raised to the `times`-th power in the frequency domain (one FFT pair), on the range that
  /// Chernoff bounds say holds all but ``tailMassTruncation`` of the result.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `times < 0`;
  ///   ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when the composed grid would exceed
  ///   ``maximumGridPoints`` times 8.
  public func selfComposed(times: Int) throws(MinibatchError) -> PrivacyLossDistribution {
    try validateArgument(times, named: "composition count", expected: "≥ 0", times >= 0)
    if times == 0 { return try .identity(discretization: discretization, estimate: estimate) }
    if times == 1 { return self }
    let pessimistic = estimate == .pessimistic
    let removed = try remove.selfComposed(times: times, pessimistic: pessimistic)
    let added =
      remove == add ? removed : try add.selfComposed(times: times, pessimistic: pessimistic)
    return PrivacyLossDistribution(
      discretization: discretization, estimate: estimate, remove: removed, add: added)
  }

  static func validate(discretization: Double) throws(MinibatchError) {
    try validateArgument(
      discretization, named: "discretization interval", expected: "finite and > 0",
      discretization.isFinite && discretization > 0)
  }
}

/// One relation's discretised privacy loss: mass `masses[j]` at the loss `(lowerIndex + j)·Δ`,
/// and `infinityMass` at `+∞`.
struct DiscretePrivacyLoss: Sendable, Equatable {
  var lowerIndex: Int
  var masses: [Double]
  var infinityMass: Double

  /// `δ(ε) = m_∞ + Σ_{ℓ_j > ε} (1 − e^{ε − ℓ_j})·m_j`, with `1 − e^{ε−ℓ}` as `−expm1(ε − ℓ)`
  /// (no cancellation for losses just above `ε`).
  func delta(epsilon: Double, discretization: Double) -> Double {
    var delta = infinityMass
    var j = masses.count - 1
    while j >= 0 {
      let loss = Double(lowerIndex + j) * discretization
      if loss <= epsilon { break }
      delta += -expm1(epsilon - loss) * masses[j]
      j -= 1
    }
    return min(1, delta)
  }

  /// The smallest `ε ≥ 0` with `δ(ε) ≤ delta`. From the largest loss down, the masses above the
  /// current loss give `δ(ε) = U − e^ε·L` (`U = m_∞ + Σ m_j`, `L = Σ m_j·e^{−ℓ_j}`), so the answer
  /// is `log((U − δ)/L)` once that falls at or above the next loss. Losses `≤ 0` never count for
  /// an `ε ≥ 0`, so the scan stops there.
  func epsilon(delta: Double, discretization: Double) -> Double {
    if infinityMass > delta { return .infinity }
    var (upper, lower) = (infinityMass, 0.0)
    var j = masses.count - 1
    while j >= 0 {
      let loss = Double(lowerIndex + j) * discretization
      if loss <= 0 { break }
      if upper > delta, lower > 0, log((upper - delta) / lower) >= loss { break }
      upper += masses[j]
      lower += masses[j] * exp(-loss)
      if upper >= delta, lower == 0 { return max(0, loss) }  // e^{−ℓ} underflowed
      j -= 1
    }
    if upper <= lower + delta { return 0 }
    return max(0, log((upper - delta) / lower))
  }

  /// The FFT's rounding, as counted at `+∞`: the outputs' noise floor — the largest negative
  /// residue among values whose true counterparts are `≥ 0` — times the number of outputs. A
  /// rigorous worst-case bound (Higham, Theorem 24.2, amplified `T` times by a `T`-th power) is
  /// orders of magnitude larger than the error measured against direct convolution (tested), and
  /// would swamp small `δ`; the floor tracks the measured error.
  static func roundingFloor(_ values: UnsafeBufferPointer<Double>) -> Double {
    var largest = 0.0
    for v in values {
      if v.isNaN { return 1 }  // nothing is known: all mass at +∞
      if -v > largest { largest = -v }
    }
    return largest * Double(values.count)
  }

  /// `self ⊛ other`, truncated at ``PrivacyLossDistribution/tailMassTruncation``.
  func composed(
    with other: DiscretePrivacyLoss, pessimistic: Bool
  ) throws(MinibatchError) -> DiscretePrivacyLoss {
    let count = masses.count + other.masses.count - 1
    try Self.validateGrid(count)
    let n = FourierTransform.length(atLeast: count)
    let fft = FourierTransform(count: n)
    var (aReal, aImaginary) = (Self.padded(masses, to: n), [Double](repeating: 0, count: n))
    var (bReal, bImaginary) = (Self.padded(other.masses, to: n), [Double](repeating: 0, count: n))
    fft.transform(real: &aReal, imaginary: &aImaginary, inverse: false)
    fft.transform(real: &bReal, imaginary: &bImaginary, inverse: false)
    for i in 0..<n {
      let (re, im) = (
        aReal[i] * bReal[i] - aImaginary[i] * bImaginary[i],
        aReal[i] * bImaginary[i] + aImaginary[i] * bReal[i]
      )
      (aReal[i], aImaginary[i]) = (re, im)
    }
    fft.transform(real: &aReal, imaginary: &aImaginary, inverse: true)
    let allowance =
      pessimistic
      ? aReal.withUnsafeBufferPointer { Self.roundingFloor(.init(rebasing: $0[..<count])) } : 0
    var values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      for j in 0..<count { buffer[j] = max(0, aReal[j]) }
      initialized = count
    }
    let infinity = infinityMass + other.infinityMass - infinityMass * other.infinityMass
    let (offset, rightMass) = Self.truncateTails(
      &values, tailMass: PrivacyLossDistribution.tailMassTruncation, pessimistic: pessimistic)
    return DiscretePrivacyLoss(
      lowerIndex: lowerIndex + other.lowerIndex + offset, masses: values,
      infinityMass: min(1, infinity + rightMass + allowance))
  }

  /// The `times`-fold composition on the Chernoff range, by one FFT pair.
  func selfComposed(times: Int, pessimistic: Bool) throws(MinibatchError) -> DiscretePrivacyLoss {
    let tailMass = PrivacyLossDistribution.tailMassTruncation
    let (start, overflow) = lowerIndex.multipliedReportingOverflow(by: times)
    try validateArgument(
      times, named: "composition count", expected: "small enough for the grid's indices",
      !overflow)
    let (lower, upper) = try Self.selfConvolutionBounds(masses, times: times, tailMass: tailMass)
    let count = upper - lower + 1
    try Self.validateGrid(count)
    let n = FourierTransform.length(atLeast: max(count, masses.count))
    let fft = FourierTransform(count: n)
    var (real, imaginary) = (Self.padded(masses, to: n), [Double](repeating: 0, count: n))
    fft.transform(real: &real, imaginary: &imaginary, inverse: false)
    FourierTransform.raise(real: &real, imaginary: &imaginary, toPower: Double(times))
    fft.transform(real: &real, imaginary: &imaginary, inverse: true)
    // The transform's indices wrap modulo n; the range starts at `lower`.
    var noiseFloor = 0.0
    let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      for j in 0..<count { buffer[j] = real[(lower + j) % n] }
      noiseFloor = Self.roundingFloor(UnsafeBufferPointer(start: buffer.baseAddress!, count: count))
      for j in 0..<count { buffer[j] = max(0, buffer[j]) }
      initialized = count
    }
    // 1 − (1 − m_∞)^T, as −expm1(T·log1p(−m_∞)) (no cancellation for a small m_∞).
    var infinity = -expm1(Double(times) * log1p(-infinityMass))
    if pessimistic { infinity += tailMass + noiseFloor }
    return DiscretePrivacyLoss(
      lowerIndex: start + lower, masses: values, infinityMass: min(1, infinity))
  }

  /// The index range `[lower, upper]` of the `times`-fold self-convolution of `p` (indices
  /// `0…(m − 1)·times`) outside which at most `tailMass` lies: for each order `t`,
  /// `P(S ≥ s) ≤ e^{T·log M(t) − t·s}` (Chernoff), so `s = (T·log M(t) + log(2/τ))/t` bounds
  /// each tail by `τ/2`; the orders are `±1…±20` over `m`, as dp-accounting uses.
  static func selfConvolutionBounds(
    _ p: [Double], times: Int, tailMass: Double
  ) throws(MinibatchError) -> (lower: Int, upper: Int) {
    let (last, overflow) = (p.count - 1).multipliedReportingOverflow(by: times)
    try validateArgument(
      times, named: "composition count", expected: "small enough for the grid's indices",
      !overflow)
    var (lower, upper) = (0, last)
    let m = Double(p.count)
    let orders = (1...20).flatMap { [Double($0) / m, -Double($0) / m] }
    let logMGF = FourierTransform.logMomentGeneratingFunction(of: p, orders: orders)
    for (t, logM) in zip(orders, logMGF) {
      let bound = (Double(times) * logM + log(2 / tailMass)) / t
      guard bound.isFinite, abs(bound) < 0x1p62 else { continue }
      if t > 0 { upper = min(upper, Int(bound.rounded(.up))) }
      if t < 0 { lower = max(lower, Int(bound.rounded(.down))) }
    }
    if lower > upper { (lower, upper) = (0, last) }
    return (lower, upper)
  }

  /// Drops the largest prefix and suffix of `values` whose masses are each at most
  /// `tailMass/2`. Pessimistic: the prefix's mass joins the first kept loss (rounded up) and the
  /// suffix's is returned, for `+∞`; optimistic: the suffix's joins the last kept loss (rounded
  /// down) and the prefix's is dropped. Returns the prefix length and the mass for `+∞`.
  static func truncateTails(
    _ values: inout [Double], tailMass: Double, pessimistic: Bool
  ) -> (offset: Int, rightMass: Double) {
    let threshold = tailMass / 2
    var (left, leftMass) = (0, 0.0)
    while left < values.count, leftMass + values[left] <= threshold {
      leftMass += values[left]
      left += 1
    }
    var (right, rightMass) = (values.count, 0.0)
    while right > left + 1, rightMass + values[right - 1] <= threshold {
      rightMass += values[right - 1]
      right -= 1
    }
    if left >= right { left = max(0, right - 1) }
    var kept = Array(values[left..<right])
    if kept.isEmpty { kept = [0] }
    if pessimistic {
      kept[0] += leftMass
      values = kept
      return (left, rightMass)
    }
    kept[kept.count - 1] += rightMass
    values = kept
    return (left, 0)
  }

  static func padded(_ values: [Double], to n: Int) -> [Double] {
    [Double](unsafeUninitializedCapacity: n) { buffer, initialized in
      for j in 0..<n { buffer[j] = j < values.count ? values[j] : 0 }
      initialized = n
    }
  }

  static func validateGrid(_ count: Int) throws(MinibatchError) {
    guard count <= PrivacyLossDistribution.maximumGridPoints else {
      throw .allocationTooLarge(
        bytes: count.multipliedReportingOverflow(by: 8).partialValue,
        limit: PrivacyLossDistribution.maximumGridPoints * 8,
        of: "privacy loss distribution (a larger discretization interval needs fewer points)")
    }
  }
}
