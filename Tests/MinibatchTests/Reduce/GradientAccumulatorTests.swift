import Minibatch
import MinibatchTestSupport
import Testing

/// Accumulators hold raw sums in Double, merge chunks in a fixed order to the same bits, and are
/// normalised once by a named denominator.
@Suite struct GradientAccumulatorTests {
  @Test(arguments: allScalarTypes)
  func chunksAndNormalisationsMatchTheReference(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let (k, n) = (23, 37)
    let all = try randomGradients(Scalar.self, k: k, n: n, seed: 5)
    var rng = SeededGenerator(seed: 6)
    var weights: [Scalar] = rng.unitArray(count: k)
    weights[4] = 0
    // Reference statistics in Double.
    let total = weights.reduce(0.0) { $0 + Double($1) }
    var sum = [Double](repeating: 0, count: n)
    for i in 0..<k { for j in 0..<n { sum[j] += Double(weights[i]) * Double(all[i, j]) } }
    let mean = sum.map { $0 / total }
    var variance = [Double](repeating: 0, count: n)
    for i in 0..<k {
      for j in 0..<n {
        let deviation = Double(all[i, j]) - mean[j]
        variance[j] += Double(weights[i]) * deviation * deviation / total
      }
    }
    let squaredNorms = try (0..<k).reduce(0.0) { sum, i in
      try sum + Double(weights[i]) * all.row(i).reduce(0.0) { $0 + Double($1) * Double($1) }
    }
    let tolerance = Scalar.self == Double.self ? 1e-13 : 1e-5

    // Three chunks of rows, each in another representation.
    let cuts = [0..<7, 7..<8, 8..<23]
    var parts: [GradientAccumulator<Scalar>] = []
    for (index, rows) in cuts.enumerated() {
      let chunk = try PerExampleGradients<Scalar>(
        k: rows.count, n: n,
        elements: Array(all.elements[(rows.lowerBound * n)..<(rows.upperBound * n)]))
      let gradients: any PerExampleGradientOperator<Scalar> =
        index == 1 ? StreamedPerExampleGradients(copyingWriter(chunk)) : chunk
      var part = try GradientAccumulator<Scalar>(
        parameterCount: n, tracksSquaredNorms: true, tracksMoments: true)
      try part.add(gradients, reductionWeights: Array(weights[rows]))
      parts.append(part)
    }
    var merged = parts[0]
    for part in parts.dropFirst() { try merged.merge(part) }
    #expect(merged.exampleCount == k)
    #expect(abs(merged.weightTotal - total) <= 1e-14 * total)
    #expect(relativeError(merged.weightedSum, sum) < tolerance)
    #expect(relativeError(merged.moments!.mean, mean) < tolerance)
    #expect(relativeError(merged.moments!.populationVariance, variance) < 100 * tolerance)
    // The accumulator's moments are a `GradientMoments` with `V₂` and the example count too.
    let squaredTotal = weights.reduce(0.0) { $0 + Double($1) * Double($1) }
    let unbiased = variance.map { $0 * total / (total - squaredTotal / total) }
    #expect(merged.moments!.exampleCount == k && merged.moments!.exactlyRecomputed == 0)
    #expect(abs(merged.moments!.squaredWeightTotal - squaredTotal) <= 1e-14 * squaredTotal)
    #expect(relativeError(merged.moments!.unbiasedVariance, unbiased) < 100 * tolerance)
    #expect(abs(merged.weightedSquaredNormSum! - squaredNorms) <= tolerance * squaredNorms)

    // Merging the same parts in the same order gives the same bits, and adding them one after
    // another into one accumulator is that merge.
    var again = parts[0]
    for part in parts.dropFirst() { try again.merge(part) }
    #expect(again == merged)

    // The named normalisations.
    let fixed = try merged.gradient(normalizedBy: .fixedDenominator(50))
    #expect(relativeError(fixed, sum.map { $0 / 50 }) < tolerance)
    #expect(relativeError(try merged.gradient(normalizedBy: .sum), sum) < tolerance)
    #expect(relativeError(try merged.gradient(normalizedBy: .weightTotal), mean) < tolerance)
    // k = 23 examples of a data set of 100 with weight total 40: D = 23·40/100.
    let dataset = try merged.gradient(normalizedBy: .datasetWeightTotal(40, exampleCount: 100))
    #expect(relativeError(dataset, sum.map { $0 / (23 * 40 / 100) }) < tolerance)
  }

  /// Accumulating a batch in the trainer's representations gives the same gradient: the factored
  /// `J` of a network and its stored rows.
  @Test(arguments: allScalarTypes)
  func factoredAndStoredAccumulateAlike(_ type: any BLASScalar.Type) throws {
    try checkFactored(type)
  }

