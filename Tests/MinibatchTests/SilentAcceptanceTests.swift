import Minibatch
import MinibatchTestSupport
import Testing

/// Arguments that were silently accepted and given a meaning nobody asked for are refused with an
/// error naming the argument (issue 20).
@Suite struct SilentAcceptanceTests {
  @Test func perBlockClippingNeedsAtLeastOneBlock() throws {
    for count in [0, -3] {
      expectError(
        .invalidArgument(name: "block count", value: "\(count)", expected: "≥ 1")
      ) { try GradientClipping.perBlock(totalBound: 1, blockCount: count) }
    }
    expectError(
      .invalidArgument(name: "total clipping bound", value: "0.0", expected: "> 0")
    ) { try GradientClipping.perBlock(totalBound: 0, blockCount: 2) }
    let split = try GradientClipping.perBlock(totalBound: 2, blockCount: 4)
    #expect(split == .perBlock(bounds: [1, 1, 1, 1]))
  }

  @Test func unbiasedVarianceOfOneExampleIsUndefined() throws {
    let one = try PerExampleGradients<Double>(rows: [[1, 2]]).moments()
    #expect(one.unbiasedVariance.allSatisfy { $0.isNaN }, "\(one.unbiasedVariance)")
    #expect(one.traceOfCovariance.isNaN)
    #expect(one.populationVariance == [0, 0])
    // One example with weight, the others with none: still one effective example.
    let weighted = try PerExampleGradients<Double>(rows: [[1, 2], [3, 5]])
      .moments(exampleWeights: [0, 2])
    #expect(weighted.unbiasedVariance.allSatisfy { $0.isNaN }, "\(weighted.unbiasedVariance)")
    let two = try PerExampleGradients<Double>(rows: [[1, 2], [3, 6]]).moments()
    #expect(two.unbiasedVariance == [2, 8])
  }

  @Test func varianceOfTheMeanNeedsABatch() throws {
    let moments = try PerExampleGradients<Double>(rows: [[1, 2], [3, 6]]).moments()
    for size in [0, -1] {
      expectError(
        .invalidArgument(name: "batch size", value: "\(size)", expected: "≥ 1")
      ) { try moments.varianceOfMean(batchSize: size) }
    }
    #expect(try moments.varianceOfMean(batchSize: 2) == 5)
  }

  @Test func learningRateSchedulesRefuseMeaninglessShapes() throws {
    expectError(
      .invalidArgument(
        name: "cosine schedule minimum", value: "0.5", expected: "≤ the initial rate 0.1")
    ) { try LearningRateSchedule.cosine(initial: 0.1, minimum: 0.5, epochs: 10).validate() }
    for factor in [0, -0.5, 1.5, .nan, .infinity] {
      expectError(
        .invalidArgument(
          name: "step decay factor", value: "\(factor)", expected: "0 < factor ≤ 1")
      ) { try LearningRateSchedule.step(initial: 0.1, factor: factor, every: 2).rate(epoch: 3) }
    }
    #expect(try LearningRateSchedule.step(initial: 0.1, factor: 1, every: 2).rate(epoch: 5) == 0.1)
    #expect(
      try LearningRateSchedule.cosine(initial: 0.1, minimum: 0.1, epochs: 4).rate(epoch: 2) == 0.1)
  }
}
