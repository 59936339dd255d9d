/// A multi-layer perceptron: dense layers with bias, a hidden activation, and an output loss.
///
/// `layerSizes = [d, h₁, …, m]` gives `L = layerSizes.count − 1` dense layers; layer `l` maps
/// `in_l → out_l` as `z = W_l·a + b_l` (`W_l` is `out_l × in_l`). Hidden layers apply
/// ``hiddenActivation``; the last layer's `z` goes to ``outputLoss``. Regularisation belongs to
/// the optimiser (``Regularization``), not to the per-example losses.
///
/// **Parameter layout** (one flat vector, `n = Σ_l (out_l·in_l + out_l)`): for each layer in
/// order, `W_l` row-major (entry `(o, j)` at `offset + o·in_l + j`), then `b_l`.
///
/// **How the gradients are computed**
/// - Forward: one GEMM per layer for the whole batch, `Z_l = A_{l−1}·W_lᵀ + 1·b_lᵀ` (a GEMV when
///   `out_l = 1`).
/// - Backward: `Δ_L = ∂ℓ/∂Z_L` per example (not divided by `k`), then
///   `Δ_{l−1} = (Δ_l·W_l) ⊙ f′(Z_{l−1})`, one GEMM per layer.
/// - Per-example gradients (``perExampleGradientFactors(parameters:batch:)``): the passes' `Δ_l`
///   and `A_{l−1}` as a ``FactoredPerExampleGradients`` (row `i`'s `W_l` block is the outer
///   product `δ_l[i]·a_{l−1}[i]ᵀ`, its `b_l` block `δ_l[i]`) — never `k` backward passes, and
///   `J` formed only if a caller asks for it.
/// - Mean gradient (``meanLossAndGradient(parameters:batch:)``): `(1/k)·Δ_lᵀ·A_{l−1}`, one GEMM
///   per layer, and `(1/k)·Δ_lᵀ·1` for the bias.
public struct MultilayerPerceptron<Scalar: BLASScalar>: PerExampleGradientModel {
  /// `[d, h₁, …, m]`: inputs, hidden widths, outputs.
  public let layerSizes: [Int]
  /// The nonlinearity after every hidden layer (not after the last).
  public let hiddenActivation: Activation
  /// The loss on the last layer's outputs.
  public let outputLoss: OutputLoss
  public let parameterCount: Int
  let layers: [DenseLayer]

  /// One block per tensor: `W_0, b_0, W_1, b_1, …` (``FactoredPerExampleGradients/tensorBlocks``).
  public var parameterBlocks: ParameterBlocks {
    do {
      return try ParameterBlocks(sizes: layers.flatMap { [$0.inputs * $0.outputs, $0.outputs] })
    } catch {
      preconditionFailure("a validated network has an empty layer: \(error)")
    }
  }

  /// Where one dense layer's parameters live in the flat vector.
  struct DenseLayer: Sendable {
    let inputs: Int
    let outputs: Int
    let weightOffset: Int
    var biasOffset: Int { weightOffset + inputs * outputs }
  }

