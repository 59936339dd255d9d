// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import ArgumentParser
  import Foundation
  import Minibatch
  import MinibatchTestSupport
  import Testing

  @testable import minibatch_train

  /// `minibatch-train` on `.npy` inputs with a labels file: the inputs are mapped, not loaded, and
  /// the run has the bits of the run on the same data loaded into memory; resumes read them the
  /// same way; `--shard` is refused outside an MPI run of `.npy` inputs.
  @Suite struct MappedDataTests {
    func directory() throws -> URL {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-mapped-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
      return url
    }

    /// `rows × 5` float32 inputs (one column of 1e3 ± 1, so standardising matters) and labels
    /// (3 classes, as int64) or values (2 per example).
    func writeData(
      in dir: URL, rows: Int, seed: UInt64, classes: Bool
    ) throws -> (inputs: String, targets: String) {
      var rng = SeededGenerator(seed: seed)
      var x: [Double] = []
      var y: [Double] = []
      for _ in 0..<rows {
        let row: [Double] = rng.signedArray(count: 5)
        x += [row[0], row[1], 1000 + row[2], row[3], row[4]].map { Double(Float($0)) }
        let score = row[0] - 2 * row[1] + row[2]
        y += classes ? [score < -0.5 ? 0 : score < 0.5 ? 1 : 2] : [score, row[3] * 2]
      }
      let inputs = try NPYFile.write(
        x, shape: [rows, 5], descr: "<f4", to: dir.appendingPathComponent("x-\(seed).npy").path)
      let targets = try NPYFile.write(
        y, shape: classes ? [rows] : [rows, 2], descr: classes ? "<i8" : "<f8",
        to: dir.appendingPathComponent("y-\(seed).npy").path)
      return (inputs, targets)
    }

    /// The mapped training set trains to the bits of the same set loaded into memory (the
    /// standardiser fitted piecewise has the in-memory bits; every gathered row is the loader's).
    func checkMappedEqualsLoaded<Scalar: BLASScalar>(_: Scalar.Type, classes: Bool) throws {
      let dir = try directory()
      defer { try? FileManager.default.removeItem(at: dir) }
      let (x, y) = try writeData(in: dir, rows: 240, seed: 1, classes: classes)
      var options = DataOptions()
      options.train = x
      options.trainLabels = y
      let mapped = try options.load(Scalar.self)
      #expect(mapped.trainBatch == nil, "the training set was loaded")
      #expect(mapped.train is StandardizedSource<MemoryMappedNPY<Scalar>>)
      #expect(mapped.summary.contains("240 examples, 5 features"), "\(mapped.summary)")

      let loaded =
        classes
        ? try NPYLoader.load(Scalar.self, inputs: x, labels: y, classCount: 3)
        : try NPYLoader.load(Scalar.self, inputs: x, values: y)
      let standardizer = try Standardizer(fitting: loaded.inputs)
      #expect(mapped.standardizer == standardizer)
      let inMemory = LoadedData(
        train: try standardizer.transform(loaded), test: nil,
        task: classes ? .classification : .regression, classCount: classes ? 3 : nil,
        standardizer: standardizer, summary: "in memory")
      #expect(mapped.task == inMemory.task && mapped.classCount == inMemory.classCount)
      #expect(mapped.featureCount == 5 && mapped.targetCount == (classes ? 1 : 2))

      var recipe = Recipe(model: .mlp)
      recipe.hiddenLayers = [6]
      recipe.epochs = 2
      recipe.batchSize = 16
      recipe.optimizer = .adam
      let fromFile = try recipe.run(mapped)
      let fromMemory = try recipe.run(inMemory)
      #expect(fromFile.parameters == fromMemory.parameters)
      #expect(fromFile.reports.map(\.meanLoss) == fromMemory.reports.map(\.meanLoss))
      #expect(fromFile.trainAccuracy == fromMemory.trainAccuracy)
    }

    @Test func floatClassesMappedEqualLoaded() throws {
      try checkMappedEqualsLoaded(Float.self, classes: true)
    }
    @Test func doubleClassesMappedEqualLoaded() throws {
      try checkMappedEqualsLoaded(Double.self, classes: true)
    }
    @Test func floatValuesMappedEqualLoaded() throws {
      try checkMappedEqualsLoaded(Float.self, classes: false)
    }
    @Test func doubleValuesMappedEqualLoaded() throws {
      try checkMappedEqualsLoaded(Double.self, classes: false)
    }

    /// 2 + save + load + 1 epochs on mapped data equal 3 epochs (the resumed run maps the inputs
    /// again and standardises them with the saved standardiser); `--statistics` runs on them.
    @Test(arguments: ["float", "double"])
    func mappedRunsResumeBitIdentically(_ precision: String) throws {
      let dir = try directory()
      defer { try? FileManager.default.removeItem(at: dir) }
      let (x, y) = try writeData(in: dir, rows: 150, seed: 2, classes: true)
      let (testX, testY) = try writeData(in: dir, rows: 40, seed: 3, classes: true)
      let data = ["--train", x, "--train-labels", y, "--test", testX, "--test-labels", testY]
      let common = data + ["--precision", precision, "--model", "softmax", "--optimizer", "adam"]
      let (straight, save) = (
        dir.appendingPathComponent("straight.json").path,
        dir.appendingPathComponent("run.json").path
      )
      try MinibatchTrain.parse(common + ["--epochs", "3", "--constant-rate", "--save", straight])
        .run()
      try MinibatchTrain.parse(common + ["--epochs", "2", "--constant-rate", "--save", save]).run()
      try MinibatchTrain.parse(data + ["--load", save, "--epochs", "1", "--save", save]).run()
      func parameters(_ path: String) throws -> [Double] {
        if precision == "float" {
          return try SavedRun<Float, Adam<Float>>.read(from: path).checkpoint.parameters.map {
            Double($0)
          }
        }
        return try SavedRun<Double, Adam<Double>>.read(from: path).checkpoint.parameters
      }
      #expect(try parameters(save) == parameters(straight))
      let header = try SavedRunHeader.read(from: save)
      #expect(header.data?.trainLabels == y)
      try MinibatchTrain.parse(data + ["--epochs", "1", "--statistics"]).run()
    }

    /// A NaN in a mapped file is refused before training, naming the file and its global row.
    @Test func nonFiniteMappedInputsAreRefusedBeforeTraining() throws {
      let dir = try directory()
      defer { try? FileManager.default.removeItem(at: dir) }
      var values = (0..<60).map { Double($0 % 7) }
      values[5 * 3 + 2] = .nan
      let x = try NPYFile.write(values, shape: [20, 3], descr: "<f4")
      let y = try NPYFile.write((0..<20).map { Double($0 % 2) }, shape: [20], descr: "|u1")
      defer { for path in [x, y] { try? FileManager.default.removeItem(atPath: path) } }
      for extra in [[], ["--no-standardize"]] {
        var options = try MinibatchTrain.parse(["--train", x, "--train-labels", y] + extra)
          .dataOptions
        options.standardize = extra.isEmpty
        expectError(.nonFiniteEntry(row: 5, column: 2, of: "inputs in \(x)")) {
          try options.load(Float.self)
        }
      }
    }

    @Test func shardNeedsMPIAndNPYInputs() throws {
      let dir = try directory()
      defer { try? FileManager.default.removeItem(at: dir) }
      let (x, y) = try writeData(in: dir, rows: 10, seed: 4, classes: true)
      let csv = dir.appendingPathComponent("train.csv").path
      try "a,b,y\n1,2,0\n3,4,1\n".write(toFile: csv, atomically: true, encoding: .utf8)
      func refusal(_ arguments: [String]) -> String {
        do {
          _ = try MinibatchTrain.parse(arguments)
          return "accepted"
        } catch {
          return MinibatchTrain.message(for: error)
        }
      }
      #expect(
        refusal(["--train", x, "--train-labels", y, "--shard"])
          == "--shard splits the training rows between the ranks of an MPI run: add --mpi (and "
          + "start the program with mpirun)")
      #expect(
        refusal(["--train", csv, "--mpi", "--shard"])
          == "--shard maps each rank's rows of .npy training inputs with --train-labels; "
          + "\(csv) is read whole (a table)")
      #expect(
        refusal(["--mpi", "--shard"])
          == "--shard maps each rank's rows of .npy training inputs with --train-labels; "
          + "the bundled digits are read whole")
      #expect(refusal(["--train", x, "--train-labels", y, "--mpi", "--shard"]) == "accepted")
    }
  }
#endif
