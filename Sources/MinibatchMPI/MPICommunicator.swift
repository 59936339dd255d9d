// MinibatchMPI: the package's distributed reductions (``ReductionCollective``) over MPI. This is
// the only Swift that imports CMPI; a program that links only `Minibatch` never needs MPI.

import CMPI
import Foundation
import Minibatch

/// MPI for the whole process: initialised once, finalised once (MPI allows neither twice).
///
/// ```swift
/// let world = try MPIEnvironment.initialize()   // every rank, once
/// var accumulator = try GradientAccumulator<Double>(parameterCount: n)
/// try accumulator.add(localGradients)           // this rank's examples
/// try accumulator.allreduce(over: world)        // the global raw state, on every rank
/// let mean = try accumulator.gradient(normalizedBy: .weightTotal)
/// ```
///
/// Run the program with `mpirun -np N program` (add `--hostfile hosts` for several machines).
/// ``initialize()`` registers `MPI_Finalize` to run at exit, so a program need not call
/// ``finalize()`` itself.
public enum MPIEnvironment {
  /// Serialises every MPI call of the process: MPI is initialised with `MPI_THREAD_SERIALIZED`,
  /// which lets any thread call it, one at a time.
  static let lock = NSLock()

  /// `body` holding ``lock``.
  static func locked<T>(_ body: () throws(MinibatchError) -> T) throws(MinibatchError) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  /// Whether `MPI_Init` has run in this process (finalised or not).
  public static var isInitialized: Bool {
    var flag: Int32 = 0
    MPI_Initialized(&flag)
    return flag != 0
  }

  /// Whether `MPI_Finalize` has run in this process.
  public static var isFinalized: Bool {
    var flag: Int32 = 0
    MPI_Finalized(&flag)
    return flag != 0
  }

  /// Initialises MPI on first call (`MPI_Init_thread` with `MPI_THREAD_SERIALIZED`, errors
  /// returned rather than aborting) and returns the communicator of all ranks
  /// (`MPI_COMM_WORLD`). Later calls return the same communicator. Every rank must call it.
  ///
  /// - Throws: ``MinibatchError/communicationFailure(operation:reason:)`` when MPI was already
  ///   finalised, cannot be initialised, or does not support calls from several threads.
  public static func initialize() throws(MinibatchError) -> MPICommunicator {
    try locked { () throws(MinibatchError) in
      if isFinalized {
        throw .communicationFailure(
          operation: "MPIEnvironment.initialize()",
          reason: "MPI was finalised in this process; it cannot be initialised again")
      }
      if !isInitialized {
        var provided: Int32 = 0
        try check(
          withUnsafeMutablePointer(to: &provided) {
            MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), $0)
          }, "MPI_Init_thread")
        atexit {
          if MPIEnvironment.isInitialized && !MPIEnvironment.isFinalized { MPI_Finalize() }
        }
      }
      // Also when MPI was initialised elsewhere (by the program itself, or a failed call here):
      // the thread level the package needs, and errors returned rather than aborting.
      var provided: Int32 = 0
      try check(
        withUnsafeMutablePointer(to: &provided) { MPI_Query_thread($0) }, "MPI_Query_thread")
      guard provided >= Int32(MPI_THREAD_SERIALIZED) else {
        throw .communicationFailure(
          operation: "MPIEnvironment.initialize()",
          reason: "this MPI provides thread level \(provided), not MPI_THREAD_SERIALIZED")
      }
      try check(
        MPI_Comm_set_errhandler(minibatch_mpi_comm_world(), minibatch_mpi_errors_return()),
        "MPI_Comm_set_errhandler")
    }
    return try MPICommunicator.world()
  }

  /// Finalises MPI (`MPI_Finalize`, collective: every rank must call it); nothing if it was
  /// never initialised or is already finalised. Communicators throw afterwards.
  ///
  /// - Throws: ``MinibatchError/communicationFailure(operation:reason:)`` if `MPI_Finalize`
  ///   fails.
  public static func finalize() throws(MinibatchError) {
    try locked { () throws(MinibatchError) in
      guard isInitialized, !isFinalized else { return }
      try check(MPI_Finalize(), "MPI_Finalize")
    }
  }

  /// Throws ``MinibatchError/communicationFailure(operation:reason:)`` with MPI's own message
  /// for an error code.
  static func check(_ code: Int32, _ operation: String) throws(MinibatchError) {
    guard code != MPI_SUCCESS else { return }
    var message = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &message, &length)
    let text = String(
      decoding: message.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw .communicationFailure(operation: operation, reason: "error \(code): \(text)")
  }
}

