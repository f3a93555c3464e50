#!/usr/bin/env bash
# attention_side_by_side.sh — PyTorch SDPA (Bench/peer_attention.py) and `subq-bench fattn`, alternated.
#
#   Bench/peers/attention_side_by_side.sh [PYTHON] [ROUNDS]    > log
#   python3 Bench/peers/attention_side_by_side.py log          # the table: medians of the per-round medians
#
# PYTHON: an interpreter with torch (default /work/wt-bench/.venv-bench/bin/python). Each round, for 2 and
# then 1 thread: the peer's prefill and decode cases (3 calls each, after a float64 check and a warm-up),
# then subq-bench fattn --case prefill and --case decode. Not part of the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
py="${1:-/work/wt-bench/.venv-bench/bin/python}"
rounds="${2:-3}"
cd "$root"
for r in $(seq "$rounds"); do
  for t in 2 1; do
    echo "round $r thr $t $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$py" Bench/peer_attention.py --threads "$t" --reps 3 --json
    build/subq-bench fattn --case prefill --threads "$t" --no-peak --json
    build/subq-bench fattn --case decode --threads "$t" --no-peak --json
  done
done
