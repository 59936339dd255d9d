import Minibatch

extension SeededGenerator {
  /// A uniform value in `[-1, 1)` with 53 random bits, converted to `Scalar`.
  public mutating func nextSigned<Scalar: BLASScalar>(_: Scalar.Type = Scalar.self) -> Scalar {
    Scalar(Double(next() >> 11) * 0x1p-52 - 1)
  }

  /// `count` values uniform in `[-1, 1)`.
  public mutating func signedArray<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, count: Int
  ) -> [Scalar] {
    (0..<count).map { _ in nextSigned(Scalar.self) }
  }

  /// `count` values uniform in `[0, 1)`.
  public mutating func unitArray<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, count: Int
  ) -> [Scalar] {
    (0..<count).map { _ in Scalar(Double(next() >> 11) * 0x1p-53) }
  }
}

/// A k×n matrix of uniform values in `[-1, 1)` from `seed`.
public func randomGradients<Scalar: BLASScalar>(
  _: Scalar.Type, k: Int, n: Int, seed: UInt64
) throws -> PerExampleGradients<Scalar> {
  var rng = SeededGenerator(seed: seed)
  return try PerExampleGradients(k: k, n: n, elements: rng.signedArray(count: k * n))
}

/// Shapes that cover the edge cases (k = 1, n = 1, odd sizes around the SIMD width and the
/// kernel's 8-row blocks), both reduction schemes of the kernel, and matrices beyond the last-level
/// cache (Double 2100×4100 is 69 MB).
public let reductionShapes: [(k: Int, n: Int)] = [
  (1, 1), (1, 7), (7, 1), (1, 1000), (1000, 1), (2, 5), (3, 17), (8, 16), (9, 33), (17, 31),
  (64, 129), (255, 257), (5000, 7), (4100, 40), (300, 3001), (33, 20_011), (2100, 4100),
]

/// A row writer whose `J` is `source`, copying the requested tiles (a stand-in for a user's own
/// model).
public func copyingWriter<Scalar: BLASScalar>(
  _ source: PerExampleGradients<Scalar>
) -> PerExampleRowWriter<Scalar> {
  try! PerExampleRowWriter(exampleCount: source.k, parameterCount: source.n) {
    rows, columns, tile, rowStride in
    for (r, i) in rows.enumerated() {
      for (c, j) in columns.enumerated() { tile[r * rowStride + c] = source[i, j] }
    }
  }
}
