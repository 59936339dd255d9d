/// Turns a batch's gradients into a parameter update. Optimiser state (velocities, moments, step
/// count) lives in the value itself, so copying an optimiser copies its state.
///
/// Two entry points:
/// - ``step(parameters:gradients:exampleWeights:learningRate:)`` takes the per-example rows `J`
///   (`k × n`) and averages them with one GEMV: `1/k` each, or `w_i/Σw` with example weights.
/// - ``step(parameters:gradient:learningRate:)`` takes an already averaged gradient (length `n`).
///
/// - ``step(parameters:writing:into:exampleWeights:learningRate:)`` takes a model's row writer,
///   fills `J` and reduces it block by block while it is in cache (what the trainer uses).
///
/// All validate everything first; a call that throws leaves parameters and state unchanged.
public protocol Optimizer<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// Checks, without changing anything, that a step on `parameterCount` parameters with
  /// `learningRate` is possible: the rate is finite and ≥ 0, and any state the optimiser already
  /// holds has `parameterCount` entries. Every step runs it before it writes anything.
  func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError)

  /// One update from the averaged gradient `g` (length `n`).
  mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError)

  /// One update from a model's row writer (see the extension's documentation).
  mutating func step(
    parameters: inout [Scalar], writing writer: PerExampleRowWriter<Scalar>,
    into gradients: inout PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar, parallelism: Parallelism
  ) throws(MinibatchError)

  /// One update from per-example gradients: `g = Jᵀv` with `v = 1/k` (or `w_i/Σw`), then the
  /// same update as ``step(parameters:gradient:learningRate:)``.
  mutating func step(
    parameters: inout [Scalar], gradients: PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar
  ) throws(MinibatchError)
}

extension Optimizer {
  /// Fills `gradients` with `writer` and updates the parameters from the averaged rows, computing
  /// the average while each block of rows is still in cache
  /// (``PerExampleGradients/write(_:reducingWith:alpha:beta:into:parallelism:)``), then the same
  /// update as ``step(parameters:gradient:learningRate:)``. `gradients` holds `J` afterwards.
  /// Nothing is written when an argument is invalid; if the averaged gradient itself is not
  /// finite, the step throws with the parameters and the state unchanged but `J` written.
  public mutating func step(
    parameters: inout [Scalar], writing writer: PerExampleRowWriter<Scalar>,
    into gradients: inout PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(parameters.count, expected: gradients.n, of: "parameters (n)")
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    let v = try gradients.reductionVector(exampleWeights: exampleWeights)
    var gradient = [Scalar](repeating: 0, count: gradients.n)
    try gradients.write(writer, reducingWith: v, into: &gradient, parallelism: parallelism)
    try step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
  }

  public mutating func step(
    parameters: inout [Scalar], gradients: PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar
  ) throws(MinibatchError) {
    try validateCount(parameters.count, expected: gradients.n, of: "parameters (n)")
    let gradient =
      try exampleWeights.map { weights throws(MinibatchError) in
        try gradients.weightedMean(weights: weights)
      } ?? gradients.mean()
    try step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
  }
}

/// The checks of an averaged gradient shared by the optimisers' steps: length `n`, finite.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func validateGradient<Scalar: BLASScalar>(
  _ gradient: [Scalar], parameterCount: Int
) throws(MinibatchError) {
  try validateCount(gradient.count, expected: parameterCount, of: "gradient (length n)")
  try validateFinite(gradient, of: "gradient")
}

/// Checks that optimiser state, once sized, matches the parameters.
func validateState<Scalar>(_ state: [Scalar], parameterCount: Int) throws(MinibatchError) {
  if !state.isEmpty {
    try validateCount(
      parameterCount, expected: state.count, of: "parameters (optimiser state has n)")
  }
}

