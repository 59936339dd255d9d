// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import ArgumentParser
  import Minibatch
  import Testing

  @testable import minibatch_privacy

  /// The command-line accountant: the published value, the inverse, and usage errors.
  @Suite struct MinibatchPrivacyTests {
    /// The published example: PLD by default (dp-accounting: 6.76879), RDP on request
    /// (7.32913), each rounded up.
    @Test func epsilonPrintsThePublishedValue() throws {
      let arguments = [
        "--noise-multiplier", "1.5", "--sampling-rate", "0.04", "--steps", "2250", "--delta",
        "1e-5",
      ]
      let pld = try MinibatchPrivacy.Epsilon.parse(arguments).lines()
      #expect(pld.last == "epsilon = 6.7688")
      #expect(pld.contains { $0.hasPrefix("accountant = pld") })
      let rdp = try MinibatchPrivacy.Epsilon.parse(arguments + ["--accountant", "rdp"]).lines()
      #expect(rdp.last == "epsilon = 7.3292")
      #expect(rdp.contains("optimal RDP order = 3.9"))
      #expect(!rdp.contains { $0.hasPrefix("warning") })
    }

    /// A large σ: RDP's orders reach far enough not to stop at ε ≈ 0.1, and say so when the
    /// best is the largest.
    @Test func rdpWarnsAtTheLargestOrder() throws {
      let base = [
        "--sampling-rate", "0.01", "--steps", "100", "--delta", "1e-5", "--accountant", "rdp",
      ]
      let moderate = try MinibatchPrivacy.Epsilon.parse(["--noise-multiplier", "100"] + base)
        .lines()
      #expect(!moderate.contains { $0.hasPrefix("warning") })
      let epsilon = try #require(Double(moderate.last!.dropFirst("epsilon = ".count)))
      #expect(epsilon < 0.01)
      let huge = try MinibatchPrivacy.Epsilon.parse(["--noise-multiplier", "1e4"] + base).lines()
      #expect(huge.contains { $0.hasPrefix("warning: the best RDP order is the largest") })
    }

    @Test func pldNoiseMultiplierReachesTheTarget() throws {
      let command = try MinibatchPrivacy.NoiseMultiplier.parse([
        "--epsilon", "3", "--sampling-rate", "0.04", "--steps", "2250", "--delta", "1e-5",
      ])
      let last = try #require(try command.lines().last)
      let sigma = try #require(Double(last.dropFirst("noise_multiplier = ".count)))
      let epsilon = try PLDAccountant.epsilon(
        noiseMultiplier: sigma, samplingRate: 0.04, steps: 2250, delta: 1e-5)
      #expect(epsilon <= 3 && epsilon >= 2.99, "σ = \(sigma) gives ε = \(epsilon)")
    }

    @Test func noiseMultiplierRoundTrips() throws {
      let command = try MinibatchPrivacy.NoiseMultiplier.parse([
        "--epsilon", "3", "--sampling-rate", "0.04", "--steps", "2250", "--delta", "1e-5",
        "--accountant", "rdp",
      ])
      let last = try #require(try command.lines().last)
      #expect(last.hasPrefix("noise_multiplier = "))
      let sigma = try #require(Double(last.dropFirst("noise_multiplier = ".count)))
      let epsilon = try RDPAccountant.epsilon(
        noiseMultiplier: sigma, samplingRate: 0.04, steps: 2250, delta: 1e-5)
      #expect(epsilon <= 3 && epsilon >= 2.98, "σ = \(sigma) gives ε = \(epsilon)")
      #expect(last == "noise_multiplier = 2.9610")  // the README's example (2.96094 rounded up)
    }

    @Test(arguments: [
      [
        "epsilon", "--noise-multiplier", "0", "--sampling-rate", "0.1", "--steps", "10", "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "nan", "--sampling-rate", "0.1", "--steps", "10",
        "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "1.5", "--steps", "10", "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "-1", "--sampling-rate", "0.1", "--steps", "10",
        "--delta", "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0", "--steps", "10", "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "-1", "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "10", "--delta",
        "1",
      ],
      ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "10"],
      [
        "noise-multiplier", "--epsilon", "-2", "--sampling-rate", "0.1", "--steps", "10", "--delta",
        "1e-5",
      ],
      [
        "noise-multiplier", "--epsilon", "2", "--sampling-rate", "0.1", "--steps", "0", "--delta",
        "1e-5",
      ],
      [
        "noise-multiplier", "--epsilon", "inf", "--sampling-rate", "0.1", "--steps", "10",
        "--delta",
        "1e-5",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "10", "--delta",
        "1e-5", "--accountant", "moments",
      ],
      [
        "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "10", "--delta",
        "1e-5", "--discretization", "0",
      ],
    ])
    func badValuesGetAUsageError(_ arguments: [String]) {
      do {
        _ = try MinibatchPrivacy.parseAsRoot(arguments)
        Issue.record("\(arguments) parsed")
      } catch {
        #expect(MinibatchPrivacy.exitCode(for: error) == .validationFailure, "\(arguments)")
        // A negative number is read and refused by validation, never "Missing value".
        #expect(!MinibatchPrivacy.message(for: error).contains("Missing value"), "\(arguments)")
      }
    }
  }
#endif
