#!/usr/bin/env bash
# Builds the Swift libFuzzer harnesses (fuzz_config, fuzz_tokenizer, fuzz_npy, fuzz_regex) by hand: SwiftPM
# never sees them (the package keeps no unsafeFlags). Run from the repository root:
#   Tests/fuzz/swift/build.sh [build-dir]          (default build-swiftfuzz)
# OPT=-Onone keeps the standard library's debug checks (unsafe-buffer bounds) at ~5x the cost.
# Needs Swift's toolchain (swiftc, clang with libFuzzer) first on PATH, cmake and ninja.
set -euo pipefail
B=${1:-build-swiftfuzz}
OPT=${OPT:--O}
CLANG=$(dirname "$(command -v swiftc)")/clang
SAN=(-sanitize=fuzzer,address)
LD=(-use-ld=lld)  # gold warns about every ASan check symbol
# 1. libsubq (the C target) as a static library with ASan.
mkdir -p "$B"
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CLANG" \
  -DSUBQ_SANITIZE=address -DBUILD_SHARED_LIBS=OFF -DSUBQ_BUILD_TESTS=OFF -DSUBQ_BUILD_BENCH=OFF \
  -DSUBQ_WITH_HWLOC=OFF -DSUBQ_WITH_NUMA=OFF >"$B/cmake.log"
cmake --build "$B" --target subq
# 2. The SubQ Swift module, instrumented, testable (the harnesses reach internal initialisers).
mkdir -p "$B/swift"
mapfile -t SRC < <(find Sources/SubQ -name '*.swift' | sort)
swiftc -module-name SubQ -parse-as-library -enable-testing "$OPT" -g "${SAN[@]}" -I Include \
  -emit-module -emit-module-path "$B/swift/SubQ.swiftmodule" \
  -emit-library -static -o "$B/swift/libSubQ.a" "${SRC[@]}"
# 3. One executable per harness.
for h in config tokenizer npy regex; do
  swiftc -parse-as-library "$OPT" -g "${SAN[@]}" -I "$B/swift" -I Include \
    "${LD[@]}" "Tests/fuzz/swift/fuzz_$h.swift" "$B/swift/libSubQ.a" "$B/libsubq.a" -lm -lpthread \
    -o "$B/fuzz_swift_$h"
done
echo "built: $B/fuzz_swift_config $B/fuzz_swift_tokenizer $B/fuzz_swift_npy $B/fuzz_swift_regex"
