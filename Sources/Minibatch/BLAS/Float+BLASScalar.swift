import CBLAS
import CLAPACKE
import CMinibatchKernels
import RealModule

// `Float`'s BLAS, LAPACK and kernel routines: the `s` routines (see `BLASScalar` for each one's
// contract), one forwarder each.
extension Float: BLASScalar {
  public typealias CacheLineVector = SIMD16<Float>

  @_spi(Benchmark) public static var blasPrefix: String { "s" }

  @_spi(Benchmark) @inlinable @inline(__always)
  public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    cblas_sgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a,
      blasInt(lda), x, blasInt(incx), beta, y, blasInt(incy))
  }

  @_spi(Benchmark) @inlinable @inline(__always)
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

  @_spi(Benchmark) public static func syrk(
    n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_ssyrk(
      CblasRowMajor, CblasUpper, CblasNoTrans, blasInt(n), blasInt(k), alpha, a, blasInt(lda),
      beta, c, blasInt(ldc))
  }

  @_spi(Benchmark) @inlinable @inline(__always)
  public static func axpy(
    n: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int, y: UnsafeMutablePointer<Float>,
    incy: Int
  ) {
    cblas_saxpy(blasInt(n), alpha, x, blasInt(incx), y, blasInt(incy))
  }

  @_spi(Benchmark) public static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Float>, lda: Int,
    b: UnsafeMutablePointer<Float>, ldb: Int, s: UnsafeMutablePointer<Float>, rcond: Float
  ) -> (info: Int, rank: Int) {
    var rank: Int32 = 0
    let info = LAPACKE_sgelsd(
      LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b, blasInt(ldb),
      s, rcond, &rank)
    return (Int(info), Int(rank))
  }

  @_spi(Benchmark) public static func syevd(
    n: Int, a: UnsafeMutablePointer<Float>, lda: Int, w: UnsafeMutablePointer<Float>,
    vectors: Bool
  ) -> Int {
    let job = Int8(UInt8(ascii: vectors ? "V" : "N"))
    return Int(
      LAPACKE_ssyevd(LAPACK_ROW_MAJOR, job, Int8(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w)
    )
  }

  @_spi(Benchmark) public static func singularValues(
    m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int, s: UnsafeMutablePointer<Float>
  ) -> Int {
    Int(
      LAPACKE_sgesdd(
        LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), blasInt(m), blasInt(n), a, blasInt(lda), s, nil,
        blasInt(m), nil, blasInt(n)))
  }

  @_spi(Benchmark) public static func tanh(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    minibatch_tanh_f32(x, y, count)
  }

  @_spi(Benchmark) public static func addGaussianNoise(
    _ x: UnsafeMutablePointer<Float>, count: Int, standardDeviation: Double, scale: Double,
    state: inout (UInt64, UInt64, UInt64, UInt64)
  ) -> Int {
    withUnsafeMutableBytes(of: &state) { words in
      Int(
        minibatch_noise_add_f32(
          words.baseAddress!.assumingMemoryBound(to: UInt64.self), x, count, standardDeviation,
          scale))
    }
  }

  @_spi(Benchmark) public static func momentsSweep(
    mean: UnsafePointer<Float>, squares: UnsafePointer<Float>, count: Int, total: Double,
    threshold: Double, smallest: Double, mu: UnsafeMutablePointer<Double>,
    m2: UnsafeMutablePointer<Double>, inexact: UnsafeMutablePointer<Int64>
  ) -> Int {
    Int(minibatch_moments_f32(mean, squares, count, total, threshold, smallest, mu, m2, inexact))
  }

  @_spi(Benchmark) public static func addRows(
    _ a: UnsafePointer<Float>, lda: Int, rows: Int, columns: Range<Int>,
    coefficients c: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, eightAtATime: Bool,
    squared: Bool
  ) {
    guard rows > 0, !columns.isEmpty else { return }
    (squared ? minibatch_add_squared_rows_f32 : minibatch_add_rows_f32)(
      a, lda, rows, columns.lowerBound, columns.upperBound, c, y, eightAtATime ? 1 : 0)
  }

  @_spi(Benchmark) public static func activationBackward(
    kind: Int32, outputDeltas g: UnsafePointer<Float>, input x: UnsafePointer<Float>,
    output f: UnsafePointer<Float>, into below: UnsafeMutablePointer<Float>, count: Int
  ) {
    minibatch_activation_backward_f32(kind, g, x, f, below, count)
  }

  @_spi(Benchmark) public static func sumOfSquares(
    _ x: UnsafePointer<Float>, count: Int, scale: Double
  ) -> Double {
    minibatch_sum_squares_f32(x, count, scale)
  }

  @_spi(Benchmark) public static func rowSumsOfSquares(
    _ a: UnsafePointer<Float>, rows: Int, columns: Int, lda: Int,
    into out: UnsafeMutablePointer<Double>
  ) {
    minibatch_row_sums_squares_f32(a, rows, columns, lda, out)
  }

  @_spi(Benchmark) public static func activationForward(
    kind: Int32, input x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    minibatch_activation_forward_f32(kind, x, y, count)
  }

  @_spi(Benchmark) public static func softmaxCrossEntropy(
    _ z: UnsafePointer<Float>, labels: UnsafePointer<Int>, k: Int, m: Int,
    loss: UnsafeMutablePointer<Float>, delta: UnsafeMutablePointer<Float>
  ) {
    minibatch_softmax_cross_entropy_f32(z, labels, k, m, loss, delta)
  }

  @_spi(Benchmark) public static func binaryCrossEntropy(
    _ z: UnsafePointer<Float>, labels: UnsafePointer<Int>, k: Int,
    loss: UnsafeMutablePointer<Float>, delta: UnsafeMutablePointer<Float>?
  ) {
    minibatch_binary_cross_entropy_f32(z, labels, k, loss, delta)
  }

  @_spi(Benchmark) public static func unfold(
    _ x: UnsafePointer<Float>, k: Int, geometry: minibatch_convolution_geometry,
    into u: UnsafeMutablePointer<Float>
  ) {
    withUnsafePointer(to: geometry) { minibatch_unfold_f32($0, x, k, u) }
  }

  @_spi(Benchmark) public static func fold(
    _ u: UnsafePointer<Float>, k: Int, geometry: minibatch_convolution_geometry,
    into x: UnsafeMutablePointer<Float>
  ) {
    withUnsafePointer(to: geometry) { minibatch_fold_f32($0, u, k, x) }
  }
}
