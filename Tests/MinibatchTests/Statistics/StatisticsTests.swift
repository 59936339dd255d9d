import MinibatchTestSupport
import Testing

@_spi(Benchmark) @testable import Minibatch

/// Per-weight moments, noise scale, Gram matrix and spectrum, and diagnostics against naive
/// Double references on random data and random networks, Float and Double.
@Suite struct StatisticsTests {
  /// `(μ_j, M2_j)` in Double from the stored entries, weighted.
  func referenceMoments<Scalar: BLASScalar>(
    _ jacobian: PerExampleGradients<Scalar>, weights: [Double]
  ) -> (mean: [Double], m2: [Double]) {
    let total = weights.reduce(0, +)
    var mean = [Double](repeating: 0, count: jacobian.n)
    var m2 = [Double](repeating: 0, count: jacobian.n)
    for j in 0..<jacobian.n {
      for i in 0..<jacobian.k { mean[j] += weights[i] * Double(jacobian[i, j]) }
      mean[j] /= total
      for i in 0..<jacobian.k {
        let d = Double(jacobian[i, j]) - mean[j]
        m2[j] += weights[i] * d * d
      }
    }
    return (mean, m2)
  }

  static let networks: [(layers: [Int], k: Int)] = [
    ([1, 1], 2), ([3, 1], 9), ([5, 4], 1), ([6, 3, 1], 12), ([7, 5, 4, 3], 17),
    ([40, 100, 10], 33),
  ]

