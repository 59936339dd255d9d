// Reduce/ turns the per-example gradients of a batch into the vectors an optimiser needs.
//
// Implementation goals, in priority order:
// 1. Accuracy: every reduction is within the forward-error bound of its sums, `(k + 4)·ε·Σ|terms|`,
//    and is scaled inside the sum (`v_i/D`, never `(Σ v_i g_i)/D`), so a finite mean never
//    overflows.
// 2. Determinism: the same inputs give the same bits whatever the thread count (column panels,
//    rows always grouped the same way) and whatever the representation's tiling.
// 3. Speed: stored `J` at the memory bandwidth; factored `J` at the cost of the backward pass's
//    GEMMs; streamed `J` in memory O(threads × tile).

/// The `k × n` per-example gradients of one batch, `J[i, :] = ∇ℓ_i(w)`, seen as an **operator**:
/// the handful of products every reduction needs, whatever the storage.
///
/// ```
/// reduce:          y ← alpha·Jᵀv + beta·y            = alpha·Σ_i v_i·g_i + beta·y      (n entries)
/// reduceSquares:   y ← alpha·(J∘J)ᵀv + beta·y        = alpha·Σ_i v_i·g_i∘g_i + beta·y
/// squaredRowNorms: s_i = ‖g_i‖²                                              (k entries, Double)
/// writeTile:       tile[(i − i₀)·stride + (j − j₀)] = J[i, j]   for i ∈ rows, j ∈ columns
/// ```
///
/// Three representations, tested equal to each other and to a naive reference:
/// - ``PerExampleGradients`` (**stored**): the matrix itself, one GEMV per reduction;
/// - ``FactoredPerExampleGradients`` (**factored**): dense layers' `Δ_l` and `A_{l−1}`, one GEMM per
///   layer, `J` never formed;
/// - ``StreamedPerExampleGradients`` (**streamed**): any ``PerExampleRowWriter`` swept in
///   cache-sized tiles, `J` never stored.
///
/// Nothing here divides by `k`: the reduction vector `v` carries every scaling (`1/k` for the mean,
/// `w_i/W` for a weighted mean, clipping factors), and ``GradientAccumulator`` names the
/// normalisation.
///
/// Every operation validates its arguments and throws before it writes anything. With
/// `beta == 0`, `y` is overwritten (its old contents, even NaN, are never read).
///
/// A type of your own may conform; its `reduce` must not throw for a vector of `k` finite entries
/// (``mean(parallelism:)`` and ``sum(parallelism:)`` rely on it and stop the program otherwise).
public protocol PerExampleGradientOperator<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// `k`, the examples (rows of `J`), at least 1.
  var exampleCount: Int { get }
  /// `n`, the parameters (columns of `J`), at least 1.
  var parameterCount: Int { get }

  /// `y ← alpha·Jᵀv + beta·y`, i.e. `y[j] ← alpha·Σ_i v_i·J[i, j] + beta·y[j]`.
  ///
  /// - Parameters:
  ///   - v: the reduction vector, `k` finite entries.
  ///   - alpha: the factor on `Jᵀv`, finite.
  ///   - beta: the factor on `y`, finite; `0` overwrites `y` without reading it.
  ///   - y: `n` entries; with `beta == 0` only written.
  ///   - parallelism: threads for the package's own kernels (BLAS uses its own).
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for the lengths of `v` and `y`,
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` for a non-finite entry of `v`, `alpha` or
  ///   `beta`. On error `y` is unchanged.
  func reduce(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism
  ) throws(MinibatchError)

  /// `y ← alpha·(J∘J)ᵀv + beta·y`, i.e. `y[j] ← alpha·Σ_i v_i·J[i, j]² + beta·y[j]`: the
  /// (weighted) second moments of every parameter's gradient. Arguments and errors as
  /// ``reduce(with:alpha:beta:into:parallelism:)``.
  func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism
  ) throws(MinibatchError)

  /// The squared Euclidean norm of every example's gradient, `‖g_i‖² = Σ_j J[i, j]²` (`k`
  /// entries), accumulated **and returned in Double** whatever `Scalar` is: a Float gradient's
  /// `‖g‖²` up to Float's largest squared (3.4e38)² is finite. For Double gradients a square may
  /// leave Double's range although the norm does not (‖g‖ > 1.3e154 gives +∞, ‖g‖ < 1.5e−154
  /// loses digits or gives 0); ``rowNorms(parallelism:)`` is exact to rounding for those too.
  func squaredRowNorms(parallelism: Parallelism) -> [Double]

  /// `‖g_i[b]‖²` for every block `b` and example `i`: `blocks.count` arrays of `k` entries, in
  /// Double. A default computes them from tiles (one pass over `J`); the stored and factored
  /// representations compute them directly.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless the blocks cover `n`.
  func squaredBlockNorms(
    _ blocks: ParameterBlocks, parallelism: Parallelism
  ) throws(MinibatchError) -> [[Double]]

  /// For every block `b`: `y[b] ← alpha·Σ_i v_b[i]·J[i, b] + beta·y[b]`, each block reduced with
  /// its own vector `v_b` (`blockVectors[b]`, `k` finite entries). With one block it is
  /// ``reduce(with:alpha:beta:into:parallelism:)``.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for the blocks, the number or
  ///   lengths of the vectors or `y`; ``MinibatchError/nonFiniteValue(index:of:)``. On error `y`
  ///   is unchanged.
  func reduce(
    blockVectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar, beta: Scalar,
    into y: inout [Scalar], parallelism: Parallelism
  ) throws(MinibatchError)

  /// The per-example **Gram matrix** `G = J·Jᵀ` (`k × k`, `G[i, j] = g_i·g_j`). A default
  /// computes it from column tiles of `J` (one GEMM each); the stored `J` is one GEMM, and the
  /// factored `J` is `Σ_l (Δ_lΔ_lᵀ)∘(A_{l−1}A_{l−1}ᵀ + 1)` (two GEMMs per layer, `J` never
  /// formed).
  ///
  /// - Throws: ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when `k × k` does not fit.
  func gramMatrix(parallelism: Parallelism) throws(MinibatchError) -> Matrix<Scalar>

  /// Writes the tile `rows × columns` of `J` into `tile` with `rowStride` scalars between rows:
  /// `tile[(i − rows.lowerBound)·rowStride + (j − columns.lowerBound)] = J[i, j]`.
  ///
  /// - Throws: as ``PerExampleRowWriter/write(rows:columns:into:rowStride:)``.
  func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError)
}

// MARK: - The named reductions, for every representation

extension PerExampleGradientOperator {
  /// The averaged gradient `(1/k)·Σ_i g_i`, the gradient of the **mean** loss `(1/k)·Σ_i ℓ_i`:
  /// ``reduce(with:alpha:beta:into:parallelism:)`` with `v_i = 1/k` (scaled inside the sum, so it
  /// is finite whenever the mean is). Returns `n` entries; it cannot fail.
  ///
  /// ```
  /// rows (1.5, −2.0, 1.1, 0.4, −0.9) and (1.2, 2.3, −1.1, −0.8, −0.7)
  /// mean → (1.35, 0.15, 0, −0.2, −0.8)
  /// ```
  @inlinable
  public func mean(parallelism: Parallelism = .automatic) -> [Scalar] {
    reducedUnchecked(
      with: filled(1 / Scalar(exampleCount), count: exampleCount),
      parallelism: parallelism)
  }

  /// The summed gradient `Σ_i g_i`, the gradient of the **summed** loss (`k` times
  /// ``mean(parallelism:)``): `v_i = 1`. Returns `n` entries.
  @inlinable
  public func sum(parallelism: Parallelism = .automatic) -> [Scalar] {
    reducedUnchecked(
      with: filled(1, count: exampleCount), parallelism: parallelism)
  }

  /// The weighted mean `Σ_i e_i·g_i / Σ_i e_i`, the gradient of the weighted mean loss
  /// `Σ_i e_i·ℓ_i / Σ_i e_i` of this batch: `v_i = e_i/Σe`, formed in Double. Weights are
  /// relative: scaling all of them changes nothing; equal weights give ``mean(parallelism:)``.
  ///
  /// - Parameters:
  ///   - exampleWeights: `k` finite values `≥ 0` with a positive sum.
  ///   - parallelism: threads for the package's own kernels.
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)``,
  ///   ``MinibatchError/nonFiniteValue(index:of:)``,
  ///   ``MinibatchError/negativeValue(index:value:of:)``, ``MinibatchError/zeroTotalWeight(total:)``
  ///   (also when the total is too small to divide by).
  public func weightedMean(
    exampleWeights: [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    let total = try validatedWeightTotal(exampleWeights, count: exampleCount)
    let v = try scaledReductionVector(exampleWeights, denominator: total)
    return reducedUnchecked(with: v, parallelism: parallelism)
  }

  /// `alpha·Jᵀv = alpha·Σ_i v_i·g_i` for a caller's own vector `v` (`k` finite entries), as a new
  /// vector of `n` entries.
  ///
  /// - Throws: as ``reduce(with:alpha:beta:into:parallelism:)``.
  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    var y: [Scalar] = filled(0, count: parameterCount)
    try reduce(with: v, alpha: alpha, beta: 0, into: &y, parallelism: parallelism)
    return y
  }

  /// ``reduce(with:alpha:beta:into:parallelism:)`` on one thread per core.
  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar]
  ) throws(MinibatchError) {
    try reduce(with: v, alpha: alpha, beta: beta, into: &y, parallelism: .automatic)
  }

  /// ``reduceSquares(with:alpha:beta:into:parallelism:)`` on one thread per core.
  public func reduceSquares(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar]
  ) throws(MinibatchError) {
    try reduceSquares(with: v, alpha: alpha, beta: beta, into: &y, parallelism: .automatic)
  }

  /// ``squaredRowNorms(parallelism:)`` on one thread per core.
  public func squaredRowNorms() -> [Double] {
    squaredRowNorms(parallelism: .automatic)
  }

  /// The Euclidean norm of every example's gradient, `‖g_i‖₂` (`k` entries), **exact to
  /// rounding for any norm `Scalar` can represent**, even when its square cannot be: rows
  /// (3e300, 4e300), (3e−300, −4e−300) and (1e308, −1e308) give 5e300, 5e−300 and
  /// 1.4142135623730951e308; in Float, (3e30, 4e30) gives 5e30.
  ///
  /// ```
  /// ‖g_i‖ = √(squaredRowNorms[i])                     (the squares are Doubles)
  ///       = √(Σ_j (c·J[i, j])²) / c,  c = 2^∓600       (Double rows whose square is ∞, NaN,
  ///                                                    0 or subnormal: as ?nrm2 scales)
  /// ```
  ///
  /// Cost: ``squaredRowNorms(parallelism:)`` and a square root per row; a row that needs the
  /// scaled sum is written again from ``writeTile(rows:columns:into:rowStride:)`` (one more pass
  /// over that row; never for Float). A norm beyond `Scalar`'s range is `+∞`.
  public func rowNorms(parallelism: Parallelism = .automatic) -> [Scalar] {
    rowNormsInDouble(parallelism: parallelism).map { Scalar($0) }
  }

  /// ``rowNorms(parallelism:)`` in Double (what clipping and the diagnostics use).
  func rowNormsInDouble(parallelism: Parallelism) -> [Double] {
    var norms = squaredRowNorms(parallelism: parallelism)
    let needsRescaling = norms.contains { squaredNormNeedsRescaling($0, Scalar.self) }
    if !needsRescaling {
      for i in norms.indices { norms[i] = norms[i].squareRoot() }
      return norms
    }
    withNormScratch { scratch in
      for i in norms.indices {
        norms[i] = norm(fromSquared: norms[i]) { scale in
          rescaledSquaredNorm(row: i, columns: 0..<parameterCount, scale: scale, scratch: scratch)
        }
      }
    }
    return norms
  }

  /// `‖g_i[b]‖` for every block `b` and example `i`, in Double, from
  /// ``squaredBlockNorms(_:parallelism:)`` with the rescaled sum where a square is out of range
  /// (as ``rowNorms(parallelism:)``).
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless the blocks cover `n`.
  func blockNormsInDouble(
    _ blocks: ParameterBlocks, parallelism: Parallelism
  ) throws(MinibatchError) -> [[Double]] {
    var norms = try squaredBlockNorms(blocks, parallelism: parallelism)
    let needsRescaling = norms.contains { block in
      block.contains { squaredNormNeedsRescaling($0, Scalar.self) }
    }
    if !needsRescaling {
      for b in norms.indices {
        for i in norms[b].indices { norms[b][i] = norms[b][i].squareRoot() }
      }
      return norms
    }
    withNormScratch { scratch in
      for (b, block) in blocks.ranges.enumerated() {
        for i in norms[b].indices {
          norms[b][i] = norm(fromSquared: norms[b][i]) { scale in
            rescaledSquaredNorm(row: i, columns: block, scale: scale, scratch: scratch)
          }
        }
      }
    }
    return norms
  }

  /// A scratch buffer of one row's tile for ``rescaledSquaredNorm(row:columns:scale:scratch:)``.
  func withNormScratch(_ body: (UnsafeMutableBufferPointer<Scalar>) -> Void) {
    let width = min(parameterCount, TileSweep.tileColumns(Scalar.self))
    var scratch: [Scalar] = filled(0, count: width)
    scratch.withUnsafeMutableBufferPointer { body($0) }
  }

  /// `Σ_{j ∈ columns} (scale·J[i, j])²` in Double, from tiles of row `i` written into `scratch`.
  func rescaledSquaredNorm(
    row i: Int, columns: Range<Int>, scale: Double, scratch: UnsafeMutableBufferPointer<Scalar>
  ) -> Double {
    var total = 0.0
    for start in stride(from: columns.lowerBound, to: columns.upperBound, by: scratch.count) {
      let tile = start..<min(columns.upperBound, start + scratch.count)
      let part = UnsafeMutableBufferPointer(rebasing: scratch[0..<tile.count])
      writeValidatedTile(rows: i..<(i + 1), columns: tile, into: part)
      total += scaledSumOfSquares(part.baseAddress!, count: tile.count, scale: scale)
    }
    return total
  }

  /// `Jᵀv` for a `v` the package built itself (finite, length `k`): cannot fail.
  @inlinable
  func reducedUnchecked(with v: [Scalar], parallelism: Parallelism) -> [Scalar] {
    var y: [Scalar] = filled(0, count: parameterCount)
    do {
      try reduce(with: v, alpha: 1, beta: 0, into: &y, parallelism: parallelism)
    } catch {
      preconditionFailure("a reduction vector built by Minibatch was refused: \(error)")
    }
    return y
  }

  /// The checks shared by every implementation of `reduce` and `reduceSquares`; zero-fills `y`
  /// when `beta == 0`, so that no kernel (BLAS included) ever reads stale or NaN contents.
  @inlinable
  func prepareReduction(
    _ v: [Scalar], alpha: Scalar, beta: Scalar, y: inout [Scalar]
  ) throws(MinibatchError) {
    try validateCount(v.count, expected: exampleCount, of: "reduction vector (length k)")
    try validateCount(y.count, expected: parameterCount, of: "y (length n)")
    try validateFinite(v, of: "reduction vector")
    guard alpha.isFinite else { throw .nonFiniteValue(index: 0, of: "alpha") }
    guard beta.isFinite else { throw .nonFiniteValue(index: 0, of: "beta") }
    if beta == 0 { zeroFill(&y) }
  }
}

