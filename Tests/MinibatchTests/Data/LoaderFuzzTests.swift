import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// The three loaders on thousands of mutated files per run: truncations, flipped bits, replaced
/// and inserted garbage, dropped and repeated ranges, huge or zero dimensions. Every input either
/// loads into something consistent (the shape's product is the value count, a batch has one row
/// per example and finite entries, labels in range) or throws the loader's typed error
/// (`MinibatchError`, guaranteed by the typed `throws`); none traps.
///
/// Each input is derived from its seed alone, and a failed expectation names it. A trap stops
/// the process before anything is reported: rerun with `MINIBATCH_FUZZ_VERBOSE=1` to print each
/// seed before its input, and with `MINIBATCH_FUZZ_SEED=<seed>` to run that input alone.
@Suite struct LoaderFuzzTests {
  /// Inputs per loader and run (each derived from its seed alone).
  static let seedsPerLoader: Range<UInt64> = {
    if let text = ProcessInfo.processInfo.environment["MINIBATCH_FUZZ_SEED"],
      let seed = UInt64(text)
    {
      return seed..<(seed + 1)
    }
    return 0..<2000
  }()
  static let verbose = ProcessInfo.processInfo.environment["MINIBATCH_FUZZ_VERBOSE"] != nil

  // MARK: - Mutations

  /// Sizes that break arithmetic: 0, 1, around 2³¹ and 2³², 2³²−1.
  static let awkwardSizes: [UInt32] = [
    0, 1, 2, 3, 255, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
  ]

