#!/usr/bin/env bash
# test_all.sh — every SubQ test, as named suites (the README's test command and
# what CI runs through .ci/run).
#
# Usage: bash tools/test_all.sh [--clean] [--only REGEX]
#   --clean       remove build-ci/ first (what a fresh clone sees)
#   --only REGEX  run only the suites whose name matches REGEX (bash =~)
#
# Installs missing Debian packages with apt-get when run as root; otherwise
# prints the apt-get command and exits 1 (SUBQ_SKIP_DEPS=1 skips that check).
# Build trees go to build-ci/<suite> (SwiftPM: .build/subq-ci, see below), logs to
# build-ci/logs/<suite>.log.
# Suites:
#   gcc-build          gcc Release build of library, tests and bench with -Werror
#   gcc-isa-scalar     ctest with SUBQ_MAX_ISA=scalar
#   gcc-isa-avx2       ctest with SUBQ_MAX_ISA=avx2 (only when the host runs AVX2)
#   gcc-isa-native     ctest with SUBQ_MAX_ISA=native
#                      (each ISA suite first proves the cap takes effect)
#   clang              Swift's clang: build with -Werror + ctest
#   gcc-O0             gcc Debug build at -O0 + ctest: intrinsics stay separate instructions,
#                      so an aligned load on caller memory faults here even where -O1 and up
#                      fold it into an unaligned-tolerant VEX operand
#   asan-ubsan         -DSUBQ_SANITIZE=address,undefined build + ctest
#   tsan               -DSUBQ_SANITIZE=thread build + ctest -L runtime
#   aarch64-qemu       cross build with cmake/toolchains/aarch64-linux-gnu.cmake,
#                      ctest under qemu-aarch64
#   headers            ctest -L headers (each public header alone, C11/C++17, gcc/clang)
#   exports            ctest -L exports (libsubq.so exports vs abi/exports.txt)
#   install            ctest -L install (install-then-consume, shared and static)
#   swift-build        no unsafeFlags in Package.swift; swift build; subq-run's command line
#                      on the tiny checkpoints (tools/check_subq_run.sh)
#   swift-test         swift test (skipped when there is no Swift test target)
#   swift-test-release swift test -c release (skipped likewise)
#   python             pytest bindings/python/tests against the gcc build's libsubq.so
#                      and a pip install of the package (numpy/pytest installed with pip when
#                      missing; skipped only when python3 is absent or pip cannot install them)
# Prints a summary table and, last, "suites: N passed, N failed"; exits 1 when
# any suite failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

clean=0
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clean) clean=1 ;;
    --only)
      [[ $# -ge 2 ]] || { echo "test_all.sh: --only needs a regex" >&2; exit 2; }
      only="$2"
      shift
      ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "test_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"
subq_ensure_packages cmake ninja-build pkg-config gcc g++ libc6-dev binutils \
  libnuma-dev libhwloc-dev libudev-dev hwloc-nox \
  qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross

# Runs must not depend on the caller's SubQ settings; each suite sets what it tests.
for v in SUBQ_MAX_ISA SUBQ_NUM_THREADS SUBQ_NUMA SUBQ_BIND SUBQ_SPIN_US SUBQ_TOPOLOGY SUBQ_LIBRARY; do
  if [[ -n "${!v+x}" ]]; then
    echo "test_all: ignoring $v=${!v} from the environment"
    unset "$v"
  fi
done

ci="$root/build-ci"
if [[ $clean -eq 1 ]]; then
  echo "test_all: removing $ci and .build/subq-ci"
  rm -rf "$ci" "$root/.build/subq-ci"
fi
logs="$ci/logs"
mkdir -p "$logs"
jobs="$(nproc 2>/dev/null || echo 2)"
clang_bin="${SUBQ_CLANG:-/opt/swift/usr/bin/clang}"
swift_bin="$(command -v swift || true)"
[[ -n "$swift_bin" || ! -x /opt/swift/usr/bin/swift ]] || swift_bin=/opt/swift/usr/bin/swift

# Labels run by the packaging suites only (once, from the gcc build).
packaging_labels='headers|exports|install|python'
ctest_common=(--output-on-failure --no-tests=error)

names=()
status=()
secs=()
notes=()
t_start=$SECONDS

# run_suite NAME FUNCTION [ARGS...]: runs FUNCTION with all output in the log.
# FUNCTION returns 0 = pass, 77 = skipped (its last output line says why),
# anything else = fail.
run_suite() {
  local name="$1"
  shift
  if [[ -n "$only" && ! "$name" =~ $only ]]; then
    return 0
  fi
  local log="$logs/$name.log" t0=$SECONDS rc=0
  echo "=== $name (log: ${log#"$root"/})"
  # errexit must stay on inside the suite (it is ignored in `cmd || ...` contexts)
  set +e
  (
    set -e
    "$@"
  ) >"$log" 2>&1
  rc=$?
  set -e
  local dt=$((SECONDS - t0)) st note=""
  case $rc in
    0) st=PASS ;;
    77)
      st=SKIP
      note="$(tail -n 1 "$log")"
      ;;
    *)
      st=FAIL
      note="exit $rc; see ${log#"$root"/}"
      ;;
  esac
  names+=("$name")
  status+=("$st")
  secs+=("$dt")
  notes+=("$note")
  echo "=== $name: $st (${dt}s)${note:+ — $note}"
  if [[ "$st" == FAIL ]]; then
    echo "---- last 60 lines of ${log#"$root"/}"
    tail -n 60 "$log"
    echo "----"
  fi
}

