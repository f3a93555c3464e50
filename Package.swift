// swift-tools-version: 6.2
// SubQ: one C source tree (Sources/CSubQ, public headers in Include/) built by
// SwiftPM and CMake alike, with no unsafe compiler flags: per-ISA code uses in-source target
// regions and runtime dispatch.
import PackageDescription

let package = Package(
  name: "SubQ",
  products: [
    .library(name: "SubQ", targets: ["SubQ"]),
    .library(name: "CSubQ", targets: ["CSubQ"]),
    .executable(name: "subq-bench", targets: ["subq-bench"]),
    .executable(name: "subq-run", targets: ["subq-run"]),
  ],
  traits: [
    .trait(name: "NUMA", description: "Link hwloc and libnuma on Linux for topology and NUMA placement"),
    .default(enabledTraits: ["NUMA"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    .target(
      name: "CSubQ",
      path: ".",
      exclude: [
        "Sources/CSubQ/families/gemm/subq_gemm_impls.inc",
        "Sources/CSubQ/families/gemm/subq_gemm_short_tiles.inc",
        "Sources/CSubQ/families/fattn/subq_fattn_impls.inc",
        "Sources/CSubQ/families/ssm/subq_ssm_impls.inc",
        "Sources/CSubQ/families/nn/subq_nn_impls.inc",
        "Sources/CSubQ/families/ssm/subq_ssm2_impls.inc",
        "Sources/CSubQ/families/linattn/subq_linattn_impls.inc",
        "Sources/CSubQ/families/monarch/subq_monarch_impls.inc",
        "Sources/CSubQ/families/ternary/subq_ternary_impls.inc",
        "Sources/CSubQ/families/q8/subq_q8_impls.inc",
      ],
      sources: ["Sources/CSubQ"],
      publicHeadersPath: "Include",
      cSettings: [
        .define("_GNU_SOURCE"),
        .headerSearchPath("Sources/CSubQ"),
        .define("SUBQ_HAVE_HWLOC", .when(platforms: [.linux], traits: ["NUMA"])),
        .define("SUBQ_HAVE_NUMA", .when(platforms: [.linux], traits: ["NUMA"])),
      ],
      linkerSettings: [
        .linkedLibrary("hwloc", .when(platforms: [.linux], traits: ["NUMA"])),
        .linkedLibrary("numa", .when(platforms: [.linux], traits: ["NUMA"])),
        .linkedLibrary("m"),
      ]
    ),
    .target(name: "SubQ", dependencies: ["CSubQ"], path: "Sources/SubQ"),
    .executableTarget(
      name: "subq-bench",
      dependencies: ["CSubQ"],
      path: "Sources/subq-bench",
      cSettings: [.define("_GNU_SOURCE"), .headerSearchPath("../CSubQ")]
    ),
    .executableTarget(
      name: "subq-run",
      dependencies: ["SubQ", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/subq-run"
    ),
    .testTarget(
      name: "SubQTests", dependencies: ["SubQ"], path: "Tests/SubQTests",
      exclude: ["Fixtures"]  // read by path (#filePath), see TokenizerTests.swift
    ),
  ],
  cLanguageStandard: .c11
)
