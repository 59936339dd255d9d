/// What an accumulated sum of (weighted) per-example gradients `S = Σ_i v_i·g_i` is divided by to
/// become the gradient an optimiser sees, `g = S / D`. Named once, here, because scaling is the
/// most common bug in this field (MLX's `LossReduction` and Opacus' expected batch size are the
/// same idea).
///
/// With `V = Σ_i v_i` (the accumulated weight; `k` when every `v_i = 1`) and `m` the examples
/// accumulated:
///
/// | case | `D` | gradient of |
/// |---|---|---|
/// | ``sum`` | 1 | the summed loss `Σ_i v_i·ℓ_i` |
/// | ``weightTotal`` | `V` | this batch's weighted mean loss (PyTorch's weighted mean; `1/k` without weights) |
/// | ``fixedDenominator(_:)`` | `B` | `S/B`: DP-SGD's expected batch size, never the realised one |
/// | ``datasetWeightTotal(_:exampleCount:)`` | `m·W/N` | unbiased estimate of the data set's weighted mean loss |
///
/// ``datasetWeightTotal(_:exampleCount:)``: for a batch of `m` examples drawn uniformly from a
/// data set of `N` examples with weight total `W = Σ_{data set} w_i`,
/// `E[Σ_batch w_i·g_i] = (m/N)·Σ_{data set} w_i·g_i`, so `S/(m·W/N)` is an unbiased estimate of
/// `Σ_{data set} w_i·g_i / W`. Weights then act across batches: a batch of low-weight examples
/// takes a small step, and with a batch of one a weight still scales its example's step. With
/// all weights 1 it is the batch mean, `1/m`.
public enum GradientNormalization: Sendable, Hashable, CustomStringConvertible {
  /// `D = 1`: the plain sum.
  case sum
  /// `D = Σ_i v_i`, the accumulated weight: the weighted mean of this batch.
  case weightTotal
  /// `D = B`, a fixed positive denominator (the expected batch size of DP-SGD).
  case fixedDenominator(Double)
  /// `D = m·W/N` for `m` accumulated examples, a data set of `N` examples and weight total `W`.
  case datasetWeightTotal(Double, exampleCount: Int)

  public var description: String {
    switch self {
    case .sum: return "sum"
    case .weightTotal: return "weight total"
    case .fixedDenominator(let b): return "fixed denominator \(b)"
    case .datasetWeightTotal(let w, let n): return "data set weight total \(w) over \(n) examples"
    }
  }

  /// Checks the case's own values: `B` finite and `> 0`; `W` finite and `> 0`, `N ≥ 1`.
  public func validate() throws(MinibatchError) {
    switch self {
    case .sum, .weightTotal:
      break
    case .fixedDenominator(let b):
      try validateArgument(
        b, named: "fixed denominator", expected: "finite and > 0", b.isFinite && b > 0)
    case .datasetWeightTotal(let w, let n):
      try validateArgument(
        w, named: "data set weight total", expected: "finite and > 0", w.isFinite && w > 0)
      try validateArgument(n, named: "data set example count", expected: "≥ 1", n >= 1)
    }
  }

  /// `D` for `exampleCount` accumulated examples of total weight `weightTotal`.
  ///
  /// - Throws: the errors of ``validate()``; ``MinibatchError/emptyBatch`` when nothing was
  ///   accumulated and the denominator depends on it; ``MinibatchError/zeroTotalWeight(total:)``
  ///   when `D` is not positive and finite (``weightTotal`` of all-zero weights).
  public func denominator(weightTotal: Double, exampleCount: Int) throws(MinibatchError) -> Double {
    try validate()
    switch self {
    case .weightTotal, .datasetWeightTotal:
      guard exampleCount > 0 else { throw .emptyBatch }
    case .sum, .fixedDenominator:
      break
    }
    let d: Double
    switch self {
    case .sum: d = 1
    case .weightTotal: d = weightTotal
    case .fixedDenominator(let b): d = b
    case .datasetWeightTotal(let w, let n): d = Double(exampleCount) * w / Double(n)
    }
    guard d > 0, d.isFinite else { throw .zeroTotalWeight(total: d) }
    return d
  }
}
