import Foundation

/// The **gradient noise scale** of McCandlish et al. (2018), "An Empirical Model of Large-Batch
/// Training", appendix A: how large a batch is worth it.
///
/// With `G` the true gradient and `Σ` the covariance of one example's gradient, a batch mean of
/// `B` examples has `E‖ḡ_B‖² = |G|² + tr(Σ)/B`. Two batch sizes `B_s < B_b` with measured
/// `‖ḡ_s‖²`, `‖ḡ_b‖²` give unbiased estimates
///
/// ```
/// |G|² ≈ (B_b·‖ḡ_b‖² − B_s·‖ḡ_s‖²) / (B_b − B_s)
/// S = tr(Σ) ≈ (‖ḡ_s‖² − ‖ḡ_b‖²) / (1/B_s − 1/B_b)
/// B_simple = S / |G|²
/// ```
///
/// Within one batch of `k` examples, the per-example gradients are `k` batches of size 1: with
/// `B_s = 1`, `‖ḡ_s‖² = (1/k)·Σ_i ‖g_i‖²` (their average) and `B_b = k`, `‖ḡ_b‖² = ‖ḡ‖²`. Either
/// estimate is noisy (`|G|²` may even come out negative); ``NoiseScaleAverage`` smooths the two
/// parts over steps before dividing, as the paper does.
public struct NoiseScaleEstimate: Sendable, Hashable {
  /// The unbiased estimate of `|G|²` (may be negative for a noisy batch).
  public var gradientSquaredNorm: Double
  /// The unbiased estimate of `S = tr(Σ)`.
  public var traceOfCovariance: Double

  /// `B_simple = tr(Σ)/|G|²`; `+∞` when the estimate of `|G|²` is not positive.
  public var simpleNoiseScale: Double {
    gradientSquaredNorm > 0 ? traceOfCovariance / gradientSquaredNorm : .infinity
  }

  public init(gradientSquaredNorm: Double, traceOfCovariance: Double) {
    self.gradientSquaredNorm = gradientSquaredNorm
    self.traceOfCovariance = traceOfCovariance
  }

  /// The estimate from two batch sizes `small < big` and their mean gradients' squared norms.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless
  ///   `1 ≤ small < big` and both squared norms are finite and `≥ 0`.
  public init(
    smallBatch small: Int, smallSquaredNorm: Double, bigBatch big: Int, bigSquaredNorm: Double
  ) throws(MinibatchError) {
    try validateArgument(small, named: "small batch size", expected: "≥ 1", small >= 1)
    try validateArgument(
      big, named: "big batch size", expected: "> the small batch size \(small)", big > small)
    for (name, value) in [("small", smallSquaredNorm), ("big", bigSquaredNorm)] {
      try validateArgument(
        value, named: "\(name) batch's squared gradient norm", expected: "finite and ≥ 0",
        value.isFinite && value >= 0)
    }
    let (s, b) = (Double(small), Double(big))
    gradientSquaredNorm = (b * bigSquaredNorm - s * smallSquaredNorm) / (b - s)
    traceOfCovariance = (smallSquaredNorm - bigSquaredNorm) / (1 / s - 1 / b)
  }
}

/// Exponential moving averages of the two parts of ``NoiseScaleEstimate``, divided only when
/// read: `B_simple ≈ EMA(tr Σ) / EMA(|G|²)` (McCandlish et al. 2018, appendix A).
public struct NoiseScaleAverage: Sendable, Hashable {
  /// The weight of the past, `β ∈ [0, 1)`: each update keeps `β` of the average.
  public let decay: Double
  /// The averages, bias-corrected for the first updates (`1 − β^t`), or `nil` before any.
  public private(set) var average: NoiseScaleEstimate?
  private var raw = NoiseScaleEstimate(gradientSquaredNorm: 0, traceOfCovariance: 0)
  private var updates = 0

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 ≤ β < 1`.
  public init(decay: Double = 0.95) throws(MinibatchError) {
    try validateArgument(decay, named: "decay", expected: "in [0, 1)", decay >= 0 && decay < 1)
    self.decay = decay
  }

  /// Folds in one estimate (non-finite parts are skipped).
  public mutating func update(_ estimate: NoiseScaleEstimate) {
    guard estimate.gradientSquaredNorm.isFinite, estimate.traceOfCovariance.isFinite else { return }
    raw.gradientSquaredNorm =
      decay * raw.gradientSquaredNorm
      + (1 - decay) * estimate.gradientSquaredNorm
    raw.traceOfCovariance = decay * raw.traceOfCovariance + (1 - decay) * estimate.traceOfCovariance
    updates += 1
    let correction = 1 - pow(decay, Double(updates))
    average = NoiseScaleEstimate(
      gradientSquaredNorm: raw.gradientSquaredNorm / correction,
      traceOfCovariance: raw.traceOfCovariance / correction)
  }

  /// The smoothed `B_simple`, or `nil` before any update.
  public var simpleNoiseScale: Double? { average?.simpleNoiseScale }
}

extension PerExampleGradientOperator {
  /// The batch's own noise-scale estimate: `B_s = 1` with the average of the squared row norms,
  /// `B_b = k` with the squared norm of the mean (see ``NoiseScaleEstimate``). Costs the norms and
  /// one reduction.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `k < 2`;
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` when a squared norm exceeds Double's range
  ///   (the estimator needs the squares; in Float they never do).
  public func noiseScale(parallelism: Parallelism = .automatic) throws(MinibatchError)
    -> NoiseScaleEstimate
  {
    try validateArgument(
      exampleCount, named: "examples", expected: "≥ 2 for a noise scale", exampleCount >= 2)
    let norms = squaredRowNorms(parallelism: parallelism)
    try validateFinite(norms, of: "squared per-example gradient norms")
    let meanNorm = squaredNorm(self.mean(parallelism: parallelism))
    return try NoiseScaleEstimate(
      smallBatch: 1, smallSquaredNorm: norms.reduce(0, +) / Double(exampleCount),
      bigBatch: exampleCount, bigSquaredNorm: meanNorm)
  }
}
