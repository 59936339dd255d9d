import Foundation

/// Raw, mergeable state of reduced per-example gradients, finalised once with a named
/// ``GradientNormalization``.
///
/// Adding a batch (any ``PerExampleGradientOperator``) with reduction weights `v_i` (example
/// weights, clipping factors, or 1) accumulates
///
/// ```
/// S = Σ_i v_i·g_i   (weightedSum, n entries)    V = Σ_i v_i   (weightTotal)    m = Σ 1   (exampleCount)
/// optionally  Q = Σ_i v_i·‖g_i‖²   and the per-parameter moments μ_j, M2_j = Σ_i v_i·(g_ij − μ_j)²
/// ```
///
/// in Double whatever `Scalar` is. Each batch is reduced with `v_i/V` (scaled inside the sum, so
/// nothing overflows in `Scalar` when the mean is finite) and multiplied back by `V` in Double.
/// Accumulators of chunks, threads or processes combine with ``merge(_:)``: sums add, moments
/// (a ``GradientMoments``) combine by its Chan merge, ``GradientMoments/merge(_:)``, so merging
/// the same parts in the same order gives the same bits, however the parts were computed. ``gradient(normalizedBy:)`` divides `S` by the normalisation's denominator once.
///
/// A batch's own moments are two-pass: its weighted mean `μ = Jᵀ(v/V)` first, then
/// `M2_j = Σ_i v_i·(g_ij − μ_j)²` over tiles of `J` written by
/// ``PerExampleGradientOperator/writeTile(rows:columns:into:rowStride:)``, in Double (the
/// one-pass `V·(E_v[g²] − μ²)` loses every digit when `|μ_j| ≫ σ_j`). That second pass forms `J`
/// tile by tile whatever the representation: O(k·n) work, memory O(threads × tile).
public struct GradientAccumulator<Scalar: BLASScalar>: Sendable, Equatable {
  /// `n`, the length of every gradient.
  public let parameterCount: Int
  /// `S = Σ_i v_i·g_i` over everything added (`n` entries, Double).
  public private(set) var weightedSum: [Double]
  /// `V = Σ_i v_i`.
  public private(set) var weightTotal: Double = 0
  /// `m`, the examples added (whatever their weights).
  public private(set) var exampleCount = 0
  /// `Q = Σ_i v_i·‖g_i‖²`, when the accumulator was created to track it. The squared norms are
  /// Doubles for either scalar type (see ``PerExampleGradientOperator/squaredRowNorms(parallelism:)``),
  /// so a Float gradient's `Q` of 2.5e61 is finite; `Q` is `+∞` only when `Σ v_i·‖g_i‖²`
  /// exceeds Double's range (Double gradients with ‖g_i‖ beyond about 1.3e154).
  public private(set) var weightedSquaredNormSum: Double?
  /// Per-parameter moments of everything added (`V`, `V₂ = Σ v_i²`, `m`, `μ`, `M2`; see
  /// ``GradientMoments``), when the accumulator was created to track them.
  public private(set) var moments: GradientMoments?

  /// An empty accumulator for gradients of `parameterCount` entries.
  ///
  /// - Throws: ``MinibatchError/noParameters`` or
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for a bad `parameterCount`.
  public init(
    parameterCount: Int, tracksSquaredNorms: Bool = false, tracksMoments: Bool = false
  ) throws(MinibatchError) {
    try PerExampleGradients<Scalar>.validateShape(k: 1, n: parameterCount)
    self.parameterCount = parameterCount
    weightedSum = filled(0.0, count: parameterCount)
    weightedSquaredNormSum = tracksSquaredNorms ? 0 : nil
    moments = tracksMoments ? GradientMoments(zerosFor: parameterCount) : nil
  }