  @Test(arguments: allScalarTypes)
  func momentsAgreeWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkMoments(type)
  }

  func checkMoments<Scalar: BLASScalar>(_: Scalar.Type) throws {
    // The documented accuracy of every M2_j (relative), with room for the reference's own
    // rounding.
    let rho = Scalar.self == Float.self ? 2e-3 : 2e-8
    for (index, network) in Self.networks.enumerated() {
      let (model, batch) = try randomNetworkCase(
        Scalar.self, layers: network.layers, k: network.k, activation: .tanh,
        seed: UInt64(index), scale: 2)
      let parameters = model.initialParameters(seed: 4)
      let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
      var stored = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
      try stored.write(writer)
      var rng = SeededGenerator(seed: UInt64(index))
      let weights: [Scalar] = rng.unitArray(count: network.k).map { $0 + 0.1 }
      for weighted in [false, true] {
        let w = weighted ? weights.map { Double($0) } : [Double](repeating: 1, count: network.k)
        let reference = referenceMoments(stored, weights: w)
        for representation in [GradientRepresentation.factored, .stored, .streamed] {
          let (jacobian, _) = try model.perExampleGradients(
            parameters: parameters, batch: batch, representation: representation)
          let moments = try jacobian.moments(exampleWeights: weighted ? weights : nil)
          let label = "\(network.layers) \(representation) weighted \(weighted) \(Scalar.self)"
          #expect(moments.m2.allSatisfy { $0 >= 0 }, "\(label)")
          for j in 0..<model.parameterCount {
            let scale = reference.m2[j] + 1e-300
            if abs(moments.m2[j] - reference.m2[j]) > rho * scale + 1e-30 {
              Issue.record("\(label): M2[\(j)] \(moments.m2[j]) vs \(reference.m2[j])")
              break
            }
          }
          #expect(
            relativeError(moments.mean, reference.mean)
              <= (Scalar.self == Float.self ? 1e-5 : 1e-12))
          let total = w.reduce(0, +)
          let w2 = w.reduce(0) { $0 + $1 * $1 }
          if network.k > 1 {
            let unbiased = reference.m2.map { $0 / (total - w2 / total) }
            #expect(relativeError(moments.unbiasedVariance, unbiased) <= rho, "\(label)")
          }
        }
      }
    }
  }

  /// A column of 1e8 + N(0, 1) noise (|mean|/σ ≈ 1e8): the one-pass difference has no correct
  /// digit left, the exact recomputation gets the variance; nothing is negative, in Float
  /// (where the column is constant to the last bit) and Double.
  @Test func varianceSurvivesAHugeMean() throws {
    var rng = SeededGenerator(seed: 12)
    let k = 64
    var rows: [[Double]] = []
    for _ in 0..<k {
      rows.append([1e8 + rng.nextSigned(Double.self), rng.nextSigned(Double.self), 7, 0])
    }
    let jacobian = try PerExampleGradients<Double>(rows: rows)
    let moments = try jacobian.moments()
    let reference = referenceMoments(jacobian, weights: [Double](repeating: 1, count: k))
    #expect(abs(moments.m2[0] - reference.m2[0]) <= 1e-9 * reference.m2[0], "\(moments.m2[0])")
    #expect(relativeError([moments.m2[1]], [reference.m2[1]]) <= 1e-10)
    #expect(moments.m2[2] == 0 && moments.m2[3] == 0)
    #expect(moments.exactlyRecomputed >= 2)  // the huge column and the constant one
    let floatJ = try PerExampleGradients<Float>(rows: rows.map { $0.map { Float($0) } })
    let floatMoments = try floatJ.moments()
    #expect(floatMoments.m2.allSatisfy { $0 >= 0 })
    #expect(floatMoments.m2[2] == 0)
  }

  /// Moments of the parts merged equal the moments of the whole, for several chunkings.
  @Test func mergedMomentsEqualTheWhole() throws {
    let jacobian = try randomGradients(Double.self, k: 37, n: 300, seed: 5)
    let whole = try jacobian.moments()
    for cuts in [[1], [10, 20], [5, 6, 7, 30], [36]] {
      var merged: GradientMoments?
      var start = 0
      for end in cuts + [37] {
        let part = try PerExampleGradients<Double>(
          k: end - start, n: 300, elements: Array(jacobian.elements[(start * 300)..<(end * 300)]))
        let moments = try part.moments()
        if merged == nil { merged = moments } else { try merged!.merge(moments) }
        start = end
      }
      let m = try #require(merged)
      #expect(m.exampleCount == 37 && m.weightTotal == 37)
      #expect(relativeError(m.mean, whole.mean) <= 1e-13)
      #expect(relativeError(m.m2, whole.m2) <= 1e-12)
      #expect(relativeError(m.unbiasedVariance, whole.unbiasedVariance) <= 1e-12)
    }
  }

  /// The noise-scale estimates against the formulas computed by hand on a small batch.
  @Test func noiseScaleByHand() throws {
    let rows: [[Double]] = [[1, 2], [3, -1], [0, 4], [2, 2]]
    let jacobian = try PerExampleGradients<Double>(rows: rows)
    let estimate = try jacobian.noiseScale()
    // ‖g_i‖²: 5, 10, 16, 8 → mean 9.75; ḡ = (1.5, 1.75), ‖ḡ‖² = 5.3125; B_s = 1, B_b = 4.
    let g2 = (4 * 5.3125 - 9.75) / 3
    let s = (9.75 - 5.3125) / (1 - 0.25)
    #expect(abs(estimate.gradientSquaredNorm - g2) <= 1e-14)
    #expect(abs(estimate.traceOfCovariance - s) <= 1e-14)
    #expect(abs(estimate.simpleNoiseScale - s / g2) <= 1e-13)
    // tr(Σ) from the per-example norms equals the trace of the unbiased covariance.
    #expect(abs(try jacobian.moments().traceOfCovariance - s) <= 1e-13)
    let twoSizes = try NoiseScaleEstimate(
      smallBatch: 8, smallSquaredNorm: 3, bigBatch: 64, bigSquaredNorm: 1)
    #expect(abs(twoSizes.gradientSquaredNorm - (64.0 - 24) / 56) <= 1e-15)
    #expect(abs(twoSizes.traceOfCovariance - 2 / (1.0 / 8 - 1.0 / 64)) <= 1e-12)
    var average = try NoiseScaleAverage(decay: 0.5)
    average.update(NoiseScaleEstimate(gradientSquaredNorm: 2, traceOfCovariance: 10))
    #expect(average.simpleNoiseScale == 5)  // bias-corrected: the first update is the estimate
    average.update(NoiseScaleEstimate(gradientSquaredNorm: 4, traceOfCovariance: 10))
    // EMA: (0.25·2 + 0.5·4)/0.75 and (0.25·10 + 0.5·10)/0.75.
    #expect(abs(average.simpleNoiseScale! - 10 / (2.5 / 0.75)) <= 1e-14)
    expectError(
      .invalidArgument(name: "big batch size", value: "8", expected: "> the small batch size 8")
    ) {
      try NoiseScaleEstimate(smallBatch: 8, smallSquaredNorm: 1, bigBatch: 8, bigSquaredNorm: 1)
    }
    expectError(.invalidArgument(name: "examples", value: "1", expected: "≥ 2 for a noise scale")) {
      try PerExampleGradients<Double>(rows: [[1, 2]]).noiseScale()
    }
    expectError(.invalidArgument(name: "decay", value: "1.0", expected: "in [0, 1)")) {
      try NoiseScaleAverage(decay: 1)
    }
  }

  /// `J·Jᵀ` from each representation against the naive product; centred too.
  @Test(arguments: allScalarTypes)
  func gramMatricesAgreeWithTheReference(_ type: any BLASScalar.Type) throws {
    try checkGram(type)
  }

  func checkGram<Scalar: BLASScalar>(_: Scalar.Type) throws {
    let tolerance = Scalar.self == Float.self ? 1e-5 : 1e-12
    for (index, network) in Self.networks.enumerated() {
      let (model, batch) = try randomNetworkCase(
        Scalar.self, layers: network.layers, k: network.k, activation: .relu,
        seed: UInt64(index) + 9)
      let parameters = model.initialParameters(seed: 6)
      let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
      var stored = try PerExampleGradients<Scalar>(k: network.k, n: model.parameterCount)
      try stored.write(writer)
      let k = network.k
      var reference = [Double](repeating: 0, count: k * k)
      for i in 0..<k {
        for j in 0..<k {
          for c in 0..<stored.n {
            reference[i * k + j] += Double(stored[i, c]) * Double(stored[j, c])
          }
        }
      }
      for representation in [GradientRepresentation.factored, .stored, .streamed] {
        let (jacobian, _) = try model.perExampleGradients(
          parameters: parameters, batch: batch, representation: representation)
        let gram = try jacobian.gramMatrix(parallelism: .automatic)
        #expect(
          relativeError(gram.elements, reference) <= tolerance,
          "\(network.layers) \(representation) \(Scalar.self)")
      }
    }
  }

  /// The centred Gram spectrum equals the squared singular values of the centred `J` (LAPACK
  /// `?gesdd`), i.e. (k − 1)× the covariance's nonzero eigenvalues; eigenvectors are unit and
  /// satisfy `G_c·u = λ·u`.
  @Test func spectrumMatchesTheSingularValuesOfTheCentredJ() throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [6, 5, 3], hiddenActivation: .tanh)
    let batch = try randomBatch(
      Double.self, k: 12, d: 6, outputs: 3, loss: .softmaxCrossEntropy, seed: 2, scale: 2)
    let parameters = model.initialParameters(seed: 1)
    let (jacobian, _) = try model.perExampleGradients(parameters: parameters, batch: batch)
    let (writer, _) = try model.perExampleRowWriter(parameters: parameters, batch: batch)
    var stored = try PerExampleGradients<Double>(k: 12, n: model.parameterCount)
    try stored.write(writer)
    let n = model.parameterCount
    let mean = stored.mean()
    var centred = (0..<12).flatMap { i in (0..<n).map { stored[i, $0] - mean[$0] } }
    var singular = [Double](repeating: 0, count: 12)
    let info = centred.withUnsafeMutableBufferPointer { a in
      singular.withUnsafeMutableBufferPointer { s in
        Double.singularValues(m: 12, n: n, a: a.baseAddress!, lda: n, s: s.baseAddress!)
      }
    }
    #expect(info == 0)
    let spectrum = try jacobian.gramSpectrum(centered: true, count: 5, vectors: true)
    let expected = singular.prefix(5).map { $0 * $0 }
    #expect(relativeError(spectrum.eigenvalues, Array(expected)) <= 1e-12)
    let gram = centredGram(try jacobian.gramMatrix(parallelism: .automatic))
    let vectors = try #require(spectrum.eigenvectors)
    for r in 0..<5 {
      let u = (0..<12).map { vectors[r, $0] }
      let gu = (0..<12).map { i in (0..<12).reduce(0.0) { $0 + gram[i, $1] * u[$1] } }
      #expect(abs(u.reduce(0) { $0 + $1 * $1 } - 1) <= 1e-12)
      #expect(relativeError(gu, u.map { $0 * spectrum.eigenvalues[r] }) <= 1e-10)
    }
    // Uncentred: the squared singular values of J itself.
    let all = try jacobian.gramSpectrum()
    #expect(all.eigenvalues.count == 12 && all.eigenvalues[0] >= all.eigenvalues[11])
    expectError(.invalidArgument(name: "eigenvalue count", value: "13", expected: "1...12 (k)")) {
      try jacobian.gramSpectrum(count: 13)
    }
  }

  @Test func diagnosticsNameTheLargest() throws {
    let jacobian = try PerExampleGradients<Double>(rows: [[1, 0], [0, 5], [3, 4], [0, 0.5]])
    let diagnostics = try PerExampleDiagnostics(
      gradients: jacobian, losses: [0.1, 2.0, 0.5, 2.0], largest: 2)
    #expect(diagnostics.gradientNorms == [1, 5, 5, 0.5])
    #expect(diagnostics.largestGradientNorms == [1, 2])
    #expect(diagnostics.largestLosses == [1, 3])
    expectError(.shapeMismatch(expected: 4, got: 3, of: "losses (one per example)")) {
      try PerExampleDiagnostics(gradients: jacobian, losses: [1, 2, 3], largest: 1)
    }
    expectError(.invalidArgument(name: "largest count", value: "0", expected: "1...4 (k)")) {
      try PerExampleDiagnostics(gradients: jacobian, losses: [1, 2, 3, 4], largest: 0)
    }
  }

  /// On the bundled digits at a fixed `w`: the measured variance of mini-batch mean gradients
  /// (400 batches of k drawn without replacement) against `tr(Σ)/k·(N − k)/(N − 1)` from the
  /// per-example moments of the whole training set, within 5 standard errors of the measured mean
  /// of `‖ḡ_B − G‖²`; it falls as 1/k.
  @Test func meanGradientVarianceFallsAsOneOverK() throws {
    let (train, _) = try Digits.loadStandardized(Double.self)
    let model = try SoftmaxRegression<Double>(inputCount: 64, classCount: 10)
    let w = model.initialParameters(seed: 3)
    let n = train.count
    let (all, _) = try model.perExampleGradients(parameters: w, batch: train)
    let moments = try all.moments()
    let full = all.mean()
    // Population total variance: M2/N, and the unbiased one times (N−1)/N equals it.
    let populationTrace = moments.m2.reduce(0, +) / Double(n)
    var rng = SeededGenerator(seed: 77)
    var measured: [Double] = []
    for k in [4, 16, 64] {
      var samples: [Double] = []
      for _ in 0..<400 {
        var order = Array(0..<n)
        for i in 0..<k { order.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
        let (jacobian, _) = try model.perExampleGradients(
          parameters: w, batch: try train.gathering(Array(order[0..<k])))
        let mean = jacobian.mean()
        samples.append(zip(mean, full).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
      }
      let average = samples.reduce(0, +) / 400
      let deviation = (samples.reduce(0) { $0 + ($1 - average) * ($1 - average) } / 399)
        .squareRoot()
      // Without replacement from N: Var = (σ²_pop/k)·(N − k)/(N − 1).
      let predicted = populationTrace / Double(k) * Double(n - k) / Double(n - 1)
      #expect(
        abs(average - predicted) <= 5 * deviation / 20, "k = \(k): \(average) vs \(predicted)")
      measured.append(average)
    }
    #expect(measured[0] / measured[1] > 3 && measured[1] / measured[2] > 3)
  }
}

