#!/usr/bin/env bash
# Runs one Swift harness built by build.sh: Tests/fuzz/swift/run.sh config|tokenizer|npy|regex [seconds] [build-dir]
# The corpus grows in <build-dir>/corpus_<harness>; seeds are the committed fixtures plus seeds/<harness>;
# crashes, timeouts and OOMs land in <build-dir>/artifacts/. Extra libFuzzer flags: FUZZ_FLAGS="...".
# SMALL=1: only seeds/<harness>, inputs of at most 4 KiB, corpus in <build-dir>/corpus_<harness>_small
# (the tokenizer fixtures are 20-60 KB: ~90 executions/s against thousands on small documents).
set -euo pipefail
h=$1
T=${2:-600}
B=${3:-build-swiftfuzz}
S="$B/seeds_$h"
C="$B/corpus_$h"
rm -rf "$S"
mkdir -p "$S" "$B/artifacts"
cp Tests/fuzz/swift/seeds/"$h"/* "$S"/
if [ -n "${SMALL:-}" ]; then
  C="${C}_small"
  FUZZ_FLAGS="-max_len=4096 ${FUZZ_FLAGS:-}"
  h_fixtures=none
else
  h_fixtures=$h
fi
mkdir -p "$C"
case $h_fixtures in
  none) ;;
  config) for f in Tests/Models/*/config.json; do cp "$f" "$S/$(basename "$(dirname "$f")")"; done ;;
  tokenizer)
    for f in Tests/SubQTests/Fixtures/tokenizers/*.json; do
      case $f in *.expected.json) ;; *) cp "$f" "$S/fixture_$(basename "$f" .json)" ;; esac
    done
    for f in Tests/Models/*/tokenizer.json; do cp "$f" "$S/model_$(basename "$(dirname "$f")")"; done ;;
  npy) for f in Tests/Models/*/logits.npy; do cp "$f" "$S/$(basename "$(dirname "$f")")"; done ;;
  regex) ;;  # seeds/regex: the patterns of split_regex.expected.json, each with a text
  *) echo "unknown harness $h (config, tokenizer, npy, regex)" >&2; exit 2 ;;
esac
[ -x "$B/fuzz_swift_$h" ] || { echo "no $B/fuzz_swift_$h (run Tests/fuzz/swift/build.sh)" >&2; exit 2; }
# Swift's own crash handler (backtracer) fights ASan's; libFuzzer reports the trap.
export SWIFT_BACKTRACE=enable=no
exec nice -n 19 "$B/fuzz_swift_$h" -dict="Tests/fuzz/swift/$h.dict" -max_total_time="$T" -rss_limit_mb=4096 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$B/artifacts/$h-" ${FUZZ_FLAGS:-} "$C" "$S"
