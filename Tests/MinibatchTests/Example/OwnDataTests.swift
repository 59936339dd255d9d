// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import Foundation
  import Minibatch
  import MinibatchTestSupport
  import Testing

  @testable import minibatch_train

  #if canImport(FoundationXML)
    import FoundationXML
  #endif

  /// `minibatch-train` on a user's own files, as the README shows: CSV and .npy, classification and
  /// regression, the history CSV, the SVG plot, saving and resuming, early stopping, DP-SGD.
  @Suite struct OwnDataTests {
    /// A fresh directory for one test's files.
    func directory() throws -> URL {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-cli-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
      return url
    }

    /// `rows` examples of 4 features; the target is a linear function (regression) or its sign
    /// (classes 0/1), in the column `targetName` placed second.
    func writeCSV(
      _ url: URL, rows: Int, seed: UInt64, classes: Bool, delimiter: String = ","
    ) throws {
      var rng = SeededGenerator(seed: seed)
      var text = ["x1", "y", "x2", "x3", "x4"].joined(separator: delimiter) + "\n"
      for _ in 0..<rows {
        let x: [Double] = rng.signedArray(count: 4).map { 3 * $0 }
        let value = 1.5 * x[0] - 2 * x[1] + 0.5 * x[2] + 0.1 * x[3] + 0.3
        let y = classes ? (value > 0 ? "1" : "0") : "\(value)"
        text += ["\(x[0])", y, "\(x[1])", "\(x[2])", "\(x[3])"].joined(separator: delimiter) + "\n"
      }
      try text.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test func classificationFromCSVWithHistoryPlotAndSave() throws {
      let dir = try directory()
      let (train, test) = (
        dir.appendingPathComponent("train.csv"), dir.appendingPathComponent("test.csv")
      )
      try writeCSV(train, rows: 300, seed: 1, classes: true, delimiter: ";")
      try writeCSV(test, rows: 100, seed: 2, classes: true, delimiter: ";")
      let (history, plot, save) = (
        dir.appendingPathComponent("history.csv").path, dir.appendingPathComponent("plot.svg").path,
        dir.appendingPathComponent("model.json").path
      )
      let command = try MinibatchTrain.parse([
        "--train", train.path, "--test", test.path, "--target", "y", "--delimiter", ";",
        "--epochs", "6", "--history", history, "--plot", plot, "--save", save, "--threads", "2",
      ])
      try command.run()
      // One row per epoch with the promised columns.
      let rows = try String(contentsOfFile: history, encoding: .utf8).split(separator: "\n")
      #expect(rows.count == 7)
      #expect(
        rows[0]
          == "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,"
          + "examples_per_second,epsilon,noise_scale")
      let last = rows[6].split(separator: ",", omittingEmptySubsequences: false)
      #expect(last[0] == "6" && Double(last[4])! > 0.9, "\(rows[6])")
      // A well-formed SVG with one point per epoch in each of the four series.
      let points = try svgPoints(plot)
      #expect(points.count == 4 && points.allSatisfy { $0 == Array(1...6) }, "\(points)")
      // The save file's header names what the run was (resuming is tested below).
      let header = try SavedRunHeader.read(from: save)
      #expect(
        header.task == .classification && header.classCount == 2 && header.precision == "float")
    }

    /// The epochs listed by the points of every series (`<g class="series">`) of an SVG, which
    /// must parse as XML.
    func svgPoints(_ path: String) throws -> [[Int]] {
      final class Collector: NSObject, XMLParserDelegate {
        var series: [[Int]] = []
        var root: String?
        func parser(
          _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
          qualifiedName: String?, attributes: [String: String] = [:]
        ) {
          if root == nil { root = name }
          if name == "g", attributes["class"] == "series" { series.append([]) }
          if (attributes["class"] ?? "").split(separator: " ").contains("point"),
            let epoch = attributes["data-epoch"]
          {
            series[series.count - 1].append(Int(epoch)!)
          }
        }
      }
      let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
      let collector = Collector()
      parser.delegate = collector
      #expect(
        parser.parse(), "the SVG is not well-formed XML: \(String(describing: parser.parserError))")
      #expect(collector.root == "svg")
      return collector.series
    }

    @Test func regressionIsDetectedAndLearns() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 400, seed: 3, classes: false)
      var options = DataOptions()
      options.train = train.path
      options.target = "1"
      let data = try options.load(Double.self)
      #expect(data.task == .regression && data.classCount == nil)
      var recipe = Recipe(model: .linear)
      recipe.epochs = 30
      let outcome = try recipe.run(data)
      #expect(try #require(outcome.reports.last).meanLoss < 1e-3)
      // The same file read as classification is refused with a clear error.
      options.task = .classification
      #expect(throws: MinibatchError.self) { try options.load(Double.self) }
    }

    /// 2 + save + load + 2 epochs equal 4 epochs to the last bit (constant rate, Float and Double).
    @Test(arguments: ["float", "double"])
    func savedRunsResumeBitIdentically(_ precision: String) throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 200, seed: 4, classes: true)
      let save = dir.appendingPathComponent("run.json").path
      let common = [
        "--train", train.path, "--target", "y", "--precision", precision, "--model", "mlp",
        "--hidden", "8", "--optimizer", "adam",
      ]
      let straight = dir.appendingPathComponent("straight.json").path
      try MinibatchTrain.parse(common + ["--epochs", "4", "--constant-rate", "--save", straight])
        .run()
      try MinibatchTrain.parse(common + ["--epochs", "2", "--constant-rate", "--save", save]).run()
      try MinibatchTrain.parse([
        "--load", save, "--train", train.path, "--target", "y", "--epochs", "2", "--save", save,
      ]).run()
      func parameters(_ path: String) throws -> [Double] {
        if precision == "float" {
          return try SavedRun<Float, Adam<Float>>.read(from: path).checkpoint.parameters.map {
            Double($0)
          }
        }
        return try SavedRun<Double, Adam<Double>>.read(from: path).checkpoint.parameters
      }
      #expect(try parameters(save) == parameters(straight))
      #expect(try SavedRunHeader.read(from: save).recipe.model == .mlp)
    }

    /// A network of layers on the user's CSV: saved, resumed to the same bits as a straight run,
    /// and trained privately with per-layer clipping.
    @Test func layersTrainSaveAndResume() throws {
      let dir = try directory()
      let train = dir.appendingPathComponent("train.csv")
      try writeCSV(train, rows: 120, seed: 6, classes: true)
      let (save, straight) = (
        dir.appendingPathComponent("run.json").path,
        dir.appendingPathComponent("straight.json").path
      )
      let common = [
        "--train", train.path, "--target", "y", "--input-shape", "2,2", "--layers",
        "conv1d(3,2,padding=1) tanh avgpool1d(2) layernorm flatten dense(2)", "--optimizer", "adam",
        "--constant-rate",
      ]
      try MinibatchTrain.parse(common + ["--epochs", "4", "--save", straight]).run()
      try MinibatchTrain.parse(common + ["--epochs", "2", "--save", save]).run()
      try MinibatchTrain.parse([
        "--load", save, "--train", train.path, "--target", "y", "--epochs", "2", "--save", save,
      ]).run()
      func parameters(_ path: String) throws -> [Float] {
        try SavedModelRun<Float, Adam<Float>, Sequential<Float>>.read(from: path).checkpoint
          .parameters
      }
      #expect(try parameters(save) == parameters(straight))
      let header = try SavedRunHeader.read(from: save)
      #expect(header.recipe.model == .layers && header.recipe.inputShape == [2, 2])
      // A shape that does not fit the data's 4 features is refused before training.
      #expect(throws: (any Error).self) {
        try MinibatchTrain.parse([
          "--train", train.path, "--target", "y", "--input-shape", "1,5", "--layers",
          "flatten dense(2)",
        ]).run()
      }
      // DP-SGD with per-layer clipping over the network's five tensors.
      try MinibatchTrain.parse(
        common + [
          "--epochs", "1", "--dp-clip-norm", "1", "--dp-noise-multiplier", "1", "--dp-per-layer",
          "--dp-noise-seed", "3", "--batch-size", "16",
        ]
      ).run()
    }

    /// Labels that are noise: the test loss rises as the MLP memorises, early stopping ends the
    /// run `patience` epochs after the best one and keeps that epoch's parameters.
    @Test func earlyStoppingKeepsTheBestEpoch() throws {
      var rng = SeededGenerator(seed: 5)
      func noise(_ k: Int) throws -> Batch<Double> {
        try Batch(
          inputs: try Matrix(rows: k, columns: 10, elements: rng.signedArray(count: k * 10)),
          targets: .labels((0..<k).map { _ in Int(rng.next() % 3) }))
      }
      let data = LoadedData(
        train: try noise(60), test: try noise(200), task: .classification, classCount: 3,
        standardizer: nil, summary: "noise")
      var recipe = Recipe(model: .mlp)
      recipe.hiddenLayers = [64]
      recipe.epochs = 60
      recipe.learningRate = 0.1
      recipe.earlyStoppingPatience = 3
      let outcome = try recipe.run(data)
      let best = try #require(outcome.bestEpoch)
      #expect(outcome.reports.count == best + 4)
      let losses = outcome.reports.map { $0.evaluationLoss! }
      #expect(losses[best] == losses.min())
      #expect(abs(outcome.testLoss! - losses[best]) <= 1e-12 * losses[best])
    }

    /// .npy inputs and labels, DP-SGD calibrated to a target ε: the last report's ε is within the
    /// accountant's tolerance of it.
    @Test func privateTrainingOnNPY() throws {
      let dir = try directory()
      var rng = SeededGenerator(seed: 6)
      let (rows, features) = (300, 4)
      let x: [Double] = rng.signedArray(count: rows * features)
      let labels = (0..<rows).map { x[$0 * features] - x[$0 * features + 1] > 0 ? Int64(1) : 0 }
      let inputs = dir.appendingPathComponent("x.npy")
      let targets = dir.appendingPathComponent("y.npy")
      try npy(
        descr: "<f8", shape: [rows, features],
        payload: x.flatMap { value in
          withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        }
      ).write(to: inputs)
      try npy(
        descr: "<i8", shape: [rows],
        payload: labels.flatMap { value in
          withUnsafeBytes(of: value.littleEndian) { Array($0) }
        }
      ).write(to: targets)
      var options = DataOptions()
      options.train = inputs.path
      options.trainLabels = targets.path
      let data = try options.load(Float.self)
      #expect(data.task == .classification && data.classCount == 2)
      var recipe = Recipe(model: .softmax)
      recipe.epochs = 5
      recipe.batchSize = 30
      recipe.privacy = PrivacyOptions(
        clipNorm: 1, noiseMultiplier: nil, targetEpsilon: 2, delta: 1e-5, perLayer: true,
        noiseSeed: 1)
      let outcome = try recipe.run(data)
      let epsilon = try #require(outcome.reports.last?.epsilon)
      #expect(epsilon <= 2 && epsilon >= 1.99, "ε = \(epsilon)")
      #expect(try #require(outcome.trainAccuracy) > 0.7)
    }

    /// A version-1 .npy file.
    func npy(descr: String, shape: [Int], payload: [UInt8]) -> Data {
      let shapeText =
        shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
      var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
      while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
      header += "\n"
      var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
      bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
      return Data(bytes + Array(header.utf8) + payload)
    }
  }
#endif
