import Minibatch
import MinibatchTestSupport
import Testing

/// The three representations of J — stored, factored, streamed — against a naive Double reference
/// built from the stored entries, and against each other: `Jᵀv` (any alpha, beta), `(J∘J)ᵀv`,
/// squared row norms and tiles with a row stride, for networks from one example and one output to
/// a J beyond the last-level cache.
@Suite struct OperatorRepresentationTests {
  static let networks: [(layers: [Int], activation: Activation, loss: OutputLoss, k: Int)] = [
    ([1, 1], .identity, .squaredError, 1),
    ([3, 1], .identity, .binaryCrossEntropy, 9),
    ([5, 4], .identity, .softmaxCrossEntropy, 1),
    ([6, 3, 1], .relu, .binaryCrossEntropy, 12),
    ([7, 5, 4, 3], .tanh, .softmaxCrossEntropy, 17),
    ([40, 100, 10], .relu, .softmaxCrossEntropy, 33),
    ([9, 6, 2], .tanh, .squaredError, 64),
    // J of 40 × 203,530 is 65 MB in Double: beyond the last-level cache.
    ([784, 256, 10], .relu, .softmaxCrossEntropy, 40),
  ]

  @Test(arguments: allScalarTypes)
  func representationsAgreeWithTheReference(_ type: any BLASScalar.Type) throws {
    try check(type)
  }

