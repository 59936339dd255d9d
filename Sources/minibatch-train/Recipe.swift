import Foundation
import Minibatch

/// The models the program trains: a ``MultilayerPerceptron`` (the first four) or a ``Sequential``
/// network from `--layers`.
enum ModelKind: String, CaseIterable, Codable, Sendable {
  /// Softmax regression (classification): one dense layer, softmax cross-entropy.
  case softmax
  /// A multi-layer perceptron (``Recipe/hiddenLayers``), for either task.
  case mlp
  /// Linear regression (real-valued targets): one dense layer, squared error.
  case linear
  /// Logistic regression (two classes): one output, binary cross-entropy.
  case logistic
  /// A ``Sequential`` network of ``Recipe/layers`` on ``Recipe/inputShape``.
  case layers
}

/// The optimisers the program offers.
enum OptimizerKind: String, CaseIterable, Codable, Sendable {
  case sgd
  case momentum
  case nesterov
  case adam
}

/// DP-SGD settings from the command line.
struct PrivacyOptions: Codable, Sendable, Hashable {
  /// `C`: the bound on each example's gradient norm (per-layer: on the whole, split equally).
  var clipNorm: Double
  /// `σ`, given or calibrated from ``targetEpsilon``.
  var noiseMultiplier: Double?
  /// The `ε` to reach at the end of the planned epochs (the noise multiplier is calibrated).
  var targetEpsilon: Double?
  var delta: Double
  /// Clip each parameter tensor on its own (bounds `C/√blocks`).
  var perLayer = false
  /// The noise's seed; `nil`: the operating system's CSPRNG.
  var noiseSeed: UInt64?
  /// The accountant that reports ε and calibrates σ; `nil` (files written before it existed):
  /// ``PrivacyAccountantKind/pld``.
  var accountant: PrivacyAccountantKind?

  var resolvedAccountant: PrivacyAccountantKind { accountant ?? .pld }
}

/// A complete training recipe. The defaults on the bundled digits are the ones the tests check
/// (softmax regression ≥ 93 % and the MLP ≥ 96 % test accuracy).
struct Recipe: Codable, Sendable {
  var model: ModelKind
  var batchSize = 32
  /// `nil`: the model's default (``defaultLearningRate``).
  var learningRate: Double?
  /// `nil`: the model's default (``defaultEpochs``).
  var epochs: Int?
  var seed: UInt64 = 0
  var optimizer: OptimizerKind = .momentum
  var hiddenLayers: [Int] = [64]
  var hiddenActivation: Activation = .relu
  /// With ``ModelKind/layers``: one example's shape (`nil`: the data's features, flat) and the
  /// layers' text (``LayerSpecification``).
  var inputShape: [Int]?
  var layers: String?
  var l2Penalty = 1e-4
  var cosineSchedule = true
  var threads = ProcessInfo.processInfo.activeProcessorCount
  var privacy: PrivacyOptions?
  /// Stop after this many epochs without a lower evaluation loss (and keep the best parameters).
  var earlyStoppingPatience: Int?
  /// When resuming: the epochs to add (the schedule stays the saved run's).
  var additionalEpochs: Int?
  /// Track the gradient noise scale per epoch and report gradient statistics at the end.
  var statistics = false

  init(model: ModelKind) { self.model = model }

  /// The checks the command line makes on its options, for a recipe read from a file.
  func validate() throws {
    func check(_ valid: Bool, _ name: String, _ value: Any, _ expected: String) throws {
      guard valid else {
        throw MinibatchError.invalidArgument(name: name, value: "\(value)", expected: expected)
      }
    }
    try check(batchSize >= 1, "batch size", batchSize, "≥ 1")
    try check(threads >= 1, "threads", threads, "≥ 1")
    try check((epochs ?? 0) >= 0, "epochs", epochs ?? 0, "≥ 0")
    try check(
      learningRate.map { $0.isFinite && $0 >= 0 } ?? true, "learning rate", learningRate ?? 0,
      "finite and ≥ 0")
    try check(l2Penalty.isFinite && l2Penalty >= 0, "L2 penalty", l2Penalty, "finite and ≥ 0")
    try check(
      !hiddenLayers.isEmpty && hiddenLayers.allSatisfy { $0 >= 1 }, "hidden layers",
      hiddenLayers, "positive widths")
    if let earlyStoppingPatience {
      try check(earlyStoppingPatience >= 1, "early stopping", earlyStoppingPatience, "≥ 1")
    }
    if let privacy {
      try check(
        privacy.clipNorm > 0 && privacy.clipNorm.isFinite, "clip norm", privacy.clipNorm,
        "finite and > 0")
      try check(privacy.delta > 0 && privacy.delta < 1, "δ", privacy.delta, "in (0, 1)")
      if let sigma = privacy.noiseMultiplier {
        try check(sigma.isFinite && sigma >= 0, "noise multiplier", sigma, "finite and ≥ 0")
      }
    }
  }

