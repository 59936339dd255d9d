/// A parameter update from a finished gradient: an optimiser sees the gradient `g` (length `n`)
/// the reduction produced — it does not know that per-example rows existed, how they were
/// combined, or by what they were normalised (MLX's `applySingle` is the model).
///
/// Optimiser state (velocities, moments, step count) lives in the value itself, so copying an
/// optimiser copies its state. Regularisation is the optimiser's (``Regularization``), never part
/// of the per-example rows, so clipping never clips the regulariser.
///
/// Every step validates its inputs and leaves parameters and state **unchanged** when it throws,
/// including when the result would be NaN or infinite.
public protocol Optimizer<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// Checks, without changing anything, that a step on `parameterCount` parameters with
  /// `learningRate` is possible: the rate is finite and ≥ 0, and any state the optimiser already
  /// holds has `parameterCount` entries.
  func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError)

  /// One update from the gradient `g` (length `n`).
  ///
  /// - Throws: the errors of ``validate(parameterCount:learningRate:)``,
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` for `g`,
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` for a non-finite `g` or a step whose result is
  ///   not finite. Nothing changes then.
  mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError)

  /// When this optimiser's next step is the linear map `w ← parameterScale·w − gradientScale·g`
  /// whatever its state, its two coefficients; `nil` otherwise. A reduction can then apply the
  /// step straight onto the parameters (`alpha = −gradientScale`, `beta = parameterScale`)
  /// without forming `g` — plain SGD does this.
  func linearStep(learningRate: Scalar) -> (gradientScale: Scalar, parameterScale: Scalar)?
}

extension Optimizer {
  public func linearStep(learningRate: Scalar) -> (gradientScale: Scalar, parameterScale: Scalar)? {
    nil
  }
}

/// How an optimiser regularises the parameters (all of them, biases included, as PyTorch's
/// `weight_decay` does).
public enum Regularization<Scalar: BLASScalar>: Sendable, Hashable, Codable {
  /// No regularisation.
  case none
  /// Coupled L2: the gradient of `(λ/2)·‖w‖²` is added to `g`, `g ← g + λ·w`, before the update
  /// (adaptive optimisers then rescale it too).
  case l2(Scalar)
  /// Decoupled weight decay (Loshchilov & Hutter, AdamW): `w ← w − η·λ·w` beside the update, not
  /// through the gradient.
  case decoupledWeightDecay(Scalar)

  /// `λ ≥ 0` and finite.
  func validate() throws(MinibatchError) {
    switch self {
    case .none: break
    case .l2(let lambda), .decoupledWeightDecay(let lambda):
      try validateArgument(
        lambda, named: "regularisation strength λ", expected: "finite and ≥ 0",
        lambda.isFinite && lambda >= 0)
    }
  }

  /// `λ` added to the gradient (coupled L2), or 0.
  var coupled: Scalar {
    if case .l2(let lambda) = self { return lambda }
    return 0
  }

  /// `λ` of the decoupled decay, or 0.
  var decoupled: Scalar {
    if case .decoupledWeightDecay(let lambda) = self { return lambda }
    return 0
  }
}

/// The checks shared by the optimisers' steps: rate, gradient length and finiteness.
func validateStep<Scalar: BLASScalar>(
  parameters: [Scalar], gradient: [Scalar], learningRate: Scalar
) throws(MinibatchError) {
  try validateLearningRate(learningRate)
  try validateCount(gradient.count, expected: parameters.count, of: "gradient (length n)")
  try validateFinite(gradient, of: "gradient")
}

/// Checks that optimiser state, once sized, matches the parameters.
func validateState<Scalar>(_ state: [Scalar], parameterCount: Int) throws(MinibatchError) {
  if !state.isEmpty {
    try validateCount(
      parameterCount, expected: state.count, of: "parameters (optimiser state has n)")
  }
}

/// Plain stochastic gradient descent, `w ← w − η·(g + λ·w)` (either regularisation gives the same
/// map for SGD): ``linearStep(learningRate:)`` is `(η, 1 − η·λ)`, so the trainer applies it as one
/// reduction straight onto the parameters.
public struct StochasticGradientDescent<Scalar: BLASScalar>: Optimizer {
  public let regularization: Regularization<Scalar>

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a negative or
  ///   non-finite `λ`.
  public init(regularization: Regularization<Scalar> = .none) throws(MinibatchError) {
    try regularization.validate()
    self.regularization = regularization
  }

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
  }

  public func linearStep(learningRate: Scalar) -> (gradientScale: Scalar, parameterScale: Scalar)? {
    (learningRate, 1 - learningRate * (regularization.coupled + regularization.decoupled))
  }

  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validateStep(parameters: parameters, gradient: gradient, learningRate: learningRate)
    let (eta, keep) = linearStep(learningRate: learningRate)!
    var updated = parameters
    OptimizerKernels.linearStep(
      &updated, gradient: gradient, gradientScale: eta, parameterScale: keep)
    try validateFinite(updated, of: "parameters after the step")
    parameters = updated
  }
}

