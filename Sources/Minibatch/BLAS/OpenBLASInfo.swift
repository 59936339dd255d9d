import CBLAS

/// What the linked OpenBLAS reports about itself, for benchmark and diagnostic output.
public enum OpenBLASInfo {
  /// The kernel family OpenBLAS selected at load time (`openblas_get_corename()`), e.g. `"Haswell"`.
  /// It honours `OPENBLAS_CORETYPE` when that is set.
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// The number of threads OpenBLAS uses inside one call (`openblas_get_num_threads()`).
  public static var threadCount: Int { Int(openblas_get_num_threads()) }

  /// Sets the number of threads OpenBLAS uses inside one call (`openblas_set_num_threads`), for
  /// the whole process. The library never calls this itself; a program that owns its process
  /// (like `minibatch-train --threads`) may, before it starts work. Values below 1 mean 1.
  /// Process-wide state is not library API: `@_spi(Benchmark)`, for the package's own programs.
  @_spi(Benchmark) public static func setThreadCount(_ threads: Int) {
    openblas_set_num_threads(Int32(clamping: max(1, threads)))
  }

  /// OpenBLAS's build configuration string (`openblas_get_config()`).
  public static var configuration: String {
    guard let config = openblas_get_config() else { return "unknown" }
    return String(cString: config)
  }
}
