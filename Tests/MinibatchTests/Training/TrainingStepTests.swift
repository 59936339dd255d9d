import MinibatchTestSupport
import Synchronization
import Testing

@testable import Minibatch

/// The one step's paths: plain SGD fused onto the parameters (factored or stored `J`), the
/// weighted accumulator (Adam, example weights), and DP-SGD (clipped sums, seeded noise).
enum StepCase: String, CaseIterable, CustomStringConvertible, Sendable {
  case fusedSGD
  case storedSGD
  case weightedAdam
  case privateMomentum
  case storedPrivate
  var description: String { rawValue }
  var isPrivate: Bool { self == .privateMomentum || self == .storedPrivate }
}

/// Trains an MLP 5-7-3 on 90 examples for 2 epochs in `stepCase`, with physical chunks of at
/// most `chunk` examples; returns the parameters, the reports and the trainer.
func trainStepCase<Scalar: BLASScalar>(
  _: Scalar.Type, _ stepCase: StepCase, chunk: Int?,
  collective: (any ReductionCollective)? = nil, noiseScale: Bool = false
) throws -> (
  [Scalar], [EpochReport], MinibatchTrainer<MultilayerPerceptron<Scalar>, AnyStepOptimizer<Scalar>>
) {
  let model = try MultilayerPerceptron<Scalar>(layerSizes: [5, 7, 3], hiddenActivation: .tanh)
  let data = try randomBatch(
    Scalar.self, k: 90, d: 5, outputs: 3, loss: .softmaxCrossEntropy, seed: 11)
  let optimizer: AnyStepOptimizer<Scalar>
  switch stepCase {
  case .fusedSGD, .storedSGD, .storedPrivate:
    optimizer = .sgd(try StochasticGradientDescent(regularization: .l2(Scalar(0.01))))
  case .weightedAdam: optimizer = .adam(try Adam())
  case .privateMomentum: optimizer = .momentum(try MomentumSGD(momentum: 0.9))
  }
  var trainer = MinibatchTrainer(
    model: model, optimizer: optimizer,
    sampler: stepCase.isPrivate
      ? try BatchSampler(exampleCount: 90, poissonRate: 0.3, seed: 2)
      : try BatchSampler(exampleCount: 90, batchSize: 32, seed: 2),
    schedule: .constant(0.05),
    representation: stepCase == .storedSGD || stepCase == .storedPrivate ? .stored : .automatic,
    normalization: stepCase.isPrivate ? .expectedBatchSize : .datasetWeightTotal,
    privacy: stepCase.isPrivate
      ? try DifferentialPrivacy(
        clipping: .flat(bound: 0.5), noiseMultiplier: 1.2, delta: 1e-5, noiseSeed: 8) : nil,
    collective: collective)
  trainer.maximumPhysicalBatchSize = chunk
  if noiseScale { trainer.noiseScaleDecay = 0.5 }
  let weights: [Scalar]? =
    stepCase == .weightedAdam ? (0..<90).map { Scalar(1 + $0 % 3) } : nil
  var parameters = model.initialParameters(seed: 4)
  var reports: [EpochReport] = []
  try trainer.train(parameters: &parameters, data: data, epochs: 2, exampleWeights: weights) {
    report, _ in reports.append(report)
  }
  return (parameters, reports, trainer)
}

/// SGD, momentum or Adam behind one type, so one trainer type serves every case.
enum AnyStepOptimizer<Scalar: BLASScalar>: Optimizer {
  case sgd(StochasticGradientDescent<Scalar>)
  case momentum(MomentumSGD<Scalar>)
  case adam(Adam<Scalar>)

  func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    switch self {
    case .sgd(let o): try o.validate(parameterCount: parameterCount, learningRate: learningRate)
    case .momentum(let o):
      try o.validate(parameterCount: parameterCount, learningRate: learningRate)
    case .adam(let o): try o.validate(parameterCount: parameterCount, learningRate: learningRate)
    }
  }

  mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    switch self {
    case .sgd(var o):
      try o.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
      self = .sgd(o)
    case .momentum(var o):
      try o.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
      self = .momentum(o)
    case .adam(var o):
      try o.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
      self = .adam(o)
    }
  }

  func linearStep(learningRate: Scalar) -> (gradientScale: Scalar, parameterScale: Scalar)? {
    if case .sgd(let o) = self { return o.linearStep(learningRate: learningRate) }
    return nil
  }
}

@Suite struct TrainingStepTests {
  static let scalarTypes: [any BLASScalar.Type] = [Float.self, Double.self]

