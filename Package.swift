// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "Minibatch",
  products: [
    // MARK: - Public products
    .library(name: "Minibatch", targets: ["Minibatch"]),
    // Data-parallel training across processes on MPI; a separate product, so that linking
    // Minibatch alone never needs MPI.
    .library(name: "MinibatchMPI", targets: ["MinibatchMPI"]),
    .executable(name: "minibatch-bench", targets: ["minibatch-bench"]),
    .executable(name: "minibatch-train", targets: ["minibatch-train"]),
    .executable(name: "minibatch-privacy", targets: ["minibatch-privacy"]),
  ],
  // The command-line programs need swift-argument-parser; a package that depends on the library
  // does not resolve it unless it enables this trait. `make test` and `make train` enable it.
  traits: [
    .trait(
      name: "CommandLineTools",
      description: "Build minibatch-train and minibatch-privacy with swift-argument-parser.")
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
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
    .systemLibrary(
      name: "CMPI",
      pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin", "pkg-config"])]
    ),

    // The package's own hot loops in C, each compiled for several instruction sets and chosen
    // at run time (`target` attributes): no compiler flags, so a dependent package still builds.
    .target(name: "CMinibatchKernels"),

    // MARK: - The library
    .target(
      name: "Minibatch",
      dependencies: [
        "CBLAS", "CLAPACKE", "CMinibatchKernels",
        .product(name: "RealModule", package: "swift-numerics"),
      ],
      exclude: ["Data/Resources/README.md"],
      resources: [
        .copy("Data/Resources/digits-train.csv"), .copy("Data/Resources/digits-test.csv"),
      ]
    ),
    .target(name: "MinibatchMPI", dependencies: ["Minibatch", "CMPI"]),

    // MARK: - Example program
    .executableTarget(
      name: "minibatch-train",
      dependencies: [
        "Minibatch", "MinibatchMPI",
        .product(
          name: "ArgumentParser", package: "swift-argument-parser",
          condition: .when(traits: ["CommandLineTools"])),
      ]
    ),

    .executableTarget(
      name: "minibatch-privacy",
      dependencies: [
        "Minibatch",
        .product(
          name: "ArgumentParser", package: "swift-argument-parser",
          condition: .when(traits: ["CommandLineTools"])),
      ]
    ),

    // MARK: - Benchmarks and tests
    .executableTarget(
      name: "minibatch-bench",
      dependencies: ["Minibatch", "MinibatchMPI"],
      path: "Benchmarks/minibatch-bench"
    ),
    .target(
      name: "MinibatchTestSupport",
      dependencies: ["Minibatch"],
      path: "Tests/MinibatchTestSupport"
    ),
    .testTarget(
      name: "MinibatchTests",
      dependencies: [
        "Minibatch", "MinibatchMPI", "MinibatchTestSupport", "minibatch-train", "minibatch-privacy",
        .product(name: "PropertyBased", package: "swift-property-based"),
        .product(name: "RealModule", package: "swift-numerics"),
      ]
    ),
    // Run through mpirun by `make test` (its tests are skipped outside mpirun).
    .testTarget(
      name: "MinibatchMPITests",
      dependencies: ["Minibatch", "MinibatchMPI", "MinibatchTestSupport", "minibatch-train"]
    ),
  ]
)
