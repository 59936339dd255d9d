import Foundation
import Minibatch

/// What the targets are: class labels or real values.
enum Task: String, CaseIterable, Codable, Sendable {
  case classification
  case regression
}

/// Where the data comes from and how to read it (the command line's data options).
struct DataOptions: Sendable {
  /// A CSV or `.npy` table (features and target columns), or an inputs file (`.npy`, IDX) when
  /// ``trainLabels`` is given; `nil`: the bundled digits.
  var train: String?
  var trainLabels: String?
  var test: String?
  var testLabels: String?
  /// The target column: a 0-based index or (CSV with a header) a name; `nil`: the last column.
  var target: String?
  /// `nil`: decided from the training targets (see ``decideTask(_:)``).
  var task: Task?
  var delimiter: Character = ","
  /// `nil`: detected from the first line.
  var hasHeader: Bool?
  /// Standardise the features with the training set's means and deviations.
  var standardize = true
}

/// How a run read its data, kept in its save file: `--load` reads new data the same way (the
/// target column, the CSV's delimiter and header, inputs with a labels file or a table), and
/// without `--train` it resumes on the digits only when the run was trained on them.
struct DataRecord: Codable, Sendable, Equatable {
  /// The training file, absolute; `nil`: the bundled digits.
  var train: String?
  /// The training labels file (absolute), when the inputs had one.
  var trainLabels: String?
  var test: String?
  var testLabels: String?
  /// `--target` as given (`nil`: the last column).
  var target: String?
  var delimiter: String
  /// `nil`: detected from the first line.
  var hasHeader: Bool?

  init(_ options: DataOptions) {
    func absolute(_ path: String?) -> String? {
      path.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }
    train = absolute(options.train)
    trainLabels = absolute(options.trainLabels)
    test = absolute(options.test)
    testLabels = absolute(options.testLabels)
    target = options.target
    delimiter = String(options.delimiter)
    hasHeader = options.hasHeader
  }
}

/// A read training set, optional test set, and what they hold.
struct LoadedData<Scalar: BLASScalar>: Sendable {
  /// The training examples: in memory (CSV, IDX, a `.npy` table, the digits), or — `.npy` inputs
  /// with a labels file — mapped from the file (``MemoryMappedNPY``, this rank's shard with
  /// `--shard`) and standardised as they are read.
  var train: any ExampleSource<Scalar>
  var test: Batch<Scalar>?
  var task: Task
  /// Classes for classification: the largest training label + 1, at least 2 (a test label
  /// beyond them is an error).
  var classCount: Int?
  /// Fitted on the training features when standardising.
  var standardizer: Standardizer<Scalar>?
  /// One line describing the data, for the program's output.
  var summary: String
  /// How the data was read (for the save file); `nil` when it was not read from options.
  var record: DataRecord? = nil
  /// Values per training example (`d`) and targets per example (1 for labels).
  var featureCount: Int
  var targetCount: Int

  /// A training set in memory.
  init(
    train: Batch<Scalar>, test: Batch<Scalar>?, task: Task, classCount: Int?,
    standardizer: Standardizer<Scalar>?, summary: String, record: DataRecord? = nil
  ) {
    if case .values(let values) = train.targets {
      targetCount = values.columns
    } else {
      targetCount = 1
    }
    featureCount = train.inputs.columns
    self.train = train
    (self.test, self.task, self.classCount, self.standardizer) = (
      test, task, classCount, standardizer
    )
    (self.summary, self.record) = (summary, record)
  }

  /// A training set read from a source (a mapped file) of `featureCount` values and
  /// `targetCount` targets per example.
  init(
    source: any ExampleSource<Scalar>, featureCount: Int, targetCount: Int, test: Batch<Scalar>?,
    task: Task, classCount: Int?, summary: String
  ) {
    train = source
    (self.featureCount, self.targetCount) = (featureCount, targetCount)
    (self.test, self.task, self.classCount, standardizer) = (test, task, classCount, nil)
    self.summary = summary
  }

  /// The training set in memory, or `nil` when it is read from a file as it goes.
  var trainBatch: Batch<Scalar>? { train as? Batch<Scalar> }

  /// Whether this rank holds only a shard of the training set (`--shard`).
  var isSharded: Bool { train.heldExamples != 0..<train.exampleCount }
}

/// The file formats the program reads.
enum DataFormat {
  case csv
  case npy
  case idx

  init(path: String) {
    let name = (path as NSString).lastPathComponent.lowercased()
    if name.hasSuffix(".npy") {
      self = .npy
    } else if name.hasSuffix("-ubyte") || name.contains(".idx") {
      self = .idx
    } else {
      self = .csv
    }
  }
}

