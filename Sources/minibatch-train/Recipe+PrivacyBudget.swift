import Foundation
import Minibatch

extension Recipe {
  /// A run trained to `--dp-epsilon T` and resumed with `--load FILE --epochs E`: `σ` was
  /// calibrated for the planned epochs, so more epochs at that `σ` spend more than `T`. Throws
  /// before any step when the `E` more epochs would end past `T`, naming the `ε` they would
  /// reach and the most epochs that stay within `T` (a binary search: `ε` grows with the steps;
  /// about log₂ E accountant calls).
  ///
  /// - Parameters:
  ///   - history: the privacy the saved run spent, phase by phase.
  ///   - phase: one epoch's phase of the resumed run (`σ`, `q`, its steps).
  static func checkPrivacyBudget(
    spent history: [PrivacyPhase], epochPhase phase: PrivacyPhase, epochs: Int,
    target: Double, options: PrivacyOptions
  ) throws(MinibatchError) {
    func epsilon(after extra: Int) throws(MinibatchError) -> Double {
      var phases = history
      let (steps, overflow) = phase.steps.multipliedReportingOverflow(by: extra)
      let added = overflow ? Int.max : steps
      if let last = phases.last, last.noiseMultiplier == phase.noiseMultiplier,
        last.samplingRate == phase.samplingRate
      {
        let (total, overflow) = last.steps.addingReportingOverflow(added)
        phases[phases.count - 1].steps = overflow ? Int.max : total
      } else {
        phases.append(
          PrivacyPhase(
            noiseMultiplier: phase.noiseMultiplier, samplingRate: phase.samplingRate,
            steps: added))
      }
      return try options.resolvedAccountant.epsilon(phases: phases, delta: options.delta)
    }
    let reached = try epsilon(after: epochs)
    guard reached > target else { return }
    let spent = try epsilon(after: 0)
    let budget = "the saved run was calibrated to ε = \(target) at δ = \(options.delta)"
    guard spent <= target else {
      throw .invalidArgument(
        name: "--epochs", value: "\(epochs)",
        expected: "0 with this --load: \(budget) and has spent ε = \(format(spent)) already")
    }
    var (within, beyond) = (0, epochs)
    while beyond - within > 1 {
      let middle = within + (beyond - within) / 2
      if try epsilon(after: middle) <= target { within = middle } else { beyond = middle }
    }
    throw .invalidArgument(
      name: "--epochs", value: "\(epochs)",
      expected: "at most \(within) with this --load: \(budget); \(epochs) more "
        + (epochs == 1 ? "epoch" : "epochs")
        + " would spend ε = \(format(reached)) (σ = \(phase.noiseMultiplier), "
        + "q = \(phase.samplingRate)); start a new run for a larger --dp-epsilon")
  }

  private static func format(_ epsilon: Double) -> String { String(format: "%.4g", epsilon) }
}