  /// A network with hidden layers (an MLP or `--layers`).
  var isDeep: Bool { model == .mlp || model == .layers }
  var defaultEpochs: Int { isDeep ? 30 : 20 }
  var defaultLearningRate: Double {
    switch optimizer {
    case .adam: return 3e-3
    case .sgd: return isDeep ? 0.1 : 0.2
    case .momentum, .nesterov: return isDeep ? 0.02 : 0.05
    }
  }
  var resolvedEpochs: Int { epochs ?? defaultEpochs }
  var resolvedLearningRate: Double { learningRate ?? defaultLearningRate }

  /// The schedule: cosine from the rate to 1/100 of it over the planned epochs (then constant),
  /// or constant.
  var schedule: LearningRateSchedule {
    let rate = resolvedLearningRate
    return cosineSchedule
      ? .cosine(initial: rate, minimum: rate / 100, epochs: max(1, resolvedEpochs))
      : .constant(rate)
  }

  /// The network for `inputs` features and the task.
  func network<Scalar: BLASScalar>(
    _: Scalar.Type, inputs: Int, task: Task, classCount: Int?, targetCount: Int
  ) throws -> MultilayerPerceptron<Scalar> {
    let outputs = classCount ?? targetCount
    switch (model, task) {
    case (.softmax, .classification):
      return try MultilayerPerceptron(
        layerSizes: [inputs, outputs], hiddenActivation: .identity,
        outputLoss: .softmaxCrossEntropy)
    case (.logistic, .classification):
      guard outputs == 2 else {
        throw MinibatchError.invalidArgument(
          name: "model", value: "logistic", expected: "2 classes (got \(outputs)); use softmax")
      }
      return try MultilayerPerceptron(
        layerSizes: [inputs, 1], hiddenActivation: .identity, outputLoss: .binaryCrossEntropy)
    case (.linear, .regression):
      return try MultilayerPerceptron(
        layerSizes: [inputs, outputs], hiddenActivation: .identity, outputLoss: .squaredError)
    case (.mlp, _):
      return try MultilayerPerceptron(
        layerSizes: [inputs] + hiddenLayers + [outputs], hiddenActivation: hiddenActivation,
        outputLoss: task == .regression ? .squaredError : .softmaxCrossEntropy)
    case (.layers, _):
      throw MinibatchError.invalidArgument(
        name: "model", value: "layers", expected: "a Sequential (see sequential(_:…))")
    case (.softmax, .regression), (.logistic, .regression), (.linear, .classification):
      throw MinibatchError.invalidArgument(
        name: "model", value: model.rawValue,
        expected: task == .regression
          ? "linear or mlp for regression" : "softmax, logistic or mlp for classification")
    }
  }

  /// The ``Sequential`` of ``layers`` on ``inputShape`` (the data's features, flat, by default),
  /// ending in the task's loss: softmax cross-entropy for classes (the last layer as wide as the
  /// classes, or 1 with two classes for binary cross-entropy), squared error for real targets.
  func sequential<Scalar: BLASScalar>(
    _: Scalar.Type, inputs: Int, task: Task, classCount: Int?, targetCount: Int
  ) throws -> Sequential<Scalar> {
    let shape = try TensorShape(inputShape ?? [inputs])
    guard shape.count == inputs else {
      throw MinibatchError.invalidArgument(
        name: "--input-shape", value: shape.description,
        expected: "\(inputs) values per example, as the data has (\(shape.count) given)")
    }
    let specification = try LayerSpecification.parse(layers ?? "")
    // The last layer decides the loss; resolve once with a loss every width accepts.
    let width = try Sequential<Scalar>(
      inputShape: shape, layers: specification, outputLoss: .squaredError
    ).outputCount
    let loss: OutputLoss
    switch task {
    case .classification:
      let classes = classCount ?? 2
      if width == classes {
        loss = .softmaxCrossEntropy
      } else if width == 1 && classes == 2 {
        loss = .binaryCrossEntropy
      } else {
        throw MinibatchError.invalidArgument(
          name: "the last layer's width", value: "\(width)",
          expected: "\(classes), one per class (end in dense(\(classes)))")
      }
    case .regression:
      guard width == targetCount else {
        throw MinibatchError.invalidArgument(
          name: "the last layer's width", value: "\(width)",
          expected: "\(targetCount), one per target (end in dense(\(targetCount)))")
      }
      loss = .squaredError
    }
    return try Sequential(inputShape: shape, layers: specification, outputLoss: loss)
  }

