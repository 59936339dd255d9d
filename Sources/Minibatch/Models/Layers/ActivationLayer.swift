/// The elementwise functions of an ``ActivationLayer``.
public enum ActivationFunction: String, Sendable, Hashable, CaseIterable, Codable {
  case relu
  /// Slope 0.01 below zero (PyTorch's default).
  case leakyReLU = "leakyrelu"
  case tanh
  case sigmoid
  case gelu

  /// ReLU-like: the layer before it is initialised with He's scaling.
  var isRectifier: Bool { self == .relu || self == .leakyReLU || self == .gelu }
}

/// An elementwise nonlinearity as a layer (any shape; no parameters).
///
/// ```
/// relu        f(x) = max(x, 0)                   f′ = [x > 0]
/// leakyReLU   f(x) = x for x > 0, 0.01·x else     f′ = 1 or 0.01
/// tanh        f(x) = tanh x                       f′ = 1 − f²         (the package's C kernel, ≤ 2 ulp)
/// sigmoid     f(x) = 1/(1 + e^(−x))               f′ = f·(1 − f)      (evaluated from e^(−|x|), no overflow)
/// gelu        f(x) = x·Φ(x) = ½x·(1 + erf(x/√2))  f′ = Φ(x) + x·φ(x)  (the exact form, PyTorch's default)
/// ```
///
/// Backward: `Δ_in = Δ_out ⊙ f′(x)`, one pass.
public struct ActivationLayer<Scalar: BLASScalar>: NetworkLayer {
  public let function: ActivationFunction
  public let inputShape: TensorShape
  public var outputShape: TensorShape { inputShape }
  public var parameterTensorSizes: [Int] { [] }

  public init(_ function: ActivationFunction, inputShape: TensorShape) {
    self.function = function
    self.inputShape = inputShape
  }

  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {}

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    var output = input
    switch function {
    case .relu:
      for j in output.indices { output[j] = max(output[j], 0) }
    case .leakyReLU:
      for j in output.indices where output[j] <= 0 { output[j] *= 0.01 }
    case .tanh:
      output.withUnsafeMutableBufferPointer { y in
        Kernels.tanh(y.baseAddress!, y.baseAddress!, count: y.count)
      }
    case .sigmoid:
      for j in output.indices {
        let x = output[j]
        let e = Scalar.exp(-abs(x))
        output[j] = x >= 0 ? 1 / (1 + e) : e / (1 + e)
      }
    case .gelu:
      let scale = 1 / Scalar(2).squareRoot()
      for j in output.indices {
        let x = output[j]
        output[j] = x * (1 + Scalar.erf(x * scale)) / 2
      }
    }
    return Pass(function: function, input: input, output: output)
  }

  struct Pass: LayerPass {
    let function: ActivationFunction
    let input: [Scalar]
    let output: [Scalar]

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      guard needsInputDeltas else { return (nil, nil) }
      var d = outputDeltas
      switch function {
      case .relu:
        for j in d.indices where input[j] <= 0 { d[j] = 0 }
      case .leakyReLU:
        for j in d.indices where input[j] <= 0 { d[j] *= 0.01 }
      case .tanh:
        for j in d.indices { d[j] *= 1 - output[j] * output[j] }
      case .sigmoid:
        for j in d.indices { d[j] *= output[j] * (1 - output[j]) }
      case .gelu:
        let scale = 1 / Scalar(2).squareRoot()
        let density = 1 / (2 * Scalar.pi).squareRoot()
        for j in d.indices {
          let x = input[j]
          let cdf = (1 + Scalar.erf(x * scale)) / 2
          d[j] *= cdf + x * density * Scalar.exp(-x * x / 2)
        }
      }
      return (d, nil)
    }
  }
}
