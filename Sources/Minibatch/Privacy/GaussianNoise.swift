import Foundation

/// Standard normal draws for DP-SGD's noise, reproducible from a seed or seeded by the operating
/// system.
///
/// - **With a seed**: ``SeededGenerator`` (xoshiro256**, seeded through SplitMix64) feeds the
///   Box–Muller transform: two uniforms `u₁ ∈ (0, 1]`, `u₂ ∈ [0, 1)` of 53 bits each give
///   `√(−2 ln u₁)·cos(2πu₂)` and then `√(−2 ln u₁)·sin(2πu₂)`. The same seed gives the same
///   draws on every run (and on every machine whose C library rounds `log`, `cos` and `sin`
///   alike, as glibc does). For experiments and tests, not for a privacy guarantee: anyone who
///   knows the seed can subtract the noise.
/// - **Without a seed**: the generator's whole 256-bit state is read from the operating
///   system's CSPRNG (`getrandom(2)` through `SystemRandomNumberGenerator`), once. xoshiro256** is
///   not itself a cryptographic generator; its state is unpredictable, its output is not
///   certified against an adversary who observes many draws.
///
/// **The floating-point caveat** (Mironov 2012, "On Significance of the Least Significant Bits for
/// Differential Privacy"): a Gaussian sampled and added in floating point is not the continuous
/// mechanism the analysis assumes — the set of reachable outputs depends on the input, which can
/// leak it. Minibatch, like Opacus and TF Privacy by default, does not implement Mironov's
/// snapping mechanism or a discrete Gaussian (Canonne, Kamath and Steinke 2020). What it does:
/// draws and adds the noise in Double (53-bit uniforms, so the noise has far more resolution than
/// a Float gradient) before rounding the noisy gradient to `Scalar`, and truncates no draw below
/// `|z| ≈ 8.57` (`u₁ ≥ 2⁻⁵³`). The reported `ε` is that of the idealised real-valued mechanism.
public struct GaussianNoise: Sendable {
  /// The seed, or `nil` when the state came from the operating system.
  public let seed: UInt64?
  var generator: SeededGenerator
  var spare: Double?

  /// Reproducible draws: the whole sequence is determined by `seed`.
  public init(seed: UInt64) {
    self.seed = seed
    generator = SeededGenerator(seed: seed)
  }

  /// Draws seeded with 256 bits from the operating system's CSPRNG.
  public init() {
    var system = SystemRandomNumberGenerator()
    var state = (system.next(), system.next(), system.next(), system.next())
    while state == (0, 0, 0, 0) { state.0 = system.next() }
    seed = nil
    generator = SeededGenerator(state: state)
  }

  /// One draw from `N(0, 1)`.
  public mutating func nextStandardNormal() -> Double {
    if let spare {
      self.spare = nil
      return spare
    }
    let u1 = (Double(generator.next() >> 11) + 1) * 0x1p-53
    let u2 = Double(generator.next() >> 11) * 0x1p-53
    let radius = (-2 * log(u1)).squareRoot()
    let angle = 2 * Double.pi * u2
    spare = radius * sin(angle)
    return radius * cos(angle)
  }

  /// `count` draws from `N(0, standardDeviation²)`.
  public mutating func draws(count: Int, standardDeviation: Double) -> [Double] {
    (0..<count).map { _ in standardDeviation * nextStandardNormal() }
  }
}
