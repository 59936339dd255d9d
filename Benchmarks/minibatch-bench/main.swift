import Foundation
@_spi(Benchmark) import Minibatch

// minibatch-bench: the performance of Minibatch's reductions, as ratios measured in one run.
//
//   swift run -c release minibatch-bench            aligned table, full grid
//   swift run -c release minibatch-bench --quick    small grid in seconds (CI smoke test)
//   swift run -c release minibatch-bench --json     one JSON object per case on stdout
//   swift run -c release minibatch-bench --models   only the model and training rows
//   swift run -c release minibatch-bench --layers   only the layer networks' rows (cnn, embedding)
//   swift run -c release minibatch-bench --statistics  only the digits statistics (no timings)
//   swift run -c release minibatch-bench --privacy  only the accountants' rows (PLD, RDP)
//   swift run -c release minibatch-bench --virtual  only the virtual-step rows (time, peak memory)
//   swift run -c release minibatch-bench --noise    only the Gaussian noise rows (draws per second)
//   swift run -c release minibatch-bench --activations  only the activation kernels against Swift
//   mpirun -np 2 .build/release/minibatch-bench --mpi [--quick] [--json]
//                                                   the allreduce and its share of a step (`make bench`)

if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--child" {
  try childMain(Array(CommandLine.arguments.dropFirst(2)))
  exit(0)
}

let arguments = Set(CommandLine.arguments.dropFirst())
let knownArguments: Set<String> = [
  "--quick", "--json", "--models", "--layers", "--statistics", "--mpi", "--privacy", "--virtual",
  "--noise", "--activations", "--help",
  "-h",
]
if !arguments.isSubset(of: knownArguments) || arguments.contains("--help")
  || arguments.contains("-h")
{
  let unknown = arguments.subtracting(knownArguments).sorted()
  if !unknown.isEmpty {
    FileHandle.standardError.write(
      "unknown option: \(unknown.joined(separator: " "))\n".data(using: .utf8)!)
  }
  print(
    "usage: minibatch-bench [--quick] [--json] [--models] [--layers] [--statistics] [--mpi] "
      + "[--privacy] [--virtual] [--noise] [--activations]")
  exit(unknown.isEmpty ? 0 : 64)
}
let quick = arguments.contains("--quick")
let json = arguments.contains("--json")
let layersOnly = arguments.contains("--layers")
let modelsOnly = arguments.contains("--models") || layersOnly
if arguments.contains("--statistics") {
  try runStatisticsReport()
  exit(0)
}

func report(_ line: String) {
  if json {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
  } else {
    print(line)
  }
}

let cores = ProcessInfo.processInfo.activeProcessorCount
let threadCounts = cores > 1 ? [1, cores] : [1]
let llc = CacheSize.lastLevelBytes
let budget = quick ? 0.15 : 1.0

if arguments.contains("--mpi") {
  try runMPIBenchmarks()
  exit(0)
}

report("Minibatch benchmark — \(quick ? "quick grid" : "full grid")")
report(
  "OpenBLAS core: \(OpenBLASInfo.coreName), OpenBLAS threads: \(OpenBLASInfo.threadCount), "
    + "cores: \(cores), last-level cache: \(llc >> 20) MiB")
report("OpenBLAS config: \(OpenBLASInfo.configuration)")
report("Minibatch's C kernels: \(Kernels.instructionSet)")

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

