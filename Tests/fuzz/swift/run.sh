#!/usr/bin/env bash
# Runs one Swift harness built by build.sh: Tests/fuzz/swift/run.sh config|tokenizer|npy [seconds] [build-dir]
# The corpus grows in <build-dir>/corpus_<harness>; seeds are the committed fixtures plus seeds/<harness>;
# crashes, timeouts and OOMs land in <build-dir>/artifacts/. Extra libFuzzer flags: FUZZ_FLAGS="...".
set -euo pipefail
h=$1
T=${2:-600}
B=${3:-build-swiftfuzz}
S="$B/seeds_$h"
rm -rf "$S"
mkdir -p "$S" "$B/corpus_$h" "$B/artifacts"
cp Tests/fuzz/swift/seeds/"$h"/* "$S"/
case $h in
  config) for f in Tests/Models/*/config.json; do cp "$f" "$S/$(basename "$(dirname "$f")")"; done ;;
  tokenizer)
    for f in Tests/SubQTests/Fixtures/tokenizers/*.json; do
      case $f in *.expected.json) ;; *) cp "$f" "$S/fixture_$(basename "$f" .json)" ;; esac
    done
    for f in Tests/Models/*/tokenizer.json; do cp "$f" "$S/model_$(basename "$(dirname "$f")")"; done ;;
  npy) for f in Tests/Models/*/logits.npy; do cp "$f" "$S/$(basename "$(dirname "$f")")"; done ;;
  *) echo "unknown harness $h (config, tokenizer, npy)" >&2; exit 2 ;;
esac
# Swift's own crash handler (backtracer) fights ASan's; libFuzzer reports the trap.
export SWIFT_BACKTRACE=enable=no
exec nice -n 19 "$B/fuzz_swift_$h" -dict="Tests/fuzz/swift/$h.dict" -max_total_time="$T" -rss_limit_mb=4096 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$B/artifacts/$h-" ${FUZZ_FLAGS:-} "$B/corpus_$h" "$S"
