// Statistics/ turns a batch's per-example gradients into what describes their spread: per-weight
// mean and variance, the variance of the averaged gradient, the gradient noise scale, the
// per-example Gram matrix and its spectrum, and the examples that dominate a step.

/// Per-parameter (weighted) mean and centred second moment of a batch's per-example gradients,
/// mergeable across batches, threads and processes:
///
/// ```
/// V = Σ_i v_i      V₂ = Σ_i v_i²      μ_j = Σ_i v_i·g_ij / V      M2_j = Σ_i v_i·(g_ij − μ_j)²
/// population variance   σ²_j = M2_j / V
/// unbiased variance     s²_j = M2_j / (V − V₂/V)        (= M2_j/(k − 1) with unit weights)
/// ```
///
/// (`v_i`: example weights, 1 by default; the unbiased form is the reliability-weighted one.)
/// Everything is in Double and never negative. ``merge(_:)`` is Chan, Golub and LeVeque's formula,
/// so the moments of the parts merged in any chunking equal those of the whole to rounding.
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
  /// ``PerExampleGradientOperator/moments(exampleWeights:parallelism:)``), summed over merges.
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

  /// `n`, the parameters.
  public var parameterCount: Int { mean.count }

  /// `σ²_j = M2_j / V`, the weighted population variance of each parameter's per-example
  /// gradient.
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

  /// Chan's merge of `other` into these moments.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` for another `n`.
  public mutating func merge(_ other: GradientMoments) throws(MinibatchError) {
    try validateCount(other.parameterCount, expected: parameterCount, of: "parameters (n)")
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
    chanMerge(
      weight: weightTotal, mean: &mean, m2: &m2, adding: other.weightTotal, mean: other.mean,
      m2: other.m2)
    weightTotal += other.weightTotal
    squaredWeightTotal += other.squaredWeightTotal
    exampleCount += other.exampleCount
    exactlyRecomputed += other.exactlyRecomputed
  }
}

extension PerExampleGradientOperator {
  /// The per-parameter moments of this batch (see ``GradientMoments``), at about the cost of
  /// two reductions:
  ///
  /// 1. `μ = Jᵀ(v/V)` and `E_v[g²] = (J∘J)ᵀ(v/V)` — on the factored `J` two GEMMs per layer, no
  ///    row formed (BackPACK's second-moment trick) — give `M2_j = V·(E_v[g²]_j − μ_j²)`.
  /// 2. That difference loses digits when `|μ_j| ≫ σ_j`; its rounding error is below
  ///    `3(k + 4)·ε·V·E_v[g²]_j` (ε of `Scalar`). Every parameter whose `M2_j` is not at least
  ///    `τ = 3(k + 4)·ε/ρ` times `V·E_v[g²]_j` (ρ = 10⁻³ in Float, 10⁻⁸ in Double) is recomputed
  ///    exactly: its column of `J`, written tile by tile, is summed twice in Double (mean, then
  ///    centred squares). So every `M2_j` is within a relative `ρ` of the exact value (or
  ///    exact), and never negative.
  ///
  /// - Parameters:
  ///   - exampleWeights: `k` finite weights `≥ 0` with a positive sum; `nil`: all 1.
  ///   - parallelism: threads for the package's own kernels.
  /// - Throws: the weights' errors (``MinibatchError/shapeMismatch(expected:got:of:)``,
  ///   ``MinibatchError/nonFiniteValue(index:of:)``, ``MinibatchError/negativeValue(index:value:of:)``,
  ///   ``MinibatchError/zeroTotalWeight(total:)``); ``MinibatchError/nonFiniteValue(index:of:)``
  ///   when a moment overflows `Scalar`.
  public func moments(
    exampleWeights: [Scalar]? = nil, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> GradientMoments {
    let k = exampleCount
    let weights = exampleWeights ?? filled(1, count: k)
    let total = try validatedWeightTotal(weights, count: k)
    let v = try scaledReductionVector(weights, denominator: total)
    var mean: [Scalar] = filled(0, count: parameterCount)
    var squares: [Scalar] = filled(0, count: parameterCount)
    try reduce(with: v, alpha: 1, beta: 0, into: &mean, parallelism: parallelism)
    try reduceSquares(with: v, alpha: 1, beta: 0, into: &squares, parallelism: parallelism)
    try validateFinite(mean, of: "mean of the per-example gradients")
    try validateFinite(squares, of: "second moment of the per-example gradients")
    let epsilon = Double(Scalar.ulpOfOne) / 2
    let accuracy = Scalar.self == Float.self ? 1e-3 : 1e-8
    let threshold = 3 * Double(k + 4) * epsilon / accuracy
    var (mu, m2, inexact) = oneReductionMoments(
      mean: mean, squares: squares, total: total, threshold: threshold)
    if !inexact.isEmpty {
      exactColumnMoments(inexact, weights: weights, total: total, mean: &mu, m2: &m2)
    }
    return GradientMoments(
      weightTotal: total, squaredWeightTotal: weights.reduce(0) { $0 + Double($1) * Double($1) },
      exampleCount: k, mean: mu, m2: m2, exactlyRecomputed: inexact.count)
  }

  /// The two-pass moments of the given columns, from tiles of `J` (runs of adjacent columns are
  /// written together, in tiles of 64 rows).
  func exactColumnMoments(
    _ columns: [Int], weights: [Scalar], total: Double, mean: inout [Double], m2: inout [Double]
  ) {
    let k = exampleCount
    var runs: [Range<Int>] = []
    for j in columns {
      if let last = runs.last, last.upperBound == j, last.count < 256 {
        runs[runs.count - 1] = last.lowerBound..<(j + 1)
      } else {
        runs.append(j..<(j + 1))
      }
    }
    var tile = [Scalar](repeating: 0, count: 64 * 256)
    tile.withUnsafeMutableBufferPointer { tile in
      for run in runs {
        var sums = [Double](repeating: 0, count: run.count)
        var squares = [Double](repeating: 0, count: run.count)
        for pass in 0..<2 {
          for start in stride(from: 0, to: k, by: 64) {
            let rows = start..<min(k, start + 64)
            writeValidatedTile(rows: rows, columns: run, into: tile)
            for (r, i) in rows.enumerated() {
              let w = Double(weights[i])
              if w == 0 { continue }
              for c in 0..<run.count {
                let g = Double(tile[r * run.count + c])
                if pass == 0 {
                  sums[c] += w * g
                } else {
                  let d = g - sums[c]
                  squares[c] += w * d * d
                }
              }
            }
          }
          if pass == 0 { sums = sums.map { $0 / total } }
        }
        for (c, j) in run.enumerated() {
          mean[j] = sums[c]
          m2[j] = squares[c]
        }
      }
    }
  }
}

/// `μ_j` and `M2_j = V·(E_v[g²]_j − μ_j²)` in Double, and the parameters whose difference is not
/// trustworthy (below `threshold·V·E_v[g²]_j`, or the second moment below `Scalar`'s normal
/// range) and must be recomputed exactly.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func oneReductionMoments<Scalar: BLASScalar>(
  mean: [Scalar], squares: [Scalar], total: Double, threshold: Double
) -> (mean: [Double], m2: [Double], inexact: [Int]) {
  var mu = [Double](repeating: 0, count: mean.count)
  var m2 = [Double](repeating: 0, count: mean.count)
  var inexact: [Int] = []
  let smallest = Double(Scalar.leastNormalMagnitude)
  for j in mean.indices {
    let (average, raw) = (Double(mean[j]), Double(squares[j]))
    mu[j] = average
    let centred = total * (raw - average * average)
    if centred > threshold * total * raw, raw > smallest {
      m2[j] = centred
    } else if raw > 0 || average != 0 {
      inexact.append(j)
    }
  }
  return (mu, m2, inexact)
}

