import Dispatch

/// What one epoch of training did, handed to the trainer's callback.
public struct EpochReport: Sendable, Hashable {
  /// The epoch, 0-based.
  public var epoch: Int
  /// Mean over the epoch's examples of their loss `ℓ_i`, each taken at the parameters of the step
  /// that used it (the usual running training loss; weighted by example weights if given).
  public var meanLoss: Double
  /// Steps (batches) taken.
  public var steps: Int
  /// Examples used (all of them, or fewer when the partial batch is dropped).
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

  /// Training throughput, examples per second.
  public var examplesPerSecond: Double { Double(examples) / seconds }
}

/// Mini-batch training: per epoch, the sampler's batches; per batch, the model's forward and
/// backward passes, then the per-example gradient rows `J` (`k × n`) are written and reduced
/// (`1/k`, or `w_i/Σw` with example weights) in one sweep, block by block while in cache, and the
/// optimiser updates the parameters (SGD: straight onto the weights, `alpha = −η`, `beta = 1`).
///
/// ```swift
/// var trainer = MinibatchTrainer(
///   model: model, optimizer: StochasticGradientDescent(), sampler: sampler,
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
  /// Threads for writing the per-example rows and for the reductions.
  public let parallelism: Parallelism

  public init(
    model: Model, optimizer: Opt, sampler: BatchSampler, schedule: LearningRateSchedule,
    parallelism: Parallelism = .automatic
  ) {
    self.model = model
    self.optimizer = optimizer
    self.sampler = sampler
    self.schedule = schedule
    self.parallelism = parallelism
  }

  /// Trains for `epochs` epochs, numbered from `firstEpoch` (which selects the shuffles and the
  /// learning rates, so training can resume), calling `onEpoch` after each with the report and
  /// the parameters at the end of the epoch. With an `evaluation` batch (a validation or test
  /// set), each report also carries its mean loss and, for class labels, its accuracy.
  ///
  /// Everything is validated before the first step: the data against the model and the sampler,
  /// the evaluation batch, the example weights (length = examples, finite, ≥ 0), the schedule,
  /// `epochs ≥ 0`. A batch
  /// whose example weights are all 0 is skipped.
  ///
  /// - Throws: those validation errors (nothing changed), or
  ///   ``MinibatchError/nonFiniteLoss(epoch:batch:loss:)`` when a batch's loss, or the parameters
  ///   its step produced, are NaN or infinite: `parameters` and ``optimizer`` are then those after
  ///   the last good step. Errors thrown by `onEpoch` are passed on.
  public mutating func train(
    parameters: inout [Scalar], data: Batch<Scalar>, epochs: Int,
    evaluation: Batch<Scalar>? = nil, exampleWeights: [Scalar]? = nil, firstEpoch: Int = 0,
    onEpoch: (EpochReport, _ parameters: [Scalar]) throws -> Void = { _, _ in }
  ) throws {
    try model.validate(parameters: parameters, batch: data)
    if let evaluation { try model.validate(parameters: parameters, batch: evaluation) }
    try validateCount(data.count, expected: sampler.exampleCount, of: "examples (sampler's count)")
    try validateArgument(epochs, named: "epochs", expected: "≥ 0", epochs >= 0)
    try validateArgument(firstEpoch, named: "first epoch", expected: "≥ 0", firstEpoch >= 0)
    try schedule.validate()
    if let exampleWeights {
      try validateCount(
        exampleWeights.count, expected: data.count, of: "example weights (one per example)")
      try validateFinite(exampleWeights, of: "example weights")
      if let index = exampleWeights.firstIndex(where: { $0 < 0 }) {
        throw MinibatchError.negativeValue(
          index: index, value: Double(exampleWeights[index]), of: "example weights")
      }
    }
    var buffers: [Int: PerExampleGradients<Scalar>] = [:]
    for epoch in firstEpoch..<(firstEpoch + epochs) {
      let learningRate = Scalar(try schedule.rate(epoch: epoch))
      let start = DispatchTime.now().uptimeNanoseconds
      var lossSum = 0.0
      var weightSum = 0.0
      var examples = 0
      let batches = sampler.batches(epoch: epoch)
      for (index, indices) in batches.enumerated() {
        let batch = data.gathering(indices)
        let weights = exampleWeights.map { w in indices.map { w[$0] } }
        if let weights, weights.allSatisfy({ $0 == 0 }) { continue }  // nothing to learn from
        // Taken out of the cache while written, so the write does not copy it.
        var gradients =
          try buffers.removeValue(forKey: batch.count)
          ?? PerExampleGradients(k: batch.count, n: model.parameterCount)
        let (losses, writer) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
        let (batchLoss, batchWeight) = Self.weightedLoss(losses, weights: weights)
        guard batchLoss.isFinite else {
          throw MinibatchError.nonFiniteLoss(
            epoch: epoch, batch: index, loss: batchLoss / batchWeight)
        }
        // Copies (of n scalars, plus the optimiser's state) to undo a step that overflows.
        let (lastGood, lastOptimizer) = (parameters, optimizer)
        let stopped = MinibatchError.nonFiniteLoss(
          epoch: epoch, batch: index, loss: batchLoss / batchWeight)
        do throws(MinibatchError) {
          try optimizer.step(
            parameters: &parameters, writing: writer, into: &gradients, exampleWeights: weights,
            learningRate: learningRate, parallelism: parallelism)
        } catch {
          // Everything else was validated up front: a non-finite value here is a gradient that
          // overflowed.
          (parameters, optimizer) = (lastGood, lastOptimizer)
          if case .nonFiniteValue = error { throw stopped }
          throw error
        }
        guard allFinite(parameters) else {
          (parameters, optimizer) = (lastGood, lastOptimizer)
          throw stopped
        }
        buffers[batch.count] = gradients
        lossSum += batchLoss
        weightSum += batchWeight
        examples += batch.count
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      var report = EpochReport(
        epoch: epoch, meanLoss: lossSum / weightSum, steps: batches.count, examples: examples,
        learningRate: Double(learningRate), seconds: seconds)
      if let evaluation {
        report.evaluationLoss = Double(
          try model.meanLoss(parameters: parameters, batch: evaluation))
        if case .labels = evaluation.targets {
          report.evaluationAccuracy = try model.accuracy(parameters: parameters, batch: evaluation)
        }
      }
      try onEpoch(report, parameters)
    }
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
