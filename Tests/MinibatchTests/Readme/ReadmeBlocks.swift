// swift-format-ignore-file
// Generated from README.md and the DocC articles by `make readme-blocks`; do not edit
// (ReadmeSyncTests checks it).
import Foundation
import Minibatch
import MinibatchMPI
import Testing

@Suite struct ReadmeBlocks {

  /// README.md, the block at line 94.
  @Test func readmeBlock1() throws {

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
    try batch.withUnsafeMutableRow(0) { row in row[0] = 1 }   // or PerExampleGradients(k:n:writeRow:)

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

    _ = (gradients, g, parameters, batch, model, data, w, J, losses, mean, norms, accumulator, weighted)  // generated: the values shown
  }

  /// README.md, the block at line 256.
  @Test func readmeBlock2() throws {

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

    _ = (train, test, model, trainer, w, batch, J, losses, g, small, trainD, report)  // generated: the values shown
  }

  /// README.md, the block at line 423 (compiled, not run: MPI_Init belongs under mpirun).
  func readmeBlock3() throws {

    // x.npy: np.save("x.npy", x.astype(np.float32)), shape (N, 784); y.npy: N labels.
    let data = try MemoryMappedNPY<Float>(inputs: "x.npy", labels: "y.npy", classCount: 10)
    let model = try MultilayerPerceptron<Float>(layerSizes: [data.featureCount, 256, 10])
    var trainer = MinibatchTrainer(
      model: model, optimizer: try Adam<Float>(),
      sampler: try BatchSampler(exampleCount: data.exampleCount, batchSize: 256, seed: 0),
      schedule: .constant(1e-3))
    var w = model.initialParameters(seed: 0)
    let standardizer = try Standardizer(fitting: data)          // two passes over the file
    try trainer.train(parameters: &w, data: data.standardized(by: standardizer), epochs: 1)

    // Under mpirun, each rank maps only its rows:
    let world = try MPIEnvironment.initialize()
    let shard = try MemoryMappedNPY<Float>(
      inputs: "x.npy", labels: "y.npy", classCount: 10, shard: world.rank, of: world.size)
    let shared = try Standardizer(fitting: shard, across: world)   // the same bits on every rank
    var distributed = MinibatchTrainer(
      model: model, optimizer: try Adam<Float>(),
      sampler: try BatchSampler(exampleCount: shard.exampleCount, batchSize: 256, seed: 0),
      schedule: .constant(1e-3), collective: world)
    try distributed.train(parameters: &w, data: shard.standardized(by: shared), epochs: 1)

    _ = (data, model, trainer, w, standardizer, world, shard, shared, distributed)  // generated: the values shown
  }

