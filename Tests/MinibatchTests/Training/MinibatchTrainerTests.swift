import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct MinibatchTrainerTests {
  /// Same seed → bit-identical weights, for every optimiser, in both precisions.
  @Test(arguments: allScalarTypes)
  func trainingIsReproducible(_ type: any BLASScalar.Type) throws { try checkReproducible(type) }

  func checkReproducible<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [6, 8, 3], hiddenActivation: .tanh)
    let data = try randomBatch(
      Scalar.self, k: 70, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 4)
    func train<O: Optimizer<Scalar>>(_ optimizer: O, seed: UInt64) throws -> [Scalar] {
      var trainer = MinibatchTrainer(
        model: model, optimizer: optimizer,
        sampler: try BatchSampler(exampleCount: 70, batchSize: 16, seed: seed),
        schedule: .cosine(initial: 0.1, minimum: 0, epochs: 3))
      var w = model.initialParameters(seed: seed)
      try trainer.train(parameters: &w, data: data, epochs: 3)
      return w
    }
    #expect(
      try train(StochasticGradientDescent(), seed: 5) == train(StochasticGradientDescent(), seed: 5)
    )
    #expect(try train(Adam(), seed: 5) == train(Adam(), seed: 5))
    #expect(try train(MomentumSGD(), seed: 5) != train(MomentumSGD(), seed: 6))
  }

  /// The last, partial batch of k' = 2 examples is averaged with 1/2, not 1/4: the trained
  /// weights equal three manual steps with each batch's own mean-loss gradient.
  @Test(arguments: allScalarTypes)
  func partialLastBatchUsesItsOwnSize(_ type: any BLASScalar.Type) throws {
    try checkPartialBatch(type)
  }

  func checkPartialBatch<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-13 : 1e-5
    let model = try LinearRegression<Scalar>(inputCount: 3)
    let data = try randomBatch(Scalar.self, k: 10, d: 3, outputs: 1, loss: .squaredError, seed: 8)
    let eta: Scalar = 0.2
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 10, batchSize: 4, shuffles: false, seed: 0),
      schedule: .constant(Double(eta)))
    var trained = model.initialParameters(seed: 1)
    var manual = trained
    var reports: [EpochReport] = []
    try trainer.train(parameters: &trained, data: data, epochs: 1) { report, _ in
      reports.append(report)
    }
    for range in [0..<4, 4..<8, 8..<10] {
      let (_, gradient) = try model.meanLossAndGradient(
        parameters: manual, batch: data.gathering(range))
      for j in manual.indices { manual[j] -= eta * gradient[j] }
    }
    #expect(relativeError(trained, manual) < tolerance)
    #expect(reports.map(\.steps) == [3])
    #expect(reports.map(\.examples) == [10])

    // Dropping it: two steps only.
    var dropper = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(
        exampleCount: 10, batchSize: 4, partialBatch: .drop, shuffles: false, seed: 0),
      schedule: .constant(Double(eta)))
    var dropped = model.initialParameters(seed: 1)
    try dropper.train(parameters: &dropped, data: data, epochs: 1)
    var twoSteps = model.initialParameters(seed: 1)
    for range in [0..<4, 4..<8] {
      let (_, gradient) = try model.meanLossAndGradient(
        parameters: twoSteps, batch: data.gathering(range))
      for j in twoSteps.indices { twoSteps[j] -= eta * gradient[j] }
    }
    #expect(relativeError(dropped, twoSteps) < tolerance)
  }

  /// With an evaluation batch, each report carries its loss and accuracy at the epoch's end.
  @Test func reportsCarryTheEvaluationLossAndAccuracy() throws {
    let model = try SoftmaxRegression<Double>(inputCount: 3, classCount: 3)
    let data = try randomBatch(
      Double.self, k: 40, d: 3, outputs: 3, loss: .softmaxCrossEntropy, seed: 6)
    let held = try randomBatch(
      Double.self, k: 15, d: 3, outputs: 3, loss: .softmaxCrossEntropy, seed: 7)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 40, batchSize: 8, seed: 0), schedule: .constant(0.5))
    var w = model.initialParameters(seed: 0)
    var checked = 0
    try trainer.train(parameters: &w, data: data, epochs: 3, evaluation: held) { report, current in
      let loss = try model.meanLoss(parameters: current, batch: held)
      let accuracy = try model.accuracy(parameters: current, batch: held)
      #expect(report.evaluationLoss == loss)
      #expect(report.evaluationAccuracy == accuracy)
      checked += 1
    }
    #expect(checked == 3)
    let regression = try randomBatch(
      Double.self, k: 5, d: 3, outputs: 1, loss: .squaredError, seed: 1)
    let linear = try LinearRegression<Double>(inputCount: 3)
    var linearTrainer = MinibatchTrainer(
      model: linear, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 5, batchSize: 2, seed: 0), schedule: .constant(0.1))
    var v = linear.initialParameters(seed: 0)
    try linearTrainer.train(parameters: &v, data: regression, epochs: 1, evaluation: regression) {
      report, _ in
      #expect(report.evaluationLoss != nil && report.evaluationAccuracy == nil)
    }
  }

  /// Example weights go through the weighted-mean GEMV: weights 2 on every example give the same
  /// weights as no weights (the weighted mean divides by Σw), and the running loss is weighted.
  @Test func exampleWeightsGiveTheWeightedMean() throws {
    let model = try LogisticRegression<Double>(inputCount: 4)
    let data = try randomBatch(
      Double.self, k: 30, d: 4, outputs: 1, loss: .binaryCrossEntropy, seed: 2)
    func train(_ weights: [Double]?) throws -> [Double] {
      var trainer = MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent(),
        sampler: try BatchSampler(exampleCount: 30, batchSize: 7, seed: 3), schedule: .constant(0.5)
      )
      var w = model.initialParameters(seed: 0)
      try trainer.train(parameters: &w, data: data, epochs: 2, exampleWeights: weights)
      return w
    }
    #expect(relativeError(try train(nil), try train(Array(repeating: 2, count: 30))) < 1e-14)
    // Zero weight on every example but the first 10 = training on the first 10 alone, same order.
    let masked = try train((0..<30).map { $0 < 10 ? 1 : 0 })
    #expect(relativeError(masked, try train(nil)) > 1e-3)
  }

  /// A NaN loss stops training with a clear error; the weights are those after the last good step.
  @Test func nonFiniteLossStopsAtTheLastGoodStep() throws {
    let model = try LinearRegression<Double>(inputCount: 2)
    var rows: [[Double]] = [[1, 0], [0, 1], [1, 1], [0.5, -1], [2, 1]]
    rows[3][0] = 1e300  // its squared residual overflows
    let data = try Batch(
      inputs: try Matrix(rows: rows),
      targets: .values(try Matrix(rows: [[1], [2], [3], [4], [5]])))
    func trainer(_ count: Int) throws -> MinibatchTrainer<
      LinearRegression<Double>, StochasticGradientDescent<Double>
    > {
      MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent(),
        sampler: try BatchSampler(exampleCount: count, batchSize: 1, shuffles: false, seed: 0),
        schedule: .constant(0.1))
    }
    var w: [Double] = [0.5, 0.5, 0]
    var failing = try trainer(5)
    expectError(.nonFiniteLoss(epoch: 0, batch: 3, loss: .infinity)) {
      try failing.train(parameters: &w, data: data, epochs: 2)
    }
    var reference: [Double] = [0.5, 0.5, 0]
    var good = try trainer(3)
    try good.train(parameters: &reference, data: data.gathering(0..<3), epochs: 1)
    #expect(w == reference)

    // A step that overflows the weights is undone, too.
    let finiteLoss = try Batch(
      inputs: try Matrix(rows: [[1e300, 0]]), targets: .values(try Matrix(rows: [[0]])))
    var v: [Double] = [1e-190, 0, 0]
    var overflow = try trainer(1)
    expectError(
      .nonFiniteStep(epoch: 0, batch: 0, quantity: "parameters after the step")
    ) {
      try overflow.train(parameters: &v, data: finiteLoss, epochs: 1)
    }
    #expect(v == [1e-190, 0, 0])

    // With a stateful optimiser, its state is kept with the weights: the second step's loss is
    // finite (≈ 5e219) but its gradient overflows, and the error names the gradient.
    func adamTrainer(_ count: Int) throws -> MinibatchTrainer<
      LinearRegression<Double>, Adam<Double>
    > {
      MinibatchTrainer(
        model: model, optimizer: try Adam<Double>(),
        sampler: try BatchSampler(exampleCount: count, batchSize: 1, shuffles: false, seed: 0),
        schedule: .constant(1e-200))
    }
    let twoExamples = try Batch(
      inputs: try Matrix(rows: [[1, 0], [1e300, 0]]),
      targets: .values(try Matrix(rows: [[0], [0]])))
    var failingAdam = try adamTrainer(2)
    var u: [Double] = [1e-190, 0, 0]
    expectError(.nonFiniteStep(epoch: 0, batch: 1, quantity: "gradient")) {
      try failingAdam.train(parameters: &u, data: twoExamples, epochs: 1)
    }
    var oneStep = try adamTrainer(1)
    var w1: [Double] = [1e-190, 0, 0]
    try oneStep.train(parameters: &w1, data: twoExamples.gathering(0..<1), epochs: 1)
    #expect(u == w1)
    #expect(failingAdam.optimizer.stepCount == 1)
    #expect(failingAdam.optimizer.firstMoment == oneStep.optimizer.firstMoment)
    #expect(failingAdam.optimizer.secondMoment == oneStep.optimizer.secondMoment)
  }

  @Test func badTrainingInputsAreRefusedBeforeAnyStep() throws {
    let model = try SoftmaxRegression<Float>(inputCount: 2, classCount: 3)
    let data = try randomBatch(
      Float.self, k: 6, d: 2, outputs: 3, loss: .softmaxCrossEntropy, seed: 1)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(),
      sampler: try BatchSampler(exampleCount: 6, batchSize: 2, seed: 0), schedule: .constant(0.1))
    let start = model.initialParameters(seed: 0)
    var w = start
    expectError(.shapeMismatch(expected: 5, got: 6, of: "examples (sampler's count)")) {
      var other = MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent(),
        sampler: try BatchSampler(exampleCount: 5, batchSize: 2, seed: 0), schedule: .constant(0.1))
      try other.train(parameters: &w, data: data, epochs: 1)
    }
    expectError(.invalidArgument(name: "epochs", value: "-1", expected: "≥ 0")) {
      try trainer.train(parameters: &w, data: data, epochs: -1)
    }
    expectError(.invalidArgument(name: "first epoch", value: "-2", expected: "≥ 0")) {
      try trainer.train(parameters: &w, data: data, epochs: 1, firstEpoch: -2)
    }
    expectError(.shapeMismatch(expected: 6, got: 2, of: "example weights (one per example)")) {
      try trainer.train(parameters: &w, data: data, epochs: 1, exampleWeights: [1, 1])
    }
    expectError(.nonFiniteValue(index: 4, of: "example weights")) {
      try trainer.train(
        parameters: &w, data: data, epochs: 1, exampleWeights: [1, 1, 1, 1, .nan, 1])
    }
    expectError(.negativeValue(index: 0, value: -1, of: "example weights")) {
      try trainer.train(parameters: &w, data: data, epochs: 1, exampleWeights: [-1, 1, 1, 1, 1, 1])
    }
    expectError(.shapeMismatch(expected: 9, got: 8, of: "parameters (n)")) {
      var short = Array(start.dropLast())
      try trainer.train(parameters: &short, data: data, epochs: 1)
    }
    let narrow = try randomBatch(
      Float.self, k: 3, d: 1, outputs: 3, loss: .softmaxCrossEntropy, seed: 1)
    expectError(.shapeMismatch(expected: 2, got: 1, of: "input features per example (d)")) {
      try trainer.train(parameters: &w, data: data, epochs: 1, evaluation: narrow)
    }
    let badLabels = try Batch(inputs: data.inputs, targets: .labels([0, 1, 2, 0, 1, 3]))
    expectError(.labelOutOfRange(index: 5, label: 3, classCount: 3)) {
      try trainer.train(parameters: &w, data: badLabels, epochs: 1)
    }
    var badSchedule = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 6, batchSize: 2, seed: 0), schedule: .constant(.nan))
    expectError(.invalidLearningRate(.nan)) {
      try badSchedule.train(parameters: &w, data: data, epochs: 1)
    }
    #expect(w == start)
    #expect(trainer.optimizer.velocity.isEmpty)
  }
}
