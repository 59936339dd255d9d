/// A convolution's factor of `J`: per example a **sum over its `T` output positions** of outer
/// products, kept as the unfolded input `U` (`(k·T) × p`) and the output errors `Δ` (`(k·T) × F`).
///
/// ```
/// J[i, W] = vec(Δ_iᵀ·U_i)   (F × p)          J[i, b] = Σ_t δ_{i,t}   (F)
/// Jᵀv:      W ← alpha·Δᵀ·diag(v ⊗ 1_T)·U       one GEMM over k·T rows;  b ← alpha·Δᵀ·(v ⊗ 1_T)
/// (J∘J)ᵀv:  Σ_i v_i·(Δ_iᵀU_i)∘(Δ_iᵀU_i)          k GEMMs of F × T × p (the rows are formed, one at a time)
/// ‖J[i, W]‖²  ghost:        ⟨U_iU_iᵀ, Δ_iΔ_iᵀ⟩   two T × T ?syrk per example, O(T²·(p + F))
///             materialised: ‖Δ_iᵀU_i‖²           one GEMM per example,       O(T·p·F)
/// ```
///
/// Both norm methods are exact (tested equal); ``NormMethod/automatic`` picks ghost when
/// `2T² ≤ p·F`, the cheaper one (the rule of mixed ghost clipping). Norms are accumulated in
/// Double. The ghost Gram matrices are `Scalar` products, which overflow (Float: ‖u_t‖ > 1.8e19)
/// or underflow sooner than the norm does: an example whose Gram diagonals leave `Scalar`'s
/// normal range, or whose ghost total is not finite, is measured materialised instead. Memory: `U` and `Δ`, `k·T·(p + F)` scalars, which the forward and backward passes
/// computed anyway.
public struct ConvolutionFactor<Scalar: BLASScalar>: PerExampleGradientFactor {
  /// How the weights' per-example norms are computed.
  public enum NormMethod: String, Sendable, Hashable, Codable, CaseIterable {
    /// Ghost when `2T² ≤ p·F`, materialised otherwise.
    case automatic
    /// `⟨U_iU_iᵀ, Δ_iΔ_iᵀ⟩`, never forming the `F × p` gradient.
    case ghost
    /// `‖Δ_iᵀU_i‖²`, the gradient formed one example at a time.
    case materialized
  }

  /// `U`, `(k·T) × p` row-major: row `i·T + t` is example `i`'s patch at position `t`.
  public let unfolded: [Scalar]
  /// `Δ`, `(k·T) × F` row-major: row `i·T + t` is `∂ℓ_i/∂z` at position `t`.
  public let deltas: [Scalar]
  public let exampleCount: Int
  /// `T`, output positions per example.
  public let positions: Int
  /// `p = C·kh·kw`.
  public let patch: Int
  /// `F`.
  public let filters: Int
  public let normMethod: NormMethod

  init(
    unfolded: [Scalar], deltas: [Scalar], exampleCount: Int, positions: Int, patch: Int,
    filters: Int, normMethod: NormMethod
  ) {
    assert(unfolded.count == exampleCount * positions * patch)
    assert(deltas.count == exampleCount * positions * filters)
    self.unfolded = unfolded
    self.deltas = deltas
    self.exampleCount = exampleCount
    self.positions = positions
    self.patch = patch
    self.filters = filters
    self.normMethod = normMethod
  }

  public var parameterCount: Int { (patch + 1) * filters }
  public var tensorSizes: [Int] { [filters * patch, filters] }

