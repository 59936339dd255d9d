import Foundation

// Saving and loading. Models, standardisers and optimisers (with their state) are `Codable`,
// each in its `Type+Codable.swift`; decoding runs the same validation as the initialisers, so a
// damaged or edited file gives a `DecodingError` that names the problem, never an invalid value.
// `TrainingCheckpoint` bundles what resuming needs and reads and writes JSON files: training
// resumed from a checkpoint gives the same bits as training that never stopped (tested).

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
