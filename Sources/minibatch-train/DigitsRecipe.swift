import Foundation
import Minibatch

/// The models the example trains.
enum ModelKind: String, CaseIterable, Sendable {
  case softmax
  case mlp
}

/// The optimisers the example offers.
enum OptimizerKind: String, CaseIterable, Sendable {
  case sgd
  case momentum
  case nesterov
  case adam
}

/// A complete training recipe for the bundled digits. The defaults are the ones the tests check
/// (softmax regression ≥ 93 % and the MLP ≥ 96 % test accuracy).
struct DigitsRecipe: Sendable {
  var model: ModelKind
  var batchSize = 32
  /// `nil`: the model's default (``defaultLearningRate``).
  var learningRate: Double?
  /// `nil`: the model's default (``defaultEpochs``).
  var epochs: Int?
  var seed: UInt64 = 0
  var optimizer: OptimizerKind = .momentum
  var hiddenLayers: [Int] = [64]
  var hiddenActivation: Activation = .relu
  var l2Penalty = 1e-4
  var cosineSchedule = true
  var threads = ProcessInfo.processInfo.activeProcessorCount

  var defaultEpochs: Int { model == .softmax ? 20 : 30 }
  var defaultLearningRate: Double {
    switch optimizer {
    case .adam: return 3e-3
    case .sgd: return model == .softmax ? 0.2 : 0.1
    case .momentum, .nesterov: return model == .softmax ? 0.05 : 0.02
    }
  }

  /// What a run produced.
  struct Outcome: Sendable {
    var reports: [EpochReport]
    var trainAccuracy: Double
    var testAccuracy: Double
    var parameterCount: Int
  }

  /// Trains in precision `Scalar`; `progress` receives one line per epoch.
  func run<Scalar: BLASScalar>(
    _: Scalar.Type, progress: (String) -> Void = { _ in }
  ) throws -> Outcome {
    let (train, test) = try Digits.loadStandardized(Scalar.self)
    switch model {
    case .softmax:
      let model = try SoftmaxRegression<Scalar>(
        inputCount: Digits.featureCount, classCount: Digits.classCount)
      return try run(model: model, train: train, test: test, progress: progress)
    case .mlp:
      let model = try MultilayerPerceptron<Scalar>(
        layerSizes: [Digits.featureCount] + hiddenLayers + [Digits.classCount],
        hiddenActivation: hiddenActivation)
      return try run(model: model, train: train, test: test, progress: progress)
    }
  }

  func run<Model: PerExampleGradientModel>(
    model: Model, train: Batch<Model.Scalar>, test: Batch<Model.Scalar>,
    progress: (String) -> Void
  ) throws -> Outcome {
    typealias Scalar = Model.Scalar
    let regularization: Regularization<Scalar> = l2Penalty > 0 ? .l2(Scalar(l2Penalty)) : .none
    switch optimizer {
    case .sgd:
      let optimizer = try StochasticGradientDescent<Scalar>(regularization: regularization)
      return try run(model, optimizer, train, test, progress)
    case .momentum, .nesterov:
      let optimizer = try MomentumSGD<Scalar>(
        momentum: 0.9, nesterov: self.optimizer == .nesterov, regularization: regularization)
      return try run(model, optimizer, train, test, progress)
    case .adam:
      return try run(model, try Adam<Scalar>(regularization: regularization), train, test, progress)
    }
  }

  func run<Model: PerExampleGradientModel, Opt: Optimizer>(
    _ model: Model, _ optimizer: Opt, _ train: Batch<Model.Scalar>, _ test: Batch<Model.Scalar>,
    _ progress: (String) -> Void
  ) throws -> Outcome where Opt.Scalar == Model.Scalar {
    let epochs = self.epochs ?? defaultEpochs
    let rate = learningRate ?? defaultLearningRate
    let schedule: LearningRateSchedule =
      cosineSchedule
      ? .cosine(initial: rate, minimum: rate / 100, epochs: max(1, epochs)) : .constant(rate)
    let sampler = try BatchSampler(exampleCount: train.count, batchSize: batchSize, seed: seed)
    var trainer = MinibatchTrainer(
      model: model, optimizer: optimizer, sampler: sampler, schedule: schedule,
      parallelism: .threads(threads))
    var parameters = model.initialParameters(seed: seed)
    var reports: [EpochReport] = []
    try trainer.train(parameters: &parameters, data: train, epochs: epochs, evaluation: test) {
      report, current in
      reports.append(report)
      let trainAccuracy = try model.accuracy(parameters: current, batch: train)
      progress(
        String(
          format: "epoch %3d  loss %.4f  train %.2f%%  test %.2f%%  lr %.4g  %.0f examples/s",
          report.epoch + 1, report.meanLoss, 100 * trainAccuracy,
          100 * (report.evaluationAccuracy ?? .nan), report.learningRate, report.examplesPerSecond))
    }
    return Outcome(
      reports: reports, trainAccuracy: try model.accuracy(parameters: parameters, batch: train),
      testAccuracy: try model.accuracy(parameters: parameters, batch: test),
      parameterCount: model.parameterCount)
  }
}
