import Foundation
import Testing

/// Keeps the documentation's code honest: every ```swift block of README.md and of the DocC
/// articles (`Sources/Minibatch/Minibatch.docc/*.md`) that starts with `import Minibatch` is
/// copied, verbatim, into `ReadmeBlocks.swift` as a test that compiles with the test target and
/// runs (its leading imports go to the top of the file; a block that imports `MinibatchMPI` is
/// compiled only). After each block the generator reads the values it declares (`_ = (…)`), so
/// the generated file compiles without "never used" warnings. This test fails when the documents and
/// that file disagree; `make readme-blocks` (`MINIBATCH_WRITE_README_BLOCKS=1`) rewrites the file.
@Suite struct ReadmeSyncTests {
  static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  static let root = testsDirectory.appendingPathComponent("../../..").standardized
  static let generated = testsDirectory.appendingPathComponent("ReadmeBlocks.swift")

  /// README.md, then the DocC articles in name order, each with the prefix of its tests' names.
  static func documents() throws -> [(name: String, prefix: String, text: String)] {
    let catalog = root.appendingPathComponent("Sources/Minibatch/Minibatch.docc")
    let articles = try FileManager.default.contentsOfDirectory(atPath: catalog.path)
      .filter { $0.hasSuffix(".md") }.sorted()
    return try [("README.md", "readme", root.appendingPathComponent("README.md"))]
      .map { ($0.0, $0.1, try String(contentsOf: $0.2, encoding: .utf8)) }
      + articles.map { file in
        let stem = String(file.dropLast(3))
        return (
          "Minibatch.docc/\(file)", stem.prefix(1).lowercased() + stem.dropFirst(),
          try String(contentsOf: catalog.appendingPathComponent(file), encoding: .utf8)
        )
      }
  }

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

  /// The names a block declares at its top level (`let x = …`, `var (a, _) = …`), in order.
  static func declaredNames(in body: ArraySlice<String>) -> [String] {
    var names: [String] = []
    for line in body {
      guard line.hasPrefix("let ") || line.hasPrefix("var ") else { continue }
      let pattern = line.dropFirst(4).prefix { $0 != "=" && $0 != ":" }
      let identifiers = pattern.split { !($0.isLetter || $0.isNumber || $0 == "_") }
      names += identifiers.map(String.init).filter { $0 != "_" && !names.contains($0) }
    }
    return names
  }

  /// The test file for the documents' blocks.
  static func source(for documents: [(name: String, prefix: String, text: String)]) -> String {
    var imports: Set<String> = ["import Minibatch", "import Testing"]
    var tests = ""
    for document in documents {
      for (index, block) in blocks(of: document.text).enumerated() {
        var body = block.body[...]
        var runs = true
        while let first = body.first, first.hasPrefix("import ") {
          imports.insert(first)
          // MPI_Init belongs under mpirun: an MPI block is compiled, not run.
          if first == "import MinibatchMPI" { runs = false }
          body = body.dropFirst()
        }
        tests += "  /// \(document.name), the block at line \(block.line)"
        tests += runs ? ".\n  @Test " : " (compiled, not run: MPI_Init belongs under mpirun).\n  "
        tests += "func \(document.prefix)Block\(index + 1)() throws {\n"
        for line in body { tests += line.isEmpty ? "\n" : "    \(line)\n" }
        // A snippet shows values it does not use again; reading them keeps the build free of
        // "never used" warnings without changing the text the reader sees.
        let names = declaredNames(in: body)
        if !names.isEmpty {
          tests += "\n    _ = (\(names.joined(separator: ", ")))  // generated: the values shown\n"
        }
        tests += "  }\n\n"
      }
    }
    return """
      // swift-format-ignore-file
      // Generated from README.md and the DocC articles by `make readme-blocks`; do not edit
      // (ReadmeSyncTests checks it).
      \(imports.sorted().joined(separator: "\n"))

      @Suite struct ReadmeBlocks {

      \(tests)}

      """
  }

  @Test func readmeBlocksAreTheGeneratedTests() throws {
    let documents = try Self.documents()
    let count = documents.reduce(0) { $0 + Self.blocks(of: $1.text).count }
    #expect(count >= 8, "the documents have \(count) runnable blocks")
    let expected = Self.source(for: documents)
    let current = try? String(contentsOf: Self.generated, encoding: .utf8)
    if current != expected,
      ProcessInfo.processInfo.environment["MINIBATCH_WRITE_README_BLOCKS"] == "1"
    {
      try expected.write(to: Self.generated, atomically: true, encoding: .utf8)
      return
    }
    #expect(
      current == expected,
      "README.md's blocks changed: run `make readme-blocks` and rebuild the tests")
  }
}
