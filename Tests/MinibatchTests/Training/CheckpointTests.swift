import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// Saving and loading: training resumed from a checkpoint file gives the same bits as training
/// that never stopped; damaged or mismatched files are refused with a clear error.
@Suite struct CheckpointTests {
  @Test(arguments: allScalarTypes)
  func resumedTrainingIsBitIdentical(_ type: any BLASScalar.Type) throws {
    try checkResume(type)
  }

  func checkResume<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let model = try MultilayerPerceptron<Scalar>(layerSizes: [6, 8, 3], hiddenActivation: .tanh)
    let data = try randomBatch(
      Scalar.self, k: 40, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 8)
    let sampler = try BatchSampler(exampleCount: 40, batchSize: 7, seed: 3)
    let schedule = LearningRateSchedule.cosine(initial: 0.05, minimum: 0.001, epochs: 6)
    func trainer(_ optimizer: Adam<Scalar>) -> MinibatchTrainer<
      MultilayerPerceptron<Scalar>, Adam<Scalar>
    > {
      MinibatchTrainer(model: model, optimizer: optimizer, sampler: sampler, schedule: schedule)
    }
    var straight = trainer(try Adam<Scalar>.adamW(weightDecay: 0.01))
    var w = model.initialParameters(seed: 1)
    try straight.train(parameters: &w, data: data, epochs: 6)

    var first = trainer(try Adam<Scalar>.adamW(weightDecay: 0.01))
    var v = model.initialParameters(seed: 1)
    try first.train(parameters: &v, data: data, epochs: 3)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-checkpoint-\(Scalar.self)-\(UUID().uuidString).json"
    ).path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try TrainingCheckpoint(model: model, parameters: v, optimizer: first.optimizer, nextEpoch: 3)
      .write(to: path)
    let loaded = try TrainingCheckpoint<MultilayerPerceptron<Scalar>, Adam<Scalar>>(
      contentsOf: path)
    #expect(loaded.model.layerSizes == [6, 8, 3] && loaded.nextEpoch == 3)
    var second = trainer(loaded.optimizer)
    var u = loaded.parameters
    try second.train(parameters: &u, data: data, epochs: 3, firstEpoch: loaded.nextEpoch)
    #expect(u == w, "resumed training differs")
    #expect(second.optimizer.firstMoment == straight.optimizer.firstMoment)
  }

  @Test func valuesRoundTripAndBadFilesAreRefused() throws {
    let encoder = JSONEncoder()
    let decoder = JSONDecoder()
    let standardizer = try Standardizer(
      fitting: try Matrix<Float>(rows: [[1, 10], [2, 10], [4, 10]]))
    let copy = try decoder.decode(
      Standardizer<Float>.self, from: try encoder.encode(standardizer))
    #expect(copy == standardizer)
    var momentum = try MomentumSGD<Double>(momentum: 0.5, nesterov: true)
    var p: [Double] = [1, 2]
    try momentum.step(parameters: &p, gradient: [0.1, -0.3], learningRate: 0.1)
    let restored = try decoder.decode(
      MomentumSGD<Double>.self, from: try encoder.encode(momentum))
    #expect(restored.velocity == momentum.velocity && restored.nesterov)
    let softmax = try SoftmaxRegression<Double>(inputCount: 4, classCount: 3)
    let decodedSoftmax = try decoder.decode(
      SoftmaxRegression<Double>.self, from: try encoder.encode(softmax))
    #expect(decodedSoftmax.classCount == 3 && decodedSoftmax.inputCount == 4)

    // Values that validation refuses are refused when decoded, too.
    let badMomentum = Data(
      #"{"momentum": 1.5, "nesterov": false, "regularization": {"none": {}}, "velocity": []}"#
        .utf8)
    #expect(throws: DecodingError.self) {
      try decoder.decode(MomentumSGD<Double>.self, from: badMomentum)
    }
    let goodMomentum = Data(
      #"{"momentum": 0.5, "nesterov": false, "regularization": {"none": {}}, "velocity": []}"#
        .utf8)
    #expect(try decoder.decode(MomentumSGD<Double>.self, from: goodMomentum).momentum == 0.5)
    let badLayers = Data(
      #"{"layerSizes": [3, 0], "hiddenActivation": "relu", "outputLoss": "squaredError"}"#.utf8)
    #expect(throws: DecodingError.self) {
      try decoder.decode(MultilayerPerceptron<Double>.self, from: badLayers)
    }
    // An MLP is not a logistic regression.
    let mlp = try encoder.encode(try MultilayerPerceptron<Double>(layerSizes: [3, 4, 2]))
    #expect(throws: DecodingError.self) {
      try decoder.decode(LogisticRegression<Double>.self, from: mlp)
    }

    // A checkpoint whose parameters do not suit its model, and a file that is not one.
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-bad-checkpoint-\(UUID().uuidString).json"
    ).path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try TrainingCheckpoint(
      model: softmax, parameters: [1, 2, 3], optimizer: try StochasticGradientDescent<Double>(),
      nextEpoch: 0
    ).write(to: path)
    expectError(.shapeMismatch(expected: 15, got: 3, of: "parameters (the model's n)")) {
      try TrainingCheckpoint<SoftmaxRegression<Double>, StochasticGradientDescent<Double>>(
        contentsOf: path)
    }
    try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
    do {
      _ = try TrainingCheckpoint<SoftmaxRegression<Double>, StochasticGradientDescent<Double>>(
        contentsOf: path)
      Issue.record("a malformed file was accepted")
    } catch {
      #expect("\(error)".contains("not a valid checkpoint"))
    }
  }
}