  /// What a run produced.
  struct Outcome: Sendable {
    var reports: [EpochReport]
    var trainAccuracy: Double?
    var testAccuracy: Double?
    var testLoss: Double?
    var parameterCount: Int
    var parameters: [Double]
    /// The noise multiplier used (given or calibrated), with differential privacy.
    var noiseMultiplier: Double?
    /// The epoch whose parameters were kept when early stopping ended the run.
    var bestEpoch: Int?
  }

  /// Where a run's output goes.
  struct Output {
    /// One line per epoch and the run's notes.
    var line: (String) -> Void = { _ in }
    /// Progress within epochs.
    var progress: (@Sendable (StepProgress) -> Void)?
    /// A file to save the model, standardiser, optimiser state and recipe to.
    var savePath: String?
    /// A training-history CSV, rewritten after every epoch.
    var historyPath: String?
    /// An SVG plot of the loss and accuracy per epoch, written at the end.
    var plotPath: String?
    /// The plot's title.
    var title = "training"
    /// The ranks to train on together (`--mpi`), or `nil`.
    var collective: (any ReductionCollective)?
    /// Called once everything has been checked, as the first epoch starts: an error after it is
    /// the run's failure, not a mistake in its options.
    var trainingStarts: () -> Void = {}
  }

  /// Trains on `data` in precision `Scalar`: from scratch, or from `resume` (a file saved by an
  /// earlier run, whose recipe this is), for ``resolvedEpochs`` epochs (more, when resuming).
  func run<Scalar: BLASScalar>(
    _ data: LoadedData<Scalar>, resume: String? = nil, output: Output = Output()
  ) throws -> Outcome {
    let regularization: Regularization<Scalar> = l2Penalty > 0 ? .l2(Scalar(l2Penalty)) : .none
    switch optimizer {
    case .sgd:
      return try run(
        data, try StochasticGradientDescent<Scalar>(regularization: regularization), resume, output)
    case .momentum, .nesterov:
      let momentum = try MomentumSGD<Scalar>(
        momentum: 0.9, nesterov: optimizer == .nesterov, regularization: regularization)
      return try run(data, momentum, resume, output)
    case .adam:
      return try run(data, try Adam<Scalar>(regularization: regularization), resume, output)
    }
  }

  func run<Scalar: BLASScalar, Opt: Optimizer & Codable>(
    _ data: LoadedData<Scalar>, _ freshOptimizer: Opt, _ resume: String?, _ output: Output
  ) throws -> Outcome where Opt.Scalar == Scalar {
    let targetCount = data.targetCount
    let (inputs, task, classes) = (data.featureCount, data.task, data.classCount)
    if model == .layers {
      let network = try sequential(
        Scalar.self, inputs: inputs, task: task, classCount: classes, targetCount: targetCount)
      return try run(data, network, freshOptimizer, resume, output)
    }
    let network = try network(
      Scalar.self, inputs: inputs, task: task, classCount: classes, targetCount: targetCount)
    return try run(data, network, freshOptimizer, resume, output)
  }