if arguments.contains("--privacy") {
  try runAccountantBenchmarks()
  exit(0)
}
if arguments.contains("--virtual") {
  try runVirtualStepBenchmarks()
  exit(0)
}
if arguments.contains("--noise") {
  try runNoiseBenchmarks(threads: cores)
  exit(0)
}
if arguments.contains("--activations") {
  try runActivationBenchmarks()
  exit(0)
}
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
    "naive = row-by-row Swift loop (1 thread); blas = one cblas_?gemv call (OpenBLAS threads); "
      + "blas=thr = the same on as many threads as mean() (1 thread: a child process with "
      + "OPENBLAS_NUM_THREADS=1);")
  report(
    "×best = min(naive, blas=thr) time / mean() time (target ≥ 0.95); fused = applyMeanStep "
      + "(one GEMV, beta = 1) vs mean() + axpy.")
  let header = [
    "scalar", "k", "n", "MB", "thr", "path", "mean ms", "med ms", "GB/s", "%bw", "naive",
    "vs naive", "blas", "blas=thr", "×best", "fused ms", "mean+axpy",
  ]
  let widths = [6, 7, 8, 7, 3, 16, 9, 9, 6, 5, 6, 8, 6, 8, 6, 9, 9]
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
            String(format: "%.1f", c.gbps(c.blasSameThreads)),
            String(format: "%.2f", c.speedVersusBest),
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
  for threads in threadCounts {
    let subset = cases.filter { $0.threads == threads }
    guard let worst = subset.min(by: { $0.speedVersusBest < $1.speedVersusBest }) else {
      continue
    }
    report(
      String(
        format:
          "  %d thread%@, all sizes: worst mean() speed vs the better of naive and blas=thr "
          + "%.2f× (%@ %d×%d; target ≥ 0.95×): %@", threads, threads == 1 ? "" : "s",
        worst.speedVersusBest, worst.scalar, worst.k, worst.n,
        worst.speedVersusBest >= 0.95 ? "met" : "MISSED"))
  }
}

