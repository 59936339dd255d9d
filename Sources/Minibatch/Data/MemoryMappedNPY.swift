import Synchronization

/// A training set in two `.npy` files — inputs `(N, …)` and targets — read where the files lie:
/// the inputs are mapped into memory (`mmap`, read-only), never copied whole, and
/// ``gathering(_:)`` converts only the rows asked for to `Scalar`. For data sets larger than
/// memory, and for the shard of a data set that one rank of a distributed run reads.
///
/// ```swift
/// let data = try MemoryMappedNPY<Float>(inputs: "x.npy", labels: "y.npy", classCount: 10)
/// try trainer.train(parameters: &w, data: data, epochs: 5)
/// // Rank r of P holds rows ⌊N·r/P⌋ ..< ⌊N·(r+1)/P⌋ (the split of ReductionCollective.slice(of:)):
/// let shard = try MemoryMappedNPY<Float>(
///   inputs: "x.npy", labels: "y.npy", classCount: 10, shard: world.rank, of: world.size)
/// ```
///
/// What is read, and when:
/// - **inputs** as ``NPYLoader`` reads them — `float32`, `float64`, signed and unsigned integers
///   of 1 to 8 bytes, either byte order — every example's values flattened to one row of
///   ``featureCount`` `= d` (the product of ``exampleShape``, for a network with an input shape),
///   in C order. A Fortran-order file of more than one axis is refused: its rows are not
///   contiguous. A gathered row has the bits of the loader's row (each value converted through
///   Double, as the loader converts it). Only their header is read at `init`; a NaN or infinite
///   input is reported by the ``gathering(_:)`` or ``forEachPiece(maximumCount:_:)`` that reads
///   it, with its global row.
/// - **targets** (one class label per input row, or `N` or `N × m` real values) are small beside
///   the inputs: the held rows' are read, checked and kept in memory at `init` (8 bytes per label,
///   `m` scalars per row of values).
///
/// Resident memory stays bounded: a page a read touches counts in the process's resident set
/// until it is unmapped from the process, so the source drops the mapping's resident pages
/// (`madvise(MADV_DONTNEED)`; the page cache keeps them) after every 64 MiB that gathers touch —
/// counted in the 2 MiB-aligned blocks a fault maps at once from a cached file with large folios,
/// so a small row counts as 2 MiB and a random gather releases every 32 rows — and at the end of
/// every ``forEachPiece(maximumCount:_:)``. Training one epoch on a 400 MB file peaks at a fraction
/// of it (README, "Data larger than memory").
///
/// The mapping is read-only and shared by copies of the source; it is unmapped when the last copy
/// goes. A file changed or truncated while it is mapped is undefined behaviour (as for any
/// `mmap` reader: a read past a truncated end stops the process with `SIGBUS`).
public struct MemoryMappedNPY<Scalar: BLASScalar>: ExampleSource {
  /// `N`, the rows of the inputs file (every shard's together).
  public let exampleCount: Int
  /// The rows this source reads: `0..<N`, or the shard given at `init`.
  public let heldExamples: Range<Int>
  /// One example's shape: the inputs file's shape without its first size (`[d]` for a 2-D file,
  /// `[c, h, w]` for `(N, c, h, w)`, `[1]` for a 1-D file).
  public let exampleShape: [Int]
  /// `d`, the values per example (the product of ``exampleShape``).
  public let featureCount: Int
  /// The classes (labels in `0..<classCount`), or `nil` for real-valued targets.
  public let classCount: Int?
  /// Targets per example: 1 for labels, `m` for real values.
  public let targetCount: Int
  /// The inputs file and the targets file, as given.
  public let inputsPath: String
  public let targetsPath: String

  /// The held rows' labels (or `nil`), in row order.
  private let labels: [Int]?
  /// The held rows' real-valued targets (or `nil`), `held × targetCount`, row-major.
  private let values: [Scalar]?
  let storage: Storage

  /// The mapped inputs, shared by copies of the source.
  final class Storage: Sendable {
    let file: MappedFile
    let header: NPYHeader
    /// ``fingerprint``, computed on first use.
    let fingerprint = Mutex<String?>(nil)

