import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A file mapped read-only into memory (`mmap(PROT_READ, MAP_PRIVATE)`), unmapped when the last
/// reference to it goes: its bytes are read where the page cache holds them, never copied whole.
///
/// Pages a reader touches count in the process's resident memory until they are unmapped from
/// it, so a pass over a file larger than memory would grow the resident set to the file's size
/// (the kernel reclaims clean file pages under pressure, but the process's figures — and a
/// scheduler's limits — count them). Readers report what they touched (``noteTouched(bytes:)``)
/// and the mapping drops its resident pages (`madvise(MADV_DONTNEED)`, which on a private
/// read-only file mapping only unmaps them: the page cache keeps them, a later read faults them
/// back in) every ``releaseInterval`` bytes. The mapping is advised `MADV_RANDOM` (a row read
/// from disk reads its pages, not the kernel's read-around window); sequential passes ask for
/// their range ahead (``prefetch(_:)``).
///
/// The mapping never changes after `init`, so the class is safe to share between threads
/// (a release racing a read only makes that read fault its page in again).
final class MappedFile: @unchecked Sendable {
  /// The file, for error messages.
  let path: String
  /// The file's length in bytes.
  let count: Int
  /// The mapping's start; `nil` for an empty file (nothing to map).
  private let base: UnsafeRawPointer?
  /// Resident bytes touched since the last release.
  private let touched = Atomic<Int>(0)
  /// The bytes a reader may touch before the mapping drops its resident pages.
  let releaseInterval: Int

  /// The default ``releaseInterval``: 64 MiB.
  static let defaultReleaseInterval = 64 << 20

  /// The memory page size.
  static let pageSize = max(1, sysconf(Int32(_SC_PAGESIZE)))

  /// What a read may make resident around each byte it touches: the kernel maps a whole cached
  /// folio on a fault, and the page cache of a file system with large folios (ext4 and XFS on
  /// Linux 6.x) holds folios up to a PMD (2 MiB on x86-64; measured: reading one byte of a cached
  /// file maps 2 MiB), aligned in the file; the 64 KiB fault-around window lies within one. The
  /// PMD size as the kernel reports it, at least 64 KiB.
  static let faultGranule: Int = {
    let reported =
      (try? String(
        contentsOfFile: "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", encoding: .utf8))
      .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    return max(64 << 10, reported ?? 2 << 20)
  }()

  /// Maps the file at `path`.
  ///
  /// - Throws: ``MinibatchError/fileUnreadable(path:reason:)`` for a file that is missing, a
  ///   folder, not a regular file, unreadable, or that cannot be mapped (the system's reason).
  init(path: String, releaseInterval: Int = defaultReleaseInterval) throws(MinibatchError) {
    self.path = path
    self.releaseInterval = max(1, releaseInterval)
    func failure(_ what: String) -> MinibatchError {
      let code = errno
      let reason = code == ENOENT ? "no such file" : String(cString: strerror(code))
      return .fileUnreadable(path: path, reason: "\(what): \(reason)")
    }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      let code = errno
      throw .fileUnreadable(
        path: path, reason: code == ENOENT ? "no such file" : String(cString: strerror(code)))
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw failure("fstat") }
    switch status.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw .fileUnreadable(path: path, reason: "it is a folder, not a file")
    default: throw .fileUnreadable(path: path, reason: "not a regular file (it cannot be mapped)")
    }
    count = Int(status.st_size)
    guard count > 0 else {
      base = nil
      return
    }
    let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
    guard let address, address != MAP_FAILED else { throw failure("mmap") }
    _ = madvise(address, count, Int32(MADV_RANDOM))
    base = UnsafeRawPointer(address)
  }

  deinit {
    if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
  }

  /// Calls `body` with the file's bytes.
  func withUnsafeBytes<R, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: base, count: base == nil ? 0 : count))
  }

  /// Counts `bytes` more as made resident by a read, and drops the resident pages once
  /// ``releaseInterval`` bytes have been touched since the last release (returning whether it
  /// did).
  @discardableResult
  func noteTouched(bytes: Int) -> Bool {
    let (total, _) = touched.add(max(0, bytes), ordering: .relaxed)
    guard total >= releaseInterval else { return false }
    releaseResidentPages()
    return true
  }

  /// Unmaps every resident page of the mapping from the process (the page cache keeps them).
  func releaseResidentPages() {
    touched.store(0, ordering: .relaxed)
    guard let base else { return }
    _ = madvise(UnsafeMutableRawPointer(mutating: base), count, Int32(MADV_DONTNEED))
  }

  /// Asks the kernel to read the pages of `range` (byte offsets) ahead of a sequential pass.
  func prefetch(_ range: Range<Int>) {
    guard let base, !range.isEmpty else { return }
    let start = range.lowerBound / Self.pageSize * Self.pageSize
    let end = min(count, range.upperBound)
    guard start < end else { return }
    _ = madvise(
      UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_WILLNEED))
  }

  /// The resident bytes that reading `range` (byte offsets) may add: the fault granules it
  /// overlaps (a range of a few bytes counts as one granule, 2 MiB).
  static func residentBytes(reading range: Range<Int>) -> Int {
    guard !range.isEmpty else { return 0 }
    let first = range.lowerBound / faultGranule
    let last = (range.upperBound - 1) / faultGranule
    return (last - first + 1) * faultGranule
  }
}
