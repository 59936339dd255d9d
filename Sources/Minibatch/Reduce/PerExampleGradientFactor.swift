/// One layer's share of a batch's per-example gradients: the columns of `J` that belong to the
/// layer's own parameters (its **slice**, `p` columns), answered from what the layer's forward and
/// backward passes computed, without forming the slice unless the layer chooses to.
///
/// ``FactoredPerExampleGradients`` is a list of factors placed side by side; each operation of
/// ``PerExampleGradientOperator`` is the same operation on every factor's slice:
///
/// ```
/// J = [ J_1 | J_2 | … | J_F ]                    (k × p_f slices, one per layer with parameters)
/// Jᵀv           = [ J_1ᵀv ; J_2ᵀv ; … ]           reduce, into the factor's slice of y
/// (J∘J)ᵀv       = [ (J_1∘J_1)ᵀv ; … ]             reduceSquares
/// ‖g_i‖²        = Σ_f ‖J_f[i, :]‖²                addSquaredNorms, accumulated in Double
/// J·Jᵀ          = Σ_f J_f·J_fᵀ                    addGram
/// ```
///
/// A slice is split into the layer's parameter **tensors** (``tensorSizes``, e.g. `[out·in, out]`
/// for a dense layer's `W` and `b`): per-layer clipping reduces each tensor with its own vector and
/// needs each tensor's per-example norms.
///
/// The built-in factors: the dense layer's rank-1 factor (``FactoredPerExampleGradients/Layer``),
/// a convolution's sum over positions (`ConvolutionFactor`, ghost or materialised norms), an
/// embedding's sparse rows (`SparseRowsFactor`), and small stored rows
/// (``MaterializedGradientFactor``, normalisation layers). A layer of your own may conform.
///
/// Contract: every operation is called with arguments the container has validated (vector lengths
/// `k`, finite entries, a slice of exactly `p` entries, a tile inside the slice); with `beta == 0`
/// the slice has been zero-filled. Results must not depend on `parallelism`'s thread count.
public protocol PerExampleGradientFactor<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// `k`, the examples.
  var exampleCount: Int { get }
  /// `p`, the columns of `J` this factor owns: the sum of ``tensorSizes``.
  var parameterCount: Int { get }
  /// The sizes of the layer's parameter tensors, in layout order (each ≥ 1).
  var tensorSizes: [Int] { get }

  /// For every tensor `b`: `y[b] ← alpha·Σ_i v_b[i]·J_f[i, b] + beta·y[b]`, with `vectors[b]`
  /// its reduction vector (one per tensor; the plain reduction passes the same vector for all).
  func reduce(
    tensorVectors vectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism)

  /// `y ← alpha·(J_f∘J_f)ᵀv + beta·y` on the slice.
  func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into slice: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism)

  /// `‖g_i[b]‖²` for every tensor `b` and example `i` (``tensorSizes``.count arrays of `k`
  /// entries), in Double.
  func squaredTensorNorms(parallelism: Parallelism) -> [[Double]]

  /// `s_i += ‖J_f[i, :]‖²` for every example, in Double.
  func addSquaredNorms(into s: inout [Double], parallelism: Parallelism)

  /// `G += J_f·J_fᵀ` on the **upper triangle** (`j ≥ i`) of the row-major `k × k` `gram`.
  func addGram(into gram: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism)

  /// Writes `J_f[i, c]` for `i ∈ rows`, `c ∈ columns` (columns counted within the slice) at
  /// `tile[(i − rows.lowerBound)·rowStride + (c − columns.lowerBound)]`; `tile` holds at least
  /// `(rows.count − 1)·rowStride + columns.count` entries.
  func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int)
}

extension PerExampleGradientFactor {
  /// The default: one norm for the whole slice from ``squaredTensorNorms(parallelism:)``.
  public func addSquaredNorms(into s: inout [Double], parallelism: Parallelism) {
    for norms in squaredTensorNorms(parallelism: parallelism) {
      for i in 0..<exampleCount { s[i] += norms[i] }
    }
  }