  func check<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (index, network) in Self.networks.enumerated() {
      let model = try MultilayerPerceptron<Scalar>(
        layerSizes: network.layers, hiddenActivation: network.activation,
        outputLoss: network.loss)
      let batch = try randomBatch(
        Scalar.self, k: network.k, d: network.layers[0], outputs: model.outputCount,
        loss: network.loss, seed: UInt64(index))
      let parameters = model.initialParameters(seed: 7)
      let label = "\(network.layers) k=\(network.k) \(Scalar.self)"
      let representations: [(String, any PerExampleGradientOperator<Scalar>)] = try [
        GradientRepresentation.factored, .stored, .streamed,
      ].map { representation in
        let (gradients, _) = try model.perExampleGradients(
          parameters: parameters, batch: batch, representation: representation)
        return ("\(representation)", gradients)
      }
      let (stored, _) = try model.perExampleGradients(parameters: parameters, batch: batch)
      try checkAgainstReference(representations, stored: stored, label: label)
    }
  }

  /// Any writer (a user's own model) through the streamed representation, over the reduction
  /// shapes (k = 1, n = 1, odd sizes, beyond the caches).
  @Test(arguments: allScalarTypes)
  func streamedAnyWriterAgreesWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkAnyWriter(type)
  }

  func checkAnyWriter<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (index, shape) in reductionShapes.enumerated() {
      let stored = try randomGradients(Scalar.self, k: shape.k, n: shape.n, seed: UInt64(index))
      let streamed = StreamedPerExampleGradients(copyingWriter(stored))
      try checkAgainstReference(
        [("stored", stored), ("streamed", streamed)], stored: stored,
        label: "\(shape) \(Scalar.self)")
    }
  }

  func checkAgainstReference<Scalar: BLASScalar>(
    _ representations: [(String, any PerExampleGradientOperator<Scalar>)],
    stored: PerExampleGradients<Scalar>, label: String
  ) throws {
    let (k, n) = (stored.k, stored.n)
    var rng = SeededGenerator(seed: UInt64(k * 31 + n))
    let v: [Scalar] = rng.signedArray(count: k)
    let start: [Scalar] = rng.signedArray(count: n)
    let reference = referenceReduction(
      elements: stored.elements, k: k, n: n, vector: v, alpha: -0.75, beta: 2, y: start)
    let squares = referenceReduction(
      elements: stored.elements.map { $0 * $0 }, k: k, n: n, vector: v, alpha: 0.5, beta: 0)
    let norms = try (0..<k).map { i in
      try stored.row(i).reduce(0.0) { $0 + Double($1) * Double($1) }
    }
    let normTolerance = Double(n + 8) * Double(Scalar.ulpOfOne)
    for (name, gradients) in representations {
      #expect(gradients.exampleCount == k && gradients.parameterCount == n, "\(name) \(label)")
      var y = start
      try gradients.reduce(with: v, alpha: -0.75, beta: 2, into: &y, parallelism: .automatic)
      #expect(
        withinSummationBound(y, reference.value, magnitude: reference.magnitude, terms: k + 3),
        "Jᵀv, \(name) \(label)")
      // beta = 0 never reads y, even NaN.
      var fromNaN = [Scalar](repeating: .nan, count: n)
      try gradients.reduceSquares(
        with: v, alpha: 0.5, beta: 0, into: &fromNaN, parallelism: .automatic)
      #expect(
        withinSummationBound(fromNaN, squares.value, magnitude: squares.magnitude, terms: k + 6),
        "(J∘J)ᵀv, \(name) \(label)")
      let got = gradients.squaredRowNorms(parallelism: .automatic)
      #expect(
        zip(got, norms).allSatisfy { abs(Double($0) - $1) <= normTolerance * $1 + 1e-300 },
        "‖g_i‖², \(name) \(label)")
      // A tile with a row stride wider than the tile, bordered by sentinels that must survive.
      let rows = (k / 3)..<max(k / 3 + 1, k - k / 4)
      let columns = (n / 5)..<max(n / 5 + 1, n - n / 7)
      let stride = columns.count + 3
      let extent = (rows.count - 1) * stride + columns.count
      var tile = [Scalar](repeating: -99, count: extent + 2)
      try tile.withUnsafeMutableBufferPointer { buffer in
        try gradients.writeTile(
          rows: rows, columns: columns,
          into: UnsafeMutableBufferPointer(rebasing: buffer[1..<(extent + 1)]), rowStride: stride)
      }
      var exact = true
      for (r, i) in rows.enumerated() {
        for (c, j) in columns.enumerated() where tile[1 + r * stride + c] != stored[i, j] {
          exact = false
        }
        for gap in columns.count..<stride where r < rows.count - 1 {
          exact = exact && tile[1 + r * stride + gap] == -99
        }
      }
      #expect(exact && tile[0] == -99 && tile[extent + 1] == -99, "tile, \(name) \(label)")
    }
  }

  /// The streamed reductions give the same bits for any thread count, and the same bits as the
  /// stored matrix's fused write-and-reduce (the same sweep, without the store).
  @Test(arguments: allScalarTypes)
  func streamedIsBitIdenticalForAnyThreadCount(_ type: any BLASScalar.Type) throws {
    try checkThreads(type)
  }

  func checkThreads<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for shape in [(k: 17, n: 9000), (k: 300, n: 3001), (k: 2, n: 20_011)] {
      let stored = try randomGradients(Scalar.self, k: shape.k, n: shape.n, seed: 3)
      let streamed = StreamedPerExampleGradients(copyingWriter(stored))
      var rng = SeededGenerator(seed: 4)
      let v: [Scalar] = rng.signedArray(count: shape.k)
      var results: [[Scalar]] = []
      var squares: [[Scalar]] = []
      var norms: [[Double]] = []
      for threads in 1...3 {
        results.append(try streamed.reduce(with: v, parallelism: .threads(threads)))
        var y = [Scalar](repeating: 0, count: shape.n)
        try streamed.reduceSquares(
          with: v, alpha: 1, beta: 0, into: &y, parallelism: .threads(threads))
        squares.append(y)
        norms.append(streamed.squaredRowNorms(parallelism: .threads(threads)))
      }
      #expect(results.allSatisfy { $0 == results[0] }, "\(shape)")
      #expect(squares.allSatisfy { $0 == squares[0] }, "\(shape)")
      #expect(norms.allSatisfy { $0 == norms[0] }, "\(shape)")
      var target = try PerExampleGradients<Scalar>(k: shape.k, n: shape.n)
      var fused = [Scalar](repeating: 0, count: shape.n)
      try target.write(copyingWriter(stored), reducingWith: v, into: &fused)
      #expect(fused == results[0], "\(shape): streamed and fused write differ")
    }
  }

  /// Bad tiles and bad reduction arguments are refused with typed errors, writing nothing.
  @Test func badTilesAndArgumentsAreRefused() throws {
    let stored = try randomGradients(Double.self, k: 4, n: 6, seed: 1)
    let model = try MultilayerPerceptron<Double>(layerSizes: [2, 2])
    let batch = try randomBatch(
      Double.self, k: 4, d: 2, outputs: 2, loss: .softmaxCrossEntropy, seed: 1)
    let (factored, _) = try model.perExampleGradients(
      parameters: model.initialParameters(seed: 0), batch: batch, representation: .factored)
    let representations: [any PerExampleGradientOperator<Double>] = [
      stored, factored, StreamedPerExampleGradients(copyingWriter(stored)),
    ]
    for gradients in representations {
      var buffer = [Double](repeating: 5, count: 12)
      buffer.withUnsafeMutableBufferPointer { tile in
        expectError(
          .invalidArgument(
            name: "tile rows", value: "3..<5", expected: "a non-empty range within 0..<4")
        ) { try gradients.writeTile(rows: 3..<5, columns: 0..<2, into: tile, rowStride: 2) }
        expectError(
          .invalidArgument(
            name: "tile rows", value: "1..<1", expected: "a non-empty range within 0..<4")
        ) { try gradients.writeTile(rows: 1..<1, columns: 0..<2, into: tile, rowStride: 2) }
        expectError(
          .invalidArgument(
            name: "tile columns", value: "5..<7", expected: "a non-empty range within 0..<6")
        ) { try gradients.writeTile(rows: 0..<1, columns: 5..<7, into: tile, rowStride: 2) }
        expectError(
          .invalidArgument(name: "row stride", value: "2", expected: "≥ 3 (the tile's width)")
        ) { try gradients.writeTile(rows: 0..<2, columns: 0..<3, into: tile, rowStride: 2) }
        expectError(
          .shapeMismatch(
            expected: 15, got: 12, of: "tile buffer ((rows − 1)·stride + columns)")
        ) { try gradients.writeTile(rows: 0..<4, columns: 0..<3, into: tile, rowStride: 4) }
      }
      #expect(buffer.allSatisfy { $0 == 5 })
      var y = [Double](repeating: 1, count: 6)
      expectError(.shapeMismatch(expected: 4, got: 3, of: "reduction vector (length k)")) {
        try gradients.reduceSquares(
          with: [1, 1, 1], alpha: 1, beta: 0, into: &y, parallelism: .serial)
      }
      expectError(.nonFiniteValue(index: 0, of: "alpha")) {
        try gradients.reduce(
          with: [1, 1, 1, 1], alpha: .nan, beta: 0, into: &y, parallelism: .serial)
      }
      var short = [Double](repeating: 1, count: 5)
      expectError(.shapeMismatch(expected: 6, got: 5, of: "y (length n)")) {
        try gradients.reduce(
          with: [1, 1, 1, 1], alpha: 1, beta: 0, into: &short, parallelism: .serial)
      }
      #expect(y.allSatisfy { $0 == 1 } && short.allSatisfy { $0 == 1 })
    }
    // The writer itself refuses a bad shape, and factors must agree on k.
    expectError(.emptyBatch) {
      try PerExampleRowWriter<Double>(exampleCount: 0, parameterCount: 3) { _, _, _, _ in }
    }
    let a = try Matrix<Double>(rows: 3, columns: 2)
    let d = try Matrix<Double>(rows: 2, columns: 2)
    expectError(.shapeMismatch(expected: 3, got: 2, of: "rows of Δ (examples, as in A)")) {
      try FactoredPerExampleGradients<Double>.Layer(inputs: a, deltas: d)
    }
    expectError(
      .invalidArgument(name: "layers", value: "[]", expected: "at least one dense layer")
    ) { try FactoredPerExampleGradients<Double>(layers: []) }
    let first = try FactoredPerExampleGradients<Double>.Layer(inputs: a, deltas: a)
    let second = try FactoredPerExampleGradients<Double>.Layer(inputs: d, deltas: d)
    expectError(.shapeMismatch(expected: 3, got: 2, of: "examples of layer 1")) {
      try FactoredPerExampleGradients<Double>(layers: [first, second])
    }
  }
}
