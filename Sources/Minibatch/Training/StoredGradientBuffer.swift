/// The trainer's one buffer for a stored `J`: each physical chunk of `k` examples takes a `k × n`
/// matrix on the buffer's storage and gives it back, so the storage grows to the largest chunk
/// seen, with 1/8 to spare (never one buffer per batch size, as Poisson batches all differ), and
/// is reused without allocating.
struct StoredGradientBuffer<Scalar: BLASScalar>: Sendable {
  private var storage: [Scalar] = []

  /// The scalars the buffer holds now (for tests of its bound).
  var capacity: Int { storage.capacity }

  /// A `k × n` matrix on the buffer's storage, its entries left as they were (the caller writes
  /// every row); give it back with ``reclaim(_:)``.
  ///
  /// - Throws: the shape and allocation errors of ``PerExampleGradients/init(k:n:)``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  mutating func take(k: Int, n: Int) throws(MinibatchError) -> PerExampleGradients<Scalar> {
    try PerExampleGradients<Scalar>.validateShape(k: k, n: n)
    let count = k * n
    var elements = storage
    storage = []  // `elements` is now the storage's only reference: resized in place
    if count <= elements.capacity {
      if elements.count > count {
        elements.removeLast(elements.count - count)
      } else {
        elements.append(contentsOf: repeatElement(0, count: count - elements.count))
      }
    } else {
      // A larger chunk: the old storage is released first (its entries are not needed), and the
      // new one has 1/8 to spare, so Poisson batches (whose sizes vary by about √k) seldom grow
      // it again.
      let (spare, overflow) = count.addingReportingOverflow(count / 8)
      let capacity = overflow ? count : spare
      try validateAllocation(
        count: count, stride: MemoryLayout<Scalar>.stride,
        of: "J (\(k)×\(n) per-example gradients)")
      elements = []
      if capacity > count {
        // Spare room only when the machine has it.
        do throws(MinibatchError) {
          try validateAllocation(count: capacity, stride: MemoryLayout<Scalar>.stride, of: "J")
          elements.reserveCapacity(capacity)
        } catch {
          elements.reserveCapacity(count)
        }
      }
      elements.append(contentsOf: repeatElement(0, count: count))
    }
    // Consumed, so that the matrix holds the only reference and writing it copies nothing.
    return try PerExampleGradients(k: k, n: n, elements: consume elements)
  }

  /// Keeps `matrix`'s storage for the next ``take(k:n:)``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  mutating func reclaim(_ matrix: consuming PerExampleGradients<Scalar>) {
    storage = matrix.matrix.elements
  }
}
