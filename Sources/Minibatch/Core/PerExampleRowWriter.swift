/// Writes the per-example gradient matrix `J` (`k × n`) block by block: how a model hands its
/// per-example gradients to the reductions without knowing how they will be reduced.
///
/// A model computes everything its rows need for the whole batch first (forward and backward
/// passes, one GEMM per layer); the writer then fills any block `rows × columns` of `J` from that
/// state. Blocks may be written in any order and from several threads at once, as long as they do
/// not overlap. ``PerExampleGradients/write(_:parallelism:)`` fills the whole matrix;
/// ``PerExampleGradients/write(_:reducingWith:alpha:beta:into:parallelism:)`` reduces each block
/// while it is still in cache.
public struct PerExampleRowWriter<Scalar: BLASScalar>: Sendable {
  /// Rows (examples) of the matrix this writer fills.
  public let k: Int
  /// Columns (parameters) of the matrix this writer fills.
  public let n: Int
  @usableFromInline let body:
    @Sendable (Range<Int>, Range<Int>, UnsafeMutablePointer<Scalar>) -> Void

  /// - Parameter writeBlock: writes `J[i, j]` for `i ∈ rows`, `j ∈ columns` at
  ///   `matrix[i·n + j]` (`matrix` is row 0 of a contiguous row-major `k × n` buffer).
  public init(
    k: Int, n: Int,
    writeBlock:
      @escaping @Sendable (
        _ rows: Range<Int>, _ columns: Range<Int>, _ matrix: UnsafeMutablePointer<Scalar>
      ) -> Void
  ) {
    self.k = k
    self.n = n
    body = writeBlock
  }

  /// Writes the block `rows × columns` into `matrix` (row 0 of a `k × n` row-major buffer).
  @inlinable
  public func write(
    rows: Range<Int>, columns: Range<Int>, into matrix: UnsafeMutablePointer<Scalar>
  ) {
    body(rows, columns, matrix)
  }
}
