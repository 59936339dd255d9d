// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import Foundation
  import MinibatchTestSupport
  import Testing

  @testable import Minibatch

  @testable import minibatch_train

  /// How `minibatch-train` writes and reports: atomic files, the standardiser inside the save
  /// file's checkpoint, the progress line's escapes only on a terminal, a note for `--threads`
  /// beyond the cores.
  @Suite struct OutputFilesTests {
    func directory() throws -> URL {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-output-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
      return url
    }

    /// A write replaces the file in one rename (through a symbolic link, the file it names),
    /// leaves no temporary file, and a failed one leaves the old contents.
    @Test func writesAreAtomic() throws {
      let dir = try directory()
      let path = dir.appendingPathComponent("out.csv").path
      try OutputFiles.write("first\n", to: path)
      try OutputFiles.write("second\n", to: path)
      #expect(try String(contentsOfFile: path, encoding: .utf8) == "second\n")
      let link = dir.appendingPathComponent("link.csv").path
      try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
      try OutputFiles.write("third\n", to: link)
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == path)
      #expect(try String(contentsOfFile: path, encoding: .utf8) == "third\n")
      #expect(
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [
          "link.csv", "out.csv",
        ])
      do {
        try OutputFiles.write("x", to: dir.path + "/missing/out.csv")
        Issue.record("wrote into a missing folder")
      } catch let error as MinibatchError {
        guard case .fileUnwritable(let failed, _) = error else {
          Issue.record("\(error)")
          return
        }
        #expect(failed == dir.path + "/missing/out.csv")
      }
    }

    /// The standardiser is saved inside the checkpoint; a file that kept it beside the
    /// checkpoint (the form written before) still resumes with it.
    @Test func theStandardizerIsPartOfTheCheckpoint() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      var text = "a,b,y\n"
      for row in 0..<40 { text += "\(Double(row) * 3 + 100),\(Double(row % 7) - 3),\(row % 2)\n" }
      try text.write(to: train, atomically: false, encoding: .utf8)
      let save = dir.appendingPathComponent("m.json")
      try MinibatchTrain.parse(["--train", train.path, "--epochs", "1", "--save", save.path]).run()
      typealias Saved = SavedModelRun<Float, MomentumSGD<Float>, MultilayerPerceptron<Float>>
      let saved = try Saved.read(from: save.path)
      let standardizer = try #require(saved.checkpoint.standardizer)
      #expect(saved.standardizer == nil && saved.savedStandardizer == standardizer)
      #expect(saved.data?.train == train.path && saved.data?.target == nil)
      // The earlier layout: the standardiser beside the checkpoint.
      var object = try #require(
        try JSONSerialization.jsonObject(with: try Data(contentsOf: save)) as? [String: Any])
      var checkpoint = try #require(object["checkpoint"] as? [String: Any])
      object["standardizer"] = checkpoint.removeValue(forKey: "standardizer")
      object["checkpoint"] = checkpoint
      object["data"] = nil
      try JSONSerialization.data(withJSONObject: object).write(to: save)
      #expect(try SavedStandardizer<Float>.read(from: save.path) == standardizer)
      #expect(try Saved.read(from: save.path).savedStandardizer == standardizer)
      try MinibatchTrain.parse(["--load", save.path, "--train", train.path, "--epochs", "1"]).run()
      // Without --train such a file resumes on the digits only if it could be a digits model.
      do {
        try MinibatchTrain.parse(["--load", save.path, "--epochs", "1"]).run()
        Issue.record("a file trained on 2 classes resumed on the digits")
      } catch {
        #expect(MinibatchTrain.message(for: error).contains("give --train"), "\(error)")
      }
    }

    /// `\r` and `ESC[K` only where they rewrite a line: a terminal that is not `dumb` and not a
    /// rank's pseudo-terminal under mpirun.
    @Test func progressEscapesOnlyOnATerminal() {
      #expect(ProgressReporter.rewritesInPlace(isTTY: true, environment: ["TERM": "xterm"]))
      #expect(!ProgressReporter.rewritesInPlace(isTTY: false, environment: ["TERM": "xterm"]))
      #expect(!ProgressReporter.rewritesInPlace(isTTY: true, environment: ["TERM": "dumb"]))
      #expect(!ProgressReporter.rewritesInPlace(isTTY: true, environment: [:]))
      #expect(
        !ProgressReporter.rewritesInPlace(
          isTTY: true, environment: ["TERM": "xterm", "OMPI_COMM_WORLD_SIZE": "2"]))
      let progress = StepProgress(
        epoch: 0, step: 3, stepsPerEpoch: 10, examples: 96, seconds: 10)
      for terminal in [false, true] {
        var text = ""
        let reporter = ProgressReporter(isTerminal: terminal) { text += $0 }
        reporter.update(progress)
        reporter.line("epoch   1  loss 0.5")
        #expect(text.contains("\u{1B}[K") == terminal && text.contains("\r") == terminal, "\(text)")
        #expect(text.contains("epoch   1  step 3/10") && text.hasSuffix("loss 0.5\n"), "\(text)")
      }
    }

    @Test func threadsBeyondTheCoresAreStated() throws {
      let cores = ProcessInfo.processInfo.activeProcessorCount
      let note = try #require(
        try MinibatchTrain.parse(["--threads", "\(cores + 100)"]).threadsNote())
      #expect(
        note.contains("--threads \(cores + 100)") && note.contains("\(cores) cores"), "\(note)")
      #expect(try MinibatchTrain.parse(["--threads", "1"]).threadsNote() == nil)
    }
  }
#endif