  /// Adds a batch's gradients with reduction weights `v` (example weights, clipping factors; `nil`:
  /// every `v_i = 1`).
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `gradients` has another `n`
  ///   or `v` another `k`; ``MinibatchError/nonFiniteValue(index:of:)`` /
  ///   ``MinibatchError/negativeValue(index:value:of:)`` for a bad weight, or for a batch whose
  ///   reduced values are not finite. On error the accumulator is unchanged.
  public mutating func add(
    _ gradients: some PerExampleGradientOperator<Scalar>, reductionWeights v: [Scalar]? = nil,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(gradients.parameterCount, expected: parameterCount, of: "parameters (n)")
    let k = gradients.exampleCount
    let weights = v ?? filled(1, count: k)
    try validateCount(weights.count, expected: k, of: "reduction weights (length k)")
    let total = try validatedWeightSum(weights, of: "reduction weights")
    guard total > 0 else {
      exampleCount += k
      moments?.addUnweighted(exampleCount: k)
      return
    }
    // Everything that can fail runs before the first change.
    let scaled = try scaledReductionVector(weights, denominator: total)
    let mean = try gradients.reduce(with: scaled, parallelism: parallelism)
    try validateFinite(mean, of: "weighted mean of the batch's gradients")
    var batchMoments: GradientMoments?
    if moments != nil {
      // Second pass, centred on the batch's mean: Σ v_i·(g_ij − μ_j)², never E[g²] − μ².
      let center = mean.map { Double($0) }
      let m2 = try centredSquares(
        gradients, weights: weights, center: center, parallelism: parallelism)
      batchMoments = GradientMoments(
        weightTotal: total,
        squaredWeightTotal: weights.reduce(0) { $0 + Double($1) * Double($1) }, exampleCount: k,
        mean: center, m2: m2, exactlyRecomputed: 0)
    }
    let batchNorms = weightedSquaredNormSum.map { _ in
      zip(weights, gradients.squaredRowNorms(parallelism: parallelism)).reduce(0.0) {
        $0 + Double($1.0) * $1.1
      }
    }
    addScaled(mean, by: total, into: &weightedSum)
    weightTotal += total
    exampleCount += k
    if let q = batchNorms { weightedSquaredNormSum! += q }
    if let b = batchMoments { moments!.mergeValidated(b) }
  }

  /// Adds everything `other` accumulated: sums add, moments merge by Chan's formula.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for another `n`,
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` if the two do not track the same
  ///   statistics. On error the accumulator is unchanged.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func merge(_ other: GradientAccumulator) throws(MinibatchError) {
    try validateCount(other.parameterCount, expected: parameterCount, of: "parameters (n)")
    try validateArgument(
      "squared norms: \(other.weightedSquaredNormSum != nil), moments: \(other.moments != nil)",
      named: "tracked statistics",
      expected:
        "squared norms: \(weightedSquaredNormSum != nil), moments: \(moments != nil), as here",
      (other.weightedSquaredNormSum != nil) == (weightedSquaredNormSum != nil)
        && (other.moments != nil) == (moments != nil))
    for j in 0..<parameterCount { weightedSum[j] += other.weightedSum[j] }
    weightTotal += other.weightTotal
    exampleCount += other.exampleCount
    if let q = other.weightedSquaredNormSum { weightedSquaredNormSum! += q }
    if let b = other.moments { moments!.mergeValidated(b) }
  }

  /// The gradient `S / D` (`n` entries) with `D` from `normalization` (see
  /// ``GradientNormalization``), divided in Double.
  ///
  /// - Throws: the errors of ``GradientNormalization/denominator(weightTotal:exampleCount:)``
  ///   (nothing accumulated with ``GradientNormalization/weightTotal``, say), and
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` if an entry is beyond `Scalar`'s range.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func gradient(normalizedBy normalization: GradientNormalization) throws(MinibatchError)
    -> [Scalar]
  {
    let d = try normalization.denominator(weightTotal: weightTotal, exampleCount: exampleCount)
    let gradient = weightedSum.map { Scalar($0 / d) }
    try validateFinite(gradient, of: "normalised gradient")
    return gradient
  }
}

/// `Σ_i v_i·(J[i, j] − c_j)²` for every column `j`, in Double, over tiles of 8 rows × up to
/// ``TileSweep/tileColumns(_:)`` columns written by `writeTile`; the threads own column panels,
/// so the result does not depend on their number.
func centredSquares<Scalar: BLASScalar>(
  _ gradients: some PerExampleGradientOperator<Scalar>, weights v: [Scalar], center: [Double],
  parallelism: Parallelism
) throws(MinibatchError) -> [Double] {
  let (k, n) = (gradients.exampleCount, gradients.parameterCount)
  let tileColumns = TileSweep.tileColumns(Scalar.self)
  var m2 = [Double](repeating: 0, count: n)
  let failure = FirstError()
  m2.withUnsafeMutableBufferPointer { m2 in
    let result = SendableMutablePointer(m2.baseAddress!)
    TileSweep.forEachPanel(Scalar.self, n: n, parallelism: parallelism) { panel in
      var tile = [Scalar](repeating: 0, count: 8 * tileColumns)
      for tileStart in stride(from: panel.lowerBound, to: panel.upperBound, by: tileColumns) {
        let columns = tileStart..<min(panel.upperBound, tileStart + tileColumns)
        for start in stride(from: 0, to: k, by: 8) {
          let rows = start..<min(k, start + 8)
          do {
            try tile.withUnsafeMutableBufferPointer { buffer in
              try gradients.writeTile(
                rows: rows, columns: columns, into: buffer, rowStride: columns.count)
            }
          } catch {
            failure.record(error)
            return
          }
          TileSweep.addCentredSquares(
            tile, rows: rows, columns: columns, weights: v, center: center, into: result.pointer)
        }
      }
    }
  }
  if let error = failure.error { throw error }
  return m2
}

