import Foundation
import Minibatch

/// The accountants on MNIST's DP-SGD setting (σ = 1.1, q = 256/60,000, 60 epochs = 14,062 steps,
/// δ = 1e-5), one thread (the accountants do not use more): one ε by PLD (target ≤ 0.2 s;
/// dp-accounting 0.6 takes 0.23–0.76 s here, `make privacy-reference`), one by RDP, and the
/// calibration of σ for ε = 2 by PLD (target ≤ 1 s).
@MainActor func runAccountantBenchmarks() throws {
  let (sigma, q, steps, delta) = (1.1, 256.0 / 60_000, 14_062, 1e-5)
  var pld = 0.0
  let pldTiming = measure(budget: quick ? 0.5 : 3, minimumRuns: quick ? 2 : 5) {
    pld =
      (try? PLDAccountant.epsilon(
        noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: delta)) ?? .nan
    sink.consume(pld)
  }
  var rdp = 0.0
  let rdpTiming = measure(budget: quick ? 0.2 : 1, minimumRuns: quick ? 2 : 5) {
    rdp =
      (try? RDPAccountant.epsilon(
        noiseMultiplier: sigma, samplingRate: q, steps: steps, delta: delta)) ?? .nan
    sink.consume(rdp)
  }
  var calibrated = 0.0
  let calibrateTiming = measure(budget: quick ? 1 : 6, minimumRuns: quick ? 1 : 3) {
    calibrated =
      (try? PLDAccountant.noiseMultiplier(
        targetEpsilon: 2, samplingRate: q, steps: steps, delta: delta)) ?? .nan
    sink.consume(calibrated)
  }
  if json {
    print(
      jsonObject([
        ("kernel", "\"accountant-pld-epsilon\""), ("scalar", "\"Double\""), ("threads", "1"),
        ("k", "\(steps)"), ("n", "1"), ("seconds_min", "\(pldTiming.minimum)"),
        ("seconds_median", "\(pldTiming.median)"), ("epsilon", "\(pld)"),
        ("rdp_epsilon", "\(rdp)"), ("rdp_seconds_median", "\(rdpTiming.median)"),
        ("target_seconds", "0.2"),
      ]))
    print(
      jsonObject([
        ("kernel", "\"accountant-pld-calibrate\""), ("scalar", "\"Double\""), ("threads", "1"),
        ("k", "\(steps)"), ("n", "1"), ("seconds_min", "\(calibrateTiming.minimum)"),
        ("seconds_median", "\(calibrateTiming.median)"), ("target_epsilon", "2"),
        ("noise_multiplier", "\(calibrated)"), ("target_seconds", "1"),
      ]))
  }
  report("")
  report(
    "Privacy accounting, σ = 1.1, q = 256/60000, T = 14062 steps, δ = 1e-5 (one thread):")
  report(
    String(
      format: "  accountant-pld-epsilon    ε = %.4f in %.3f s (median %.3f; target ≤ 0.2 s): %@",
      pld, pldTiming.minimum, pldTiming.median, pldTiming.median <= 0.2 ? "met" : "MISSED"))
  report(
    String(
      format: "  accountant-rdp-epsilon    ε = %.4f in %.4f s (median %.4f)", rdp,
      rdpTiming.minimum, rdpTiming.median))
  report(
    String(
      format:
        "  accountant-pld-calibrate  σ = %.4f for ε = 2 in %.3f s (median %.3f; target ≤ 1 s): %@",
      calibrated, calibrateTiming.minimum, calibrateTiming.median,
      calibrateTiming.median <= 1 ? "met" : "MISSED"))
}
