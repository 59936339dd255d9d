// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import ArgumentParser
  import Foundation
  import Minibatch
  import MinibatchTestSupport
  import Testing

  @testable import minibatch_train

  /// `minibatch-train` never loses a run and never guesses silently: outputs are checked before
  /// training and never replace an input, a failed write is a failure (not a usage error), the
  /// save file remembers how the data was read, and options that would be ignored or values that
  /// make no sense are refused with a message that names them.
  @Suite struct CommandLineSafetyTests {
    func directory() throws -> URL {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-safety-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
      return url
    }

    /// `rows` examples `x1,y,x2,x3` with the class `y` (0/1, or `labels` when given) second.
    @discardableResult
    func writeCSV(
      _ url: URL, rows: Int, seed: UInt64, delimiter: String = ",", labels: [Int]? = nil
    ) throws -> String {
      var rng = SeededGenerator(seed: seed)
      var text = ["x1", "y", "x2", "x3"].joined(separator: delimiter) + "\n"
      for row in 0..<rows {
        let x: [Double] = rng.signedArray(count: 3)
        let y = labels.map { $0[row % $0.count] } ?? (x[0] - x[1] > 0 ? 1 : 0)
        text += ["\(x[0])", "\(y)", "\(x[1])", "\(x[2])"].joined(separator: delimiter) + "\n"
      }
      try text.write(to: url, atomically: false, encoding: .utf8)
      return text
    }

    /// The message and exit code ArgumentParser gives for `body`'s error (it must throw).
    func failure(
      _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) -> (message: String, code: ExitCode) {
      do {
        try body()
        Issue.record("no error", sourceLocation: sourceLocation)
        return ("", .success)
      } catch {
        return (MinibatchTrain.fullMessage(for: error), MinibatchTrain.exitCode(for: error))
      }
    }

    @Test func outputsAreCheckedBeforeTrainingAndNeverReplaceAnInput() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      let test = dir.appendingPathComponent("test.csv")
      let original = try writeCSV(train, rows: 40, seed: 1)
      try writeCSV(test, rows: 20, seed: 2)
      let link = dir.appendingPathComponent("link.csv")
      try FileManager.default.createSymbolicLink(at: link, withDestinationURL: train)
      let common = ["--train", train.path, "--test", test.path, "--target", "y", "--epochs", "1"]
      let refused: [[String]] = [
        ["--save", "/nonexistent-minibatch-folder/m.json"],
        ["--history", dir.path + "/missing/h.csv"],
        ["--save", train.path], ["--save", dir.path + "/./train.csv"], ["--history", link.path],
        ["--plot", test.path], ["--plot", dir.path], ["--history", dir.path + "/"],
        ["--save", dir.path + "/a.json", "--history", dir.path + "/a.json"],
      ]
      for extra in refused {
        let (message, code) = failure { _ = try MinibatchTrain.parse(common + extra) }
        #expect(code == .validationFailure && message.contains(extra[0]), "\(extra): \(message)")
      }
      // Nothing was trained or written: the data is intact.
      #expect(try String(contentsOf: train, encoding: .utf8) == original)
      // --history may not be the file of --load either (--save may: the run continues in place).
      let save = dir.appendingPathComponent("m.json").path
      try MinibatchTrain.parse(common + ["--save", save]).run()
      let (message, code) = failure {
        _ = try MinibatchTrain.parse([
          "--load", save, "--train", train.path, "--test", test.path, "--history", save,
        ])
      }
      #expect(code == .validationFailure && message.contains("--load"), "\(message)")
      // A successful run leaves no temporary files beside its outputs.
      try MinibatchTrain.parse(
        common + [
          "--save", save, "--history", dir.path + "/h.csv", "--plot", dir.path + "/p.svg",
          "--epochs", "2",
        ]
      ).run()
      let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
      #expect(
        names == ["h.csv", "link.csv", "m.json", "p.svg", "test.csv", "train.csv"], "\(names)")
    }

    /// The folder of `--save` disappears during the run: the write fails at the end with a
    /// message naming the file, exit code 1 and no usage text.
    @Test func aFailedWriteIsNotAUsageError() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 40, seed: 3)
      let folder = dir.appendingPathComponent("out")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let save = folder.appendingPathComponent("m.json").path
      let command = try MinibatchTrain.parse([
        "--train", train.path, "--target", "y", "--epochs", "1", "--save", save,
      ])
      try FileManager.default.removeItem(at: folder)
      let (message, code) = failure { try command.run() }
      #expect(code != .validationFailure && code != .success, "\(code)")
      #expect(message.contains("cannot write \(save)"), "\(message)")
      #expect(!message.contains("Usage") && !message.contains("USAGE"), "\(message)")
    }

    /// `--load m.json --train data.csv` reads the data as the saved run did (its target column,
    /// delimiter); a different explicit option is an error; without `--train` the run does not
    /// fall back to the digits.
    @Test func theSaveFileRemembersHowTheDataIsRead() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 60, seed: 4, delimiter: ";")
      let save = dir.appendingPathComponent("m.json").path
      try MinibatchTrain.parse([
        "--train", train.path, "--target", "y", "--delimiter", ";", "--epochs", "2", "--save", save,
      ]).run()
      // The target and delimiter come from the file.
      try MinibatchTrain.parse(["--load", save, "--train", train.path, "--epochs", "1"]).run()
      try MinibatchTrain.parse([
        "--load", save, "--train", train.path, "--target", "y", "--epochs", "1",
      ]).run()
      for (extra, named) in [
        (["--target", "x1"], "--target"), (["--delimiter", ","], "--delimiter"),
        (["--header", "no"], "--header"),
      ] {
        let (message, code) = failure {
          try MinibatchTrain.parse(
            ["--load", save, "--train", train.path, "--epochs", "1"] + extra
          )
          .run()
        }
        #expect(code == .validationFailure && message.contains(named), "\(message)")
      }
      let (message, _) = failure {
        try MinibatchTrain.parse(["--load", save, "--epochs", "1"]).run()
      }
      #expect(message.contains(train.path) && message.contains("--train"), "\(message)")
    }

    @Test func testLabelsOutsideTheTrainingClassesAreAnError() throws {
      let dir = try directory()
      let (train, test) = (
        dir.appendingPathComponent("train.csv"), dir.appendingPathComponent("test.csv")
      )
      try writeCSV(train, rows: 40, seed: 5, labels: [0, 1, 2])
      try writeCSV(test, rows: 20, seed: 6, labels: [0, 1, 2, 5])
      let (message, code) = failure {
        try MinibatchTrain.parse([
          "--train", train.path, "--test", test.path, "--target", "y", "--epochs", "1",
        ]).run()
      }
      #expect(code == .validationFailure, "\(code)")
      #expect(
        message.contains(test.path) && message.contains("row 4") && message.contains("3 classes"),
        "\(message)")
    }

    @Test func tooManyClassesAreAnErrorNamingTheCount() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 12_000, seed: 7, labels: Array(0..<12_000))
      let (message, code) = failure {
        try MinibatchTrain.parse([
          "--train", train.path, "--target", "y", "--task", "classification", "--epochs", "1",
        ]).run()
      }
      #expect(code == .validationFailure, "\(code)")
      #expect(message.contains("12000 distinct") && message.contains("10000"), "\(message)")
    }

    @Test func privateTrainingNeedsAnExpectedBatchBelowTheExamples() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 50, seed: 8)
      for batch in ["50", "64"] {
        let (message, code) = failure {
          try MinibatchTrain.parse([
            "--train", train.path, "--target", "y", "--epochs", "1", "--batch-size", batch,
            "--dp-clip-norm", "1", "--dp-noise-multiplier", "1",
          ]).run()
        }
        #expect(
          code == .validationFailure && message.contains("--batch-size")
            && message.contains("50 training examples"), "\(message)")
      }
    }

    @Test func loadRefusesAFolderAndAnUnknownPrecisionClearly() throws {
      let dir = try directory()
      let (message, code) = failure { try MinibatchTrain.parse(["--load", dir.path]).run() }
      #expect(code == .validationFailure && message.contains("folder"), "\(message)")
      let save = dir.appendingPathComponent("m.json")
      try MinibatchTrain.parse(["--model", "softmax", "--epochs", "1", "--save", save.path]).run()
      let text = try String(contentsOf: save, encoding: .utf8)
      #expect(text.contains("\"precision\":\"float\""))
      try text.replacingOccurrences(of: "\"precision\":\"float\"", with: "\"precision\":\"half\"")
        .write(to: save, atomically: false, encoding: .utf8)
      let (half, _) = failure { try MinibatchTrain.parse(["--load", save.path]).run() }
      #expect(half.contains("half") && half.contains("float or double"), "\(half)")
    }

    /// `--learning-rate -1` is parsed as a number and refused as one (not "Missing value").
    @Test(arguments: [
      ("--learning-rate", "--learning-rate must be finite and ≥ 0"), ("--l2", "--l2 must be"),
      ("--epochs", "--epochs must be ≥ 0"), ("--batch-size", "--batch-size must be ≥ 1"),
      ("--threads", "--threads must be ≥ 1"), ("--early-stopping", "--early-stopping must be"),
    ])
    func negativeNumbersParseAndAreRefusedByValidation(option: String, expected: String) {
      let (message, code) = failure { _ = try MinibatchTrain.parse([option, "-1"]) }
      #expect(code == .validationFailure)
      #expect(message.contains(expected) && !message.contains("Missing value"), "\(message)")
    }

    /// A run whose loss overflows: the error counts epochs and batches from 1, as the progress
    /// lines do, and is the run's failure, not a usage error.
    @Test func divergenceCountsEpochsFromOneAndIsNotAUsageError() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      var text = "x,y\n"
      for row in 0..<20 { text += "\(row),\(Double(row) * 1e30)\n" }
      try text.write(to: train, atomically: false, encoding: .utf8)
      let (message, code) = failure {
        try MinibatchTrain.parse(["--train", train.path, "--epochs", "2", "--batch-size", "5"])
          .run()
      }
      #expect(message.contains("in epoch 1, batch 1"), "\(message)")
      #expect(code != .validationFailure && !message.contains("USAGE"), "\(message)")
    }

    /// Wrong labels in a labels file: the error names that file, not the inputs.
    @Test func wrongLabelsNameTheLabelsFile() throws {
      let dir = try directory()
      let (rows, features) = (10, 2)
      func npy(_ descr: String, shape: String, _ payload: [UInt8]) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let bytes: [UInt8] =
          [0x93] + Array("NUMPY".utf8) + [
            1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8),
          ]
        return Data(bytes + Array(header.utf8) + payload)
      }
      func doubles(_ values: [Double]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
      }
      let inputs = dir.appendingPathComponent("x.npy")
      let labels = dir.appendingPathComponent("y.npy")
      try npy(
        "<f8", shape: "(\(rows), \(features))", doubles((0..<(rows * features)).map(Double.init))
      )
      .write(to: inputs)
      try npy(
        "<f8", shape: "(\(rows),)", doubles((0..<rows).map { $0 == 3 ? 0.5 : Double($0 % 2) })
      )
      .write(to: labels)
      let (message, _) = failure {
        try MinibatchTrain.parse([
          "--train", inputs.path, "--train-labels", labels.path, "--task", "classification",
          "--epochs", "1",
        ]).run()
      }
      #expect(message.contains(labels.path) && message.contains("row 4"), "\(message)")
    }

    /// Options the run would ignore are refused.
    @Test(arguments: [
      ["--train", "a.csv", "--hidden", "8"], ["--train", "a.csv", "--activation", "tanh"],
      ["--train", "a.npy", "--train-labels", "b.npy", "--target", "1"],
      ["--train", "a.npy", "--train-labels", "b.npy", "--delimiter", ";"],
      ["--delimiter", ";"], ["--header", "yes"],
    ])
    func ignoredOptionsAreErrors(_ arguments: [String]) {
      let (message, code) = failure { _ = try MinibatchTrain.parse(arguments) }
      #expect(code == .validationFailure && !message.isEmpty, "\(arguments)")
    }
  }
#endif