  func checkFactored<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [6, 5, 3], hiddenActivation: .tanh)
    let batch = try randomBatch(
      Scalar.self, k: 11, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 2)
    let w = model.initialParameters(seed: 1)
    var results: [[Scalar]] = []
    var variances: [[Double]] = []
    for representation in [GradientRepresentation.factored, .stored, .streamed] {
      let (gradients, _) = try model.perExampleGradients(
        parameters: w, batch: batch, representation: representation)
      var accumulator = try GradientAccumulator<Scalar>(
        parameterCount: model.parameterCount, tracksMoments: true)
      try accumulator.add(gradients)
      results.append(try accumulator.gradient(normalizedBy: .weightTotal))
      variances.append(accumulator.moments!.populationVariance)
    }
    let (_, plain) = try model.meanLossAndGradient(parameters: w, batch: batch)
    let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-4
    for (result, variance) in zip(results, variances) {
      #expect(relativeError(result, plain) < tolerance)
      #expect(relativeError(variance, variances[1]) < tolerance)
    }
  }

  @Test func badInputsAreRefusedAndChangeNothing() throws {
    let gradients = try randomGradients(Double.self, k: 3, n: 4, seed: 1)
    var accumulator = try GradientAccumulator<Double>(parameterCount: 4)
    try accumulator.add(gradients)
    let saved = accumulator
    expectError(.shapeMismatch(expected: 4, got: 5, of: "parameters (n)")) {
      try accumulator.add(try randomGradients(Double.self, k: 3, n: 5, seed: 1))
    }
    expectError(.shapeMismatch(expected: 3, got: 2, of: "reduction weights (length k)")) {
      try accumulator.add(gradients, reductionWeights: [1, 1])
    }
    expectError(.negativeValue(index: 1, value: -1, of: "reduction weights")) {
      try accumulator.add(gradients, reductionWeights: [1, -1, 1])
    }
    expectError(.nonFiniteValue(index: 2, of: "reduction weights")) {
      try accumulator.add(gradients, reductionWeights: [1, 1, .nan])
    }
    let tracking = try GradientAccumulator<Double>(parameterCount: 4, tracksMoments: true)
    expectError(
      .invalidArgument(
        name: "tracked statistics", value: "squared norms: false, moments: true",
        expected: "squared norms: false, moments: false, as here")
    ) { try accumulator.merge(tracking) }
    #expect(accumulator == saved)
    expectError(.noParameters) { try GradientAccumulator<Double>(parameterCount: 0) }
    let nothing = try GradientAccumulator<Double>(parameterCount: 4)
    expectError(.emptyBatch) { try nothing.gradient(normalizedBy: .weightTotal) }
    expectError(.emptyBatch) {
      try nothing.gradient(normalizedBy: .datasetWeightTotal(2, exampleCount: 5))
    }
    #expect(try nothing.gradient(normalizedBy: .fixedDenominator(4)) == [0, 0, 0, 0])
    // Nothing accumulated (or only zero weights): no weighted mean, a clear error.
    var empty = try GradientAccumulator<Double>(parameterCount: 4)
    try empty.add(gradients, reductionWeights: [0, 0, 0])
    #expect(empty.exampleCount == 3 && empty.weightTotal == 0)
    expectError(.zeroTotalWeight(total: 0)) { try empty.gradient(normalizedBy: .weightTotal) }
    #expect(try empty.gradient(normalizedBy: .sum) == [0, 0, 0, 0])
    expectError(
      .invalidArgument(name: "fixed denominator", value: "0.0", expected: "finite and > 0")
    ) { try saved.gradient(normalizedBy: .fixedDenominator(0)) }
    expectError(
      .invalidArgument(name: "data set example count", value: "0", expected: "≥ 1")
    ) { try saved.gradient(normalizedBy: .datasetWeightTotal(1, exampleCount: 0)) }
    expectError(
      .invalidArgument(name: "data set weight total", value: "inf", expected: "finite and > 0")
    ) { try saved.gradient(normalizedBy: .datasetWeightTotal(.infinity, exampleCount: 3)) }
    // A sum beyond Float's range is refused, not returned as infinity.
    let huge = try PerExampleGradients<Float>(rows: [[3e38], [3e38]])
    var floats = try GradientAccumulator<Float>(parameterCount: 1)
    try floats.add(huge)
    #expect(try floats.gradient(normalizedBy: .weightTotal) == [3e38])
    expectError(.nonFiniteValue(index: 0, of: "normalised gradient")) {
      try floats.gradient(normalizedBy: .sum)
    }
  }
}

/// Per-parameter variance of gradients whose mean dwarfs their spread (|μ|/σ = 1e5) keeps its
/// digits in Float: each batch is centred on its own mean (two passes), never `E[g²] − μ²`.
@Suite struct GradientMomentCancellationTests {
  @Test func floatVarianceWithALargeMean() throws {
    let k = 64
    var rng = SeededGenerator(seed: 12)
    let noise: [Float] = rng.signedArray(count: k)
    // Column 0: 1000 + 0.01·u; column 1: 0.01·u. Same variance.
    let rows = (0..<k).map { i in [1000 + 0.01 * noise[i], 0.01 * noise[i]] }
    let gradients = try PerExampleGradients<Float>(rows: rows)
    for representation in [
      gradients as any PerExampleGradientOperator<Float>,
      StreamedPerExampleGradients(copyingWriter(gradients)),
    ] {
      var accumulator = try GradientAccumulator<Float>(parameterCount: 2, tracksMoments: true)
      try accumulator.add(representation)
      let variance = accumulator.moments!.populationVariance
      let exact: Double = {
        let values = (0..<k).map { Double(rows[$0][1]) }
        let mean = values.reduce(0, +) / Double(k)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(k)
      }()
      #expect(abs(variance[1] - exact) <= 1e-6 * exact)
      // Column 0's entries are column 1's plus 1000, rounded to Float (ulp 6e-5): the variance
      // keeps its first digits (the one-pass form in Float gave 0 or garbage here).
      #expect(abs(variance[0] - exact) <= 0.05 * exact, "\(variance[0]) vs \(exact)")
    }
  }
}
