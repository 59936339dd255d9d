import CMinibatchKernels

/// Per-parameter (weighted) mean and centred second moment of per-example gradients, mergeable
/// across batches, threads and processes:
///
/// ```
/// V = Σ_i v_i      V₂ = Σ_i v_i²      μ_j = Σ_i v_i·g_ij / V      M2_j = Σ_i v_i·(g_ij − μ_j)²
/// population variance   σ²_j = M2_j / V
/// unbiased variance     s²_j = M2_j / (V − V₂/V)        (= M2_j/(k − 1) with unit weights)
/// ```
///
/// (`v_i`: example weights or reduction weights, 1 by default; the unbiased form is the
/// reliability-weighted one.) Everything is in Double and never negative. A batch's moments come
/// from ``PerExampleGradientOperator/moments(exampleWeights:parallelism:)``, or are tracked by a
/// ``GradientAccumulator`` (`tracksMoments: true`). ``merge(_:)`` is Chan, Golub and LeVeque's
/// formula, the one merge of moments in the package (the accumulator merges with it too):
///
/// ```
/// δ = μ_b − μ_a,   μ = μ_a + δ·V_b/V,   M2 = M2_a + M2_b + δ²·V_a·V_b/V      (V = V_a + V_b)
/// ```
///
/// so the moments of the parts merged in any chunking equal those of the whole to rounding, and
/// merging the same parts in the same order gives the same bits.
public struct GradientMoments: Sendable, Equatable {
  /// `V = Σ v_i`.
  public private(set) var weightTotal: Double
  /// `V₂ = Σ v_i²`.
  public private(set) var squaredWeightTotal: Double
  /// The examples, whatever their weights.
  public private(set) var exampleCount: Int
  /// `μ_j`, `n` entries.
  public private(set) var mean: [Double]
  /// `M2_j = Σ v_i·(g_ij − μ_j)²`, `n` entries, each `≥ 0`.
  public private(set) var m2: [Double]
  /// The parameters whose `M2` was recomputed by the exact two-pass sweep (see
  /// ``PerExampleGradientOperator/moments(exampleWeights:parallelism:)``), summed over merges;
  /// 0 for a ``GradientAccumulator``'s moments, which are two-pass throughout.
  public private(set) var exactlyRecomputed: Int

  init(
    weightTotal: Double, squaredWeightTotal: Double, exampleCount: Int, mean: [Double],
    m2: [Double], exactlyRecomputed: Int
  ) {
    self.weightTotal = weightTotal
    self.squaredWeightTotal = squaredWeightTotal
    self.exampleCount = exampleCount
    self.mean = mean
    self.m2 = m2
    self.exactlyRecomputed = exactlyRecomputed
  }

  /// The moments of no examples (`V = 0`, `n` zeros), for an `n` already validated.
  init(zerosFor parameterCount: Int) {
    self.init(
      weightTotal: 0, squaredWeightTotal: 0, exampleCount: 0,
      mean: [Double](repeating: 0, count: parameterCount),
      m2: [Double](repeating: 0, count: parameterCount), exactlyRecomputed: 0)
  }

  /// The moments of no examples (`V = 0`, `n` zeros): what a rank with an empty local batch
  /// passes to ``allreduce(over:)``.
  ///
  /// - Throws: ``MinibatchError/noParameters`` or
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for a bad `parameterCount`.
  public static func empty(parameterCount: Int) throws(MinibatchError) -> GradientMoments {
    try PerExampleGradients<Double>.validateShape(k: 1, n: parameterCount)
    return GradientMoments(zerosFor: parameterCount)
  }

  /// `n`, the parameters.
  public var parameterCount: Int { mean.count }

  /// `σ²_j = M2_j / V`, the weighted population variance of each parameter's per-example
  /// gradient (NaN for every parameter while `V = 0`).
  public var populationVariance: [Double] { m2.map { $0 / weightTotal } }

  /// `s²_j = M2_j / (V − V₂/V)`, unbiased (`M2_j/(k − 1)` with unit weights).
  ///
  /// **NaN** for every parameter when `V − V₂/V` is not positive: one example, or one example
  /// with a nonzero weight, says nothing about the spread (`0/0`, as NumPy's `var(ddof=1)` and
  /// R's `var` of one number). It is not 0, which would claim a spread of none.
  public var unbiasedVariance: [Double] {
    let denominator = weightTotal - squaredWeightTotal / weightTotal
    return m2.map { denominator > 0 ? $0 / denominator : .nan }
  }

  /// `tr(Σ) = Σ_j s²_j`: the total (unbiased) variance of one example's gradient; NaN for one
  /// example (see ``unbiasedVariance``).
  public var traceOfCovariance: Double { unbiasedVariance.reduce(0, +) }

  /// `tr(Σ)/k`: the expected `‖ḡ_B − G‖²` of the mean of `k` examples drawn independently
  /// (with replacement) — the variance of the averaged gradient, falling as `1/k`. Drawing `k`
  /// of a finite set of `N` without replacement multiplies it by `(N − k)/(N − 1)`. NaN when
  /// these moments hold one example (see ``unbiasedVariance``).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a batch size below 1
  ///   (the mean of no examples has no variance).
  public func varianceOfMean(batchSize k: Int) throws(MinibatchError) -> Double {
    try validateArgument(k, named: "batch size", expected: "≥ 1", k >= 1)
    return traceOfCovariance / Double(k)
  }

