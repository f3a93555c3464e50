#!/usr/bin/env bash
# bench_ab.sh — one subq-bench command on two revisions, side by side.
#
#   tools/bench_ab.sh [--rounds N] OLD_REV [NEW_REV|WORKTREE] -- SUBQ_BENCH_ARGS...
#
# Builds subq-bench (Release) for OLD_REV in a temporary git worktree, and for
# NEW_REV the same way (default: the working tree's own build/, rebuilt), then
# runs the two binaries alternately N times (default 7) with --json and prints,
# per case (kernel, problem, threads), the median over rounds of each side's
# per-round median and min, and the ratio old / new (> 1: new is faster).
# Alternating rounds share whatever load the machine has, so the ratio is
# meaningful on a noisy machine where absolute times are not (BENCHMARKS.md:
# "ratios measured side by side in one run").
# Needs: git, cmake, ninja, python3. Leaves the worktrees in ${TMPDIR:-/tmp}.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=7
if [[ "${1:-}" == "--rounds" ]]; then rounds="$2"; shift 2; fi
[[ $# -ge 2 ]] || { echo "usage: $0 [--rounds N] OLD_REV [NEW_REV] -- subq-bench args..." >&2; exit 2; }
old="$1"; shift
new="WORKTREE"
if [[ "$1" != "--" ]]; then new="$1"; shift; fi
[[ "${1:-}" == "--" ]] || { echo "$0: expected -- before the subq-bench arguments" >&2; exit 2; }
shift
[[ $# -ge 1 ]] || { echo "$0: no subq-bench arguments" >&2; exit 2; }

build_rev() { # rev -> path of its subq-bench
  local rev="$1" sha dir
  sha="$(git -C "$root" rev-parse --verify "$rev^{commit}")" || { echo "$0: unknown revision $rev" >&2; exit 2; }
  dir="${TMPDIR:-/tmp}/subq-ab-${sha:0:12}"
  if [[ ! -d "$dir" ]]; then git -C "$root" worktree add -q --detach "$dir" "$sha"; fi
  cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$dir/build" --target subq-bench >/dev/null
  echo "$dir/build/subq-bench"
}

old_bin="$(build_rev "$old")"
if [[ "$new" == "WORKTREE" ]]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" --target subq-bench >/dev/null
  new_bin="$root/build/subq-bench"
else
  new_bin="$(build_rev "$new")"
fi

out="$(mktemp -d)"
for ((r = 0; r < rounds; r++)); do
  "$old_bin" "$@" --no-peak --json >"$out/old.$r.json" 2>/dev/null
  "$new_bin" "$@" --no-peak --json >"$out/new.$r.json" 2>/dev/null
done

python3 - "$out" "$rounds" "$old" "$new" <<'EOF'
import json, statistics, sys
out, rounds, old, new = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def load(side):
    cases = {}
    for r in range(rounds):
        for c in json.load(open("%s/%s.%d.json" % (out, side, r))):
            if c.get("status") != "ok":
                continue
            k = (c["kernel"], c["problem"], c["threads"], c["isa"])
            cases.setdefault(k, []).append((c["ms_median"], c["ms_min"]))
    return cases
o, n = load("old"), load("new")
print("old = %s, new = %s, %d alternating rounds; ms = median over rounds of each round's median (min)" % (old, new, rounds))
print("%-10s %-28s %3s %-6s %12s %12s %12s %12s %7s" % ("kernel", "problem", "thr", "isa", "old ms", "(min)", "new ms", "(min)", "old/new"))
for k in sorted(set(o) & set(n), key=str):
    om = statistics.median(x[0] for x in o[k]); omin = statistics.median(x[1] for x in o[k])
    nm = statistics.median(x[0] for x in n[k]); nmin = statistics.median(x[1] for x in n[k])
    print("%-10s %-28s %3d %-6s %12.4f %12.4f %12.4f %12.4f %6.2fx" % (k[0], k[1][:28], k[2], k[3], om, omin, nm, nmin, om / nm))
EOF
rm -rf "$out"
