import ArgumentParser
import Minibatch
import MinibatchTestSupport
import Testing

@testable import minibatch_train

/// The example program's defaults reach the accuracy the README promises, and bad options get a
/// usage error.
@Suite struct MinibatchTrainTests {
  /// The defaults of `swift run -c release minibatch-train` (Float), for each model.
  @Test(arguments: [(ModelKind.softmax, 0.93), (ModelKind.mlp, 0.96)])
  func defaultRecipeReachesItsTestAccuracy(_ model: ModelKind, minimum: Double) throws {
    let outcome = try DigitsRecipe(model: model).run(Float.self)
    #expect(outcome.testAccuracy >= minimum, "\(model): \(outcome.testAccuracy)")
    #expect(outcome.reports.count == DigitsRecipe(model: model).defaultEpochs)
  }

  /// Double and every optimiser train too (fewer epochs: this checks they learn, not the target).
  @Test(arguments: OptimizerKind.allCases)
  func everyOptimizerLearnsInDouble(_ optimizer: OptimizerKind) throws {
    var recipe = DigitsRecipe(model: .mlp)
    recipe.optimizer = optimizer
    recipe.epochs = 3
    let outcome = try recipe.run(Double.self)
    #expect(outcome.testAccuracy >= 0.85, "\(optimizer): \(outcome.testAccuracy)")
  }

  @Test(arguments: [
    ["--batch-size", "0"], ["--epochs", "-1"], ["--learning-rate", "nan"], ["--l2", "-1"],
    ["--hidden", "64,0"], ["--hidden", "a"], ["--threads", "0"], ["--model", "svm"],
    ["--precision", "half"], ["--optimizer", "lbfgs"], ["--seed", "-3"], ["--unknown"],
    // Too large for the machine: a usage error, not a crash in the allocator.
    ["--model", "mlp", "--hidden", "10000000"], ["--hidden", "100000000000000000"],
    ["--hidden", "64,,32"], ["--model", "softmax", "--hidden", "32"],
    ["--model", "softmax", "--activation", "tanh"], ["--learning-rate", "1e39"],
  ])
  func badOptionsGetAUsageError(_ arguments: [String]) {
    do {
      _ = try MinibatchTrain.parse(arguments)
      Issue.record("\(arguments) parsed")
    } catch {
      #expect(MinibatchTrain.exitCode(for: error) == .validationFailure, "\(arguments)")
      #expect(!MinibatchTrain.message(for: error).isEmpty)
    }
  }

  @Test func defaultsParse() throws {
    let command = try MinibatchTrain.parse([])
    #expect(command.model == nil && command.batchSize == 32 && command.precision == .float)
    #expect(try command.hiddenLayers() == [64])
  }
}
