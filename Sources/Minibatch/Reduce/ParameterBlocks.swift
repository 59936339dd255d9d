/// A partition of the parameter vector `0..<n` into contiguous, non-empty blocks — a model's
/// weight matrices and bias vectors — for per-block norms and per-block (per-layer) clipping.
///
/// ```
/// sizes [6, 2, 3, 1]  →  ranges 0..<6, 6..<8, 8..<11, 11..<12   (n = 12)
/// ```
public struct ParameterBlocks: Sendable, Hashable {
  /// The blocks, in parameter order; they cover `0..<parameterCount` without gaps.
  public let ranges: [Range<Int>]

  /// Blocks of the given sizes, laid end to end from parameter 0.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for no sizes or a size
  ///   below 1, ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` if the total overflows.
  public init(sizes: [Int]) throws(MinibatchError) {
    try validateArgument(sizes, named: "block sizes", expected: "at least one", !sizes.isEmpty)
    var ranges: [Range<Int>] = []
    var start = 0
    for (index, size) in sizes.enumerated() {
      try validateArgument(size, named: "size of block \(index)", expected: "≥ 1", size >= 1)
      let (end, overflow) = start.addingReportingOverflow(size)
      guard !overflow else {
        throw .dimensionOutOfRange(value: Int.max, limit: Int.max, of: "total of block sizes")
      }
      ranges.append(start..<end)
      start = end
    }
    self.ranges = ranges
  }

  /// One block holding all `n` parameters (flat clipping).
  public static func whole(parameterCount n: Int) throws(MinibatchError) -> ParameterBlocks {
    try ParameterBlocks(sizes: [n])
  }

  /// `n`, the parameters covered.
  public var parameterCount: Int { ranges.last!.upperBound }
  /// The number of blocks.
  public var count: Int { ranges.count }

  /// Throws ``MinibatchError/shapeMismatch(expected:got:of:)`` unless the blocks cover exactly
  /// `n` parameters.
  func validate(parameterCount n: Int) throws(MinibatchError) {
    try validateCount(parameterCount, expected: n, of: "parameters covered by the blocks (n)")
  }
}

// MARK: - Per-block operations, for every representation

extension PerExampleGradientOperator {
  /// ``squaredBlockNorms(_:parallelism:)`` computed from ``writeTile(rows:columns:into:rowStride:)``
  /// alone: groups of 8 rows swept across each block in cache-sized tiles (one pass over `J`).
  /// The default for every representation without a faster way.
  public func squaredBlockNorms(
    _ blocks: ParameterBlocks, parallelism: Parallelism
  ) throws(MinibatchError) -> [[Double]] {
    try blocks.validate(parameterCount: parameterCount)
    return tiledSquaredBlockNorms(blocks)
  }

  /// ``reduce(blockVectors:blocks:alpha:beta:into:parallelism:)`` computed from
  /// ``writeTile(rows:columns:into:rowStride:)`` alone, tile by tile (one pass over `J`). The
  /// default for every representation without a faster way.
  public func reduce(
    blockVectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar = 1, beta: Scalar,
    into y: inout [Scalar], parallelism: Parallelism
  ) throws(MinibatchError) {
    try prepareBlockReduction(blockVectors, blocks: blocks, alpha: alpha, beta: beta, y: &y)
    tiledBlockReduce(blockVectors, blocks: blocks, alpha: alpha, beta: beta, into: &y)
  }

  /// The checks of a per-block reduction: one finite vector of `k` entries per block, blocks
  /// covering `n`, `y` of length `n`, finite `alpha` and `beta`; zero-fills `y` when `beta == 0`.
  func prepareBlockReduction(
    _ vectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar, beta: Scalar,
    y: inout [Scalar]
  ) throws(MinibatchError) {
    try blocks.validate(parameterCount: parameterCount)
    try validateCount(vectors.count, expected: blocks.count, of: "block vectors (one per block)")
    for (b, v) in vectors.enumerated() {
      try validateCount(v.count, expected: exampleCount, of: "vector of block \(b) (length k)")
      try validateFinite(v, of: "vector of block \(b)")
    }
    try validateCount(y.count, expected: parameterCount, of: "y (length n)")
    guard alpha.isFinite else { throw .nonFiniteValue(index: 0, of: "alpha") }
    guard beta.isFinite else { throw .nonFiniteValue(index: 0, of: "beta") }
    if beta == 0 { zeroFill(&y) }
  }

  func tiledSquaredBlockNorms(_ blocks: ParameterBlocks) -> [[Double]] {
    Minibatch.tiledSquaredBlockNorms(k: exampleCount, blocks: blocks) { rows, columns, scratch in
      writeValidatedTile(rows: rows, columns: columns, into: scratch)
    }
  }

  func tiledBlockReduce(
    _ vectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar, beta: Scalar,
    into y: inout [Scalar]
  ) {
    Minibatch.tiledBlockReduce(
      k: exampleCount, vectors, blocks: blocks, alpha: alpha, beta: beta, into: &y
    ) { rows, columns, scratch in
      writeValidatedTile(rows: rows, columns: columns, into: scratch)
    }
  }

