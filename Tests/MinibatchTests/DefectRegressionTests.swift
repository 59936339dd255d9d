import Minibatch
import MinibatchTestSupport
import RealModule
import Testing

/// Each test here failed before the one-pipeline change; they keep the defects from returning.
@Suite struct DefectRegressionTests {
  /// Softmax cross-entropy at logits ~1e4 keeps a loss of 4.5e-5 in Float (`logSumExp − z_y`
  /// returned 0), and its gradient keeps `softmax − onehot`.
  @Test(arguments: allScalarTypes)
  func softmaxCrossEntropyDoesNotCancel(_ type: any BLASScalar.Type) throws {
    try checkSoftmax(type)
  }

  func checkSoftmax<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [1, 3], hiddenActivation: .identity)
    let batch = try Batch(inputs: try Matrix<Scalar>(rows: [[1]]), targets: .labels([0]))
    // z = (1e4, 1e4 − 10, 1e4 − 12): ℓ = log(1 + e^−10 + e^−12).
    let parameters: [Scalar] = [10_000, 9_990, 9_988, 0, 0, 0]
    let loss = try model.losses(parameters: parameters, batch: batch)[0]
    let exact = Double.log(onePlus: Double.exp(-10) + Double.exp(-12))
    #expect(abs(Double(loss) - exact) <= 1e-5 * exact, "\(loss) vs \(exact)")
    let (_, gradient) = try model.meanLossAndGradient(parameters: parameters, batch: batch)
    let total = 1 + Double.exp(-10) + Double.exp(-12)
    #expect(abs(Double(gradient[1]) - Double.exp(-10) / total) <= 1e-5 * Double.exp(-10))
  }

  /// A feature with |μ|/σ ≈ 1e8 gets the right scale (E[x²] − μ² gave none).
  @Test func standardizerScalesAFeatureWithALargeMean() throws {
    let inputs = try Matrix<Double>(rows: [[1e8 - 1, 5], [1e8, 6], [1e8 + 1, 7]])
    let standardizer = try Standardizer(fitting: inputs)
    let sigma = (2.0 / 3).squareRoot()
    #expect(abs(standardizer.scales[0] - sigma) <= 1e-9 * sigma)
    #expect(standardizer.means[0] == 1e8)
    let transformed = try standardizer.transform(inputs)
    #expect(abs(transformed[2, 0] - 1 / sigma) <= 1e-9)
  }

  /// A feature equal to the intercept column: numpy's cut-off reports rank 2 and returns the
  /// minimum-norm minimiser, with the intercept split evenly (LAPACK's default ε treated the
  /// 1e-16 singular value as real and returned entries ~1e14).
  @Test func leastSquaresCutsOffRoundingLevelSingularValues() throws {
    var rng = SeededGenerator(seed: 3)
    let k = 50
    let x: [Double] = rng.signedArray(count: k)
    let inputs = try Matrix<Double>(rows: (0..<k).map { [1, x[$0]] })
    let targets = try Matrix<Double>(rows: (0..<k).map { [0.7 + 2 * x[$0]] })
    let model = try LinearRegression<Double>(inputCount: 2)
    let solution = try model.leastSquaresSolution(
      data: try Batch(inputs: inputs, targets: .values(targets)))
    #expect(solution.rank == 2)
    let w = solution.solution
    #expect(abs(w[0] - 0.35) < 1e-10 && abs(w[2] - 0.35) < 1e-10 && abs(w[1] - 2) < 1e-10)
    // An explicit rcond keeps the old behaviour available, and a bad one is refused.
    expectError(.invalidArgument(name: "rcond", value: "-1.0", expected: "finite and ≥ 0")) {
      try solveLeastSquares(inputs, targets.elements, rcond: -1)
    }
  }

  /// With example weights, a batch of one still feels its weight, and a low-weight example takes
  /// a proportionally small step: the default normalisation divides by the data set's weight
  /// total (scaled to the batch), not by the batch's own.
  @Test func exampleWeightsActAcrossBatches() throws {
    let model = try LinearRegression<Double>(inputCount: 2)
    let data = try randomBatch(Double.self, k: 4, d: 2, outputs: 1, loss: .squaredError, seed: 8)
    let weights: [Double] = [0.1, 1, 1, 1]
    let start = model.initialParameters(seed: 1)
    func firstStep(_ normalization: TrainingNormalization) throws -> [Double] {
      var trainer = MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent(),
        sampler: try BatchSampler(exampleCount: 4, batchSize: 1, shuffles: false, seed: 0),
        schedule: .constant(0.5), normalization: normalization)
      var w = start
      try trainer.train(
        parameters: &w, data: data.gathering(0..<4), epochs: 1, exampleWeights: weights
      ) { _, _ in }
      return w
    }
    // One epoch of four one-example steps, replayed by hand.
    func replay(_ scale: (Int) -> Double) throws -> [Double] {
      var w = start
      for i in 0..<4 {
        let (_, g) = try model.meanLossAndGradient(parameters: w, batch: data.gathering([i]))
        w = zip(w, g).map { $0 - 0.5 * scale(i) * $1 }
      }
      return w
    }
    // D = 1·W/N = 3.1/4 for every one-example batch.
    let unbiased = try replay { weights[$0] / (3.1 / 4) }
    #expect(relativeError(try firstStep(.datasetWeightTotal), unbiased) < 1e-14)
    // The batch's own total ignores the weight of a lone example.
    #expect(relativeError(try firstStep(.weightTotal), try replay { _ in 1 }) < 1e-14)
    #expect(
      relativeError(try firstStep(.fixedDenominator(2)), try replay { weights[$0] / 2 }) < 1e-14)
  }

  /// All-zero example weights are refused before any step; batches of zero weight are skipped
  /// and not counted as steps.
  @Test func zeroWeightsAreRefusedOrSkipped() throws {
    let model = try LogisticRegression<Double>(inputCount: 2)
    let data = try randomBatch(
      Double.self, k: 4, d: 2, outputs: 1, loss: .binaryCrossEntropy, seed: 1)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 4, batchSize: 2, shuffles: false, seed: 0),
      schedule: .constant(0.1))
    var w = model.initialParameters(seed: 0)
    expectError(.zeroTotalWeight(total: 0)) {
      try trainer.train(parameters: &w, data: data, epochs: 1, exampleWeights: [0, 0, 0, 0])
    }
    #expect(w == model.initialParameters(seed: 0))
    var reports: [EpochReport] = []
    try trainer.train(parameters: &w, data: data, epochs: 1, exampleWeights: [0, 0, 1, 3]) {
      report, _ in reports.append(report)
    }
    #expect(reports.count == 1 && reports[0].steps == 1 && reports[0].examples == 2)
    #expect(reports[0].meanLoss.isFinite)
  }

  /// The trainer gives the same parameters whichever representation carries J.
  @Test(arguments: allScalarTypes)
  func trainerRepresentationsAgree(_ type: any BLASScalar.Type) throws {
    try checkRepresentations(type)
  }

  func checkRepresentations<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [5, 8, 3], hiddenActivation: .tanh)
    let data = try randomBatch(
      Scalar.self, k: 40, d: 5, outputs: 3, loss: .softmaxCrossEntropy, seed: 4)
    var rng = SeededGenerator(seed: 5)
    let weights: [Scalar] = rng.unitArray(count: 40)
    func train<O: Optimizer<Scalar>>(_ optimizer: O, _ representation: GradientRepresentation)
      throws -> [Scalar]
    {
      var trainer = MinibatchTrainer(
        model: model, optimizer: optimizer,
        sampler: try BatchSampler(exampleCount: 40, batchSize: 6, seed: 2),
        schedule: .constant(0.3), representation: representation)
      var w = model.initialParameters(seed: 3)
      try trainer.train(parameters: &w, data: data, epochs: 3, exampleWeights: weights)
      return w
    }
    let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-4
    for representation in [GradientRepresentation.stored, .streamed, .factored] {
      let sgd = try StochasticGradientDescent<Scalar>(regularization: .l2(0.01))
      let adam = try Adam<Scalar>.adamW()
      #expect(
        relativeError(try train(sgd, representation), try train(sgd, .automatic)) < tolerance,
        "SGD \(representation)")
      #expect(
        relativeError(try train(adam, representation), try train(adam, .automatic)) < tolerance,
        "AdamW \(representation)")
    }
  }

  /// `factored` is refused for a model that cannot factor its rows.
  @Test func factoredNeedsADenseModel() throws {
    struct RowsOnly: PerExampleGradientModel {
      typealias Scalar = Double
      let inner: LinearRegression<Double>
      var parameterCount: Int { inner.parameterCount }
      var inputCount: Int { inner.inputCount }
      var outputCount: Int { 1 }
      func validate(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) {
        try inner.validate(parameters: parameters, batch: batch)
      }
      func initialParameters(seed: UInt64) -> [Double] { inner.initialParameters(seed: seed) }
      func outputs(parameters: [Double], inputs: Matrix<Double>) throws(MinibatchError)
        -> Matrix<Double>
      { try inner.outputs(parameters: parameters, inputs: inputs) }
      func losses(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) -> [Double] {
        try inner.losses(parameters: parameters, batch: batch)
      }
      func perExampleRowWriter(parameters: [Double], batch: Batch<Double>) throws(MinibatchError)
        -> (writer: PerExampleRowWriter<Double>, losses: [Double])
      { try inner.perExampleRowWriter(parameters: parameters, batch: batch) }
      func meanLossAndGradient(parameters: [Double], batch: Batch<Double>) throws(MinibatchError)
        -> (loss: Double, gradient: [Double])
      { try inner.meanLossAndGradient(parameters: parameters, batch: batch) }
    }
    let model = RowsOnly(inner: try LinearRegression(inputCount: 2))
    let data = try randomBatch(Double.self, k: 6, d: 2, outputs: 1, loss: .squaredError, seed: 1)
    let sampler = try BatchSampler(exampleCount: 6, batchSize: 3, seed: 0)
    var factored = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(), sampler: sampler,
      schedule: .constant(0.1), representation: .factored)
    var w = model.initialParameters(seed: 0)
    expectError(
      .invalidArgument(
        name: "gradient representation", value: "factored",
        expected: "stored or streamed (RowsOnly has no layer factors)")
    ) { try factored.train(parameters: &w, data: data, epochs: 1) }
    var automatic = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(), sampler: sampler,
      schedule: .constant(0.1))
    try automatic.train(parameters: &w, data: data, epochs: 1)
    var linear = model.initialParameters(seed: 0)
    var direct = MinibatchTrainer(
      model: model.inner, optimizer: try StochasticGradientDescent(), sampler: sampler,
      schedule: .constant(0.1))
    try direct.train(parameters: &linear, data: data, epochs: 1)
    #expect(relativeError(w, linear) < 1e-14)
  }
}
