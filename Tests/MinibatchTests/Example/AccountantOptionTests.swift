// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import ArgumentParser
  import Minibatch
  import Testing

  @testable import minibatch_train

  /// `minibatch-train --accountant`: PLD by default, RDP on request, refused without DP-SGD.
  @Suite struct AccountantOptionTests {
    @Test(arguments: [
      ["--accountant", "rdp"], ["--accountant", "moments"],
      ["--dp-clip-norm", "1", "--dp-epsilon", "1", "--accountant", "prv"],
      ["--load", "s.json", "--accountant", "rdp"],
    ])
    func badAccountantOptionsGetAUsageError(_ arguments: [String]) {
      do {
        _ = try MinibatchTrain.parse(arguments)
        Issue.record("\(arguments) parsed")
      } catch {
        #expect(MinibatchTrain.exitCode(for: error) == .validationFailure, "\(arguments)")
      }
    }

    /// The same seeded run reported by each accountant: the ε of each, and PLD's σ for a target
    /// smaller than RDP's while both reach it.
    @Test func eachAccountantReportsItsOwnEpsilon() throws {
      let data = try DataOptions().load(Float.self)
      func run(_ accountant: PrivacyAccountantKind?, target: Double?) throws -> Recipe.Outcome {
        var recipe = Recipe(model: .softmax)
        recipe.epochs = 2
        recipe.batchSize = 64
        recipe.privacy = PrivacyOptions(
          clipNorm: 1, noiseMultiplier: target == nil ? 1.2 : nil, targetEpsilon: target,
          delta: 1e-5, perLayer: false, noiseSeed: 3, accountant: accountant)
        return try recipe.run(data)
      }
      let q = 64.0 / Double(data.train.exampleCount)
      let steps =
        try BatchSampler(exampleCount: data.train.exampleCount, poissonRate: q, seed: 0)
        .batchesPerEpoch * 2
      let byDefault = try run(nil, target: nil)
      let byRDP = try run(.rdp, target: nil)
      #expect(
        byDefault.reports.last?.epsilon
          == (try PLDAccountant.epsilon(
            noiseMultiplier: 1.2, samplingRate: q, steps: steps, delta: 1e-5)))
      #expect(
        byRDP.reports.last?.epsilon
          == (try RDPAccountant.epsilon(
            noiseMultiplier: 1.2, samplingRate: q, steps: steps, delta: 1e-5)))
      let pld = try #require(try run(.pld, target: 2).noiseMultiplier)
      let rdp = try #require(try run(.rdp, target: 2).noiseMultiplier)
      #expect(pld < rdp, "PLD σ \(pld), RDP σ \(rdp)")
    }
  }
#endif
