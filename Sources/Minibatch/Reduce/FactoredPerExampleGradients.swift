/// The **factored** representation of ``PerExampleGradientOperator``: `J` is the concatenation of
/// its layers' **factors** (``PerExampleGradientFactor``), each owning the columns of its own
/// parameters, and is never formed.
///
/// ```
/// J = [ J_1 | J_2 | … | J_F ]        factor f owns columns offset_f ..< offset_f + p_f
/// Jᵀv      = [ J_1ᵀv ; … ; J_Fᵀv ]   (J∘J)ᵀv likewise
/// ‖g_i‖²   = Σ_f ‖J_f[i, :]‖²         J·Jᵀ = Σ_f J_f·J_fᵀ
/// ```
///
/// A dense layer `z = W·a + b` (`W` is `out × in`) is the rank-1 factor ``Layer``: example `i`'s
/// gradient is an outer product of the layer's backpropagated error `δ_l[i] = ∂ℓ_i/∂z_l[i]` and
/// its input `a_{l−1}[i]`,
///
/// ```
/// ∂ℓ_i/∂W_l = δ_l[i]·a_{l−1}[i]ᵀ      ∂ℓ_i/∂b_l = δ_l[i]
/// Jᵀv:         W_l block  Δ_lᵀ·diag(v)·A_{l−1}              (one GEMM; a GEMV when out = 1)
///              b_l block  Δ_lᵀ·v                             (one GEMV)
/// (J∘J)ᵀv:     W_l block  (Δ_l∘Δ_l)ᵀ·diag(v)·(A_{l−1}∘A_{l−1}),  b_l block (Δ_l∘Δ_l)ᵀ·v
/// ‖g_i‖²:      ‖δ_l[i]‖²·(‖a_{l−1}[i]‖² + 1)                 (exact, O(k·widths))
/// J·Jᵀ:        (Δ_lΔ_lᵀ)∘(A_{l−1}A_{l−1}ᵀ + 1)               (two ?syrk)
/// ```
///
/// with parameter layout `W_l` row-major (entry `(o, j)` at `offset + o·in + j`), then `b_l`.
/// Convolutions, embeddings and normalisation layers bring factors of their own (see
/// ``Sequential``).
///
/// Offsets are computed once, at construction. The products run on OpenBLAS's threads;
/// `parallelism` only affects the package's own loops, never the bits of a result.
public struct FactoredPerExampleGradients<Scalar: BLASScalar>: PerExampleGradientOperator {
  /// The factors, in parameter order.
  public let factors: [any PerExampleGradientFactor<Scalar>]

  /// The dense layers' factors (all of them for an MLP): what this type held before it held any
  /// factor.
  @available(*, deprecated, message: "use factors (a network's factors need not be dense)")
  public var layers: [Layer] { factors.compactMap { $0 as? Layer } }
  public let exampleCount: Int
  public let parameterCount: Int
  /// Where each factor's slice starts in the flat parameter vector.
  let offsets: [Int]

  /// `J` from dense layers' factors alone (the layout of ``MultilayerPerceptron``).
  ///
  /// - Throws: as ``init(factors:)``.
  public init(layers: [Layer]) throws(MinibatchError) {
    guard let first = layers.first else {
      throw .invalidArgument(name: "layers", value: "[]", expected: "at least one dense layer")
    }
    for (index, layer) in layers.enumerated() {
      try validateCount(
        layer.inputs.rows, expected: first.inputs.rows, of: "examples of layer \(index)")
    }
    try self.init(factors: layers)
  }

