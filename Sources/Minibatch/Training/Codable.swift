import Foundation

// Saving and loading. Models, standardisers and optimisers (with their state) are `Codable`;
// decoding runs the same validation as the initialisers, so a damaged or edited file gives a
// `DecodingError` that names the problem, never an invalid value. `TrainingCheckpoint` bundles
// what resuming needs and reads and writes JSON files: training resumed from a checkpoint gives
// the same bits as training that never stopped (tested).

/// Turns a `MinibatchError` found while decoding into a `DecodingError` at `decoder`'s path.
func decodingError(_ error: MinibatchError, _ decoder: Decoder) -> DecodingError {
  .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
}

/// Runs the validating `body` on decoded values, reporting its error as a `DecodingError`.
func validated<T>(_ decoder: Decoder, _ body: () throws(MinibatchError) -> T) throws -> T {
  do {
    return try body()
  } catch {
    throw decodingError(error, decoder)
  }
}

extension MultilayerPerceptron: Codable {
  enum CodingKeys: String, CodingKey { case layerSizes, hiddenActivation, outputLoss }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let layerSizes = try container.decode([Int].self, forKey: .layerSizes)
    let activation = try container.decode(Activation.self, forKey: .hiddenActivation)
    let loss = try container.decode(OutputLoss.self, forKey: .outputLoss)
    self = try validated(decoder) { () throws(MinibatchError) in
      try MultilayerPerceptron(
        layerSizes: layerSizes, hiddenActivation: activation, outputLoss: loss)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(layerSizes, forKey: .layerSizes)
    try container.encode(hiddenActivation, forKey: .hiddenActivation)
    try container.encode(outputLoss, forKey: .outputLoss)
  }
}

/// A single dense layer with `loss` decoded from `decoder`, or a `DecodingError` naming `kind`.
func singleLayer<Scalar: BLASScalar>(
  _ decoder: Decoder, loss: OutputLoss, kind: String
) throws -> MultilayerPerceptron<Scalar> {
  let network = try MultilayerPerceptron<Scalar>(from: decoder)
  guard network.layerSizes.count == 2, network.outputLoss == loss else {
    throw decodingError(
      .invalidArgument(
        name: "model", value: "\(network.layerSizes) \(network.outputLoss)", expected: kind),
      decoder)
  }
  return network
}

