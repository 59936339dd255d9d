/// The per-example gradients of one mini-batch, stacked as a k×n matrix `J`.
///
/// Row `i` holds `∇_w L_i`, the gradient of example `i`'s loss with respect to all `n` parameters:
///
/// ```
/// J[i, j] = ∂L_i / ∂w_j        0 ≤ i < k (examples),  0 ≤ j < n (parameters)
/// ```
///
/// Storage is one contiguous **row-major** buffer of `k·n` scalars (row `i` starts at `i·n`),
/// copy-on-write like `Array` (a ``Matrix`` with `k` rows and `n` columns). Models write rows in
/// place through ``withUnsafeMutableRow(_:_:)`` or ``withUnsafeMutableElements(_:)``; the
/// reductions in `PerExampleGradients+Operator.swift` read it with one GEMV each.
///
/// This is the **stored** representation of ``PerExampleGradientOperator``: what a user who brings
/// their own rows hands to the package. The built-in dense models never need it (see
/// ``FactoredPerExampleGradients``), and any row writer can be reduced without storing `J` (see
/// ``StreamedPerExampleGradients``).
///
/// Construction validates the shape once (`k ≥ 1`, `n ≥ 1`, both within BLAS's 32-bit range), so
/// reductions that need nothing but the matrix, such as ``mean(parallelism:)``, cannot fail.
public struct PerExampleGradients<Scalar: BLASScalar>: Sendable, Equatable {
  var matrix: Matrix<Scalar>

  /// Number of examples `k` (rows); the same as ``exampleCount``.
  public var k: Int { matrix.rows }
  /// Number of parameters `n` (columns), the length of every gradient; the same as
  /// ``parameterCount``.
  public var n: Int { matrix.columns }

  /// A k×n matrix of zeros.
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` if `k == 0`, ``MinibatchError/noParameters`` if
  ///   `n == 0`, ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for negative or too large
  ///   dimensions, ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when `k·n` scalars exceed
  ///   the machine's physical memory (checked before allocating).
  public init(k: Int, n: Int) throws(MinibatchError) {
    try Self.validateShape(k: k, n: n)
    try validateAllocation(
      count: k * n, stride: MemoryLayout<Scalar>.stride, of: "J (\(k)×\(n) per-example gradients)")
    matrix = Matrix(rows: k, columns: n, storage: filled(0, count: k * n))
  }

  /// A k×n matrix from a flat row-major buffer of `k·n` scalars (row `i` is
  /// `elements[i·n ..< (i+1)·n]`).
  ///
  /// - Throws: the shape errors of ``init(k:n:)``, and
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` if `elements.count != k·n`.
  public init(k: Int, n: Int, elements: [Scalar]) throws(MinibatchError) {
    try Self.validateShape(k: k, n: n)
    try validateCount(elements.count, expected: k * n, of: "elements (k·n)")
    matrix = Matrix(rows: k, columns: n, storage: elements)
  }

  /// A matrix whose rows are `rows` (k = `rows.count`, n = `rows[0].count`).
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` for no rows, ``MinibatchError/noParameters`` for empty
  ///   rows, ``MinibatchError/shapeMismatch(expected:got:of:)`` naming the first ragged row.
  public init(rows: [[Scalar]]) throws(MinibatchError) {
    guard let first = rows.first else { throw .emptyBatch }
    try Self.validateShape(k: rows.count, n: first.count)
    for (index, row) in rows.enumerated() {
      try validateCount(row.count, expected: first.count, of: "row \(index)")
    }
    matrix = Matrix(rows: rows.count, columns: first.count, storage: Array(rows.joined()))
  }

  /// A k×n matrix whose rows are written in place by `writeRow(i, row)`, called once for each
  /// `i` in `0..<k` in order, with `row` a zero-filled buffer of `n` scalars.
  ///
  /// - Throws: the shape errors of ``init(k:n:)`` (before `writeRow` is called), or whatever
  ///   `writeRow` throws.
  public init(
    k: Int, n: Int, writeRow: (Int, UnsafeMutableBufferPointer<Scalar>) throws -> Void
  ) throws {
    try self.init(k: k, n: n)
    for i in 0..<k {
      try withUnsafeMutableRow(i) { row in try writeRow(i, row) }
    }
  }

  /// The largest k or n accepted: BLAS addresses rows and leading dimensions with 32-bit integers.
  public static var maximumDimension: Int { Matrix<Scalar>.maximumDimension }

  static func validateShape(k: Int, n: Int) throws(MinibatchError) {
    try Matrix<Scalar>.validateShape(
      rows: k, columns: n, rowName: "k (examples)", columnName: "n (parameters)")
  }

  // MARK: - Element access

  /// All `k·n` entries, row-major.
  public var elements: [Scalar] { matrix.elements }

  /// Row `i`, the gradient of example `i` (a slice of the storage, no copy).
  /// - Throws: ``MinibatchError/indexOutOfRange(index:count:of:)`` unless `0 ≤ i < k`.
  public func row(_ i: Int) throws(MinibatchError) -> ArraySlice<Scalar> {
    try matrix.row(i)
  }

  /// Entry `J[i, j] = ∂L_i/∂w_j`.
  ///
  /// - Precondition: `0 ≤ i < k`, `0 ≤ j < n`. As with `Array`'s subscript, an index outside
  ///   `J` **stops the program** (a trap, in release builds too); ``row(_:)`` is the checked
  ///   access that throws ``MinibatchError/indexOutOfRange(index:count:of:)``.
  public subscript(i: Int, j: Int) -> Scalar {
    get {
      precondition(i >= 0 && i < k && j >= 0 && j < n, "index (\(i), \(j)) out of range")
      return matrix.elements[i * n + j]
    }
    set {
      precondition(i >= 0 && i < k && j >= 0 && j < n, "index (\(i), \(j)) out of range")
      matrix.elements[i * n + j] = newValue
    }
  }

  /// Calls `body` with row `i` as a mutable buffer of `n` scalars, writing in place (the storage is
  /// copied first only if it is shared, as with `Array`).
  ///
  /// - Throws: ``MinibatchError/indexOutOfRange(index:count:of:)`` naming `i` and `k` unless
  ///   `0 ≤ i < k`, before `body` runs and before anything is copied; otherwise whatever `body`
  ///   throws.
  public mutating func withUnsafeMutableRow<R, E: Error>(
    _ i: Int, _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
  ) throws -> R {
    guard i >= 0 && i < k else {
      throw MinibatchError.indexOutOfRange(index: i, count: k, of: "row")
    }
    let n = n
    return try matrix.withUnsafeMutableElements { (buffer) throws(E) -> R in
      try body(UnsafeMutableBufferPointer(rebasing: buffer[(i * n)..<((i + 1) * n)]))
    }
  }

  /// Calls `body` with all `k·n` entries, row-major, as one mutable buffer (row `i` at `i·n`).
  public mutating func withUnsafeMutableElements<R, E: Error>(
    _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    try matrix.withUnsafeMutableElements(body)
  }

  /// Calls `body` with all `k·n` entries, row-major, read-only.
  public func withUnsafeElements<R, E: Error>(
    _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    try matrix.withUnsafeElements(body)
  }
}
