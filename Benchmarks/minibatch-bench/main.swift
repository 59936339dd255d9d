import Foundation
import Minibatch

// minibatch-bench: the performance of Minibatch's reductions, as ratios measured in one run.
//
//   swift run -c release minibatch-bench            aligned table, full grid
//   swift run -c release minibatch-bench --quick    small grid in seconds (CI smoke test)
//   swift run -c release minibatch-bench --json     one JSON object per case on stdout

let arguments = Set(CommandLine.arguments.dropFirst())
let knownArguments: Set<String> = ["--quick", "--json", "--help", "-h"]
if !arguments.isSubset(of: knownArguments) || arguments.contains("--help")
  || arguments.contains("-h")
{
  let unknown = arguments.subtracting(knownArguments).sorted()
  if !unknown.isEmpty {
    FileHandle.standardError.write(
      "unknown option: \(unknown.joined(separator: " "))\n".data(using: .utf8)!)
  }
  print("usage: minibatch-bench [--quick] [--json]")
  exit(unknown.isEmpty ? 0 : 64)
}
let quick = arguments.contains("--quick")
let json = arguments.contains("--json")

func report(_ line: String) {
  if json {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
  } else {
    print(line)
  }
}

let cores = ProcessInfo.processInfo.activeProcessorCount
let threadCounts = cores > 1 ? [1, cores] : [1]
let llc = lastLevelCacheBytes()
let budget = quick ? 0.15 : 1.0

report("Minibatch benchmark — \(quick ? "quick grid" : "full grid")")
report(
  "OpenBLAS core: \(OpenBLASInfo.coreName), OpenBLAS threads: \(OpenBLASInfo.threadCount), "
    + "cores: \(cores), last-level cache: \(llc >> 20) MiB")
report("OpenBLAS config: \(OpenBLASInfo.configuration)")

// The bandwidth probe: ≥ 4× the last-level cache, at each thread count the reductions use.
let probe = BandwidthProbe(bytes: max(4 * llc, quick ? 128 << 20 : 512 << 20))
var bandwidth: [Int: Double] = [:]
for threads in threadCounts {
  let timing = probe.measureRead(threads: threads, budget: budget * 2)
  bandwidth[threads] = Double(probe.bytes) / timing.minimum / 1e9
  report(
    String(
      format: "read bandwidth, %d thread%@: %.1f GB/s (median %.1f) over %d MiB", threads,
      threads == 1 ? "" : "s", bandwidth[threads]!, Double(probe.bytes) / timing.median / 1e9,
      probe.bytes >> 20))
}
probe.release()

let grid: [(k: Int, n: Int)] =
  quick
  ? [(32, 1_000), (256, 10_000), (1_024, 10_000)]
  : [
    (32, 1_000), (256, 10_000), (1_024, 10_000), (640, 100_000), (2_048, 100_000),
    (65_536, 1_000), (100_000, 640),
  ]

report("")
report(
  "mean(): min time over repeated runs; GB/s = bytes of J / min time; %bw = of the probe at the "
    + "same thread count;")
report("naive = row-by-row Swift loop (1 thread); blas = one cblas_?gemv call (OpenBLAS threads);")
report("fused = applyMeanStep (one GEMV, beta = 1) vs mean() + axpy.")
let header = [
  "scalar", "k", "n", "MB", "thr", "path", "mean ms", "med ms", "GB/s", "%bw", "naive", "vs naive",
  "blas", "fused ms", "mean+axpy",
]
let widths = [6, 7, 8, 7, 3, 16, 9, 9, 6, 5, 6, 8, 6, 9, 9]
func row(_ cells: [String]) -> String {
  zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }
    .joined(separator: " ")
}
report(row(header))

var cases: [ReductionCase] = []
for (k, n) in grid {
  for scalar in ["Double", "Float"] {
    let results =
      scalar == "Double"
      ? try benchmarkReduction(
        Double.self, k: k, n: n, threadCounts: threadCounts, bandwidth: bandwidth, budget: budget)
      : try benchmarkReduction(
        Float.self, k: k, n: n, threadCounts: threadCounts, bandwidth: bandwidth, budget: budget)
    for c in results {
      cases.append(c)
      if json { print(c.json) }
      report(
        row([
          c.scalar, "\(c.k)", "\(c.n)", String(format: "%.1f", c.matrixBytes / 1e6), "\(c.threads)",
          c.path, String(format: "%.3f", c.mean.minimum * 1e3),
          String(format: "%.3f", c.mean.median * 1e3), String(format: "%.1f", c.gbps(c.mean)),
          String(format: "%.0f", c.percentOfBandwidth), String(format: "%.1f", c.gbps(c.naive)),
          String(format: "%+.0f%%", 100 * c.slowdownVersusNaive),
          String(format: "%.1f", c.gbps(c.blas)), String(format: "%.3f", c.fusedStep.minimum * 1e3),
          String(format: "%.3f", c.meanThenAxpy.minimum * 1e3),
        ]))
    }
  }
}

// The targets, for matrices beyond the last-level cache (checked here, never in a unit test).
let beyond = cases.filter { $0.matrixBytes > Double(4 * llc) }
if !beyond.isEmpty {
  report("")
  report("targets for matrices > 4× LLC (\(beyond.count) cases):")
  for threads in threadCounts {
    let subset = beyond.filter { $0.threads == threads }
    let worst = subset.map(\.percentOfBandwidth).min() ?? .nan
    let target = threads == 1 ? 85.0 : 90.0
    report(
      String(
        format: "  %d thread%@: worst %.0f%% of read bandwidth (target ≥ %.0f%%): %@", threads,
        threads == 1 ? "" : "s", worst, target, worst >= target ? "met" : "MISSED"))
  }
}
let worstVersusNaive = cases.map(\.slowdownVersusNaive).max() ?? .nan
report(
  String(
    format: "  all sizes: worst mean() vs naive loop %+.0f%% (target ≤ +5%%): %@",
    100 * worstVersusNaive, worstVersusNaive <= 0.05 ? "met" : "MISSED"))
report("checksum \(sink.checksum)")
