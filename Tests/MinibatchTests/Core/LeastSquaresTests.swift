import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct LeastSquaresTests {
  /// A consistent system is solved exactly; an inconsistent one gives the normal-equation
  /// solution; a rank-deficient one gives the minimum-norm minimiser.
  @Test(arguments: allScalarTypes)
  func gelsdSolvesKnownProblems(_ type: any BLASScalar.Type) throws { try checkKnown(type) }

  func checkKnown<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-5
    // x = (1, −2) exactly.
    let a = try Matrix<Scalar>(rows: [[1, 1], [1, 2], [1, 3]])
    let exact = try solveLeastSquares(a, [-1, -3, -5])
    #expect(relativeError(exact.solution, [1.0, -2.0]) < tolerance)
    #expect(exact.rank == 2)
    // Fit a line to (0, 0), (1, 1), (2, 1): normal equations give b = 1/6, slope 1/2.
    let line = try solveLeastSquares(
      try Matrix<Scalar>(rows: [[1, 0], [1, 1], [1, 2]]), [0, 1, 1])
    #expect(relativeError(line.solution, [1.0 / 6, 0.5]) < tolerance)
    // Two identical columns: rank 1, minimum norm splits the coefficient evenly.
    let deficient = try solveLeastSquares(try Matrix<Scalar>(rows: [[1, 1], [2, 2]]), [2, 4])
    #expect(deficient.rank == 1)
    #expect(relativeError(deficient.solution, [1.0, 1.0]) < tolerance)
    // Underdetermined (1 × 3): minimum-norm x = aᵀ·b/‖a‖².
    let wide = try solveLeastSquares(try Matrix<Scalar>(rows: [[1, 2, 2]]), [9])
    #expect(relativeError(wide.solution, [1.0, 2.0, 2.0]) < tolerance)
    #expect(wide.singularValues.count == 1)
  }

  @Test func badProblemsAreRefused() throws {
    let a = try Matrix<Double>(rows: [[1, 2], [3, 4]])
    expectError(.shapeMismatch(expected: 2, got: 3, of: "right-hand side b (rows of A)")) {
      try solveLeastSquares(a, [1, 2, 3])
    }
    expectError(.nonFiniteValue(index: 1, of: "b")) { try solveLeastSquares(a, [1, .nan]) }
    let infinite = try Matrix<Double>(rows: [[1, .infinity]])
    expectError(.nonFiniteValue(index: 1, of: "A")) { try solveLeastSquares(infinite, [1]) }
  }

  /// Mini-batch SGD on linear regression converges to LAPACK's exact least-squares solution, and
  /// the model's gradient there is ~0 (with and without L2). Without noise the solution fits
  /// every example, the per-example gradients vanish there, and SGD converges to rounding level;
  /// with noise the gradient noise (∝ learning rate) leaves a small gap as the rate decays.
  @Test(arguments: [(0.0, 0.0, 1e-10), (0.0, 0.1, 1e-4), (0.05, 0.1, 1e-4)])
  func sgdConvergesToTheLeastSquaresSolution(_ l2: Double, noise: Double, tolerance: Double)
    throws
  {
    let model = try LinearRegression<Double>(inputCount: 5)
    var rng = SeededGenerator(seed: 11)
    let k = 400
    let inputs = try Matrix<Double>(rows: k, columns: 5, elements: rng.signedArray(count: k * 5))
    let truth: [Double] = [0.5, -1, 2, 0, 1.5]
    let targets = try (0..<k).map { i in
      try zip(inputs.row(i), truth).reduce(0.3) { $0 + $1.0 * $1.1 } + noise
        * rng.nextSigned(Double.self)
    }
    let data = try Batch(
      inputs: inputs, targets: .values(try Matrix(rows: k, columns: 1, elements: targets)))
    let exact = try model.leastSquaresSolution(data: data, l2Penalty: l2).solution
    let (_, dataGradient) = try model.meanLossAndGradient(parameters: exact, batch: data)
    // The gradient of the regularised objective, data term plus λ·θ, vanishes at the solution.
    let gradientAtSolution = zip(dataGradient, exact).map { $0 + l2 * $1 }
    #expect(gradientAtSolution.map(abs).max()! < 1e-13)

    var trainer = MinibatchTrainer(
      model: model,
      optimizer: try MomentumSGD<Double>(momentum: 0.9, regularization: l2 > 0 ? .l2(l2) : .none),
      sampler: try BatchSampler(exampleCount: k, batchSize: 20, seed: 1),
      schedule: .cosine(initial: 0.05, minimum: 0, epochs: 200))
    var w = model.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: data, epochs: 200)
    #expect(relativeError(w, exact) < tolerance, "SGD \(w) vs least squares \(exact)")
  }
}
