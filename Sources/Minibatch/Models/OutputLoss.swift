/// The loss on a model's last layer, per example, with its targets and its gradient `δ = ∂ℓ/∂z`
/// with respect to the outputs `z`. All forms are numerically stable for any finite `z`.
public enum OutputLoss: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
  /// `ℓ = ½·‖z − y‖²` against real targets `y` (``Targets/values(_:)``); `δ = z − y`.
  /// The ½ makes the gradient the residual; the mean over a batch is half the mean squared error.
  case squaredError
  /// Binary cross-entropy on one logit `z` with label `y ∈ {0, 1}` (``Targets/labels(_:)``;
  /// 1 is the positive class, `P(y = 1) = σ(z)`):
  /// `ℓ = softplus(z) − y·z = max(z, 0) − y·z + log1p(exp(−|z|))`; `δ = σ(z) − y`.
  case binaryCrossEntropy
  /// Multiclass cross-entropy on `c` logits with label `y ∈ 0..<c`:
  /// `ℓ = logsumexp(z) − z_y`, computed as `(max z − z_y) + log1p(Σ_{j≠argmax} exp(z_j − max z))`;
  /// `δ = softmax(z) − onehot(y)`. The naive `logSumExp − z_y` subtracts two nearly equal large
  /// numbers and loses a small loss entirely (4.5e-5 at logits ~1e4 in Float); here the first
  /// term has no cancellation and the second is formed without adding 1 first, so a small loss
  /// keeps its relative accuracy.
  case softmaxCrossEntropy

  public var description: String { rawValue }

  /// The outputs this loss accepts: `1` exactly for binary cross-entropy, `≥ 2` for softmax.
  func validateOutputCount(_ count: Int) throws(MinibatchError) {
    switch self {
    case .squaredError:
      break
    case .binaryCrossEntropy:
      try validateArgument(
        count, named: "outputs of a binary cross-entropy model", expected: "1", count == 1)
    case .softmaxCrossEntropy:
      try validateArgument(
        count, named: "outputs of a softmax cross-entropy model", expected: "≥ 2 classes",
        count >= 2)
    }
  }

  /// Checks that `targets` suit this loss and `outputs` outputs per example.
  func validate<Scalar: BLASScalar>(
    _ targets: Targets<Scalar>, outputs: Int
  ) throws(MinibatchError) {
    switch (self, targets) {
    case (.squaredError, .values(let values)):
      try validateCount(values.columns, expected: outputs, of: "target values per example")
    case (.binaryCrossEntropy, .labels(let labels)), (.softmaxCrossEntropy, .labels(let labels)):
      let classes = self == .binaryCrossEntropy ? 2 : outputs
      if let index = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
        throw .labelOutOfRange(index: index, label: labels[index], classCount: classes)
      }
    case (.squaredError, .labels):
      throw .wrongTargetKind(expected: "real values", got: targets.kindDescription)
    case (.binaryCrossEntropy, .values), (.softmaxCrossEntropy, .values):
      throw .wrongTargetKind(expected: "class labels", got: targets.kindDescription)
    }
  }

  /// Per-example losses of the `k × m` outputs `z` (row-major); when `delta` is given, also
  /// writes `δ = ∂ℓ_i/∂z_i` (`k × m`, not divided by `k`) into it. Targets are already validated.
  /// The cross-entropies are the C kernels `minibatch_softmax_cross_entropy_*` and
  /// `minibatch_binary_cross_entropy_*` (`losses.c`: the exponentials at the machine's vector
  /// width, the same bits on every instruction set); cost `O(k·m)`.
  func evaluate<Scalar: BLASScalar>(
    _ z: UnsafePointer<Scalar>, k: Int, m: Int, targets: Targets<Scalar>,
    delta: UnsafeMutablePointer<Scalar>?
  ) -> [Scalar] {
    switch targets {
    case .values(let y):
      return (0..<k).map { i in
        Self.squaredError(z + i * m, y.rowUnchecked(i), m: m, delta: delta.map { $0 + i * m })
      }
    case .labels where k == 0:
      return []
    case .labels(let labels):
      // The kernels read k labels through a pointer: one per example, as the batch guarantees.
      precondition(labels.count == k, "one label per example")
      return [Scalar](unsafeUninitializedCapacity: k) { loss, initialized in
        labels.withUnsafeBufferPointer { y in
          if m == 1 {
            Scalar.binaryCrossEntropy(
              z, labels: y.baseAddress!, k: k, loss: loss.baseAddress!, delta: delta)
          } else if let delta {
            Scalar.softmaxCrossEntropy(
              z, labels: y.baseAddress!, k: k, m: m, loss: loss.baseAddress!, delta: delta)
          } else {
            // The kernel keeps its exponentials in δ: a scratch one when the caller wants none.
            withUnsafeTemporaryAllocation(of: Scalar.self, capacity: k * m) { scratch in
              Scalar.softmaxCrossEntropy(
                z, labels: y.baseAddress!, k: k, m: m, loss: loss.baseAddress!,
                delta: scratch.baseAddress!)
            }
          }
        }
        initialized = k
      }
    }
  }

  static func squaredError<Scalar: BLASScalar>(
    _ z: UnsafePointer<Scalar>, _ y: ArraySlice<Scalar>, m: Int,
    delta: UnsafeMutablePointer<Scalar>?
  ) -> Scalar {
    var loss: Scalar = 0
    for (j, target) in zip(0..<m, y) {
      let residual = z[j] - target
      loss += residual * residual
      delta?[j] = residual
    }
    return loss / 2
  }
}

/// The nonlinearity after each hidden dense layer.
public enum Activation: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
  /// `f(z) = z`.
  case identity
  /// `f(z) = max(z, 0)`; `f′(z) = 1` for `z > 0`, else 0 (0 at the kink).
  case relu
  /// `f(z) = tanh(z)`; `f′ = 1 − f²`.
  case tanh

  public var description: String { rawValue }
}
