/// DP-SGD as a stage of the trainer's one step, around whichever optimiser it has (as Opacus'
/// `DPOptimizer` wraps any optimiser): the accumulation clips every per-example gradient
/// (``clippedSum(of:parallelism:)``), the summed clipped state is made private by
/// ``privateGradient(clippedSum:parallelism:)`` — `(Σ clip(g_i) + N(0, σ²C²·I)) / B`, the noise
/// added in Double in the same expression as the one normalisation by the fixed `B` — and the
/// optimiser sees only that gradient. Every step is one phase step of the accountant's history.
struct PrivacyStage: Sendable {
  let settings: DifferentialPrivacy
  /// `B`, the fixed denominator (the expected batch size `q·N`, or the normalisation's own).
  let denominator: Double
  /// The model's parameter blocks, for per-block clipping.
  let blocks: ParameterBlocks
  /// `q`, the sampler's Poisson rate (global, with a collective).
  let samplingRate: Double
  /// Steps per epoch (every Poisson batch is a step, empty ones too).
  let stepsPerEpoch: Int

  init(
    settings: DifferentialPrivacy, denominator: Double, blocks: ParameterBlocks,
    samplingRate: Double, stepsPerEpoch: Int
  ) {
    self.settings = settings
    self.denominator = denominator
    self.blocks = blocks
    self.samplingRate = samplingRate
    self.stepsPerEpoch = stepsPerEpoch
  }

  /// One step's phase: `(σ, q, 1)`.
  var phase: PrivacyPhase {
    PrivacyPhase(noiseMultiplier: settings.noiseMultiplier, samplingRate: samplingRate, steps: 1)
  }

  /// The stage during `epoch`, with its noise generator: from the settings' noise seed and the
  /// epoch (a domain constant keeps the noise's stream apart from the sampler's for equal seeds),
  /// or, without one, from the system's entropy shared by every rank (every rank adds the same
  /// noise to the same global sum: it is added once).
  func startingEpoch(
    _ epoch: Int, collective: (any ReductionCollective)?
  ) throws(MinibatchError) -> PrivateEpoch {
    let noise: GaussianNoise
    if let seed = settings.noiseSeed {
      noise = GaussianNoise(
        seed: seed ^ 0x6E6F_6973_655F_6470
          ^ (UInt64(truncatingIfNeeded: epoch) &* 0xD1B5_4A32_D192_ED03))
    } else if let collective {
      noise = try GaussianNoise(sharedAcross: collective)
    } else {
      noise = GaussianNoise()
    }
    return PrivateEpoch(stage: self, noise: noise)
  }

  /// `Σ_i clip(g_i)` of one chunk (see ``PerExampleGradientOperator/clippedSum(_:blocks:parallelism:)``).
  func clippedSum<Scalar>(
    of gradients: some PerExampleGradientOperator<Scalar>, parallelism: Parallelism
  ) throws(MinibatchError) -> ClippedSum<Scalar> {
    try gradients.clippedSum(settings.clipping, blocks: blocks, parallelism: parallelism)
  }

  /// `ε` spent by the steps of `history`, for the settings' `δ`, by the settings' accountant.
  func epsilon(spentBy history: [PrivacyPhase]) throws(MinibatchError) -> Double {
    try settings.accountant.epsilon(phases: history, delta: settings.delta)
  }

  /// `history` with `phase` appended: merged into the last phase when `σ` and `q` are the same
  /// (the step count saturating at `Int.max`).
  static func recording(_ phase: PrivacyPhase, in history: [PrivacyPhase]) -> [PrivacyPhase] {
    var history = history
    if let last = history.last, last.noiseMultiplier == phase.noiseMultiplier,
      last.samplingRate == phase.samplingRate
    {
      let (steps, overflow) = last.steps.addingReportingOverflow(phase.steps)
      history[history.count - 1].steps = overflow ? Int.max : steps
    } else {
      history.append(phase)
    }
    return history
  }

  /// `phase` repeated for `epochs` epochs of ``stepsPerEpoch`` steps (saturating at `Int.max`).
  func phase(epochs: Int) -> PrivacyPhase {
    let (steps, overflow) = epochs.multipliedReportingOverflow(by: stepsPerEpoch)
    var repeated = phase
    repeated.steps = overflow ? Int.max : steps
    return repeated
  }
}

/// The privacy stage during one epoch: the stage and the epoch's noise generator, advanced by
/// every step.
struct PrivateEpoch: Sendable {
  let stage: PrivacyStage
  var noise: GaussianNoise

  /// The private gradient of the step from the global clipped sum (`n` zeros for an empty batch):
  /// ``DifferentialPrivacy/noisyGradient(clippedSum:expectedBatchSize:noise:parallelism:)`` with
  /// the epoch's generator.
  mutating func privateGradient<Scalar: BLASScalar>(
    clippedSum: consuming [Scalar], parallelism: Parallelism
  ) throws(MinibatchError) -> [Scalar] {
    try stage.settings.noisyGradient(
      clippedSum: clippedSum, expectedBatchSize: stage.denominator, noise: &noise,
      parallelism: parallelism)
  }
}
