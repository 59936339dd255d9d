/// Which implementation computes `y ← alpha·Jᵀ·v + beta·y`.
@usableFromInline
enum ReductionPath: Sendable, CaseIterable {
  /// One `cblas_?gemv` call (row-major, transposed).
  case blas
  /// ``RowCombinationKernel`` on Minibatch's own threads.
  case streamingKernel

  /// Matrices up to this size (bytes of J, the last-level cache of the benchmark machine) stay on
  /// the BLAS path.
  ///
  /// Measured with `make bench`: while J fits in the last-level cache, OpenBLAS's AVX kernels beat
  /// the Swift kernel (compiled for baseline x86-64). Beyond it both are bound by memory; the Swift
  /// kernel runs on the threads ``Parallelism`` grants (one OpenBLAS call always uses OpenBLAS's
  /// process-wide thread count) and gives the same bits for any thread count. On one thread it
  /// read 28–33 GB/s where a single-threaded `dgemv` (`OPENBLAS_NUM_THREADS=1`, an exploratory run
  /// on the benchmark machine) read 24–31 GB/s. With two threads each side wins some shapes (see
  /// README).
  @usableFromInline static let blasMaximumBytes = 32 * 1024 * 1024

  /// The path for a k×n matrix of `Scalar`.
  @usableFromInline
  static func choose<Scalar>(k: Int, n: Int, scalar: Scalar.Type) -> ReductionPath {
    k * n * MemoryLayout<Scalar>.stride <= blasMaximumBytes ? .blas : .streamingKernel
  }
}

/// The one operation behind every reduction of ``PerExampleGradients``:
///
/// ```
/// y ← alpha·Jᵀ·v + beta·y        J: k×n,  v: k entries,  y: n entries
/// ```
///
/// `y[j] = beta·y[j] + alpha·Σ_i v[i]·J[i, j]`. With `beta == 0`, `y` is only written.
/// Inputs are validated by the public callers; this function trusts them.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func gemvReduce<Scalar: BLASScalar>(
  _ gradients: PerExampleGradients<Scalar>, vector v: UnsafeBufferPointer<Scalar>, alpha: Scalar,
  beta: Scalar, into y: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism,
  path: ReductionPath? = nil
) {
  let (k, n) = (gradients.k, gradients.n)
  assert(v.count == k && y.count == n)
  gradients.withUnsafeElements { matrix in
    switch path ?? ReductionPath.choose(k: k, n: n, scalar: Scalar.self) {
    case .blas:
      Scalar.gemv(
        transpose: true, m: k, n: n, alpha: alpha, a: matrix.baseAddress!, lda: n,
        x: v.baseAddress!, incx: 1, beta: beta, y: y.baseAddress!, incy: 1)
    case .streamingKernel:
      withUnsafeTemporaryAllocation(of: Scalar.self, capacity: k) { coefficients in
        for i in 0..<k { coefficients[i] = alpha * v[i] }
        RowCombinationKernel.combine(
          a: matrix.baseAddress!, k: k, n: n,
          coefficients: UnsafePointer(coefficients.baseAddress!),
          beta: beta, y: y.baseAddress!, threads: parallelism.threadCount)
      }
    }
  }
}

extension PerExampleGradients {
  /// Which implementation this matrix's reductions use: `"blas-gemv"` (one `cblas_?gemv` call,
  /// for matrices up to 32 MiB, using OpenBLAS's own threads) or `"streaming-kernel"` (Minibatch's
  /// kernel on the threads given by ``Parallelism``). Both compute the same GEMV; reported by the
  /// benchmark.
  public var reductionImplementation: String {
    switch ReductionPath.choose(k: k, n: n, scalar: Scalar.self) {
    case .blas: return "blas-gemv"
    case .streamingKernel: return "streaming-kernel"
    }
  }
}