/// Plain stochastic gradient descent: `w ← w − η·g`.
///
/// From per-example rows this is **one fused GEMV** onto the weights,
/// `w ← −(η/k)·Jᵀ·1 + 1·w` (``PerExampleGradients/applyMeanStep(to:learningRate:parallelism:)``),
/// with no averaged gradient materialised.
public struct StochasticGradientDescent<Scalar: BLASScalar>: Optimizer {
  public init() {}

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
  }

  /// Writes `J` and applies `w ← −η·Jᵀv + 1·w` onto the weights in the same sweep.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    parameters: inout [Scalar], writing writer: PerExampleRowWriter<Scalar>,
    into gradients: inout PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    let v = try gradients.reductionVector(exampleWeights: exampleWeights)
    try gradients.write(
      writer, reducingWith: v, alpha: -learningRate, beta: 1, into: &parameters,
      parallelism: parallelism)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    try validateGradient(gradient, parameterCount: parameters.count)
    for j in parameters.indices { parameters[j] -= learningRate * gradient[j] }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    parameters: inout [Scalar], gradients: PerExampleGradients<Scalar>, exampleWeights: [Scalar]?,
    learningRate: Scalar
  ) throws(MinibatchError) {
    if let exampleWeights {
      try gradients.applyWeightedMeanStep(
        to: &parameters, learningRate: learningRate, exampleWeights: exampleWeights)
    } else {
      try gradients.applyMeanStep(to: &parameters, learningRate: learningRate)
    }
  }
}

/// SGD with heavy-ball or Nesterov momentum `μ` (PyTorch's convention, no dampening):
///
/// ```
/// v ← μ·v + g
/// w ← w − η·v                 (heavy ball)
/// w ← w − η·(g + μ·v)         (Nesterov)
/// ```
/// `v` starts at 0 and is sized on the first step.
public struct MomentumSGD<Scalar: BLASScalar>: Optimizer {
  public let momentum: Scalar
  public let nesterov: Bool
  /// The velocity `v` (empty before the first step).
  public private(set) var velocity: [Scalar] = []

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 ≤ μ < 1`.
  public init(momentum: Scalar = 0.9, nesterov: Bool = false) throws(MinibatchError) {
    try validateArgument(
      momentum, named: "momentum", expected: "0 ≤ momentum < 1", momentum >= 0 && momentum < 1)
    self.momentum = momentum
    self.nesterov = nesterov
  }

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
    try validateState(velocity, parameterCount: parameterCount)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    try validateGradient(gradient, parameterCount: parameters.count)
    if velocity.isEmpty { velocity = Array(repeating: 0, count: parameters.count) }
    for j in parameters.indices {
      velocity[j] = momentum * velocity[j] + gradient[j]
      parameters[j] -=
        learningRate * (nesterov ? gradient[j] + momentum * velocity[j] : velocity[j])
    }
  }
}

/// Adam (Kingma & Ba, 2015) with bias correction:
///
/// ```
/// t ← t + 1;  m ← β₁·m + (1 − β₁)·g;  s ← β₂·s + (1 − β₂)·g²
/// w ← w − η · (m / (1 − β₁ᵗ)) / (√(s / (1 − β₂ᵗ)) + ε)
/// ```
public struct Adam<Scalar: BLASScalar>: Optimizer {
  public let beta1: Scalar
  public let beta2: Scalar
  public let epsilon: Scalar
  /// First and second moment estimates (empty before the first step) and the step count `t`.
  public private(set) var firstMoment: [Scalar] = []
  public private(set) var secondMoment: [Scalar] = []
  public private(set) var stepCount = 0

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 ≤ β₁, β₂ < 1`
  ///   and `ε > 0` (finite).
  public init(beta1: Scalar = 0.9, beta2: Scalar = 0.999, epsilon: Scalar = 1e-8)
    throws(MinibatchError)
  {
    try validateArgument(beta1, named: "beta1", expected: "0 ≤ beta1 < 1", beta1 >= 0 && beta1 < 1)
    try validateArgument(beta2, named: "beta2", expected: "0 ≤ beta2 < 1", beta2 >= 0 && beta2 < 1)
    try validateArgument(
      epsilon, named: "epsilon", expected: "finite and > 0", epsilon.isFinite && epsilon > 0)
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
  }

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
    try validateState(firstMoment, parameterCount: parameterCount)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    try validateGradient(gradient, parameterCount: parameters.count)
    if firstMoment.isEmpty {
      firstMoment = Array(repeating: 0, count: parameters.count)
      secondMoment = firstMoment
    }
    stepCount += 1
    let correction1 = 1 - Scalar.pow(beta1, stepCount)
    let correction2 = 1 - Scalar.pow(beta2, stepCount)
    for j in parameters.indices {
      let g = gradient[j]
      firstMoment[j] = beta1 * firstMoment[j] + (1 - beta1) * g
      secondMoment[j] = beta2 * secondMoment[j] + (1 - beta2) * g * g
      let denominator = (secondMoment[j] / correction2).squareRoot() + epsilon
      parameters[j] -= learningRate * (firstMoment[j] / correction1) / denominator
    }
  }
}
