/// The settings of differentially private SGD (DP-SGD, Abadi et al. 2016) and its private
/// gradient:
///
/// ```
/// g̃ = ( Σ_{i ∈ batch} clip(g_i) + N(0, σ²·S²·I) ) / B
/// ```
///
/// with `clip` the ``clipping``, `S` its ``GradientClipping/sensitivity`` (`C` for flat clipping),
/// `σ` the ``noiseMultiplier`` and `B` the **expected** batch size `q·N` of Poisson sampling — a
/// fixed denominator, never the realised batch size, which would itself depend on the data. The
/// noise is drawn once per step (``GaussianNoise``), in Double, and added to the clipped sum
/// before the division. An empty batch still takes a step: the noise alone, as the analysis
/// assumes.
///
/// The privacy spent is tracked for the Poisson-subsampled Gaussian mechanism with sampling rate
/// `q` by the ``accountant`` (``PLDAccountant`` by default, or ``RDPAccountant``); ``delta`` is
/// the `δ` its `ε` is reported for.
public struct DifferentialPrivacy: Sendable, Hashable {
  /// How each example's gradient is bounded.
  public let clipping: GradientClipping
  /// `σ ≥ 0`: the noise's standard deviation over the sensitivity. `0` adds no noise (and gives
  /// `ε = ∞`), which is useful only to compare with non-private training.
  public let noiseMultiplier: Double
  /// `δ ∈ (0, 1)`, usually below `1/N`.
  public let delta: Double
  /// The noise's seed (reproducible runs, tests), or `nil` to seed it from the operating system's
  /// CSPRNG (see ``GaussianNoise``).
  public let noiseSeed: UInt64?
  /// Which accountant reports `ε` (and calibrates `σ` in ``calibrated(targetEpsilon:delta:samplingRate:steps:clipping:noiseSeed:accountant:)``):
  /// ``PrivacyAccountantKind/pld`` by default.
  public let accountant: PrivacyAccountantKind

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a clipping bound
  ///   `≤ 0` or NaN, an infinite bound with a noise multiplier `> 0`, a noise multiplier that is
  ///   negative or not finite, or `δ ∉ (0, 1)`.
  public init(
    clipping: GradientClipping, noiseMultiplier: Double, delta: Double, noiseSeed: UInt64? = nil,
    accountant: PrivacyAccountantKind = .pld
  ) throws(MinibatchError) {
    if case .perBlock(let bounds) = clipping {
      try clipping.validate(blockCount: bounds.count)
      try validateArgument(
        bounds, named: "per-block clipping bounds", expected: "at least one",
        !bounds.isEmpty)
    } else {
      try clipping.validate(blockCount: 1)
    }
    try validateArgument(
      noiseMultiplier, named: "noise multiplier", expected: "finite and ≥ 0",
      noiseMultiplier.isFinite && noiseMultiplier >= 0)
    if noiseMultiplier > 0 {
      try validateArgument(
        clipping.sensitivity, named: "clipping sensitivity",
        expected: "finite when the noise multiplier is > 0 (an infinite bound clips nothing)",
        clipping.sensitivity.isFinite)
    }
    try RDPAccountant.validate(delta: delta)
    self.clipping = clipping
    self.noiseMultiplier = noiseMultiplier
    self.delta = delta
    self.noiseSeed = noiseSeed
    self.accountant = accountant
  }

  /// Settings whose noise multiplier is the smallest reaching `targetEpsilon` after `steps` steps
  /// at sampling rate `q`, by the accountant:
  /// ``PLDAccountant/noiseMultiplier(targetEpsilon:samplingRate:steps:delta:discretization:tolerance:)``
  /// (to 0.1% in `σ`; the default) or
  /// ``RDPAccountant/noiseMultiplier(targetEpsilon:samplingRate:steps:delta:tolerance:orders:)``
  /// (to 0.01 in `ε`). The `σ` reaches the target either way.
  ///
  /// - Throws: the accountant's and the initialiser's errors.
  public static func calibrated(
    targetEpsilon: Double, delta: Double, samplingRate: Double, steps: Int,
    clipping: GradientClipping, noiseSeed: UInt64? = nil,
    accountant: PrivacyAccountantKind = .pld
  ) throws(MinibatchError) -> DifferentialPrivacy {
    let sigma = try accountant.noiseMultiplier(
      targetEpsilon: targetEpsilon, samplingRate: samplingRate, steps: steps, delta: delta)
    return try DifferentialPrivacy(
      clipping: clipping, noiseMultiplier: sigma, delta: delta, noiseSeed: noiseSeed,
      accountant: accountant)
  }

