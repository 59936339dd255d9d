import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct LearningRateScheduleTests {
  @Test func ratesFollowTheirFormulas() throws {
    #expect(try LearningRateSchedule.constant(0.3).rate(epoch: 7) == 0.3)
    let step = LearningRateSchedule.step(initial: 1, factor: 0.5, every: 3)
    #expect(
      try [0, 2, 3, 5, 6, 9].map { try step.rate(epoch: $0) } == [1, 1, 0.5, 0.5, 0.25, 0.125])
    let cosine = LearningRateSchedule.cosine(initial: 1, minimum: 0.1, epochs: 4)
    #expect(try cosine.rate(epoch: 0) == 1)
    #expect(try abs(cosine.rate(epoch: 2) - 0.55) < 1e-15)
    #expect(try abs(cosine.rate(epoch: 4) - 0.1) < 1e-15)
    #expect(try abs(cosine.rate(epoch: 9) - 0.1) < 1e-15)
  }

  @Test func badSchedulesAreRefused() {
    expectError(.invalidLearningRate(-1)) { try LearningRateSchedule.constant(-1).validate() }
    expectError(.invalidLearningRate(.infinity)) {
      try LearningRateSchedule.step(initial: .infinity, factor: 0.5, every: 1).validate()
    }
    expectError(
      .invalidArgument(name: "step decay factor", value: "-0.5", expected: "0 < factor ≤ 1")
    ) { try LearningRateSchedule.step(initial: 1, factor: -0.5, every: 1).validate() }
    expectError(.invalidArgument(name: "step decay period (epochs)", value: "0", expected: "≥ 1")) {
      try LearningRateSchedule.step(initial: 1, factor: 0.5, every: 0).validate()
    }
    expectError(.invalidLearningRate(.nan)) {
      try LearningRateSchedule.cosine(initial: 1, minimum: .nan, epochs: 3).validate()
    }
    expectError(
      .invalidArgument(name: "cosine schedule length (epochs)", value: "0", expected: "≥ 1")
    ) { try LearningRateSchedule.cosine(initial: 1, minimum: 0, epochs: 0).validate() }
    // Asking an invalid schedule for a rate throws instead of dividing by zero.
    expectError(.invalidArgument(name: "step decay period (epochs)", value: "0", expected: "≥ 1")) {
      try LearningRateSchedule.step(initial: 1, factor: 0.5, every: 0).rate(epoch: 3)
    }
    expectError(
      .invalidArgument(name: "cosine schedule length (epochs)", value: "0", expected: "≥ 1")
    ) { try LearningRateSchedule.cosine(initial: 1, minimum: 0, epochs: 0).rate(epoch: 1) }
  }
}
