import Foundation

/// Splits `0..<exampleCount` into mini-batches of ``batchSize`` indices, reshuffled every epoch.
///
/// The order of epoch `e` depends only on `(seed, e)`: a ``SeededGenerator`` seeded with both
/// drives a Fisher–Yates shuffle whose bounded draws are Minibatch's own (rejection sampling), so
/// the same seed gives the same batches on every machine and Swift version, and any epoch can be
/// reproduced without replaying the ones before it.
///
/// When `batchSize` does not divide `exampleCount`, the last batch of `k' < k` examples is kept
/// (and then averaged with its own `1/k'`, because its gradient matrix has `k'` rows) or dropped.
///
/// **Poisson sampling** (``init(exampleCount:poissonRate:stepsPerEpoch:seed:)``), which DP-SGD's
/// privacy analysis assumes: at every step each example joins the batch independently with
/// probability `q`, so batch sizes vary (binomial, mean `q·N`, variance `q·(1 − q)·N`) and a batch
/// may be empty. An epoch is ``batchesPerEpoch`` such steps (`round(1/q)` by default).
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
  /// `q`, each example's probability of joining a step's batch, for Poisson sampling; `nil` for
  /// shuffled batches.
  public let poissonRate: Double?
  /// Steps per epoch under Poisson sampling.
  let poissonSteps: Int

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
    poissonRate = nil
    poissonSteps = 0
  }

  /// Poisson sampling: each of the `exampleCount` examples joins each step's batch independently
  /// with probability `poissonRate`; an epoch is `stepsPerEpoch` steps (default `round(1/q)`, at
  /// least 1). The membership of step `s` of epoch `e` depends only on `(seed, e)` and the steps
  /// before it in that epoch (geometric gaps between members drawn from ``SeededGenerator``).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `exampleCount < 1`,
  ///   `q ∉ (0, 1]` or steps per epoch outside `1...10⁶` (the default `round(1/q)` included).
  public init(
    exampleCount: Int, poissonRate: Double, stepsPerEpoch: Int? = nil, seed: UInt64
  ) throws(MinibatchError) {
    try validateArgument(exampleCount, named: "example count", expected: "≥ 1", exampleCount >= 1)
    try validateArgument(
      poissonRate, named: "Poisson sampling rate", expected: "in (0, 1]",
      poissonRate > 0 && poissonRate <= 1)
    let steps = stepsPerEpoch ?? max(1, Int(min(1e9, (1 / poissonRate).rounded())))
    try validateArgument(
      steps, named: "steps per epoch", expected: "1...1000000 (pass stepsPerEpoch for tiny rates)",
      steps >= 1 && steps <= 1_000_000)
    self.exampleCount = exampleCount
    batchSize = max(1, Int((poissonRate * Double(exampleCount)).rounded()))
    partialBatch = .keep
    shuffles = true
    self.seed = seed
    self.poissonRate = poissonRate
    poissonSteps = steps
  }

  /// The expected number of examples per batch: `q·N` under Poisson sampling, ``batchSize``
  /// otherwise. DP-SGD divides its noisy sum by this, not by the realised size.
  public var expectedBatchSize: Double {
    poissonRate.map { $0 * Double(exampleCount) } ?? Double(batchSize)
  }

  /// Number of batches per epoch.
  public var batchesPerEpoch: Int {
    if poissonRate != nil { return poissonSteps }
    let full = exampleCount / batchSize
    return partialBatch == .keep && exampleCount % batchSize != 0 ? full + 1 : full
  }

  /// The batches of epoch `epoch` (0-based): index lists of `batchSize` entries, the last possibly
  /// shorter (``PartialBatch/keep``).
  public func batches(epoch: Int) -> [ArraySlice<Int>] {
    var generator = SeededGenerator(
      seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
    if let poissonRate {
      return (0..<poissonSteps).map { _ in
        ArraySlice(poissonBatch(rate: poissonRate, generator: &generator))
      }
    }
    var order = Array(0..<exampleCount)
    if shuffles {
      for i in stride(from: exampleCount - 1, to: 0, by: -1) {
        order.swapAt(i, Int(generator.uniform(below: UInt64(i + 1))))
      }
    }
    return (0..<batchesPerEpoch).map { b in
      order[(b * batchSize)..<min(exampleCount, (b + 1) * batchSize)]
    }
  }
}

extension BatchSampler {
  /// The sorted members of one Poisson batch: the gap before the next member is geometric,
  /// `⌊log(u)/log(1 − q)⌋` for `u ∈ (0, 1]`, so each example is in with probability `q`,
  /// independently, in O(q·N) draws.
  func poissonBatch(rate q: Double, generator: inout SeededGenerator) -> [Int] {
    var members: [Int] = []
    members.reserveCapacity(Int(q * Double(exampleCount) * 1.2) + 8)
    let logKeep = log1p(-q)
    var position = -1
    while true {
      let u = (Double(generator.next() >> 11) + 1) * 0x1p-53
      let gap = (log(u) / logKeep).rounded(.down)
      guard gap < Double(exampleCount - position - 1) else { break }
      position += Int(gap) + 1
      members.append(position)
    }
    return members
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
