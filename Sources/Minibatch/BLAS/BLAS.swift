import CBLAS
import CLAPACKE

/// The package's only calls into CBLAS and LAPACKE: one thin forwarder per routine, dispatching
/// on the scalar type to the `s` (Float) or `d` (Double) routine. Generic code above calls
/// `BLAS.gemv(…)` with `Scalar: BLASScalar`; the type test folds away when the caller is
/// specialised.
///
/// Every matrix is **row-major and contiguous** unless a leading dimension (`ld…`, in elements)
/// says otherwise; every count is a Swift `Int`, converted once, with a check, by ``blasInt(_:)``.
///
/// Raw-pointer routines are not public API: `@_spi(Benchmark)` lets the benchmark compare against
/// one plain BLAS call, nothing else sees them.
@_spi(Benchmark) public enum BLAS {
  /// `y ← alpha·op(A)·x + beta·y` (`?gemv`). `A` is `m × n` row-major with leading dimension `lda`;
  /// `op(A)` is `Aᵀ` when `transpose` is true, so `x` has `m` entries and `y` has `n`.
  /// The package zero-fills `y` itself before any call with `beta == 0` (OpenBLAS has read `y`
  /// there before).
  @inlinable @inline(__always)
  public static func gemv<S: BLASScalar>(
    transpose: Bool, m: Int, n: Int, alpha: S, a: UnsafePointer<S>, lda: Int,
    x: UnsafePointer<S>, incx: Int, beta: S, y: UnsafeMutablePointer<S>, incy: Int
  ) {
    let order = CblasRowMajor
    let trans = transpose ? CblasTrans : CblasNoTrans
    if S.self == Double.self {
      cblas_dgemv(
        order, trans, blasInt(m), blasInt(n), Double(alpha), cast(a), blasInt(lda), cast(x),
        blasInt(incx), Double(beta), cast(y), blasInt(incy))
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      cblas_sgemv(
        order, trans, blasInt(m), blasInt(n), Float(alpha), cast(a), blasInt(lda), cast(x),
        blasInt(incx), Float(beta), cast(y), blasInt(incy))
    }
  }

