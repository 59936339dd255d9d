import Foundation
@_spi(Benchmark) import Minibatch
import MinibatchMPI

// `mpirun -np 2 minibatch-bench --mpi`: the allreduce that data-parallel training does once per
// step, and its share of a training step. Every rank runs the same fixed number of repetitions
// (a time budget would let the ranks disagree and wait for each other forever); rank 0 prints.

@MainActor func runMPIBenchmarks() throws {
  let world = try MPIEnvironment.initialize()
  // The ranks share this machine's cores: each gets its share of OpenBLAS threads.
  let threadsPerRank = max(1, cores / world.size)
  OpenBLASInfo.setThreadCount(threadsPerRank)
  func say(_ line: String) { if world.rank == 0 { report(line) } }
  say("Minibatch MPI benchmark — \(quick ? "quick grid" : "full grid")")
  say(
    "ranks: \(world.size), cores: \(cores), threads per rank: \(threadsPerRank), "
      + "OpenBLAS core: \(OpenBLASInfo.coreName)")
  let widths = [22, 6, 9, 10, 10, 9, 9]
  func row(_ cells: [String]) -> String {
    zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }
      .joined(separator: " ")
  }
  // One rank (`mpirun -np 1`) has nothing to communicate: only its step row, the baseline.
  if world.size > 1 {
    say("")
    say(
      "allreduce = MPI_Allreduce(MPI_SUM) in place of n entries, the same on every rank; "
        + "algbw = n·size/time, busbw = algbw·2(P−1)/P (the bytes each rank must move).")
    say(row(["kernel", "scalar", "n", "µs", "med µs", "algbw GB/s", "busbw GB/s"]))
    let sizes = quick ? [1_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    for n in sizes {
      try allreduceRow(Double.self, n: n, world: world, row: row)
      try allreduceRow(Float.self, n: n, world: world, row: row)
    }
  }
  try stepShareRows(world: world, threadsPerRank: threadsPerRank, say: say)
}

/// Times the in-place allreduce of `n` values and prints the row.
@MainActor func allreduceRow<Scalar: BLASScalar>(
  _: Scalar.Type, n: Int, world: MPICommunicator, row: ([String]) -> String
) throws {
  var values = [Scalar](repeating: 1, count: n)
  let repetitions = max(5, min(quick ? 20 : 200, Int(4e8 / Double(n * MemoryLayout<Scalar>.size))))
  var seconds: [Double] = []
  try world.allreduceSum(&values)  // warm-up, and the ranks agree on n
  for _ in 0..<repetitions {
    try world.barrier()
    let t0 = monotonicSeconds()
    try world.allreduceSum(&values, agreeingOnCount: false)
    seconds.append(monotonicSeconds() - t0)
  }
  sink.consume(values[0])
  let timing = Timing(seconds: seconds)
  let bytes = Double(n * MemoryLayout<Scalar>.size)
  let p = Double(world.size)
  let algorithmBandwidth = bytes / timing.median / 1e9
  let busBandwidth = algorithmBandwidth * 2 * (p - 1) / p
  let scalar = Scalar.self == Float.self ? "Float" : "Double"
  if world.rank == 0 {
    report(
      row([
        "mpi-allreduce", scalar, "\(n)", String(format: "%.1f", timing.minimum * 1e6),
        String(format: "%.1f", timing.median * 1e6), String(format: "%.2f", algorithmBandwidth),
        String(format: "%.2f", busBandwidth),
      ]))
    if json {
      print(
        jsonObject([
          ("kernel", "\"mpi-allreduce\""), ("scalar", "\"\(scalar)\""), ("threads", "1"),
          ("k", "0"), ("n", "\(n)"), ("ranks", "\(world.size)"),
          ("seconds_min", "\(timing.minimum)"), ("seconds_median", "\(timing.median)"),
          ("algorithm_gb_per_second", "\(algorithmBandwidth)"),
          ("bus_gb_per_second", "\(busBandwidth)"),
        ]))
    }
  }
}

