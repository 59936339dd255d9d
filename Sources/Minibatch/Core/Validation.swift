// Checks shared by the public entry points. Each throws the typed error that names what was wrong.

func validateCount(_ count: Int, expected: Int, of what: String) throws(MinibatchError) {
  guard count == expected else {
    throw .shapeMismatch(expected: expected, got: count, of: what)
  }
}

func validateLearningRate<Scalar: BinaryFloatingPoint>(_ rate: Scalar) throws(MinibatchError) {
  guard rate.isFinite, rate >= 0 else { throw .invalidLearningRate(Double(rate)) }
}

func validateFinite<Scalar: BinaryFloatingPoint>(
  _ values: [Scalar], of what: String
) throws(MinibatchError) {
  if let index = values.firstIndex(where: { !$0.isFinite }) {
    throw .nonFiniteValue(index: index, of: what)
  }
}

/// Throws ``MinibatchError/invalidArgument(name:value:expected:)`` unless `isValid`.
func validateArgument<T>(
  _ value: T, named name: String, expected: String, _ isValid: Bool
) throws(MinibatchError) {
  guard isValid else { throw .invalidArgument(name: name, value: "\(value)", expected: expected) }
}
