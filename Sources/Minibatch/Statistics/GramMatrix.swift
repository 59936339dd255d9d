/// The top of the spectrum of the per-example Gram matrix `G = J·Jᵀ` (or of its centred form).
///
/// The nonzero eigenvalues of `G = J·Jᵀ` (`k × k`) are those of `JᵀJ` (`n × n`), the squared
/// singular values of `J`. Centred — `G_c = H·G·H`, `H = I − 11ᵀ/k`, the Gram matrix of the rows
/// minus their mean — they are `(k − 1)` times the nonzero eigenvalues of the (unbiased)
/// covariance `Σ̂ = J_cᵀJ_c/(k − 1)` of the per-example gradients, so the spectrum of a `k × k`
/// matrix describes the `n × n` covariance when `k ≪ n`. Eigenvector `u` of `G_c` gives the
/// covariance's direction `J_cᵀu/‖J_cᵀu‖`, and its entries say which examples span it.
public struct GramSpectrum<Scalar: BLASScalar>: Sendable, Equatable {
  /// The largest eigenvalues, in decreasing order.
  public var eigenvalues: [Scalar]
  /// With vectors: the matching unit eigenvectors as the rows of an `m × k` matrix.
  public var eigenvectors: Matrix<Scalar>?
  /// Whether the Gram matrix was centred.
  public var centered: Bool
}

extension PerExampleGradientOperator {
  /// The default Gram matrix: column tiles of `J` (`k × w`, about 2²⁰ entries) written by
  /// ``writeTile(rows:columns:into:rowStride:)``, `G += T·Tᵀ` by GEMM.
  public func gramMatrix(parallelism: Parallelism = .automatic) throws(MinibatchError)
    -> Matrix<Scalar>
  {
    let k = exampleCount
    var gram = try Matrix<Scalar>(rows: k, columns: k)
    let width = max(1, min(parameterCount, (1 << 20) / k))
    var tile = [Scalar](repeating: 0, count: k * width)
    tile.withUnsafeMutableBufferPointer { tile in
      gram.withUnsafeMutableElements { g in
        for start in stride(from: 0, to: parameterCount, by: width) {
          let columns = start..<min(parameterCount, start + width)
          writeValidatedTile(rows: 0..<k, columns: columns, into: tile)
          Scalar.syrk(
            n: k, k: columns.count, alpha: 1, a: tile.baseAddress!, lda: columns.count, beta: 1,
            c: g.baseAddress!, ldc: k)
        }
        mirrorUpperTriangle(g.baseAddress!, k: k)
      }
    }
    return gram
  }

  /// The `count` largest eigenvalues (and, with `vectors`, eigenvectors) of the Gram matrix
  /// `J·Jᵀ`, or with `centered` of `H·J·Jᵀ·H` (the rows' deviations from their mean; see
  /// ``GramSpectrum``), by LAPACK `?syevd`.
  ///
  /// - Parameters:
  ///   - centered: centre the rows on their mean first.
  ///   - count: how many eigenvalues, `1...k`; `nil`: all `k`.
  ///   - vectors: also return the eigenvectors.
  ///   - parallelism: threads for the package's own kernels.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a count outside
  ///   `1...k`; ``MinibatchError/lapackFailure(routine:info:)`` if the eigensolver fails;
  ///   ``MinibatchError/nonFiniteValue(index:of:)`` for a Gram matrix that overflowed.
  public func gramSpectrum(
    centered: Bool = false, count: Int? = nil, vectors: Bool = false,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> GramSpectrum<Scalar> {
    let k = exampleCount
    let m = count ?? k
    try validateArgument(m, named: "eigenvalue count", expected: "1...\(k) (k)", m >= 1 && m <= k)
    var gram = try gramMatrix(parallelism: parallelism)
    try validateFiniteEntries(gram, of: "Gram matrix")
    if centered { gram = centredGram(gram) }
    var values = [Scalar](repeating: 0, count: k)
    let info = gram.withUnsafeMutableElements { g in
      values.withUnsafeMutableBufferPointer { w in
        Scalar.syevd(n: k, a: g.baseAddress!, lda: k, w: w.baseAddress!, vectors: vectors)
      }
    }
    guard info == 0 else {
      throw .lapackFailure(routine: "\(Scalar.blasPrefix)syevd", info: info)
    }
    // ?syevd returns ascending eigenvalues, eigenvector j in column j.
    let order = Array((0..<k).reversed().prefix(m))
    var eigenvectors: Matrix<Scalar>?
    if vectors {
      var rows = [Scalar](repeating: 0, count: m * k)
      for (r, j) in order.enumerated() {
        for i in 0..<k { rows[r * k + i] = gram[i, j] }
      }
      eigenvectors = try Matrix(rows: m, columns: k, elements: rows)
    }
    return GramSpectrum(
      eigenvalues: order.map { values[$0] }, eigenvectors: eigenvectors, centered: centered)
  }
}

/// `H·G·H` with `H = I − 11ᵀ/k`: `G[i, j] − r_i − r_j + t` (row means `r`, grand mean `t`), in
/// Double.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func centredGram<Scalar: BLASScalar>(_ gram: Matrix<Scalar>) -> Matrix<Scalar> {
  let k = gram.rows
  let rowMeans = (0..<k).map { i in (0..<k).reduce(0.0) { $0 + Double(gram[i, $1]) } / Double(k) }
  let grand = rowMeans.reduce(0, +) / Double(k)
  var centred = gram
  centred.withUnsafeMutableElements { c in
    for i in 0..<k {
      for j in 0..<k {
        c[i * k + j] = Scalar(Double(gram[i, j]) - rowMeans[i] - rowMeans[j] + grand)
      }
    }
  }
  return centred
}

