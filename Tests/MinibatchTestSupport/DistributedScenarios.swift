import Minibatch
import Testing

// Checks of the distributed reductions and training, written once against
// `ReductionCollective` and run by every rank: in process by MinibatchTests (threads as ranks)
// and across processes by MinibatchMPITests (under mpirun). Each rank computes the
// single-process reference over the union of the local batches itself and compares.
//
// Every rank makes the same collective calls in the same order whatever the outcome of an
// expectation, so a failing check never leaves a rank waiting.

/// Local batch sizes of a global batch split unevenly over `size` ranks; rank 1 is empty.
public func unevenLocalSizes(size: Int) -> [Int] {
  (0..<size).map { r in r == 1 ? 0 : 7 + 9 * r }
}

/// Records an issue unless every rank holds the same bytes of `values`.
public func expectSameOnEveryRank<T: BitwiseCopyable>(
  _ values: [T], over collective: some ReductionCollective, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let all = try collective.gather(values.withUnsafeBytes { Array($0) })
  #expect(
    all.allSatisfy { $0 == all[0] }, "\(what) differs between ranks",
    sourceLocation: sourceLocation)
}

/// A network, its parameters, a global batch for the ranks' uneven local sizes, positive
/// example weights, and this rank's rows of the batch.
private func distributedCase<Scalar: BLASScalar>(
  _: Scalar.Type, over collective: some ReductionCollective
) throws -> (
  model: MultilayerPerceptron<Scalar>, parameters: [Scalar], batch: Batch<Scalar>,
  weights: [Scalar], local: Range<Int>
) {
  let sizes = unevenLocalSizes(size: collective.size)
  let (model, batch) = try randomNetworkCase(
    Scalar.self, layers: [6, 5, 3], k: sizes.reduce(0, +), activation: .tanh, seed: 11)
  var rng = SeededGenerator(seed: 5)
  let weights = rng.unitArray(Scalar.self, count: batch.count).map { $0 + Scalar(0.25) }
  let offset = sizes[..<collective.rank].reduce(0, +)
  return (
    model, model.initialParameters(seed: 3), batch, weights,
    offset..<offset + sizes[collective.rank]
  )
}

/// `allreduce` of accumulators (sums, squared norms, moments) equals one accumulator over the
/// union of the local batches; every rank holds the same bits.
public func checkDistributedAccumulator<Scalar: BLASScalar>(
  _: Scalar.Type, over collective: some ReductionCollective,
  representation: GradientRepresentation
) throws {
  let (model, parameters, batch, weights, local) = try distributedCase(
    Scalar.self, over: collective)
  let n = model.parameterCount
  var accumulator = try GradientAccumulator<Scalar>(
    parameterCount: n, tracksSquaredNorms: true, tracksMoments: true)
  if !local.isEmpty {
    let (gradients, _) = try model.perExampleGradients(
      parameters: parameters, batch: try batch.gathering(local), representation: representation)
    try accumulator.add(gradients, reductionWeights: Array(weights[local]))
  }
  try accumulator.allreduce(over: collective)

  var reference = try GradientAccumulator<Scalar>(
    parameterCount: n, tracksSquaredNorms: true, tracksMoments: true)
  let (all, _) = try model.perExampleGradients(
    parameters: parameters, batch: batch, representation: .stored)
  try reference.add(all, reductionWeights: weights)

  let tolerance = identityTolerance(Scalar.self)
  #expect(accumulator.exampleCount == batch.count)
  #expect(relativeError([accumulator.weightTotal], [reference.weightTotal]) <= tolerance)
  #expect(relativeError(accumulator.weightedSum, reference.weightedSum) <= tolerance)
  #expect(
    relativeError(
      [accumulator.weightedSquaredNormSum!], [reference.weightedSquaredNormSum!]) <= tolerance)
  #expect(relativeError(accumulator.moments!.mean, reference.moments!.mean) <= tolerance)
  #expect(relativeError(accumulator.moments!.m2, reference.moments!.m2) <= tolerance)
  let mean = try accumulator.gradient(normalizedBy: .weightTotal)
  #expect(
    relativeError(mean, try reference.gradient(normalizedBy: .weightTotal)) <= 4 * tolerance)
  try expectSameOnEveryRank(
    accumulator.weightedSum + accumulator.moments!.m2 + [accumulator.weightTotal], over: collective,
    "the global accumulator")
}

