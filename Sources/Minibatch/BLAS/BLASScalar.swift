import RealModule

/// A floating-point type that the system BLAS and LAPACK implement: `Float` (the `s` routines) and
/// `Double` (the `d` routines).
///
/// This is the only place in Minibatch where the C libraries are called. Every matrix is
/// **row-major and contiguous** unless a leading dimension (`ld…`, in elements) says otherwise;
/// every count is a Swift `Int`, converted once, with a check, by ``blasInt(_:)``.
///
/// The requirements are thin forwarders; their documentation states the operation in BLAS's own
/// notation. Callers above this layer are generic over `Scalar: BLASScalar`. The elementary
/// functions the models need (`exp`, `log(onePlus:)`, `tanh`, …) come from swift-numerics' `Real`.
public protocol BLASScalar: Real, BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
  CustomStringConvertible
where RawSignificand: FixedWidthInteger {
  /// Short BLAS prefix of the type, `"s"` or `"d"` (used in reports).
  static var blasPrefix: String { get }

  /// The SIMD vector of 64 bytes (one cache line) that Minibatch's own kernels load and store:
  /// `SIMD16<Float>` or `SIMD8<Double>`.
  associatedtype CacheLineVector: SIMD where CacheLineVector.Scalar == Self

  /// `y ← alpha·op(A)·x + beta·y` (`?gemv`). `A` is `m × n` row-major with leading dimension `lda`;
  /// `op(A)` is `Aᵀ` when `transpose` is true, so `x` has `m` entries and `y` has `n`.
  /// With `beta == 0`, `y` is not read.
  static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
    x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>, incy: Int)

  /// `C ← alpha·op(A)·op(B) + beta·C` (`?gemm`), all row-major; `C` is `m × n`, the inner
  /// dimension is `k`.
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int)

  /// Rank-one update `A ← alpha·x·yᵀ + A` (`?ger`); `A` is `m × n` row-major.
  static func ger(
    m: Int, n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int, y: UnsafePointer<Self>,
    incy: Int, a: UnsafeMutablePointer<Self>, lda: Int)

  /// `y ← alpha·x + y` (`?axpy`) over `n` entries.
  static func axpy(
    n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int, y: UnsafeMutablePointer<Self>,
    incy: Int)

  /// `x ← alpha·x` (`?scal`) over `n` entries.
  static func scal(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>, incx: Int)

  /// `xᵀy` (`?dot`) over `n` entries.
  static func dot(
    n: Int, x: UnsafePointer<Self>, incx: Int, y: UnsafePointer<Self>, incy: Int
  ) -> Self

  /// Euclidean norm `‖x‖₂` (`?nrm2`) over `n` entries, computed without overflow.
  static func nrm2(n: Int, x: UnsafePointer<Self>, incx: Int) -> Self

  /// Minimum-norm least squares `min ‖A·x − b‖₂` by the SVD (LAPACK `?gelsd`), row-major.
  ///
  /// `A` is `m × n` (overwritten); `b` is `max(m, n) × nrhs` with leading dimension `ldb` and
  /// holds the solution `x` (`n × nrhs`) in its first `n` rows on return. `s` receives the
  /// `min(m, n)` singular values in decreasing order; singular values below `rcond·s[0]` count as
  /// zero (`rcond < 0`: machine precision). Returns LAPACK's `info` (0: success; > 0: the SVD did
  /// not converge) and the effective rank.
  static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
    b: UnsafeMutablePointer<Self>, ldb: Int, s: UnsafeMutablePointer<Self>, rcond: Self
  ) -> (info: Int, rank: Int)
}

/// Converts a count or stride to BLAS's 32-bit integer.
///
/// Shapes are validated where data enters (``PerExampleGradients`` refuses dimensions above
/// `Int32.max`), so a value that does not fit here is a bug inside the library.
@inlinable @inline(__always)
func blasInt(_ value: Int) -> Int32 {
  precondition(
    value >= Int(Int32.min) && value <= Int(Int32.max), "BLAS argument \(value) overflows Int32")
  return Int32(truncatingIfNeeded: value)
}
