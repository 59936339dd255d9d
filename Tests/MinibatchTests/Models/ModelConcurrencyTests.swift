import Minibatch
import MinibatchTestSupport
import Testing

/// Many tasks computing gradients and training at once get exactly the serial results: models
/// and optimisers are values with no shared mutable state.
@Suite struct ModelConcurrencyTests {
  @Test(arguments: allScalarTypes)
  func concurrentGradientsAndTrainingEqualSerialOnes(_ type: any BLASScalar.Type) async throws {
    try await check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) async throws {
    try await check(try MultilayerPerceptron<Scalar>(layerSizes: [12, 16, 4]))
    try await check(
      try Sequential<Scalar>(
        inputShape: TensorShape([3, 4]),
        layers: "conv1d(4,2,padding=1) gelu maxpool1d(2) groupnorm(2) flatten dense(4)"))
  }

  func check<Model: PerExampleGradientModel>(_ model: Model) async throws {
    typealias Scalar = Model.Scalar
    let data = try randomBatch(
      Scalar.self, k: 96, d: 12, outputs: 4, loss: .softmaxCrossEntropy, seed: 5)
    @Sendable func compute(_ threads: Int) throws -> [[Scalar]] {
      let w = model.initialParameters(seed: 3)
      let (rows, losses) = try model.perExampleGradients(
        parameters: w, batch: data, parallelism: .threads(threads))
      let (_, gradient) = try model.meanLossAndGradient(parameters: w, batch: data)
      var trainer = MinibatchTrainer(
        model: model, optimizer: try Adam<Scalar>(regularization: .decoupledWeightDecay(0.01)),
        sampler: try BatchSampler(exampleCount: 96, batchSize: 10, seed: 1),
        schedule: .constant(0.01), parallelism: .threads(threads))
      var trained = w
      try trainer.train(parameters: &trained, data: data, epochs: 2)
      return [rows.elements, losses, gradient, trained]
    }
    let serial = try compute(1)
    let concurrent = try await withThrowingTaskGroup(of: [[Scalar]].self) { group in
      for task in 0..<16 { group.addTask { try compute(1 + task % 3) } }
      var all: [[[Scalar]]] = []
      for try await result in group { all.append(result) }
      return all
    }
    #expect(concurrent.count == 16)
    for results in concurrent { #expect(results == serial) }
  }
}
