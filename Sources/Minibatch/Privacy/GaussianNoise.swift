import CMinibatchKernels
import Foundation

/// Standard normal draws for DP-SGD's noise, reproducible from a seed or seeded by the operating
/// system.
///
/// Both ways of drawing use the **ziggurat method** (Marsaglia and Tsang 2000): a 64-bit word
/// picks a layer and a signed uniform `u`; `u·x_i` is returned at once when it lies inside the
/// layer's rectangle (about 98.7 % of draws: a multiply and a compare), otherwise a wedge test
/// with `exp`, or Marsaglia's exact tail beyond `r` with `log`. The distribution is exactly
/// `N(0, 1)` up to rounding; nothing is truncated.
///
/// - **In bulk** (``draws(count:standardDeviation:)``, and the noise of
///   ``DifferentialPrivacy/noisyGradient(clippedSum:expectedBatchSize:noise:parallelism:)``): the
///   C kernel `minibatch_noise_add_*` at the machine's vector width — eight xoshiro256** lanes
///   side by side, seeded from a generator (32 words), and a 256-layer ziggurat; entry `i`
///   takes its word from lane `i mod 8`. `draws` seeds the lanes from this generator directly;
///   `noisyGradient` first draws one generator per chunk of 8,192 entries from it (so for one
///   seed the two give different draws). On one machine the draws are the same on every
///   instruction set (integer work, one rounded multiply, and a slow path compiled once).
/// - **One at a time** (``nextStandardNormal()``): Doornik's 128-layer form in Swift, on this
///   generator's own sequence.
///
/// - **With a seed**: ``SeededGenerator`` (xoshiro256**, seeded through SplitMix64) supplies the
///   bits. The same seed gives the same draws on every run (and on every machine whose C library
///   rounds `exp` and `log` alike, as glibc does). For experiments and tests, not for a privacy
///   guarantee: anyone who knows the seed can subtract the noise.
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
/// a Float gradient) before rounding the noisy gradient to `Scalar`, and does not truncate the
/// tails. The reported `ε` is that of the idealised real-valued mechanism.
public struct GaussianNoise: Sendable {
  /// The seed, or `nil` when the state came from the operating system.
  public let seed: UInt64?
  var generator: SeededGenerator

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

  /// The same draws on every rank of `collective`: rank 0 reads 256 bits from the operating
  /// system's CSPRNG and every rank starts from them (one ``ReductionCollective/gather(_:)``,
  /// which every rank must call). For noise that is added once to a global sum by every rank
  /// alike; the ranks are trusted with the state as they are with the unnoised sum.
  ///
  /// - Throws: the transport's errors, on every rank alike.
  public init(sharedAcross collective: some ReductionCollective) throws(MinibatchError) {
    var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var bytes: [UInt8] = []
    if collective.rank == 0 {
      let local = GaussianNoise()
      state = local.generator.state
      for word in [state.0, state.1, state.2, state.3] {
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
      }
    }
    let shared = try collective.gather(bytes)[0]
    let words = (0..<shared.count / 8).map { w in
      (0..<8).reduce(UInt64(0)) { $0 | UInt64(shared[8 * w + $1]) << (8 * $1) }
    }
    guard shared.count == 32, words.contains(where: { $0 != 0 }) else {
      throw .communicationFailure(
        operation: "sharing the noise state",
        reason: "rank 0 sent \(shared.count) bytes, not a 32-byte non-zero generator state")
    }
    self.init(seed: nil, state: (words[0], words[1], words[2], words[3]))
  }

  /// One draw from `N(0, 1)`.
  public mutating func nextStandardNormal() -> Double {
    nextStandardNormal(using: Ziggurat.shared)
  }

  /// One draw from `N(0, 1)` with the layers at hand (loops hoist the table out).
  @inline(__always)
  mutating func nextStandardNormal(using table: Ziggurat) -> Double {
    table.edges.withUnsafeBufferPointer { edges in
      table.ratios.withUnsafeBufferPointer { ratios in
        nextStandardNormal(edges: edges.baseAddress!, ratios: ratios.baseAddress!)
      }
    }
  }

  /// The ziggurat's fast path inline (a draw, a compare, a multiply), the rest out of line.
  @inline(__always)
  mutating func nextStandardNormal(
    edges: UnsafePointer<Double>, ratios: UnsafePointer<Double>
  ) -> Double {
    let bits = generator.next()
    let layer = Int(bits & 0x7F)
    let u = Double(bits >> 11) * 0x1p-52 - 1  // uniform in [−1, 1)
    if abs(u) < ratios[layer] { return u * edges[layer] }
    return outsideRectangle(layer: layer, u: u, edges: edges, ratios: ratios)
  }

  /// The ~1.2 % of draws that fall outside their layer's rectangle: the wedge test, the tail,
  /// or a fresh draw.
  @inline(never)
  mutating func outsideRectangle(
    layer firstLayer: Int, u firstU: Double, edges: UnsafePointer<Double>,
    ratios: UnsafePointer<Double>
  ) -> Double {
    var (layer, u) = (firstLayer, firstU)
    while true {
      if abs(u) < ratios[layer] { return u * edges[layer] }
      if layer == 0 { return tail(negative: u < 0) }
      // The wedge between the rectangle and the curve: accept under the density.
      let x = u * edges[layer]
      // f(x)/f(x_i) and f(x)/f(x_{i+1}): the wedge's bounds scaled so that accepting means
      // "under the curve".
      let atOuterEdge = exp(-0.5 * (edges[layer] * edges[layer] - x * x))
      let atInnerEdge = exp(-0.5 * (edges[layer + 1] * edges[layer + 1] - x * x))
      if atInnerEdge + uniform() * (atOuterEdge - atInnerEdge) < 1 { return x }
      let bits = generator.next()
      layer = Int(bits & 0x7F)
      u = Double(bits >> 11) * 0x1p-52 - 1
    }
  }

