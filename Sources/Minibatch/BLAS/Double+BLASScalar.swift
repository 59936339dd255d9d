import CBLAS
import CLAPACKE
import RealModule

extension Double: BLASScalar {
  public static var blasPrefix: String { "d" }
  public typealias CacheLineVector = SIMD8<Double>

  @inlinable @inline(__always)
  public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
    x: UnsafePointer<Double>, incx: Int, beta: Double, y: UnsafeMutablePointer<Double>, incy: Int
  ) {
    cblas_dgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a,
      blasInt(lda), x, blasInt(incx), beta, y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
    a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
    c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    cblas_dgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c,
      blasInt(ldc))
  }

  @inlinable @inline(__always)
  public static func ger(
    m: Int, n: Int, alpha: Double, x: UnsafePointer<Double>, incx: Int, y: UnsafePointer<Double>,
    incy: Int, a: UnsafeMutablePointer<Double>, lda: Int
  ) {
    cblas_dger(
      CblasRowMajor, blasInt(m), blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy), a,
      blasInt(lda))
  }

  @inlinable @inline(__always)
  public static func axpy(
    n: Int, alpha: Double, x: UnsafePointer<Double>, incx: Int, y: UnsafeMutablePointer<Double>,
    incy: Int
  ) {
    cblas_daxpy(blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func scal(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>, incx: Int) {
    cblas_dscal(blasInt(n), alpha, x, blasInt(incx))
  }

  @inlinable @inline(__always)
  public static func dot(
    n: Int, x: UnsafePointer<Double>, incx: Int, y: UnsafePointer<Double>, incy: Int
  ) -> Double {
    cblas_ddot(blasInt(n), x, blasInt(incx), y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func nrm2(n: Int, x: UnsafePointer<Double>, incx: Int) -> Double {
    cblas_dnrm2(blasInt(n), x, blasInt(incx))
  }

  @inlinable @inline(__always)
  public static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, lda: Int,
    b: UnsafeMutablePointer<Double>, ldb: Int, s: UnsafeMutablePointer<Double>, rcond: Double
  ) -> (info: Int, rank: Int) {
    var rank: Int32 = 0
    let info = LAPACKE_dgelsd(
      LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b, blasInt(ldb), s,
      rcond, &rank)
    return (Int(info), Int(rank))
  }
}