/// The pipeline table: each representation's operations against the plain backward pass, in the
/// same rounds; streamed against stored memory and time; a whole training step factored against
/// stored; then training throughput on the bundled digits.
@MainActor func runModelBenchmarks() throws {
  let threads = cores
  // The layer networks of the model grid: Opacus' MNIST example network on 1×28×28 inputs, and
  // an embedding bag over sequences of 64 tokens from a vocabulary of 10,000.
  let layerCases: [String: (shape: [Int], layers: String, vocabulary: Int?)] = [
    "cnn": (
      [1, 28, 28],
      "conv2d(16,8,stride=2,padding=3) tanh maxpool2d(2,stride=1) conv2d(32,4,stride=2) tanh "
        + "maxpool2d(2,stride=1) flatten dense(32) tanh dense(10)", nil
    ),
    "embedding": ([64], "embedding(10000,64) meanpool dense(64) relu dense(2)", 10_000),
  ]
  let grid: [(name: String, k: Int, sizes: [Int], loss: OutputLoss)] =
    quick
    ? [
      ("logistic", 256, [10_000, 1], .binaryCrossEntropy),
      ("mlp", 64, [784, 256, 10], .softmaxCrossEntropy),
      ("cnn", 64, [], .softmaxCrossEntropy),
      ("embedding", 256, [], .softmaxCrossEntropy),
    ]
    : [
      ("logistic", 256, [10_000, 1], .binaryCrossEntropy),
      ("logistic", 256, [100_000, 1], .binaryCrossEntropy),
      ("mlp", 64, [784, 256, 10], .softmaxCrossEntropy),
      ("mlp", 256, [784, 256, 10], .softmaxCrossEntropy),
      ("cnn", 64, [], .softmaxCrossEntropy),
      ("cnn", 256, [], .softmaxCrossEntropy),
      ("embedding", 256, [], .softmaxCrossEntropy),
    ]
  report("")
  report(
    "pipeline, \(threads) threads; plain = meanLossAndGradient (no per-example anything); "
      + "factored-mean = forward + backward + Jᵀ(1/k) on the factored J;")
  report(
    "factored-norms / -moments = ‖g_i‖² / (J∘J)ᵀv of the factored J alone (the extra cost); "
      + "stored-fused-mean = forward + backward + J written and reduced into a stored matrix.")
  report(
    "factored-dp-step / -dp-per-layer = forward + backward + norms + clipped sum + noise / B "
      + "(a whole DP-SGD gradient, flat or per-tensor clipping); factored-variance / -noise-scale "
      + "/ -gram-spectrum = forward + backward + per-weight moments / the batch's noise scale / "
      + "the centred Gram matrix's top 10 eigenvalues.")
  report(
    "×plain = paired median (min) over rounds of the kernel's time / the plain step's in the "
      + "same round. Targets: mean ≤ 1.15, norms ≤ 0.25, moments ≤ 2.0, dp-step ≤ 1.3, "
      + "variance ≤ 2.0, noise-scale ≤ 1.3, gram-spectrum ≤ 3.0.")
  report(
    "plain-blas-only = the plain step's GEMMs and GEMVs alone (dense networks); gram-syrk-only = "
      + "the Gram's ?syrk calls alone; gram-spectrum-only = the spectrum from the same factors; "
      + "plain-over-blas and gram-spectrum-over-syrk = their paired ratios (targets ≤ 1.15, ≤ 1.5)."
  )
  let header = [
    "model", "scalar", "k", "n", "plain ms", "kernel", "ms", "med ms", "×plain", "(min)",
  ]
  let widths = [9, 6, 4, 7, 9, 24, 8, 8, 7, 7]
  func row(_ cells: [String]) -> String {
    zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }
      .joined(separator: " ")
  }
  report(row(header))
  let targets = [
    "factored-mean": 1.15, "factored-norms": 0.25, "factored-moments": 2.0,
    "factored-dp-step": 1.3, "factored-dp-per-layer": 1.3, "factored-variance": 2.0,
    "factored-noise-scale": 1.3, "factored-gram-spectrum": 3.0,
  ]
  var worst: [String: (ratio: Double, label: String)] = [:]
  var worstRatio: [String: (ratio: Double, label: String)] = [:]
  for entry in grid where !layersOnly || layerCases[entry.name] != nil {
    for scalar in ["Float", "Double"] {
      let layerSizes = entry.name == "mlp" ? entry.sizes : [entry.sizes.first ?? 1, 1]
      func run<Scalar: BLASScalar>(_: Scalar.Type) throws -> ModelCase {
        switch entry.name {
        case "cnn", "embedding":
          let (shape, layers, vocabulary) = layerCases[entry.name]!
          let model = try Sequential<Scalar>(
            inputShape: TensorShape(shape), layers: layers, outputLoss: entry.loss)
          return try benchmarkModel(
            entry.name, model, k: entry.k, loss: entry.loss, threads: threads, budget: budget,
            vocabulary: vocabulary)
        default:
          let model = try MultilayerPerceptron<Scalar>(
            layerSizes: layerSizes, hiddenActivation: .relu, outputLoss: entry.loss)
          return try benchmarkModel(
            entry.name, model, k: entry.k, loss: entry.loss, threads: threads, budget: budget,
            denseLayerSizes: layerSizes)
        }
      }
      let c = scalar == "Float" ? try run(Float.self) : try run(Double.self)
      if json { for line in c.json { print(line) } }
      for (kernel, seconds, paired) in c.timings {
        report(
          row([
            c.model, c.scalar, "\(c.k)", "\(c.n)",
            String(format: "%.3f", c.baseline.median * 1e3), kernel,
            String(format: "%.3f", seconds.minimum * 1e3),
            String(format: "%.3f", seconds.median * 1e3),
            String(format: "%.2f", paired?.median ?? .nan),
            String(format: "(%.2f)", paired?.minimum ?? .nan),
          ]))
        if targets[kernel] != nil, let paired, paired.median > worst[kernel]?.ratio ?? -1 {
          worst[kernel] = (paired.median, "\(c.model) \(c.scalar) k=\(c.k)")
        }
      }
      for (name, _, ratio) in c.kernelRatios {
        report(
          row([
            c.model, c.scalar, "\(c.k)", "\(c.n)", "", name, "", "",
            String(format: "%.2f", ratio.median), String(format: "(%.2f)", ratio.minimum),
          ]))
        if ratio.median > worstRatio[name]?.ratio ?? -1 {
          worstRatio[name] = (ratio.median, "\(c.model) \(c.scalar) k=\(c.k)")
        }
      }
    }
  }
  for kernel in [
    "factored-mean", "factored-norms", "factored-moments", "factored-dp-step",
    "factored-dp-per-layer", "factored-variance", "factored-noise-scale", "factored-gram-spectrum",
  ] {
    guard let (ratio, label) = worst[kernel], let target = targets[kernel] else { continue }
    report(
      String(
        format: "  %@: worst paired median %.2f× plain (%@; target ≤ %.2f×): %@", kernel, ratio,
        label, target, ratio <= target ? "met" : "MISSED"))
  }
  try runNoiseBenchmarks(threads: threads)
  for (name, target, what) in [
    ("plain-over-blas", 1.15, "the plain step / its BLAS calls alone"),
    ("gram-spectrum-over-syrk", 1.5, "the Gram spectrum from the factors / its ?syrk calls alone"),
  ] {
    guard let (ratio, label) = worstRatio[name] else { continue }
    report(
      String(
        format: "  %@: worst paired median %.2f× (%@; %@; target ≤ %.2f×): %@", name, ratio,
        label, what, target, ratio <= target ? "met" : "MISSED"))
  }

  if layersOnly {
    // Where the plain step's time goes, layer by layer (Float, the larger batch).
    for (name, k) in [("cnn", 64), ("cnn", 256), ("embedding", 256)] {
      let (shape, layers, vocabulary) = layerCases[name]!
      let model = try Sequential<Float>(inputShape: TensorShape(shape), layers: layers)
      let batch = try randomModelBatch(
        model, k: k, loss: .softmaxCrossEntropy, vocabulary: vocabulary)
      report("")
      report(
        "\(name) Float k=\(k), per layer (median ms): forward, backward with its factor, "
          + "its Jᵀ(1/k)")
      for row in layerBreakdown(model, batch: batch, budget: budget * 4) {
        report(
          String(
            format: "  %-36@ %8.3f %8.3f %8.3f", row.layer, row.forward, row.backward, row.reduce))
      }
    }
    return
  }
  try runDataBenchmarks()
  try runAccountantBenchmarks()
  try runStreamedBenchmarks(threads: threads)
  try runTrainingStepBenchmarks(threads: threads)

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
  try runVirtualStepBenchmarks()
  if !quick { try runStatisticsReport() }
}

