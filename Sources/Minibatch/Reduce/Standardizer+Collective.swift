extension Standardizer {
  /// Fits means and scales on the examples every rank of `collective` holds together (the
  /// shards of one data set, each read a piece at a time): the two passes of
  /// ``init(fitting:)-(ExampleSource<Scalar>)``, each followed by one
  /// ``ReductionCollective/sum(_:)`` —
  /// of the counts and column sums `Σ x`, then of the centred `Σ (x − μ)²` about the global mean.
  /// Every rank gets the same bits; they equal the one-process fit on all the rows up to the
  /// rounding of the ranks' partial sums (the order of additions differs), and the second pass is
  /// as stable as the one-process fit (no `E[x²] − μ²`, no average of averages).
  ///
  /// With every rank holding the same examples (no shards), the result counts them once per
  /// rank: the means and scales are those of one rank's data.
  ///
  /// - Throws, on every rank alike: ``MinibatchError/failedOnRank(rank:reason:)`` when a rank's
  ///   pass failed (a non-finite input, a read error), naming it;
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` when the ranks' examples have
  ///   different numbers of features (or a rank holds none); ``MinibatchError/emptyBatch`` when
  ///   no rank holds an example; the transport's errors.
  public init(
    fitting source: some ExampleSource<Scalar>, across collective: some ReductionCollective
  ) throws(MinibatchError) {
    let features = try collective.agreeing {
      try source.heldExamples.first.map { try source.gathering([$0]).inputs.columns }
    }
    let (count, sums) = try collective.agreeing(
      on: [("features to standardise", features.map(String.init) ?? "none (no examples held)")]
    ) { try Self.columnSums(of: source) }
    var totals = [count] + (sums ?? [])
    try collective.sum(&totals)
    guard totals[0] > 0 else { throw .emptyBatch }
    let mean = totals.dropFirst().map { $0 / totals[0] }
    var squares = try collective.agreeing { try Self.squaredDeviations(of: source, from: mean) }
    try collective.sum(&squares)
    self.init(count: totals[0], mean: mean, squares: squares)
  }
}
