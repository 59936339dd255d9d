/// The minimum-norm solution of a linear least-squares problem, from LAPACK's `?gelsd`.
public struct LeastSquaresSolution<Scalar: BLASScalar>: Sendable, Equatable {
  /// The minimiser `x` of `‖A·x − b‖₂` with the smallest `‖x‖₂` (length = columns of `A`).
  public var solution: [Scalar]
  /// Effective rank of `A`: the number of singular values above the cut-off `rcond·σ_max`.
  public var rank: Int
  /// Singular values of `A`, in decreasing order (`min(rows, columns)` of them).
  public var singularValues: [Scalar]
}

/// Solves `min_x ‖A·x − b‖₂` exactly (up to rounding) through the SVD (`LAPACKE_?gelsd`).
///
/// `A` is `m × n` (any shape; rank-deficient is fine: the minimum-norm minimiser is returned), `b`
/// has `m` entries. Cost `O(m·n·min(m, n))`; `A` and `b` are copied, not modified.
///
/// - Parameters:
///   - a: the `m × n` matrix, row-major.
///   - b: the `m` right-hand sides.
///   - rcond: singular values `σ_i ≤ rcond·σ_max` are treated as zero, so the solution
///     ignores those directions. `nil` (the default) is numpy's `lstsq` cut-off
///     `ε·max(m, n)`: LAPACK's own default (`ε`) keeps directions that are zero up to rounding
///     (a feature equal to the intercept column gives `σ_min/σ_max ≈ 1e-16`), and the
///     "minimum-norm" answer then has entries of ~1e14 and does not minimise the residual.
///     Must be finite and ≥ 0. The rank this cut-off leaves is ``LeastSquaresSolution/rank``.
/// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `b.count != m`,
///   ``MinibatchError/nonFiniteValue(index:of:)`` for NaN or infinite entries,
///   ``MinibatchError/lapackFailure(routine:info:)`` if the SVD does not converge,
///   ``MinibatchError/invalidArgument(name:value:expected:)`` for a bad `rcond`.
public func solveLeastSquares<Scalar: BLASScalar>(
  _ a: Matrix<Scalar>, _ b: [Scalar], rcond: Scalar? = nil
) throws(MinibatchError) -> LeastSquaresSolution<Scalar> {
  let m = a.rows
  let n = a.columns
  let cutoff = rcond ?? Scalar.ulpOfOne * Scalar(max(m, n))
  try validateArgument(
    cutoff, named: "rcond", expected: "finite and ≥ 0", cutoff.isFinite && cutoff >= 0)
  try validateCount(b.count, expected: m, of: "right-hand side b (rows of A)")
  try validateFinite(a.elements, of: "A")
  try validateFinite(b, of: "b")
  var aCopy = a.elements
  // gelsd returns x in the first n entries of b, so b needs max(m, n) rows.
  var rhs = b + Array(repeating: 0, count: max(0, n - m))
  var singularValues = [Scalar](repeating: 0, count: min(m, n))
  let (info, rank) = aCopy.withUnsafeMutableBufferPointer { aPointer in
    rhs.withUnsafeMutableBufferPointer { bPointer in
      singularValues.withUnsafeMutableBufferPointer { sPointer in
        Scalar.gelsd(
          m: m, n: n, nrhs: 1, a: aPointer.baseAddress!, lda: n, b: bPointer.baseAddress!, ldb: 1,
          s: sPointer.baseAddress!, rcond: cutoff)
      }
    }
  }
  // info > 0: the SVD did not converge; info < 0: an argument LAPACKE refused, or its workspace
  // could not be allocated (-1010) for a very large problem. Either way, an error, not a trap.
  guard info == 0 else { throw .lapackFailure(routine: "\(Scalar.blasPrefix)gelsd", info: info) }
  return LeastSquaresSolution(
    solution: Array(rhs.prefix(n)), rank: rank, singularValues: singularValues)
}