/// CSV loading throughput (target ≥ 100 MB/s).
@MainActor func runDataBenchmarks() throws {
  let rows = quick ? 10_000 : 100_000
  let (bytes, timing) = try benchmarkCSVLoad(rows: rows, budget: budget)
  let rate = Double(bytes) / timing.minimum / 1e6
  if json {
    print(
      jsonObject([
        ("kernel", "\"csv-load\""), ("scalar", "\"Float\""), ("threads", "1"), ("k", "\(rows)"),
        ("n", "65"), ("seconds_min", "\(timing.minimum)"),
        ("seconds_median", "\(timing.median)"), ("mb_per_second", "\(rate)"),
      ]))
  }
  report("")
  report(
    String(
      format:
        "CSV load, %d rows × 64 decimal features + label (%.1f MB), Float: %.1f ms (median "
        + "%.1f), %.0f MB/s (target ≥ 100 MB/s): %@", rows, Double(bytes) / 1e6,
      timing.minimum * 1e3, timing.median * 1e3, rate, rate >= 100 ? "met" : "MISSED"))
}

/// Streamed against stored `J` for a rank-one writer (`J[i, j] = δ_i·u_j`, a user's model whose
/// rows need O(k + n) state), Double, n = 10⁵: time in the same rounds, and each case's peak
/// resident memory in a child process of its own.
@MainActor func runStreamedBenchmarks(threads: Int) throws {
  let n = 100_000
  let sizes = quick ? [256, 1_024] : [1_024, 4_096]
  report("")
  report(
    "streamed vs stored J, Double, n = \(n), rank-one writer; stored = J.write(writer) + "
      + "J.mean(), streamed = StreamedPerExampleGradients(writer).mean(); peak RSS of each case "
      + "alone, in a child process.")
  var peaks: [String: [Int: Double]] = [:]
  var worstTime = 0.0
  for k in sizes {
    let writer = try rankOneWriter(k: k, n: n)
    var stored = try PerExampleGradients<Double>(k: k, n: n)
    let streamed = StreamedPerExampleGradients(writer)
    let parallelism = Parallelism.threads(threads)
    let (storedTiming, results) = try pairedRounds(
      budget: budget,
      baseline: {
        try stored.write(writer, parallelism: parallelism)
        sink.consume(stored.mean(parallelism: parallelism)[0])
      },
      kernels: [("streamed", { sink.consume(streamed.mean(parallelism: parallelism)[0]) })])
    let streamedTiming = results[0]
    for mode in ["stored", "streamed"] {
      peaks[mode, default: [:]][k] = try runChild(["reduce-memory", mode, "\(k)", "\(n)"])[0]
    }
    worstTime = max(worstTime, streamedTiming.pairedRatio.median)
    for (mode, timing, ratio) in [
      ("stored", storedTiming, Timing(seconds: [1])),
      ("streamed", streamedTiming.seconds, streamedTiming.pairedRatio),
    ] {
      if json {
        print(
          jsonObject([
            ("kernel", "\"rank-one-\(mode)-mean\""), ("scalar", "\"Double\""),
            ("threads", "\(threads)"), ("k", "\(k)"), ("n", "\(n)"),
            ("seconds_min", "\(timing.minimum)"), ("seconds_median", "\(timing.median)"),
            ("peak_rss_bytes", "\(Int(peaks[mode]![k]!))"),
            ("paired_ratio_to_stored_median", "\(ratio.median)"),
          ]))
      }
      report(
        String(
          format: "  %@ k = %5d: %8.2f ms (median %8.2f), ×stored %.2f, peak RSS %7.1f MB", mode,
          k, timing.minimum * 1e3, timing.median * 1e3, ratio.median,
          peaks[mode]![k]! / 1e6))
    }
  }
  let growth = peaks["streamed"]![sizes[1]]! / peaks["streamed"]![sizes[0]]!
  report(
    String(
      format: "  streamed peak memory grows %.2f× while k grows 4× (target ≤ 1.2×): %@", growth,
      growth <= 1.2 ? "met" : "MISSED"))
  report(
    String(
      format: "  streamed time, worst paired median %.2f× stored (target ≤ 1.05×): %@",
      worstTime, worstTime <= 1.05 ? "met" : "MISSED"))
}

