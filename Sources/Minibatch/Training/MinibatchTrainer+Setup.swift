/// What ``MinibatchTrainer/train(parameters:data:epochs:evaluation:exampleWeights:firstEpoch:onEpoch:)``
/// decides before its first step.
struct TrainingSetup: Sendable {
  /// The one normalisation of every non-private step.
  var normalization: GradientNormalization
  /// With privacy: the stage (clipping, noise, the fixed denominator, the accountant).
  var privacy: PrivacyStage?
  var noiseScale: NoiseScaleAverage?
  /// Whether `J` is stored (written by the model's row writer into the trainer's buffer).
  var usesStoredJ: Bool
  var modelGivesFactors: Bool
  /// Which part of each global batch this process computes.
  var part: LocalPart
  /// The most examples of one physical chunk.
  var chunkSize: Int
  /// With privacy: the history at the call's start (see ``MinibatchTrainer/privacyHistory``).
  var privacyHistory: [PrivacyPhase]
  /// With privacy: `ε` after the call's last epoch, computed during validation (so an accountant
  /// that cannot answer fails before the first step) and reused for that epoch's report.
  var lastEpsilon: Double?
}

/// Which examples of a global batch this process computes.
enum LocalPart: Sendable, Equatable {
  /// All of them (no collective).
  case whole
  /// Its contiguous slice (``ReductionCollective/slice(of:)``): every rank holds all the data.
  case slice
  /// Those it holds: the ranks' sources are shards partitioning the data set.
  case shard(Range<Int>)

  /// The examples of `batch` this process computes, in the batch's order.
  func examples(
    of batch: ArraySlice<Int>, collective: (any ReductionCollective)?
  ) -> ArraySlice<Int> {
    switch self {
    case .whole: return batch
    case .slice:
      guard let collective else { return batch }
      let local = collective.slice(of: batch.count)
      return batch.dropFirst(local.lowerBound).prefix(local.count)
    case .shard(let held): return ArraySlice(batch.filter { held.contains($0) })
    }
  }
}

