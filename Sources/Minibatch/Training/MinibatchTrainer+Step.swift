/// How one step reduces its chunks before the normalisation.
enum StepSums<Scalar: BLASScalar> {
  /// Without privacy: `S = Σ e_i·g_i`, `V = Σ e_i`, `m`, and `Q = Σ‖g_i‖²` when it also serves
  /// the noise scale.
  case weighted(GradientAccumulator<Scalar>)
  /// With privacy: `Σ clip(g_i)` over the chunks so far (empty before the first: one chunk's
  /// sum is used as it is, later ones are added with `?axpy`).
  case clipped([Scalar])
  /// The fused SGD step of one process: the parameters after the chunks reduced so far
  /// (`alpha = −η`, `v_i = e_i/D`, the first chunk with `beta = 1 − ηλ`, the others onto the
  /// result).
  case fused(updated: [Scalar])
}

/// This process's raw state of one logical batch, accumulated over its physical chunks (before
/// the sum over ranks).
struct LocalStepState<Scalar: BLASScalar> {
  var sums: StepSums<Scalar>
  /// Loss sums, examples and clipped examples of this process's part.
  var totals = StepTotals()
  /// For the noise scale, when the weighted sums cannot serve it (example weights, or the fused
  /// step): the unweighted `Σ g_i`, `m` and `Σ‖g_i‖²`.
  var noiseStatistics: GradientAccumulator<Scalar>?

  /// The statistics of the noise scale: ``noiseStatistics``, or the weighted sums when they
  /// track the squared norms.
  var noiseScaleStatistics: GradientAccumulator<Scalar>? {
    if let noiseStatistics { return noiseStatistics }
    if case .weighted(let accumulator) = sums, accumulator.weightedSquaredNormSum != nil {
      return accumulator
    }
    return nil
  }
}