  /// The default Gram contribution: the slice written in column tiles of about 2²⁰ entries, each
  /// added by `?syrk`.
  public func addGram(into gram: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism) {
    let k = exampleCount
    let width = max(1, min(parameterCount, (1 << 20) / k))
    var tile = [Scalar](repeating: 0, count: k * width)
    tile.withUnsafeMutableBufferPointer { tile in
      for start in stride(from: 0, to: parameterCount, by: width) {
        let columns = start..<min(parameterCount, start + width)
        writeTile(rows: 0..<k, columns: columns, into: tile, rowStride: columns.count)
        Scalar.syrk(
          n: k, k: columns.count, alpha: 1, a: tile.baseAddress!, lda: columns.count, beta: 1,
          c: gram.baseAddress!, ldc: k)
      }
    }
  }
}

/// A factor whose `k × p` rows are simply stored: what a layer with few parameters per example
/// (LayerNorm's and GroupNorm's `γ`, `β`) hands to `J`. Every operation is a plain product with the
/// stored rows: `Jᵀv` by `?gemv`, `(J∘J)ᵀv` and the norms by one pass, the Gram matrix by `?syrk`.
/// Memory `k·p`.
public struct MaterializedGradientFactor<Scalar: BLASScalar>: PerExampleGradientFactor {
  /// The rows, `k × p`: row `i` is example `i`'s gradient for this layer's parameters.
  public let rows: Matrix<Scalar>
  public let tensorSizes: [Int]

  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless the tensor sizes (each
  ///   ≥ 1) add up to the rows' width.
  public init(rows: Matrix<Scalar>, tensorSizes: [Int]) throws(MinibatchError) {
    for (index, size) in tensorSizes.enumerated() {
      try validateArgument(size, named: "tensor size \(index)", expected: "≥ 1", size >= 1)
    }
    try validateCount(
      tensorSizes.reduce(0, +), expected: rows.columns, of: "tensor sizes (columns of the rows)")
    self.rows = rows
    self.tensorSizes = tensorSizes
  }

  public var exampleCount: Int { rows.rows }
  public var parameterCount: Int { rows.columns }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    tensorVectors vectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism
  ) {
    let (k, p) = (rows.rows, rows.columns)
    rows.withUnsafeElements { a in
      var offset = 0
      for (b, size) in tensorSizes.enumerated() {
        vectors[b].withUnsafeBufferPointer { v in
          Scalar.gemv(
            transpose: true, m: k, n: size, alpha: alpha, a: a.baseAddress! + offset, lda: p,
            x: v.baseAddress!, incx: 1, beta: beta, y: slice.baseAddress! + offset, incy: 1)
        }
        offset += size
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into slice: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism
  ) {
    let (k, p) = (rows.rows, rows.columns)
    let coefficients = v.map { alpha * $0 }
    rows.withUnsafeElements { a in
      coefficients.withUnsafeBufferPointer { c in
        RowCombinationKernel.combineSquares(
          a: a.baseAddress!, k: k, n: p, lda: p, coefficients: c.baseAddress!, beta: beta,
          y: slice.baseAddress!, parallelism: parallelism)
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredTensorNorms(parallelism: Parallelism) -> [[Double]] {
    let (k, p) = (rows.rows, rows.columns)
    return rows.withUnsafeElements { a in
      var offset = 0
      return tensorSizes.map { size in
        defer { offset += size }
        return (0..<k).map { i in sumOfSquares(a.baseAddress! + i * p + offset, count: size) }
      }
    }
  }

  public func addGram(into gram: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism) {
    let (k, p) = (rows.rows, rows.columns)
    rows.withUnsafeElements { a in
      Scalar.syrk(
        n: k, k: p, alpha: 1, a: a.baseAddress!, lda: p, beta: 1, c: gram.baseAddress!, ldc: k)
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func writeTile(
    rows range: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) {
    let p = rows.columns
    rows.withUnsafeElements { a in
      for (r, i) in range.enumerated() {
        (tile.baseAddress! + r * rowStride).update(
          from: a.baseAddress! + i * p + columns.lowerBound, count: columns.count)
      }
    }
  }
}
