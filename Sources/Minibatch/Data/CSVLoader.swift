import Foundation

/// Reads a labelled data set from a CSV file: one example per line, numeric feature cells, and an
/// integer class label in one column.
///
/// The format is deliberately small: comma-separated, no quoting, an optional header line
/// (detected unless ``hasHeader`` says), blank
/// lines ignored, `\n` or `\r\n` line ends. Every error names the 1-based line (and column) where
/// it was found.
public struct CSVLoader: Sendable, Hashable {
  /// Number of classes `c`; labels must be integers in `0..<c`.
  public var classCount: Int
  /// 0-based column of the label; `nil` means the last column.
  public var labelColumn: Int?
  /// Whether the first non-blank line is a header to skip: `true`, `false`, or `nil` (the default)
  /// to decide from the line itself — a header when it has at least two cells and one of them is
  /// not a number. A file without a header never loses its first row.
  public var hasHeader: Bool?

  public init(classCount: Int, labelColumn: Int? = nil, hasHeader: Bool? = nil) {
    self.classCount = classCount
    self.labelColumn = labelColumn
    self.hasHeader = hasHeader
  }

  /// Loads the file at `path` as a batch of `.labels` targets.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` (missing, unreadable, not UTF-8),
  ///   ``MinibatchError/emptyFile(path:)``, ``MinibatchError/raggedRow(line:expected:got:)``,
  ///   ``MinibatchError/nonNumericCell(line:column:text:)`` (also for NaN, infinity and values
  ///   beyond `Scalar`'s range),
  ///   ``MinibatchError/labelCellOutOfRange(line:column:text:classCount:)``, and
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` for a class count below 2 or a
  ///   label column outside the rows.
  public func load<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self, path: String
  ) throws(MinibatchError) -> Batch<Scalar> {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue
    {
      throw .fileUnreadable(path: path, reason: "it is a directory, not a CSV file")
    }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      let reason =
        FileManager.default.fileExists(atPath: path)
        ? "\(error.localizedDescription)" : "no such file"
      throw .fileUnreadable(path: path, reason: reason)
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw .fileUnreadable(path: path, reason: "not UTF-8 text")
    }
    return try parse(text, path: path)
  }

  /// Parses CSV text (as ``load(_:path:)``; `path` only names the source in errors).
  ///
  /// The parser works on the UTF-8 bytes: cells are found by scanning for commas and line ends,
  /// and numbers are read by ``CSVNumber`` (an exact fast path for ordinary decimals, the C
  /// library's `strtod` otherwise), so loading runs at hundreds of MB/s (see the README's
  /// benchmark) instead of splitting `String`s.
  public func parse<Scalar: BLASScalar>(
    _ text: String, path: String = "<text>"
  ) throws(MinibatchError) -> Batch<Scalar> {
    try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    var text = text
    let parsed = text.withUTF8 { bytes in
      Result { () throws(MinibatchError) -> (features: [Scalar], labels: [Int], width: Int?) in
        try parseBytes(bytes, scalar: Scalar.self)
      }
    }
    let (features, labels, width) = try parsed.get()
    guard let width, !labels.isEmpty else { throw .emptyFile(path: path) }
    let inputs = try Matrix(rows: labels.count, columns: width - 1, elements: features)
    return try Batch(inputs: inputs, targets: .labels(labels))
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func parseBytes<Scalar: BLASScalar>(
    _ bytes: UnsafeBufferPointer<UInt8>, scalar: Scalar.Type
  ) throws(MinibatchError) -> (features: [Scalar], labels: [Int], width: Int?) {
    var features: [Scalar] = []
    var labels: [Int] = []
    var width: Int?
    var labelIndex = 0
    var seenFirstLine = false
    var cells: [Range<Int>] = []
    var lineNumber = 0
    var position = 0
    let count = bytes.count
    while position < count {
      lineNumber += 1
      // One line: up to "\n", "\r\n" or "\r".
      let lineStart = position
      while position < count && bytes[position] != 0x0A && bytes[position] != 0x0D {
        position += 1
      }
      let lineEnd = position
      if position < count {
        position +=
          bytes[position] == 0x0D && position + 1 < count && bytes[position + 1] == 0x0A
          ? 2 : 1
      }
      let line = lineStart..<lineEnd
      if line.allSatisfy({ CSVNumber.isSpace(bytes[$0]) }) { continue }
      cells.removeAll(keepingCapacity: true)
      var cellStart = lineStart
      for index in line where bytes[index] == 0x2C {  // ","
        cells.append(cellStart..<index)
        cellStart = index + 1
      }
      cells.append(cellStart..<lineEnd)
      func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
      }
      if !seenFirstLine {
        seenFirstLine = true
        // A header has the columns of the data and a cell that is not a number.
        let isHeader =
          hasHeader
          ?? (cells.count >= 2 && cells.contains { CSVNumber.double(bytes, $0) == nil })
        if isHeader { continue }
      }
      if let width {
        guard cells.count == width else {
          throw .raggedRow(line: lineNumber, expected: width, got: cells.count)
        }
      } else {
        guard cells.count >= 2 else {
          let content = text(line)
          let hint =
            content.contains(";")
            ? "; the line has semicolons: the loader reads commas only"
            : content.contains("\t") ? "; the line has tabs: the loader reads commas only" : ""
          throw .invalidArgument(
            name: "columns on line \(lineNumber)", value: "1",
            expected: "≥ 2 comma-separated cells (features and a label)\(hint)")
        }
        labelIndex = labelColumn ?? cells.count - 1
        try validateArgument(
          labelIndex, named: "label column",
          expected: "0..<\(cells.count) (columns on line \(lineNumber))",
          labelIndex >= 0 && labelIndex < cells.count && cells.count >= 2)
        width = cells.count
        features.reserveCapacity((count / max(1, lineEnd - lineStart)) * (cells.count - 1))
      }
      for (index, cell) in cells.enumerated() {
        if index == labelIndex {
          guard let label = CSVNumber.integer(bytes, cell), label >= 0, label < classCount else {
            throw .labelCellOutOfRange(
              line: lineNumber, column: index + 1, text: text(cell), classCount: classCount)
          }
          labels.append(label)
        } else {
          // Finite in Double and in Scalar: "1e39" is a number, but not a Float.
          guard let value = CSVNumber.double(bytes, cell), value.isFinite, Scalar(value).isFinite
          else {
            throw .nonNumericCell(line: lineNumber, column: index + 1, text: text(cell))
          }
          features.append(Scalar(value))
        }
      }
    }
    return (features, labels, width)
  }
}

/// Reading numbers from the bytes of a CSV cell (surrounding spaces and tabs ignored), with the
/// meaning of Swift's `Double(_: String)` and `Int(_: String)`.
enum CSVNumber {
  /// Space, tab, vertical tab or form feed.
  @inline(__always)
  static func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0B || byte == 0x0C
  }

  /// The cell without its surrounding spaces.
  @inline(__always)
  static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ cell: Range<Int>) -> Range<Int> {
    var (start, end) = (cell.lowerBound, cell.upperBound)
    while start < end && isSpace(bytes[start]) { start += 1 }
    while end > start && isSpace(bytes[end - 1]) { end -= 1 }
    return start..<end
  }

  /// A decimal integer with an optional sign, or nil.
  static func integer(_ bytes: UnsafeBufferPointer<UInt8>, _ cell: Range<Int>) -> Int? {
    let digits = trimmed(bytes, cell)
    guard !digits.isEmpty else { return nil }
    var index = digits.lowerBound
    let negative = bytes[index] == 0x2D
    if negative || bytes[index] == 0x2B { index += 1 }
    guard index < digits.upperBound else { return nil }
    // Accumulated as a negative number, whose range includes Int.min.
    var value = 0
    while index < digits.upperBound {
      let digit = Int(bytes[index]) - 0x30
      guard digit >= 0 && digit <= 9 else { return nil }
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (difference, o2) = times.subtractingReportingOverflow(digit)
      guard !o1, !o2 else { return nil }
      value = difference
      index += 1
    }
    if negative { return value }
    return value == Int.min ? nil : -value
  }

  /// Exact powers of ten a Double holds (10⁰ … 10²²).
  static let powersOfTen: [Double] = (0...22).map { exponent in
    (0..<exponent).reduce(1.0) { value, _ in value * 10 }
  }

  /// The cell as a Double, or nil when it is not a number.
  ///
  /// Ordinary decimals (`[sign] digits [. digits] [e [sign] digits]` with at most 15 significant
  /// digits and a decimal exponent within ±22) take Clinger's exact fast path: an integer times or
  /// divided by an exact power of ten, one correctly rounded operation. Everything else (long
  /// mantissas, large exponents, "inf", "nan", hexadecimal) goes to `Double(String)`, which the
  /// fast path agrees with bit for bit (tested).
  static func double(_ bytes: UnsafeBufferPointer<UInt8>, _ cell: Range<Int>) -> Double? {
    let number = trimmed(bytes, cell)
    guard !number.isEmpty else { return nil }
    var index = number.lowerBound
    let end = number.upperBound
    var negative = false
    if bytes[index] == 0x2D || bytes[index] == 0x2B {
      negative = bytes[index] == 0x2D
      index += 1
    }
    var mantissa: UInt64 = 0
    var significant = 0
    var exponent = 0
    var digitsSeen = 0
    while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 {
      if mantissa != 0 || bytes[index] != 0x30 { significant += 1 }
      mantissa = mantissa &* 10 &+ UInt64(bytes[index] - 0x30)
      digitsSeen += 1
      index += 1
    }
    if index < end, bytes[index] == 0x2E {  // "."
      index += 1
      while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 {
        if mantissa != 0 || bytes[index] != 0x30 { significant += 1 }
        mantissa = mantissa &* 10 &+ UInt64(bytes[index] - 0x30)
        exponent -= 1
        digitsSeen += 1
        index += 1
      }
    }
    if index < end, bytes[index] == 0x65 || bytes[index] == 0x45, digitsSeen > 0 {  // "e", "E"
      index += 1
      var exponentNegative = false
      if index < end, bytes[index] == 0x2D || bytes[index] == 0x2B {
        exponentNegative = bytes[index] == 0x2D
        index += 1
      }
      var value = 0
      var exponentDigits = 0
      while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39, value < 100_000 {
        value = value * 10 + Int(bytes[index] - 0x30)
        exponentDigits += 1
        index += 1
      }
      if exponentDigits == 0 { return slow(bytes, number) }
      exponent += exponentNegative ? -value : value
    }
    guard index == end, digitsSeen > 0, significant <= 15, abs(exponent) <= 22 else {
      return slow(bytes, number)
    }
    let magnitude =
      exponent >= 0
      ? Double(mantissa) * powersOfTen[exponent] : Double(mantissa) / powersOfTen[-exponent]
    return negative ? -magnitude : magnitude
  }

  /// `Double(String)` on the cell.
  static func slow(_ bytes: UnsafeBufferPointer<UInt8>, _ number: Range<Int>) -> Double? {
    Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[number]), as: UTF8.self))
  }
}
