import MinibatchTestSupport
import Testing

@testable import Minibatch

/// Every reduction against the naive Double reference, over random shapes from k = n = 1 to
/// matrices beyond the last-level cache, on both paths (BLAS GEMV and the streaming kernel).
@Suite struct ReductionTests {
  @Test(arguments: allScalarTypes)
  func meanSumAndWeightedMeanMatchTheReference(_ type: any BLASScalar.Type) throws {
    try checkPublicReductions(type)
  }

  func checkPublicReductions<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (seed, shape) in reductionShapes.enumerated() {
      let (k, n) = shape
      let gradients = try randomGradients(Scalar.self, k: k, n: n, seed: UInt64(seed))
      let elements = gradients.elements
      var rng = SeededGenerator(seed: 1000 + UInt64(seed))

      let meanVector = [Scalar](repeating: 1 / Scalar(k), count: k)
      let mean = referenceReduction(elements: elements, k: k, n: n, vector: meanVector)
      #expect(
        withinSummationBound(gradients.mean(), mean.value, magnitude: mean.magnitude, terms: k),
        "mean, k=\(k) n=\(n) seed=\(seed)")

      let sum = referenceReduction(
        elements: elements, k: k, n: n, vector: [Scalar](repeating: 1, count: k))
      #expect(
        withinSummationBound(gradients.sum(), sum.value, magnitude: sum.magnitude, terms: k),
        "sum, k=\(k) n=\(n) seed=\(seed)")

      var weights: [Scalar] = rng.unitArray(count: k)
      weights[0] += 0.5  // a positive total even for k = 1
      let total = weights.reduce(0, +)
      let weighted = referenceReduction(
        elements: elements, k: k, n: n, vector: weights.map { $0 / total })
      #expect(
        withinSummationBound(
          try gradients.weightedMean(exampleWeights: weights), weighted.value,
          magnitude: weighted.magnitude, terms: 2 * k),
        "weighted mean, k=\(k) n=\(n) seed=\(seed)")

      let norms = gradients.rowNorms()
      #expect(norms.count == k)
      for i in 0..<k {
        let exact = try gradients.row(i).reduce(0.0) { $0 + Double($1) * Double($1) }
          .squareRoot()
        #expect(abs(Double(norms[i]) - exact) <= Double(n + 4) * Double(Scalar.ulpOfOne) * exact)
      }
    }
  }

  @Test(arguments: allScalarTypes)
  func bothPathsMatchTheReferenceForEveryAlphaAndBeta(_ type: any BLASScalar.Type) throws {
    try checkPaths(type)
  }

  func checkPaths<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (seed, shape) in reductionShapes.enumerated() {
      let (k, n) = shape
      let gradients = try randomGradients(Scalar.self, k: k, n: n, seed: 77 + UInt64(seed))
      var rng = SeededGenerator(seed: UInt64(seed))
      let v: [Scalar] = rng.signedArray(count: k)
      let y0: [Scalar] = rng.signedArray(count: n)
      for (alpha, beta) in [(Scalar(1), Scalar(0)), (-0.25, 1), (3, 0.5)] {
        let reference = referenceReduction(
          elements: gradients.elements, k: k, n: n, vector: v, alpha: alpha, beta: beta, y: y0)
        for path in ReductionPath.allCases {
          let start = beta == 0 ? [Scalar](repeating: .nan, count: n) : y0  // must not be read
          let y = reduceOnPath(
            path, gradients, v, alpha: alpha, beta: beta, start: start, threads: 2)
          #expect(
            withinSummationBound(y, reference.value, magnitude: reference.magnitude, terms: k + 1),
            "\(path) k=\(k) n=\(n) alpha=\(alpha) beta=\(beta)")
        }
      }
    }
  }

  @Test(arguments: allScalarTypes)
  func streamingKernelIsBitIdenticalForAnyThreadCount(_ type: any BLASScalar.Type) throws {
    try checkThreadIndependence(type)
  }

  func checkThreadIndependence<Scalar: BLASScalar>(_: Scalar.Type) throws {
    // Long rows split by columns, short rows split into row chunks, and shapes in between.
    for (k, n) in [(64, 20_011), (5000, 7), (4100, 40), (300, 3001), (9, 100_003)] {
      let gradients = try randomGradients(Scalar.self, k: k, n: n, seed: UInt64(k * n))
      var rng = SeededGenerator(seed: 5)
      let v: [Scalar] = rng.signedArray(count: k)
      var results: [[Scalar]] = []
      for threads in [1, 2, 3, 8] {
        let y = reduceOnPath(
          .streamingKernel, gradients, v, alpha: 1, beta: 0,
          start: [Scalar](repeating: 0, count: n), threads: threads)
        results.append(y)
      }
      #expect(results.allSatisfy { $0 == results[0] }, "k=\(k) n=\(n)")
    }
  }

  @Test(arguments: allScalarTypes)
  func fusedStepsEqualTheStepWithTheMeanVector(_ type: any BLASScalar.Type) throws {
    try checkFusedSteps(type)
  }

  func checkFusedSteps<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (seed, shape) in reductionShapes.enumerated() {
      let (k, n) = shape
      let gradients = try randomGradients(Scalar.self, k: k, n: n, seed: 500 + UInt64(seed))
      var rng = SeededGenerator(seed: UInt64(seed))
      let start: [Scalar] = rng.signedArray(count: n)
      let rate: Scalar = 0.1

      var fused = start
      try gradients.applyMeanStep(to: &fused, learningRate: rate)
      let mean = gradients.mean()
      let separate = zip(start, mean).map { $0 - rate * $1 }
      let reference = referenceReduction(
        elements: gradients.elements, k: k, n: n, vector: [Scalar](repeating: 1, count: k),
        alpha: -rate / Scalar(k), beta: 1, y: start)
      #expect(
        withinSummationBound(fused, reference.value, magnitude: reference.magnitude, terms: k + 2),
        "fused step, k=\(k) n=\(n)")
      #expect(relativeError(fused, separate) <= Double(k + 8) * Double(Scalar.ulpOfOne) * 4)

      var exampleWeights: [Scalar] = rng.unitArray(count: k)
      exampleWeights[k - 1] += 1
      var weightedFused = start
      try gradients.applyWeightedMeanStep(
        to: &weightedFused, learningRate: rate, exampleWeights: exampleWeights)
      let weightedMean = try gradients.weightedMean(exampleWeights: exampleWeights)
      let weightedSeparate = zip(start, weightedMean).map { $0 - rate * $1 }
      #expect(
        relativeError(weightedFused, weightedSeparate) <= Double(k + 8) * Double(Scalar.ulpOfOne)
          * 4,
        "weighted fused step, k=\(k) n=\(n)")

      var unchanged = start
      try gradients.applyMeanStep(to: &unchanged, learningRate: 0)
      #expect(unchanged == start, "η = 0 leaves the weights as they were")
    }
  }

  @Test(arguments: allScalarTypes)
  func generalReduceMatchesTheNamedReductions(_ type: any BLASScalar.Type) throws {
    try checkGeneralReduce(type)
  }

  func checkGeneralReduce<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let gradients = try randomGradients(Scalar.self, k: 37, n: 101, seed: 9)
    let ones = [Scalar](repeating: 1, count: 37)
    #expect(try gradients.reduce(with: ones) == gradients.sum())
    let sumTwice = try gradients.reduce(with: ones, alpha: 2)
    #expect(relativeError(sumTwice, gradients.sum().map { 2 * $0 }) <= 4 * Double(Scalar.ulpOfOne))
    var y = gradients.sum()
    try gradients.reduce(with: ones, alpha: -1, beta: 1, into: &y)
    #expect(y.allSatisfy { abs($0) <= 64 * Scalar.ulpOfOne }, "Σ − Σ is zero to rounding")
  }

  /// `alpha·Jᵀ·v + beta·start` computed on one given path and thread count.
  func reduceOnPath<Scalar: BLASScalar>(
    _ path: ReductionPath, _ gradients: PerExampleGradients<Scalar>, _ v: [Scalar],
    alpha: Scalar, beta: Scalar, start: [Scalar], threads: Int
  ) -> [Scalar] {
    var y = start
    if beta == 0 { y = [Scalar](repeating: 0, count: y.count) }
    gradients.reduceUnchecked(
      with: v, alpha: alpha, beta: beta, into: &y, parallelism: .threads(threads), path: path)
    return y
  }
}
