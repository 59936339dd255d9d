import Minibatch
import Testing

/// The usage snippet from README.md, kept compiling and true.
@Suite struct ReadmeSnippetTests {
  @Test func usageSnippetRunsAsDocumented() throws {
    let gradients = try PerExampleGradients<Double>(rows: [
      [1.5, -2.0, 1.1, 0.4, -0.9],
      [1.2, 2.3, -1.1, -0.8, -0.7],
    ])
    let g = gradients.mean()
    let expected = [1.35, 0.15, 0.0, -0.2, -0.8]
    #expect(zip(g, expected).allSatisfy { abs($0 - $1) <= 1e-15 })

    var parameters = [Double](repeating: 0, count: 5)
    try gradients.applyMeanStep(to: &parameters, learningRate: 0.1)
    #expect(zip(parameters, expected).allSatisfy { abs($0 + 0.1 * $1) <= 1e-15 })

    var batch = try PerExampleGradients<Float>(k: 256, n: 10_000)
    try batch.withUnsafeMutableRow(0) { row in row[0] = 1 }
    #expect(batch[0, 0] == 1 && batch.sum()[0] == 1)
  }

  /// The training snippet from README.md.
  @Test func trainingSnippetRunsAsDocumented() throws {
    let (train, test) = try Digits.loadStandardized(Float.self)
    let model = try SoftmaxRegression<Float>(inputCount: 64, classCount: 10)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9, regularization: .l2(1e-4)),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .cosine(initial: 0.05, minimum: 0.0005, epochs: 20))
    var w = model.initialParameters(seed: 0)
    var losses: [Double] = []
    try trainer.train(parameters: &w, data: train, epochs: 20) { report, _ in
      losses.append(report.meanLoss)
    }
    let accuracy = try model.accuracy(parameters: w, batch: test)
    #expect(accuracy > 0.94, "README says about 0.96; got \(accuracy)")
    #expect(losses.count == 20 && losses.last! < losses.first!)

    let batch = try train.gathering(0..<32)
    let (J, _) = try model.perExampleGradients(parameters: w, batch: batch)
    let (_, gradient) = try model.meanLossAndGradient(parameters: w, batch: batch)
    #expect(J.k == 32 && J.n == 650)
    #expect(zip(J.mean(), gradient).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })

    let small = try SoftmaxRegression<Double>(inputCount: 64, classCount: 10)
    let (trainD, _) = try Digits.loadStandardized(Double.self)
    let report = try small.checkGradients(
      parameters: small.initialParameters(seed: 1), batch: trainD.gathering(0..<8))
    #expect(report.worstError < 1e-7, "\(report)")
  }
}

/// The pipeline part of the usage snippet: a factored J, its mean, norms and an accumulator.
@Suite struct ReadmePipelineSnippetTests {
  @Test func pipelineSnippetRunsAsDocumented() throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [4, 8, 3])
    let data = try Batch(
      inputs: try Matrix(rows: [[0.1, 0.2, 0.3, 0.4], [0.5, -0.1, 0.0, 0.2]]),
      targets: .labels([2, 0]))
    let w = model.initialParameters(seed: 0)
    let (J, losses) = try model.perExampleGradients(
      parameters: w, batch: data, representation: .factored)
    let mean = J.mean()
    let (loss, gradient) = try model.meanLossAndGradient(parameters: w, batch: data)
    #expect(zip(mean, gradient).allSatisfy { abs($0 - $1) <= 1e-14 })
    #expect(abs((losses[0] + losses[1]) / 2 - loss) <= 1e-15)
    let norms = J.squaredRowNorms()
    let (stored, _) = try model.perExampleGradients(parameters: w, batch: data)
    for i in 0..<2 {
      let exact = try stored.row(i).reduce(0) { $0 + $1 * $1 }
      #expect(abs(norms[i] - exact) <= 1e-14 * exact)
    }
    var accumulator = try GradientAccumulator<Double>(parameterCount: model.parameterCount)
    try accumulator.add(J, reductionWeights: [1, 3])
    let weighted = try accumulator.gradient(normalizedBy: .weightTotal)
    let expected = (0..<model.parameterCount).map { (stored[0, $0] + 3 * stored[1, $0]) / 4 }
    #expect(zip(weighted, expected).allSatisfy { abs($0 - $1) <= 1e-14 })
  }
}