/// All ranks of the MPI job (`MPI_COMM_WORLD`), as a ``ReductionCollective``.
///
/// Every collective call (``sum(_:)``, ``gather(_:)``, ``barrier()``, the package's
/// `allreduce(over:)` and distributed training) must be made by every rank, in the same order;
/// calls from several tasks of one rank are serialised, but their order across ranks is then up
/// to the caller.
///
/// Sums are `MPI_Allreduce` with `MPI_SUM`. Open MPI's algorithms combine the same partial sums
/// in the same grouping on every rank (addition is commutative), so every rank holds the same bits
/// — observed and tested with 2 and 3 ranks, not promised by the MPI standard — and the same
/// algorithm (chosen from the process count and message size) gives the same bits on every run.
/// A different process count splits the batch differently, so results then agree to rounding.
public struct MPICommunicator: ReductionCollective {
  public let rank: Int
  public let size: Int

  /// The communicator of all ranks.
  ///
  /// - Throws: ``MinibatchError/communicationFailure(operation:reason:)`` when MPI is not
  ///   initialised (call ``MPIEnvironment/initialize()`` first) or already finalised.
  public static func world() throws(MinibatchError) -> MPICommunicator {
    try MPIEnvironment.locked { () throws(MinibatchError) in
      try checkUsable("MPICommunicator.world()")
      var rank: Int32 = 0
      var size: Int32 = 0
      try MPIEnvironment.check(MPI_Comm_rank(minibatch_mpi_comm_world(), &rank), "MPI_Comm_rank")
      try MPIEnvironment.check(MPI_Comm_size(minibatch_mpi_comm_world(), &size), "MPI_Comm_size")
      return MPICommunicator(rank: Int(rank), size: Int(size))
    }
  }

  /// Throws unless MPI is initialised and not finalised.
  static func checkUsable(_ operation: String) throws(MinibatchError) {
    guard MPIEnvironment.isInitialized else {
      throw .communicationFailure(
        operation: operation,
        reason: "MPI is not initialised: call MPIEnvironment.initialize() first")
    }
    guard !MPIEnvironment.isFinalized else {
      throw .communicationFailure(operation: operation, reason: "MPI was finalised")
    }
  }

  /// Runs `body` holding the process's MPI lock, once MPI is known to be usable.
  func serialized<T>(
    _ operation: String, _ body: () throws(MinibatchError) -> T
  ) throws(MinibatchError) -> T {
    try MPIEnvironment.locked { () throws(MinibatchError) -> T in
      try Self.checkUsable(operation)
      return try body()
    }
  }

  /// Waits until every rank has called it (`MPI_Barrier`).
  public func barrier() throws(MinibatchError) {
    try serialized("MPI_Barrier") { () throws(MinibatchError) in
      try MPIEnvironment.check(MPI_Barrier(minibatch_mpi_comm_world()), "MPI_Barrier")
    }
  }

  /// The element-wise sum over all ranks, in place (`MPI_Allreduce`, `MPI_DOUBLE`, `MPI_SUM`):
  /// the transport of the package's reductions, which agree on the count beforehand, so this
  /// does not check it (see ``allreduceSum(_:agreeingOnCount:)``).
  ///
  /// - Throws: ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` beyond `Int32.max`
  ///   entries; ``MinibatchError/communicationFailure(operation:reason:)``.
  public func sum(_ values: inout [Double]) throws(MinibatchError) {
    try allreduceSum(&values, agreeingOnCount: false)
  }

