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
/// A preset of ``Sequential``: `dense(h₁) act … dense(m)` on input shape `[d]`, with the same
/// parameter layout, initialisation and results (``sequential``); this type keeps the MLP's
/// names, validation messages and saved form.
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
  /// The same network as a ``Sequential`` of ``Dense`` and ``ActivationLayer`` layers, which
  /// computes everything.
  public let sequential: Sequential<Scalar>

  /// One block per tensor: `W_0, b_0, W_1, b_1, …` (``FactoredPerExampleGradients/tensorBlocks``).
  public var parameterBlocks: ParameterBlocks {
    do {
      return try ParameterBlocks(
        sizes: zip(layerSizes, layerSizes.dropFirst()).flatMap { [$0 * $1, $1] })
    } catch {
      preconditionFailure("a validated network has an empty layer: \(error)")
    }
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
    var offset = 0
    let limit = Matrix<Scalar>.maximumDimension
    for (inputs, outputs) in zip(layerSizes, layerSizes.dropFirst()) {
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
    var specification: [LayerSpecification] = []
    for (index, units) in layerSizes.dropFirst().enumerated() {
      specification.append(.dense(units: units))
      if index < layerSizes.count - 2 {
        switch hiddenActivation {
        case .identity: break
        case .relu: specification.append(.activation(.relu))
        case .tanh: specification.append(.activation(.tanh))
        }
      }
    }
    self.layerSizes = layerSizes
    self.hiddenActivation = hiddenActivation
    self.outputLoss = outputLoss
    sequential = try Sequential(
      inputShape: TensorShape([layerSizes[0]]), layers: specification, outputLoss: outputLoss)
    parameterCount = offset
    assert(sequential.parameterCount == offset && sequential.parameterBlocks == parameterBlocks)
  }

  public var inputCount: Int { layerSizes[0] }
  public var outputCount: Int { layerSizes[layerSizes.count - 1] }

  /// Uniform weights in `[−r, r]`, biases 0: He (`r = √(6/in)`) for layers followed by ReLU,
  /// Glorot (`r = √(6/(in + out))`) otherwise. Deterministic for a seed on every machine.
  public func initialParameters(seed: UInt64) -> [Scalar] {
    sequential.initialParameters(seed: seed)
  }

  // MARK: - Public entry points

  public func outputs(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try validate(parameters: parameters, inputs: inputs)
    return sequential.outputs(validatedParameters: parameters, inputs: inputs)
  }

  public func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]
  {
    try validate(parameters: parameters, batch: batch)
    return sequential.losses(validatedParameters: parameters, batch: batch)
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
    try validate(parameters: parameters, batch: batch)
    return try sequential.factoredGradients(validatedParameters: parameters, batch: batch)
  }

  public func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    try validate(parameters: parameters, batch: batch)
    return try sequential.meanLossAndGradient(validatedParameters: parameters, batch: batch)
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
}