/// `GradientMoments.allreduce` equals the moments of the union; `ClippedSum.allreduce` (flat
/// and per layer) equals the clipped sum of the union.
public func checkDistributedStatistics<Scalar: BLASScalar>(
  _: Scalar.Type, over collective: some ReductionCollective
) throws {
  let (model, parameters, batch, weights, local) = try distributedCase(
    Scalar.self, over: collective)
  let n = model.parameterCount
  let (all, _) = try model.perExampleGradients(
    parameters: parameters, batch: batch, representation: .factored)
  let localGradients =
    try local.isEmpty
    ? nil
    : model.perExampleGradients(
      parameters: parameters, batch: try batch.gathering(local), representation: .factored
    ).gradients
  let tolerance = identityTolerance(Scalar.self)

  var moments =
    try localGradients?.moments(exampleWeights: Array(weights[local]))
    ?? GradientMoments.empty(parameterCount: n)
  try moments.allreduce(over: collective)
  let expected = try all.moments(exampleWeights: weights)
  #expect(moments.exampleCount == batch.count)
  #expect(relativeError([moments.weightTotal], [expected.weightTotal]) <= tolerance)
  #expect(relativeError([moments.squaredWeightTotal], [expected.squaredWeightTotal]) <= tolerance)
  #expect(relativeError(moments.mean, expected.mean) <= tolerance)
  #expect(relativeError(moments.unbiasedVariance, expected.unbiasedVariance) <= 10 * tolerance)
  try expectSameOnEveryRank(moments.m2, over: collective, "the global moments")

  let blocks = model.parameterBlocks
  for clipping in try [
    GradientClipping.flat(bound: 0.05), .perBlock(totalBound: 0.05, blockCount: blocks.count),
  ] {
    var clipped =
      try localGradients?.clippedSum(clipping, blocks: blocks)
      ?? ClippedSum<Scalar>.empty(parameterCount: n)
    try clipped.allreduce(over: collective)
    let reference = try all.clippedSum(clipping, blocks: blocks)
    #expect(clipped.clippedExamples == reference.clippedExamples, "\(clipping)")
    #expect(relativeError(clipped.sum, reference.sum) <= 4 * tolerance, "\(clipping)")
    try expectSameOnEveryRank(clipped.sum, over: collective, "the global clipped sum")
  }
}

/// A rank whose accumulator has another `n`, or tracks other statistics, makes every rank throw
/// the same ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` (and nobody waits).
public func checkDistributedMismatch(over collective: some ReductionCollective) throws {
  let last = collective.size - 1
  let counts = (0..<collective.size).map { $0 == last ? 6 : 5 }
  var accumulator = try GradientAccumulator<Double>(parameterCount: counts[collective.rank])
  if collective.size > 1 {
    expectError(
      .inconsistentAcrossRanks(quantity: "parameters (n)", values: counts.map { "\($0)" })
    ) { try accumulator.allreduce(over: collective) }
    #expect(accumulator.exampleCount == 0 && accumulator.weightedSum.allSatisfy { $0 == 0 })
  }
  var tracking = try GradientAccumulator<Double>(
    parameterCount: 5, tracksMoments: collective.rank == last && collective.size > 1)
  if collective.size > 1 {
    expectError(
      .inconsistentAcrossRanks(
        quantity: "tracks moments", values: (0..<collective.size).map { "\($0 == last)" })
    ) { try tracking.allreduce(over: collective) }
  }
  var moments = try GradientMoments.empty(parameterCount: counts[collective.rank])
  if collective.size > 1 {
    expectError(
      .inconsistentAcrossRanks(quantity: "parameters (n)", values: counts.map { "\($0)" })
    ) { try moments.allreduce(over: collective) }
  }
  // After the refusals the ranks still agree and sum.
  var fine = try GradientAccumulator<Double>(parameterCount: 5)
  try fine.allreduce(over: collective)
  #expect(fine.weightedSum == [0, 0, 0, 0, 0])
}

