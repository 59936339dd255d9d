/// A table of `V` vectors of dimension `d` looked up by token id, for integer token sequences;
/// with mean or sum pooling over the sequence it is an **embedding bag**.
///
/// Input: `T` token ids per example (the batch's values are the ids, exactly representable;
/// ``Batch/init(tokenSequences:targets:)`` builds such a batch). A negative id, or ``paddingID``,
/// is **padding**: it contributes nothing and receives no gradient. Parameters: the table `E`
/// (`V × d` row-major: row `v` is token `v`'s vector).
///
/// ```
/// pooling .mean:  y_i = (1/n_i)·Σ_{t valid} E[x_{i,t}]   (d; n_i valid tokens, y_i = 0 when n_i = 0)
/// pooling .sum:   y_i = Σ_{t valid} E[x_{i,t}]
/// pooling .none:  y_i[:, t] = E[x_{i,t}]                  (d × T, channels first; 0 at padding)
/// ```
///
/// Its factor (``SparseRowsFactor``): example `i`'s gradient is nonzero only in the rows of its
/// own tokens, `J[i, E[u]] = Σ_{t: x_{i,t} = u} ∂ℓ_i/∂y_i[:, t]` (pooled: `c_i·count_i(u)·δ_i`
/// with `c_i = 1/n_i` or 1). Squared norms sum over the unique (example, token) pairs (no `T²`
/// term), `Jᵀv` is a scatter-add, and no dense `k × V·d` row is ever formed. The backward pass
/// computes no input deltas: an embedding is the first layer.
public struct Embedding<Scalar: BLASScalar>: NetworkLayer {
  /// How a sequence's vectors become the layer's output.
  public enum Pooling: String, Sendable, Hashable, Codable, CaseIterable {
    /// The sequence itself, `d × T`.
    case none
    /// The mean over the valid tokens, `d`.
    case mean
    /// The sum over the valid tokens, `d`.
    case sum
  }

  public let inputShape: TensorShape
  public let outputShape: TensorShape
  /// `V`, the token ids `0..<V`.
  public let vocabulary: Int
  /// `d`.
  public let dimension: Int
  public let pooling: Pooling
  /// An id in `0..<V` that also means padding, or `nil` (negative ids always do).
  public let paddingID: Int?

  /// - Parameters:
  ///   - inputShape: `[T]`, the sequence length.
  ///   - vocabulary: `V ≥ 1`; in Float at most 2²⁴ (ids must be exact).
  ///   - dimension: `d ≥ 1`.
  ///   - pooling: mean or sum over the sequence, or none.
  ///   - paddingID: an id in `0..<V` treated as padding.
  /// - Throws: ``MinibatchError/invalidArgument(name:value:expected:)`` naming what does not fit.
  public init(
    inputShape: TensorShape, vocabulary: Int, dimension: Int, pooling: Pooling = .mean,
    paddingID: Int? = nil
  ) throws(MinibatchError) {
    try validateArgument(
      inputShape, named: "embedding input shape", expected: "[T], a sequence of token ids",
      inputShape.dimensions.count == 1)
    try validateArgument(
      vocabulary, named: "embedding vocabulary",
      expected: "1...\(Scalar.significandBitCount == 23 ? "2^24 in Float" : "2^53")",
      vocabulary >= 1 && vocabulary <= (1 << (Scalar.significandBitCount + 1)))
    try validateArgument(dimension, named: "embedding dimension", expected: "≥ 1", dimension >= 1)
    if let paddingID {
      try validateArgument(
        paddingID, named: "padding id", expected: "0..<\(vocabulary)",
        (0..<vocabulary).contains(paddingID))
    }
    let (_, overflow) = vocabulary.multipliedReportingOverflow(by: dimension)
    try validateArgument(
      vocabulary, named: "embedding table", expected: "V·d within Int", !overflow)
    self.inputShape = inputShape
    self.vocabulary = vocabulary
    self.dimension = dimension
    self.pooling = pooling
    self.paddingID = paddingID
    outputShape = TensorShape(
      unchecked: pooling == .none ? [dimension, inputShape.count] : [dimension])
  }

  var length: Int { inputShape.count }
  public var parameterTensorSizes: [Int] { [vocabulary * dimension] }

  /// Uniform in `[−√3, √3]` (unit variance, like PyTorch's `N(0, 1)`).
  public func initializeParameters(
    _ parameters: UnsafeMutableBufferPointer<Scalar>, generator: inout SeededGenerator,
    rectifierFollows: Bool
  ) {
    fillUniform(parameters, radius: 3.0.squareRoot(), generator: &generator)
  }

