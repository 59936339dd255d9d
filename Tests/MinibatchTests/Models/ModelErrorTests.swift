import Minibatch
import MinibatchTestSupport
import Testing

/// Every error a model can throw, and that a failed call writes nothing.
@Suite struct ModelErrorTests {
  @Test(arguments: allScalarTypes)
  func everyModelErrorIsThrownAndNothingIsWritten(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try SoftmaxRegression<Scalar>(inputCount: 3, classCount: 4)
    let parameters = model.initialParameters(seed: 1)
    let batch = try randomBatch(
      Scalar.self, k: 5, d: 3, outputs: 4, loss: .softmaxCrossEntropy, seed: 2)
    let sentinel = Scalar(42)
    var gradients = try PerExampleGradients<Scalar>(
      k: 5, n: 16, elements: Array(repeating: sentinel, count: 80))
    func write(_ w: [Scalar], _ b: Batch<Scalar>) throws -> [Scalar] {
      try model.writePerExampleGradients(parameters: w, batch: b, into: &gradients)
    }

    expectError(.shapeMismatch(expected: 16, got: 15, of: "parameters (n)")) {
      try write(Array(parameters.dropLast()), batch)
    }
    var bad = parameters
    bad[3] = .infinity
    expectError(.nonFiniteValue(index: 3, of: "parameters")) { try write(bad, batch) }
    let wide = try randomBatch(
      Scalar.self, k: 5, d: 4, outputs: 4, loss: .softmaxCrossEntropy, seed: 2)
    expectError(.shapeMismatch(expected: 3, got: 4, of: "input features per example (d)")) {
      try write(parameters, wide)
    }
    let regression = try randomBatch(
      Scalar.self, k: 5, d: 3, outputs: 4, loss: .squaredError, seed: 2)
    expectError(.wrongTargetKind(expected: "class labels", got: "real values (4 per example)")) {
      try write(parameters, regression)
    }
    let outOfRange = try Batch(inputs: batch.inputs, targets: .labels([0, 1, 4, 2, 3]))
    expectError(.labelOutOfRange(index: 2, label: 4, classCount: 4)) {
      try write(parameters, outOfRange)
    }
    let negative = try Batch(inputs: batch.inputs, targets: .labels([0, -1, 0, 0, 0]))
    expectError(.labelOutOfRange(index: 1, label: -1, classCount: 4)) {
      try write(parameters, negative)
    }
    #expect(gradients.elements.allSatisfy { $0 == sentinel }, "a failed call wrote rows")

    var wrongRows = try PerExampleGradients<Scalar>(k: 4, n: 16)
    expectError(.shapeMismatch(expected: 5, got: 4, of: "rows of the gradient matrix (k)")) {
      try model.writePerExampleGradients(parameters: parameters, batch: batch, into: &wrongRows)
    }
    var wrongColumns = try PerExampleGradients<Scalar>(k: 5, n: 17)
    expectError(.shapeMismatch(expected: 16, got: 17, of: "columns of the gradient matrix (n)")) {
      try model.writePerExampleGradients(parameters: parameters, batch: batch, into: &wrongColumns)
    }

    // Binary labels are 0 or 1; regression targets need one column per output.
    let logistic = try LogisticRegression<Scalar>(inputCount: 3)
    let twos = try Batch(inputs: batch.inputs, targets: .labels([0, 1, 2, 1, 0]))
    expectError(.labelOutOfRange(index: 2, label: 2, classCount: 2)) {
      try logistic.losses(parameters: logistic.initialParameters(seed: 0), batch: twos)
    }
    let linear = try LinearRegression<Scalar>(inputCount: 3)
    expectError(.shapeMismatch(expected: 1, got: 4, of: "target values per example")) {
      try linear.meanLossAndGradient(
        parameters: linear.initialParameters(seed: 0), batch: regression)
    }
    expectError(.wrongTargetKind(expected: "real values", got: "class labels")) {
      try linear.losses(parameters: linear.initialParameters(seed: 0), batch: batch)
    }
    expectError(.wrongTargetKind(expected: "class labels", got: "real values (4 per example)")) {
      try model.accuracy(parameters: parameters, batch: regression)
    }

    // Construction.
    expectError(
      .invalidArgument(
        name: "layer sizes", value: "[3]", expected: "at least 2 sizes (inputs and outputs)")
    ) { try MultilayerPerceptron<Scalar>(layerSizes: [3]) }
    expectError(.invalidArgument(name: "layer size 1", value: "0", expected: "≥ 1")) {
      try MultilayerPerceptron<Scalar>(layerSizes: [3, 0, 2])
    }
    expectError(
      .invalidArgument(name: "outputs of a binary cross-entropy model", value: "2", expected: "1")
    ) { try MultilayerPerceptron<Scalar>(layerSizes: [3, 2], outputLoss: .binaryCrossEntropy) }
    expectError(
      .invalidArgument(
        name: "outputs of a softmax cross-entropy model", value: "1", expected: "≥ 2 classes")
    ) { try MultilayerPerceptron<Scalar>(layerSizes: [3, 1]) }
    // The regressions name the argument the user passed, not an internal layer.
    expectError(.invalidArgument(name: "class count", value: "1", expected: "≥ 2")) {
      try SoftmaxRegression<Scalar>(inputCount: 3, classCount: 1)
    }
    expectError(.invalidArgument(name: "class count", value: "0", expected: "≥ 2")) {
      try SoftmaxRegression<Scalar>(inputCount: 3, classCount: 0)
    }
    expectError(.invalidArgument(name: "input count", value: "0", expected: "≥ 1")) {
      try LogisticRegression<Scalar>(inputCount: 0)
    }
    expectError(.invalidArgument(name: "input count", value: "-2", expected: "≥ 1")) {
      try LinearRegression<Scalar>(inputCount: -2)
    }
    expectError(
      .invalidArgument(
        name: "regularisation strength λ", value: "-1.0", expected: "finite and ≥ 0")
    ) { try StochasticGradientDescent<Scalar>(regularization: .l2(-1)) }
    expectError(
      .dimensionOutOfRange(value: 4_295_032_832, limit: 2_147_483_647, of: "n (parameters)")
    ) {
      try MultilayerPerceptron<Scalar>(layerSizes: [65535, 65537])
    }
    expectError(
      .invalidArgument(name: "finite-difference step", value: "0.0", expected: "finite and > 0")
    ) { try model.checkGradients(parameters: parameters, batch: batch, step: 0) }
  }

