import Foundation
import Minibatch

// minibatch-bench: the performance of Minibatch's reductions, as ratios measured in one run.
//
//   swift run -c release minibatch-bench            aligned table, full grid
//   swift run -c release minibatch-bench --quick    small grid in seconds (CI smoke test)
//   swift run -c release minibatch-bench --json     one JSON object per case on stdout
//   swift run -c release minibatch-bench --models   only the model and training rows

let arguments = Set(CommandLine.arguments.dropFirst())
let knownArguments: Set<String> = ["--quick", "--json", "--models", "--help", "-h"]
if !arguments.isSubset(of: knownArguments) || arguments.contains("--help")
  || arguments.contains("-h")
{
  let unknown = arguments.subtracting(knownArguments).sorted()
  if !unknown.isEmpty {
    FileHandle.standardError.write(
      "unknown option: \(unknown.joined(separator: " "))\n".data(using: .utf8)!)
  }
  print("usage: minibatch-bench [--quick] [--json] [--models]")
  exit(unknown.isEmpty ? 0 : 64)
}
let quick = arguments.contains("--quick")
let json = arguments.contains("--json")
let modelsOnly = arguments.contains("--models")

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

if !modelsOnly {
  try runReductionBenchmarks()
}
try runModelBenchmarks()
report("checksum \(sink.checksum)")

