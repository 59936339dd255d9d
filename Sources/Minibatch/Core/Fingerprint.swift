// Fingerprints: short hashes of bit patterns, so ranks can check that they hold the same numbers
// without sending them (the trainer's collective setup, `Batch.fingerprint`).

/// A 64-bit fingerprint of `values`' bit patterns (FNV-1a over 8-byte words, then the tail's
/// bytes), to check that ranks hold the same numbers without sending them.
func fingerprint<Element: BitwiseCopyable>(_ values: [Element]) -> String {
  var hasher = FingerprintHasher()
  hasher.combine(values)
  return hasher.value
}

/// ``fingerprint(_:)`` fed in pieces: the hash of the pieces' concatenation, whatever the cuts
/// (a source that converts a file's rows a piece at a time fingerprints them as the whole array
/// would be fingerprinted).
struct FingerprintHasher {
  private var hash: UInt64 = 0xCBF2_9CE4_8422_2325
  /// The bytes of an unfinished 8-byte word, in memory order.
  private var pending: UInt64 = 0
  private var pendingCount = 0

  private static let prime: UInt64 = 0x100_0000_01B3

  mutating func combine<Element: BitwiseCopyable>(_ values: [Element]) {
    values.withUnsafeBytes { combine($0) }
  }

  mutating func combine(_ bytes: UnsafeRawBufferPointer) {
    var start = 0
    while pendingCount > 0, pendingCount < 8, start < bytes.count {
      withUnsafeMutableBytes(of: &pending) { $0[pendingCount] = bytes[start] }
      pendingCount += 1
      start += 1
    }
    if pendingCount == 8 {
      hash = (hash ^ pending) &* Self.prime
      (pending, pendingCount) = (0, 0)
    }
    let words = (bytes.count - start) / 8
    for w in 0..<words {
      hash =
        (hash ^ bytes.loadUnaligned(fromByteOffset: start + 8 * w, as: UInt64.self)) &* Self.prime
    }
    for byte in bytes[(start + 8 * words)...] {
      withUnsafeMutableBytes(of: &pending) { $0[pendingCount] = byte }
      pendingCount += 1
    }
  }

  /// The fingerprint of everything combined, as hexadecimal (the unfinished word's bytes one by
  /// one).
  var value: String {
    var result = hash
    withUnsafeBytes(of: pending) { bytes in
      for byte in bytes.prefix(pendingCount) { result = (result ^ UInt64(byte)) &* Self.prime }
    }
    return String(result, radix: 16)
  }
}

/// A fingerprint of a value's stored properties, read by reflection: arrays of `Scalar` (an
/// optimiser's state, say) by their bits, everything else by its description.
func stateFingerprint<Scalar: BLASScalar>(of value: Any, arraysOf _: Scalar.Type) -> String {
  func parts(_ value: Any) -> [String] {
    if let array = value as? [Scalar] { return [fingerprint(array)] }
    let mirror = Mirror(reflecting: value)
    if mirror.children.isEmpty { return ["\(value)"] }
    return mirror.children.flatMap { [($0.label ?? "_")] + parts($0.value) }
  }
  return fingerprint(Array(parts(value).joined(separator: ",").utf8))
}
