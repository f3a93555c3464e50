#!/usr/bin/env bash
# check_subq_run.sh SUBQ_RUN — the subq-run command line on the committed tiny checkpoints:
# greedy ids from a text prompt and from --tokens equal transformers' (based: tools/make_tiny_based.py's
# float64 reference) (Tests/Models/*/prompt.json),
# --logits writes a [tokens, vocab] float32 .npy, and bad input exits 1 with a message.
set -euo pipefail
run="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "check_subq_run: $*" >&2; exit 1; }
field() { # file key -> the JSON list as "a b c" (the files are written by tools/make_tiny_models.py)
  tr -d '\n' <"$1" | sed -E "s/.*\"$2\": *\[([^]]*)\].*/\1/" | tr -d ' ' | tr ',' ' '
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for m in llama llama3-tied mistral mamba mamba2 bitnet bitnet-offline bitnet-online hgrn_bit based; do
  dir="$root/Tests/Models/$m"
  want="$(field "$dir/prompt.json" greedy)"
  n=$(wc -w <<<"$want")
  text="$(tr -d '\n' <"$dir/prompt.json" | sed -E 's/.*"text": *"(([^"\\]|\\.)*)".*/\1/')"
  ids="$(field "$dir/prompt.json" prompt | tr ' ' ',')"
  got="$("$run" "$dir" --tokens "$ids" --max-tokens "$n" --threads 2 --print-ids --quiet --logits "$tmp/l.npy" 2>"$tmp/err" | xargs)"
  [[ "$got" == "$want" ]] || fail "$m --tokens: got '$got', want '$want'"
  grep -q "prefill: .* tok/s); decode: .* tok/s)" "$tmp/err" || fail "$m: no summary line"
  [[ "$(head -c 6 "$tmp/l.npy" | tail -c 5)" == "NUMPY" ]] || fail "$m: --logits did not write a .npy"
  # the text prompt goes through tokenizer.json (JSON escapes in the text are only \" here)
  if [[ "$text" != *\\* ]]; then
    got="$("$run" "$dir" --prompt "$text" --max-tokens "$n" --print-ids --quiet 2>/dev/null | xargs)"
    [[ "$got" == "$want" ]] || fail "$m --prompt: got '$got', want '$want'"
  fi
  echo "subq-run $m: greedy $got"
done
if "$run" "$root/Tests/Models/does-not-exist" --tokens 1 2>"$tmp/err"; then fail "a missing model directory succeeded"; fi
grep -q "config.json" "$tmp/err" || fail "missing-directory message: $(cat "$tmp/err")"
if "$run" "$root/Tests/Models/llama" --tokens 1,x 2>"$tmp/err"; then fail "a bad --tokens succeeded"; fi
grep -q "'x' is not a token id" "$tmp/err" || fail "bad --tokens message: $(cat "$tmp/err")"
if "$run" "$root/Tests/Models/llama" --tokens 999999 2>"$tmp/err"; then fail "an out-of-vocabulary id succeeded"; fi
grep -q "outside the vocabulary" "$tmp/err" || fail "out-of-vocabulary message: $(cat "$tmp/err")"
# --monarch: one report line per layer, the parameter summary, then generation as usual
"$run" "$root/Tests/Models/llama" --tokens 1,2,3 --max-tokens 2 --monarch 2 --quiet >/dev/null 2>"$tmp/err" ||
  fail "--monarch 2 failed: $(cat "$tmp/err")"
[[ "$(grep -c '^monarch layer [01]: relative error mlp.gate_proj 96x64 0\.[0-9]*, mlp.up_proj 96x64 0\.[0-9]*, mlp.down_proj 64x96 0\.[0-9]*$' "$tmp/err")" == 2 ]] ||
  fail "--monarch report: $(cat "$tmp/err")"
grep -q "^monarch: 6 MLP matrices (2 blocks), 30720 parameters instead of 36864" "$tmp/err" || fail "--monarch summary: $(cat "$tmp/err")"
# BASED: fc1 (a | gate, one matrix) and fc2 of each of the 6 layers
"$run" "$root/Tests/Models/based" --tokens 1,2,3 --max-tokens 2 --monarch 2 --quiet >/dev/null 2>"$tmp/err" ||
  fail "--monarch 2 on based failed: $(cat "$tmp/err")"
[[ "$(grep -c '^monarch layer [0-5]: relative error mlp.fc1 192x64 0\.[0-9]*, mlp.fc2 64x96 0\.[0-9]*$' "$tmp/err")" == 6 ]] ||
  fail "--monarch report on based: $(cat "$tmp/err")"
grep -q "^monarch: 12 MLP matrices (2 blocks), 79872 parameters instead of 110592" "$tmp/err" ||
  fail "--monarch summary on based: $(cat "$tmp/err")"
if "$run" "$root/Tests/Models/mamba" --tokens 1 --monarch 2 2>"$tmp/err"; then fail "--monarch on mamba succeeded"; fi
grep -q "llama, mistral and based" "$tmp/err" || fail "--monarch on mamba message: $(cat "$tmp/err")"
# --int8-head: the head's report line, then generation as usual; refused for hgrn_bit (ternary head)
"$run" "$root/Tests/Models/bitnet" --tokens 1,2,3 --max-tokens 2 --int8-head --quiet >/dev/null 2>"$tmp/err" ||
  fail "--int8-head failed: $(cat "$tmp/err")"
grep -q "^int8 head: 885 x 64, relative weight error 0\.00[0-9]*$" "$tmp/err" || fail "--int8-head report: $(cat "$tmp/err")"
if "$run" "$root/Tests/Models/hgrn_bit" --tokens 1 --int8-head 2>"$tmp/err"; then fail "--int8-head on hgrn_bit succeeded"; fi
grep -q "already a ternary BitLinear" "$tmp/err" || fail "--int8-head on hgrn_bit message: $(cat "$tmp/err")"
echo "check_subq_run: ok"
