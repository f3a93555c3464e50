#!/usr/bin/env bash
# check_bench_cli.sh BENCH — smoke test of subq-bench's command line (ctest -L bench).
# Runs small real cases (each GEMM row is checked against a float64 reference
# by subq-bench itself) and asserts exit codes and output shape; bad command
# lines must exit 2 with a message, never crash.
set -uo pipefail
bench="${1:?usage: check_bench_cli.sh path/to/subq-bench}"
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

expect_rc() { # expect_rc RC ARGS...
  local want=$1
  shift
  local out rc
  out=$("$bench" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]]; then ok; else bad "subq-bench $* exited $rc, wanted $want: $out"; fi
  if [[ $want -eq 2 ]] && ! grep -q "subq-bench" <<<"$out"; then bad "subq-bench $*: no message"; fi
}

# real cases: 2 problems x 2 thread counts, every one "ok"
json=$("$bench" gemm b1m7n9k5 b2m17n33k65:bf16:nt:packed --threads 1,2 --reps 2 --no-peak --json 2>/dev/null)
rc=$?
[[ $rc -eq 0 ]] && ok || bad "gemm --json exited $rc"
n_ok=$(grep -c '"status": "ok"' <<<"$json")
[[ $n_ok -eq 4 ]] && ok || bad "gemm --json: $n_ok cases with status ok, wanted 4: $json"
[[ $(head -c1 <<<"$json") == "[" && $(tail -c2 <<<"$json" | head -c1) == "]" ]] && ok || bad "gemm --json is not one JSON array"
for key in kernel problem parameters threads isa ms_min ms_median gflops gbps; do
  grep -q "\"$key\":" <<<"$json" && ok || bad "gemm --json lacks \"$key\""
done
csv=$("$bench" gemm --m 3 --n 5 --k 7 --isa scalar --reps 1 --no-peak --threads 1 --csv 2>/dev/null)
[[ $(wc -l <<<"$csv") -ge 2 ]] && grep -q "scalar" <<<"$csv" && ok || bad "gemm --csv --isa scalar: $csv"
expect_rc 0 list
expect_rc 0 pool --threads 2 --reps 1 --no-peak
expect_rc 0 ssm --d 40 --n 16 --l 33 --threads 1,2 --reps 1 --no-peak
expect_rc 0 ssm --b 2 --d 40 --n 4 --l 1 --isa scalar --threads 1 --reps 1 --no-peak
expect_rc 0 conv1d --d 70 --w 3 --l 9 --threads 1,2 --reps 1 --no-peak
expect_rc 0 nn --t 7 --d 96 --hd 32 --kv 1 --threads 1,2 --reps 1 --no-peak
expect_rc 0 linattn --l 100 --h 2 --threads 1,2 --reps 1 --no-peak
expect_rc 0 linattn --l 70 --h 2 --dk 32 --dv 60 --map identity --chunk 16 --isa scalar --threads 1 --reps 1 --no-peak
expect_rc 0 linattn --l 90 --h 2 --dk 32 --dv 32 --map identity --gate perkey --norm none --threads 1 --reps 1 --no-peak
expect_rc 0 linattn --l 90 --h 2 --gate scalar --threads 2 --reps 1 --no-peak
expect_rc 0 linattn-step --pos 1,70 --h 2 --threads 1,2 --reps 1 --no-peak
expect_rc 0 linattn-hybrid --l 64,130 --parts --threads 1 --reps 1 --no-peak
expect_rc 0 linattn-hybrid --l 100 --no-full --threads 2 --reps 1 --no-peak
expect_rc 0 ternary --n 40 --k 100 --t 5 --d 33 --l 7 --threads 1,2 --reps 1 --no-peak
expect_rc 0 ternary --op gemm --n 17 --k 300 --t 70 --isa scalar --threads 1 --reps 1 --no-peak
expect_rc 0 ternary --op gemv --norm none --n 17 --k 300 --threads 1,2 --reps 1 --no-peak
expect_rc 0 ternary --op qgemv --n 17 --k 300 --threads 1,2 --reps 1 --no-peak
expect_rc 0 ternary --op qgemm --n 17 --k 300 --t 70 --isa scalar --threads 1 --reps 1 --no-peak
expect_rc 0 q8 --n 37 --k 70 --m 3 --threads 1,2 --reps 1 --no-peak
expect_rc 0 q8 --n 300 --k 64 --isa scalar --threads 1 --reps 1 --no-peak
json=$("$bench" ssm --d 24 --n 8 --l 5 --threads 1 --reps 1 --no-peak --json 2>/dev/null)
grep -q '"status": "ok"' <<<"$json" && grep -q '"ns_per_op": [0-9]' <<<"$json" && ok || bad "ssm --json: $json"

# bad command lines: exit 2 with a message
expect_rc 2 --bogus
expect_rc 2 gemm --m -3 --n 2 --k 2 --no-peak
expect_rc 2 gemm --m 3 --n 2 --k x --no-peak
expect_rc 2 gemm --m 3 --n 2 --k 2 --dtype f64 --no-peak
expect_rc 2 gemm --m 3 --n 2 --k 2 --threads 0 --no-peak
expect_rc 2 gemm --m 3 --n 2 --k 2 --isa sparc --no-peak
expect_rc 2 gemm m3n2 --no-peak
expect_rc 2 nosuchcommand
expect_rc 2 ssm --n 300 --no-peak
expect_rc 2 ssm --d 30 --g 4 --no-peak
expect_rc 2 conv1d --w 9 --no-peak
expect_rc 2 conv1d --bogus 1 --no-peak
expect_rc 2 nn --hd 3 --no-peak
expect_rc 2 linattn --dk 40 --no-peak
expect_rc 2 linattn --map cosine --no-peak
expect_rc 2 linattn --gate perkey --no-peak
expect_rc 2 linattn-step --pos 1,x --no-peak
expect_rc 2 linattn-hybrid --h 4 --no-peak
expect_rc 2 nn --d 96 --hd 32 --kv 4 --no-peak
expect_rc 2 ternary --op foo --no-peak
expect_rc 2 ternary --k 0 --no-peak
expect_rc 2 ternary --norm foo --no-peak
expect_rc 2 q8 --k 0 --no-peak
expect_rc 2 q8 --bogus 3 --no-peak

echo "check_bench_cli: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
