import Foundation
import Testing

/// Keeps README.md's code honest: every ```swift block that starts with `import Minibatch` is
/// copied, verbatim, into `ReadmeBlocks.swift` as a test that compiles with the test target and
/// runs. This test fails when the README and that file disagree; `make readme-blocks`
/// (`MINIBATCH_WRITE_README_BLOCKS=1`) rewrites the file from the README.
@Suite struct ReadmeSyncTests {
  static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  static let readme = testsDirectory.appendingPathComponent("../../../README.md").standardized
  static let generated = testsDirectory.appendingPathComponent("ReadmeBlocks.swift")

  /// The bodies of the README's runnable blocks, with the line each starts on.
  static func blocks(of text: String) -> [(line: Int, body: [String])] {
    var blocks: [(Int, [String])] = []
    var current: (Int, [String])?
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false)
      .enumerated()
    {
      if current == nil, line == "```swift" {
        current = (number + 2, [])
      } else if var block = current {
        if line == "```" {
          if block.1.first == "import Minibatch" {
            block.1.removeFirst()
            blocks.append(block)
          }
          current = nil
        } else {
          block.1.append(String(line))
          current = block
        }
      }
    }
    return blocks
  }

  /// The test file for `blocks`.
  static func source(for blocks: [(line: Int, body: [String])]) -> String {
    var text = """
      // swift-format-ignore-file
      // Generated from README.md by `make readme-blocks`; do not edit (ReadmeSyncTests checks it).
      import Minibatch
      import Testing

      @Suite struct ReadmeBlocks {

      """
    for (index, block) in blocks.enumerated() {
      text += "  /// README.md, the block at line \(block.line).\n"
      text += "  @Test func block\(index + 1)() throws {\n"
      for line in block.body { text += line.isEmpty ? "\n" : "    \(line)\n" }
      text += "  }\n\n"
    }
    return text + "}\n"
  }

  @Test func readmeBlocksAreTheGeneratedTests() throws {
    let readme = try String(contentsOf: Self.readme, encoding: .utf8)
    let blocks = Self.blocks(of: readme)
    #expect(blocks.count >= 3, "README.md has \(blocks.count) runnable blocks")
    let expected = Self.source(for: blocks)
    let current = try? String(contentsOf: Self.generated, encoding: .utf8)
    if current != expected, ProcessInfo.processInfo.environment["MINIBATCH_WRITE_README_BLOCKS"] == "1" {
      try expected.write(to: Self.generated, atomically: true, encoding: .utf8)
      return
    }
    #expect(
      current == expected,
      "README.md's blocks changed: run `make readme-blocks` and rebuild the tests")
  }
}
