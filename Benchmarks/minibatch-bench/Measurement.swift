import Foundation

/// Min and median wall-clock seconds of repeated runs of one piece of work.
struct Timing {
  var seconds: [Double]
  var minimum: Double { seconds.min() ?? .nan }
  var median: Double {
    let sorted = seconds.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
  }
}

func monotonicSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Runs `work` once to warm up, then repeatedly until `budget` seconds have passed, at least
/// `minimumRuns` and at most `maximumRuns` times.
func measure(
  budget: Double, minimumRuns: Int = 5, maximumRuns: Int = 200, _ work: () -> Void
) -> Timing {
  work()
  var seconds: [Double] = []
  let start = monotonicSeconds()
  while seconds.count < minimumRuns
    || (seconds.count < maximumRuns && monotonicSeconds() - start < budget)
  {
    let t0 = monotonicSeconds()
    work()
    seconds.append(monotonicSeconds() - t0)
  }
  return Timing(seconds: seconds)
}

/// A value the optimiser cannot prove unused: every benchmark folds its results in here, and the
/// program prints it at the end.
final class Sink: @unchecked Sendable {
  private let lock = NSLock()
  private var value = 0.0
  func consume<S: BinaryFloatingPoint>(_ x: S) {
    lock.lock()
    value += Double(x)
    lock.unlock()
  }
  var checksum: Double { value }
}

let sink = Sink()
