import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// An images file whose sizes multiply to 0 although the sizes after the first overflow `Int`
/// (0 × (2³²−1) × (2³²−1)): the loader trapped in the width of an image (issue 20).
@Suite struct IDXOverflowTests {
  func file(_ bytes: [UInt8]) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-idx-overflow-\(UUID().uuidString)")
    try Data(bytes).write(to: url)
    return url.path
  }

  @Test func zeroImagesOfAnOverflowingSizeAreRefused() throws {
    let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
    let images = try file([0, 0, 0x08, 3, 0, 0, 0, 0] + huge + huge)
    let labels = try file([0, 0, 0x08, 1, 0, 0, 0, 0])
    expectError(
      .fileUnreadable(
        path: images,
        reason: "not an IDX file: byte 4: sizes [0, 4294967295, 4294967295] overflow")
    ) { try IDXLoader.load(Double.self, images: images, labels: labels) }
    expectError(
      .fileUnreadable(
        path: images,
        reason: "not an IDX file: byte 4: sizes [0, 4294967295, 4294967295] overflow")
    ) { try IDXLoader.read(path: images) }
  }
}
