import CMinibatchKernels

/// The package's own C kernels (`Sources/CMinibatchKernels`), each compiled for x86-64-v4
/// (AVX-512), x86-64-v3 (AVX2, FMA) and baseline x86-64 and chosen at run time on first use:
///
/// | kernel | file | across instruction sets |
/// |---|---|---|
/// | Gaussian noise (`Scalar.addGaussianNoise`, `GaussianNoise.draws`) | `noise.c` | bit-identical |
/// | stored row combination (`Scalar.addRows`) | `rows.c` | bit-identical |
/// | moments sweep (`Scalar.momentsSweep`) | `kernels.c` | bit-identical |
/// | activations' backward (`Scalar.activationBackward`) | `activations.c` | bit-identical |
/// | `tanh` (`Scalar.tanh`) | `kernels.c` | within a few ulp (FMA) |
/// | FFT, complex power, log-MGF (``FourierTransform``) | `fft.c` | to rounding (FMA) |
///
/// A kernel for Float and Double is a `BLASScalar` requirement (one forwarder in each
/// conformance file). "Bit-identical" kernels are compiled with floating-point contraction off;
/// on one machine and instruction set no result depends on the thread count.
@_spi(Benchmark) public enum Kernels {
  /// The instruction set the kernels run with here, e.g. `"x86-64-v3 (AVX2, FMA)"`: the best
  /// this machine supports, or a lower one named by the environment variable
  /// `MINIBATCH_KERNELS_ISA` (`baseline`, `x86-64-v3`, `x86-64-v4`), read once.
  public static var instructionSet: String { String(cString: minibatch_kernels_isa()) }

  /// `0` (baseline x86-64), `1` (x86-64-v3) or `2` (x86-64-v4): the level of ``instructionSet``.
  public static var instructionSetLevel: Int { Int(minibatch_kernels_isa_level()) }

  /// Runs `body` with the kernels that the **calling thread** calls compiled for `level`
  /// (clamped to what the machine supports), then restores the level before: for tests that compare
  /// the baseline bodies with the vector ones. Kernels that `body` runs on other threads are
  /// not affected.
  public static func withInstructionSet<Result>(
    level: Int, _ body: () throws -> Result
  ) rethrows -> Result {
    let outer = minibatch_kernels_thread_isa()
    minibatch_kernels_set_thread_isa(Int32(clamping: max(0, level)))
    defer { minibatch_kernels_set_thread_isa(outer) }
    return try body()
  }
}

/// A radix-2 fast Fourier transform of one length, in double precision (the C kernel
/// `minibatch_fft_f64`): its twiddle table is computed once, by `cos`/`sin`, at construction.
///
/// ```
/// forward:  y_k = Σ_j x_j·exp(−2πi·jk/n)        inverse:  x_j = (1/n)·Σ_k y_k·exp(+2πi·jk/n)
/// ```
///
/// Cost `5·n·log₂ n` flops. Normwise error about `8·log₂(n)·u·‖y‖₂` (Higham, Theorem 24.2; tested
/// against numpy's and a Float80 direct transform).
struct FourierTransform: Sendable {
  /// `n`, a power of two ≥ 1.
  let count: Int
  private let twiddleReal: [Double]
  private let twiddleImaginary: [Double]

  /// - Precondition: `count` is a power of two ≥ 1 (internal callers round up).
  init(count: Int) {
    precondition(count >= 1 && count & (count - 1) == 0, "FFT length is a power of two")
    self.count = count
    var real = [Double](repeating: 0, count: count)
    var imaginary = [Double](repeating: 0, count: count)
    real.withUnsafeMutableBufferPointer { re in
      imaginary.withUnsafeMutableBufferPointer { im in
        minibatch_fft_twiddles(count, re.baseAddress!, im.baseAddress!)
      }
    }
    (twiddleReal, twiddleImaginary) = (real, imaginary)
  }

  /// The smallest power of two ≥ `n` (n ≥ 1).
  static func length(atLeast n: Int) -> Int {
    n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
  }

  /// In place, the forward transform or (with `inverse`) the inverse one, scaled by `1/n`.
  func transform(real: inout [Double], imaginary: inout [Double], inverse: Bool) {
    precondition(real.count == count && imaginary.count == count, "FFT input length")
    real.withUnsafeMutableBufferPointer { re in
      imaginary.withUnsafeMutableBufferPointer { im in
        twiddleReal.withUnsafeBufferPointer { wr in
          twiddleImaginary.withUnsafeBufferPointer { wi in
            minibatch_fft_f64(
              count, re.baseAddress!, im.baseAddress!, wr.baseAddress!, wi.baseAddress!,
              inverse ? 1 : 0)
          }
        }
        if inverse, count > 1 {
          let scale = 1 / Double(count)
          for i in 0..<count {
            re[i] *= scale
            im[i] *= scale
          }
        }
      }
    }
  }

  /// In place, `z ← z^exponent` for every entry (polar form; the principal branch).
  static func raise(real: inout [Double], imaginary: inout [Double], toPower exponent: Double) {
    precondition(real.count == imaginary.count, "complex vector halves")
    real.withUnsafeMutableBufferPointer { re in
      imaginary.withUnsafeMutableBufferPointer { im in
        minibatch_complex_power_f64(re.count, re.baseAddress!, im.baseAddress!, exponent)
      }
    }
  }

  /// `log Σ_i p_i·e^{i·t}` for each order `t` (`−∞` when no `p_i` is positive).
  static func logMomentGeneratingFunction(of p: [Double], orders: [Double]) -> [Double] {
    guard !p.isEmpty else { return [Double](repeating: -.infinity, count: orders.count) }
    guard !orders.isEmpty else { return [] }
    return [Double](unsafeUninitializedCapacity: orders.count) { out, initialized in
      p.withUnsafeBufferPointer { probabilities in
        orders.withUnsafeBufferPointer { t in
          minibatch_log_moment_generating_f64(
            probabilities.baseAddress!, probabilities.count, t.baseAddress!, t.count,
            out.baseAddress!)
        }
      }
      initialized = orders.count
    }
  }
}
