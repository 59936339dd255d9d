import Foundation

/// A column of a CSV file: the last one, by 0-based index, or by its header name.
public enum CSVColumn: Sendable, Hashable {
  case last
  case index(Int)
  case name(String)
}

/// What a CSV file's target columns hold.
public enum CSVTargets: Sendable, Hashable {
  /// One column of integer class labels in `0..<classCount` (``Targets/labels(_:)``).
  case labels(classCount: Int, column: CSVColumn = .last)
  /// One or more columns of real values (``Targets/values(_:)``, regression), in this order.
  case values(columns: [CSVColumn])
}

/// Reads a data set from a CSV file: one example per line, numeric feature cells, and target
/// columns (integer class labels, or real values for regression).
///
/// The format is deliberately small: comma-separated (or another one-byte ``delimiter``: `;`,
/// tab, `|`), no quoting, an optional header line
/// (detected unless ``hasHeader`` says), blank lines ignored, `\n` or `\r\n` line ends, a
/// leading UTF-8 byte-order mark (U+FEFF) ignored. Every column that is not a target is a
/// feature. Every error names the 1-based line (and column) where it was found.
///
/// A number is a finite **decimal**: `[sign] digits [. digits] [(e|E) [sign] digits]`, with
/// digits on at least one side of the point (`16`, `-0.5`, `.5`, `5.`, `1e-5`), surrounded by
/// optional spaces or tabs. The other forms that Swift's `Double(_:)` and C's `strtod` accept —
/// hexadecimal (`0x10`, `0x1p-3`), `inf`, `infinity`, `nan` — are not numbers here: a data set
/// that holds them is more likely broken than meant, and `0x10` read as 16 is a silent surprise.
/// A decimal beyond the scalar's range (`1e999`, or `1e39` in Float) is refused as well; one below
/// it rounds to 0 or a subnormal, as `strtod` rounds it.
public struct CSVLoader: Sendable, Hashable {
  /// The target columns and what they hold.
  public var targets: CSVTargets
  /// Whether the first non-blank line is a header to skip: `true`, `false`, or `nil` (the default)
  /// to decide from the line itself — a header when it has at least two cells and one of them is
  /// not a number (not even one of the non-decimal forms `strtod` reads, such as `0x10` or `nan`,
  /// which are refused as cells instead). A file without a header never loses its first row.
  public var hasHeader: Bool?
  /// The byte between cells, an ASCII character other than a digit, sign, `.`, `e`/`E`, space or
  /// line end: `,` (the default), `;`, `\t`, `|`, ….
  public var delimiter: Character = ","

  /// Class labels in `0..<classCount` in column `labelColumn` (0-based; `nil`: the last).
  public init(classCount: Int, labelColumn: Int? = nil, hasHeader: Bool? = nil) {
    self.init(
      targets: .labels(classCount: classCount, column: labelColumn.map { .index($0) } ?? .last),
      hasHeader: hasHeader)
  }

  public init(targets: CSVTargets, hasHeader: Bool? = nil, delimiter: Character = ",") {
    self.targets = targets
    self.hasHeader = hasHeader
    self.delimiter = delimiter
  }

  /// The delimiter's byte; throws unless it is one ASCII character that cannot be part of a
  /// number or a line end.
  func delimiterByte() throws(MinibatchError) -> UInt8 {
    let forbidden: Set<Character> = Set("0123456789+-.eE ").union(["\r", "\n", "\r\n"])
    guard let byte = delimiter.asciiValue, !forbidden.contains(delimiter) else {
      throw .invalidArgument(
        name: "delimiter", value: "\"\(delimiter)\"",
        expected: "one ASCII character that is not a digit, sign, '.', 'e', space or line end")
    }
    return byte
  }

