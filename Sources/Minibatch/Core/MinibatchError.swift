/// Everything that public Minibatch entry points refuse, with what was expected and what came.
///
/// Every throwing entry point validates all of its inputs before it writes anything, so a call
/// that throws has left its arguments (weights, optimiser state, matrices) exactly as they were.
public enum MinibatchError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A count or length differs from the one the other arguments imply, e.g.
  /// `shapeMismatch(expected: 10, got: 9, of: "parameters (length n)")`.
  case shapeMismatch(expected: Int, got: Int, of: String)
  /// A batch with no examples (k = 0), or an accumulator with nothing in it. Averages over zero
  /// examples are undefined.
  case emptyBatch
  /// A gradient with no entries (n = 0).
  case noParameters
  /// A dimension is negative, beyond what BLAS's 32-bit indices address, or `k·n` overflows.
  case dimensionOutOfRange(value: Int, limit: Int, of: String)
  /// An entry of `of` at `index` is NaN or infinite where a finite value is required.
  case nonFiniteValue(index: Int, of: String)
  /// The entry at `row`, `column` (both 0-based) of `of` (a batch's inputs or targets, a matrix
  /// to standardise) is NaN or infinite where finite data is required.
  case nonFiniteEntry(row: Int, column: Int, of: String)
  /// Allocating `bytes` for `of` would exceed this machine's physical memory (`limit` bytes).
  case allocationTooLarge(bytes: Int, limit: Int, of: String)
  /// A bundled resource could not be found (a binary copied away from the resources directory
  /// SwiftPM builds beside it).
  case resourceMissing(name: String, searched: [String])
  /// Index `index` of `of` is outside `0..<count` (a row, an example).
  case indexOutOfRange(index: Int, count: Int, of: String)
  /// An entry of `of` at `index` is negative where only values `≥ 0` make sense (example weights).
  case negativeValue(index: Int, value: Double, of: String)
  /// Example weights that sum to zero (or to a value too small to divide by): the weighted mean is
  /// undefined.
  case zeroTotalWeight(total: Double)
  /// A learning rate that is NaN, infinite or negative.
  case invalidLearningRate(Double)
  /// A configuration value outside its range, e.g.
  /// `invalidArgument(name: "momentum", value: "1.5", expected: "0 ≤ momentum < 1")`.
  case invalidArgument(name: String, value: String, expected: String)
  /// A batch's targets are of the wrong kind for the model (class labels vs real values).
  case wrongTargetKind(expected: String, got: String)
  /// Class label `label` of example `index` is outside `0..<classCount`.
  case labelOutOfRange(index: Int, label: Int, classCount: Int)
  /// Class label `value` of example `index` (0-based), read from a file, is not an integer (0.5,
  /// NaN, infinity, or beyond `Int`): `value` is the number as read.
  case nonIntegerLabel(index: Int, value: Double, classCount: Int)
  /// Training stopped: the mean loss of batch `batch` (0-based) in epoch `epoch` (0-based) was NaN
  /// or infinite. The parameters are those after the last good step. The description counts
  /// epochs and batches from 1, as progress lines do.
  case nonFiniteLoss(epoch: Int, batch: Int, loss: Double)
  /// Training stopped: the losses of batch `batch` (0-based) in epoch `epoch` (0-based) were
  /// finite, but `quantity` (`"gradient"`, `"parameters after the step"`, an optimiser's state)
  /// overflowed to NaN or infinity. The parameters and the optimiser are those after the last good
  /// step. The description counts epochs and batches from 1, as progress lines do.
  case nonFiniteStep(epoch: Int, batch: Int, quantity: String)
  /// A LAPACK routine reported failure (`info > 0`, e.g. an SVD that did not converge).
  case lapackFailure(routine: String, info: Int)
  /// A data file could not be read (missing, unreadable, not UTF-8).
  case fileUnreadable(path: String, reason: String)
  /// A file could not be written (its folder is missing or read-only, the disk is full); nothing
  /// at `path` was replaced.
  case fileUnwritable(path: String, reason: String)
  /// A data file has no data rows.
  case emptyFile(path: String)
  /// Line `line` (1-based) of a data file has `got` cells where `expected` were expected.
  case raggedRow(line: Int, expected: Int, got: Int)
  /// The cell at line `line`, column `column` (both 1-based) is not a finite number.
  case nonNumericCell(line: Int, column: Int, text: String)
  /// The label at line `line`, column `column` (both 1-based) is not an integer in
  /// `0..<classCount`.
  case labelCellOutOfRange(line: Int, column: Int, text: String, classCount: Int)
  /// The ranks of a distributed reduction disagree on `quantity` (its `values`, indexed by
  /// rank): thrown by every rank alike, before anything is summed.
  case inconsistentAcrossRanks(quantity: String, values: [String])
  /// Rank `rank` of a distributed reduction failed with `reason` (its own error's description):
  /// thrown by every rank alike, so none is left waiting for it.
  case failedOnRank(rank: Int, reason: String)
  /// The transport of a distributed reduction failed: MPI not initialised or already finalised,
  /// or an MPI call returned an error (`operation` names it).
  case communicationFailure(operation: String, reason: String)

  public var description: String {
    switch self {
    case .shapeMismatch(let expected, let got, let what):
      return "shape mismatch in \(what): expected \(expected), got \(got)"
    case .emptyBatch:
      return "empty batch: at least one example (k ≥ 1) is required"
    case .noParameters:
      return "no parameters: gradients need at least one entry (n ≥ 1)"
    case .dimensionOutOfRange(let value, let limit, let what):
      return "\(what) is \(value), outside the supported range 1...\(limit)"
    case .nonFiniteValue(let index, let what):
      return "\(what)[\(index)] is not finite (NaN or infinity)"
    case .nonFiniteEntry(let row, let column, let what):
      return "\(what) has a NaN or infinite value at row \(row), column \(column) (0-based)"
    case .allocationTooLarge(let bytes, let limit, let what):
      return "\(what) would need \(bytes) bytes, more than this machine's \(limit) bytes of memory"
    case .resourceMissing(let name, let searched):
      return "bundled resource \(name) not found; looked in \(searched.joined(separator: ", ")) "
        + "(copy Minibatch_Minibatch.resources next to the executable)"
    case .indexOutOfRange(let index, let count, let what):
      return "\(what) \(index) is out of range; expected 0..<\(count)"
    case .negativeValue(let index, let value, let what):
      return "\(what)[\(index)] is \(value); it must be ≥ 0"
    case .zeroTotalWeight(let total):
      return "example weights sum to \(total); a weighted mean needs a positive total"
    case .invalidLearningRate(let value):
      return "learning rate is \(value); it must be finite and ≥ 0"
    case .invalidArgument(let name, let value, let expected):
      return "\(name) is \(value); expected \(expected)"
    case .wrongTargetKind(let expected, let got):
      return "wrong kind of targets: the model needs \(expected), the batch has \(got)"
    case .labelOutOfRange(let index, let label, let classCount):
      return "label of example \(index) is \(label); expected 0..<\(classCount)"
    case .nonIntegerLabel(let index, let value, let classCount):
      return "label of example \(index) is \(value); expected an integer in 0..<\(classCount)"
    case .nonFiniteLoss(let epoch, let batch, let loss):
      return "training stopped: non-finite loss \(loss) in epoch \(epoch + 1), batch \(batch + 1); "
        + "the parameters are those of the last good step"
    case .nonFiniteStep(let epoch, let batch, let quantity):
      return
        "training stopped: the step of batch \(batch + 1) in epoch \(epoch + 1) made the \(quantity) "
        + "NaN or infinite; the parameters are those of the last good step"
    case .lapackFailure(let routine, let info):
      return "LAPACK \(routine) failed with info = \(info)"
    case .fileUnreadable(let path, let reason):
      return "cannot read \(path): \(reason)"
    case .fileUnwritable(let path, let reason):
      return "cannot write \(path): \(reason)"
    case .emptyFile(let path):
      return "\(path) has no data rows"
    case .raggedRow(let line, let expected, let got):
      return "line \(line): expected \(expected) cells, got \(got)"
    case .nonNumericCell(let line, let column, let text):
      return "line \(line), column \(column): \"\(text)\" is not a finite number"
    case .labelCellOutOfRange(let line, let column, let text, let classCount):
      return
        "line \(line), column \(column): label \"\(text)\" is not an integer in 0..<\(classCount)"
    case .inconsistentAcrossRanks(let quantity, let values):
      let listed = values.enumerated().map { "rank \($0.offset): \($0.element)" }
      return "the ranks disagree on \(quantity): \(listed.joined(separator: ", "))"
    case .failedOnRank(let rank, let reason):
      return "rank \(rank) failed: \(reason)"
    case .communicationFailure(let operation, let reason):
      return "\(operation) failed: \(reason)"
    }
  }
}
