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
  }
#endif