skip() {
  echo "skipped: $*"
  exit 77
}

configure_build() { # build-dir cmake-args...
  local dir="$1"
  shift
  cmake -S "$root" -B "$dir" -G Ninja "$@"
  cmake --build "$dir" --parallel "$jobs"
}

# ---- gcc -------------------------------------------------------------------------
gcc_dir="$ci/gcc"
suite_gcc_build() {
  configure_build "$gcc_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS=-Werror \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS=-Werror
  # The ISA probe: what the built library reports for the host and a context.
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -I "$root/Include" "$root/tools/subq_isa_probe.c" \
    -L "$gcc_dir" -lsubq -Wl,-rpath,"$gcc_dir" -o "$gcc_dir/subq_isa_probe"
  "$gcc_dir/subq_isa_probe"
}

suite_gcc_isa() { # isa
  local isa="$1"
  [[ -x "$gcc_dir/subq_isa_probe" ]] || { echo "gcc build missing (gcc-build failed?)"; return 1; }
  cmake --build "$gcc_dir" --parallel "$jobs" # up to date unless sources changed since gcc-build (--only)
  local line host avx2 ctx_isa
  line="$("$gcc_dir/subq_isa_probe")"
  host="$(sed -nE 's/.*host=([a-z0-9]+).*/\1/p' <<<"$line")"
  avx2="$(sed -nE 's/.*avx2=([01]).*/\1/p' <<<"$line")"
  if [[ "$isa" == avx2 && "$avx2" != 1 ]]; then
    skip "host has no AVX2+FMA ($line)"
  fi
  # The cap must take effect, or these runs would all test the same path.
  ctx_isa="$(SUBQ_MAX_ISA="$isa" "$gcc_dir/subq_isa_probe" | sed -nE 's/.*context=([a-z0-9]+).*/\1/p')"
  local want="$isa"
  [[ "$isa" == native ]] && want="$host"
  if [[ "$ctx_isa" != "$want" ]]; then
    echo "SUBQ_MAX_ISA=$isa: a default context runs '$ctx_isa', expected '$want' — the cap does not work"
    return 1
  fi
  echo "SUBQ_MAX_ISA=$isa: contexts run the $ctx_isa path (host best: $host)"
  SUBQ_MAX_ISA="$isa" ctest --test-dir "$gcc_dir" "${ctest_common[@]}" -LE "$packaging_labels"
}

# ---- clang -----------------------------------------------------------------------
suite_clang() {
  [[ -x "$clang_bin" ]] || { echo "clang not found at $clang_bin (set SUBQ_CLANG)"; return 1; }
  configure_build "$ci/clang" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$clang_bin" -DCMAKE_C_FLAGS=-Werror
  ctest --test-dir "$ci/clang" "${ctest_common[@]}" -LE "$packaging_labels"
}

# ---- unoptimised (the Swift debug build once caught an aligned AVX load on a
# caller's 16-byte aligned array that every optimised C build had folded away) ----
suite_gcc_o0() {
  configure_build "$ci/gcc-O0" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS=-Werror \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS=-Werror "-DCMAKE_C_FLAGS_DEBUG=-g -O0" -DSUBQ_BUILD_BENCH=OFF
  ctest --test-dir "$ci/gcc-O0" "${ctest_common[@]}" -LE "$packaging_labels"
}

# ---- sanitizers (Debug with -O1: assertions on, tolerable speed) ---------------------
suite_asan() {
  configure_build "$ci/asan-ubsan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS=-Werror \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS=-Werror "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" "-DCMAKE_C_FLAGS_DEBUG=-g -O1" -DSUBQ_SANITIZE=address,undefined -DSUBQ_BUILD_BENCH=OFF
  ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ci/asan-ubsan" "${ctest_common[@]}" -LE "$packaging_labels"
}

suite_tsan() {
  configure_build "$ci/tsan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS=-Werror \
    "-DCMAKE_C_FLAGS_DEBUG=-g -O1" -DSUBQ_SANITIZE=thread -DSUBQ_BUILD_BENCH=OFF
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir "$ci/tsan" "${ctest_common[@]}" -L runtime
}

# ---- aarch64 under qemu --------------------------------------------------------------
suite_aarch64() {
  configure_build "$ci/aarch64" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-Werror \
    -DSUBQ_WITH_HWLOC=OFF -DSUBQ_WITH_NUMA=OFF -DSUBQ_BUILD_BENCH=OFF
  # the binaries really are arm64
  if ! readelf -h "$ci/aarch64/libsubq.so" | grep -q 'AArch64'; then
    echo "build-ci/aarch64/libsubq.so is not an AArch64 binary"
    return 1
  fi
  ctest --test-dir "$ci/aarch64" "${ctest_common[@]}"
}

