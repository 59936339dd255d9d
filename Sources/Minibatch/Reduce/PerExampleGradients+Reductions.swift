// The reductions of the k×n per-example gradient matrix J. Each is one GEMV,
//
//     result = alpha · Jᵀ · v + beta · y,
//
// and they differ only in the reduction vector v, alpha and beta (see DESIGN.md).

extension PerExampleGradients {
  /// The averaged gradient, `(1/k)·Σ_i J[i, ·]` — the gradient of the **mean** loss
  /// `(1/k)·Σ_i L_i` of the batch.
  ///
  /// One GEMV `Jᵀ·v` with `v_i = 1/k`. Returns `n` entries. It cannot fail: the matrix has
  /// `k ≥ 1` rows by construction.
  ///
  /// ```
  /// rows (1.5, −2.0, 1.1, 0.4, −0.9) and (1.2, 2.3, −1.1, −0.8, −0.7)
  /// mean → (1.35, 0.15, 0, −0.2, −0.8)
  /// ```
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func mean(parallelism: Parallelism = .automatic) -> [Scalar] {
    let v = [Scalar](repeating: 1 / Scalar(k), count: k)
    return reduced(with: v, alpha: 1, parallelism: parallelism)
  }

  /// The summed gradient `Σ_i J[i, ·]` — the gradient of the **summed** loss, `k` times
  /// ``mean(parallelism:)``. One GEMV with `v_i = 1`. Returns `n` entries.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func sum(parallelism: Parallelism = .automatic) -> [Scalar] {
    let v = [Scalar](repeating: 1, count: k)
    return reduced(with: v, alpha: 1, parallelism: parallelism)
  }

  /// The weighted mean `Σ_i w_i·J[i, ·] / Σ_i w_i` — the gradient of the weighted mean loss
  /// `Σ_i w_i L_i / Σ_i w_i`. One GEMV with `v_i = w_i / Σw`. Returns `n` entries.
  ///
  /// Weights are relative: multiplying all of them by a constant changes nothing. Equal weights
  /// give ``mean(parallelism:)``.
  ///
  /// - Parameter weights: `k` finite values `≥ 0` with a positive sum.
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `weights.count != k`,
  ///   ``MinibatchError/nonFiniteValue(index:of:)``, ``MinibatchError/negativeValue(index:value:of:)``,
  ///   ``MinibatchError/zeroTotalWeight(total:)`` if the weights sum to zero (or do not sum to a
  ///   finite value).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func weightedMean(
    weights: [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    reduced(with: try reductionVector(exampleWeights: weights), alpha: 1, parallelism: parallelism)
  }

  /// The general reduction `alpha·Jᵀ·v = alpha·Σ_i v_i·J[i, ·]` for a caller's own vector `v`
  /// (for example clipping factors divided by the batch size). Returns `n` entries.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `v.count != k`,
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` for a non-finite entry of `v` or for a
  ///   non-finite `alpha`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    try validateReductionVector(v)
    try validateCoefficient(alpha, of: "alpha")
    return reduced(with: v, alpha: alpha, parallelism: parallelism)
  }

  /// The general reduction in place, `y ← alpha·Jᵀ·v + beta·y`, exactly as BLAS `?gemv`
  /// defines it: `y` has `n` entries; with `beta == 0` its old contents are ignored.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `v.count != k` or
  ///   `y.count != n`, ``MinibatchError/nonFiniteValue(index:of:)`` for a non-finite entry of `v`,
  ///   `alpha` or `beta`. On error `y` is unchanged.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateReductionVector(v)
    try validateCount(y.count, expected: n, of: "y (length n)")
    try validateCoefficient(alpha, of: "alpha")
    try validateCoefficient(beta, of: "beta")
    accumulate(vector: v, alpha: alpha, beta: beta, into: &y, parallelism: parallelism)
  }

  /// The fused SGD step `w ← w − η·mean()`, applied as **one** GEMV onto the weights,
  /// `w ← alpha·Jᵀ·1 + 1·w` with `alpha = −η/k`: no temporary gradient vector.
  ///
  /// - Parameters:
  ///   - weights: the `n` parameters, updated in place.
  ///   - learningRate: `η`, finite and `≥ 0`, applied to the **mean** gradient (not the sum).
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `weights.count != n`,
  ///   ``MinibatchError/invalidLearningRate(_:)``. On error `weights` is unchanged.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func applyMeanStep(
    to weights: inout [Scalar], learningRate: Scalar, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(weights.count, expected: n, of: "weights (length n)")
    try validateLearningRate(learningRate)
    let v = [Scalar](repeating: 1, count: k)
    accumulate(
      vector: v, alpha: -learningRate / Scalar(k), beta: 1, into: &weights,
      parallelism: parallelism)
  }

  /// The fused weighted SGD step `w ← w − η·weightedMean(weights: exampleWeights)`, one GEMV
  /// `w ← alpha·Jᵀ·e + 1·w` with `e` the example weights and `alpha = −η/Σe`.
  ///
  /// - Throws: the errors of ``weightedMean(weights:parallelism:)`` (for `exampleWeights`) and of
  ///   ``applyMeanStep(to:learningRate:parallelism:)``. On error `weights` is unchanged.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func applyWeightedMeanStep(
    to weights: inout [Scalar], learningRate: Scalar, exampleWeights: [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(weights.count, expected: n, of: "weights (length n)")
    try validateLearningRate(learningRate)
    let total = try validatedTotal(of: exampleWeights)
    accumulate(
      vector: exampleWeights, alpha: -learningRate / total, beta: 1, into: &weights,
      parallelism: parallelism)
  }

  /// The Euclidean norm of every row, `‖J[i, ·]‖₂` for `i` in `0..<k` (one `?nrm2` per row,
  /// safe from overflow). Returns `k` entries.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func rowNorms() -> [Scalar] {
    withUnsafeElements { matrix in
      (0..<k).map { i in Scalar.nrm2(n: n, x: matrix.baseAddress! + i * n, incx: 1) }
    }
  }

  // MARK: - Implementation

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func reduced(with v: [Scalar], alpha: Scalar, parallelism: Parallelism) -> [Scalar] {
    var result = [Scalar](repeating: 0, count: n)
    accumulate(vector: v, alpha: alpha, beta: 0, into: &result, parallelism: parallelism)
    return result
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func accumulate(
    vector v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism
  ) {
    v.withUnsafeBufferPointer { v in
      y.withUnsafeMutableBufferPointer { y in
        gemvReduce(self, vector: v, alpha: alpha, beta: beta, into: y, parallelism: parallelism)
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func validateReductionVector(_ v: [Scalar]) throws(MinibatchError) {
    try validateCount(v.count, expected: k, of: "reduction vector (length k)")
    try validateFinite(v, of: "reduction vector")
  }

  func validateCoefficient(_ value: Scalar, of what: String) throws(MinibatchError) {
    guard value.isFinite else { throw .nonFiniteValue(index: 0, of: what) }
  }

  /// Checks example weights (count k, finite, ≥ 0) and returns their positive, finite sum.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func validatedTotal(of weights: [Scalar]) throws(MinibatchError) -> Scalar {
    try validateCount(weights.count, expected: k, of: "example weights (length k)")
    var total: Scalar = 0
    for (index, w) in weights.enumerated() {
      guard w.isFinite else { throw .nonFiniteValue(index: index, of: "example weights") }
      guard w >= 0 else {
        throw .negativeValue(index: index, value: Double(w), of: "example weights")
      }
      total += w
    }
    guard total > 0, total.isFinite else { throw .zeroTotalWeight(total: Double(total)) }
    return total
  }

  /// The reduction vector of a (weighted) mean: `1/k` each, or `w_i/Σw` for example weights
  /// (validated: length k, finite, ≥ 0, positive sum).
  public func reductionVector(exampleWeights: [Scalar]?) throws(MinibatchError) -> [Scalar] {
    guard let exampleWeights else { return Array(repeating: 1 / Scalar(k), count: k) }
    let total = try validatedTotal(of: exampleWeights)
    return exampleWeights.map { $0 / total }
  }
}
