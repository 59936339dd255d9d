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

/// Gaussian noise, draws per second, in paired rounds: the single draws
/// (`GaussianNoise.nextStandardNormal()`, the Swift ziggurat, one thread) against the bulk
/// draws of the C kernel (`draws(count:standardDeviation:)`, one thread) and the private
/// gradient's noise (`noisyGradient` on `n` Float zeros, all threads), at the MLP's n = 203,530
/// and at 2²⁰.
@MainActor func runNoiseBenchmarks(threads: Int) throws {
  report("")
  report(
    "Gaussian noise (draws per second; single = nextStandardNormal() in a Swift loop, 1 thread; "
      + "bulk = draws(count:), the C kernel, 1 thread; private = noisyGradient(Float), "
      + "\(threads) threads; ×single = paired median of single's time / the other's):")
  let privacy = try DifferentialPrivacy(
    clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5)
  for n in [203_530, 1 << 20] {
    var single = GaussianNoise(seed: 1)
    var bulk = GaussianNoise(seed: 2)
    var noise = GaussianNoise(seed: 3)
    let zeros = [Float](repeating: 0, count: n)
    let (reference, results) = try pairedRounds(
      budget: budget,
      baseline: {
        var total = 0.0
        for _ in 0..<n { total += single.nextStandardNormal() }
        sink.consume(total)
      },
      kernels: [
        ("noise-bulk", { sink.consume(try bulk.draws(count: n, standardDeviation: 1)[0]) }),
        (
          "noise",
          {
            let gradient = try privacy.noisyGradient(
              clippedSum: zeros, expectedBatchSize: 1, noise: &noise,
              parallelism: .threads(threads))
            sink.consume(gradient[0])
          }
        ),
      ])
    let rows =
      [("noise-single", 1, reference, nil)]
      + zip(results, [1, threads]).map {
        ($0.kernel, $1, $0.seconds, Optional($0.pairedRatio))
      }
    for (kernel, rowThreads, timing, ratio) in rows {
      let rate = Double(n) / timing.median
      let speedup = ratio.map { 1 / $0.median } ?? 1
      report(
        String(
          format: "  %-13@ n = %7d, %d thread%@: %6.0f M draws/s (%.3f ms median), ×single %.2f",
          kernel, n, rowThreads, rowThreads == 1 ? " " : "s", rate / 1e6, timing.median * 1e3,
          speedup))
      if json {
        print(
          jsonObject([
            ("kernel", "\"\(kernel)\""), ("scalar", kernel == "noise" ? "\"Float\"" : "\"Double\""),
            ("threads", "\(rowThreads)"), ("k", "1"), ("n", "\(n)"),
            ("seconds_min", "\(timing.minimum)"), ("seconds_median", "\(timing.median)"),
            ("draws_per_second", "\(rate)"), ("speedup_vs_single_median", "\(speedup)"),
          ]))
      }
    }
  }
}
