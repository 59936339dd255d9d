import Foundation

/// An n-dimensional array read from a file (IDX, .npy): its shape and its values, row-major, in
/// Double (every integer and float type of those formats converts exactly, but for 64-bit integers
/// beyond 2⁵³).
public struct NumericArray: Sendable, Hashable {
  public var shape: [Int]
  public var values: [Double]
}

/// The bytes of the file at `path`, or ``MinibatchError/fileUnreadable(path:reason:)``.
func fileBytes(_ path: String) throws(MinibatchError) -> [UInt8] {
  do {
    return [UInt8](try fileData(atPath: path))
  } catch {
    let exists = FileManager.default.fileExists(atPath: path)
    throw .fileUnreadable(path: path, reason: exists ? error.localizedDescription : "no such file")
  }
}

/// Class labels from a file's values: integers in `0..<classCount`, or the error naming the first
/// that is not: ``MinibatchError/nonIntegerLabel(index:value:classCount:)`` for a value that is
/// not an integer (0.5, NaN, beyond `Int`), with the value itself;
/// ``MinibatchError/labelOutOfRange(index:label:classCount:)`` for an integer outside the classes.
/// Errors number the values from `firstIndex` (a piece of a longer file).
func classLabels(
  _ values: some Collection<Double>, classCount: Int, firstIndex: Int = 0
) throws(MinibatchError) -> [Int] {
  var labels: [Int] = []
  labels.reserveCapacity(values.count)
  for (offset, value) in values.enumerated() {
    let index = firstIndex + offset
    guard let label = Int(exactly: value) else {
      throw .nonIntegerLabel(index: index, value: value, classCount: classCount)
    }
    guard label >= 0, label < classCount else {
      throw .labelOutOfRange(index: index, label: label, classCount: classCount)
    }
    labels.append(label)
  }
  return labels
}

/// The number of elements of an array of `shape` and the number in one entry of its first
/// dimension (the product of the others), or nil when any partial product overflows `Int`.
///
/// Both products are checked whatever the first size is: a first size of 0 makes the total 0,
/// but the width of an entry (what a batch's rows are) must still be a valid count.
func checkedCounts(_ shape: [Int]) -> (count: Int, width: Int)? {
  var width = 1
  for extent in shape.dropFirst() {
    let (product, overflow) = width.multipliedReportingOverflow(by: extent)
    guard !overflow else { return nil }
    width = product
  }
  let (count, overflow) = (shape.first ?? 1).multipliedReportingOverflow(by: width)
  return overflow ? nil : (count, width)
}

/// Reads the IDX format of MNIST and Fashion-MNIST: a 4-byte magic number (two zero bytes, a type
/// code, the number of dimensions), one big-endian 32-bit size per dimension, then the values,
/// big-endian, row-major. Users bring their own files (`train-images-idx3-ubyte` and so on).
public enum IDXLoader {
  /// Reads one IDX file. Every type code of the format is understood: unsigned and signed bytes,
  /// 16- and 32-bit integers, 32- and 64-bit floats.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a missing or unreadable file,
  ///   and for a malformed one with the byte offset of the problem (bad magic number, unknown
  ///   type, truncated header or data, trailing bytes, sizes that exceed memory, or sizes whose
  ///   product overflows `Int` — the total, and the product of all sizes but the first, so that a
  ///   first size of 0 does not hide an overflowing width).
  public static func read(path: String) throws(MinibatchError) -> NumericArray {
    try read(bytes: try fileBytes(path), path: path)
  }

