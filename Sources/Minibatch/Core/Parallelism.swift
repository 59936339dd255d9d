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

  /// One thread per active processor (`ProcessInfo.activeProcessorCount`).
  public static var automatic: Parallelism {
    .threads(ProcessInfo.processInfo.activeProcessorCount)
  }

  public var description: String { "\(threadCount) thread" + (threadCount == 1 ? "" : "s") }
}