  /// `writeTile` for a tile the caller derived from `J`'s own shape (row stride = tile width).
  func writeValidatedTile(
    rows: Range<Int>, columns: Range<Int>, into scratch: UnsafeMutableBufferPointer<Scalar>
  ) {
    do {
      try writeTile(rows: rows, columns: columns, into: scratch, rowStride: columns.count)
    } catch {
      preconditionFailure("a tile inside J was refused: \(error)")
    }
  }
}

/// `‖J[i, b]‖²` per block from tiles that `write(rows, columns, scratch)` fills (row stride = the
/// tile's width): groups of 8 rows swept across each block in cache-sized tiles.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func tiledSquaredBlockNorms<Scalar: BLASScalar>(
  k: Int, blocks: ParameterBlocks,
  write: (Range<Int>, Range<Int>, UnsafeMutableBufferPointer<Scalar>) -> Void
) -> [[Double]] {
  var norms = [[Double]](repeating: [Double](repeating: 0, count: k), count: blocks.count)
  let tileColumns = TileSweep.tileColumns(Scalar.self)
  var scratch = [Scalar](repeating: 0, count: 8 * tileColumns)
  scratch.withUnsafeMutableBufferPointer { scratch in
    for (b, block) in blocks.ranges.enumerated() {
      for start in stride(from: 0, to: k, by: 8) {
        let rows = start..<min(k, start + 8)
        for tileStart in stride(from: block.lowerBound, to: block.upperBound, by: tileColumns) {
          let tile = tileStart..<min(block.upperBound, tileStart + tileColumns)
          write(rows, tile, scratch)
          for r in 0..<rows.count {
            norms[b][start + r] += sumOfSquares(
              scratch.baseAddress! + r * tile.count, count: tile.count)
          }
        }
      }
    }
  }
  return norms
}

/// Per block `b`: `y[b] ← beta·y[b] + alpha·Σ_i v_b[i]·J[i, b]` from tiles that `write` fills,
/// 8 rows at a time (``RowCombinationKernel``).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func tiledBlockReduce<Scalar: BLASScalar>(
  k: Int, _ vectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar, beta: Scalar,
  into y: inout [Scalar],
  write: (Range<Int>, Range<Int>, UnsafeMutableBufferPointer<Scalar>) -> Void
) {
  let tileColumns = TileSweep.tileColumns(Scalar.self)
  var scratch = [Scalar](repeating: 0, count: 8 * tileColumns)
  scratch.withUnsafeMutableBufferPointer { scratch in
    y.withUnsafeMutableBufferPointer { y in
      for (block, v) in zip(blocks.ranges, vectors) {
        RowCombinationKernel.scale(y.baseAddress!, block, by: beta)
        let coefficients = v.map { alpha * $0 }
        for tileStart in stride(from: block.lowerBound, to: block.upperBound, by: tileColumns) {
          let tile = tileStart..<min(block.upperBound, tileStart + tileColumns)
          for start in stride(from: 0, to: k, by: 8) {
            let rows = start..<min(k, start + 8)
            write(rows, tile, scratch)
            coefficients.withUnsafeBufferPointer { c in
              RowCombinationKernel.addRows(
                a: scratch.baseAddress!, lda: tile.count, rows: 0..<rows.count,
                columns: 0..<tile.count, coefficients: c.baseAddress! + start,
                y: y.baseAddress! + tile.lowerBound, eightAtATime: true)
            }
          }
        }
      }
    }
  }
}

// MARK: - Stored J: straight from the matrix

extension PerExampleGradients {
  /// `‖J[i, b]‖²` per block from the stored rows, in Double (one pass over `J`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredBlockNorms(
    _ blocks: ParameterBlocks, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [[Double]] {
    try blocks.validate(parameterCount: n)
    let (k, n) = (k, n)
    return withUnsafeElements { a in
      blocks.ranges.map { block in
        (0..<k).map { i in
          sumOfSquares(a.baseAddress! + i * n + block.lowerBound, count: block.count)
        }
      }
    }
  }

  /// Per block, one GEMV on the `k × |b|` submatrix (leading dimension `n`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    blockVectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar = 1, beta: Scalar,
    into y: inout [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareBlockReduction(blockVectors, blocks: blocks, alpha: alpha, beta: beta, y: &y)
    let (k, n) = (k, n)
    withUnsafeElements { a in
      y.withUnsafeMutableBufferPointer { y in
        for (block, v) in zip(blocks.ranges, blockVectors) {
          v.withUnsafeBufferPointer { v in
            Scalar.gemv(
              transpose: true, m: k, n: block.count, alpha: alpha,
              a: a.baseAddress! + block.lowerBound, lda: n, x: v.baseAddress!, incx: 1,
              beta: beta, y: y.baseAddress! + block.lowerBound, incy: 1)
          }
        }
      }
    }
  }
}
