/// Everything that public Minibatch entry points refuse, with what was expected and what came.
///
/// Every throwing entry point validates all of its inputs before it writes anything, so a call
/// that throws has left its arguments (weights, optimiser state, matrices) exactly as they were.
public enum MinibatchError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A count or length differs from the one the other arguments imply, e.g.
  /// `shapeMismatch(expected: 10, got: 9, of: "weights")`.
  case shapeMismatch(expected: Int, got: Int, of: String)
  /// A batch with no examples (k = 0). Averages over zero examples are undefined.
  case emptyBatch
  /// A gradient with no entries (n = 0).
  case noParameters
  /// A dimension is negative, beyond what BLAS's 32-bit indices address, or `k·n` overflows.
  case dimensionOutOfRange(value: Int, limit: Int, of: String)
  /// An entry of `of` at `index` is NaN or infinite where a finite value is required.
  case nonFiniteValue(index: Int, of: String)
  /// An entry of `of` at `index` is negative where only values `≥ 0` make sense (example weights).
  case negativeValue(index: Int, value: Double, of: String)
  /// Example weights that sum to zero (or to a value too small to divide by): the weighted mean is
  /// undefined.
  case zeroTotalWeight(total: Double)
  /// A learning rate that is NaN, infinite or negative.
  case invalidLearningRate(Double)

  public var description: String {
    switch self {
    case .shapeMismatch(let expected, let got, let what):
      return "shape mismatch in \(what): expected \(expected), got \(got)"
    case .emptyBatch:
      return "empty batch: at least one example (k ≥ 1) is required"
    case .noParameters:
      return "no parameters: gradients need at least one entry (n ≥ 1)"
    case .dimensionOutOfRange(let value, let limit, let what):
      return "\(what) is \(value), outside the supported range 0...\(limit)"
    case .nonFiniteValue(let index, let what):
      return "\(what)[\(index)] is not finite (NaN or infinity)"
    case .negativeValue(let index, let value, let what):
      return "\(what)[\(index)] is \(value); it must be ≥ 0"
    case .zeroTotalWeight(let total):
      return "example weights sum to \(total); a weighted mean needs a positive total"
    case .invalidLearningRate(let value):
      return "learning rate is \(value); it must be finite and ≥ 0"
    }
  }
}
