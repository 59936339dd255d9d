import Minibatch
import MinibatchTestSupport
import Testing

/// Every error a reduction can throw, and that a failed call changes nothing.
@Suite struct ReductionErrorTests {
  @Test(arguments: allScalarTypes)
  func everyReductionErrorIsThrownAndNothingIsMutated(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let gradients = try randomGradients(Scalar.self, k: 4, n: 3, seed: 1)
    let weights: [Scalar] = [0.5, -0.25, 2]

    // Example weights for weighted means.
    expectError(.shapeMismatch(expected: 4, got: 3, of: "example weights (length k)")) {
      try gradients.weightedMean(exampleWeights: [1, 1, 1])
    }
    expectError(.negativeValue(index: 2, value: -1, of: "example weights")) {
      try gradients.weightedMean(exampleWeights: [1, 1, -1, 1])
    }
    expectError(.nonFiniteValue(index: 1, of: "example weights")) {
      try gradients.weightedMean(exampleWeights: [1, .nan, 1, 1])
    }
    expectError(.nonFiniteValue(index: 3, of: "example weights")) {
      try gradients.weightedMean(exampleWeights: [1, 1, 1, .infinity])
    }
    expectError(.zeroTotalWeight(total: 0)) {
      try gradients.weightedMean(exampleWeights: [0, 0, 0, 0])
    }
    // The total is formed in Double: only Double weights can overflow it.
    let huge: [Scalar] = [.greatestFiniteMagnitude, .greatestFiniteMagnitude, 0, 0]
    if Scalar.self == Double.self {
      expectError(.zeroTotalWeight(total: .infinity)) {
        try gradients.weightedMean(exampleWeights: huge)
      }
    } else {
      let mean = try gradients.weightedMean(exampleWeights: huge)
      let expected = try gradients.reduce(with: [0.5, 0.5, 0, 0])
      #expect(mean == expected)
    }

    // The general reduction.
    expectError(.shapeMismatch(expected: 4, got: 5, of: "reduction vector (length k)")) {
      try gradients.reduce(with: [1, 1, 1, 1, 1])
    }
    expectError(.nonFiniteValue(index: 0, of: "reduction vector")) {
      try gradients.reduce(with: [-.infinity, 1, 1, 1])
    }
    expectError(.nonFiniteValue(index: 0, of: "alpha")) {
      try gradients.reduce(with: [1, 1, 1, 1], alpha: .nan)
    }
    var y: [Scalar] = [7, 8, 9]
    expectError(.shapeMismatch(expected: 3, got: 2, of: "y (length n)")) {
      var short: [Scalar] = [1, 2]
      try gradients.reduce(with: [1, 1, 1, 1], beta: 1, into: &short)
    }
    expectError(.nonFiniteValue(index: 0, of: "beta")) {
      try gradients.reduce(with: [1, 1, 1, 1], beta: .infinity, into: &y)
    }
    expectError(.nonFiniteValue(index: 2, of: "reduction vector")) {
      try gradients.reduce(with: [1, 1, .nan, 1], beta: 1, into: &y)
    }
    #expect(y == [7, 8, 9], "a failed in-place reduction leaves y untouched")

    // Fused steps: every failure leaves the weights exactly as they were.
    var w = weights
    for rate in [Scalar.nan, .infinity, -.infinity, -0.1] {
      expectError(.invalidLearningRate(Double(rate))) {
        try gradients.applyMeanStep(to: &w, learningRate: rate)
      }
    }
    expectError(.shapeMismatch(expected: 3, got: 2, of: "parameters (length n)")) {
      var short: [Scalar] = [1, 2]
      try gradients.applyMeanStep(to: &short, learningRate: 0.1)
    }
    expectError(.negativeValue(index: 0, value: -2, of: "example weights")) {
      try gradients.applyWeightedMeanStep(
        to: &w, learningRate: 0.1, exampleWeights: [-2, 1, 1, 1])
    }
    expectError(.zeroTotalWeight(total: 0)) {
      try gradients.applyWeightedMeanStep(to: &w, learningRate: 0.1, exampleWeights: [0, 0, 0, 0])
    }
    expectError(.invalidLearningRate(-1)) {
      try gradients.applyWeightedMeanStep(to: &w, learningRate: -1, exampleWeights: [1, 1, 1, 1])
    }
    expectError(.shapeMismatch(expected: 3, got: 4, of: "parameters (length n)")) {
      var long: [Scalar] = [1, 2, 3, 4]
      try gradients.applyWeightedMeanStep(
        to: &long, learningRate: 0.1, exampleWeights: [1, 1, 1, 1])
    }
    #expect(w == weights, "failed steps leave the weights untouched")
  }

  @Test func errorsDescribeWhatWasExpectedAndWhatCame() {
    let error = MinibatchError.shapeMismatch(expected: 10, got: 9, of: "weights")
    #expect(error.description == "shape mismatch in weights: expected 10, got 9")
    #expect(MinibatchError.invalidLearningRate(.nan).description.contains("nan"))
    #expect(MinibatchError.emptyBatch.description.contains("k ≥ 1"))
  }
}
