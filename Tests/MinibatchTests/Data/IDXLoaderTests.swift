import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// IDX files (the MNIST format) written by the test, read back; malformed ones name the byte.
@Suite struct IDXLoaderTests {
  func file(_ bytes: [UInt8]) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-idx-\(UUID().uuidString)")
    try Data(bytes).write(to: url)
    return url.path
  }

  @Test func readsImagesAndLabels() throws {
    // 3 images of 2×2 unsigned bytes, and their labels.
    let images = try file([0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2] + Array(0..<12))
    let labels = try file([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 0, 9])
    defer { for path in [images, labels] { try? FileManager.default.removeItem(atPath: path) } }
    let batch: Batch<Float> = try IDXLoader.load(images: images, labels: labels)
    #expect(batch.inputs.rows == 3 && batch.inputs.columns == 4)
    #expect(batch.inputs.elements == (0..<12).map(Float.init))
    #expect(batch.targets == .labels([7, 0, 9]))

    // Big-endian signed 16-bit and 64-bit floats.
    let shorts = try file([0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x00])
    let doubles = try file(
      [0, 0, 0x0E, 1, 0, 0, 0, 1] + withUnsafeBytes(of: (2.5).bitPattern.bigEndian, Array.init))
    defer { for path in [shorts, doubles] { try? FileManager.default.removeItem(atPath: path) } }
    let read = try IDXLoader.read(path: shorts)
    #expect(read.shape == [2] && read.values == [-2, 256])
    #expect(try IDXLoader.read(path: doubles).values == [2.5])
  }

  @Test func malformedFilesNameTheByte() throws {
    let cases: [([UInt8], String)] = [
      ([1, 0, 8, 1], "byte 0: the magic number starts with 1, 0, not 0, 0"),
      ([0, 0, 7, 1], "byte 2: unknown type code 0x7"),
      ([0, 0, 8, 2, 0, 0, 0, 1], "byte 8: the file ends inside the sizes of 2 dimensions"),
      ([0, 0, 8, 1, 0, 0, 0, 3, 1, 2], "byte 10: the file ends after 2 of 3 data bytes"),
      ([0, 0, 8, 1, 0, 0, 0, 1, 1, 2], "byte 9: 1 bytes after the data"),
    ]
    for (bytes, reason) in cases {
      let path = try file(bytes)
      defer { try? FileManager.default.removeItem(atPath: path) }
      expectError(.fileUnreadable(path: path, reason: "not an IDX file: " + reason)) {
        try IDXLoader.read(path: path)
      }
    }
    let images = try file([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 1, 5, 6])
    let labels = try file([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 3])
    let badLabels = try file([0, 0, 0x08, 1, 0, 0, 0, 2, 1, 12])
    defer {
      for path in [images, labels, badLabels] { try? FileManager.default.removeItem(atPath: path) }
    }
    expectError(.shapeMismatch(expected: 2, got: 3, of: "labels (one per image)")) {
      let _: Batch<Double> = try IDXLoader.load(images: images, labels: labels)
    }
    expectError(.labelOutOfRange(index: 1, label: 12, classCount: 10)) {
      let _: Batch<Double> = try IDXLoader.load(images: images, labels: badLabels)
    }
    expectError(.fileUnreadable(path: "/nonexistent.idx", reason: "no such file")) {
      try IDXLoader.read(path: "/nonexistent.idx")
    }
  }
}
