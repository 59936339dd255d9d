/// What a model is trained to predict for each example of a batch.
public enum Targets<Scalar: BLASScalar>: Sendable, Equatable {
  /// Real-valued targets, `k × m` (one row per example), for squared-error models.
  case values(Matrix<Scalar>)
  /// One class label per example, in `0..<classCount`, for cross-entropy models. Binary
  /// (logistic) models use `0` for the negative and `1` for the positive class.
  case labels([Int])

  /// Number of examples the targets describe.
  public var count: Int {
    switch self {
    case .values(let matrix): return matrix.rows
    case .labels(let labels): return labels.count
    }
  }

  var kindDescription: String {
    switch self {
    case .values(let matrix): return "real values (\(matrix.columns) per example)"
    case .labels: return "class labels"
    }
  }

  /// The targets of the examples at `indices`, in that order.
  /// - Throws: as ``Matrix/gatheringRows(_:)``.
  public func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Targets {
    guard !indices.isEmpty else { throw .emptyBatch }
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw .indexOutOfRange(index: bad, count: count, of: "example")
    }
    switch self {
    case .values(let matrix): return .values(try matrix.gatheringRows(indices))
    case .labels(let labels): return .labels(indices.map { labels[$0] })
    }
  }
}

/// A batch of `k` examples: inputs `k × d` (one example per row) and their targets.
///
/// A whole data set is a batch too; ``gathering(_:)`` takes the mini-batches out of it.
public struct Batch<Scalar: BLASScalar>: Sendable, Equatable {
  /// The inputs, `k × d`, row `i` is example `i`.
  public let inputs: Matrix<Scalar>
  /// The targets, one per example.
  public let targets: Targets<Scalar>
  /// `‖x_i‖²` for every example, in Double, computed once when the inputs are set and gathered
  /// with them: the factored per-example norms of a network's first layer read these instead of
  /// the `k × d` inputs (for wide inputs, most of the norms' cost).
  let inputSquaredNorms: [Double]

  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if the number of targets is not
  ///   the number of input rows.
  public init(inputs: Matrix<Scalar>, targets: Targets<Scalar>) throws(MinibatchError) {
    try validateCount(targets.count, expected: inputs.rows, of: "targets (one per input row)")
    self.init(checkedInputs: inputs, targets: targets)
  }

  /// A batch of integer token sequences for a network that starts with an ``Embedding``: the
  /// inputs are `k × T` (`T` the longest sequence) with the ids as exact values, shorter sequences
  /// padded with `−1` (padding: no contribution, no gradient).
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless there is one target per
  ///   sequence, ``MinibatchError/emptyBatch`` for no sequences,
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` when every sequence is empty or an
  ///   id is negative or not exactly representable in `Scalar` (beyond 2²⁴ in Float).
  public init(tokenSequences: [[Int]], targets: Targets<Scalar>) throws(MinibatchError) {
    guard !tokenSequences.isEmpty else { throw .emptyBatch }
    let length = tokenSequences.map(\.count).max()!
    try validateArgument(
      length, named: "longest token sequence", expected: "at least one token", length >= 1)
    let limit = 1 << (Scalar.significandBitCount + 1)
    var ids = [Scalar](repeating: -1, count: tokenSequences.count * length)
    for (i, sequence) in tokenSequences.enumerated() {
      for (t, id) in sequence.enumerated() {
        guard id >= 0 && id <= limit else {
          throw .invalidArgument(
            name: "token id of sequence \(i) at position \(t)", value: "\(id)",
            expected: "0...\(limit) (padding is added here)")
        }
        ids[i * length + t] = Scalar(id)
      }
    }
    try self.init(
      inputs: try Matrix(rows: tokenSequences.count, columns: length, elements: ids),
      targets: targets)
  }

  /// Number of examples `k`.
  public var count: Int { inputs.rows }

  /// The examples at `indices`, in that order (a copy).
  /// - Throws: ``MinibatchError/emptyBatch`` for no indices,
  ///   ``MinibatchError/indexOutOfRange(index:count:of:)`` naming the first index outside
  ///   `0..<count`.
  public func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch {
    guard !indices.isEmpty else { throw .emptyBatch }
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw .indexOutOfRange(index: bad, count: count, of: "example")
    }
    return Batch(
      inputs: try inputs.gatheringRows(indices), targets: try targets.gathering(indices),
      inputSquaredNorms: indices.map { inputSquaredNorms[$0] })
  }

  init(checkedInputs inputs: Matrix<Scalar>, targets: Targets<Scalar>) {
    let norms = inputs.withUnsafeElements { x in
      squaredRowNorms(x.baseAddress!, k: inputs.rows, n: inputs.columns)
    }
    self.init(inputs: inputs, targets: targets, inputSquaredNorms: norms)
  }

  init(inputs: Matrix<Scalar>, targets: Targets<Scalar>, inputSquaredNorms: [Double]) {
    assert(inputs.rows == targets.count && inputSquaredNorms.count == inputs.rows)
    self.inputs = inputs
    self.targets = targets
    self.inputSquaredNorms = inputSquaredNorms
  }
}

extension Batch {
  /// A 64-bit hash of the inputs' and targets' bits (FNV-1a over 8-byte words), as hexadecimal:
  /// to check that the ranks of a distributed run hold the same data without sending it
  /// (``ReductionCollective/agreeing(on:_:)``). Equal batches give equal fingerprints; a
  /// difference in any bit almost surely changes it.
  public var fingerprint: String {
    switch targets {
    case .labels(let labels):
      return "\(Minibatch.fingerprint(inputs.elements)) \(Minibatch.fingerprint(labels))"
    case .values(let values):
      return "\(Minibatch.fingerprint(inputs.elements)) \(Minibatch.fingerprint(values.elements))"
    }
  }
}
