/// Where a trainer reads its examples: a data set in memory (``Batch``), a file mapped into
/// memory, or one rank's shard of a data set. The trainer only ever asks for the examples of one
/// (physical) batch, by their global indices, so a source need not hold anything in memory.
///
/// Indices are global: a data set has `N` = ``exampleCount`` examples numbered `0..<N`, and a
/// source holds the examples ``heldExamples`` (all of them, or a shard's contiguous range). A
/// sampler draws its batches from `0..<N`; under data parallelism each rank computes the part of
/// every global batch that its source holds.
public protocol ExampleSource<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// `N`, the examples of the whole data set (every shard's together).
  var exampleCount: Int { get }

  /// The global indices of the examples this source can gather: `0..<N` for a whole data set, a
  /// shard's range otherwise.
  var heldExamples: Range<Int> { get }

  /// The examples at the global `indices` (each in ``heldExamples``), in that order, as a batch
  /// of `indices.count` examples (a copy of those rows only).
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` for no indices,
  ///   ``MinibatchError/indexOutOfRange(index:count:of:)`` for an index that is not held, or the
  ///   source's own read errors.
  func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch<Scalar>

  /// Calls `body` with the held examples in order, in consecutive pieces of at most
  /// `maximumCount` examples each, and the global index of each piece's first example: for
  /// passes over the whole source (validation) that must not copy it at once. A source in memory
  /// may hand over all of itself in one piece.
  func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError)

  /// A hash of the held examples' bits (inputs and targets), as text: equal sources give equal
  /// fingerprints, so ranks can check they hold the same data without sending it.
  var fingerprint: String { get }
}

extension Batch: ExampleSource {
  public var exampleCount: Int { count }
  public var heldExamples: Range<Int> { 0..<count }

  /// Calls `body` once, with the whole batch (no copy).
  public func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError) {
    try body(0, self)
  }
}
