/// Raw, mergeable state of reduced per-example gradients, finalised once with a named
/// ``GradientNormalization``.
///
/// Adding a batch (any ``PerExampleGradientOperator``) with reduction weights `v_i` (example
/// weights, clipping factors, or 1) accumulates
///
/// ```
/// S = Σ_i v_i·g_i   (weightedSum, n entries)    V = Σ_i v_i   (weightTotal)    m = Σ 1   (exampleCount)
/// optionally  Q = Σ_i v_i·‖g_i‖²   and per-parameter weighted mean μ_j and M2_j = Σ_i v_i·(g_ij − μ_j)²
/// ```
///
/// in Double whatever `Scalar` is. Each batch is reduced with `v_i/V` (scaled inside the sum, so
/// nothing overflows in `Scalar` when the mean is finite) and multiplied back by `V` in Double.
/// Accumulators of chunks, threads or processes combine with ``merge(_:)``: sums add, moments
/// combine by Chan, Golub and LeVeque's formula
///
/// ```
/// δ = μ_b − μ_a,   μ = μ_a + δ·V_b/V,   M2 = M2_a + M2_b + δ²·V_a·V_b/V
/// ```
///
/// so merging the same parts in the same order gives the same bits, however the parts were
/// computed. ``gradient(normalizedBy:)`` divides `S` by the normalisation's denominator once.
///
/// A batch's own moments come from `(J∘J)ᵀv` and `Jᵀv` as `M2_b = V·(E_v[g²] − E_v[g]²)`, in
/// Double: within one batch that form loses digits when `|μ_j| ≫ σ_j`; across batches Chan's
/// merge does not.
public struct GradientAccumulator<Scalar: BLASScalar>: Sendable, Equatable {
  /// Per-parameter weighted moments: `weight = Σ v_i`, `mean_j = Σ v_i·g_ij / weight`,
  /// `m2_j = Σ v_i·(g_ij − mean_j)²`.
  public struct Moments: Sendable, Equatable {
    public var weight: Double
    public var mean: [Double]
    public var m2: [Double]

    /// The weighted population variance `m2_j / weight` of every parameter's per-example
    /// gradient (`n` entries); empty before anything with a positive weight was added.
    public var variance: [Double] { weight > 0 ? m2.map { $0 / weight } : [] }
  }

  /// `n`, the length of every gradient.
  public let parameterCount: Int
  /// `S = Σ_i v_i·g_i` over everything added (`n` entries, Double).
  public private(set) var weightedSum: [Double]
  /// `V = Σ_i v_i`.
  public private(set) var weightTotal: Double = 0
  /// `m`, the examples added (whatever their weights).
  public private(set) var exampleCount = 0
  /// `Q = Σ_i v_i·‖g_i‖²`, when the accumulator was created to track it.
  public private(set) var weightedSquaredNormSum: Double?
  /// Per-parameter moments, when the accumulator was created to track them.
  public private(set) var moments: Moments?

  /// An empty accumulator for gradients of `parameterCount` entries.
  ///
  /// - Throws: ``MinibatchError/noParameters`` or
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for a bad `parameterCount`.
  public init(
    parameterCount: Int, tracksSquaredNorms: Bool = false, tracksMoments: Bool = false
  ) throws(MinibatchError) {
    try PerExampleGradients<Scalar>.validateShape(k: 1, n: parameterCount)
    self.parameterCount = parameterCount
    weightedSum = filled(0.0, count: parameterCount)
    weightedSquaredNormSum = tracksSquaredNorms ? 0 : nil
    moments =
      tracksMoments
      ? Moments(
        weight: 0, mean: filled(0.0, count: parameterCount),
        m2: filled(0.0, count: parameterCount)) : nil
  }

