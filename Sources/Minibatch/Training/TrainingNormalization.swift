/// How the trainer normalises each batch's weighted gradient sum `S = Σ_batch e_i·g_i` (example
/// weights `e_i`, 1 without them) into the gradient its optimiser sees; each case maps to a
/// ``GradientNormalization``.
public enum TrainingNormalization: Sendable, Hashable, CustomStringConvertible {
  /// `S / (k·W/N)` for a batch of `k` from `N` examples of weight total `W`: an unbiased estimate
  /// of the gradient of the data set's weighted mean loss, so weights act across batches (the
  /// default; without example weights it is the batch mean `S/k`).
  case datasetWeightTotal
  /// `S / Σ_batch e_i`: each batch's own weighted mean (PyTorch's weighted mean). A batch of one
  /// example then ignores its weight.
  case weightTotal
  /// `S / B` for a fixed `B > 0` (DP-SGD's expected batch size).
  case fixedDenominator(Double)
  /// `S` itself.
  case sum
  /// `S / B` with `B` the sampler's expected batch size (``BatchSampler/expectedBatchSize``:
  /// `q·N` under Poisson sampling, the batch size otherwise), never the realised size: the
  /// normalisation DP-SGD requires.
  case expectedBatchSize

  public var description: String {
    switch self {
    case .datasetWeightTotal: return "data set weight total"
    case .weightTotal: return "batch weight total"
    case .fixedDenominator(let b): return "fixed denominator \(b)"
    case .sum: return "sum"
    case .expectedBatchSize: return "expected batch size"
    }
  }

  /// The ``GradientNormalization`` for a data set of `exampleCount` examples of weight total
  /// `weightTotal`.
  func gradientNormalization(
    weightTotal: Double, exampleCount: Int, expectedBatchSize: Double
  ) -> GradientNormalization {
    switch self {
    case .datasetWeightTotal: return .datasetWeightTotal(weightTotal, exampleCount: exampleCount)
    case .weightTotal: return .weightTotal
    case .fixedDenominator(let b): return .fixedDenominator(b)
    case .sum: return .sum
    case .expectedBatchSize: return .fixedDenominator(expectedBatchSize)
    }
  }
}
