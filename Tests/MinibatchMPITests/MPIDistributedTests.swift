import Foundation
import Minibatch
import MinibatchMPI
import MinibatchTestSupport
import Testing

/// Whether this process was started by mpirun (Open MPI sets `OMPI_COMM_WORLD_SIZE`).
let launchedByMPIRun = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil

/// The distributed reductions and training across processes. `make test` runs this suite under
/// `mpirun -np 2` and `-np 3` (`make test-mpi`); outside mpirun it is skipped, and
/// ``MPIOutsideMPIRunTests`` runs instead. Every rank runs every test in this order, making the
/// same collective calls.
@Suite(.serialized, .enabled(if: launchedByMPIRun, "runs under mpirun (make test-mpi)"))
struct MPIDistributedTests {
  let world: MPICommunicator

  init() throws { world = try MPIEnvironment.initialize() }

  @Test func worldMatchesTheLaunch() throws {
    let environment = ProcessInfo.processInfo.environment
    #expect(world.size == Int(environment["OMPI_COMM_WORLD_SIZE"] ?? ""))
    #expect(world.rank == Int(environment["OMPI_COMM_WORLD_RANK"] ?? ""))
    #expect(try MPIEnvironment.initialize().rank == world.rank)
    try world.barrier()
  }

  @Test func sumsFloatAndDoubleInTheirOwnDatatypes() throws {
    var doubles = (0..<1000).map { Double($0) * 0.5 + Double(world.rank) }
    var floats = doubles.map { Float($0) }
    try world.allreduceSum(&doubles)
    try world.allreduceSum(&floats)
    let p = Double(world.size)
    let expected = (0..<1000).map { Double($0) * 0.5 * p + p * (p - 1) / 2 }
    #expect(doubles == expected)
    #expect(floats == expected.map { Float($0) })
    let records = try world.gather(Array(repeating: UInt8(world.rank), count: world.rank))
    #expect(records == (0..<world.size).map { Array(repeating: UInt8($0), count: $0) })
  }

  @Test(arguments: [GradientRepresentation.stored, .factored, .streamed])
  func accumulatorAllreduceEqualsTheUnion(representation: GradientRepresentation) throws {
    try checkDistributedAccumulator(Float.self, over: world, representation: representation)
    try checkDistributedAccumulator(Double.self, over: world, representation: representation)
  }

  @Test func momentsAndClippedSumsEqualTheUnion() throws {
    try checkDistributedStatistics(Float.self, over: world)
    try checkDistributedStatistics(Double.self, over: world)
  }

  @Test func mismatchedShapesThrowOnEveryRank() throws {
    try checkDistributedMismatch(over: world)
  }

  @Test(arguments: DistributedTrainingCase.allCases)
  func trainingEqualsOneProcess(trainingCase: DistributedTrainingCase) throws {
    try checkDistributedTraining(Float.self, trainingCase, over: world)
    try checkDistributedTraining(Double.self, trainingCase, over: world)
  }

  @Test func shardedTrainingEqualsOneProcess() throws {
    try checkShardedTraining(Float.self, over: world)
    try checkShardedTraining(Double.self, over: world)
  }

  @Test func trainingRefusalsReachEveryRank() throws {
    try checkDistributedTrainingRefusals(over: world)
  }

  @Test func failuresReachEveryRankAndNoiseIsShared() throws {
    try checkDistributedFailuresAndSharedNoise(over: world)
    try checkDistributedStepFailure(over: world)
  }

  @Test func sharedNoiseIsTheSameOnEveryRank() throws {
    var noise = try GaussianNoise(sharedAcross: world)
    let draws = try noise.draws(count: 100, standardDeviation: 1)
    try expectSameOnEveryRank(draws, over: world, "the shared noise")
    var other = try GaussianNoise(sharedAcross: world)
    #expect(try other.draws(count: 100, standardDeviation: 1) != draws)
  }
}

/// What a plain `swift test` process (not started by mpirun) can check: MPI refuses use before
/// initialisation with a typed error.
@Suite(.enabled(if: !launchedByMPIRun))
struct MPIOutsideMPIRunTests {
  @Test func callsBeforeInitialisationThrow() {
    #expect(!MPIEnvironment.isInitialized)
    let notInitialised = MinibatchError.communicationFailure(
      operation: "MPICommunicator.world()",
      reason: "MPI is not initialised: call MPIEnvironment.initialize() first")
    expectError(notInitialised) { try MPICommunicator.world() }
  }
}

extension MPIDistributedTests {
  @Test func allreduceSumRefusesDifferentCountsOnEveryRank() throws {
    let counts = (0..<world.size).map { $0 == world.size - 1 ? 4 : 3 }
    var values = [Float](repeating: 1, count: counts[world.rank])
    if world.size > 1 {
      expectError(
        .inconsistentAcrossRanks(
          quantity: "values to sum (count)", values: counts.map { "\($0)" })
      ) { try world.allreduceSum(&values) }
      #expect(values.allSatisfy { $0 == 1 })
    }
    var agreed = [Float](repeating: 1, count: 3)
    try world.allreduceSum(&agreed)
    #expect(agreed == [Float](repeating: Float(world.size), count: 3))
  }
}

extension MPIDistributedTests {
  /// The README's MPI example, with a model, parameters and a batch defined: the global mean
  /// equals one process's mean over the whole batch.
  @Test func readmeExampleGivesTheGlobalMean() throws {
    let (model, batch) = try randomNetworkCase(
      Float.self, layers: [5, 4, 3], k: 2, activation: .relu, seed: 4)
    let w = model.initialParameters(seed: 2)
    // From the README:
    let world = try MPIEnvironment.initialize()
    let mine = world.slice(of: batch.count)
    var accumulator = try GradientAccumulator<Float>(
      parameterCount: model.parameterCount, tracksMoments: true)
    try world.agreeing {
      if !mine.isEmpty {
        let (gradients, _) = try model.perExampleGradients(
          parameters: w, batch: try batch.gathering(mine))
        try accumulator.add(gradients)
      }
    }
    try accumulator.allreduce(over: world)
    let mean = try accumulator.gradient(normalizedBy: .weightTotal)
    // Checked against one process:
    let (all, _) = try model.perExampleGradients(parameters: w, batch: batch)
    #expect(relativeError(mean, all.mean()) <= 1e-5)
  }
}
