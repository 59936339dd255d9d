import Minibatch
import Testing

/// One rank's shard of an in-memory batch: it gathers only the global indices `held` (a test
/// stand-in for a memory-mapped shard).
public struct BatchShard<Scalar: BLASScalar>: ExampleSource {
  public let whole: Batch<Scalar>
  public let heldExamples: Range<Int>

  public init(_ whole: Batch<Scalar>, holding held: Range<Int>) {
    self.whole = whole
    heldExamples = held
  }

  public var exampleCount: Int { whole.count }

  public func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch<Scalar> {
    if let bad = indices.first(where: { !heldExamples.contains($0) }) {
      throw .indexOutOfRange(index: bad, count: exampleCount, of: "held example")
    }
    return try whole.gathering(indices)
  }

  public func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError) {
    var start = heldExamples.lowerBound
    while start < heldExamples.upperBound {
      let end = min(heldExamples.upperBound, start + maximumCount)
      try body(start, try whole.gathering(start..<end))
      start = end
    }
  }

  public var fingerprint: String {
    (try? whole.gathering(heldExamples).fingerprint) ?? "empty shard"
  }
}

/// Training on shards (every rank holding only its contiguous part of the data set, so each
/// computes the examples of every global batch that it holds) equals training on the whole data
/// in one process, to rounding (Double: 1e-12 relative; Float: 1e-4), with the same reports, the
/// same on every rank; with physical chunks of 7 too. Shards that do not partition the data are
/// refused on every rank.
public func checkShardedTraining<Scalar: BLASScalar>(
  _: Scalar.Type, over collective: any ReductionCollective
) throws {
  let examples = 150
  let mlp = try MultilayerPerceptron<Scalar>(layerSizes: [6, 8, 3], hiddenActivation: .tanh)
  let data = try randomBatch(
    Scalar.self, k: examples, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 23)
  let shard = BatchShard(data, holding: collective.slice(of: examples))
  let tolerance = Scalar.self == Double.self ? 1e-12 : 1e-4

  func train(
    _ source: some ExampleSource<Scalar>, private isPrivate: Bool, chunk: Int?,
    _ collective: (any ReductionCollective)?
  ) throws -> ([Scalar], [EpochReport]) {
    var parameters = mlp.initialParameters(seed: 5)
    var reports: [EpochReport] = []
    var trainer = MinibatchTrainer(
      model: mlp, optimizer: try Adam<Scalar>(),
      sampler: isPrivate
        ? try BatchSampler(exampleCount: examples, poissonRate: 0.2, seed: 6)
        : try BatchSampler(exampleCount: examples, batchSize: 32, seed: 6),
      schedule: .constant(0.02),
      normalization: isPrivate ? .expectedBatchSize : .datasetWeightTotal,
      privacy: isPrivate
        ? try DifferentialPrivacy(
          clipping: .flat(bound: 1), noiseMultiplier: 1.1, delta: 1e-5, noiseSeed: 3) : nil,
      collective: collective)
    trainer.maximumPhysicalBatchSize = chunk
    try trainer.train(parameters: &parameters, data: source, epochs: 2) { report, _ in
      reports.append(report)
    }
    return (parameters, reports)
  }
  for isPrivate in [false, true] {
    for chunk in [nil, 7] {
      let (sharded, reports) = try train(shard, private: isPrivate, chunk: chunk, collective)
      let (single, singleReports) = try train(data, private: isPrivate, chunk: nil, nil)
      #expect(
        relativeError(sharded, single) <= tolerance, "private \(isPrivate), chunk \(chunk ?? 0)")
      #expect(reports.count == singleReports.count)
      for (got, expected) in zip(reports, singleReports) {
        #expect(got.steps == expected.steps && got.examples == expected.examples)
        #expect(got.epsilon == expected.epsilon && got.clippedExamples == expected.clippedExamples)
        #expect(relativeError([got.meanLoss], [expected.meanLoss]) <= tolerance)
      }
      try expectSameOnEveryRank(sharded, over: collective, "the parameters trained on shards")
    }
  }

  // Shards that leave examples out (every rank holding the first 100) or overlap are refused.
  if collective.size > 1 {
    for held in [0..<100, max(0, collective.slice(of: examples).lowerBound - 1)..<examples] {
      var parameters = mlp.initialParameters(seed: 5)
      var trainer = MinibatchTrainer(
        model: mlp, optimizer: try Adam<Scalar>(),
        sampler: try BatchSampler(exampleCount: examples, batchSize: 32, seed: 6),
        schedule: .constant(0.02), collective: collective)
      #expect(throws: MinibatchError.self) {
        try trainer.train(parameters: &parameters, data: BatchShard(data, holding: held), epochs: 1)
      }
    }
  }
  // Without a collective a shard is refused.
  var parameters = mlp.initialParameters(seed: 5)
  var alone = MinibatchTrainer(
    model: mlp, optimizer: try Adam<Scalar>(),
    sampler: try BatchSampler(exampleCount: examples, batchSize: 32, seed: 6),
    schedule: .constant(0.02))
  expectError(
    .invalidArgument(
      name: "training data's held examples", value: "0..<10 of 150",
      expected: "all of them without a collective (a shard needs the other ranks)")
  ) {
    try alone.train(parameters: &parameters, data: BatchShard(data, holding: 0..<10), epochs: 1)
  }
}