  /// The element-wise sum over all ranks of Float or Double values, in place, in their own MPI
  /// datatype (`MPI_FLOAT`, `MPI_DOUBLE`). The package's accumulators sum their Double state
  /// with ``sum(_:)``; this is for a caller's own arrays.
  ///
  /// - Parameters:
  ///   - values: this rank's values; replaced by the sums, the same bits on every rank.
  ///   - agreeingOnCount: first check, with one small collective, that every rank passes the
  ///     same count and scalar type (default); `false` skips it for callers that know they do
  ///     (MPI's result for different counts or types is undefined).
  /// - Throws, on every rank alike: ``MinibatchError/inconsistentAcrossRanks(quantity:values:)``
  ///   when the counts or the scalar types differ (nothing summed); ``MinibatchError/dimensionOutOfRange(value:limit:of:)``
  ///   beyond `Int32.max` entries; ``MinibatchError/communicationFailure(operation:reason:)``.
  public func allreduceSum<Scalar: BLASScalar>(
    _ values: inout [Scalar], agreeingOnCount: Bool = true
  ) throws(MinibatchError) {
    let isFloat = Scalar.self == Float.self
    try serialized("MPI_Allreduce") { () throws(MinibatchError) in
      if agreeingOnCount {
        // Count and scalar type in one word each; both collectives under one hold of the lock.
        let described = try gatherWords([Int64(values.count), isFloat ? 4 : 8])
        let counts = described.map { $0[0] }
        if counts.contains(where: { $0 != counts[0] }) {
          throw .inconsistentAcrossRanks(
            quantity: "values to sum (count)", values: counts.map { "\($0)" })
        }
        let sizes = described.map { $0[1] }
        if sizes.contains(where: { $0 != sizes[0] }) {
          throw .inconsistentAcrossRanks(
            quantity: "values to sum (scalar type)",
            values: sizes.map { $0 == 4 ? "Float" : "Double" })
        }
      }
      // After the agreement, so that every rank refuses a count beyond Int32.max alike.
      let count = try Self.mpiCount(values.count, of: "values to sum")
      let type = isFloat ? minibatch_mpi_float() : minibatch_mpi_double()
      let code = values.withUnsafeMutableBytes { buffer in
        MPI_Allreduce(
          minibatch_mpi_in_place(), buffer.baseAddress, count, type, minibatch_mpi_sum(),
          minibatch_mpi_comm_world())
      }
      try MPIEnvironment.check(code, "MPI_Allreduce")
    }
  }

  /// Every rank's `words` (the same number on every rank), indexed by rank (`MPI_Allgather`);
  /// the caller holds the lock.
  func gatherWords(_ words: [Int64]) throws(MinibatchError) -> [[Int64]] {
    let width = words.count
    var all = [Int64](repeating: 0, count: width * size)
    let code = words.withUnsafeBufferPointer { send in
      all.withUnsafeMutableBufferPointer { receive in
        MPI_Allgather(
          send.baseAddress, Int32(width), minibatch_mpi_int64(), receive.baseAddress,
          Int32(width), minibatch_mpi_int64(), minibatch_mpi_comm_world())
      }
    }
    try MPIEnvironment.check(code, "MPI_Allgather")
    return (0..<size).map { Array(all[($0 * width)..<(($0 + 1) * width)]) }
  }

  /// Every rank's bytes, indexed by rank (`MPI_Allgather` of the lengths, then
  /// `MPI_Allgatherv`).
  ///
  /// - Throws: ``MinibatchError/dimensionOutOfRange(value:limit:of:)`` when the records
  ///   together exceed `Int32.max` bytes; ``MinibatchError/communicationFailure(operation:reason:)``.
  public func gather(_ record: [UInt8]) throws(MinibatchError) -> [[UInt8]] {
    try serialized("MPI_Allgatherv") { () throws(MinibatchError) -> [[UInt8]] in
      let lengths = try gatherWords([Int64(record.count)]).map { Int($0[0]) }
      let total = try Self.mpiCount(lengths.reduce(0, +), of: "gathered bytes")
      let counts = lengths.map { Int32($0) }  // each ≤ total ≤ Int32.max
      var offsets = [Int32](repeating: 0, count: size)
      for r in 1..<max(size, 1) { offsets[r] = offsets[r - 1] + counts[r - 1] }
      var gathered = [UInt8](repeating: 0, count: max(Int(total), 1))
      let code = record.withUnsafeBytes { send in
        gathered.withUnsafeMutableBytes { receive in
          counts.withUnsafeBufferPointer { counts in
            offsets.withUnsafeBufferPointer { offsets in
              MPI_Allgatherv(
                send.baseAddress, counts[rank], minibatch_mpi_byte(), receive.baseAddress,
                counts.baseAddress, offsets.baseAddress, minibatch_mpi_byte(),
                minibatch_mpi_comm_world())
            }
          }
        }
      }
      try MPIEnvironment.check(code, "MPI_Allgatherv")
      return (0..<size).map { r in
        Array(gathered[Int(offsets[r])..<Int(offsets[r]) + Int(counts[r])])
      }
    }
  }

  /// `count` as MPI's `Int32` count.
  static func mpiCount(_ count: Int, of what: String) throws(MinibatchError) -> Int32 {
    guard count <= Int(Int32.max) else {
      throw .dimensionOutOfRange(value: count, limit: Int(Int32.max), of: what)
    }
    return Int32(count)
  }
}
