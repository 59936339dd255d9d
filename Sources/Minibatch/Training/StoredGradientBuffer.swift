/// The trainer's one buffer for a stored `J`: each physical chunk of `k` examples takes a `k × n`
/// matrix on the buffer's storage and gives it back, so the storage grows to the largest chunk
/// seen (never one buffer per batch size, as Poisson batches all differ) and is reused without
/// allocating.
struct StoredGradientBuffer<Scalar: BLASScalar>: Sendable {
  private var storage: [Scalar] = []

  /// The scalars the buffer holds now (for tests of its bound).
  var capacity: Int { storage.capacity }

  /// A `k × n` matrix on the buffer's storage, its entries left as they were (the caller writes
  /// every row); give it back with ``reclaim(_:)``.
  ///
  /// - Throws: the shape and allocation errors of ``PerExampleGradients/init(k:n:)``.
  mutating func take(k: Int, n: Int) throws(MinibatchError) -> PerExampleGradients<Scalar> {
    try PerExampleGradients<Scalar>.validateShape(k: k, n: n)
    let count = k * n
    var elements = storage
    storage = []  // `elements` is now the storage's only reference: resized in place
    if elements.count > count {
      elements.removeLast(elements.count - count)
    } else if elements.count < count {
      try validateAllocation(
        count: count, stride: MemoryLayout<Scalar>.stride,
        of: "J (\(k)×\(n) per-example gradients)")
      elements.reserveCapacity(count)  // exactly: the buffer is bounded by the largest chunk
      elements.append(contentsOf: repeatElement(0, count: count - elements.count))
    }
    // Consumed, so that the matrix holds the only reference and writing it copies nothing.
    return try PerExampleGradients(k: k, n: n, elements: consume elements)
  }

  /// Keeps `matrix`'s storage for the next ``take(k:n:)``.
  mutating func reclaim(_ matrix: consuming PerExampleGradients<Scalar>) {
    storage = matrix.matrix.elements
  }
}
