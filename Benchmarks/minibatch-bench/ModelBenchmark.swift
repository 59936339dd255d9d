import Foundation
import Minibatch

/// One model row: a training step's gradient computed three ways.
///
/// - materialised: the model writes the k per-example rows into `J` (reused between steps), then
///   `J.mean()` (one GEMV with 1/k);
/// - fused: the same `J`, written and reduced block by block while each block is in cache
///   (`writeReturningMean`);
/// - plain: `meanLossAndGradient`, the usual backward pass with no `J`.
///
/// The roofline of the materialised path is the memory traffic it cannot avoid (X read, J written,
/// J read) over the probe's read bandwidth at the same thread count. Because the bandwidth of a
/// shared machine drifts by tens of percent within minutes, the ratios that decide the target are
/// **paired**: rounds of (one probe read, one materialised step, one fused step), each step
/// divided by the roofline at the bandwidth its own round's probe read; min and median over the
/// rounds.
struct ModelCase {
  var model: String
  var scalar: String
  var threads: Int
  var k: Int
  var n: Int
  var inputBytes: Double
  var gradientBytes: Double
  /// The probe's best and median read bandwidth, measured just before the model table.
  var bandwidthGBps: Double
  var bandwidthMedianGBps: Double
  var materialised: Timing
  var writeRows: Timing
  var fused: Timing
  var plain: Timing
  /// Per-round ratios step time / roofline at that round's probe bandwidth.
  var pairedMaterialised: Timing
  var pairedFused: Timing

  var rooflineBytes: Double { inputBytes + 2 * gradientBytes }
  /// At the probe's best bandwidth.
  var rooflineSeconds: Double { rooflineBytes / (bandwidthGBps * 1e9) }
  /// At the probe's median bandwidth.
  var rooflineMedianSeconds: Double { rooflineBytes / (bandwidthMedianGBps * 1e9) }
  /// min over min, and median over median.
  var ratioToRoofline: (min: Double, median: Double) {
    (materialised.minimum / rooflineSeconds, materialised.median / rooflineMedianSeconds)
  }
  var fusedRatioToRoofline: (min: Double, median: Double) {
    (fused.minimum / rooflineSeconds, fused.median / rooflineMedianSeconds)
  }

  var json: [String] {
    [
      jsonObject([
        ("kernel", "\"\(model)-materialised\""), ("scalar", "\"\(scalar)\""),
        ("threads", "\(threads)"), ("k", "\(k)"), ("n", "\(n)"),
        ("seconds_min", "\(materialised.minimum)"), ("seconds_median", "\(materialised.median)"),
        ("roofline_seconds", "\(rooflineSeconds)"),
        ("roofline_seconds_at_median_bandwidth", "\(rooflineMedianSeconds)"),
        ("ratio_to_roofline", "\(ratioToRoofline.min)"),
        ("ratio_to_roofline_median", "\(ratioToRoofline.median)"),
        ("paired_ratio_to_roofline_min", "\(pairedMaterialised.minimum)"),
        ("paired_ratio_to_roofline_median", "\(pairedMaterialised.median)"),
        ("write_rows_seconds_min", "\(writeRows.minimum)"),
        ("write_rows_seconds_median", "\(writeRows.median)"),
        ("bandwidth_gbps", "\(bandwidthGBps)"), ("bandwidth_median_gbps", "\(bandwidthMedianGBps)"),
      ]),
      jsonObject([
        ("kernel", "\"\(model)-materialised-fused\""), ("scalar", "\"\(scalar)\""),
        ("threads", "\(threads)"), ("k", "\(k)"), ("n", "\(n)"),
        ("seconds_min", "\(fused.minimum)"), ("seconds_median", "\(fused.median)"),
        ("roofline_seconds", "\(rooflineSeconds)"),
        ("roofline_seconds_at_median_bandwidth", "\(rooflineMedianSeconds)"),
        ("ratio_to_roofline", "\(fusedRatioToRoofline.min)"),
        ("ratio_to_roofline_median", "\(fusedRatioToRoofline.median)"),
        ("paired_ratio_to_roofline_min", "\(pairedFused.minimum)"),
        ("paired_ratio_to_roofline_median", "\(pairedFused.median)"),
      ]),
      jsonObject([
        ("kernel", "\"\(model)-plain\""), ("scalar", "\"\(scalar)\""), ("threads", "\(threads)"),
        ("k", "\(k)"), ("n", "\(n)"), ("seconds_min", "\(plain.minimum)"),
        ("seconds_median", "\(plain.median)"),
      ]),
    ]
  }
}

