import Foundation

/// The learning rate `η` as a function of the epoch (0-based); constant within an epoch.
public enum LearningRateSchedule: Sendable, Hashable, CustomStringConvertible {
  /// `η_e = rate`.
  case constant(Double)
  /// `η_e = initial · factor^⌊e / every⌋` (decay by `factor` every `every` epochs).
  case step(initial: Double, factor: Double, every: Int)
  /// `η_e = minimum + (initial − minimum)·(1 + cos(π·e/epochs))/2`, from `initial` at epoch 0
  /// toward `minimum` at `epochs` (and `minimum` after).
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

  /// Checks that every rate is finite and ≥ 0 and the periods are ≥ 1.
  public func validate() throws(MinibatchError) {
    switch self {
    case .constant(let rate):
      try validateLearningRate(rate)
    case .step(let initial, let factor, let every):
      try validateLearningRate(initial)
      try validateArgument(
        factor, named: "step decay factor", expected: "finite and ≥ 0",
        factor.isFinite && factor >= 0)
      try validateArgument(every, named: "step decay period (epochs)", expected: "≥ 1", every >= 1)
    case .cosine(let initial, let minimum, let epochs):
      try validateLearningRate(initial)
      try validateLearningRate(minimum)
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
