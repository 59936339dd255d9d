/// A differentiable model that can write the exact gradient of every example's loss.
///
/// The parameters are one flat vector `w` of ``parameterCount`` (`n`) scalars whose layout each
/// model documents. For a batch of `k` examples with losses `ℓ_i(w)` there are two ways to get
/// gradients, and they agree (the tests prove it to 1e-10 relative in Double):
///
/// ```
/// per-example:   J[i, :] = ∇ℓ_i(w)                    (k × n, no 1/k)
/// mean loss:     L(w) = (1/k) Σ_i ℓ_i(w),  ∇L(w) = (1/k) Σ_i J[i, :] = J.mean()
/// ```
///
/// `J` reaches the reductions as a ``PerExampleGradientOperator``: every model provides a
/// ``PerExampleRowWriter`` (for the stored and streamed representations); layered models also
/// provide the factored one, in which `J` is never formed. The losses carry no regulariser:
/// regularisation belongs to the optimiser (``Regularization``), so per-example norms and clipping
/// see the data's gradients alone.
public protocol PerExampleGradientModel<Scalar>: Sendable {
  associatedtype Scalar: BLASScalar

  /// Number of parameters `n` (the length of `w` and of every gradient row).
  var parameterCount: Int { get }
  /// Number of input features `d` (columns of a batch's inputs).
  var inputCount: Int { get }
  /// Number of outputs per example (1 for linear and logistic regression, the class count for
  /// softmax models).
  var outputCount: Int { get }

  /// Checks, without computing anything, that `parameters` and `batch` suit the model: the
  /// parameter count and finiteness, the input width, the kind and range of the targets. Every
  /// other entry point runs the same checks first.
  func validate(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError)

  /// Reproducible starting parameters: the same seed gives the same vector on every machine.
  func initialParameters(seed: UInt64) -> [Scalar]

  /// The model's outputs for each row of `inputs`, `k × outputCount`: predictions for
  /// squared-error models, logits (before the sigmoid or softmax) for classifiers.
  func outputs(parameters: [Scalar], inputs: Matrix<Scalar>) throws(MinibatchError) -> Matrix<
    Scalar
  >

