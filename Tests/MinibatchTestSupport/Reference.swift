import Minibatch

// Plain, obviously correct references. They index arrays directly, accumulate in Double for both
// scalar types, and are deliberately unoptimised: they are what the BLAS and kernel paths must match.

/// The scalar types every generic test runs for.
public let allScalarTypes: [any BLASScalar.Type] = [Float.self, Double.self]

/// `alpha·Σ_i v[i]·J[i, j] + beta·y[j]` in Double, with the magnitude `Σ_i |alpha·v[i]·J[i, j]| +
/// |beta·y[j]|` that rounding errors are proportional to.
public func referenceReduction<Scalar: BLASScalar>(
  elements: [Scalar], k: Int, n: Int, vector v: [Scalar], alpha: Scalar = 1, beta: Scalar = 0,
  y: [Scalar]? = nil
) -> (value: [Double], magnitude: [Double]) {
  var value = [Double](repeating: 0, count: n)
  var magnitude = [Double](repeating: 0, count: n)
  for j in 0..<n {
    var sum = 0.0
    var size = 0.0
    for i in 0..<k {
      let term = Double(v[i]) * Double(elements[i * n + j])
      sum += term
      size += abs(term)
    }
    value[j] = Double(alpha) * sum
    magnitude[j] = abs(Double(alpha)) * size
    if beta != 0, let y {
      value[j] += Double(beta) * Double(y[j])
      magnitude[j] += abs(Double(beta) * Double(y[j]))
    }
  }
  return (value, magnitude)
}

/// Whether `got` matches `expected` entry by entry within the forward-error bound of a sum of
/// `terms` products, `|got − expected| ≤ (terms + 4)·ε·magnitude` (plus a few ulps of the
/// smallest normal, so that exact zeros compare).
public func withinSummationBound<Scalar: BLASScalar>(
  _ got: [Scalar], _ expected: [Double], magnitude: [Double], terms: Int
) -> Bool {
  guard got.count == expected.count else { return false }
  let factor = Double(terms + 4) * Double(Scalar.ulpOfOne)
  for j in got.indices {
    let bound = factor * magnitude[j] + 4 * Double(Scalar.leastNormalMagnitude)
    if !(abs(Double(got[j]) - expected[j]) <= bound) { return false }
  }
  return true
}

/// Norm-wise error of a mean of rows against a reference mean, relative to the size of what was
/// summed: `max_j |mean_j − reference_j| / max(max_j |reference_j|, max_j (1/k)·Σ_i |row_ij|,
/// tiny)`. Rows that cancel (a reference of exactly zero, say) are judged against the rows'
/// magnitude, the scale of the rounding error of any summation order; ``relativeError(_:_:)``
/// would divide by the vanishing reference.
public func meanRelativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
  _ mean: [A], _ reference: [B], rows: [A], k: Int
) -> Double {
  precondition(mean.count == reference.count, "meanRelativeError of vectors of different lengths")
  precondition(rows.count == k * mean.count, "meanRelativeError: rows are not k×n")
  let n = mean.count
  var difference = 0.0
  var scale = 0.0
  for j in 0..<n {
    difference = max(difference, abs(Double(mean[j]) - Double(reference[j])))
    var magnitude = 0.0
    for i in 0..<k { magnitude += abs(Double(rows[i * n + j])) }
    scale = max(scale, abs(Double(reference[j])), magnitude / Double(k))
  }
  return difference / max(scale, Double.leastNormalMagnitude)
}

/// Norm-wise relative error `max_j |a_j − b_j| / max(max_j |b_j|, tiny)`.
public func relativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B])
  -> Double
{
  precondition(a.count == b.count, "relativeError of vectors of different lengths")
  var difference = 0.0
  var scale = 0.0
  for j in a.indices {
    difference = max(difference, abs(Double(a[j]) - Double(b[j])))
    scale = max(scale, abs(Double(b[j])))
  }
  return difference / max(scale, Double.leastNormalMagnitude)
}

/// The relative tolerance the identity tests hold each type to: 1e-12 for Double, 1e-5 for Float.
public func identityTolerance<Scalar: BLASScalar>(_: Scalar.Type) -> Double {
  Scalar.self == Float.self ? 1e-5 : 1e-12
}

/// `Σ_i clip(g_i)` in Double from the stored entries: per block `b`, rows scaled by
/// `min(1, C_b/‖g_i[b]‖)` (one block and one bound for flat clipping). Also returns the number of
/// examples with a block scaled down.
public func referenceClippedSum<Scalar: BLASScalar>(
  elements: [Scalar], k: Int, n: Int, blocks: [Range<Int>], bounds: [Double]
) -> (sum: [Double], clipped: Int) {
  var sum = [Double](repeating: 0, count: n)
  var clipped = 0
  for i in 0..<k {
    var wasClipped = false
    for (block, bound) in zip(blocks, bounds) {
      let norm = block.reduce(0.0) {
        $0 + Double(elements[i * n + $1]) * Double(elements[i * n + $1])
      }
      .squareRoot()
      let factor = norm > bound ? bound / norm : 1
      if factor < 1 { wasClipped = true }
      for j in block { sum[j] += factor * Double(elements[i * n + j]) }
    }
    if wasClipped { clipped += 1 }
  }
  return (sum, clipped)
}
