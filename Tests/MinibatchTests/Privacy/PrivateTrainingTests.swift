import Minibatch
import MinibatchTestSupport
import Testing

/// DP-SGD through the trainer: with σ = 0 and C = ∞ it is the non-private run on the same Poisson
/// batches; seeded runs are bit-identical; ε is reported per epoch; bad settings are refused
/// before any step.
@Suite struct PrivateTrainingTests {
  func models() throws -> [(String, any PerExampleGradientModel<Double>, OutputLoss)] {
    [
      ("logistic", try LogisticRegression<Double>(inputCount: 6), .binaryCrossEntropy),
      (
        "mlp", try MultilayerPerceptron<Double>(layerSizes: [6, 5, 3], hiddenActivation: .tanh),
        .softmaxCrossEntropy
      ),
    ]
  }

  @Test(arguments: [GradientRepresentation.automatic, .stored, .streamed])
  func noNoiseAndNoClippingIsPlainTraining(_ representation: GradientRepresentation) throws {
    for (name, model, loss) in try models() {
      try checkEquivalence(model, loss: loss, representation: representation, name: name)
    }
  }

  func checkEquivalence<Model: PerExampleGradientModel>(
    _ model: Model, loss: OutputLoss, representation: GradientRepresentation, name: String
  ) throws where Model.Scalar == Double {
    let data = try randomBatch(
      Double.self, k: 60, d: 6, outputs: model.outputCount, loss: loss, seed: 4)
    // q = 0.01 on 60 examples: most batches are empty (noise-only steps with σ = 0 change
    // nothing under plain SGD, and the plain trainer skips them).
    for rate in [0.2, 0.01] {
      let sampler = try BatchSampler(
        exampleCount: 60, poissonRate: rate, stepsPerEpoch: 12, seed: 9)
      let optimizer = try StochasticGradientDescent<Double>()
      var plain = MinibatchTrainer(
        model: model, optimizer: optimizer, sampler: sampler, schedule: .constant(0.3),
        representation: representation,
        normalization: .fixedDenominator(sampler.expectedBatchSize))
      let privacy = try DifferentialPrivacy(
        clipping: .flat(bound: .infinity), noiseMultiplier: 0, delta: 1e-5, noiseSeed: 1)
      var privateTrainer = MinibatchTrainer(
        model: model, optimizer: optimizer, sampler: sampler, schedule: .constant(0.3),
        representation: representation, normalization: .expectedBatchSize, privacy: privacy)
      var (w1, w2) = (model.initialParameters(seed: 2), model.initialParameters(seed: 2))
      var reports: [EpochReport] = []
      try plain.train(parameters: &w1, data: data, epochs: 3)
      try privateTrainer.train(parameters: &w2, data: data, epochs: 3) { report, _ in
        reports.append(report)
      }
      #expect(relativeError(w2, w1) <= 1e-12, "\(name) \(representation) q=\(rate)")
      #expect(w1 != model.initialParameters(seed: 2))
      #expect(reports.map(\.epsilon) == [Double.infinity, .infinity, .infinity])
      #expect(reports.allSatisfy { $0.clippedExamples == 0 })
    }
  }

  /// A noisy, clipped run: reproducible with a seed, different without, ε as the accountant
  /// says after each epoch, per-block clipping accepted.
  @Test func seededPrivateRunsAreReproducible() throws {
    let model = try MultilayerPerceptron<Float>(layerSizes: [6, 5, 3], hiddenActivation: .relu)
    let data = try randomBatch(
      Float.self, k: 80, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 1)
    let sampler = try BatchSampler(exampleCount: 80, poissonRate: 0.1, seed: 3)
    func run(_ privacy: DifferentialPrivacy) throws -> ([Float], [EpochReport]) {
      var trainer = MinibatchTrainer(
        model: model, optimizer: try MomentumSGD<Float>(momentum: 0.9), sampler: sampler,
        schedule: .constant(0.05), normalization: .expectedBatchSize, privacy: privacy)
      var w = model.initialParameters(seed: 0)
      var reports: [EpochReport] = []
      try trainer.train(parameters: &w, data: data, epochs: 2) { report, _ in reports.append(report)
      }
      return (w, reports)
    }
    let seeded = try DifferentialPrivacy(
      clipping: .flat(bound: 0.5), noiseMultiplier: 1.1, delta: 1e-5, noiseSeed: 77)
    let (a, reports) = try run(seeded)
    let (b, _) = try run(seeded)
    #expect(a == b)
    let (c, _) = try run(
      try DifferentialPrivacy(clipping: .flat(bound: 0.5), noiseMultiplier: 1.1, delta: 1e-5))
    #expect(a != c)
    for report in reports {
      let expected = try PLDAccountant.epsilon(
        noiseMultiplier: 1.1, samplingRate: 0.1, steps: (report.epoch + 1) * 10, delta: 1e-5)
      #expect(report.epsilon == expected)
      #expect(report.steps == 10)
    }
    // The same run reported by RDP: the same bits, a larger ε.
    let byRDP = try DifferentialPrivacy(
      clipping: .flat(bound: 0.5), noiseMultiplier: 1.1, delta: 1e-5, noiseSeed: 77,
      accountant: .rdp)
    let (e, rdpReports) = try run(byRDP)
    #expect(e == a)
    for (pld, rdp) in zip(reports, rdpReports) {
      let expected = try RDPAccountant.epsilon(
        noiseMultiplier: 1.1, samplingRate: 0.1, steps: (rdp.epoch + 1) * 10, delta: 1e-5)
      #expect(rdp.epsilon == expected)
      #expect(try #require(rdp.epsilon) > #require(pld.epsilon))
    }
    let perBlock = try DifferentialPrivacy(
      clipping: .perBlock(totalBound: 0.5, blockCount: 4), noiseMultiplier: 1.1, delta: 1e-5,
      noiseSeed: 77)
    let (d, _) = try run(perBlock)
    #expect(d.allSatisfy(\.isFinite) && d != a)
  }