  /// One to four random mutations of `bytes`; `sizeOffsets` are where 32-bit big-endian sizes
  /// live (IDX), to be replaced by awkward ones.
  static func mutated(
    _ bytes: [UInt8], sizeOffsets: [Int] = [], using rng: inout SeededGenerator
  ) -> [UInt8] {
    var bytes = bytes
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
      switch Int.random(in: 0..<8, using: &rng) {
      case 0:  // truncate
        bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
      case 1:  // flip one bit
        guard !bytes.isEmpty else { continue }
        let i = Int.random(in: 0..<bytes.count, using: &rng)
        bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
      case 2:  // replace a byte
        guard !bytes.isEmpty else { continue }
        bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
      case 3:  // insert garbage
        let garbage = (0..<Int.random(in: 1...8, using: &rng)).map { _ in
          UInt8.random(in: 0...255, using: &rng)
        }
        bytes.insert(contentsOf: garbage, at: Int.random(in: 0...bytes.count, using: &rng))
      case 4:  // drop a range
        guard !bytes.isEmpty else { continue }
        let start = Int.random(in: 0..<bytes.count, using: &rng)
        bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...6, using: &rng)))
      case 5:  // repeat a range
        guard !bytes.isEmpty else { continue }
        let start = Int.random(in: 0..<bytes.count, using: &rng)
        let chunk = bytes[start..<min(bytes.count, start + Int.random(in: 1...16, using: &rng))]
        bytes.insert(contentsOf: chunk, at: Int.random(in: 0...bytes.count, using: &rng))
      default:  // a huge or zero size where a size lives
        guard let offset = sizeOffsets.randomElement(using: &rng), offset + 4 <= bytes.count
        else { continue }
        let size = awkwardSizes.randomElement(using: &rng)!
        for b in 0..<4 { bytes[offset + b] = UInt8(truncatingIfNeeded: size >> (24 - 8 * b)) }
      }
    }
    return bytes
  }

  /// The product of `shape`, or nil when it overflows.
  static func product(_ shape: [Int]) -> Int? {
    var total = 1
    for extent in shape {
      let (next, overflow) = total.multipliedReportingOverflow(by: extent)
      if overflow || extent < 0 { return nil }
      total = next
    }
    return total
  }

  /// Runs `body` for every seed, each with its own generator.
  static func forEverySeed(
    _ loader: String, _ body: (UInt64, inout SeededGenerator) throws(MinibatchError) -> Void
  ) {
    for seed in seedsPerLoader {
      if verbose { print("fuzz \(loader) seed \(seed)") }
      var rng = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(loader.utf8.count))
      do {
        try body(seed, &rng)
      } catch {
        // The typed error: the loader refused the input, as it may.
        _ = error
      }
    }
  }

  /// A consistent array: its values are as many as its shape's product.
  static func expectConsistent(
    _ array: NumericArray, _ what: String, seed: UInt64,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(
      product(array.shape) == array.values.count,
      "\(what) seed \(seed): shape \(array.shape), \(array.values.count) values",
      sourceLocation: sourceLocation)
  }

  /// A consistent batch: `rows` examples of `width` finite features, labels in range.
  static func expectConsistent<Scalar: BLASScalar>(
    _ batch: Batch<Scalar>, rows: Int?, width: Int?, classCount: Int?, _ what: String,
    seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let inputs = batch.inputs
    #expect(
      inputs.rows >= 1 && inputs.columns >= 1
        && inputs.elements.count == inputs.rows * inputs.columns
        && batch.count == inputs.rows && (rows == nil || rows == inputs.rows)
        && (width == nil || width == inputs.columns),
      "\(what) seed \(seed): \(inputs.rows) × \(inputs.columns), expected \(rows ?? -1) × \(width ?? -1)",
      sourceLocation: sourceLocation)
    #expect(
      inputs.elements.allSatisfy { $0.isFinite }, "\(what) seed \(seed): non-finite input",
      sourceLocation: sourceLocation)
    if let classCount, case .labels(let labels) = batch.targets {
      #expect(
        labels.count == inputs.rows && labels.allSatisfy { $0 >= 0 && $0 < classCount },
        "\(what) seed \(seed): labels \(labels)", sourceLocation: sourceLocation)
    }
  }

  // MARK: - IDX

  static func idx(type: UInt8, sizes: [UInt32], data: [UInt8]) -> [UInt8] {
    [0, 0, type, UInt8(sizes.count)]
      + sizes.flatMap { size in (0..<4).map { UInt8(truncatingIfNeeded: size >> (24 - 8 * $0)) } }
      + data
  }

  static let idxBases: [[UInt8]] = [
    idx(type: 0x08, sizes: [3, 2, 2], data: Array(0..<12)),
    idx(type: 0x08, sizes: [4], data: [0, 1, 2, 1]),
    idx(type: 0x0B, sizes: [2, 2], data: [0xFF, 0xFE, 0x01, 0x00, 0, 7, 0x80, 0]),
    idx(
      type: 0x0D, sizes: [2, 1],
      data: [Float(1.5), -2].flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian, Array.init) }),
    idx(
      type: 0x0E, sizes: [1, 2, 1],
      data: [2.5, 1e300].flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian, Array.init) }),
  ]

  @Test func idxFilesLoadOrThrow() {
    Self.forEverySeed("IDX") { seed, rng throws(MinibatchError) in
      let base = Self.idxBases.randomElement(using: &rng)!
      let dimensions = Int(base[3])
      let bytes = Self.mutated(
        base, sizeOffsets: (0..<dimensions).map { 4 + 4 * $0 }, using: &rng)
      let images = try IDXLoader.read(bytes: bytes, path: "fuzz-\(seed)")
      Self.expectConsistent(images, "IDX", seed: seed)
      // As images, with as many labels as the first size says (when that is small).
      let n = images.shape[0]
      guard n <= 1 << 16 else { return }
      let labels = NumericArray(
        shape: [n], values: (0..<n).map { Double($0 % 3) })
      let batch = try IDXLoader.batch(Double.self, images: images, labels: labels, classCount: 3)
      Self.expectConsistent(
        batch, rows: n, width: Self.product(Array(images.shape.dropFirst())), classCount: 3,
        "IDX images", seed: seed)
      // As labels of images of one value each.
      let asLabels = NumericArray(
        shape: [images.values.count, 1], values: images.values.map { _ in 1 })
      if images.shape.count == 1, images.values.count >= 1 {
        let labelled = try IDXLoader.batch(
          Float.self, images: asLabels, labels: images, classCount: 10)
        Self.expectConsistent(
          labelled, rows: images.values.count, width: 1, classCount: 10, "IDX labels", seed: seed)
      }
    }
  }

  /// A file on disk goes through the same reader, and the loader of two files through the
  /// same batch builder.
  @Test func idxFilesOnDiskLoadOrThrow() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-fuzz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let labels = directory.appendingPathComponent("labels").path
    try Data(Self.idx(type: 0x08, sizes: [3], data: [0, 1, 2])).write(
      to: URL(fileURLWithPath: labels))
    var rng = SeededGenerator(seed: 20)
    for seed in 0..<100 {
      let bytes = Self.mutated(Self.idxBases[0], sizeOffsets: [4, 8, 12], using: &rng)
      let images = directory.appendingPathComponent("images-\(seed)").path
      try Data(bytes).write(to: URL(fileURLWithPath: images))
      do {
        let batch = try IDXLoader.load(Double.self, images: images, labels: labels, classCount: 3)
        Self.expectConsistent(batch, rows: 3, width: nil, classCount: 3, "IDX file", seed: 0)
      } catch {
        _ = error  // MinibatchError, by the type of load
      }
    }
  }

  // MARK: - .npy

  static func npy(_ header: String, _ data: [UInt8], version: UInt8 = 1) -> [UInt8] {
    let prefix = 6 + 2 + (version == 1 ? 2 : 4)
    var text = header
    while (prefix + text.utf8.count + 1) % 64 != 0 { text += " " }
    text += "\n"
    let length = text.utf8.count
    return [0x93] + Array("NUMPY".utf8) + [version, 0]
      + (version == 1
        ? [UInt8(length & 0xFF), UInt8(length >> 8)]
        : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]) + Array(text.utf8) + data
  }

  static func littleEndian(_ values: [Double]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
  }

  /// Shapes that break arithmetic, as a header writes them.
  static let awkwardShapes = [
    "()", "(0,)", "(0, 18446744073709551615)", "(0, 9223372036854775807, 9223372036854775807)",
    "(4294967295, 4294967295)", "(3037000500, 3037000500)", "(-1, 2)", "(2, -0)", "(1,,2)",
    "(99999999999999999999,)", "(2, 3", "(6,)", "(3, 2)", "(0, 0)",
  ]

  static let npyBases: [(header: String, data: [UInt8], version: UInt8)] = [
    (
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
      littleEndian([1, 2, 3, 4, 5, 6]), 1
    ),
    (
      "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
      littleEndian([1, 4, 2, 5, 3, 6]), 2
    ),
    ("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", [2, 0, 1], 1),
    ("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", [0xFF, 0xFE, 0x01, 0x00], 3),
    (
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1), }",
      [Float(0.5), 7].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }, 1
    ),
  ]

  @Test func npyFilesLoadOrThrow() {
    Self.forEverySeed("npy") { seed, rng throws(MinibatchError) in
      var (header, data, version) = Self.npyBases.randomElement(using: &rng)!
      if Bool.random(using: &rng),
        let range = header.range(of: #"\([^)]*\)"#, options: .regularExpression)
      {
        header.replaceSubrange(range, with: Self.awkwardShapes.randomElement(using: &rng)!)
      }
      let bytes = Self.mutated(Self.npy(header, data, version: version), using: &rng)
      let array = try NPYLoader.read(bytes: bytes, path: "fuzz-\(seed)")
      Self.expectConsistent(array, ".npy", seed: seed)
      // As inputs with labels, and as labels of one-feature inputs.
      let rows = array.shape.first ?? 1
      guard rows <= 1 << 16 else { return }
      let inputs = try NPYLoader.matrix(Double.self, array, of: "inputs")
      Self.expectConsistent(
        try Batch(inputs: inputs, targets: .labels([Int](repeating: 0, count: inputs.rows))),
        rows: rows, width: Self.product(Array(array.shape.dropFirst())), classCount: 2,
        ".npy inputs", seed: seed)
      let labels = try classLabels(array.values, classCount: 4)
      #expect(labels.allSatisfy { $0 >= 0 && $0 < 4 }, ".npy labels seed \(seed)")
    }
  }

  /// The memory-mapped source on the same mutated files, written to disk, as inputs and as
  /// targets: it maps what the loader reads — with the rows the loader returns, bit for bit —
  /// and refuses what the loader refuses (and Fortran-order files of more than one axis, whose
  /// rows are not contiguous); it never traps, and never allocates what a header claims.
  @Test func mappedNPYFilesAgreeWithTheLoader() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-fuzz-mapped-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    /// One-feature inputs or labels of `rows` rows, written once per count.
    var written: [String: String] = [:]
    func file(_ name: String, rows: Int, value: Double) -> String {
      if let path = written["\(name)-\(rows)"] { return path }
      let path = directory.appendingPathComponent("\(name)-\(rows).npy").path
      let bytes = Self.npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (\(rows),), }",
        Self.littleEndian([Double](repeating: value, count: rows)))
      try? Data(bytes).write(to: URL(fileURLWithPath: path))
      written["\(name)-\(rows)"] = path
      return path
    }
    func outcome(_ body: () throws -> Batch<Double>) -> Batch<Double>? { try? body() }
    Self.forEverySeed("mapped npy") { seed, rng throws(MinibatchError) in
      var (header, data, version) = Self.npyBases.randomElement(using: &rng)!
      if Bool.random(using: &rng),
        let range = header.range(of: #"\([^)]*\)"#, options: .regularExpression)
      {
        header.replaceSubrange(range, with: Self.awkwardShapes.randomElement(using: &rng)!)
      }
      let bytes = Self.mutated(Self.npy(header, data, version: version), using: &rng)
      let path = directory.appendingPathComponent("fuzz-\(seed).npy").path
      guard (try? Data(bytes).write(to: URL(fileURLWithPath: path))) != nil else { return }
      defer { try? FileManager.default.removeItem(atPath: path) }
      let parsed = bytes.withUnsafeBytes { try? NPYHeader($0, path: path) }
      let rowMajor = parsed?.isRowMajor ?? true
      let rows = parsed.map { $0.shape.first ?? 1 } ?? 3
      let count = parsed?.count ?? 3
      guard rows <= 4096, count <= 4096 else {
        // Only the header and the file's length are read for a huge shape: a refusal.
        let labels = file("labels", rows: 3, value: 0)
        let mapped = outcome {
          try MemoryMappedNPY<Double>(inputs: path, labels: labels, classCount: 2).gathering([0])
        }
        #expect(mapped == nil, "mapped npy seed \(seed): a huge shape was mapped")
        return
      }
      // As inputs, with one label per row.
      let labels = file("labels", rows: rows, value: 1)
      let loaded = outcome {
        try NPYLoader.load(Double.self, inputs: path, labels: labels, classCount: 2)
      }
      let mapped = outcome {
        let source = try MemoryMappedNPY<Double>(inputs: path, labels: labels, classCount: 2)
        return try source.gathering(source.heldExamples)
      }
      if let mapped {
        #expect(mapped == loaded, "mapped npy seed \(seed): rows differ from the loader's")
      } else if loaded != nil {
        #expect(!rowMajor, "mapped npy seed \(seed): the loader reads what the map refuses")
      }
      // As real-valued targets of one-feature inputs, and as labels.
      let valueInputs = file("inputs", rows: rows, value: 0.5)
      let loadedValues = outcome {
        try NPYLoader.load(Double.self, inputs: valueInputs, values: path)
      }
      let mappedValues = outcome {
        let source = try MemoryMappedNPY<Double>(inputs: valueInputs, values: path)
        return try source.gathering(source.heldExamples)
      }
      #expect(
        mappedValues == loadedValues || (mappedValues == nil && !rowMajor),
        "mapped npy seed \(seed): values differ from the loader's")
      let labelInputs = file("inputs", rows: count, value: 0.25)
      let loadedLabels = outcome {
        try NPYLoader.load(Double.self, inputs: labelInputs, labels: path, classCount: 4)
      }
      let mappedLabels = outcome {
        let source = try MemoryMappedNPY<Double>(inputs: labelInputs, labels: path, classCount: 4)
        return try source.gathering(source.heldExamples)
      }
      #expect(
        mappedLabels == loadedLabels || (mappedLabels == nil && !rowMajor),
        "mapped npy seed \(seed): labels differ from the loader's")
    }
  }

  // MARK: - CSV

  static let csvBases = [
    "a,b,label\n1,2,0\n3.5,-4e-3,1\n5,6,2\n",
    "0,1.5,2\n1,3,4\n0,5,6\n",
    "\u{FEFF}x;y;z\r\n1;2;1\r\n3;4;0\r\n",
    "1.5\t2\t0\n\n2.5\t3\t1\n",
  ]
  /// Text that breaks CSV: delimiters, line ends, signs, exponents, non-decimals, a BOM.
  static let csvGarbage = [
    ",", ";", "\t", "\n", "\r", "\r\n", "-", "+", ".", "e", "E", "e999", "1e-400", "0x10", "inf",
    "nan", " ", "\u{FEFF}", "99999999999999999999", "9223372036854775808", "é", "\"", "",
  ]

  @Test func csvTextLoadsOrThrows() {
    Self.forEverySeed("CSV") { seed, rng throws(MinibatchError) in
      var text = Self.csvBases.randomElement(using: &rng)!
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let offset = Int.random(in: 0...text.count, using: &rng)
        let index = text.index(text.startIndex, offsetBy: offset)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: text.insert(contentsOf: Self.csvGarbage.randomElement(using: &rng)!, at: index)
        case 1: text = String(text[..<index])
        default:
          if index < text.endIndex { text.remove(at: index) }
        }
      }
      if Bool.random(using: &rng) {
        // Byte-level damage, repaired into a String as a file's UTF-8 check would refuse it.
        text = String(decoding: Self.mutated(Array(text.utf8), using: &rng), as: UTF8.self)
      }
      let delimiter: Character = text.contains(";") ? ";" : text.contains("\t") ? "\t" : ","
      let labelled = CSVLoader(
        targets: .labels(classCount: 3, column: Bool.random(using: &rng) ? .last : .index(0)),
        delimiter: delimiter)
      do {
        let batch: Batch<Float> = try labelled.parse(text, path: "fuzz-\(seed)")
        Self.expectConsistent(batch, rows: nil, width: nil, classCount: 3, "CSV", seed: seed)
      } catch {
        _ = error
      }
      let valued = CSVLoader(targets: .values(columns: [.index(1)]), delimiter: delimiter)
      let batch: Batch<Double> = try valued.parse(text, path: "fuzz-\(seed)")
      Self.expectConsistent(batch, rows: nil, width: nil, classCount: nil, "CSV values", seed: seed)
      if case .values(let targets) = batch.targets {
        #expect(
          targets.rows == batch.count && targets.columns == 1
            && targets.elements.allSatisfy { $0.isFinite }, "CSV values seed \(seed)")
      }
    }
  }
}
