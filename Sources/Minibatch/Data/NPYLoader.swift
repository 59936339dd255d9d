import Foundation

/// Reads NumPy's `.npy` files (format versions 1, 2 and 3), the format Python users exchange
/// arrays in: `np.save("x.npy", x)`. Understood element types: `float32`, `float64`, signed and
/// unsigned integers of 1, 2, 4 and 8 bytes, little- or big-endian, in C or Fortran order
/// (returned row-major either way).
public enum NPYLoader {
  /// Reads one `.npy` file.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a missing or unreadable file,
  ///   and for a malformed one with the byte offset of the problem (magic string, header,
  ///   unsupported type such as object or complex arrays, truncated or trailing data, a shape
  ///   whose product — or the product of all sizes but the first — overflows `Int`);
  ///   ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` for a shape beyond memory.
  public static func read(path: String) throws(MinibatchError) -> NumericArray {
    try read(bytes: try fileBytes(path), path: path)
  }

  /// ``read(path:)`` on a file's bytes (`path` only names the file in errors).
  static func read(bytes: [UInt8], path: String) throws(MinibatchError) -> NumericArray {
    let result: Result<NumericArray, MinibatchError> = bytes.withUnsafeBytes { file in
      do throws(MinibatchError) { return .success(try read(file, path: path)) } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  /// ``read(path:)`` on a file's bytes.
  static func read(
    _ file: UnsafeRawBufferPointer, path: String
  ) throws(MinibatchError) -> NumericArray {
    let header = try NPYHeader(file, path: path)
    try validateAllocation(
      count: header.count, stride: MemoryLayout<Double>.stride, of: ".npy \(path)")
    try header.validateLength(file.count, path: path)
    var values = [Double](repeating: 0, count: header.count)
    values.withUnsafeMutableBufferPointer { out in
      header.decode(
        file.baseAddress.map { $0 + header.dataStart }, count: header.count,
        into: out.baseAddress)
    }
    let extents = header.shape
    if header.fortranOrder && extents.count > 1 {
      // Column-major to row-major: the first index varies fastest in the file.
      var rowMajor = [Double](repeating: 0, count: header.count)
      var index = [Int](repeating: 0, count: extents.count)
      for position in 0..<header.count {
        var target = 0
        for d in 0..<extents.count { target = target * extents[d] + index[d] }
        rowMajor[target] = values[position]
        var d = 0
        while d < extents.count {
          index[d] += 1
          if index[d] < extents[d] { break }
          index[d] = 0
          d += 1
        }
      }
      values = rowMajor
    }
    return NumericArray(shape: extents, values: values)
  }

  /// A batch from an inputs file (`N × …`, every example flattened to one row) and a targets
  /// file: `N` integer class labels in `0..<classCount`.
  ///
  /// - Throws: the errors of ``read(path:)``; ``MinibatchError/shapeMismatch(expected:got:of:)``
  ///   when the files disagree on `N`; ``MinibatchError/labelOutOfRange(index:label:classCount:)``
  ///   for an integer label outside the classes, ``MinibatchError/nonIntegerLabel(index:value:classCount:)``
  ///   for a label that is not an integer (0.5, NaN), naming its index and value;
  ///   ``MinibatchError/emptyBatch`` for arrays of no rows;
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` for NaN or infinite inputs.
  public static func load<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, inputs: String, labels: String, classCount: Int
  ) throws(MinibatchError) -> Batch<Scalar> {
    try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    let x = try matrix(Scalar.self, try read(path: inputs), of: "inputs")
    let y = try read(path: labels)
    try validateCount(y.values.count, expected: x.rows, of: "labels (one per input row)")
    return try Batch(
      inputs: x, targets: .labels(try classLabels(y.values, classCount: classCount)))
  }

  /// A batch with real-valued targets (regression): `N × …` inputs and `N` or `N × m` targets.
  ///
  /// - Throws: as ``load(_:inputs:labels:classCount:)``, and
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` for NaN or infinite targets.
  public static func load<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, inputs: String, values: String
  ) throws(MinibatchError) -> Batch<Scalar> {
    let x = try matrix(Scalar.self, try read(path: inputs), of: "inputs")
    let y = try matrix(Scalar.self, try read(path: values), of: "targets")
    try validateCount(y.rows, expected: x.rows, of: "target rows (one per input row)")
    return try Batch(inputs: x, targets: .values(y))
  }

  /// The array as a matrix: its first dimension the rows, the rest flattened.
  static func matrix<Scalar: BLASScalar>(
    _: Scalar.Type, _ array: NumericArray, of what: String
  ) throws(MinibatchError) -> Matrix<Scalar> {
    let rows = array.shape.first ?? 1
    let columns = rows == 0 ? 0 : array.values.count / rows
    let matrix = try Matrix(
      rows: rows, columns: columns, elements: array.values.map { Scalar($0) })
    try validateFiniteEntries(matrix, of: what)
    return matrix
  }
}