extension MinibatchTrainer {
  /// One training step on the global batch `indices` — the only step function, for one process
  /// or many, private or not (see ``MinibatchTrainer``): this process's part of the batch, in
  /// physical chunks, accumulated into raw state; the sum over the ranks; the one normalisation;
  /// the noise; the optimiser. Returns the step's global totals, or `nil` for a batch skipped
  /// without privacy (empty, or all example weights 0), which every rank decides alike from the
  /// global batch.
  ///
  /// With a ``collective`` the step takes two sums: `[Σ e_i·ℓ_i, Σ e_i, m, clipped, one failure
  /// flag per rank]` first, so that a rank whose local work threw makes every rank throw
  /// ``MinibatchError/failedOnRank(rank:reason:)`` (the reasons travel in one more
  /// ``ReductionCollective/gather(_:)``) and a non-finite loss stops every rank, before anything
  /// is reduced; then the raw state's sum (the accumulators' `allreduce` without its agreement
  /// check, which the set-up made once for every step).
  mutating func step(
    _ indices: ArraySlice<Int>, data: some ExampleSource<Scalar>, exampleWeights: [Scalar]?,
    setup: TrainingSetup, privacy: inout PrivateEpoch?, noiseScale: inout NoiseScaleAverage?,
    parameters: inout [Scalar], learningRate: Scalar, at position: StepPosition
  ) throws -> StepTotals? {
    if let privacy {
      // The batch was drawn: the step is spent, whatever happens to it.
      privacyHistory = PrivacyStage.recording(privacy.stage.phase, in: privacyHistory)
    } else {
      if indices.isEmpty { return nil }  // a Poisson batch with no example: nothing to learn from
      if let w = exampleWeights, indices.allSatisfy({ w[$0] == 0 }) { return nil }
    }
    // The fused SGD step, for one process: the denominator of the whole logical batch first.
    var fusion: (gradientScale: Scalar, parameterScale: Scalar, denominator: Double)?
    if collective == nil, privacy == nil,
      let (gradientScale, parameterScale) = optimizer.linearStep(learningRate: learningRate)
    {
      let weight =
        exampleWeights.map { w in indices.reduce(0.0) { $0 + Double(w[$1]) } }
        ?? Double(indices.count)
      let denominator = try setup.normalization.denominator(
        weightTotal: weight, exampleCount: indices.count)
      fusion = (gradientScale, parameterScale, denominator)
    }
    let local = setup.part.examples(of: indices, collective: collective)
    var state = LocalStepState<Scalar>(sums: .clipped([]))
    var localFailure: MinibatchError?
    do throws(MinibatchError) {
      state = try accumulate(
        local, data: data, exampleWeights: exampleWeights, setup: setup,
        privacy: privacy?.stage, tracksNoiseScale: noiseScale != nil, fusion: fusion,
        parameters: parameters, at: position)
    } catch {
      guard collective != nil else { throw error }
      localFailure = error
    }
    var totals = state.totals
    if let collective {
      totals = try exchangeTotals(state.totals, failure: localFailure, over: collective)
    }
    guard totals.lossSum.isFinite else {
      throw MinibatchError.nonFiniteLoss(
        epoch: position.epoch, batch: position.batch, loss: totals.lossSum / totals.lossWeight)
    }
    if let collective {
      do throws(MinibatchError) {
        if case .weighted(var accumulator) = state.sums {
          try accumulator.sumAcrossRanks(over: collective)
          state.sums = .weighted(accumulator)
        }
        try state.noiseStatistics?.sumAcrossRanks(over: collective)
      } catch {
        throw position.translating(error, as: "gradient")
      }
    }
    if noiseScale != nil, totals.examples >= 2 {
      try updateNoiseScale(&noiseScale, from: state.noiseScaleStatistics)
    }

    // The normalisation (once), the noise, the optimiser.
    let gradient: [Scalar]
    switch state.sums {
    case .fused(let updated):
      guard allFinite(updated) else { throw position.nonFiniteStep("parameters after the step") }
      parameters = updated
      return totals
    case .clipped(let sum):
      guard var epoch = privacy else { return totals }  // not reached: clipped sums are private
      var clipped = ClippedSum<Scalar>(
        sum: sum.isEmpty ? filled(0, count: model.parameterCount) : sum,
        clippedExamples: state.totals.clippedExamples)
      do throws(MinibatchError) {
        if let collective { try clipped.sumAcrossRanks(over: collective) }
        gradient = try epoch.privateGradient(clippedSum: clipped.sum, parallelism: parallelism)
      } catch {
        throw position.translating(error)
      }
      privacy = epoch
    case .weighted(let accumulator):
      do throws(MinibatchError) {
        gradient = try accumulator.gradient(normalizedBy: setup.normalization)
      } catch {
        throw position.translating(error, as: "gradient")
      }
    }
    do throws(MinibatchError) {
      try optimizer.step(parameters: &parameters, gradient: gradient, learningRate: learningRate)
    } catch {
      // Everything else was validated up front, and a failed step changed nothing.
      throw position.translating(error)
    }
    return totals
  }

