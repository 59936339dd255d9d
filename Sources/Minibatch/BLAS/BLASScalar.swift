import CMinibatchKernels
import RealModule

/// A floating-point type that the system BLAS and LAPACK implement: `Float` (the `s` routines) and
/// `Double` (the `d` routines). Nothing else conforms: the routines below are requirements a type
/// outside the package cannot see, so it cannot conform either.
///
/// Everything above the BLAS layer is generic over `Scalar: BLASScalar`. The elementary
/// functions the models need (`exp`, `log(onePlus:)`, `tanh`, …) come from swift-numerics' `Real`.
/// The BLAS and LAPACK calls and the package's C kernels are requirements of this protocol, with
/// one one-line forwarder each in `Float+BLASScalar.swift` and `Double+BLASScalar.swift` (the shape
/// of swift-numerics' `Double+Real.swift`): generic code calls `Scalar.gemv(…)` and the
/// conformance is the `s` or `d` routine, with no type test and no pointer cast. They take raw
/// pointers, so they are not API: `@_spi(Benchmark)` lets the benchmark compare against one plain
/// BLAS call, nothing else sees them.
///
/// Every matrix is **row-major and contiguous** unless a leading dimension (`ld…`, in elements)
/// says otherwise; every count is a Swift `Int`, converted once, with a check, by `blasInt(_:)`.
public protocol BLASScalar: Real, BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
  CustomStringConvertible
{
  /// The SIMD vector of 64 bytes (one cache line) that Minibatch's own kernels load and store:
  /// `SIMD16<Float>` or `SIMD8<Double>`.
  associatedtype CacheLineVector: SIMD where CacheLineVector.Scalar == Self

  /// Short BLAS prefix of the type, `"s"` or `"d"` (it names the routine in LAPACK errors).
  @_spi(Benchmark) static var blasPrefix: String { get }

  /// `y ← alpha·op(A)·x + beta·y` (`?gemv`). `A` is `m × n` row-major with leading dimension `lda`;
  /// `op(A)` is `Aᵀ` when `transpose` is true, so `x` has `m` entries and `y` has `n`.
  /// The package zero-fills `y` itself before any call with `beta == 0` (OpenBLAS has read `y`
  /// there before).
  @_spi(Benchmark) static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
    x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>, incy: Int)

  /// `C ← alpha·op(A)·op(B) + beta·C` (`?gemm`), all row-major; `C` is `m × n`, the inner
  /// dimension is `k`.
  @_spi(Benchmark) static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int)

  /// `C ← alpha·A·Aᵀ + beta·C` (`?syrk`) for a row-major `n × k` `A`, writing only the **upper**
  /// triangle of the `n × n` `C` (half a GEMM's work).
  @_spi(Benchmark) static func syrk(
    n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int)

  /// `y ← alpha·x + y` (`?axpy`) over `n` entries.
  @_spi(Benchmark) static func axpy(
    n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int, y: UnsafeMutablePointer<Self>,
    incy: Int)

  /// Minimum-norm least squares `min ‖A·x − b‖₂` by the SVD (LAPACK `?gelsd`), row-major.
  ///
  /// `A` is `m × n` (overwritten); `b` is `max(m, n) × nrhs` with leading dimension `ldb` and
  /// holds the solution `x` (`n × nrhs`) in its first `n` rows on return. `s` receives the
  /// `min(m, n)` singular values in decreasing order; singular values `≤ rcond·s[0]` count as
  /// zero. Returns LAPACK's `info` (0: success; > 0: the SVD did not converge) and the effective
  /// rank.
  @_spi(Benchmark) static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
    b: UnsafeMutablePointer<Self>, ldb: Int, s: UnsafeMutablePointer<Self>, rcond: Self
  ) -> (info: Int, rank: Int)

  /// Eigenvalues (and optionally eigenvectors) of a symmetric `n × n` matrix by divide and
  /// conquer (LAPACK `?syevd`), row-major, upper triangle read. `w` receives the `n` eigenvalues
  /// in ascending order; with `vectors`, `a` is overwritten by the orthonormal eigenvectors (column
  /// `j` for `w[j]`), otherwise destroyed. Returns LAPACK's `info` (0: success).
  @_spi(Benchmark) static func syevd(
    n: Int, a: UnsafeMutablePointer<Self>, lda: Int, w: UnsafeMutablePointer<Self>,
    vectors: Bool
  ) -> Int

  /// Singular values of an `m × n` row-major matrix (LAPACK `?gesdd`, no vectors; `a` is
  /// destroyed), `min(m, n)` of them in decreasing order into `s`. Returns LAPACK's `info`.
  @_spi(Benchmark) static func singularValues(
    m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int, s: UnsafeMutablePointer<Self>
  ) -> Int

  /// `y[i] = tanh(x[i])` for `count` entries by the package's C kernel (``Kernels``), within
  /// 4 ulp of libm's `tanh` (3 measured; tested); `x` and `y` may be the same buffer.
  @_spi(Benchmark) static func tanh(
    _ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int)

  /// `x[i] ← Self((Double(x[i]) + standardDeviation·z_i)·scale)` for `count` entries, each
  /// `z_i` a standard normal draw of the C kernel (``Kernels``: eight xoshiro256** lanes seeded
  /// from `state`, which advances by 32 words, and a 256-layer ziggurat with the exact tail).
  /// Returns how many results are not finite.
  @_spi(Benchmark) static func addGaussianNoise(
    _ x: UnsafeMutablePointer<Self>, count: Int, standardDeviation: Double, scale: Double,
    state: inout (UInt64, UInt64, UInt64, UInt64)
  ) -> Int

  /// The moments' per-parameter sweep (the C kernel `minibatch_moments_*`): `mu[j] = mean[j]`,
  /// `m2[j] = total·(squares[j] − mean[j]²)` where that exceeds `threshold·total·squares[j]`
  /// and `squares[j] > smallest`, else `0` with `j` written to `inexact` (capacity `count`)
  /// unless the column is zero. Returns how many indices were written.
  @_spi(Benchmark) static func momentsSweep(
    mean: UnsafePointer<Self>, squares: UnsafePointer<Self>, count: Int, total: Double,
    threshold: Double, smallest: Double, mu: UnsafeMutablePointer<Double>,
    m2: UnsafeMutablePointer<Double>, inexact: UnsafeMutablePointer<Int64>
  ) -> Int

  /// The stored row-combination kernel's inner loop (the C kernel `minibatch_add_rows_*`):
  /// `y[j] += Σ_{i<rows} c[i]·a[i·lda + j]` for `j` in `columns`, eight rows at a time in a fixed
  /// tree or one at a time; with `squared`, `y[j] += Σ c[i]·a[i·lda + j]²`, one at a time.
  /// Rounded alike for every column, thread count and instruction set.
  @_spi(Benchmark) static func addRows(
    _ a: UnsafePointer<Self>, lda: Int, rows: Int, columns: Range<Int>,
    coefficients c: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, eightAtATime: Bool,
    squared: Bool)

  /// `Σ_{j<count} (scale·x[j])²` in Double (the C kernel `minibatch_sum_squares_*`: 32 partial
  /// sums in index order, then a fixed tree; the same bits on every instruction set).
  @_spi(Benchmark) static func sumOfSquares(
    _ x: UnsafePointer<Self>, count: Int, scale: Double
  ) -> Double

  /// `out[i] = Σ_{j<columns} a[i·lda + j]²` for `i < rows`, in Double: ``sumOfSquares(_:count:scale:)``
  /// per row (`minibatch_row_sums_squares_*`).
  @_spi(Benchmark) static func rowSumsOfSquares(
    _ a: UnsafePointer<Self>, rows: Int, columns: Int, lda: Int,
    into out: UnsafeMutablePointer<Double>)

  /// An activation's forward pass (the C kernel `minibatch_activation_forward_*`):
  /// `y[i] = f(x[i])` for `count` entries, `kind` `MINIBATCH_RELU`, `_LEAKY_RELU`, `_SIGMOID` or
  /// `_GELU`; `y` must not alias `x`.
  @_spi(Benchmark) static func activationForward(
    kind: Int32, input x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int)

  /// Softmax cross-entropy per example (the C kernel `minibatch_softmax_cross_entropy_*`):
  /// `loss[i] = logsumexp(z_i) − z_iy` and `delta` (`k × m`, required) `= softmax(z_i) − onehot(y_i)`,
  /// for `k` rows of `m ≥ 2` logits and labels in `0..<m`; not divided by `k`.
  @_spi(Benchmark) static func softmaxCrossEntropy(
    _ z: UnsafePointer<Self>, labels: UnsafePointer<Int>, k: Int, m: Int,
    loss: UnsafeMutablePointer<Self>, delta: UnsafeMutablePointer<Self>)

  /// Binary cross-entropy per example (the C kernel `minibatch_binary_cross_entropy_*`), labels
  /// in `{0, 1}`: `loss[i] = softplus(z_i) − y_i·z_i` and, when `delta` is given,
  /// `delta[i] = σ(z_i) − y_i`; not divided by `k`.
  @_spi(Benchmark) static func binaryCrossEntropy(
    _ z: UnsafePointer<Self>, labels: UnsafePointer<Int>, k: Int,
    loss: UnsafeMutablePointer<Self>, delta: UnsafeMutablePointer<Self>?)

  /// Unfold (im2col, the C kernel `minibatch_unfold_*`): `u` (`(k·T) × p`, every entry written)
  /// from `x` (`k × C × H × W`) under `geometry`.
  @_spi(Benchmark) static func unfold(
    _ x: UnsafePointer<Self>, k: Int, geometry: minibatch_convolution_geometry,
    into u: UnsafeMutablePointer<Self>)

  /// Fold (col2im, the C kernel `minibatch_fold_*`), the adjoint of unfold: `x` (`k × C × H × W`,
  /// overwritten) from the patches `u` (`(k·T) × p`).
  @_spi(Benchmark) static func fold(
    _ u: UnsafePointer<Self>, k: Int, geometry: minibatch_convolution_geometry,
    into x: UnsafeMutablePointer<Self>)

  /// An activation's backward pass (the C kernel `minibatch_activation_backward_*`):
  /// `below[i] = g[i]·f′` for `count` entries, `x` the layer's input and `f` its output;
  /// `kind` is `MINIBATCH_RELU`, `_LEAKY_RELU`, `_TANH`, `_SIGMOID` or `_GELU`.
  @_spi(Benchmark) static func activationBackward(
    kind: Int32, outputDeltas g: UnsafePointer<Self>, input x: UnsafePointer<Self>,
    output f: UnsafePointer<Self>, into below: UnsafeMutablePointer<Self>, count: Int)
}

