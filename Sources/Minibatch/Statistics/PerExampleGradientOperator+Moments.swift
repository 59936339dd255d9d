// Statistics/ turns a batch's per-example gradients into what describes their spread: per-weight
// mean and variance (a batch's `GradientMoments`; the type, its merge and its allreduce live in
// Reduce/, where the accumulator tracks it), the variance of the averaged gradient, the gradient
// noise scale, the per-example Gram matrix and its spectrum, and the examples that dominate a
// step.

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
  let n = mean.count
  precondition(squares.count == n, "the moments' two reductions have n entries each")
  guard n > 0 else { return ([], [], []) }
  // Uninitialised: the kernel writes every entry of mu and m2, and only the listed ones of
  // `listed` (so its pages are not even touched when every column is safe).
  let listed = UnsafeMutablePointer<Int64>.allocate(capacity: n)
  defer { listed.deallocate() }
  var count = 0
  var m2 = [Double]()
  let mu = [Double](unsafeUninitializedCapacity: n) { mu, initializedMu in
    m2 = [Double](unsafeUninitializedCapacity: n) { m2, initializedM2 in
      mean.withUnsafeBufferPointer { mean in
        squares.withUnsafeBufferPointer { squares in
          count = Scalar.momentsSweep(
            mean: mean.baseAddress!, squares: squares.baseAddress!, count: n, total: total,
            threshold: threshold, smallest: Double(Scalar.leastNormalMagnitude),
            mu: mu.baseAddress!, m2: m2.baseAddress!, inexact: listed)
        }
      }
      initializedM2 = n
    }
    initializedMu = n
  }
  return (mu, m2, (0..<count).map { Int(listed[$0]) })
}

/// `Σ_j x_j²` in Double.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func squaredNorm<Scalar: BLASScalar>(_ x: [Scalar]) -> Double {
  x.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: $0.count) }
}