  /// This process's raw state of the step: its examples `local` in chunks of at most
  /// ``TrainingSetup/chunkSize``, each gathered, its `J` produced (the model's operator, or the
  /// stored `J` written into the trainer's buffer) and reduced into the state — clipped with
  /// privacy, weighted otherwise, or straight onto the parameters for the fused step — before
  /// the next chunk is produced. A chunk whose loss is not finite ends the local work (the
  /// caller reports the loss).
  mutating func accumulate(
    _ local: ArraySlice<Int>, data: some ExampleSource<Scalar>, exampleWeights: [Scalar]?,
    setup: TrainingSetup, privacy: PrivacyStage?, tracksNoiseScale: Bool,
    fusion: (gradientScale: Scalar, parameterScale: Scalar, denominator: Double)?,
    parameters: [Scalar], at position: StepPosition
  ) throws(MinibatchError) -> LocalStepState<Scalar> {
    let n = model.parameterCount
    // The weighted sums serve the noise scale when their weights are all 1.
    let sharesNoiseStatistics = tracksNoiseScale && fusion == nil && exampleWeights == nil
    var state: LocalStepState<Scalar>
    if privacy != nil {
      state = LocalStepState(sums: .clipped([]))
    } else if fusion != nil {
      state = LocalStepState(sums: .fused(updated: parameters))
    } else {
      state = LocalStepState(
        sums: .weighted(
          try GradientAccumulator(parameterCount: n, tracksSquaredNorms: sharesNoiseStatistics)))
    }
    if tracksNoiseScale && !sharesNoiseStatistics {
      state.noiseStatistics = try GradientAccumulator(parameterCount: n, tracksSquaredNorms: true)
    }
    var start = local.startIndex
    while start < local.endIndex {
      let end = local.index(
        start, offsetBy: min(setup.chunkSize, local.distance(from: start, to: local.endIndex)))
      let chunk = local[start..<end]
      defer { start = end }
      let batch = try data.gathering(chunk)
      let weights = exampleWeights.map { w in chunk.map { w[$0] } }
      let first = chunk.startIndex == local.startIndex
      /// The fused step's reduction of this chunk: `(v_i = e_i/D, alpha = −η, beta)`.
      func fusedReduction() throws(MinibatchError) -> (v: [Scalar], alpha: Scalar, beta: Scalar)? {
        guard let fusion else { return nil }
        let v = try scaledReductionVector(
          weights ?? filled(1, count: batch.count), denominator: fusion.denominator)
        return (v, -fusion.gradientScale, first ? fusion.parameterScale : 1)
      }
      /// The losses into the totals; `false` when they are not finite.
      func addLosses(_ losses: [Scalar]) -> Bool {
        let (sum, weight) = Self.weightedLoss(losses, weights: weights)
        state.totals.lossSum += sum
        state.totals.lossWeight += weight
        state.totals.examples += batch.count
        return state.totals.lossSum.isFinite
      }
      if setup.usesStoredJ {
        let (writer, losses) = try produce(position) { () throws(MinibatchError) in
          try model.perExampleRowWriter(parameters: parameters, batch: batch)
        }
        guard addLosses(losses) else { return state }
        var stored = try storedBuffer.take(k: batch.count, n: n)
        if let (v, alpha, beta) = try fusedReduction(), case .fused(var updated) = state.sums {
          state.sums = .clipped([])  // `updated` is now the only reference: reduced in place
          try stored.write(
            writer, reducingWith: v, alpha: alpha, beta: beta, into: &updated,
            parallelism: parallelism)
          state.sums = .fused(updated: updated)
        } else {
          try stored.write(writer, parallelism: parallelism)
        }
        let reduced = Result { () throws(MinibatchError) in
          try reduceChunk(stored, weights: weights, privacy: privacy, into: &state, at: position)
        }
        storedBuffer.reclaim(consume stored)
        try reduced.get()
      } else {
        let (gradients, losses) = try produce(position) { () throws(MinibatchError) in
          try model.perExampleGradients(
            parameters: parameters, batch: batch, representation: representation,
            parallelism: parallelism)
        }
        guard addLosses(losses) else { return state }
        if let (v, alpha, beta) = try fusedReduction(), case .fused(var updated) = state.sums {
          state.sums = .clipped([])  // `updated` is now the only reference: reduced in place
          try gradients.reduce(
            with: v, alpha: alpha, beta: beta, into: &updated, parallelism: parallelism)
          state.sums = .fused(updated: updated)
        }
        try reduceChunk(gradients, weights: weights, privacy: privacy, into: &state, at: position)
      }
    }
    return state
  }

  /// One chunk's `J` into the state (the fused step has already reduced it): its clipped sum, or
  /// its weighted sums, and the noise scale's statistics.
  func reduceChunk(
    _ gradients: some PerExampleGradientOperator<Scalar>, weights: [Scalar]?,
    privacy: PrivacyStage?, into state: inout LocalStepState<Scalar>, at position: StepPosition
  ) throws(MinibatchError) {
    switch state.sums {
    case .clipped(var sum):
      guard let privacy else { break }
      do throws(MinibatchError) {
        let clipped = try privacy.clippedSum(of: gradients, parallelism: parallelism)
        if sum.isEmpty {
          sum = clipped.sum
        } else {
          state.sums = .clipped([])  // `sum` is now the only reference: added into in place
          sum.withUnsafeMutableBufferPointer { y in
            clipped.sum.withUnsafeBufferPointer { x in
              guard let source = x.baseAddress, let target = y.baseAddress else { return }
              Scalar.axpy(n: y.count, alpha: 1, x: source, incx: 1, y: target, incy: 1)
            }
          }
        }
        state.sums = .clipped(sum)
        state.totals.clippedExamples += clipped.clippedExamples
      } catch {
        throw position.translating(error, as: "per-example gradient norms")
      }
    case .weighted(var accumulator):
      do throws(MinibatchError) {
        state.sums = .clipped([])
        try accumulator.add(gradients, reductionWeights: weights, parallelism: parallelism)
        state.sums = .weighted(accumulator)
      } catch {
        throw position.translating(error, as: "gradient")
      }
    case .fused: break
    }
    do throws(MinibatchError) {
      try state.noiseStatistics?.add(gradients, parallelism: parallelism)
    } catch {
      throw position.translating(error, as: "gradient")
    }
  }

