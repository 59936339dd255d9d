/// A network of layers applied in order, ending in an output loss: the model for convolutional,
/// embedding and normalised networks, factored by default.
///
/// ```
/// a_0 = x,   a_l = layer_l(a_{l−1}),   ℓ_i = outputLoss(a_L[i], target_i)
/// backward:  Δ_L = ∂ℓ_i/∂a_L (not divided by k),   Δ_{l−1} = layer_l.backward(Δ_l)
/// J = [ J_1 | J_2 | … ]   each layer with parameters hands over its factor (see NetworkLayer)
/// ```
///
/// **Parameter layout**: the layers' slices in order, each split into its tensors (a dense or
/// convolution layer's `W` row-major then `b`; an embedding's table; a normalisation's `γ` then
/// `β`). The offsets and ``parameterBlocks`` (one block per tensor, for per-layer clipping) are
/// computed once, here.
///
/// **Gradients**: ``perExampleGradientFactors(parameters:batch:)`` runs one forward and one
/// backward pass over the whole batch and returns `J` as a ``FactoredPerExampleGradients`` of the
/// layers' factors — never `k` backward passes, and `J` formed only if a caller asks for it;
/// ``meanLossAndGradient(parameters:batch:)`` is the same passes reduced with `v = 1/k`.
///
/// ```swift
/// let cnn = try Sequential<Float>(
///   inputShape: TensorShape([1, 8, 8]),
///   layers: "conv2d(16,3,padding=1) relu maxpool2d(2) flatten dense(10)")
/// ```
public struct Sequential<Scalar: BLASScalar>: PerExampleGradientModel {
  /// One example's input shape.
  public let inputShape: TensorShape
  /// The built-in layers this network was made of, or `nil` when made of custom layers.
  public let specification: [LayerSpecification]?
  /// The loss on the last layer's outputs.
  public let outputLoss: OutputLoss
  /// The resolved layers, in order.
  public let layers: [any NetworkLayer<Scalar>]
  public let parameterCount: Int
  /// One block per parameter tensor, in layout order.
  public let parameterBlocks: ParameterBlocks
  /// Where each layer's slice starts.
  let offsets: [Int]

