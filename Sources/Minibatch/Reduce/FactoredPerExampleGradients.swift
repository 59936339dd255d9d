/// The **factored** representation of ``PerExampleGradientOperator`` for dense layers: `J` is never
/// formed.
///
/// For a dense layer `z = W·a + b` (`W` is `out × in`), example `i`'s gradient is an outer product
/// of the layer's backpropagated error `δ_l[i] = ∂ℓ_i/∂z_l[i]` and its input `a_{l−1}[i]`:
///
/// ```
/// ∂ℓ_i/∂W_l = δ_l[i]·a_{l−1}[i]ᵀ      ∂ℓ_i/∂b_l = δ_l[i]
/// ```
///
/// so the batch's `Δ_l` (`k × out`) and `A_{l−1}` (`k × in`), which the forward and backward
/// passes compute anyway, determine `J`. Every operation is then a product of these factors:
///
/// ```
/// Jᵀv:         W_l block  Δ_lᵀ·diag(v)·A_{l−1}              (one GEMM; a GEMV when out = 1)
///              b_l block  Δ_lᵀ·v                             (one GEMV)
/// (J∘J)ᵀv:     W_l block  (Δ_l∘Δ_l)ᵀ·diag(v)·(A_{l−1}∘A_{l−1}),  b_l block (Δ_l∘Δ_l)ᵀ·v
/// ‖g_i‖²:      Σ_l ‖δ_l[i]‖²·(‖a_{l−1}[i]‖² + 1)             (exact for dense layers, O(k·widths))
/// ```
///
/// Parameter layout (the same as ``MultilayerPerceptron``'s): for each layer in order, `W_l`
/// row-major (entry `(o, j)` at `offset + o·in + j`), then `b_l`; `n = Σ_l (in_l + 1)·out_l`.
///
/// The products run on OpenBLAS's threads; `parallelism` only affects the package's own loops.
public struct FactoredPerExampleGradients<Scalar: BLASScalar>: PerExampleGradientOperator {
  /// One dense layer's factors for the batch.
  public struct Layer: Sendable, Equatable {
    /// `A_{l−1}`, `k × in`: the layer's input for every example (the batch's inputs for the first
    /// layer, the previous layer's activations otherwise).
    public let inputs: Matrix<Scalar>
    /// `Δ_l`, `k × out`: `∂ℓ_i/∂z_l[i]` for every example (not divided by `k`).
    public let deltas: Matrix<Scalar>

    /// `‖a_{l−1}[i]‖²` when already known (a batch's inputs carry theirs), so the norms need
    /// not read `A` again.
    let inputSquaredNorms: [Double]?

    /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless both have `k` rows.
    public init(inputs: Matrix<Scalar>, deltas: Matrix<Scalar>) throws(MinibatchError) {
      try validateCount(deltas.rows, expected: inputs.rows, of: "rows of Δ (examples, as in A)")
      self.init(inputs: inputs, deltas: deltas, inputSquaredNorms: nil)
    }

    init(inputs: Matrix<Scalar>, deltas: Matrix<Scalar>, inputSquaredNorms: [Double]?) {
      assert(deltas.rows == inputs.rows && (inputSquaredNorms?.count ?? inputs.rows) == inputs.rows)
      self.inputs = inputs
      self.deltas = deltas
      self.inputSquaredNorms = inputSquaredNorms
    }

    var inputCount: Int { inputs.columns }
    var outputCount: Int { deltas.columns }
  }

