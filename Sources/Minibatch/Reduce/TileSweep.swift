import Dispatch

/// How a row writer's `J` is reduced tile by tile, shared by the streamed representation and the
/// stored matrix's fused write-and-reduce:
///
/// - The threads own **column panels** (whole cache lines, at least ``minimumPanelColumns`` each);
///   each owns `y[panel]`, so no partial sums are merged.
/// - A panel is swept in tiles of **8 rows × ``tileColumns(_:)``**; the 8 row segments and the
///   matching segment of `y` fill about ``tileBytes`` (well inside a core's L2), so a tile is
///   reduced while it is still in cache and `y` is read and written once per 8 rows.
/// - Rows are grouped in eights from row 0 whatever the columns, so every column's sum is formed
///   identically for any thread count: the result is **bit-identical for any parallelism**.
enum TileSweep {
  /// Bytes of one tile (8 row segments and one segment of `y`).
  static let tileBytes = 192 << 10
  /// The narrowest column panel worth a thread of its own.
  static let minimumPanelColumns = 2048

  /// Columns per tile for `Scalar`, a whole number of cache lines.
  static func tileColumns<Scalar: BLASScalar>(_: Scalar.Type) -> Int {
    let lane = Scalar.CacheLineVector.scalarCount
    return max(lane, tileBytes / (9 * MemoryLayout<Scalar>.stride) / lane * lane)
  }

  /// Runs `body` on column panels of `0..<n`, one per thread, in parallel when there are several.
  static func forEachPanel<Scalar: BLASScalar>(
    _: Scalar.Type, n: Int, parallelism: Parallelism, _ body: @Sendable (Range<Int>) -> Void
  ) {
    let lane = Scalar.CacheLineVector.scalarCount
    let lines = (n + lane - 1) / lane
    let parts = max(1, min(parallelism.threadCount, n / minimumPanelColumns))
    let linesPerPart = (lines + parts - 1) / parts
    let panel: @Sendable (Int) -> Range<Int> = { part in
      min(n, part * linesPerPart * lane)..<min(n, (part + 1) * linesPerPart * lane)
    }
    if parts == 1 {
      body(panel(0))
      return
    }
    DispatchQueue.concurrentPerform(iterations: parts) { part in
      let columns = panel(part)
      if !columns.isEmpty { body(columns) }
    }
  }

  /// `y ← beta·y + Σ_i c_i·J[i, :]` (or `J[i, :]²` with `squared`) for the `J` that `writer`
  /// produces, written tile by tile either into `stored` (a `k × n` row-major buffer that then
  /// holds `J`) or, when `stored` is nil, into a per-thread scratch tile that is reused.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func reduce<Scalar: BLASScalar>(
    _ writer: PerExampleRowWriter<Scalar>, coefficients: UnsafePointer<Scalar>, beta: Scalar,
    into y: UnsafeMutablePointer<Scalar>, squared: Bool,
    storingInto stored: UnsafeMutablePointer<Scalar>?,
    parallelism: Parallelism
  ) {
    let (k, n) = (writer.exampleCount, writer.parameterCount)
    let tileColumns = tileColumns(Scalar.self)
    let shared = SharedPointers(coefficients: coefficients, y: y, stored: stored)
    forEachPanel(Scalar.self, n: n, parallelism: parallelism) { panel in
      let scratch: UnsafeMutablePointer<Scalar>? =
        shared.stored == nil ? .allocate(capacity: 8 * tileColumns) : nil
      defer { scratch?.deallocate() }
      RowCombinationKernel.scale(shared.y, panel, by: beta)
      for tileStart in stride(from: panel.lowerBound, to: panel.upperBound, by: tileColumns) {
        let tile = tileStart..<min(panel.upperBound, tileStart + tileColumns)
        for start in stride(from: 0, to: k, by: 8) {
          let rows = start..<min(k, start + 8)
          // The tile's first entry and its row stride, in J itself or in the scratch tile.
          let (first, stride) =
            scratch.map { ($0, tile.count) } ?? (shared.stored! + start * n + tile.lowerBound, n)
          writer.writeUnchecked(rows: rows, columns: tile, into: first, rowStride: stride)
          RowCombinationKernel.addRows(
            a: first, lda: stride, rows: 0..<rows.count, columns: 0..<tile.count,
            coefficients: shared.coefficients + start, y: shared.y + tile.lowerBound,
            eightAtATime: true, squared: squared)
        }
      }
    }
  }

  /// `‖J[i, :]‖²` for every row of the `J` that `writer` produces, in Double: groups
  /// of 8 rows are swept across all columns through a scratch tile, the groups shared among the
  /// threads.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func squaredRowNorms<Scalar: BLASScalar>(
    _ writer: PerExampleRowWriter<Scalar>, parallelism: Parallelism
  ) -> [Double] {
    let (k, n) = (writer.exampleCount, writer.parameterCount)
    let tileColumns = tileColumns(Scalar.self)
    let groups = (k + 7) / 8
    var norms = [Double](repeating: 0, count: k)
    norms.withUnsafeMutableBufferPointer { norms in
      let result = SendableMutablePointer(norms.baseAddress!)
      // Enough groups per thread that a hand-off pays for itself.
      let minimumGroups = max(1, (1 << 18) / max(1, n * 8))
      parallelism.forEachRange(of: groups, minimumChunk: minimumGroups) { groupRange in
        let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: 8 * tileColumns)
        defer { scratch.deallocate() }
        for group in groupRange {
          let rows = (group * 8)..<min(k, group * 8 + 8)
          for tileStart in stride(from: 0, to: n, by: tileColumns) {
            let tile = tileStart..<min(n, tileStart + tileColumns)
            writer.writeUnchecked(rows: rows, columns: tile, into: scratch, rowStride: tile.count)
            for r in 0..<rows.count {
              result.pointer[rows.lowerBound + r] += Minibatch.sumOfSquares(
                scratch + r * tile.count, count: tile.count)
            }
          }
        }
      }
    }
    return norms
  }

  /// `m2[j] += Σ_r v[rows.lowerBound + r]·(tile[r·columns.count + c] − center[j])²` for
  /// `j = columns.lowerBound + c`, in Double.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func addCentredSquares<Scalar: BLASScalar>(
    _ tile: [Scalar], rows: Range<Int>, columns: Range<Int>, weights v: [Scalar],
    center: [Double], into m2: UnsafeMutablePointer<Double>
  ) {
    let width = columns.count
    for (r, i) in rows.enumerated() {
      let weight = Double(v[i])
      if weight == 0 { continue }
      for c in 0..<width {
        let deviation = Double(tile[r * width + c]) - center[columns.lowerBound + c]
        m2[columns.lowerBound + c] += weight * deviation * deviation
      }
    }
  }

  struct SharedPointers<Scalar>: @unchecked Sendable {
    let coefficients: UnsafePointer<Scalar>
    let y: UnsafeMutablePointer<Scalar>
    let stored: UnsafeMutablePointer<Scalar>?
  }
}

/// Pointers handed to worker threads that touch disjoint parts of the memory behind them.
struct SendableMutablePointer<Scalar>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Scalar>
  init(_ pointer: UnsafeMutablePointer<Scalar>) { self.pointer = pointer }
}
