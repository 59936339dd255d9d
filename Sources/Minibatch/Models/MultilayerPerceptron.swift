import RealModule

/// A multi-layer perceptron: dense layers with bias, a hidden activation, and an output loss.
///
/// `layerSizes = [d, h₁, …, m]` gives `L = layerSizes.count − 1` dense layers; layer `l` maps
/// `in_l → out_l` as `z = W_l·a + b_l` (`W_l` is `out_l × in_l`). Hidden layers apply
/// ``hiddenActivation``; the last layer's `z` goes to ``outputLoss``.
///
/// **Parameter layout** (one flat vector, `n = Σ_l (out_l·in_l + out_l)`): for each layer in
/// order, `W_l` row-major (entry `(o, j)` at `offset + o·in_l + j`), then `b_l`.
///
/// **How the gradients are computed**
/// - Forward: one GEMM per layer for the whole batch, `Z_l = A_{l−1}·W_lᵀ + 1·b_lᵀ` (a GEMV when
///   `out_l = 1`).
/// - Backward: `δ_L = ∂ℓ/∂z` per example (not divided by `k`), then
///   `δ_{l−1} = (δ_l·W_l) ⊙ f′(Z_{l−1})`, one GEMM per layer.
/// - Per-example rows (``writePerExampleGradients(parameters:batch:into:parallelism:)``): for
///   example `i`, the `W_l` block of row `i` is the outer product `δ_l[i]·a_{l−1}[i]ᵀ` (+ `λ·W_l`)
///   and the `b_l` block is `δ_l[i]`, written straight into the row — never `k` backward passes.
/// - Mean gradient (``meanLossAndGradient(parameters:batch:)``): `(1/k)·δ_lᵀ·A_{l−1} + λ·W_l`,
///   one GEMM per layer, and `(1/k)·δ_lᵀ·1` for the bias.
public struct MultilayerPerceptron<Scalar: BLASScalar>: PerExampleGradientModel {
  /// `[d, h₁, …, m]`: inputs, hidden widths, outputs.
  public let layerSizes: [Int]
  /// The nonlinearity after every hidden layer (not after the last).
  public let hiddenActivation: Activation
  /// The loss on the last layer's outputs.
  public let outputLoss: OutputLoss
  /// `λ ≥ 0` in the per-example penalty `(λ/2)·Σ_l ‖W_l‖²` (biases are not penalised).
  public let l2Penalty: Scalar
  public let parameterCount: Int
  let layers: [DenseLayer]

  /// Where one dense layer's parameters live in the flat vector.
  struct DenseLayer: Sendable {
    let inputs: Int
    let outputs: Int
    let weightOffset: Int
    var biasOffset: Int { weightOffset + inputs * outputs }
  }