  /// A draw beyond `r` (Marsaglia 1964): `x = −ln(u₁)/r`, `y = −ln(u₂)` until `2y ≥ x²`.
  mutating func tail(negative: Bool) -> Double {
    let r = Ziggurat.r
    while true {
      let x = -log(openUniform()) / r
      let y = -log(openUniform())
      if 2 * y >= x * x { return negative ? -(r + x) : r + x }
    }
  }

  /// Uniform in `[0, 1)` with 53 bits.
  mutating func uniform() -> Double { Double(generator.next() >> 11) * 0x1p-53 }

  /// Uniform in `(0, 1]` with 53 bits (safe to take the logarithm of).
  mutating func openUniform() -> Double { (Double(generator.next() >> 11) + 1) * 0x1p-53 }

  /// Calls `body(chunk, generator)` for consecutive chunks of ``chunkSize`` entries of `0..<count`,
  /// on up to `parallelism` threads, each chunk with a generator of its own whose 256-bit state
  /// is drawn from this one (sequentially, before any work): the draws for an entry depend only
  /// on this generator's state and the entry's position, never on the thread count.
  mutating func forEachChunk(
    count: Int, parallelism: Parallelism,
    _ body: @Sendable (Range<Int>, inout GaussianNoise) -> Void
  ) {
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    var generators: [GaussianNoise] = []
    generators.reserveCapacity(chunks)
    for _ in 0..<chunks {
      var state = (generator.next(), generator.next(), generator.next(), generator.next())
      if state == (0, 0, 0, 0) { state.0 = 1 }
      generators.append(GaussianNoise(seed: seed, state: state))
    }
    let shared = generators
    parallelism.forEachRange(of: chunks) { range in
      for c in range {
        var chunkNoise = shared[c]
        body(c * Self.chunkSize..<min(count, (c + 1) * Self.chunkSize), &chunkNoise)
      }
    }
  }

  /// Entries per chunk of ``forEachChunk(count:parallelism:_:)``.
  static let chunkSize = 1 << 13

  init(seed: UInt64?, state: (UInt64, UInt64, UInt64, UInt64)) {
    self.seed = seed
    generator = SeededGenerator(state: state)
  }

  /// The number of chunks of ``forEachChunk(count:parallelism:_:)`` over `count` entries.
  static func chunkCount(_ count: Int) -> Int { (count + chunkSize - 1) / chunkSize }

  /// `count` draws from `N(0, standardDeviation²)`, in bulk (the vector kernel; this generator
  /// advances by 32 words, whatever `count` is).
  ///
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` for a negative count or a
  ///   standard deviation that is not finite and `≥ 0`;
  ///   ``MinibatchError/allocationTooLarge(bytes:limit:of:)`` for more draws than memory holds.
  public mutating func draws(
    count: Int, standardDeviation: Double
  ) throws(MinibatchError) -> [Double] {
    try validateArgument(count, named: "count", expected: "≥ 0", count >= 0)
    try validateArgument(
      standardDeviation, named: "standard deviation", expected: "finite and ≥ 0",
      standardDeviation.isFinite && standardDeviation >= 0)
    guard count > 0 else { return [] }
    try validateAllocation(count: count, stride: MemoryLayout<Double>.stride, of: "noise draws")
    return [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
      withUnsafeMutableBytes(of: &generator.state) { words in
        _ = minibatch_normal_draws(
          words.baseAddress!.assumingMemoryBound(to: UInt64.self), buffer.baseAddress!, count,
          standardDeviation, 1)
      }
      initialized = count
    }
  }
}

/// The ziggurat's 128 layers for the standard normal density `f(x) = e^{−x²/2}` (unnormalised):
/// equal areas `v`, the base layer `0` reaching `x₀ = v/f(r)` (its tail beyond `r` sampled
/// exactly), `x₁ = r`, `x_{i+1} = f⁻¹(v/x_i + f(x_i))`, `x₁₂₈ = 0`.
struct Ziggurat: Sendable {
  static let r = 3.442619855899
  static let area = 9.91256303526217e-3
  static let shared = Ziggurat()

  /// `x_i`, 129 entries, decreasing from `x₀` to `x₁₂₈ = 0`.
  let edges: [Double]
  /// `x_{i+1}/x_i`: `|u| <` this puts `u·x_i` inside layer `i`'s rectangle.
  let ratios: [Double]

  init() {
    func density(_ x: Double) -> Double { exp(-0.5 * x * x) }
    var x = [Double](repeating: 0, count: 129)
    x[0] = Self.area / density(Self.r)
    x[1] = Self.r
    for i in 1..<127 {
      x[i + 1] = (-2 * log(Self.area / x[i] + density(x[i]))).squareRoot()
    }
    x[128] = 0
    edges = x
    ratios = (0..<128).map { x[$0 + 1] / x[$0] }
  }
}
