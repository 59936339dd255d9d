/// A dense `rows × columns` matrix, **row-major and contiguous** (entry `(i, j)` at
/// `i·columns + j`): the inputs of a batch (`k × d`, one example per row), layer activations, and
/// the left-hand side of a least-squares problem.
///
/// Construction validates the shape once (`rows ≥ 1`, `columns ≥ 1`, the element count matches),
/// so code that takes a `Matrix` can rely on it.
public struct Matrix<Scalar: BLASScalar>: Sendable, Equatable {
  /// Number of rows (examples, for a batch's inputs).
  public let rows: Int
  /// Number of columns (features, for a batch's inputs).
  public let columns: Int
  /// All `rows·columns` entries, row-major.
  public internal(set) var elements: [Scalar]

  /// A matrix from a flat row-major buffer of `rows·columns` scalars.
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` for zero rows,
  ///   ``MinibatchError/noParameters`` for zero columns,
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` for negative or too large
  ///   dimensions, ``MinibatchError/shapeMismatch(expected:got:of:)`` if the count differs.
  public init(rows: Int, columns: Int, elements: [Scalar]) throws(MinibatchError) {
    try Self.validateShape(rows: rows, columns: columns)
    try validateCount(
      elements.count, expected: rows * columns, of: "matrix elements (rows·columns)")
    self.rows = rows
    self.columns = columns
    self.elements = elements
  }

  /// A matrix whose rows are `rows`; every row must have the same, non-zero length.
  ///
  /// - Throws: as ``init(rows:columns:elements:)``, naming the first ragged row.
  public init(rows: [[Scalar]]) throws(MinibatchError) {
    guard let first = rows.first else { throw .emptyBatch }
    for (index, row) in rows.enumerated() {
      try validateCount(row.count, expected: first.count, of: "matrix row \(index)")
    }
    try self.init(rows: rows.count, columns: first.count, elements: Array(rows.joined()))
  }

  /// A `rows × columns` matrix of zeros.
  ///
  /// - Throws: the shape errors of ``init(rows:columns:elements:)``, and
  ///   ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` beyond the machine's memory.
  public init(rows: Int, columns: Int) throws(MinibatchError) {
    try Self.validateShape(rows: rows, columns: columns)
    try validateAllocation(
      count: rows * columns, stride: MemoryLayout<Scalar>.stride, of: "a \(rows)×\(columns) matrix")
    self.init(rows: rows, columns: columns, storage: filled(0, count: rows * columns))
  }

  /// The largest number of rows or columns accepted: BLAS addresses rows and leading dimensions
  /// with 32-bit integers.
  public static var maximumDimension: Int { Int(Int32.max) }

  /// The one shape check of every row-major matrix in the package (inputs, `J`, activations):
  /// `1 ≤ rows, columns ≤` ``maximumDimension`` and `rows·columns` scalars addressable in bytes.
  static func validateShape(
    rows: Int, columns: Int, rowName: String = "rows", columnName: String = "columns"
  ) throws(MinibatchError) {
    guard rows != 0 else { throw .emptyBatch }
    guard columns != 0 else { throw .noParameters }
    guard rows > 0, rows <= maximumDimension else {
      throw .dimensionOutOfRange(value: rows, limit: maximumDimension, of: rowName)
    }
    guard columns > 0, columns <= maximumDimension else {
      throw .dimensionOutOfRange(value: columns, limit: maximumDimension, of: columnName)
    }
    let limit = Int.max / MemoryLayout<Scalar>.stride / columns
    guard rows <= limit else {
      throw .dimensionOutOfRange(
        value: rows, limit: limit, of: "\(rowName) for these \(columnName)")
    }
  }

  /// Entry `(i, j)`.
  ///
  /// - Precondition: `0 ≤ i < rows`, `0 ≤ j < columns`. As with `Array`'s subscript, an index
  ///   outside the matrix **stops the program** (a trap, in release builds too): a subscript is
  ///   the unchecked-by-design access of inner loops. For an index that comes from data, check
  ///   it first, or use ``row(_:)``, which throws
  ///   ``MinibatchError/indexOutOfRange(index:count:of:)``.
  public subscript(i: Int, j: Int) -> Scalar {
    get {
      precondition(i >= 0 && i < rows && j >= 0 && j < columns, "index (\(i), \(j)) out of range")
      return elements[i * columns + j]
    }
    set {
      precondition(i >= 0 && i < rows && j >= 0 && j < columns, "index (\(i), \(j)) out of range")
      elements[i * columns + j] = newValue
    }
  }

  /// Row `i` (a slice of the storage, no copy).
  /// - Throws: ``MinibatchError/indexOutOfRange(index:count:of:)`` unless `0 ≤ i < rows`.
  public func row(_ i: Int) throws(MinibatchError) -> ArraySlice<Scalar> {
    guard i >= 0 && i < rows else { throw .indexOutOfRange(index: i, count: rows, of: "row") }
    return rowUnchecked(i)
  }

  /// Row `i`, for indices the package has checked.
  func rowUnchecked(_ i: Int) -> ArraySlice<Scalar> {
    assert(i >= 0 && i < rows)
    return elements[(i * columns)..<((i + 1) * columns)]
  }

  /// The matrix of the rows at `indices`, in that order (a gather; indices may repeat).
  /// - Throws: ``MinibatchError/emptyBatch`` for no indices,
  ///   ``MinibatchError/indexOutOfRange(index:count:of:)`` naming the first index outside
  ///   `0..<rows`.
  @_specialize(where Scalar == Float, C == ArraySlice<Int>)
  @_specialize(where Scalar == Double, C == ArraySlice<Int>)
  @_specialize(where Scalar == Float, C == Range<Int>)
  @_specialize(where Scalar == Double, C == Range<Int>)
  public func gatheringRows<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Matrix {
    guard !indices.isEmpty else { throw .emptyBatch }
    let (rows, columns) = (rows, columns)
    if let bad = indices.first(where: { $0 < 0 || $0 >= rows }) {
      throw .indexOutOfRange(index: bad, count: rows, of: "row")
    }
    let gathered = [Scalar](unsafeUninitializedCapacity: indices.count * columns) {
      buffer, initialized in
      elements.withUnsafeBufferPointer { source in
        for (r, i) in indices.enumerated() {
          (buffer.baseAddress! + r * columns).initialize(
            from: source.baseAddress! + i * columns, count: columns)
        }
      }
      initialized = indices.count * columns
    }
    return Matrix(rows: indices.count, columns: columns, storage: gathered)
  }

  init(rows: Int, columns: Int, storage: [Scalar]) {
    assert(storage.count == rows * columns)
    self.rows = rows
    self.columns = columns
    elements = storage
  }

  /// Calls `body` with the entries as a mutable row-major buffer.
  mutating func withUnsafeMutableElements<R, E: Error>(
    _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    let result: Result<R, E> = elements.withUnsafeMutableBufferPointer { buffer in
      do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
  }

  /// Calls `body` with the entries as a read-only row-major buffer.
  func withUnsafeElements<R, E: Error>(
    _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
  ) throws(E) -> R {
    let result: Result<R, E> = elements.withUnsafeBufferPointer { buffer in
      do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
  }
}
