import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// The memory-mapped `.npy` source against the loader: the same rows, bit for bit, for every
/// element type, shape and target kind the loader reads; shards that partition the rows; errors
/// that name the file; resident memory that stays bounded.
@Suite struct MemoryMappedNPYTests {
  /// Every element type, both byte orders.
  static let types = [
    "<f4", ">f4", "<f8", ">f8", "|u1", "|i1", "<u2", ">i2", "<i4", ">u4", "<i8", ">u8",
  ]

  /// Values `descr` holds exactly: fractions (and a large magnitude) for floats, in-range
  /// integers (up to 2³¹ + 1, which Float rounds) for integers.
  static func values(_ count: Int, descr: String, seed: UInt64) -> [Double] {
    var rng = SeededGenerator(seed: seed)
    let kind = descr.dropFirst().first!
    let size = Int(descr.dropFirst(2))!
    return (0..<count).map { i in
      switch kind {
      case "f":
        let value = Double(Int(rng.next() % 2001) - 1000) / 64
        return i == 1 ? value * 1e30 : value
      case "u": return Double(rng.next() % (size == 1 ? 256 : size == 2 ? 65_536 : 1 << 31 + 2))
      default:
        let span: UInt64 = size == 1 ? 256 : size == 2 ? 65_536 : 1 << 32
        return Double(Int64(rng.next() % span) - Int64(span / 2))
      }
    }
  }

