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
    func malformed(_ offset: Int, _ problem: String) -> MinibatchError {
      .fileUnreadable(path: path, reason: "not a .npy file: byte \(offset): \(problem)")
    }
    let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw malformed(0, "no \\x93NUMPY magic string")
    }
    let major = bytes[6]
    guard (1...3).contains(major) else { throw malformed(6, "unknown format version \(major)") }
    let lengthBytes = major == 1 ? 2 : 4
    guard bytes.count >= 8 + lengthBytes else { throw malformed(8, "the header length is cut") }
    let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
    let headerStart = 8 + lengthBytes
    guard bytes.count >= headerStart + headerLength else {
      throw malformed(bytes.count, "the file ends inside the \(headerLength)-byte header")
    }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    func value(of key: String) -> Substring? {
      guard let range = header.range(of: "'\(key)':") else { return nil }
      return header[range.upperBound...].drop { $0 == " " }
    }
    guard let descrField = value(of: "descr"), descrField.first == "'",
      let descrEnd = descrField.dropFirst().firstIndex(of: "'")
    else { throw malformed(headerStart, "the header has no 'descr'") }
    let descr = String(descrField[descrField.index(after: descrField.startIndex)..<descrEnd])
    guard let orderField = value(of: "fortran_order") else {
      throw malformed(headerStart, "the header has no 'fortran_order'")
    }
    let fortran = orderField.hasPrefix("True")
    guard let shapeField = value(of: "shape"), shapeField.first == "(",
      let shapeEnd = shapeField.firstIndex(of: ")")
    else { throw malformed(headerStart, "the header has no 'shape'") }
    let shapeText = shapeField[shapeField.index(after: shapeField.startIndex)..<shapeEnd]
    let shape = shapeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }.map { Int($0) }
    guard shape.allSatisfy({ ($0 ?? -1) >= 0 }) else {
      throw malformed(headerStart, "shape (\(shapeText)) is not a list of sizes")
    }
    let extents = shape.map { $0! }
    // descr: byte order ('<', '>', '|', '='), kind ('f', 'i', 'u'), size in bytes.
    guard descr.count >= 3, let size = Int(descr.dropFirst(2)),
      let order = descr.first, "<>|=".contains(order)
    else { throw malformed(headerStart, "unsupported element type '\(descr)'") }
    let kind = descr[descr.index(after: descr.startIndex)]
    let supported =
      (kind == "f" && (size == 4 || size == 8))
      || ("iu".contains(kind) && [1, 2, 4, 8].contains(size))
    guard supported else {
      throw malformed(headerStart, "unsupported element type '\(descr)' (floats and integers only)")
    }
    guard let (count, _) = checkedCounts(extents) else {
      throw malformed(headerStart, "shape \(extents) overflows")
    }
    try validateAllocation(count: count, stride: MemoryLayout<Double>.stride, of: ".npy \(path)")
    let dataStart = headerStart + headerLength
    let available = bytes.count - dataStart
    guard available >= count * size else {
      throw malformed(bytes.count, "the file ends after \(available) of \(count * size) data bytes")
    }
    guard available == count * size else {
      throw malformed(dataStart + count * size, "\(available - count * size) bytes after the data")
    }
    let bigEndian = order == ">"
    var values = (0..<count).map { index -> Double in
      let offset = dataStart + index * size
      let raw = (0..<size).reduce(UInt64(0)) { result, byte in
        let shift = bigEndian ? 8 * (size - 1 - byte) : 8 * byte
        return result | UInt64(bytes[offset + byte]) << shift
      }
      switch (kind, size) {
      case ("f", 4): return Double(Float(bitPattern: UInt32(raw)))
      case ("f", _): return Double(bitPattern: raw)
      case ("u", _): return Double(raw)
      case ("i", 1): return Double(Int8(bitPattern: UInt8(raw)))
      case ("i", 2): return Double(Int16(bitPattern: UInt16(raw)))
      case ("i", 4): return Double(Int32(bitPattern: UInt32(raw)))
      default: return Double(Int64(bitPattern: raw))
      }
    }
    if fortran && extents.count > 1 {
      // Column-major to row-major: the first index varies fastest in the file.
      var rowMajor = [Double](repeating: 0, count: count)
      var index = [Int](repeating: 0, count: extents.count)
      for position in 0..<count {
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
