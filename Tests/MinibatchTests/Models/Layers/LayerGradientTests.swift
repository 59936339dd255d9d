import Minibatch
import MinibatchTestSupport
import PropertyBased
import Testing

/// Every built-in layer inside a `Sequential`: per-example rows against central finite
/// differences and the microbatch reference, the mean of the rows against the gradient of the mean
/// loss, and every operation of the factored `J` (ghost and materialised norms included) against a
/// naive reduction of its rows and against the stored and streamed representations.
@Suite struct LayerGradientTests {
  @Test(arguments: LayerCase.all)
  func finiteDifferencesDouble(_ layerCase: LayerCase) throws {
    let model = try layerCase.model(Double.self)
    let k = 3
    let batch = try layerCase.batch(Double.self, k: k, seed: 7)
    let w = model.initialParameters(seed: 3).enumerated().map { $1 + 0.01 * Double($0 % 7 - 3) }
    let (gradients, _) = try model.perExampleGradients(
      parameters: w, batch: batch, representation: .factored)
    let rows = try denseRows(gradients)
    let n = model.parameterCount
    var rng = SeededGenerator(seed: 11)
    let h = 1e-6
    for i in 0..<k {
      let single = try batch.gathering([i])
      for _ in 0..<min(n, 24) {
        let j = Int(rng.next() % UInt64(n))
        var plus = w
        plus[j] += h
        var minus = w
        minus[j] -= h
        let difference =
          (try model.losses(parameters: plus, batch: single)[0]
            - model.losses(parameters: minus, batch: single)[0]) / (2 * h)
        let analytic = rows[i * n + j]
        #expect(
          abs(difference - analytic) <= 1e-6 * max(1, abs(analytic)),
          "\(layerCase) example \(i) parameter \(j): \(analytic) vs \(difference)")
      }
    }
  }

  @Test(arguments: LayerCase.all)
  func microbatchAndMeanDouble(_ layerCase: LayerCase) throws {
    try checkMicrobatchAndMean(Double.self, layerCase, tolerance: 1e-12)
  }

  @Test(arguments: LayerCase.all)
  func microbatchAndMeanFloat(_ layerCase: LayerCase) throws {
    try checkMicrobatchAndMean(Float.self, layerCase, tolerance: 2e-4)
  }

  func checkMicrobatchAndMean<Scalar: BLASScalar>(
    _: Scalar.Type, _ layerCase: LayerCase, tolerance: Double
  ) throws {
    let model = try layerCase.model(Scalar.self)
    let k = 5
    let batch = try layerCase.batch(Scalar.self, k: k, seed: 21)
    let w = model.initialParameters(seed: 5)
    let n = model.parameterCount
    for representation in [GradientRepresentation.factored, .stored, .streamed] {
      let (gradients, losses) = try model.perExampleGradients(
        parameters: w, batch: batch, representation: representation)
      let rows = try denseRows(gradients)
      for i in 0..<k {
        let (loss, gradient) = try model.meanLossAndGradient(
          parameters: w, batch: try batch.gathering([i]))
        #expect(
          relativeError(Array(rows[(i * n)..<((i + 1) * n)]), gradient) <= tolerance,
          "\(layerCase) \(representation) row \(i) \(Scalar.self)")
        #expect(abs(Double(loss) - Double(losses[i])) <= tolerance * max(1, abs(Double(loss))))
      }
      let (_, meanGradient) = try model.meanLossAndGradient(parameters: w, batch: batch)
      let naiveMean = (0..<n).map { j in
        (0..<k).reduce(0.0) { $0 + Double(rows[$1 * n + j]) } / Double(k)
      }
      #expect(
        meanRelativeError(gradients.mean(), naiveMean, rows: rows, k: k) <= tolerance,
        "\(layerCase) mean")
      #expect(
        meanRelativeError(meanGradient, naiveMean, rows: rows, k: k) <= tolerance,
        "\(layerCase) mean loss")
    }
  }

  @Test(arguments: LayerCase.all)
  func factoredOperationsDouble(_ layerCase: LayerCase) throws {
    try checkOperations(Double.self, layerCase, tolerance: 1e-12)
  }

  @Test(arguments: LayerCase.all)
  func factoredOperationsFloat(_ layerCase: LayerCase) throws {
    try checkOperations(Float.self, layerCase, tolerance: 1e-4)
  }

  /// Each operation of the factored, stored and streamed `J` against the naive reduction of its
  /// rows.
  func checkOperations<Scalar: BLASScalar>(
    _: Scalar.Type, _ layerCase: LayerCase, tolerance: Double
  ) throws {
    let model = try layerCase.model(Scalar.self)
    let k = 6
    let batch = try layerCase.batch(Scalar.self, k: k, seed: 31)
    let w = model.initialParameters(seed: 9)
    let n = model.parameterCount
    var rng = SeededGenerator(seed: 41)
    let v: [Scalar] = rng.signedArray(count: k)
    let start: [Scalar] = rng.signedArray(count: n)
    let blocks = model.parameterBlocks
    let blockVectors: [[Scalar]] = blocks.ranges.map { _ in rng.signedArray(count: k) }
    let (factored, _) = try model.perExampleGradients(
      parameters: w, batch: batch, representation: .factored)
    let rows = try denseRows(factored).map(Double.init)
    func naive(_ j: Int, _ weights: [Scalar], squared: Bool) -> Double {
      (0..<k).reduce(0.0) { total, i in
        let g = rows[i * n + j]
        return total + Double(weights[i]) * (squared ? g * g : g)
      }
    }
    let expectedReduce = (0..<n).map { 0.5 * naive($0, v, squared: false) + 2 * Double(start[$0]) }
    let expectedSquares = (0..<n).map { naive($0, v, squared: true) - Double(start[$0]) }
    let expectedNorms = (0..<k).map { i in
      (0..<n).reduce(0.0) { $0 + rows[i * n + $1] * rows[i * n + $1] }
    }
    var expectedBlocks = [Double](repeating: 0, count: n)
    var expectedBlockNorms: [[Double]] = []
    for (b, range) in blocks.ranges.enumerated() {
      for j in range { expectedBlocks[j] = naive(j, blockVectors[b], squared: false) }
      expectedBlockNorms.append(
        (0..<k).map { i in range.reduce(0.0) { $0 + rows[i * n + $1] * rows[i * n + $1] } })
    }
    let expectedGram = (0..<(k * k)).map { e in
      (0..<n).reduce(0.0) { $0 + rows[(e / k) * n + $1] * rows[(e % k) * n + $1] }
    }
    for representation in [GradientRepresentation.factored, .stored, .streamed] {
      let label = "\(layerCase) \(representation) \(Scalar.self)"
      let (gradients, _) = try model.perExampleGradients(
        parameters: w, batch: batch, representation: representation)
      var y = start
      try gradients.reduce(with: v, alpha: 0.5, beta: 2, into: &y)
      #expect(relativeError(y, expectedReduce) <= tolerance, "reduce \(label)")
      var squares = start
      try gradients.reduceSquares(with: v, alpha: 1, beta: -1, into: &squares)
      #expect(relativeError(squares, expectedSquares) <= tolerance, "reduceSquares \(label)")
      #expect(
        relativeError(gradients.squaredRowNorms(), expectedNorms) <= tolerance, "norms \(label)")
      let blockNorms = try gradients.squaredBlockNorms(blocks, parallelism: .automatic)
      for b in blocks.ranges.indices {
        #expect(
          relativeError(blockNorms[b], expectedBlockNorms[b]) <= tolerance,
          "block \(b) norms \(label)")
      }
      var blocked = [Scalar](repeating: .nan, count: n)
      try gradients.reduce(
        blockVectors: blockVectors, blocks: blocks, alpha: 1, beta: 0, into: &blocked,
        parallelism: .automatic)
      #expect(relativeError(blocked, expectedBlocks) <= tolerance, "block reduce \(label)")
      let gram = try gradients.gramMatrix(parallelism: .automatic)
      #expect(relativeError(gram.elements, expectedGram) <= tolerance, "gram \(label)")
    }
    // Ghost and materialised norms of every convolution agree.
    let factors = (factored as! FactoredPerExampleGradients<Scalar>).factors
    for case let convolution as ConvolutionFactor<Scalar> in factors {
      #expect(
        relativeError(
          convolution.squaredWeightNorms(method: .ghost),
          convolution.squaredWeightNorms(method: .materialized)) <= tolerance,
        "ghost vs materialised \(layerCase)")
    }
  }

  /// Random convolutional networks (channels, sizes, kernels, strides, paddings, pooling): the
  /// microbatch reference and the factored operations; a failure shrinks to its smallest case.
  @Test func randomConvolutionalNetworks() async {
    await propertyCheck(
      count: 40, input: Gen.int(in: 1...3), Gen.int(in: 3...7), Gen.int(in: 1...3),
      Gen.int(in: 0...10_000)
    ) { channels, size, kernel, seed in
      var rng = SeededGenerator(seed: UInt64(seed))
      let stride = 1 + Int(rng.next() % 2)
      let padding = Int(rng.next() % UInt64(kernel))
      let twoD = rng.next() % 2 == 0
      let filters = 1 + Int(rng.next() % 3)
      let pool = rng.next() % 2 == 0 ? "maxpool" : "avgpool"
      let dims = twoD ? "2d" : "1d"
      let shape = twoD ? [channels, size, size] : [channels, size]
      let convolved = (size + 2 * padding - kernel) / stride + 1
      let pooling = convolved >= 2 ? " \(pool)\(dims)(2,stride=1)" : ""
      let text =
        "conv\(dims)(\(filters),\(kernel),stride=\(stride),padding=\(padding)) tanh\(pooling) flatten dense(2)"
      let layerCase = LayerCase(shape, text, outputs: 2)
      do {
        try checkMicrobatchAndMean(Double.self, layerCase, tolerance: 1e-11)
        try checkOperations(Double.self, layerCase, tolerance: 1e-11)
        try checkOperations(Float.self, layerCase, tolerance: 1e-4)
      } catch {
        Issue.record("\(layerCase) seed \(seed): \(error)")
      }
    }
  }
}
