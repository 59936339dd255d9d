import Foundation
import MinibatchTestSupport
import Testing

@_spi(Benchmark) @testable import Minibatch

/// The reduction kernels (`reductions.c`): the sum of squares against a plain sequential sum in
/// Float80 over lengths around the 32 partials and beyond the caches, the same bits on the
/// baseline and vector bodies, the row sums equal to one sum per row, and Chan's merge equal to
/// its formula evaluated in Swift.
@Suite struct ReductionKernelTests {
  @Test(arguments: allScalarTypes)
  func sumOfSquaresAgreesWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkSumOfSquares(type)
  }

  func checkSumOfSquares<Scalar: BLASScalar>(_: Scalar.Type) throws {
    var rng = SeededGenerator(seed: 17)
    let lengths = [1, 2, 7, 31, 32, 33, 63, 64, 65, 95, 1_000, 4_099, 100_003, 9_000_001]
    for n in lengths {
      let x: [Scalar] = (0..<n).map { _ in Scalar(Double(rng.next() >> 11) * 0x1p-52 - 1) }
      var exact: Float80 = 0
      for value in x { exact += Float80(value) * Float80(value) }
      let (vector, baseline) = x.withUnsafeBufferPointer { p in
        (
          Scalar.sumOfSquares(p.baseAddress!, count: n, scale: 1),
          Kernels.withInstructionSet(level: 0) {
            Scalar.sumOfSquares(p.baseAddress!, count: n, scale: 1)
          }
        )
      }
      // Recursive summation of n/32 terms and a tree of depth 5: error ≤ (n/32 + 6)·u·Σ.
      let bound = (Double(n) / 32 + 6) * Double.ulpOfOne * Double(exact)
      #expect(abs(Double(Float80(vector) - exact)) <= bound, "\(Scalar.self) n = \(n)")
      #expect(vector == baseline, "\(Scalar.self) n = \(n): ISA-independent")
      // Scaling by a power of two is exact; the internal `sumOfSquares` is the kernel.
      let scaled = x.withUnsafeBufferPointer {
        Scalar.sumOfSquares($0.baseAddress!, count: n, scale: 0x1p-3)
      }
      #expect(scaled == vector * 0x1p-6)
      #expect(x.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: n) } == vector)
    }
    // Row sums: k rows of n with a leading dimension, each equal to its own sum.
    for (k, n) in [(1, 1), (5, 33), (64, 1_000), (3, 70)] {
      let lda = n + 3
      let a: [Scalar] = (0..<(k * lda)).map { _ in Scalar(Double(rng.next() >> 11) * 0x1p-52) }
      var out = [Double](repeating: .nan, count: k)
      a.withUnsafeBufferPointer { a in
        out.withUnsafeMutableBufferPointer { out in
          Scalar.rowSumsOfSquares(
            a.baseAddress!, rows: k, columns: n, lda: lda, into: out.baseAddress!)
        }
        for i in 0..<k {
          #expect(out[i] == Scalar.sumOfSquares(a.baseAddress! + i * lda, count: n, scale: 1))
        }
      }
      let contiguous = Array(a[0..<n])
      #expect(
        contiguous.withUnsafeBufferPointer { squaredRowNorms($0.baseAddress!, k: 1, n: n) }
          == [out[0]])
    }
    // Special values: ∞ and NaN propagate, zeros sum to +0.
    let special: [Scalar] = [1, .infinity, 2]
    #expect(
      special.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: 3) } == .infinity)
    let nan: [Scalar] = [1, .nan] + [Scalar](repeating: 1, count: 40)
    #expect(nan.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: 42) }.isNaN)
    let zeros = [Scalar](repeating: 0, count: 50)
    #expect(zeros.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: 50) } == 0)
  }

  /// Chan's merge through the kernel equals the formula evaluated in Swift, bit for bit, on the
  /// baseline and vector bodies, and merging two halves gives the moments of the whole to rounding.
  @Test func chanMergeAgreesWithItsFormula() throws {
    var rng = SeededGenerator(seed: 23)
    let n = 1_037
    func random() -> [Double] { (0..<n).map { _ in Double(rng.next() >> 11) * 0x1p-50 - 2 } }
    let (meanA, meanB) = (random(), random())
    let (m2A, m2B) = (random().map(abs), random().map(abs))
    let (va, vb) = (3.0, 5.0)
    let a = GradientMoments(
      weightTotal: va, squaredWeightTotal: va, exampleCount: 3, mean: meanA, m2: m2A,
      exactlyRecomputed: 0)
    let b = GradientMoments(
      weightTotal: vb, squaredWeightTotal: vb, exampleCount: 5, mean: meanB, m2: m2B,
      exactlyRecomputed: 1)
    var merged = a
    try merged.merge(b)
    var baseline = a
    try Kernels.withInstructionSet(level: 0) { try baseline.merge(b) }
    #expect(merged == baseline)
    let total = va + vb
    for j in 0..<n {
      let delta = meanB[j] - meanA[j]
      #expect(merged.mean[j] == meanA[j] + delta * (vb / total))
      #expect(merged.m2[j] == m2A[j] + (m2B[j] + delta * delta * (va * vb / total)))
    }
    #expect(merged.weightTotal == 8 && merged.exampleCount == 8 && merged.exactlyRecomputed == 1)

    // Two halves of a batch merged equal the whole batch's two-pass moments.
    let rows = (0..<10).map { _ in random() }
    func moments(_ part: ArraySlice<[Double]>) -> GradientMoments {
      let k = Double(part.count)
      let mean = (0..<n).map { j in part.reduce(0) { $0 + $1[j] } / k }
      let m2 = (0..<n).map { j in part.reduce(0) { $0 + ($1[j] - mean[j]) * ($1[j] - mean[j]) } }
      return GradientMoments(
        weightTotal: k, squaredWeightTotal: k, exampleCount: part.count, mean: mean, m2: m2,
        exactlyRecomputed: 0)
    }
    var halves = moments(rows[0..<4])
    try halves.merge(moments(rows[4...]))
    let whole = moments(rows[...])
    for j in 0..<n {
      #expect(abs(halves.mean[j] - whole.mean[j]) <= 1e-14 * 4)
      #expect(abs(halves.m2[j] - whole.m2[j]) <= 1e-13 * max(1, whole.m2[j]))
    }
  }
}