    init(file: MappedFile, header: NPYHeader) {
      self.file = file
      self.header = header
    }
  }

  /// Inputs and integer class labels in `0..<classCount` (any integer or float type holding whole
  /// numbers; one per input row, in any shape of `N` elements), holding `rows` of the file's
  /// `0..<N` (`nil`: all of them).
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a missing, unmappable or
  ///   malformed file (as ``NPYLoader/read(path:)`` says it: the byte offset of a bad header, a
  ///   truncated file or trailing bytes), a Fortran-order file of more than one axis, examples of
  ///   no values; ``MinibatchError/emptyFile(path:)`` for inputs of no rows;
  ///   ``MinibatchError/shapeMismatch(expected:got:of:)`` naming both files when the labels are
  ///   not one per input row; ``MinibatchError/nonIntegerLabel(index:value:classCount:)`` and
  ///   ``MinibatchError/labelOutOfRange(index:label:classCount:)`` for a held label that is not
  ///   a class (with its row); ``MinibatchError/invalidArgument(name:value:expected:)`` for
  ///   `classCount < 2` or `rows` outside `0..<N`.
  public init(
    inputs: String, labels: String, classCount: Int, rows: Range<Int>? = nil
  ) throws(MinibatchError) {
    try self.init(
      inputs: inputs, targets: labels, classCount: classCount, rows: { _ in rows },
      releaseInterval: MappedFile.defaultReleaseInterval)
  }

  /// Inputs and real-valued targets, `N` values or `N × m` (one row per input row), holding
  /// `rows` of the file's `0..<N` (`nil`: all of them).
  ///
  /// - Throws: as ``init(inputs:labels:classCount:rows:)``, and
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` for a NaN or infinite held target.
  public init(inputs: String, values: String, rows: Range<Int>? = nil) throws(MinibatchError) {
    try self.init(
      inputs: inputs, targets: values, classCount: nil, rows: { _ in rows },
      releaseInterval: MappedFile.defaultReleaseInterval)
  }

  /// Shard `shard` of `shardCount` of the file's rows, with labels: rows
  /// `⌊N·shard/shardCount⌋ ..< ⌊N·(shard + 1)/shardCount⌋`, the split
  /// ``ReductionCollective/slice(of:)`` makes (pass a collective's `rank` and `size`). The shards
  /// of `0..<shardCount` partition `0..<N`; with more shards than rows some are empty.
  ///
  /// - Throws: as ``init(inputs:labels:classCount:rows:)``, and
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` unless
  ///   `0 ≤ shard < shardCount`.
  public init(
    inputs: String, labels: String, classCount: Int, shard: Int, of shardCount: Int
  ) throws(MinibatchError) {
    try Self.validateShard(shard, of: shardCount)
    try self.init(
      inputs: inputs, targets: labels, classCount: classCount,
      rows: { contiguousShare(of: $0, part: shard, parts: shardCount) },
      releaseInterval: MappedFile.defaultReleaseInterval)
  }

  /// Shard `shard` of `shardCount` of the file's rows, with real-valued targets (see
  /// ``init(inputs:labels:classCount:shard:of:)``).
  public init(
    inputs: String, values: String, shard: Int, of shardCount: Int
  ) throws(MinibatchError) {
    try Self.validateShard(shard, of: shardCount)
    try self.init(
      inputs: inputs, targets: values, classCount: nil,
      rows: { contiguousShare(of: $0, part: shard, parts: shardCount) },
      releaseInterval: MappedFile.defaultReleaseInterval)
  }

  static func validateShard(_ shard: Int, of shardCount: Int) throws(MinibatchError) {
    try validateArgument(shardCount, named: "shard count", expected: "≥ 1", shardCount >= 1)
    try validateArgument(
      shard, named: "shard", expected: "0..<\(shardCount)", (0..<shardCount).contains(shard))
  }

