import Dispatch

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
        writer.write(rows: rows, columns: 0..<n, into: matrix.pointer)
      }
    }
  }

  /// Fills `J` with `writer` and computes `y ← alpha·Jᵀ·v + beta·y` in the same sweep: each block
  /// of rows is reduced right after it is written, while it is still in the core's cache, so `J`
  /// crosses the memory bus once (written) instead of twice (written, then read by a GEMV).
  ///
  /// The threads split the **columns** (each owns `y[columns]` and the same columns of every
  /// row) and sweep them in tiles of 8 rows; each column is summed over its rows in the same
  /// order and grouping whatever the columns around it, so the result is
  /// **bit-identical for any thread count** (it may differ in the last bits from the separate
  /// ``reduce(with:alpha:beta:into:parallelism:)``, which sums in another order).
  ///
  /// With `v = 1/k`, `alpha = 1`, `beta = 0` this is the mean; with `alpha = −η/k`, `beta = 1`
  /// and `y` the weights it is the SGD step.
  ///
  /// - Throws: the shape error of ``write(_:parallelism:)``, and the errors of
  ///   ``reduce(with:alpha:beta:into:parallelism:)`` for `v`, `alpha`, `beta` and `y`. Nothing is
  ///   written if any check fails.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func write(
    _ writer: PerExampleRowWriter<Scalar>, reducingWith v: [Scalar], alpha: Scalar = 1,
    beta: Scalar = 0, into y: inout [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateWriter(writer)
    try validateReductionVector(v)
    try validateCoefficient(alpha, of: "alpha")
    try validateCoefficient(beta, of: "beta")
    try validateCount(y.count, expected: n, of: "y (length n)")
    let (k, n) = (k, n)
    let lane = Scalar.CacheLineVector.scalarCount
    // Column panels of whole cache lines, one per thread, at least 2048 columns each.
    let lines = (n + lane - 1) / lane
    let parts = max(1, min(parallelism.threadCount, n / 2048))
    let linesPerPart = (lines + parts - 1) / parts
    // Each panel is swept in tiles of 8 rows × `tileColumns`: 8 row segments plus the matching
    // segment of y fill about 192 KiB, well inside a core's L2 cache, and y is read and written
    // once per 8 rows. Rows are grouped in eights from row 0 whatever the columns, so every
    // column's sum is formed identically for any thread count.
    let tileColumns = max(lane, (192 << 10) / (9 * MemoryLayout<Scalar>.stride) / lane * lane)
    let coefficients = v.map { alpha * $0 }
    withUnsafeMutableElements { j in
      coefficients.withUnsafeBufferPointer { c in
        y.withUnsafeMutableBufferPointer { y in
          let matrix = SendableMutablePointer(j.baseAddress!)
          let result = SendableMutablePointer(y.baseAddress!)
          let weights = SendablePointer(c.baseAddress!)
          let work: @Sendable (Int) -> Void = { part in
            let columns =
              min(n, part * linesPerPart * lane)..<min(n, (part + 1) * linesPerPart * lane)
            guard !columns.isEmpty else { return }
            RowCombinationKernel.scale(result.pointer, columns, by: beta)
            for tileStart in stride(
              from: columns.lowerBound, to: columns.upperBound, by: tileColumns)
            {
              let tile = tileStart..<min(columns.upperBound, tileStart + tileColumns)
              for start in stride(from: 0, to: k, by: 8) {
                let rows = start..<min(k, start + 8)
                writer.write(rows: rows, columns: tile, into: matrix.pointer)
                RowCombinationKernel.addRows(
                  a: matrix.pointer, lda: n, rows: rows, columns: tile,
                  coefficients: weights.pointer, y: result.pointer, eightAtATime: true)
              }
            }
          }
          if parts == 1 {
            work(0)
          } else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: work)
          }
        }
      }
    }
  }

  /// Fills `J` with `writer` and returns the mean of its rows, `(1/k)·Jᵀ·1`, reducing each block
  /// while it is in cache (see ``write(_:reducingWith:alpha:beta:into:parallelism:)``).
  public mutating func writeReturningMean(
    _ writer: PerExampleRowWriter<Scalar>, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    var mean = [Scalar](repeating: 0, count: n)
    try write(
      writer, reducingWith: Array(repeating: 1 / Scalar(k), count: k), into: &mean,
      parallelism: parallelism)
    return mean
  }

  func validateWriter(_ writer: PerExampleRowWriter<Scalar>) throws(MinibatchError) {
    try validateShape(examples: writer.k, parameters: writer.n)
  }

  /// Checks that this matrix is `examples × parameters`.
  func validateShape(examples: Int, parameters: Int) throws(MinibatchError) {
    try validateCount(k, expected: examples, of: "rows of the gradient matrix (k)")
    try validateCount(n, expected: parameters, of: "columns of the gradient matrix (n)")
  }
}

/// Pointers handed to worker threads that touch disjoint parts of the memory behind them.
struct SendableMutablePointer<Scalar>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Scalar>
  init(_ pointer: UnsafeMutablePointer<Scalar>) { self.pointer = pointer }
}

struct SendablePointer<Scalar>: @unchecked Sendable {
  let pointer: UnsafePointer<Scalar>
  init(_ pointer: UnsafePointer<Scalar>) { self.pointer = pointer }
}
