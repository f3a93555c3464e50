#!/usr/bin/env bash
# check_exports.sh — the dynamic symbols of libsubq.so against abi/exports.txt
# (runtime spec §2.2, §3.4).
#
# Check:      tools/check_exports.sh [--list abi/exports.txt] [--include Include] path/to/libsubq.so
# Regenerate: tools/check_exports.sh --update path/to/libsubq.so
#   --update appends newly exported symbols to the list (the list only grows
#   within one SOVERSION). Removing symbols is an ABI break: bump SUBQ_SOVERSION
#   in CMakeLists.txt, rebuild, and run --update, which then rewrites the list
#   for the new SONAME.
#
# Fails when
#   - an exported symbol does not start with subq_ (hidden visibility leak);
#   - a symbol of the list is no longer exported while the SONAME is unchanged
#     (removed symbol without a SOVERSION bump);
#   - a symbol is exported but not listed (append it: --update);
#   - the library's SONAME differs from the one recorded in the list;
#   - a function declared SUBQ_API in a public header is not exported
#     (declared but not implemented, or not marked for export).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
list="$root/abi/exports.txt"
include="$root/Include"
update=0
lib=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --update) update=1 ;;
    --list) list="$2"; shift ;;
    --include) include="$2"; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "check_exports.sh: unknown option $1" >&2; exit 2 ;;
    *) lib="$1" ;;
  esac
  shift
done
[[ -n "$lib" ]] || { echo "usage: $0 [--update] [--list FILE] [--include DIR] path/to/libsubq.so" >&2; exit 2; }
[[ -f "$lib" ]] || { echo "check_exports.sh: $lib: no such file (build the shared library first)" >&2; exit 2; }
NM="${NM:-nm}"
READELF="${READELF:-readelf}"
for tool in "$NM" "$READELF"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check_exports.sh: $tool not found (apt-get install binutils)" >&2; exit 2; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

soname="$("$READELF" -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')"
[[ -n "$soname" ]] || { echo "check_exports.sh: $lib has no SONAME" >&2; exit 1; }

# Defined dynamic symbols: "ADDR TYPE NAME" (absolute linker symbols have no ADDR on some binutils).
# Linker-defined section markers (_edata, _end, __bss_start, _init, _fini) are
# exported by some linkers (seen with the clang toolchain here); they are not
# SubQ's ABI. Only those exact names are dropped: anything else unprefixed fails.
"$NM" -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' |
  grep -vxE '_edata|_end|__bss_start|_init|_fini' | sort -u >"$tmp/actual"
[[ -s "$tmp/actual" ]] || { echo "check_exports.sh: $lib exports nothing" >&2; exit 1; }

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

if grep -v '^subq_' "$tmp/actual" >"$tmp/bad"; then
  fail "exported symbols without the subq_ prefix (hidden visibility leak or a missing 'static'):"
  sed 's/^/    /' "$tmp/bad" >&2
fi

list_soname=""
if [[ -f "$list" ]]; then
  list_soname="$(sed -nE 's/^# soname: *([^ ]+).*/\1/p' "$list" | head -n1)"
  grep -vE '^[[:space:]]*(#|$)' "$list" | sed 's/[[:space:]]//g' >"$tmp/listed_ordered"
  sort -u "$tmp/listed_ordered" >"$tmp/listed"
else
  : >"$tmp/listed_ordered"
  : >"$tmp/listed"
fi
comm -13 "$tmp/listed" "$tmp/actual" >"$tmp/added"
comm -23 "$tmp/listed" "$tmp/actual" >"$tmp/removed"

write_header() {
  cat <<HDR
# Exported dynamic symbols of libsubq (one per line). Within one SONAME this
# list only grows: new symbols are appended, none is removed or renamed.
# Check:   tools/check_exports.sh path/to/libsubq.so   (ctest -L exports)
# Append:  tools/check_exports.sh --update path/to/libsubq.so
# A removal needs a SUBQ_SOVERSION bump in CMakeLists.txt, then --update.
# soname: $1
HDR
}

if [[ $update -eq 1 ]]; then
  if [[ $failures -ne 0 ]]; then
    echo "check_exports.sh: not updating $list: fix the symbols above first" >&2
    exit 1
  fi
  if [[ -f "$list" && "$list_soname" == "$soname" ]]; then
    if [[ -s "$tmp/removed" ]]; then
      echo "check_exports.sh: not updating: these symbols of $soname are no longer exported:" >&2
      sed 's/^/    /' "$tmp/removed" >&2
      echo "Removing a symbol breaks the ABI: bump SUBQ_SOVERSION in CMakeLists.txt, rebuild, then run --update again." >&2
      exit 1
    fi
    { write_header "$soname"; cat "$tmp/listed_ordered" "$tmp/added"; } >"$tmp/new"
    echo "check_exports.sh: appended $(wc -l <"$tmp/added") symbol(s) to $list"
  else
    { write_header "$soname"; cat "$tmp/actual"; } >"$tmp/new"
    echo "check_exports.sh: wrote $(wc -l <"$tmp/actual") symbol(s) for new SONAME $soname to $list"
  fi
  mkdir -p "$(dirname "$list")"
  cp "$tmp/new" "$list"
  exit 0
fi

if [[ ! -f "$list" ]]; then
  fail "$list does not exist; create it with: tools/check_exports.sh --update $lib"
elif [[ "$list_soname" != "$soname" ]]; then
  fail "$lib has SONAME $soname but $list records '${list_soname}'; after a SOVERSION bump regenerate with: tools/check_exports.sh --update $lib"
else
  if [[ -s "$tmp/removed" ]]; then
    fail "symbols removed from $soname without a SOVERSION bump (ABI break):"
    sed 's/^/    /' "$tmp/removed" >&2
  fi
  if [[ -s "$tmp/added" ]]; then
    fail "new exported symbols missing from $list; append them with: tools/check_exports.sh --update $lib"
    sed 's/^/    + /' "$tmp/added" >&2
  fi
fi

# Every SUBQ_API function of the public headers must be exported.
if [[ -d "$include" ]]; then
  # the function is the last subq_ identifier before the first '(' of the line
  find "$include" -name '*.h' -print0 | xargs -0 cat \
    | grep -E '^[[:space:]]*SUBQ_API[[:space:]]' \
    | sed -E 's/^[^(]*[^A-Za-z0-9_](subq_[A-Za-z0-9_]*)[[:space:]]*\(.*/\1/' | sort -u >"$tmp/declared"
  if grep -vE '^subq_[A-Za-z0-9_]+$' "$tmp/declared" >"$tmp/unparsed"; then
    fail "cannot find the function name on these SUBQ_API lines (keep the name on the SUBQ_API line):"
    sed 's/^/    /' "$tmp/unparsed" >&2
  fi
  comm -23 "$tmp/declared" "$tmp/actual" >"$tmp/missing"
  if [[ -s "$tmp/missing" ]]; then
    fail "functions declared SUBQ_API in $include but not exported by $lib (not implemented?):"
    sed 's/^/    /' "$tmp/missing" >&2
  fi
fi

if [[ $failures -ne 0 ]]; then
  echo "check_exports.sh: $failures failure(s) for $lib" >&2
  exit 1
fi
echo "check_exports.sh: $(wc -l <"$tmp/actual") exported symbols of $soname match $list"