  /// The layers, in parameter order.
  public let layers: [Layer]
  public let exampleCount: Int
  public let parameterCount: Int
  /// Where each layer's `W_l` starts in the flat parameter vector (`b_l` follows it).
  let weightOffsets: [Int]

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for no layers,
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` if the layers disagree on `k`,
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` if `n` exceeds BLAS's range.
  public init(layers: [Layer]) throws(MinibatchError) {
    guard let first = layers.first else {
      throw .invalidArgument(name: "layers", value: "[]", expected: "at least one dense layer")
    }
    var offsets: [Int] = []
    var n = 0
    for (index, layer) in layers.enumerated() {
      try validateCount(
        layer.inputs.rows, expected: first.inputs.rows, of: "examples of layer \(index)")
      offsets.append(n)
      let (size, overflow) = (layer.inputCount + 1).multipliedReportingOverflow(
        by: layer.outputCount)
      guard !overflow, size <= Matrix<Scalar>.maximumDimension - n else {
        throw .dimensionOutOfRange(
          value: overflow ? Int.max : n + size, limit: Matrix<Scalar>.maximumDimension,
          of: "n (parameters)")
      }
      n += size
    }
    self.layers = layers
    exampleCount = first.inputs.rows
    parameterCount = n
    weightOffsets = offsets
  }

  public func reduce(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    product(v, alpha: alpha, beta: beta, into: &y, squared: false, parallelism: parallelism)
  }

  public func reduceSquares(
    with v: [Scalar], alpha: Scalar = 1, beta: Scalar, into y: inout [Scalar],
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareReduction(v, alpha: alpha, beta: beta, y: &y)
    product(v, alpha: alpha, beta: beta, into: &y, squared: true, parallelism: parallelism)
  }

