import RealModule

/// How far a model's analytic gradients are from central finite differences, and how far its two
/// gradient paths are from each other. Errors are **normwise relative**:
///
/// ```
/// error(a, f) = ‖a − f‖₂ / max(‖a‖₂, ‖f‖₂, tiny)
/// ```
///
/// which is 0 for equal vectors, ~1 for unrelated ones, and does not blow up on tiny components.
public struct GradientCheckReport: Sendable, Hashable, CustomStringConvertible {
  /// `error(∇L, FD of L)`: the mean-loss gradient (backward pass) against finite differences of
  /// the mean loss.
  public var meanGradientError: Double
  /// `max_i error(J[i, :], FD of ℓ_i)`: the worst per-example row against finite differences of
  /// that example's loss.
  public var worstPerExampleError: Double
  /// Example index of ``worstPerExampleError``.
  public var worstExample: Int
  /// `error(mean of J's rows, ∇L)`: the identity mean-of-rows = gradient-of-the-mean-loss, with
  /// no finite differences involved (rounding only).
  public var meanOfRowsError: Double
  /// The finite-difference step used for parameter `j` was `step·max(1, |w_j|)`.
  public var step: Double

  /// The largest of the three errors.
  public var worstError: Double { max(meanGradientError, worstPerExampleError, meanOfRowsError) }

  public var description: String {
    "mean gradient vs FD \(meanGradientError), worst row vs FD \(worstPerExampleError) "
      + "(example \(worstExample)), mean of rows vs mean gradient \(meanOfRowsError)"
  }
}

extension PerExampleGradientModel {
  /// Compares the model's gradients with central finite differences at `parameters` on `batch`.
  ///
  /// For every parameter `j` the losses of all `k` examples are evaluated at `w ± h_j·e_j`
  /// (`h_j = step·max(1, |w_j|)`), giving column `j` of the finite-difference Jacobian
  /// `(ℓ_i(w + h_j e_j) − ℓ_i(w − h_j e_j)) / (2h_j)` and, averaged, the mean-loss gradient.
  /// Cost: `2n` loss evaluations of the batch; meant for small models and tests.
  ///
  /// The default step `∛ε` (6e-6 in Double) balances the `O(h²)` truncation error against
  /// rounding. Float results are limited to about 1e-2 by rounding; check in Double.
  ///
  /// - Throws: the validation errors of the model, and
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` for a step that is not positive.
  public func checkGradients(
    parameters: [Scalar], batch: Batch<Scalar>,
    step: Scalar = Scalar.pow(Scalar.ulpOfOne, Scalar(1) / 3)
  ) throws(MinibatchError) -> GradientCheckReport {
    try validateArgument(
      step, named: "finite-difference step", expected: "finite and > 0", step.isFinite && step > 0)
    let k = batch.count
    let n = parameterCount
    let (rows, _) = try perExampleGradients(parameters: parameters, batch: batch)
    let (_, meanGradient) = try meanLossAndGradient(parameters: parameters, batch: batch)
    // fd[i·n + j] = ∂ℓ_i/∂w_j by central differences.
    var fd = [Double](repeating: 0, count: k * n)
    var shifted = parameters
    for j in 0..<n {
      let h = step * max(1, abs(parameters[j]))
      shifted[j] = parameters[j] + h
      let plus = try losses(parameters: shifted, batch: batch)
      shifted[j] = parameters[j] - h
      let minus = try losses(parameters: shifted, batch: batch)
      shifted[j] = parameters[j]
      // The step actually taken, (w + h) − (w − h), is exact in Scalar arithmetic.
      let width = Double((parameters[j] + h) - (parameters[j] - h))
      for i in 0..<k { fd[i * n + j] = (Double(plus[i]) - Double(minus[i])) / width }
    }
    var fdMean = [Double](repeating: 0, count: n)
    for i in 0..<k { for j in 0..<n { fdMean[j] += fd[i * n + j] / Double(k) } }
    var worst = (error: 0.0, example: 0)
    for i in 0..<k {
      let error = normwiseRelativeError(
        rows.matrix.rowUnchecked(i).map(Double.init), fd[(i * n)..<((i + 1) * n)])
      if error > worst.error { worst = (error, i) }
    }
    let analyticMean = meanGradient.map(Double.init)
    return GradientCheckReport(
      meanGradientError: normwiseRelativeError(analyticMean, fdMean[...]),
      worstPerExampleError: worst.error, worstExample: worst.example,
      meanOfRowsError: normwiseRelativeError(rows.mean().map(Double.init), analyticMean[...]),
      step: Double(step))
  }
}

/// `‖a − f‖₂ / max(‖a‖₂, ‖f‖₂, tiny)`.
func normwiseRelativeError(_ a: [Double], _ f: ArraySlice<Double>) -> Double {
  var difference = 0.0
  var normA = 0.0
  var normF = 0.0
  for (x, y) in zip(a, f) {
    difference += (x - y) * (x - y)
    normA += x * x
    normF += y * y
  }
  let scale = max(normA.squareRoot(), normF.squareRoot(), Double.leastNormalMagnitude)
  return difference.squareRoot() / scale
}
