import RealModule

/// The optimisers' element-wise loops, specialised for Float and Double (called through the
/// generic optimisers from another module they would otherwise run unspecialised), over buffers
/// so that they vectorise. `coupled` and `decoupled` are the regularisation strengths of
/// ``Regularization``.
enum OptimizerKernels {
  /// `w ← parameterScale·w − gradientScale·g`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func linearStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], gradient g: [Scalar], gradientScale: Scalar, parameterScale: Scalar
  ) {
    w.withUnsafeMutableBufferPointer { w in
      g.withUnsafeBufferPointer { g in
        for j in 0..<w.count { w[j] = parameterScale * w[j] - gradientScale * g[j] }
      }
    }
  }

  /// `v ← μ·v + g'`, `w ← w − η·(nesterov ? g' + μ·v : v) − η·λ_d·w` with `g' = g + λ_c·w`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func momentumStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], velocity v: inout [Scalar], gradient g: [Scalar], learningRate eta: Scalar,
    momentum mu: Scalar, nesterov: Bool, coupled: Scalar, decoupled: Scalar
  ) {
    w.withUnsafeMutableBufferPointer { w in
      v.withUnsafeMutableBufferPointer { v in
        g.withUnsafeBufferPointer { g in
          for j in 0..<w.count {
            let gj = g[j] + coupled * w[j]
            let vj = mu * v[j] + gj
            v[j] = vj
            let direction = nesterov ? gj + mu * vj : vj
            w[j] = w[j] - eta * direction - eta * decoupled * w[j]
          }
        }
      }
    }
  }

  /// Adam's moments and update with bias correction for step `t` (see ``Adam``).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func adamStep<Scalar: BLASScalar>(
    _ w: inout [Scalar], firstMoment m: inout [Scalar], secondMoment s: inout [Scalar],
    gradient g: [Scalar], learningRate eta: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar,
    step t: Int, coupled: Scalar, decoupled: Scalar
  ) {
    let correction1 = 1 - Scalar.pow(beta1, t)
    let correction2 = 1 - Scalar.pow(beta2, t)
    w.withUnsafeMutableBufferPointer { w in
      m.withUnsafeMutableBufferPointer { m in
        s.withUnsafeMutableBufferPointer { s in
          g.withUnsafeBufferPointer { g in
            for j in 0..<w.count {
              let gj = g[j] + coupled * w[j]
              m[j] = beta1 * m[j] + (1 - beta1) * gj
              s[j] = beta2 * s[j] + (1 - beta2) * gj * gj
              let denominator = (s[j] / correction2).squareRoot() + epsilon
              w[j] = w[j] - eta * ((m[j] / correction1) / denominator + decoupled * w[j])
            }
          }
        }
      }
    }
  }
}
