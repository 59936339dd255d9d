import MinibatchTestSupport
import Testing

@testable import Minibatch

/// The vectorised finiteness check finds the first NaN or infinity at every position, in the
/// SIMD part and in the tail, and accepts the largest finite values.
@Suite struct ValidationTests {
  @Test(arguments: allScalarTypes)
  func finitenessCheckFindsTheFirstBadEntry(_ type: any BLASScalar.Type) { check(type) }

  func check<Scalar: BLASScalar>(_: Scalar.Type) {
    for count in [1, 7, 16, 17, 40] {
      var values = (0..<count).map {
        $0 % 2 == 0 ? Scalar.greatestFiniteMagnitude : -Scalar.leastNonzeroMagnitude
      }
      expectNoError { try validateFinite(values, of: "v") }
      for index in [0, count / 2, count - 1] {
        for bad in [Scalar.nan, .infinity, -.infinity] {
          let saved = values[index]
          values[index] = bad
          if index + 1 < count { values[count - 1] = .nan }  // a later bad entry is not reported
          expectError(.nonFiniteValue(index: index, of: "v")) {
            try validateFinite(values, of: "v")
          }
          values[index] = saved
          values[count - 1] =
            count % 2 == 1 ? Scalar.greatestFiniteMagnitude : -Scalar.leastNonzeroMagnitude
        }
      }
    }
  }

  func expectNoError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do { try body() } catch { Issue.record("unexpected \(error)", sourceLocation: sourceLocation) }
  }
}