  /// The noise's standard deviation on the clipped **sum**, `σ·S`.
  public var noiseStandardDeviation: Double { noiseMultiplier * clipping.sensitivity }

  /// `(clippedSum + N(0, σ²S²·I)) / B`, the private gradient of one step, with the noise drawn
  /// from `noise` and added in Double: entry `j` is `Scalar((Double(s_j) + σS·z_j)·(1/B))`,
  /// rounded after each operation (no FMA contraction, so the result is the same on every
  /// instruction set). The multiplication by `1/B` rounds within an ulp of the division; a `B`
  /// below `2⁻¹⁰²⁴` (whose reciprocal overflows) gives a non-finite result, reported as such.
  /// Cost: one pass over `n` entries at vector width (the C kernel `minibatch_noise_add_*`; see
  /// ``GaussianNoise``).
  ///
  /// - Parameters:
  ///   - clippedSum: `Σ_i clip(g_i)` (``PerExampleGradientOperator/clippedSum(_:blocks:parallelism:)``),
  ///     or `n` zeros for an empty batch.
  ///   - expectedBatchSize: `B = q·N > 0`, the fixed denominator.
  ///   - noise: the generator the draws come from (advanced by the step).
  ///   - parallelism: threads for the noise; the draws are the same for any number (each chunk of
  ///     8,192 entries has a generator of its own, seeded from `noise`).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `B` not finite and
  ///   `> 0`; ``MinibatchError/nonFiniteValue(index:of:)`` if the result overflows `Scalar`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func noisyGradient<Scalar: BLASScalar>(
    clippedSum: consuming [Scalar], expectedBatchSize: Double, noise: inout GaussianNoise,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    try validateArgument(
      expectedBatchSize, named: "expected batch size", expected: "finite and > 0",
      expectedBatchSize.isFinite && expectedBatchSize > 0)
    // No noise (σ = 0) adds none, even with unbounded clipping (σ·S = 0·∞).
    let deviation = noiseStandardDeviation > 0 ? noiseStandardDeviation : 0
    let scale = 1 / expectedBatchSize
    // Consumed: a sum whose last reference the caller passes is noised in place, not copied.
    var gradient = consume clippedSum
    guard !gradient.isEmpty else { return gradient }
    let nonFinite = gradient.withUnsafeMutableBufferPointer { buffer in
      let entries = SendableMutablePointer(buffer.baseAddress!)
      let counts = SendableMutablePointer(
        UnsafeMutablePointer<Int>.allocate(capacity: GaussianNoise.chunkCount(buffer.count)))
      defer { counts.pointer.deallocate() }
      // Chunks of the vector draw from generators of their own (the C kernel's eight lanes are
      // seeded from each), so the threads share the work and the result does not depend on how
      // many there are.
      noise.forEachChunk(count: buffer.count, parallelism: parallelism) { chunk, chunkNoise in
        counts.pointer[chunk.lowerBound / GaussianNoise.chunkSize] = Scalar.addGaussianNoise(
          entries.pointer + chunk.lowerBound, count: chunk.count, standardDeviation: deviation,
          scale: scale, state: &chunkNoise.generator.state)
      }
      return (0..<GaussianNoise.chunkCount(buffer.count)).reduce(0) { $0 + counts.pointer[$1] }
    }
    if nonFinite > 0, let index = gradient.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(index: index, of: "private gradient")
    }
    return gradient
  }

}