  /// The one initialiser: `rows` chooses the held rows from `N`; `classCount` `nil` reads real
  /// values; `releaseInterval` is the bytes gathers may touch between releases (tests lower it).
  init(
    inputs: String, targets: String, classCount: Int?, rows: (Int) -> Range<Int>?,
    releaseInterval: Int
  ) throws(MinibatchError) {
    if let classCount {
      try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    }
    let file = try MappedFile(path: inputs, releaseInterval: releaseInterval)
    let header = try file.withUnsafeBytes { (bytes) throws(MinibatchError) in
      try Self.header(of: bytes, path: inputs)
    }
    let count = header.shape.first ?? 1
    guard count > 0 else { throw .emptyFile(path: inputs) }
    guard header.width > 0 else {
      throw .fileUnreadable(
        path: inputs, reason: "its examples have no values (shape \(header.shape))")
    }
    try Matrix<Scalar>.validateShape(
      rows: 1, columns: header.width, columnName: "values per example of \(inputs)")
    let held = rows(count) ?? 0..<count
    guard held.lowerBound >= 0, held.upperBound <= count else {
      throw .invalidArgument(
        name: "rows", value: "\(held)",
        expected: "a range within the rows 0..<\(count) of \(inputs)")
    }
    let targetFile = try MappedFile(path: targets)
    let (labels, values, targetCount) = try targetFile.withUnsafeBytes {
      (bytes) throws(MinibatchError) in
      try Self.heldTargets(
        bytes, path: targets, classCount: classCount, rows: held, count: count, inputs: inputs)
    }
    exampleCount = count
    heldExamples = held
    exampleShape = header.shape.count > 1 ? Array(header.shape.dropFirst()) : [1]
    featureCount = header.width
    self.classCount = classCount
    self.targetCount = targetCount
    inputsPath = inputs
    targetsPath = targets
    self.labels = labels
    self.values = values
    storage = Storage(file: file, header: header)
  }

  /// A mapped file's header, checked against the file's length and for contiguous rows.
  static func header(of bytes: UnsafeRawBufferPointer, path: String) throws(MinibatchError)
    -> NPYHeader
  {
    let header = try NPYHeader(bytes, path: path)
    try header.validateLength(bytes.count, path: path)
    guard header.isRowMajor else {
      throw .fileUnreadable(
        path: path,
        reason: "its data is in Fortran (column) order, shape \(header.shape): its rows are not "
          + "contiguous, so they cannot be read without a copy of the file; save it in C order "
          + "(np.save(path, np.ascontiguousarray(x)))")
    }
    return header
  }

