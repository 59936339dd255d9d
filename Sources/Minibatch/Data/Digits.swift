import Foundation

/// The UCI optical handwritten digits, bundled with Minibatch: 8×8 images as 64 features with
/// integer values 0…16, labels 0…9; 1,437 training and 360 test examples (a fixed, stratified
/// 80/20 split of the 1,797 images). See `Sources/Minibatch/Data/Resources/README.md` for the
/// source (Alpaydin & Kaynak, UCI, CC BY 4.0) and how the files were made.
public enum Digits {
  /// Features per example.
  public static let featureCount = 64
  /// Classes (the digits 0…9).
  public static let classCount = 10

  /// The training and test sets, raw (not standardised).
  /// - Throws: ``MinibatchError/resourceMissing(name:searched:)`` if the bundled files are not
  ///   where the build put them, the ``CSVLoader`` errors if they are damaged.
  public static func load<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self
  ) throws(MinibatchError) -> (train: Batch<Scalar>, test: Batch<Scalar>) {
    let loader = CSVLoader(classCount: classCount)
    return (
      try loader.load(Scalar.self, path: try path(of: "digits-train")),
      try loader.load(Scalar.self, path: try path(of: "digits-test"))
    )
  }

  /// The training and test sets, both standardised with the training set's means and scales.
  public static func loadStandardized<Scalar: BLASScalar>(
    _: Scalar.Type = Scalar.self
  ) throws(MinibatchError) -> (train: Batch<Scalar>, test: Batch<Scalar>) {
    let (train, test) = try load(Scalar.self)
    let standardizer = try Standardizer(fitting: train.inputs)
    return (try standardizer.transform(train), try standardizer.transform(test))
  }

  /// The bundled file `name.csv`, looked up in the resources directory SwiftPM puts next to the
  /// executable (`Minibatch_Minibatch.resources`), beside the main bundle or beside the running
  /// binary itself. `Bundle.module` is not used: it traps when the directory is missing (a binary
  /// copied away from its build folder); this throws.
  static func path(
    of name: String, searching directories: [URL] = resourceDirectories
  ) throws(MinibatchError) -> String {
    for directory in directories {
      let file = directory.appendingPathComponent("\(name).csv")
      if FileManager.default.isReadableFile(atPath: file.path) { return file.path }
    }
    throw .resourceMissing(name: "\(name).csv", searched: directories.map(\.path))
  }

  /// Where SwiftPM puts the package's resources: beside the main bundle, or beside the binary.
  static var resourceDirectories: [URL] {
    let resources = "Minibatch_Minibatch.resources"
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return [
      Bundle.main.bundleURL.appendingPathComponent(resources),
      executable.deletingLastPathComponent().appendingPathComponent(resources),
    ]
  }
}