/// The foundation table: `mean()` and the fused step against a naive loop, one OpenBLAS call and
/// the bandwidth probe.
@MainActor func runReductionBenchmarks() throws {
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
  report(
    "naive = row-by-row Swift loop (1 thread); blas = one cblas_?gemv call (OpenBLAS threads);")
  report("fused = applyMeanStep (one GEMV, beta = 1) vs mean() + axpy.")
  let header = [
    "scalar", "k", "n", "MB", "thr", "path", "mean ms", "med ms", "GB/s", "%bw", "naive",
    "vs naive",
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
            c.scalar, "\(c.k)", "\(c.n)", String(format: "%.1f", c.matrixBytes / 1e6),
            "\(c.threads)",
            c.path, String(format: "%.3f", c.mean.minimum * 1e3),
            String(format: "%.3f", c.mean.median * 1e3), String(format: "%.1f", c.gbps(c.mean)),
            String(format: "%.0f", c.percentOfBandwidth), String(format: "%.1f", c.gbps(c.naive)),
            String(format: "%+.0f%%", 100 * c.slowdownVersusNaive),
            String(format: "%.1f", c.gbps(c.blas)),
            String(format: "%.3f", c.fusedStep.minimum * 1e3),
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
}

/// The model table: per-example rows + GEMV mean (materialised) vs the plain backward pass, with
/// the materialised path's memory roofline; then training throughput on the bundled digits.
@MainActor func runModelBenchmarks() throws {
  let threads = cores
  let grid: [(name: String, k: Int, sizes: [Int], loss: OutputLoss)] =
    quick
    ? [
      ("logistic", 256, [10_000, 1], .binaryCrossEntropy),
      ("mlp", 64, [784, 256, 10], .softmaxCrossEntropy),
    ]
    : [
      ("logistic", 256, [10_000, 1], .binaryCrossEntropy),
      ("logistic", 256, [100_000, 1], .binaryCrossEntropy),
      ("mlp", 64, [784, 256, 10], .softmaxCrossEntropy),
      ("mlp", 256, [784, 256, 10], .softmaxCrossEntropy),
    ]
  // Probed again here, so the roofline reflects the machine as the model rows run.
  let probe = BandwidthProbe(bytes: max(4 * llc, quick ? 128 << 20 : 512 << 20))
  let probeTiming = probe.measureRead(threads: threads, budget: budget * 2)
  defer { probe.release() }
  let probeBandwidth = (
    best: Double(probe.bytes) / probeTiming.minimum / 1e9,
    median: Double(probe.bytes) / probeTiming.median / 1e9
  )
  report("")
  report(
    "models, one gradient per step, \(threads) threads: materialised = rows into J + J.mean(); "
      + "rows = writing J alone;")
  report("fused = J written and reduced block by block while in cache (writeReturningMean);")
  report(
    "plain = gradient of the mean loss without J; roofline = (X read + J written + J read) / "
      + "read bandwidth,")
  report(
    String(
      format: "re-probed: %.1f GB/s best, %.1f GB/s median; ×roof = min/roofline at best (median/"
        + "roofline at median); paired = median (min) over rounds of probe read + step, each step "
        + "over the roofline at its round's bandwidth.", probeBandwidth.best, probeBandwidth.median)
  )
  let header = [
    "model", "scalar", "k", "n", "J MB", "mat ms", "med ms", "rows ms", "roof ms", "×roof",
    "(med)", "paired", "(min)", "fused ms", "med ms", "×roof", "(med)", "paired", "(min)",
    "plain ms", "med ms",
  ]
  let widths = [9, 6, 4, 7, 7, 8, 8, 8, 8, 6, 6, 6, 6, 9, 8, 6, 6, 6, 6, 9, 8]
  func row(_ cells: [String]) -> String {
    zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }
      .joined(separator: " ")
  }
  report(row(header))
  var worstRatio = 0.0
  var worstFusedRatio = 0.0
  for entry in grid {
    for scalar in ["Float", "Double"] {
      let layerSizes = entry.name == "mlp" ? entry.sizes : [entry.sizes[0], 1]
      func run<Scalar: BLASScalar>(_: Scalar.Type) throws -> ModelCase {
        let model = try MultilayerPerceptron<Scalar>(
          layerSizes: layerSizes, hiddenActivation: .relu, outputLoss: entry.loss)
        return try benchmarkModel(
          entry.name, model, k: entry.k, loss: entry.loss, threads: threads,
          bandwidth: probeBandwidth, probe: probe, budget: budget)
      }
      let c = scalar == "Float" ? try run(Float.self) : try run(Double.self)
      worstRatio = max(worstRatio, c.pairedMaterialised.median)
      worstFusedRatio = max(worstFusedRatio, c.pairedFused.median)
      if json { for line in c.json { print(line) } }
      report(
        row([
          c.model, c.scalar, "\(c.k)", "\(c.n)", String(format: "%.1f", c.gradientBytes / 1e6),
          String(format: "%.2f", c.materialised.minimum * 1e3),
          String(format: "%.2f", c.materialised.median * 1e3),
          String(format: "%.2f", c.writeRows.minimum * 1e3),
          String(format: "%.2f", c.rooflineSeconds * 1e3),
          String(format: "%.2f", c.ratioToRoofline.min),
          String(format: "(%.2f)", c.ratioToRoofline.median),
          String(format: "%.2f", c.pairedMaterialised.median),
          String(format: "(%.2f)", c.pairedMaterialised.minimum),
          String(format: "%.2f", c.fused.minimum * 1e3),
          String(format: "%.2f", c.fused.median * 1e3),
          String(format: "%.2f", c.fusedRatioToRoofline.min),
          String(format: "(%.2f)", c.fusedRatioToRoofline.median),
          String(format: "%.2f", c.pairedFused.median),
          String(format: "(%.2f)", c.pairedFused.minimum),
          String(format: "%.3f", c.plain.minimum * 1e3),
          String(format: "%.3f", c.plain.median * 1e3),
        ]))
    }
  }
  report(
    String(
      format:
        "  materialised step, write then GEMV: worst paired median %.2f× its roofline (target ≤ 1.3×): %@",
      worstRatio, worstRatio <= 1.3 ? "met" : "MISSED"))
  report(
    String(
      format:
        "  materialised step, fused: worst paired median %.2f× its roofline (target ≤ 1.3×): %@",
      worstFusedRatio, worstFusedRatio <= 1.3 ? "met" : "MISSED"))

  report("")
  report("training on the bundled digits (1,437 examples, batch 32, momentum), one epoch:")
  for scalar in ["Float", "Double"] {
    let results =
      scalar == "Float"
      ? try benchmarkDigitsTraining(Float.self, threads: threads, budget: budget)
      : try benchmarkDigitsTraining(Double.self, threads: threads, budget: budget)
    for r in results {
      let perSecond = Double(r.examples) / r.timing.minimum
      if json {
        print(
          jsonObject([
            ("kernel", "\"\(r.model)\""), ("scalar", "\"\(scalar)\""), ("threads", "\(threads)"),
            ("k", "32"), ("n", "\(r.n)"), ("seconds_min", "\(r.timing.minimum)"),
            ("seconds_median", "\(r.timing.median)"), ("examples_per_second", "\(perSecond)"),
          ]))
      }
      report(
        String(
          format: "  %@ %@ (n = %d): %.0f examples/s (epoch min %.2f ms, median %.2f ms)",
          r.model, scalar, r.n, perSecond, r.timing.minimum * 1e3, r.timing.median * 1e3))
    }
  }
}
