import Foundation
import MinibatchTestSupport
import Testing

@testable import Minibatch

/// User input that used to trap the process or be accepted silently now throws a typed error
/// (issue 8's first list).
@Suite struct InputTrapTests {
  @Test func allocationsBeyondTheMachineThrow() {
    // 8 TB of Double: valid dimensions, impossible memory.
    let stored = caughtError { _ = try PerExampleGradients<Double>(k: 1_000_000, n: 1_000_000) }
    guard case .allocationTooLarge(let bytes, let limit, _) = stored else {
      Issue.record("expected allocationTooLarge, got \(String(describing: stored))")
      return
    }
    #expect(bytes == 8_000_000_000_000 && limit > 0 && limit < bytes)
    let matrix = caughtError { _ = try Matrix<Float>(rows: 2_000_000, columns: 2_000_000) }
    guard case .allocationTooLarge(let matrixBytes, _, _) = matrix else {
      Issue.record("expected allocationTooLarge, got \(String(describing: matrix))")
      return
    }
    #expect(matrixBytes == 16_000_000_000_000)
  }

  /// A batch whose forward and backward passes would not fit in memory is refused before any
  /// allocation: 2·10⁶ scalars per example, 10⁵ examples = 800 GB of Float.
  @Test func passesBeyondTheMachineThrow() throws {
    let model = try MultilayerPerceptron<Float>(
      layerSizes: [1, 1_000_000, 1], outputLoss: .squaredError)
    let k = 100_000
    let batch = try Batch(
      inputs: try Matrix<Float>(rows: k, columns: 1),
      targets: .values(try Matrix<Float>(rows: k, columns: 1)))
    let parameters = [Float](repeating: 0, count: model.parameterCount)
    let error = caughtError { _ = try model.losses(parameters: parameters, batch: batch) }
    guard case .allocationTooLarge(let bytes, _, _) = error else {
      Issue.record("expected allocationTooLarge, got \(String(describing: error))")
      return
    }
    #expect(bytes == 2 * 1_000_001 * k * 4)
  }

  /// The error `body` throws, if it is a `MinibatchError`.
  func caughtError(_ body: () throws -> Void) -> MinibatchError? {
    do {
      try body()
      return nil
    } catch {
      return error as? MinibatchError
    }
  }

  @Test func gatheringAndRowsThrowOnBadIndices() throws {
    let (train, _) = try Digits.load(Float.self)
    expectError(.indexOutOfRange(index: 1437, count: 1437, of: "example")) {
      try train.gathering(0..<5000)
    }
    expectError(.emptyBatch) { try train.gathering([Int]()) }
    expectError(.indexOutOfRange(index: -1, count: 1437, of: "row")) {
      try train.inputs.gatheringRows([3, -1])
    }
    expectError(.indexOutOfRange(index: 2, count: 2, of: "row")) {
      try PerExampleGradients<Double>(rows: [[1], [2]]).row(2)
    }
  }

  @Test func missingResourcesThrow() {
    let nowhere = URL(fileURLWithPath: "/nonexistent/Minibatch_Minibatch.resources")
    expectError(.resourceMissing(name: "digits-train.csv", searched: [nowhere.path])) {
      try Digits.path(of: "digits-train", searching: [nowhere])
    }
  }

  @Test func csvHeaderIsDetectedAndNeverDropsData() throws {
    let loader = CSVLoader(classCount: 2)
    let headerless: Batch<Double> = try loader.parse("1,2,0\n3,4,1\n")
    #expect(headerless.count == 2)
    let withHeader: Batch<Double> = try loader.parse("a,b,label\n1,2,0\n")
    #expect(withHeader.count == 1 && withHeader.inputs.elements == [1, 2])
    let explicit: Batch<Double> = try CSVLoader(classCount: 2, hasHeader: true).parse(
      "1,2,0\n3,4,1\n")
    #expect(explicit.count == 1)
    let forced: Batch<Double> = try CSVLoader(classCount: 2, hasHeader: false).parse("\n1,2,0\n")
    #expect(forced.count == 1)
  }

  @Test func valuesBeyondFloatRangeAreRefused() throws {
    expectError(.nonNumericCell(line: 2, column: 2, text: "1e39")) {
      let _: Batch<Float> = try CSVLoader(classCount: 2).parse("a,b,y\n1,1e39,0\n")
    }
    let wide: Batch<Double> = try CSVLoader(classCount: 2).parse("a,b,y\n1,1e39,0\n")
    #expect(wide.inputs.elements == [1, 1e39])
  }

