import Foundation
import Minibatch

/// Progress within epochs: on a terminal one line rewritten in place (at most 10 times a
/// second) with the examples done, examples/s and the epoch's ETA; otherwise a plain line at most
/// every 5 seconds, so short epochs add nothing to a log.
final class ProgressReporter: @unchecked Sendable {
  let isTerminal: Bool
  let interval: Double
  /// Prints nothing (the ranks other than 0 of an MPI run).
  let isSilent: Bool
  private let lock = NSLock()
  private var lastPrint: Double
  private var lineIsOpen = false

  /// Whether the progress line may be rewritten in place (`\r`, `ESC[K`): standard output is a
  /// terminal (`isatty`) that understands the escape (`TERM` set, not `dumb`), and not one that
  /// `mpirun` gives a rank (a pseudo-terminal whose text it forwards into logs and pipes).
  static func rewritesInPlace(
    isTTY: Bool = isatty(STDOUT_FILENO) != 0,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> Bool {
    let term = environment["TERM"] ?? ""
    let underMPI = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains {
      environment[$0] != nil
    }
    return isTTY && !term.isEmpty && term != "dumb" && !underMPI
  }

  /// Where the text goes (standard output).
  private let write: (String) -> Void

  init(
    isTerminal: Bool = rewritesInPlace(), isSilent: Bool = false,
    write: @escaping (String) -> Void = { text in
      print(text, terminator: "")
      fflush(nil)
    }
  ) {
    self.isTerminal = isTerminal
    self.isSilent = isSilent
    self.write = write
    interval = isTerminal ? 0.1 : 5
    lastPrint = isTerminal ? -Double.infinity : 0
  }

  /// The text for one update.
  static func text(_ progress: StepProgress) -> String {
    let fraction = Double(progress.step) / Double(max(1, progress.stepsPerEpoch))
    let rate = progress.seconds > 0 ? Double(progress.examples) / progress.seconds : 0
    let remaining =
      progress.step > 0
      ? progress.seconds / Double(progress.step)
        * Double(progress.stepsPerEpoch - progress.step) : 0
    return String(
      format: "epoch %3d  step %d/%d (%.0f%%)  %.0f examples/s  ETA %d:%02d",
      progress.epoch + 1, progress.step, progress.stepsPerEpoch, 100 * fraction, rate,
      Int(remaining) / 60, Int(remaining) % 60)
  }

  func update(_ progress: StepProgress) {
    if isSilent { return }
    lock.lock()
    defer { lock.unlock() }
    guard progress.step < progress.stepsPerEpoch, progress.seconds - lastPrint >= interval
    else { return }
    lastPrint = progress.seconds
    if isTerminal {
      write("\r\u{1B}[K" + Self.text(progress))
      lineIsOpen = true
    } else {
      write(Self.text(progress) + "\n")
    }
  }

  /// Prints a whole line (an epoch's), first clearing a progress line left open.
  func line(_ text: String) {
    if isSilent { return }
    lock.lock()
    defer { lock.unlock() }
    if lineIsOpen {
      write("\r\u{1B}[K")
      lineIsOpen = false
    }
    lastPrint = isTerminal ? -Double.infinity : 0
    write(text + "\n")
  }
}
