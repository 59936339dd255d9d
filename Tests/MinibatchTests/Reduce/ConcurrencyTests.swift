@_spi(Benchmark) import Minibatch
import MinibatchTestSupport
import Testing

/// Many tasks reducing the same matrices at once get exactly the serial results: the library
/// keeps no shared mutable state, and every path is deterministic.
@Suite struct ConcurrencyTests {
  @Test(arguments: allScalarTypes)
  func concurrentReductionsEqualSerialOnes(_ type: any BLASScalar.Type) async throws {
    try await check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) async throws {
    // One matrix for each path: in cache (BLAS GEMV) and beyond the BLAS threshold, twice the
    // last-level cache (kernel).
    let beyond = 2 * CacheSize.lastLevelBytes / (4099 * MemoryLayout<Scalar>.stride) + 64
    let matrices = [
      try randomGradients(Scalar.self, k: 64, n: 515, seed: 1),
      try randomGradients(Scalar.self, k: beyond, n: 4099, seed: 2),
    ]
    #expect(matrices[1].reductionImplementation == "streaming-kernel")
    func compute(_ gradients: PerExampleGradients<Scalar>, parallelism: Parallelism) throws
      -> [[Scalar]]
    {
      let weights = (0..<gradients.k).map { Scalar($0 % 5) + 0.5 }
      var w = [Scalar](repeating: 1, count: gradients.n)
      try gradients.applyMeanStep(to: &w, learningRate: 0.05, parallelism: parallelism)
      return [
        gradients.mean(parallelism: parallelism),
        try gradients.weightedMean(exampleWeights: weights, parallelism: parallelism), w,
      ]
    }
    let serial = try matrices.map { try compute($0, parallelism: .automatic) }
    let concurrent = try await withThrowingTaskGroup(of: (Int, [[Scalar]]).self) { group in
      for task in 0..<24 {
        let index = task % matrices.count
        let gradients = matrices[index]
        group.addTask { (index, try compute(gradients, parallelism: .threads(1 + task % 3))) }
      }
      var all: [(Int, [[Scalar]])] = []
      for try await result in group { all.append(result) }
      return all
    }
    #expect(concurrent.count == 24)
    for (index, results) in concurrent {
      #expect(results == serial[index], "matrix \(index)")
    }
  }
}

/// The factored and streamed representations and the accumulators, shared between many tasks,
/// give exactly the serial results (the streamed sweep's threads inside each task included).
@Suite struct OperatorConcurrencyTests {
  @Test(arguments: allScalarTypes)
  func concurrentOperatorsEqualSerialOnes(_ type: any BLASScalar.Type) async throws {
    try await check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) async throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [30, 40, 5], hiddenActivation: .tanh)
    let batch = try randomBatch(
      Scalar.self, k: 50, d: 30, outputs: 5, loss: .softmaxCrossEntropy, seed: 3)
    let w = model.initialParameters(seed: 2)
    let (factored, _) = try model.perExampleGradients(
      parameters: w, batch: batch, representation: .factored)
    let (streamed, _) = try model.perExampleGradients(
      parameters: w, batch: batch, representation: .streamed)
    let operators = [factored, streamed]
    let v = (0..<50).map { Scalar($0 % 7) / 7 }
    @Sendable func compute(_ gradients: any PerExampleGradientOperator<Scalar>, threads: Int)
      throws -> [[Scalar]]
    {
      let parallelism = Parallelism.threads(threads)
      var squares = [Scalar](repeating: .nan, count: gradients.parameterCount)
      try gradients.reduceSquares(
        with: v, alpha: 1, beta: 0, into: &squares, parallelism: parallelism)
      var accumulator = try GradientAccumulator<Scalar>(
        parameterCount: gradients.parameterCount, tracksSquaredNorms: true, tracksMoments: true)
      try accumulator.add(gradients, reductionWeights: v, parallelism: parallelism)
      return [
        try gradients.reduce(with: v, parallelism: parallelism), squares,
        gradients.squaredRowNorms(parallelism: parallelism).map { Scalar($0) },
        try accumulator.gradient(normalizedBy: .weightTotal),
      ]
    }
    // Factored runs on OpenBLAS (its own threads); streamed is the package's sweep, whose bits
    // do not depend on its thread count.
    let serial = try operators.map { try compute($0, threads: 1) }
    let concurrent = try await withThrowingTaskGroup(of: (Int, [[Scalar]]).self) { group in
      for task in 0..<16 {
        let index = task % operators.count
        let gradients = operators[index]
        group.addTask { (index, try compute(gradients, threads: 1 + task % 3)) }
      }
      var all: [(Int, [[Scalar]])] = []
      for try await result in group { all.append(result) }
      return all
    }
    #expect(concurrent.count == 16)
    for (index, results) in concurrent {
      #expect(results == serial[index], "operator \(index)")
    }
  }
}
