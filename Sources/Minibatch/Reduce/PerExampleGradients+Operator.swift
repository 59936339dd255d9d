// The stored representation: `J` as a k×n row-major matrix, every reduction one GEMV.

/// Which implementation computes `y ← alpha·Jᵀ·v + beta·y` for a stored `J`.
@usableFromInline
enum ReductionPath: Sendable, CaseIterable {
  /// One `cblas_?gemv` call (row-major, transposed), on OpenBLAS's own threads.
  case blas
  /// ``RowCombinationKernel`` on the threads ``Parallelism`` grants (one for a small `J`).
  case streamingKernel

  /// The path for a k×n matrix of `Scalar`: BLAS while `J` is at most twice the last-level cache
  /// (read at run time, ``CacheSize/lastLevelBytes``), where OpenBLAS's vector kernels win (a
  /// matrix slightly larger than the cache still mostly hits it on repeated calls; the README's
  /// benchmark shows where the two paths cross); the package's kernel beyond, where both are
  /// bound by memory and the kernel's result does not depend on the thread count. A `J` of at
  /// most 256 KiB (``isSmall(k:n:scalar:)``) takes the kernel on one thread: OpenBLAS hands a `?gemv` of this size
  /// to its threads, and waking them costs about as much as the call.
  @usableFromInline
  static func choose<Scalar>(k: Int, n: Int, scalar: Scalar.Type) -> ReductionPath {
    let bytes = k * n * MemoryLayout<Scalar>.stride
    return !isSmall(k: k, n: n, scalar: scalar) && bytes <= 2 * CacheSize.lastLevelBytes
      ? .blas : .streamingKernel
  }

  /// Whether a k×n `J` of `Scalar` is at most 256 KiB: reduced by the kernel on one thread.
  @usableFromInline
  static func isSmall<Scalar>(k: Int, n: Int, scalar: Scalar.Type) -> Bool {
    k * n * MemoryLayout<Scalar>.stride <= 256 * 1024
  }
}

extension PerExampleGradients: PerExampleGradientOperator {
  /// `k`, the rows of `J`.
  public var exampleCount: Int { k }
  /// `n`, the columns of `J`.
  public var parameterCount: Int { n }

