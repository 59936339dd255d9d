import RealModule

/// The optimisers' element-wise loops, specialised for Float and Double: called through the
/// generic optimisers from another module they would otherwise run unspecialised.
enum OptimizerKernels {
  /// `w ← parameterScale·w − gradientScale·g`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func linearStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], gradient g: [Scalar], gradientScale: Scalar, parameterScale: Scalar
  ) {
    for j in w.indices { w[j] = parameterScale * w[j] - gradientScale * g[j] }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func momentumStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], velocity v: inout [Scalar], gradient g: [Scalar], learningRate eta: Scalar,
    momentum mu: Scalar, nesterov: Bool, regularization: (coupled: Scalar, decoupled: Scalar)
  ) {
    for j in w.indices {
      let gj = g[j] + regularization.coupled * w[j]
      v[j] = mu * v[j] + gj
      let direction = nesterov ? gj + mu * v[j] : v[j]
      w[j] = w[j] - eta * direction - eta * regularization.decoupled * w[j]
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func adamStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], firstMoment m: inout [Scalar], secondMoment s: inout [Scalar],
    gradient g: [Scalar], learningRate eta: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar,
    step t: Int, regularization: (coupled: Scalar, decoupled: Scalar)
  ) {
    let correction1 = 1 - Scalar.pow(beta1, t)
    let correction2 = 1 - Scalar.pow(beta2, t)
    for j in w.indices {
      let gj = g[j] + regularization.coupled * w[j]
      m[j] = beta1 * m[j] + (1 - beta1) * gj
      s[j] = beta2 * s[j] + (1 - beta2) * gj * gj
      let denominator = (s[j] / correction2).squareRoot() + epsilon
      w[j] = w[j] - eta * ((m[j] / correction1) / denominator + regularization.decoupled * w[j])
    }
  }
}
