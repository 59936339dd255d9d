// Distributed reduction: several processes (ranks) each hold part of a global batch, accumulate
// its raw state locally, and sum that state across ranks once. The transport is a protocol here,
// so this layer knows nothing about MPI: `MinibatchMPI` conforms `MPICommunicator` to it, and the
// tests conform an in-process group of threads.
//
// Goals, in order: the exact global result (raw sums, normalised once, never an average of
// averages), the same bits on every rank, and no rank left waiting when another one fails.

import Foundation

/// The participants of a distributed reduction, numbered `0..<size`, and the two collective
/// operations the package needs from them.
///
/// Every participant must make the same sequence of collective calls. The package keeps to that
/// even when something fails: inputs are checked collectively first (see
/// ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` and
/// ``MinibatchError/failedOnRank(rank:reason:)``), so a bad input on one rank makes every rank
/// throw the same error instead of leaving the others waiting.
public protocol ReductionCollective: Sendable {
  /// This participant's number, `0..<size`.
  var rank: Int { get }
  /// The participants.
  var size: Int { get }
  /// Replaces `values` by the element-wise sum of every participant's `values`. Every
  /// participant passes the same count and receives the same bits.
  func sum(_ values: inout [Double]) throws(MinibatchError)
  /// Every participant's `record`, indexed by rank (records may differ in length).
  func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]]
}

/// The one-participant collective: `sum` leaves its values as they are.
public struct SingleProcess: ReductionCollective {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func sum(_ values: inout [Double]) throws(MinibatchError) {}
  public func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]] { [record] }
}

extension ReductionCollective {
  /// This rank's share of `count` items split into `size` contiguous slices in rank order:
  /// `⌊count·rank/size⌋ ..< ⌊count·(rank + 1)/size⌋`. The slices differ in length by at most
  /// one; with more ranks than items some are empty (and all are for `count ≤ 0`).
  public func slice(of count: Int) -> Range<Int> {
    contiguousShare(of: count, part: rank, parts: size)
  }

  /// The collective check every distributed entry point makes before its first sum: each rank
  /// passes what must agree (`fields`, as name and value) and the description of its own local
  /// failure, if any (one ``gather(_:)`` of a JSON record).
  ///
  /// - Throws, on every rank alike: ``MinibatchError/failedOnRank(rank:reason:)`` for the lowest
  ///   rank that failed, else ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` for
  ///   the first field that differs.
  func agree(
    on fields: [(name: String, value: String)], localFailure: String?
  ) throws(MinibatchError) {
    // [failed ("1"/"0"), its description, the fields' values…]
    let record = [localFailure == nil ? "0" : "1", localFailure ?? ""] + fields.map(\.value)
    // Encoding strings does not fail; if it did, the empty record would read as a failure of
    // this rank on every rank (below), so nothing is hidden.
    let encoded = (try? JSONEncoder().encode(record)).map { Array($0) } ?? []
    // A record that does not decode is that rank's failure, with the decoder's reason.
    let records = try gather(encoded).map { bytes -> [String] in
      do {
        return try JSONDecoder().decode([String].self, from: Data(bytes))
      } catch {
        return ["1", "its record of this collective call could not be read: \(error)"]
      }
    }
    for (rank, values) in records.enumerated() where values.count < 2 || values[0] != "0" {
      throw .failedOnRank(rank: rank, reason: values.count > 1 ? values[1] : "(no reason sent)")
    }
    for (index, field) in fields.enumerated() {
      let values = records.map { $0.count > index + 2 ? $0[index + 2] : "(missing)" }
      if values.contains(where: { $0 != values[0] }) {
        throw .inconsistentAcrossRanks(quantity: field.name, values: values)
      }
    }
    if records.contains(where: { $0.count != fields.count + 2 }) {
      throw .inconsistentAcrossRanks(
        quantity: "collective call", values: records.map { "\($0.count - 2) fields" })
    }
  }

  /// Runs `body` (this rank's local work: reading a file, validating its inputs) and then agrees
  /// with the other ranks on its outcome and on `fields` (one ``gather(_:)``): every rank
  /// returns, or every rank throws the same error. Use it around local work that may fail on
  /// some ranks only, before the next collective call, so that no rank is left waiting.
  ///
  /// - Parameters:
  ///   - fields: what must be equal on every rank, as name and value (a size, a seed, a
  ///     fingerprint), compared in order.
  ///   - body: this rank's work.
  /// - Returns: `body`'s result.
  /// - Throws, on every rank alike: ``MinibatchError/failedOnRank(rank:reason:)`` (the
  ///   description of the lowest failing rank's error) when `body` threw on any rank, else
  ///   ``MinibatchError/inconsistentAcrossRanks(quantity:values:)`` for the first field that
  ///   differs; the transport's errors.
  public func agreeing<T>(
    on fields: [(name: String, value: String)] = [], _ body: () throws -> T
  ) throws(MinibatchError) -> T {
    let result: Result<T, any Error>
    do { result = .success(try body()) } catch { result = .failure(error) }
    var localFailure: String?
    if case .failure(let error) = result { localFailure = "\(error)" }
    try agree(on: fields, localFailure: localFailure)
    guard case .success(let value) = result else {
      throw .failedOnRank(rank: rank, reason: localFailure ?? "")  // unreachable: agree threw
    }
    return value
  }
}
