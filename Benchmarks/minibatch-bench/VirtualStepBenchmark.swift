import Foundation
import Minibatch

// Virtual steps (gradient accumulation): one DP-SGD step on a logical Poisson batch, processed in
// one chunk or in physical chunks, each in a child process so that its peak resident memory is
// its own.

/// The child's side: `--child virtual-step <factored|stored> <logical> <physical, 0: one chunk>
/// <steps>` trains an MLP 784-256-10 (Float) with DP-SGD for `steps` Poisson batches of
/// expected size `logical` from `4·logical` random examples, and prints the min and median
/// seconds per step, the peak resident bytes of the training (data included) and OpenBLAS's
/// threads.
func virtualStepChild(_ arguments: [String]) throws {
  guard arguments.count == 5, let logical = Int(arguments[2]), let physical = Int(arguments[3]),
    let steps = Int(arguments[4])
  else { throw ChildFailure(arguments: arguments, output: "virtual-step: bad arguments") }
  let model = try MultilayerPerceptron<Float>(layerSizes: [784, 256, 10])
  let examples = 4 * logical
  let batch = try randomModelBatch(model, k: examples, loss: .softmaxCrossEntropy, vocabulary: nil)
  var trainer = MinibatchTrainer(
    model: model, optimizer: try StochasticGradientDescent<Float>(),
    sampler: try BatchSampler(exampleCount: examples, poissonRate: 0.25, seed: 1),
    schedule: .constant(0.01),
    representation: arguments[1] == "stored" ? .stored : .factored,
    normalization: .expectedBatchSize,
    privacy: try DifferentialPrivacy(
      clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5, noiseSeed: 2))
  trainer.maximumPhysicalBatchSize = physical > 0 ? physical : nil
  var seconds: [Double] = []
  var parameters = model.initialParameters(seed: 0)
  resetPeakResidentMemory()
  var epoch = 0
  while seconds.count < steps {
    let start = monotonicSeconds()
    // One epoch of 4 Poisson batches; the time per step is its quarter.
    try trainer.train(parameters: &parameters, data: batch, epochs: 1, firstEpoch: epoch)
    seconds.append((monotonicSeconds() - start) / 4)
    epoch += 1
  }
  sink.consume(parameters[0])
  print(
    seconds.min() ?? 0, seconds.sorted()[seconds.count / 2], peakResidentBytes(),
    OpenBLASInfo.threadCount)
}

/// The virtual-step rows: DP-SGD on an MLP 784-256-10, logical batches of 4,096 (1,024 with
/// `--quick`), one chunk against chunks of 256, factored and stored `J`.
func runVirtualStepBenchmarks() throws {
  let logical = quick ? 1_024 : 4_096
  let physical = 256
  let parameterCount = 784 * 256 + 256 + 256 * 10 + 10
  report("")
  report(
    "virtual steps: DP-SGD, MLP 784-256-10 Float, Poisson batches of expected size \(logical) "
      + "(q = 1/4 of \(4 * logical) examples), one chunk vs chunks of \(physical); each in a child "
      + "process: median ms per logical step, peak resident MiB (data included)")
  for representation in ["factored", "stored"] {
    var cells: [String] = []
    for chunk in [0, physical] {
      let values = try runChild(
        ["virtual-step", representation, "\(logical)", "\(chunk)", quick ? "1" : "3"])
      let (minimum, seconds, peak, threads) = (values[0], values[1], values[2], Int(values[3]))
      let label = chunk == 0 ? "one chunk" : "chunks of \(chunk)"
      cells.append(String(format: "%@ %.1f ms, %.0f MiB", label, seconds * 1e3, peak / 1_048_576))
      if json {
        let physicalSize: Int = chunk == 0 ? logical : chunk
        let fields: [(String, String)] = [
          ("kernel", "\"virtual-step-\(representation)\""), ("scalar", "\"Float\""),
          ("threads", "\(threads)"), ("k", "\(logical)"), ("physical", "\(physicalSize)"),
          ("n", "\(parameterCount)"), ("seconds_min", "\(minimum)"),
          ("seconds_median", "\(seconds)"), ("peak_rss_bytes", "\(Int(peak))"),
        ]
        print(jsonObject(fields))
      }
    }
    report("  \(representation): " + cells.joined(separator: "; "))
  }
}
