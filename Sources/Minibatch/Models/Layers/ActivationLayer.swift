import CMinibatchKernels

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
/// sigmoid     f(x) = 1/(1 + e^(−x))               f′ = f·(1 − f)      (from e^(−|x|), no overflow; C kernel, ≤ 4 ulp)
/// gelu        f(x) = x·Φ(x) = ½x·(1 + erf(x/√2))  f′ = Φ(x) + x·φ(x)  (the exact form, PyTorch's default; C kernel, Φ from erfc: ≤ 12 ulp)
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
    // Written straight from the input into a new buffer (no copy, no zero fill first).
    let output = [Scalar](unsafeUninitializedCapacity: input.count) { y, initialized in
      input.withUnsafeBufferPointer { x in
        let (x, y, n) = (x.baseAddress!, y.baseAddress!, x.count)
        switch function {
        // The package's C kernels (`activations.c`, `kernels.c`).
        case .relu:
          Scalar.activationForward(kind: Int32(MINIBATCH_RELU), input: x, into: y, count: n)
        case .leakyReLU:
          Scalar.activationForward(kind: Int32(MINIBATCH_LEAKY_RELU), input: x, into: y, count: n)
        case .tanh:
          Scalar.tanh(x, into: y, count: n)
        case .sigmoid:
          Scalar.activationForward(kind: Int32(MINIBATCH_SIGMOID), input: x, into: y, count: n)
        case .gelu:
          Scalar.activationForward(kind: Int32(MINIBATCH_GELU), input: x, into: y, count: n)
        }
      }
      initialized = input.count
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
      let d = [Scalar](unsafeUninitializedCapacity: outputDeltas.count) { below, initialized in
        outputDeltas.withUnsafeBufferPointer { delta in
          input.withUnsafeBufferPointer { x in
            output.withUnsafeBufferPointer { f in
              let (g, x, f, b, n) = (
                delta.baseAddress!, x.baseAddress!, f.baseAddress!, below.baseAddress!, delta.count
              )
              // The package's C kernel (the formulas above, rounded as Swift would; this method
              // is reached through `any LayerPass`, where a Swift loop here ran unspecialised).
              let kernel: Int32
              switch function {
              case .relu: kernel = Int32(MINIBATCH_RELU)
              case .leakyReLU: kernel = Int32(MINIBATCH_LEAKY_RELU)
              case .tanh: kernel = Int32(MINIBATCH_TANH)
              case .sigmoid: kernel = Int32(MINIBATCH_SIGMOID)
              case .gelu: kernel = Int32(MINIBATCH_GELU)
              }
              Scalar.activationBackward(
                kind: kernel, outputDeltas: g, input: x, output: f, into: b, count: n)
            }
          }
        }
        initialized = outputDeltas.count
      }
      return (d, nil)
    }
  }
}