/// What a distributed training check trains.
public enum DistributedTrainingCase: String, Sendable, CaseIterable, CustomStringConvertible {
  case logisticSGD, mlpAdam, mlpPrivate, logisticPrivateMomentum
  /// A `Sequential` convolutional network with per-layer DP-SGD.
  case convolutionPrivate
  public var description: String { rawValue }
}

/// Distributed training ends with the same parameters on every rank, equal to single-process
/// training on the same global batches (Double: 1e-12 relative; Float: 1e-4), with the same
/// reports.
public func checkDistributedTraining<Scalar: BLASScalar>(
  _: Scalar.Type, _ trainingCase: DistributedTrainingCase,
  over collective: any ReductionCollective
) throws {
  let examples = 150
  let isMLP =
    trainingCase == .mlpAdam || trainingCase == .mlpPrivate
    || trainingCase == .convolutionPrivate
  let isPrivate =
    trainingCase == .mlpPrivate || trainingCase == .logisticPrivateMomentum
    || trainingCase == .convolutionPrivate
  let mlp = try MultilayerPerceptron<Scalar>(layerSizes: [6, 8, 3], hiddenActivation: .tanh)
  let logistic = try LogisticRegression<Scalar>(inputCount: 6)
  let convolution = try Sequential<Scalar>(
    inputShape: TensorShape([2, 3]),
    layers: "conv1d(4,2,padding=1) tanh maxpool1d(2) layernorm flatten dense(3)")
  let loss: OutputLoss = isMLP ? .softmaxCrossEntropy : .binaryCrossEntropy
  let data = try randomBatch(
    Scalar.self, k: examples, d: 6, outputs: isMLP ? 3 : 1, loss: loss, seed: 21)
  let sampler =
    isPrivate
    ? try BatchSampler(exampleCount: examples, poissonRate: 0.2, seed: 4)
    : try BatchSampler(exampleCount: examples, batchSize: 32, seed: 4)
  let privacy =
    isPrivate
    ? try DifferentialPrivacy(
      clipping: isMLP
        ? .perBlock(totalBound: 1, blockCount: trainingCase == .convolutionPrivate ? 6 : 4)
        : .flat(bound: 0.5),
      noiseMultiplier: 1.1, delta: 1e-5, noiseSeed: 99) : nil

  func train<Model: PerExampleGradientModel<Scalar>, Opt: Optimizer<Scalar>>(
    _ model: Model, _ optimizer: Opt, _ collective: (any ReductionCollective)?
  ) throws -> ([Scalar], [EpochReport]) {
    var parameters = model.initialParameters(seed: 8)
    var reports: [EpochReport] = []
    var trainer = MinibatchTrainer(
      model: model, optimizer: optimizer, sampler: sampler,
      schedule: .constant(isMLP ? 0.02 : 0.2),
      normalization: isPrivate ? .expectedBatchSize : .datasetWeightTotal, privacy: privacy,
      collective: collective)
    if !isPrivate { trainer.noiseScaleDecay = 0.9 }
    try trainer.train(parameters: &parameters, data: data, epochs: 3, evaluation: data) {
      report, _ in reports.append(report)
    }
    return (parameters, reports)
  }
  func train(_ collective: (any ReductionCollective)?) throws -> ([Scalar], [EpochReport]) {
    switch trainingCase {
    case .logisticSGD:
      return try train(logistic, try StochasticGradientDescent<Scalar>(), collective)
    case .mlpAdam, .mlpPrivate: return try train(mlp, try Adam<Scalar>(), collective)
    case .convolutionPrivate: return try train(convolution, try Adam<Scalar>(), collective)
    case .logisticPrivateMomentum:
      return try train(logistic, try MomentumSGD<Scalar>(momentum: 0.5), collective)
    }
  }

  let (distributed, reports) = try train(collective)
  let (single, singleReports) = try train(nil)
  let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-4
  #expect(relativeError(distributed, single) <= tolerance, "\(trainingCase)")
  #expect(reports.count == singleReports.count)
  for (got, expected) in zip(reports, singleReports) {
    #expect(got.steps == expected.steps && got.examples == expected.examples)
    #expect(relativeError([got.meanLoss], [expected.meanLoss]) <= tolerance)
    #expect(got.epsilon == expected.epsilon && got.clippedExamples == expected.clippedExamples)
    #expect(
      relativeError([got.evaluationLoss ?? .nan], [expected.evaluationLoss ?? .nan]) <= tolerance)
    #expect((got.noiseScale == nil) == (expected.noiseScale == nil))
    if let scale = got.noiseScale, let reference = expected.noiseScale {
      // |G|² is a difference of two nearly equal terms: its rounding is amplified.
      #expect(
        relativeError(
          [scale.gradientSquaredNorm, scale.traceOfCovariance],
          [reference.gradientSquaredNorm, reference.traceOfCovariance])
          <= (Scalar.self == Double.self ? 1e-9 : 1e-2), "\(trainingCase)")
    }
  }
  try expectSameOnEveryRank(distributed, over: collective, "the trained parameters")
}

