import Dispatch
import Minibatch

/// The machine's sustainable read bandwidth: a streaming read (SIMD loads into two accumulators)
/// over a buffer of at least four times the last-level cache, split into contiguous parts, one per
/// thread, exactly as the reductions split their work.
struct BandwidthProbe {
  let bytes: Int
  private let buffer: UnsafeMutablePointer<Double>

  init(bytes: Int) {
    self.bytes = bytes
    let count = bytes / MemoryLayout<Double>.stride
    buffer = .allocate(capacity: count)
    var rng = SeededGenerator(seed: 99)
    for i in 0..<count { buffer[i] = Double(rng.next() >> 11) }  // random, non-repeating
  }

  func release() { buffer.deallocate() }

  /// Seconds for one read of the whole buffer on `threads` threads, repeated within `budget`.
  func measureRead(threads: Int, budget: Double) -> Timing {
    measure(budget: budget) { read(threads: threads) }
  }

  /// One read of the whole buffer on `threads` threads; returns its seconds.
  @discardableResult
  func read(threads: Int) -> Double {
    let count = bytes / MemoryLayout<Double>.stride
    let parts = max(1, threads)
    let perPart = (count / parts) & ~15
    let base = SendablePointer(pointer: buffer)
    let start = monotonicSeconds()
    DispatchQueue.concurrentPerform(iterations: parts) { part in
      sink.consume(Self.sum(base.pointer + part * perPart, count: perPart))
    }
    return monotonicSeconds() - start
  }

  private static func sum(_ p: UnsafeMutablePointer<Double>, count: Int) -> Double {
    var a = SIMD8<Double>()
    var b = SIMD8<Double>()
    let raw = UnsafeRawPointer(p)
    var offset = 0
    let end = count * 8
    while offset + 128 <= end {
      a += raw.loadUnaligned(fromByteOffset: offset, as: SIMD8<Double>.self)
      b += raw.loadUnaligned(fromByteOffset: offset + 64, as: SIMD8<Double>.self)
      offset += 128
    }
    return (a + b).sum()
  }
}

struct SendablePointer<T>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<T>
}