extension LinearRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .squaredError, kind: "a linear regression ([d, 1], squared error)")
    guard network.outputCount == 1 else {
      throw decodingError(
        .invalidArgument(
          name: "outputs", value: "\(network.outputCount)", expected: "1 (a linear regression)"),
        decoder)
    }
    self = try validated(decoder) { () throws(MinibatchError) in
      try LinearRegression(inputCount: network.inputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}

extension LogisticRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .binaryCrossEntropy,
      kind: "a logistic regression ([d, 1], binary cross-entropy)")
    self = try validated(decoder) { () throws(MinibatchError) in
      try LogisticRegression(inputCount: network.inputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}

extension SoftmaxRegression: Codable {
  public init(from decoder: Decoder) throws {
    let network: MultilayerPerceptron<Scalar> = try singleLayer(
      decoder, loss: .softmaxCrossEntropy,
      kind: "a softmax regression ([d, c], softmax cross-entropy)")
    self = try validated(decoder) { () throws(MinibatchError) in
      try SoftmaxRegression(inputCount: network.inputCount, classCount: network.outputCount)
    }
  }
  public func encode(to encoder: Encoder) throws { try network.encode(to: encoder) }
}

extension Standardizer: Codable {
  enum CodingKeys: String, CodingKey { case means, scales }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let means = try container.decode([Scalar].self, forKey: .means)
    let scales = try container.decode([Scalar].self, forKey: .scales)
    self = try validated(decoder) { () throws(MinibatchError) in
      try validateCount(scales.count, expected: means.count, of: "scales (one per feature)")
      try validateFinite(means, of: "means")
      try validateArgument(
        scales, named: "scales", expected: "finite and > 0",
        scales.allSatisfy { $0.isFinite && $0 > 0 })
      return Standardizer(means: means, scales: scales)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(means, forKey: .means)
    try container.encode(scales, forKey: .scales)
  }
}

extension StochasticGradientDescent: Codable {
  enum CodingKeys: String, CodingKey { case regularization }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    self = try validated(decoder) { () throws(MinibatchError) in
      try StochasticGradientDescent(regularization: regularization)
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(regularization, forKey: .regularization)
  }
}

extension MomentumSGD: Codable {
  enum CodingKeys: String, CodingKey { case momentum, nesterov, regularization, velocity }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let momentum = try container.decode(Scalar.self, forKey: .momentum)
    let nesterov = try container.decode(Bool.self, forKey: .nesterov)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    let velocity = try container.decode([Scalar].self, forKey: .velocity)
    self = try validated(decoder) { () throws(MinibatchError) in
      var optimizer = try MomentumSGD(
        momentum: momentum, nesterov: nesterov, regularization: regularization)
      try validateFinite(velocity, of: "velocity")
      optimizer.velocity = velocity
      return optimizer
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(momentum, forKey: .momentum)
    try container.encode(nesterov, forKey: .nesterov)
    try container.encode(regularization, forKey: .regularization)
    try container.encode(velocity, forKey: .velocity)
  }
}

extension Adam: Codable {
  enum CodingKeys: String, CodingKey {
    case beta1, beta2, epsilon, regularization, firstMoment, secondMoment, stepCount
  }

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let beta1 = try container.decode(Scalar.self, forKey: .beta1)
    let beta2 = try container.decode(Scalar.self, forKey: .beta2)
    let epsilon = try container.decode(Scalar.self, forKey: .epsilon)
    let regularization = try container.decode(Regularization<Scalar>.self, forKey: .regularization)
    let first = try container.decode([Scalar].self, forKey: .firstMoment)
    let second = try container.decode([Scalar].self, forKey: .secondMoment)
    let steps = try container.decode(Int.self, forKey: .stepCount)
    self = try validated(decoder) { () throws(MinibatchError) in
      var adam = try Adam(
        beta1: beta1, beta2: beta2, epsilon: epsilon, regularization: regularization)
      try validateCount(second.count, expected: first.count, of: "second moment (as the first)")
      try validateFinite(first, of: "first moment")
      try validateFinite(second, of: "second moment")
      try validateArgument(
        steps, named: "step count", expected: "≥ 0, and > 0 exactly when moments are stored",
        steps >= 0 && (steps > 0) == !first.isEmpty)
      (adam.firstMoment, adam.secondMoment, adam.stepCount) = (first, second, steps)
      return adam
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(beta1, forKey: .beta1)
    try container.encode(beta2, forKey: .beta2)
    try container.encode(epsilon, forKey: .epsilon)
    try container.encode(regularization, forKey: .regularization)
    try container.encode(firstMoment, forKey: .firstMoment)
    try container.encode(secondMoment, forKey: .secondMoment)
    try container.encode(stepCount, forKey: .stepCount)
  }
}

/// Everything needed to resume training bit-identically: the model, the parameters, the
/// optimiser with its state, the next epoch (pass it as `firstEpoch`: it selects the shuffle
/// and the learning rate), and the ``Standardizer`` the training data was transformed with, if
/// any (new data must be transformed with it, not with one fitted again). Stored as JSON; Float
/// and Double values round-trip exactly. A file written before the standardiser was part of the
/// checkpoint reads with `standardizer == nil`.
public struct TrainingCheckpoint<
  Model: PerExampleGradientModel & Codable, Opt: Optimizer & Codable
>:
  Sendable, Codable
where Opt.Scalar == Model.Scalar {
  public var model: Model
  public var parameters: [Model.Scalar]
  public var optimizer: Opt
  /// The epoch to resume from (the number of epochs already trained, counting from 0).
  public var nextEpoch: Int
  /// The features' standardiser fitted on the training set, or `nil` (features used as they are).
  public var standardizer: Standardizer<Model.Scalar>?

  public init(
    model: Model, parameters: [Model.Scalar], optimizer: Opt, nextEpoch: Int,
    standardizer: Standardizer<Model.Scalar>? = nil
  ) {
    self.model = model
    self.parameters = parameters
    self.optimizer = optimizer
    self.nextEpoch = nextEpoch
    self.standardizer = standardizer
  }

  /// Checks what ``init(contentsOf:)`` checks: the parameters suit the model (count n, finite
  /// values), the optimiser's state suits the parameters, and the next epoch is `≥ 0`.
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)``,
  ///   ``MinibatchError/nonFiniteValue(index:of:)``, ``MinibatchError/invalidArgument(name:value:expected:)``
  ///   or the optimiser's validation error.
  public func validate() throws(MinibatchError) {
    try validateCount(
      parameters.count, expected: model.parameterCount, of: "parameters (the model's n)")
    try validateFinite(parameters, of: "parameters")
    try optimizer.validate(parameterCount: parameters.count, learningRate: 0)
    try validateArgument(nextEpoch, named: "next epoch", expected: "≥ 0", nextEpoch >= 0)
  }

  /// Writes the checkpoint as JSON to `path`, atomically, after checking it (``validate()``): a
  /// checkpoint that ``init(contentsOf:)`` would refuse is not written, and nothing at `path`
  /// changes.
  /// - Throws: the errors of ``validate()``, and ``MinibatchError/fileUnwritable(path:reason:)``
  ///   when the file cannot be written.
  public func write(to path: String) throws(MinibatchError) {
    try validate()
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw .fileUnwritable(path: path, reason: error.localizedDescription)
    }
  }

  /// Reads a checkpoint written by ``write(to:)`` and checks it (``validate()``): the parameters
  /// must suit the model (count, finiteness) and the optimiser's state the parameters.
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a missing, unreadable or
  ///   malformed file (the reason names what was wrong), and the model's and optimiser's
  ///   validation errors.
  public init(contentsOf path: String) throws(MinibatchError) {
    let checkpoint: TrainingCheckpoint
    do {
      let data = try fileData(atPath: path)
      checkpoint = try JSONDecoder().decode(TrainingCheckpoint.self, from: data)
    } catch let error as DecodingError {
      throw .fileUnreadable(path: path, reason: "not a valid checkpoint: \(error)")
    } catch {
      throw .fileUnreadable(path: path, reason: error.localizedDescription)
    }
    try checkpoint.validate()
    self = checkpoint
  }
}
