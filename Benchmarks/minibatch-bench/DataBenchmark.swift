import Foundation
import Minibatch

/// CSV loading throughput: a file of `rows` examples × 64 decimal features and a label, written
/// once to a temporary directory, loaded by `CSVLoader` (Float) repeatedly; MB/s of file.
func benchmarkCSVLoad(rows: Int, budget: Double) throws -> (bytes: Int, timing: Timing) {
  var rng = SeededGenerator(seed: 5)
  var text = (0..<64).map { "f\($0)" }.joined(separator: ",") + ",label\n"
  text.reserveCapacity(rows * 64 * 8)
  for _ in 0..<rows {
    for _ in 0..<64 {
      let value = Double(rng.next() >> 11) * 0x1p-53 * 32 - 16
      text += String(format: "%.4f,", value)
    }
    text += "\(rng.next() % 10)\n"
  }
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "minibatch-bench-\(ProcessInfo.processInfo.processIdentifier).csv")
  try text.write(to: url, atomically: true, encoding: .utf8)
  defer { try? FileManager.default.removeItem(at: url) }
  let loader = CSVLoader(classCount: 10)
  let timing = try measureThrowing(budget: budget) {
    let batch: Batch<Float> = try loader.load(path: url.path)
    sink.consume(batch.inputs.elements[0])
  }
  return (text.utf8.count, timing)
}
