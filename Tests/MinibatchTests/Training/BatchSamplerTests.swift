import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct BatchSamplerTests {
  /// Golden batches from an independent Python model of the generator and the shuffle
  /// (`Tests/reference/batch_sampler_golden.py`): the same seed gives these on every machine.
  @Test func shufflesMatchTheIndependentReference() throws {
    let sampler = try BatchSampler(exampleCount: 10, batchSize: 4, seed: 42)
    #expect(sampler.batches(epoch: 0).map(Array.init) == [[7, 3, 8, 9], [5, 6, 4, 1], [0, 2]])
    #expect(sampler.batches(epoch: 1).map(Array.init) == [[3, 2, 5, 9], [1, 8, 4, 7], [0, 6]])
    let other = try BatchSampler(exampleCount: 10, batchSize: 4, seed: 7)
    #expect(other.batches(epoch: 0).map(Array.init) == [[8, 3, 9, 0], [7, 2, 1, 6], [5, 4]])
  }

  @Test(arguments: [(1, 1), (1, 5), (10, 4), (12, 4), (1437, 32), (100, 100)])
  func everyEpochIsAPermutation(_ shape: (count: Int, batch: Int)) throws {
    for partial in BatchSampler.PartialBatch.allCases
    where partial == .keep || shape.batch <= shape.count {
      let sampler = try BatchSampler(
        exampleCount: shape.count, batchSize: shape.batch, partialBatch: partial, seed: 3)
      for epoch in 0..<3 {
        let batches = sampler.batches(epoch: epoch)
        #expect(batches.count == sampler.batchesPerEpoch)
        #expect(batches.dropLast().allSatisfy { $0.count == shape.batch })
        let all = batches.flatMap { $0 }
        #expect(Set(all).count == all.count, "an example appears twice")
        let remainder = shape.count % shape.batch
        if partial == .keep {
          #expect(all.count == shape.count)
          #expect(batches.last?.count == (remainder == 0 ? shape.batch : remainder))
        } else {
          #expect(all.count == shape.count - remainder)
        }
      }
    }
  }

  @Test func epochsDifferAndOrderIsFixedWithoutShuffling() throws {
    let sampler = try BatchSampler(exampleCount: 50, batchSize: 8, seed: 1)
    #expect(sampler.batches(epoch: 0) != sampler.batches(epoch: 1))
    #expect(sampler.batches(epoch: 5) == sampler.batches(epoch: 5))
    let fixed = try BatchSampler(exampleCount: 10, batchSize: 4, shuffles: false, seed: 1)
    #expect(fixed.batches(epoch: 9).map(Array.init) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
  }

  @Test func badSettingsAreRefused() {
    expectError(.invalidArgument(name: "example count", value: "0", expected: "≥ 1")) {
      try BatchSampler(exampleCount: 0, batchSize: 1, seed: 0)
    }
    expectError(.invalidArgument(name: "batch size", value: "0", expected: "≥ 1")) {
      try BatchSampler(exampleCount: 3, batchSize: 0, seed: 0)
    }
    expectError(
      .invalidArgument(
        name: "batch size", value: "4", expected: "≤ 3 examples when dropping partial batches")
    ) { try BatchSampler(exampleCount: 3, batchSize: 4, partialBatch: .drop, seed: 0) }
  }
}
