import Foundation
import Minibatch
import MinibatchTestSupport
import Testing

/// Bad layer specifications, shapes that do not fit, token ids out of range and non-finite inputs
/// get typed errors that name what was wrong; a network survives saving; the MLP is its preset.
@Suite struct LayerErrorTests {
  func expectInvalid(_ text: String, on shape: [Int], naming fragment: String) {
    do {
      _ = try Sequential<Double>(inputShape: TensorShape(shape), layers: text)
      Issue.record("'\(text)' on \(shape) was accepted")
    } catch {
      #expect("\(error)".contains(fragment), "'\(text)': \(error)")
    }
  }

  @Test func badSpecificationsNameTheToken() {
    for (text, fragment) in [
      ("conv2d(16", "'conv2d(16'"), ("dense(10) foo", "'foo'"), ("dense(x)", "'dense(x)'"),
      ("dense(10,3)", "dense(units)"), ("conv2d(4,3,strides=2)", "no argument 'strides'"),
      ("maxpool2d(2,stride=1,stride=2)", "'stride' given once"), ("relu(3)", "'relu(3)'"),
      ("", "at least one layer"), ("conv2d(stride=1,4,3)", "positional arguments before"),
    ] {
      expectInvalid(text, on: [1, 8, 8], naming: fragment)
    }
  }

