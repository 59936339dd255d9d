import Foundation
@_spi(Benchmark) import Minibatch

/// One model case of the pipeline table, every kernel timed in the same rounds as the plain
/// backward pass, so each ratio is paired (both sides saw the same machine state):
///
/// - plain: `meanLossAndGradient`, the usual backward pass with no per-example anything;
/// - factored-mean: forward, backward and `Jᵀv` with `v = 1/k` on the factored `J` (one GEMM per
///   layer): a whole mean-gradient step through the pipeline;
/// - factored-norms: `‖g_i‖²` of the factored `J` (given its factors): the extra cost of the
///   norms a clipping or statistics step needs;
/// - factored-moments: `(J∘J)ᵀv` of the factored `J` (given its factors): the extra cost of
///   per-parameter second moments;
/// - stored-fused-mean: forward, backward, then `J` written and reduced tile by tile into a
///   reused stored matrix (the materialised path at its best);
/// - factored-dp-step / factored-dp-per-layer: a whole DP-SGD gradient — forward, backward, the
///   per-example norms from the factors, the clipped sum (one GEMM per layer with the clipping
///   vector; per layer: one per tensor), Gaussian noise and the division by `B` — flat or per
///   parameter tensor;
/// - factored-variance / -noise-scale / -gram-spectrum: forward, backward and the per-weight
///   moments (mean and variance), the batch's noise-scale estimate, or the centred Gram matrix's
///   top 10 eigenvalues (`?syevd`), each from the factors.
struct ModelCase {
  var model: String
  var scalar: String
  var threads: Int
  var k: Int
  var n: Int
  var timings: [(kernel: String, seconds: Timing, pairedRatio: Timing?)]
  /// What the paired ratios divide by: `plain` (the plain backward pass) for the pipeline rows,
  /// `factored` (the factored training step) for the training-step rows.
  var baselineName = "plain"
  var baseline: Timing
  /// Ratios of two timings, paired per round: the name, the numerator's own timing (its
  /// `seconds_*` in JSON) and numerator / denominator.
  var kernelRatios: [(name: String, numerator: Timing, ratio: Timing)] = []

  var json: [String] {
    timings.map { kernel, seconds, paired in
      var fields = [
        ("kernel", "\"\(model)-\(kernel)\""), ("scalar", "\"\(scalar)\""),
        ("threads", "\(threads)"), ("k", "\(k)"), ("n", "\(n)"),
        ("seconds_min", "\(seconds.minimum)"), ("seconds_median", "\(seconds.median)"),
      ]
      if let paired {
        fields += [
          ("\(baselineName)_seconds_min", "\(baseline.minimum)"),
          ("\(baselineName)_seconds_median", "\(baseline.median)"),
          ("paired_ratio_to_\(baselineName)_min", "\(paired.minimum)"),
          ("paired_ratio_to_\(baselineName)_median", "\(paired.median)"),
        ]
      }
      return jsonObject(fields)
    }
      + kernelRatios.map { name, numerator, ratio in
        jsonObject([
          ("kernel", "\"\(model)-\(name)\""), ("scalar", "\"\(scalar)\""),
          ("threads", "\(threads)"),
          ("k", "\(k)"), ("n", "\(n)"), ("seconds_min", "\(numerator.minimum)"),
          ("seconds_median", "\(numerator.median)"), ("paired_ratio_min", "\(ratio.minimum)"),
          ("paired_ratio_median", "\(ratio.median)"),
        ])
      }
  }
}

