import CMinibatchKernels

/// The package's own C kernels (`Sources/CMinibatchKernels`), each compiled for x86-64-v4
/// (AVX-512), x86-64-v3 (AVX2, FMA) and baseline x86-64 and chosen at run time on first use; one forwarder per kernel, dispatching on
/// the scalar type. Results can differ in the last bit between instruction sets (FMA
/// contraction); on one machine they do not depend on the thread count.
@_spi(Benchmark) public enum Kernels {
  /// The instruction set the kernels run with here, e.g. `"x86-64-v3 (AVX2, FMA)"`.
  public static var instructionSet: String { String(cString: minibatch_kernels_isa()) }

  /// `y[i] = tanh(x[i])` for `count` entries, within 4 ulp of libm's `tanh` (3 measured;
  /// tested); `x` and `y` may be the same buffer.
  static func tanh<S: BLASScalar>(_ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, count: Int) {
    if S.self == Double.self {
      minibatch_tanh_f64(BLAS.cast(x), BLAS.cast(y), count)
    } else {
      precondition(S.self == Float.self, "BLASScalar is Float or Double")
      minibatch_tanh_f32(BLAS.cast(x), BLAS.cast(y), count)
    }
  }
}
