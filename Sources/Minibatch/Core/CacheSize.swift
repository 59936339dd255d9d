import Foundation

/// The size of this machine's caches, read once at run time. An implementation detail of the
/// stored reduction's choice of path (`@_spi(Benchmark)`: the benchmark reports it).
@_spi(Benchmark) public enum CacheSize {
  /// Bytes of the last-level cache of CPU 0, from sysfs (the largest `index*/size`, as `lscpu`
  /// reads it); 32 MiB when sysfs does not say. `sysconf(_SC_LEVEL3_CACHE_SIZE)` is not used: on
  /// virtual machines it has been seen to report the host's whole cache.
  public static let lastLevelBytes: Int = {
    let directory = "/sys/devices/system/cpu/cpu0/cache"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let sizes = entries.filter { $0.hasPrefix("index") }.compactMap { entry -> Int? in
      guard
        let text = try? String(contentsOfFile: "\(directory)/\(entry)/size", encoding: .utf8)
      else { return nil }
      let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
      let multiplier = trimmed.hasSuffix("K") ? 1 << 10 : trimmed.hasSuffix("M") ? 1 << 20 : 1
      return Int(trimmed.filter(\.isNumber)).map { $0 * multiplier }
    }
    return sizes.max() ?? 32 << 20
  }()
}
