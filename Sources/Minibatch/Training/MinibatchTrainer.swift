import Dispatch

/// Mini-batch training: per epoch, the sampler's batches; per batch, **one step** (the same
/// function for one process or many, private or not):
///
/// ```
/// sample → gather (in physical chunks of ≤ maximumPhysicalBatchSize) → J (stored, factored or
/// streamed) → accumulate raw state (Σ v_i·g_i, or Σ clip(g_i) with privacy) → sum over the ranks
/// → normalise once (TrainingNormalization) → noise (privacy) → optimiser
/// ```
///
/// 1. the model's forward and backward passes give the per-example losses and `J` (`k × n`) in
///    the chosen ``GradientRepresentation`` — factored for the built-in dense models by default,
///    so `J` is never formed;
/// 2. the accumulation reduces `J` with `v_i = e_i` (example weights, 1 without them) into raw
///    sums in Double (``GradientAccumulator``), or, with ``privacy``, into the clipped sum
///    `Σ_i clip(g_i)` (``ClippedSum``);
/// 3. with a ``collective`` the raw state is summed over the ranks (the accumulators'
///    `allreduce`); the serial path is the same with a group of one;
/// 4. the ``normalization`` divides the summed state once by its denominator `D`; with privacy
///    the noise `N(0, σ²C²)` is added to the clipped sum in Double in the same expression, so the
///    gradient is `(Σ clip(g_i) + noise)/B` (Abadi et al.'s DP-SGD);
/// 5. the optimiser's update from that gradient. For plain SGD in one process, whose step is
///    linear, steps 2–5 fold into the reduction itself, onto the parameters
///    (`alpha = −η/D·e_i`, `beta = 1 − ηλ`): one sweep of `J`.
///
/// ```swift
/// var trainer = MinibatchTrainer(
///   model: model, optimizer: try StochasticGradientDescent(), sampler: sampler,
///   schedule: .constant(0.1))
/// try trainer.train(parameters: &w, data: train, epochs: 10) { report, _ in print(report.meanLoss) }
/// ```
///
/// The optimiser's state lives in ``optimizer``, the privacy spent in ``privacyHistory``, and
/// both carry over between calls to
/// ``train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)``, as does the
/// set-up that depends on the model only (whether it gives factors) and the one stored-`J`
/// buffer (grown to the largest physical batch, never one per batch size).
public struct MinibatchTrainer<Model: PerExampleGradientModel, Opt: Optimizer>: Sendable
where Opt.Scalar == Model.Scalar {
  public typealias Scalar = Model.Scalar

  public let model: Model
  public var optimizer: Opt
  public let sampler: BatchSampler
  public let schedule: LearningRateSchedule
  /// How `J` is represented (``GradientRepresentation/automatic``: factored when the model can).
  public let representation: GradientRepresentation
  /// What each batch's weighted gradient sum is divided by.
  public let normalization: TrainingNormalization
  /// Threads for the package's own kernels (writing and reducing `J`).
  public let parallelism: Parallelism
  /// Differentially private training (DP-SGD), or `nil`: a stage around the ``optimizer``
  /// (whichever it is). With it the accumulation clips every per-example gradient
  /// (``DifferentialPrivacy/clipping``), and every step's gradient is
  /// ``DifferentialPrivacy/noisyGradient(clippedSum:expectedBatchSize:noise:parallelism:)``: the
  /// batch's clipped sum plus noise, divided by the denominator the ``normalization`` names,
  /// which must be ``TrainingNormalization/expectedBatchSize`` (`q·N`) or
  /// ``TrainingNormalization/fixedDenominator(_:)``; the sampler must be Poisson, and empty
  /// batches take a noise-only step. Every step is recorded in ``privacyHistory``.
  public let privacy: DifferentialPrivacy?
  /// With ``privacy``: the steps spent so far, as phases of equal noise multiplier `σ` and
  /// sampling rate `q` (consecutive equal phases merged), which the accountant composes for every
  /// ``EpochReport/epsilon``. Training appends its steps; it carries over between calls, so a
  /// run that changes `σ` or the batch size between calls (a new trainer whose
  /// `privacyHistory` is set to the previous one's) is accounted exactly, phase by phase. Set it
  /// when resuming a run in a new process (the command-line program keeps it in its save file).
  ///
  /// When it is empty and a call starts at `firstEpoch > 0`, the epochs `0..<firstEpoch` are
  /// taken to have been trained at this trainer's settings (and recorded so): the resume of a
  /// run that did not keep its history.
  public var privacyHistory: [PrivacyPhase] = []
  /// Called after every batch of every epoch (taken or skipped), on the training thread; `nil`
  /// (the default) for no calls. For progress reporting: keep it cheap.
  public var onStep: (@Sendable (StepProgress) -> Void)?
  /// Track the gradient noise scale (McCandlish et al. 2018): every step of at least 2 examples
  /// also computes its batch's ``NoiseScaleEstimate`` (the squared per-example norms and, with
  /// example weights or plain SGD, one more reduction), folded into a moving average with this
  /// decay (``NoiseScaleAverage``) that each ``EpochReport/noiseScale`` reports. The estimate is
  /// of the unweighted gradients, whatever the example weights. `nil` (the default): not
  /// tracked. Not with ``privacy`` (the statistic is of the unclipped, noiseless gradients).
  public var noiseScaleDecay: Double?
  /// Virtual steps (gradient accumulation): the most examples one physical chunk may hold, or
  /// `nil` (the default) for one chunk per batch. A logical batch (shuffled or Poisson) of `k`
  /// examples is processed in `⌈k/M⌉` chunks of at most `M`, whose raw state is accumulated and
  /// normalised once: the step is that of the whole batch (the same bits when `M ≥ k`, equal to
  /// rounding otherwise, since the partial sums differ), while memory for `J` and the
  /// activations is bounded by `M` examples. With a ``collective`` it bounds each rank's part.
  /// Must be `≥ 1`.
  public var maximumPhysicalBatchSize: Int?
  /// The ranks that train together (data parallel), or `nil` for this process alone. Every rank
  /// runs the same ``train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)``
  /// with the same parameters and settings (checked collectively before the first step). Each
  /// computes the global batches from the sampler's shared seed and `J` for its part of each:
  /// its contiguous slice (``ReductionCollective/slice(of:)``) when every rank holds the whole
  /// data set, or, when the ranks hold **shards** (sources whose
  /// ``ExampleSource/heldExamples`` partition `0..<N`), the batch's examples in its shard. The
  /// raw state is summed over the ranks (``GradientAccumulator/allreduce(over:)``,
  /// ``ClippedSum/allreduce(over:)``) and normalised once; every rank then takes the same
  /// optimiser step, so the parameters stay equal on every rank; they equal a single process's
  /// on the same global batches to rounding (the partial sums differ). With ``privacy`` every
  /// rank adds the same noise once (seeded alike: ``GaussianNoise/init(sharedAcross:)`` without
  /// a noise seed); the accountant sees the global sampling rate. The evaluation batch is split
  /// the same way and its loss and accuracy summed, so every rank reports the same figures. A
  /// local failure, or an `onEpoch` that throws on some ranks only, makes every rank throw
  /// ``MinibatchError/failedOnRank(rank:reason:)``. ``noiseScaleDecay`` tracks the global batch's
  /// noise scale.
  public let collective: (any ReductionCollective)?

  /// What depends on the model only, found on the first call and kept: whether it gives layer
  /// factors.
  var modelGivesFactors: Bool?
  /// The one stored-`J` buffer (models without factors, or ``GradientRepresentation/stored``),
  /// reshaped for each physical chunk within the capacity of the largest so far.
  var storedBuffer: StoredGradientBuffer<Scalar>

  public init(
    model: Model, optimizer: Opt, sampler: BatchSampler, schedule: LearningRateSchedule,
    representation: GradientRepresentation = .automatic,
    normalization: TrainingNormalization = .datasetWeightTotal,
    parallelism: Parallelism = .automatic,
    privacy: DifferentialPrivacy? = nil, collective: (any ReductionCollective)? = nil
  ) {
    self.privacy = privacy
    self.collective = collective
    self.model = model
    self.optimizer = optimizer
    self.sampler = sampler
    self.schedule = schedule
    self.representation = representation
    self.normalization = normalization
    self.parallelism = parallelism
    storedBuffer = StoredGradientBuffer()
  }

  /// Trains for `epochs` epochs, numbered from `firstEpoch` (which selects the shuffles and the
  /// learning rates, so training can resume), calling `onEpoch` after each with the report and
  /// the parameters at the end of the epoch. With an `evaluation` batch (a validation or test
  /// set), each report also carries its mean loss and, for class labels, its accuracy.
  ///
  /// `data` is any ``ExampleSource``: a ``Batch`` in memory, a memory-mapped file, or (with a
  /// ``collective``) this rank's shard; the trainer gathers only each chunk's examples.
  ///
  /// Everything is validated before the first step: the data against the model and the sampler
  /// (in pieces, for a source not in memory), the finiteness of every input and real-valued
  /// target (naming its row and column), the evaluation batch, the example weights (one per
  /// example, finite, ≥ 0, not all 0), the representation (factored needs a dense model), the
  /// normalisation, the schedule and the optimiser, `epochs ≥ 0`,
  /// ``maximumPhysicalBatchSize`` `≥ 1`, and with privacy the `ε` of the call's last epoch. A
  /// batch whose example weights are all 0 is skipped (not a step).
  ///
  /// - Throws: those validation errors (nothing changed);
  ///   ``MinibatchError/nonFiniteLoss(epoch:batch:loss:)`` when a batch's mean loss is NaN or
  ///   infinite, ``MinibatchError/nonFiniteStep(epoch:batch:quantity:)`` when its gradient or the
  ///   step it produced overflowed: `parameters`, ``optimizer`` and ``privacyHistory`` are then
  ///   those after the last good step. Errors thrown by `onEpoch` are passed on (with a
  ///   ``collective``, as ``MinibatchError/failedOnRank(rank:reason:)`` on every rank).
  public mutating func train(
    parameters: inout [Scalar], data: some ExampleSource<Scalar>, epochs: Int,
    evaluation: Batch<Scalar>? = nil, exampleWeights: [Scalar]? = nil, firstEpoch: Int = 0,
    onEpoch: (EpochReport, _ parameters: [Scalar]) throws -> Void = { _, _ in }
  ) throws {
    let setup = try agreedSetup(
      parameters: parameters, data: data, epochs: epochs, evaluation: evaluation,
      exampleWeights: exampleWeights, firstEpoch: firstEpoch)
    modelGivesFactors = setup.modelGivesFactors
    privacyHistory = setup.privacyHistory
    var noiseScale = setup.noiseScale
    for epoch in firstEpoch..<(firstEpoch + epochs) {
      let learningRate = Scalar(try schedule.rate(epoch: epoch))
      let start = DispatchTime.now().uptimeNanoseconds
      var totals = StepTotals()
      var steps = 0
      var privateEpoch = try setup.privacy.map { (stage) throws(MinibatchError) in
        try stage.startingEpoch(epoch, collective: collective)
      }
      let batches = sampler.batches(epoch: epoch)
      for (index, indices) in batches.enumerated() {
        defer {
          onStep?(
            StepProgress(
              epoch: epoch, step: index + 1, stepsPerEpoch: batches.count,
              examples: totals.examples,
              seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        let position = StepPosition(epoch: epoch, batch: index)
        guard
          let taken = try step(
            indices, data: data, exampleWeights: exampleWeights, setup: setup,
            privacy: &privateEpoch, noiseScale: &noiseScale, parameters: &parameters,
            learningRate: learningRate, at: position)
        else { continue }
        totals.add(taken)
        steps += 1
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      var report = EpochReport(
        epoch: epoch, meanLoss: totals.lossWeight == 0 ? 0 : totals.lossSum / totals.lossWeight,
        steps: steps, examples: totals.examples, learningRate: Double(learningRate),
        seconds: seconds)
      report.noiseScale = noiseScale?.average
      if let stage = setup.privacy {
        report.epsilon =
          epoch == firstEpoch + epochs - 1
          ? setup.lastEpsilon : try stage.epsilon(spentBy: privacyHistory)
        report.clippedExamples = totals.clippedExamples
      }
      if let evaluation {
        (report.evaluationLoss, report.evaluationAccuracy) = try evaluate(
          evaluation, parameters: parameters)
      }
      if let collective {
        // A callback that throws on some ranks only must not leave the others waiting.
        try collective.agreeing { try onEpoch(report, parameters) }
      } else {
        try onEpoch(report, parameters)
      }
    }
  }

  /// The evaluation batch's mean loss and, for class labels, accuracy. With a ``collective`` each
  /// rank evaluates its slice and one sum adds the loss sums and correct counts (every rank gets
  /// the same figures, even where the ranks' BLAS kernels differ).
  func evaluate(
    _ evaluation: Batch<Scalar>, parameters: [Scalar]
  ) throws(MinibatchError) -> (loss: Double, accuracy: Double?) {
    let hasLabels: Bool
    if case .labels = evaluation.targets { hasLabels = true } else { hasLabels = false }
    guard let collective else {
      let loss = Double(try model.meanLoss(parameters: parameters, batch: evaluation))
      return (loss, hasLabels ? try model.accuracy(parameters: parameters, batch: evaluation) : nil)
    }
    let slice = collective.slice(of: evaluation.count)
    var sums = try collective.agreeing { () throws -> [Double] in
      guard !slice.isEmpty else { return [0, 0] }
      let part = try evaluation.gathering(slice)
      let count = Double(part.count)
      let loss = Double(try model.meanLoss(parameters: parameters, batch: part)) * count
      let correct =
        hasLabels ? (try model.accuracy(parameters: parameters, batch: part) * count).rounded() : 0
      return [loss, correct]
    }
    try collective.sum(&sums)
    let count = Double(evaluation.count)
    return (sums[0] / count, hasLabels ? sums[1] / count : nil)
  }
}

/// Where a step is, for its errors.
struct StepPosition {
  var epoch: Int
  var batch: Int

  /// ``MinibatchError/nonFiniteStep(epoch:batch:quantity:)`` at this step.
  func nonFiniteStep(_ quantity: String) -> MinibatchError {
    .nonFiniteStep(epoch: epoch, batch: batch, quantity: quantity)
  }

  /// An overflow inside a stage (``MinibatchError/nonFiniteValue(index:of:)``) as the step's
  /// ``MinibatchError/nonFiniteStep(epoch:batch:quantity:)``, naming `quantity` (or, `nil`, what
  /// the stage named); other errors unchanged.
  func translating(_ error: MinibatchError, as quantity: String? = nil) -> MinibatchError {
    guard case .nonFiniteValue(_, let what) = error else { return error }
    return nonFiniteStep(quantity ?? what)
  }
}

/// What the steps of an epoch contributed to its report (global figures with a collective).
struct StepTotals {
  /// `Σ e_i·ℓ_i` and `Σ e_i` over the examples of the steps (weights 1 without example weights).
  var lossSum = 0.0
  var lossWeight = 0.0
  var examples = 0
  var clippedExamples = 0

  mutating func add(_ other: StepTotals) {
    lossSum += other.lossSum
    lossWeight += other.lossWeight
    examples += other.examples
    clippedExamples += other.clippedExamples
  }
}
