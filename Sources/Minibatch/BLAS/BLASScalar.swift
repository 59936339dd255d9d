import RealModule

/// A floating-point type that the system BLAS and LAPACK implement: `Float` (the `s` routines) and
/// `Double` (the `d` routines). Nothing else conforms.
///
/// Everything above the BLAS layer is generic over `Scalar: BLASScalar`. The elementary
/// functions the models need (`exp`, `log(onePlus:)`, `tanh`, …) come from swift-numerics' `Real`;
/// the BLAS and LAPACK calls themselves are internal (the `BLAS` forwarders).
public protocol BLASScalar: Real, BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
  CustomStringConvertible
{
  /// Short BLAS prefix of the type, `"s"` or `"d"` (used in reports).
  static var blasPrefix: String { get }

  /// The SIMD vector of 64 bytes (one cache line) that Minibatch's own kernels load and store:
  /// `SIMD16<Float>` or `SIMD8<Double>`.
  associatedtype CacheLineVector: SIMD where CacheLineVector.Scalar == Self
}

extension Float: BLASScalar {
  public static var blasPrefix: String { "s" }
  public typealias CacheLineVector = SIMD16<Float>
}

extension Double: BLASScalar {
  public static var blasPrefix: String { "d" }
  public typealias CacheLineVector = SIMD8<Double>
}
