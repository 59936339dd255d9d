/// Writes tiles of the per-example gradient matrix `J` (`k × n`, row `i` = `∇ℓ_i`) on demand: how
/// a model (the package's or a user's own) hands its per-example gradients to the reductions
/// without knowing how they will be reduced, or whether `J` will ever be stored.
///
/// A model computes everything its rows need for the whole batch first (forward and backward
/// passes); the writer then fills any tile `rows × columns` of `J` from that state into a caller's
/// buffer with a row stride:
///
/// ```
/// tile[(i − rows.lowerBound)·rowStride + (j − columns.lowerBound)] = J[i, j]
///     for i ∈ rows, j ∈ columns
/// ```
///
/// Tiles may be written in any order and from several threads at once. Hand a writer to
/// ``PerExampleGradients/write(_:parallelism:)`` to store `J`, or to
/// ``StreamedPerExampleGradients`` to reduce it tile by tile without storing it.
public struct PerExampleRowWriter<Scalar: BLASScalar>: Sendable {
  /// Rows (examples) of `J`.
  public let exampleCount: Int
  /// Columns (parameters) of `J`.
  public let parameterCount: Int
  @usableFromInline let body:
    @Sendable (Range<Int>, Range<Int>, UnsafeMutableBufferPointer<Scalar>, Int) -> Void

  /// - Parameters:
  ///   - exampleCount: `k ≥ 1`.
  ///   - parameterCount: `n ≥ 1`.
  ///   - writeTile: writes `J[i, j]` for `i ∈ rows`, `j ∈ columns` at
  ///     `tile[(i − rows.lowerBound)·rowStride + (j − columns.lowerBound)]`. It is only called with
  ///     non-empty ranges inside `0..<k` and `0..<n`, `rowStride ≥ columns.count`, and a `tile` of
  ///     exactly `(rows.count − 1)·rowStride + columns.count` scalars; it must write every entry of
  ///     the tile (not only add to it) and nothing else.
  /// - Throws: the shape errors of ``Matrix/init(rows:columns:)`` for `k` and `n`.
  public init(
    exampleCount: Int, parameterCount: Int,
    writeTile:
      @escaping @Sendable (
        _ rows: Range<Int>, _ columns: Range<Int>, _ tile: UnsafeMutableBufferPointer<Scalar>,
        _ rowStride: Int
      ) -> Void
  ) throws(MinibatchError) {
    try PerExampleGradients<Scalar>.validateShape(k: exampleCount, n: parameterCount)
    self.exampleCount = exampleCount
    self.parameterCount = parameterCount
    body = writeTile
  }

  /// Writes the tile `rows × columns` of `J` into `tile` with `rowStride` scalars between rows.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` if `rows` or `columns` is
  ///   empty or outside `0..<k` / `0..<n`, or `rowStride < columns.count`;
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` if `tile` has fewer than
  ///   `(rows.count − 1)·rowStride + columns.count` scalars. Nothing is written then.
  public func write(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError) {
    let extent = try validateTile(
      rows: rows, columns: columns, count: tile.count, rowStride: rowStride,
      exampleCount: exampleCount, parameterCount: parameterCount)
    body(rows, columns, UnsafeMutableBufferPointer(rebasing: tile[0..<extent]), rowStride)
  }

  /// ``write(rows:columns:into:rowStride:)`` for callers inside the package that have already
  /// checked the tile against `J`'s shape.
  @inlinable
  func writeUnchecked(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutablePointer<Scalar>, rowStride: Int
  ) {
    let extent = (rows.count - 1) * rowStride + columns.count
    body(rows, columns, UnsafeMutableBufferPointer(start: tile, count: extent), rowStride)
  }
}

/// Checks a tile request against a `k × n` matrix and a buffer of `count` scalars; returns the
/// tile's extent `(rows.count − 1)·rowStride + columns.count`.
func validateTile(
  rows: Range<Int>, columns: Range<Int>, count: Int, rowStride: Int, exampleCount: Int,
  parameterCount: Int
) throws(MinibatchError) -> Int {
  try validateArgument(
    rows, named: "tile rows", expected: "a non-empty range within 0..<\(exampleCount)",
    !rows.isEmpty && rows.lowerBound >= 0 && rows.upperBound <= exampleCount)
  try validateArgument(
    columns, named: "tile columns", expected: "a non-empty range within 0..<\(parameterCount)",
    !columns.isEmpty && columns.lowerBound >= 0 && columns.upperBound <= parameterCount)
  try validateArgument(
    rowStride, named: "row stride", expected: "≥ \(columns.count) (the tile's width)",
    rowStride >= columns.count)
  let (product, overflow) = (rows.count - 1).multipliedReportingOverflow(by: rowStride)
  guard !overflow, product <= Int.max - columns.count else {
    throw .dimensionOutOfRange(value: rowStride, limit: Int.max / rows.count, of: "row stride")
  }
  let extent = product + columns.count
  guard count >= extent else {
    throw .shapeMismatch(
      expected: extent, got: count, of: "tile buffer ((rows − 1)·stride + columns)")
  }
  return extent
}
