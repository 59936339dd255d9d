import Minibatch
import MinibatchTestSupport
import Testing

/// Clipping through the three representations of J against a naive Double reference, the bound
/// on every clipped row (flat and per block), per-block reductions, and every error.
@Suite struct ClippingTests {
  static let networks: [(layers: [Int], k: Int)] = [
    ([1, 1], 1), ([3, 1], 9), ([5, 4], 1), ([6, 3, 1], 12), ([7, 5, 4, 3], 17),
    ([40, 100, 10], 33),
    // J of 40 × 203,530: beyond the last-level cache in Double.
    ([784, 256, 10], 40),
  ]

  /// A bound that clips about half the rows and lies midway between two norms (so that rounding
  /// cannot decide whether a row is clipped).
  func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let m = sorted.count / 2
    return m == 0 ? 0.5 * sorted[0] : (sorted[m - 1] + sorted[m]) / 2
  }

  @Test(arguments: allScalarTypes)
  func clippedSumsAgreeWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkClippedSums(type)
  }

  func checkClippedSums<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-12 : 2e-5
    for (index, network) in Self.networks.enumerated() {
      let (model, batch) = try randomNetworkCase(
        Scalar.self, layers: network.layers, k: network.k, activation: .tanh,
        seed: UInt64(index), scale: 3)
      let parameters = model.initialParameters(seed: 11)
      let (stored, _) = try model.perExampleGradients(parameters: parameters, batch: batch)
      let (k, n) = (stored.k, stored.n)
      let rowNorms = stored.squaredRowNorms().map { Double($0).squareRoot() }
      let tensorBlocks = model.parameterBlocks.ranges
      let blockNorms = try stored.squaredBlockNorms(model.parameterBlocks).map {
        $0.map { $0.squareRoot() }
      }
      // Flat, per tensor, and blocks that cut across the layers (the tiled path everywhere).
      let split = max(1, n / 3)
      let cases: [(String, GradientClipping, ParameterBlocks, [Range<Int>], [Double])] =
        [
          (
            "flat", .flat(bound: median(rowNorms)), try .whole(parameterCount: n), [0..<n],
            [median(rowNorms)]
          ),
          ("flat ∞", .flat(bound: .infinity), try .whole(parameterCount: n), [0..<n], [.infinity]),
          (
            "per tensor", .perBlock(bounds: blockNorms.map(median)), model.parameterBlocks,
            tensorBlocks, blockNorms.map(median)
          ),
        ]
        + (n > 1
          ? [
            (
              "cut", .perBlock(bounds: [0.5, 0.7]), try ParameterBlocks(sizes: [split, n - split]),
              [0..<split, split..<n], [0.5, 0.7]
            )
          ] : [])
      let references = cases.map { _, _, _, ranges, bounds in
        referenceClippedSum(elements: stored.elements, k: k, n: n, blocks: ranges, bounds: bounds)
      }
      for representation in [GradientRepresentation.factored, .stored, .streamed] {
        let (gradients, _) = try model.perExampleGradients(
          parameters: parameters, batch: batch, representation: representation)
        for ((name, clipping, blocks, _, _), reference) in zip(cases, references) {
          let got = try gradients.clippedSum(clipping, blocks: blocks, parallelism: .threads(2))
          let label = "\(network.layers) k=\(k) \(representation) \(name) \(Scalar.self)"
          #expect(relativeError(got.sum, reference.sum) <= tolerance, "\(label)")
          #expect(got.clippedExamples == reference.clipped, "\(label)")
        }
      }
    }
  }

  /// Every clipped row's norm is at most `C(1 + 1e-12)` (Double), and every clipped block's at
  /// most `C_b(1 + 1e-12)`: each example alone is a batch, so `clippedSum` returns its clipped
  /// row, from the factored, stored and streamed `J`.
  @Test func clippedRowsStayWithinTheBound() throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [20, 16, 5], hiddenActivation: .relu)
    let data = try randomBatch(
      Double.self, k: 30, d: 20, outputs: 5, loss: .softmaxCrossEntropy, seed: 3, scale: 10)
    let parameters = model.initialParameters(seed: 5)
    let blocks = model.parameterBlocks
    let blockBounds = [0.1, 0.05, 0.2, 0.02]
    var clippedRows = 0
    for i in 0..<data.count {
      let example = try data.gathering(i..<(i + 1))
      for representation in [GradientRepresentation.factored, .stored, .streamed] {
        let (row, _) = try model.perExampleGradients(
          parameters: parameters, batch: example, representation: representation)
        let flat = try row.clippedSum(.flat(bound: 0.3))
        let norm = flat.sum.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        #expect(norm <= 0.3 * (1 + 1e-12), "\(representation) example \(i): \(norm)")
        clippedRows += flat.clippedExamples
        let perBlock = try row.clippedSum(.perBlock(bounds: blockBounds), blocks: blocks)
        for (block, bound) in zip(blocks.ranges, blockBounds) {
          let blockNorm = block.reduce(0.0) { $0 + perBlock.sum[$1] * perBlock.sum[$1] }
            .squareRoot()
          #expect(blockNorm <= bound * (1 + 1e-12), "\(representation) example \(i)")
        }
      }
    }
    #expect(clippedRows > 0, "the bound clipped nothing: the test would prove nothing")
  }

  /// Per-block reductions of stored and streamed J (and factored with its own blocks) against
  /// the reference, over the reduction shapes.
  @Test(arguments: allScalarTypes)
  func blockReductionsAgreeWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkBlockReductions(type)
  }

  func checkBlockReductions<Scalar: BLASScalar>(_: Scalar.Type) throws {
    for (index, shape) in reductionShapes.enumerated() {
      let stored = try randomGradients(Scalar.self, k: shape.k, n: shape.n, seed: UInt64(index))
      let streamed = StreamedPerExampleGradients(copyingWriter(stored))
      let sizes =
        shape.n >= 3 ? [1, shape.n / 2 - 1, shape.n - shape.n / 2].filter { $0 > 0 } : [shape.n]
      let blocks = try ParameterBlocks(sizes: sizes)
      var rng = SeededGenerator(seed: 99)
      let vectors = blocks.ranges.map { _ in rng.signedArray(Scalar.self, count: shape.k) }
      let y0 = rng.signedArray(Scalar.self, count: shape.n)
      var expected = [Double](repeating: 0, count: shape.n)
      var magnitude = [Double](repeating: 0, count: shape.n)
      for (block, v) in zip(blocks.ranges, vectors) {
        let (value, size) = referenceReduction(
          elements: stored.elements, k: shape.k, n: shape.n, vector: v, alpha: 2, beta: 0.5, y: y0)
        for j in block { (expected[j], magnitude[j]) = (value[j], size[j]) }
      }
      let normsExpected = blocks.ranges.map { block in
        (0..<shape.k).map { i in
          block.reduce(0.0) { $0 + Double(stored[i, $1]) * Double(stored[i, $1]) }
        }
      }
      let operators: [(String, any PerExampleGradientOperator<Scalar>)] = [
        ("stored", stored), ("streamed", streamed),
      ]
      for (name, gradients) in operators {
        var y = y0
        try gradients.reduce(
          blockVectors: vectors, blocks: blocks, alpha: 2, beta: 0.5, into: &y,
          parallelism: .threads(2))
        #expect(
          withinSummationBound(y, expected, magnitude: magnitude, terms: shape.k + 1),
          "\(name) \(shape) \(Scalar.self)")
        let norms = try gradients.squaredBlockNorms(blocks, parallelism: .threads(2))
        for (got, want) in zip(norms, normsExpected) {
          #expect(relativeError(got, want) <= 1e-12, "\(name) norms \(shape)")
        }
      }
    }
  }

  /// The factored `J`'s per-tensor reduction (one GEMM or GEMV per tensor, with `alpha` and
  /// `beta`) and its block norms against the stored `J`'s, which the test above holds to the
  /// reference.
  @Test(arguments: allScalarTypes)
  func factoredBlockReductionsAgreeWithStored(_ type: any BLASScalar.Type) throws {
    try checkFactoredBlocks(type)
  }

  func checkFactoredBlocks<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-5
    for (index, network) in Self.networks.enumerated() {
      let (model, batch) = try randomNetworkCase(
        Scalar.self, layers: network.layers, k: network.k, activation: .tanh,
        seed: UInt64(index) + 50)
      let parameters = model.initialParameters(seed: 3)
      let (factored, _) = try #require(
        try model.perExampleGradientFactors(parameters: parameters, batch: batch))
      let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
      var stored = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
      try stored.write(writer)
      let blocks = factored.tensorBlocks
      #expect(blocks == model.parameterBlocks)
      var rng = SeededGenerator(seed: UInt64(index))
      let vectors = blocks.ranges.map { _ in rng.signedArray(Scalar.self, count: network.k) }
      let y0 = rng.signedArray(Scalar.self, count: model.parameterCount)
      var (a, b) = (y0, y0)
      try factored.reduce(blockVectors: vectors, blocks: blocks, alpha: 2, beta: 0.5, into: &a)
      try stored.reduce(blockVectors: vectors, blocks: blocks, alpha: 2, beta: 0.5, into: &b)
      #expect(relativeError(a, b) <= tolerance, "\(network.layers) \(Scalar.self)")
      let (fn, sn) = (try factored.squaredBlockNorms(blocks), try stored.squaredBlockNorms(blocks))
      for (x, y) in zip(fn, sn) { #expect(relativeError(x, y) <= tolerance) }
    }
  }

  /// A Float row of norm ~1e21 (its squared norm overflows Float) is clipped like any other.
  @Test func hugeFloatRowsAreClipped() throws {
    let jacobian = try PerExampleGradients<Float>(rows: [[3e20, 4e20], [0.3, 0.4]])
    let clipped = try jacobian.clippedSum(.flat(bound: 1))
    #expect(abs(clipped.sum[0] - 0.9) <= 1e-6 && abs(clipped.sum[1] - 1.2) <= 1e-6)
    #expect(clipped.clippedExamples == 1)
  }

  @Test func errors() throws {
    let stored = try randomGradients(Double.self, k: 3, n: 5, seed: 1)
    let blocks = try ParameterBlocks(sizes: [2, 3])
    expectError(.invalidArgument(name: "clipping bound", value: "0.0", expected: "> 0")) {
      try stored.clippedSum(.flat(bound: 0))
    }
    expectError(.invalidArgument(name: "clipping bound", value: "nan", expected: "> 0")) {
      try stored.clippedSum(.flat(bound: .nan))
    }
    expectError(.invalidArgument(name: "clipping bound of block 1", value: "-1.0", expected: "> 0"))
    {
      try stored.clippedSum(.perBlock(bounds: [1, -1]), blocks: blocks)
    }
    expectError(.shapeMismatch(expected: 2, got: 3, of: "per-block clipping bounds")) {
      try stored.clippedSum(.perBlock(bounds: [1, 1, 1]), blocks: blocks)
    }
    expectError(.shapeMismatch(expected: 5, got: 4, of: "parameters covered by the blocks (n)")) {
      try stored.clippedSum(.perBlock(bounds: [1, 1]), blocks: try ParameterBlocks(sizes: [2, 2]))
    }
    var y = [Double](repeating: 0, count: 5)
    expectError(.shapeMismatch(expected: 2, got: 1, of: "block vectors (one per block)")) {
      try stored.reduce(
        blockVectors: [[1, 1, 1]], blocks: blocks, beta: 0, into: &y)
    }
    expectError(.shapeMismatch(expected: 3, got: 2, of: "vector of block 1 (length k)")) {
      try stored.reduce(blockVectors: [[1, 1, 1], [1, 1]], blocks: blocks, beta: 0, into: &y)
    }
    expectError(.nonFiniteValue(index: 2, of: "vector of block 0")) {
      try stored.reduce(
        blockVectors: [[1, 1, .nan], [1, 1, 1]], blocks: blocks, beta: 0, into: &y)
    }
    expectError(.invalidArgument(name: "block sizes", value: "[]", expected: "at least one")) {
      try ParameterBlocks(sizes: [])
    }
    expectError(.invalidArgument(name: "size of block 1", value: "0", expected: "≥ 1")) {
      try ParameterBlocks(sizes: [3, 0])
    }
    #expect(y == [Double](repeating: 0, count: 5))
    expectError(
      .invalidArgument(name: "noise multiplier", value: "-1.0", expected: "finite and ≥ 0")
    ) {
      try DifferentialPrivacy(clipping: .flat(bound: 1), noiseMultiplier: -1, delta: 1e-5)
    }
    expectError(.invalidArgument(name: "delta", value: "1.0", expected: "in (0, 1)")) {
      try DifferentialPrivacy(clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1)
    }
    expectError(
      .invalidArgument(name: "per-block clipping bounds", value: "[]", expected: "at least one")
    ) {
      try DifferentialPrivacy(clipping: .perBlock(bounds: []), noiseMultiplier: 1, delta: 1e-5)
    }
    let privacy = try DifferentialPrivacy(
      clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5)
    var noise = GaussianNoise(seed: 1)
    expectError(
      .invalidArgument(name: "expected batch size", value: "0.0", expected: "finite and > 0")
    ) {
      try privacy.noisyGradient(clippedSum: [1.0], expectedBatchSize: 0, noise: &noise)
    }
  }
}