  /// README.md, the block at line 497.
  @Test func readmeBlock4() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)      // 8×8 images, 64 features
    let cnn = try Sequential<Float>(
      inputShape: try TensorShape([1, 8, 8]),
      layers: "conv2d(8,3,padding=1) relu maxpool2d(2) flatten dense(10)")
    var trainer = MinibatchTrainer(
      model: cnn, optimizer: try MomentumSGD<Float>(momentum: 0.9),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .constant(0.02))
    var w = cnn.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: train, epochs: 2)
    print(try cnn.accuracy(parameters: w, batch: test))               // above 0.9 after two epochs

    // Token sequences: ragged lists padded with −1, which the embedding skips.
    let bag = try Sequential<Double>(
      inputShape: try TensorShape([4]), layers: "embedding(100,8) meanpool dense(16) relu dense(2)")
    let reviews = try Batch<Double>(
      tokenSequences: [[5, 17, 17, 3], [42, 7], [99]], targets: .labels([1, 0, 1]))
    let (J, _) = try bag.perExampleGradients(
      parameters: bag.initialParameters(seed: 1), batch: reviews, representation: .factored)
    print(J.squaredRowNorms())                       // no dense 3 × 800 row is formed

    _ = (train, test, cnn, trainer, w, bag, reviews, J)  // generated: the values shown
  }

  /// README.md, the block at line 615.
  @Test func readmeBlock5() throws {

    // ε after 2,250 steps at σ = 1.5, q = 0.04, δ = 1e-5: 6.7688 by PLD (7.32913 by RDP).
    var accountant = try PLDAccountant()                  // discretization 1e-4, pessimistic
    try accountant.compose(noiseMultiplier: 1.5, samplingRate: 0.04, steps: 2250)
    let epsilon = try accountant.epsilon(delta: 1e-5)
    let delta = try accountant.delta(epsilon: 6)          // δ at ε = 6, an upper bound too
    // A second phase (more noise, a larger batch) is composed after the first, exactly.
    try accountant.compose(noiseMultiplier: 2.0, samplingRate: 0.08, steps: 500)
    print(PrivacyFormatting.roundedUp(epsilon), delta, try accountant.epsilon(delta: 1e-5))
    // The smallest σ whose ε after the planned steps is at most 3 (to 0.1% of σ): 2.7613.
    let sigma = try PLDAccountant.noiseMultiplier(
      targetEpsilon: 3, samplingRate: 0.04, steps: 2250, delta: 1e-5)
    print(sigma, accountant.phases.count)

    _ = (accountant, epsilon, delta, sigma)  // generated: the values shown
  }

  /// README.md, the block at line 659.
  @Test func readmeBlock6() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)
    let model = try SoftmaxRegression<Float>(inputCount: 64, classCount: 10)
    let sampler = try BatchSampler(exampleCount: train.count, poissonRate: 64.0 / 1437, seed: 1)
    let privacy = try DifferentialPrivacy.calibrated(       // σ for ε = 3 after 30 epochs
      targetEpsilon: 3, delta: 1e-5, samplingRate: 64.0 / 1437,
      steps: 30 * sampler.batchesPerEpoch, clipping: .flat(bound: 1))
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9), sampler: sampler,
      schedule: .cosine(initial: 0.05, minimum: 0.0005, epochs: 30),
      normalization: .expectedBatchSize, privacy: privacy)   // divide by q·N, never the realised k
    var w = model.initialParameters(seed: 1)
    try trainer.train(parameters: &w, data: train, epochs: 30, evaluation: test) { report, _ in
      print(report.epoch, report.epsilon!, report.evaluationAccuracy!)   // ε spent so far
    }

    _ = (train, test, model, sampler, privacy, trainer, w)  // generated: the values shown
  }

  /// README.md, the block at line 782 (compiled, not run: MPI_Init belongs under mpirun).
  func readmeBlock7() throws {

    let world = try MPIEnvironment.initialize()     // every rank, once; MPI_Finalize runs at exit
    let model = try MultilayerPerceptron<Float>(layerSizes: [64, 32, 10])
    let w = model.initialParameters(seed: 0)        // the same on every rank
    let (batch, _) = try Digits.loadStandardized(Float.self)   // the global batch, on every rank
    let mine = world.slice(of: batch.count)         // this rank's rows (empty on some if k < ranks)
    var accumulator = try GradientAccumulator<Float>(
      parameterCount: model.parameterCount, tracksMoments: true)
    try world.agreeing {                            // local work: if it throws on any rank,
      if !mine.isEmpty {                            // every rank throws failedOnRank
        let (gradients, _) = try model.perExampleGradients(
          parameters: w, batch: try batch.gathering(mine))
        try accumulator.add(gradients)
      }
    }
    try accumulator.allreduce(over: world)          // one MPI_Allreduce of n + 3 Doubles (moments: n + 4, then n)
    let mean = try accumulator.gradient(normalizedBy: .weightTotal)   // Σ g_i / k of the global batch

    _ = (world, model, w, batch, mine, accumulator, mean)  // generated: the values shown
  }

  /// Minibatch.docc/BringYourOwnModel.md, the block at line 17.
  @Test func bringYourOwnModelBlock1() throws {

    struct PoissonRegression: PerExampleGradientModel {
      typealias Scalar = Double
      let inputCount: Int
      var parameterCount: Int { inputCount + 1 }
      var outputCount: Int { 1 }

      func validate(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) {
        guard parameters.count == parameterCount else {
          throw .shapeMismatch(expected: parameterCount, got: parameters.count, of: "parameters")
        }
        guard batch.inputs.columns == inputCount else {
          throw .shapeMismatch(expected: inputCount, got: batch.inputs.columns, of: "input columns")
        }
        guard case .values(let counts) = batch.targets, counts.columns == 1 else {
          throw .wrongTargetKind(expected: "one column of counts", got: "\(batch.targets)")
        }
      }

      func initialParameters(seed: UInt64) -> [Double] {
        [Double](repeating: 0, count: parameterCount)
      }

      /// `z_i = wᵀx_i + b` for every row.
      func outputs(parameters: [Double], inputs: Matrix<Double>) throws(MinibatchError)
        -> Matrix<Double>
      {
        let z = (0..<inputs.rows).map { i in
          (0..<inputCount).reduce(parameters[inputCount]) { $0 + parameters[$1] * inputs[i, $1] }
        }
        return try Matrix(rows: inputs.rows, columns: 1, elements: z)
      }

      func losses(parameters: [Double], batch: Batch<Double>) throws(MinibatchError) -> [Double] {
        try validate(parameters: parameters, batch: batch)
        guard case .values(let y) = batch.targets else { return [] }
        let z = try outputs(parameters: parameters, inputs: batch.inputs)
        return (0..<batch.count).map { exp(z[$0, 0]) - y[$0, 0] * z[$0, 0] }
      }

      func perExampleRowWriter(parameters: [Double], batch: Batch<Double>) throws(MinibatchError)
        -> (writer: PerExampleRowWriter<Double>, losses: [Double])
      {
        let losses = try losses(parameters: parameters, batch: batch)
        guard case .values(let y) = batch.targets else { preconditionFailure() }
        let z = try outputs(parameters: parameters, inputs: batch.inputs)
        let residuals = (0..<batch.count).map { exp(z[$0, 0]) - y[$0, 0] }   // ∂ℓ_i/∂z_i
        let (inputs, d) = (batch.inputs, inputCount)
        let writer = try PerExampleRowWriter<Double>(
          exampleCount: batch.count, parameterCount: parameterCount
        ) { rows, columns, tile, rowStride in
          for (r, i) in rows.enumerated() {
            for (c, j) in columns.enumerated() {
              tile[r * rowStride + c] = residuals[i] * (j < d ? inputs[i, j] : 1)
            }
          }
        }
        return (writer, losses)
      }

      func meanLossAndGradient(parameters: [Double], batch: Batch<Double>) throws(MinibatchError)
        -> (loss: Double, gradient: [Double])
      {
        let (writer, losses) = try perExampleRowWriter(parameters: parameters, batch: batch)
        let J = StreamedPerExampleGradients(writer)
        return (losses.reduce(0, +) / Double(losses.count), J.mean())
      }
    }

    // Counts drawn around e^{0.3·x₁ − 0.2·x₂ + 0.1}.
    var rng = SeededGenerator(seed: 3)
    let x = (0..<64).map { _ in Double(rng.next() % 1000) / 500 - 1 }
    let rows = (0..<32).map { [x[2 * $0], x[2 * $0 + 1]] }
    let counts = rows.map { (exp(0.3 * $0[0] - 0.2 * $0[1] + 0.1)).rounded() }
    let batch = try Batch(
      inputs: try Matrix(rows: rows), targets: .values(try Matrix(rows: counts.map { [$0] })))
    let model = PoissonRegression(inputCount: 2)

    // Central finite differences against every row and the mean: normwise relative errors.
    let check = try model.checkGradients(parameters: [0.2, -0.1, 0.05], batch: batch)
    precondition(check.worstError < 1e-7, "\(check)")

    // The trainer, clipping and accumulators work on it as on the built-in models.
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(),
      sampler: try BatchSampler(exampleCount: 32, batchSize: 8, seed: 0), schedule: .constant(0.1))
    var w = model.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: batch, epochs: 50)
    print(w)   // (0.16, −0.17, 0.10): the fit to these 32 rounded counts, not the generating (0.3, −0.2, 0.1)

    _ = (rng, x, rows, counts, batch, model, check, trainer, w)  // generated: the values shown
  }

  /// Minibatch.docc/GettingStarted.md, the block at line 26.
  @Test func gettingStartedBlock1() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)      // 1,437 + 360 images, 64 features
    let model = try SoftmaxRegression<Float>(inputCount: 64, classCount: 10)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9, regularization: .l2(1e-4)),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .cosine(initial: 0.05, minimum: 0.0005, epochs: 20))
    var w = model.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: train, epochs: 20, evaluation: test) { report, _ in
      print(report.epoch, report.meanLoss, report.evaluationAccuracy ?? 0)
    }

    _ = (train, test, model, trainer, w)  // generated: the values shown
  }

  /// Minibatch.docc/GettingStarted.md, the block at line 46.
  @Test func gettingStartedBlock2() throws {

    let (train, _) = try Digits.loadStandardized(Double.self)
    let model = try MultilayerPerceptron<Double>(layerSizes: [64, 32, 10])
    let w = model.initialParameters(seed: 1)
    let batch = try train.gathering(0..<16)
    let (J, losses) = try model.perExampleGradients(parameters: w, batch: batch)  // factored
    let mean = J.mean()                                  // (1/k)·Σ_i g_i
    let backward = try model.meanLossAndGradient(parameters: w, batch: batch).gradient
    let norms = J.rowNorms()                             // ‖g_i‖, no row formed
    print(losses.count, norms.count, zip(mean, backward).map { abs($0 - $1) }.max()!)  // 16 16 ~1e-17

    _ = (train, model, w, batch, J, losses, mean, backward, norms)  // generated: the values shown
  }

  /// Minibatch.docc/LayersAndNetworks.md, the block at line 37.
  @Test func layersAndNetworksBlock1() throws {

    let (train, test) = try Digits.loadStandardized(Float.self)
    let cnn = try Sequential<Float>(
      inputShape: try TensorShape([1, 8, 8]),
      layers: "conv2d(8,3,padding=1) relu maxpool2d(2) flatten dense(10)")
    print(cnn.parameterCount, cnn.parameterBlocks.count)        // 1370 parameters in 4 tensors
    var trainer = MinibatchTrainer(
      model: cnn, optimizer: try MomentumSGD<Float>(momentum: 0.9),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .constant(0.02))
    var w = cnn.initialParameters(seed: 0)
    try trainer.train(parameters: &w, data: train, epochs: 2)
    print(try cnn.accuracy(parameters: w, batch: test))           // above 0.9 after two epochs

    // Per-example gradients of a batch, factored: norms without forming a row.
    let (J, _) = try cnn.perExampleGradients(
      parameters: w, batch: try train.gathering(0..<16), representation: .factored)
    let norms = J.squaredRowNorms()                               // 16 values
    let clipped = try J.clippedSum(.flat(bound: 1), blocks: cnn.parameterBlocks)
    print(norms.count, clipped.clippedExamples)

    _ = (train, test, cnn, trainer, w, J, norms, clipped)  // generated: the values shown
  }

  /// Minibatch.docc/LayersAndNetworks.md, the block at line 74.
  @Test func layersAndNetworksBlock2() throws {

    let bag = try Sequential<Double>(
      inputShape: try TensorShape([4]), layers: "embedding(100,8) meanpool dense(16) relu dense(2)")
    let reviews = try Batch<Double>(
      tokenSequences: [[5, 17, 17, 3], [42, 7], [99]], targets: .labels([1, 0, 1]))
    let (J, losses) = try bag.perExampleGradients(
      parameters: bag.initialParameters(seed: 1), batch: reviews, representation: .factored)
    print(losses.count, J.squaredRowNorms())      // each example's gradient touches its own tokens only

    _ = (bag, reviews, J, losses)  // generated: the values shown
  }

  /// Minibatch.docc/PrivateTraining.md, the block at line 35.
  @Test func privateTrainingBlock1() throws {

    // ε after 2,250 steps at σ = 1.5, q = 0.04, δ = 1e-5: 6.7688 by PLD, 7.3291 by RDP.
    let epsilon = try PLDAccountant.epsilon(
      noiseMultiplier: 1.5, samplingRate: 0.04, steps: 2250, delta: 1e-5)
    let rdp = try RDPAccountant.epsilon(
      noiseMultiplier: 1.5, samplingRate: 0.04, steps: 2250, delta: 1e-5)
    // The smallest σ reaching ε = 3 with the same sampling, to 0.1% in σ (2.7613; RDP needs 2.9610).
    let sigma = try PLDAccountant.noiseMultiplier(
      targetEpsilon: 3, samplingRate: 0.04, steps: 2250, delta: 1e-5)
    // A schedule of σ is accounted phase by phase.
    var accountant = try PLDAccountant()
    try accountant.compose(noiseMultiplier: 1.0, samplingRate: 0.01, steps: 500)
    try accountant.compose(noiseMultiplier: 2.0, samplingRate: 0.02, steps: 300)
    print(PrivacyFormatting.roundedUp(epsilon), rdp, sigma, try accountant.epsilon(delta: 1e-5))

    // One private gradient by hand: clip, add noise, divide by the expected batch size.
    let J = try PerExampleGradients<Double>(rows: [[3, 4], [0.3, 0.4], [0, 0]])
    let clipped = try J.clippedSum(.flat(bound: 1))       // (3,4)/5 + (0.3,0.4) + 0 = (0.9, 1.2)
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: 1), noiseMultiplier: 1.1, delta: 1e-5, noiseSeed: 7)
    var noise = GaussianNoise(seed: 7)
    let gradient = try privacy.noisyGradient(
      clippedSum: clipped.sum, expectedBatchSize: 3, noise: &noise)
    print(clipped.sum, clipped.clippedExamples, gradient)

    _ = (epsilon, rdp, sigma, accountant, J, clipped, privacy, noise, gradient)  // generated: the values shown
  }

  /// Minibatch.docc/ThePipeline.md, the block at line 52.
  @Test func thePipelineBlock1() throws {

    let J = try PerExampleGradients<Double>(rows: [[1.5, -2.0, 1.1], [1.2, 2.3, -1.1]])
    var accumulator = try GradientAccumulator<Double>(parameterCount: 3)
    try accumulator.add(J, reductionWeights: [1, 3])
    let weighted = try accumulator.gradient(normalizedBy: .weightTotal)   // (g₁ + 3·g₂)/4
    let sum = try accumulator.gradient(normalizedBy: .sum)                // g₁ + 3·g₂
    print(weighted, sum)

    _ = (J, accumulator, weighted, sum)  // generated: the values shown
  }

  /// Minibatch.docc/TrainingAcrossProcesses.md, the block at line 27 (compiled, not run: MPI_Init belongs under mpirun).
  func trainingAcrossProcessesBlock1() throws {

    let world = try MPIEnvironment.initialize()     // every rank, once
    let model = try MultilayerPerceptron<Double>(layerSizes: [64, 32, 10])
    let w = model.initialParameters(seed: 0)        // the same on every rank
    let (batch, _) = try Digits.loadStandardized(Double.self)   // the global batch, on every rank
    let mine = world.slice(of: batch.count)         // empty on some ranks when k < ranks
    var accumulator = try GradientAccumulator<Double>(parameterCount: model.parameterCount)
    try world.agreeing {                            // a local failure reaches every rank
      if !mine.isEmpty {
        let (gradients, _) = try model.perExampleGradients(
          parameters: w, batch: try batch.gathering(mine))
        try accumulator.add(gradients)
      }
    }
    try accumulator.allreduce(over: world)          // one MPI_Allreduce of n + 3 Doubles
    let mean = try accumulator.gradient(normalizedBy: .weightTotal)

    _ = (world, model, w, batch, mine, accumulator, mean)  // generated: the values shown
  }

}
