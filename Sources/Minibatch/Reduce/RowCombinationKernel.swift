import Dispatch

/// Minibatch's own kernel for `y ← beta·y + Aᵀ·c` over a matrix too large for the caches:
///
/// ```
/// y[j] ← beta·y[j] + Σ_{i<k} c[i]·A[i, j]        0 ≤ j < n
/// ```
///
/// `A` is k×n, row-major and contiguous. This is the GEMV that `?gemv_t` computes, organised so
/// that `A` is read once at close to streaming speed. Two schemes, chosen by the row length
/// alone (the README's benchmark section has the measurements behind the choice):
///
/// - **Long rows** (a row of at least ``longRowBytes``): rows are consumed **eight at a time**,
///   `y += ((c₀r₀ + c₁r₁) + (c₂r₂ + c₃r₃)) + ((c₄r₄ + c₅r₅) + (c₆r₆ + c₇r₇))`, so `y` is loaded
///   and stored once per eight rows; the last `k mod 8` rows are added one at a time. Threads take
///   contiguous column ranges.
/// - **Short rows**: threads take fixed chunks of ``chunkRows`` rows, each summed into its own
///   partial vector one row at a time (`y += cᵢ·rᵢ`: the chunk is read as one contiguous stream
///   and the partial stays in L1; eight rows side by side are eight streams, which a 2-core
///   Zen 4 read at 16 GB/s against 25 for one); the partials are then added in chunk order, one
///   at a time.
///
/// The inner loops are the C kernel `minibatch_add_rows_*` (``BLASScalar`` forwards to it),
/// compiled for each instruction set with floating-point contraction off.
/// Every column sees the same sequence of floating-point operations for any thread count and any
/// split point, so the result is **bit-identical whatever the thread count**. It is tested against
/// the BLAS GEMV path and a naive loop.
@usableFromInline
enum RowCombinationKernel {
  /// Rows at least this long (in bytes) use the eight-row scheme.
  @usableFromInline static let longRowBytes = 24 * 1024
  /// Rows per chunk in the short-row scheme (the unit of work of one thread).
  @usableFromInline static let chunkRows = 2048
  /// The shortest run of a row one thread reads in the long-row scheme.
  @usableFromInline static let minimumSegmentBytes = 8 * 1024

  /// `y ← beta·y + Aᵀ·c` for a k×n row-major contiguous `A`, on up to `threads` threads.
  /// With `beta == 0`, `y` is not read.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  @usableFromInline
  static func combine<Scalar: BLASScalar>(
    a: UnsafePointer<Scalar>, k: Int, n: Int, coefficients c: UnsafePointer<Scalar>,
    beta: Scalar, y: UnsafeMutablePointer<Scalar>, threads: Int
  ) {
    if n * MemoryLayout<Scalar>.stride >= longRowBytes || k <= chunkRows {
      combineByColumns(a: a, k: k, n: n, coefficients: c, beta: beta, y: y, threads: threads)
    } else {
      combineByRowChunks(a: a, k: k, n: n, coefficients: c, beta: beta, y: y, threads: threads)
    }
  }

