import Minibatch
import MinibatchTestSupport
import Testing

/// Every model's per-example rows against central finite differences, and the identity
/// mean-of-rows == gradient-of-the-mean-loss, over several random shapes.
@Suite struct ModelGradientTests {
  static let shapes: [(k: Int, d: Int, classes: Int)] = [
    (1, 1, 2), (1, 5, 3), (3, 1, 2), (8, 6, 4), (17, 11, 3),
  ]

  @Test(arguments: 0..<shapes.count)
  func finiteDifferencesAgreeInDouble(_ shapeIndex: Int) throws {
    let shape = Self.shapes[shapeIndex]
    for (seed, entry) in try modelZoo(Double.self, d: shape.d, classes: shape.classes).enumerated()
    {
      let batch = try randomBatch(
        Double.self, k: shape.k, d: shape.d, outputs: entry.model.outputCount, loss: entry.loss,
        seed: UInt64(seed))
      let parameters = entry.model.initialParameters(seed: UInt64(100 + seed))
      let report = try entry.model.checkGradients(parameters: parameters, batch: batch)
      #expect(report.meanGradientError < 1e-7, "\(entry.name) \(shape): \(report)")
      #expect(report.worstPerExampleError < 1e-7, "\(entry.name) \(shape): \(report)")
      #expect(report.meanOfRowsError < 1e-10, "\(entry.name) \(shape): \(report)")
    }
  }

  /// The identity in both precisions on larger batches, where no finite differences are needed.
  @Test(arguments: allScalarTypes)
  func meanOfRowsEqualsGradientOfMeanLoss(_ type: any BLASScalar.Type) throws {
    try checkIdentity(type)
  }

  func checkIdentity<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-10 : 2e-5
    for (k, d) in [(1, 1), (64, 30), (300, 17)] {
      for (seed, entry) in try modelZoo(Scalar.self, d: d, classes: 5).enumerated() {
        let batch = try randomBatch(
          Scalar.self, k: k, d: d, outputs: entry.model.outputCount, loss: entry.loss,
          seed: UInt64(seed))
        let parameters = entry.model.initialParameters(seed: 7)
        let (rows, losses) = try entry.model.perExampleGradients(
          parameters: parameters, batch: batch)
        let (meanLoss, gradient) = try entry.model.meanLossAndGradient(
          parameters: parameters, batch: batch)
        #expect(relativeError(rows.mean(), gradient) < tolerance, "\(entry.name) k=\(k) d=\(d)")
        let lossMean = losses.reduce(0, +) / Scalar(k)
        #expect(relativeError([lossMean], [meanLoss]) < tolerance, "\(entry.name)")
        #expect(try losses == entry.model.losses(parameters: parameters, batch: batch))
      }
    }
  }

  /// Rows are identical for any thread count (each row is written by exactly one thread).
  @Test func rowsDoNotDependOnThreads() throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [40, 32, 10])
    let batch = try randomBatch(
      Double.self, k: 257, d: 40, outputs: 10, loss: .softmaxCrossEntropy, seed: 3)
    let parameters = model.initialParameters(seed: 1)
    let serial = try model.perExampleGradients(
      parameters: parameters, batch: batch, parallelism: .serial)
    let threaded = try model.perExampleGradients(
      parameters: parameters, batch: batch, parallelism: .threads(3))
    #expect(serial.gradients == threaded.gradients)
  }
}
