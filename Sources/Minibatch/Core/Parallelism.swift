import Foundation

/// How many threads Minibatch's own kernels may use for one call.
///
/// The large reductions split the **columns** of the k×n matrix into contiguous panels, one per
/// thread; each column is still summed over the rows in the same order, so results are
/// **bit-identical whatever the thread count**. OpenBLAS's process-wide thread setting is never
/// changed.
public struct Parallelism: Sendable, Hashable, CustomStringConvertible {
  /// The maximum number of threads, at least 1.
  public let threadCount: Int

  /// `threads` threads; values below 1 mean 1.
  public static func threads(_ threads: Int) -> Parallelism {
    Parallelism(threadCount: max(1, threads))
  }

  /// One thread: the caller's.
  public static let serial = Parallelism(threadCount: 1)

  /// One thread per active processor (`ProcessInfo.activeProcessorCount`, read once).
  public static var automatic: Parallelism { processors }

  private static let processors = Parallelism.threads(
    ProcessInfo.processInfo.activeProcessorCount)

  public var description: String { "\(threadCount) thread" + (threadCount == 1 ? "" : "s") }
}

extension Parallelism {
  /// Splits `0..<count` into at most `threadCount` contiguous ranges of at least `minimumChunk`
  /// items and runs `body` on each, in parallel when there is more than one.
  func forEachRange(
    of count: Int, minimumChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void
  ) {
    let parts = max(1, min(threadCount, count / max(1, minimumChunk)))
    guard parts > 1 else {
      body(0..<count)
      return
    }
    let perPart = (count + parts - 1) / parts
    DispatchQueue.concurrentPerform(iterations: parts) { part in
      let range = min(count, part * perPart)..<min(count, (part + 1) * perPart)
      if !range.isEmpty { body(range) }
    }
  }
}