  /// Huge logits give finite losses and bounded gradients (log-sum-exp, softplus forms).
  @Test(arguments: allScalarTypes)
  func largeLogitsStayFinite(_ type: any BLASScalar.Type) throws { try checkLargeLogits(type) }

  func checkLargeLogits<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let inputs = try Matrix<Scalar>(rows: [[1], [-1]])
    let logistic = try LogisticRegression<Scalar>(inputCount: 1)
    let binary = try Batch(inputs: inputs, targets: .labels([1, 1]))
    // z = ±1000: the right label costs ~0, the wrong one exactly |z|.
    let (losses, gradient) = (
      try logistic.losses(parameters: [1000, 0], batch: binary),
      try logistic.perExampleGradients(parameters: [1000, 0], batch: binary).gradients
    )
    #expect(losses[0] == 0)
    #expect(losses[1] == 1000)
    #expect(gradient.elements == [0, 0, 1, -1])

    let softmax = try SoftmaxRegression<Scalar>(inputCount: 1, classCount: 3)
    let labels = try Batch(inputs: inputs, targets: .labels([0, 0]))
    let w: [Scalar] = [30_000, 0, -30_000, 0, 0, 0]
    let softmaxLosses = try softmax.losses(parameters: w, batch: labels)
    #expect(softmaxLosses[0] == 0)
    #expect(softmaxLosses[1] == 60_000)
    let rows = try softmax.perExampleGradients(parameters: w, batch: labels).gradients
    #expect(rows.elements.allSatisfy { $0.isFinite })
  }
}

/// Predicted classes and probabilities agree with the logits and with each other.
@Suite struct PredictionTests {
  @Test func probabilitiesAndClassesFollowTheLogits() throws {
    let softmax = try SoftmaxRegression<Double>(inputCount: 2, classCount: 3)
    // The last row's logits are (1000, 0, −500): probabilities that a naive exp would overflow.
    let inputs = try Matrix<Double>(rows: [[1, 0], [0, 1], [-1, -1], [500, 0]])
    let w: [Double] = [2, 0, 0, 3, -1, -1, 0, 0, 0]
    let probabilities = try softmax.probabilities(parameters: w, inputs: inputs)
    let logits = try softmax.outputs(parameters: w, inputs: inputs)
    for i in 0..<4 {
      let row = try probabilities.row(i)
      #expect(abs(row.reduce(0, +) - 1) <= 1e-15 && row.allSatisfy { $0.isFinite && $0 >= 0 })
      let z = try logits.row(i)
      let largest = z.max()!
      let exact = z.map { Double.exp($0 - largest) }
      let total = exact.reduce(0, +)
      #expect(zip(row, exact).allSatisfy { abs($0 - $1 / total) <= 1e-15 })
    }
    #expect(try softmax.predictedClasses(parameters: w, inputs: inputs) == [0, 1, 2, 0])

    let logistic = try LogisticRegression<Double>(inputCount: 1)
    let x = try Matrix<Double>(rows: [[1], [-1], [0.1]])
    let p = try logistic.probabilities(parameters: [800, 0], inputs: x)
    #expect(p.elements == [1, 0, 1 / (1 + Double.exp(-80))])
    #expect(try logistic.predictedClasses(parameters: [800, 0], inputs: x) == [1, 0, 1])

    let linear = try LinearRegression<Double>(inputCount: 1)
    expectError(
      .wrongTargetKind(expected: "a classifier", got: "a squared-error (regression) model")
    ) { try linear.probabilities(parameters: [1, 0], inputs: x) }
  }
}