  /// One private step with σ = 0 and a finite bound against the update computed by hand:
  /// `w − η·(Σ_i min(1, C/‖g_i‖)·g_i)/(q·N)`, with the clipped count reported.
  @Test func oneClippedStepMatchesTheFormula() throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [5, 4, 3], hiddenActivation: .tanh)
    let data = try randomBatch(
      Double.self, k: 40, d: 5, outputs: 3, loss: .softmaxCrossEntropy, seed: 8, scale: 4)
    let sampler = try BatchSampler(exampleCount: 40, poissonRate: 0.3, stepsPerEpoch: 1, seed: 2)
    let members = try #require(sampler.batches(epoch: 0).first)
    let w0 = model.initialParameters(seed: 1)
    // By hand, from the stored rows of the batch the sampler draws.
    let (writer, _) = try model.perExampleRowWriter(
      parameters: w0, batch: try data.gathering(members))
    var rows = try PerExampleGradients<Double>(k: members.count, n: model.parameterCount)
    try rows.write(writer)
    let norms = rows.squaredRowNorms().map { $0.squareRoot() }
    let bound = norms.sorted()[norms.count / 2]  // clips about half
    var expected = w0
    var clipped = 0
    for (i, norm) in norms.enumerated() {
      let factor = norm > bound ? bound / norm : 1
      if factor < 1 { clipped += 1 }
      for (j, g) in try rows.row(i).enumerated() { expected[j] -= 0.5 * factor * g / 12 }
    }
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: bound), noiseMultiplier: 0, delta: 1e-5, noiseSeed: 1)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(), sampler: sampler,
      schedule: .constant(0.5), normalization: .expectedBatchSize, privacy: privacy)
    var w = w0
    var report: EpochReport?
    try trainer.train(parameters: &w, data: data, epochs: 1) { epoch, _ in report = epoch }
    #expect(relativeError(w, expected) <= 1e-12)
    #expect(report?.clippedExamples == clipped && clipped > 0)
  }

  @Test func settingsAreCheckedBeforeAnyStep() throws {
    let model = try LogisticRegression<Double>(inputCount: 3)
    let data = try randomBatch(
      Double.self, k: 10, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 1)
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5)
    let poisson = try BatchSampler(exampleCount: 10, poissonRate: 0.5, seed: 1)
    let shuffled = try BatchSampler(exampleCount: 10, batchSize: 5, seed: 1)
    let initial = model.initialParameters(seed: 1)
    func train(
      _ sampler: BatchSampler, _ privacy: DifferentialPrivacy,
      normalization: TrainingNormalization = .expectedBatchSize, weights: [Double]? = nil
    ) throws {
      var trainer = MinibatchTrainer(
        model: model, optimizer: try StochasticGradientDescent<Double>(), sampler: sampler,
        schedule: .constant(0.1), normalization: normalization, privacy: privacy)
      var w = initial
      defer { #expect(w == initial) }
      try trainer.train(parameters: &w, data: data, epochs: 1, exampleWeights: weights)
    }
    expectError(
      .invalidArgument(
        name: "sampler", value: "shuffled batches of 5",
        expected: "Poisson sampling (BatchSampler(exampleCount:poissonRate:…)) for DP-SGD")
    ) { try train(shuffled, privacy) }
    expectError(
      .invalidArgument(
        name: "example weights", value: "given",
        expected: "none with differential privacy (they change each example's sensitivity)")
    ) { try train(poisson, privacy, weights: [Double](repeating: 1, count: 10)) }
    expectError(.shapeMismatch(expected: 2, got: 3, of: "per-block clipping bounds")) {
      try train(
        poisson,
        try DifferentialPrivacy(
          clipping: .perBlock(bounds: [1, 1, 1]), noiseMultiplier: 1, delta: 1e-5))
    }
    for normalization in [TrainingNormalization.sum, .datasetWeightTotal, .weightTotal] {
      expectError(
        .invalidArgument(
          name: "normalization", value: normalization.description,
          expected: ".expectedBatchSize or .fixedDenominator for DP-SGD (never the realised size)")
      ) { try train(poisson, privacy, normalization: normalization) }
    }
  }
}
