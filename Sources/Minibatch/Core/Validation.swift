// Checks shared by the public entry points. Each throws the typed error that names what was wrong.

func validateCount(_ count: Int, expected: Int, of what: String) throws(MinibatchError) {
  guard count == expected else {
    throw .shapeMismatch(expected: expected, got: count, of: what)
  }
}

func validateLearningRate<Scalar: BinaryFloatingPoint>(_ rate: Scalar) throws(MinibatchError) {
  guard rate.isFinite, rate >= 0 else { throw .invalidLearningRate(Double(rate)) }
}
