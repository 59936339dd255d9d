/// How DP-SGD bounds each example's contribution before the noise is added.
///
/// - ``flat(bound:)``: `g_i ← min(1, C/‖g_i‖)·g_i`, so `‖g_i‖ ≤ C` (Abadi et al. 2016).
/// - ``perBlock(bounds:)``: each parameter block `b` (a model's weight matrices and bias vectors,
///   ``PerExampleGradientModel/parameterBlocks``) is clipped on its own,
///   `g_i[b] ← min(1, C_b/‖g_i[b]‖)·g_i[b]`, so `‖g_i‖ ≤ √(Σ_b C_b²)`. These are the semantics of
///   Opacus' `clipping="per_layer"`, whose thresholds are one per parameter tensor (weight and
///   bias separately), as here.
///
/// Either way the clipping factors are a reduction vector (one per block), and the clipped sum is
/// `Jᵀv` — one GEMM per dense layer on the factored representation, no rows formed. A zero-norm
/// row keeps factor 1. A bound of `+∞` clips nothing.
public enum GradientClipping: Sendable, Hashable, CustomStringConvertible {
  /// One bound `C > 0` on the whole per-example gradient.
  case flat(bound: Double)
  /// One bound `C_b > 0` per parameter block.
  case perBlock(bounds: [Double])

  /// `count` equal per-block bounds `C/√count`, whose combined bound `√(Σ C_b²)` is `C`.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a `totalBound` that
  ///   is not `> 0` (NaN included; `+∞` clips nothing) or a `blockCount` below 1.
  public static func perBlock(
    totalBound: Double, blockCount: Int
  ) throws(MinibatchError) -> GradientClipping {
    try validateArgument(
      totalBound, named: "total clipping bound", expected: "> 0", totalBound > 0)
    try validateArgument(blockCount, named: "block count", expected: "≥ 1", blockCount >= 1)
    return .perBlock(
      bounds: Array(
        repeating: totalBound / Double(blockCount).squareRoot(), count: blockCount))
  }

