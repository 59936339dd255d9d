import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// Optimisers against their update formulas written out by hand, in Double arithmetic.
@Suite struct OptimizerTests {
  @Test(arguments: allScalarTypes)
  func updatesFollowTheirFormulas(_ type: any BLASScalar.Type) throws { try checkFormulas(type) }

  func checkFormulas<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-13 : 1e-5
    let start: [Scalar] = [1, -2, 0.5]
    let gradients: [[Scalar]] = [[0.5, -1, 2], [-0.25, 0.75, 1]]
    let eta = 0.1
    let mu = 0.9
    func reference(_ update: (inout [Double], [Double]) -> Void) -> [Double] {
      var w = start.map(Double.init)
      for g in gradients { update(&w, g.map(Double.init)) }
      return w
    }
    func run<O: Optimizer<Scalar>>(_ optimizer: O) throws -> [Scalar] {
      var optimizer = optimizer
      var w = start
      for g in gradients {
        try optimizer.step(parameters: &w, gradient: g, learningRate: Scalar(eta))
      }
      return w
    }

    let sgd = reference { w, g in for j in w.indices { w[j] -= eta * g[j] } }
    #expect(relativeError(try run(StochasticGradientDescent<Scalar>()), sgd) < tolerance)

    var velocity = [0.0, 0, 0]
    let heavyBall = reference { w, g in
      for j in w.indices {
        velocity[j] = mu * velocity[j] + g[j]
        w[j] -= eta * velocity[j]
      }
    }
    #expect(
      relativeError(try run(MomentumSGD<Scalar>(momentum: Scalar(mu))), heavyBall) < tolerance)

    velocity = [0, 0, 0]
    let nesterov = reference { w, g in
      for j in w.indices {
        velocity[j] = mu * velocity[j] + g[j]
        w[j] -= eta * (g[j] + mu * velocity[j])
      }
    }
    #expect(
      relativeError(try run(MomentumSGD<Scalar>(momentum: Scalar(mu), nesterov: true)), nesterov)
        < tolerance)

    var (m, s, t) = ([0.0, 0, 0], [0.0, 0, 0], 0.0)
    let adam = reference { w, g in
      t += 1
      for j in w.indices {
        m[j] = 0.9 * m[j] + 0.1 * g[j]
        s[j] = 0.999 * s[j] + 0.001 * g[j] * g[j]
        let mHat = m[j] / (1 - pow(0.9, t))
        let sHat = s[j] / (1 - pow(0.999, t))
        w[j] -= eta * mHat / (sHat.squareRoot() + 1e-8)
      }
    }
    #expect(relativeError(try run(Adam<Scalar>()), adam) < tolerance)
  }

  /// From per-example rows, every optimiser averages with 1/k (or w_i/Σw) and then steps; SGD's
  /// fused GEMV step gives the same result.
  @Test(arguments: allScalarTypes)
  func rowStepsAverageThenStep(_ type: any BLASScalar.Type) throws { try checkRowSteps(type) }

  func checkRowSteps<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-13 : 1e-5
    let rows = try randomGradients(Scalar.self, k: 5, n: 4, seed: 9)
    let weights: [Scalar] = [1, 0, 2, 0.5, 3]
    var rng = SeededGenerator(seed: 2)
    let start: [Scalar] = rng.signedArray(count: 4)
    func compare<O: Optimizer<Scalar>>(_ make: () throws -> O) throws {
      for exampleWeights in [nil, weights] {
        var a = start
        var b = start
        var first = try make()
        var second = try make()
        try first.step(
          parameters: &a, gradients: rows, exampleWeights: exampleWeights, learningRate: 0.3)
        let mean = try exampleWeights.map { try rows.weightedMean(weights: $0) } ?? rows.mean()
        try second.step(parameters: &b, gradient: mean, learningRate: 0.3)
        #expect(relativeError(a, b) < tolerance, "\(O.self) weights: \(exampleWeights != nil)")
        // The same step with J written and reduced in one sweep.
        var c = start
        var third = try make()
        var written = try PerExampleGradients<Scalar>(k: 5, n: 4)
        try third.step(
          parameters: &c, writing: copyingWriter(rows), into: &written,
          exampleWeights: exampleWeights, learningRate: 0.3)
        #expect(written == rows)
        #expect(
          relativeError(c, b) < tolerance, "\(O.self) writer, weights: \(exampleWeights != nil)")
      }
    }
    try compare { StochasticGradientDescent<Scalar>() }
    try compare { try MomentumSGD<Scalar>(momentum: 0.5, nesterov: true) }
    try compare { try Adam<Scalar>() }
  }

  /// A row writer that copies the blocks of an existing matrix.
  func copyingWriter<Scalar: BLASScalar>(
    _ rows: PerExampleGradients<Scalar>
  ) -> PerExampleRowWriter<Scalar> {
    PerExampleRowWriter(k: rows.k, n: rows.n) { block, columns, matrix in
      for i in block { for j in columns { matrix[i * rows.n + j] = rows[i, j] } }
    }
  }

  @Test func badArgumentsAreRefusedAndChangeNothing() throws {
    expectError(.invalidArgument(name: "momentum", value: "1.0", expected: "0 ≤ momentum < 1")) {
      try MomentumSGD<Double>(momentum: 1)
    }
    expectError(.invalidArgument(name: "beta1", value: "-0.1", expected: "0 ≤ beta1 < 1")) {
      try Adam<Double>(beta1: -0.1)
    }
    expectError(.invalidArgument(name: "beta2", value: "1.0", expected: "0 ≤ beta2 < 1")) {
      try Adam<Double>(beta2: 1)
    }
    expectError(.invalidArgument(name: "epsilon", value: "0.0", expected: "finite and > 0")) {
      try Adam<Double>(epsilon: 0)
    }
    var adam = try Adam<Double>()
    var w: [Double] = [1, 2]
    try adam.step(parameters: &w, gradient: [0.1, 0.2], learningRate: 0.1)
    let (savedW, savedAdam) = (w, adam)
    expectError(.invalidLearningRate(-1)) {
      try adam.step(parameters: &w, gradient: [1, 1], learningRate: -1)
    }
    expectError(.shapeMismatch(expected: 2, got: 3, of: "gradient (length n)")) {
      try adam.step(parameters: &w, gradient: [1, 1, 1], learningRate: 0.1)
    }
    expectError(.nonFiniteValue(index: 1, of: "gradient")) {
      try adam.step(parameters: &w, gradient: [1, .nan], learningRate: 0.1)
    }
    var longer: [Double] = [1, 2, 3]
    expectError(.shapeMismatch(expected: 2, got: 3, of: "parameters (optimiser state has n)")) {
      try adam.step(parameters: &longer, gradient: [1, 1, 1], learningRate: 0.1)
    }
    let rows = try PerExampleGradients<Double>(rows: [[1, 2, 3]])
    var momentum = try MomentumSGD<Double>()
    expectError(.shapeMismatch(expected: 3, got: 2, of: "parameters (n)")) {
      try momentum.step(parameters: &w, gradients: rows, exampleWeights: nil, learningRate: 0.1)
    }
    var sgd = StochasticGradientDescent<Double>()
    var target = try PerExampleGradients<Double>(k: 1, n: 3)
    var three: [Double] = [1, 2, 3]
    expectError(.invalidLearningRate(.nan)) {
      try sgd.step(
        parameters: &three, writing: copyingWriter(rows), into: &target, exampleWeights: nil,
        learningRate: .nan)
    }
    expectError(.zeroTotalWeight(total: 0)) {
      try momentum.step(
        parameters: &three, writing: copyingWriter(rows), into: &target, exampleWeights: [0],
        learningRate: 0.1)
    }
    expectError(.shapeMismatch(expected: 3, got: 2, of: "parameters (n)")) {
      try momentum.step(
        parameters: &w, writing: copyingWriter(rows), into: &target, exampleWeights: nil,
        learningRate: 0.1)
    }
    // Invalid rates and mismatched state are refused before J is written.
    expectError(.invalidLearningRate(-1)) {
      try momentum.step(
        parameters: &three, writing: copyingWriter(rows), into: &target, exampleWeights: nil,
        learningRate: -1)
    }
    var threeForAdam: [Double] = [1, 2, 3]
    expectError(.shapeMismatch(expected: 2, got: 3, of: "parameters (optimiser state has n)")) {
      try adam.step(
        parameters: &threeForAdam, writing: copyingWriter(rows), into: &target,
        exampleWeights: nil, learningRate: 0.1)
    }
    expectError(.invalidLearningRate(.infinity)) {
      try adam.validate(parameterCount: 2, learningRate: .infinity)
    }
    #expect(threeForAdam == [1, 2, 3])
    #expect(three == [1, 2, 3] && target.elements == [0, 0, 0])
    #expect(w == savedW)
    #expect(longer == [1, 2, 3])
    #expect(adam.stepCount == savedAdam.stepCount)
    #expect(
      adam.firstMoment == savedAdam.firstMoment && adam.secondMoment == savedAdam.secondMoment)
    #expect(momentum.velocity.isEmpty)
  }
}
