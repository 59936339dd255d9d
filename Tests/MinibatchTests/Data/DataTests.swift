import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct CSVLoaderTests {
  let loader = CSVLoader(classCount: 3)

  @Test(arguments: allScalarTypes)
  func parsesFeaturesAndLabels(_ type: any BLASScalar.Type) throws { try checkParse(type) }

  func checkParse<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let text = "a,b,label\r\n1, 2.5,0\n\n-3,4e1,2\n"
    let batch: Batch<Scalar> = try loader.parse(text)
    #expect(batch.inputs == (try Matrix(rows: [[1, 2.5], [-3, 40]])))
    #expect(batch.targets == .labels([0, 2]))
    let first: Batch<Scalar> = try CSVLoader(classCount: 3, labelColumn: 0, hasHeader: false)
      .parse("2,7,8\n1,5,6")
    #expect(first.inputs == (try Matrix(rows: [[7, 8], [5, 6]])))
    #expect(first.targets == .labels([2, 1]))
  }

  /// Every loader error, each naming the line and column.
  @Test func everyErrorNamesWhereItIs() throws {
    func parse(_ text: String) throws -> Batch<Double> { try loader.parse(text, path: "t.csv") }
    expectError(.emptyFile(path: "t.csv")) { try parse("") }
    expectError(.emptyFile(path: "t.csv")) { try parse("x,y,label\n\n") }
    expectError(.raggedRow(line: 4, expected: 3, got: 2)) {
      try parse("x,y,label\n1,2,0\n3,4,1\n5,1\n")
    }
    expectError(.nonNumericCell(line: 3, column: 2, text: "abc")) {
      try parse("x,y,l\n1,2,0\n3,abc,1\n")
    }
    expectError(.nonNumericCell(line: 2, column: 1, text: "")) { try parse("x,y,l\n,2,0\n") }
    expectError(.nonNumericCell(line: 2, column: 2, text: "nan")) { try parse("x,y,l\n1,nan,0\n") }
    expectError(.labelCellOutOfRange(line: 3, column: 3, text: "3", classCount: 3)) {
      try parse("x,y,l\n1,2,0\n3,4,3\n")
    }
    expectError(.labelCellOutOfRange(line: 2, column: 3, text: "1.5", classCount: 3)) {
      try parse("x,y,l\n1,2,1.5\n")
    }
    expectError(.labelCellOutOfRange(line: 2, column: 3, text: "-1", classCount: 3)) {
      try parse("x,y,l\n1,2,-1\n")
    }
    expectError(
      .invalidArgument(name: "target column", value: "5", expected: "0..<3 (columns on line 2)")
    ) { try CSVLoader(classCount: 3, labelColumn: 5).parse("x,y,l\n1,2,0\n") as Batch<Double> }
    expectError(.invalidArgument(name: "class count", value: "1", expected: "≥ 2")) {
      try CSVLoader(classCount: 1).parse("x,l\n1,0\n") as Batch<Double>
    }
    let missing = "/nonexistent/minibatch-\(UInt64.random(in: 0...UInt64.max)).csv"
    expectError(.fileUnreadable(path: missing, reason: "no such file")) {
      try loader.load(Double.self, path: missing)
    }
    let binary = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-not-utf8-\(UInt64.random(in: 0...UInt64.max)).csv")
    try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: binary)
    defer { try? FileManager.default.removeItem(at: binary) }
    expectError(.fileUnreadable(path: binary.path, reason: "not UTF-8 text")) {
      try loader.load(Double.self, path: binary.path)
    }
  }
}

@Suite struct DigitsAndStandardizerTests {
  @Test func bundledDigitsHaveTheDocumentedShape() throws {
    let (train, test) = try Digits.load(Float.self)
    #expect(train.count == 1437 && test.count == 360)
    #expect(train.inputs.columns == 64 && test.inputs.columns == 64)
    #expect(train.inputs.elements.allSatisfy { $0 >= 0 && $0 <= 16 && $0 == $0.rounded() })
    guard case .labels(let labels) = train.targets else {
      Issue.record("digits have class labels")
      return
    }
    // Stratified split: every digit has 139–146 training examples (80 % of 174–183).
    let counts = (0..<10).map { digit in labels.count { $0 == digit } }
    #expect(counts.allSatisfy { (139...146).contains($0) }, "\(counts)")
  }

  @Test(arguments: allScalarTypes)
  func standardisedTrainingFeaturesHaveMeanZeroAndUnitScale(_ type: any BLASScalar.Type) throws {
    try checkStandardized(type)
  }

  func checkStandardized<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-5
    let (train, _) = try Digits.loadStandardized(Scalar.self)
    let refit = try Standardizer(fitting: train.inputs)
    #expect(refit.means.allSatisfy { abs(Double($0)) < tolerance })
    // Constant columns (always-blank pixels) stay 0 with scale 1; the others have scale 1.
    #expect(refit.scales.allSatisfy { abs(Double($0) - 1) < tolerance })
    let raw = try Matrix<Scalar>(rows: [[1, 5], [3, 5]])
    let standardizer = try Standardizer(fitting: raw)
    #expect(standardizer.means == [2, 5] && standardizer.scales == [1, 1])
    #expect(try standardizer.transform(raw) == Matrix(rows: [[-1, 0], [1, 0]]))
    expectError(.shapeMismatch(expected: 2, got: 1, of: "features to standardise")) {
      try standardizer.transform(try Matrix<Scalar>(rows: [[1]]))
    }
  }
}
