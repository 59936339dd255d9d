import Minibatch
import MinibatchTestSupport
import Testing

@Suite struct PerExampleGradientsTests {
  @Test(arguments: allScalarTypes)
  func constructorsAgreeAndExposeRows(_ type: any BLASScalar.Type) throws {
    try checkConstructors(type)
  }

  func checkConstructors<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let rows: [[Scalar]] = [[1, 2, 3], [4, 5, 6]]
    let fromRows = try PerExampleGradients(rows: rows)
    let fromFlat = try PerExampleGradients<Scalar>(k: 2, n: 3, elements: [1, 2, 3, 4, 5, 6])
    let fromWriter = try PerExampleGradients<Scalar>(k: 2, n: 3) { i, row in
      for j in 0..<3 { row[j] = Scalar(3 * i + j + 1) }
    }
    var inPlace = try PerExampleGradients<Scalar>(k: 2, n: 3)
    #expect(inPlace.elements == [0, 0, 0, 0, 0, 0])
    for i in 0..<2 {
      try inPlace.withUnsafeMutableRow(i) { row in
        for j in row.indices { row[j] = rows[i][j] }
      }
    }
    #expect(fromRows == fromFlat && fromFlat == fromWriter && fromWriter == inPlace)
    #expect(fromRows.k == 2 && fromRows.n == 3)
    #expect(try Array(fromRows.row(1)) == [4, 5, 6])
    expectError(.indexOutOfRange(index: 2, count: 2, of: "row")) { try fromRows.row(2) }
    #expect(fromRows[1, 2] == 6)
    // Row 7 of 2 rows is refused before the body runs, and nothing is written.
    var twoRows = fromRows
    expectError(.indexOutOfRange(index: 7, count: 2, of: "row")) {
      try twoRows.withUnsafeMutableRow(7) { row in row[0] = 99 }
    }
    expectError(.indexOutOfRange(index: -1, count: 2, of: "row")) {
      try twoRows.withUnsafeMutableRow(-1) { row in row[0] = 99 }
    }
    #expect(twoRows == fromRows)
  }

  @Test(arguments: allScalarTypes)
  func writesAreCopyOnWrite(_ type: any BLASScalar.Type) throws {
    try checkCopyOnWrite(type)
  }

  func checkCopyOnWrite<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let original = try PerExampleGradients<Scalar>(rows: [[1, 2], [3, 4]])
    var copy = original
    try copy.withUnsafeMutableRow(0) { $0[0] = 10 }
    copy[1, 1] = 40
    copy.withUnsafeMutableElements { $0[1] = 20 }
    #expect(original.elements == [1, 2, 3, 4])
    #expect(copy.elements == [10, 20, 3, 40])
  }

  @Test func rowWritersAreCalledInOrderAndTheirErrorsPropagate() throws {
    struct Stop: Error {}
    var visited: [Int] = []
    #expect(throws: Stop.self) {
      _ = try PerExampleGradients<Double>(k: 5, n: 2) { i, _ in
        visited.append(i)
        if i == 2 { throw Stop() }
      }
    }
    #expect(visited == [0, 1, 2])
  }

  @Test func shapesAreValidatedWithTypedErrors() {
    #expect(throws: MinibatchError.emptyBatch) { try PerExampleGradients<Double>(k: 0, n: 3) }
    #expect(throws: MinibatchError.noParameters) { try PerExampleGradients<Double>(k: 3, n: 0) }
    #expect(throws: MinibatchError.emptyBatch) { try PerExampleGradients<Float>(rows: []) }
    #expect(throws: MinibatchError.noParameters) { try PerExampleGradients<Float>(rows: [[], []]) }
    #expect(throws: MinibatchError.shapeMismatch(expected: 2, got: 1, of: "row 2")) {
      try PerExampleGradients<Float>(rows: [[1, 2], [3, 4], [5]])
    }
    #expect(throws: MinibatchError.shapeMismatch(expected: 6, got: 5, of: "elements (k·n)")) {
      try PerExampleGradients<Double>(k: 2, n: 3, elements: [1, 2, 3, 4, 5])
    }
    #expect(
      throws: MinibatchError.dimensionOutOfRange(
        value: -1, limit: Int(Int32.max), of: "k (examples)")
    ) { try PerExampleGradients<Double>(k: -1, n: 3) }
    #expect(
      throws: MinibatchError.dimensionOutOfRange(
        value: Int(Int32.max) + 1, limit: Int(Int32.max), of: "n (parameters)")
    ) { try PerExampleGradients<Double>(k: 1, n: Int(Int32.max) + 1) }
    #expect(
      throws: MinibatchError.dimensionOutOfRange(
        value: Int(Int32.max), limit: Int.max / 8 / Int(Int32.max),
        of: "k (examples) for these n (parameters)")
    ) { try PerExampleGradients<Double>(k: Int(Int32.max), n: Int(Int32.max)) }
  }
}