  func run<Scalar: BLASScalar, Opt: Optimizer & Codable, Model: PerExampleGradientModel & Codable>(
    _ data: LoadedData<Scalar>, _ freshModel: Model, _ freshOptimizer: Opt, _ resume: String?,
    _ output: Output
  ) throws -> Outcome where Opt.Scalar == Scalar, Model.Scalar == Scalar {
    var model = freshModel
    var parameters = model.initialParameters(seed: seed)
    var optimizer = freshOptimizer
    var firstEpoch = 0
    var privacyHistory: [PrivacyPhase] = []
    if let resume {
      let read = { try SavedModelRun<Scalar, Opt, Model>.read(from: resume) }
      let saved = try collectively(output.collective, read)
      (model, parameters, optimizer) = (
        saved.checkpoint.model, saved.checkpoint.parameters, saved.checkpoint.optimizer
      )
      firstEpoch = saved.checkpoint.nextEpoch
      privacyHistory = saved.privacyHistory ?? []
      try collectively(output.collective) {
        try data.train.forEachPiece(maximumCount: 4096) { (_, piece) throws(MinibatchError) in
          try model.validate(parameters: parameters, batch: piece)
        }
      }
      if self.privacy != nil, saved.trainingExampleCount != data.train.exampleCount {
        throw MinibatchError.invalidArgument(
          name: "training examples", value: "\(data.train.exampleCount)",
          expected: "\(saved.trainingExampleCount), as saved: DP-SGD's sampling rate and ε "
            + "depend on the data set's size")
      }
    }
    let sampler: BatchSampler
    var privacy: DifferentialPrivacy?
    var recipe = self
    if var options = self.privacy {
      // q = k/N ≥ 1 would sample every example every step: no amplification by sampling, and
      // not the run the accountant's ε describes.
      guard batchSize < data.train.exampleCount else {
        throw MinibatchError.invalidArgument(
          name: "--batch-size", value: "\(batchSize)",
          expected:
            "fewer than the \(data.train.exampleCount) training examples: with DP-SGD it is "
            + "the expected batch of Poisson sampling, and its rate q = k/N must be below 1")
      }
      let rate = Double(batchSize) / Double(data.train.exampleCount)
      sampler = try BatchSampler(
        exampleCount: data.train.exampleCount, poissonRate: rate, seed: seed)
      if options.noiseMultiplier == nil, let target = options.targetEpsilon {
        options.noiseMultiplier = try options.resolvedAccountant.noiseMultiplier(
          targetEpsilon: target, samplingRate: rate,
          steps: max(1, resolvedEpochs * sampler.batchesPerEpoch), delta: options.delta)
      }
      if resume != nil, let target = options.targetEpsilon, let sigma = options.noiseMultiplier {
        try Self.checkPrivacyBudget(
          spent: privacyHistory,
          epochPhase: PrivacyPhase(
            noiseMultiplier: sigma, samplingRate: rate, steps: sampler.batchesPerEpoch),
          epochs: additionalEpochs ?? 0, target: target, options: options)
      }
      let clipping: GradientClipping =
        try options.perLayer
        ? .perBlock(totalBound: options.clipNorm, blockCount: model.parameterBlocks.count)
        : .flat(bound: options.clipNorm)
      privacy = try DifferentialPrivacy(
        clipping: clipping, noiseMultiplier: options.noiseMultiplier ?? 0, delta: options.delta,
        noiseSeed: options.noiseSeed, accountant: options.resolvedAccountant)
      recipe.privacy = options
    } else {
      sampler = try BatchSampler(
        exampleCount: data.train.exampleCount, batchSize: batchSize, seed: seed)
    }
    var trainer = MinibatchTrainer(
      model: model, optimizer: optimizer, sampler: sampler, schedule: schedule,
      normalization: privacy == nil ? .datasetWeightTotal : .expectedBatchSize,
      parallelism: .threads(threads), privacy: privacy, collective: output.collective)
    trainer.onStep = output.progress
    if privacy != nil { trainer.privacyHistory = privacyHistory }
    if statistics { trainer.noiseScaleDecay = 0.99 }
    let history = TrainingHistory(task: data.task)
    // One epoch per call, so that the optimiser's state can be kept with the best epoch's
    // parameters when early stopping ends the run (the shuffles, rates and noise depend only on
    // the epoch number: the same bits as one call for all epochs).
    var best: (loss: Double, epoch: Int, parameters: [Scalar], optimizer: Opt)?
    var stoppedEarly = false
    let epochsToRun = resume == nil ? resolvedEpochs : (additionalEpochs ?? 0)
    output.trainingStarts()
    for epoch in firstEpoch..<(firstEpoch + epochsToRun) {
      var latest: EpochReport?
      try trainer.train(
        parameters: &parameters, data: data.train, epochs: 1, evaluation: data.test,
        firstEpoch: epoch
      ) { report, current in
        let trainAccuracy =
          data.task == .classification
          ? try trainingAccuracy(
            model: model, parameters: current, data: data, collective: output.collective) : nil
        history.append(report, trainAccuracy: trainAccuracy)
        output.line(history.line(for: report, trainAccuracy: trainAccuracy))
        if let path = output.historyPath { try history.writeCSV(to: path) }
        latest = report
      }
      if let patience = earlyStoppingPatience, let loss = latest?.evaluationLoss {
        if best == nil || loss < best!.loss {
          best = (loss, epoch, parameters, trainer.optimizer)
        }
        if epoch - best!.epoch >= patience {
          stoppedEarly = true
          break
        }
      }
    }
    var nextEpoch = firstEpoch + history.reports.count
    var finalOptimizer = trainer.optimizer
    if stoppedEarly, let best {
      (parameters, finalOptimizer, nextEpoch) = (best.parameters, best.optimizer, best.epoch + 1)
      output.line(
        "early stopping: no lower evaluation loss for \(earlyStoppingPatience!) epochs; "
          + "keeping epoch \(best.epoch + 1)")
    }
    // Rank 0 writes (the other ranks' paths are nil); every rank agrees on the outcome, so a
    // failed write cannot leave the others waiting in the next model's collective calls.
    try collectively(output.collective) {
      if let path = output.plotPath { try history.writeSVG(to: path, title: output.title) }
    }
    try collectively(output.collective) {
      guard let path = output.savePath else { return }
      let saved = SavedModelRun(
        precision: "\(Scalar.self)".lowercased(), recipe: recipe, task: data.task,
        classCount: data.classCount, trainingExampleCount: data.train.exampleCount,
        data: data.record,
        checkpoint: TrainingCheckpoint(
          model: model, parameters: parameters, optimizer: finalOptimizer,
          nextEpoch: nextEpoch, standardizer: data.standardizer),
        privacyHistory: privacy == nil ? nil : trainer.privacyHistory)
      try saved.write(to: path)
      let trainOption = data.record?.train.map { " --train \($0)" } ?? ""
      output.line("saved to \(path) (resume with --load \(path)\(trainOption) --epochs N)")
    }
    if statistics {
      // Whole-training-set statistics, printed by rank 0 alone: only it computes them, unless
      // the ranks hold shards (then each computes its own, and they are merged).
      if data.isSharded, let collective = output.collective {
        let local = try collectively(collective) {
          try localStatistics(model: model, parameters: parameters, data: data.train)
        }
        var moments = try local.moments ?? .empty(parameterCount: model.parameterCount)
        try moments.allreduce(over: collective)
        let norms = try collective.gather(
          local.norms.flatMap { [UInt64($0.index), $0.norm.bitPattern] }.flatMap { word in
            withUnsafeBytes(of: word.littleEndian, Array.init)
          }
        ).flatMap { Self.decodedNorms($0) }
        if collective.rank == 0 {
          for line in try statisticsLines(
            moments: moments, norms: norms, count: data.train.exampleCount)
          {
            output.line(line)
          }
        }
      } else {
        try collectively(output.collective) {
          guard (output.collective?.rank ?? 0) == 0 else { return }
          let local = try localStatistics(model: model, parameters: parameters, data: data.train)
          guard let moments = local.moments else { return }
          for line in try statisticsLines(
            moments: moments, norms: local.norms, count: data.train.exampleCount)
          {
            output.line(line)
          }
        }
      }
    }
    let classification = data.task == .classification
    return Outcome(
      reports: history.reports,
      trainAccuracy: classification
        ? try trainingAccuracy(
          model: model, parameters: parameters, data: data, collective: output.collective) : nil,
      testAccuracy: try data.test.flatMap {
        classification ? try model.accuracy(parameters: parameters, batch: $0) : nil
      },
      testLoss: try data.test.map { Double(try model.meanLoss(parameters: parameters, batch: $0)) },
      parameterCount: model.parameterCount, parameters: parameters.map { Double($0) },
      noiseMultiplier: privacy?.noiseMultiplier, bestEpoch: stoppedEarly ? best?.epoch : nil)
  }
}