  /// Loads the file at `path` as a batch of `.labels` targets.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` (missing, unreadable, not UTF-8),
  ///   ``MinibatchError/emptyFile(path:)``, ``MinibatchError/raggedRow(line:expected:got:)``,
  ///   ``MinibatchError/nonNumericCell(line:column:text:)`` for a cell that is not a finite
  ///   decimal (also for `nan`, `inf`, hexadecimal such as `0x10`, and values beyond `Scalar`'s
  ///   range), naming its line and column,
  ///   ``MinibatchError/labelCellOutOfRange(line:column:text:classCount:)``, and
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` for a class count below 2, a target
  ///   column outside the rows, a repeated target column, no target or no feature column, or a
  ///   column name without a header line or not in it.
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
      data = try fileData(atPath: path)
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
  /// and numbers are read by `CSVNumber` (an exact fast path for ordinary decimals, the C
  /// library's `strtod` otherwise), so loading runs at hundreds of MB/s (see the README's
  /// benchmark) instead of splitting `String`s.
  public func parse<Scalar: BLASScalar>(
    _ text: String, path: String = "<text>"
  ) throws(MinibatchError) -> Batch<Scalar> {
    if case .labels(let classCount, _) = targets {
      try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    }
    _ = try delimiterByte()
    if case .values(let columns) = targets {
      try validateArgument(
        "[]", named: "target columns", expected: "at least one", !columns.isEmpty)
    }
    var text = text
    let parsed = text.withUTF8 { bytes in
      Result { () throws(MinibatchError) -> Parsed<Scalar> in
        try parseBytes(bytes, scalar: Scalar.self)
      }
    }
    let result = try parsed.get()
    guard result.rows > 0 else { throw .emptyFile(path: path) }
    let inputs = try Matrix(
      rows: result.rows, columns: result.features.count / result.rows, elements: result.features)
    switch targets {
    case .labels:
      return try Batch(inputs: inputs, targets: .labels(result.labels))
    case .values(let columns):
      let values = try Matrix(rows: result.rows, columns: columns.count, elements: result.values)
      return try Batch(inputs: inputs, targets: .values(values))
    }
  }

  /// What ``parseBytes(_:scalar:)`` reads: features row-major, and labels or target values.
  struct Parsed<Scalar> {
    var features: [Scalar] = []
    var labels: [Int] = []
    var values: [Scalar] = []
    var rows = 0
  }

  /// The 0-based indices of the target columns of a `width`-column file with header `names`.
  func targetIndices(
    width: Int, names: [String]?, line: Int
  ) throws(MinibatchError) -> [Int] {
    let columns: [CSVColumn]
    switch targets {
    case .labels(_, let column): columns = [column]
    case .values(let list): columns = list
    }
    var indices: [Int] = []
    for column in columns {
      let index: Int
      switch column {
      case .last:
        index = width - 1
      case .index(let i):
        try validateArgument(
          i, named: "target column", expected: "0..<\(width) (columns on line \(line))",
          i >= 0 && i < width)
        index = i
      case .name(let name):
        guard let names else {
          throw .invalidArgument(
            name: "target column", value: "\"\(name)\"",
            expected: "a name from a header line (this file has none; use an index)")
        }
        guard let i = names.firstIndex(of: name) else {
          throw .invalidArgument(
            name: "target column", value: "\"\(name)\"",
            expected: "one of the header's names: \(names.joined(separator: ", "))")
        }
        index = i
      }
      try validateArgument(
        index, named: "target column", expected: "each column at most once",
        !indices.contains(index))
      indices.append(index)
    }
    try validateArgument(
      width, named: "columns", expected: "more than the \(indices.count) target column(s)",
      indices.count < width)
    return indices
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func parseBytes<Scalar: BLASScalar>(
    _ bytes: UnsafeBufferPointer<UInt8>, scalar: Scalar.Type
  ) throws(MinibatchError) -> Parsed<Scalar> {
    var result = Parsed<Scalar>()
    let separator = try delimiterByte()
    let separatorName = delimiter == "\t" ? "tab" : "'\(delimiter)'"
    var width: Int?
    var headerNames: [String]?
    // Per column: nil for a feature, else its position among the targets.
    var targetPosition: [Int?] = []
    var targetValues: [Scalar] = []
    var seenFirstLine = false
    var cells: [Range<Int>] = []
    var lineNumber = 0
    let count = bytes.count
    // A UTF-8 byte-order mark (EF BB BF) is not part of the first cell.
    var position =
      count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
    let classCount: Int? = {
      if case .labels(let classCount, _) = targets { return classCount }
      return nil
    }()
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
          bytes[position] == 0x0D && position + 1 < count && bytes[position + 1] == 0x0A ? 2 : 1
      }
      let line = lineStart..<lineEnd
      if line.allSatisfy({ CSVNumber.isSpace(bytes[$0]) }) { continue }
      cells.removeAll(keepingCapacity: true)
      var cellStart = lineStart
      for index in line where bytes[index] == separator {
        cells.append(cellStart..<index)
        cellStart = index + 1
      }
      cells.append(cellStart..<lineEnd)
      func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
      }
      if !seenFirstLine {
        seenFirstLine = true
        // A header has the columns of the data and a cell that is not a number. A cell that
        // only `strtod` reads ("0x10", "nan") does not make a header: the line is data, and
        // its cell is refused below with its line and column rather than dropped unseen.
        let isHeader =
          hasHeader
          ?? (cells.count >= 2
            && cells.contains {
              CSVNumber.double(bytes, $0) == nil
                && CSVNumber.slow(bytes, CSVNumber.trimmed(bytes, $0)) == nil
            })
        if isHeader {
          headerNames = cells.map { text(CSVNumber.trimmed(bytes, $0)) }
          continue
        }
      }
      if let width {
        guard cells.count == width else {
          throw .raggedRow(line: lineNumber, expected: width, got: cells.count)
        }
      } else {
        guard cells.count >= 2 else {
          let content = text(line)
          let others = [(";", "semicolons"), ("\t", "tabs"), (",", "commas"), ("|", "bars")]
            .filter { $0.0 != String(delimiter) && content.contains($0.0) }
          let hint =
            others.first.map { "; the line has \($0.1): set the delimiter to \"\($0.0)\"" } ?? ""
          throw .invalidArgument(
            name: "columns on line \(lineNumber)", value: "1",
            expected: "≥ 2 cells separated by \(separatorName) (features and a label)\(hint)")
        }
        if let headerNames {
          try validateCount(
            cells.count, expected: headerNames.count,
            of: "cells on line \(lineNumber) (as the header)")
        }
        let indices = try targetIndices(width: cells.count, names: headerNames, line: lineNumber)
        targetPosition = Array(repeating: nil, count: cells.count)
        for (position, index) in indices.enumerated() { targetPosition[index] = position }
        targetValues = Array(repeating: 0, count: indices.count)
        width = cells.count
        result.features.reserveCapacity(
          (count / max(1, lineEnd - lineStart)) * (cells.count - indices.count))
      }
      for (index, cell) in cells.enumerated() {
        if targetPosition[index] != nil, let classCount {
          guard let label = CSVNumber.integer(bytes, cell), label >= 0, label < classCount else {
            throw .labelCellOutOfRange(
              line: lineNumber, column: index + 1, text: text(cell), classCount: classCount)
          }
          result.labels.append(label)
        } else {
          // Finite in Double and in Scalar: "1e39" is a number, but not a Float.
          guard let value = CSVNumber.double(bytes, cell), value.isFinite, Scalar(value).isFinite
          else {
            throw .nonNumericCell(line: lineNumber, column: index + 1, text: text(cell))
          }
          if let target = targetPosition[index] {
            targetValues[target] = Scalar(value)
          } else {
            result.features.append(Scalar(value))
          }
        }
      }
      result.values.append(contentsOf: classCount == nil ? targetValues : [])
      result.rows += 1
    }
    return result
  }
}

/// Reading numbers from the bytes of a CSV cell (surrounding spaces and tabs ignored): decimal
/// numbers only, with the value Swift's `Double(_: String)` gives them, and decimal integers with
/// the meaning of `Int(_: String)`.
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

  /// The cell as a Double, or nil when it is not a decimal number
  /// (`[sign] digits [. digits] [(e|E) [sign] digits]`, digits on at least one side of the point).
  /// Hexadecimal, `inf`, `infinity` and `nan`, which `Double(String)` would accept, are nil.
  ///
  /// Decimals with at most 15 significant digits and a decimal exponent within ±22 take
  /// Clinger's exact fast path: an integer times or divided by an exact power of ten, one
  /// correctly rounded operation. The other decimals (long mantissas, large exponents) go to
  /// `Double(String)`, which the fast path agrees with bit for bit (tested). The result may be
  /// infinite (`1e999`); callers that need a finite number check.
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
      while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 {
        // Saturated at 10⁵, which sends the cell to the slow path whatever the mantissa's
        // digits (a saturated exponent must not meet a long mantissa's offset on the fast path).
        value = min(100_000, value * 10 + Int(bytes[index] - 0x30))
        exponentDigits += 1
        index += 1
      }
      if exponentDigits == 0 { return nil }
      exponent += exponentNegative ? -value : value
      if value == 100_000 { exponent = Int.max }
    }
    // Anything left over ("x10", "inf", "1.2.3") makes the cell something other than a decimal.
    guard index == end, digitsSeen > 0 else { return nil }
    guard significant <= 15, exponent >= -22, exponent <= 22 else { return slow(bytes, number) }
    let magnitude =
      exponent >= 0
      ? Double(mantissa) * powersOfTen[exponent] : Double(mantissa) / powersOfTen[-exponent]
    return negative ? -magnitude : magnitude
  }

  /// `Double(String)` on a cell already known to be a decimal.
  static func slow(_ bytes: UnsafeBufferPointer<UInt8>, _ number: Range<Int>) -> Double? {
    Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[number]), as: UTF8.self))
  }
}
