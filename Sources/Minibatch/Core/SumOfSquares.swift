/// `Σ x_j²` over `count` entries, accumulated in Double whatever the scalar type.
@inline(__always)
func sumOfSquares<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, count: Int) -> Double {
  var total = 0.0
  for j in 0..<count {
    let value = Double(x[j])
    total += value * value
  }
  return total
}

/// `‖A[i, :]‖²` for every row of a `k × n` row-major `A`, in Double.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func squaredRowNorms<Scalar: BLASScalar>(
  _ a: UnsafePointer<Scalar>, k: Int, n: Int
) -> [Double] {
  (0..<k).map { i in sumOfSquares(a + i * n, count: n) }
}