  /// Every value must be an integer id in `0..<V`, negative (padding) or ``paddingID``.
  public func validateInput(_ values: [Scalar], exampleCount k: Int) throws(MinibatchError) {
    for (index, value) in values.enumerated() {
      let (i, t) = index.quotientAndRemainder(dividingBy: length)
      guard value.isFinite else {
        throw .nonFiniteEntry(row: i, column: t, of: "token ids")
      }
      guard value == value.rounded(.towardZero) else {
        throw .invalidArgument(
          name: "token id of example \(i) at position \(t)", value: "\(value)",
          expected: "an integer id")
      }
      guard value < Scalar(vocabulary) else {
        throw .indexOutOfRange(
          index: value < 0x1p62 ? Int(value) : Int.max, count: vocabulary,
          of: "token id of example \(i) at position \(t)")
      }
    }
  }

  /// The token at a value, or `nil` for padding.
  func token(_ value: Scalar) -> Int? {
    guard value >= 0 else { return nil }
    let id = Int(value)
    return id == paddingID ? nil : id
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(
    parameters: UnsafeBufferPointer<Scalar>, input: [Scalar], exampleCount k: Int
  ) -> any LayerPass<Scalar> {
    let (t, d) = (length, dimension)
    var output = [Scalar](repeating: 0, count: k * outputShape.count)
    var scales = [Scalar](repeating: 1, count: k)
    for i in 0..<k {
      var valid = 0
      for position in 0..<t {
        guard let id = token(input[i * t + position]) else { continue }
        valid += 1
        let row = parameters.baseAddress! + id * d
        if pooling == .none {
          for c in 0..<d { output[(i * d + c) * t + position] = row[c] }
        } else {
          for c in 0..<d { output[i * d + c] += row[c] }
        }
      }
      if pooling == .mean {
        scales[i] = valid == 0 ? 0 : 1 / Scalar(valid)
        for c in 0..<d { output[i * d + c] *= scales[i] }
      }
    }
    return Pass(layer: self, input: input, output: output, scales: scales, k: k)
  }

  struct Pass: LayerPass {
    let layer: Embedding
    let input: [Scalar]
    let output: [Scalar]
    /// `c_i`: `1/n_i` (mean), 1 (sum or none).
    let scales: [Scalar]
    let k: Int

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(
      outputDeltas: [Scalar], parameters: UnsafeBufferPointer<Scalar>, needsInputDeltas: Bool
    ) -> (inputDeltas: [Scalar]?, factor: (any PerExampleGradientFactor<Scalar>)?) {
      let (t, d) = (layer.length, layer.dimension)
      var tokens: [Int] = []
      var rowStarts = [0]
      var rows: [Scalar] = []
      tokens.reserveCapacity(k * t)
      rows.reserveCapacity(k * t * d)
      for i in 0..<k {
        // The example's valid positions grouped by token, in increasing token order.
        var positions: [(id: Int, position: Int)] = []
        for position in 0..<t {
          if let id = layer.token(input[i * t + position]) { positions.append((id, position)) }
        }
        positions.sort { $0.id < $1.id || ($0.id == $1.id && $0.position < $1.position) }
        var e = 0
        while e < positions.count {
          let id = positions[e].id
          var row = [Scalar](repeating: 0, count: d)
          var count = 0
          while e < positions.count && positions[e].id == id {
            if layer.pooling == .none {
              let position = positions[e].position
              for c in 0..<d { row[c] += outputDeltas[(i * d + c) * t + position] }
            }
            count += 1
            e += 1
          }
          if layer.pooling != .none {
            let scale = scales[i] * Scalar(count)
            for c in 0..<d { row[c] = scale * outputDeltas[i * d + c] }
          }
          tokens.append(id)
          rows += row
        }
        rowStarts.append(tokens.count)
      }
      let factor = SparseRowsFactor(
        exampleCount: k, tableRows: layer.vocabulary, rowWidth: d, tokens: tokens,
        rowStarts: rowStarts, rows: rows)
      return (nil, factor)
    }
  }
}

/// An embedding's factor of `J`: example `i`'s gradient is nonzero only in a few rows of a
/// `V × d` table, stored sparsely (compressed rows: for each example its unique tokens, in
/// increasing order, and one `d`-vector each).
///
/// ```
/// Jᵀv:      y[u] ← alpha·Σ_i v_i·R_{i,u} + beta·y[u]     scatter-add over the stored rows
/// (J∘J)ᵀv:  y[u] ← alpha·Σ_i v_i·R_{i,u}² + beta·y[u]
/// ‖g_i‖²:   Σ_u ‖R_{i,u}‖²                               (unique (example, token) pairs; no T² term)
/// J·Jᵀ:     G[i, j] = Σ_{u ∈ i ∩ j} ⟨R_{i,u}, R_{j,u}⟩    (merged token lists)
/// ```
///
/// Cost O(nnz·d) for everything but the Gram matrix (O(k²·tokens + shared·d)) and a `beta ∉ {0,
/// 1}` (one pass over the table); memory O(nnz·d), `nnz ≤ k·T`.
public struct SparseRowsFactor<Scalar: BLASScalar>: PerExampleGradientFactor {
  public let exampleCount: Int
  /// `V`.
  public let tableRows: Int
  /// `d`.
  public let rowWidth: Int
  /// The unique tokens of example `i`: `tokens[rowStarts[i]..<rowStarts[i + 1]]`, increasing.
  let tokens: [Int]
  let rowStarts: [Int]
  /// One `d`-vector per stored token, in the same order.
  let rows: [Scalar]