/// A rank that starts from other parameters, or whose own validation fails, makes every rank
/// throw the same error before the first step.
public func checkDistributedTrainingRefusals(over collective: any ReductionCollective) throws {
  let model = try LogisticRegression<Double>(inputCount: 3)
  let data = try randomBatch(
    Double.self, k: 40, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 2)
  let sampler = try BatchSampler(exampleCount: 40, batchSize: 8, seed: 1)
  var trainer = MinibatchTrainer(
    model: model, optimizer: try StochasticGradientDescent<Double>(), sampler: sampler,
    schedule: .constant(0.1), collective: collective)
  let last = collective.size - 1

  // Rank 0 asks for −1 epochs: everyone reports rank 0's error.
  var parameters = [0.0, 0.0, 0.0, 0.0]
  expectError(.failedOnRank(rank: 0, reason: "epochs is -1; expected ≥ 0")) {
    try trainer.train(
      parameters: &parameters, data: data, epochs: collective.rank == 0 ? -1 : 1)
  }
  #expect(parameters == [0, 0, 0, 0])

  guard collective.size > 1 else { return }
  parameters = [0, 0, 0, collective.rank == last ? 1 : 0]
  var descriptions: [String] = []
  do {
    try trainer.train(parameters: &parameters, data: data, epochs: 1)
    Issue.record("different parameters on one rank were not refused")
  } catch let error as MinibatchError {
    guard case .inconsistentAcrossRanks(let quantity, _) = error else {
      Issue.record("expected inconsistentAcrossRanks, got \(error)")
      return
    }
    #expect(quantity == "parameters (length, fingerprint)")
    descriptions = ["\(error)"]
  }
  try expectSameOnEveryRank(
    Array((descriptions.first ?? "").utf8), over: collective, "the refusal")
}

/// Local work or an epoch callback that throws on one rank only makes every rank throw
/// ``MinibatchError/failedOnRank(rank:reason:)``; private training without a noise seed draws
/// the same noise on every rank (rank 0's CSPRNG state), so the parameters stay equal.
public func checkDistributedFailuresAndSharedNoise(
  over collective: any ReductionCollective
) throws {
  let last = collective.size - 1
  let localError = MinibatchError.emptyFile(path: "rank \(last).csv")
  expectError(.failedOnRank(rank: last, reason: "\(localError)")) {
    try collective.agreeing { if collective.rank == last { throw localError } }
  }

  let model = try LogisticRegression<Double>(inputCount: 3)
  let data = try randomBatch(
    Double.self, k: 60, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 5)
  var trainer = MinibatchTrainer(
    model: model, optimizer: try StochasticGradientDescent<Double>(),
    sampler: try BatchSampler(exampleCount: 60, poissonRate: 0.25, seed: 3),
    schedule: .constant(0.5), normalization: .expectedBatchSize,
    privacy: try DifferentialPrivacy(clipping: .flat(bound: 1), noiseMultiplier: 2, delta: 1e-5),
    collective: collective)
  var parameters = [Double](repeating: 0, count: 4)
  var epochs = 0
  expectError(.failedOnRank(rank: last, reason: "\(localError)")) {
    try trainer.train(parameters: &parameters, data: data, epochs: 3) { _, _ in
      epochs += 1
      if collective.rank == last && epochs == 2 { throw localError }
    }
  }
  #expect(epochs == 2, "every rank stops after the epoch whose callback failed somewhere")
  #expect(parameters.contains { $0 != 0 } && parameters.allSatisfy(\.isFinite))
  try expectSameOnEveryRank(parameters, over: collective, "parameters trained with shared noise")
}