  /// `J` from any factors, placed side by side in this order.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for no factors or a
  ///   factor whose tensor sizes do not add up to its parameters,
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` if the factors disagree on `k`,
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` if `n` exceeds BLAS's range.
  public init(factors: [any PerExampleGradientFactor<Scalar>]) throws(MinibatchError) {
    guard let first = factors.first else {
      throw .invalidArgument(name: "factors", value: "[]", expected: "at least one layer's factor")
    }
    var offsets: [Int] = []
    var n = 0
    for (index, factor) in factors.enumerated() {
      try validateCount(
        factor.exampleCount, expected: first.exampleCount, of: "examples of factor \(index)")
      let size = factor.parameterCount
      try validateArgument(size, named: "parameters of factor \(index)", expected: "≥ 1", size >= 1)
      let tensors = factor.tensorSizes
      try validateArgument(
        tensors, named: "tensor sizes of factor \(index)",
        expected: "sizes ≥ 1 adding up to its \(size) parameters",
        tensors.allSatisfy { $0 >= 1 } && tensors.reduce(0, &+) == size)
      guard size <= Matrix<Scalar>.maximumDimension - n else {
        throw .dimensionOutOfRange(
          value: n &+ size, limit: Matrix<Scalar>.maximumDimension, of: "n (parameters)")
      }
      offsets.append(n)
      n += size
    }
    self.factors = factors
    exampleCount = first.exampleCount
    parameterCount = n
    self.offsets = offsets
  }

  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    forEachSlice(of: &y) { factor, slice in
      factor.reduce(
        tensorVectors: Array(repeating: v, count: factor.tensorSizes.count), alpha: alpha,
        beta: beta, into: slice, parallelism: parallelism)
    }
  }

  public func reduceSquares(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    forEachSlice(of: &y) { factor, slice in
      factor.reduceSquares(
        with: v, alpha: alpha, beta: beta, into: slice, parallelism: parallelism)
    }
  }

  /// `Σ_f ‖J_f[i, :]‖²`, accumulated and returned in Double from the factors (a dense layer's in
  /// O(k·widths), a first layer's input norms come with the batch). A factor's product of
  /// squares may overflow Double although the norm is representable (`‖δ‖²·‖a‖²` for Double
  /// layers); ``PerExampleGradientOperator/rowNorms(parallelism:)`` then writes that row from
  /// the factors and scales it.
  public func squaredRowNorms(parallelism: Parallelism = .automatic) -> [Double] {
    var norms: [Double] = filled(0, count: exampleCount)
    for factor in factors { factor.addSquaredNorms(into: &norms, parallelism: parallelism) }
    return norms
  }

  /// Writes the tile `rows × columns` of `J` from the factors; a column range may start and end
  /// anywhere in the parameter layout.
  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError) {
    _ = try validateTile(
      rows: rows, columns: columns, count: tile.count, rowStride: rowStride,
      exampleCount: exampleCount, parameterCount: parameterCount)
    writeTileUnchecked(rows: rows, columns: columns, into: tile, rowStride: rowStride)
  }

  /// A writer of this `J`'s tiles, for the stored and streamed representations.
  public var rowWriter: PerExampleRowWriter<Scalar> {
    let factored = self
    do {
      return try PerExampleRowWriter(exampleCount: exampleCount, parameterCount: parameterCount) {
        rows, columns, tile, rowStride in
        factored.writeTileUnchecked(rows: rows, columns: columns, into: tile, rowStride: rowStride)
      }
    } catch {
      preconditionFailure("a validated factored J has an invalid shape: \(error)")
    }
  }

  /// `J·Jᵀ = Σ_f J_f·J_fᵀ`, each factor adding its upper triangle (a dense layer by two `?syrk`
  /// and an elementwise product), mirrored once; `J` is never formed.
  ///
  /// - Throws: ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when `3·k²` scalars exceed
  ///   the machine's memory.
  public func gramMatrix(parallelism: Parallelism = .automatic) throws(MinibatchError)
    -> Matrix<Scalar>
  {
    let k = exampleCount
    // The result and a dense factor's two k × k products, checked together before allocating.
    let (entries, overflow) = k.multipliedReportingOverflow(by: 3 * k)
    try validateAllocation(
      count: overflow ? Int.max : entries, stride: MemoryLayout<Scalar>.stride,
      of: "Gram matrix and its factors' products (3 × k × k)")
    var gram = try Matrix<Scalar>(rows: k, columns: k)
    gram.withUnsafeMutableElements { g in
      for factor in factors { factor.addGram(into: g, parallelism: parallelism) }
      mirrorUpperTriangle(g.baseAddress!, k: k)
    }
    return gram
  }

  // MARK: - Per-block operations

  /// The blocks of this `J`'s parameter layout, one per tensor of every factor (for dense layers
  /// `W_0, b_0, W_1, b_1, …`). With these blocks, per-block norms and reductions come from the
  /// factors; with any others, from tiles
  /// (``PerExampleGradientOperator/squaredBlockNorms(_:parallelism:)``).
  public var tensorBlocks: ParameterBlocks {
    do {
      return try ParameterBlocks(sizes: factors.flatMap(\.tensorSizes))
    } catch {
      preconditionFailure("a validated factored J has an empty tensor: \(error)")
    }
  }

  /// Per-block squared norms; for ``tensorBlocks``, each factor's per-tensor norms with no row
  /// formed (a dense layer's `‖δ_l[i]‖²·‖a_{l−1}[i]‖²` and `‖δ_l[i]‖²`).
  public func squaredBlockNorms(
    _ blocks: ParameterBlocks, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [[Double]] {
    try blocks.validate(parameterCount: parameterCount)
    guard blocks == tensorBlocks else { return tiledSquaredBlockNorms(blocks) }
    return factors.flatMap { $0.squaredTensorNorms(parallelism: parallelism) }
  }

  /// Per-block reduction; for ``tensorBlocks``, each factor's tensors with their own vectors (a
  /// dense layer: one GEMM per `W_l`, one GEMV per `b_l`).
  public func reduce(
    blockVectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar = 1, beta: Scalar,
    into y: inout [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareBlockReduction(blockVectors, blocks: blocks, alpha: alpha, beta: beta, y: &y)
    guard blocks == tensorBlocks else {
      tiledBlockReduce(blockVectors, blocks: blocks, alpha: alpha, beta: beta, into: &y)
      return
    }
    var next = 0
    forEachSlice(of: &y) { factor, slice in
      let count = factor.tensorSizes.count
      defer { next += count }
      factor.reduce(
        tensorVectors: Array(blockVectors[next..<(next + count)]), alpha: alpha, beta: beta,
        into: slice, parallelism: parallelism)
    }
  }

  // MARK: - Implementation

  /// Calls `body` with every factor and its slice of `y`, in order.
  func forEachSlice(
    of y: inout [Scalar],
    _ body: (any PerExampleGradientFactor<Scalar>, UnsafeMutableBufferPointer<Scalar>) -> Void
  ) {
    y.withUnsafeMutableBufferPointer { y in
      for (factor, offset) in zip(factors, offsets) {
        body(
          factor,
          UnsafeMutableBufferPointer(
            start: y.baseAddress! + offset, count: factor.parameterCount))
      }
    }
  }

  /// The tile `rows × columns` of `J`, each factor writing the part of `columns` it owns.
  func writeTileUnchecked(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) {
    for (factor, offset) in zip(factors, offsets) {
      let owned = (offset..<(offset + factor.parameterCount)).clamped(to: columns)
      if owned.isEmpty { continue }
      factor.writeTile(
        rows: rows, columns: (owned.lowerBound - offset)..<(owned.upperBound - offset),
        into: UnsafeMutableBufferPointer(
          rebasing: tile[(owned.lowerBound - columns.lowerBound)...]),
        rowStride: rowStride)
    }
  }
}