/// Classification when every training target is a whole number in `0..<1000` (a class label);
/// regression otherwise. `--task` overrides it (say, for integer-valued regression targets).
func decideTask(_ targets: [Double]) -> Task {
  targets.allSatisfy { $0 >= 0 && $0 < 1000 && $0.rounded() == $0 } ? .classification : .regression
}

extension DataOptions {
  /// Reads the training (and test) data in `Scalar`, decides the task, converts labels, and fits
  /// and applies the standardiser (fitted on the training set only): ``read(_:task:classCount:shard:)``
  /// and ``standardized(_:saved:across:)`` in one process.
  func load<Scalar: BLASScalar>(
    _: Scalar.Type, standardizer saved: Standardizer<Scalar>? = nil, task savedTask: Task? = nil,
    classCount savedClassCount: Int? = nil
  ) throws -> LoadedData<Scalar> {
    try standardized(
      try read(Scalar.self, task: savedTask, classCount: savedClassCount), saved: saved)
  }

  /// Reads the training (and test) data in `Scalar`, decides the task and converts labels, as
  /// this process's work alone (no collective call): `.npy` training inputs with a labels file
  /// are mapped, not loaded — only rows `shard.rank` of `shard.count` of them with `--shard` —
  /// and their targets file is read whole (one value per example) to decide the task and the
  /// classes alike on every rank. Not standardised yet.
  func read<Scalar: BLASScalar>(
    _: Scalar.Type, task savedTask: Task? = nil, classCount savedClassCount: Int? = nil,
    shard: (rank: Int, count: Int)? = nil
  ) throws -> LoadedData<Scalar> {
    guard let train else {
      let (train, test) = try Digits.load(Scalar.self)
      return LoadedData(
        train: train, test: test, task: .classification, classCount: Digits.classCount,
        standardizer: nil,
        summary: "bundled UCI digits: \(train.count) training and \(test.count) test examples, "
          + "\(Digits.featureCount) features, \(Digits.classCount) classes",
        record: DataRecord(self))
    }
    let mapped = trainLabels != nil && DataFormat(path: train) == .npy
    var trainSource: MemoryMappedNPY<Scalar>?
    let trainValues: (inputs: Matrix<Scalar>?, targets: Matrix<Scalar>)
    if let trainLabels, mapped {
      // The inputs mapped (their header and the held targets checked now); all the targets read,
      // to decide the task and the classes.
      let source =
        try shard.map {
          try MemoryMappedNPY<Scalar>(
            inputs: train, values: trainLabels, shard: $0.rank, of: $0.count)
        } ?? MemoryMappedNPY<Scalar>(inputs: train, values: trainLabels)
      let targets = try NPYLoader.read(path: trainLabels).values.map { Scalar($0) }
      if let bad = targets.firstIndex(where: { !$0.isFinite }) {
        throw MinibatchError.nonFiniteEntry(
          row: bad / source.targetCount, column: bad % source.targetCount,
          of: "targets in \(trainLabels)")
      }
      trainSource = source
      trainValues = (
        nil,
        try Matrix(
          rows: source.exampleCount, columns: source.targetCount, elements: targets)
      )
    } else {
      let values = try readValues(Scalar.self, path: train, labels: trainLabels)
      trainValues = (values.inputs, values.targets)
    }
    let featureCount = trainSource?.featureCount ?? trainValues.inputs!.columns
    let exampleCount = trainSource?.exampleCount ?? trainValues.inputs!.rows
    let testValues = try test.map { try readValues(Scalar.self, path: $0, labels: testLabels) }
    if let testValues {
      guard testValues.inputs.columns == featureCount else {
        throw MinibatchError.shapeMismatch(
          expected: featureCount, got: testValues.inputs.columns,
          of: "features of the test set (as the training set)")
      }
    }
    let targets = trainValues.targets.elements.map { Double($0) }
    let task = savedTask ?? self.task ?? decideTask(targets)
    var classCount: Int?
    var trainBatch: Batch<Scalar>?
    var testBatch: Batch<Scalar>?
    var source: (any ExampleSource<Scalar>)? = trainSource
    switch task {
    case .regression:
      trainBatch = try trainValues.inputs.map {
        try Batch(inputs: $0, targets: .values(trainValues.targets))
      }
      testBatch = try testValues.map { try Batch(inputs: $0.inputs, targets: .values($0.targets)) }
    case .classification:
      // The labels file, when there is one, is what holds the labels: errors name it.
      let trainPath = self.trainLabels ?? train
      let trainLabels = try labels(trainValues.targets, of: trainPath)
      let count: Int
      if let savedClassCount {
        count = savedClassCount
        try checkLabels(trainLabels, of: trainPath, classCount: count, from: "the saved model")
      } else {
        count = try countClasses(trainLabels, in: trainPath)
      }
      // The classes are the training set's: a test label beyond them could never be predicted.
      let testPath = testLabels ?? test
      let testLabels = try testValues.map { values in
        let labels = try labels(values.targets, of: testPath!)
        try checkLabels(
          labels, of: testPath!, classCount: count,
          from: savedClassCount == nil ? "the training set" : "the saved model")
        return labels
      }
      classCount = count
      if let trainSource {
        source = try MemoryMappedNPY<Scalar>(
          inputs: train, labels: self.trainLabels!, classCount: count,
          rows: trainSource.heldExamples)
      }
      trainBatch = try trainValues.inputs.map {
        try Batch(inputs: $0, targets: .labels(trainLabels))
      }
      testBatch = try testValues.map { try Batch(inputs: $0.inputs, targets: .labels(testLabels!)) }
    }
    let description =
      "\(train): \(exampleCount) examples, \(featureCount) features, "
      + (classCount.map { "\($0) classes" } ?? "\(trainValues.targets.columns) target(s)")
      + (testBatch.map { "; \(test!): \($0.count) test examples" } ?? "")
      + (mapped
        ? " (training inputs memory-mapped\(shard.map { ", \($0.count) shards" } ?? ""))" : "")
    var data: LoadedData<Scalar>
    if let trainBatch {
      data = LoadedData(
        train: trainBatch, test: testBatch, task: task, classCount: classCount, standardizer: nil,
        summary: description)
    } else {
      data = LoadedData(
        source: source!, featureCount: featureCount, targetCount: trainValues.targets.columns,
        test: testBatch, task: task, classCount: classCount, summary: description)
    }
    data.record = DataRecord(self)
    return data
  }

