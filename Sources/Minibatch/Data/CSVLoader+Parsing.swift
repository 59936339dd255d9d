import Foundation

// The byte-level scanner behind `CSVLoader.parse`: lines, cells, the header and the target
// columns, with every error naming its 1-based line (numbers: `CSVNumber`).

extension CSVLoader {
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
