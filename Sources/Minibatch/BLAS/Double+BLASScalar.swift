import CBLAS
import CLAPACKE
import CMinibatchKernels
import RealModule

// `Double`'s BLAS, LAPACK and kernel routines: the `d` routines (see `BLASScalar` for each one's
// contract), one forwarder each.
extension Double: BLASScalar {
  public typealias CacheLineVector = SIMD8<Double>

  @_spi(Benchmark) public static var blasPrefix: String { "d" }

  @_spi(Benchmark) @inlinable @inline(__always)
  public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
    x: UnsafePointer<Double>, incx: Int, beta: Double, y: UnsafeMutablePointer<Double>, incy: Int
  ) {
    cblas_dgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a,
      blasInt(lda), x, blasInt(incx), beta, y, blasInt(incy))
  }

  @_spi(Benchmark) @inlinable @inline(__always)
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

  @_spi(Benchmark) public static func syrk(
    n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int, beta: Double,
    c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    cblas_dsyrk(
      CblasRowMajor, CblasUpper, CblasNoTrans, blasInt(n), blasInt(k), alpha, a, blasInt(lda),
      beta, c, blasInt(ldc))
  }

  @_spi(Benchmark) @inlinable @inline(__always)
  public static func axpy(
    n: Int, alpha: Double, x: UnsafePointer<Double>, incx: Int, y: UnsafeMutablePointer<Double>,
    incy: Int
  ) {
    cblas_daxpy(blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy))
  }

  @_spi(Benchmark) public static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, lda: Int,
    b: UnsafeMutablePointer<Double>, ldb: Int, s: UnsafeMutablePointer<Double>, rcond: Double
  ) -> (info: Int, rank: Int) {
    var rank: Int32 = 0
    let info = LAPACKE_dgelsd(
      LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b, blasInt(ldb),
      s, rcond, &rank)
    return (Int(info), Int(rank))
  }

  @_spi(Benchmark) public static func syevd(
    n: Int, a: UnsafeMutablePointer<Double>, lda: Int, w: UnsafeMutablePointer<Double>,
    vectors: Bool
  ) -> Int {
    let job = Int8(UInt8(ascii: vectors ? "V" : "N"))
    return Int(
      LAPACKE_dsyevd(LAPACK_ROW_MAJOR, job, Int8(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w)
    )
  }

  @_spi(Benchmark) public static func singularValues(
    m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int, s: UnsafeMutablePointer<Double>
  ) -> Int {
    Int(
      LAPACKE_dgesdd(
        LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), blasInt(m), blasInt(n), a, blasInt(lda), s, nil,
        blasInt(m), nil, blasInt(n)))
  }

  @_spi(Benchmark) public static func tanh(
    _ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>, count: Int
  ) {
    minibatch_tanh_f64(x, y, count)
  }

  @_spi(Benchmark) public static func addGaussianNoise(
    _ x: UnsafeMutablePointer<Double>, count: Int, standardDeviation: Double, scale: Double,
    state: inout (UInt64, UInt64, UInt64, UInt64)
  ) -> Int {
    withUnsafeMutableBytes(of: &state) { words in
      Int(
        minibatch_noise_add_f64(
          words.baseAddress!.assumingMemoryBound(to: UInt64.self), x, count, standardDeviation,
          scale))
    }
  }

  @_spi(Benchmark) public static func momentsSweep(
    mean: UnsafePointer<Double>, squares: UnsafePointer<Double>, count: Int, total: Double,
    threshold: Double, smallest: Double, mu: UnsafeMutablePointer<Double>,
    m2: UnsafeMutablePointer<Double>, inexact: UnsafeMutablePointer<Int64>
  ) -> Int {
    Int(minibatch_moments_f64(mean, squares, count, total, threshold, smallest, mu, m2, inexact))
  }

  @_spi(Benchmark) public static func addRows(
    _ a: UnsafePointer<Double>, lda: Int, rows: Int, columns: Range<Int>,
    coefficients c: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>, eightAtATime: Bool,
    squared: Bool
  ) {
    guard rows > 0, !columns.isEmpty else { return }
    (squared ? minibatch_add_squared_rows_f64 : minibatch_add_rows_f64)(
      a, lda, rows, columns.lowerBound, columns.upperBound, c, y, eightAtATime ? 1 : 0)
  }

  @_spi(Benchmark) public static func activationBackward(
    kind: Int32, outputDeltas g: UnsafePointer<Double>, input x: UnsafePointer<Double>,
    output f: UnsafePointer<Double>, into below: UnsafeMutablePointer<Double>, count: Int
  ) {
    minibatch_activation_backward_f64(kind, g, x, f, below, count)
  }

  @_spi(Benchmark) public static func sumOfSquares(
    _ x: UnsafePointer<Double>, count: Int, scale: Double
  ) -> Double {
    minibatch_sum_squares_f64(x, count, scale)
  }

  @_spi(Benchmark) public static func rowSumsOfSquares(
    _ a: UnsafePointer<Double>, rows: Int, columns: Int, lda: Int,
    into out: UnsafeMutablePointer<Double>
  ) {
    minibatch_row_sums_squares_f64(a, rows, columns, lda, out)
  }

  @_spi(Benchmark) public static func activationForward(
    kind: Int32, input x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>, count: Int
  ) {
    minibatch_activation_forward_f64(kind, x, y, count)
  }

  @_spi(Benchmark) public static func softmaxCrossEntropy(
    _ z: UnsafePointer<Double>, labels: UnsafePointer<Int>, k: Int, m: Int,
    loss: UnsafeMutablePointer<Double>, delta: UnsafeMutablePointer<Double>
  ) {
    minibatch_softmax_cross_entropy_f64(z, labels, k, m, loss, delta)
  }

  @_spi(Benchmark) public static func binaryCrossEntropy(
    _ z: UnsafePointer<Double>, labels: UnsafePointer<Int>, k: Int,
    loss: UnsafeMutablePointer<Double>, delta: UnsafeMutablePointer<Double>?
  ) {
    minibatch_binary_cross_entropy_f64(z, labels, k, loss, delta)
  }

  @_spi(Benchmark) public static func unfold(
    _ x: UnsafePointer<Double>, k: Int, geometry: minibatch_convolution_geometry,
    into u: UnsafeMutablePointer<Double>
  ) {
    withUnsafePointer(to: geometry) { minibatch_unfold_f64($0, x, k, u) }
  }

  @_spi(Benchmark) public static func fold(
    _ u: UnsafePointer<Double>, k: Int, geometry: minibatch_convolution_geometry,
    into x: UnsafeMutablePointer<Double>
  ) {
    withUnsafePointer(to: geometry) { minibatch_fold_f64($0, u, k, x) }
  }
}
