import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// A batch that hands out the rows `held` in pieces of at most `pieceSize` (whatever the
/// maximum asked): a source that is never read whole, in memory.
struct PiecewiseSource<Scalar: BLASScalar>: ExampleSource {
  var batch: Batch<Scalar>
  var held: Range<Int>
  var pieceSize: Int

  var exampleCount: Int { batch.count }
  var heldExamples: Range<Int> { held }

  func gathering<C: Collection<Int>>(_ indices: C) throws(MinibatchError) -> Batch<Scalar> {
    if let bad = indices.first(where: { !held.contains($0) }) {
      throw .indexOutOfRange(index: bad, count: batch.count, of: "held example")
    }
    return try batch.gathering(indices)
  }

  func forEachPiece(
    maximumCount: Int, _ body: (_ first: Int, _ piece: Batch<Scalar>) throws(MinibatchError) -> Void
  ) throws(MinibatchError) {
    let size = min(pieceSize, maximumCount)
    for start in stride(from: held.lowerBound, to: held.upperBound, by: size) {
      try body(start, try batch.gathering(start..<min(held.upperBound, start + size)))
    }
  }

  var fingerprint: String { "piecewise \(batch.fingerprint) \(held)" }
}

/// The standardiser fitted on a source's pieces and across ranks, against the one fitted on the
/// inputs in memory.
@Suite struct StreamingStandardizerTests {
  /// `rows × 4` inputs: noise, a column of 1e6 ± 1 (where `E[x²] − μ²` would lose every digit),
  /// a constant column, and integers.
  static func inputs<Scalar: BLASScalar>(_: Scalar.Type, rows: Int, seed: UInt64) throws -> Batch<
    Scalar
  > {
    var rng = SeededGenerator(seed: seed)
    var elements: [Scalar] = []
    for i in 0..<rows {
      elements += [
        rng.nextSigned(Scalar.self), 1e6 + rng.nextSigned(Scalar.self), 3, Scalar(i % 5),
      ]
    }
    return try Batch(
      inputs: try Matrix(rows: rows, columns: 4, elements: elements),
      targets: .labels((0..<rows).map { $0 % 2 }))
  }

  func checkStreamedBits<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let batch = try Self.inputs(Scalar.self, rows: 53, seed: 1)
    let reference = try Standardizer(fitting: batch.inputs)
    for pieceSize in [1, 7, 53, 100] {
      let source = PiecewiseSource(batch: batch, held: 0..<53, pieceSize: pieceSize)
      #expect(try Standardizer(fitting: source) == reference, "pieces of \(pieceSize)")
    }
    #expect(try Standardizer(fitting: batch) == reference)
    // The 1e6 ± 1 column keeps its scale (about 1/√3 for uniform noise in [−1, 1]).
    #expect(abs(Double(reference.scales[1]) - 1 / 3.0.squareRoot()) < 0.1)
    #expect(reference.scales[2] == 1 && reference.means[2] == 3)