  /// `data` standardised (unless `--no-standardize`): with the `saved` standardiser, or one
  /// fitted on the training features — in memory as before for data in memory, a piece at a
  /// time for a mapped file (the same bits), across `collective`'s ranks for shards. A mapped
  /// training set that is not fitted is read through once now, so that a NaN or infinite input is
  /// refused before training starts. With a collective, every rank makes the same collective
  /// calls and fails alike.
  func standardized<Scalar: BLASScalar>(
    _ data: LoadedData<Scalar>, saved: Standardizer<Scalar>?,
    across collective: (any ReductionCollective)? = nil
  ) throws -> LoadedData<Scalar> {
    if saved == nil, standardize, data.isSharded, let collective {
      // Every rank's shard together (the fit's own collective checks).
      var fitted = data
      let standardizer = try Standardizer(fitting: data.train, across: collective)
      fitted.standardizer = standardizer
      fitted.train = try collectively(collective) {
        try standardizing(data.train, by: standardizer)
      }
      fitted.test = try collectively(collective) { try data.test.map(standardizer.transform) }
      return fitted
    }
    return try collectively(collective) {
      var result = data
      if let batch = data.trainBatch {
        let standardizer = try saved ?? (standardize ? Standardizer(fitting: batch.inputs) : nil)
        result.train = try standardizer?.transform(batch) ?? batch
        result.standardizer = standardizer
      } else if let standardizer = try saved
        ?? (standardize ? Standardizer(fitting: data.train) : nil)
      {
        result.train = try standardizing(data.train, by: standardizer)
        result.standardizer = standardizer
      } else {
        try data.train.forEachPiece(maximumCount: 4096) { _, _ in }
      }
      result.test = try data.test.map { try result.standardizer?.transform($0) ?? $0 }
      return result
    }
  }

  /// `source` standardised as it is read (its features checked against the standardiser's).
  func standardizing<Source: ExampleSource>(
    _ source: Source, by standardizer: Standardizer<Source.Scalar>
  ) throws -> any ExampleSource<Source.Scalar> {
    if let first = source.heldExamples.first {
      let features = try source.gathering([first]).inputs.columns
      guard features == standardizer.means.count else {
        throw MinibatchError.shapeMismatch(
          expected: standardizer.means.count, got: features,
          of: "features to standardise (as the saved standardiser)")
      }
    }
    return source.standardized(by: standardizer)
  }

  /// The most classes a classification task may have (the largest training label + 1): beyond
  /// it the targets are almost surely real values read as classes (`--task regression`), and the
  /// output layer would hold `features × classes` parameters.
  static let maximumClassCount = 10_000

  /// The classes of `labels` (the training set's): the largest label + 1, at least 2, at most
  /// ``maximumClassCount``.
  func countClasses(_ labels: [Int], in path: String) throws -> Int {
    let largest = labels.max() ?? 0
    guard largest < Self.maximumClassCount else {
      throw MinibatchError.invalidArgument(
        name: "the classes of \(path)",
        value: "\(Set(labels).count) distinct target values (the largest label is \(largest))",
        expected: "at most \(Self.maximumClassCount) classes (labels 0..<\(Self.maximumClassCount))"
          + "; use --task regression for real-valued targets")
    }
    return max(2, largest + 1)
  }