  /// Virtual steps: chunks at least as large as every batch give the same bits as one chunk;
  /// chunks of 5 (of batches of 32, or Poisson batches of about 27) the same step to rounding,
  /// with the same reports.
  @Test(arguments: StepCase.allCases)
  func virtualStepsEqualOneChunk(stepCase: StepCase) throws {
    try check(Float.self, stepCase)
    try check(Double.self, stepCase)
    func check<Scalar: BLASScalar>(_: Scalar.Type, _ stepCase: StepCase) throws {
      let (one, oneReports, _) = try trainStepCase(Scalar.self, stepCase, chunk: nil)
      let (large, largeReports, _) = try trainStepCase(Scalar.self, stepCase, chunk: 90)
      #expect(large == one, "\(stepCase) \(Scalar.self): chunks ≥ the batch")
      #expect(largeReports.map(\.meanLoss) == oneReports.map(\.meanLoss))
      let (small, smallReports, _) = try trainStepCase(Scalar.self, stepCase, chunk: 5)
      let tolerance = Scalar.self == Double.self ? 1e-12 : 2e-5
      #expect(
        relativeError(small, one) <= tolerance, "\(stepCase) \(Scalar.self): chunks of 5")
      #expect(small != one || stepCase.isPrivate, "the chunked partial sums differ")
      for (got, expected) in zip(smallReports, oneReports) {
        #expect(got.steps == expected.steps && got.examples == expected.examples)
        #expect(got.clippedExamples == expected.clippedExamples)
        #expect(got.epsilon == expected.epsilon)
        #expect(relativeError([got.meanLoss], [expected.meanLoss]) <= tolerance)
      }
    }
  }

  /// The noise scale from chunked steps is the batch's, whichever statistics serve it.
  @Test(arguments: [StepCase.fusedSGD, .weightedAdam, .storedSGD])
  func noiseScaleIsTheBatchsInChunks(stepCase: StepCase) throws {
    let (_, one, _) = try trainStepCase(Double.self, stepCase, chunk: nil, noiseScale: true)
    let (_, chunked, _) = try trainStepCase(Double.self, stepCase, chunk: 4, noiseScale: true)
    for (got, expected) in zip(chunked, one) {
      let (g, e) = (try #require(got.noiseScale), try #require(expected.noiseScale))
      #expect(relativeError([g.traceOfCovariance], [e.traceOfCovariance]) <= 1e-9)
    }
  }

  /// The serial step is the collective step with a group of one: the same bits for the
  /// accumulator and private paths (the fused SGD step sums in another order: to rounding).
  @Test(arguments: StepCase.allCases)
  func serialIsAGroupOfOne(stepCase: StepCase) throws {
    let (serial, serialReports, _) = try trainStepCase(Double.self, stepCase, chunk: nil)
    let (group, groupReports, _) = try trainStepCase(
      Double.self, stepCase, chunk: nil, collective: SingleProcess())
    if stepCase == .fusedSGD || stepCase == .storedSGD {
      #expect(relativeError(group, serial) <= 1e-13)
    } else {
      #expect(group == serial, "\(stepCase)")
      #expect(groupReports.map(\.meanLoss) == serialReports.map(\.meanLoss))
    }
  }

  /// Poisson batches all differ in size: the stored `J` keeps one buffer, as large as the
  /// largest physical chunk (with 1/8 to spare), not one per size.
  @Test func storedBufferIsBoundedByTheLargestChunk() throws {
    for chunk in [nil, 6] {
      let (_, reports, trainer) = try trainStepCase(Double.self, .storedPrivate, chunk: chunk)
      let n = trainer.model.parameterCount
      let largest = chunk ?? 90
      #expect(reports.allSatisfy { $0.steps > 0 })
      #expect(trainer.storedBuffer.capacity >= (chunk ?? 1) * n)
      #expect(
        trainer.storedBuffer.capacity <= largest * n + largest * n / 8 + 64, "chunk \(chunk ?? 0)")
    }
  }

  /// A trainer probes its model for factors once, not on every call.
  @Test func setupProbesTheModelOncePerTrainer() throws {
    let calls = CallCounter()
    let model = CountingFactors(base: try LogisticRegression<Double>(inputCount: 3), calls: calls)
    let data = try randomBatch(
      Double.self, k: 12, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 3)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(),
      sampler: try BatchSampler(exampleCount: 12, batchSize: 4, shuffles: false, seed: 0),
      schedule: .constant(0.1))
    var w = model.initialParameters(seed: 1)
    try trainer.train(parameters: &w, data: data, epochs: 1)
    let afterFirst = calls.count.withLock { $0 }
    try trainer.train(parameters: &w, data: data, epochs: 1, firstEpoch: 1)
    #expect(calls.count.withLock { $0 } - afterFirst == 3, "only the 3 steps' batches, no probe")
    #expect(afterFirst == 4, "one probe and 3 steps")
  }

  /// A run whose σ and batch size change between calls is accounted phase by phase: the
  /// history holds both phases and the reported ε is the accountant's for them.
  @Test func privacyHistoryAccountsEveryPhase() throws {
    let model = try LogisticRegression<Double>(inputCount: 3)
    let data = try randomBatch(
      Double.self, k: 50, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 2)
    func trainer(sigma: Double, rate: Double) throws -> MinibatchTrainer<
      LogisticRegression<Double>, StochasticGradientDescent<Double>
    > {
      MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent<Double>(),
        sampler: try BatchSampler(exampleCount: 50, poissonRate: rate, seed: 1),
        schedule: .constant(0.1), normalization: .expectedBatchSize,
        privacy: try DifferentialPrivacy(
          clipping: .flat(bound: 1), noiseMultiplier: sigma, delta: 1e-5, noiseSeed: 2))
    }
    var w = model.initialParameters(seed: 1)
    var first = try trainer(sigma: 1.0, rate: 0.1)
    try first.train(parameters: &w, data: data, epochs: 2)
    let firstPhase = PrivacyPhase(noiseMultiplier: 1.0, samplingRate: 0.1, steps: 20)
    #expect(first.privacyHistory == [firstPhase])

    var second = try trainer(sigma: 2.0, rate: 0.2)
    second.privacyHistory = first.privacyHistory
    var epsilons: [Double] = []
    try second.train(parameters: &w, data: data, epochs: 2, firstEpoch: 2) { report, _ in
      epsilons.append(try #require(report.epsilon))
    }
    let secondPhase = PrivacyPhase(noiseMultiplier: 2.0, samplingRate: 0.2, steps: 10)
    #expect(second.privacyHistory == [firstPhase, secondPhase])
    var accountant = try PLDAccountant()
    try accountant.compose([firstPhase])
    try accountant.compose([PrivacyPhase(noiseMultiplier: 2.0, samplingRate: 0.2, steps: 5)])
    let afterOne = try accountant.epsilon(delta: 1e-5)
    try accountant.compose([PrivacyPhase(noiseMultiplier: 2.0, samplingRate: 0.2, steps: 5)])
    #expect(epsilons == [afterOne, try accountant.epsilon(delta: 1e-5)])

    // A resume without a history takes the earlier epochs at this trainer's settings.
    var resumed = try trainer(sigma: 1.0, rate: 0.1)
    var reported: Double?
    try resumed.train(parameters: &w, data: data, epochs: 1, firstEpoch: 2) { report, _ in
      reported = report.epsilon
    }
    #expect(
      resumed.privacyHistory == [PrivacyPhase(noiseMultiplier: 1.0, samplingRate: 0.1, steps: 30)])
    #expect(
      reported
        == (try PLDAccountant.epsilon(
          noiseMultiplier: 1.0, samplingRate: 0.1, steps: 30, delta: 1e-5)))
  }

  @Test func maximumPhysicalBatchSizeIsValidated() throws {
    let model = try LogisticRegression<Double>(inputCount: 3)
    let data = try randomBatch(
      Double.self, k: 10, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 2)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(),
      sampler: try BatchSampler(exampleCount: 10, batchSize: 5, seed: 1),
      schedule: .constant(0.1))
    trainer.maximumPhysicalBatchSize = 0
    var w = model.initialParameters(seed: 1)
    let before = w
    expectError(
      .invalidArgument(name: "maximum physical batch size", value: "0", expected: "≥ 1")
    ) { try trainer.train(parameters: &w, data: data, epochs: 1) }
    #expect(w == before)
  }
}