  /// `body`'s `J` and losses, an overflow in the model named as the step's.
  func produce<T>(
    _ position: StepPosition, _ body: () throws(MinibatchError) -> T
  ) throws(MinibatchError) -> T {
    do throws(MinibatchError) { return try body() } catch {
      throw position.translating(error)
    }
  }

  /// The global totals of a step from every rank's, in one ``ReductionCollective/sum(_:)`` of
  /// `[Σ e_i·ℓ_i, Σ e_i, m, clipped, failure flags (one per rank)]`; a rank whose local work
  /// threw contributes zeros and its flag, and then every rank throws
  /// ``MinibatchError/failedOnRank(rank:reason:)`` with the lowest such rank's error.
  func exchangeTotals(
    _ local: StepTotals, failure: MinibatchError?, over collective: any ReductionCollective
  ) throws(MinibatchError) -> StepTotals {
    var sums = [Double](repeating: 0, count: 4 + collective.size)
    if failure == nil {
      sums[0] = local.lossSum
      sums[1] = local.lossWeight
      sums[2] = Double(local.examples)
      sums[3] = Double(local.clippedExamples)
    } else {
      sums[4 + collective.rank] = 1
    }
    try collective.sum(&sums)
    if let failed = (0..<collective.size).first(where: { sums[4 + $0] != 0 }) {
      let reasons = try collective.gather(Array((failure.map { "\($0)" } ?? "").utf8))
      throw MinibatchError.failedOnRank(
        rank: failed, reason: String(decoding: reasons[failed], as: UTF8.self))
    }
    return StepTotals(
      lossSum: sums[0], lossWeight: sums[1], examples: Int(sums[2]),
      clippedExamples: Int(sums[3]))
  }

  /// The global batch's noise-scale estimate into the moving average, from unweighted
  /// statistics: `|G_small|² = Q/m` (batch size 1) and `|G_big|² = ‖S/m‖²` (batch size `m`).
  /// A batch whose estimate is not defined (a squared norm beyond Double's range) is skipped,
  /// as ``NoiseScaleAverage/update(_:)`` skips non-finite parts.
  func updateNoiseScale(
    _ average: inout NoiseScaleAverage?, from statistics: GradientAccumulator<Scalar>?
  ) throws(MinibatchError) {
    guard var updated = average, let statistics,
      let squaredNormSum = statistics.weightedSquaredNormSum
    else { return }
    let m = Double(statistics.exampleCount)
    let meanNorm = statistics.weightedSum.reduce(0.0) { $0 + ($1 / m) * ($1 / m) }
    guard squaredNormSum.isFinite, meanNorm.isFinite else { return }
    updated.update(
      try NoiseScaleEstimate(
        smallBatch: 1, smallSquaredNorm: squaredNormSum / m, bigBatch: statistics.exampleCount,
        bigSquaredNorm: meanNorm))
    average = updated
  }

  /// `(Σ w_i·ℓ_i, Σ w_i)` in Double (weights 1 without example weights).
  static func weightedLoss(_ losses: [Scalar], weights: [Scalar]?) -> (Double, Double) {
    guard let weights else { return (losses.reduce(0) { $0 + Double($1) }, Double(losses.count)) }
    var sum = 0.0
    for (loss, weight) in zip(losses, weights) where weight != 0 {
      sum += Double(weight) * Double(loss)
    }
    return (sum, weights.reduce(0) { $0 + Double($1) })
  }
}
