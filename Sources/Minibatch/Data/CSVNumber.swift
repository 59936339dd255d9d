import Foundation

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
