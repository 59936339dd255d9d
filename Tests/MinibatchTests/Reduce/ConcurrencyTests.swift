import Minibatch
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
    // One matrix for each path: in cache (BLAS GEMV) and beyond the BLAS threshold (kernel).
    let matrices = [
      try randomGradients(Scalar.self, k: 64, n: 515, seed: 1),
      try randomGradients(Scalar.self, k: 1100, n: 4099, seed: 2),
    ]
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
