import Foundation
import Minibatch

// Measurements that must not share a process with the rest of the benchmark: one OpenBLAS GEMV on
// exactly one thread (OpenBLAS reads OPENBLAS_NUM_THREADS once, at load time), and the peak
// resident memory of one reduction.

/// Runs this executable again as `minibatch-bench --child <arguments>` with `environment` added,
/// and returns the numbers it prints on its last line.
func runChild(_ arguments: [String], environment: [String: String] = [:]) throws -> [Double] {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
  process.arguments = ["--child"] + arguments
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let output = Pipe()
  process.standardOutput = output
  try process.run()
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let text = String(decoding: data, as: UTF8.self)
  guard process.terminationStatus == 0,
    let line = text.split(separator: "\n").last
  else {
    throw ChildFailure(arguments: arguments, output: text)
  }
  return line.split(separator: " ").compactMap { Double($0) }
}

struct ChildFailure: Error, CustomStringConvertible {
  var arguments: [String]
  var output: String
  var description: String { "child \(arguments) failed: \(output)" }
}

/// The child's side: `--child blas-gemv <Float|Double> <k> <n> <budget>` prints the min and median
/// seconds of one `cblas_?gemv` and OpenBLAS's thread count; `--child reduce-memory
/// <stored|streamed> <k> <n>` prints the peak resident bytes of one mean of a rank-one `J`.
func childMain(_ arguments: [String]) throws {
  switch arguments.first {
  case "blas-gemv":
    let (k, n, budget) = (Int(arguments[2])!, Int(arguments[3])!, Double(arguments[4])!)
    let timing =
      arguments[1] == "Float"
      ? try blasGemvTiming(Float.self, k: k, n: n, budget: budget)
      : try blasGemvTiming(Double.self, k: k, n: n, budget: budget)
    print(timing.minimum, timing.median, OpenBLASInfo.threadCount)
  case "virtual-step":
    try virtualStepChild(arguments)
  case "reduce-memory":
    let (k, n) = (Int(arguments[2])!, Int(arguments[3])!)
    let writer = try rankOneWriter(k: k, n: n)
    resetPeakResidentMemory()
    if arguments[1] == "stored" {
      var stored = try PerExampleGradients<Double>(k: k, n: n)
      try stored.write(writer)
      sink.consume(stored.mean()[0])
    } else {
      sink.consume(StreamedPerExampleGradients(writer).mean()[0])
    }
    print(peakResidentBytes())
  default:
    throw ChildFailure(arguments: arguments, output: "unknown child mode")
  }
}

/// A stand-in for a user's own model whose rows need little state: `J[i, j] = δ_i·u_j`, memory
/// O(k + n).
func rankOneWriter(k: Int, n: Int) throws -> PerExampleRowWriter<Double> {
  var rng = SeededGenerator(seed: 7)
  let delta = (0..<k).map { _ in Double(rng.next() >> 11) * 0x1p-53 - 0.5 }
  let u = (0..<n).map { _ in Double(rng.next() >> 11) * 0x1p-53 - 0.5 }
  return try PerExampleRowWriter(exampleCount: k, parameterCount: n) {
    rows, columns, tile, rowStride in
    u.withUnsafeBufferPointer { u in
      for (r, i) in rows.enumerated() {
        let scale = delta[i]
        let destination = tile.baseAddress! + r * rowStride
        let source = u.baseAddress! + columns.lowerBound
        for c in 0..<columns.count { destination[c] = scale * source[c] }
      }
    }
  }
}

/// Resets the kernel's high-water mark of this process's resident memory (`VmHWM`).
func resetPeakResidentMemory() {
  try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// `VmHWM` of this process, in bytes.
func peakResidentBytes() -> Int {
  let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
  for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
    return (Int(line.filter(\.isNumber)) ?? 0) * 1024
  }
  return 0
}
