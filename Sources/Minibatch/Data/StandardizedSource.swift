/// The examples of `base` with standardised inputs, `x'_j = (x_j − μ_j) / σ_j`, computed as they
/// are read: a data set that is never loaded (``MemoryMappedNPY``) is standardised a batch at a
/// time, with a ``Standardizer`` fitted on its pieces
/// (``Standardizer/init(fitting:)-(ExampleSource<Scalar>)``).
///
/// A gathered batch has the bits of ``Standardizer/transform(_:)-(Batch<Scalar>)`` applied to the
/// base's batch; the targets are the base's.
public struct StandardizedSource<Base: ExampleSource>: ExampleSource {
  public typealias Scalar = Base.Scalar

  /// The examples as they are stored.
  public let base: Base
  /// The transform applied to every input read.
  public let standardizer: Standardizer<Scalar>

  public init(_ base: Base, standardizer: Standardizer<Scalar>) {
    self.base = base
    self.standardizer = standardizer
  }

  public var exampleCount: Int { base.exampleCount }
  public var heldExamples: Range<Int> { base.heldExamples }

  /// The base's examples at `indices`, standardised.
  ///
  /// - Throws: the base's errors, and ``MinibatchError/shapeMismatch(expected:got:of:)`` when its
  ///   examples have another number of features than the standardiser.
  public func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch<Scalar> {
    try standardizer.transform(try base.gathering(indices))
  }

  /// The base's pieces, standardised.
  public func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError) {
    try base.forEachPiece(maximumCount: maximumCount) { (first, piece) throws(MinibatchError) in
      try body(first, try standardizer.transform(piece))
    }
  }

  /// The base's fingerprint and the standardiser's (its means' and scales' bits): equal for
  /// equal bases standardised alike, without a pass over the data.
  public var fingerprint: String {
    "\(base.fingerprint) standardized \(Minibatch.fingerprint(standardizer.means)) "
      + Minibatch.fingerprint(standardizer.scales)
  }
}

extension ExampleSource {
  /// These examples with inputs standardised by `standardizer` as they are read.
  public func standardized(by standardizer: Standardizer<Scalar>) -> StandardizedSource<Self> {
    StandardizedSource(self, standardizer: standardizer)
  }
}