  /// `y ← beta·y + (A∘A)ᵀ·c` for a k×n row-major `A` (leading dimension `lda`): the threads own
  /// column panels and add rows one at a time, so the result does not depend on their number.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func combineSquares<Scalar: BLASScalar>(
    a: UnsafePointer<Scalar>, k: Int, n: Int, lda: Int, coefficients c: UnsafePointer<Scalar>,
    beta: Scalar, y: UnsafeMutablePointer<Scalar>, parallelism: Parallelism
  ) {
    let shared = SharedPointers(a: a, c: c, y: y)
    TileSweep.forEachPanel(Scalar.self, n: n, parallelism: parallelism) { panel in
      scale(shared.y, panel, by: beta)
      addRows(
        a: shared.a, lda: lda, rows: 0..<k, columns: panel, coefficients: shared.c, y: shared.y,
        eightAtATime: false, squared: true)
    }
  }

  /// Threads take contiguous column ranges (whole cache lines); each runs ``addRows``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func combineByColumns<Scalar: BLASScalar>(
    a: UnsafePointer<Scalar>, k: Int, n: Int, coefficients c: UnsafePointer<Scalar>,
    beta: Scalar, y: UnsafeMutablePointer<Scalar>, threads: Int
  ) {
    let longRows = n * MemoryLayout<Scalar>.stride >= longRowBytes
    let lane = Scalar.CacheLineVector.scalarCount
    let lines = (n + lane - 1) / lane
    // Each thread reads runs of at least `minimumSegmentBytes` of every row.
    let parts =
      longRows ? max(1, min(threads, n * MemoryLayout<Scalar>.stride / minimumSegmentBytes)) : 1
    if parts == 1 {
      scale(y, 0..<n, by: beta)
      addRows(
        a: a, lda: n, rows: 0..<k, columns: 0..<n, coefficients: c, y: y, eightAtATime: true)
      return
    }
    let linesPerPart = (lines + parts - 1) / parts
    let shared = SharedPointers(a: a, c: c, y: y)
    DispatchQueue.concurrentPerform(iterations: parts) { part in
      let start = min(n, part * linesPerPart * lane)
      let end = min(n, start + linesPerPart * lane)
      guard start < end else { return }
      scale(shared.y, start..<end, by: beta)
      addRows(
        a: shared.a, lda: n, rows: 0..<k, columns: start..<end, coefficients: shared.c,
        y: shared.y, eightAtATime: true)
    }
  }

  /// Short rows: fixed chunks of ``chunkRows`` rows, each summed one row at a time into its own
  /// partial vector (in parallel), then `y ← beta·y + Σ_chunks partial` in chunk order.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func combineByRowChunks<Scalar: BLASScalar>(
    a: UnsafePointer<Scalar>, k: Int, n: Int, coefficients c: UnsafePointer<Scalar>,
    beta: Scalar, y: UnsafeMutablePointer<Scalar>, threads: Int
  ) {
    let chunks = (k + chunkRows - 1) / chunkRows
    let partials = UnsafeMutablePointer<Scalar>.allocate(capacity: chunks * n)
    defer { partials.deallocate() }
    let shared = SharedPointers(a: a, c: c, y: partials)
    let workers = max(1, min(threads, chunks))
    let chunksPerWorker = (chunks + workers - 1) / workers
    let work: @Sendable (Int) -> Void = { worker in
      let first = worker * chunksPerWorker
      for chunk in first..<min(chunks, first + chunksPerWorker) {
        let partial = shared.y + chunk * n
        partial.initialize(repeating: 0, count: n)
        addRows(
          a: shared.a, lda: n, rows: (chunk * chunkRows)..<min(k, (chunk + 1) * chunkRows),
          columns: 0..<n, coefficients: shared.c, y: partial, eightAtATime: false)
      }
    }
    if workers == 1 {
      work(0)
    } else {
      DispatchQueue.concurrentPerform(iterations: workers, execute: work)
    }
    scale(y, 0..<n, by: beta)
    var ones = [Scalar](repeating: 1, count: chunks)
    ones.withUnsafeMutableBufferPointer { one in
      addRows(
        a: partials, lda: n, rows: 0..<chunks, columns: 0..<n, coefficients: one.baseAddress!,
        y: y, eightAtATime: false)
    }
  }

  /// Pointers handed to worker threads, which write disjoint parts of `y`.
  struct SharedPointers<Scalar>: @unchecked Sendable {
    let a: UnsafePointer<Scalar>
    let c: UnsafePointer<Scalar>
    let y: UnsafeMutablePointer<Scalar>
  }

  /// `y[columns] += Σ_{i ∈ rows} c[i]·A[i, columns]`, eight rows at a time or one at a time;
  /// with `squared`, `y[columns] += Σ_{i ∈ rows} c[i]·A[i, columns]²`, one row at a time: the C
  /// kernel at the machine's vector width (`Scalar.addRows`, `minibatch_add_rows_*`).
  @inline(__always)
  static func addRows<Scalar: BLASScalar>(
    a: UnsafePointer<Scalar>, lda: Int, rows: Range<Int>, columns: Range<Int>,
    coefficients c: UnsafePointer<Scalar>, y: UnsafeMutablePointer<Scalar>, eightAtATime: Bool,
    squared: Bool = false
  ) {
    Scalar.addRows(
      a + rows.lowerBound &* lda, lda: lda, rows: rows.count, columns: columns,
      coefficients: c + rows.lowerBound, into: y, eightAtATime: eightAtATime, squared: squared)
  }

  /// `y[columns] ← beta·y[columns]`; with `beta == 0`, `y` is overwritten with zeros, not read
  /// (it may be uninitialised memory).
  @inline(__always)
  static func scale<Scalar: BLASScalar>(
    _ y: UnsafeMutablePointer<Scalar>, _ columns: Range<Int>, by beta: Scalar
  ) {
    if beta == 1 { return }
    if beta == 0 {
      (y + columns.lowerBound).initialize(repeating: 0, count: columns.count)
      return
    }
    for j in columns { y[j] = beta * y[j] }
  }
}