  init(
    exampleCount: Int, tableRows: Int, rowWidth: Int, tokens: [Int], rowStarts: [Int],
    rows: [Scalar]
  ) {
    assert(rowStarts.count == exampleCount + 1 && rows.count == tokens.count * rowWidth)
    self.exampleCount = exampleCount
    self.tableRows = tableRows
    self.rowWidth = rowWidth
    self.tokens = tokens
    self.rowStarts = rowStarts
    self.rows = rows
  }

  public var parameterCount: Int { tableRows * rowWidth }
  public var tensorSizes: [Int] { [parameterCount] }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func scatter(
    _ v: [Scalar], alpha: Scalar, beta: Scalar, squared: Bool,
    into slice: UnsafeMutableBufferPointer<Scalar>
  ) {
    if beta != 0 && beta != 1 {
      for j in slice.indices { slice[j] *= beta }
    }
    let d = rowWidth
    for i in 0..<exampleCount {
      let c = alpha * v[i]
      if c == 0 { continue }
      for e in rowStarts[i]..<rowStarts[i + 1] {
        let destination = slice.baseAddress! + tokens[e] * d
        for j in 0..<d {
          let r = rows[e * d + j]
          destination[j] += c * (squared ? r * r : r)
        }
      }
    }
  }

  public func reduce(
    tensorVectors vectors: [[Scalar]], alpha: Scalar, beta: Scalar,
    into slice: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism
  ) {
    scatter(vectors[0], alpha: alpha, beta: beta, squared: false, into: slice)
  }

  public func reduceSquares(
    with v: [Scalar], alpha: Scalar, beta: Scalar, into slice: UnsafeMutableBufferPointer<Scalar>,
    parallelism: Parallelism
  ) {
    scatter(v, alpha: alpha, beta: beta, squared: true, into: slice)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func squaredTensorNorms(parallelism: Parallelism) -> [[Double]] {
    let d = rowWidth
    return [
      rows.withUnsafeBufferPointer { r in
        (0..<exampleCount).map { i in
          let count = (rowStarts[i + 1] - rowStarts[i]) * d
          return count == 0 ? 0 : sumOfSquares(r.baseAddress! + rowStarts[i] * d, count: count)
        }
      }
    ]
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func addGram(into gram: UnsafeMutableBufferPointer<Scalar>, parallelism: Parallelism) {
    let (k, d) = (exampleCount, rowWidth)
    for i in 0..<k {
      for j in i..<k {
        var (a, b) = (rowStarts[i], rowStarts[j])
        var total: Scalar = 0
        while a < rowStarts[i + 1] && b < rowStarts[j + 1] {
          if tokens[a] < tokens[b] {
            a += 1
          } else if tokens[a] > tokens[b] {
            b += 1
          } else {
            for c in 0..<d { total += rows[a * d + c] * rows[b * d + c] }
            a += 1
            b += 1
          }
        }
        gram[i * k + j] += total
      }
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func writeTile(
    rows range: Range<Int>, columns: Range<Int>, into tile: UnsafeMutableBufferPointer<Scalar>,
    rowStride: Int
  ) {
    let d = rowWidth
    for (r, i) in range.enumerated() {
      let row = tile.baseAddress! + r * rowStride
      row.update(repeating: 0, count: columns.count)
      for e in rowStarts[i]..<rowStarts[i + 1] {
        let entries = (tokens[e] * d..<(tokens[e] * d + d)).clamped(to: columns)
        for c in entries { row[c - columns.lowerBound] = rows[e * d + c - tokens[e] * d] }
      }
    }
  }
}
