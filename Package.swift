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
  ],
  traits: [
    .trait(name: "NUMA", description: "Link hwloc and libnuma on Linux for topology and NUMA placement"),
    .default(enabledTraits: ["NUMA"]),
  ],
  targets: [
    .target(
      name: "CSubQ",
      path: ".",
      exclude: [
        "Sources/CSubQ/families/gemm/subq_gemm_impls.inc",
        "Sources/CSubQ/families/fattn/subq_fattn_impls.inc",
        "Sources/CSubQ/families/ssm/subq_ssm_impls.inc",
        "Sources/CSubQ/families/ssm/subq_ssm2_impls.inc",
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
    .testTarget(name: "SubQTests", dependencies: ["SubQ"], path: "Tests/SubQTests"),
  ],
  cLanguageStandard: .c11
)
