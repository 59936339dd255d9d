// Fingerprints: short hashes of bit patterns, so ranks can check that they hold the same numbers
// without sending them (the trainer's collective setup, `Batch.fingerprint`).

/// A 64-bit fingerprint of `values`' bit patterns (FNV-1a over 8-byte words, then the tail's
/// bytes), to check that ranks hold the same numbers without sending them.
func fingerprint<Element: BitwiseCopyable>(_ values: [Element]) -> String {
  var hash: UInt64 = 0xCBF2_9CE4_8422_2325
  values.withUnsafeBytes { bytes in
    let words = bytes.count / 8
    for w in 0..<words {
      hash = (hash ^ bytes.loadUnaligned(fromByteOffset: 8 * w, as: UInt64.self)) &* 0x100_0000_01B3
    }
    for byte in bytes[(8 * words)...] { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
  }
  return String(hash, radix: 16)
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
