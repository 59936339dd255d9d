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
}
