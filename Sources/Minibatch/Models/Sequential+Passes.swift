// The passes of a `Sequential` over a batch (each layer's forward, then its backward from
// `Δ_out` to `Δ_in` handing its factor to `J`) and the model entry points built on them.

extension Sequential {
  // MARK: - Passes

  /// Every layer's forward pass over the batch, in order.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forward(parameters: [Scalar], inputs: Matrix<Scalar>) -> [any LayerPass<Scalar>] {
    var passes: [any LayerPass<Scalar>] = []
    passes.reserveCapacity(layers.count)
    parameters.withUnsafeBufferPointer { w in
      var values = inputs.elements
      for (index, layer) in layers.enumerated() {
        let slice = UnsafeBufferPointer(
          rebasing: w[offsets[index]..<(offsets[index] + layer.parameterCount)])
        let pass = layer.forward(parameters: slice, input: values, exampleCount: inputs.rows)
        values = pass.output
        passes.append(pass)
      }
    }
    return passes
  }

  /// Validates, runs the forward pass, the losses with `Δ_L`, and the backward pass, collecting
  /// every factor.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func factoredGradients(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar]) {
    try validate(parameters: parameters, batch: batch)
    return try factoredGradients(validatedParameters: parameters, batch: batch)
  }

  /// ``factoredGradients(parameters:batch:)`` for arguments a caller has validated.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func factoredGradients(
    validatedParameters parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar]) {
    let k = batch.count
    let passes = forward(parameters: parameters, inputs: batch.inputs)
    let m = outputCount
    var deltas = [Scalar](repeating: 0, count: k * m)
    let losses = passes[passes.count - 1].output.withUnsafeBufferPointer { z in
      deltas.withUnsafeMutableBufferPointer { delta in
        outputLoss.evaluate(
          z.baseAddress!, k: k, m: m, targets: batch.targets, delta: delta.baseAddress!)
      }
    }
    // The lowest layer with parameters: below it no deltas are needed.
    let lowest = layers.firstIndex { $0.parameterCount > 0 }!
    var factors: [any PerExampleGradientFactor<Scalar>] = []
    parameters.withUnsafeBufferPointer { w in
      for index in stride(from: layers.count - 1, through: lowest, by: -1) {
        let slice = UnsafeBufferPointer(
          rebasing: w[offsets[index]..<(offsets[index] + layers[index].parameterCount)])
        let (below, factor) = passes[index].backward(
          outputDeltas: deltas, parameters: slice, needsInputDeltas: index > lowest)
        if let dense = factor as? FactoredPerExampleGradients<Scalar>.Layer, index == 0 {
          // A first dense layer's input norms come with the batch (computed once, gathered).
          factors.append(
            FactoredPerExampleGradients<Scalar>.Layer(
              inputs: dense.inputs, deltas: dense.deltas,
              inputSquaredNorms: batch.inputSquaredNorms))
        } else if let factor {
          factors.append(factor)
        }
        if let below { deltas = below }
      }
    }
    return (try FactoredPerExampleGradients(factors: factors.reversed()), losses)
  }

  // MARK: - PerExampleGradientModel

  public func outputs(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> Matrix<Scalar> {
    try validate(parameters: parameters, inputs: inputs)
    return outputs(validatedParameters: parameters, inputs: inputs)
  }

  public func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]
  {
    try validate(parameters: parameters, batch: batch)
    return losses(validatedParameters: parameters, batch: batch)
  }

  /// The last layer's outputs for arguments a caller has validated.
  func outputs(validatedParameters parameters: [Scalar], inputs: Matrix<Scalar>) -> Matrix<Scalar> {
    let passes = forward(parameters: parameters, inputs: inputs)
    return Matrix(rows: inputs.rows, columns: outputCount, storage: passes[passes.count - 1].output)
  }

  /// The per-example losses for arguments a caller has validated.
  func losses(validatedParameters parameters: [Scalar], batch: Batch<Scalar>) -> [Scalar] {
    outputs(validatedParameters: parameters, inputs: batch.inputs).elements.withUnsafeBufferPointer
    { z in
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

  /// The passes' factors reduced with `v = 1` and `alpha = 1/k`: the plain backward pass's
  /// gradient of the mean loss (for dense layers `(1/k)·Δ_lᵀ·A_{l−1}`, one GEMM per layer).
  public func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    try validate(parameters: parameters, batch: batch)
    return try meanLossAndGradient(validatedParameters: parameters, batch: batch)
  }

  func meanLossAndGradient(
    validatedParameters parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar]) {
    let (factored, losses) = try factoredGradients(validatedParameters: parameters, batch: batch)
    var gradient: [Scalar] = filled(0, count: parameterCount)
    try factored.reduce(
      with: filled(1, count: batch.count), alpha: 1 / Scalar(batch.count), beta: 0, into: &gradient)
    return (losses.reduce(0, +) / Scalar(batch.count), gradient)
  }
}
