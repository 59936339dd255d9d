#if CommandLineTools
  import ArgumentParser
  import Foundation
  import Minibatch

  /// `minibatch-privacy`: the privacy accountant on the command line, like TF Privacy's
  /// `compute_dp_sgd_privacy`. Both subcommands print their inputs and end with one
  /// `name = value` line.
  @main
  struct MinibatchPrivacy: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "minibatch-privacy",
      abstract:
        "DP-SGD privacy accounting: ε from a noise multiplier, or the noise multiplier for ε.",
      discussion: """
        Rényi DP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar and Zhang 2019), \
        composed over the steps and converted to (ε, δ) by Balle et al. (2020, Theorem 21) over \
        the orders 1.1, 1.2, …, 10.9, 12, 13, …, 63. The sampling rate q is the expected batch \
        size over the data set size; steps are epochs × 1/q.
        """,
      subcommands: [Epsilon.self, NoiseMultiplier.self])

    struct Mechanism: ParsableArguments {
      @Option(
        name: .customLong("sampling-rate"),
        help: "q: each example's probability of joining a step, in (0, 1].")
      var samplingRate: Double

      @Option(help: "T: the number of steps (≥ 0).")
      var steps: Int

      @Option(help: "δ, in (0, 1); usually below 1/N.")
      var delta: Double

      func validate() throws {
        guard samplingRate > 0, samplingRate <= 1 else {
          throw ValidationError("--sampling-rate must be in (0, 1] (got \(samplingRate))")
        }
        guard steps >= 0 else { throw ValidationError("--steps must be ≥ 0 (got \(steps))") }
        guard delta > 0, delta < 1 else {
          throw ValidationError("--delta must be in (0, 1) (got \(delta))")
        }
      }
    }

    struct Epsilon: ParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "ε spent by T steps at noise multiplier σ and sampling rate q, for δ.")

      @Option(
        name: .customLong("noise-multiplier"),
        help: "σ > 0: noise standard deviation over the clipping bound.")
      var noiseMultiplier: Double

      @OptionGroup var mechanism: Mechanism

      func validate() throws {
        guard noiseMultiplier.isFinite, noiseMultiplier > 0 else {
          throw ValidationError(
            "--noise-multiplier must be finite and > 0 (got \(noiseMultiplier))")
        }
      }

      func run() throws {
        for line in try lines() { print(line) }
      }

      /// What `run` prints; the last line is `epsilon = …`.
      func lines() throws -> [String] {
        var accountant = try RDPAccountant()
        try accountant.compose(
          noiseMultiplier: noiseMultiplier, samplingRate: mechanism.samplingRate,
          steps: mechanism.steps)
        let (epsilon, order) = try accountant.epsilon(delta: mechanism.delta)
        return [
          "noise_multiplier = \(noiseMultiplier), sampling_rate = \(mechanism.samplingRate), "
            + "steps = \(mechanism.steps), delta = \(mechanism.delta)",
          "optimal RDP order = \(order)",
          "epsilon = " + String(format: "%.4f", epsilon),
        ]
      }
    }

    struct NoiseMultiplier: ParsableCommand {
      static let configuration = CommandConfiguration(
        commandName: "noise-multiplier",
        abstract: "The smallest σ whose ε after T steps at rate q is at most the target (to 0.01).")

      @Option(help: "The target ε > 0.")
      var epsilon: Double

      @OptionGroup var mechanism: Mechanism

      func validate() throws {
        guard epsilon.isFinite, epsilon > 0 else {
          throw ValidationError("--epsilon must be finite and > 0 (got \(epsilon))")
        }
        guard mechanism.steps >= 1 else {
          throw ValidationError("--steps must be ≥ 1 (got \(mechanism.steps))")
        }
      }

      func run() throws {
        for line in try lines() { print(line) }
      }

      /// What `run` prints; the last line is `noise_multiplier = …`.
      func lines() throws -> [String] {
        let sigma: Double
        do {
          sigma = try RDPAccountant.noiseMultiplier(
            targetEpsilon: epsilon, samplingRate: mechanism.samplingRate, steps: mechanism.steps,
            delta: mechanism.delta)
        } catch {
          throw ValidationError("\(error)")
        }
        let reached = try RDPAccountant.epsilon(
          noiseMultiplier: sigma, samplingRate: mechanism.samplingRate, steps: mechanism.steps,
          delta: mechanism.delta)
        return [
          "target epsilon = \(epsilon), sampling_rate = \(mechanism.samplingRate), "
            + "steps = \(mechanism.steps), delta = \(mechanism.delta)",
          "epsilon at this noise multiplier = " + String(format: "%.4f", reached),
          // Rounded up, so the printed σ reaches the target too (a larger σ spends less).
          "noise_multiplier = " + String(format: "%.4f", (sigma * 1e4).rounded(.up) / 1e4),
        ]
      }
    }
  }

#else
  import Foundation

  /// Built without the `CommandLineTools` trait (which brings in swift-argument-parser).
  @main
  enum MinibatchPrivacyWithoutTools {
    static func main() {
      FileHandle.standardError.write(
        Data(
          ("minibatch-privacy is built with the CommandLineTools trait: "
            + "swift run --traits CommandLineTools minibatch-privacy (or make privacy)\n").utf8))
      exit(2)
    }
  }
#endif