/// SGD with heavy-ball or Nesterov momentum `μ` (PyTorch's convention, no dampening), with
/// `g' = g + λ_coupled·w`:
///
/// ```
/// v ← μ·v + g'
/// w ← w − η·v − η·λ_decoupled·w                 (heavy ball)
/// w ← w − η·(g' + μ·v) − η·λ_decoupled·w        (Nesterov)
/// ```
/// `v` starts at 0 and is sized on the first step.
public struct MomentumSGD<Scalar: BLASScalar>: Optimizer {
  public let momentum: Scalar
  public let nesterov: Bool
  public let regularization: Regularization<Scalar>
  /// The velocity `v` (empty before the first step).
  public internal(set) var velocity: [Scalar] = []

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 ≤ μ < 1` and
  ///   `λ ≥ 0`.
  public init(
    momentum: Scalar = 0.9, nesterov: Bool = false, regularization: Regularization<Scalar> = .none
  ) throws(MinibatchError) {
    try validateArgument(
      momentum, named: "momentum", expected: "0 ≤ momentum < 1", momentum >= 0 && momentum < 1)
    try regularization.validate()
    self.momentum = momentum
    self.nesterov = nesterov
    self.regularization = regularization
  }

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
    try validateState(velocity, parameterCount: parameterCount)
  }

  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    try validateStep(parameters: parameters, gradient: gradient, learningRate: learningRate)
    var updated = parameters
    var newVelocity = velocity.isEmpty ? filled(0, count: parameters.count) : velocity
    OptimizerKernels.momentumStep(
      &updated, velocity: &newVelocity, gradient: gradient, learningRate: learningRate,
      momentum: momentum, nesterov: nesterov, coupled: regularization.coupled,
      decoupled: regularization.decoupled)
    try validateFinite(updated, of: "parameters after the step")
    try validateFinite(newVelocity, of: "velocity after the step")
    (parameters, velocity) = (updated, newVelocity)
  }
}

/// Adam (Kingma & Ba, 2015) with bias correction; with ``Regularization/decoupledWeightDecay(_:)``
/// it is AdamW (Loshchilov & Hutter, 2019), see ``adamW(weightDecay:beta1:beta2:epsilon:)``.
/// With `g' = g + λ_coupled·w`:
///
/// ```
/// t ← t + 1;  m ← β₁·m + (1 − β₁)·g';  s ← β₂·s + (1 − β₂)·g'²
/// w ← w − η·( (m / (1 − β₁ᵗ)) / (√(s / (1 − β₂ᵗ)) + ε) + λ_decoupled·w )
/// ```
public struct Adam<Scalar: BLASScalar>: Optimizer {
  public let beta1: Scalar
  public let beta2: Scalar
  public let epsilon: Scalar
  public let regularization: Regularization<Scalar>
  /// First and second moment estimates (empty before the first step) and the step count `t`.
  public internal(set) var firstMoment: [Scalar] = []
  public internal(set) var secondMoment: [Scalar] = []
  public internal(set) var stepCount = 0

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless `0 ≤ β₁, β₂ < 1`,
  ///   `ε > 0` (finite) and `λ ≥ 0`.
  public init(
    beta1: Scalar = 0.9, beta2: Scalar = 0.999, epsilon: Scalar = 1e-8,
    regularization: Regularization<Scalar> = .none
  ) throws(MinibatchError) {
    try validateArgument(beta1, named: "beta1", expected: "0 ≤ beta1 < 1", beta1 >= 0 && beta1 < 1)
    try validateArgument(beta2, named: "beta2", expected: "0 ≤ beta2 < 1", beta2 >= 0 && beta2 < 1)
    try validateArgument(
      epsilon, named: "epsilon", expected: "finite and > 0", epsilon.isFinite && epsilon > 0)
    try regularization.validate()
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.regularization = regularization
  }

  /// AdamW: Adam with decoupled weight decay `λ` (PyTorch's default `λ = 0.01`).
  public static func adamW(
    weightDecay: Scalar = 0.01, beta1: Scalar = 0.9, beta2: Scalar = 0.999, epsilon: Scalar = 1e-8
  ) throws(MinibatchError) -> Adam {
    try Adam(
      beta1: beta1, beta2: beta2, epsilon: epsilon,
      regularization: .decoupledWeightDecay(weightDecay))
  }

  public func validate(parameterCount: Int, learningRate: Scalar) throws(MinibatchError) {
    try validateLearningRate(learningRate)
    try validateState(firstMoment, parameterCount: parameterCount)
  }

  public mutating func step(
    parameters: inout [Scalar], gradient: [Scalar], learningRate: Scalar
  ) throws(MinibatchError) {
    try validate(parameterCount: parameters.count, learningRate: learningRate)
    try validateStep(parameters: parameters, gradient: gradient, learningRate: learningRate)
    var updated = parameters
    var m = firstMoment.isEmpty ? filled(0, count: parameters.count) : firstMoment
    var s = secondMoment.isEmpty ? m : secondMoment
    let t = stepCount + 1
    OptimizerKernels.adamStep(
      &updated, firstMoment: &m, secondMoment: &s, gradient: gradient, learningRate: learningRate,
      beta1: beta1, beta2: beta2, epsilon: epsilon, step: t, coupled: regularization.coupled,
      decoupled: regularization.decoupled)
    try validateFinite(updated, of: "parameters after the step")
    try validateFinite(s, of: "second moment after the step")
    (parameters, firstMoment, secondMoment, stepCount) = (updated, m, s, t)
  }
}