/// One data-parallel training step of the MLP 784-256-10 on a global batch of 256 (each rank
/// its slice): local forward, backward and `Jᵀv` into the accumulator's raw state, the one
/// allreduce of `n + 6 + P` Doubles (as the trainer sends), the SGD update. Prints the step's
/// time and the share spent in the allreduce (including waiting for the slower rank), median
/// over the repetitions.
@MainActor func stepShareRows(
  world: MPICommunicator, threadsPerRank: Int, say: (String) -> Void
) throws {
  say("")
  say(
    "distributed step, MLP 784-256-10, global k = 256 split over \(world.size) ranks of "
      + "\(threadsPerRank) thread(s): compute = forward + backward + Jᵀv of the local slice; "
      + "allreduce = the one sum of n + 6 + P Doubles; share = allreduce / whole step.")
  let widths = [26, 6, 5, 8, 11, 13, 9]
  func row(_ cells: [String]) -> String {
    zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }
      .joined(separator: " ")
  }
  say(row(["kernel", "scalar", "k", "n", "step med ms", "allreduce ms", "share"]))
  for scalar in [Float.self, Double.self] as [any BLASScalar.Type] {
    func run<Scalar: BLASScalar>(_: Scalar.Type) throws {
      let model = try MultilayerPerceptron<Scalar>(layerSizes: [784, 256, 10])
      let globalK = 256
      let batch = try randomModelBatch(model, k: globalK, loss: .softmaxCrossEntropy)
      let local = try batch.gathering(world.slice(of: globalK))
      var parameters = model.initialParameters(seed: 1)
      let n = model.parameterCount
      let optimizer = try StochasticGradientDescent<Scalar>()
      let parallelism = Parallelism.threads(threadsPerRank)
      var steps: [Double] = []
      var communication: [Double] = []
      for repetition in 0..<(quick ? 6 : 40) {
        try world.barrier()
        let t0 = monotonicSeconds()
        let (gradients, _) = try model.perExampleGradients(
          parameters: parameters, batch: local, representation: .factored,
          parallelism: parallelism)
        var accumulator = try GradientAccumulator<Scalar>(parameterCount: n)
        try accumulator.add(gradients, parallelism: parallelism)
        var state =
          accumulator.weightedSum + [accumulator.weightTotal, 0, 0, 0, 0, 0]
          + [Double](repeating: 0, count: world.size)
        let t1 = monotonicSeconds()
        try world.sum(&state)
        let t2 = monotonicSeconds()
        let gradient = state[0..<n].map { Scalar($0 / Double(globalK)) }
        var opt = optimizer
        try opt.step(parameters: &parameters, gradient: gradient, learningRate: 0.01)
        let t3 = monotonicSeconds()
        if repetition > 0 {  // the first is a warm-up
          steps.append(t3 - t0)
          communication.append(t2 - t1)
        }
      }
      sink.consume(parameters[0])
      let step = Timing(seconds: steps).median
      let allreduce = Timing(seconds: communication).median
      let name = Scalar.self == Float.self ? "Float" : "Double"
      say(
        row([
          "mpi-train-step-allreduce", name, "\(globalK)", "\(n)",
          String(format: "%.2f", step * 1e3), String(format: "%.2f", allreduce * 1e3),
          String(format: "%.0f%%", 100 * allreduce / step),
        ]))
      if json && world.rank == 0 {
        print(
          jsonObject([
            ("kernel", "\"mpi-train-step-allreduce\""), ("scalar", "\"\(name)\""),
            ("threads", "\(threadsPerRank)"), ("k", "\(globalK)"), ("n", "\(n)"),
            ("ranks", "\(world.size)"), ("seconds_min", "\(Timing(seconds: steps).minimum)"),
            ("seconds_median", "\(step)"), ("allreduce_seconds_median", "\(allreduce)"),
            ("communication_share", "\(allreduce / step)"),
          ]))
      }
    }
    if scalar == Float.self { try run(Float.self) } else { try run(Double.self) }
  }
}