/// The trainer's noise-scale tracking.
@Suite struct TrainerNoiseScaleTests {
  /// One step per epoch over the whole data set with decay 0: the report is that batch's
  /// estimate at the epoch's starting parameters.
  @Test(arguments: [GradientRepresentation.automatic, .stored])
  func reportedNoiseScaleIsTheBatchEstimate(_ representation: GradientRepresentation) throws {
    let model = try MultilayerPerceptron<Double>(layerSizes: [4, 6, 3], hiddenActivation: .tanh)
    let data = try randomBatch(
      Double.self, k: 30, d: 4, outputs: 3, loss: .softmaxCrossEntropy, seed: 4)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(),
      sampler: try BatchSampler(exampleCount: 30, batchSize: 30, shuffles: false, seed: 0),
      schedule: .constant(0.1), representation: representation)
    trainer.noiseScaleDecay = 0
    let w0 = model.initialParameters(seed: 2)
    var w = w0
    var reports: [EpochReport] = []
    try trainer.train(parameters: &w, data: data, epochs: 1) { report, _ in reports.append(report) }
    let (jacobian, _) = try model.perExampleGradients(parameters: w0, batch: data)
    let expected = try jacobian.noiseScale()
    let got = try #require(reports.first?.noiseScale)
    #expect(
      abs(got.traceOfCovariance - expected.traceOfCovariance) <= 1e-12 * expected.traceOfCovariance)
    #expect(
      abs(got.gradientSquaredNorm - expected.gradientSquaredNorm)
        <= 1e-10 * abs(expected.traceOfCovariance))
  }

  @Test func notWithPrivacy() throws {
    let model = try LogisticRegression<Double>(inputCount: 3)
    let data = try randomBatch(
      Double.self, k: 10, d: 3, outputs: 1, loss: .binaryCrossEntropy, seed: 1)
    var trainer = MinibatchTrainer(
      model: model, optimizer: try StochasticGradientDescent<Double>(),
      sampler: try BatchSampler(exampleCount: 10, poissonRate: 0.5, seed: 1),
      schedule: .constant(0.1), normalization: .expectedBatchSize,
      privacy: try DifferentialPrivacy(clipping: .flat(bound: 1), noiseMultiplier: 1, delta: 1e-5))
    trainer.noiseScaleDecay = 0.9
    var w = model.initialParameters(seed: 1)
    expectError(
      .invalidArgument(
        name: "noise scale tracking", value: "set",
        expected: "off with differential privacy (it describes the unclipped gradients)")
    ) { try trainer.train(parameters: &w, data: data, epochs: 1) }
  }
}