  /// - Parameters:
  ///   - layerSizes: `[d, h₁, …, m]`, at least two entries, each ≥ 1. Binary
  ///     cross-entropy needs `m = 1`, softmax cross-entropy `m ≥ 2`.
  ///   - hiddenActivation: the nonlinearity after every hidden layer.
  ///   - outputLoss: the loss on the last layer's outputs.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming the bad value,
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` if `n` exceeds BLAS's range.
  public init(
    layerSizes: [Int], hiddenActivation: Activation = .relu,
    outputLoss: OutputLoss = .softmaxCrossEntropy
  ) throws(MinibatchError) {
    try validateArgument(
      layerSizes, named: "layer sizes", expected: "at least 2 sizes (inputs and outputs)",
      layerSizes.count >= 2)
    for (index, size) in layerSizes.enumerated() {
      try validateArgument(size, named: "layer size \(index)", expected: "≥ 1", size >= 1)
    }
    try outputLoss.validateOutputCount(layerSizes.last!)
    var layers: [DenseLayer] = []
    var offset = 0
    let limit = Matrix<Scalar>.maximumDimension
    for (inputs, outputs) in zip(layerSizes, layerSizes.dropFirst()) {
      layers.append(DenseLayer(inputs: inputs, outputs: outputs, weightOffset: offset))
      let (size, overflow) = (inputs + 1).multipliedReportingOverflow(by: outputs)
      guard !overflow, size <= limit - offset else {
        throw .dimensionOutOfRange(
          value: overflow ? Int.max : offset + size, limit: limit, of: "n (parameters)")
      }
      offset += size
    }
    // Parameters, a gradient and an optimiser's state are n scalars each.
    try validateAllocation(
      count: offset, stride: MemoryLayout<Scalar>.stride, of: "n = \(offset) parameters")
    self.layerSizes = layerSizes
    self.hiddenActivation = hiddenActivation
    self.outputLoss = outputLoss
    self.layers = layers
    parameterCount = offset
  }

  public var inputCount: Int { layerSizes[0] }
  public var outputCount: Int { layerSizes[layerSizes.count - 1] }

  /// Uniform weights in `[−r, r]`, biases 0: He (`r = √(6/in)`) for layers followed by ReLU,
  /// Glorot (`r = √(6/(in + out))`) otherwise. Deterministic for a seed on every machine.
  public func initialParameters(seed: UInt64) -> [Scalar] {
    var generator = SeededGenerator(seed: seed)
    var parameters = [Scalar](repeating: 0, count: parameterCount)
    for (index, layer) in layers.enumerated() {
      let isHidden = index < layers.count - 1
      let fanSum =
        isHidden && hiddenActivation == .relu ? layer.inputs : layer.inputs + layer.outputs
      let radius = Scalar((6 / Double(fanSum)).squareRoot())
      for j in layer.weightOffset..<layer.biasOffset {
        let unit = Scalar(Double(generator.next() >> 11) * 0x1p-53)  // [0, 1)
        parameters[j] = (2 * unit - 1) * radius
      }
    }
    return parameters
  }

  // MARK: - Public entry points

  public func outputs(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try validate(parameters: parameters, inputs: inputs)
    let activations = forward(parameters: parameters, inputs: inputs)
    return Matrix(rows: inputs.rows, columns: outputCount, storage: activations.last!)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]
  {
    try validate(parameters: parameters, batch: batch)
    let activations = forward(parameters: parameters, inputs: batch.inputs)
    return activations.last!.withUnsafeBufferPointer { z in
      outputLoss.evaluate(
        z.baseAddress!, k: batch.count, m: outputCount, targets: batch.targets, delta: nil)
    }
  }

  public func perExampleGradientFactors(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar])? {
    try factoredGradients(parameters: parameters, batch: batch)
  }

  public func perExampleRowWriter(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Scalar>, losses: [Scalar]) {
    let (factored, losses) = try factoredGradients(parameters: parameters, batch: batch)
    return (factored.rowWriter, losses)
  }

  /// The passes' `Δ_l` and `A_{l−1}` as a factored `J`, and the per-example losses.
  func factoredGradients(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar]) {
    let passes = try forwardAndBackward(parameters: parameters, batch: batch)
    let k = batch.count
    let factors = layers.indices.map { l in
      FactoredPerExampleGradients<Scalar>.Layer(
        inputs: l == 0
          ? batch.inputs
          : Matrix(rows: k, columns: layers[l].inputs, storage: passes.activations[l - 1]),
        deltas: Matrix(rows: k, columns: layers[l].outputs, storage: passes.deltas[l]),
        inputSquaredNorms: l == 0 ? batch.inputSquaredNorms : nil)
    }
    return (try FactoredPerExampleGradients(layers: factors), passes.losses)
  }

  public func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    let passes = try forwardAndBackward(parameters: parameters, batch: batch)
    let gradient = meanGradient(passes: passes, inputs: batch.inputs)
    return (passes.losses.reduce(0, +) / Scalar(batch.count), gradient)
  }

  /// Class probabilities for every row of `inputs`: `softmax(z)` per row (`k × m`) for softmax
  /// cross-entropy, `σ(z) = P(y = 1)` (`k × 1`) for binary cross-entropy, both computed around
  /// the largest logit so they never overflow.
  ///
  /// - Throws: ``MinibatchError/wrongTargetKind(expected:got:)`` for a squared-error model (its
  ///   outputs are predictions, see ``outputs(parameters:inputs:)``), and the errors of
  ///   ``outputs(parameters:inputs:)``.
  public func probabilities(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    guard outputLoss != .squaredError else {
      throw .wrongTargetKind(expected: "a classifier", got: "a squared-error (regression) model")
    }
    var logits = try outputs(parameters: parameters, inputs: inputs)
    let (k, m) = (logits.rows, logits.columns)
    logits.withUnsafeMutableElements { z in
      for i in 0..<k {
        let row = z.baseAddress! + i * m
        if m == 1 {
          let e = Scalar.exp(-abs(row[0]))
          row[0] = row[0] >= 0 ? 1 / (1 + e) : e / (1 + e)
        } else {
          var largest = row[0]
          for j in 1..<m { largest = max(largest, row[j]) }
          var total: Scalar = 0
          for j in 0..<m {
            row[j] = Scalar.exp(row[j] - largest)
            total += row[j]
          }
          for j in 0..<m { row[j] /= total }
        }
      }
    }
    return logits
  }

  // MARK: - Validation

  func validate(parameters: [Scalar], inputs: Matrix<Scalar>) throws(MinibatchError) {
    try validateCount(parameters.count, expected: parameterCount, of: "parameters (n)")
    try validateFinite(parameters, of: "parameters")
    try validateCount(inputs.columns, expected: inputCount, of: "input features per example (d)")
    // The passes keep every layer's outputs and errors for the whole batch: throw, rather than
    // die in the allocator, when a batch is too large for the machine.
    let (perExample, overflow) = layerSizes.dropFirst().reduce(0, +)
      .multipliedReportingOverflow(by: 2)
    let (count, overflow2) = perExample.multipliedReportingOverflow(by: inputs.rows)
    try validateAllocation(
      count: overflow || overflow2 ? Int.max : count, stride: MemoryLayout<Scalar>.stride,
      of: "the passes of \(inputs.rows) examples through layers \(layerSizes)")
  }

  public func validate(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) {
    try validate(parameters: parameters, inputs: batch.inputs)
    try outputLoss.validate(batch.targets, outputs: outputCount)
  }

  // MARK: - Forward and backward passes

  /// What one forward and backward pass over a batch leaves: each layer's outputs (after the
  /// activation for hidden layers, the raw `z` for the last; `k × out_l`), each layer's `Δ_l`
  /// (`k × out_l`), and the per-example losses.
  struct Passes {
    var activations: [[Scalar]]
    var deltas: [[Scalar]]
    var losses: [Scalar]
  }

  /// Validates, then runs the forward pass, the losses (with the last layer's `Δ`) and the
  /// backward pass for the whole batch: everything both gradient paths need.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forwardAndBackward(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> Passes {
    try validate(parameters: parameters, batch: batch)
    let activations = forward(parameters: parameters, inputs: batch.inputs)
    let k = batch.count
    var top = [Scalar](repeating: 0, count: k * outputCount)
    let losses = activations.last!.withUnsafeBufferPointer { z in
      top.withUnsafeMutableBufferPointer { delta in
        outputLoss.evaluate(
          z.baseAddress!, k: k, m: outputCount, targets: batch.targets, delta: delta.baseAddress!)
      }
    }
    let deltas = backward(parameters: parameters, activations: activations, top: top, k: k)
    return Passes(activations: activations, deltas: deltas, losses: losses)
  }

  /// `Z_l = A_{l−1}·W_lᵀ + 1·b_lᵀ`, then the activation for hidden layers; one array per layer.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forward(parameters: [Scalar], inputs: Matrix<Scalar>) -> [[Scalar]] {
    let k = inputs.rows
    var activations: [[Scalar]] = []
    activations.reserveCapacity(layers.count)
    parameters.withUnsafeBufferPointer { w in
      for (l, layer) in layers.enumerated() {
        let weights = w.baseAddress! + layer.weightOffset
        let bias = w.baseAddress! + layer.biasOffset
        var z = [Scalar](repeating: 0, count: k * layer.outputs)
        z.withUnsafeMutableBufferPointer { z in
          let z = z.baseAddress!
          for i in 0..<k { (z + i * layer.outputs).update(from: bias, count: layer.outputs) }
          let input = l == 0 ? inputs.elements : activations[l - 1]
          input.withUnsafeBufferPointer { input in
            if layer.outputs == 1 {
              BLAS.gemv(
                transpose: false, m: k, n: layer.inputs, alpha: 1, a: input.baseAddress!,
                lda: layer.inputs, x: weights, incx: 1, beta: 1, y: z, incy: 1)
            } else {
              BLAS.gemm(
                transposeA: false, transposeB: true, m: k, n: layer.outputs, k: layer.inputs,
                alpha: 1, a: input.baseAddress!, lda: layer.inputs, b: weights, ldb: layer.inputs,
                beta: 1, c: z, ldc: layer.outputs)
            }
          }
          if l < layers.count - 1 { hiddenActivation.apply(z, count: k * layer.outputs) }
        }
        activations.append(z)
      }
    }
    return activations
  }

  /// `Δ_{l−1} = (Δ_l·W_l) ⊙ f′(Z_{l−1})` for every layer below the last, from `top = Δ_L`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func backward(
    parameters: [Scalar], activations: [[Scalar]], top: [Scalar], k: Int
  ) -> [[Scalar]] {
    var deltas = [[Scalar]](repeating: [], count: layers.count)
    deltas[layers.count - 1] = top
    parameters.withUnsafeBufferPointer { w in
      for l in stride(from: layers.count - 1, to: 0, by: -1) {
        let layer = layers[l]
        var below = [Scalar](repeating: 0, count: k * layer.inputs)
        below.withUnsafeMutableBufferPointer { below in
          deltas[l].withUnsafeBufferPointer { delta in
            BLAS.gemm(
              transposeA: false, transposeB: false, m: k, n: layer.inputs, k: layer.outputs,
              alpha: 1, a: delta.baseAddress!, lda: layer.outputs,
              b: w.baseAddress! + layer.weightOffset, ldb: layer.inputs, beta: 0,
              c: below.baseAddress!, ldc: layer.inputs)
          }
          activations[l - 1].withUnsafeBufferPointer { a in
            hiddenActivation.multiplyDerivative(
              below.baseAddress!, activations: a.baseAddress!, count: k * layer.inputs)
          }
        }
        deltas[l - 1] = below
      }
    }
    return deltas
  }

  /// `(1/k)·Δ_lᵀ·A_{l−1}` and `(1/k)·Δ_lᵀ·1` per layer: the plain backward pass's gradient.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func meanGradient(passes: Passes, inputs: Matrix<Scalar>) -> [Scalar] {
    let k = inputs.rows
    var gradient = [Scalar](repeating: 0, count: parameterCount)
    let ones = [Scalar](repeating: 1, count: k)
    let scale = 1 / Scalar(k)
    gradient.withUnsafeMutableBufferPointer { g in
      for (l, layer) in layers.enumerated() {
        let input = l == 0 ? inputs.elements : passes.activations[l - 1]
        input.withUnsafeBufferPointer { a in
          passes.deltas[l].withUnsafeBufferPointer { delta in
            let gW = g.baseAddress! + layer.weightOffset
            if layer.outputs == 1 {
              BLAS.gemv(
                transpose: true, m: k, n: layer.inputs, alpha: scale, a: a.baseAddress!,
                lda: layer.inputs, x: delta.baseAddress!, incx: 1, beta: 0, y: gW, incy: 1)
            } else {
              BLAS.gemm(
                transposeA: true, transposeB: false, m: layer.outputs, n: layer.inputs, k: k,
                alpha: scale, a: delta.baseAddress!, lda: layer.outputs, b: a.baseAddress!,
                ldb: layer.inputs, beta: 0, c: gW, ldc: layer.inputs)
            }
            ones.withUnsafeBufferPointer { one in
              BLAS.gemv(
                transpose: true, m: k, n: layer.outputs, alpha: scale, a: delta.baseAddress!,
                lda: layer.outputs, x: one.baseAddress!, incx: 1, beta: 0,
                y: g.baseAddress! + layer.biasOffset, incy: 1)
            }
          }
        }
      }
    }
    return gradient
  }
}