extension Recipe {
  /// The fraction of the training examples the model classifies correctly, a piece at a time
  /// (one piece in memory: the bits of `accuracy(parameters:batch:)`); with shards, the correct
  /// examples of every rank summed.
  func trainingAccuracy<Scalar: BLASScalar>(
    model: some PerExampleGradientModel<Scalar>, parameters: [Scalar], data: LoadedData<Scalar>,
    collective: (any ReductionCollective)?
  ) throws -> Double {
    var correct = 0.0
    let count = { () throws -> Void in
      try data.train.forEachPiece(maximumCount: 4096) { (_, piece) throws(MinibatchError) in
        let fraction = try model.accuracy(parameters: parameters, batch: piece)
        correct += (fraction * Double(piece.count)).rounded()
      }
    }
    if data.isSharded, let collective {
      try collectively(collective, count)
      var total = [correct]
      try collective.sum(&total)
      correct = total[0]
    } else {
      try count()
    }
    return correct / Double(data.train.exampleCount)
  }

  /// At the final parameters, over the held training examples in chunks of 1,024 (moments
  /// merged): the moments of the per-example gradients and the 5 largest gradient norms with
  /// their examples (`nil` moments when none are held).
  func localStatistics<Scalar: BLASScalar>(
    model: some PerExampleGradientModel<Scalar>, parameters: [Scalar],
    data: any ExampleSource<Scalar>
  ) throws -> (moments: GradientMoments?, norms: [(index: Int, norm: Double)]) {
    var moments: GradientMoments?
    var norms: [(index: Int, norm: Double)] = []
    let held = data.heldExamples
    for start in stride(from: held.lowerBound, to: held.upperBound, by: 1024) {
      let rows = start..<min(held.upperBound, start + 1024)
      let (J, losses) = try model.perExampleGradients(
        parameters: parameters, batch: try data.gathering(rows))
      let part = try J.moments()
      if moments == nil { moments = part } else { try moments!.merge(part) }
      let diagnostics = try PerExampleDiagnostics(
        gradients: J, losses: losses, largest: min(5, rows.count))
      norms += diagnostics.largestGradientNorms.map { (start + $0, diagnostics.gradientNorms[$0]) }
    }
    return (moments, Array(norms.sorted { $0.norm > $1.norm }.prefix(5)))
  }

