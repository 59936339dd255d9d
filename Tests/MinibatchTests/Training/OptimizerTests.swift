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
      try steps(optimizer, from: start, gradients: gradients, learningRate: Scalar(eta))
    }

    let sgd = reference { w, g in for j in w.indices { w[j] -= eta * g[j] } }
    #expect(relativeError(try run(try StochasticGradientDescent<Scalar>()), sgd) < tolerance)

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

  /// Coupled L2 (`g + λw`) and decoupled weight decay (`w − ηλw`) against their formulas, for
  /// every optimiser; AdamW is Adam with decoupled decay.
  @Test(arguments: allScalarTypes)
  func regularizationFollowsItsFormulas(_ type: any BLASScalar.Type) throws {
    try checkRegularization(type)
  }

  func checkRegularization<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-13 : 1e-5
    let start: [Scalar] = [1, -2, 0.5]
    let gradients: [[Scalar]] = [[0.5, -1, 2], [-0.25, 0.75, 1], [0.1, 0.2, -0.3]]
    let (eta, lambda, mu) = (0.1, 0.2, 0.5)
    func run<O: Optimizer<Scalar>>(_ optimizer: O) throws -> [Scalar] {
      try steps(optimizer, from: start, gradients: gradients, learningRate: Scalar(eta))
    }
    func reference(_ update: (inout [Double], [Double]) -> Void) -> [Double] {
      var w = start.map(Double.init)
      for g in gradients { update(&w, g.map(Double.init)) }
      return w
    }
    // SGD: both forms are w ← (1 − ηλ)w − ηg.
    let sgd = reference { w, g in
      for j in w.indices { w[j] = (1 - eta * lambda) * w[j] - eta * g[j] }
    }
    for regularization: Regularization<Scalar> in [
      .l2(Scalar(lambda)), .decoupledWeightDecay(Scalar(lambda)),
    ] {
      let optimizer = try StochasticGradientDescent<Scalar>(regularization: regularization)
      #expect(relativeError(try run(optimizer), sgd) < tolerance, "\(regularization)")
      let linear = optimizer.linearStep(learningRate: Scalar(eta))!
      #expect(linear.gradientScale == Scalar(eta))
      #expect(abs(Double(linear.parameterScale) - (1 - eta * lambda)) < tolerance)
    }

    var velocity = [0.0, 0, 0]
    let coupledMomentum = reference { w, g in
      for j in w.indices {
        velocity[j] = mu * velocity[j] + g[j] + lambda * w[j]
        w[j] -= eta * velocity[j]
      }
    }
    #expect(
      relativeError(
        try run(MomentumSGD<Scalar>(momentum: Scalar(mu), regularization: .l2(Scalar(lambda)))),
        coupledMomentum) < tolerance)
    velocity = [0, 0, 0]
    let decoupledMomentum = reference { w, g in
      for j in w.indices {
        velocity[j] = mu * velocity[j] + g[j]
        w[j] = w[j] - eta * velocity[j] - eta * lambda * w[j]
      }
    }
    #expect(
      relativeError(
        try run(
          MomentumSGD<Scalar>(
            momentum: Scalar(mu), regularization: .decoupledWeightDecay(Scalar(lambda)))),
        decoupledMomentum) < tolerance)

    func adamReference(coupled: Double, decoupled: Double) -> [Double] {
      var (m, s, t) = ([0.0, 0, 0], [0.0, 0, 0], 0.0)
      return reference { w, g in
        t += 1
        for j in w.indices {
          let gj = g[j] + coupled * w[j]
          m[j] = 0.9 * m[j] + 0.1 * gj
          s[j] = 0.999 * s[j] + 0.001 * gj * gj
          let mHat = m[j] / (1 - pow(0.9, t))
          let sHat = s[j] / (1 - pow(0.999, t))
          w[j] -= eta * (mHat / (sHat.squareRoot() + 1e-8) + decoupled * w[j])
        }
      }
    }
    #expect(
      relativeError(
        try run(Adam<Scalar>(regularization: .l2(Scalar(lambda)))),
        adamReference(coupled: lambda, decoupled: 0)) < tolerance)
    #expect(
      relativeError(
        try run(Adam<Scalar>.adamW(weightDecay: Scalar(lambda))),
        adamReference(coupled: 0, decoupled: lambda)) < tolerance)
    // Only plain SGD is a linear step.
    #expect(try MomentumSGD<Scalar>().linearStep(learningRate: 1) == nil)
    #expect(try Adam<Scalar>().linearStep(learningRate: 1) == nil)
  }

  /// A step whose result would overflow throws and leaves parameters and state as they were, for
  /// every optimiser (SGD's fused step included).
  @Test(arguments: allScalarTypes)
  func overflowingStepsChangeNothing(_ type: any BLASScalar.Type) throws {
    try checkOverflow(type)
  }

  func checkOverflow<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let big = Scalar.greatestFiniteMagnitude
    let start: [Scalar] = [1, -big]
    let gradient: [Scalar] = [0.5, big]
    var sgd = try StochasticGradientDescent<Scalar>()
    var w = start
    expectError(.nonFiniteValue(index: 1, of: "parameters after the step")) {
      try sgd.step(parameters: &w, gradient: gradient, learningRate: 2)
    }
    #expect(w == start)

    var momentum = try MomentumSGD<Scalar>(momentum: 0.5)
    try momentum.step(parameters: &w, gradient: [0.1, 0], learningRate: 0.1)
    let (savedW, savedVelocity) = (w, momentum.velocity)
    expectError(.nonFiniteValue(index: 1, of: "parameters after the step")) {
      try momentum.step(parameters: &w, gradient: gradient, learningRate: 2)
    }
    #expect(w == savedW && momentum.velocity == savedVelocity)

    var adam = try Adam<Scalar>()
    try adam.step(parameters: &w, gradient: [0.1, 0], learningRate: 0.1)
    let (savedAdamW, savedAdam) = (w, adam)
    expectError(.nonFiniteValue(index: 1, of: "second moment after the step")) {
      try adam.step(parameters: &w, gradient: gradient, learningRate: 0.1)
    }
    #expect(w == savedAdamW && adam.stepCount == savedAdam.stepCount)
    #expect(adam.firstMoment == savedAdam.firstMoment)

    // The stored matrix's fused step: a finite mean of huge rows, but a step that overflows.
    let rows = try PerExampleGradients<Scalar>(rows: [[big, 1], [big, 1]])
    var parameters: [Scalar] = [-big, 0]
    expectError(.nonFiniteValue(index: 0, of: "parameters after the step")) {
      try rows.applyMeanStep(to: &parameters, learningRate: 1)
    }
    #expect(parameters == [-big, 0])
    // The column sum overflows, the mean (scaled inside the sum) does not.
    var small: [Scalar] = [0, 0]
    try rows.applyMeanStep(to: &small, learningRate: 0.5)
    #expect(small == [-big / 2, -0.5])
    try rows.applyWeightedMeanStep(to: &small, learningRate: 0.5, exampleWeights: [1, 3])
    // Finite, within an ulp of −big (a J this small is reduced by the package's kernel, which
    // adds −η·v_i·row_i to w row by row instead of rounding η·Jᵀv once).
    #expect(small[0].isFinite && abs(small[0] + big) <= big.ulp && small[1] == -1)
    // Subnormal example weights: v_i = e_i/Σe is formed per entry in Double, so the step is the
    // ordinary mean step (−η/Σe overflowed before).
    let tiny = Scalar.leastNonzeroMagnitude
    var viaTiny: [Scalar] = [0, 0]
    var viaMean: [Scalar] = [0, 0]
    let finite = try PerExampleGradients<Scalar>(rows: [[1, 2], [3, 4]])
    try finite.applyWeightedMeanStep(to: &viaTiny, learningRate: 0.5, exampleWeights: [tiny, tiny])
    try finite.applyMeanStep(to: &viaMean, learningRate: 0.5)
    #expect(viaTiny == viaMean)
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
    expectError(
      .invalidArgument(
        name: "regularisation strength λ", value: "nan", expected: "finite and ≥ 0")
    ) { try Adam<Double>.adamW(weightDecay: .nan) }
    expectError(
      .invalidArgument(
        name: "regularisation strength λ", value: "-0.5", expected: "finite and ≥ 0")
    ) { try MomentumSGD<Double>(regularization: .decoupledWeightDecay(-0.5)) }
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
    var sgd = try StochasticGradientDescent<Double>()
    var three: [Double] = [1, 2, 3]
    expectError(.invalidLearningRate(.nan)) {
      try sgd.step(parameters: &three, gradient: [1, 1, 1], learningRate: .nan)
    }
    expectError(.invalidLearningRate(.infinity)) {
      try adam.validate(parameterCount: 2, learningRate: .infinity)
    }
    #expect(three == [1, 2, 3])
    #expect(w == savedW)
    #expect(longer == [1, 2, 3])
    #expect(adam.stepCount == savedAdam.stepCount)
    #expect(
      adam.firstMoment == savedAdam.firstMoment && adam.secondMoment == savedAdam.secondMoment)
  }

  /// `optimizer`'s parameters after one step per gradient, from `start`.
  func steps<O: Optimizer>(
    _ optimizer: O, from start: [O.Scalar], gradients: [[O.Scalar]], learningRate: O.Scalar
  ) throws -> [O.Scalar] {
    var optimizer = optimizer
    var w = start
    for g in gradients {
      try optimizer.step(parameters: &w, gradient: g, learningRate: learningRate)
    }
    return w
  }
}