/// Logistic regression that counts its calls for layer factors.
struct CountingFactors: PerExampleGradientModel {
  let base: LogisticRegression<Double>
  let calls: CallCounter
  var parameterCount: Int { base.parameterCount }
  var inputCount: Int { base.inputCount }
  var outputCount: Int { base.outputCount }
  var parameterBlocks: ParameterBlocks { base.parameterBlocks }
  func validate(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) {
    try base.validate(parameters: parameters, batch: batch)
  }
  func initialParameters(seed: UInt64) -> [Double] { base.initialParameters(seed: seed) }
  func outputs(parameters: [Double], inputs: Matrix<Double>) throws(MinibatchError) -> Matrix<
    Double
  > {
    try base.outputs(parameters: parameters, inputs: inputs)
  }
  func losses(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) -> [Double] {
    try base.losses(parameters: parameters, batch: batch)
  }
  func perExampleRowWriter(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Double>, losses: [Double]) {
    try base.perExampleRowWriter(parameters: parameters, batch: batch)
  }
  func perExampleGradientFactors(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Double>, losses: [Double])? {
    calls.count.withLock { $0 += 1 }
    return try base.perExampleGradientFactors(parameters: parameters, batch: batch)
  }
  func meanLossAndGradient(
    parameters: [Double], batch: Batch<Double>
  ) throws(MinibatchError) -> (loss: Double, gradient: [Double]) {
    try base.meanLossAndGradient(parameters: parameters, batch: batch)
  }
}

final class CallCounter: Sendable {
  let count = Mutex(0)
}
