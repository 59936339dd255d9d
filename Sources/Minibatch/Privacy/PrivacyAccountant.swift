import Foundation

/// Which accountant turns DP-SGD's steps into an `(ε, δ)` guarantee.
public enum PrivacyAccountantKind: String, Sendable, Hashable, Codable, CaseIterable,
  CustomStringConvertible
{
  /// ``PLDAccountant``: the privacy loss distribution, tight (the default).
  case pld
  /// ``RDPAccountant``: Rényi DP converted to `(ε, δ)`, looser by a few percent to a third.
  case rdp

  public var description: String { rawValue }

  /// `ε` at `δ` after the phases, by this accountant (an upper bound either way, PLD's up to
  /// floating-point rounding); `+∞` when a
  /// phase of at least one step has no noise (`σ = 0`).
  ///
  /// - Throws: the accountant's errors (bad phases, `δ ∉ (0, 1)`).
  public func epsilon(phases: [PrivacyPhase], delta: Double) throws(MinibatchError) -> Double {
    switch self {
    case .pld:
      try RDPAccountant.validate(delta: delta)
      var accountant = try PLDAccountant()
      var noiseless = false
      for phase in phases {
        if phase.noiseMultiplier == 0 {
          try RDPAccountant.validate(samplingRate: phase.samplingRate, steps: phase.steps)
          noiseless = noiseless || phase.steps > 0
        } else {
          try accountant.compose(
            noiseMultiplier: phase.noiseMultiplier, samplingRate: phase.samplingRate,
            steps: phase.steps)
        }
      }
      return noiseless ? .infinity : try accountant.epsilon(delta: delta)
    case .rdp:
      try RDPAccountant.validate(delta: delta)
      var accountant = try RDPAccountant()
      for phase in phases {
        try accountant.compose(
          noiseMultiplier: phase.noiseMultiplier, samplingRate: phase.samplingRate,
          steps: phase.steps)
      }
      return try accountant.epsilon(delta: delta).epsilon
    }
  }

  /// The smallest `σ` whose `ε` after `steps` steps at rate `q` is at most `targetEpsilon`, by
  /// this accountant: ``PLDAccountant/noiseMultiplier(targetEpsilon:samplingRate:steps:delta:discretization:tolerance:)``
  /// (to 0.1% in `σ`) or ``RDPAccountant/noiseMultiplier(targetEpsilon:samplingRate:steps:delta:tolerance:orders:)``
  /// (to 0.01 in `ε`). Either way the returned `σ` reaches the target.
  public func noiseMultiplier(
    targetEpsilon: Double, samplingRate: Double, steps: Int, delta: Double
  ) throws(MinibatchError) -> Double {
    switch self {
    case .pld:
      try PLDAccountant.noiseMultiplier(
        targetEpsilon: targetEpsilon, samplingRate: samplingRate, steps: steps, delta: delta)
    case .rdp:
      try RDPAccountant.noiseMultiplier(
        targetEpsilon: targetEpsilon, samplingRate: samplingRate, steps: steps, delta: delta)
    }
  }
}

/// How a privacy parameter is printed: never below the computed bound.
public enum PrivacyFormatting {
  /// `value` rounded **up** to `significantDigits` significant digits (at least 4), in plain
  /// decimal notation: `8.39605` prints `8.397`, `0.0123401` prints `0.01235`, `123.45` prints
  /// `123.5`, `+∞` prints `inf`. The printed number, read back, is `≥ value` (checked, and
  /// bumped by one unit in the last place where decimal conversion would fall short).
  public static func roundedUp(_ value: Double, significantDigits: Int = 4) -> String {
    if value.isNaN { return "nan" }
    if value == .infinity { return "inf" }
    if value == -.infinity { return "-inf" }
    if value == 0 { return "0" }
    let digits = max(4, significantDigits)
    let magnitude = Int(log10(abs(value)).rounded(.down))
    let decimals = max(0, digits - 1 - magnitude)
    if decimals > 300 {
      // %e rounds to nearest: print a value larger by one unit in the last digit shown, so the
      // text cannot fall below `value`.
      return String(format: "%.\(digits - 1)e", value * (1 + pow(10, Double(1 - digits))))
    }
    let scale = pow(10, Double(decimals))
    var scaled = (value * scale).rounded(.up)
    var text = String(format: "%.\(decimals)f", scaled / scale)
    var attempts = 0
    while let printed = Double(text), printed < value, attempts < 4 {
      scaled += 1
      text = String(format: "%.\(decimals)f", scaled / scale)
      attempts += 1
    }
    return text
  }
}
