import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// The identity the package rests on: the mean of the per-example gradient rows (one GEMV) equals
/// the gradient of the mean loss, computed here independently, analytically and by central finite
/// differences, for two small losses of a linear model written out in this file.
@Suite struct IdentityTests {
  /// A loss of the linear score `z = x·w`, its derivative in z, in Double.
  struct Loss: Sendable {
    let name: String
    let value: @Sendable (_ z: Double, _ label: Double) -> Double
    let derivative: @Sendable (_ z: Double, _ label: Double) -> Double
  }

  static let squaredError = Loss(
    name: "squared error ½(z − y)²", value: { z, y in 0.5 * (z - y) * (z - y) },
    derivative: { z, y in z - y })

  /// Binary cross-entropy with labels in {0, 1} on the logit z: log(1 + eᶻ) − y·z.
  static let logistic = Loss(
    name: "logistic loss", value: { z, y in max(z, 0) + log1pExp(-abs(z)) - y * z },
    derivative: { z, y in 1 / (1 + exp(-z)) - y })

  static func log1pExp(_ x: Double) -> Double { log1p(exp(x)) }

  @Test(arguments: allScalarTypes)
  func meanOfRowsIsTheGradientOfTheMeanLoss(_ type: any BLASScalar.Type) throws {
    for loss in [Self.squaredError, Self.logistic] {
      for (seed, (k, d)) in [(1, 1), (1, 9), (7, 1), (16, 5), (33, 64), (256, 100)].enumerated() {
        try check(type, loss: loss, k: k, d: d, seed: UInt64(seed))
      }
    }
  }

  func check<Scalar: BLASScalar>(
    _: Scalar.Type, loss: Loss, k: Int, d: Int, seed: UInt64
  ) throws {
    var rng = SeededGenerator(seed: seed)
    let x: [Scalar] = rng.signedArray(count: k * d)
    let w: [Scalar] = rng.signedArray(count: d)
    let labels: [Double] = (0..<k).map { _ in Double(rng.next() & 1) }

    // Per-example rows g_i = ℓ'(x_i·w, y_i)·x_i, computed in Scalar: what a model would write.
    let gradients = try PerExampleGradients<Scalar>(k: k, n: d) { i, row in
      var z: Scalar = 0
      for j in 0..<d { z += x[i * d + j] * w[j] }
      let scale = Scalar(loss.derivative(Double(z), labels[i]))
      for j in 0..<d { row[j] = scale * x[i * d + j] }
    }
    let gemvMean = gradients.mean()

    // Analytic gradient of the mean loss, in Double, accumulated column by column.
    func score(_ i: Int, _ weights: [Double]) -> Double {
      (0..<d).reduce(0.0) { $0 + Double(x[i * d + $1]) * weights[$1] }
    }
    let wDouble = w.map(Double.init)
    let residuals = (0..<k).map { loss.derivative(score($0, wDouble), labels[$0]) }
    let analytic = (0..<d).map { j in
      (0..<k).reduce(0.0) { $0 + residuals[$1] * Double(x[$1 * d + j]) } / Double(k)
    }
    #expect(
      relativeError(gemvMean, analytic) <= identityTolerance(Scalar.self),
      "\(loss.name) k=\(k) d=\(d): GEMV mean vs analytic gradient of the mean loss")

    // Central finite differences of the mean loss, in Double. Truncation (h²) and cancellation
    // (ε/h) errors together stay below 1e-8 relative at h = 1e-5 for these smooth losses.
    func meanLoss(_ weights: [Double]) -> Double {
      (0..<k).reduce(0.0) { $0 + loss.value(score($1, weights), labels[$1]) } / Double(k)
    }
    let h = 1e-5
    let finiteDifferences = (0..<d).map { j in
      var plus = wDouble
      var minus = wDouble
      plus[j] += h
      minus[j] -= h
      return (meanLoss(plus) - meanLoss(minus)) / (2 * h)
    }
    #expect(
      relativeError(analytic, finiteDifferences) <= 1e-8,
      "\(loss.name) k=\(k) d=\(d): analytic vs finite differences")
    #expect(
      relativeError(gemvMean, finiteDifferences) <= max(identityTolerance(Scalar.self), 1e-8),
      "\(loss.name) k=\(k) d=\(d): GEMV mean vs finite differences")
  }
}
