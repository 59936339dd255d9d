import Minibatch
import MinibatchTestSupport
import Testing

/// The example every user of mini-batch averaging knows: 5 weights, a batch of 2.
@Suite struct WorkedExampleTests {
  @Test(arguments: allScalarTypes)
  func meanOfTwoExampleGradients(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let gradients = try PerExampleGradients<Scalar>(rows: [
      [1.5, -2.0, 1.1, 0.4, -0.9],
      [1.2, 2.3, -1.1, -0.8, -0.7],
    ])
    let expected: [Scalar] = [1.35, 0.15, 0, -0.2, -0.8]
    for parallelism in [Parallelism.serial, .threads(2)] {
      let mean = gradients.mean(parallelism: parallelism)
      // Exact to rounding: each entry is (a + b)/2 of two rounded inputs, a few ulps at most.
      for (got, want) in zip(mean, expected) {
        #expect(abs(got - want) <= 4 * Scalar.ulpOfOne * max(1, abs(want)), "\(got) vs \(want)")
      }
      #expect(mean[2] == 0, "1.1 and −1.1 cancel exactly")
    }
    let sum = gradients.sum()
    let expectedSum: [Scalar] = [2.7, 0.3, 0, -0.4, -1.6]
    for (got, want) in zip(sum, expectedSum) {
      #expect(abs(got - want) <= 4 * Scalar.ulpOfOne * max(1, abs(want)))
    }
  }
}
