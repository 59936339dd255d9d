/// A fully connected layer `z = W·a + b` on flat inputs: `W` is `out × in` (row-major, then `b`).
///
/// ```
/// forward:   Z = A·Wᵀ + 1·bᵀ                    (k × out; one GEMM, a GEMV when out = 1)
/// backward:  Δ_in = Δ·W                          (k × in; one GEMM)
/// factor:    J[i, W] = δ_i·a_iᵀ, J[i, b] = δ_i   (rank 1 per example, FactoredPerExampleGradients.Layer)
/// ```
///
/// The factor's norms cost O(k·(in + out)) and `Jᵀv` one GEMM; nothing of size `k·in·out` is
/// formed. Initialisation: `W` uniform in `[−r, r]`, He `r = √(6/in)` before a rectifier, Glorot
/// `r = √(6/(in + out))` otherwise; `b = 0`.
public struct Dense<Scalar: BLASScalar>: NetworkLayer {
  public let inputShape: TensorShape
  public let outputShape: TensorShape

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` unless the input is flat
  ///   (`[in]`; put a ``Flatten`` before a dense layer on images) and `units ≥ 1`.
  public init(inputShape: TensorShape, units: Int) throws(MinibatchError) {
    try validateArgument(
      inputShape, named: "dense input shape", expected: "a flat shape [in] (add flatten before it)",
      inputShape.dimensions.count == 1)
    try validateArgument(units, named: "dense units", expected: "≥ 1", units >= 1)
    let (_, overflow) = (inputShape.count + 1).multipliedReportingOverflow(by: units)
    try validateArgument(
      units, named: "dense units", expected: "(in + 1)·units parameters within Int", !overflow)
    self.inputShape = inputShape
    outputShape = TensorShape(unchecked: [units])
  }

  var inputs: Int { inputShape.count }
  var outputs: Int { outputShape.count }
  public var parameterTensorSizes: [Int] { [outputs * inputs, outputs] }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {
    let weights = UnsafeMutableBufferPointer(rebasing: parameters[0..<(inputs * outputs)])
    fillUniform(
      weights,
      radius: initializationRadius(
        fanIn: inputs, fanOut: outputs, rectifierFollows: rectifierFollows),
      generator: &generator)
    UnsafeMutableBufferPointer(rebasing: parameters[(inputs * outputs)...]).update(repeating: 0)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let (inputs, outputs) = (self.inputs, self.outputs)
    let weights = parameters.baseAddress!
    let bias = weights + inputs * outputs
    var z = [Scalar](repeating: 0, count: k * outputs)
    z.withUnsafeMutableBufferPointer { z in
      let z = z.baseAddress!
      for i in 0..<k { (z + i * outputs).update(from: bias, count: outputs) }
      input.withUnsafeBufferPointer { a in
        if outputs == 1 {
          Scalar.gemv(
            transpose: false, m: k, n: inputs, alpha: 1, a: a.baseAddress!, lda: inputs,
            x: weights, incx: 1, beta: 1, y: z, incy: 1)
        } else {
          Scalar.gemm(
            transposeA: false, transposeB: true, m: k, n: outputs, k: inputs, alpha: 1,
            a: a.baseAddress!, lda: inputs, b: weights, ldb: inputs, beta: 1, c: z, ldc: outputs)
        }
      }
    }
    return Pass(layer: self, input: input, output: z, k: k)
  }

  struct Pass: LayerPass {
    let layer: Dense
    let input: [Scalar]
    let output: [Scalar]
    let k: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      let (inputs, outputs) = (layer.inputs, layer.outputs)
      var below: [Scalar]? = nil
      if needsInputDeltas {
        var deltas = [Scalar](repeating: 0, count: k * inputs)
        deltas.withUnsafeMutableBufferPointer { d in
          outputDeltas.withUnsafeBufferPointer { delta in
            Scalar.gemm(
              transposeA: false, transposeB: false, m: k, n: inputs, k: outputs, alpha: 1,
              a: delta.baseAddress!, lda: outputs, b: parameters.baseAddress!, ldb: inputs,
              beta: 0, c: d.baseAddress!, ldc: inputs)
          }
        }
        below = deltas
      }
      let factor = FactoredPerExampleGradients<Scalar>.Layer(
        inputs: Matrix(rows: k, columns: inputs, storage: input),
        deltas: Matrix(rows: k, columns: outputs, storage: outputDeltas), inputSquaredNorms: nil)
      return (below, factor)
    }
  }
}