/// The BLAS calls of the plain step of a dense network `[d, h₁, …, m]` on `k` examples, and
/// nothing else (no activation, loss or copy): forward `Z_l = A_{l−1}W_lᵀ`; backward
/// `∇W_l = Δ_lᵀA_{l−1}`, `∇b_l = Δ_lᵀ1` and, below the top layer, `Δ_{l−1} = Δ_lW_l`. What
/// `meanLossAndGradient` cannot do faster than; the ratio to it is what our own code adds.
func denseBLASCalls<Scalar: BLASScalar>(
  _: Scalar.Type, layerSizes: [Int], k: Int
) -> () -> Void {
  let layers = Array(zip(layerSizes, layerSizes.dropFirst()))
  var activations = layerSizes.map { [Scalar](repeating: 0.01, count: k * $0) }
  let weights = layers.map { [Scalar](repeating: 0.01, count: $0.0 * $0.1) }
  var gradients = weights
  var biases = layers.map { [Scalar](repeating: 0, count: $0.1) }
  let ones = [Scalar](repeating: 1, count: k)
  // Δ_l in deltas[l] (the top layer's stands in the last buffer), allocated here, not timed.
  var deltas = activations
  return {
    for (l, (input, output)) in layers.enumerated() {
      activations[l].withUnsafeBufferPointer { a in
        weights[l].withUnsafeBufferPointer { w in
          activations[l + 1].withUnsafeMutableBufferPointer { z in
            if output == 1 {  // as the models do: a GEMV for a single output
              Scalar.gemv(
                transpose: false, m: k, n: input, alpha: 1, a: a.baseAddress!, lda: input,
                x: w.baseAddress!, incx: 1, beta: 0, y: z.baseAddress!, incy: 1)
              return
            }
            Scalar.gemm(
              transposeA: false, transposeB: true, m: k, n: output, k: input, alpha: 1,
              a: a.baseAddress!, lda: input, b: w.baseAddress!, ldb: input, beta: 0,
              c: z.baseAddress!, ldc: output)
          }
        }
      }
    }

    for (l, (input, output)) in layers.enumerated().reversed() {
      deltas[l + 1].withUnsafeBufferPointer { d in
        activations[l].withUnsafeBufferPointer { a in
          gradients[l].withUnsafeMutableBufferPointer { g in
            if output == 1 {
              Scalar.gemv(
                transpose: true, m: k, n: input, alpha: 1, a: a.baseAddress!, lda: input,
                x: d.baseAddress!, incx: 1, beta: 0, y: g.baseAddress!, incy: 1)
              return
            }
            Scalar.gemm(
              transposeA: true, transposeB: false, m: output, n: input, k: k, alpha: 1,
              a: d.baseAddress!, lda: output, b: a.baseAddress!, ldb: input, beta: 0,
              c: g.baseAddress!, ldc: input)
          }
        }
        ones.withUnsafeBufferPointer { one in
          biases[l].withUnsafeMutableBufferPointer { b in
            Scalar.gemv(
              transpose: true, m: k, n: output, alpha: 1, a: d.baseAddress!, lda: output,
              x: one.baseAddress!, incx: 1, beta: 0, y: b.baseAddress!, incy: 1)
          }
        }
        if l > 0 {
          weights[l].withUnsafeBufferPointer { w in
            deltas[l].withUnsafeMutableBufferPointer { below in
              Scalar.gemm(
                transposeA: false, transposeB: false, m: k, n: input, k: output, alpha: 1,
                a: d.baseAddress!, lda: output, b: w.baseAddress!, ldb: input, beta: 0,
                c: below.baseAddress!, ldc: input)
            }
          }
        }
      }
    }
    sink.consume(gradients[0][0] + biases[0][0])
  }
}

