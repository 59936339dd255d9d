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
  /// - Throws: the ``CSVLoader`` errors if the bundled files are missing or damaged.
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
    let standardizer = Standardizer(fitting: train.inputs)
    return (try standardizer.transform(train), try standardizer.transform(test))
  }

  static func path(of name: String) throws(MinibatchError) -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: "csv") else {
      throw .fileUnreadable(path: "\(name).csv", reason: "not found in Minibatch's resource bundle")
    }
    return url.path
  }
}