  /// Chan's merge of `other` into these moments (see ``GradientMoments``). Moments of `V = 0`
  /// add only their example count; merged into moments of `V = 0`, `other` is copied.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for another `n` (nothing
  ///   changed).
  public mutating func merge(_ other: GradientMoments) throws(MinibatchError) {
    try validateCount(other.parameterCount, expected: parameterCount, of: "parameters (n)")
    mergeValidated(other)
  }

  /// ``merge(_:)`` for moments of the same `n`.
  mutating func mergeValidated(_ other: GradientMoments) {
    assert(other.parameterCount == parameterCount, "moments of another n")
    guard other.weightTotal > 0 else {
      exampleCount += other.exampleCount
      return
    }
    guard weightTotal > 0 else {
      let count = exampleCount
      self = other
      exampleCount += count
      return
    }
    let (a, b) = (weightTotal, other.weightTotal)
    let total = a + b
    // The C kernel `minibatch_chan_merge`, rounded as written in the formula above.
    let n = mean.count
    mean.withUnsafeMutableBufferPointer { mean in
      m2.withUnsafeMutableBufferPointer { m2 in
        other.mean.withUnsafeBufferPointer { otherMean in
          other.m2.withUnsafeBufferPointer { otherM2 in
            minibatch_chan_merge(
              mean.baseAddress!, m2.baseAddress!, otherMean.baseAddress!, otherM2.baseAddress!,
              n, b / total, a * b / total)
          }
        }
      }
    }
    weightTotal = total
    squaredWeightTotal += other.squaredWeightTotal
    exampleCount += other.exampleCount
    exactlyRecomputed += other.exactlyRecomputed
  }

  /// Adds examples of weight 0 (they count, and move nothing).
  mutating func addUnweighted(exampleCount count: Int) { exampleCount += count }
}

// MARK: - Across ranks

extension GradientMoments {
  /// Replaces this rank's moments by those of the union of every rank's examples: the collective
  /// agreement check on `n`, then `sumAcrossRanks(over:)` (its two sums). A rank whose batch
  /// was empty passes moments with `V = 0` (from a batch whose weights are all 0, or
  /// ``empty(parameterCount:)``).
  ///
  /// - Throws, on every rank alike (nothing changed):
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` when `n` differs; the
  ///   transport's errors.
  public mutating func allreduce(over collective: some ReductionCollective) throws(MinibatchError) {
    try collective.agree(
      on: [("parameters (n)", "\(parameterCount)"), ("statistics", "moments")], localFailure: nil)
    try sumAcrossRanks(over: collective)
  }

  /// The sums of ``allreduce(over:)`` without its agreement check: one sum of
  /// `[V_r·μ_r (n), V_r, V₂_r, k_r, recomputed_r]`, then the second sum of
  /// ``acrossRanks(over:weightedMeanSum:weightTotal:squaredWeightTotal:exampleCount:exactlyRecomputed:)``.
  ///
  /// For a caller that has already agreed with every rank, once, on what the check compares (`n`;
  /// the trainer does before its first step): every rank must call it with the same `n`, or the
  /// transport's sums do not match (MPI may hang or fail). Every rank holds the same bits
  /// afterwards.
  ///
  /// - Throws: the transport's errors (nothing changed).
  mutating func sumAcrossRanks(over collective: some ReductionCollective) throws(MinibatchError) {
    let n = parameterCount
    var state = mean.map { $0 * weightTotal }
    state += [weightTotal, squaredWeightTotal, Double(exampleCount), Double(exactlyRecomputed)]
    try collective.sum(&state)
    self = try acrossRanks(
      over: collective, weightedMeanSum: Array(state[0..<n]), weightTotal: state[n],
      squaredWeightTotal: state[n + 1], exampleCount: Int(state[n + 2]),
      exactlyRecomputed: Int(state[n + 3]))
  }

  /// The global moments from this rank's `(V_r, μ_r, M2_r)` and the totals already summed over
  /// the ranks: `S = Σ_r V_r·μ_r` (`weightedMeanSum`, or a sum equal to it, as an accumulator's
  /// `Σ v_i·g_i`), `V`, `V₂`, `k` and the recomputed count. With `μ = S/V`, one sum of the
  /// parallel-axis form of Chan's merge,
  ///
  /// ```
  /// M2 = Σ_r [ M2_r + V_r·(μ_r − μ)² ]
  /// ```
  ///
  /// so no rank ever forms `E[g²] − μ²` (zero `μ` and `M2` when `V = 0`). Nothing is changed
  /// here.
  ///
  /// - Throws: the transport's errors.
  func acrossRanks(
    over collective: some ReductionCollective, weightedMeanSum sum: [Double],
    weightTotal total: Double,
    squaredWeightTotal: Double, exampleCount: Int, exactlyRecomputed: Int
  ) throws(MinibatchError) -> GradientMoments {
    let globalMean = total > 0 ? sum.map { $0 / total } : sum.map { _ in 0 }
    var m2 = [Double](repeating: 0, count: parameterCount)
    if weightTotal > 0 {
      for j in m2.indices {
        let delta = mean[j] - globalMean[j]
        m2[j] = self.m2[j] + weightTotal * delta * delta
      }
    }
    try collective.sum(&m2)
    return GradientMoments(
      weightTotal: total, squaredWeightTotal: squaredWeightTotal, exampleCount: exampleCount,
      mean: globalMean, m2: m2, exactlyRecomputed: exactlyRecomputed)
  }
}