  /// `y ← alpha·Jᵀv + beta·y`, exactly as BLAS `?gemv` defines it (one call while `J` is over
  /// 256 KiB and at most twice the last-level cache, the package's kernel otherwise). See
  /// ``PerExampleGradientOperator/reduce(with:alpha:beta:into:parallelism:)``.
  @inlinable
  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    reduceUnchecked(with: v, alpha: alpha, beta: beta, into: &y, parallelism: parallelism)
  }

  /// The averaged gradient `(1/k)·Σ_i J[i, :]` (see ``PerExampleGradientOperator/mean(parallelism:)``),
  /// straight to the kernel: the stored matrix's vector `1/k` needs no checks, and a small `J` is
  /// dominated by per-call overhead.
  @inlinable
  public func mean(parallelism: Parallelism = .automatic) -> [Scalar] {
    reducedUnchecked(with: filled(1 / Scalar(k), count: k), parallelism: parallelism)
  }

  /// The summed gradient `Σ_i J[i, :]` (see ``PerExampleGradientOperator/sum(parallelism:)``).
  @inlinable
  public func sum(parallelism: Parallelism = .automatic) -> [Scalar] {
    reducedUnchecked(with: filled(1, count: k), parallelism: parallelism)
  }

  /// `y ← alpha·(J∘J)ᵀv + beta·y`, one pass over `J` (threads own column panels). See
  /// ``PerExampleGradientOperator/reduceSquares(with:alpha:beta:into:parallelism:)``.
  public func reduceSquares(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    let (k, n) = (k, n)
    let coefficients = v.map { alpha * $0 }
    withUnsafeElements { a in
      coefficients.withUnsafeBufferPointer { c in
        y.withUnsafeMutableBufferPointer { y in
          RowCombinationKernel.combineSquares(
            a: a.baseAddress!, k: k, n: n, lda: n, coefficients: c.baseAddress!, beta: beta,
            y: y.baseAddress!, parallelism: parallelism)
        }
      }
    }
  }

  /// `‖J[i, :]‖²` for every row, accumulated and returned in Double, one pass over `J` on the
  /// calling thread (`parallelism` is not used).
  public func squaredRowNorms(parallelism: Parallelism = .automatic) -> [Double] {
    let (k, n) = (k, n)
    return withUnsafeElements { a in
      Minibatch.squaredRowNorms(a.baseAddress!, k: k, n: n)
    }
  }

  /// Copies the tile `rows × columns` of `J` into `tile` (see
  /// ``PerExampleGradientOperator/writeTile(rows:columns:into:rowStride:)``).
  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError) {
    _ = try validateTile(
      rows: rows, columns: columns, count: tile.count, rowStride: rowStride, exampleCount: k,
      parameterCount: n)
    let n = n
    withUnsafeElements { a in
      for (r, i) in rows.enumerated() {
        (tile.baseAddress! + r * rowStride).update(
          from: a.baseAddress! + i * n + columns.lowerBound, count: columns.count)
      }
    }
  }

  /// Which implementation this matrix's `reduce` uses: `"blas-gemv"` (one `cblas_?gemv` call,
  /// while `J` is over 256 KiB and at most twice the last-level cache, on OpenBLAS's threads) or
  /// `"streaming-kernel"` (the package's kernel: on one thread up to 256 KiB, on the threads given
  /// by ``Parallelism`` beyond the cache). Reported by the benchmark (`@_spi(Benchmark)`).
  @_spi(Benchmark) public var reductionImplementation: String {
    switch ReductionPath.choose(k: k, n: n, scalar: Scalar.self) {
    case .blas: return "blas-gemv"
    case .streamingKernel: return "streaming-kernel"
    }
  }

  // MARK: - Fused SGD steps onto the parameters

  /// The SGD step `w ← w − η·mean()`, as **one** GEMV onto the parameters,
  /// `w ← −η·Jᵀv + 1·w` with `v_i = 1/k` (the `1/k` inside the sum, so a finite mean gives a
  /// finite step): no temporary gradient vector.
  ///
  /// - Parameters:
  ///   - parameters: the `n` parameters, updated in place.
  ///   - learningRate: `η`, finite and `≥ 0`, applied to the **mean** gradient (not the sum).
  ///   - parallelism: threads for the package's kernel beyond the cache.
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `parameters.count != n`,
  ///   ``MinibatchError/invalidLearningRate(_:)``, and
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` if the step would make a parameter NaN or
  ///   infinite. On error `parameters` is unchanged.
  public func applyMeanStep(
    to parameters: inout [Scalar], learningRate: Scalar, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try applyStep(
      to: &parameters, learningRate: learningRate,
      v: filled(1 / Scalar(k), count: k), parallelism: parallelism)
  }

  /// The weighted SGD step `w ← w − η·weightedMean(exampleWeights: e)`, one GEMV
  /// `w ← −η·Jᵀv + 1·w` with `v_i = e_i/Σe` (divided in Double before the sum).
  ///
  /// - Throws: the errors of ``PerExampleGradientOperator/weightedMean(exampleWeights:parallelism:)``
  ///   and of ``applyMeanStep(to:learningRate:parallelism:)``. On error `parameters` is unchanged.
  public func applyWeightedMeanStep(
    to parameters: inout [Scalar], learningRate: Scalar, exampleWeights: [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(parameters.count, expected: n, of: "parameters (length n)")
    try validateLearningRate(learningRate)
    let total = try validatedWeightTotal(exampleWeights, count: k)
    try applyStep(
      to: &parameters, learningRate: learningRate,
      v: try scaledReductionVector(exampleWeights, denominator: total), parallelism: parallelism)
  }

  func applyStep(
    to parameters: inout [Scalar], learningRate: Scalar, v: [Scalar], parallelism: Parallelism
  ) throws(MinibatchError) {
    try validateCount(parameters.count, expected: n, of: "parameters (length n)")
    try validateLearningRate(learningRate)
    var updated = parameters
    try reduce(with: v, alpha: -learningRate, beta: 1, into: &updated, parallelism: parallelism)
    try validateFinite(updated, of: "parameters after the step")
    parameters = updated
  }

  // MARK: - Implementation

  /// The stored `y ← alpha·Jᵀv + beta·y` for checked arguments: the kernel-layer entry that the
  /// inlinable public calls reach, specialised for Float and Double.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  @usableFromInline
  func reduceUnchecked(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism, path: ReductionPath? = nil
  ) {
    y.withUnsafeMutableBufferPointer { y in
      reduceUnchecked(
        with: v, alpha: alpha, beta: beta, into: y, parallelism: parallelism, path: path)
    }
  }

  /// `Jᵀv` into a new array, zero-filled only for the BLAS path (the streaming kernel does not
  /// read `y` when `beta = 0`; a BLAS `?scal` by 0 may propagate what the memory held).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  @usableFromInline
  func reducedUnchecked(with v: [Scalar], parallelism: Parallelism) -> [Scalar] {
    let path = ReductionPath.choose(k: k, n: n, scalar: Scalar.self)
    return [Scalar](unsafeUninitializedCapacity: n) { y, initialized in
      if path == .blas { y.initialize(repeating: 0) }
      reduceUnchecked(with: v, alpha: 1, beta: 0, into: y, parallelism: parallelism, path: path)
      initialized = n
    }
  }

  func reduceUnchecked(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into y: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism, path: ReductionPath?
  ) {
    let (k, n) = (k, n)
    withUnsafeElements { matrix in
      v.withUnsafeBufferPointer { v in
        switch path ?? ReductionPath.choose(k: k, n: n, scalar: Scalar.self) {
        case .blas:
          Scalar.gemv(
            transpose: true, m: k, n: n, alpha: alpha, a: matrix.baseAddress!, lda: n,
            x: v.baseAddress!, incx: 1, beta: beta, y: y.baseAddress!, incy: 1)
        case .streamingKernel:
          let coefficients = v.map { alpha * $0 }
          coefficients.withUnsafeBufferPointer { c in
            let small = ReductionPath.isSmall(k: k, n: n, scalar: Scalar.self)
            RowCombinationKernel.combine(
              a: matrix.baseAddress!, k: k, n: n, coefficients: c.baseAddress!, beta: beta,
              y: y.baseAddress!, threads: small ? 1 : parallelism.threadCount)
          }
        }
      }
    }
  }
}

// MARK: - Filling J from a row writer

extension PerExampleGradients {
  /// Fills all of `J` with `writer`, the threads taking contiguous ranges of rows.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if the writer's `k × n` is not
  ///   this matrix's (nothing is written).
  public mutating func write(
    _ writer: PerExampleRowWriter<Scalar>, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateWriter(writer)
    let (k, n) = (k, n)
    withUnsafeMutableElements { j in
      let matrix = SendableMutablePointer(j.baseAddress!)
      // Small matrices are not worth a thread hand-off.
      parallelism.forEachRange(of: k, minimumChunk: max(1, (1 << 16) / n)) { rows in
        writer.writeUnchecked(
          rows: rows, columns: 0..<n, into: matrix.pointer + rows.lowerBound * n, rowStride: n)
      }
    }
  }

  /// Fills `J` with `writer` and computes `y ← alpha·Jᵀv + beta·y` in the same sweep: each tile of
  /// 8 rows is reduced right after it is written, while it is still in cache, so `J` crosses the
  /// memory bus once instead of twice. Threads own column panels, so the result is
  /// **bit-identical for any thread count** (it may differ in the last bits from
  /// ``reduce(with:alpha:beta:into:parallelism:)``, which sums in another order).
  ///
  /// With `v = 1/k`, `alpha = 1`, `beta = 0` this is the mean; with `alpha = −η`, `beta = 1`
  /// and `y` the parameters it is the SGD step. To reduce a writer without storing `J` at all, use
  /// ``StreamedPerExampleGradients``.
  ///
  /// - Throws: the shape error of ``write(_:parallelism:)``, and the errors of
  ///   ``reduce(with:alpha:beta:into:parallelism:)``. Nothing is written if any check fails.
  public mutating func write(
    _ writer: PerExampleRowWriter<Scalar>, reducingWith v: [Scalar], alpha: Scalar = 1,
    beta: Scalar = 0, into y: inout [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateWriter(writer)
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    let coefficients = v.map { alpha * $0 }
    withUnsafeMutableElements { j in
      coefficients.withUnsafeBufferPointer { c in
        y.withUnsafeMutableBufferPointer { y in
          TileSweep.reduce(
            writer, coefficients: c.baseAddress!, beta: beta, into: y.baseAddress!,
            squared: false, storingInto: j.baseAddress!, parallelism: parallelism)
        }
      }
    }
  }

  func validateWriter(_ writer: PerExampleRowWriter<Scalar>) throws(MinibatchError) {
    try validateShape(examples: writer.exampleCount, parameters: writer.parameterCount)
  }

  /// Checks that this matrix is `examples × parameters`.
  func validateShape(examples: Int, parameters: Int) throws(MinibatchError) {
    try validateCount(k, expected: examples, of: "rows of the gradient matrix (k)")
    try validateCount(n, expected: parameters, of: "columns of the gradient matrix (n)")
  }
}
