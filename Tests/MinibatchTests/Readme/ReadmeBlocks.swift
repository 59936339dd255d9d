// swift-format-ignore-file
// Generated from README.md by `make readme-blocks`; do not edit (ReadmeSyncTests checks it).
import Minibatch
import Testing

@Suite struct ReadmeBlocks {
  /// README.md, the block at line 89.
  @Test func block1() throws {

    // k = 2 examples, n = 5 parameters; rows are per-example gradients.
    let gradients = try PerExampleGradients<Double>(rows: [
      [1.5, -2.0, 1.1, 0.4, -0.9],
      [1.2, 2.3, -1.1, -0.8, -0.7],
    ])
    let g = gradients.mean()                      // [1.35, 0.15, 0.0, -0.2, -0.8]

    var parameters = [Double](repeating: 0, count: 5)
    try gradients.applyMeanStep(to: &parameters, learningRate: 0.1)   // w ← w − 0.1·mean, one GEMV

    // Producers write rows in place, without copying:
    var batch = try PerExampleGradients<Float>(k: 256, n: 10_000)
    batch.withUnsafeMutableRow(0) { row in row[0] = 1 }   // or PerExampleGradients(k:n:writeRow:)

    // A dense model's J, factored: never formed, about the cost of the backward pass.
    let model = try MultilayerPerceptron<Double>(layerSizes: [4, 8, 3])
    let data = try Batch(
      inputs: try Matrix(rows: [[0.1, 0.2, 0.3, 0.4], [0.5, -0.1, 0.0, 0.2]]),
      targets: .labels([2, 0]))
    let w = model.initialParameters(seed: 0)
    let (J, losses) = try model.perExampleGradients(
      parameters: w, batch: data, representation: .factored)
    let mean = J.mean()                            // = model.meanLossAndGradient(…).gradient
    let norms = J.squaredRowNorms()                // ‖g_i‖², no rows formed
    var accumulator = try GradientAccumulator<Double>(parameterCount: model.parameterCount)
    try accumulator.add(J, reductionWeights: [1, 3])        // raw Σ v_i·g_i, Σ v_i, count (mergeable)
    let weighted = try accumulator.gradient(normalizedBy: .weightTotal)   // (g₁ + 3·g₂)/4
  }

  /// README.md, the block at line 247.
  @Test func block2() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)     // bundled UCI digits
    let model = try SoftmaxRegression<Float>(inputCount: 64, classCount: 10)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9, regularization: .l2(1e-4)),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .cosine(initial: 0.05, minimum: 0.0005, epochs: 20))
    var w = model.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: train, epochs: 20) { report, _ in
      print(report.epoch, report.meanLoss, report.examplesPerSecond)   // epochs count from 0
    }
    print(try model.accuracy(parameters: w, batch: test))            // about 0.96

    let batch = try train.gathering(0..<32)
    let (J, losses) = try model.perExampleGradients(parameters: w, batch: batch)  // stored, 32 × 650
    let g = J.mean()                  // = model.meanLossAndGradient(parameters: w, batch: batch).gradient
    // Finite differences, in Double: every error is normwise relative, about 1e-10 here.
    let small = try SoftmaxRegression<Double>(inputCount: 64, classCount: 10)
    let (trainD, _) = try Digits.loadStandardized(Double.self)
    let report = try small.checkGradients(
      parameters: small.initialParameters(seed: 1), batch: try trainD.gathering(0..<8))
    print(report.worstError)                                          // < 1e-7 (tested)
  }

  /// README.md, the block at line 387.
  @Test func block3() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)
    let model = try SoftmaxRegression<Float>(inputCount: 64, classCount: 10)
    let sampler = try BatchSampler(exampleCount: train.count, poissonRate: 64.0 / 1437, seed: 1)
    let privacy = try DifferentialPrivacy.calibrated(       // σ for ε = 3 after 30 epochs
      targetEpsilon: 3, delta: 1e-5, samplingRate: 64.0 / 1437,
      steps: 30 * sampler.batchesPerEpoch, clipping: .flat(bound: 1))
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9), sampler: sampler,
      schedule: .cosine(initial: 0.05, minimum: 0.0005, epochs: 30), privacy: privacy)
    var w = model.initialParameters(seed: 1)
    try trainer.train(parameters: &w, data: train, epochs: 30, evaluation: test) { report, _ in
      print(report.epoch, report.epsilon!, report.evaluationAccuracy!)   // ε spent so far
    }
  }

}
