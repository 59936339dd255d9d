import Foundation

/// The learning rate `η` as a function of the epoch (0-based); constant within an epoch.
public enum LearningRateSchedule: Sendable, Hashable, CustomStringConvertible {
  /// `η_e = rate`.
  case constant(Double)
  /// `η_e = initial · factor^⌊e / every⌋` (decay by `factor`, `0 < factor ≤ 1`, every `every`
  /// epochs; a factor of 1 is the constant rate).
  case step(initial: Double, factor: Double, every: Int)
  /// `η_e = minimum + (initial − minimum)·(1 + cos(π·e/epochs))/2`, from `initial` at epoch 0
  /// toward `minimum ≤ initial` at `epochs` (and `minimum` after).
  case cosine(initial: Double, minimum: Double, epochs: Int)

  /// The learning rate of epoch `epoch` (epochs before 0 count as 0).
  /// - Throws: the errors of ``validate()``, so an invalid schedule (a period of 0, say) never
  ///   divides by zero.
  public func rate(epoch: Int) throws(MinibatchError) -> Double {
    try validate()
    switch self {
    case .constant(let rate):
      return rate
    case .step(let initial, let factor, let every):
      return initial * pow(factor, Double(max(0, epoch) / every))
    case .cosine(let initial, let minimum, let epochs):
      let progress = Double(min(max(0, epoch), epochs)) / Double(epochs)
      return minimum + (initial - minimum) * (1 + cos(Double.pi * progress)) / 2
    }
  }

  /// Checks that every rate is finite and ≥ 0, the periods are ≥ 1, a step factor is in
  /// `0 < factor ≤ 1` and a cosine schedule's minimum is at most its initial rate.
  ///
  /// A step factor of 0 would stop training after the first period, and one above 1 grows the
  /// rate without bound (until it overflows); a cosine "minimum" above the start would be a
  /// warm-up the formula does not describe. Each is refused rather than run.
  ///
  /// - Throws: ``MinibatchError/invalidLearningRate(_:)`` for a rate that is NaN, infinite or
  ///   negative; ``MinibatchError/invalidArgument(name:value:expected:)`` naming the step decay
  ///   factor, a period, or the cosine minimum.
  public func validate() throws(MinibatchError) {
    switch self {
    case .constant(let rate):
      try validateLearningRate(rate)
    case .step(let initial, let factor, let every):
      try validateLearningRate(initial)
      try validateArgument(
        factor, named: "step decay factor", expected: "0 < factor ≤ 1", factor > 0 && factor <= 1)
      try validateArgument(every, named: "step decay period (epochs)", expected: "≥ 1", every >= 1)
    case .cosine(let initial, let minimum, let epochs):
      try validateLearningRate(initial)
      try validateLearningRate(minimum)
      try validateArgument(
        minimum, named: "cosine schedule minimum", expected: "≤ the initial rate \(initial)",
        minimum <= initial)
      try validateArgument(
        epochs, named: "cosine schedule length (epochs)", expected: "≥ 1", epochs >= 1)
    }
  }

  public var description: String {
    switch self {
    case .constant(let rate): return "constant \(rate)"
    case .step(let initial, let factor, let every):
      return "step \(initial) ×\(factor) every \(every)"
    case .cosine(let initial, let minimum, let epochs):
      return "cosine \(initial)→\(minimum) over \(epochs)"
    }
  }
}