// MARK: - Stored and factored J

extension PerExampleGradients {
  /// `J·Jᵀ` by one GEMM.
  public func gramMatrix(parallelism: Parallelism = .automatic) throws(MinibatchError)
    -> Matrix<Scalar>
  {
    let (k, n) = (k, n)
    var gram = try Matrix<Scalar>(rows: k, columns: k)
    withUnsafeElements { a in
      gram.withUnsafeMutableElements { g in
        Scalar.syrk(
          n: k, k: n, alpha: 1, a: a.baseAddress!, lda: n, beta: 0, c: g.baseAddress!, ldc: k)
        mirrorUpperTriangle(g.baseAddress!, k: k)
      }
    }
    return gram
  }
}

/// `g[i, j] += d[i, j]·(a[i, j] + 1)` on the upper triangle (`j ≥ i`) of `k × k` matrices.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func addHadamardUpper<Scalar: BLASScalar>(
  _ d: [Scalar], _ a: [Scalar], into g: UnsafeMutablePointer<Scalar>, k: Int
) {
  for i in 0..<k {
    for e in (i * k + i)..<(i * k + k) { g[e] += d[e] * (a[e] + 1) }
  }
}

/// Copies the upper triangle of a `k × k` row-major matrix onto its lower triangle.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func mirrorUpperTriangle<Scalar: BLASScalar>(_ g: UnsafeMutablePointer<Scalar>, k: Int) {
  for i in 0..<k {
    for j in 0..<i { g[i * k + j] = g[j * k + i] }
  }
}

/// Which examples dominate a batch: their losses and gradient norms, and the indices of the
/// largest.
public struct PerExampleDiagnostics: Sendable, Equatable {
  /// `ℓ_i`, `k` entries.
  public var losses: [Double]
  /// `‖g_i‖`, `k` entries, exact to rounding for any norm the gradients' scalar type represents
  /// (see ``PerExampleGradientOperator/rowNorms(parallelism:)``), even when its square overflows
  /// or underflows.
  public var gradientNorms: [Double]
  /// The indices of the `m` largest gradient norms, largest first (ties: lower index first).
  public var largestGradientNorms: [Int]
  /// The indices of the `m` largest losses, largest first.
  public var largestLosses: [Int]

  /// The diagnostics of a batch's `J` and per-example losses, with the `m` largest of each.
  ///
  /// - Throws: ``MinibatchError/shapeMismatch(expected:got:of:)`` unless there are `k` losses;
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` unless `1 ≤ m ≤ k`.
  public init<Scalar: BLASScalar>(
    gradients: some PerExampleGradientOperator<Scalar>, losses: [Scalar], largest m: Int,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) {
    let k = gradients.exampleCount
    try validateCount(losses.count, expected: k, of: "losses (one per example)")
    try validateArgument(m, named: "largest count", expected: "1...\(k) (k)", m >= 1 && m <= k)
    self.losses = losses.map { Double($0) }
    gradientNorms = gradients.rowNormsInDouble(parallelism: parallelism)
    largestGradientNorms = Self.largest(gradientNorms, m)
    largestLosses = Self.largest(self.losses, m)
  }

  /// The indices of the `m` largest values (NaN counts as largest), largest first.
  static func largest(_ values: [Double], _ m: Int) -> [Int] {
    Array(
      values.indices.sorted { a, b in
        let (x, y) = (values[a], values[b])
        if x.isNaN != y.isNaN { return x.isNaN }
        return x > y || (x == y && a < b)
      }.prefix(m))
  }
}
