import Foundation
import Minibatch

/// `size` ranks in one process, one thread each, that sum and gather through shared memory: a
/// ``ReductionCollective`` for testing the distributed code paths without MPI. Sums add the
/// ranks' values in rank order, so every rank gets the same bits.
public final class InProcessGroup: @unchecked Sendable {
  public let size: Int
  private let condition = NSCondition()
  private var arrived = 0
  private var generation = 0
  private var deposits: [[Double]]
  private var records: [[UInt8]]

  private init(size: Int) {
    self.size = size
    deposits = Array(repeating: [], count: size)
    records = Array(repeating: [], count: size)
  }

  /// Runs `body` on `size` threads, rank `r` with the collective of rank `r`; returns each rank's
  /// outcome, indexed by rank.
  public static func run<T: Sendable>(
    size: Int, _ body: @escaping @Sendable (InProcessRank) throws -> T
  ) -> [Result<T, any Error>] {
    let group = InProcessGroup(size: size)
    let results = Results<T>(count: size)
    let done = DispatchGroup()
    for rank in 0..<size {
      done.enter()
      let thread = Thread {
        results.set(rank, Result { try body(InProcessRank(group: group, rank: rank)) })
        done.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    return results.values.map { $0! }
  }

  /// Waits until every rank has arrived.
  private func barrier() {
    condition.lock()
    defer { condition.unlock() }
    let current = generation
    arrived += 1
    if arrived == size {
      arrived = 0
      generation += 1
      condition.broadcast()
    } else {
      while generation == current { condition.wait() }
    }
  }

  fileprivate func sum(_ values: inout [Double], rank: Int) {
    condition.withLock { deposits[rank] = values }
    barrier()
    condition.withLock {
      for j in values.indices {
        var total = 0.0
        for r in 0..<size { total += deposits[r][j] }
        values[j] = total
      }
    }
    barrier()
  }

  fileprivate func gather(_ record: [UInt8], rank: Int) -> [[UInt8]] {
    condition.withLock { records[rank] = record }
    barrier()
    let all = condition.withLock { records }
    barrier()
    return all
  }
}

/// One rank of an ``InProcessGroup``.
public struct InProcessRank: ReductionCollective {
  let group: InProcessGroup
  public let rank: Int
  public var size: Int { group.size }

  public func sum(_ values: inout [Double]) throws(MinibatchError) {
    group.sum(&values, rank: rank)
  }

  public func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]] {
    group.gather(record, rank: rank)
  }
}

private final class Results<T>: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var values: [Result<T, any Error>?]
  init(count: Int) { values = Array(repeating: nil, count: count) }
  func set(_ index: Int, _ value: Result<T, any Error>) { lock.withLock { values[index] = value } }
}
