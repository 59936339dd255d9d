import Foundation

/// `.npy` files written as NumPy writes them (`np.save`), for the loaders' and the mapped source's
/// tests: any of the element types the package reads, either byte order, C or Fortran order.
public enum NPYFile {
  /// The bytes of a `.npy` file: magic, version, header length, the header dictionary padded with
  /// spaces to a multiple of 64 bytes and ended by a newline, then `payload`.
  public static func bytes(
    descr: String, shape: [Int], fortranOrder: Bool = false, payload: [UInt8], version: UInt8 = 1
  ) -> [UInt8] {
    let shapeText =
      shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    var header =
      "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), "
      + "'shape': \(shapeText), }"
    let prefix = 6 + 2 + (version == 1 ? 2 : 4)
    while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let length = header.utf8.count
    let lengthBytes: [UInt8] =
      version == 1
      ? [UInt8(length & 0xFF), UInt8(length >> 8)]
      : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
    return [0x93] + Array("NUMPY".utf8) + [version, 0] + lengthBytes + Array(header.utf8) + payload
  }

  /// `values` stored as `descr` (`<f4`, `>f8`, `|u1`, `<i2`, …): each converted to the type
  /// (exactly, for the integers and floats the tests choose), in the descr's byte order.
  public static func payload(_ values: [Double], descr: String) -> [UInt8] {
    let big = descr.first == ">"
    let kind = descr.dropFirst().first!
    let size = Int(descr.dropFirst(2))!
    func ordered<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
      withUnsafeBytes(of: big ? value.bigEndian : value.littleEndian, Array.init)
    }
    return values.flatMap { value -> [UInt8] in
      switch (kind, size) {
      case ("f", 4): return ordered(Float(value).bitPattern)
      case ("f", _): return ordered(value.bitPattern)
      case ("u", 1): return ordered(UInt8(value))
      case ("u", 2): return ordered(UInt16(value))
      case ("u", 4): return ordered(UInt32(value))
      case ("u", _): return ordered(UInt64(value))
      case ("i", 1): return ordered(Int8(value))
      case ("i", 2): return ordered(Int16(value))
      case ("i", 4): return ordered(Int32(value))
      default: return ordered(Int64(value))
      }
    }
  }

  /// Writes a `.npy` file of `values` (row-major; stored column-major when `fortranOrder`) and
  /// returns its path, in a fresh temporary file (or at `path`).
  @discardableResult
  public static func write(
    _ values: [Double], shape: [Int], descr: String = "<f8", fortranOrder: Bool = false,
    to path: String? = nil
  ) throws -> String {
    var stored = values
    if fortranOrder, shape.count > 1 {
      // Row-major index of each column-major position: the first index varies fastest.
      var index = [Int](repeating: 0, count: shape.count)
      for position in 0..<values.count {
        var source = 0
        for d in 0..<shape.count { source = source * shape[d] + index[d] }
        stored[position] = values[source]
        var d = 0
        while d < shape.count {
          index[d] += 1
          if index[d] < shape[d] { break }
          index[d] = 0
          d += 1
        }
      }
    }
    let file =
      path
      ?? FileManager.default.temporaryDirectory.appendingPathComponent(
        "minibatch-\(UUID().uuidString).npy"
      ).path
    try Data(
      bytes(
        descr: descr, shape: shape, fortranOrder: fortranOrder,
        payload: payload(stored, descr: descr))
    ).write(to: URL(fileURLWithPath: file))
    return file
  }
}
