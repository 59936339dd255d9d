import Foundation

/// What the header of a `.npy` file says about its data: the element type and byte order, the
/// order of the axes, the shape, and where the data starts. The one parser of the format, for
/// the loader (``NPYLoader``) and the memory-mapped source (``MemoryMappedNPY``); fuzzed by
/// both.
struct NPYHeader: Sendable, Hashable {
  /// `f` (IEEE float), `i` (signed integer) or `u` (unsigned integer).
  var kind: Character
  /// Bytes per element: 4 or 8 for floats, 1, 2, 4 or 8 for integers.
  var size: Int
  var bigEndian: Bool
  /// Column-major data (the first index varies fastest in the file).
  var fortranOrder: Bool
  var shape: [Int]
  /// The product of ``shape`` (checked), and the product of all sizes but the first.
  var count: Int
  var width: Int
  /// The byte offset of the first element.
  var dataStart: Int

  /// Parses the header at the start of `bytes` (the whole file, or at least its header);
  /// `path` only names the file in errors.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` with the byte offset of the
  ///   problem: no magic string, an unknown version, a cut or malformed header, an unsupported
  ///   element type (object, complex, strings), a shape whose product — or the product of all
  ///   sizes but the first — overflows `Int`.
  init(_ bytes: UnsafeRawBufferPointer, path: String) throws(MinibatchError) {
    func malformed(_ offset: Int, _ problem: String) -> MinibatchError {
      .fileUnreadable(path: path, reason: "not a .npy file: byte \(offset): \(problem)")
    }
    let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    guard bytes.count >= 10, bytes.prefix(6).elementsEqual(magic) else {
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
    guard let shapeField = value(of: "shape"), shapeField.first == "(",
      let shapeEnd = shapeField.firstIndex(of: ")")
    else { throw malformed(headerStart, "the header has no 'shape'") }
    let shapeText = shapeField[shapeField.index(after: shapeField.startIndex)..<shapeEnd]
    let sizes = shapeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }.map { Int($0) }
    guard sizes.allSatisfy({ ($0 ?? -1) >= 0 }) else {
      throw malformed(headerStart, "shape (\(shapeText)) is not a list of sizes")
    }
    let extents = sizes.map { $0! }
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
    guard let (count, width) = checkedCounts(extents) else {
      throw malformed(headerStart, "shape \(extents) overflows")
    }
    self.kind = kind
    self.size = size
    bigEndian = order == ">"
    fortranOrder = orderField.hasPrefix("True")
    shape = extents
    self.count = count
    self.width = width
    dataStart = headerStart + headerLength
  }

  /// The data's length in bytes, `count · size`, or `nil` when it overflows `Int`.
  var dataLength: Int? {
    let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
    return overflow ? nil : bytes
  }

  /// Whether the data's rows are contiguous: C order, or a Fortran-order array whose layouts
  /// coincide (at most one size above 1).
  var isRowMajor: Bool { !fortranOrder || shape.filter { $0 > 1 }.count <= 1 }

  /// Throws unless the file's `length` is exactly the header and the data.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a truncated file (naming the
  ///   bytes there are and the bytes the shape needs) or bytes after the data.
  func validateLength(_ length: Int, path: String) throws(MinibatchError) {
    func malformed(_ offset: Int, _ problem: String) -> MinibatchError {
      .fileUnreadable(path: path, reason: "not a .npy file: byte \(offset): \(problem)")
    }
    let available = length - dataStart
    guard let needed = dataLength, available >= needed else {
      let needed = dataLength.map(String.init) ?? "more than \(Int.max)"
      throw malformed(length, "the file ends after \(available) of \(needed) data bytes")
    }
    guard available == needed else {
      throw malformed(dataStart + needed, "\(available - needed) bytes after the data")
    }
  }

  /// Converts `count` elements stored at `source` (in this header's type and byte order) to
  /// `Scalar`, through Double: every element becomes the Double ``NPYLoader/read(path:)``
  /// returns for it (exact for every type but 64-bit integers beyond 2⁵³), then `Scalar` of that,
  /// so a row read here has the bits of the loader's row. One type dispatch per call, not per
  /// element.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func decode<Scalar: BLASScalar>(
    _ source: UnsafeRawPointer?, count: Int, into out: UnsafeMutablePointer<Scalar>?
  ) {
    guard count > 0, let source, let out else { return }
    let bigEndian = self.bigEndian
    func convert<Raw: FixedWidthInteger>(_: Raw.Type, _ value: (Raw) -> Double) {
      for i in 0..<count {
        let raw = source.loadUnaligned(fromByteOffset: i * MemoryLayout<Raw>.size, as: Raw.self)
        out[i] = Scalar(value(bigEndian ? Raw(bigEndian: raw) : Raw(littleEndian: raw)))
      }
    }
    switch (kind, size) {
    case ("f", 4): convert(UInt32.self) { Double(Float(bitPattern: $0)) }
    case ("f", _): convert(UInt64.self) { Double(bitPattern: $0) }
    case ("u", 1): convert(UInt8.self) { Double($0) }
    case ("u", 2): convert(UInt16.self) { Double($0) }
    case ("u", 4): convert(UInt32.self) { Double($0) }
    case ("u", _): convert(UInt64.self) { Double($0) }
    case ("i", 1): convert(Int8.self) { Double($0) }
    case ("i", 2): convert(Int16.self) { Double($0) }
    case ("i", 4): convert(Int32.self) { Double($0) }
    default: convert(Int64.self) { Double($0) }
    }
  }
}
