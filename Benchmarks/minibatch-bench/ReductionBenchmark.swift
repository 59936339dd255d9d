import Foundation
@_spi(Benchmark) import Minibatch

/// One row of the foundation table: `mean()` of a k×n matrix at one thread count, against a
/// naive loop, one plain BLAS GEMV call and the bandwidth probe; and the fused SGD step against
/// `mean()` followed by an axpy.
struct ReductionCase {
  var scalar: String
  var k: Int
  var n: Int
  var threads: Int
  var path: String
  var mean: Timing
  var naive: Timing
  var blas: Timing
  /// One `cblas_?gemv` on exactly `threads` OpenBLAS threads (a child process for 1 thread), and
  /// the thread count OpenBLAS reported there.
  var blasSameThreads: Timing
  var blasThreads: Int
  var fusedStep: Timing
  var meanThenAxpy: Timing
  var bandwidthGBps: Double
  var matrixBytes: Double

  func gbps(_ timing: Timing) -> Double { matrixBytes / timing.minimum / 1e9 }
  var percentOfBandwidth: Double { 100 * gbps(mean) / bandwidthGBps }
  /// How much slower than the naive loop `mean()` is (negative: faster).
  var slowdownVersusNaive: Double { mean.minimum / naive.minimum - 1 }
  /// Speed of `mean()` relative to the better of the naive loop and one GEMV on as many threads
  /// (≥ 0.95 is the target).
  var speedVersusBest: Double { min(naive.minimum, blasSameThreads.minimum) / mean.minimum }

