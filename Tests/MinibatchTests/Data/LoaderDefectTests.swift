import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// A byte-order mark, a hexadecimal cell and a fractional label, each of which was misread
/// (issue 20).
@Suite struct LoaderDefectTests {
  func temporaryFile(_ bytes: [UInt8], suffix: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minibatch-defect-\(UUID().uuidString)\(suffix)")
    try Data(bytes).write(to: url)
    return url.path
  }

  @Test func aByteOrderMarkDoesNotHideTheFirstRow() throws {
    let loader = CSVLoader(classCount: 2, labelColumn: 0)
    let text = "\u{FEFF}0,1.5,2\n1,3,4\n"
    let parsed: Batch<Double> = try loader.parse(text)
    #expect(parsed.count == 2)
    #expect(parsed.inputs.elements == [1.5, 2, 3, 4])
    let path = try temporaryFile(Array(text.utf8), suffix: ".csv")
    let loaded: Batch<Double> = try loader.load(path: path)
    #expect(loaded.count == 2 && loaded.inputs.elements == [1.5, 2, 3, 4])
    // With a header after the mark, the header's first name has no mark in it.
    let named = CSVLoader(targets: .labels(classCount: 2, column: .name("y")))
    let withHeader: Batch<Double> = try named.parse("\u{FEFF}y,x\n1,2\n0,3\n")
    #expect(withHeader.count == 2 && withHeader.inputs.elements == [2, 3])
  }

  @Test func onlyDecimalNumbersAreNumbers() throws {
    let loader = CSVLoader(classCount: 2, hasHeader: false)
    for cell in ["0x10", "0x1p-3", "inf", "-infinity", "nan", "NaN", "1e", ".", "1_000"] {
      expectError(.nonNumericCell(line: 2, column: 2, text: cell)) {
        let _: Batch<Double> = try loader.parse("1,2,0\n1,\(cell),1\n")
      }
    }
    // On the first line too: a non-decimal cell does not make the line a header to drop.
    for cell in ["0x10", "nan", "inf"] {
      expectError(.nonNumericCell(line: 1, column: 2, text: cell)) {
        let _: Batch<Double> = try CSVLoader(classCount: 2).parse("1,\(cell),0\n1,2,1\n")
      }
    }
    let decimals: Batch<Double> = try loader.parse(
      "16,0.5,0\n.5,5.,1\n-2.5e+3,1E-5,0\n1.000000000000000000000001,1e-400,1\n")
    #expect(decimals.inputs.elements == [16, 0.5, 0.5, 5, -2500, 1e-5, 1, 0])
  }

  @Test func aFractionalLabelIsNamedWithItsValue() throws {
    // A .npy file of three float64 labels, the second 0.5.
    var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    func npy(_ header: String, _ data: [UInt8]) throws -> String {
      let length = header.utf8.count
      let bytes =
        [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
        + Array(header.utf8) + data
      return try temporaryFile(bytes, suffix: ".npy")
    }
    let labels = try npy(
      header,
      [1.0, 0.5, 2.0].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    var inputHeader = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }"
    while (10 + inputHeader.utf8.count + 1) % 64 != 0 { inputHeader += " " }
    inputHeader += "\n"
    let inputs = try npy(inputHeader, [1, 2, 3, 4, 5, 6])
    expectError(.nonIntegerLabel(index: 1, value: 0.5, classCount: 3)) {
      try NPYLoader.load(Double.self, inputs: inputs, labels: labels, classCount: 3)
    }
    // An integer outside the classes keeps its own error.
    let large = try npy(
      header,
      [1.0, 7.0, 2.0].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    expectError(.labelOutOfRange(index: 1, label: 7, classCount: 3)) {
      try NPYLoader.load(Double.self, inputs: inputs, labels: large, classCount: 3)
    }
  }
}