// The compiler wants a default for every `@_spi` requirement. Float and Double implement each
// one, and a type outside the package cannot conform, so none of these is ever called.
extension BLASScalar {
  @_spi(Benchmark) public static var blasPrefix: String { notBLAS() }

  @_spi(Benchmark) public static func gemv(
    transpose: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
    x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>, incy: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func syrk(
    n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func axpy(
    n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int, y: UnsafeMutablePointer<Self>,
    incy: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func gelsd(
    m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
    b: UnsafeMutablePointer<Self>, ldb: Int, s: UnsafeMutablePointer<Self>, rcond: Self
  ) -> (info: Int, rank: Int) { notBLAS() }

  @_spi(Benchmark) public static func syevd(
    n: Int, a: UnsafeMutablePointer<Self>, lda: Int, w: UnsafeMutablePointer<Self>,
    vectors: Bool
  ) -> Int { notBLAS() }

  @_spi(Benchmark) public static func singularValues(
    m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int, s: UnsafeMutablePointer<Self>
  ) -> Int { notBLAS() }

  @_spi(Benchmark) public static func tanh(
    _ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func addGaussianNoise(
    _ x: UnsafeMutablePointer<Self>, count: Int, standardDeviation: Double, scale: Double,
    state: inout (UInt64, UInt64, UInt64, UInt64)
  ) -> Int { notBLAS() }

  @_spi(Benchmark) public static func momentsSweep(
    mean: UnsafePointer<Self>, squares: UnsafePointer<Self>, count: Int, total: Double,
    threshold: Double, smallest: Double, mu: UnsafeMutablePointer<Double>,
    m2: UnsafeMutablePointer<Double>, inexact: UnsafeMutablePointer<Int64>
  ) -> Int { notBLAS() }

  @_spi(Benchmark) public static func addRows(
    _ a: UnsafePointer<Self>, lda: Int, rows: Int, columns: Range<Int>,
    coefficients c: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, eightAtATime: Bool,
    squared: Bool
  ) { notBLAS() }

  @_spi(Benchmark) public static func activationForward(
    kind: Int32, input x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int
  ) { notBLAS() }

  @_spi(Benchmark) public static func softmaxCrossEntropy(
    _ z: UnsafePointer<Self>, labels: UnsafePointer<Int>, k: Int, m: Int,
    loss: UnsafeMutablePointer<Self>, delta: UnsafeMutablePointer<Self>
  ) { notBLAS() }

  @_spi(Benchmark) public static func binaryCrossEntropy(
    _ z: UnsafePointer<Self>, labels: UnsafePointer<Int>, k: Int,
    loss: UnsafeMutablePointer<Self>, delta: UnsafeMutablePointer<Self>?
  ) { notBLAS() }

  @_spi(Benchmark) public static func unfold(
    _ x: UnsafePointer<Self>, k: Int, geometry: minibatch_convolution_geometry,
    into u: UnsafeMutablePointer<Self>
  ) { notBLAS() }

  @_spi(Benchmark) public static func fold(
    _ u: UnsafePointer<Self>, k: Int, geometry: minibatch_convolution_geometry,
    into x: UnsafeMutablePointer<Self>
  ) { notBLAS() }

  @_spi(Benchmark) public static func sumOfSquares(
    _ x: UnsafePointer<Self>, count: Int, scale: Double
  ) -> Double { notBLAS() }

  @_spi(Benchmark) public static func rowSumsOfSquares(
    _ a: UnsafePointer<Self>, rows: Int, columns: Int, lda: Int,
    into out: UnsafeMutablePointer<Double>
  ) { notBLAS() }

  @_spi(Benchmark) public static func activationBackward(
    kind: Int32, outputDeltas g: UnsafePointer<Self>, input x: UnsafePointer<Self>,
    output f: UnsafePointer<Self>, into below: UnsafeMutablePointer<Self>, count: Int
  ) { notBLAS() }
}

/// The unreachable default of a BLAS requirement.
func notBLAS() -> Never { preconditionFailure("BLASScalar is Float or Double") }

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
