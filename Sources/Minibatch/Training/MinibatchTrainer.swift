import Dispatch

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

/// How the trainer normalises each batch's weighted gradient sum `S = Σ_batch e_i·g_i` (example
/// weights `e_i`, 1 without them) into the gradient its optimiser sees; each case maps to a
/// ``GradientNormalization``.
public enum TrainingNormalization: Sendable, Hashable, CustomStringConvertible {
  /// `S / (k·W/N)` for a batch of `k` from `N` examples of weight total `W`: an unbiased estimate
  /// of the gradient of the data set's weighted mean loss, so weights act across batches (the
  /// default; without example weights it is the batch mean `S/k`).
  case datasetWeightTotal
  /// `S / Σ_batch e_i`: each batch's own weighted mean (PyTorch's weighted mean). A batch of one
  /// example then ignores its weight.
  case weightTotal
  /// `S / B` for a fixed `B > 0` (DP-SGD's expected batch size).
  case fixedDenominator(Double)
  /// `S` itself.
  case sum
  /// `S / B` with `B` the sampler's expected batch size (``BatchSampler/expectedBatchSize``:
  /// `q·N` under Poisson sampling, the batch size otherwise), never the realised size: the
  /// normalisation DP-SGD requires.
  case expectedBatchSize

  public var description: String {
    switch self {
    case .datasetWeightTotal: return "data set weight total"
    case .weightTotal: return "batch weight total"
    case .fixedDenominator(let b): return "fixed denominator \(b)"
    case .sum: return "sum"
    case .expectedBatchSize: return "expected batch size"
    }
  }

  /// The ``GradientNormalization`` for a data set of `exampleCount` examples of weight total
  /// `weightTotal`.
  func gradientNormalization(
    weightTotal: Double, exampleCount: Int, expectedBatchSize: Double
  ) -> GradientNormalization {
    switch self {
    case .datasetWeightTotal: return .datasetWeightTotal(weightTotal, exampleCount: exampleCount)
    case .weightTotal: return .weightTotal
    case .fixedDenominator(let b): return .fixedDenominator(b)
    case .sum: return .sum
    case .expectedBatchSize: return .fixedDenominator(expectedBatchSize)
    }
  }
}

