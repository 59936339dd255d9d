import CMinibatchKernels
import Foundation
@_spi(Benchmark) import Minibatch

/// `--activations`: the activation layers' forward kernels (`activations.c`) against the Swift
/// loops they replaced (libm through swift-numerics: `exp` for sigmoid, `erf` for gelu), on
/// `n = 2²⁰` values uniform in [−4, 4), one thread, paired in the same rounds.
@MainActor func runActivationBenchmarks() throws {
  report("")
  report(
    "activation forward passes, n = 1,048,576 values in [-4, 4), 1 thread (swift = the loop the "
      + "layer ran before, libm's exp / erf; kernel = the C kernel; ×swift = paired median of "
      + "the kernel's time / the loop's):")
  try activationRows(Float.self)
  try activationRows(Double.self)
}

@MainActor func activationRows<Scalar: BLASScalar>(_: Scalar.Type) throws {
  let n = 1 << 20
  var generator = SeededGenerator(seed: 5)
  let x = (0..<n).map { _ in Scalar(Double(generator.next() >> 11) * 0x1p-53 * 8 - 4) }
  var y = [Scalar](repeating: 0, count: n)
  let cases: [(String, Int32)] = [
    ("relu", Int32(MINIBATCH_RELU)), ("sigmoid", Int32(MINIBATCH_SIGMOID)),
    ("gelu", Int32(MINIBATCH_GELU)),
  ]
  for (name, kind) in cases {
    let (swift, results) = try pairedRounds(
      budget: budget,
      baseline: {
        x.withUnsafeBufferPointer { x in
          y.withUnsafeMutableBufferPointer { y in
            swiftActivation(name, x.baseAddress!, y.baseAddress!, n)
          }
        }
        sink.consume(Double(y[n / 2]))
      },
      kernels: [
        (
          "activation-\(name)",
          {
            x.withUnsafeBufferPointer { x in
              y.withUnsafeMutableBufferPointer { y in
                Scalar.activationForward(
                  kind: kind, input: x.baseAddress!, into: y.baseAddress!, count: n)
              }
            }
            sink.consume(Double(y[n / 2]))
          }
        )
      ])
    let kernel = results[0]
    report(
      String(
        format: "  %-18@ %6@: swift %7.3f ms, kernel %7.3f ms (%5.2f ns per value), ×swift %.2f",
        kernel.kernel, "\(Scalar.self)", swift.median * 1e3, kernel.seconds.median * 1e3,
        kernel.seconds.median / Double(n) * 1e9, kernel.pairedRatio.median))
    if json {
      print(
        jsonObject([
          ("kernel", "\"\(kernel.kernel)\""), ("scalar", "\"\(Scalar.self)\""), ("threads", "1"),
          ("k", "1"), ("n", "\(n)"), ("seconds_min", "\(kernel.seconds.minimum)"),
          ("seconds_median", "\(kernel.seconds.median)"),
          ("swift_seconds_median", "\(swift.median)"),
          ("ratio_vs_swift_median", "\(kernel.pairedRatio.median)"),
        ]))
    }
  }
}

/// The loops the activation layer ran before its kernels (specialised, on raw pointers).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func swiftActivation<Scalar: BLASScalar>(
  _ name: String, _ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, _ n: Int
) {
  switch name {
  case "relu":
    for j in 0..<n { y[j] = max(x[j], 0) }
  case "sigmoid":
    for j in 0..<n {
      let e = Scalar.exp(-abs(x[j]))
      y[j] = x[j] >= 0 ? 1 / (1 + e) : e / (1 + e)
    }
  default:
    let scale = 1 / Scalar(2).squareRoot()
    for j in 0..<n { y[j] = x[j] * (1 + Scalar.erf(x[j] * scale)) / 2 }
  }
}
