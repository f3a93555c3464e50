#!/usr/bin/env bash
# bench_all.sh — the SubQ benchmark suite (the README's main command).
#
# Usage: bash tools/bench_all.sh [subq-bench arguments...]
#   Without arguments subq-bench runs its full suite.
#
# Installs missing Debian packages with apt-get when run as root; otherwise
# prints the apt-get command and exits 1 (SUBQ_SKIP_DEPS=1 skips that check).
# Builds a Release configuration with CMake into build-release/ (never
# benchmark a debug build) and runs build-release/subq-bench.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"
subq_ensure_packages cmake ninja-build pkg-config gcc libc6-dev binutils libnuma-dev libhwloc-dev hwloc-nox

if ! compgen -G "$root/Sources/subq-bench/*.c" >/dev/null; then
  echo "bench_all.sh: no benchmark sources: Sources/subq-bench/*.c does not exist in $root." >&2
  echo "bench_all.sh: the subq-bench executable has not landed on this branch yet; nothing to run." >&2
  exit 1
fi

build="$root/build-release"
jobs="$(nproc 2>/dev/null || echo 2)"
echo "bench_all: configuring and building $build (Release)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSUBQ_BUILD_BENCH=ON -DSUBQ_BUILD_TESTS=OFF
cmake --build "$build" --parallel "$jobs" --target subq-bench
if [[ ! -x "$build/subq-bench" ]]; then
  echo "bench_all.sh: the build finished but $build/subq-bench does not exist" >&2
  exit 1
fi
echo "bench_all: running $build/subq-bench $*"
exec "$build/subq-bench" "$@"