  /// - Parameters:
  ///   - layerSizes: `[d, h₁, …, m]`, at least two entries, each ≥ 1. Binary cross-entropy needs
  ///     `m = 1`, softmax cross-entropy `m ≥ 2`.
  ///   - l2Penalty: `λ`, finite and ≥ 0.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming the bad value,
  ///   ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` if `n` exceeds BLAS's range.
  public init(
    layerSizes: [Int], hiddenActivation: Activation = .relu,
    outputLoss: OutputLoss = .softmaxCrossEntropy, l2Penalty: Scalar = 0
  ) throws(MinibatchError) {
    try validateArgument(
      layerSizes, named: "layer sizes", expected: "at least 2 sizes (inputs and outputs)",
      layerSizes.count >= 2)
    for (index, size) in layerSizes.enumerated() {
      try validateArgument(size, named: "layer size \(index)", expected: "≥ 1", size >= 1)
    }
    try outputLoss.validateOutputCount(layerSizes.last!)
    try validateArgument(
      l2Penalty, named: "L2 penalty", expected: "finite and ≥ 0",
      l2Penalty.isFinite && l2Penalty >= 0)
    var layers: [DenseLayer] = []
    var offset = 0
    let limit = PerExampleGradients<Scalar>.maximumDimension
    for (inputs, outputs) in zip(layerSizes, layerSizes.dropFirst()) {
      layers.append(DenseLayer(inputs: inputs, outputs: outputs, weightOffset: offset))
      let (size, overflow) = (inputs + 1).multipliedReportingOverflow(by: outputs)
      guard !overflow, size <= limit - offset else {
        throw .dimensionOutOfRange(
          value: overflow ? Int.max : offset + size, limit: limit, of: "n (parameters)")
      }
      offset += size
    }
    self.layerSizes = layerSizes
    self.hiddenActivation = hiddenActivation
    self.outputLoss = outputLoss
    self.l2Penalty = l2Penalty
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

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func outputs(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try validate(parameters: parameters, inputs: inputs)
    let workspace = Workspace(layers: layers, k: inputs.rows)
    forward(parameters: parameters, inputs: inputs, workspace: workspace)
    let z = workspace.activations[layers.count - 1]
    return Matrix(
      rows: inputs.rows, columns: outputCount,
      storage: Array(UnsafeBufferPointer(start: z, count: inputs.rows * outputCount)))
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]
  {
    try validate(parameters: parameters, batch: batch)
    let workspace = Workspace(layers: layers, k: batch.count)
    forward(parameters: parameters, inputs: batch.inputs, workspace: workspace)
    return outputLosses(parameters: parameters, batch: batch, workspace: workspace, delta: false)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func perExampleRowWriter(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (losses: [Scalar], writer: PerExampleRowWriter<Scalar>) {
    let (workspace, losses) = try forwardAndBackward(parameters: parameters, batch: batch)
    let inputs = batch.inputs
    let writer = PerExampleRowWriter<Scalar>(k: batch.count, n: parameterCount) {
      rows, columns, matrix in
      parameters.withUnsafeBufferPointer { w in
        inputs.elements.withUnsafeBufferPointer { x in
          writeBlock(
            rows: rows, columns: columns, matrix: matrix, weights: w.baseAddress!,
            inputs: x.baseAddress!, workspace: workspace)
        }
      }
    }
    return (losses, writer)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    let (workspace, losses) = try forwardAndBackward(parameters: parameters, batch: batch)
    let k = batch.count
    var gradient = [Scalar](repeating: 0, count: parameterCount)
    let ones = [Scalar](repeating: 1, count: k)
    let scale = 1 / Scalar(k)
    parameters.withUnsafeBufferPointer { w in
      batch.inputs.elements.withUnsafeBufferPointer { x in
        gradient.withUnsafeMutableBufferPointer { g in
          for (l, layer) in layers.enumerated() {
            let input = l == 0 ? x.baseAddress! : UnsafePointer(workspace.activations[l - 1])
            let delta = UnsafePointer(workspace.deltas[l])
            let gW = g.baseAddress! + layer.weightOffset
            let beta: Scalar
            if l2Penalty != 0 {
              gW.update(
                from: w.baseAddress! + layer.weightOffset, count: layer.inputs * layer.outputs)
              beta = l2Penalty
            } else {
              beta = 0
            }
            // (1/k)·δᵀ·A + λ·W  (out × in)
            if layer.outputs == 1 {
              Scalar.gemv(
                transpose: true, m: k, n: layer.inputs, alpha: scale, a: input, lda: layer.inputs,
                x: delta, incx: 1, beta: beta, y: gW, incy: 1)
            } else {
              Scalar.gemm(
                transposeA: true, transposeB: false, m: layer.outputs, n: layer.inputs, k: k,
                alpha: scale, a: delta, lda: layer.outputs, b: input, ldb: layer.inputs, beta: beta,
                c: gW, ldc: layer.inputs)
            }
            ones.withUnsafeBufferPointer { one in
              Scalar.gemv(
                transpose: true, m: k, n: layer.outputs, alpha: scale, a: delta,
                lda: layer.outputs, x: one.baseAddress!, incx: 1, beta: 0,
                y: g.baseAddress! + layer.biasOffset, incy: 1)
            }
          }
        }
      }
    }
    return (losses.reduce(0, +) / Scalar(k), gradient)
  }

  // MARK: - Validation

  func validate(parameters: [Scalar], inputs: Matrix<Scalar>) throws(MinibatchError) {
    try validateCount(parameters.count, expected: parameterCount, of: "parameters (n)")
    try validateFinite(parameters, of: "parameters")
    try validateCount(inputs.columns, expected: inputCount, of: "input features per example (d)")
  }

  public func validate(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) {
    try validate(parameters: parameters, inputs: batch.inputs)
    try outputLoss.validate(batch.targets, outputs: outputCount)
  }

  // MARK: - Forward and backward passes

  /// Scratch space for one pass over a batch of `k`: each layer's outputs (after the activation
  /// for hidden layers, the raw `z` for the last) and each layer's `δ`.
  final class Workspace: @unchecked Sendable {
    let activations: [UnsafeMutablePointer<Scalar>]
    let deltas: [UnsafeMutablePointer<Scalar>]
    let k: Int

    init(layers: [DenseLayer], k: Int) {
      self.k = k
      activations = layers.map { .allocate(capacity: k * $0.outputs) }
      deltas = layers.map { .allocate(capacity: k * $0.outputs) }
    }

    deinit {
      for pointer in activations + deltas { pointer.deallocate() }
    }
  }

  /// Validates, then runs the forward pass, the losses (with the last layer's `δ`) and the
  /// backward pass for the whole batch: everything both gradient paths need.
  func forwardAndBackward(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (Workspace, losses: [Scalar]) {
    try validate(parameters: parameters, batch: batch)
    let workspace = Workspace(layers: layers, k: batch.count)
    forward(parameters: parameters, inputs: batch.inputs, workspace: workspace)
    let losses = outputLosses(
      parameters: parameters, batch: batch, workspace: workspace, delta: true)
    backward(parameters: parameters, workspace: workspace)
    return (workspace, losses)
  }

  /// `Z_l = A_{l−1}·W_lᵀ + 1·b_lᵀ`, then the activation for hidden layers.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forward(parameters: [Scalar], inputs: Matrix<Scalar>, workspace: Workspace) {
    let k = workspace.k
    parameters.withUnsafeBufferPointer { w in
      inputs.elements.withUnsafeBufferPointer { x in
        for (l, layer) in layers.enumerated() {
          let input = l == 0 ? x.baseAddress! : UnsafePointer(workspace.activations[l - 1])
          let z = workspace.activations[l]
          let weights = w.baseAddress! + layer.weightOffset
          let bias = w.baseAddress! + layer.biasOffset
          for i in 0..<k { (z + i * layer.outputs).initialize(from: bias, count: layer.outputs) }
          if layer.outputs == 1 {
            Scalar.gemv(
              transpose: false, m: k, n: layer.inputs, alpha: 1, a: input, lda: layer.inputs,
              x: weights, incx: 1, beta: 1, y: z, incy: 1)
          } else {
            Scalar.gemm(
              transposeA: false, transposeB: true, m: k, n: layer.outputs, k: layer.inputs,
              alpha: 1, a: input, lda: layer.inputs, b: weights, ldb: layer.inputs, beta: 1, c: z,
              ldc: layer.outputs)
          }
          if l < layers.count - 1 { hiddenActivation.apply(z, count: k * layer.outputs) }
        }
      }
    }
  }

  /// Per-example losses (with the L2 term); with `delta`, also the last layer's `δ`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func outputLosses(
    parameters: [Scalar], batch: Batch<Scalar>, workspace: Workspace, delta: Bool
  ) -> [Scalar] {
    let last = layers.count - 1
    var losses = outputLoss.evaluate(
      workspace.activations[last], k: workspace.k, m: outputCount, targets: batch.targets,
      delta: delta ? workspace.deltas[last] : nil)
    if l2Penalty != 0 {
      let penalty = l2Penalty / 2 * squaredWeightNorm(parameters)
      for i in losses.indices { losses[i] += penalty }
    }
    return losses
  }

  /// `Σ_l ‖W_l‖²` (biases excluded).
  func squaredWeightNorm(_ parameters: [Scalar]) -> Scalar {
    parameters.withUnsafeBufferPointer { w in
      layers.reduce(0) { total, layer in
        let weights = w.baseAddress! + layer.weightOffset
        let count = layer.inputs * layer.outputs
        return total + Scalar.dot(n: count, x: weights, incx: 1, y: weights, incy: 1)
      }
    }
  }

  /// `δ_{l−1} = (δ_l·W_l) ⊙ f′(Z_{l−1})` for every layer below the last.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func backward(parameters: [Scalar], workspace: Workspace) {
    let k = workspace.k
    parameters.withUnsafeBufferPointer { w in
      for l in stride(from: layers.count - 1, to: 0, by: -1) {
        let layer = layers[l]
        let below = workspace.deltas[l - 1]
        Scalar.gemm(
          transposeA: false, transposeB: false, m: k, n: layer.inputs, k: layer.outputs, alpha: 1,
          a: workspace.deltas[l], lda: layer.outputs, b: w.baseAddress! + layer.weightOffset,
          ldb: layer.inputs, beta: 0, c: below, ldc: layer.inputs)
        hiddenActivation.multiplyDerivative(
          below, activations: workspace.activations[l - 1], count: k * layer.inputs)
      }
    }
  }

  // MARK: - Per-example rows

  /// The block `rows × columns` of `J`. Row `i` is, for each layer in parameter order, the
  /// outer product `δ_l[i]·a_{l−1}[i]ᵀ` (+ `λ·W_l`) in the `W_l` entries and `δ_l[i]` in the
  /// `b_l` entries; a column range may start and end anywhere in that layout.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func writeBlock(
    rows: Range<Int>, columns: Range<Int>, matrix: UnsafeMutablePointer<Scalar>,
    weights w: UnsafePointer<Scalar>, inputs x: UnsafePointer<Scalar>, workspace: Workspace
  ) {
    let lambda = l2Penalty
    for i in rows {
      let row = matrix + i * parameterCount
      for (l, layer) in layers.enumerated() {
        let input = l == 0 ? x : UnsafePointer(workspace.activations[l - 1])
        let a = input + i * layer.inputs
        let delta = workspace.deltas[l] + i * layer.outputs
        // Weight entries e = o·in + j of this layer that fall in `columns`.
        let weightColumns = (layer.weightOffset..<layer.biasOffset).clamped(to: columns)
        var e = weightColumns.lowerBound - layer.weightOffset
        let end = weightColumns.upperBound - layer.weightOffset
        while e < end {
          let (o, first) = e.quotientAndRemainder(dividingBy: layer.inputs)
          let last = min(layer.inputs, first + (end - e))
          let destination = row + layer.weightOffset + o * layer.inputs
          let scale = delta[o]
          if lambda == 0 {
            for j in first..<last { destination[j] = scale * a[j] }
          } else {
            let weights = w + layer.weightOffset + o * layer.inputs
            for j in first..<last { destination[j] = scale * a[j] + lambda * weights[j] }
          }
          e += last - first
        }
        let biasColumns = (layer.biasOffset..<(layer.biasOffset + layer.outputs)).clamped(
          to: columns)
        for c in biasColumns {
          row[c] = delta[c - layer.biasOffset]
        }
      }
    }
  }
}
