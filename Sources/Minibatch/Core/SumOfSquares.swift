// Squared norms and norms, in Double whatever the scalar type.
//
// The plain sum of squares `Σ x_j²` in Double is the fast path. For Float entries it can neither
// overflow nor underflow (the squares of Float's whole range, 2⁻²⁹⁸ … 2²⁵⁶, are normal Doubles),
// so it is the answer. For Double entries it overflows when ‖x‖ > 2⁵¹² ≈ 1.3e154 and loses
// everything to underflow when ‖x‖ < 2⁻⁵¹¹: norms that are representable although their
// squares are not. Those rows — and only those: the result is ∞, NaN, 0 or below Double's normal
// range — are summed again with every entry scaled by an exact power of two (2∓⁶⁰⁰), as LAPACK's
// `?nrm2` scales, and the norm is `√(Σ (c·x_j)²) / c`. The rescaled sum cannot overflow (entries
// ≤ 2⁴²⁴ after scaling) and keeps every entry that matters, so the norm is within the ordinary
// summation bound `(n + 1)·ε` of the exact one for any representable norm.

/// `Σ x_j²` over `count` entries, accumulated in Double whatever the scalar type (the C kernel
/// `minibatch_sum_squares_*`: 32 partial sums, then a fixed tree; the same bits on every
/// instruction set and thread count).
@inline(__always)
func sumOfSquares<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, count: Int) -> Double {
  count > 0 ? Scalar.sumOfSquares(x, count: count, scale: 1) : 0
}

/// `Σ (scale·x_j)²` over `count` entries, in Double (`scale` a power of two, so the scaling is
/// exact but for entries pushed below Double's range, which cannot matter next to the others).
@inline(__always)
func scaledSumOfSquares<Scalar: BLASScalar>(
  _ x: UnsafePointer<Scalar>, count: Int, scale: Double
) -> Double {
  count > 0 ? Scalar.sumOfSquares(x, count: count, scale: scale) : 0
}

/// Whether `squared`, a plain sum of squares of `Scalar` entries in Double, may be wrong by more
/// than rounding: for Double entries, a result that is ∞ (overflow), NaN (∞ − ∞ or 0·∞ in a
/// factored norm), 0 or below the normal range (underflow). Never for Float entries.
@inline(__always)
func squaredNormNeedsRescaling<Scalar: BLASScalar>(_ squared: Double, _: Scalar.Type) -> Bool {
  Scalar.self != Float.self
    && !(squared >= Double.leastNormalMagnitude && squared <= Double.greatestFiniteMagnitude)
}

/// The norm `√s` of a row whose plain squared norm in Double is `squared`, with the rescaled
/// recomputation when that square is out of range: `rescaled(c)` must return `Σ (c·x_j)²` for
/// the same row.
/// A NaN `squared` (a factored norm's `0·∞`) is first summed again unscaled from the row itself;
/// a row with a NaN entry has norm NaN.
func norm(fromSquared squared: Double, rescaled: (Double) -> Double) -> Double {
  var squared = squared
  if squared.isNaN {
    squared = rescaled(1)
    if squared.isNaN { return squared }
  }
  if squared >= Double.leastNormalMagnitude && squared <= Double.greatestFiniteMagnitude {
    return squared.squareRoot()
  }
  // Overflow: scale the entries down; underflow (or 0): up.
  let down = squared > 1
  return rescaled(down ? 0x1p-600 : 0x1p600).squareRoot() * (down ? 0x1p600 : 0x1p-600)
}

/// `‖A[i, :]‖²` for every row of a `k × n` row-major `A`, in Double.
func squaredRowNorms<Scalar: BLASScalar>(
  _ a: UnsafePointer<Scalar>, k: Int, n: Int
) -> [Double] {
  [Double](unsafeUninitializedCapacity: k) { out, initialized in
    if k > 0 { Scalar.rowSumsOfSquares(a, rows: k, columns: n, lda: n, into: out.baseAddress!) }
    initialized = k
  }
}
