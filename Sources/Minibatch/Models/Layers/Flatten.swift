/// Reshapes `C×L` or `C×H×W` into a flat `[C·L]` or `[C·H·W]` (row-major, so the values do not
/// move): the bridge from convolutions to dense layers. No parameters; backward reshapes back.
public struct Flatten<Scalar: BLASScalar>: NetworkLayer {
  public let inputShape: TensorShape
  public var outputShape: TensorShape { TensorShape(unchecked: [inputShape.count]) }
  public var parameterTensorSizes: [Int] { [] }

  public init(inputShape: TensorShape) { self.inputShape = inputShape }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {}

  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    Pass(output: input)
  }

  struct Pass: LayerPass {
    let output: [Scalar]
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      (needsInputDeltas ? outputDeltas : nil, nil)
    }
  }
}