  /// `Σ_l ‖δ_l[i]‖²·(‖a_{l−1}[i]‖² + 1)`, accumulated in Double (a first layer's input norms come
  /// with the batch); O(k·widths) on the calling thread (`parallelism` is not used).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredRowNorms(parallelism: Parallelism = .automatic) -> [Scalar] {
    var norms = [Double](repeating: 0, count: exampleCount)
    for layer in layers {
      layer.inputs.withUnsafeElements { a in
        layer.deltas.withUnsafeElements { d in
          let (inputs, outputs) = (layer.inputCount, layer.outputCount)
          for i in 0..<exampleCount {
            let ai = a.baseAddress! + i * inputs
            let di = d.baseAddress! + i * outputs
            let input = layer.inputSquaredNorms?[i] ?? sumOfSquares(ai, count: inputs)
            let delta = sumOfSquares(di, count: outputs)
            norms[i] += delta * (input + 1)
          }
        }
      }
    }
    return norms.map { Scalar($0) }
  }

  /// Writes the tile `rows × columns` of `J` from the outer products; a column range may start
  /// and end anywhere in the parameter layout.
  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) throws(MinibatchError) {
    _ = try validateTile(
      rows: rows, columns: columns, count: tile.count, rowStride: rowStride,
      exampleCount: exampleCount, parameterCount: parameterCount)
    writeTileUnchecked(
      rows: rows, columns: columns, into: tile.baseAddress!, rowStride: rowStride)
  }

  /// A writer of this `J`'s tiles, for the stored and streamed representations.
  public var rowWriter: PerExampleRowWriter<Scalar> {
    let factored = self
    do {
      return try PerExampleRowWriter(exampleCount: exampleCount, parameterCount: parameterCount) {
        rows, columns, tile, rowStride in
        factored.writeTileUnchecked(
          rows: rows, columns: columns, into: tile.baseAddress!, rowStride: rowStride)
      }
    } catch {
      preconditionFailure("a validated factored J has an invalid shape: \(error)")
    }
  }

  // MARK: - Implementation

  /// `y ← alpha·Jᵀv + beta·y`, or with `squared` `y ← alpha·(J∘J)ᵀv + beta·y`, layer by layer;
  /// `y` has been zero-filled when `beta == 0`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func product(
    _ v: [Scalar], alpha: Scalar, beta: Scalar, into y: inout [Scalar], squared: Bool,
    parallelism: Parallelism
  ) {
    product(
      weightVectors: Array(repeating: v, count: layers.count),
      biasVectors: Array(repeating: v, count: layers.count), alpha: alpha, beta: beta,
      into: &y, squared: squared, parallelism: parallelism)
  }

  /// As ``product(_:alpha:beta:into:squared:parallelism:)`` with a reduction vector of its own
  /// for each layer's `W_l` block and `b_l` block (per-block clipping).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func product(
    weightVectors: [[Scalar]], biasVectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into y: inout [Scalar], squared: Bool, parallelism: Parallelism
  ) {
    let k = exampleCount
    for (l, (layer, offset)) in zip(layers, weightOffsets).enumerated() {
      let (inputs, outputs) = (layer.inputCount, layer.outputCount)
      /// diag(v)·Δ (or diag(v)·(Δ∘Δ)): k × out, the smaller factor of the outer products.
      func scaledDeltas(_ v: [Scalar]) -> [Scalar] {
        var scaled = layer.deltas.elements
        for i in 0..<k {
          for o in 0..<outputs {
            let d = scaled[i * outputs + o]
            scaled[i * outputs + o] = (squared ? d * d : d) * v[i]
          }
        }
        return scaled
      }
      let weightDeltas = scaledDeltas(weightVectors[l])
      let biasDeltas =
        biasVectors[l] == weightVectors[l] ? weightDeltas : scaledDeltas(biasVectors[l])
      y.withUnsafeMutableBufferPointer { y in
        let weightBlock = y.baseAddress! + offset
        let biasBlock = weightBlock + inputs * outputs
        // b_l block: Σ_i v_i·δ_l[i] (squared: Σ_i v_i·δ_l[i]²), one GEMV with a vector of ones.
        biasDeltas.withUnsafeBufferPointer { sd in
          let ones = [Scalar](repeating: 1, count: k)
          ones.withUnsafeBufferPointer { one in
            BLAS.gemv(
              transpose: true, m: k, n: outputs, alpha: alpha, a: sd.baseAddress!, lda: outputs,
              x: one.baseAddress!, incx: 1, beta: beta, y: biasBlock, incy: 1)
          }
        }
        weightDeltas.withUnsafeBufferPointer { sd in
          layer.inputs.withUnsafeElements { a in
            if !squared {
              if outputs == 1 {
                BLAS.gemv(
                  transpose: true, m: k, n: inputs, alpha: alpha, a: a.baseAddress!, lda: inputs,
                  x: sd.baseAddress!, incx: 1, beta: beta, y: weightBlock, incy: 1)
              } else {
                BLAS.gemm(
                  transposeA: true, transposeB: false, m: outputs, n: inputs, k: k, alpha: alpha,
                  a: sd.baseAddress!, lda: outputs, b: a.baseAddress!, ldb: inputs, beta: beta,
                  c: weightBlock, ldc: inputs)
              }
            } else if outputs == 1 {
              // (A∘A)ᵀ·(v∘δ²) without forming A∘A: one pass over A, threads own column panels.
              let coefficients = sd.map { alpha * $0 }
              coefficients.withUnsafeBufferPointer { c in
                RowCombinationKernel.combineSquares(
                  a: a.baseAddress!, k: k, n: inputs, lda: inputs, coefficients: c.baseAddress!,
                  beta: beta, y: weightBlock, parallelism: parallelism)
              }
            } else {
              let squaredInputs = a.map { $0 * $0 }
              squaredInputs.withUnsafeBufferPointer { a2 in
                BLAS.gemm(
                  transposeA: true, transposeB: false, m: outputs, n: inputs, k: k, alpha: alpha,
                  a: sd.baseAddress!, lda: outputs, b: a2.baseAddress!, ldb: inputs, beta: beta,
                  c: weightBlock, ldc: inputs)
              }
            }
          }
        }
      }
    }
  }

  // MARK: - Per-block operations

  /// The blocks of this `J`'s parameter layout, one per tensor: `W_0, b_0, W_1, b_1, …`. With
  /// these blocks, per-block norms and reductions come from the factors; with any others, from
  /// tiles (``PerExampleGradientOperator/squaredBlockNorms(_:parallelism:)``).
  public var tensorBlocks: ParameterBlocks {
    do {
      return try ParameterBlocks(
        sizes: layers.flatMap { [$0.inputCount * $0.outputCount, $0.outputCount] })
    } catch {
      preconditionFailure("a validated factored J has an empty layer: \(error)")
    }
  }

  /// Per-block squared norms; for ``tensorBlocks``, `‖δ_l[i]‖²·‖a_{l−1}[i]‖²` (`W_l`) and
  /// `‖δ_l[i]‖²` (`b_l`) with no row formed.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredBlockNorms(
    _ blocks: ParameterBlocks, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [[Double]] {
    try blocks.validate(parameterCount: parameterCount)
    guard blocks == tensorBlocks else { return tiledSquaredBlockNorms(blocks) }
    var norms: [[Double]] = []
    for layer in layers {
      var weight = [Double](repeating: 0, count: exampleCount)
      var bias = [Double](repeating: 0, count: exampleCount)
      layer.inputs.withUnsafeElements { a in
        layer.deltas.withUnsafeElements { d in
          let (inputs, outputs) = (layer.inputCount, layer.outputCount)
          for i in 0..<exampleCount {
            let input =
              layer.inputSquaredNorms?[i]
              ?? sumOfSquares(a.baseAddress! + i * inputs, count: inputs)
            bias[i] = sumOfSquares(d.baseAddress! + i * outputs, count: outputs)
            weight[i] = bias[i] * input
          }
        }
      }
      norms += [weight, bias]
    }
    return norms
  }

  /// Per-block reduction; for ``tensorBlocks``, one GEMM per `W_l` and one GEMV per `b_l` with
  /// the block's own vector.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    blockVectors: [[Scalar]], blocks: ParameterBlocks, alpha: Scalar = 1, beta: Scalar,
    into y: inout [Scalar], parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try prepareBlockReduction(blockVectors, blocks: blocks, alpha: alpha, beta: beta, y: &y)
    guard blocks == tensorBlocks else {
      tiledBlockReduce(blockVectors, blocks: blocks, alpha: alpha, beta: beta, into: &y)
      return
    }
    product(
      weightVectors: stride(from: 0, to: blockVectors.count, by: 2).map { blockVectors[$0] },
      biasVectors: stride(from: 1, to: blockVectors.count, by: 2).map { blockVectors[$0] },
      alpha: alpha, beta: beta, into: &y, squared: false, parallelism: parallelism)
  }

  /// The tile `rows × columns` of `J`: for row `i` and each layer, `δ_l[i][o]·a_{l−1}[i]` in the
  /// `W_l` entries of output `o`, and `δ_l[i]` in the `b_l` entries.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func writeTileUnchecked(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutablePointer<Scalar>, rowStride: Int
  ) {
    for (layer, weightOffset) in zip(layers, weightOffsets) {
      let (inputs, outputs) = (layer.inputCount, layer.outputCount)
      let biasOffset = weightOffset + inputs * outputs
      let weightColumns = (weightOffset..<biasOffset).clamped(to: columns)
      let biasColumns = (biasOffset..<(biasOffset + outputs)).clamped(to: columns)
      if weightColumns.isEmpty && biasColumns.isEmpty { continue }
      layer.inputs.withUnsafeElements { a in
        layer.deltas.withUnsafeElements { d in
          for (r, i) in rows.enumerated() {
            let row = tile + r * rowStride
            let ai = a.baseAddress! + i * inputs
            let di = d.baseAddress! + i * outputs
            // Weight entries e = o·in + j of this layer that fall in `columns`.
            var e = weightColumns.lowerBound - weightOffset
            let end = weightColumns.upperBound - weightOffset
            while e < end {
              let (o, first) = e.quotientAndRemainder(dividingBy: inputs)
              let last = min(inputs, first + (end - e))
              let destination = row + (weightOffset + o * inputs - columns.lowerBound)
              let scale = di[o]
              for j in first..<last { destination[j] = scale * ai[j] }
              e += last - first
            }
            for c in biasColumns {
              row[c - columns.lowerBound] = di[c - biasOffset]
            }
          }
        }
      }
    }
  }
}