# ---- packaging checks (from the gcc build) ---------------------------------------------
suite_label() { # label
  [[ -f "$gcc_dir/CTestTestfile.cmake" ]] || { echo "gcc build missing (gcc-build failed?)"; return 1; }
  cmake --build "$gcc_dir" --parallel "$jobs"
  ctest --test-dir "$gcc_dir" "${ctest_common[@]}" -L "^($1)\$"
}

# ---- Swift -----------------------------------------------------------------------------
# SwiftPM's own scratch path for these suites. It must live under .build/: the
# CSubQ target's path is the package root, and with any other scratch directory
# inside the package (build-ci/swift was tried) SwiftPM 6.3.1 fails every
# incremental build with "InternalError: unknown build description".
swift_scratch="$root/.build/subq-ci"
has_swift_tests() {
  [[ -d "$root/Tests/SubQTests" ]] && grep -q 'testTarget' "$root/Package.swift"
}
suite_swift_build() {
  [[ -n "$swift_bin" ]] || { echo "swift not found (install Swift 6.2+ and put it on PATH)"; return 1; }
  # unsafeFlags would stop the package from being a versioned dependency
  if sed 's|//.*||' "$root/Package.swift" | grep -n 'unsafeFlags'; then
    echo "Package.swift uses unsafeFlags (not allowed: see the runtime spec, section 3.1)"
    return 1
  fi
  "$swift_bin" --version
  "$swift_bin" build --scratch-path "$swift_scratch"
  # the runner's command line on the committed tiny checkpoints
  bash "$root/tools/check_subq_run.sh" "$("$swift_bin" build --scratch-path "$swift_scratch" --show-bin-path)/subq-run"
}
suite_swift_test() { # extra args...
  [[ -n "$swift_bin" ]] || { echo "swift not found (install Swift 6.2+ and put it on PATH)"; return 1; }
  has_swift_tests || skip "no Swift tests (Tests/SubQTests or its testTarget is absent)"
  "$swift_bin" test --scratch-path "$swift_scratch" "$@"
}

# ---- Python ------------------------------------------------------------------------------
suite_python() {
  [[ -d "$root/bindings/python/tests" ]] || skip "no Python tests (bindings/python/tests is absent)"
  command -v python3 >/dev/null || skip "python3 not found (the Python bindings are tested when it is present)"
  if ! python3 -c 'import numpy, pytest' 2>/dev/null; then
    echo "installing numpy and pytest for python3 (pip)"
    python3 -m pip install --quiet numpy pytest ||
      skip "numpy/pytest are missing and pip could not install them (python3 -m pip install numpy pytest)"
  fi
  [[ -e "$gcc_dir/libsubq.so" ]] || { echo "gcc build missing (gcc-build failed?)"; return 1; }
  SUBQ_LIBRARY="$gcc_dir/libsubq.so" PYTHONPATH="$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}" \
    python3 -m pytest -q -p no:cacheprovider "$root/bindings/python/tests"
  # The package installs with pip (no compile step) and finds the library given by SUBQ_LIBRARY.
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip install --quiet --no-deps --target "$tmp" "$root/bindings/python"
  (cd "$tmp" && SUBQ_LIBRARY="$gcc_dir" PYTHONPATH="$tmp" python3 -c \
    'import subq, numpy as np; a = np.eye(3, dtype=np.float32); assert (subq.gemm(a, a) == a).all(); print("pip-installed subq", subq.version(), "from", subq.library_path)')
  rm -rf "$tmp"
}

run_suite gcc-build suite_gcc_build
run_suite gcc-isa-scalar suite_gcc_isa scalar
run_suite gcc-isa-avx2 suite_gcc_isa avx2
run_suite gcc-isa-native suite_gcc_isa native
run_suite clang suite_clang
run_suite gcc-O0 suite_gcc_o0
run_suite asan-ubsan suite_asan
run_suite tsan suite_tsan
run_suite aarch64-qemu suite_aarch64
run_suite headers suite_label headers
run_suite exports suite_label exports
run_suite install suite_label install
run_suite swift-build suite_swift_build
run_suite swift-test suite_swift_test
run_suite swift-test-release suite_swift_test -c release
run_suite python suite_python

passed=0
failed=0
skipped=0
echo
printf '%-20s %-5s %6s  %s\n' SUITE RESULT TIME NOTE
for i in "${!names[@]}"; do
  printf '%-20s %-5s %5ss  %s\n' "${names[$i]}" "${status[$i]}" "${secs[$i]}" "${notes[$i]}"
  case "${status[$i]}" in
    PASS) passed=$((passed + 1)) ;;
    FAIL) failed=$((failed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
  esac
done
echo "total time $((SECONDS - t_start))s; $skipped suite(s) skipped; logs in ${logs#"$root"/}/"
echo "suites: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
