#!/usr/bin/env bash
# Thread sweep of subq-bench, written as JSON (one file per command).
#
#   Bench/run_scaling.sh [-b PATH/TO/subq-bench] [-t 1,2,4,8,16] [-o OUTDIR] [-- extra subq-bench options]
#
# Defaults: the binary from build/ (CMake) or .build/release (SwiftPM), threads
# 1,2,4,8,16 (for the 16-core machine; counts above the allowed CPUs run
# oversubscribed and say nothing about scaling), output in bench-results/<UTC time>/.
# Runs: peak, every Bench/inputs/gemm/*.txt batch file, pool.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin=""
threads="1,2,4,8,16"
out=""
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    -b) [ $# -ge 2 ] || { echo "run_scaling.sh: -b needs a path" >&2; exit 2; }; bin="$2"; shift 2 ;;
    -t) [ $# -ge 2 ] || { echo "run_scaling.sh: -t needs a list" >&2; exit 2; }; threads="$2"; shift 2 ;;
    -o) [ $# -ge 2 ] || { echo "run_scaling.sh: -o needs a directory" >&2; exit 2; }; out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "run_scaling.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  for c in "$root/build/subq-bench" "$root/.build/release/subq-bench"; do
    if [ -x "$c" ]; then bin="$c"; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "run_scaling.sh: no subq-bench binary; build it (cmake -B build -G Ninja && ninja -C build subq-bench) or pass -b" >&2
  exit 2
fi
if ! [[ "$threads" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
  echo "run_scaling.sh: -t wants a comma-separated list of counts, got '$threads'" >&2
  exit 2
fi
[ -n "$out" ] || out="$root/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

status=0
# Each run writes its own JSON file; a failing case makes subq-bench exit 1,
# which we record but do not stop on.
sweep() {
  local name="$1"; shift
  echo "== $name" >&2
  set +e
  "$bin" "$@" --threads "$threads" --json "${extra[@]}" >"$out/$name.json" 2>"$out/$name.log"
  local rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    echo "   exit $rc (see $out/$name.log)" >&2
    status=1
  fi
}
extra=("$@")
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "binary: $bin"
  echo "threads: $threads"
  grep -m1 "model name" /proc/cpuinfo 2>/dev/null || true
  echo "cpus: $(nproc)"
} >"$out/machine.txt"
sweep peak peak
for f in "$here"/inputs/gemm/*.txt; do
  sweep "gemm_$(basename "$f" .txt)" gemm --batch "$f"
done
sweep pool pool
echo "results in $out" >&2
exit $status
