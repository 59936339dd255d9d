import Minibatch
import Testing

@Suite struct SeededGeneratorTests {
  @Test func sameSeedSameSequenceOnEveryMachine() {
    var a = SeededGenerator(seed: 42)
    var b = SeededGenerator(seed: 42)
    let first = (0..<5).map { _ in a.next() }
    #expect(first == (0..<5).map { _ in b.next() })
    // Golden values: xoshiro256** seeded through SplitMix64 is fully specified, so these are the
    // same on every platform. A change here breaks every recorded seed.
    #expect(first == Self.golden)
    var c = SeededGenerator(seed: 43)
    #expect((0..<5).map { _ in c.next() } != first)
  }

  static let golden: [UInt64] = [
    1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009,
    17_057_574_109_182_124_193, 18_295_552_978_065_317_476,
  ]
}
