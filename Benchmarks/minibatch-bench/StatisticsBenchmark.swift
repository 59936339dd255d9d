import Foundation
import Minibatch

/// Gradient statistics on the bundled digits, for the README: the variance of mini-batch mean
/// gradients against `tr(Σ)/k` (at fixed parameters), and the gradient noise scale over a
/// training run. Statistics, not timings: the same on every machine up to threading.
@MainActor func runStatisticsReport() throws {
  let (train, test) = try Digits.loadStandardized(Double.self)
  let n = train.count
  let model = try SoftmaxRegression<Double>(inputCount: 64, classCount: 10)
  let w = model.initialParameters(seed: 3)
  let (all, _) = try model.perExampleGradients(parameters: w, batch: train)
  let moments = try all.moments()
  let full = all.mean()
  let populationTrace = moments.m2.reduce(0, +) / Double(n)
  report("")
  report(
    "digits, softmax regression at its initial parameters (seed 3), Double: variance of the mean "
      + "gradient of k examples drawn without replacement, E‖ḡ_B − G‖², over 400 batches each, "
      + "against tr(Σ)/k·(N − k)/(N − 1) from the per-example moments (tr(Σ) population = "
      + String(format: "%.4g", populationTrace) + "):")
  var rng = SeededGenerator(seed: 77)
  for k in [1, 4, 16, 64, 256] {
    var samples: [Double] = []
    for _ in 0..<400 {
      var order = Array(0..<n)
      for i in 0..<k { order.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
      let (J, _) = try model.perExampleGradients(
        parameters: w, batch: try train.gathering(Array(order[0..<k])))
      samples.append(zip(J.mean(), full).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
    }
    let average = samples.reduce(0, +) / 400
    let error =
      (samples.reduce(0) { $0 + ($1 - average) * ($1 - average) } / 399).squareRoot() / 20
    let predicted = populationTrace / Double(k) * Double(n - k) / Double(n - 1)
    report(
      String(
        format: "  k = %3d: measured %.5f ± %.5f, predicted %.5f, ratio %.3f", k, average, error,
        predicted, average / predicted))
  }

  report("")
  report(
    "digits, MLP 64-64-10 (ReLU), batch 32, momentum 0.9, cosine from 0.02, Float: the noise "
      + "scale B_simple (moving average, decay 0.99, of each step's estimate) per epoch:")
  let mlp = try MultilayerPerceptron<Float>(layerSizes: [64, 64, 10])
  let (trainF, testF) = try Digits.loadStandardized(Float.self)
  var trainer = MinibatchTrainer(
    model: mlp, optimizer: try MomentumSGD<Float>(momentum: 0.9, regularization: .l2(1e-4)),
    sampler: try BatchSampler(exampleCount: trainF.count, batchSize: 32, seed: 0),
    schedule: .cosine(initial: 0.02, minimum: 0.0002, epochs: 30))
  trainer.noiseScaleDecay = 0.99
  var parameters = mlp.initialParameters(seed: 0)
  var line = ""
  try trainer.train(parameters: &parameters, data: trainF, epochs: 30, evaluation: testF) {
    epochReport, _ in
    let scale = epochReport.noiseScale?.simpleNoiseScale ?? .nan
    line += String(format: " %d: %.0f", epochReport.epoch + 1, scale)
    if (epochReport.epoch + 1) % 10 == 0 {
      report(" " + line)
      line = ""
    }
  }
  report(
    String(
      format: "  test accuracy %.2f%%",
      100 * (try mlp.accuracy(parameters: parameters, batch: testF))))
  _ = test
}
