import ArgumentParser
import Foundation
import Minibatch

extension ModelKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}

/// `swift run -c release minibatch-train`: mini-batch training on the bundled digits.
@main
struct MinibatchTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "minibatch-train",
    abstract: "Train softmax regression and an MLP on the bundled UCI digits with mini-batch SGD.",
    discussion: """
      Each step writes the per-example gradients of a batch into a k×n matrix and averages them \
      with one GEMV. Prints one line per epoch and ends with the test accuracy.
      """)

  enum Precision: String, ExpressibleByArgument, CaseIterable {
    case float
    case double
  }

  @Option(help: "Which model to train: softmax or mlp (default: both, one after the other).")
  var model: ModelKind?

  @Option(name: .customLong("batch-size"), help: "Examples per mini-batch, k.")
  var batchSize = 32

  @Option(
    name: .customLong("learning-rate"),
    help: "Initial learning rate (default: 0.05 softmax / 0.02 MLP with momentum).")
  var learningRate: Double?

  @Option(help: "Epochs (default: 20 softmax / 30 MLP).")
  var epochs: Int?

  @Option(help: "Seed for initialisation and shuffling.")
  var seed: UInt64 = 0

  @Option(help: "Scalar type: float or double.")
  var precision: Precision = .float

  @Option(help: "Optimiser: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")).")
  var optimizer: OptimizerKind = .momentum

  @Option(help: "Hidden layer widths of the MLP, comma-separated (default: 64).")
  var hidden: String?

  @Option(help: "Hidden activation of the MLP: relu, tanh or identity (default: relu).")
  var activation: Activation?

  @Option(help: "L2 penalty λ on the parameters, applied by the optimiser (coupled L2).")
  var l2 = 1e-4

  @Flag(help: "Constant learning rate instead of the cosine schedule.")
  var constantRate = false

  @Option(help: "Threads for the per-example rows and reductions (default: all cores).")
  var threads: Int?

  func validate() throws {
    if model == .softmax, hidden != nil || activation != nil {
      throw ValidationError("--hidden and --activation apply to --model mlp only")
    }
    if precision == .float, let learningRate, !Float(learningRate).isFinite {
      throw ValidationError("--learning-rate \(learningRate) is beyond Float's range")
    }
    guard batchSize >= 1 else {
      throw ValidationError("--batch-size must be ≥ 1 (got \(batchSize))")
    }
    if let epochs, epochs < 0 { throw ValidationError("--epochs must be ≥ 0 (got \(epochs))") }
    if let learningRate, !(learningRate.isFinite && learningRate >= 0) {
      throw ValidationError("--learning-rate must be finite and ≥ 0 (got \(learningRate))")
    }
    guard l2.isFinite, l2 >= 0 else {
      throw ValidationError("--l2 must be finite and ≥ 0 (got \(l2))")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1 (got \(threads))") }
    let widths = try hiddenLayers()
    // The largest pass evaluates all 1,437 training examples at once: its activations and
    // backpropagated errors, plus the parameters and an optimiser's state (up to 3 copies).
    let sizes = [Digits.featureCount] + widths + [Digits.classCount]
    let (parameters, overflow) = zip(sizes, sizes.dropFirst()).reduce((0, false)) { total, pair in
      let (size, o1) = (pair.0 + 1).multipliedReportingOverflow(by: pair.1)
      let (sum, o2) = total.0.addingReportingOverflow(size)
      return (sum, total.1 || o1 || o2)
    }
    let scalarBytes = precision == .float ? 4 : 8
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

  func run() throws {
    print(
      "OpenBLAS \(OpenBLASInfo.coreName) core, \(OpenBLASInfo.threadCount) threads; \(precision)")
    for kind in model.map({ [$0] }) ?? ModelKind.allCases {
      var recipe = DigitsRecipe(model: kind)
      recipe.batchSize = batchSize
      recipe.learningRate = learningRate
      recipe.epochs = epochs
      recipe.seed = seed
      recipe.optimizer = optimizer
      recipe.hiddenLayers = try hiddenLayers()
      recipe.hiddenActivation = activation ?? .relu
      recipe.l2Penalty = l2
      recipe.cosineSchedule = !constantRate
      if let threads { recipe.threads = threads }
      let name = kind == .softmax ? "softmax regression" : "MLP \(recipe.hiddenLayers)"
      print(
        "\(name): batch \(batchSize), \(optimizer), \(recipe.epochs ?? recipe.defaultEpochs) epochs"
      )
      let outcome =
        switch precision {
        case .float: try recipe.run(Float.self) { print($0) }
        case .double: try recipe.run(Double.self) { print($0) }
        }
      print(
        "\(name) (\(outcome.parameterCount) parameters): test accuracy "
          + String(format: "%.2f%%", 100 * outcome.testAccuracy))
    }
  }
}