/// A whole SGD training step of the MLP 784-256-10 at k = 256, factored against stored `J`.
@MainActor func runTrainingStepBenchmarks(threads: Int) throws {
  report("")
  report(
    "MLP 784-256-10 training step at k = 256 (sample, forward, backward, reduce, SGD update), "
      + "factored vs stored J, in the same rounds (one epoch of \(quick ? 2 : 8) steps each):")
  for scalar in ["Float", "Double"] {
    func run<Scalar: BLASScalar>(_: Scalar.Type) throws -> ModelCase {
      let model = try MultilayerPerceptron<Scalar>(layerSizes: [784, 256, 10])
      return try benchmarkTrainingStep(
        "mlp", model, k: 256, steps: quick ? 2 : 8, loss: .softmaxCrossEntropy, threads: threads,
        budget: budget)
    }
    let c = scalar == "Float" ? try run(Float.self) : try run(Double.self)
    if json { for line in c.json { print(line) } }
    let factored = c.timings[0].seconds
    let stored = c.timings[1]
    let speedup = stored.pairedRatio?.median ?? .nan
    report(
      String(
        format:
          "  %@: factored %.2f ms (median %.2f), stored %.2f ms (median %.2f); factored is %.1f× "
          + "faster (paired median; target ≥ 4×): %@", scalar, factored.minimum * 1e3,
        factored.median * 1e3, stored.seconds.minimum * 1e3, stored.seconds.median * 1e3, speedup,
        speedup >= 4 ? "met" : "MISSED"))
  }
}
