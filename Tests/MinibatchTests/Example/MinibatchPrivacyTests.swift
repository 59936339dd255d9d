// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import ArgumentParser
  import Minibatch
  import Testing

  @testable import minibatch_privacy

  /// The command-line accountant: the published value, the inverse, and usage errors.
  @Suite struct MinibatchPrivacyTests {
    @Test func epsilonPrintsThePublishedValue() throws {
      let command = try MinibatchPrivacy.Epsilon.parse([
        "--noise-multiplier", "1.5", "--sampling-rate", "0.04", "--steps", "2250", "--delta",
        "1e-5",
      ])
      #expect(try command.lines().last == "epsilon = 7.3291")
    }

    @Test func noiseMultiplierRoundTrips() throws {
      let command = try MinibatchPrivacy.NoiseMultiplier.parse([
        "--epsilon", "3", "--sampling-rate", "0.04", "--steps", "2250", "--delta", "1e-5",
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
    ])
    func badValuesGetAUsageError(_ arguments: [String]) {
      do {
        _ = try MinibatchPrivacy.parseAsRoot(arguments)
        Issue.record("\(arguments) parsed")
      } catch {
        #expect(MinibatchPrivacy.exitCode(for: error) == .validationFailure, "\(arguments)")
      }
    }
  }
#endif