  /// A network of built-in layers, each resolved against the shape the one before it produces.
  ///
  /// - Parameters:
  ///   - inputShape: one example's input: `[d]`, `[C, L]`, `[C, H, W]`, or `[T]` token ids for a
  ///     network starting with an embedding.
  ///   - specification: the layers in order (see ``LayerSpecification``).
  ///   - outputLoss: the last layer must output `[m]` with `m` suiting the loss (classes ≥ 2 for
  ///     softmax cross-entropy, 1 for binary cross-entropy).
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming the layer (by its
  ///   position and text) that does not fit its input, or the output that does not suit the loss.
  public init(
    inputShape: TensorShape, layers specification: [LayerSpecification],
    outputLoss: OutputLoss = .softmaxCrossEntropy
  ) throws(MinibatchError) {
    var resolved: [any NetworkLayer<Scalar>] = []
    var shape = inputShape
    var index = 0
    while index < specification.count {
      let spec = specification[index]
      let layer: any NetworkLayer<Scalar>
      do {
        switch spec {
        case .dense(let units):
          layer = try Dense(inputShape: shape, units: units)
        case .convolution(let dimensions, let filters, let kernel, let stride, let padding):
          try validateArgument(
            shape, named: "input shape", expected: dimensions == 1 ? "C×L" : "C×H×W",
            shape.dimensions.count == dimensions + 1)
          layer = try Convolution(
            inputShape: shape, filters: filters, kernel: kernel, stride: stride, padding: padding)
        case .pooling(let kind, let dimensions, let kernel, let stride):
          try validateArgument(
            shape, named: "input shape", expected: dimensions == 1 ? "C×L" : "C×H×W",
            shape.dimensions.count == dimensions + 1)
          layer = try Pooling(kind, inputShape: shape, kernel: kernel, stride: stride)
        case .flatten:
          layer = Flatten(inputShape: shape)
        case .activation(let function):
          layer = ActivationLayer(function, inputShape: shape)
        case .layerNorm:
          layer = try Normalization(.layer, inputShape: shape)
        case .groupNorm(let groups):
          layer = try Normalization(.group(groups: groups), inputShape: shape)
        case .embedding(let vocabulary, let dimension):
          try validateArgument(
            index, named: "position",
            expected: "0: an embedding reads the token ids, so it comes first",
            index == 0)
          let pooled = index + 1 < specification.count && specification[index + 1] == .meanPool
          layer = try Embedding(
            inputShape: shape, vocabulary: vocabulary, dimension: dimension,
            pooling: pooled ? .mean : .none)
          if pooled { index += 1 }
        case .meanPool:
          layer = try GlobalAveragePooling(inputShape: shape)
        }
      } catch {
        // Name the layer, its position and the shape it was given, then what was wrong.
        let place = "layer \(index + 1) '\(spec)' on input \(shape)"
        guard case .invalidArgument(let name, let value, let expected) = error else {
          throw .invalidArgument(name: place, value: "refused", expected: "\(error)")
        }
        throw .invalidArgument(name: "\(name) of \(place)", value: value, expected: expected)
      }
      resolved.append(layer)
      shape = layer.outputShape
      index += 1
    }
    try self.init(
      inputShape: inputShape, layers: resolved, specification: specification,
      outputLoss: outputLoss)
  }

  /// A network of built-in layers from their text (``LayerSpecification/parse(_:)``).
  ///
  /// - Throws: the errors of ``LayerSpecification/parse(_:)`` and of resolving the layers.
  public init(
    inputShape: TensorShape, layers text: String, outputLoss: OutputLoss = .softmaxCrossEntropy
  ) throws(MinibatchError) {
    try self.init(
      inputShape: inputShape, layers: try LayerSpecification.parse(text), outputLoss: outputLoss)
  }

  /// A network of resolved layers, custom ones included (it cannot be encoded).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` when a layer's input
  ///   shape is not the previous layer's output shape, the network has no parameters, or the
  ///   last output does not suit the loss.
  public init(layers: [any NetworkLayer<Scalar>], outputLoss: OutputLoss = .softmaxCrossEntropy)
    throws(MinibatchError)
  {
    guard let first = layers.first else {
      throw .invalidArgument(name: "layers", value: "[]", expected: "at least one layer")
    }
    try self.init(
      inputShape: first.inputShape, layers: layers, specification: nil, outputLoss: outputLoss)
  }

  init(
    inputShape: TensorShape, layers: [any NetworkLayer<Scalar>],
    specification: [LayerSpecification]?, outputLoss: OutputLoss
  ) throws(MinibatchError) {
    guard let last = layers.last else {
      throw .invalidArgument(name: "layers", value: "[]", expected: "at least one layer")
    }
    var shape = inputShape
    var offsets: [Int] = []
    var sizes: [Int] = []
    var n = 0
    let limit = Matrix<Scalar>.maximumDimension
    for (index, layer) in layers.enumerated() {
      try validateArgument(
        layer.inputShape, named: "input shape of layer \(index + 1)",
        expected: "\(shape), the shape before it", layer.inputShape == shape)
      if index > 0, layer is Embedding<Scalar> {
        throw .invalidArgument(
          name: "layer \(index + 1)", value: "an embedding",
          expected: "an embedding only as the first layer (it reads token ids)")
      }
      offsets.append(n)
      for size in layer.parameterTensorSizes {
        guard size >= 1, size <= limit - n else {
          throw .dimensionOutOfRange(value: n &+ size, limit: limit, of: "n (parameters)")
        }
        n += size
        sizes.append(size)
      }
      shape = layer.outputShape
    }
    try validateArgument(
      last.outputShape, named: "output shape",
      expected: "flat [m] (add flatten before the last dense)",
      last.outputShape.dimensions.count == 1)
    try outputLoss.validateOutputCount(last.outputShape.count)
    guard n > 0 else { throw .noParameters }
    try validateAllocation(
      count: n, stride: MemoryLayout<Scalar>.stride, of: "n = \(n) parameters")
    self.inputShape = inputShape
    self.specification = specification
    self.outputLoss = outputLoss
    self.layers = layers
    self.offsets = offsets
    parameterCount = n
    parameterBlocks = try ParameterBlocks(sizes: sizes)
  }

  public var inputCount: Int { inputShape.count }
  public var outputCount: Int { layers[layers.count - 1].outputShape.count }

  /// The text of the layers (``LayerSpecification/text(_:)``), or a list of the custom layers'
  /// types.
  public var layerText: String {
    specification.map(LayerSpecification.text)
      ?? layers.map { "\(type(of: $0))" }.joined(separator: " ")
  }

  /// Each layer's reproducible initialisation in turn from one generator: the same seed gives the
  /// same vector on every machine. Dense and convolution weights are uniform (He's radius before a
  /// ReLU-like activation, Glorot's otherwise), biases 0; embeddings unit-variance uniform;
  /// normalisations `γ = 1`, `β = 0`.
  public func initialParameters(seed: UInt64) -> [Scalar] {
    var generator = SeededGenerator(seed: seed)
    var parameters = [Scalar](repeating: 0, count: parameterCount)
    parameters.withUnsafeMutableBufferPointer { p in
      for (index, layer) in layers.enumerated() {
        let next = index + 1 < layers.count ? layers[index + 1] : nil
        let rectifier = (next as? ActivationLayer<Scalar>)?.function.isRectifier ?? false
        layer.initializeParameters(
          UnsafeMutableBufferPointer(
            rebasing: p[offsets[index]..<(offsets[index] + layer.parameterCount)]),
          generator: &generator, rectifierFollows: rectifier)
      }
    }
    return parameters
  }

  // MARK: - Validation

  func validate(parameters: [Scalar], inputs: Matrix<Scalar>) throws(MinibatchError) {
    try validateCount(parameters.count, expected: parameterCount, of: "parameters (n)")
    try validateFinite(parameters, of: "parameters")
    try validateCount(
      inputs.columns, expected: inputCount, of: "input values per example (shape \(inputShape))")
    if layers[0] is Embedding<Scalar> {
      try layers[0].validateInput(inputs.elements, exampleCount: inputs.rows)
    } else {
      try validateFiniteEntries(inputs, of: "inputs")
    }
    // The passes keep every layer's output, deltas and a convolution's unfolded input for the
    // whole batch: throw, rather than die in the allocator, when the batch is too large.
    var perExample = 0
    var overflow = false
    for layer in layers {
      var (size, o1) = layer.outputShape.count.multipliedReportingOverflow(by: 3)
      if let convolution = layer as? Convolution<Scalar> {
        let g = convolution.geometry
        let (unfolded, o2) = g.positions.multipliedReportingOverflow(
          by: 2 * (g.patch + convolution.filters))
        let o3: Bool
        (size, o3) = size.addingReportingOverflow(unfolded)
        o1 = o1 || o2 || o3
      }
      let o4: Bool
      (perExample, o4) = perExample.addingReportingOverflow(size)
      overflow = o1 || o4
      if overflow { break }
    }
    let (count, overflow2) = perExample.multipliedReportingOverflow(by: inputs.rows)
    try validateAllocation(
      count: overflow || overflow2 ? Int.max : count, stride: MemoryLayout<Scalar>.stride,
      of: "the passes of \(inputs.rows) examples through \(layerText)")
  }

  public func validate(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) {
    try validate(parameters: parameters, inputs: batch.inputs)
    try outputLoss.validate(batch.targets, outputs: outputCount)
  }
}