  /// The per-example losses `ℓ_i(w)` (length `k`).
  func losses(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> [Scalar]

  /// Runs the batch's forward and backward passes and returns a writer for
  /// `J[i, :] = ∇ℓ_i(w)` (`k × n`; rows are **not** divided by `k`) and the per-example losses. The writer fills
  /// any tile of rows and columns from the passes' results; hand it to
  /// ``PerExampleGradients/write(_:parallelism:)`` to store `J`, or to
  /// ``StreamedPerExampleGradients`` to reduce it without storing it.
  func perExampleRowWriter(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (writer: PerExampleRowWriter<Scalar>, losses: [Scalar])

  /// For models made of layers (``Sequential`` and its presets), the forward and backward passes'
  /// factors of `J` (see ``FactoredPerExampleGradients``) and the per-example losses; `nil` for
  /// models that cannot factor their rows (the default), which then use their row writer.
  func perExampleGradientFactors(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar])?

  /// The mean loss `L = (1/k) Σ ℓ_i` and its gradient `∇L` (length `n`), by the usual backward
  /// pass, without materialising per-example rows.
  func meanLossAndGradient(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (loss: Scalar, gradient: [Scalar])

  /// The parameter vector's blocks, one per parameter tensor (for dense layers `W_0, b_0, W_1,
  /// b_1, …`), for per-block (per-layer) clipping. The default is one block of all `n`.
  var parameterBlocks: ParameterBlocks { get }
}

/// Which representation of `J` (``PerExampleGradientOperator``) a model's gradients take. All
/// three give the same reductions up to rounding (tested).
public enum GradientRepresentation: String, Sendable, Hashable, CaseIterable,
  CustomStringConvertible
{
  /// Factored when the model provides factors (``Sequential`` and its presets), stored otherwise.
  case automatic
  /// ``FactoredPerExampleGradients``: `J` never formed; about the cost of the backward pass.
  case factored
  /// ``PerExampleGradients``: `J` materialised (`k·n` scalars), reduced by GEMV.
  case stored
  /// ``StreamedPerExampleGradients``: the row writer swept in tiles, memory O(threads × tile).
  case streamed

  public var description: String { rawValue }
}

extension PerExampleGradientModel {
  public var parameterBlocks: ParameterBlocks {
    do {
      return try ParameterBlocks.whole(parameterCount: parameterCount)
    } catch {
      preconditionFailure("a model has no parameters: \(error)")
    }
  }

  public func perExampleGradientFactors(
    parameters: [Scalar], batch: Batch<Scalar>
  ) throws(MinibatchError) -> (gradients: FactoredPerExampleGradients<Scalar>, losses: [Scalar])? {
    nil
  }

  /// The batch's per-example gradients `J` (`k × n`, rows not divided by `k`) in the chosen
  /// representation, and the per-example losses.
  ///
  /// - Throws: the model's validation errors;
  ///   ``MinibatchError/invalidArgument(name:value:expected:)`` for ``GradientRepresentation/factored``
  ///   when the model has no factors.
  public func perExampleGradients(
    parameters: [Scalar], batch: Batch<Scalar>, representation: GradientRepresentation,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> (gradients: any PerExampleGradientOperator<Scalar>, losses: [Scalar])
  {
    switch representation {
    case .automatic, .factored:
      if let (factored, losses) = try perExampleGradientFactors(
        parameters: parameters, batch: batch)
      {
        return (factored, losses)
      }
      try validateArgument(
        representation, named: "gradient representation",
        expected: "stored or streamed (\(Self.self) has no layer factors)",
        representation == .automatic)
      let (gradients, losses) = try perExampleGradients(
        parameters: parameters, batch: batch, parallelism: parallelism)
      return (gradients, losses)
    case .stored:
      let (gradients, losses) = try perExampleGradients(
        parameters: parameters, batch: batch, parallelism: parallelism)
      return (gradients, losses)
    case .streamed:
      let (writer, losses) = try perExampleRowWriter(parameters: parameters, batch: batch)
      return (StreamedPerExampleGradients(writer), losses)
    }
  }

  /// Writes `J[i, :] = ∇ℓ_i(w)` into the rows of `gradients` (which must be `k × n`) and returns
  /// the per-example losses. Rows are **not** divided by `k`: reduce them with
  /// ``PerExampleGradientOperator/mean(parallelism:)`` or a fused step. Nothing is written if
  /// validation fails.
  public func writePerExampleGradients(
    parameters: [Scalar], batch: Batch<Scalar>, into gradients: inout PerExampleGradients<Scalar>,
    parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> [Scalar] {
    try gradients.validateShape(examples: batch.count, parameters: parameterCount)
    let (writer, losses) = try perExampleRowWriter(parameters: parameters, batch: batch)
    try gradients.write(writer, parallelism: parallelism)
    return losses
  }

  /// A new `k × n` matrix of per-example gradients and the per-example losses.
  public func perExampleGradients(
    parameters: [Scalar], batch: Batch<Scalar>, parallelism: Parallelism = .automatic
  ) throws(MinibatchError) -> (gradients: PerExampleGradients<Scalar>, losses: [Scalar]) {
    var gradients = try PerExampleGradients<Scalar>(k: batch.count, n: parameterCount)
    let losses = try writePerExampleGradients(
      parameters: parameters, batch: batch, into: &gradients, parallelism: parallelism)
    return (gradients, losses)
  }

  /// The mean loss `(1/k) Σ ℓ_i(w)` over the batch.
  public func meanLoss(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> Scalar
  {
    let losses = try losses(parameters: parameters, batch: batch)
    return losses.reduce(0, +) / Scalar(losses.count)
  }

  /// The predicted class of every row of `inputs` (`k` entries): the largest logit for several
  /// outputs, `logit > 0` (probability above ½, class 1) for one output.
  ///
  /// - Throws: the errors of ``outputs(parameters:inputs:)``.
  public func predictedClasses(
    parameters: [Scalar], inputs: Matrix<Scalar>
  ) throws(MinibatchError) -> [Int] {
    let logits = try outputs(parameters: parameters, inputs: inputs)
    return (0..<logits.rows).map { predictedClass(logits.rowUnchecked($0)) }
  }

  /// Fraction of examples whose predicted class equals the label, in `[0, 1]`.
  ///
  /// The prediction is the largest logit for several outputs, and `logit > 0` (probability above
  /// ½) for one output.
  /// - Throws: ``MinibatchError/wrongTargetKind(expected:got:)`` if the batch has real-valued
  ///   targets, and the errors of ``outputs(parameters:inputs:)``.
  public func accuracy(parameters: [Scalar], batch: Batch<Scalar>) throws(MinibatchError) -> Double
  {
    guard case .labels(let labels) = batch.targets else {
      throw .wrongTargetKind(expected: "class labels", got: batch.targets.kindDescription)
    }
    let logits = try outputs(parameters: parameters, inputs: batch.inputs)
    let correct = labels.indices.count { i in predictedClass(logits.rowUnchecked(i)) == labels[i] }
    return Double(correct) / Double(labels.count)
  }
}

func predictedClass<Scalar: BLASScalar>(_ logits: ArraySlice<Scalar>) -> Int {
  if logits.count == 1 { return logits[logits.startIndex] > 0 ? 1 : 0 }
  var best = logits.startIndex
  for j in logits.indices where logits[j] > logits[best] { best = j }
  return best - logits.startIndex
}
