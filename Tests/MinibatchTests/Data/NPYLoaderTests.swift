import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// `.npy` files written byte by byte as NumPy writes them, read back; malformed ones name the byte.
@Suite struct NPYLoaderTests {
  /// A version-1.0 `.npy` file: magic, version, header length, the header dict padded with spaces
  /// to a multiple of 64 bytes and ended by a newline, then the data.
  func npy(_ header: String, _ data: [UInt8], version: UInt8 = 1) throws -> String {
    let prefix = 6 + 2 + (version == 1 ? 2 : 4)
    var text = header
    while (prefix + text.utf8.count + 1) % 64 != 0 { text += " " }
    text += "\n"
    let length = text.utf8.count
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    bytes +=
      version == 1
      ? [UInt8(length & 0xFF), UInt8(length >> 8)]
      : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
    bytes += Array(text.utf8) + data
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-\(UUID().uuidString).npy")
    try Data(bytes).write(to: url)
    return url.path
  }

  func littleEndian(_ values: [Double]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) }
  }

  @Test func readsWhatNumPyWrites() throws {
    let x = try npy(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
      littleEndian([1, 2, 3, 4, 5, 6]))
    let fortran = try npy(
      "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
      littleEndian([1, 4, 2, 5, 3, 6]))
    let labels = try npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [2, 0])
    let bigShorts = try npy(
      "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", [0xFF, 0xFE, 0x01, 0x00],
      version: 2)
    defer {
      for path in [x, fortran, labels, bigShorts] {
        try? FileManager.default.removeItem(atPath: path)
      }
    }
    let array = try NPYLoader.read(path: x)
    #expect(array.shape == [2, 3] && array.values == [1, 2, 3, 4, 5, 6])
    #expect(try NPYLoader.read(path: fortran).values == [1, 2, 3, 4, 5, 6])
    #expect(try NPYLoader.read(path: bigShorts).values == [-2, 256])
    let batch: Batch<Float> = try NPYLoader.load(inputs: x, labels: labels, classCount: 3)
    #expect(batch.inputs.columns == 3 && batch.targets == .labels([2, 0]))
    let regression: Batch<Double> = try NPYLoader.load(inputs: x, values: labels)
    let expected = Targets<Double>.values(try Matrix(rows: [[2], [0]]))
    #expect(regression.targets == expected)
  }

  @Test func malformedFilesNameTheByte() throws {
    let objects = try npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", [0])
    let short = try npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", [0, 0, 0, 0])
    defer { for path in [objects, short] { try? FileManager.default.removeItem(atPath: path) } }
    do {
      _ = try NPYLoader.read(path: objects)
      Issue.record("an object array was accepted")
    } catch {
      #expect("\(error)".contains("unsupported element type '|O'"))
    }
    do {
      _ = try NPYLoader.read(path: short)
      Issue.record("a truncated file was accepted")
    } catch {
      #expect("\(error)".contains("the file ends after 4 of 12 data bytes"))
    }
    let notNPY = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-\(UUID().uuidString).npy")
    try Data("hello, world".utf8).write(to: notNPY)
    defer { try? FileManager.default.removeItem(at: notNPY) }
    expectError(
      .fileUnreadable(
        path: notNPY.path, reason: "not a .npy file: byte 0: no \\x93NUMPY magic string")
    ) { try NPYLoader.read(path: notNPY.path) }
  }
}