/// The first error thrown by any of several threads.
final class FirstError: @unchecked Sendable {
  private let lock = NSLock()
  private var first: MinibatchError?
  var error: MinibatchError? { lock.withLock { first } }
  func record(_ error: Error) {
    lock.withLock {
      if first == nil {
        first =
          (error as? MinibatchError)
          ?? .invalidArgument(
            name: "tile", value: "\(error)", expected: "a tile the operator can write")
      }
    }
  }
}

/// `sum ← sum + weight·values`, in Double.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func addScaled<Scalar: BLASScalar>(_ values: [Scalar], by weight: Double, into sum: inout [Double])
{
  sum.withUnsafeMutableBufferPointer { sum in
    values.withUnsafeBufferPointer { values in
      for j in 0..<sum.count { sum[j] += Double(values[j]) * weight }
    }
  }
}

extension GradientAccumulator {
  /// Replaces this rank's accumulator by the sum of every rank's: the exact global raw state, from
  /// which ``gradient(normalizedBy:)`` then normalises once — the global mean is `S/V` of the
  /// summed state, never an average of the ranks' means, so unequal and empty local batches are
  /// weighted correctly.
  ///
  /// First the collective agreement check (one gather: `n`, scalar type and tracked statistics
  /// equal on every rank), then `sumAcrossRanks(over:)`: the state `[S (n), V, m, Q]` is one
  /// contiguous vector of `n + 3` Doubles (Float gradients too; `n + 4` with moments, for `V₂`)
  /// summed by one ``ReductionCollective/sum(_:)``. Moments take a second sum of `n`: with the
  /// global mean `μ = S/V`, each rank adds `M2_r + V_r·(μ_r − μ)²` (the parallel-axis form of
  /// Chan's merge), so no rank ever forms `E[g²] − μ²`.
  ///
  /// Every rank holds the same bits afterwards. The sum is over ranks, so the result equals that
  /// of one process accumulating the union of the local batches to rounding (the partial sums
  /// differ with the split), and it is the same on every run with the same ranks.
  ///
  /// - Throws, on every rank alike (nothing changed):
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` when the ranks differ in `n`,
  ///   scalar type or tracked statistics; the transport's errors.
  public mutating func allreduce(over collective: some ReductionCollective) throws(MinibatchError) {
    try collective.agree(
      on: [
        ("parameters (n)", "\(parameterCount)"), ("scalar type", "\(Scalar.self)"),
        ("tracks squared norms", "\(weightedSquaredNormSum != nil)"),
        ("tracks moments", "\(moments != nil)"),
      ], localFailure: nil)
    try sumAcrossRanks(over: collective)
  }

  /// The sums of ``allreduce(over:)`` without its agreement check (see there for what is summed):
  /// one sum of `[S, V, m, Q]` (and `V₂` with moments), then the moments' second sum.
  ///
  /// For a caller that has already agreed with every rank, once, on what the check compares
  /// (`n`, the scalar type, the tracked statistics; the trainer does before its first step, and
  /// its accumulators keep their shape): every rank must call it with the same shape, or the
  /// transport's sums do not match (MPI may hang or fail). Every rank holds the same bits
  /// afterwards.
  ///
  /// - Throws: the transport's errors (nothing changed).
  mutating func sumAcrossRanks(over collective: some ReductionCollective) throws(MinibatchError) {
    var state = weightedSum
    state += [weightTotal, Double(exampleCount), weightedSquaredNormSum ?? 0]
    if let moments { state.append(moments.squaredWeightTotal) }
    try collective.sum(&state)
    let n = parameterCount
    let total = state[n]
    var globalMoments = moments
    if let local = moments {
      globalMoments = try local.acrossRanks(
        over: collective, weightedMeanSum: Array(state[0..<n]), weightTotal: total,
        squaredWeightTotal: state[n + 3], exampleCount: Int(state[n + 1]),
        exactlyRecomputed: local.exactlyRecomputed)
    }
    weightedSum = Array(state[0..<n])
    weightTotal = total
    exampleCount = Int(state[n + 1])
    if weightedSquaredNormSum != nil { weightedSquaredNormSum = state[n + 2] }
    moments = globalMoments
  }
}
