#!/usr/bin/env bash
# run.sh — install-then-consume test (runtime spec §3.5).
#
# Usage: Tests/C/consumer/run.sh [SOURCE_DIR [WORK_DIR]]
#   SOURCE_DIR  SubQ source tree (default: the tree holding this script)
#   WORK_DIR    scratch directory, emptied first (default: a mktemp directory,
#               removed on success)
#   Environment: CC (default cc), CXX (default: the C++ driver beside CC).
#
# For a shared and a static build of SubQ it
#   1. configures, builds and installs SubQ into WORK_DIR/prefix-<kind>;
#   2. checks the installed tree: exactly the public headers (no
#      module.modulemap, no internal headers), headers include only
#      stdint.h/stddef.h/stdbool.h and each other, the SOVERSION symlink chain
#      libsubq.so -> libsubq.so.N -> libsubq.so.X.Y.Z and its SONAME (shared),
#      libsubq.a and no .so (static), CMake package files, subq.pc with
#      Requires.private naming exactly the optional libraries built in;
#   3. builds main.c and main.cpp with find_package(SubQ CONFIG) and with
#      pkg-config (--static for the static install) and runs all four:
#      runtime version == header macros, a 2-thread context, a small GEMM
#      against a naive loop;
#   4. (shared) find_package(SubQ <major>.<minor>) succeeds while a newer
#      minor, an older minor and a newer patch are refused (SameMinorVersion),
#      and subq.pc stays valid when the installed tree is moved.
# Exit status 0 only when every check passed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "${1:-$here/../../..}" && pwd)"
if [[ -n "${2:-}" ]]; then
  work="$2"
  keep_work=1
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/subq-consumer.XXXXXX")"
  keep_work=0
fi
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

CC="${CC:-cc}"
if [[ -z "${CXX:-}" ]]; then
  case "$CC" in
    *clang) CXX="${CC}++" ;;
    *gcc) CXX="${CC%gcc}g++" ;;
    *) CXX=c++ ;;
  esac
fi
for tool in cmake pkg-config readelf "$CC" "$CXX"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: '$tool' not found" >&2; exit 1; }
done
gen=()
if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
step() { echo "== $*"; }
# Runs a command, its output to a log; on failure prints the log's tail.
logged() { # log-name command...
  local log="$work/$1.log"
  shift
  if "$@" >"$log" 2>&1; then
    return 0
  fi
  echo "---- $(basename "$log") (last 40 lines)" >&2
  tail -n 40 "$log" >&2
  return 1
}

major="$(sed -nE 's/^#define SUBQ_VERSION_MAJOR ([0-9]+).*/\1/p' "$src/Include/subq/subq_base.h")"
minor="$(sed -nE 's/^#define SUBQ_VERSION_MINOR ([0-9]+).*/\1/p' "$src/Include/subq/subq_base.h")"
patch="$(sed -nE 's/^#define SUBQ_VERSION_PATCH ([0-9]+).*/\1/p' "$src/Include/subq/subq_base.h")"
soversion="$(sed -nE 's/^set\(SUBQ_SOVERSION ([0-9]+)\).*/\1/p' "$src/CMakeLists.txt")"
[[ -n "$major" && -n "$minor" && -n "$patch" && -n "$soversion" ]] \
  || { echo "run.sh: cannot read the version from subq_base.h or SUBQ_SOVERSION from CMakeLists.txt" >&2; exit 1; }
version="$major.$minor.$patch"
echo "SubQ $version, SOVERSION $soversion, CC=$CC CXX=$CXX, work dir $work"

# Public headers as shipped in the source tree (relative to Include/).
(cd "$src/Include" && find . -name '*.h' | sed 's|^\./||' | sort) >"$work/headers.expected"

