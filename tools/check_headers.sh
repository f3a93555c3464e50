#!/usr/bin/env bash
# check_headers.sh — public-header hygiene (runtime spec §2.1).
#
# Usage: tools/check_headers.sh [-I INCLUDE_DIR] [--no-compile] HEADER...
#   HEADER is a path relative to INCLUDE_DIR (default: Include/ next to this
#   script), e.g. subq.h or subq/subq_base.h.
#
# For each header:
#   1. its #include lines name only <stdint.h>, <stddef.h>, <stdbool.h> or
#      other SubQ public headers that exist in INCLUDE_DIR;
#   2. it has an include guard SUBQ_<NAME>_H and (unless it is the umbrella
#      subq.h, which only includes) an extern "C" block; outside comments it
#      uses no `long` (LP64 vs LLP64), no bitfields and defines only macros
#      named SUBQ_*;
#   3. a translation unit that includes it alone, twice, compiles as C11 and as
#      C++17 with -Wall -Wextra -Werror -pedantic, with gcc/g++ and, when
#      found, with clang/clang++ adding -Wnullability-completeness
#      (--no-compile: checks 1 and 2 only).
# clang is taken from $SUBQ_CLANG, else /opt/swift/usr/bin/clang, else `clang`
# on PATH; without one the clang compiles are reported as skipped.
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inc="$here/../Include"
compile=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -I)
      [[ $# -ge 2 ]] || { echo "check_headers.sh: -I needs a directory" >&2; exit 2; }
      inc="$2"
      shift 2
      ;;
    --no-compile) compile=0; shift ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "usage: $0 [-I INCLUDE_DIR] [--no-compile] HEADER..." >&2
  exit 2
fi
inc="$(cd "$inc" && pwd)"

gcc_c="${SUBQ_GCC:-gcc}"
gcc_cxx="${SUBQ_GXX:-g++}"
clang_c=""
if [[ -n "${SUBQ_CLANG:-}" ]]; then
  clang_c="$SUBQ_CLANG"
elif [[ -x /opt/swift/usr/bin/clang ]]; then
  clang_c=/opt/swift/usr/bin/clang
elif command -v clang >/dev/null 2>&1; then
  clang_c="$(command -v clang)"
fi
clang_cxx=""
if [[ -n "$clang_c" ]]; then
  clang_cxx="${clang_c%clang}clang++"
  [[ -x "$clang_cxx" ]] || clang_cxx=""
fi
for tool in "$gcc_c" "$gcc_cxx"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check_headers.sh: $tool not found (apt-get install gcc g++)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

common=(-Wall -Wextra -Werror -pedantic -fsyntax-only -I "$inc")

for h in "$@"; do
  file="$inc/$h"
  if [[ ! -f "$file" ]]; then
    fail "$h: no such header in $inc"
    continue
  fi
  hdir="$(dirname "$file")"

  # 1. includes
  while IFS= read -r line; do
    target="$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")"
    case "$target" in
      stdint.h | stddef.h | stdbool.h) ;;
      *)
        if [[ "$target" == subq* && ( -f "$hdir/$target" || -f "$inc/$target" ) ]]; then
          :
        else
          fail "$h includes '$target' (public headers may include only stdint.h, stddef.h, stdbool.h and each other)"
        fi
        ;;
    esac
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$file" || true)

  # 2. guard and extern "C"
  base="$(basename "$h" .h)"
  guard="$(tr '[:lower:]' '[:upper:]' <<<"$base")_H"
  [[ "$guard" == SUBQ_* ]] || guard="SUBQ_$guard"
  grep -qE "^#ifndef $guard\$" "$file" && grep -qE "^#define $guard\$" "$file" \
    || fail "$h: include guard '$guard' missing (#ifndef/#define $guard)"
  if [[ "$h" != "subq.h" ]]; then
    grep -q 'extern "C"' "$file" || fail "$h: no extern \"C\" block"
  fi

  # code without comments, for the textual rules
  code="$(perl -0pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g' "$file")"
  if grep -nwE 'long' <<<"$code" >"$tmp/hits"; then
    fail "$h uses 'long' (its size differs between LP64 and LLP64; use int64_t/int32_t):"
    sed 's/^/    /' "$tmp/hits" >&2
  fi
  if grep -nE '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*:[[:space:]]*[0-9]+[[:space:]]*;' <<<"$code" >"$tmp/hits"; then
    fail "$h declares a bitfield:"
    sed 's/^/    /' "$tmp/hits" >&2
  fi
  if grep -nE '^[[:space:]]*#[[:space:]]*define[[:space:]]+' <<<"$code" \
    | grep -vE '#[[:space:]]*define[[:space:]]+SUBQ_' >"$tmp/hits"; then
    fail "$h defines macros without the SUBQ_ prefix:"
    sed 's/^/    /' "$tmp/hits" >&2
  fi

  # 3. compiles alone, included twice
  [[ $compile -eq 1 ]] || continue
  printf '#include <%s>\n#include <%s>\nint subq_header_check_dummy;\n' "$h" "$h" >"$tmp/tu.c"
  cp "$tmp/tu.c" "$tmp/tu.cpp"
  compile() { # label, compiler args...
    local label="$1"
    shift
    if ! "$@" >"$tmp/log" 2>&1; then
      fail "$h: $label"
      sed 's/^/    /' "$tmp/log" >&2
    else
      echo "ok: $h: $label"
    fi
  }
  compile "gcc -std=c11" "$gcc_c" -std=c11 "${common[@]}" "$tmp/tu.c"
  compile "g++ -std=c++17" "$gcc_cxx" -std=c++17 "${common[@]}" "$tmp/tu.cpp"
  if [[ -n "$clang_c" ]]; then
    compile "clang -std=c11" "$clang_c" -std=c11 "${common[@]}" -Wnullability-completeness "$tmp/tu.c"
  else
    echo "skipped: $h: clang checks (no clang found; set SUBQ_CLANG)"
  fi
  if [[ -n "$clang_cxx" ]]; then
    compile "clang++ -std=c++17" "$clang_cxx" -std=c++17 "${common[@]}" -Wnullability-completeness "$tmp/tu.cpp"
  elif [[ -n "$clang_c" ]]; then
    echo "skipped: $h: clang++ checks (no clang++ beside $clang_c)"
  fi
done

if [[ $failures -ne 0 ]]; then
  echo "check_headers.sh: $failures failure(s)" >&2
  exit 1
fi
echo "check_headers.sh: all checks passed for $# header(s)"