  var json: String {
    let fields: [(String, String)] = [
      ("kernel", "\"mean\""), ("scalar", "\"\(scalar)\""), ("threads", "\(threads)"),
      ("k", "\(k)"), ("n", "\(n)"), ("path", "\"\(path)\""),
      ("seconds_min", "\(mean.minimum)"), ("seconds_median", "\(mean.median)"),
      ("gbps", "\(gbps(mean))"), ("naive_gbps", "\(gbps(naive))"),
      ("naive_seconds_min", "\(naive.minimum)"), ("blas_gemv_gbps", "\(gbps(blas))"),
      ("blas_gemv_threads", "\(blasThreads)"),
      ("blas_gemv_same_threads_seconds_min", "\(blasSameThreads.minimum)"),
      ("blas_gemv_same_threads_gbps", "\(gbps(blasSameThreads))"),
      ("speed_vs_best_of_naive_and_blas", "\(speedVersusBest)"),
      ("bandwidth_gbps", "\(bandwidthGBps)"), ("percent_of_bandwidth", "\(percentOfBandwidth)"),
      ("fused_step_seconds_min", "\(fusedStep.minimum)"),
      ("fused_step_seconds_median", "\(fusedStep.median)"),
      ("mean_axpy_seconds_min", "\(meanThenAxpy.minimum)"),
      ("mean_axpy_seconds_median", "\(meanThenAxpy.median)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
  }
}

/// `y[j] = Σ_i v[i]·J[i, j]` the way one would first write it: row by row into `y`.
func naiveReduction<Scalar: BLASScalar>(
  _ matrix: UnsafeBufferPointer<Scalar>, k: Int, n: Int, vector v: [Scalar],
  into y: UnsafeMutableBufferPointer<Scalar>
) {
  for j in 0..<n { y[j] = 0 }
  let a = matrix.baseAddress!
  for i in 0..<k {
    let c = v[i]
    let row = a + i * n
    for j in 0..<n { y[j] += c * row[j] }
  }
}

/// Random, non-repeating entries in [-1, 1): this machine reads repeating patterns faster.
func randomMatrix<Scalar: BLASScalar>(_: Scalar.Type, k: Int, n: Int, seed: UInt64) throws
  -> PerExampleGradients<Scalar>
{
  var rng = SeededGenerator(seed: seed)
  return try PerExampleGradients<Scalar>(k: k, n: n) { _, row in
    for j in row.indices { row[j] = Scalar(Double(rng.next() >> 11) * 0x1p-52 - 1) }
  }
}

func benchmarkReduction<Scalar: BLASScalar>(
  _: Scalar.Type, k: Int, n: Int, threadCounts: [Int], bandwidth: [Int: Double], budget: Double
) throws -> [ReductionCase] {
  let gradients = try randomMatrix(Scalar.self, k: k, n: n, seed: UInt64(k &* 31 &+ n))
  let meanVector = [Scalar](repeating: 1 / Scalar(k), count: k)
  var y = [Scalar](repeating: 0, count: n)
  var weights = [Scalar](repeating: 0, count: n)

  // Ours first: OpenBLAS worker threads keep spinning for a while after a GEMV call and would
  // share the cores with the kernel's own threads.
  let ours = try threadCounts.map { threads in
    let parallelism = Parallelism.threads(threads)
    let mean = measure(budget: budget) { sink.consume(gradients.mean(parallelism: parallelism)[0]) }
    let rate: Scalar = 1e-3
    var failure: MinibatchError?
    let fused = measure(budget: budget / 2) {
      do throws(MinibatchError) {
        try gradients.applyMeanStep(to: &weights, learningRate: rate, parallelism: parallelism)
      } catch { failure = error }
      sink.consume(weights[0])
    }
    let separate = measure(budget: budget / 2) {
      let g = gradients.mean(parallelism: parallelism)
      g.withUnsafeBufferPointer { g in
        weights.withUnsafeMutableBufferPointer { w in
          Scalar.axpy(n: n, alpha: -rate, x: g.baseAddress!, incx: 1, y: w.baseAddress!, incy: 1)
        }
      }
      sink.consume(weights[0])
    }
    if let failure { throw failure }
    return (threads, mean, fused, separate)
  }
  let naive = gradients.withUnsafeElements { matrix in
    y.withUnsafeMutableBufferPointer { y in
      measure(budget: budget) {
        naiveReduction(matrix, k: k, n: n, vector: meanVector, into: y)
        sink.consume(y[n - 1])
      }
    }
  }
  let blas = try blasGemvTiming(gradients, budget: budget)
  // OpenBLAS on one thread, in a child process (its thread count is fixed at load time).
  let single = try runChild(
    ["blas-gemv", "\(Scalar.self)", "\(k)", "\(n)", "\(budget)"],
    environment: ["OPENBLAS_NUM_THREADS": "1"])
  let blasOneThread = Timing(seconds: [single[0], single[1], single[1]])

  let bytes = Double(k * n * MemoryLayout<Scalar>.stride)
  return ours.map { threads, mean, fused, separate in
    ReductionCase(
      scalar: "\(Scalar.self)", k: k, n: n, threads: threads,
      path: gradients.reductionImplementation, mean: mean, naive: naive, blas: blas,
      blasSameThreads: threads == 1 ? blasOneThread : blas,
      blasThreads: threads == 1 ? Int(single[2]) : OpenBLASInfo.threadCount,
      fusedStep: fused, meanThenAxpy: separate, bandwidthGBps: bandwidth[threads] ?? .nan,
      matrixBytes: bytes)
  }
}

/// One `cblas_?gemv` computing the mean of `gradients`'s rows, on OpenBLAS's threads.
func blasGemvTiming<Scalar: BLASScalar>(
  _ gradients: PerExampleGradients<Scalar>, budget: Double
) throws -> Timing {
  let (k, n) = (gradients.k, gradients.n)
  let meanVector = [Scalar](repeating: 1 / Scalar(k), count: k)
  var y = [Scalar](repeating: 0, count: n)
  return gradients.withUnsafeElements { matrix in
    y.withUnsafeMutableBufferPointer { y in
      measure(budget: budget) {
        Scalar.gemv(
          transpose: true, m: k, n: n, alpha: 1, a: matrix.baseAddress!, lda: n, x: meanVector,
          incx: 1, beta: 0, y: y.baseAddress!, incy: 1)
        sink.consume(y[0])
      }
    }
  }
}

/// The same, on the matrix `benchmarkReduction` builds for this shape (for the child process).
func blasGemvTiming<Scalar: BLASScalar>(
  _: Scalar.Type, k: Int, n: Int, budget: Double
) throws -> Timing {
  try blasGemvTiming(
    try randomMatrix(Scalar.self, k: k, n: n, seed: UInt64(k &* 31 &+ n)), budget: budget)
}
