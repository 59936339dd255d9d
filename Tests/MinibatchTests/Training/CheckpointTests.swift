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
    let bad = TrainingCheckpoint(
      model: softmax, parameters: [1, 2, 3], optimizer: try StochasticGradientDescent<Double>(),
      nextEpoch: 0)
    try JSONEncoder().encode(bad).write(to: URL(fileURLWithPath: path))
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

  /// `write` refuses what `init(contentsOf:)` would refuse (a wrong parameter count, a negative
  /// epoch, non-finite parameters), writes nothing, and leaves an existing file as it was.
  @Test func writeRefusesACheckpointThatCouldNotBeReadBack() throws {
    let model = try SoftmaxRegression<Double>(inputCount: 4, classCount: 3)
    let sgd = try StochasticGradientDescent<Double>()
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-refused-checkpoint-\(UUID().uuidString).json"
    ).path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let good = [Double](repeating: 0.5, count: model.parameterCount)
    expectError(.shapeMismatch(expected: 15, got: 3, of: "parameters (the model's n)")) {
      try TrainingCheckpoint(model: model, parameters: [1, 2, 3], optimizer: sgd, nextEpoch: 0)
        .write(to: path)
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    expectError(.invalidArgument(name: "next epoch", value: "-1", expected: "≥ 0")) {
      try TrainingCheckpoint(model: model, parameters: good, optimizer: sgd, nextEpoch: -1)
        .write(to: path)
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    try TrainingCheckpoint(model: model, parameters: good, optimizer: sgd, nextEpoch: 2)
      .write(to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    var infinite = good
    infinite[4] = .infinity
    #expect(throws: MinibatchError.self) {
      try TrainingCheckpoint(model: model, parameters: infinite, optimizer: sgd, nextEpoch: 3)
        .write(to: path)
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    // A folder that does not exist: a write error, not a read error.
    do {
      try TrainingCheckpoint(model: model, parameters: good, optimizer: sgd, nextEpoch: 2)
        .write(to: "/nonexistent-minibatch-folder/c.json")
      Issue.record("a write into a missing folder succeeded")
    } catch {
      #expect("\(error)".hasPrefix("cannot write /nonexistent-minibatch-folder/c.json:"))
    }
  }

  /// The checkpoint holds the standardiser; a file written without one (as every file before it
  /// was part of the checkpoint) reads with none.
  @Test func checkpointKeepsTheStandardizer() throws {
    let model = try SoftmaxRegression<Float>(inputCount: 2, classCount: 2)
    let standardizer = try Standardizer(fitting: try Matrix<Float>(rows: [[1, 10], [3, 30]]))
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-standardized-checkpoint-\(UUID().uuidString).json"
    ).path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let checkpoint = TrainingCheckpoint(
      model: model, parameters: model.initialParameters(seed: 1),
      optimizer: try StochasticGradientDescent<Float>(), nextEpoch: 1, standardizer: standardizer)
    try checkpoint.write(to: path)
    typealias Saved = TrainingCheckpoint<SoftmaxRegression<Float>, StochasticGradientDescent<Float>>
    #expect(try Saved(contentsOf: path).standardizer == standardizer)
    // The same file without the key: the form written before.
    var object = try #require(
      try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path)))
        as? [String: Any])
    object["standardizer"] = nil
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    let old = try Saved(contentsOf: path)
    #expect(old.standardizer == nil && old.nextEpoch == 1)
  }
}