check_install_tree() { # kind prefix build-dir
  local kind="$1" prefix="$2" build="$3"
  step "$kind: installed tree"
  if grep -q '^CMAKE_CXX_COMPILER:' "$build/CMakeCache.txt"; then
    fail "$kind: the SubQ project enabled C++ (it must stay C-only)"
  fi
  local found
  found="$(find "$prefix" -name module.modulemap)"
  [[ -z "$found" ]] || fail "$kind: module.modulemap was installed: $found"
  if [[ ! -d "$prefix/include" ]]; then
    fail "$kind: no include/ directory installed"
    return
  fi
  (cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort) >"$work/headers.$kind"
  if ! diff -u "$work/headers.expected" "$work/headers.$kind" >"$work/headers.$kind.diff"; then
    fail "$kind: installed include/ differs from the public headers in Include/ (+ = extra, e.g. internal headers):"
    sed 's/^/    /' "$work/headers.$kind.diff" >&2
  fi
  # the same hygiene rules as the source headers (includes, guards, extern "C", ...)
  local -a installed=()
  mapfile -t installed < <(grep '\.h$' "$work/headers.$kind")
  if [[ ${#installed[@]} -gt 0 ]] \
    && ! bash "$src/tools/check_headers.sh" --no-compile -I "$prefix/include" "${installed[@]}" >"$work/headers.$kind.check" 2>&1; then
    fail "$kind: installed headers break the public-header rules:"
    sed 's/^/    /' "$work/headers.$kind.check" >&2
  fi

  pc="$(find "$prefix" -name subq.pc -path '*/pkgconfig/*' | head -n1)"
  [[ -n "$pc" ]] || fail "$kind: subq.pc not installed"
  libdir="$(dirname "$(dirname "${pc:-$prefix/lib/pkgconfig/subq.pc}")")"
  for f in SubQConfig.cmake SubQConfigVersion.cmake SubQTargets.cmake; do
    [[ -f "$libdir/cmake/SubQ/$f" ]] || fail "$kind: $libdir/cmake/SubQ/$f not installed"
  done
  # nothing but libsubq, the CMake package and pkg-config files under libdir
  local extra
  extra="$(cd "$libdir" && find . -mindepth 1 -maxdepth 1 ! -name 'libsubq.*' ! -name cmake ! -name pkgconfig)"
  [[ -z "$extra" ]] || fail "$kind: unexpected files installed in $libdir: $extra"

  if [[ "$kind" == shared ]]; then
    local l0="$libdir/libsubq.so" l1="$libdir/libsubq.so.$soversion" l2="$libdir/libsubq.so.$version"
    [[ -L "$l0" && "$(readlink "$l0")" == "libsubq.so.$soversion" ]] \
      || fail "$kind: libsubq.so is not a symlink to libsubq.so.$soversion"
    [[ -L "$l1" && "$(readlink "$l1")" == "libsubq.so.$version" ]] \
      || fail "$kind: libsubq.so.$soversion is not a symlink to libsubq.so.$version"
    [[ -f "$l2" && ! -L "$l2" ]] || fail "$kind: libsubq.so.$version is not a regular file"
    local soname
    soname="$(readelf -d "$l2" 2>/dev/null | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')"
    [[ "$soname" == "libsubq.so.$soversion" ]] || fail "$kind: SONAME is '$soname', expected libsubq.so.$soversion"
    [[ ! -e "$libdir/libsubq.a" ]] || fail "$kind: libsubq.a installed by a shared build"
  else
    [[ -f "$libdir/libsubq.a" ]] || fail "$kind: libsubq.a not installed"
    [[ -z "$(find "$libdir" -name 'libsubq.so*')" ]] || fail "$kind: libsubq.so installed by a static build"
  fi
}

# The optional libraries named by subq.pc's Requires.private must be exactly
# those the library reports in subq_build_info() (printed by consumer_c).
check_pc_requires() { # kind pc-file consumer-output
  local kind="$1" pc="$2" out="$3" lib
  local req
  req="$(sed -nE 's/^Requires\.private:(.*)/\1/p' "$pc")"
  for lib in hwloc libnuma; do
    local pcname="$lib"
    [[ "$lib" == libnuma ]] && pcname=numa
    local built=0 listed=0
    grep -q "; $lib yes" "$out" && built=1
    grep -qw "$pcname" <<<"$req" && listed=1
    if [[ $built -ne $listed ]]; then
      fail "$kind: subq_build_info says '$lib' built in=$built but subq.pc Requires.private is '$req'"
    fi
  done
}

run_consumer() { # kind label exe
  local kind="$1" label="$2" exe="$3" out="$work/run-$1-$2.out"
  if "$exe" >"$out" 2>&1; then
    echo "ok: $kind/$label: $(tail -n 1 "$out")"
  else
    fail "$kind/$label: $(basename "$exe") exited non-zero:"
    sed 's/^/    /' "$out" >&2
  fi
}

for kind in shared static; do
  prefix="$work/prefix-$kind"
  build="$work/build-$kind"
  shared=ON
  [[ "$kind" == static ]] && shared=OFF

  step "$kind: configure, build and install SubQ into $prefix"
  if ! logged "subq-$kind" cmake -S "$src" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$CC" -DBUILD_SHARED_LIBS=$shared -DSUBQ_BUILD_TESTS=OFF -DSUBQ_BUILD_BENCH=OFF \
    -DCMAKE_INSTALL_PREFIX="$prefix" \
    || ! logged "subq-$kind-build" cmake --build "$build" \
    || ! logged "subq-$kind-install" cmake --install "$build"; then
    fail "$kind: building or installing SubQ failed"
    continue
  fi
  libdir=""
  check_install_tree "$kind" "$prefix" "$build"
  [[ -n "$libdir" ]] || continue

  step "$kind: consumers via find_package(SubQ CONFIG)"
  cbuild="$work/consumer-cmake-$kind"
  if logged "consumer-cmake-$kind" cmake -S "$here" -B "$cbuild" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_PREFIX_PATH="$prefix" \
    && logged "consumer-cmake-$kind-build" cmake --build "$cbuild"; then
    for exe in consumer_c consumer_cxx; do
      run_consumer "$kind" "cmake-$exe" "$cbuild/$exe"
      needed="$(readelf -d "$cbuild/$exe" | grep -c 'NEEDED.*libsubq' || true)"
      if [[ "$kind" == shared && "$needed" -ne 1 ]]; then
        fail "$kind: $exe does not link libsubq.so dynamically"
      elif [[ "$kind" == static && "$needed" -ne 0 ]]; then
        fail "$kind: $exe links libsubq.so although only libsubq.a is installed"
      fi
    done
    check_pc_requires "$kind" "${pc:-$libdir/pkgconfig/subq.pc}" "$work/run-$kind-cmake-consumer_c.out"
  else
    fail "$kind: the find_package(SubQ CONFIG) consumer did not build"
  fi

  step "$kind: consumers via pkg-config"
  export PKG_CONFIG_PATH="$libdir/pkgconfig"
  pcflags=(--cflags --libs)
  [[ "$kind" == static ]] && pcflags=(--static --cflags --libs)
  if pcout="$(pkg-config "${pcflags[@]}" subq 2>"$work/pkg-config-$kind.err")"; then
    read -r -a pcargs <<<"$pcout"
    rpath=()
    [[ "$kind" == shared ]] && rpath=("-Wl,-rpath,$libdir")
    pbuild="$work/consumer-pc-$kind"
    mkdir -p "$pbuild"
    if logged "consumer-pc-$kind-c" "$CC" -std=c11 -Wall -Wextra -Werror -pedantic -o "$pbuild/consumer_c" \
      "$here/main.c" "${pcargs[@]}" -lm "${rpath[@]}"; then
      run_consumer "$kind" pc-consumer_c "$pbuild/consumer_c"
    else
      fail "$kind: main.c does not build with pkg-config ${pcflags[*]} subq ($pcout)"
    fi
    if logged "consumer-pc-$kind-cxx" "$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic -o "$pbuild/consumer_cxx" \
      "$here/main.cpp" "${pcargs[@]}" "${rpath[@]}"; then
      run_consumer "$kind" pc-consumer_cxx "$pbuild/consumer_cxx"
    else
      fail "$kind: main.cpp does not build with pkg-config ${pcflags[*]} subq ($pcout)"
    fi
  else
    fail "$kind: pkg-config ${pcflags[*]} subq failed: $(cat "$work/pkg-config-$kind.err")"
  fi
  unset PKG_CONFIG_PATH

  if [[ "$kind" == shared ]]; then
    step "$kind: find_package version compatibility (SameMinorVersion during 0.x)"
    vproj="$work/version-probe"
    mkdir -p "$vproj"
    cat >"$vproj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.23)
project(SubQVersionProbe LANGUAGES C)
find_package(SubQ ${WANT} CONFIG REQUIRED)
message(STATUS "SubQ ${SubQ_VERSION} accepted for ${WANT}")
EOF
    probe() { # want expect(accept|refuse)
      local want="$1" expect="$2" log="$work/version-$1.log"
      rm -rf "$vproj/build"
      if cmake -S "$vproj" -B "$vproj/build" "${gen[@]}" -DCMAKE_C_COMPILER="$CC" -DWANT="$want" \
        -DCMAKE_PREFIX_PATH="$prefix" >"$log" 2>&1; then
        if [[ "$expect" == accept ]]; then
          echo "ok: find_package(SubQ $want) accepts $version"
        else
          fail "find_package(SubQ $want) accepted the installed $version (must be refused)"
        fi
      else
        if [[ "$expect" == refuse ]] && tr -s '[:space:]' ' ' <"$log" | grep -q "compatible with requested version \"$want\""; then
          echo "ok: find_package(SubQ $want) refuses $version"
        elif [[ "$expect" == refuse ]]; then
          fail "find_package(SubQ $want) failed, but not for the version:"
          tail -n 20 "$log" | sed 's/^/    /' >&2
        else
          fail "find_package(SubQ $want) refused the installed $version:"
          tail -n 20 "$log" | sed 's/^/    /' >&2
        fi
      fi
    }
    probe "$major.$minor" accept
    probe "$major.$minor.$patch" accept
    probe "$major.$((minor + 1))" refuse
    probe "$major.$minor.$((patch + 1))" refuse
    probe "$((major + 1)).0" refuse
    if [[ "$minor" -gt 0 ]]; then
      probe "$major.$((minor - 1))" refuse
    fi

    step "$kind: subq.pc after moving the installed tree"
    moved="$work/prefix-moved"
    rm -rf "$moved"
    cp -a "$prefix" "$moved"
    mlibdir="$moved/${libdir#"$prefix"/}"
    got_inc="$(PKG_CONFIG_PATH="$mlibdir/pkgconfig" pkg-config --variable=includedir subq || true)"
    got_lib="$(PKG_CONFIG_PATH="$mlibdir/pkgconfig" pkg-config --variable=libdir subq || true)"
    got="includedir=$got_inc libdir=$got_lib"
    if [[ -d "$got_inc" && -d "$got_lib" && "$(cd "$got_inc" && pwd -P)" == "$(cd "$moved/include" && pwd -P)" \
      && "$(cd "$got_lib" && pwd -P)" == "$(cd "$mlibdir" && pwd -P)" ]]; then
      echo "ok: relocated subq.pc gives $got"
    else
      fail "subq.pc is not relocatable: after moving the prefix to $moved, pkg-config gives $got"
    fi
  fi
done

if [[ $failures -ne 0 ]]; then
  echo "install-then-consume: $failures failure(s); logs in $work" >&2
  exit 1
fi
echo "install-then-consume: all checks passed"
if [[ $keep_work -eq 0 ]]; then rm -rf "$work"; fi
