/// What one epoch of training did, handed to the trainer's callback.
public struct EpochReport: Sendable, Hashable {
  /// The epoch, 0-based.
  public var epoch: Int
  /// Mean over the epoch's examples of their loss `ℓ_i`, each taken at the parameters of the step
  /// that used it (the usual running training loss; weighted by example weights if given); 0 when
  /// the epoch took no step.
  public var meanLoss: Double
  /// Steps taken (batches whose example weights are all 0 are skipped and not counted).
  public var steps: Int
  /// Examples in the steps taken (all of them, or fewer when the partial batch is dropped or a
  /// batch was skipped).
  public var examples: Int
  /// The learning rate of this epoch.
  public var learningRate: Double
  /// Wall-clock seconds of the epoch's steps (not of the evaluation or the callback).
  public var seconds: Double
  /// Mean loss on the evaluation batch at the end of the epoch, if one was given.
  public var evaluationLoss: Double?
  /// Accuracy (fraction correct) on the evaluation batch at the end of the epoch, if one with
  /// class labels was given.
  public var evaluationAccuracy: Double?
  /// With differential privacy: the `ε` spent by all steps up to the end of this epoch (counting
  /// epochs from 0 with the same settings), for the settings' `δ`, by the settings'
  /// ``DifferentialPrivacy/accountant`` (``PLDAccountant`` unless chosen otherwise); `+∞` with
  /// noise multiplier 0.
  public var epsilon: Double?
  /// With differential privacy: the examples of this epoch whose gradient was scaled down by
  /// clipping.
  public var clippedExamples: Int?
  /// With ``MinibatchTrainer/noiseScaleDecay`` set: the moving average of every step's
  /// noise-scale estimate (``NoiseScaleAverage``) at the end of this epoch; its
  /// ``NoiseScaleEstimate/simpleNoiseScale`` is `B_simple`.
  public var noiseScale: NoiseScaleEstimate?

  /// Training throughput, examples per second.
  public var examplesPerSecond: Double { Double(examples) / seconds }
}

/// Where an epoch is, handed to ``MinibatchTrainer/onStep`` after every step (for progress
/// lines).
public struct StepProgress: Sendable, Hashable {
  /// The epoch, 0-based.
  public var epoch: Int
  /// Steps taken or skipped so far in this epoch (1 after the first).
  public var step: Int
  /// Batches in the epoch.
  public var stepsPerEpoch: Int
  /// Examples in the steps so far this epoch.
  public var examples: Int
  /// Seconds since the epoch started.
  public var seconds: Double
}
