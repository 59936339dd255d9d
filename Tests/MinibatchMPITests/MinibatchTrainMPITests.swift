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
  }
#endif