  /// `C ← alpha·op(A)·op(B) + beta·C` (`?gemm`), all row-major; `C` is `m × n`, the inner
  /// dimension is `k`.
  @inlinable @inline(__always)
  public static func gemm<S: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: S, a: UnsafePointer<S>,
    lda: Int, b: UnsafePointer<S>, ldb: Int, beta: S, c: UnsafeMutablePointer<S>, ldc: Int
  ) {
    let ta = transposeA ? CblasTrans : CblasNoTrans
    let tb = transposeB ? CblasTrans : CblasNoTrans
    if S.self == Double.self {
      cblas_dgemm(
        CblasRowMajor, ta, tb, blasInt(m), blasInt(n), blasInt(k), Double(alpha), cast(a),
        blasInt(lda), cast(b), blasInt(ldb), Double(beta), cast(c), blasInt(ldc))
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      cblas_sgemm(
        CblasRowMajor, ta, tb, blasInt(m), blasInt(n), blasInt(k), Float(alpha), cast(a),
        blasInt(lda), cast(b), blasInt(ldb), Float(beta), cast(c), blasInt(ldc))
    }
  }

  /// `C ← alpha·A·Aᵀ + beta·C` (`?syrk`) for a row-major `n × k` `A`, writing only the **upper**
  /// triangle of the `n × n` `C` (half a GEMM's work).
  static func syrk<S: BLASScalar>(
    n: Int, k: Int, alpha: S, a: UnsafePointer<S>, lda: Int, beta: S,
    c: UnsafeMutablePointer<S>, ldc: Int
  ) {
    if S.self == Double.self {
      cblas_dsyrk(
        CblasRowMajor, CblasUpper, CblasNoTrans, blasInt(n), blasInt(k), Double(alpha), cast(a),
        blasInt(lda), Double(beta), cast(c), blasInt(ldc))
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      cblas_ssyrk(
        CblasRowMajor, CblasUpper, CblasNoTrans, blasInt(n), blasInt(k), Float(alpha), cast(a),
        blasInt(lda), Float(beta), cast(c), blasInt(ldc))
    }
  }

  /// `y ← alpha·x + y` (`?axpy`) over `n` entries.
  @inlinable @inline(__always)
  public static func axpy<S: BLASScalar>(
    n: Int, alpha: S, x: UnsafePointer<S>, incx: Int, y: UnsafeMutablePointer<S>, incy: Int
  ) {
    if S.self == Double.self {
      cblas_daxpy(blasInt(n), Double(alpha), cast(x), blasInt(incx), cast(y), blasInt(incy))
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      cblas_saxpy(blasInt(n), Float(alpha), cast(x), blasInt(incx), cast(y), blasInt(incy))
    }
  }

  /// Minimum-norm least squares `min ‖A·x − b‖₂` by the SVD (LAPACK `?gelsd`), row-major.
  ///
  /// `A` is `m × n` (overwritten); `b` is `max(m, n) × nrhs` with leading dimension `ldb` and
  /// holds the solution `x` (`n × nrhs`) in its first `n` rows on return. `s` receives the
  /// `min(m, n)` singular values in decreasing order; singular values `≤ rcond·s[0]` count as
  /// zero. Returns LAPACK's `info` (0: success; > 0: the SVD did not converge) and the effective
  /// rank.
  static func gelsd<S: BLASScalar>(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<S>, lda: Int, b: UnsafeMutablePointer<S>,
    ldb: Int, s: UnsafeMutablePointer<S>, rcond: S
  ) -> (info: Int, rank: Int) {
    var rank: Int32 = 0
    let info: Int32
    if S.self == Double.self {
      info = LAPACKE_dgelsd(
        LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), cast(a), blasInt(lda), cast(b),
        blasInt(ldb), cast(s), Double(rcond), &rank)
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      info = LAPACKE_sgelsd(
        LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), cast(a), blasInt(lda), cast(b),
        blasInt(ldb), cast(s), Float(rcond), &rank)
    }
    return (Int(info), Int(rank))
  }

  /// Eigenvalues (and optionally eigenvectors) of a symmetric `n × n` matrix by divide and
  /// conquer (LAPACK `?syevd`), row-major, upper triangle read. `w` receives the `n` eigenvalues
  /// in ascending order; with `vectors`, `a` is overwritten by the orthonormal eigenvectors (column
  /// `j` for `w[j]`), otherwise destroyed. Returns LAPACK's `info` (0: success).
  static func syevd<S: BLASScalar>(
    n: Int, a: UnsafeMutablePointer<S>, lda: Int, w: UnsafeMutablePointer<S>, vectors: Bool
  ) -> Int {
    let job = Int8(UInt8(ascii: vectors ? "V" : "N"))
    let upper = Int8(UInt8(ascii: "U"))
    if S.self == Double.self {
      return Int(
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, job, upper, blasInt(n), cast(a), blasInt(lda), cast(w)))
    }
    precondition(S.self == Float.self, "BLASScalar is Float or Double")
    return Int(
      LAPACKE_ssyevd(LAPACK_ROW_MAJOR, job, upper, blasInt(n), cast(a), blasInt(lda), cast(w)))
  }

  /// Singular values of an `m × n` row-major matrix (LAPACK `?gesdd`, no vectors; `a` is
  /// destroyed), `min(m, n)` of them in decreasing order into `s`. Returns LAPACK's `info`.
  static func singularValues<S: BLASScalar>(
    m: Int, n: Int, a: UnsafeMutablePointer<S>, lda: Int, s: UnsafeMutablePointer<S>
  ) -> Int {
    let job = Int8(UInt8(ascii: "N"))
    if S.self == Double.self {
      return Int(
        LAPACKE_dgesdd(
          LAPACK_ROW_MAJOR, job, blasInt(m), blasInt(n), cast(a), blasInt(lda), cast(s), nil,
          blasInt(m), nil, blasInt(n)))
    }
    precondition(S.self == Float.self, "BLASScalar is Float or Double")
    return Int(
      LAPACKE_sgesdd(
        LAPACK_ROW_MAJOR, job, blasInt(m), blasInt(n), cast(a), blasInt(lda), cast(s), nil,
        blasInt(m), nil, blasInt(n)))
  }

  /// The same memory seen as the concrete scalar type the caller tested for.
  @inlinable @inline(__always)
  static func cast<S, T>(_ p: UnsafePointer<S>) -> UnsafePointer<T> {
    UnsafeRawPointer(p).assumingMemoryBound(to: T.self)
  }

  @inlinable @inline(__always)
  static func cast<S, T>(_ p: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<T> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: T.self)
  }
}

/// Converts a count or stride to BLAS's 32-bit integer.
///
/// Shapes are validated where data enters (``Matrix`` refuses dimensions above `Int32.max`), so a
/// value that does not fit here is a bug inside the library.
@inlinable @inline(__always)
func blasInt(_ value: Int) -> Int32 {
  precondition(
    value >= Int(Int32.min) && value <= Int(Int32.max), "BLAS argument \(value) overflows Int32")
  return Int32(truncatingIfNeeded: value)
}