/// The `?syrk` calls of the Gram matrix of a factored `J` of dense layers and nothing else:
/// `Δ_lΔ_lᵀ` and `A_{l−1}A_{l−1}ᵀ` for every layer (the floor under its Gram spectrum).
func gramSYRKCalls<Scalar: BLASScalar>(_ factored: FactoredPerExampleGradients<Scalar>)
  -> (() -> Void)?
{
  let dense = factored.factors.compactMap { $0 as? DenseFactor<Scalar> }
  guard dense.count == factored.factors.count, let k = dense.first?.exampleCount else {
    return nil
  }
  var gram = [Scalar](repeating: 0, count: k * k)
  return {
    for factor in dense {
      for matrix in [factor.deltas, factor.inputs] {
        matrix.elements.withUnsafeBufferPointer { a in
          gram.withUnsafeMutableBufferPointer { c in
            Scalar.syrk(
              n: k, k: matrix.columns, alpha: 1, a: a.baseAddress!, lda: matrix.columns, beta: 0,
              c: c.baseAddress!, ldc: k)
          }
        }
      }
    }
    sink.consume(gram[0])
  }
}

func jsonObject(_ fields: [(String, String)]) -> String {
  "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

/// A random batch of `k` examples for `model`, inputs in `[0, 1)`, or token ids uniform in
/// `0..<vocabulary` for a network that starts with an embedding.
func randomModelBatch<Model: PerExampleGradientModel>(
  _ model: Model, k: Int, loss: OutputLoss, seed: UInt64 = 1, vocabulary: Int? = nil
) throws -> Batch<Model.Scalar> {
  typealias Scalar = Model.Scalar
  var rng = SeededGenerator(seed: seed)
  let d = model.inputCount
  let inputs = try Matrix<Scalar>(
    rows: k, columns: d,
    elements: (0..<(k * d)).map { _ in
      if let vocabulary { return Scalar(Int(rng.next() % UInt64(vocabulary))) }
      return Scalar(Double(rng.next() >> 11) * 0x1p-53)
    })
  let targets: Targets<Scalar> =
    loss == .binaryCrossEntropy
    ? .labels((0..<k).map { $0 % 2 }) : .labels((0..<k).map { $0 % model.outputCount })
  return try Batch(inputs: inputs, targets: targets)
}

/// Times the pipeline kernels of `model` on a random batch of `k` examples in interleaved rounds
/// with the plain backward pass.
func benchmarkModel<Model: PerExampleGradientModel>(
  _ name: String, _ model: Model, k: Int, loss: OutputLoss, threads: Int, budget: Double,
  vocabulary: Int? = nil, denseLayerSizes: [Int]? = nil
) throws -> ModelCase {
  typealias Scalar = Model.Scalar
  let batch = try randomModelBatch(model, k: k, loss: loss, vocabulary: vocabulary)
  let parameters = model.initialParameters(seed: 2)
  let parallelism = Parallelism.threads(threads)
  let v = [Scalar](repeating: 1 / Scalar(k), count: k)
  var y = [Scalar](repeating: 0, count: model.parameterCount)
  var stored = try PerExampleGradients<Scalar>(k: k, n: model.parameterCount)
  let (factored, _) = try model.perExampleGradientFactors(parameters: parameters, batch: batch)!
  var noise = GaussianNoise(seed: 5)
  let flat = try DifferentialPrivacy(clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5)
  let perLayer = try DifferentialPrivacy(
    clipping: .perBlock(totalBound: 1, blockCount: model.parameterBlocks.count),
    noiseMultiplier: 1, delta: 1e-5)
  let privateStep = { (privacy: DifferentialPrivacy) throws in
    let (gradients, _) = try model.perExampleGradientFactors(parameters: parameters, batch: batch)!
    let clipped = try gradients.clippedSum(
      privacy.clipping, blocks: model.parameterBlocks, parallelism: parallelism)
    let gradient = try privacy.noisyGradient(
      clippedSum: clipped.sum, expectedBatchSize: Double(k), noise: &noise,
      parallelism: parallelism)
    sink.consume(gradient[0])
  }

  // Convolutions: every layer's weight norms by one method, ghost against materialised.
  let convolutions = (factored.factors.compactMap { $0 as? ConvolutionFactor<Scalar> })
  let normMethods: [(String, () throws -> Void)] =
    convolutions.isEmpty
    ? []
    : [ConvolutionFactor<Scalar>.NormMethod.ghost, .materialized].map { method in
      (
        "conv-norms-\(method.rawValue)",
        {
          for convolution in convolutions {
            sink.consume(convolution.squaredWeightNorms(method: method)[0])
          }
        }
      )
    }
  let kernels: [(String, () throws -> Void)] =
    normMethods + [
      (
        "factored-mean",
        {
          let (gradients, _) = try model.perExampleGradientFactors(
            parameters: parameters, batch: batch)!
          try gradients.reduce(with: v, alpha: 1, beta: 0, into: &y, parallelism: parallelism)
          sink.consume(y[0])
        }
      ),
      ("factored-norms", { sink.consume(factored.squaredRowNorms(parallelism: parallelism)[0]) }),
      (
        "factored-moments",
        {
          try factored.reduceSquares(with: v, alpha: 1, beta: 0, into: &y, parallelism: parallelism)
          sink.consume(y[0])
        }
      ),
      (
        "stored-fused-mean",
        {
          let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
          try stored.write(writer, reducingWith: v, into: &y, parallelism: parallelism)
          sink.consume(y[0])
        }
      ),
      ("factored-dp-step", { try privateStep(flat) }),
      (
        "dp-clip-only",
        {
          let clipped = try factored.clippedSum(
            flat.clipping, blocks: model.parameterBlocks, parallelism: parallelism)
          sink.consume(clipped.sum[0])
        }
      ),
      (
        "dp-noise-only",
        {
          let gradient = try flat.noisyGradient(
            clippedSum: y, expectedBatchSize: Double(k), noise: &noise, parallelism: parallelism)
          sink.consume(gradient[0])
        }
      ),
      ("factored-dp-per-layer", { try privateStep(perLayer) }),
      (
        "factored-variance",
        {
          let (gradients, _) = try model.perExampleGradientFactors(
            parameters: parameters, batch: batch)!
          sink.consume(try gradients.moments(parallelism: parallelism).m2[0])
        }
      ),
      (
        "factored-noise-scale",
        {
          let (gradients, _) = try model.perExampleGradientFactors(
            parameters: parameters, batch: batch)!
          sink.consume(try gradients.noiseScale(parallelism: parallelism).traceOfCovariance)
        }
      ),
      (
        "factored-gram-spectrum",
        {
          let (gradients, _) = try model.perExampleGradientFactors(
            parameters: parameters, batch: batch)!
          let spectrum = try gradients.gramSpectrum(
            centered: true, count: 10, parallelism: parallelism)
          sink.consume(spectrum.eigenvalues[0])
        }
      ),
    ]
  // The floors: the plain step's BLAS calls alone (dense networks), and the Gram's ?syrk calls
  // alone against the spectrum computed from the same factors.
  var floors: [(String, () throws -> Void)] = []
  if let denseLayerSizes {
    floors.append(
      ("plain-blas-only", denseBLASCalls(Scalar.self, layerSizes: denseLayerSizes, k: k)))
  }
  if let syrk = gramSYRKCalls(factored) {
    floors.append(("gram-syrk-only", syrk))
    floors.append(
      (
        "gram-spectrum-only",
        {
          let spectrum = try factored.gramSpectrum(
            centered: true, count: 10, parallelism: parallelism)
          sink.consume(spectrum.eigenvalues[0])
        }
      ))
  }
  let plainStep = {
    sink.consume(try model.meanLossAndGradient(parameters: parameters, batch: batch).gradient[0])
  }
  let (plain, results) = try pairedRounds(
    budget: budget, baseline: plainStep, kernels: kernels + floors)
  /// Per round, one timing over another.
  func perRound(_ a: Timing, _ b: Timing) -> Timing {
    Timing(seconds: zip(a.seconds, b.seconds).map { $0 / $1 })
  }
  func timing(_ kernel: String) -> Timing? { results.first { $0.kernel == kernel }?.seconds }
  var kernelRatios: [(name: String, numerator: Timing, ratio: Timing)] = []
  if let blas = timing("plain-blas-only") {
    kernelRatios.append(("plain-over-blas", plain, perRound(plain, blas)))
  }
  if let spectrum = timing("gram-spectrum-only"), let syrk = timing("gram-syrk-only") {
    kernelRatios.append(("gram-spectrum-over-syrk", spectrum, perRound(spectrum, syrk)))
  }
  return ModelCase(
    model: name, scalar: "\(Scalar.self)", threads: threads, k: k, n: model.parameterCount,
    timings: results.map { ($0.kernel, $0.seconds, $0.pairedRatio) }, baseline: plain,
    kernelRatios: kernelRatios)
}

/// Rounds of (baseline, then each kernel once), at least 9 and until `budget` seconds have
/// passed; returns the baseline's timing and, per kernel, its timing and its per-round ratio to
/// the baseline of the same round.
func pairedRounds(
  budget: Double, baseline: () throws -> Void, kernels: [(String, () throws -> Void)]
) throws -> (Timing, [(kernel: String, seconds: Timing, pairedRatio: Timing)]) {
  try baseline()
  for (_, kernel) in kernels { try kernel() }
  var base: [Double] = []
  var seconds = [[Double]](repeating: [], count: kernels.count)
  var ratios = [[Double]](repeating: [], count: kernels.count)
  let start = monotonicSeconds()
  while base.count < 9 || (base.count < 200 && monotonicSeconds() - start < budget) {
    var t0 = monotonicSeconds()
    try baseline()
    let b = monotonicSeconds() - t0
    base.append(b)
    for (index, (_, kernel)) in kernels.enumerated() {
      t0 = monotonicSeconds()
      try kernel()
      let s = monotonicSeconds() - t0
      seconds[index].append(s)
      ratios[index].append(s / b)
    }
  }
  return (
    Timing(seconds: base),
    kernels.indices.map {
      (kernels[$0].0, Timing(seconds: seconds[$0]), Timing(seconds: ratios[$0]))
    }
  )
}

func measureThrowing(budget: Double, _ work: () throws -> Void) throws -> Timing {
  var failure: Error?
  let timing = measure(budget: budget, minimumRuns: 7) {
    do { try work() } catch { failure = error }
  }
  if let failure { throw failure }
  return timing
}

/// A whole training step (sample, forward, backward, reduce, update with SGD) of `model` at batch
/// size `k`, factored against stored `J`, in the same rounds: one epoch of `steps` steps each.
func benchmarkTrainingStep<Model: PerExampleGradientModel>(
  _ name: String, _ model: Model, k: Int, steps: Int, loss: OutputLoss, threads: Int,
  budget: Double
) throws -> ModelCase {
  typealias Scalar = Model.Scalar
  let data = try randomModelBatch(model, k: k * steps, loss: loss, seed: 3)
  let sampler = try BatchSampler(exampleCount: k * steps, batchSize: k, seed: 0)
  func trainer(_ representation: GradientRepresentation) throws -> MinibatchTrainer<
    Model, StochasticGradientDescent<Scalar>
  > {
    MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent(), sampler: sampler,
      schedule: .constant(1e-3), representation: representation,
      parallelism: .threads(threads))
  }
  var factored = try trainer(.factored)
  var stored = try trainer(.stored)
  var (wFactored, wStored) = (model.initialParameters(seed: 4), model.initialParameters(seed: 4))
  var epoch = (factored: 0, stored: 0)
  let (factoredEpoch, results) = try pairedRounds(
    budget: budget,
    baseline: {
      try factored.train(parameters: &wFactored, data: data, epochs: 1, firstEpoch: epoch.factored)
      epoch.factored += 1
    },
    kernels: [
      (
        "train-step-stored",
        {
          try stored.train(parameters: &wStored, data: data, epochs: 1, firstEpoch: epoch.stored)
          epoch.stored += 1
        }
      )
    ])
  sink.consume(wFactored[0] + wStored[0])
  let perStep = { (t: Timing) in Timing(seconds: t.seconds.map { $0 / Double(steps) }) }
  return ModelCase(
    model: name, scalar: "\(Scalar.self)", threads: threads, k: k, n: model.parameterCount,
    timings: [("train-step-factored", perStep(factoredEpoch), nil)]
      + results.map { ($0.kernel, perStep($0.seconds), $0.pairedRatio) },
    baselineName: "factored", baseline: perStep(factoredEpoch))
}