    // A mapped file: the loader's inputs, fitted in memory, have the same bits.
    let values = batch.inputs.elements.map { Double($0) }
    let x = try NPYFile.write(
      values, shape: [53, 4], descr: Scalar.self == Float.self ? "<f4" : "<f8")
    let y = try NPYFile.write((0..<53).map { Double($0 % 2) }, shape: [53], descr: "|u1")
    defer { for path in [x, y] { try? FileManager.default.removeItem(atPath: path) } }
    let mapped = try MemoryMappedNPY<Scalar>(inputs: x, labels: y, classCount: 2)
    let loaded = try NPYLoader.load(Scalar.self, inputs: x, labels: y, classCount: 2)
    #expect(try Standardizer(fitting: mapped) == (try Standardizer(fitting: loaded.inputs)))
    expectError(.emptyBatch) {
      try Standardizer(fitting: PiecewiseSource(batch: batch, held: 5..<5, pieceSize: 3))
    }
  }

  @Test func floatStreamedFitHasTheInMemoryBits() throws { try checkStreamedBits(Float.self) }
  @Test func doubleStreamedFitHasTheInMemoryBits() throws { try checkStreamedBits(Double.self) }

  @Test func nonFiniteInputsAreNamedByTheirGlobalRow() throws {
    var elements: [Double] = (0..<40).map(Double.init)
    elements[4 * 6 + 2] = .nan
    let batch = try Batch(
      inputs: try Matrix(rows: 10, columns: 4, elements: elements),
      targets: .labels([Int](repeating: 0, count: 10)))
    expectError(.nonFiniteEntry(row: 6, column: 2, of: "inputs to standardise")) {
      try Standardizer(fitting: PiecewiseSource(batch: batch, held: 0..<10, pieceSize: 4))
    }
  }

  /// Shards of one data set on 1 to 4 ranks (in memory and mapped): every rank gets the same
  /// bits, equal to the fit on all rows to rounding (to the bit on one rank).
  func checkCollectiveFit<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let rows = 61
    let batch = try Self.inputs(Scalar.self, rows: rows, seed: 2)
    let reference = try Standardizer(fitting: batch.inputs)
    let x = try NPYFile.write(
      batch.inputs.elements.map { Double($0) }, shape: [rows, 4],
      descr: Scalar.self == Float.self ? "<f4" : "<f8")
    let y = try NPYFile.write((0..<rows).map { Double($0 % 2) }, shape: [rows], descr: "<i8")
    defer { for path in [x, y] { try? FileManager.default.removeItem(atPath: path) } }
    for size in 1...4 {
      for mapped in [false, true] {
        let results = InProcessGroup.run(size: size) { rank -> Standardizer<Scalar> in
          if mapped {
            let shard = try MemoryMappedNPY<Scalar>(
              inputs: x, labels: y, classCount: 2, shard: rank.rank, of: rank.size)
            return try Standardizer(fitting: shard, across: rank)
          }
          let shard = PiecewiseSource(batch: batch, held: rank.slice(of: rows), pieceSize: 5)
          return try Standardizer(fitting: shard, across: rank)
        }
        let fitted = try results.map { try $0.get() }
        #expect(fitted.allSatisfy { $0 == fitted[0] }, "\(size) ranks: the same bits everywhere")
        if size == 1 { #expect(fitted[0] == reference) }
        // Each value within a few ulps of the one-process fit (Float: its rounding to Scalar).
        let tolerance = Scalar.self == Float.self ? 2.5e-7 : 1e-14
        for (got, expected) in zip(
          fitted[0].means + fitted[0].scales, reference.means + reference.scales)
        {
          #expect(
            abs(Double(got) - Double(expected)) <= tolerance * max(1, abs(Double(expected))),
            "\(size) ranks, mapped \(mapped): \(got) vs \(expected)")
        }
      }
    }
  }

  @Test func floatCollectiveFitEqualsTheOneProcessFit() throws {
    try checkCollectiveFit(Float.self)
  }
  @Test func doubleCollectiveFitEqualsTheOneProcessFit() throws {
    try checkCollectiveFit(Double.self)
  }

  /// A NaN in one rank's shard stops every rank with the same error; ranks whose examples have
  /// different widths are told so.
  @Test func collectiveFailuresReachEveryRank() throws {
    var elements: [Double] = (0..<40).map(Double.init)
    elements[4 * 8 + 1] = .infinity
    let batch = try Batch(
      inputs: try Matrix(rows: 10, columns: 4, elements: elements),
      targets: .labels([Int](repeating: 0, count: 10)))
    let results = InProcessGroup.run(size: 3) { rank in
      try Standardizer(
        fitting: PiecewiseSource(batch: batch, held: rank.slice(of: 10), pieceSize: 2),
        across: rank)
    }
    for result in results {
      #expect(throws: MinibatchError.self) { try result.get() }
      if case .failure(let error) = result {
        #expect("\(error)".contains("rank 2 failed") && "\(error)".contains("row 8"), "\(error)")
      }
    }
    let narrow = try Batch(
      inputs: try Matrix(rows: 10, columns: 3, elements: (0..<30).map(Double.init)),
      targets: .labels([Int](repeating: 0, count: 10)))
    let mixed = InProcessGroup.run(size: 2) { rank in
      try Standardizer(
        fitting: PiecewiseSource(
          batch: rank.rank == 0 ? batch.gathering(0..<9) : narrow, held: rank.slice(of: 10),
          pieceSize: 4), across: rank)
    }
    for result in mixed {
      if case .failure(let error) = result {
        #expect("\(error)".contains("disagree on features to standardise"), "\(error)")
      } else {
        Issue.record("different widths were accepted")
      }
    }
  }

  @Test func standardizedSourceReadsTheTransformedRows() throws {
    let batch = try Self.inputs(Double.self, rows: 20, seed: 3)
    let standardizer = try Standardizer(fitting: batch.inputs)
    let source = PiecewiseSource(batch: batch, held: 4..<20, pieceSize: 3)
      .standardized(by: standardizer)
    let transformed = try standardizer.transform(batch)
    #expect(source.exampleCount == 20 && source.heldExamples == 4..<20)
    for indices in [[4], [19, 5, 5, 11], Array(4..<20)] {
      let got = try source.gathering(indices)
      let expected = try transformed.gathering(indices)
      #expect(got == expected && got.inputSquaredNorms == expected.inputSquaredNorms)
    }
    var firsts: [Int] = []
    try source.forEachPiece(maximumCount: 100) { (first, piece) throws(MinibatchError) in
      firsts.append(first)
      let expected = try transformed.gathering(first..<(first + piece.count))
      #expect(piece == expected)
    }
    #expect(firsts == Array(stride(from: 4, to: 20, by: 3)))
    #expect(source.fingerprint != source.base.fingerprint)
    #expect(source.fingerprint == source.base.standardized(by: standardizer).fingerprint)
    let other = try Standardizer(fitting: try batch.gathering(0..<10).inputs)
    #expect(
      batch.standardized(by: other).fingerprint != batch.standardized(by: standardizer).fingerprint)
    let wider = try Standardizer<Double>(
      fitting: try Matrix(rows: 2, columns: 5, elements: (0..<10).map(Double.init)))
    expectError(.shapeMismatch(expected: 5, got: 4, of: "features to standardise")) {
      try source.base.standardized(by: wider).gathering([4])
    }
  }
}