  /// Random texts and random architectures on random shapes: a network or a typed error, never a
  /// trap (seeded, so a failure reproduces).
  @Test func fuzzedSpecificationsNeverTrap() {
    var rng = SeededGenerator(seed: 29)
    let alphabet = Array("conv2d1(),= maxpool flatten dense embedding meanpool relu 0123456789-")
    let words = [
      "conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "flatten", "dense",
      "relu", "gelu", "layernorm", "groupnorm", "embedding", "meanpool", "tanh",
    ]
    for _ in 0..<2_000 {
      let text: String
      if rng.next() % 2 == 0 {
        text = String(
          (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % 64) % alphabet.count] })
      } else {
        text = (0..<(1 + Int(rng.next() % 5))).map { _ in
          let word = words[Int(rng.next() % UInt64(words.count))]
          let arguments = (0..<Int(rng.next() % 4)).map { index -> String in
            let value = [0, 1, 2, 3, 5, -1, 1 << 40, Int.max][Int(rng.next() % 8)]
            return index == 2 ? "stride=\(value)" : index == 3 ? "padding=\(value)" : "\(value)"
          }
          return arguments.isEmpty ? word : "\(word)(\(arguments.joined(separator: ",")))"
        }.joined(separator: " ")
      }
      let shape = [[6], [2, 5], [1, 4, 4], [3, 1, 7]][Int(rng.next() % 4)]
      do {
        let network = try Sequential<Float>(inputShape: TensorShape(shape), layers: text)
        #expect(network.parameterCount > 0 && network.outputCount >= 2, "'\(text)'")
      } catch {
        #expect(!"\(error)".isEmpty)
      }
    }
  }

  @Test func shapesThatDoNotFitNameTheLayer() {
    for (text, shape, fragment) in [
      ("conv2d(4,9) flatten dense(10)", [1, 8, 8], "layer 1 'conv2d(4,9,stride=1,padding=0)'"),
      ("dense(10)", [1, 8, 8], "add flatten"),
      ("conv1d(2,3) flatten dense(3)", [1, 8, 8], "C×L"),
      ("maxpool2d(2) flatten dense(3)", [64], "C×H×W"),
      ("conv2d(2,3,padding=3) flatten dense(3)", [1, 8, 8], "less than the kernel"),
      ("conv2d(2,3,stride=0) flatten dense(3)", [1, 8, 8], "stride"),
      ("groupnorm(3) flatten dense(3)", [4, 5], "dividing the 4 channels"),
      ("dense(4) embedding(10,3) dense(3)", [5], "comes first"),
      ("conv2d(2,3) relu", [1, 8, 8], "output shape"),
      ("flatten dense(1)", [4], "outputs"),
      ("meanpool dense(3)", [6], "C×L or C×H×W"),
      ("embedding(0,3) meanpool dense(3)", [5], "embedding vocabulary"),
      // Sizes beyond Int or the machine: errors, never a trap.
      ("flatten dense(9223372036854775807)", [4], "within Int"),
      ("conv2d(2,3,padding=1000000000) flatten dense(3)", [1, 8, 8], "convolution padding"),
      ("conv2d(9223372036854775807,3) flatten dense(3)", [1, 8, 8], "within Int"),
      ("flatten dense(100000000000) dense(2)", [4], "parameters"),
    ] {
      expectInvalid(text, on: shape, naming: fragment)
    }
    #expect(throws: MinibatchError.self) { try TensorShape([1, 0, 3]) }
    #expect(throws: MinibatchError.self) { try TensorShape([]) }
    #expect(throws: MinibatchError.self) { try TensorShape([1, 2, 3, 4]) }
  }

  @Test(arguments: allScalarTypes)
  func badInputsAreTypedErrors(_ type: any BLASScalar.Type) throws {
    try checkInputs(type)
  }

  func checkInputs<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let bag = try Sequential<Scalar>(
      inputShape: TensorShape([3]), layers: "embedding(5,2) meanpool dense(2)")
    let w = bag.initialParameters(seed: 1)
    func tokens(_ ids: [[Scalar]]) throws -> Batch<Scalar> {
      try Batch(inputs: Matrix(rows: ids), targets: .labels(ids.map { _ in 0 }))
    }
    expectError(
      .indexOutOfRange(index: 5, count: 5, of: "token id of example 1 at position 2")
    ) { try bag.losses(parameters: w, batch: tokens([[0, 1, 2], [3, 4, 5]])) }
    expectError(
      .invalidArgument(
        name: "token id of example 0 at position 1", value: "\(Scalar(1.5))",
        expected: "an integer id")
    ) { try bag.meanLossAndGradient(parameters: w, batch: tokens([[0, 1.5, 2]])) }
    expectError(.nonFiniteEntry(row: 0, column: 2, of: "token ids")) {
      try bag.perExampleGradientFactors(parameters: w, batch: tokens([[0, 1, .nan]]))
    }
    // Negative ids are padding: an all-padding sequence has a zero gradient.
    let (J, _) = try bag.perExampleGradients(
      parameters: w, batch: tokens([[-1, -1, -1], [1, 1, -1]]), representation: .factored)
    let norms = J.squaredRowNorms()
    #expect(norms[1] > 0)
    #expect(try denseRows(J)[0..<5].allSatisfy { $0 == 0 } == true)

    let cnn = try Sequential<Scalar>(
      inputShape: TensorShape([1, 3, 3]), layers: "conv2d(2,2) relu flatten dense(2)")
    let v = cnn.initialParameters(seed: 2)
    var values = [Scalar](repeating: 0.5, count: 9)
    values[4] = .infinity
    let bad = try Batch(
      inputs: Matrix(rows: 1, columns: 9, elements: values), targets: .labels([1]))
    expectError(.nonFiniteEntry(row: 0, column: 4, of: "inputs")) {
      try cnn.meanLossAndGradient(parameters: v, batch: bad)
    }
    let narrow = try Batch(
      inputs: Matrix(rows: 1, columns: 8, elements: Array(values[0..<8])), targets: .labels([1]))
    expectError(
      .shapeMismatch(expected: 9, got: 8, of: "input values per example (shape 1×3×3)")
    ) { try cnn.losses(parameters: v, batch: narrow) }
    expectError(.shapeMismatch(expected: v.count, got: 3, of: "parameters (n)")) {
      try cnn.losses(parameters: [1, 2, 3], batch: bad)
    }
    // Token batches: ragged sequences padded with −1; bad ids refused.
    let ragged = try Batch<Scalar>(tokenSequences: [[1, 2, 3], [4]], targets: .labels([0, 1]))
    #expect(ragged.inputs.elements == [1, 2, 3, 4, -1, -1])
    expectError(
      .invalidArgument(
        name: "token id of sequence 1 at position 0", value: "-2",
        expected: "0...\(1 << (Scalar.significandBitCount + 1)) (padding is added here)")
    ) { try Batch<Scalar>(tokenSequences: [[1], [-2]], targets: .labels([0, 1])) }
    expectError(.emptyBatch) { try Batch<Scalar>(tokenSequences: [], targets: .labels([])) }
  }

  /// A saved network decodes to the same network (and a damaged one names its problem); the
  /// MLP's preset gives the MLP's bits.
  @Test func savingAndThePreset() throws {
    let network = try Sequential<Float>(
      inputShape: TensorShape([1, 8, 8]),
      layers: "conv2d(4,3,padding=1) gelu maxpool2d(2) groupnorm(2) flatten layernorm dense(10)")
    let data = try JSONEncoder().encode(network)
    let decoded = try JSONDecoder().decode(Sequential<Float>.self, from: data)
    #expect(decoded.layerText == network.layerText)
    #expect(decoded.parameterBlocks == network.parameterBlocks)
    #expect(decoded.initialParameters(seed: 4) == network.initialParameters(seed: 4))
    let text = String(decoding: data, as: UTF8.self)
    let damaged = text.replacingOccurrences(of: "groupnorm(2)", with: "groupnorm(3)")
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode(Sequential<Float>.self, from: Data(damaged.utf8))
    }

    let mlp = try MultilayerPerceptron<Double>(layerSizes: [5, 7, 3], hiddenActivation: .tanh)
    let same = try Sequential<Double>(
      inputShape: TensorShape([5]), layers: "dense(7) tanh dense(3)")
    let batch = try randomBatch(
      Double.self, k: 4, d: 5, outputs: 3, loss: .softmaxCrossEntropy, seed: 2)
    let w = mlp.initialParameters(seed: 8)
    #expect(w == same.initialParameters(seed: 8))
    #expect(
      try mlp.meanLossAndGradient(parameters: w, batch: batch).gradient
        == same.meanLossAndGradient(parameters: w, batch: batch).gradient)
    #expect(mlp.parameterBlocks == same.parameterBlocks)
  }
}

/// A factor of one's own whose tensor sizes do not add up to its parameters.
private struct InconsistentFactor: PerExampleGradientFactor {
  typealias Scalar = Double
  var exampleCount: Int { 2 }
  var parameterCount: Int { 3 }
  var tensorSizes: [Int] { [1, 1] }
  func reduce(
    tensorVectors vectors: [[Double]], alpha: Double, beta: Double,
    into slice: UnsafeMutableBufferPointer<Double>, parallelism: Parallelism
  ) {}
  func reduceSquares(
    with v: [Double], alpha: Double, beta: Double, into slice: UnsafeMutableBufferPointer<Double>,
    parallelism: Parallelism
  ) {}
  func squaredTensorNorms(parallelism: Parallelism) -> [[Double]] { [[0, 0], [0, 0]] }
  func writeTile(
    rows: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Double>,
    rowStride: Int
  ) {}
}

@Test func factorsWhoseTensorsDoNotCoverTheirParametersAreRefused() {
  expectError(
    .invalidArgument(
      name: "tensor sizes of factor 0", value: "[1, 1]",
      expected: "sizes ≥ 1 adding up to its 3 parameters")
  ) { try FactoredPerExampleGradients<Double>(factors: [InconsistentFactor()]) }
}
