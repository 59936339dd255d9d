// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "Minibatch",
  products: [
    // MARK: - Public products
    .library(name: "Minibatch", targets: ["Minibatch"]),
    .executable(name: "minibatch-bench", targets: ["minibatch-bench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1")
  ],
  targets: [
    // MARK: - Implementation details: the system libraries, found through pkg-config
    .systemLibrary(
      name: "CBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "pkg-config"])]
    ),
    .systemLibrary(
      name: "CLAPACKE",
      pkgConfig: "lapacke",
      providers: [.apt(["liblapacke-dev", "pkg-config"])]
    ),

    // MARK: - The library
    .target(
      name: "Minibatch",
      dependencies: [
        "CBLAS", "CLAPACKE", .product(name: "RealModule", package: "swift-numerics"),
      ],
      exclude: ["Data/Resources/README.md"],
      resources: [
        .copy("Data/Resources/digits-train.csv"), .copy("Data/Resources/digits-test.csv"),
      ]
    ),

    // MARK: - Benchmarks and tests
    .executableTarget(
      name: "minibatch-bench",
      dependencies: ["Minibatch"],
      path: "Benchmarks/minibatch-bench"
    ),
    .target(
      name: "MinibatchTestSupport",
      dependencies: ["Minibatch"],
      path: "Tests/MinibatchTestSupport"
    ),
    .testTarget(
      name: "MinibatchTests",
      dependencies: ["Minibatch", "MinibatchTestSupport"]
    ),
  ]
)