  /// Every label in `0..<classCount`, naming the first row (1-based) that is not.
  func checkLabels(_ labels: [Int], of path: String, classCount: Int, from source: String) throws {
    if let row = labels.firstIndex(where: { $0 >= classCount }) {
      throw MinibatchError.invalidArgument(
        name: "the label of row \(row + 1) in \(path)", value: "\(labels[row])",
        expected: "one of the \(classCount) classes of \(source) (0..<\(classCount))")
    }
  }

  /// Whole numbers `≥ 0` as class labels, naming the first row that is not.
  func labels<Scalar: BLASScalar>(_ targets: Matrix<Scalar>, of path: String) throws -> [Int] {
    guard targets.columns == 1 else {
      throw MinibatchError.invalidArgument(
        name: "target columns of \(path)", value: "\(targets.columns)",
        expected: "one column of class labels for classification")
    }
    return try targets.elements.enumerated().map { row, value in
      guard value >= 0, value.rounded() == value, Double(value) < 1e9 else {
        throw MinibatchError.invalidArgument(
          name: "target of row \(row + 1) in \(path)", value: "\(value)",
          expected: "a class label (a whole number ≥ 0); use --task regression for real values")
      }
      return Int(value)
    }
  }

  /// The features and the real-valued target columns of one data set.
  func readValues<Scalar: BLASScalar>(
    _: Scalar.Type, path: String, labels: String?
  ) throws -> (inputs: Matrix<Scalar>, targets: Matrix<Scalar>) {
    if let labels {
      // An inputs file and a targets file (.npy or IDX, like MNIST's images and labels).
      let batch: Batch<Scalar>
      switch DataFormat(path: path) {
      case .npy: batch = try NPYLoader.load(Scalar.self, inputs: path, values: labels)
      case .idx:
        let images = try IDXLoader.read(path: path)
        let classes = try IDXLoader.read(path: labels)
        let rows = images.shape.first ?? 0
        let inputs = try Matrix<Scalar>(
          rows: rows, columns: rows == 0 ? 0 : images.values.count / rows,
          elements: images.values.map { Scalar($0) })
        try validateTargetCount(classes.values.count, rows: rows, of: labels)
        batch = try Batch(
          inputs: inputs,
          targets: .values(
            try Matrix(rows: rows, columns: 1, elements: classes.values.map { Scalar($0) })))
      case .csv:
        throw MinibatchError.invalidArgument(
          name: "format of \(path)", value: "CSV",
          expected: ".npy or IDX inputs with a separate labels file (a CSV holds its targets)")
      }
      guard case .values(let targets) = batch.targets else { preconditionFailure() }
      return (batch.inputs, targets)
    }
    switch DataFormat(path: path) {
    case .csv:
      let column: CSVColumn =
        target.map { text in Int(text).map { .index($0) } ?? .name(text) } ?? .last
      let batch: Batch<Scalar> = try CSVLoader(
        targets: .values(columns: [column]), hasHeader: hasHeader, delimiter: delimiter
      ).load(path: path)
      guard case .values(let targets) = batch.targets else { preconditionFailure() }
      return (batch.inputs, targets)
    case .npy:
      let array = try NPYLoader.read(path: path)
      guard array.shape.count == 2, array.shape[1] >= 2 else {
        throw MinibatchError.invalidArgument(
          name: "shape of \(path)", value: "\(array.shape)",
          expected: "a 2-D table of features and a target column, or --train-labels")
      }
      let (rows, width) = (array.shape[0], array.shape[1])
      let column =
        try target.map { text in
          guard let index = Int(text), index >= 0, index < width else {
            throw MinibatchError.invalidArgument(
              name: "--target", value: text, expected: "a column index in 0..<\(width) for .npy")
          }
          return index
        } ?? (width - 1)
      var features: [Scalar] = []
      var targets: [Scalar] = []
      features.reserveCapacity(rows * (width - 1))
      for row in 0..<rows {
        for j in 0..<width {
          let value = Scalar(array.values[row * width + j])
          guard value.isFinite else {
            throw MinibatchError.nonFiniteEntry(row: row, column: j, of: path)
          }
          if j == column { targets.append(value) } else { features.append(value) }
        }
      }
      return (
        try Matrix(rows: rows, columns: width - 1, elements: features),
        try Matrix(rows: rows, columns: 1, elements: targets)
      )
    case .idx:
      throw MinibatchError.invalidArgument(
        name: "labels of \(path)", value: "none",
        expected: "an IDX labels file (--train-labels / --test-labels)")
    }
  }

  func validateTargetCount(_ count: Int, rows: Int, of path: String) throws {
    guard count == rows else {
      throw MinibatchError.shapeMismatch(expected: rows, got: count, of: "labels in \(path)")
    }
  }
}
