import Minibatch
import MinibatchTestSupport
import PropertyBased
import Testing

/// The microbatch reference (as in Opacus' grad-sample tests): row `i` of `J` equals the gradient
/// of the one-example batch `{i}` from the plain backward pass — obviously correct, slow, and
/// independent of the per-example machinery. Checked over random networks and batches; a failure
/// shrinks to its smallest counterexample.
@Suite struct MicrobatchReferenceTests {
  @Test func everyRowIsTheGradientOfItsOneExampleBatch() async {
    await propertyCheck(
      count: 60, input: Gen.int(in: 1...3), Gen.int(in: 1...6), Gen.int(in: 1...7),
      Gen.int(in: 0...10_000)
    ) { depth, width, k, seed in
      do {
        try checkDouble(depth: depth, width: width, k: k, seed: UInt64(seed))
        try checkFloat(depth: depth, width: width, k: k, seed: UInt64(seed))
      } catch {
        Issue.record("depth \(depth) width \(width) k \(k) seed \(seed): \(error)")
      }
    }
  }

  /// The case that found the cancellation: a [1, 1, 1, 2] relu network whose relus are dead
  /// and whose labels are balanced, so the rows' mean is zero and the stored mean rounds to
  /// ±2.8e-17 (a relative error of 3e-16 against rows of size 0.5/6).
  @Test func rowsThatCancelHaveAMeanOfRoundingSize() throws {
    try checkDouble(depth: 3, width: 1, k: 6, seed: 567)
    try checkFloat(depth: 3, width: 1, k: 6, seed: 567)
  }

  func checkDouble(depth: Int, width: Int, k: Int, seed: UInt64) throws {
    try check(Double.self, depth: depth, width: width, k: k, seed: seed, tolerance: 1e-12)
  }

  func checkFloat(depth: Int, width: Int, k: Int, seed: UInt64) throws {
    try check(Float.self, depth: depth, width: width, k: k, seed: seed, tolerance: 1e-4)
  }

  func check<Scalar: BLASScalar>(
    _: Scalar.Type, depth: Int, width: Int, k: Int, seed: UInt64, tolerance: Double
  ) throws {
    var rng = SeededGenerator(seed: seed)
    let losses: [OutputLoss] = [.softmaxCrossEntropy, .binaryCrossEntropy, .squaredError]
    let loss = losses[Int(rng.next() % 3)]
    let outputs = loss == .binaryCrossEntropy ? 1 : 2 + Int(rng.next() % 3)
    let hidden = (0..<(depth - 1)).map { _ in 1 + Int(rng.next() % UInt64(width)) }
    let d = 1 + Int(rng.next() % UInt64(width))
    let activation = Activation.allCases[Int(rng.next() % 3)]
    let model = try MultilayerPerceptron<Scalar>(
      layerSizes: [d] + hidden + [outputs], hiddenActivation: activation, outputLoss: loss)
    let batch = try randomBatch(Scalar.self, k: k, d: d, outputs: outputs, loss: loss, seed: seed)
    let parameters = model.initialParameters(seed: seed &+ 1)
    let label = "\(model.layerSizes) \(activation) \(loss) k=\(k) \(Scalar.self)"
    for representation in [GradientRepresentation.factored, .stored, .streamed] {
      let (gradients, rowLosses) = try model.perExampleGradients(
        parameters: parameters, batch: batch, representation: representation)
      var rows = [Scalar](repeating: 0, count: k * model.parameterCount)
      try rows.withUnsafeMutableBufferPointer { buffer in
        try gradients.writeTile(
          rows: 0..<k, columns: 0..<model.parameterCount, into: buffer,
          rowStride: model.parameterCount)
      }
      for i in 0..<k {
        let single = try batch.gathering([i])
        let (loss, gradient) = try model.meanLossAndGradient(
          parameters: parameters, batch: single)
        let row = Array(rows[(i * model.parameterCount)..<((i + 1) * model.parameterCount)])
        #expect(
          relativeError(row, gradient) <= tolerance, "row \(i), \(representation), \(label)")
        #expect(
          abs(Double(rowLosses[i] - loss)) <= tolerance * max(1, abs(Double(loss))),
          "loss \(i), \(label)")
      }
      // The mean of the rows is the gradient of the mean loss, to rounding of the rows' size (the
      // rows may cancel: dead relus and balanced labels give a mean of exactly zero).
      let (_, meanGradient) = try model.meanLossAndGradient(parameters: parameters, batch: batch)
      #expect(
        meanRelativeError(gradients.mean(), meanGradient, rows: rows, k: k) <= tolerance,
        "mean, \(representation), \(label)")
    }
  }
}
