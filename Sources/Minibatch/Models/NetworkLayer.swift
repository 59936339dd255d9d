/// The shape of one example's values as a layer sees them, **channels first**: `[d]` for a
/// feature vector, `[C, L]` for `C` channels of length `L` (1-D convolutions, embedded sequences),
/// `[C, H, W]` for images. A layer's values for a batch are `k` such examples, each stored
/// row-major and contiguous (`k × count` scalars).
///
/// A sequence of `T` token ids (the input of an embedding) is the shape `[T]`, its entries the ids.
public struct TensorShape: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The extents, outermost first; each ≥ 1.
  public let dimensions: [Int]

  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for no dimensions, one
  ///   below 1 or more than three, or a product beyond `Int`.
  public init(_ dimensions: [Int]) throws(MinibatchError) {
    try validateArgument(
      dimensions, named: "shape", expected: "1 to 3 dimensions (d, C×L or C×H×W)",
      (1...3).contains(dimensions.count))
    var count = 1
    for (index, extent) in dimensions.enumerated() {
      try validateArgument(extent, named: "shape dimension \(index)", expected: "≥ 1", extent >= 1)
      let (product, overflow) = count.multipliedReportingOverflow(by: extent)
      guard !overflow else {
        throw .invalidArgument(
          name: "shape", value: "\(dimensions)", expected: "a product of dimensions within Int")
      }
      count = product
    }
    self.dimensions = dimensions
  }

  init(unchecked dimensions: [Int]) {
    assert(!dimensions.isEmpty && dimensions.allSatisfy { $0 >= 1 })
    self.dimensions = dimensions
  }

  /// `d` values per example.
  public static func features(_ d: Int) throws(MinibatchError) -> TensorShape {
    try TensorShape([d])
  }

  /// The number of values per example, the product of the dimensions.
  public var count: Int { dimensions.reduce(1, *) }

  /// `"1×8×8"`.
  public var description: String { dimensions.map(String.init).joined(separator: "×") }

  public init(from decoder: Decoder) throws {
    let dimensions = try [Int](from: decoder)
    self = try validated(decoder) { () throws(MinibatchError) in try TensorShape(dimensions) }
  }

  public func encode(to encoder: Encoder) throws { try dimensions.encode(to: encoder) }
}

/// One layer of a ``Sequential`` network, resolved for its input shape: its parameters, its batch
/// forward and backward passes, and its **factor** of the per-example gradients `J`.
///
/// A layer maps `k` examples of ``inputShape`` to `k` examples of ``outputShape``. Its parameters
/// are a contiguous slice of the network's flat vector, split into tensors (``parameterTensorSizes``,
/// in layout order; one ``ParameterBlocks`` block each). ``forward(parameters:input:exampleCount:)``
/// returns a ``LayerPass`` that keeps what the backward pass needs; the backward pass turns
/// `Δ_out = ∂ℓ_i/∂(output)` into `Δ_in` (only when a layer below needs it) and hands over the
/// layer's ``PerExampleGradientFactor``. Deltas are per example, **not divided by `k`**.
///
/// The built-in layers, one file each under `Models/Layers/`: ``Dense``, ``Convolution`` (1-D and
/// 2-D), ``Pooling`` (max and average, 1-D and 2-D), ``GlobalAveragePooling``, ``Flatten``,
/// ``ActivationLayer``, ``Embedding`` (with mean or sum pooling: an embedding bag),
/// ``Normalization`` (LayerNorm and GroupNorm). A layer of your own may conform; a ``Sequential``
/// made with one cannot be saved (``LayerSpecification`` names only the built-in layers).
public protocol NetworkLayer<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// The shape of one example's input.
  var inputShape: TensorShape { get }
  /// The shape of one example's output.
  var outputShape: TensorShape { get }
  /// The sizes of the layer's parameter tensors in layout order, each ≥ 1; `[]` for none.
  var parameterTensorSizes: [Int] { get }

  /// Writes reproducible starting values into the layer's parameter slice, drawing from
  /// `generator`. `rectifierFollows` says a ReLU-like activation comes next (He rather than
  /// Glorot scaling).
  func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool)

  /// Checks a batch's values for this layer when it is the network's first layer (an
  /// embedding's token ids); the default accepts any finite values.
  func validateInput(_ values: [Scalar], exampleCount k: Int) throws(MinibatchError)

  /// The batch forward pass: `input` holds `k × inputShape.count` values.
  func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar>
}

extension NetworkLayer {
  public func validateInput(_ values: [Scalar], exampleCount k: Int) throws(MinibatchError) {}

  /// The number of parameters, the sum of ``parameterTensorSizes``.
  public var parameterCount: Int { parameterTensorSizes.reduce(0, +) }
}

/// What one layer's forward pass over a batch keeps, and its backward pass.
public protocol LayerPass<Scalar> {
  associatedtype Scalar: BLASScalar

  /// The layer's output for the batch, `k × outputShape.count`.
  var output: [Scalar] { get }

  /// From `Δ_out` (`k × outputShape.count`): `Δ_in` (`k × inputShape.count`) when
  /// `needsInputDeltas`, and the layer's factor of `J` (`nil` for a layer without parameters).
  func backward(
    outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
  ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?)
}

/// `count` values drawn uniformly from `[−radius, radius]`.
func fillUniform<Scalar: BLASScalar>(
  _ values: UnsafeMutableBufferPointer<Scalar>, radius: Double, generator: inout SeededGenerator
) {
  // The same arithmetic as MultilayerPerceptron's, so a Sequential of dense layers starts from
  // the same bits.
  let radius = Scalar(radius)
  for j in values.indices {
    let unit = Scalar(Double(generator.next() >> 11) * 0x1p-53)  // [0, 1)
    values[j] = (2 * unit - 1) * radius
  }
}

/// Glorot's (`√(6/(fanIn + fanOut))`) or He's (`√(6/fanIn)`, before a rectifier) uniform radius.
func initializationRadius(fanIn: Int, fanOut: Int, rectifierFollows: Bool) -> Double {
  (6 / Double(rectifierFollows ? fanIn : fanIn + fanOut)).squareRoot()
}
