/// Splits `0..<exampleCount` into mini-batches of ``batchSize`` indices, reshuffled every epoch.
///
/// The order of epoch `e` depends only on `(seed, e)`: a ``SeededGenerator`` seeded with both
/// drives a Fisher–Yates shuffle whose bounded draws are Minibatch's own (rejection sampling), so
/// the same seed gives the same batches on every machine and Swift version, and any epoch can be
/// reproduced without replaying the ones before it.
///
/// When `batchSize` does not divide `exampleCount`, the last batch of `k' < k` examples is kept
/// (and then averaged with its own `1/k'`, because its gradient matrix has `k'` rows) or dropped.
public struct BatchSampler: Sendable, Hashable {
  /// What to do with the last `exampleCount mod batchSize` examples of an epoch.
  public enum PartialBatch: String, Sendable, Hashable, CaseIterable {
    /// Train on them as a smaller batch (its mean uses `1/k'`, not `1/k`).
    case keep
    /// Skip them this epoch (they are in other positions next epoch).
    case drop
  }

  /// Number of examples in the data set.
  public let exampleCount: Int
  /// Examples per full batch, `k`.
  public let batchSize: Int
  public let partialBatch: PartialBatch
  /// Whether to shuffle each epoch (if not, batches are `0..<k`, `k..<2k`, … every epoch).
  public let shuffles: Bool
  public let seed: UInt64

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `exampleCount < 1`,
  ///   `batchSize < 1`, or `partialBatch == .drop` with `batchSize > exampleCount` (no batch at
  ///   all).
  public init(
    exampleCount: Int, batchSize: Int, partialBatch: PartialBatch = .keep, shuffles: Bool = true,
    seed: UInt64
  ) throws(MinibatchError) {
    try validateArgument(exampleCount, named: "example count", expected: "≥ 1", exampleCount >= 1)
    try validateArgument(batchSize, named: "batch size", expected: "≥ 1", batchSize >= 1)
    if partialBatch == .drop {
      try validateArgument(
        batchSize, named: "batch size",
        expected: "≤ \(exampleCount) examples when dropping partial batches",
        batchSize <= exampleCount)
    }
    self.exampleCount = exampleCount
    self.batchSize = batchSize
    self.partialBatch = partialBatch
    self.shuffles = shuffles
    self.seed = seed
  }

  /// Number of batches per epoch.
  public var batchesPerEpoch: Int {
    let full = exampleCount / batchSize
    return partialBatch == .keep && exampleCount % batchSize != 0 ? full + 1 : full
  }

  /// The batches of epoch `epoch` (0-based): index lists of `batchSize` entries, the last possibly
  /// shorter (``PartialBatch/keep``).
  public func batches(epoch: Int) -> [ArraySlice<Int>] {
    var order = Array(0..<exampleCount)
    if shuffles {
      var generator = SeededGenerator(
        seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
      for i in stride(from: exampleCount - 1, to: 0, by: -1) {
        order.swapAt(i, Int(generator.uniform(below: UInt64(i + 1))))
      }
    }
    return (0..<batchesPerEpoch).map { b in
      order[(b * batchSize)..<min(exampleCount, (b + 1) * batchSize)]
    }
  }
}

extension SeededGenerator {
  /// A uniform integer in `0..<bound` by rejection: draws below `2⁶⁴ mod bound` are redrawn, so
  /// every residue is equally likely. Defined here (not `next(upperBound:)`, whose algorithm the
  /// standard library may change) to keep shuffles identical everywhere.
  mutating func uniform(below bound: UInt64) -> UInt64 {
    precondition(bound > 0)
    let threshold = (0 &- bound) % bound
    while true {
      let draw = next()
      if draw >= threshold { return draw % bound }
    }
  }
}
