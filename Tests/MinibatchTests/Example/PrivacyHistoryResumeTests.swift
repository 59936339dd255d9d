#if CommandLineTools
  import Foundation
  import Minibatch
  import Testing

  @testable import minibatch_train

  @Suite struct PrivacyHistoryResumeTests {
    /// A DP-SGD run saved after 2 epochs and resumed for 1 keeps its privacy history in the save
    /// file: the same history, parameters and ε as 3 epochs straight.
    @Test func resumedPrivateRunKeepsItsHistory() throws {
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-history-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: dir) }
      let (save, straight) = (
        dir.appendingPathComponent("run.json").path,
        dir.appendingPathComponent("straight.json").path
      )
      let common = [
        "--model", "softmax", "--dp-clip-norm", "1", "--dp-noise-multiplier", "1.1",
        "--dp-noise-seed", "3", "--seed", "2", "--constant-rate", "--batch-size", "64",
      ]
      try MinibatchTrain.parse(common + ["--epochs", "3", "--save", straight]).run()
      try MinibatchTrain.parse(common + ["--epochs", "2", "--save", save]).run()
      try MinibatchTrain.parse(["--load", save, "--epochs", "1", "--save", save]).run()
      func read(_ path: String) throws -> [String: Any] {
        try #require(
          try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            as? [String: Any])
      }
      let (resumed, reference) = (try read(save), try read(straight))
      let history = try #require(resumed["privacyHistory"] as? [[String: Any]])
      #expect(history.count == 1)
      let steps = try #require(history.first?["steps"] as? Int)
      let perEpoch = try BatchSampler(exampleCount: 1437, poissonRate: 64.0 / 1437, seed: 0)
        .batchesPerEpoch
      #expect(steps == 3 * perEpoch)
      #expect(
        (resumed["privacyHistory"] as? NSArray) == (reference["privacyHistory"] as? NSArray))
      #expect(
        ((resumed["checkpoint"] as? [String: Any])?["parameters"] as? NSArray)
          == ((reference["checkpoint"] as? [String: Any])?["parameters"] as? NSArray))
    }

    /// A run calibrated to `--dp-epsilon` and resumed for more epochs than its σ was calibrated
    /// for is refused before any step, and its save file is left as it was.
    @Test func resumingPastTheTargetEpsilonIsRefused() throws {
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-budget-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: dir) }
      let save = dir.appendingPathComponent("run.json").path
      try MinibatchTrain.parse([
        "--model", "softmax", "--dp-clip-norm", "1", "--dp-epsilon", "2", "--dp-noise-seed", "3",
        "--batch-size", "64", "--epochs", "2", "--save", save,
      ]).run()
      let before = try Data(contentsOf: URL(fileURLWithPath: save))
      do {
        try MinibatchTrain.parse(["--load", save, "--epochs", "1", "--save", save]).run()
        Issue.record("a resumed run past its target ε ran")
      } catch {
        #expect("\(error)".contains("--epochs"), "\(error)")
        #expect("\(error)".contains("at most 0"), "\(error)")
        #expect("\(error)".contains("ε = 2"), "\(error)")
      }
      #expect(try Data(contentsOf: URL(fileURLWithPath: save)) == before)
    }

    /// The budget check itself: σ calibrated for 4 epochs, 2 spent; 2 more stay within the
    /// target, 3 more are refused with the most that fit (2).
    @Test func theBudgetCheckNamesTheEpochsThatFit() throws {
      let (q, perEpoch, delta, target) = (0.05, 20, 1e-5, 1.5)
      let options = PrivacyOptions(
        clipNorm: 1, noiseMultiplier: nil, targetEpsilon: target, delta: delta, perLayer: false,
        noiseSeed: nil, accountant: .pld)
      let sigma = try PrivacyAccountantKind.pld.noiseMultiplier(
        targetEpsilon: target, samplingRate: q, steps: 4 * perEpoch, delta: delta)
      let spent = [PrivacyPhase(noiseMultiplier: sigma, samplingRate: q, steps: 2 * perEpoch)]
      let epoch = PrivacyPhase(noiseMultiplier: sigma, samplingRate: q, steps: perEpoch)
      try Recipe.checkPrivacyBudget(
        spent: spent, epochPhase: epoch, epochs: 2, target: target, options: options)
      do {
        try Recipe.checkPrivacyBudget(
          spent: spent, epochPhase: epoch, epochs: 3, target: target, options: options)
        Issue.record("3 more epochs passed the budget check")
      } catch {
        #expect("\(error)".contains("at most 2"), "\(error)")
      }
    }
  }
#endif
