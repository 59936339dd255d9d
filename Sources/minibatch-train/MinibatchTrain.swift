#if CommandLineTools
  import ArgumentParser
  import Foundation
  // `OpenBLASInfo.setThreadCount` for --threads: process-wide state, not library API.
  @_spi(Benchmark) import Minibatch
  import MinibatchMPI

  extension ModelKind: ExpressibleByArgument {}
  extension OptimizerKind: ExpressibleByArgument {}
  extension Activation: ExpressibleByArgument {}
  extension Task: ExpressibleByArgument {}
  extension PrivacyAccountantKind: ExpressibleByArgument {}

  /// `swift run -c release minibatch-train`: mini-batch training on the bundled digits or on the
  /// user's own CSV, `.npy` or IDX files.
  @main
  struct MinibatchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "minibatch-train",
      abstract: "Train softmax, logistic or linear regression or an MLP with mini-batch SGD.",
      discussion: """
        Without --train: the bundled UCI digits (softmax regression, then an MLP, unless --model \
        says which). With --train FILE: your data. A CSV (or a 2-D .npy array) holds the features \
        and the target in its last column unless --target says which (a 0-based index, or a \
        header name); .npy or IDX inputs take their targets from --train-labels. The task is \
        classification when every training target is a whole number in 0..<1000, regression \
        otherwise (--task overrides); the classes are the training labels' (at most 10,000), and \
        a test label outside them is an error. Features are standardised with the training \
        set's means and deviations. Prints one line per epoch (and progress within long \
        epochs). --save, --history and --plot are checked before training and written \
        atomically; --load FILE --train DATA reads DATA as the saved run read its data.
        """)

    enum Precision: String, ExpressibleByArgument, CaseIterable {
      case float
      case double
    }

    enum Header: String, ExpressibleByArgument, CaseIterable {
      case auto
      case yes
      case no
    }

    // MARK: Data

    @Option(help: "Training data: a CSV or .npy table, or .npy / IDX inputs with --train-labels.")
    var train: String?

    @Option(name: .customLong("train-labels"), help: "Targets of .npy or IDX training inputs.")
    var trainLabels: String?

    @Option(help: "Test data, in the format of --train (evaluated after every epoch).")
    var test: String?

    @Option(name: .customLong("test-labels"), help: "Targets of .npy or IDX test inputs.")
    var testLabels: String?

    @Option(help: "The target column: a 0-based index or a header name (default: the last).")
    var target: String?

    @Option(help: "classification or regression (default: decided from the training targets).")
    var task: Task?

    @Option(help: "The CSV delimiter: one character, or 'tab' (default: ',').")
    var delimiter: String?

    @Option(help: "Whether the CSV's first line is a header: auto, yes or no (default: auto).")
    var header: Header?

    @Flag(name: .customLong("no-standardize"), help: "Train on the features as they are.")
    var noStandardize = false

    // MARK: Model and training

    @Option(
      help: """
        softmax, mlp, linear or logistic (default: softmax then mlp on the digits; softmax or \
        linear by task on your data).
        """)
    var model: ModelKind?

    @Option(
      name: .customLong("batch-size"), parsing: .unconditional,
      help: "Examples per mini-batch, k (expected k with DP).")
    var batchSize: Int?

    @Option(
      name: .customLong("learning-rate"), parsing: .unconditional,
      help: "Initial learning rate (default: 0.05 single layer / 0.02 MLP with momentum).")
    var learningRate: Double?

    @Option(
      parsing: .unconditional,
      help: "Epochs (default: 20 single layer / 30 MLP); with --load, epochs to add.")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Seed for initialisation and sampling.")
    var seed: UInt64?

    @Option(help: "Scalar type: float or double (default: float, or the saved one with --load).")
    var precision: Precision?

    @Option(help: "Optimiser: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var optimizer: OptimizerKind?

    @Option(help: "Hidden layer widths of the MLP, comma-separated (default: 64).")
    var hidden: String?

    @Option(help: "Hidden activation of the MLP: relu, tanh or identity (default: relu).")
    var activation: Activation?

    @Option(
      name: .customLong("input-shape"),
      help: """
        With --layers: one example's shape, channels first: 40, 1,40 or 1,8,8 (default: the \
        data's features, flat).
        """)
    var inputShape: String?

    @Option(
      help: """
        A network of layers separated by spaces, e.g. 'conv2d(16,3,padding=1) relu \
        maxpool2d(2) flatten dense(10)': conv1d|conv2d(filters,kernel,stride=1,padding=0), \
        maxpool1d|maxpool2d|avgpool1d|avgpool2d(kernel,stride=kernel), flatten, dense(units), \
        relu, leakyrelu, tanh, sigmoid, gelu, layernorm, groupnorm(groups), \
        embedding(vocabulary,dimension), meanpool. The last layer is as wide as the classes \
        (or 1).
        """)
    var layers: String?

    @Option(
      parsing: .unconditional,
      help: "L2 penalty λ on the parameters, applied by the optimiser (default: 1e-4).")
    var l2: Double?

    @Flag(help: "Constant learning rate instead of the cosine schedule.")
    var constantRate = false

    @Option(
      parsing: .unconditional,
      help: "Threads for the package's kernels and for OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(
      name: .customLong("early-stopping"), parsing: .unconditional,
      help: "Stop after this many epochs without a lower test loss; keep the best parameters.")
    var earlyStopping: Int?

    @Flag(

      help: "Report the gradient noise scale every epoch and gradient statistics at the end.")

    var statistics = false

    // MARK: Saving and output

    @Option(help: "Save the model, optimiser state, standardiser and recipe to this JSON file.")
    var save: String?

    @Option(help: "Resume from a file written by --save (with --epochs N to train N more).")
    var load: String?

    @Option(help: "Write the per-epoch history to this CSV file.")
    var history: String?

    @Option(help: "Plot the loss and accuracy per epoch to this SVG file.")
    var plot: String?

    // MARK: Differential privacy

    @Option(
      name: .customLong("dp-clip-norm"), parsing: .unconditional,
      help: "DP-SGD: clip each example's gradient to this norm C (turns on Poisson sampling).")
    var dpClipNorm: Double?

    @Option(
      name: .customLong("dp-noise-multiplier"), parsing: .unconditional,
      help: "DP-SGD: the noise multiplier σ.")
    var dpNoiseMultiplier: Double?

    @Option(
      name: .customLong("dp-epsilon"), parsing: .unconditional,
      help: "DP-SGD: calibrate σ to reach this ε after the planned epochs.")
    var dpEpsilon: Double?

    @Option(
      name: .customLong("dp-delta"), parsing: .unconditional, help: "DP-SGD: δ (default: 1e-5).")
    var dpDelta: Double?

    @Option(
      help: """
        DP-SGD: the accountant that reports ε (rounded up) and calibrates σ for --dp-epsilon: \
        pld (privacy loss distribution, tight; the default) or rdp (Rényi DP, looser).
        """)
    var accountant: PrivacyAccountantKind?

    @Flag(
      name: .customLong("dp-per-layer"),
      help: "DP-SGD: clip every parameter tensor to C/√tensors (total bound C).")
    var dpPerLayer = false

    @Flag(
      help: """
        Train data parallel on the ranks of 'mpirun -np N minibatch-train --mpi …': every rank \
        reads the data (or, with --shard, its rows of .npy inputs), computes its slice of each \
        batch, and one allreduce per step sums the raw gradient state; only rank 0 prints and \
        writes files. Default --threads: the cores shared by the ranks on each machine.
        """)
    var mpi = false

    @Flag(
      help: """
        With --mpi and .npy --train inputs with --train-labels: each rank maps only its \
        contiguous share of the training rows (rank r of P: rows ⌊N·r/P⌋..<⌊N·(r+1)/P⌋) and \
        computes the part of every global batch that it holds; the results equal the unsharded \
        run to rounding.
        """)
    var shard = false

    @Option(
      name: .customLong("dp-noise-seed"), parsing: .unconditional,
      help: "DP-SGD: seed the noise (reproducible, not private); default: the OS's CSPRNG.")
    var dpNoiseSeed: UInt64?

    // MARK: - Validation

    func validate() throws {
      try validateData()
      try validateShard()
      try validateTraining()
      try validatePrivacy()
      if load != nil {
        let stored: [(String, Bool)] = [
          ("--model", model != nil), ("--hidden", hidden != nil), ("--layers", layers != nil),
          ("--input-shape", inputShape != nil),
          ("--activation", activation != nil),
          ("--optimizer", optimizer != nil), ("--l2", l2 != nil),
          ("--batch-size", batchSize != nil),
          ("--seed", seed != nil), ("--learning-rate", learningRate != nil),
          ("--constant-rate", constantRate), ("--early-stopping", earlyStopping != nil),
          ("--dp-clip-norm", dpClipNorm != nil),
          ("--dp-noise-multiplier", dpNoiseMultiplier != nil), ("--dp-epsilon", dpEpsilon != nil),
          ("--dp-delta", dpDelta != nil), ("--dp-per-layer", dpPerLayer),
          ("--accountant", accountant != nil),
          ("--dp-noise-seed", dpNoiseSeed != nil), ("--task", task != nil),
          ("--no-standardize", noStandardize),
        ]
        if let (name, _) = stored.first(where: \.1) {
          throw ValidationError("\(name) is stored in the file given to --load; leave it out")
        }
      }
      if train == nil, load == nil, model == nil, layers == nil,
        save != nil || history != nil || plot != nil
      {
        throw ValidationError(
          "--save, --history and --plot need one model: add --model softmax or --model mlp")
      }
      try checkOutputFiles()
    }

    /// `--save`, `--history` and `--plot` can be written, and none replaces an input (`--save`
    /// may replace the file of `--load`: the run continues in place). Checked now, so that a run
    /// never fails at its end for a reason it could have given at its start.
    func checkOutputFiles() throws {
      let outputs = [("--save", save), ("--history", history), ("--plot", plot)]
        .compactMap { name, path in path.map { (option: name, path: $0) } }
      guard !outputs.isEmpty else { return }
      let inputs = [
        ("--train", train), ("--train-labels", trainLabels), ("--test", test),
        ("--test-labels", testLabels), ("--load", load),
      ].compactMap { name, path in path.map { (option: name, path: $0) } }
      do {
        try OutputFiles.check(
          outputs: outputs, inputs: inputs, mayReplace: [(output: "--save", input: "--load")])
      } catch {
        throw ValidationError("\(error)")
      }
    }

    func validateData() throws {
      if train == nil {
        for (name, value) in [
          ("--train-labels", trainLabels), ("--test", test), ("--target", target),
        ] where value != nil {
          throw ValidationError("\(name) needs --train (without it the program uses the digits)")
        }
        if task == .regression { throw ValidationError("the digits are a classification task") }
        for (name, given) in [("--delimiter", delimiter != nil), ("--header", header != nil)]
        where given {
          throw ValidationError("\(name) describes a CSV given to --train; the digits are built in")
        }
      } else if let train {
        if trainLabels != nil, target != nil {
          throw ValidationError(
            "--target names a column of a table; with --train-labels the targets are that file")
        }
        if DataFormat(path: train) != .csv, delimiter != nil || header != nil {
          throw ValidationError(
            "--delimiter and --header describe a CSV; \(train) is read as "
              + (DataFormat(path: train) == .npy ? ".npy" : "IDX"))
        }
      }
      if testLabels != nil, test == nil { throw ValidationError("--test-labels needs --test") }
      if (trainLabels == nil) != (testLabels == nil), test != nil {
        throw ValidationError("give --train-labels and --test-labels together (or neither)")
      }
      _ = try delimiterCharacter()
    }

    /// `--shard` splits memory-mapped training inputs between MPI ranks: only with `--mpi` and
    /// `.npy` inputs with `--train-labels`.
    func validateShard() throws {
      guard shard else { return }
      guard mpi else {
        throw ValidationError(
          "--shard splits the training rows between the ranks of an MPI run: add --mpi (and "
            + "start the program with mpirun)")
      }
      guard let train, trainLabels != nil, DataFormat(path: train) == .npy else {
        throw ValidationError(
          "--shard maps each rank's rows of .npy training inputs with --train-labels; "
            + (train.map { "\($0) is read whole" + (trainLabels == nil ? " (a table)" : "") }
              ?? "the bundled digits are read whole"))
      }
    }

    /// With `--shard`: this rank's place among the collective's.
    func shardPlace(_ collective: MPICommunicator?) -> (rank: Int, count: Int)? {
      guard shard, let collective else { return nil }
      return (collective.rank, collective.size)
    }

    func delimiterCharacter() throws -> Character {
      let delimiter = self.delimiter ?? ","
      let text = delimiter == "tab" || delimiter == "\\t" ? "\t" : delimiter
      guard text.count == 1, let character = text.first, character.isASCII else {
        throw ValidationError(
          "--delimiter must be one ASCII character or 'tab' (got \"\(delimiter)\")")
      }
      return character
    }

    func validateTraining() throws {
      if let model, model != .mlp, hidden != nil || activation != nil {
        throw ValidationError("--hidden and --activation apply to --model mlp only")
      }
      if model == nil, layers == nil, train != nil, hidden != nil || activation != nil {
        throw ValidationError(
          "--hidden and --activation apply to --model mlp; on your data the model is softmax or "
            + "linear regression unless --model says otherwise: add --model mlp")
      }
      try validateLayers()
      if precision != .double, let learningRate, !Float(learningRate).isFinite {
        throw ValidationError("--learning-rate \(learningRate) is beyond Float's range")
      }
      if let batchSize, batchSize < 1 {
        throw ValidationError("--batch-size must be ≥ 1 (got \(batchSize))")
      }
      if let epochs, epochs < 0 { throw ValidationError("--epochs must be ≥ 0 (got \(epochs))") }
      if let learningRate, !(learningRate.isFinite && learningRate >= 0) {
        throw ValidationError("--learning-rate must be finite and ≥ 0 (got \(learningRate))")
      }
      if let l2, !(l2.isFinite && l2 >= 0) {
        throw ValidationError("--l2 must be finite and ≥ 0 (got \(l2))")
      }
      if let threads, threads < 1 {
        throw ValidationError("--threads must be ≥ 1 (got \(threads))")
      }
      if let earlyStopping {
        guard earlyStopping >= 1 else {
          throw ValidationError("--early-stopping must be ≥ 1 epochs (got \(earlyStopping))")
        }
        if train != nil, test == nil {
          throw ValidationError("--early-stopping watches the test loss: add --test")
        }
      }
      let widths = try hiddenLayers()
      if train == nil { try checkMemory(widths: widths) }
    }

    /// On the digits, the largest pass evaluates all 1,437 training examples at once: its
    /// activations and backpropagated errors, plus the parameters and an optimiser's state (up to
    /// 3 copies). Beyond the machine's memory: a usage error, not a crash in the allocator.
    func checkMemory(widths: [Int]) throws {
      let sizes = [Digits.featureCount] + widths + [Digits.classCount]
      let (parameters, overflow) = zip(sizes, sizes.dropFirst()).reduce((0, false)) { total, pair in
        let (size, o1) = (pair.0 + 1).multipliedReportingOverflow(by: pair.1)
        let (sum, o2) = total.0.addingReportingOverflow(size)
        return (sum, total.1 || o1 || o2)
      }
      let scalarBytes = precision == .double ? 8 : 4
      let activations = widths.reduce(0.0) { $0 + Double($1) } * 1_437 * 2
      let needed = Double(scalarBytes) * (4 * Double(parameters) + activations)
      let available = Double(ProcessInfo.processInfo.physicalMemory)
      if overflow || needed > available {
        throw ValidationError(
          "--hidden \(hidden ?? "64") needs about "
            + String(format: "%.1f GB", needed / 1e9) + " of memory; this machine has "
            + String(format: "%.1f GB", available / 1e9))
      }
    }

    func validatePrivacy() throws {
      guard let clip = dpClipNorm else {
        let given = [
          ("--dp-noise-multiplier", dpNoiseMultiplier != nil), ("--dp-epsilon", dpEpsilon != nil),
          ("--dp-delta", dpDelta != nil), ("--dp-per-layer", dpPerLayer),
          ("--accountant", accountant != nil),
          ("--dp-noise-seed", dpNoiseSeed != nil),
        ]
        if let (name, _) = given.first(where: \.1), load == nil {
          throw ValidationError("\(name) needs --dp-clip-norm")
        }
        return
      }
      if statistics {
        throw ValidationError("--statistics describes the unclipped gradients: not with DP-SGD")
      }
      if earlyStopping != nil {
        throw ValidationError(
          "--early-stopping with DP-SGD would keep an earlier epoch while ε counts every epoch "
            + "trained; leave one out")
      }
      guard clip > 0, !clip.isNaN else {
        throw ValidationError("--dp-clip-norm must be > 0 (got \(clip))")
      }
      switch (dpNoiseMultiplier, dpEpsilon) {
      case (nil, nil):
        throw ValidationError("--dp-clip-norm needs --dp-noise-multiplier or --dp-epsilon")
      case (.some, .some):
        throw ValidationError("give --dp-noise-multiplier or --dp-epsilon, not both")
      case (.some(let sigma), nil):
        guard sigma.isFinite, sigma >= 0 else {
          throw ValidationError("--dp-noise-multiplier must be finite and ≥ 0 (got \(sigma))")
        }
      case (nil, .some(let epsilon)):
        guard epsilon.isFinite, epsilon > 0 else {
          throw ValidationError("--dp-epsilon must be finite and > 0 (got \(epsilon))")
        }
      }
      if let dpDelta, !(dpDelta > 0 && dpDelta < 1) {
        throw ValidationError("--dp-delta must be in (0, 1) (got \(dpDelta))")
      }
    }

    /// `--layers` and `--input-shape`: each token of the spec checked now, before any data is
    /// read (the shapes are checked against the data once it is loaded, before training).
    func validateLayers() throws {
      guard let layers else {
        if inputShape != nil { throw ValidationError("--input-shape needs --layers") }
        if model == .layers { throw ValidationError("--model layers needs --layers") }
        return
      }
      if let model {
        throw ValidationError(
          "--layers describes the whole network: leave out --model (got --model \(model))")
      }
      if hidden != nil || activation != nil {
        throw ValidationError(
          "--hidden and --activation are for --model mlp; with --layers write the layers out")
      }
      let specification: [LayerSpecification]
      do {
        specification = try LayerSpecification.parse(layers)
      } catch {
        throw ValidationError("--layers: \(error)")
      }
      let shape = try inputShapeDimensions()
      if case .embedding = specification[0], !noStandardize {
        throw ValidationError(
          "--layers starts with an embedding, which reads token ids: add --no-standardize")
      }
      if let shape {
        do {
          _ = try TensorShape(shape)
        } catch {
          throw ValidationError("--input-shape: \(error)")
        }
      }
      if train == nil {
        // The digits: 64 features, 10 classes; check the whole network now.
        let digits = shape ?? [Digits.featureCount]
        guard digits.reduce(1, *) == Digits.featureCount else {
          throw ValidationError(
            "--input-shape \(inputShape ?? "") has \(digits.reduce(1, *)) values; the digits have "
              + "\(Digits.featureCount) (e.g. 1,8,8 or 64)")
        }
        var recipe = Recipe(model: .layers)
        recipe.inputShape = shape
        recipe.layers = layers
        do {
          _ = try recipe.sequential(
            Float.self, inputs: Digits.featureCount, task: .classification,
            classCount: Digits.classCount, targetCount: 1)
        } catch {
          throw ValidationError("--layers: \(error)")
        }
      }
    }

    /// `--input-shape` as integers, or `nil`.
    func inputShapeDimensions() throws -> [Int]? {
      guard let inputShape else { return nil }
      let parts = inputShape.split(separator: ",", omittingEmptySubsequences: false).map {
        Int($0.trimmingCharacters(in: .whitespaces))
      }
      guard (1...3).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw ValidationError(
          "--input-shape must be 1 to 3 positive sizes separated by commas, channels first "
            + "(40, 1,40 or 1,8,8; got \"\(inputShape)\")")
      }
      return parts.map { $0! }
    }

    func hiddenLayers() throws -> [Int] {
      let text = hidden ?? "64"
      let widths = text.split(separator: ",", omittingEmptySubsequences: false).map {
        Int($0.trimmingCharacters(in: .whitespaces))
      }
      guard !widths.isEmpty, widths.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw ValidationError(
          "--hidden must be positive widths separated by single commas (got \"\(text)\")")
      }
      return widths.map { $0! }
    }

    // MARK: - Running

    /// The recipe the options describe, for `kind`.
    func recipe(for kind: ModelKind) throws -> Recipe {
      var recipe = Recipe(model: kind)
      if let batchSize { recipe.batchSize = batchSize }
      recipe.learningRate = learningRate
      recipe.epochs = epochs
      if let seed { recipe.seed = seed }
      if let optimizer { recipe.optimizer = optimizer }
      recipe.hiddenLayers = try hiddenLayers()
      recipe.hiddenActivation = activation ?? .relu
      if kind == .layers {
        recipe.layers = layers
        recipe.inputShape = try inputShapeDimensions()
      }
      if let l2 { recipe.l2Penalty = l2 }
      recipe.cosineSchedule = !constantRate
      if let threads { recipe.threads = threads } else if mpi { recipe.threads = threadsPerRank() }
      recipe.earlyStoppingPatience = earlyStopping
      recipe.statistics = statistics
      if let dpClipNorm {
        recipe.privacy = PrivacyOptions(
          clipNorm: dpClipNorm, noiseMultiplier: dpNoiseMultiplier, targetEpsilon: dpEpsilon,
          delta: dpDelta ?? 1e-5, perLayer: dpPerLayer, noiseSeed: dpNoiseSeed,
          accountant: accountant)
      }
      return recipe
    }

    var dataOptions: DataOptions {
      get throws {
        DataOptions(
          train: train, trainLabels: trainLabels, test: test, testLabels: testLabels,
          target: target, task: task, delimiter: try delimiterCharacter(),
          hasHeader: header.flatMap { $0 == .auto ? nil : $0 == .yes }, standardize: !noStandardize)
      }
    }

    /// The data options when resuming from `path`: how the file says its data was read (the
    /// target column, the CSV's delimiter and header), with which an option given again must
    /// agree. Without `--train` the run resumes on the digits only if it was trained on them.
    func dataOptions(
      resuming saved: SavedRunHeader, from path: String, reporter: ProgressReporter
    ) throws -> DataOptions {
      var options = try dataOptions
      guard let record = saved.data else {
        if train == nil {
          // An earlier file: the digits are the only data it could mean without --train.
          guard saved.task == .classification, saved.classCount == Digits.classCount else {
            throw ValidationError(
              "\(path) does not say what it was trained on (an earlier version wrote it), and it "
                + "was not the bundled digits: give --train (and --test) to resume")
          }
          reporter.line(
            "note: \(path) does not say what it was trained on (an earlier version wrote it): "
              + "resuming on the bundled digits")
        }
        return options
      }
      guard let train else {
        if let recorded = record.train {
          throw ValidationError(
            "\(path) was trained on \(recorded): give --train \(recorded) (and --test) to resume; "
              + "without --train the program would train on the bundled digits")
        }
        return options
      }
      guard record.train != nil else {
        throw ValidationError(
          "\(path) was trained on the bundled digits: leave out --train \(train)")
      }
      if let labels = record.trainLabels, trainLabels == nil {
        throw ValidationError(
          "\(path) was trained on inputs with a labels file (\(labels)): add --train-labels")
      }
      if record.trainLabels == nil, trainLabels != nil {
        throw ValidationError(
          "\(path) was trained on a table with its targets in a column: leave out --train-labels")
      }
      if let target, target != record.target {
        throw ValidationError(
          "--target \(target) differs from \(record.target.map { "--target \($0)" } ?? "the last column"), "
            + "which \(path) was trained with; leave it out")
      }
      guard record.delimiter.count == 1, let recordedDelimiter = record.delimiter.first else {
        throw ValidationError(
          "\(path): the recorded delimiter \"\(record.delimiter)\" is not one character")
      }
      if delimiter != nil, try delimiterCharacter() != recordedDelimiter {
        throw ValidationError(
          "--delimiter \(delimiter!) differs from \"\(record.delimiter)\", which \(path) was trained "
            + "with; leave it out")
      }
      if header != nil, options.hasHeader != record.hasHeader {
        let recorded = record.hasHeader.map { $0 ? "yes" : "no" } ?? "auto"
        throw ValidationError(
          "--header \(header!) differs from --header \(recorded), which \(path) was trained with; "
            + "leave it out")
      }
      (options.target, options.delimiter, options.hasHeader) = (
        record.target, recordedDelimiter, record.hasHeader
      )
      if let recorded = record.train, DataRecord(options).train != recorded {
        reporter.line("note: \(path) was trained on \(recorded); resuming on \(train)")
      }
      return options
    }

    func run() throws {
      var world: MPICommunicator?
      if mpi {
        do {
          world = try MPIEnvironment.initialize()
        } catch {
          throw ValidationError("--mpi: \(error)")
        }
      }
      if let threads = threads ?? world.map({ _ in threadsPerRank() }) {
        OpenBLASInfo.setThreadCount(threads)
      }
      let reporter = ProgressReporter(isSilent: (world?.rank ?? 0) != 0)
      do {
        try run(reporter: reporter, collective: world)
      } catch let error as RunFailure {
        if let world, world.rank != 0 { throw ExitCode.failure }
        // What went wrong once training ran (a write, a diverging loss): not a usage error.
        throw error
      } catch let error as MinibatchError {
        // Every rank throws the same error: rank 0 says it.
        if let world, world.rank != 0 { throw ExitCode.failure }
        // Errors about the user's files and values are usage errors, not crashes.
        throw ValidationError("\(error)")
      }
    }

    /// `--threads` beyond this machine's cores: said, not silently capped (OpenBLAS takes at most
    /// the threads it was built for; the package's kernels take what is asked).
    func threadsNote() -> String? {
      let cores = ProcessInfo.processInfo.activeProcessorCount
      guard let threads, threads > cores else { return nil }
      return "note: --threads \(threads) is more than the \(cores) cores of this machine: the "
        + "kernels run \(threads) threads, OpenBLAS \(OpenBLASInfo.threadCount)"
        + (OpenBLASInfo.threadCount < threads ? " (its build's limit)" : "")
        + "; more threads than cores usually run slower"
    }

    /// With `--mpi`: every rank loaded the same data (a node with another file at the same path
    /// stops every rank, before anything that depends on the data's contents); with `--shard`,
    /// the same sizes, task and classes.
    func agreeOnData<Scalar: BLASScalar>(
      _ data: LoadedData<Scalar>, collective: MPICommunicator?
    ) throws {
      try collectively(
        collective,
        agreeingOn: [
          (
            "data (examples × features, task, classes)",
            "\(data.train.exampleCount) × \(data.featureCount), \(data.task), "
              + "\(data.classCount ?? 0)"
          ),
          // Shards differ by design (the trainer checks that they partition the rows).
          ("training data (fingerprint)", data.isSharded ? "in shards" : data.train.fingerprint),
          ("test data (fingerprint)", data.test?.fingerprint ?? "none"),
        ]
      ) {}
    }

    /// With `--mpi` and no `--threads`: this machine's cores shared among its ranks (Open MPI's
    /// `OMPI_COMM_WORLD_LOCAL_SIZE`).
    func threadsPerRank() -> Int {
      let local = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
      return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }

    func run(reporter: ProgressReporter, collective: MPICommunicator?) throws {
      if let note = threadsNote() { reporter.line(note) }
      if let load {
        let header = try collectively(collective) { try SavedRunHeader.read(from: load) }
        try collectively(
          collective,
          agreeingOn: [("saved run", "\(header.precision), \(header.task), \(header.recipe)")]
        ) {}
        if let precision, precision.rawValue != header.precision {
          throw ValidationError(
            "--precision \(precision) differs from the saved \(header.precision); leave it out")
        }
        var recipe = header.recipe
        recipe.additionalEpochs = epochs
        // Threads do not change the results: this machine's, not the saving machine's.
        recipe.threads =
          threads ?? (mpi ? threadsPerRank() : ProcessInfo.processInfo.activeProcessorCount)
        reporter.line(
          "OpenBLAS \(OpenBLASInfo.coreName) core, \(OpenBLASInfo.threadCount) threads; "
            + "\(header.precision); resuming \(load)")
        if header.precision == "double" {
          try resume(
            Double.self, recipe: recipe, header: header, path: load, reporter: reporter,
            collective: collective)
        } else {
          try resume(
            Float.self, recipe: recipe, header: header, path: load, reporter: reporter,
            collective: collective)
        }
        return
      }
      let precision = self.precision ?? .float
      reporter.line(
        "OpenBLAS \(OpenBLASInfo.coreName) core, \(OpenBLASInfo.threadCount) threads; \(precision)"
          + (collective.map { "; data parallel on \($0.size) MPI ranks" } ?? ""))
      switch precision {
      case .float: try train(Float.self, reporter: reporter, collective: collective)
      case .double: try train(Double.self, reporter: reporter, collective: collective)
      }
    }

    func train<Scalar: BLASScalar>(
      _: Scalar.Type, reporter: ProgressReporter, collective: MPICommunicator?
    ) throws {
      let options = try dataOptions
      let read = try collectively(collective) {
        try options.read(Scalar.self, shard: shardPlace(collective))
      }
      let data = try options.standardized(read, saved: nil, across: collective)
      try agreeOnData(data, collective: collective)
      reporter.line(data.summary)
      let kinds: [ModelKind] =
        layers != nil
        ? [.layers]
        : model.map { [$0] }
          ?? (train == nil
            ? [.softmax, .mlp] : [data.task == .classification ? .softmax : .linear])
      for kind in kinds {
        try execute(
          try recipe(for: kind), data: data, resume: nil, reporter: reporter,
          collective: collective)
      }
    }

    func resume<Scalar: BLASScalar>(
      _: Scalar.Type, recipe: Recipe, header: SavedRunHeader, path: String,
      reporter: ProgressReporter, collective: MPICommunicator?
    ) throws {
      var options = try dataOptions(resuming: header, from: path, reporter: reporter)
      options.task = header.task
      let (read, standardizer) = try collectively(collective) {
        let standardizer = try SavedStandardizer<Scalar>.read(from: path)
        let read = try options.read(
          Scalar.self, task: header.task, classCount: header.classCount,
          shard: shardPlace(collective))
        return (read, standardizer)
      }
      let data = try options.standardized(read, saved: standardizer, across: collective)
      try agreeOnData(data, collective: collective)
      reporter.line(data.summary)
      try execute(recipe, data: data, resume: path, reporter: reporter, collective: collective)
    }

    func execute<Scalar: BLASScalar>(
      _ recipe: Recipe, data: LoadedData<Scalar>, resume: String?, reporter: ProgressReporter,
      collective: MPICommunicator?
    ) throws {
      let name: String
      switch recipe.model {
      case .mlp: name = "MLP \(recipe.hiddenLayers) \(recipe.hiddenActivation)"
      case .layers:
        let shape = recipe.inputShape.map { $0.map(String.init).joined(separator: "×") }
        name = "network '\(recipe.layers ?? "")'" + (shape.map { " on \($0)" } ?? "")
      default: name = "\(recipe.model) regression"
      }
      let epochsText =
        resume == nil
        ? "\(recipe.resolvedEpochs) epochs" : "\(recipe.additionalEpochs ?? 0) more epochs"
      reporter.line(
        "\(name): batch \(recipe.batchSize), \(recipe.optimizer), \(epochsText)"
          + (recipe.privacy.map { ", DP-SGD (C = \($0.clipNorm), δ = \($0.delta))" } ?? ""))
      // Every rank trains; rank 0 alone writes the files.
      let writes = (collective?.rank ?? 0) == 0
      var started = false
      let output = Recipe.Output(
        line: { reporter.line($0) }, progress: { reporter.update($0) },
        savePath: writes ? save : nil, historyPath: writes ? history : nil,
        plotPath: writes ? plot : nil,
        title: "\(name) on \(train.map { ($0 as NSString).lastPathComponent } ?? "the digits")"
          + (recipe.privacy.map { ", DP-SGD (C = \($0.clipNorm), δ = \($0.delta))" } ?? ""),
        collective: collective, trainingStarts: { started = true })
      let outcome: Recipe.Outcome
      do {
        outcome = try recipe.run(data, resume: resume, output: output)
      } catch {
        if started { throw RunFailure(description: "\(error)") }
        throw error
      }
      if let sigma = outcome.noiseMultiplier {
        reporter.line(
          "DP-SGD: noise multiplier σ = " + String(format: "%.4f", sigma) + ", ε = "
            + PrivacyFormatting.roundedUp(outcome.reports.last?.epsilon ?? 0) + " at δ = "
            + "\(recipe.privacy?.delta ?? 0) (\(recipe.privacy?.resolvedAccountant ?? .pld) "
            + "accountant, rounded up)")
      }
      var summary = "\(name) (\(outcome.parameterCount) parameters): "
      if let accuracy = outcome.testAccuracy {
        summary += "test accuracy " + String(format: "%.2f%%", 100 * accuracy)
      } else if let loss = outcome.testLoss {
        summary += "test loss " + String(format: "%.6g", loss)
      } else if let accuracy = outcome.trainAccuracy {
        summary += "training accuracy " + String(format: "%.2f%%", 100 * accuracy)
      } else {
        summary += "training loss " + String(format: "%.6g", outcome.reports.last?.meanLoss ?? .nan)
      }
      reporter.line(summary)
    }
  }

  /// A run that failed after its options and data were checked and training began (a file that
  /// could no longer be written, a loss that diverged): reported as an error (exit 1), without
  /// the usage text of a mistake in the options.
  struct RunFailure: Error, CustomStringConvertible {
    var description: String
  }

  /// The standardiser of a save file, read before the data it applies to: the checkpoint's, or
  /// (files written before the checkpoint held it) the file's own.
  struct SavedStandardizer<Scalar: BLASScalar>: Decodable {
    struct Checkpoint: Decodable { var standardizer: Standardizer<Scalar>? }
    var standardizer: Standardizer<Scalar>?
    var checkpoint: Checkpoint

    static func read(from path: String) throws -> Standardizer<Scalar>? {
      do {
        let saved = try JSONDecoder().decode(
          SavedStandardizer.self, from: try SavedRunHeader.contents(of: path))
        return saved.checkpoint.standardizer ?? saved.standardizer
      } catch let error as MinibatchError {
        throw error
      } catch {
        throw MinibatchError.fileUnreadable(
          path: path, reason: "not a minibatch-train save file: \(error)")
      }
    }
  }

#else
  import Foundation

  /// Built without the `CommandLineTools` trait (which brings in swift-argument-parser).
  @main
  enum MinibatchTrainWithoutTools {
    static func main() {
      FileHandle.standardError.write(
        Data(
          ("minibatch-train is built with the CommandLineTools trait: "
            + "swift run --traits CommandLineTools minibatch-train (or make train)\n").utf8))
      exit(2)
    }
  }
#endif