  /// A rank's gathered norms: pairs of little-endian 64-bit words (index, norm's bits).
  static func decodedNorms(_ bytes: [UInt8]) -> [(index: Int, norm: Double)] {
    let words = stride(from: 0, to: bytes.count - 7, by: 8).map { offset in
      bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
    return stride(from: 0, to: words.count - 1, by: 2).map {
      (Int(words[$0]), Double(bitPattern: words[$0 + 1]))
    }
  }

  /// The trace of the per-example gradients' covariance, the variance of the mean of a batch,
  /// the noise scale, and the examples with the largest gradients, over `count` examples.
  func statisticsLines(
    moments: GradientMoments, norms: [(index: Int, norm: Double)], count: Int
  ) throws -> [String] {
    guard count >= 2 else { return [] }
    let varianceOfMean = try moments.varianceOfMean(batchSize: batchSize)
    let trace = moments.traceOfCovariance
    let gradientNorm = moments.mean.reduce(0) { $0 + $1 * $1 }
    let largest = norms.sorted { $0.norm > $1.norm }.prefix(5)
    return [
      String(
        format: "statistics at the final parameters (%d training examples): tr(Σ) = %.4g, "
          + "variance of a batch mean tr(Σ)/k = %.4g at k = %d, |G|² = %.4g, "
          + "B_simple = tr(Σ)/|G|² = %.4g", count, trace,
        varianceOfMean, batchSize, gradientNorm,
        trace / gradientNorm),
      "largest per-example gradients (row: norm): "
        + largest.map { String(format: "%d: %.3g", $0.index + 1, $0.norm) }.joined(
          separator: ", "),
    ]
  }
}

/// The program's save file of an MLP or a regression model (the form every earlier version wrote).
typealias SavedRun<Scalar: BLASScalar, Opt: Optimizer & Codable> = SavedModelRun<
  Scalar, Opt, MultilayerPerceptron<Scalar>
> where Opt.Scalar == Scalar

/// The program's save file: the recipe, the data's task and standardiser, and a
/// ``TrainingCheckpoint`` (model, parameters, optimiser state, next epoch), as JSON.
struct SavedModelRun<
  Scalar: BLASScalar, Opt: Optimizer & Codable, Model: PerExampleGradientModel & Codable
>: Codable
where Opt.Scalar == Scalar, Model.Scalar == Scalar {
  var format = SavedRunHeader.currentFormat
  var precision: String
  var recipe: Recipe
  var task: Task
  var classCount: Int?
  /// `N`, the training examples: DP-SGD's sampling rate `q = batch/N` and its `ε` depend on it.
  var trainingExampleCount: Int
  /// How the data was read (`nil` in files written before it was recorded).
  var data: DataRecord?
  /// The standardiser of files written before ``TrainingCheckpoint`` held it (read, not written).
  var standardizer: Standardizer<Scalar>? = nil
  var checkpoint: TrainingCheckpoint<Model, Opt>
  /// With DP-SGD: the privacy spent, phase by phase (``MinibatchTrainer/privacyHistory``); `nil`
  /// without DP-SGD and in files written before it was kept (a resume then takes the saved
  /// epochs to have run at the saved settings).
  var privacyHistory: [PrivacyPhase]? = nil

  /// The standardiser the training data was transformed with.
  var savedStandardizer: Standardizer<Scalar>? { checkpoint.standardizer ?? standardizer }

  /// Checks the checkpoint (``TrainingCheckpoint/validate()``), then writes the file atomically.
  func write(to path: String) throws {
    try checkpoint.validate()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try OutputFiles.write(try encoder.encode(self), to: path)
  }

  static func read(from path: String) throws -> SavedModelRun {
    let data = try SavedRunHeader.contents(of: path)
    let saved: SavedModelRun
    do {
      saved = try JSONDecoder().decode(SavedModelRun.self, from: data)
    } catch {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "not a minibatch-train save file: \(error)")
    }
    let checkpoint = saved.checkpoint
    guard checkpoint.parameters.count == checkpoint.model.parameterCount,
      checkpoint.parameters.allSatisfy(\.isFinite)
    else {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "its parameters do not suit its model (count or non-finite values)")
    }
    return saved
  }
}

