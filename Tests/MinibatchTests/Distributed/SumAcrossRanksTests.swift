import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// `sumAcrossRanks(over:)` (what a caller that agreed on the shapes once calls every step) is
/// `allreduce(over:)` without its agreement check: the same bits, no gather, the same sums.
struct SumAcrossRanksTests {
  @Test(arguments: [1, 2, 3])
  func sumsEqualTheAllreduceWithoutItsGather(size: Int) {
    let results = InProcessGroup.run(size: size) { rank in try checkSums(over: rank) }
    for (rank, result) in results.enumerated() {
      if case .failure(let error) = result { Issue.record("rank \(rank) of \(size): \(error)") }
    }
  }

  func checkSums(over rank: InProcessRank) throws {
    let (n, local) = (7, unevenLocalSizes(size: rank.size)[rank.rank])
    let gradients =
      local == 0 ? nil : try randomGradients(Double.self, k: local, n: n, seed: UInt64(rank.rank))
    let weights = (0..<local).map { Double($0 % 3) + 0.5 }

    var accumulator = try GradientAccumulator<Double>(
      parameterCount: n, tracksSquaredNorms: true, tracksMoments: true)
    if let gradients { try accumulator.add(gradients, reductionWeights: weights) }
    var summed = accumulator
    try expectCalls(gathers: 1, sums: 2, over: rank) { try accumulator.allreduce(over: $0) }
    try expectCalls(gathers: 0, sums: 2, over: rank) { try summed.sumAcrossRanks(over: $0) }
    #expect(summed == accumulator)
    #expect(summed.moments?.exampleCount == summed.exampleCount)

    var moments =
      try gradients?.moments(exampleWeights: weights) ?? GradientMoments.empty(parameterCount: n)
    var summedMoments = moments
    try expectCalls(gathers: 1, sums: 2, over: rank) { try moments.allreduce(over: $0) }
    try expectCalls(gathers: 0, sums: 2, over: rank) { try summedMoments.sumAcrossRanks(over: $0) }
    #expect(summedMoments == moments)

    var clipped =
      try gradients?.clippedSum(.flat(bound: 0.5)) ?? ClippedSum<Double>.empty(parameterCount: n)
    var summedClipped = clipped
    try expectCalls(gathers: 1, sums: 1, over: rank) { try clipped.allreduce(over: $0) }
    try expectCalls(gathers: 0, sums: 1, over: rank) { try summedClipped.sumAcrossRanks(over: $0) }
    #expect(summedClipped == clipped)
  }

  /// Runs `body` over `rank` and expects exactly these collective calls.
  func expectCalls(
    gathers: Int, sums: Int, over rank: InProcessRank,
    _ body: (CountingCollective) throws -> Void
  ) throws {
    let counting = CountingCollective(base: rank)
    try body(counting)
    #expect(counting.counts.gathers == gathers && counting.counts.sums == sums)
  }
}

/// A collective that counts the calls made through it.
struct CountingCollective: ReductionCollective {
  final class Counts: @unchecked Sendable {
    private let lock = NSLock()
    private var calls = (gathers: 0, sums: 0)
    var gathers: Int { lock.withLock { calls.gathers } }
    var sums: Int { lock.withLock { calls.sums } }
    func countGather() { lock.withLock { calls.gathers += 1 } }
    func countSum() { lock.withLock { calls.sums += 1 } }
  }

  let base: InProcessRank
  let counts = Counts()
  var rank: Int { base.rank }
  var size: Int { base.size }

  func sum(_ values: inout [Double]) throws(MinibatchError) {
    counts.countSum()
    try base.sum(&values)
  }

  func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]] {
    counts.countGather()
    return try base.gather(record)
  }
}
