#if CommandLineTools
  import ArgumentParser
  import Foundation
  import Minibatch

  extension PrivacyAccountantKind: ExpressibleByArgument {}

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
        Accounts the Poisson-subsampled Gaussian mechanism of DP-SGD over T steps. The default \
        accountant, pld, composes its privacy loss distribution exactly by FFT on a grid of \
        losses (discretization 1e-4, rounded pessimistically), as Google's dp-accounting does: \
        the ε printed is an upper bound (up to floating-point rounding). rdp is Rényi DP (Mironov, Talwar and Zhang 2019) \
        converted by Balle et al. (2020, Theorem 21), looser. Every printed ε is rounded up. \
        The sampling rate q is the expected batch size over the data set size; steps are \
        epochs × 1/q.
        """,
      subcommands: [Epsilon.self, NoiseMultiplier.self])

    struct Mechanism: ParsableArguments {
      @Option(
        name: .customLong("sampling-rate"), parsing: .unconditional,
        help: "q: each example's probability of joining a step, in (0, 1].")
      var samplingRate: Double

      @Option(parsing: .unconditional, help: "T: the number of steps (≥ 0).")
      var steps: Int

      @Option(parsing: .unconditional, help: "δ, in (0, 1); usually below 1/N.")
      var delta: Double

      @Option(help: "pld (privacy loss distribution, tight; the default) or rdp (Rényi DP).")
      var accountant: PrivacyAccountantKind = .pld

      @Option(
        parsing: .unconditional,
        help: "pld only: the spacing Δ of the privacy-loss grid (> 0; finer is tighter, slower).")
      var discretization: Double = PrivacyLossDistribution.defaultDiscretization

      /// The line naming the accountant.
      var accountantLine: String {
        switch accountant {
        case .pld:
          "accountant = pld (privacy loss distribution, discretization \(discretization); "
            + "ε is an upper bound, rounded up)"
        case .rdp:
          "accountant = rdp (Rényi DP, orders 1.1 to \(Int(RDPAccountant.defaultOrders.max()!)); "
            + "ε rounded up)"
        }
      }

      func validate() throws {
        guard samplingRate > 0, samplingRate <= 1 else {
          throw ValidationError("--sampling-rate must be in (0, 1] (got \(samplingRate))")
        }
        guard steps >= 0 else { throw ValidationError("--steps must be ≥ 0 (got \(steps))") }
        guard delta > 0, delta < 1 else {
          throw ValidationError("--delta must be in (0, 1) (got \(delta))")
        }
        guard discretization.isFinite, discretization > 0 else {
          throw ValidationError("--discretization must be finite and > 0 (got \(discretization))")
        }
        if accountant == .rdp, discretization != PrivacyLossDistribution.defaultDiscretization {
          throw ValidationError("--discretization is for --accountant pld")
        }
      }

      /// The warning when RDP's best order is the largest one tried (then ε may be loose).
      func orderWarning(_ order: Double, of accountant: RDPAccountant) -> String? {
        guard accountant.isLargestOrder(order) else { return nil }
        return "warning: the best RDP order is the largest one tried (\(order)); ε may be loose: "
          + "use --accountant pld"
      }
    }

    struct Epsilon: ParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "ε spent by T steps at noise multiplier σ and sampling rate q, for δ.")

      @Option(
        name: .customLong("noise-multiplier"), parsing: .unconditional,
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

      /// What `run` prints; the last line is `epsilon = …`, rounded up (5 significant digits).
      func lines() throws -> [String] {
        var lines = [
          "noise_multiplier = \(noiseMultiplier), sampling_rate = \(mechanism.samplingRate), "
            + "steps = \(mechanism.steps), delta = \(mechanism.delta)",
          mechanism.accountantLine,
        ]
        let epsilon: Double
        switch mechanism.accountant {
        case .pld:
          epsilon = try PLDAccountant.epsilon(
            noiseMultiplier: noiseMultiplier, samplingRate: mechanism.samplingRate,
            steps: mechanism.steps, delta: mechanism.delta,
            discretization: mechanism.discretization)
        case .rdp:
          var accountant = try RDPAccountant()
          try accountant.compose(
            noiseMultiplier: noiseMultiplier, samplingRate: mechanism.samplingRate,
            steps: mechanism.steps)
          let (value, order) = try accountant.epsilon(delta: mechanism.delta)
          epsilon = value
          lines.append("optimal RDP order = \(order)")
          if let warning = mechanism.orderWarning(order, of: accountant) {
            lines.append(warning)
          }
        }
        lines.append("epsilon = " + PrivacyFormatting.roundedUp(epsilon, significantDigits: 5))
        return lines
      }
    }

    struct NoiseMultiplier: ParsableCommand {
      static let configuration = CommandConfiguration(
        commandName: "noise-multiplier",
        abstract:
          "The smallest σ whose ε after T steps at rate q is at most the target (pld: to 0.1% "
          + "of σ; rdp: to 0.01 in ε).")

      @Option(parsing: .unconditional, help: "The target ε > 0.")
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

      /// What `run` prints; the last line is `noise_multiplier = …`, rounded up (a larger σ
      /// spends less, so the printed σ reaches the target too).
      func lines() throws -> [String] {
        let sigma: Double
        let reached: Double
        do {
          switch mechanism.accountant {
          case .pld:
            sigma = try PLDAccountant.noiseMultiplier(
              targetEpsilon: epsilon, samplingRate: mechanism.samplingRate,
              steps: mechanism.steps, delta: mechanism.delta,
              discretization: mechanism.discretization)
            reached = try PLDAccountant.epsilon(
              noiseMultiplier: sigma, samplingRate: mechanism.samplingRate,
              steps: mechanism.steps, delta: mechanism.delta,
              discretization: mechanism.discretization)
          case .rdp:
            sigma = try RDPAccountant.noiseMultiplier(
              targetEpsilon: epsilon, samplingRate: mechanism.samplingRate,
              steps: mechanism.steps, delta: mechanism.delta)
            reached = try RDPAccountant.epsilon(
              noiseMultiplier: sigma, samplingRate: mechanism.samplingRate,
              steps: mechanism.steps, delta: mechanism.delta)
          }
        } catch {
          throw ValidationError("\(error)")
        }
        return [
          "target epsilon = \(epsilon), sampling_rate = \(mechanism.samplingRate), "
            + "steps = \(mechanism.steps), delta = \(mechanism.delta)",
          mechanism.accountantLine,
          "epsilon at this noise multiplier = "
            + PrivacyFormatting.roundedUp(reached, significantDigits: 5),
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
