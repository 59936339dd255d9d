import Foundation

// Checks shared by the public entry points. Each throws the typed error that names what was wrong.

@usableFromInline
func validateCount(_ count: Int, expected: Int, of what: String) throws(MinibatchError) {
  guard count == expected else {
    throw .shapeMismatch(expected: expected, got: count, of: what)
  }
}

func validateLearningRate<Scalar: BinaryFloatingPoint>(_ rate: Scalar) throws(MinibatchError) {
  guard rate.isFinite, rate >= 0 else { throw .invalidLearningRate(Double(rate)) }
}

/// Throws ``MinibatchError/nonFiniteValue(index:of:)`` naming the first NaN or infinity.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func validateFinite<Scalar: BLASScalar>(
  _ values: [Scalar], of what: String
) throws(MinibatchError) {
  if !allFinite(values), let index = values.firstIndex(where: { !$0.isFinite }) {
    throw .nonFiniteValue(index: index, of: what)
  }
}

/// Whether every entry is finite, in one vectorised pass: `x·0` is 0 for finite `x` and NaN
/// otherwise, so the sum of those is NaN iff any entry is not finite. It runs on every model
/// call and training step over all `n` parameters, hence the care.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func allFinite<Scalar: BLASScalar>(_ values: [Scalar]) -> Bool {
  values.withUnsafeBufferPointer { buffer -> Bool in
    typealias Vector = Scalar.CacheLineVector
    let lanes = Vector.scalarCount
    var probe = Vector()
    var i = 0
    while i + lanes <= buffer.count {
      let v = UnsafeRawPointer(buffer.baseAddress! + i).loadUnaligned(as: Vector.self)
      probe += v * 0
      i += lanes
    }
    var tail: Scalar = 0
    while i < buffer.count {
      tail += buffer[i] * 0
      i += 1
    }
    return (probe.sum() + tail).isFinite
  }
}

/// Throws ``MinibatchError/invalidArgument(name:value:expected:)`` unless `isValid`.
func validateArgument<T>(
  _ value: T, named name: String, expected: String, _ isValid: Bool
) throws(MinibatchError) {
  guard isValid else { throw .invalidArgument(name: name, value: "\(value)", expected: expected) }
}

/// `count` copies of `value`. Generic code that is not specialised (a public entry point called
/// from another module) fills an array one element at a time through the type's value witness;
/// this specialised kernel fills it at memory speed.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func filled<Scalar: BLASScalar>(_ value: Scalar, count: Int) -> [Scalar] {
  [Scalar](repeating: value, count: count)
}

/// Sets every entry of `values` to 0, at memory speed (see ``filled(_:count:)``).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
@usableFromInline
func zeroFill<Scalar: BLASScalar>(_ values: inout [Scalar]) {
  values.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
}

/// Throws ``MinibatchError/nonFiniteEntry(row:column:of:)`` naming the first NaN or infinity of a
/// row-major `rows × columns` matrix.
func validateFiniteEntries<Scalar: BLASScalar>(
  _ matrix: Matrix<Scalar>, of what: String
) throws(MinibatchError) {
  if !allFinite(matrix.elements), let index = matrix.elements.firstIndex(where: { !$0.isFinite }) {
    throw .nonFiniteEntry(row: index / matrix.columns, column: index % matrix.columns, of: what)
  }
}

/// Throws ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` when `count` scalars of `stride`
/// bytes would exceed the machine's physical memory: a throwing initialiser throws instead of
/// dying in the allocator.
func validateAllocation(count: Int, stride: Int, of what: String) throws(MinibatchError) {
  let limit = Int(clamping: ProcessInfo.processInfo.physicalMemory)
  let (bytes, overflow) = count.multipliedReportingOverflow(by: stride)
  guard !overflow, bytes <= limit else {
    throw .allocationTooLarge(bytes: overflow ? Int.max : bytes, limit: limit, of: what)
  }
}

// MARK: - Decoding

// Decoding a saved value runs the same validation as its initialiser, so a damaged or edited file
// gives a `DecodingError` that names the problem, never an invalid value.

/// Turns a `MinibatchError` found while decoding into a `DecodingError` at `decoder`'s path.
func decodingError(_ error: MinibatchError, _ decoder: Decoder) -> DecodingError {
  .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
}

/// Runs the validating `body` on decoded values, reporting its error as a `DecodingError`.
func validated<T>(_ decoder: Decoder, _ body: () throws(MinibatchError) -> T) throws -> T {
  do {
    return try body()
  } catch {
    throw decodingError(error, decoder)
  }
}