  /// The `ℓ₂` sensitivity of the clipped sum to one example: `C` (flat) or `√(Σ_b C_b²)`
  /// (per block). The noise's standard deviation is the noise multiplier times this.
  public var sensitivity: Double {
    switch self {
    case .flat(let bound): return bound
    case .perBlock(let bounds): return bounds.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
  }

  public var description: String {
    switch self {
    case .flat(let bound): return "flat clipping C = \(bound)"
    case .perBlock(let bounds): return "per-block clipping C_b = \(bounds)"
    }
  }

  /// Bounds positive (`+∞` allowed), and one per block for per-block clipping.
  func validate(blockCount: Int) throws(MinibatchError) {
    switch self {
    case .flat(let bound):
      try validateArgument(bound, named: "clipping bound", expected: "> 0", bound > 0)
    case .perBlock(let bounds):
      try validateCount(bounds.count, expected: blockCount, of: "per-block clipping bounds")
      for (b, bound) in bounds.enumerated() {
        try validateArgument(
          bound, named: "clipping bound of block \(b)", expected: "> 0", bound > 0)
      }
    }
  }
}

/// `v_i = min(1, C/‖g_i‖)` from the squared norms `‖g_i‖²`, in Double: 1 for a row already within
/// the bound (zero rows included), `C/‖g_i‖` otherwise.
///
/// A squared norm of `+∞` (a Double gradient with ‖g‖ > 1.3e154) gives the factor 0, not
/// `C/‖g‖`: pass the norms themselves to ``clippingFactors(norms:bound:)`` instead, as
/// ``PerExampleGradientOperator/clippedSum(_:blocks:parallelism:)`` does.
///
/// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bound `≤ 0` or NaN.
public func clippingFactors(
  squaredNorms: [Double], bound: Double
) throws(MinibatchError) -> [Double] {
  try clippingFactors(norms: squaredNorms.map { $0.squareRoot() }, bound: bound)
}

/// `v_i = min(1, C/‖g_i‖)` from the norms `‖g_i‖` (``PerExampleGradientOperator/rowNorms(parallelism:)``),
/// in Double: 1 for a row already within the bound (zero rows included), `C/‖g_i‖` otherwise.
///
/// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bound `≤ 0` or NaN.
public func clippingFactors(norms: [Double], bound: Double) throws(MinibatchError) -> [Double] {
  try validateArgument(bound, named: "clipping bound", expected: "> 0", bound > 0)
  return [Double](unsafeUninitializedCapacity: norms.count) { factors, initialized in
    for (i, norm) in norms.enumerated() {
      factors.initializeElement(at: i, to: norm > bound ? bound / norm : 1)
    }
    initialized = norms.count
  }
}

/// The clipped sum of a batch's per-example gradients and how many rows were clipped.
public struct ClippedSum<Scalar: BLASScalar>: Sendable, Equatable {
  /// `Σ_i clip(g_i)`, `n` entries: a **sum**, not divided by anything.
  public var sum: [Scalar]
  /// Examples with at least one block scaled down (factor `< 1`).
  public var clippedExamples: Int
}

extension PerExampleGradientOperator {
  /// `Σ_i clip(g_i)` (see ``GradientClipping``): the norms come from the representation (factored:
  /// from the factors; stored: from the rows; streamed: a first sweep), the factors are formed in
  /// Double, and the sum is one reduction with them (per block: one per block).
  ///
  /// The factors `min(1, C/‖g_i‖)` are formed from the **norms**, not their squares: a norm is
  /// exact to rounding whenever `Scalar` represents it (see ``rowNorms(parallelism:)``), so a
  /// Float row of norm 5e30 or a Double row of norm 5e300 is clipped to `C` like any other.
  ///
  /// - Parameters:
  ///   - clipping: flat or per-block bounds.
  ///   - blocks: the parameter blocks for ``GradientClipping/perBlock(bounds:)`` (one bound
  ///     each; default: one block of all `n`); not used by flat clipping.
  ///   - parallelism: threads for the representation's norms and reduction (per-block norms and
  ///     the tiled per-block reduction run on the calling thread).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a bound `≤ 0` or NaN;
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` for blocks that do not cover `n` or a
  ///   bound count that does not match them; ``MinibatchError/nonFiniteValue(index:of:)`` when a
  ///   norm is NaN or beyond Double's range.
  public func clippedSum(
    _ clipping: GradientClipping, blocks: ParameterBlocks? = nil,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> ClippedSum<Scalar> {
    var y: [Scalar] = filled(0, count: parameterCount)
    switch clipping {
    case .flat(let bound):
      try clipping.validate(blockCount: 1)
      let norms = rowNormsInDouble(parallelism: parallelism)
      try validateFinite(norms, of: "per-example gradient norms")
      let factors = try clippingFactors(norms: norms, bound: bound)
      try reduce(
        with: factors.map { Scalar($0) }, alpha: 1, beta: 0, into: &y, parallelism: parallelism)
      return ClippedSum(sum: y, clippedExamples: factors.count { $0 < 1 })
    case .perBlock(let bounds):
      let chosen: ParameterBlocks? = blocks
      let blocks: ParameterBlocks
      if let chosen {
        blocks = chosen
      } else {
        blocks = try ParameterBlocks.whole(parameterCount: parameterCount)
      }
      try blocks.validate(parameterCount: parameterCount)
      try clipping.validate(blockCount: blocks.count)
      let norms = try blockNormsInDouble(blocks, parallelism: parallelism)
      var clipped = [Bool](repeating: false, count: exampleCount)
      var vectors: [[Scalar]] = []
      for (b, (blockNorms, bound)) in zip(norms, bounds).enumerated() {
        try validateFinite(blockNorms, of: "per-example norms of block \(b)")
        let factors = try clippingFactors(norms: blockNorms, bound: bound)
        for (i, factor) in factors.enumerated() where factor < 1 { clipped[i] = true }
        vectors.append(factors.map { Scalar($0) })
      }
      try reduce(
        blockVectors: vectors, blocks: blocks, alpha: 1, beta: 0, into: &y,
        parallelism: parallelism)
      return ClippedSum(sum: y, clippedExamples: clipped.count { $0 })
    }
  }
}

extension ClippedSum {
  /// The clipped sum of no examples (`n` zeros): what a rank with an empty local batch passes to
  /// ``allreduce(over:)``.
  ///
  /// - Throws: ``MinibatchError/noParameters`` or
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for a bad `parameterCount`.
  public static func empty(parameterCount: Int) throws(MinibatchError) -> ClippedSum {
    try PerExampleGradients<Scalar>.validateShape(k: 1, n: parameterCount)
    return ClippedSum(sum: filled(0, count: parameterCount), clippedExamples: 0)
  }

  /// Replaces this rank's clipped sum by the sum over every rank, `Σ_ranks Σ_i clip(g_i)`,
  /// summed in Double (one sum of `n + 1` numbers) and rounded to `Scalar` once. Clipping is per
  /// example, so the global clipped sum is the sum of the local ones; add the noise once,
  /// afterwards (``DifferentialPrivacy/noisyGradient(clippedSum:expectedBatchSize:noise:parallelism:)``
  /// with a ``GaussianNoise`` every rank seeded alike, ``GaussianNoise/init(sharedAcross:)``).
  /// The collective agreement check (`n` and the scalar type) comes first, then
  /// `sumAcrossRanks(over:)`.
  ///
  /// - Throws, on every rank alike (nothing changed):
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` when `n` or the scalar type
  ///   differs; ``MinibatchError/nonFiniteValue(index:of:)`` when the global sum overflows
  ///   `Scalar`; the transport's errors.
  public mutating func allreduce(over collective: some ReductionCollective) throws(MinibatchError) {
    try collective.agree(
      on: [("parameters (n)", "\(sum.count)"), ("scalar type", "\(Scalar.self)")],
      localFailure: nil)
    try sumAcrossRanks(over: collective)
  }

  /// The sum of ``allreduce(over:)`` without its agreement check: one sum of `n + 1` Doubles,
  /// `[Σ_i clip(g_i) (n), clipped examples]`, rounded to `Scalar` once.
  ///
  /// For a caller that has already agreed with every rank, once, on what the check compares (`n`
  /// and the scalar type; the trainer does before its first step): every rank must call it with
  /// the same `n`, or the transport's sums do not match (MPI may hang or fail). Every rank holds
  /// the same bits afterwards.
  ///
  /// - Throws, on every rank alike (nothing changed): ``MinibatchError/nonFiniteValue(index:of:)``
  ///   when the global sum overflows `Scalar`; the transport's errors.
  mutating func sumAcrossRanks(over collective: some ReductionCollective) throws(MinibatchError) {
    var state = sum.map { Double($0) } + [Double(clippedExamples)]
    try collective.sum(&state)
    let global = state.dropLast().map { Scalar($0) }
    try validateFinite(global, of: "global clipped sum")
    sum = global
    clippedExamples = Int(state[state.count - 1])
  }
}
