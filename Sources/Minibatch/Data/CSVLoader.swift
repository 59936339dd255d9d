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
  public func parse<Scalar: BLASScalar>(
    _ text: String, path: String = "<text>"
  ) throws(MinibatchError) -> Batch<Scalar> {
    try validateArgument(classCount, named: "class count", expected: "≥ 2", classCount >= 2)
    var features: [Scalar] = []
    var labels: [Int] = []
    var width: Int?
    var labelIndex = 0
    // Swift reads "\r\n" as one Character, which `isNewline` matches.
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    var seenFirstLine = false
    for (offset, line) in lines.enumerated() {
      let lineNumber = offset + 1
      if line.allSatisfy(\.isWhitespace) { continue }
      if !seenFirstLine {
        seenFirstLine = true
        let firstCells = line.split(separator: ",", omittingEmptySubsequences: false)
        // A header has the columns of the data and a cell that is not a number.
        let isHeader =
          hasHeader
          ?? (firstCells.count >= 2
            && firstCells.contains { Double($0.trimmingCharacters(in: .whitespaces)) == nil })
        if isHeader { continue }
      }
      let cells = line.split(separator: ",", omittingEmptySubsequences: false)
      if let width {
        guard cells.count == width else {
          throw .raggedRow(line: lineNumber, expected: width, got: cells.count)
        }
      } else {
        guard cells.count >= 2 else {
          let hint =
            line.contains(";")
            ? "; the line has semicolons: the loader reads commas only"
            : line.contains("\t") ? "; the line has tabs: the loader reads commas only" : ""
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
      }
      for (index, cell) in cells.enumerated() {
        let trimmed = cell.trimmingCharacters(in: .whitespaces)
        if index == labelIndex {
          guard let label = Int(trimmed), label >= 0, label < classCount else {
            throw .labelCellOutOfRange(
              line: lineNumber, column: index + 1, text: String(cell), classCount: classCount)
          }
          labels.append(label)
        } else {
          // Finite in Double and in Scalar: "1e39" is a number, but not a Float.
          guard let value = Double(trimmed), value.isFinite, Scalar(value).isFinite else {
            throw .nonNumericCell(line: lineNumber, column: index + 1, text: String(cell))
          }
          features.append(Scalar(value))
        }
      }
    }
    guard let width, !labels.isEmpty else { throw .emptyFile(path: path) }
    let inputs = try Matrix(rows: labels.count, columns: width - 1, elements: features)
    return try Batch(inputs: inputs, targets: .labels(labels))
  }
}