/// `Σ_j x_j²` in Double.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func squaredNorm<Scalar: BLASScalar>(_ x: [Scalar]) -> Double {
  x.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: $0.count) }
}

extension GradientMoments {
  /// Replaces this rank's moments by those of the union of every rank's examples (see
  /// ``GradientAccumulator/allreduce(over:)`` for the method): one sum of
  /// `[V_r·μ_r (n), V_r, V₂_r, k_r, recomputed_r]`, then with `μ = Σ V_r·μ_r / V` one sum of
  /// `M2_r + V_r·(μ_r − μ)²`. A rank whose batch was empty passes moments with `V = 0` (from a
  /// batch whose weights are all 0, or ``empty(parameterCount:)``).
  ///
  /// - Throws, on every rank alike (nothing changed):
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` when `n` differs; the
  ///   transport's errors.
  public mutating func allreduce(over collective: some ReductionCollective) throws(MinibatchError) {
    try collective.agree(
      on: [("parameters (n)", "\(parameterCount)"), ("statistics", "moments")], localFailure: nil)
    let n = parameterCount
    var state = mean.map { $0 * weightTotal }
    state += [weightTotal, squaredWeightTotal, Double(exampleCount), Double(exactlyRecomputed)]
    try collective.sum(&state)
    let (globalMean, globalM2) = try collective.mergedMoments(
      localWeight: weightTotal, localMean: mean, localM2: m2, globalSum: Array(state[0..<n]),
      globalWeight: state[n])
    self = GradientMoments(
      weightTotal: state[n], squaredWeightTotal: state[n + 1], exampleCount: Int(state[n + 2]),
      mean: globalMean, m2: globalM2, exactlyRecomputed: Int(state[n + 3]))
  }

  /// The moments of no examples (`V = 0`, `n` zeros): what a rank with an empty local batch
  /// passes to ``allreduce(over:)``.
  ///
  /// - Throws: ``MinibatchError/noParameters`` or
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for a bad `parameterCount`.
  public static func empty(parameterCount: Int) throws(MinibatchError) -> GradientMoments {
    try PerExampleGradients<Double>.validateShape(k: 1, n: parameterCount)
    return GradientMoments(
      weightTotal: 0, squaredWeightTotal: 0, exampleCount: 0,
      mean: [Double](repeating: 0, count: parameterCount),
      m2: [Double](repeating: 0, count: parameterCount), exactlyRecomputed: 0)
  }
}
