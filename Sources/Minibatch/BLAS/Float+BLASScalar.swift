import CBLAS
import CLAPACKE
import RealModule

extension Float: BLASScalar {
  public static var blasPrefix: String { "s" }
  public typealias CacheLineVector = SIMD16<Float>

  @inlinable @inline(__always)
  public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    cblas_sgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a,
      blasInt(lda), x, blasInt(incx), beta, y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c,
      blasInt(ldc))
  }

  @inlinable @inline(__always)
  public static func ger(
    m: Int, n: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int, y: UnsafePointer<Float>,
    incy: Int, a: UnsafeMutablePointer<Float>, lda: Int
  ) {
    cblas_sger(
      CblasRowMajor, blasInt(m), blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy), a,
      blasInt(lda))
  }

  @inlinable @inline(__always)
  public static func axpy(
    n: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int, y: UnsafeMutablePointer<Float>,
    incy: Int
  ) {
    cblas_saxpy(blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func scal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>, incx: Int) {
    cblas_sscal(blasInt(n), alpha, x, blasInt(incx))
  }

  @inlinable @inline(__always)
  public static func dot(
    n: Int, x: UnsafePointer<Float>, incx: Int, y: UnsafePointer<Float>, incy: Int
  ) -> Float {
    cblas_sdot(blasInt(n), x, blasInt(incx), y, blasInt(incy))
  }

  @inlinable @inline(__always)
  public static func nrm2(n: Int, x: UnsafePointer<Float>, incx: Int) -> Float {
    cblas_snrm2(blasInt(n), x, blasInt(incx))
  }

  @inlinable @inline(__always)
  public static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Float>, lda: Int,
    b: UnsafeMutablePointer<Float>, ldb: Int, s: UnsafeMutablePointer<Float>, rcond: Float
  ) -> (info: Int, rank: Int) {
    var rank: Int32 = 0
    let info = LAPACKE_sgelsd(
      LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b, blasInt(ldb), s,
      rcond, &rank)
    return (Int(info), Int(rank))
  }
}