/// Training throughput on the bundled digits: one epoch of `MinibatchTrainer` (batch 32, SGD
/// with momentum and coupled L2), examples per second.
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

/// Where a `Sequential`'s plain step spends its time: each layer's forward and backward pass
/// (with its factor) over the batch, medians of repeated runs, in milliseconds.
func layerBreakdown<Scalar: BLASScalar>(
  _ model: Sequential<Scalar>, batch: Batch<Scalar>, budget: Double
) -> [(layer: String, forward: Double, backward: Double, reduce: Double)] {
  let parameters = model.initialParameters(seed: 2)
  var offsets: [Int] = []
  var offset = 0
  for layer in model.layers {
    offsets.append(offset)
    offset += layer.parameterCount
  }
  let k = batch.count
  var rows: [(String, Double, Double, Double)] = []
  parameters.withUnsafeBufferPointer { w in
    var input = batch.inputs.elements
    var passes: [any LayerPass<Scalar>] = []
    var forward: [Double] = []
    for (index, layer) in model.layers.enumerated() {
      let slice = UnsafeBufferPointer(
        rebasing: w[offsets[index]..<(offsets[index] + layer.parameterCount)])
      var pass: (any LayerPass<Scalar>)?
      let timing = measure(budget: budget / Double(2 * model.layers.count), minimumRuns: 5) {
        pass = layer.forward(parameters: slice, input: input, exampleCount: k)
      }
      forward.append(timing.median)
      passes.append(pass!)
      input = pass!.output
    }
    var deltas = [Scalar](repeating: 1e-3, count: k * model.outputCount)
    var backward = [Double](repeating: 0, count: model.layers.count)
    var reduce = [Double](repeating: 0, count: model.layers.count)
    for index in model.layers.indices.reversed() {
      let layer = model.layers[index]
      let slice = UnsafeBufferPointer(
        rebasing: w[offsets[index]..<(offsets[index] + layer.parameterCount)])
      var below: [Scalar]?
      var factor: (any PerExampleGradientFactor<Scalar>)?
      let timing = measure(budget: budget / Double(2 * model.layers.count), minimumRuns: 5) {
        (below, factor) = passes[index].backward(
          outputDeltas: deltas, parameters: slice, needsInputDeltas: index > 0)
      }
      backward[index] = timing.median
      if let factor {
        // Jᵀv for this layer's slice (the plain step's weight gradient).
        let ones = [Scalar](repeating: 1, count: k)
        var y = [Scalar](repeating: 0, count: factor.parameterCount)
        reduce[index] =
          measure(budget: budget / Double(2 * model.layers.count), minimumRuns: 5) {
            y.withUnsafeMutableBufferPointer { y in
              factor.reduce(
                tensorVectors: Array(repeating: ones, count: factor.tensorSizes.count),
                alpha: 1 / Scalar(k), beta: 0, into: y, parallelism: .automatic)
            }
          }.median
        sink.consume(y[0])
      }
      if let below { deltas = below }
    }
    let names = model.specification.map { $0.map(\.description) } ?? []
    for index in model.layers.indices {
      let name = index < names.count ? names[index] : "\(type(of: model.layers[index]))"
      rows.append((name, forward[index] * 1e3, backward[index] * 1e3, reduce[index] * 1e3))
    }
  }
  return rows
}
