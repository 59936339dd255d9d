// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
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
      let outcome = try Recipe(model: model).run(try DataOptions().load(Float.self))
      let accuracy = try #require(outcome.testAccuracy)
      #expect(accuracy >= minimum, "\(model): \(accuracy)")
      #expect(outcome.reports.count == Recipe(model: model).defaultEpochs)
    }

    /// Double and every optimiser train too (fewer epochs: this checks they learn, not the target).
    @Test(arguments: OptimizerKind.allCases)
    func everyOptimizerLearnsInDouble(_ optimizer: OptimizerKind) throws {
      var recipe = Recipe(model: .mlp)
      recipe.optimizer = optimizer
      recipe.epochs = 3
      let outcome = try recipe.run(try DataOptions().load(Double.self))
      #expect(try #require(outcome.testAccuracy) >= 0.85, "\(optimizer)")
    }

    @Test(arguments: [
      ["--batch-size", "0"], ["--epochs", "-1"], ["--learning-rate", "nan"], ["--l2", "-1"],
      ["--hidden", "64,0"], ["--hidden", "a"], ["--threads", "0"], ["--model", "svm"],
      ["--precision", "half"], ["--optimizer", "lbfgs"], ["--seed", "-3"], ["--unknown"],
      // Too large for the machine: a usage error, not a crash in the allocator.
      ["--model", "mlp", "--hidden", "10000000"], ["--hidden", "100000000000000000"],
      ["--hidden", "64,,32"], ["--model", "softmax", "--hidden", "32"],
      ["--model", "softmax", "--activation", "tanh"], ["--learning-rate", "1e39"],
      ["--precision", "float", "--learning-rate", "1e39"],
      // Data options without data, or half a pair.
      ["--test", "t.csv"], ["--target", "y"], ["--train-labels", "y.npy"],
      ["--train", "a.npy", "--train-labels", "b.npy", "--test", "c.npy"],
      ["--train", "a.csv", "--test-labels", "y.npy"], ["--delimiter", ";;"],
      ["--task", "regression"],
      ["--train", "a.csv", "--early-stopping", "3"], ["--early-stopping", "0"],
      ["--history", "h.csv"], ["--plot", "p.svg"], ["--save", "s.json"],
      // Privacy: incomplete, contradictory, out of range.
      ["--dp-noise-multiplier", "1"], ["--dp-clip-norm", "1"],
      ["--dp-clip-norm", "0", "--dp-epsilon", "1"],
      ["--dp-clip-norm", "1", "--dp-epsilon", "1", "--dp-noise-multiplier", "1"],
      ["--dp-clip-norm", "1", "--dp-epsilon", "-1"],
      ["--dp-clip-norm", "1", "--dp-noise-multiplier", "-1"],
      ["--dp-clip-norm", "1", "--dp-epsilon", "1", "--dp-delta", "1"], ["--dp-per-layer"],
      // What a save file stores cannot be changed when resuming.
      ["--load", "s.json", "--model", "mlp"], ["--load", "s.json", "--seed", "3"],
      ["--load", "s.json", "--dp-clip-norm", "1", "--dp-epsilon", "2"],
      ["--load", "s.json", "--dp-epsilon", "2"],
      ["--load", "s.json", "--dp-noise-multiplier", "2"],
      ["--load", "s.json", "--dp-delta", "1e-6"], ["--load", "s.json", "--dp-per-layer"],
      ["--dp-clip-norm", "1", "--dp-epsilon", "1", "--early-stopping", "2"],
      // Layer specs: every mistake is a usage error before any data is read.
      ["--layers", "conv2d(16"], ["--layers", "dense(10) foo"], ["--layers", "dense(7)"],
      ["--input-shape", "1,8,9", "--layers", "flatten dense(10)"], ["--input-shape", "1,8,8"],
      ["--layers", "dense(10)", "--model", "mlp"], ["--layers", "dense(10)", "--hidden", "3"],
      ["--load", "s.json", "--layers", "dense(10)"], ["--load", "s.json", "--input-shape", "64"],
      ["--input-shape", "1,8,8", "--layers", "conv2d(4,9) flatten dense(10)"],
      ["--layers", "embedding(10,4) meanpool dense(10)"], ["--model", "layers"],
      ["--input-shape", "0,8", "--layers", "dense(10)"], ["--input-shape", "1,8,8,1"],
      ["--input-shape", "64", "--layers", "maxpool2d(2) flatten dense(10)"],
      ["--input-shape", "1,8,8", "--layers", "conv2d(4,3) relu dense(10)"],
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

    /// A small CNN on the digits as 1×8×8 images learns (few epochs: the README's command, 30
    /// epochs of a larger one, reaches ≥ 98 %; `make train` shows it).
    @Test func convolutionalNetworkLearnsTheDigits() throws {
      var recipe = Recipe(model: .layers)
      recipe.inputShape = [1, 8, 8]
      recipe.layers = "conv2d(8,3,padding=1) relu maxpool2d(2) flatten dense(10)"
      recipe.epochs = 4
      let outcome = try recipe.run(try DataOptions().load(Float.self))
      #expect(try #require(outcome.testAccuracy) >= 0.9)
      #expect(outcome.parameterCount == 8 * 9 + 8 + 8 * 16 * 10 + 10)
    }

    @Test func defaultsParse() throws {
      let command = try MinibatchTrain.parse([])
      #expect(command.model == nil && command.batchSize == nil && command.precision == nil)
      #expect(try command.hiddenLayers() == [64])
    }
  }
#else
  import Testing

  /// Without the trait the command-line programs are not built and their tests would vanish
  /// silently: fail instead, saying how to run them.
  @Test func commandLineToolsTraitIsEnabled() {
    Issue.record(
      "the command-line programs' tests need the CommandLineTools trait: run `make test` "
        + "(swift test --traits CommandLineTools)")
  }
#endif
