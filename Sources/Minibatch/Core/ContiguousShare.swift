/// Part `part` of `count` items split into `parts` contiguous slices in order:
/// `⌊count·part/parts⌋ ..< ⌊count·(part + 1)/parts⌋` (the last slice ends at `count`). The slices
/// differ in length by at most one; with more parts than items some are empty (and all are for
/// `count ≤ 0`). The one split rule of the package: a rank's share of a global batch
/// (``ReductionCollective/slice(of:)``) and a rank's shard of a data file.
func contiguousShare(of count: Int, part: Int, parts: Int) -> Range<Int> {
  precondition(parts >= 1 && (0..<parts).contains(part), "part \(part) of \(parts)")
  let count = max(0, count)
  let bounds = { (p: Int) in Int((Double(count) * Double(p) / Double(parts)).rounded(.down)) }
  return part + 1 == parts ? bounds(part)..<count : bounds(part)..<bounds(part + 1)
}