/// A model that forwards everything to a logistic regression `base`; a conformer replaces the
/// one method it is about (a failing row writer, counted factor calls).
public protocol ForwardingLogisticRegression: PerExampleGradientModel where Scalar == Double {
  var base: LogisticRegression<Double> { get }
}

extension ForwardingLogisticRegression {
  public var parameterCount: Int { base.parameterCount }
  public var inputCount: Int { base.inputCount }
  public var outputCount: Int { base.outputCount }
  public var parameterBlocks: ParameterBlocks { base.parameterBlocks }
  public func validate(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) {
    try base.validate(parameters: parameters, batch: batch)
  }
  public func initialParameters(seed: UInt64) -> [Double] { base.initialParameters(seed: seed) }
  public func outputs(
    parameters: [Double], inputs: Matrix<Double>
  ) throws(MinibatchError) -> Matrix<Double> {
    try base.outputs(parameters: parameters, inputs: inputs)
  }
  public func losses(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) -> [Double]
  {
    try base.losses(parameters: parameters, batch: batch)
  }
  public func perExampleRowWriter(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Double>, losses: [Double]) {
    try base.perExampleRowWriter(parameters: parameters, batch: batch)
  }
  public func perExampleGradientFactors(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Double>, losses: [Double])? {
    try base.perExampleGradientFactors(parameters: parameters, batch: batch)
  }
  public func meanLossAndGradient(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (loss: Double, gradient: [Double]) {
    try base.meanLossAndGradient(parameters: parameters, batch: batch)
  }
}

/// Logistic regression whose row writer fails for a batch holding an example whose first input
/// is 1000: a local failure in the middle of a step, on the one rank whose slice holds it.
struct FailsOnMarkedExample: ForwardingLogisticRegression {
  let base: LogisticRegression<Double>
  func perExampleRowWriter(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Double>, losses: [Double]) {
    let d = batch.inputs.columns
    if let row = (0..<batch.count).first(where: { batch.inputs.elements[$0 * d] == 1000 }) {
      throw .nonFiniteValue(index: row, of: "marked example's gradient")
    }
    return try base.perExampleRowWriter(parameters: parameters, batch: batch)
  }
  func perExampleGradientFactors(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Double>, losses: [Double])? {
    nil
  }
}

/// A step that fails on one rank only (its slice holds the marked example) makes every rank
/// throw ``MinibatchError/failedOnRank(rank:reason:)`` with that rank's error, as one process
/// would report it, and leaves the parameters of the last good step.
public func checkDistributedStepFailure(over collective: any ReductionCollective) throws {
  let clean = try randomBatch(
    Double.self, k: 40, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 8)
  var inputs = clean.inputs.elements
  inputs[39 * 3] = 1000  // the last example, in the last rank's slice
  let data = try Batch(
    inputs: try Matrix(rows: 40, columns: 3, elements: inputs), targets: clean.targets)
  var trainer = MinibatchTrainer(
    model: FailsOnMarkedExample(base: try LogisticRegression<Double>(inputCount: 3)),
    optimizer: try StochasticGradientDescent<Double>(),
    sampler: try BatchSampler(exampleCount: 40, batchSize: 40, shuffles: false, seed: 1),
    schedule: .constant(0.1), collective: collective)
  var parameters = [0.5, 0.5, 0.5, 0.5]
  let local = MinibatchError.nonFiniteStep(
    epoch: 0, batch: 0, quantity: "marked example's gradient")
  expectError(.failedOnRank(rank: collective.size - 1, reason: "\(local)")) {
    try trainer.train(parameters: &parameters, data: data, epochs: 1)
  }
  #expect(parameters == [0.5, 0.5, 0.5, 0.5])
}