  /// ``read(path:)`` on a file's bytes (`path` only names the file in errors).
  static func read(bytes: [UInt8], path: String) throws(MinibatchError) -> NumericArray {
    func malformed(_ offset: Int, _ problem: String) -> MinibatchError {
      .fileUnreadable(path: path, reason: "not an IDX file: byte \(offset): \(problem)")
    }
    guard bytes.count >= 4 else { throw malformed(bytes.count, "the file ends inside the header") }
    guard bytes[0] == 0, bytes[1] == 0 else {
      throw malformed(0, "the magic number starts with \(bytes[0]), \(bytes[1]), not 0, 0")
    }
    let sizes: [UInt8: Int] = [0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8]
    guard let size = sizes[bytes[2]] else {
      throw malformed(2, "unknown type code 0x\(String(bytes[2], radix: 16))")
    }
    let dimensions = Int(bytes[3])
    guard dimensions >= 1 else { throw malformed(3, "no dimensions") }
    let headerEnd = 4 + 4 * dimensions
    guard bytes.count >= headerEnd else {
      throw malformed(bytes.count, "the file ends inside the sizes of \(dimensions) dimensions")
    }
    func bigEndian(_ offset: Int, _ count: Int) -> UInt64 {
      (0..<count).reduce(0) { ($0 << 8) | UInt64(bytes[offset + $1]) }
    }
    let shape = (0..<dimensions).map { Int(bigEndian(4 + 4 * $0, 4)) }
    guard let (count, _) = checkedCounts(shape) else {
      throw malformed(4, "sizes \(shape) overflow")
    }
    try validateAllocation(count: count, stride: MemoryLayout<Double>.stride, of: "IDX \(path)")
    let (dataBytes, overflow) = count.multipliedReportingOverflow(by: size)
    guard !overflow, bytes.count - headerEnd >= dataBytes else {
      throw malformed(
        bytes.count, "the file ends after \(bytes.count - headerEnd) of \(dataBytes) data bytes")
    }
    guard bytes.count - headerEnd == dataBytes else {
      throw malformed(
        headerEnd + dataBytes, "\(bytes.count - headerEnd - dataBytes) bytes after the data")
    }
    let type = bytes[2]
    let values = (0..<count).map { index -> Double in
      let offset = headerEnd + index * size
      let raw = bigEndian(offset, size)
      switch type {
      case 0x08: return Double(UInt8(raw))
      case 0x09: return Double(Int8(bitPattern: UInt8(raw)))
      case 0x0B: return Double(Int16(bitPattern: UInt16(raw)))
      case 0x0C: return Double(Int32(bitPattern: UInt32(raw)))
      case 0x0D: return Double(Float(bitPattern: UInt32(raw)))
      default: return Double(bitPattern: raw)
      }
    }
    return NumericArray(shape: shape, values: values)
  }

  /// A labelled batch from an images file (`N × …`, every example flattened to one row of raw
  /// values, not scaled) and a labels file (`N` class labels in `0..<classCount`).
  ///
  /// - Throws: the errors of ``read(path:)``; ``MinibatchError/shapeMismatch(expected:got:of:)``
  ///   when the files disagree on `N` or the labels are not one-dimensional;
  ///   ``MinibatchError/emptyBatch`` for files of no images;
  ///   ``MinibatchError/labelOutOfRange(index:label:classCount:)`` for an integer label outside
  ///   the classes, ``MinibatchError/nonIntegerLabel(index:value:classCount:)`` for a float label
  ///   that is not an integer (naming its value);
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` for NaN or infinite float images.
  public static func load<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, images: String, labels: String, classCount: Int = 10
  ) throws(MinibatchError) -> Batch<Scalar> {
    try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    return try batch(
      Scalar.self, images: try read(path: images), labels: try read(path: labels),
      classCount: classCount)
  }

  /// ``load(_:images:labels:classCount:)`` on arrays already read (by ``read(path:)``, whose
  /// shapes' partial products are known not to overflow).
  static func batch<Scalar: BLASScalar>(
    _: Scalar.Type, images pixels: NumericArray, labels classes: NumericArray, classCount: Int
  ) throws(MinibatchError) -> Batch<Scalar> {
    try validateCount(classes.shape.count, expected: 1, of: "dimensions of the labels file")
    guard let (_, width) = checkedCounts(pixels.shape), !pixels.shape.isEmpty else {
      throw .dimensionOutOfRange(value: Int.max, limit: Int.max, of: "values per image")
    }
    let n = pixels.shape[0]
    try validateCount(classes.shape[0], expected: n, of: "labels (one per image)")
    let inputs = try Matrix<Scalar>(
      rows: n, columns: width, elements: pixels.values.map { Scalar($0) })
    try validateFiniteEntries(inputs, of: "images")
    return try Batch(
      inputs: inputs, targets: .labels(try classLabels(classes.values, classCount: classCount)))
  }
}