  /// The targets of rows `rows` (of `count`), checked: labels, or values and their columns.
  static func heldTargets(
    _ bytes: UnsafeRawBufferPointer, path: String, classCount: Int?, rows: Range<Int>,
    count: Int, inputs: String
  ) throws(MinibatchError) -> (labels: [Int]?, values: [Scalar]?, columns: Int) {
    let header = try Self.header(of: bytes, path: path)
    let data = bytes.baseAddress.map { $0 + header.dataStart }
    if let classCount {
      try validateCount(
        header.count, expected: count, of: "labels in \(path) (one per input row of \(inputs))")
      var labels: [Int] = []
      labels.reserveCapacity(rows.count)
      var chunk = [Double](repeating: 0, count: min(rows.count, 1 << 16))
      for start in stride(from: rows.lowerBound, to: rows.upperBound, by: max(1, chunk.count)) {
        let end = min(rows.upperBound, start + chunk.count)
        chunk.withUnsafeMutableBufferPointer { out in
          header.decode(
            data.map { $0 + start * header.size }, count: end - start, into: out.baseAddress)
        }
        labels += try classLabels(
          chunk[0..<(end - start)], classCount: classCount, firstIndex: start)
      }
      return (labels, nil, 1)
    }
    let targetRows = header.shape.first ?? 1
    try validateCount(
      targetRows, expected: count, of: "target rows in \(path) (one per input row of \(inputs))")
    let columns = header.width
    guard columns > 0 else {
      throw .fileUnreadable(path: path, reason: "its rows hold no targets (shape \(header.shape))")
    }
    try validateAllocation(
      count: rows.count * columns, stride: MemoryLayout<Scalar>.stride, of: "targets of \(path)")
    var values = [Scalar](repeating: 0, count: rows.count * columns)
    values.withUnsafeMutableBufferPointer { out in
      header.decode(
        data.map { $0 + rows.lowerBound * columns * header.size }, count: out.count,
        into: out.baseAddress)
    }
    if !allFinite(values), let index = values.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteEntry(
        row: rows.lowerBound + index / columns, column: index % columns, of: "targets in \(path)")
    }
    return (nil, values, columns)
  }

  // MARK: - Reading

  /// The examples at the global `indices` (each in ``heldExamples``), in that order: their rows
  /// converted from the file to `Scalar` (nothing else is read).
  ///
  /// - Throws: ``MinibatchError/emptyBatch`` for no indices,
  ///   ``MinibatchError/indexOutOfRange(index:count:of:)`` for an index not held,
  ///   ``MinibatchError/nonFiniteEntry(row:column:of:)`` (global row, naming the file) for a NaN
  ///   or infinite input, ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` for more rows
  ///   than memory holds.
  public func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch<Scalar> {
    guard !indices.isEmpty else { throw .emptyBatch }
    if let bad = indices.first(where: { !heldExamples.contains($0) }) {
      throw .indexOutOfRange(index: bad, count: exampleCount, of: heldDescription)
    }
    if let range = indices as? Range<Int> { return try rows(range) }
    return try rows(Array(indices))
  }

  /// Calls `body` with the held examples in order, in pieces of at most `maximumCount` rows (and
  /// at most 16 MiB of `Scalar`), each read ahead of its use (`MADV_WILLNEED`); the resident
  /// pages are dropped as the pass goes and at its end.
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for `maximumCount < 1`,
  ///   the errors of ``gathering(_:)``, and `body`'s.
  public func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError) {
    try validateArgument(maximumCount, named: "piece size", expected: "≥ 1", maximumCount >= 1)
    let file = storage.file
    defer { file.releaseResidentPages() }
    let pieceRows = min(maximumCount, pieceRowLimit)
    file.prefetch(byteRange(of: heldExamples.prefix(pieceRows)))
    for start in stride(from: heldExamples.lowerBound, to: heldExamples.upperBound, by: pieceRows) {
      let piece = start..<min(heldExamples.upperBound, start + pieceRows)
      file.prefetch(
        byteRange(of: piece.upperBound..<min(heldExamples.upperBound, piece.upperBound + pieceRows))
      )
      try body(start, try rows(piece))
    }
  }

  /// A hash of the held rows' bits as `Scalar` and of their targets: the
  /// ``Batch/fingerprint`` of the batch of the held rows (one pass over them, on first use).
  public var fingerprint: String {
    storage.fingerprint.withLock { cached in
      if let cached { return cached }
      var hasher = FingerprintHasher()
      let file = storage.file
      let pieceRows = pieceRowLimit
      var buffer = [Scalar](repeating: 0, count: min(heldExamples.count, pieceRows) * featureCount)
      for start in stride(from: heldExamples.lowerBound, to: heldExamples.upperBound, by: pieceRows)
      {
        let piece = start..<min(heldExamples.upperBound, start + pieceRows)
        let elements = piece.count * featureCount
        buffer.withUnsafeMutableBufferPointer { out in
          decodeRows(piece, into: out.baseAddress!)
          hasher.combine(
            UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: out[..<elements])))
        }
        file.noteTouched(bytes: MappedFile.residentBytes(reading: byteRange(of: piece)))
      }
      file.releaseResidentPages()
      let targets = labels.map { Minibatch.fingerprint($0) } ?? Minibatch.fingerprint(values ?? [])
      cached = "\(hasher.value) \(targets)"
      return cached!
    }
  }

  // MARK: - Implementation

  /// At most 16 MiB of `Scalar` per piece of a pass (at least one row).
  private var pieceRowLimit: Int {
    max(1, (16 << 20) / (featureCount * MemoryLayout<Scalar>.stride))
  }

  private var heldDescription: String {
    heldExamples == 0..<exampleCount
      ? "example of \(inputsPath)"
      : "example (this source holds rows \(heldExamples) of \(inputsPath))"
  }

  /// The file's byte offsets of the inputs of `rows`.
  private func byteRange(of rows: Range<Int>) -> Range<Int> {
    let header = storage.header
    let rowBytes = featureCount * header.size
    return
      (header.dataStart + rows.lowerBound * rowBytes)..<(header.dataStart
      + rows.upperBound * rowBytes)
  }

  /// Converts the inputs of the consecutive `rows` to `Scalar` into `out`.
  private func decodeRows(_ rows: Range<Int>, into out: UnsafeMutablePointer<Scalar>) {
    let header = storage.header
    storage.file.withUnsafeBytes { bytes in
      header.decode(
        bytes.baseAddress! + byteRange(of: rows).lowerBound, count: rows.count * featureCount,
        into: out)
    }
  }

  /// The batch of the held consecutive `range` (checked by the caller), its resident pages
  /// counted.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func rows(_ range: Range<Int>) throws(MinibatchError) -> Batch<Scalar> {
    try rows(count: range.count, first: heldExamples.lowerBound) { buffer, file in
      decodeRows(range, into: buffer)
      file.noteTouched(bytes: MappedFile.residentBytes(reading: byteRange(of: range)))
    } index: {
      range.lowerBound + $0
    } targets: { (labels, values, m, first) in
      (
        labels.map { Array($0[(range.lowerBound - first)..<(range.upperBound - first)]) },
        values.map {
          Array($0[((range.lowerBound - first) * m)..<((range.upperBound - first) * m)])
        }
      )
    }
  }

  /// The batch of the held `indices` (checked by the caller). The rows are read in file order
  /// (each written to its place in the batch), so a fault-granule that several rows share is
  /// mapped and counted once; the resident bytes are counted as the reads go, so that one large
  /// gather releases as it goes.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func rows(_ indices: [Int]) throws(MinibatchError) -> Batch<Scalar> {
    let d = featureCount
    let granule = MappedFile.faultGranule
    let order = indices.indices.sorted { indices[$0] < indices[$1] }
    return try rows(count: indices.count, first: heldExamples.lowerBound) { buffer, file in
      var counted = -1  // the last granule counted since the last release
      for r in order {
        let i = indices[r]
        decodeRows(i..<(i + 1), into: buffer + r * d)
        let bytes = byteRange(of: i..<(i + 1))
        let (first, last) = (
          max(bytes.lowerBound / granule, counted + 1), (bytes.upperBound - 1) / granule
        )
        guard first <= last else { continue }
        counted = file.noteTouched(bytes: (last - first + 1) * granule) ? -1 : last
      }
    } index: {
      indices[$0]
    } targets: { (labels, values, m, first) in
      (
        labels.map { labels in indices.map { labels[$0 - first] } },
        values.map { values in
          var gathered: [Scalar] = []
          gathered.reserveCapacity(indices.count * m)
          for i in indices { gathered += values[((i - first) * m)..<((i - first + 1) * m)] }
          return gathered
        }
      )
    }
  }

  /// A batch of `count` rows: `fill` writes their inputs, `index` maps a row of the batch to its
  /// global row (for errors), `targets` gathers their labels or values from the held ones (first
  /// held row `first`, `m` values per row).
  @inline(__always)
  private func rows(
    count: Int, first: Int, fill: (UnsafeMutablePointer<Scalar>, MappedFile) -> Void,
    index: (Int) -> Int,
    targets: ([Int]?, [Scalar]?, Int, Int) -> (labels: [Int]?, values: [Scalar]?)
  ) throws(MinibatchError) -> Batch<Scalar> {
    let d = featureCount
    try Matrix<Scalar>.validateShape(rows: count, columns: d, rowName: "examples")
    try validateAllocation(
      count: count * d, stride: MemoryLayout<Scalar>.stride, of: "a batch of \(inputsPath)")
    let file = storage.file
    let elements = [Scalar](unsafeUninitializedCapacity: count * d) { buffer, initialized in
      fill(buffer.baseAddress!, file)
      initialized = count * d
    }
    if !allFinite(elements), let position = elements.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteEntry(
        row: index(position / d), column: position % d, of: "inputs in \(inputsPath)")
    }
    let (labels, values) = targets(self.labels, self.values, targetCount, first)
    let gathered: Targets<Scalar> =
      labels.map { .labels($0) }
      ?? .values(Matrix(rows: count, columns: targetCount, storage: values ?? []))
    return Batch(
      checkedInputs: Matrix(rows: count, columns: d, storage: elements), targets: gathered)
  }
}
