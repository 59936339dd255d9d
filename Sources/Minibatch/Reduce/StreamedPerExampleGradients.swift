/// The **streamed** representation of ``PerExampleGradientOperator``: any row writer (a built-in
/// model's or a user's own) swept in cache-sized tiles through a per-thread scratch buffer. `J` is
/// never stored: memory is O(threads × tile) — about 192 KiB per thread — whatever `k` and `n`.
///
/// - `reduce` and `reduceSquares`: threads own column panels, each swept in tiles of 8 rows that
///   are written into the scratch tile and reduced at once (the sweep of
///   ``PerExampleGradients/write(_:reducingWith:alpha:beta:into:parallelism:)`` without the store).
///   Bit-identical for any thread count, and equal to that fused write.
/// - `squaredRowNorms`: groups of 8 rows are swept across all columns, accumulated in Double.
///
/// Every operation writes the tiles it needs again (the writer's cost each time); nothing is
/// cached between operations.
public struct StreamedPerExampleGradients<Scalar: BLASScalar>: PerExampleGradientOperator {
  /// The writer whose `J` this represents.
  public let writer: PerExampleRowWriter<Scalar>

  public init(_ writer: PerExampleRowWriter<Scalar>) {
    self.writer = writer
  }

  public var exampleCount: Int { writer.exampleCount }
  public var parameterCount: Int { writer.parameterCount }

  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    sweep(v, alpha: alpha, beta: beta, into: &y, squared: false, parallelism: parallelism)
  }

  public func reduceSquares(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    sweep(v, alpha: alpha, beta: beta, into: &y, squared: true, parallelism: parallelism)
  }

  public func squaredRowNorms(parallelism: Parallelism = .automatic) -> [Double] {
    TileSweep.squaredRowNorms(writer, parallelism: parallelism)
  }

  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError) {
    try writer.write(rows: rows, columns: columns, into: tile, rowStride: rowStride)
  }

  func sweep(
    _ v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar], squared: Bool,
    parallelism: Parallelism
  ) {
    let coefficients = v.map { alpha * $0 }
    coefficients.withUnsafeBufferPointer { c in
      y.withUnsafeMutableBufferPointer { y in
        TileSweep.reduce(
          writer, coefficients: c.baseAddress!, beta: beta, into: y.baseAddress!,
          squared: squared, storingInto: nil, parallelism: parallelism)
      }
    }
  }
}