  /// The same bits (inputs, their norms and targets), not only `==`.
  static func expectSameBits<Scalar: BLASScalar>(
    _ a: Batch<Scalar>, _ b: Batch<Scalar>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let bits = { (batch: Batch<Scalar>) in batch.inputs.elements.withUnsafeBytes { Array($0) } }
    #expect(
      bits(a) == bits(b) && a.inputs.columns == b.inputs.columns && a.targets == b.targets
        && a.inputSquaredNorms == b.inputSquaredNorms, "\(what)", sourceLocation: sourceLocation)
  }

  static func remove(_ paths: String...) {
    for path in paths { try? FileManager.default.removeItem(atPath: path) }
  }

  /// Shapes: a table, one feature (1-D and `(N, 1)`), one row, images `(N, 2, 3)`.
  static let shapes: [[Int]] = [[9, 3], [9], [9, 1], [1, 4], [5, 2, 3]]

  func checkGathering<Scalar: BLASScalar>(_: Scalar.Type, descr: String) throws {
    for (s, shape) in Self.shapes.enumerated() {
      let n = shape[0]
      let width = shape.dropFirst().reduce(1, *)
      let x = try NPYFile.write(
        Self.values(n * width, descr: descr, seed: UInt64(s)), shape: shape, descr: descr)
      let integral = descr.dropFirst().first != "f"
      let labels = try NPYFile.write(
        (0..<n).map { Double(($0 * 7) % 3) }, shape: [n], descr: integral ? descr : "<i8")
      let values = try NPYFile.write(
        Self.values(n * 2, descr: "<f8", seed: 99), shape: [n, 2], descr: ">f8")
      let oneValue = try NPYFile.write(Self.values(n, descr: "<f4", seed: 7), shape: [n])
      defer { Self.remove(x, labels, values, oneValue) }
      let what = "\(Scalar.self) \(descr) \(shape)"

      let loaded = try NPYLoader.load(Scalar.self, inputs: x, labels: labels, classCount: 3)
      let mapped = try MemoryMappedNPY<Scalar>(inputs: x, labels: labels, classCount: 3)
      #expect(mapped.exampleCount == n && mapped.heldExamples == 0..<n, "\(what)")
      #expect(mapped.featureCount == width && mapped.classCount == 3, "\(what)")
      #expect(mapped.exampleShape == (shape.count > 1 ? Array(shape.dropFirst()) : [1]))
      var rng = SeededGenerator(seed: 3)
      let orders: [[Int]] = [
        [0], [n - 1], Array(0..<n), Array((0..<n).reversed()),
        (0..<(2 * n)).map { _ in Int(rng.next() % UInt64(n)) },
      ]
      for indices in orders {
        Self.expectSameBits(
          try mapped.gathering(indices), try loaded.gathering(indices), "\(what) \(indices)")
      }
      Self.expectSameBits(try mapped.gathering(0..<n), loaded, "\(what) range")
      var firsts: [Int] = []
      var rows: [Batch<Scalar>] = []
      try mapped.forEachPiece(maximumCount: 2) { first, piece in
        firsts.append(first)
        rows.append(piece)
      }
      #expect(firsts == Array(stride(from: 0, to: n, by: 2)) && rows.allSatisfy { $0.count <= 2 })
      for (first, piece) in zip(firsts, rows) {
        Self.expectSameBits(
          piece, try loaded.gathering(first..<(first + piece.count)), "\(what) piece \(first)")
      }
      #expect(mapped.fingerprint == loaded.fingerprint, "\(what)")

      for targets in [values, oneValue] {
        let regression = try NPYLoader.load(Scalar.self, inputs: x, values: targets)
        let mappedValues = try MemoryMappedNPY<Scalar>(inputs: x, values: targets)
        #expect(mappedValues.classCount == nil)
        #expect(mappedValues.targetCount == (targets == values ? 2 : 1))
        for indices in orders {
          Self.expectSameBits(
            try mappedValues.gathering(indices), try regression.gathering(indices),
            "\(what) values \(indices)")
        }
        #expect(mappedValues.fingerprint == regression.fingerprint)
      }
    }
  }

  @Test(arguments: types) func floatRowsAreTheLoadersBitForBit(descr: String) throws {
    try checkGathering(Float.self, descr: descr)
  }

  @Test(arguments: types) func doubleRowsAreTheLoadersBitForBit(descr: String) throws {
    try checkGathering(Double.self, descr: descr)
  }

  /// Fortran order where the layouts coincide (one axis above 1) reads as C order; `(N, 1)` too.
  @Test func fortranOrderOfOneAxisIsRead() throws {
    let values = (0..<6).map(Double.init)
    let column = try NPYFile.write(values, shape: [6, 1], fortranOrder: true)
    let labels = try NPYFile.write(
      [0, 1, 0, 1, 0, 1], shape: [6], descr: "|u1", fortranOrder: true)
    defer { Self.remove(column, labels) }
    let mapped = try MemoryMappedNPY<Double>(inputs: column, labels: labels, classCount: 2)
    let loaded = try NPYLoader.load(Double.self, inputs: column, labels: labels, classCount: 2)
    Self.expectSameBits(try mapped.gathering(0..<6), loaded, "fortran (6, 1)")
  }

  /// A collective of a given rank and size that never communicates (for ``slice(of:)``).
  struct Place: ReductionCollective {
    var rank: Int
    var size: Int
    func sum(_ values: inout [Double]) throws(MinibatchError) {}
    func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]] { [record] }
  }

  @Test func shardsPartitionTheRowsAsSliceDoes() throws {
    for (n, shardCount) in [(10, 1), (10, 2), (10, 3), (11, 4), (3, 5)] {
      let x = try NPYFile.write(
        Self.values(n * 2, descr: "<f4", seed: 4), shape: [n, 2], descr: "<f4")
      let labels = try NPYFile.write((0..<n).map { Double($0 % 2) }, shape: [n], descr: "<i8")
      defer { Self.remove(x, labels) }
      let loaded = try NPYLoader.load(Float.self, inputs: x, labels: labels, classCount: 2)
      let shards = try (0..<shardCount).map { shard in
        try MemoryMappedNPY<Float>(
          inputs: x, labels: labels, classCount: 2, shard: shard, of: shardCount)
      }
      let ranges = shards.map(\.heldExamples)
      #expect(
        ranges == (0..<shardCount).map { Place(rank: $0, size: shardCount).slice(of: n) },
        "\(n) rows, \(shardCount) shards")
      #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n)
      #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
      #expect(ranges.allSatisfy { abs($0.count - n / shardCount) <= 1 })
      for (shard, source) in shards.enumerated() {
        #expect(source.exampleCount == n)
        let held = source.heldExamples
        var covered: [Int] = []
        try source.forEachPiece(maximumCount: 2) { (first, piece) throws(MinibatchError) in
          Self.expectSameBits(
            piece, try loaded.gathering(first..<(first + piece.count)), "shard \(shard)")
          covered += first..<(first + piece.count)
        }
        #expect(covered == Array(held))
        guard !held.isEmpty else { continue }
        Self.expectSameBits(
          try source.gathering(held.reversed()), try loaded.gathering(held.reversed()),
          "shard \(shard) of \(shardCount)")
        #expect(source.fingerprint == (try loaded.gathering(held)).fingerprint)
        for outside in [held.lowerBound - 1, held.upperBound] where outside >= -1 {
          expectError(
            .indexOutOfRange(
              index: outside, count: n,
              of: shardCount == 1
                ? "example of \(x)" : "example (this source holds rows \(held) of \(x))")
          ) { try source.gathering([held.lowerBound, outside]) }
        }
      }
    }
  }

  @Test func rowsChooseTheHeldRange() throws {
    let x = try NPYFile.write(Self.values(14, descr: "<f8", seed: 5), shape: [7, 2])
    let y = try NPYFile.write(Self.values(7, descr: "<f8", seed: 6), shape: [7])
    defer { Self.remove(x, y) }
    let loaded = try NPYLoader.load(Double.self, inputs: x, values: y)
    let part = try MemoryMappedNPY<Double>(inputs: x, values: y, rows: 2..<5)
    #expect(part.heldExamples == 2..<5 && part.exampleCount == 7)
    Self.expectSameBits(try part.gathering([4, 2, 3]), try loaded.gathering([4, 2, 3]), "rows")
    let none = try MemoryMappedNPY<Double>(inputs: x, values: y, rows: 7..<7)
    var pieces = 0
    try none.forEachPiece(maximumCount: 4) { _, _ in pieces += 1 }
    #expect(pieces == 0 && none.heldExamples.isEmpty)
    expectError(
      .invalidArgument(
        name: "rows", value: "5..<9", expected: "a range within the rows 0..<7 of \(x)")
    ) { try MemoryMappedNPY<Double>(inputs: x, values: y, rows: 5..<9) }
    expectError(.invalidArgument(name: "shard", value: "3", expected: "0..<3")) {
      try MemoryMappedNPY<Double>(inputs: x, values: y, shard: 3, of: 3)
    }
    expectError(.invalidArgument(name: "shard count", value: "0", expected: "≥ 1")) {
      try MemoryMappedNPY<Double>(inputs: x, values: y, shard: 0, of: 0)
    }
    expectError(.invalidArgument(name: "piece size", value: "0", expected: "≥ 1")) {
      try part.forEachPiece(maximumCount: 0) { _, _ in }
    }
    expectError(.emptyBatch) { try part.gathering([Int]()) }
  }

  // MARK: - Errors

  /// The loader's own error, for a file both refuse.
  static func loaderError(_ path: String) -> MinibatchError? {
    do {
      _ = try NPYLoader.read(path: path)
      return nil
    } catch {
      return error
    }
  }

  static func file(_ bytes: [UInt8]) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-\(UUID().uuidString).npy"
    ).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test func malformedFilesAreRefusedAsTheLoaderRefusesThem() throws {
    let good = NPYFile.bytes(
      descr: "<f8", shape: [3, 2], payload: NPYFile.payload([1, 2, 3, 4, 5, 6], descr: "<f8"))
    let labels = try NPYFile.write([0, 1, 0], shape: [3], descr: "<i8")
    let truncated = try Self.file(Array(good.dropLast(3)))
    let trailing = try Self.file(good + [0])
    let noMagic = try Self.file(Array("hello, world".utf8))
    let objects = try Self.file(NPYFile.bytes(descr: "|O", shape: [3], payload: [0, 0, 0]))
    let empty = try Self.file([])
    defer { Self.remove(labels, truncated, trailing, noMagic, objects, empty) }
    for path in [truncated, trailing, noMagic, objects, empty] {
      let expected = try #require(Self.loaderError(path))
      expectError(expected) {
        try MemoryMappedNPY<Float>(inputs: path, labels: labels, classCount: 2)
      }
      // As the targets file, too.
      let inputs = try NPYFile.write([1, 2, 3], shape: [3])
      defer { Self.remove(inputs) }
      expectError(expected) { try MemoryMappedNPY<Float>(inputs: inputs, values: path) }
    }
    if case .fileUnreadable(let path, let reason)? = Self.loaderError(truncated) {
      #expect(path == truncated && reason.contains("the file ends after 45 of 48 data bytes"))
    } else {
      Issue.record("the truncated file was not refused")
    }
  }

  /// Shapes whose data would not fit in memory (or in `Int`): the checked products refuse them
  /// from the header and the file's length, without allocating.
  @Test func shapesBeyondTheFileAreRefusedWithoutAllocating() throws {
    let labels = try NPYFile.write([0], shape: [1], descr: "<i8")
    let huge = try Self.file(NPYFile.bytes(descr: "<f4", shape: [1 << 30, 1 << 30], payload: [1]))
    let overflowing = try Self.file(
      NPYFile.bytes(descr: "<f8", shape: [1 << 31, 1 << 31], payload: [1]))
    let product = try Self.file(
      NPYFile.bytes(descr: "<f8", shape: [4_294_967_295, 4_294_967_295], payload: []))
    defer { Self.remove(labels, huge, overflowing, product) }
    func reason(_ path: String) -> String {
      do {
        _ = try MemoryMappedNPY<Float>(inputs: path, labels: labels, classCount: 2)
        return "accepted"
      } catch {
        return "\(error)"
      }
    }
    #expect(reason(huge).contains("the file ends after 1 of 4611686018427387904 data bytes"))
    #expect(reason(overflowing).contains("the file ends after 1 of more than"))
    #expect(reason(product).contains("overflows"))
    for path in [huge, overflowing, product] { #expect(reason(path).contains(path)) }
  }

  @Test func refusalsNameTheFile() throws {
    let x = try NPYFile.write(Self.values(14, descr: "<f8", seed: 1), shape: [7, 2])
    let sixLabels = try NPYFile.write([0, 1, 2, 0, 1, 2], shape: [6], descr: "|u1")
    let badLabel = try NPYFile.write([0, 1, 2, 0, 1, 9, 0], shape: [7], descr: "<i4")
    let half = try NPYFile.write([0, 1, 2, 0.5, 1, 2, 0], shape: [7])
    let fortran = try NPYFile.write(
      Self.values(14, descr: "<f8", seed: 1), shape: [7, 2], fortranOrder: true)
    let noRows = try NPYFile.write([], shape: [0, 3])
    let noFeatures = try NPYFile.write([], shape: [7, 0])
    let sixValues = try NPYFile.write(Self.values(12, descr: "<f8", seed: 2), shape: [6, 2])
    var withNaN = Self.values(14, descr: "<f8", seed: 1)
    withNaN[11] = .nan
    let nanInputs = try NPYFile.write(withNaN, shape: [7, 2])
    let infiniteTarget = try NPYFile.write([0, 1, 2, .infinity, 4, 5, 6], shape: [7])
    let folder = FileManager.default.temporaryDirectory.path
    let missing = folder + "/minibatch-no-such-\(UUID().uuidString).npy"
    defer {
      Self.remove(
        x, sixLabels, badLabel, half, fortran, noRows, noFeatures, sixValues, nanInputs,
        infiniteTarget)
    }
    expectError(
      .shapeMismatch(expected: 7, got: 6, of: "labels in \(sixLabels) (one per input row of \(x))")
    ) {
      try MemoryMappedNPY<Float>(inputs: x, labels: sixLabels, classCount: 3)
    }
    expectError(
      .shapeMismatch(
        expected: 7, got: 6, of: "target rows in \(sixValues) (one per input row of \(x))")
    ) { try MemoryMappedNPY<Float>(inputs: x, values: sixValues) }
    // Only the held rows' labels are read: the bad one (row 5) stops the shard that holds it.
    expectError(.labelOutOfRange(index: 5, label: 9, classCount: 3)) {
      try MemoryMappedNPY<Float>(inputs: x, labels: badLabel, classCount: 3, rows: 4..<7)
    }
    #expect(
      try MemoryMappedNPY<Float>(inputs: x, labels: badLabel, classCount: 3, rows: 0..<5)
        .heldExamples == 0..<5)
    expectError(.nonIntegerLabel(index: 3, value: 0.5, classCount: 3)) {
      try MemoryMappedNPY<Double>(inputs: x, labels: half, classCount: 3)
    }
    expectError(.invalidArgument(name: "class count", value: "1", expected: "≥ 2")) {
      try MemoryMappedNPY<Double>(inputs: x, labels: half, classCount: 1)
    }
    do {
      _ = try MemoryMappedNPY<Float>(inputs: fortran, labels: badLabel, classCount: 10)
      Issue.record("a Fortran-order table was mapped")
    } catch .fileUnreadable(let path, let reason) {
      #expect(path == fortran && reason.contains("Fortran (column) order"), "\(reason)")
    }
    expectError(.emptyFile(path: noRows)) {
      try MemoryMappedNPY<Float>(inputs: noRows, labels: sixLabels, classCount: 3)
    }
    expectError(
      .fileUnreadable(path: noFeatures, reason: "its examples have no values (shape [7, 0])")
    ) { try MemoryMappedNPY<Float>(inputs: noFeatures, labels: badLabel, classCount: 10) }
    expectError(.fileUnreadable(path: missing, reason: "no such file")) {
      try MemoryMappedNPY<Float>(inputs: missing, labels: sixLabels, classCount: 3)
    }
    expectError(.fileUnreadable(path: folder, reason: "it is a folder, not a file")) {
      try MemoryMappedNPY<Float>(inputs: x, labels: folder, classCount: 3)
    }
    expectError(.nonFiniteEntry(row: 3, column: 0, of: "targets in \(infiniteTarget)")) {
      try MemoryMappedNPY<Float>(inputs: x, values: infiniteTarget)
    }
    // A non-finite input is reported by the read that meets it, with its global row.
    let nan = try MemoryMappedNPY<Float>(inputs: nanInputs, labels: badLabel, classCount: 10)
    #expect(try nan.gathering([0, 4, 6]).count == 3)
    expectError(.nonFiniteEntry(row: 5, column: 1, of: "inputs in \(nanInputs)")) {
      try nan.gathering([2, 5])
    }
    expectError(.nonFiniteEntry(row: 5, column: 1, of: "inputs in \(nanInputs)")) {
      try nan.forEachPiece(maximumCount: 3) { _, _ in }
    }
  }

  // MARK: - Resident memory

  /// The resident bytes of the mapping that starts at `base`, from `/proc/self/smaps` (the
  /// mapping's own figure: other tests' memory does not enter it).
  static func residentBytes(ofMappingAt base: UnsafeRawPointer) throws -> Int {
    // Read to the end: /proc files report a size of 0.
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
    defer { try? handle.close() }
    let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    let start = String(UInt(bitPattern: base), radix: 16)
    var inside = false
    for line in smaps.split(separator: "\n") {
      if let dash = line.firstIndex(of: "-"), line[..<dash].allSatisfy(\.isHexDigit),
        line.contains(" ")
      {
        inside = line[..<dash].drop { $0 == "0" } == start.drop { $0 == "0" }
      } else if inside, line.hasPrefix("Rss:") {
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        return (kilobytes ?? 0) * 1024
      }
    }
    throw MinibatchError.fileUnreadable(path: "/proc/self/smaps", reason: "no mapping at \(start)")
  }

  /// A pass and random gathers over a 48 MiB file keep the mapping's resident pages under the
  /// release interval (4 MiB here) plus one piece; without releases the pass leaves the whole
  /// file resident (the measurement sees the pages).
  @Test func residentPagesStayBounded() throws {
    let (rows, features) = (49_152, 256)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-rss-\(UUID().uuidString).npy"
    ).path
    var bytes = NPYFile.bytes(descr: "<f4", shape: [rows, features], payload: [])
    bytes += [UInt8](repeating: 0, count: rows * features * 4)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let labels = try NPYFile.write((0..<rows).map { Double($0 % 2) }, shape: [rows], descr: "|u1")
    defer { Self.remove(path, labels) }
    let mebibyte = 1 << 20
    func source(releasingEvery interval: Int) throws -> MemoryMappedNPY<Float> {
      try MemoryMappedNPY<Float>(
        inputs: path, targets: labels, classCount: 2, rows: { _ in nil },
        releaseInterval: interval)
    }
    func resident(_ source: MemoryMappedNPY<Float>) -> Int {
      source.storage.file.withUnsafeBytes { bytes in
        do {
          return try Self.residentBytes(ofMappingAt: bytes.baseAddress!)
        } catch {
          Issue.record("\(error)")
          return -1
        }
      }
    }

    let bounded = try source(releasingEvery: 4 * mebibyte)
    var peak = 0
    try bounded.forEachPiece(maximumCount: 1024) { _, _ in peak = max(peak, resident(bounded)) }
    #expect(peak > 0 && peak <= 10 * mebibyte, "pass: peak \(peak) bytes")
    #expect(resident(bounded) == 0)
    var rng = SeededGenerator(seed: 1)
    peak = 0
    for _ in 0..<100 {
      _ = try bounded.gathering((0..<16).map { _ in Int(rng.next() % UInt64(rows)) })
      peak = max(peak, resident(bounded))
    }
    #expect(peak > 0 && peak <= 10 * mebibyte, "gathers: peak \(peak) bytes")
    _ = bounded.fingerprint
    #expect(resident(bounded) == 0)

    let unbounded = try source(releasingEvery: Int.max)
    var last = 0
    try unbounded.forEachPiece(maximumCount: 1024) { _, _ in last = resident(unbounded) }
    #expect(last >= 40 * mebibyte, "without releases: \(last) bytes")
  }

  // MARK: - Fingerprints

  /// The fingerprint of pieces fed one after another is the fingerprint of their concatenation,
  /// whatever the cuts.
  @Test func fingerprintsOfPiecesAreTheWholes() {
    var rng = SeededGenerator(seed: 8)
    for count in [0, 1, 7, 8, 9, 63, 200] {
      let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      for _ in 0..<5 {
        var hasher = FingerprintHasher()
        var start = 0
        while start < count {
          let end = min(count, start + Int(rng.next() % 11))
          hasher.combine(Array(bytes[start..<end]))
          start = end
        }
        #expect(hasher.value == fingerprint(bytes), "\(count) bytes")
      }
    }
  }
}
