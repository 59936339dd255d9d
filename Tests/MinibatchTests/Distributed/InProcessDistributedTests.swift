import Minibatch
import MinibatchTestSupport
import Testing

/// The distributed reductions and training with threads as ranks (``InProcessGroup``): the same
/// checks MinibatchMPITests runs across processes under mpirun, here for 1, 2 and 3 ranks.
struct InProcessDistributedTests {
  static let rankCounts = [1, 2, 3]

  /// Runs `check` on `size` ranks and records every rank's thrown error.
  func onRanks(_ size: Int, _ check: @escaping @Sendable (InProcessRank) throws -> Void) {
    for (rank, result) in InProcessGroup.run(size: size, check).enumerated() {
      if case .failure(let error) = result { Issue.record("rank \(rank) of \(size): \(error)") }
    }
  }

  @Test(arguments: rankCounts, [GradientRepresentation.stored, .factored, .streamed])
  func accumulatorAllreduceEqualsTheUnion(size: Int, representation: GradientRepresentation) {
    onRanks(size) {
      try checkDistributedAccumulator(Float.self, over: $0, representation: representation)
    }
    onRanks(size) {
      try checkDistributedAccumulator(Double.self, over: $0, representation: representation)
    }
  }

  @Test(arguments: rankCounts)
  func momentsAndClippedSumsEqualTheUnion(size: Int) {
    onRanks(size) { try checkDistributedStatistics(Float.self, over: $0) }
    onRanks(size) { try checkDistributedStatistics(Double.self, over: $0) }
  }

  @Test(arguments: rankCounts)
  func mismatchedShapesThrowOnEveryRank(size: Int) {
    onRanks(size) { try checkDistributedMismatch(over: $0) }
  }

  @Test(arguments: rankCounts, DistributedTrainingCase.allCases)
  func trainingEqualsOneProcess(size: Int, trainingCase: DistributedTrainingCase) {
    onRanks(size) { try checkDistributedTraining(Float.self, trainingCase, over: $0) }
    onRanks(size) { try checkDistributedTraining(Double.self, trainingCase, over: $0) }
  }

  @Test(arguments: rankCounts)
  func shardedTrainingEqualsOneProcess(size: Int) {
    onRanks(size) { try checkShardedTraining(Float.self, over: $0) }
    onRanks(size) { try checkShardedTraining(Double.self, over: $0) }
  }

  @Test(arguments: rankCounts)
  func trainingRefusalsReachEveryRank(size: Int) {
    onRanks(size) { try checkDistributedTrainingRefusals(over: $0) }
  }

  @Test(arguments: rankCounts)
  func failuresReachEveryRankAndNoiseIsShared(size: Int) {
    onRanks(size) { try checkDistributedFailuresAndSharedNoise(over: $0) }
    onRanks(size) { try checkDistributedStepFailure(over: $0) }
  }

  @Test func emptyPartsRefuseBadParameterCounts() throws {
    expectError(.noParameters) { try GradientMoments.empty(parameterCount: 0) }
    expectError(.noParameters) { try ClippedSum<Float>.empty(parameterCount: 0) }
    for count in [-1, Int(Int32.max) + 1] {
      let outOfRange = MinibatchError.dimensionOutOfRange(
        value: count, limit: Int(Int32.max), of: "n (parameters)")
      expectError(outOfRange) { try GradientMoments.empty(parameterCount: count) }
      expectError(outOfRange) { try ClippedSum<Double>.empty(parameterCount: count) }
    }
    #expect(try ClippedSum<Double>.empty(parameterCount: 3).sum == [0, 0, 0])
    #expect(try GradientMoments.empty(parameterCount: 2).weightTotal == 0)
  }

  @Test func slicesCoverTheBatchInOrder() {
    for size in 1...5 {
      for count in [0, 1, 4, 7, 256] {
        let slices = InProcessGroup.run(size: size) { $0.slice(of: count) }.map { try! $0.get() }
        #expect(slices.first?.lowerBound == 0 && slices.last?.upperBound == count)
        #expect(zip(slices, slices.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(slices.allSatisfy { $0.count == count / size || $0.count == count / size + 1 })
      }
      #expect(
        InProcessGroup.run(size: size) { $0.slice(of: -3) }.allSatisfy {
          (try? $0.get())?.isEmpty == true
        })
    }
  }
}