/// The fields every save file starts with, read before the precision-specific rest.
struct SavedRunHeader: Codable {
  static let currentFormat = "minibatch-train/1"
  var format: String
  var precision: String
  var recipe: Recipe
  var task: Task
  var classCount: Int?
  /// How the data was read (`nil` in files written before it was recorded).
  var data: DataRecord?

  static func contents(of path: String) throws -> Data {
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "it is a folder, not a file written by --save")
    }
    do {
      return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw MinibatchError.fileUnreadable(path: path, reason: error.localizedDescription)
    }
  }

  static func read(from path: String) throws -> SavedRunHeader {
    let header: SavedRunHeader
    do {
      header = try JSONDecoder().decode(SavedRunHeader.self, from: try contents(of: path))
    } catch let error as MinibatchError {
      throw error
    } catch {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "not a minibatch-train save file: \(error)")
    }
    guard header.format == currentFormat else {
      throw MinibatchError.fileUnreadable(
        path: path, reason: "format \(header.format); this program reads \(currentFormat)")
    }
    guard ["float", "double"].contains(header.precision) else {
      throw MinibatchError.fileUnreadable(
        path: path,
        reason: "precision \"\(header.precision)\"; this program trains in float or double")
    }
    do {
      try header.recipe.validate()
    } catch {
      throw MinibatchError.fileUnreadable(path: path, reason: "its recipe is invalid: \(error)")
    }
    return header
  }
}

/// Local work that can fail on some ranks only (reading or writing a file): with `--mpi` every
/// rank agrees on its outcome, and on `fields`, before the next collective call, so that none is
/// left waiting (``ReductionCollective/agreeing(on:_:)``); alone, just `body`.
@discardableResult
func collectively<T>(
  _ collective: (any ReductionCollective)?, agreeingOn fields: [(name: String, value: String)] = [],
  _ body: () throws -> T
) throws -> T {
  guard let collective else { return try body() }
  return try collective.agreeing(on: fields, body)
}
