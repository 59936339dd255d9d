import MinibatchTestSupport
import Testing

@testable import Minibatch

/// A convolution's ghost norm forms `U_iU_iᵀ` and `Δ_iΔ_iᵀ` in `Scalar`: in Float, patches of
/// norm 1e20 overflow them although the gradient's norm, 1e20·1e−10 per position, is ordinary.
/// Such an example is measured materialised, so both methods agree (issue 20).
@Suite struct GhostNormRangeTests {
  @Test func ghostNormsFallBackWhenTheirGramMatricesOverflow() throws {
    // One example, T = 2 positions, p = 2, F = 1: U = [[1e20, 0], [0, 1e20]], Δ = [1e-10, 2e-10].
    let factor = ConvolutionFactor<Float>(
      unfolded: [1e20, 0, 0, 1e20], deltas: [1e-10, 2e-10], exampleCount: 1, positions: 2,
      patch: 2, filters: 1, normMethod: .ghost)
    // J[0, W] = Δᵀ·U = (1e10, 2e10): ‖·‖² = 5e20.
    let ghost = factor.squaredWeightNorms(method: .ghost)[0]
    let materialized = factor.squaredWeightNorms(method: .materialized)[0]
    #expect(abs(materialized - 5e20) <= 1e-6 * 5e20, "\(materialized)")
    #expect(abs(ghost - materialized) <= 1e-6 * materialized, "ghost \(ghost)")
    let jacobian = try FactoredPerExampleGradients<Float>(factors: [factor])
    let norms = jacobian.rowNorms()
    // The bias gradient Σ_t δ_t = 3e-10 adds nothing visible.
    #expect(abs(Double(norms[0]) - 5e20.squareRoot()) <= 1e-6 * 5e20.squareRoot(), "\(norms)")
  }
}
