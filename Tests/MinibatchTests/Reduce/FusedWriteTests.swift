import Minibatch
import MinibatchTestSupport
import Testing

/// Writing J and reducing it block by block gives the same J as writing it whole, and the GEMV
/// of the separate reduction up to rounding; bit-identical for any thread count.
@Suite struct FusedWriteTests {
  static let networks: [(layers: [Int], k: Int)] = [
    ([1, 1], 1), ([3, 2], 5), ([40, 100, 10], 1), ([40, 100, 10], 33), ([7, 300, 300, 4], 9),
    // J of 40 × 203,530 Double is 65 MB: beyond the last-level cache.
    ([784, 256, 10], 40),
  ]

  @Test(arguments: allScalarTypes)
  func fusedWriteMatchesWriteThenReduce(_ type: any BLASScalar.Type) throws { try check(type) }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (index, network) in Self.networks.enumerated() {
      let model = try MultilayerPerceptron<Scalar>(
        layerSizes: network.layers, hiddenActivation: .tanh,
        outputLoss: network.layers.last! == 1 ? .squaredError : .softmaxCrossEntropy)
      let batch = try randomBatch(
        Scalar.self, k: network.k, d: network.layers[0], outputs: model.outputCount,
        loss: model.outputLoss, seed: UInt64(index))
      let parameters = model.initialParameters(seed: 3)
      let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
      var whole = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
      try whole.write(writer)

      var rng = SeededGenerator(seed: 9)
      let v: [Scalar] = rng.signedArray(count: network.k)
      let start: [Scalar] = rng.signedArray(count: model.parameterCount)
      var results: [[Scalar]] = []
      for threads in [1, 2, 3] {
        var fused = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
        var y = start
        try fused.write(
          writer, reducingWith: v, alpha: -0.5, beta: 2, into: &y, parallelism: .threads(threads))
        #expect(fused == whole, "\(network) threads \(threads)")
        results.append(y)
      }
      #expect(results.allSatisfy { $0 == results[0] }, "thread counts disagree for \(network)")
      var separate = start
      try whole.reduce(with: v, alpha: -0.5, beta: 2, into: &separate)
      let reference = referenceReduction(
        elements: whole.elements, k: network.k, n: model.parameterCount, vector: v, alpha: -0.5,
        beta: 2, y: start)
      for got in [results[0], separate] {
        #expect(
          withinSummationBound(
            got, reference.value, magnitude: reference.magnitude, terms: network.k + 1),
          "\(network)")
      }

      // The fused write with v = 1/k, alpha = 1, beta = 0 is the mean of the rows.
      var meanMatrix = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
      var mean = [Scalar](repeating: 0, count: model.parameterCount)
      try meanMatrix.write(
        writer, reducingWith: [Scalar](repeating: 1 / Scalar(network.k), count: network.k),
        into: &mean)
      #expect(meanMatrix == whole)
      #expect(relativeError(mean, whole.mean()) < (Scalar.self == Double.self ? 1e-12 : 1e-4))
    }
  }

  /// Any writer, over the reduction shapes (k = 1, n = 1, odd sizes, beyond the caches): the
  /// fused write copies every entry and reduces within the summation bound, for 1 and 2 threads.
  @Test(arguments: allScalarTypes)
  func fusedWriteOfAnyMatrixMatchesTheReference(_ type: any BLASScalar.Type) throws {
    try checkShapes(type)
  }

  func checkShapes<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (index, shape) in reductionShapes.enumerated() {
      let source = try randomGradients(Scalar.self, k: shape.k, n: shape.n, seed: UInt64(index))
      let writer = copyingWriter(source)
      var rng = SeededGenerator(seed: 50 + UInt64(index))
      let v: [Scalar] = rng.signedArray(count: shape.k)
      let start: [Scalar] = rng.signedArray(count: shape.n)
      let reference = referenceReduction(
        elements: source.elements, k: shape.k, n: shape.n, vector: v, alpha: 0.75, beta: -1,
        y: start)
      var results: [[Scalar]] = []
      for threads in [1, 2] {
        var target = try PerExampleGradients<Scalar>(k: shape.k, n: shape.n)
        var y = start
        try target.write(
          writer, reducingWith: v, alpha: 0.75, beta: -1, into: &y, parallelism: .threads(threads))
        #expect(target == source, "\(shape) threads \(threads)")
        #expect(
          withinSummationBound(
            y, reference.value, magnitude: reference.magnitude, terms: shape.k + 1),
          "\(shape) threads \(threads)")
        results.append(y)
      }
      #expect(results[0] == results[1], "\(shape): thread counts disagree")
    }
  }

  @Test func badFusedWritesAreRefusedAndWriteNothing() throws {
    let model = try SoftmaxRegression<Double>(inputCount: 2, classCount: 3)
    let batch = try randomBatch(
      Double.self, k: 4, d: 2, outputs: 3, loss: .softmaxCrossEntropy, seed: 1)
    let (writer, _) = try model.perExampleRowWriter(
      parameters: model.initialParameters(seed: 0), batch: batch)
    var gradients = try PerExampleGradients<Double>(
      k: 4, n: 9, elements: Array(repeating: 7, count: 36))
    var y = [Double](repeating: 1, count: 9)
    var short = try PerExampleGradients<Double>(k: 3, n: 9)
    expectError(.shapeMismatch(expected: 4, got: 3, of: "rows of the gradient matrix (k)")) {
      try short.write(writer)
    }
    var narrow = try PerExampleGradients<Double>(k: 4, n: 8)
    expectError(.shapeMismatch(expected: 9, got: 8, of: "columns of the gradient matrix (n)")) {
      try narrow.write(writer, reducingWith: [1, 1, 1, 1], into: &y)
    }
    expectError(.shapeMismatch(expected: 4, got: 3, of: "reduction vector (length k)")) {
      try gradients.write(writer, reducingWith: [1, 1, 1], into: &y)
    }
    expectError(.nonFiniteValue(index: 2, of: "reduction vector")) {
      try gradients.write(writer, reducingWith: [1, 1, .nan, 1], into: &y)
    }
    expectError(.nonFiniteValue(index: 0, of: "alpha")) {
      try gradients.write(writer, reducingWith: [1, 1, 1, 1], alpha: .infinity, into: &y)
    }
    expectError(.nonFiniteValue(index: 0, of: "beta")) {
      try gradients.write(writer, reducingWith: [1, 1, 1, 1], beta: .nan, into: &y)
    }
    var longY = [Double](repeating: 1, count: 10)
    expectError(.shapeMismatch(expected: 9, got: 10, of: "y (length n)")) {
      try gradients.write(writer, reducingWith: [1, 1, 1, 1], into: &longY)
    }
    #expect(gradients.elements.allSatisfy { $0 == 7 })
    #expect(y.allSatisfy { $0 == 1 } && longY.allSatisfy { $0 == 1 })
    #expect(short.elements.allSatisfy { $0 == 0 } && narrow.elements.allSatisfy { $0 == 0 })
  }
}
