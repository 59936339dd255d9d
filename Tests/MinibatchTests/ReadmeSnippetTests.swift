import Minibatch
import Testing

/// The usage snippet from README.md, kept compiling and true.
@Suite struct ReadmeSnippetTests {
  @Test func usageSnippetRunsAsDocumented() throws {
    let gradients = try PerExampleGradients<Double>(rows: [
      [1.5, -2.0, 1.1, 0.4, -0.9],
      [1.2, 2.3, -1.1, -0.8, -0.7],
    ])
    let g = gradients.mean()
    let expected = [1.35, 0.15, 0.0, -0.2, -0.8]
    #expect(zip(g, expected).allSatisfy { abs($0 - $1) <= 1e-15 })

    var weights = [Double](repeating: 0, count: 5)
    try gradients.applyMeanStep(to: &weights, learningRate: 0.1)
    #expect(zip(weights, expected).allSatisfy { abs($0 + 0.1 * $1) <= 1e-15 })

    var batch = try PerExampleGradients<Float>(k: 256, n: 10_000)
    batch.withUnsafeMutableRow(0) { row in row[0] = 1 }
    #expect(batch[0, 0] == 1 && batch.sum()[0] == 1)
  }
}
