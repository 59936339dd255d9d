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

  init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0, isSilent: Bool = false) {
    self.isTerminal = isTerminal
    self.isSilent = isSilent
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
      print("\r\u{1B}[K" + Self.text(progress), terminator: "")
      fflush(nil)
      lineIsOpen = true
    } else {
      print(Self.text(progress))
    }
  }

  /// Prints a whole line (an epoch's), first clearing a progress line left open.
  func line(_ text: String) {
    if isSilent { return }
    lock.lock()
    defer { lock.unlock() }
    if lineIsOpen {
      print("\r\u{1B}[K", terminator: "")
      lineIsOpen = false
    }
    lastPrint = isTerminal ? -Double.infinity : 0
    print(text)
    fflush(nil)
  }
}