extension MinibatchTrainer {
  /// Validates everything before the first step; with a ``collective``, every rank validates and
  /// they agree on the outcome and on the inputs that must be the same everywhere (sizes, seeds,
  /// settings, and fingerprints of the parameters, data and weights), so a bad input on one
  /// rank makes every rank throw the same error.
  func agreedSetup(
    parameters: [Scalar], data: some ExampleSource<Scalar>, epochs: Int,
    evaluation: Batch<Scalar>?, exampleWeights: [Scalar]?, firstEpoch: Int
  ) throws(MinibatchError) -> TrainingSetup {
    let part = try localPart(of: data)
    let validate = { () throws(MinibatchError) -> TrainingSetup in
      try validateArgument(
        maximumPhysicalBatchSize ?? 1, named: "maximum physical batch size", expected: "≥ 1",
        (maximumPhysicalBatchSize ?? 1) >= 1)
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
          try validatedWeightTotal(
            weights, count: data.exampleCount, countName: "one per example")
        } ?? Double(data.exampleCount)
      let batchNormalization = normalization.gradientNormalization(
        weightTotal: weightTotal, exampleCount: data.exampleCount,
        expectedBatchSize: sampler.expectedBatchSize)
      try batchNormalization.validate()
      let stage = try privacy.map { (privacy) throws(MinibatchError) in
        try privacyStage(privacy, exampleWeights: exampleWeights)
      }
      var history = privacyHistory
      var lastEpsilon: Double?
      if let stage {
        if history.isEmpty && firstEpoch > 0 {
          // A resume without its history: the earlier epochs at these settings.
          history = [stage.phase(epochs: firstEpoch)]
        }
        if epochs > 0 {
          // The last epoch's ε, computed now: an accountant that cannot answer (a grid too large
          // for a tiny σ) fails before the first step, not after the run.
          lastEpsilon = try stage.epsilon(
            spentBy: PrivacyStage.recording(stage.phase(epochs: epochs), in: history))
        }
      }
      let noiseScale = try noiseScaleDecay.map { (decay) throws(MinibatchError) in
        try NoiseScaleAverage(decay: decay)
      }
      try validateArgument(
        "set", named: "noise scale tracking",
        expected: "off with differential privacy (it describes the unclipped gradients)",
        noiseScale == nil || privacy == nil)
      // Dense models give factors; others fall back to the stored J, written by the model's row
      // writer into the trainer's one buffer. Found once per trainer.
      let factorable: Bool
      if let known = modelGivesFactors {
        factorable = known
      } else {
        factorable = try givesFactors(parameters: parameters, data: data)
      }
      try validateArgument(
        representation, named: "gradient representation",
        expected: "stored or streamed (\(Model.self) has no layer factors)",
        factorable || representation != .factored)
      return TrainingSetup(
        normalization: batchNormalization, privacy: stage, noiseScale: noiseScale,
        usesStoredJ: representation == .stored || (representation == .automatic && !factorable),
        modelGivesFactors: factorable, part: part,
        chunkSize: maximumPhysicalBatchSize ?? Int.max, privacyHistory: history,
        lastEpsilon: lastEpsilon)
    }
    guard let collective else { return try validate() }
    let dataFingerprint: String
    if case .shard = part {
      dataFingerprint = "\(data.exampleCount), in shards"
    } else {
      dataFingerprint = "\(data.exampleCount), \(data.fingerprint)"
    }
    let fields: [(name: String, value: String)] = [
      ("model", "\(model)"), ("representation", "\(representation)"),
      (
        "optimizer (settings and state, fingerprint)",
        stateFingerprint(of: optimizer, arraysOf: Scalar.self)
      ),
      ("parameters (length, fingerprint)", "\(parameters.count), \(fingerprint(parameters))"),
      ("training data (examples, fingerprint)", dataFingerprint),
      (
        "evaluation data (examples, fingerprint)",
        evaluation.map { "\($0.count), \($0.fingerprint)" } ?? "none"
      ),
      ("example weights (fingerprint)", exampleWeights.map { fingerprint($0) } ?? "none"),
      ("epochs", "\(epochs) from \(firstEpoch)"), ("sampler", "\(sampler)"),
      ("schedule", "\(schedule)"), ("normalization", "\(normalization)"),
      ("privacy", privacy.map { "\($0)" } ?? "none"),
      ("privacy history", "\(privacyHistory)"),
      ("noise scale decay", noiseScaleDecay.map { "\($0)" } ?? "off"),
      ("maximum physical batch size", maximumPhysicalBatchSize.map { "\($0)" } ?? "none"),
    ]
    return try collective.agreeing(on: fields, validate)
  }

  /// Whether the model gives layer factors: one forward/backward pass on one held example (or,
  /// for a rank holding none, on nothing: it never computes `J`, and the stored path is taken).
  func givesFactors(
    parameters: [Scalar], data: some ExampleSource<Scalar>
  ) throws(MinibatchError) -> Bool {
    guard !data.heldExamples.isEmpty else { return false }
    let probe = try data.gathering(data.heldExamples.prefix(1))
    return try model.perExampleGradientFactors(parameters: parameters, batch: probe) != nil
  }

  /// Which part of each global batch this process computes: with a ``collective``, a slice when
  /// every rank holds the whole data set, its shard when the ranks' held ranges partition it.
  /// Every rank gathers every rank's range, so they decide alike.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a shard without a
  ///   collective, or shards that overlap or leave examples out (on every rank alike).
  func localPart(of data: some ExampleSource<Scalar>) throws(MinibatchError) -> LocalPart {
    let held = data.heldExamples
    let whole = 0..<data.exampleCount
    guard let collective else {
      try validateArgument(
        "\(held.lowerBound)..<\(held.upperBound) of \(data.exampleCount)",
        named: "training data's held examples",
        expected: "all of them without a collective (a shard needs the other ranks)",
        held == whole)
      return .whole
    }
    let records = try collective.gather(Array("\(held.lowerBound) \(held.upperBound)".utf8))
    let ranges = records.map { record -> Range<Int> in
      let bounds = String(decoding: record, as: UTF8.self).split(separator: " ").compactMap {
        Int($0)
      }
      return bounds.count == 2 && bounds[0] <= bounds[1] ? bounds[0]..<bounds[1] : 0..<0
    }
    if ranges.allSatisfy({ $0 == whole }) { return .slice }
    var next = 0
    for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where !range.isEmpty {
      guard range.lowerBound == next else { break }
      next = range.upperBound
    }
    try validateArgument(
      ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", "),
      named: "training data shards (per rank)",
      expected: "all of 0..<\(data.exampleCount) on every rank, or shards that partition it",
      next == data.exampleCount
        && ranges.reduce(0) { $0 + $1.count } == data.exampleCount)
    return .shard(held)
  }

  /// Checks the private settings against the sampler, the model and the example weights, and
  /// returns the stage with the fixed denominator of every private step.
  func privacyStage(
    _ privacy: DifferentialPrivacy, exampleWeights: [Scalar]?
  ) throws(MinibatchError) -> PrivacyStage {
    guard let rate = sampler.poissonRate else {
      throw .invalidArgument(
        name: "sampler", value: "shuffled batches of \(sampler.batchSize)",
        expected: "Poisson sampling (BatchSampler(exampleCount:poissonRate:…)) for DP-SGD")
    }
    try validateArgument(
      "given", named: "example weights",
      expected: "none with differential privacy (they change each example's sensitivity)",
      exampleWeights == nil)
    try model.parameterBlocks.validate(parameterCount: model.parameterCount)
    try privacy.clipping.validate(blockCount: model.parameterBlocks.count)
    let denominator: Double
    switch normalization {
    case .expectedBatchSize: denominator = sampler.expectedBatchSize
    case .fixedDenominator(let fixed): denominator = fixed
    case .datasetWeightTotal, .weightTotal, .sum:
      throw .invalidArgument(
        name: "normalization", value: normalization.description,
        expected: ".expectedBatchSize or .fixedDenominator for DP-SGD (never the realised size)")
    }
    return PrivacyStage(
      settings: privacy, denominator: denominator, blocks: model.parameterBlocks,
      samplingRate: rate, stepsPerEpoch: sampler.batchesPerEpoch)
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