  @Test func nonFiniteDataIsRefusedBeforeTheFirstStep() throws {
    let model = try LinearRegression<Double>(inputCount: 2)
    let inputs = try Matrix<Double>(rows: [[1, 2], [3, .nan], [5, 6]])
    let data = try Batch(inputs: inputs, targets: .values(try Matrix(rows: [[1], [2], [3]])))
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 3, batchSize: 1, shuffles: false, seed: 0),
      schedule: .constant(0.1))
    var w = model.initialParameters(seed: 0)
    expectError(.nonFiniteEntry(row: 1, column: 1, of: "training inputs")) {
      try trainer.train(parameters: &w, data: data, epochs: 1)
    }
    #expect(w == model.initialParameters(seed: 0))
    let badTargets = try Batch(
      inputs: try Matrix(rows: [[1, 2], [3, 4]]),
      targets: .values(try Matrix(rows: [[1], [.infinity]])))
    var second = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(),
      sampler: try BatchSampler(exampleCount: 2, batchSize: 1, seed: 0), schedule: .constant(0.1))
    expectError(.nonFiniteEntry(row: 1, column: 0, of: "training targets")) {
      try second.train(parameters: &w, data: badTargets, epochs: 1)
    }
    expectError(.nonFiniteEntry(row: 1, column: 1, of: "inputs to standardise")) {
      try Standardizer(fitting: inputs)
    }
  }

  @Test func csvErrorsSayWhatTheFileLooksLike() {
    let loader = CSVLoader(classCount: 2)
    expectError(
      .invalidArgument(
        name: "columns on line 1", value: "1",
        expected:
          "≥ 2 cells separated by ',' (features and a label); the line has semicolons: set the "
          + "delimiter to \";\"")
    ) { let _: Batch<Double> = try loader.parse("1;2;0\n3;4;1\n") }
    expectError(
      .invalidArgument(
        name: "columns on line 1", value: "1",
        expected: "≥ 2 cells separated by ',' (features and a label)")
    ) { let _: Batch<Double> = try loader.parse("label\n1\n0\n") }
    expectError(
      .invalidArgument(
        name: "columns on line 2", value: "1",
        expected: "≥ 2 cells separated by tab (features and a label); the line has commas: set the "
          + "delimiter to \",\"")
    ) {
      let _: Batch<Double> = try CSVLoader(
        targets: .labels(classCount: 2), delimiter: "\t"
      ).parse("\n1,2,0\n")
    }
    expectError(
      .invalidArgument(
        name: "delimiter", value: "\".\"",
        expected: "one ASCII character that is not a digit, sign, '.', 'e', space or line end")
    ) {
      let _: Batch<Double> = try CSVLoader(targets: .labels(classCount: 2), delimiter: ".")
        .parse("1.2.0\n")
    }
    let directory = FileManager.default.temporaryDirectory.path
    expectError(.fileUnreadable(path: directory, reason: "it is a directory, not a CSV file")) {
      let _: Batch<Double> = try loader.load(path: directory)
    }
  }

  /// Semicolon- and tab-separated files with the delimiter set read like the comma version.
  @Test func otherDelimiters() throws {
    let comma: Batch<Double> = try CSVLoader(classCount: 2).parse("a,b,y\n1.5,-2,1\n3,4e1,0\n")
    for delimiter: Character in [";", "\t", "|"] {
      let text = "a,b,y\n1.5,-2,1\n3,4e1,0\n".replacingOccurrences(of: ",", with: String(delimiter))
      let loaded: Batch<Double> = try CSVLoader(
        targets: .labels(classCount: 2), delimiter: delimiter
      ).parse(text)
      #expect(loaded == comma, "\(delimiter)")
    }
  }

  @Test func regressionTargetsByNameOrIndex() throws {
    let text = "x1,price,x2,rooms\n1,250.5,2,3\n4,99,5,1\n"
    let named: Batch<Double> = try CSVLoader(
      targets: .values(columns: [.name("price"), .name("rooms")])
    ).parse(text)
    #expect(named.inputs.elements == [1, 2, 4, 5])
    let namedTargets = Targets<Double>.values(try Matrix(rows: [[250.5, 3], [99, 1]]))
    #expect(named.targets == namedTargets)
    let byIndex: Batch<Float> = try CSVLoader(targets: .values(columns: [.index(1)])).parse(text)
    let indexTargets = Targets<Float>.values(try Matrix(rows: [[250.5], [99]]))
    #expect(byIndex.inputs.columns == 3 && byIndex.targets == indexTargets)
    let last: Batch<Double> = try CSVLoader(targets: .values(columns: [.last])).parse("1,2,3.5\n")
    let lastTargets = Targets<Double>.values(try Matrix(rows: [[3.5]]))
    #expect(last.inputs.elements == [1, 2] && last.targets == lastTargets)
    let labelled: Batch<Double> = try CSVLoader(
      targets: .labels(classCount: 4, column: .name("rooms"))
    ).parse(text)
    #expect(labelled.targets == .labels([3, 1]) && labelled.inputs.columns == 3)

    expectError(
      .invalidArgument(
        name: "target column", value: "\"area\"",
        expected: "one of the header's names: x1, price, x2, rooms")
    ) {
      let _: Batch<Double> = try CSVLoader(targets: .values(columns: [.name("area")])).parse(text)
    }
    expectError(
      .invalidArgument(
        name: "target column", value: "\"y\"",
        expected: "a name from a header line (this file has none; use an index)")
    ) {
      let _: Batch<Double> = try CSVLoader(targets: .values(columns: [.name("y")])).parse("1,2\n")
    }
    expectError(
      .invalidArgument(name: "target column", value: "3", expected: "each column at most once")
    ) {
      let _: Batch<Double> = try CSVLoader(targets: .values(columns: [.last, .index(3)])).parse(
        text)
    }
    expectError(
      .invalidArgument(name: "columns", value: "2", expected: "more than the 2 target column(s)")
    ) {
      let _: Batch<Double> = try CSVLoader(targets: .values(columns: [.index(0), .index(1)])).parse(
        "1,2\n")
    }
    expectError(.shapeMismatch(expected: 4, got: 3, of: "cells on line 2 (as the header)")) {
      let _: Batch<Double> = try CSVLoader(targets: .values(columns: [.last])).parse(
        "a,b,c,d\n1,2,3\n")
    }
  }
}