/// Checks example weights (count, finite, `≥ 0`) and returns their sum in Double, which must be
/// positive.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func validatedWeightTotal<Scalar: BLASScalar>(
  _ weights: [Scalar], count: Int, countName: String = "length k"
) throws(MinibatchError) -> Double {
  try validateCount(weights.count, expected: count, of: "example weights (\(countName))")
  let total = try validatedWeightSum(weights, of: "example weights")
  guard total > 0, total.isFinite else { throw .zeroTotalWeight(total: total) }
  return total
}

/// Checks that every weight is finite and `≥ 0` (naming the first that is not) and returns their
/// sum in Double, which may be 0.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func validatedWeightSum<Scalar: BLASScalar>(
  _ weights: [Scalar], of what: String
) throws(MinibatchError) -> Double {
  var total = 0.0
  for (index, w) in weights.enumerated() {
    guard w.isFinite else { throw .nonFiniteValue(index: index, of: what) }
    guard w >= 0 else { throw .negativeValue(index: index, value: Double(w), of: what) }
    total += Double(w)
  }
  return total
}

/// `v_i = e_i / D`, divided in Double; throws ``MinibatchError/zeroTotalWeight(total:)`` when a
/// quotient is not finite in `Scalar` (a denominator too small to divide by).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func scaledReductionVector<Scalar: BLASScalar>(
  _ weights: [Scalar], denominator: Double
) throws(MinibatchError) -> [Scalar] {
  let v = weights.map { Scalar(Double($0) / denominator) }
  guard allFinite(v) else { throw .zeroTotalWeight(total: denominator) }
  return v
}