  /// The method ``NormMethod/automatic`` resolves to for this layer.
  public var resolvedNormMethod: NormMethod {
    switch normMethod {
    case .automatic: 2 * positions * positions <= patch * filters ? .ghost : .materialized
    case let method: method
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduce(
    tensorVectors vectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism
  ) {
    let (k, t, p, f) = (exampleCount, positions, patch, filters)
    let rows = k * t
    /// diag(v ⊗ 1_T)·Δ, written into a new buffer.
    func scaled(_ v: [Scalar]) -> [Scalar] {
      [Scalar](unsafeUninitializedCapacity: deltas.count) { s, initialized in
        deltas.withUnsafeBufferPointer { d in
          for i in 0..<k {
            let factor = v[i]
            for e in (i * t * f)..<((i + 1) * t * f) { s[e] = d[e] * factor }
          }
        }
        initialized = deltas.count
      }
    }
    let weightDeltas = scaled(vectors[0])
    let biasDeltas = vectors[1] == vectors[0] ? weightDeltas : scaled(vectors[1])
    weightDeltas.withUnsafeBufferPointer { d in
      unfolded.withUnsafeBufferPointer { u in
        Scalar.gemm(
          transposeA: true, transposeB: false, m: f, n: p, k: rows, alpha: alpha,
          a: d.baseAddress!, lda: f, b: u.baseAddress!, ldb: p, beta: beta,
          c: slice.baseAddress!, ldc: p)
      }
    }
    let ones = [Scalar](repeating: 1, count: rows)
    biasDeltas.withUnsafeBufferPointer { d in
      ones.withUnsafeBufferPointer { one in
        Scalar.gemv(
          transpose: true, m: rows, n: f, alpha: alpha, a: d.baseAddress!, lda: f,
          x: one.baseAddress!, incx: 1, beta: beta, y: slice.baseAddress! + f * p, incy: 1)
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into slice: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism
  ) {
    let (f, p) = (filters, patch)
    if beta != 0 && beta != 1 {
      for j in slice.indices { slice[j] *= beta }
    }
    var gradient = [Scalar](repeating: 0, count: f * p)
    for i in 0..<exampleCount {
      let c = alpha * v[i]
      if c == 0 { continue }
      exampleWeightGradient(i, into: &gradient)
      for e in 0..<(f * p) { slice[e] += c * gradient[e] * gradient[e] }
      let bias = exampleBiasGradient(i)
      for o in 0..<f { slice[f * p + o] += c * bias[o] * bias[o] }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredTensorNorms(parallelism: Parallelism) -> [[Double]] {
    [
      squaredWeightNorms(method: resolvedNormMethod, parallelism: parallelism),
      squaredBiasNorms(parallelism: parallelism),
    ]
  }

  /// `‖J[i, W]‖²` for every example by the given method (``NormMethod/automatic`` resolves by
  /// cost), in Double. The examples are shared among up to `parallelism` threads, each with its
  /// own buffers; every example's norm is computed the same way whatever the thread count, so the
  /// result is bit-identical for any `parallelism`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredWeightNorms(
    method: NormMethod, parallelism: Parallelism = .automatic
  ) -> [Double] {
    let (t, p, f) = (positions, patch, filters)
    let ghost = (method == .automatic ? resolvedNormMethod : method) == .ghost
    // Multiply-adds per example, so that a thread gets at least about 2¹⁷ of them.
    let work = ghost ? t * t * (p + f) : t * p * f
    return forEachExample(parallelism: parallelism, work: work) { examples, norms in
      if ghost {
        var patchGram = [Scalar](repeating: 0, count: t * t)
        var deltaGram = [Scalar](repeating: 0, count: t * t)
        for i in examples {
          norms[i] = ghostSquaredWeightNorm(i, patchGram: &patchGram, deltaGram: &deltaGram)
        }
      } else {
        var gradient = [Scalar](repeating: 0, count: f * p)
        for i in examples {
          exampleWeightGradient(i, into: &gradient)
          norms[i] = gradient.withUnsafeBufferPointer {
            sumOfSquares($0.baseAddress!, count: f * p)
          }
        }
      }
    }
  }

  /// `⟨U_iU_iᵀ, Δ_iΔ_iᵀ⟩` of one example from two `T × T` `?syrk` into the given buffers, or its
  /// materialised norm when a Gram diagonal leaves `Scalar`'s normal range or the total is not
  /// finite.
  func ghostSquaredWeightNorm(
    _ i: Int, patchGram: inout [Scalar], deltaGram: inout [Scalar]
  ) -> Double {
    let (t, p, f) = (positions, patch, filters)
    unfolded.withUnsafeBufferPointer { u in
      patchGram.withUnsafeMutableBufferPointer { g in
        Scalar.syrk(
          n: t, k: p, alpha: 1, a: u.baseAddress! + i * t * p, lda: p, beta: 0,
          c: g.baseAddress!, ldc: t)
      }
    }
    deltas.withUnsafeBufferPointer { d in
      deltaGram.withUnsafeMutableBufferPointer { g in
        Scalar.syrk(
          n: t, k: f, alpha: 1, a: d.baseAddress! + i * t * f, lda: f, beta: 0,
          c: g.baseAddress!, ldc: t)
      }
    }
    // ⟨A, B⟩ of two symmetric matrices from their upper triangles.
    var total = 0.0
    var inRange = true
    for r in 0..<t {
      let (a, b) = (patchGram[r * t + r], deltaGram[r * t + r])
      inRange = inRange && Self.isTrustworthyGramEntry(a) && Self.isTrustworthyGramEntry(b)
      total += Double(a) * Double(b)
      for s in (r + 1)..<t {
        total += 2 * Double(patchGram[r * t + s]) * Double(deltaGram[r * t + s])
      }
    }
    guard inRange, total.isFinite else { return materializedSquaredWeightNorm(i) }
    return total
  }

  /// One Double per example, computed by `body(examples, norms)` over contiguous ranges of the
  /// examples on up to `parallelism` threads (a thread gets at least about 2¹⁷ multiply-adds, at
  /// `work` per example); `body` writes `norms[i]` for each `i` in its range.
  func forEachExample(
    parallelism: Parallelism, work: Int,
    _ body: @Sendable (Range<Int>, UnsafeMutablePointer<Double>) -> Void
  ) -> [Double] {
    let k = exampleCount
    guard k > 0 else { return [] }
    return [Double](unsafeUninitializedCapacity: k) { buffer, initialized in
      let norms = SendableMutablePointer(buffer.baseAddress!)
      parallelism.forEachRange(of: k, minimumChunk: max(1, (1 << 17) / max(1, work))) {
        body($0, norms.pointer)
      }
      initialized = k
    }
  }

  /// A Gram diagonal `‖x_t‖²` the ghost norm can use: 0 or a normal, finite `Scalar`.
  static func isTrustworthyGramEntry(_ value: Scalar) -> Bool {
    value == 0 || (value >= Scalar.leastNormalMagnitude && value.isFinite)
  }

  /// `‖J[i, W]‖²` of one example from its formed weight gradient, in Double.
  func materializedSquaredWeightNorm(_ i: Int) -> Double {
    var gradient = [Scalar](repeating: 0, count: filters * patch)
    exampleWeightGradient(i, into: &gradient)
    return gradient.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: $0.count) }
  }

  /// `‖Σ_t δ_{i,t}‖²` for every example, in Double (the sum in `Scalar`, over the positions in
  /// order, as ``exampleBiasGradient(_:)`` forms it), on up to `parallelism` threads.
  func squaredBiasNorms(parallelism: Parallelism) -> [Double] {
    let f = filters
    return forEachExample(parallelism: parallelism, work: positions * f) { examples, norms in
      var bias = [Scalar](repeating: 0, count: f)
      bias.withUnsafeMutableBufferPointer { bias in
        for i in examples {
          exampleBiasGradient(i, into: bias)
          norms[i] = bias.reduce(0.0) { $0 + Double($1) * Double($1) }
        }
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) {
    let weights = filters * patch
    let weightColumns = (0..<weights).clamped(to: columns)
    let biasColumns = (weights..<parameterCount).clamped(to: columns)
    var gradient = [Scalar](repeating: 0, count: weights)
    for (r, i) in rows.enumerated() {
      let row = tile.baseAddress! + r * rowStride - columns.lowerBound
      if !weightColumns.isEmpty {
        exampleWeightGradient(i, into: &gradient)
        for c in weightColumns { row[c] = gradient[c] }
      }
      if !biasColumns.isEmpty {
        let bias = exampleBiasGradient(i)
        for c in biasColumns { row[c] = bias[c - weights] }
      }
    }
  }

  /// `Δ_iᵀ·U_i` (`F × p`), one GEMM over the example's `T` positions.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func exampleWeightGradient(_ i: Int, into gradient: inout [Scalar]) {
    let (t, p, f) = (positions, patch, filters)
    deltas.withUnsafeBufferPointer { d in
      unfolded.withUnsafeBufferPointer { u in
        gradient.withUnsafeMutableBufferPointer { g in
          Scalar.gemm(
            transposeA: true, transposeB: false, m: f, n: p, k: t, alpha: 1,
            a: d.baseAddress! + i * t * f, lda: f, b: u.baseAddress! + i * t * p, ldb: p,
            beta: 0, c: g.baseAddress!, ldc: p)
        }
      }
    }
  }

  /// `Σ_t δ_{i,t}` (`F`).
  func exampleBiasGradient(_ i: Int) -> [Scalar] {
    [Scalar](unsafeUninitializedCapacity: filters) { bias, initialized in
      exampleBiasGradient(i, into: bias)
      initialized = filters
    }
  }

  /// `Σ_t δ_{i,t}` into `bias` (`F` entries, overwritten), summed over the positions in order.
  func exampleBiasGradient(_ i: Int, into bias: UnsafeMutableBufferPointer<Scalar>) {
    let (t, f) = (positions, filters)
    for o in 0..<f { bias[o] = 0 }
    deltas.withUnsafeBufferPointer { d in
      for position in 0..<t {
        let row = d.baseAddress! + (i * t + position) * f
        for o in 0..<f { bias[o] += row[o] }
      }
    }
  }
}
