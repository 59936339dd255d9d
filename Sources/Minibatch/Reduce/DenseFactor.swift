extension FactoredPerExampleGradients {
  /// One dense layer's factors for the batch (``DenseFactor``).
  public typealias Layer = DenseFactor<Scalar>
}

/// One dense layer's factors for the batch: `J_l[i, :] = [vec(δ_l[i]·a_{l−1}[i]ᵀ), δ_l[i]]`
/// (see ``FactoredPerExampleGradients`` for its operations' formulas).
///
/// A top-level type rather than one nested in the generic container, so that its
/// `@_specialize`d loops are specialised.
public struct DenseFactor<Scalar: BLASScalar>: PerExampleGradientFactor, Equatable {
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
  public var exampleCount: Int { inputs.rows }
  public var parameterCount: Int { (inputCount + 1) * outputCount }
  /// `[out·in, out]`: `W_l`, then `b_l`.
  public var tensorSizes: [Int] { [inputCount * outputCount, outputCount] }

  public func reduce(
    tensorVectors vectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism
  ) {
    product(
      weightVector: vectors[0], biasVector: vectors[1], alpha: alpha, beta: beta,
      into: slice.baseAddress!, squared: false, parallelism: parallelism)
  }

  public func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into slice: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism
  ) {
    product(
      weightVector: v, biasVector: v, alpha: alpha, beta: beta, into: slice.baseAddress!,
      squared: true, parallelism: parallelism)
  }

  /// `‖δ_l[i]‖²·‖a_{l−1}[i]‖²` (`W_l`) and `‖δ_l[i]‖²` (`b_l`), in Double, O(k·(in + out)).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredTensorNorms(parallelism: Parallelism) -> [[Double]] {
    let k = exampleCount
    var weight = [Double](repeating: 0, count: k)
    var bias = [Double](repeating: 0, count: k)
    inputs.withUnsafeElements { a in
      deltas.withUnsafeElements { d in
        let (inputs, outputs) = (inputCount, outputCount)
        for i in 0..<k {
          let input =
            inputSquaredNorms?[i] ?? sumOfSquares(a.baseAddress! + i * inputs, count: inputs)
          bias[i] = sumOfSquares(d.baseAddress! + i * outputs, count: outputs)
          // A zero δ_l[i] makes a zero gradient, even if ‖a‖² overflowed (0·∞ would be NaN).
          weight[i] = bias[i] == 0 ? 0 : bias[i] * input
        }
      }
    }
    return [weight, bias]
  }

  /// `s_i += ‖δ_l[i]‖²·(‖a_{l−1}[i]‖² + 1)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func addSquaredNorms(into s: inout [Double], parallelism: Parallelism) {
    inputs.withUnsafeElements { a in
      deltas.withUnsafeElements { d in
        let (inputs, outputs) = (inputCount, outputCount)
        for i in 0..<exampleCount {
          let ai = a.baseAddress! + i * inputs
          let di = d.baseAddress! + i * outputs
          let input = inputSquaredNorms?[i] ?? sumOfSquares(ai, count: inputs)
          let delta = sumOfSquares(di, count: outputs)
          if delta != 0 { s[i] += delta * (input + 1) }
        }
      }
    }
  }

  /// `G += (Δ_lΔ_lᵀ)∘(A_{l−1}A_{l−1}ᵀ + 1)` on the upper triangle: two `?syrk` and an
  /// elementwise product.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func addGram(into gram: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism) {
    let k = exampleCount
    var deltaGram = [Scalar](repeating: 0, count: k * k)
    var inputGram = [Scalar](repeating: 0, count: k * k)
    deltas.withUnsafeElements { d in
      deltaGram.withUnsafeMutableBufferPointer { dd in
        Scalar.syrk(
          n: k, k: outputCount, alpha: 1, a: d.baseAddress!, lda: outputCount, beta: 0,
          c: dd.baseAddress!, ldc: k)
      }
    }
    inputs.withUnsafeElements { a in
      inputGram.withUnsafeMutableBufferPointer { aa in
        Scalar.syrk(
          n: k, k: inputCount, alpha: 1, a: a.baseAddress!, lda: inputCount, beta: 0,
          c: aa.baseAddress!, ldc: k)
      }
    }
    addHadamardUpper(deltaGram, inputGram, into: gram.baseAddress!, k: k)
  }

  /// For row `i`: `δ_l[i][o]·a_{l−1}[i]` in the `W_l` entries of output `o`, and `δ_l[i]` in
  /// the `b_l` entries.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) {
    let (inputs, outputs) = (inputCount, outputCount)
    let biasOffset = inputs * outputs
    let weightColumns = (0..<biasOffset).clamped(to: columns)
    let biasColumns = (biasOffset..<(biasOffset + outputs)).clamped(to: columns)
    self.inputs.withUnsafeElements { a in
      deltas.withUnsafeElements { d in
        for (r, i) in rows.enumerated() {
          let row = tile.baseAddress! + r * rowStride
          let ai = a.baseAddress! + i * inputs
          let di = d.baseAddress! + i * outputs
          // Weight entries e = o·in + j that fall in `columns`.
          var e = weightColumns.lowerBound
          let end = weightColumns.upperBound
          while e < end {
            let (o, first) = e.quotientAndRemainder(dividingBy: inputs)
            let last = min(inputs, first + (end - e))
            let destination = row + (o * inputs - columns.lowerBound)
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

  /// `W_l ← alpha·Δ_lᵀ·diag(v_W)·A_{l−1} + beta·W_l`, `b_l ← alpha·Δ_lᵀ·v_b + beta·b_l` (with
  /// `squared`, on `Δ∘Δ` and `A∘A`); `slice` has been zero-filled when `beta == 0`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func product(
    weightVector: [Scalar], biasVector: [Scalar], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutablePointer<Scalar>, squared: Bool, parallelism: Parallelism
  ) {
    let k = exampleCount
    let (inputs, outputs) = (inputCount, outputCount)
    /// diag(v)·Δ (or diag(v)·(Δ∘Δ)): k × out, the smaller factor of the outer products.
    func scaledDeltas(_ v: [Scalar]) -> [Scalar] {
      [Scalar](unsafeUninitializedCapacity: k * outputs) { scaled, initialized in
        deltas.withUnsafeElements { delta in
          for i in 0..<k {
            for o in 0..<outputs {
              let d = delta[i * outputs + o]
              scaled[i * outputs + o] = (squared ? d * d : d) * v[i]
            }
          }
        }
        initialized = k * outputs
      }
    }
    let weightDeltas = scaledDeltas(weightVector)
    let biasDeltas = biasVector == weightVector ? weightDeltas : scaledDeltas(biasVector)
    let weightBlock = slice
    let biasBlock = weightBlock + inputs * outputs
    // b_l block: Σ_i v_i·δ_l[i] (squared: Σ_i v_i·δ_l[i]²), one GEMV with a vector of ones.
    biasDeltas.withUnsafeBufferPointer { sd in
      let ones = [Scalar](repeating: 1, count: k)
      ones.withUnsafeBufferPointer { one in
        Scalar.gemv(
          transpose: true, m: k, n: outputs, alpha: alpha, a: sd.baseAddress!, lda: outputs,
          x: one.baseAddress!, incx: 1, beta: beta, y: biasBlock, incy: 1)
      }
    }
    weightDeltas.withUnsafeBufferPointer { sd in
      self.inputs.withUnsafeElements { a in
        if !squared {
          if outputs == 1 {
            Scalar.gemv(
              transpose: true, m: k, n: inputs, alpha: alpha, a: a.baseAddress!, lda: inputs,
              x: sd.baseAddress!, incx: 1, beta: beta, y: weightBlock, incy: 1)
          } else {
            Scalar.gemm(
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
            Scalar.gemm(
              transposeA: true, transposeB: false, m: outputs, n: inputs, k: k, alpha: alpha,
              a: sd.baseAddress!, lda: outputs, b: a2.baseAddress!, ldb: inputs, beta: beta,
              c: weightBlock, ldc: inputs)
          }
        }
      }
    }
  }
}