func jsonObject(_ fields: [(String, String)]) -> String {
  "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

/// Times both paths for `model` on a random batch of `k` examples.
func benchmarkModel<Model: PerExampleGradientModel>(
  _ name: String, _ model: Model, k: Int, loss: OutputLoss, threads: Int,
  bandwidth: (best: Double, median: Double), probe: BandwidthProbe, budget: Double
) throws -> ModelCase {
  typealias Scalar = Model.Scalar
  var rng = SeededGenerator(seed: 1)
  let d = model.inputCount
  let inputs = try Matrix<Scalar>(
    rows: k, columns: d,
    elements: (0..<(k * d)).map { _ in Scalar(Double(rng.next() >> 11) * 0x1p-53) })
  let targets: Targets<Scalar> =
    loss == .binaryCrossEntropy
    ? .labels((0..<k).map { $0 % 2 }) : .labels((0..<k).map { $0 % model.outputCount })
  let batch = try Batch(inputs: inputs, targets: targets)
  let parameters = model.initialParameters(seed: 2)
  let parallelism = Parallelism.threads(threads)
  var gradients = try PerExampleGradients<Scalar>(k: k, n: model.parameterCount)
  let materialised = try measureThrowing(budget: budget) {
    _ = try model.writePerExampleGradients(
      parameters: parameters, batch: batch, into: &gradients, parallelism: parallelism)
    sink.consume(gradients.mean(parallelism: parallelism)[0])
  }
  let writeRows = try measureThrowing(budget: budget) {
    let losses = try model.writePerExampleGradients(
      parameters: parameters, batch: batch, into: &gradients, parallelism: parallelism)
    sink.consume(losses[0])
  }
  let fused = try measureThrowing(budget: budget) {
    let (_, writer) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
    sink.consume(try gradients.writeReturningMean(writer, parallelism: parallelism)[0])
  }
  let plain = try measureThrowing(budget: budget) {
    sink.consume(try model.meanLossAndGradient(parameters: parameters, batch: batch).gradient[0])
  }
  let size = Double(MemoryLayout<Scalar>.stride)
  let rooflineBytes = Double(k * d) * size + 2 * Double(k * model.parameterCount) * size
  var pairedMaterialised: [Double] = []
  var pairedFused: [Double] = []
  let start = monotonicSeconds()
  while pairedMaterialised.count < 9
    || (pairedMaterialised.count < 100 && monotonicSeconds() - start < budget)
  {
    let probeSeconds = probe.read(threads: threads)
    let roofline = rooflineBytes / (Double(probe.bytes) / probeSeconds)
    var t0 = monotonicSeconds()
    _ = try model.writePerExampleGradients(
      parameters: parameters, batch: batch, into: &gradients, parallelism: parallelism)
    sink.consume(gradients.mean(parallelism: parallelism)[0])
    pairedMaterialised.append((monotonicSeconds() - t0) / roofline)
    t0 = monotonicSeconds()
    let (_, writer) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
    sink.consume(try gradients.writeReturningMean(writer, parallelism: parallelism)[0])
    pairedFused.append((monotonicSeconds() - t0) / roofline)
  }
  return ModelCase(
    model: name, scalar: "\(Scalar.self)", threads: threads, k: k, n: model.parameterCount,
    inputBytes: Double(k * d) * size, gradientBytes: Double(k * model.parameterCount) * size,
    bandwidthGBps: bandwidth.best, bandwidthMedianGBps: bandwidth.median,
    materialised: materialised, writeRows: writeRows, fused: fused, plain: plain,
    pairedMaterialised: Timing(seconds: pairedMaterialised),
    pairedFused: Timing(seconds: pairedFused))
}

func measureThrowing(budget: Double, _ work: () throws -> Void) throws -> Timing {
  var failure: Error?
  let timing = measure(budget: budget, minimumRuns: 7) {
    do { try work() } catch { failure = error }
  }
  if let failure { throw failure }
  return timing
}

/// Training throughput on the bundled digits: one epoch of `MinibatchTrainer` (batch 32, SGD
/// with momentum), examples per second.
func benchmarkDigitsTraining<Scalar: BLASScalar>(
  _: Scalar.Type, threads: Int, budget: Double
) throws -> [(model: String, timing: Timing, examples: Int, n: Int)] {
  let (train, _) = try Digits.loadStandardized(Scalar.self)
  let softmax = try SoftmaxRegression<Scalar>(inputCount: 64, classCount: 10)
  let mlp = try MultilayerPerceptron<Scalar>(layerSizes: [64, 64, 10])
  func epochs<Model: PerExampleGradientModel<Scalar>>(_ model: Model) throws -> Timing {
    var trainer = MinibatchTrainer(
      model: model, optimizer: try MomentumSGD<Scalar>(momentum: 0.9, regularization: .l2(1e-4)),
      sampler: try BatchSampler(exampleCount: train.count, batchSize: 32, seed: 0),
      schedule: .constant(0.01), parallelism: .threads(threads))
    var parameters = model.initialParameters(seed: 0)
    var epoch = 0
    let timing = try measureThrowing(budget: budget) {
      try trainer.train(parameters: &parameters, data: train, epochs: 1, firstEpoch: epoch)
      epoch += 1
    }
    sink.consume(parameters[0])
    return timing
  }
  return [
    ("softmax-digits-train", try epochs(softmax), train.count, softmax.parameterCount),
    ("mlp-digits-train", try epochs(mlp), train.count, mlp.parameterCount),
  ]
}
