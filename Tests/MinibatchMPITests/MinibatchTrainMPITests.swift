#if CommandLineTools
  import Foundation
  import Minibatch
  import MinibatchMPI
  import MinibatchTestSupport
  import Testing

  @testable import minibatch_train

  /// `minibatch-train --mpi` under mpirun: the digits trained data parallel end where one process
  /// ends on the same global batches, and only rank 0 writes the save file. (In the one
  /// serialised suite, so that no two tests' collectives interleave.)
  extension MPIDistributedTests {
    @Test(arguments: ["mlp", "softmax"])
    func digitsTrainedOnAllRanksEqualOneProcess(model: String) throws {
      // Rank 0 chooses a fresh directory; every rank is told its path.
      var directory = ""
      if world.rank == 0 {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
          "minibatch-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        directory = url.path
      }
      directory = String(decoding: try world.gather(Array(directory.utf8))[0], as: UTF8.self)
      let distributed = directory + "/mpi-\(world.size).json"
      let single = directory + "/single.json"
      let common =
        ["--model", model, "--epochs", "2", "--precision", "double", "--optimizer", "adam"]
        + ["--seed", "5"] + (model == "mlp" ? ["--hidden", "16"] : [])
      try MinibatchTrain.parse(common + ["--mpi", "--save", distributed]).run()
      try world.barrier()
      if world.rank == 0 {
        // Whatever happens here, rank 0 reaches the barrier below: the others wait there.
        do {
          try MinibatchTrain.parse(common + ["--threads", "1", "--save", single]).run()
          let mpiParameters = try SavedRun<Double, Adam<Double>>.read(from: distributed)
          let singleParameters = try SavedRun<Double, Adam<Double>>.read(from: single)
          #expect(
            relativeError(
              mpiParameters.checkpoint.parameters, singleParameters.checkpoint.parameters)
              <= 1e-12)
          #expect(mpiParameters.checkpoint.nextEpoch == 2)
        } catch {
          Issue.record("rank 0: \(error)")
        }
        try? FileManager.default.removeItem(atPath: directory)
      }
      try world.barrier()
    }

    /// `--shard`: each rank maps only its rows of `.npy` inputs (the standardiser fitted across
    /// the ranks, the training accuracy and `--statistics` summed over them) and the run ends
    /// where the unsharded run ends, to rounding; a sharded run saved and resumed with `--shard`
    /// ends where the straight sharded run ends.
    @Test(arguments: [false, true])
    func shardedNPYTrainsAsTheUnshardedRun(private isPrivate: Bool) throws {
      var directory = ""
      if world.rank == 0 {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
          "minibatch-mpi-shard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        directory = url.path
      }
      directory = String(decoding: try world.gather(Array(directory.utf8))[0], as: UTF8.self)
      let (x, y) = (directory + "/x.npy", directory + "/y.npy")
      if world.rank == 0 {
        var rng = SeededGenerator(seed: 11)
        let rows = 203
        let inputs: [Double] = (0..<rows).flatMap { _ in
          let row: [Double] = rng.signedArray(count: 4)
          return [row[0], 500 + row[1], row[2], row[3]]
        }
        let labels = (0..<rows).map { i in
          inputs[4 * i] + inputs[4 * i + 2] > 0.3 ? 2.0 : inputs[4 * i] > -0.3 ? 1 : 0
        }
        try NPYFile.write(inputs, shape: [rows, 4], descr: "<f8", to: x)
        try NPYFile.write(labels, shape: [rows], descr: "<i8", to: y)
      }
      try world.barrier()
      let path = { (name: String) in directory + "/\(name).json" }
      let common =
        ["--train", x, "--train-labels", y, "--model", "mlp", "--hidden", "8", "--precision"]
        + ["double", "--optimizer", "adam", "--seed", "3", "--constant-rate", "--mpi"]
        + (isPrivate
          ? ["--dp-clip-norm", "1", "--dp-noise-multiplier", "1", "--dp-noise-seed", "4"]
          : ["--statistics"])
      try MinibatchTrain.parse(common + ["--epochs", "3", "--shard", "--save", path("sharded")])
        .run()
      try MinibatchTrain.parse(common + ["--epochs", "3", "--save", path("whole")]).run()
      try MinibatchTrain.parse(common + ["--epochs", "2", "--shard", "--save", path("resumed")])
        .run()
      try MinibatchTrain.parse(
        ["--load", path("resumed"), "--train", x, "--train-labels", y, "--mpi", "--shard"]
          + ["--epochs", "1", "--save", path("resumed")]
      ).run()
      try world.barrier()
      if world.rank == 0 {
        // Whatever happens here, rank 0 reaches the barrier below: the others wait there.
        do {
          let sharded = try SavedRun<Double, Adam<Double>>.read(from: path("sharded"))
          let whole = try SavedRun<Double, Adam<Double>>.read(from: path("whole"))
          let resumed = try SavedRun<Double, Adam<Double>>.read(from: path("resumed"))
          #expect(
            relativeError(sharded.checkpoint.parameters, whole.checkpoint.parameters) <= 1e-12,
            "private \(isPrivate)")
          #expect(
            relativeError(resumed.checkpoint.parameters, sharded.checkpoint.parameters) <= 1e-12,
            "private \(isPrivate): resumed")
          let (s, w) = (sharded.savedStandardizer!, whole.savedStandardizer!)
          #expect(
            relativeError(s.means, w.means) <= 1e-14 && relativeError(s.scales, w.scales) <= 1e-12)
          #expect(sharded.checkpoint.nextEpoch == 3 && resumed.checkpoint.nextEpoch == 3)
          #expect(sharded.trainingExampleCount == 203)
        } catch {
          Issue.record("rank 0: \(error)")
        }
        try? FileManager.default.removeItem(atPath: directory)
      }
      try world.barrier()
    }

    /// Ranks that read different files at the same path stop together with the same refusal;
    /// `--statistics` runs with `--mpi` (the noise scale of the global batch).
    @Test func differentDataStopsEveryRankAndStatisticsRun() throws {
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-mpi-rank-\(world.rank)-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: directory) }
      // The same name on every rank, a different last row on the last rank.
      let csv = directory.appendingPathComponent("train.csv")
      var rows = (0..<40).map { i in "\(Double(i) / 40),\(Double(i % 7) / 7),\(i % 2)" }
      if world.rank == world.size - 1 && world.size > 1 { rows[39] = "0.5,0.5,1" }
      try ("a,b,y\n" + rows.joined(separator: "\n") + "\n").write(
        to: csv, atomically: true, encoding: .utf8)
      let arguments = [
        "--mpi", "--train", csv.path, "--model", "logistic", "--epochs", "1", "--statistics",
      ]
      if world.size > 1 {
        // Rank 0 reports the refusal; the others exit quietly with status 1.
        do {
          try MinibatchTrain.parse(arguments).run()
          Issue.record("different data on one rank was not refused")
        } catch {
          if world.rank == 0 {
            #expect("\(error)".contains("disagree on training data (fingerprint)"), "\(error)")
          }
        }
      }
      try world.barrier()
      if world.rank == world.size - 1 {
        try
          ("a,b,y\n"
          + (0..<40).map { i in "\(Double(i) / 40),\(Double(i % 7) / 7),\(i % 2)" }
          .joined(separator: "\n") + "\n").write(to: csv, atomically: true, encoding: .utf8)
      }
      try world.barrier()
      try MinibatchTrain.parse(arguments).run()
      try world.barrier()
    }
  }
#endif
