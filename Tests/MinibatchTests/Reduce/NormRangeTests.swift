import Minibatch
import MinibatchTestSupport
import Testing

/// Norms that are representable come out right although their squares are not: squared norms
/// are kept in Double end to end, and a row whose squared norm overflows or underflows even
/// Double is measured again with a power-of-two scale, as `?nrm2` does (issue 20).
@Suite struct NormRangeTests {
  /// Rows whose squares overflow or underflow Double: (3e300, 4e300), (3e−300, −4e−300),
  /// (1e308, −1e308), and an ordinary row.
  static let extremeRows: [[Double]] = [
    [3e300, 4e300], [3e-300, -4e-300], [1e308, -1e308], [3, 4],
  ]
  static let extremeNorms: [Double] = [5e300, 5e-300, 1.4142135623730951e308, 5]

  /// `relative` ulps-level agreement (the norms are exact to rounding).
  func close(_ a: [Double], _ b: [Double], _ tolerance: Double = 4e-16) -> Bool {
    a.count == b.count
      && zip(a, b).allSatisfy { x, y in x == y || abs(x - y) <= tolerance * max(abs(x), abs(y)) }
  }

  /// The stored, streamed and factored representations of `rows`.
  func representations<Scalar: BLASScalar>(
    _ rows: [[Scalar]]
  ) throws -> [(String, any PerExampleGradientOperator<Scalar>)] {
    let stored = try PerExampleGradients<Scalar>(rows: rows)
    let (k, n) = (rows.count, rows[0].count)
    let flat = rows.flatMap { $0 }
    let writer = try PerExampleRowWriter<Scalar>(exampleCount: k, parameterCount: n) {
      rowRange, columns, tile, stride in
      for (r, i) in rowRange.enumerated() {
        for (c, j) in columns.enumerated() { tile[r * stride + c] = flat[i * n + j] }
      }
    }
    // The rows as one stored factor, and as a dense layer with one input of 1 (its weight
    // gradient δ·1 and its bias gradient δ) when n is even: [δ, δ] halves.
    var result: [(String, any PerExampleGradientOperator<Scalar>)] = [
      ("stored", stored), ("streamed", StreamedPerExampleGradients(writer)),
      (
        "factored (materialised)",
        try FactoredPerExampleGradients<Scalar>(factors: [
          try MaterializedGradientFactor(rows: try Matrix(rows: rows), tensorSizes: [n])
        ])
      ),
    ]
    if n == 2 {
      // A dense layer with one input a_i = r_i1/r_i2 and one output δ_i = r_i2: its row is
      // (δ·a, δ) = (r_i1, r_i2) whenever r_i2 ≠ 0.
      let deltas = try Matrix(rows: rows.map { [$0[1]] })
      let inputs = try Matrix(rows: rows.map { [$0[0] / $0[1]] })
      let dense = try DenseFactor(inputs: inputs, deltas: deltas)
      result.append(("factored (dense)", try FactoredPerExampleGradients(factors: [dense])))
    }
    return result
  }

  @Test func doubleNormsOfExtremeRows() throws {
    for (name, jacobian) in try representations(Self.extremeRows) {
      let norms = jacobian.rowNorms()
      #expect(close(norms, Self.extremeNorms), "\(name): \(norms)")
      // The squares themselves: inf where ‖g‖² exceeds Double's range, subnormal-free otherwise.
      let squared = jacobian.squaredRowNorms()
      #expect(squared[0] == .infinity && squared[2] == .infinity, "\(name): \(squared)")
      #expect(close([squared[3]], [25]), "\(name): \(squared)")
    }
  }

  @Test func floatNormsBeyondTheSquareRootOfFloatMax() throws {
    let rows: [[Float]] = [[3e30, 4e30], [3e-30, -4e-30], [3, 4]]
    for (name, jacobian) in try representations(rows) {
      let norms = jacobian.rowNorms()
      #expect(
        close(norms.map(Double.init), [Double(Float(5e30)), Double(Float(5e-30)), 5], 1.2e-7),
        "\(name): \(norms)")
      // Squared norms are Double, so 2.5e61 is finite.
      let squared = jacobian.squaredRowNorms()
      #expect(close([squared[0]], [25e60], 1e-6), "\(name): \(squared)")
    }
  }

  @Test func accumulatorKeepsAFloatSquaredNormOfE61() throws {
    let jacobian = try PerExampleGradients<Float>(rows: [[3e30, 4e30]])
    var accumulator = try GradientAccumulator<Float>(parameterCount: 2, tracksSquaredNorms: true)
    try accumulator.add(jacobian)
    let q = try #require(accumulator.weightedSquaredNormSum)
    #expect(q.isFinite && abs(q - 2.5e61) <= 1e-6 * 2.5e61, "Q = \(q)")
  }

  @Test(arguments: allScalarTypes)
  func clippingUsesTheNormNotItsSquare(_ type: any BLASScalar.Type) throws {
    try checkClipping(type)
  }

  func checkClipping<Scalar: BLASScalar>(_: Scalar.Type) throws {
    // In Float 3e30 (‖g‖² overflows Float), in Double 3e300 (‖g‖² overflows Double).
    let big: Scalar = Scalar.self == Float.self ? 3e30 : Scalar(3e300 as Double)
    let rows: [[Scalar]] = [[big, 4 * big / 3 * 1], [0.3, 0.4]]
    for (name, jacobian) in try representations(rows) {
      let clipped = try jacobian.clippedSum(.flat(bound: 1))
      // Row 0 is scaled to norm 1, (0.6, 0.8); row 1 is kept.
      let expected: [Double] = [0.6 + 0.3, 0.8 + 0.4]
      #expect(
        close(clipped.sum.map(Double.init), expected, Scalar.self == Float.self ? 1e-6 : 1e-14),
        "\(name): \(clipped.sum)")
      #expect(clipped.clippedExamples == 1, "\(name)")
      let blocks = try ParameterBlocks(sizes: [1, 1])
      let perBlock = try jacobian.clippedSum(.perBlock(bounds: [1, 1]), blocks: blocks)
      #expect(
        close(perBlock.sum.map(Double.init), [1.3, 1.4], Scalar.self == Float.self ? 1e-6 : 1e-14),
        "\(name) per block: \(perBlock.sum)")
    }
  }

  @Test func diagnosticsReportRepresentableNorms() throws {
    for (name, jacobian) in try representations(Self.extremeRows) {
      let diagnostics = try PerExampleDiagnostics(
        gradients: jacobian, losses: [1, 2, 3, 4], largest: 2)
      #expect(close(diagnostics.gradientNorms, Self.extremeNorms), "\(name)")
      #expect(diagnostics.largestGradientNorms == [2, 0], "\(name)")
    }
    let floats = try PerExampleGradients<Float>(rows: [[3e30, 4e30], [3, 4]])
    let diagnostics = try PerExampleDiagnostics(gradients: floats, losses: [1, 2], largest: 1)
    #expect(close(diagnostics.gradientNorms, [5e30, 5], 1e-7), "\(diagnostics.gradientNorms)")
  }
}