/// Mini-batch training. Per epoch, the sampler's batches; per batch:
///
/// 1. the model's forward and backward passes give the per-example losses and `J` (`k × n`) in
///    the chosen ``GradientRepresentation`` — factored for the built-in dense models by default,
///    so `J` is never formed;
/// 2. one reduction `Jᵀv` with `v_i = e_i/D`: example weights `e_i` (1 without them) divided by
///    the ``TrainingNormalization``'s denominator `D` (scaled inside the sum);
/// 3. the optimiser's update from that gradient — for plain SGD, whose step is linear, the
///    reduction itself applies it onto the parameters (`alpha = −η`, `beta = 1 − ηλ`).
///
/// ```swift
/// var trainer = MinibatchTrainer(
///   model: model, optimizer: try StochasticGradientDescent(), sampler: sampler,
///   schedule: .constant(0.1))
/// try trainer.train(parameters: &w, data: train, epochs: 10) { report, _ in print(report.meanLoss) }
/// ```
///
/// The optimiser's state lives in ``optimizer`` and carries over between calls to
/// ``train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)``.
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
  /// Differentially private training (DP-SGD), or `nil`. With it every step's gradient is
  /// ``DifferentialPrivacy/noisyGradient(clippedSum:expectedBatchSize:noise:parallelism:)``: the
  /// batch's clipped sum plus noise, divided by the denominator the ``normalization`` names,
  /// which must be ``TrainingNormalization/expectedBatchSize`` (`q·N`) or
  /// ``TrainingNormalization/fixedDenominator(_:)``; the sampler must be Poisson, and empty
  /// batches take a noise-only step.
  public let privacy: DifferentialPrivacy?
  /// Called after every batch of every epoch (taken or skipped), on the training thread; `nil`
  /// (the default) for no calls. For progress reporting: keep it cheap.
  public var onStep: (@Sendable (StepProgress) -> Void)?
  /// Track the gradient noise scale (McCandlish et al. 2018): every step of at least 2 examples
  /// also computes its batch's ``PerExampleGradientOperator/noiseScale(parallelism:)`` (the
  /// norms and one more reduction), folded into a moving average with this decay
  /// (``NoiseScaleAverage``) that each ``EpochReport/noiseScale`` reports. `nil` (the default):
  /// not tracked. Not with ``privacy`` (the statistic is of the unclipped, noiseless gradients).
  public var noiseScaleDecay: Double?
  /// The ranks that train together (data parallel), or `nil` for this process alone. Every rank
  /// runs the same ``train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)``
  /// with the same data, parameters and settings (checked collectively before the first step):
  /// each computes the global batches from the sampler's shared seed, writes `J` for its
  /// contiguous slice of each (``ReductionCollective/slice(of:)``), and one
  /// ``ReductionCollective/sum(_:)`` per step of `[S (n), V, m, loss sums, failures]` gives the
  /// global raw state, normalised once. Every rank then takes the same optimiser step, so the
  /// parameters stay equal on every rank; they equal a single process's on the same global
  /// batches to rounding (the partial sums differ). With ``privacy`` the clipped sums are summed
  /// and every rank adds the same noise once (seeded alike: ``GaussianNoise/init(sharedAcross:)``
  /// without a noise seed); the accountant sees the global sampling rate. The evaluation batch
  /// is split the same way and its loss and accuracy summed, so every rank reports the same
  /// figures. A local failure, or an `onEpoch` that throws on some ranks only, makes every rank
  /// throw ``MinibatchError/failedOnRank(rank:reason:)``. ``noiseScaleDecay`` tracks the
  /// global batch's noise scale (not with example weights).
  public let collective: (any ReductionCollective)?

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
  }

  /// Trains for `epochs` epochs, numbered from `firstEpoch` (which selects the shuffles and the
  /// learning rates, so training can resume), calling `onEpoch` after each with the report and
  /// the parameters at the end of the epoch. With an `evaluation` batch (a validation or test
  /// set), each report also carries its mean loss and, for class labels, its accuracy.
  ///
  /// Everything is validated before the first step: the data against the model and the sampler,
  /// the finiteness of every input and real-valued target (naming its row and column),
  /// the evaluation batch, the example weights (one per example, finite, ≥ 0, not all 0), the
  /// representation (factored needs a dense model), the normalisation, the schedule and the
  /// optimiser, `epochs ≥ 0`. A batch whose example weights are all 0 is skipped (not a step).
  ///
  /// - Throws: those validation errors (nothing changed);
  ///   ``MinibatchError/nonFiniteLoss(epoch:batch:loss:)`` when a batch's mean loss is NaN or
  ///   infinite, ``MinibatchError/nonFiniteStep(epoch:batch:quantity:)`` when its gradient or the
  ///   step it produced overflowed: `parameters` and ``optimizer`` are then those after the last
  ///   good step. Errors thrown by `onEpoch` are passed on (with a ``collective``, as
  ///   ``MinibatchError/failedOnRank(rank:reason:)`` on every rank).
  public mutating func train(
    parameters: inout [Scalar], data: some ExampleSource<Scalar>, epochs: Int,
    evaluation: Batch<Scalar>? = nil, exampleWeights: [Scalar]? = nil, firstEpoch: Int = 0,
    onEpoch: (EpochReport, _ parameters: [Scalar]) throws -> Void = { _, _ in }
  ) throws {
    let setup = try agreedSetup(
      parameters: parameters, data: data, epochs: epochs, evaluation: evaluation,
      exampleWeights: exampleWeights, firstEpoch: firstEpoch)
    let (batchNormalization, privateDenominator, usesStoredJ) =
      (setup.normalization, setup.privateDenominator, setup.usesStoredJ)
    var noiseScale = setup.noiseScale
    var storedBuffers: [Int: PerExampleGradients<Scalar>] = [:]
    /// The batch's stored J, written by `writer` (reused between batches of the same size).
    func storedMatrix(k: Int) throws(MinibatchError) -> PerExampleGradients<Scalar> {
      if let reused = storedBuffers.removeValue(forKey: k) { return reused }
      return try PerExampleGradients(k: k, n: model.parameterCount)
    }
    for epoch in firstEpoch..<(firstEpoch + epochs) {
      let learningRate = Scalar(try schedule.rate(epoch: epoch))
      let start = DispatchTime.now().uptimeNanoseconds
      var lossSum = 0.0
      var lossWeight = 0.0
      var examples = 0
      var steps = 0
      var clippedExamples = 0
      var noise = try privacy.map { (privacy) throws(MinibatchError) in
        if let seed = privacy.noiseSeed {
          // A domain constant keeps the noise's stream apart from the sampler's for equal seeds.
          return GaussianNoise(
            seed: seed ^ 0x6E6F_6973_655F_6470
              ^ (UInt64(truncatingIfNeeded: epoch) &* 0xD1B5_4A32_D192_ED03))
        }
        // Every rank adds the same noise to the same global sum: it is added once.
        return try collective.map { (collective) throws(MinibatchError) in
          try GaussianNoise(sharedAcross: collective)
        } ?? GaussianNoise()
      }
      let batches = sampler.batches(epoch: epoch)
      for (index, indices) in batches.enumerated() {
        defer {
          onStep?(
            StepProgress(
              epoch: epoch, step: index + 1, stepsPerEpoch: batches.count, examples: examples,
              seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        if let collective {
          let step = try collectiveStep(
            collective, indices: indices, data: data, exampleWeights: exampleWeights,
            normalization: batchNormalization, privateDenominator: privateDenominator,
            usesStoredJ: usesStoredJ, storedBuffers: &storedBuffers, noise: &noise,
            noiseScale: &noiseScale, parameters: &parameters, learningRate: learningRate,
            epoch: epoch, batch: index)
          guard let step else { continue }
          lossSum += step.lossSum
          lossWeight += step.lossWeight
          examples += step.examples
          clippedExamples += step.clippedExamples
          steps += 1
          continue
        }
        if let privacy, let privateDenominator {
          // DP-SGD: clipped sum + noise over the fixed denominator; empty batches included.
          let (losses, clipped) = try privateStep(
            privacy, indices: indices, data: data, denominator: privateDenominator,
            usesStoredJ: usesStoredJ, storedBuffers: &storedBuffers, noise: &noise!,
            parameters: &parameters, learningRate: learningRate, epoch: epoch, batch: index)
          lossSum += losses.reduce(0) { $0 + Double($1) }
          lossWeight += Double(losses.count)
          examples += losses.count
          clippedExamples += clipped
          steps += 1
          continue
        }
        if indices.isEmpty { continue }  // a Poisson batch with no example: nothing to learn from
        let batch = try data.gathering(indices)
        let weights = exampleWeights.map { w in indices.map { w[$0] } }
        if let weights, weights.allSatisfy({ $0 == 0 }) { continue }  // nothing to learn from
        let stopped = { (quantity: String) in
          MinibatchError.nonFiniteStep(epoch: epoch, batch: index, quantity: quantity)
        }

        // J: a writer for the stored matrix, or an operator (factored or streamed).
        let losses: [Scalar]
        var writer: PerExampleRowWriter<Scalar>?
        var gradients: (any PerExampleGradientOperator<Scalar>)?
        if usesStoredJ {
          (writer, losses) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
        } else {
          (gradients, losses) = try model.perExampleGradients(
            parameters: parameters, batch: batch, representation: representation,
            parallelism: parallelism)
        }
        /// The batch's noise-scale estimate into the moving average, from whichever `J` the
        /// step has (the stored one once written, so the writer is not run again).
        func trackNoiseScale(_ batchGradients: some PerExampleGradientOperator<Scalar>) {
          guard noiseScale != nil, batch.count >= 2,
            let estimate = try? batchGradients.noiseScale(parallelism: parallelism)
          else { return }
          noiseScale!.update(estimate)
        }
        if let gradients { trackNoiseScale(gradients) }
        let (batchLoss, batchLossWeight) = Self.weightedLoss(losses, weights: weights)
        guard batchLoss.isFinite else {
          throw MinibatchError.nonFiniteLoss(
            epoch: epoch, batch: index, loss: batchLoss / batchLossWeight)
        }

        if let (gradientScale, parameterScale) = optimizer.linearStep(learningRate: learningRate) {
          // The accumulator's add-then-normalise folded into one product onto the parameters:
          // v_i = e_i/D (scaled inside the sum), alpha = −η, beta = 1 − ηλ.
          let v = weights ?? filled(1, count: batch.count)
          let batchWeight =
            weights.map { $0.reduce(0.0) { $0 + Double($1) } } ?? Double(batch.count)
          let denominator = try batchNormalization.denominator(
            weightTotal: batchWeight, exampleCount: batch.count)
          let scaled = try scaledReductionVector(v, denominator: denominator)
          var updated = parameters
          if let writer {
            var stored = try storedMatrix(k: batch.count)
            try stored.write(
              writer, reducingWith: scaled, alpha: -gradientScale, beta: parameterScale,
              into: &updated, parallelism: parallelism)
            trackNoiseScale(stored)
            storedBuffers[batch.count] = stored
          } else {
            try gradients!.reduce(
              with: scaled, alpha: -gradientScale, beta: parameterScale, into: &updated,
              parallelism: parallelism)
          }
          guard allFinite(updated) else { throw stopped("parameters after the step") }
          parameters = updated
        } else {
          // Raw sums, then the named normalisation, then the optimiser sees a gradient.
          var accumulator = try GradientAccumulator<Scalar>(parameterCount: model.parameterCount)
          let gradient: [Scalar]
          do throws(MinibatchError) {
            if let writer {
              var stored = try storedMatrix(k: batch.count)
              try stored.write(writer, parallelism: parallelism)
              trackNoiseScale(stored)
              try accumulator.add(stored, reductionWeights: weights, parallelism: parallelism)
              storedBuffers[batch.count] = stored
            } else {
              try accumulator.add(gradients!, reductionWeights: weights, parallelism: parallelism)
            }
            gradient = try accumulator.gradient(normalizedBy: batchNormalization)
          } catch {
            // Weights and normalisation were validated up front: what fails here overflowed.
            if case .nonFiniteValue = error { throw stopped("gradient") }
            throw error
          }
          do throws(MinibatchError) {
            try optimizer.step(
              parameters: &parameters, gradient: gradient, learningRate: learningRate)
          } catch {
            // Everything else was validated up front, and a failed step changed nothing.
            if case .nonFiniteValue(_, let what) = error { throw stopped(what) }
            throw error
          }
        }
        lossSum += batchLoss
        lossWeight += batchLossWeight
        examples += batch.count
        steps += 1
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      var report = EpochReport(
        epoch: epoch, meanLoss: lossWeight == 0 ? 0 : lossSum / lossWeight, steps: steps,
        examples: examples,
        learningRate: Double(learningRate), seconds: seconds)
      report.noiseScale = noiseScale?.average
      if let privacy {
        report.epsilon =
          epoch == firstEpoch + epochs - 1 && setup.lastEpsilon != nil
          ? setup.lastEpsilon : try epsilonSpent(by: privacy, throughEpoch: epoch)
        report.clippedExamples = clippedExamples
      }
      if let evaluation, let collective {
        (report.evaluationLoss, report.evaluationAccuracy) = try collectiveEvaluation(
          evaluation, parameters: parameters, over: collective)
      } else if let evaluation {
        report.evaluationLoss = Double(
          try model.meanLoss(parameters: parameters, batch: evaluation))
        if case .labels = evaluation.targets {
          report.evaluationAccuracy = try model.accuracy(parameters: parameters, batch: evaluation)
        }
      }
      if let collective {
        // A callback that throws on some ranks only must not leave the others waiting.
        try collective.agreeing { try onEpoch(report, parameters) }
      } else {
        try onEpoch(report, parameters)
      }
    }
  }

  /// What ``train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)`` decides
  /// before its first step.
  struct TrainingSetup {
    var normalization: GradientNormalization
    var privateDenominator: Double?
    var noiseScale: NoiseScaleAverage?
    var usesStoredJ: Bool
    /// With privacy: `ε` after the call's last epoch, computed during validation (so an
    /// accountant that cannot answer fails before the first step) and reused for that epoch's
    /// report.
    var lastEpsilon: Double?
  }

  /// Validates everything before the first step; with a ``collective``, every rank validates and
  /// they agree on the outcome and on the inputs that must be the same everywhere (sizes, seeds,
  /// settings, and fingerprints of the parameters, data and weights), so a bad input on one
  /// rank makes every rank throw the same error.
  func agreedSetup(
    parameters: [Scalar], data: some ExampleSource<Scalar>, epochs: Int, evaluation: Batch<Scalar>?,
    exampleWeights: [Scalar]?, firstEpoch: Int
  ) throws(MinibatchError) -> TrainingSetup {
    let validate = { () throws(MinibatchError) -> TrainingSetup in
      try data.forEachPiece(maximumCount: 4096) { (first, piece) throws(MinibatchError) in
        do throws(MinibatchError) {
          try model.validate(parameters: parameters, batch: piece)
          try validateFiniteData(piece, of: "training")
        } catch .nonFiniteEntry(let row, let column, let what) {
          throw .nonFiniteEntry(row: first + row, column: column, of: what)
        }
      }
      if let evaluation {
        try model.validate(parameters: parameters, batch: evaluation)
        try validateFiniteData(evaluation, of: "evaluation")
      }
      try validateCount(
        data.exampleCount, expected: sampler.exampleCount, of: "examples (sampler's count)")
      try validateArgument(epochs, named: "epochs", expected: "≥ 0", epochs >= 0)
      try validateArgument(firstEpoch, named: "first epoch", expected: "≥ 0", firstEpoch >= 0)
      try validateArgument(
        epochs, named: "epochs",
        expected: "≤ \(Int.max - firstEpoch) after first epoch \(firstEpoch)",
        epochs <= Int.max - firstEpoch)
      try schedule.validate()
      try optimizer.validate(parameterCount: parameters.count, learningRate: 0)
      let weightTotal =
        try exampleWeights.map { (weights) throws(MinibatchError) in
          try validatedWeightTotal(weights, count: data.exampleCount, countName: "one per example")
        } ?? Double(data.exampleCount)
      let batchNormalization = normalization.gradientNormalization(
        weightTotal: weightTotal, exampleCount: data.exampleCount,
        expectedBatchSize: sampler.expectedBatchSize)
      try batchNormalization.validate()
      let privateDenominator = try privacy.map { (privacy) throws(MinibatchError) in
        try validatePrivacy(privacy, exampleWeights: exampleWeights)
      }
      var lastEpsilon: Double?
      if let privacy, epochs > 0 {
        // The last epoch's ε, computed now: an accountant that cannot answer (a grid too large
        // for a tiny σ) fails before the first step, not after the run.
        let (lastEpoch, overflow) = firstEpoch.addingReportingOverflow(epochs - 1)
        lastEpsilon = try epsilonSpent(by: privacy, throughEpoch: overflow ? Int.max : lastEpoch)
      }
      let noiseScale = try noiseScaleDecay.map { (decay) throws(MinibatchError) in
        try NoiseScaleAverage(decay: decay)
      }
      try validateArgument(
        "set", named: "noise scale tracking",
        expected: "off with differential privacy (it describes the unclipped gradients)",
        noiseScale == nil || privacy == nil)
      // Dense models give factors; others fall back to the stored J, written and reduced in one
      // sweep into a buffer reused between batches.
      let factorable =
        try model.perExampleGradientFactors(
          parameters: parameters, batch: try data.gathering(data.heldExamples.prefix(1)))
        != nil
      try validateArgument(
        representation, named: "gradient representation",
        expected: "stored or streamed (\(Model.self) has no layer factors)",
        factorable || representation != .factored)
      let usesStoredJ = representation == .stored || (representation == .automatic && !factorable)
      try validateArgument(
        "given", named: "example weights",
        expected: "none with noise scale tracking across ranks (the noise scale is unweighted)",
        noiseScale == nil || collective == nil || exampleWeights == nil)
      return TrainingSetup(
        normalization: batchNormalization, privateDenominator: privateDenominator,
        noiseScale: noiseScale, usesStoredJ: usesStoredJ, lastEpsilon: lastEpsilon)
    }
    guard let collective else { return try validate() }
    let fields: [(name: String, value: String)] = [
      ("model", "\(model)"), ("representation", "\(representation)"),
      (
        "optimizer (settings and state, fingerprint)",
        stateFingerprint(of: optimizer, arraysOf: Scalar.self)
      ),
      ("parameters (length, fingerprint)", "\(parameters.count), \(fingerprint(parameters))"),
      ("training data (examples, fingerprint)", "\(data.exampleCount), \(data.fingerprint)"),
      (
        "evaluation data (examples, fingerprint)",
        evaluation.map { "\($0.count), \($0.fingerprint)" } ?? "none"
      ),
      ("example weights (fingerprint)", exampleWeights.map { fingerprint($0) } ?? "none"),
      ("epochs", "\(epochs) from \(firstEpoch)"), ("sampler", "\(sampler)"),
      ("schedule", "\(schedule)"), ("normalization", "\(normalization)"),
      ("privacy", privacy.map { "\($0)" } ?? "none"),
      ("noise scale decay", noiseScaleDecay.map { "\($0)" } ?? "off"),
    ]
    return try collective.agreeing(on: fields, validate)
  }

  /// Checks the private settings against the sampler, the model and the example weights, and
  /// returns the fixed denominator of every private step.
  /// `ε` spent by every step of epochs `0…epoch` at the settings (the sampler's rate, `σ`),
  /// by the settings' accountant.
  func epsilonSpent(
    by privacy: DifferentialPrivacy, throughEpoch epoch: Int
  ) throws(MinibatchError) -> Double? {
    guard let rate = sampler.poissonRate else { return nil }
    let (epochs, overflow) = epoch.addingReportingOverflow(1)
    let (steps, tooMany) = epochs.multipliedReportingOverflow(by: sampler.batchesPerEpoch)
    return try privacy.accountant.epsilon(
      phases: [
        PrivacyPhase(
          noiseMultiplier: privacy.noiseMultiplier, samplingRate: rate,
          steps: overflow || tooMany ? Int.max : steps)
      ], delta: privacy.delta)
  }

  func validatePrivacy(
    _ privacy: DifferentialPrivacy, exampleWeights: [Scalar]?
  ) throws(MinibatchError) -> Double {
    try validateArgument(
      "shuffled batches of \(sampler.batchSize)", named: "sampler",
      expected: "Poisson sampling (BatchSampler(exampleCount:poissonRate:…)) for DP-SGD",
      sampler.poissonRate != nil)
    try validateArgument(
      "given", named: "example weights",
      expected: "none with differential privacy (they change each example's sensitivity)",
      exampleWeights == nil)
    try model.parameterBlocks.validate(parameterCount: model.parameterCount)
    try privacy.clipping.validate(blockCount: model.parameterBlocks.count)
    switch normalization {
    case .expectedBatchSize: return sampler.expectedBatchSize
    case .fixedDenominator(let denominator): return denominator
    case .datasetWeightTotal, .weightTotal, .sum:
      throw .invalidArgument(
        name: "normalization", value: normalization.description,
        expected: ".expectedBatchSize or .fixedDenominator for DP-SGD (never the realised size)")
    }
  }

  /// One DP-SGD step on the batch `indices` (possibly empty): the clipped sum of its per-example
  /// gradients, noise, the fixed denominator, then the optimiser. Returns the batch's losses and
  /// how many examples were clipped.
  mutating func privateStep(
    _ privacy: DifferentialPrivacy, indices: ArraySlice<Int>, data: some ExampleSource<Scalar>,
    denominator: Double, usesStoredJ: Bool,
    storedBuffers: inout [Int: PerExampleGradients<Scalar>], noise: inout GaussianNoise,
    parameters: inout [Scalar], learningRate: Scalar, epoch: Int, batch index: Int
  ) throws -> (losses: [Scalar], clipped: Int) {
    var clipped = ClippedSum<Scalar>(
      sum: filled(0, count: model.parameterCount), clippedExamples: 0)
    var losses: [Scalar] = []
    if !indices.isEmpty {
      let gradients: any PerExampleGradientOperator<Scalar>
      (gradients, losses) = try localGradients(
        indices, data: data, parameters: parameters, usesStoredJ: usesStoredJ,
        storedBuffers: &storedBuffers)
      let meanLoss = losses.reduce(0) { $0 + Double($1) } / Double(losses.count)
      guard meanLoss.isFinite else {
        throw MinibatchError.nonFiniteLoss(epoch: epoch, batch: index, loss: meanLoss)
      }
      do throws(MinibatchError) {
        clipped = try gradients.clippedSum(
          privacy.clipping, blocks: model.parameterBlocks, parallelism: parallelism)
      } catch {
        if case .nonFiniteValue = error {
          throw MinibatchError.nonFiniteStep(
            epoch: epoch, batch: index, quantity: "per-example gradient norms")
        }
        throw error
      }
    }
    let gradient: [Scalar]
    do throws(MinibatchError) {
      gradient = try privacy.noisyGradient(
        clippedSum: clipped.sum, expectedBatchSize: denominator, noise: &noise,
        parallelism: parallelism)
      try optimizer.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
    } catch {
      if case .nonFiniteValue(_, let what) = error {
        throw MinibatchError.nonFiniteStep(epoch: epoch, batch: index, quantity: what)
      }
      throw error
    }
    return (losses, clipped.clippedExamples)
  }

  /// The evaluation batch's mean loss and accuracy with a collective: each rank evaluates its
  /// slice and one sum adds the loss sums and correct counts (every rank gets the same figures,
  /// even where the ranks' BLAS kernels differ).
  func collectiveEvaluation(
    _ evaluation: Batch<Scalar>, parameters: [Scalar], over collective: any ReductionCollective
  ) throws(MinibatchError) -> (loss: Double, accuracy: Double?) {
    let slice = collective.slice(of: evaluation.count)
    let hasLabels: Bool
    if case .labels = evaluation.targets { hasLabels = true } else { hasLabels = false }
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

  /// `J` and the losses of the examples `indices` at `parameters`: the stored `J` written into a
  /// buffer reused between batches of the same size, or the model's operator (factored or
  /// streamed).
  func localGradients(
    _ indices: some Collection<Int>, data: some ExampleSource<Scalar>, parameters: [Scalar],
    usesStoredJ: Bool,
    storedBuffers: inout [Int: PerExampleGradients<Scalar>]
  ) throws -> (gradients: any PerExampleGradientOperator<Scalar>, losses: [Scalar]) {
    let batch = try data.gathering(indices)
    guard usesStoredJ else {
      return try model.perExampleGradients(
        parameters: parameters, batch: batch, representation: representation,
        parallelism: parallelism)
    }
    let (writer, losses) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
    var stored =
      try storedBuffers.removeValue(forKey: batch.count)
      ?? PerExampleGradients<Scalar>(k: batch.count, n: model.parameterCount)
    try stored.write(writer, parallelism: parallelism)
    storedBuffers[batch.count] = stored  // shares its storage with the result until reused
    return (stored, losses)
  }

  /// Ends a rank's local work when its losses are not finite (the global check reports it).
  struct LocalLossIsNotFinite: Error {}

  /// What one step with a ``collective`` contributed to the epoch's report (global figures).
  struct CollectiveStep {
    var lossSum: Double
    var lossWeight: Double
    var examples: Int
    var clippedExamples: Int
  }

  /// One data-parallel step on the global batch `indices`; this rank writes `J` for its slice.
  /// Returns `nil` for a skipped batch (empty or all weights 0, without privacy), which every
  /// rank decides alike from the global batch.
  ///
  /// One ``ReductionCollective/sum(_:)`` of `[S (n), V, m, Σ e_i·ℓ_i, Σ e_i, clipped,
  /// Σ‖g_i‖², failure flags (one per rank)]`, `n + 6 + P` numbers (`Σ‖g_i‖²` for the noise
  /// scale: with `S/m`, the global batch's ``NoiseScaleEstimate`` as one process computes it); a rank whose local work threw
  /// contributes zeros and its flag, and then every rank throws
  /// ``MinibatchError/failedOnRank(rank:reason:)`` (the reasons travel in one more
  /// ``ReductionCollective/gather(_:)``).
  mutating func collectiveStep(
    _ collective: any ReductionCollective, indices: ArraySlice<Int>,
    data: some ExampleSource<Scalar>,
    exampleWeights: [Scalar]?, normalization: GradientNormalization, privateDenominator: Double?,
    usesStoredJ: Bool, storedBuffers: inout [Int: PerExampleGradients<Scalar>],
    noise: inout GaussianNoise?, noiseScale: inout NoiseScaleAverage?, parameters: inout [Scalar],
    learningRate: Scalar, epoch: Int, batch index: Int
  ) throws -> CollectiveStep? {
    if privacy == nil {
      if indices.isEmpty { return nil }
      if let w = exampleWeights, indices.allSatisfy({ w[$0] == 0 }) { return nil }
    }
    let n = model.parameterCount
    let local = collective.slice(of: indices.count)
    let localIndices = indices.dropFirst(local.lowerBound).prefix(local.count)
    let weights = exampleWeights.map { w in localIndices.map { w[$0] } }
    // This rank's raw state: the weighted (or clipped) sum, its weight and count, the losses.
    var state = [Double](repeating: 0, count: n + 6 + collective.size)
    var localFailure: String?
    if !localIndices.isEmpty {
      do {
        let (gradients, losses) = try localGradients(
          localIndices, data: data, parameters: parameters, usesStoredJ: usesStoredJ,
          storedBuffers: &storedBuffers)
        let (lossSum, lossWeight) = Self.weightedLoss(losses, weights: weights)
        state[n + 1] = Double(localIndices.count)
        state[n + 3] = lossWeight
        guard lossSum.isFinite else {
          // Not a failure of this rank: the summed loss is NaN, and every rank stops on it as
          // one process would (nonFiniteLoss), before anything is reduced.
          state[n + 2] = .nan
          throw LocalLossIsNotFinite()
        }
        state[n + 2] = lossSum
        if let privacy {
          let clipped = try gradients.clippedSum(
            privacy.clipping, blocks: model.parameterBlocks, parallelism: parallelism)
          for j in 0..<n { state[j] = Double(clipped.sum[j]) }
          state[n + 4] = Double(clipped.clippedExamples)
        } else {
          var accumulator = try GradientAccumulator<Scalar>(parameterCount: n)
          try accumulator.add(gradients, reductionWeights: weights, parallelism: parallelism)
          for j in 0..<n { state[j] = accumulator.weightedSum[j] }
          state[n] = accumulator.weightTotal
        }
        if noiseScale != nil {
          state[n + 5] = gradients.squaredRowNorms(parallelism: parallelism).reduce(0, +)
        }
      } catch is LocalLossIsNotFinite {
        // The NaN loss goes into the sum; no failure flag.
      } catch {
        // As one process would report it: an overflow in this rank's sums stops training.
        if case .nonFiniteValue(_, let what) = error as? MinibatchError {
          localFailure =
            "\(MinibatchError.nonFiniteStep(epoch: epoch, batch: index, quantity: what))"
        } else {
          localFailure = "\(error)"
        }
        state = [Double](repeating: 0, count: state.count)
        state[n + 6 + collective.rank] = 1
      }
    }
    try collective.sum(&state)
    if let failed = (0..<collective.size).first(where: { state[n + 6 + $0] != 0 }) {
      let reasons = try collective.gather(Array((localFailure ?? "").utf8))
      throw MinibatchError.failedOnRank(
        rank: failed, reason: String(decoding: reasons[failed], as: UTF8.self))
    }
    let step = CollectiveStep(
      lossSum: state[n + 2], lossWeight: state[n + 3], examples: Int(state[n + 1]),
      clippedExamples: Int(state[n + 4]))
    guard step.lossSum.isFinite else {
      throw MinibatchError.nonFiniteLoss(
        epoch: epoch, batch: index, loss: step.lossSum / step.lossWeight)
    }
    if noiseScale != nil, step.examples >= 2 {
      // Unweighted (example weights are refused with a collective and a noise scale).
      let k = Double(step.examples)
      let meanNorm = state[0..<n].reduce(0.0) { $0 + ($1 / k) * ($1 / k) }
      if let estimate = try? NoiseScaleEstimate(
        smallBatch: 1, smallSquaredNorm: state[n + 5] / k, bigBatch: step.examples,
        bigSquaredNorm: meanNorm)
      {
        noiseScale!.update(estimate)
      }
    }
    let stopped = { (quantity: String) in
      MinibatchError.nonFiniteStep(epoch: epoch, batch: index, quantity: quantity)
    }
    let gradient: [Scalar]
    do throws(MinibatchError) {
      if let privacy, let privateDenominator {
        gradient = try privacy.noisyGradient(
          clippedSum: state[0..<n].map { Scalar($0) }, expectedBatchSize: privateDenominator,
          noise: &noise!, parallelism: parallelism)
      } else {
        let d = try normalization.denominator(weightTotal: state[n], exampleCount: step.examples)
        gradient = state[0..<n].map { Scalar($0 / d) }
        try validateFinite(gradient, of: "gradient")
      }
      try optimizer.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
    } catch {
      if case .nonFiniteValue(_, let what) = error { throw stopped(what) }
      throw error
    }
    return step
  }

  /// `(Σ w_i·ℓ_i, Σ w_i)` in Double (weights 1 without example weights).
  static func weightedLoss(_ losses: [Scalar], weights: [Scalar]?) -> (Double, Double) {
    guard let weights else { return (losses.reduce(0) { $0 + Double($1) }, Double(losses.count)) }
    var sum = 0.0
    for (loss, weight) in zip(losses, weights) where weight != 0 {
      sum += Double(weight) * Double(loss)
    }
    return (sum, weights.reduce(0) { $0 + Double($1) })
  }
}

/// Throws ``MinibatchError/nonFiniteEntry(row:column:of:)`` naming the first NaN or infinite input
/// or real-valued target of `batch`, before any step (not as a non-finite loss mid-run).
func validateFiniteData<Scalar: BLASScalar>(
  _ batch: Batch<Scalar>, of what: String
) throws(MinibatchError) {
  try validateFiniteEntries(batch.inputs, of: "\(what) inputs")
  if case .values(let targets) = batch.targets {
    try validateFiniteEntries(targets, of: "\(what) targets")
  }
}
