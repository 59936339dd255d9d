import Foundation
import MinibatchTestSupport
import PropertyBased
import Testing

@testable import Minibatch

/// The CSV loader's byte-level number reader agrees with Swift's `Double(String)` and
/// `Int(String)` bit for bit on decimals, on the fast path and off it, and refuses the
/// non-decimal forms `Double(String)` accepts.
@Suite struct CSVNumberTests {
  func read(_ text: String) -> (Double?, Int?) {
    var text = text
    return text.withUTF8 { bytes in
      (CSVNumber.double(bytes, 0..<bytes.count), CSVNumber.integer(bytes, 0..<bytes.count))
    }
  }

  @Test func fixedCasesMatchTheStandardLibrary() {
    let cases = [
      "0", "-0", "+3", "16", "0.5", ".5", "5.", "1e5", "1E-5", "-2.5e+3", "123456789012345",
      "1234567890123456789", "0.1", "0.3", "1e22", "1e23", "1e-22", "1e-23", "1e308", "1e309",
      "4.9e-324", "inf", "-infinity", "nan", "0x1p-3", "", " ", ".", "e5", "1e", "1.2.3", "1,2",
      "abc", "12a", "--1", " 42 ", "\t7\t", "9223372036854775807", "9223372036854775808",
      "-9223372036854775808", "000000000000000000000000001.5", "1.000000000000000000000001",
    ]
    // A saturated exponent next to a long mantissa: 10⁻¹⁰⁰⁰⁰⁰·10¹⁰⁰⁰⁰⁵ = 10⁵.
    let longMantissa = "0." + String(repeating: "0", count: 99_999) + "1e100005"
    for text in cases + [longMantissa] {
      let (double, integer) = read(text)
      let trimmed = text.trimmingCharacters(in: .whitespaces)
      // Not decimals: what Double(String) reads beyond them is refused.
      let expected =
        ["inf", "-infinity", "nan", "0x1p-3"].contains(trimmed) ? nil : Double(trimmed)
      #expect(
        double?.bitPattern == expected?.bitPattern || (double?.isNaN == true && expected!.isNaN),
        "\"\(text)\": \(String(describing: double)) vs \(String(describing: expected))")
      #expect(integer == Int(trimmed), "\"\(text)\"")
    }
  }

  @Test func randomDecimalsMatchBitForBit() async {
    await propertyCheck(
      count: 2000, input: Gen.int(in: 0...999_999_999), Gen.int(in: 0...17),
      Gen.int(in: -30...30), Gen.bool
    ) { digits, point, exponent, negative in
      var text = String(digits)
      let position = min(point, text.count)
      text.insert(".", at: text.index(text.startIndex, offsetBy: text.count - position))
      if exponent != 0 { text += "e\(exponent)" }
      if negative { text = "-" + text }
      let (double, _) = read(text)
      #expect(double?.bitPattern == Double(text)?.bitPattern, "\(text)")
    }
  }
}