  /// Adds a batch's gradients with reduction weights `v` (`nil`: every `v_i = 1`).
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` if `gradients` has another `n`
  ///   or `v` another `k`; ``MinibatchError/nonFiniteValue(index:of:)`` /
  ///   ``MinibatchError/negativeValue(index:value:of:)`` for a bad weight, or for a batch whose
  ///   reduced values are not finite. On error the accumulator is unchanged.
  public mutating func add(
    _ gradients: some PerExampleGradientOperator<Scalar>, weights v: [Scalar]? = nil,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    try validateCount(gradients.parameterCount, expected: parameterCount, of: "parameters (n)")
    let k = gradients.exampleCount
    let weights = v ?? filled(1, count: k)
    try validateCount(weights.count, expected: k, of: "reduction weights (length k)")
    var total = 0.0
    for (index, w) in weights.enumerated() {
      guard w.isFinite else { throw .nonFiniteValue(index: index, of: "reduction weights") }
      guard w >= 0 else {
        throw .negativeValue(index: index, value: Double(w), of: "reduction weights")
      }
      total += Double(w)
    }
    var batch = try GradientAccumulator(
      parameterCount: parameterCount, tracksSquaredNorms: weightedSquaredNormSum != nil,
      tracksMoments: moments != nil)
    batch.exampleCount = k
    if total > 0 {
      let scaled = try scaledReductionVector(weights, denominator: total)
      let mean = try gradients.reduce(with: scaled, parallelism: parallelism)
      try validateFinite(mean, of: "weighted mean of the batch's gradients")
      batch.weightTotal = total
      var second: [Scalar]?
      if batch.moments != nil {
        var squares: [Scalar] = filled(0, count: parameterCount)
        try gradients.reduceSquares(
          with: scaled, alpha: 1, beta: 0, into: &squares, parallelism: parallelism)
        try validateFinite(squares, of: "weighted second moments of the batch's gradients")
        second = squares
      }
      (batch.weightedSum, batch.moments) = Self.batchState(
        mean: mean, second: second, weight: total)
      if batch.weightedSquaredNormSum != nil {
        let norms = gradients.squaredRowNorms(parallelism: parallelism)
        batch.weightedSquaredNormSum = zip(weights, norms).reduce(0.0) { sum, pair in
          sum + Double(pair.0) * Double(pair.1)
        }
      }
    }
    try merge(batch)
  }

  /// A batch's `S = V·E_v[g]` and, given `E_v[g²]`, its moments `(V, E_v[g], V·(E_v[g²] − E_v[g]²))`,
  /// in Double.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func batchState(
    mean: [Scalar], second: [Scalar]?, weight: Double
  ) -> ([Double], Moments?) {
    let sum = mean.map { Double($0) * weight }
    guard let second else { return (sum, nil) }
    let m2 = zip(second, mean).map { s, m in weight * max(0, Double(s) - Double(m) * Double(m)) }
    return (sum, Moments(weight: weight, mean: mean.map { Double($0) }, m2: m2))
  }

  /// Adds everything `other` accumulated: sums add, moments merge by Chan's formula.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for another `n`,
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` if the two do not track the same
  ///   statistics. On error the accumulator is unchanged.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func merge(_ other: GradientAccumulator) throws(MinibatchError) {
    try validateCount(other.parameterCount, expected: parameterCount, of: "parameters (n)")
    try validateArgument(
      "squared norms: \(other.weightedSquaredNormSum != nil), moments: \(other.moments != nil)",
      named: "tracked statistics",
      expected:
        "squared norms: \(weightedSquaredNormSum != nil), moments: \(moments != nil), as here",
      (other.weightedSquaredNormSum != nil) == (weightedSquaredNormSum != nil)
        && (other.moments != nil) == (moments != nil))
    for j in 0..<parameterCount { weightedSum[j] += other.weightedSum[j] }
    weightTotal += other.weightTotal
    exampleCount += other.exampleCount
    if let q = other.weightedSquaredNormSum { weightedSquaredNormSum! += q }
    if let b = other.moments, let a = moments, b.weight > 0 {
      let total = a.weight + b.weight
      var merged = a
      merged.weight = total
      for j in 0..<parameterCount {
        let delta = b.mean[j] - a.mean[j]
        merged.mean[j] = a.mean[j] + delta * (b.weight / total)
        merged.m2[j] = a.m2[j] + b.m2[j] + delta * delta * (a.weight * b.weight / total)
      }
      moments = merged
    }
  }

  /// The gradient `S / D` (`n` entries) with `D` from `normalization` (see
  /// ``GradientNormalization``), divided in Double.
  ///
  /// - Throws: the errors of ``GradientNormalization/denominator(weightTotal:exampleCount:)``
  ///   (nothing accumulated with ``GradientNormalization/weightTotal``, say), and
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` if an entry is beyond `Scalar`'s range.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func gradient(normalizedBy normalization: GradientNormalization) throws(MinibatchError)
    -> [Scalar]
  {
    let d = try normalization.denominator(weightTotal: weightTotal, exampleCount: exampleCount)
    let gradient = weightedSum.map { Scalar($0 / d) }
    try validateFinite(gradient, of: "normalised gradient")
    return gradient
  }
}
