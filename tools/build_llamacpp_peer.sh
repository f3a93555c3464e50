#!/usr/bin/env bash
# build_llamacpp_peer.sh — llama.cpp as a measurement PEER, built outside the repository (nothing of it
# enters SubQ's sources or build). Steps (each skipped when its output already exists):
#   1. source: llama-cpp-python 0.3.36's sdist from PyPI vendors llama.cpp at ggml-org/llama.cpp@0c1e57098
#      (ggml 0.25.3); unpacked and copied to $LC
#   2. build llama-bench, test-backend-ops, llama-quantize (Release, -march=native), -j2, niced
#   3. the peers Bench/peers/ggml_ssm_peer.c and ggml_ternary_peer.c against $LC/build's ggml libraries
#   4. GGUFs of the random-weight benchmark checkpoints (Bench/bench_models.py makes them) with the
#      vendored convert_hf_to_gguf.py: mamba130m f32 (no tokenizer: the converter's built-in GPT-NeoX
#      vocab), tinyllama bf16 (no tokenizer: a two-line patch makes the converter use its built-in
#      LLaMA SPM vocab, 32000 tokens, instead of failing)
# Usage: tools/build_llamacpp_peer.sh [--py PYTHON] [--lc DIR] [--gguf-dir DIR] [--models DIR]
#   PYTHON needs torch, transformers, numpy, safetensors (e.g. the .venv-bench of Bench/compare_peers.py);
#   the script pip-installs the vendored gguf-py and sentencepiece into it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python3}
LC=/work/llama.cpp
GGUF=$ROOT/bench-results/gguf
MODELS=$ROOT/bench-results/models
while [ $# -gt 0 ]; do
  case $1 in
    --py) PY=$2; shift 2 ;;
    --lc) LC=$2; shift 2 ;;
    --gguf-dir) GGUF=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    *) echo "usage: $0 [--py PYTHON] [--lc DIR] [--gguf-dir DIR] [--models DIR]" >&2; exit 2 ;;
  esac
done

if [ ! -f "$LC/CMakeLists.txt" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && "$PY" -m pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36 && tar xzf llama_cpp_python-0.3.36.tar.gz)
  cp -a "$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp" "$LC"
  rm -rf "$tmp"
fi

if [ ! -x "$LC/build/bin/llama-bench" ]; then
  cmake -S "$LC" -B "$LC/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF
  nice -n 5 cmake --build "$LC/build" -j2 --target llama-bench test-backend-ops llama-quantize
fi

gcc -O2 -std=c11 -o "$LC/build/ggml-ssm-peer" "$ROOT/Bench/peers/ggml_ssm_peer.c" -I"$LC/ggml/include" \
  -L"$LC/build/bin" -lggml -lggml-base -lggml-cpu -lm -Wl,-rpath,"$LC/build/bin"
gcc -O2 -std=c11 -o "$LC/build/ggml-ternary-peer" "$ROOT/Bench/peers/ggml_ternary_peer.c" -I"$LC/ggml/include" \
  -L"$LC/build/bin" -lggml -lggml-base -lggml-cpu -lm -Wl,-rpath,"$LC/build/bin"

# The converter fails on a Llama checkpoint without tokenizer files; fall back to the built-in SPM vocab.
if ! grep -q "SubQ peer patch" "$LC/conversion/llama.py"; then
  "$PY" - "$LC/conversion/llama.py" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
old = """        try:
            self._set_vocab_sentencepiece()
        except FileNotFoundError:"""
new = """        # SubQ peer patch: random-weight checkpoints ship no tokenizer; use the built-in LLaMA SPM vocab (32000).
        if not any((self.dir_model / f).is_file() for f in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json")):
            return self._set_vocab_builtin("llama-spm", self.hparams["vocab_size"])
""" + old
assert s.count(old) == 1, "converter changed: patch by hand"
open(p, "w").write(s.replace(old, new))
EOF
fi

"$PY" -c "import gguf, sentencepiece" 2>/dev/null || nice -n 5 "$PY" -m pip install "$LC/gguf-py" sentencepiece
mkdir -p "$GGUF"
[ -f "$GGUF/mamba130m-f32.gguf" ] || nice -n 5 "$PY" "$LC/convert_hf_to_gguf.py" "$MODELS/mamba130m" --outtype f32 --outfile "$GGUF/mamba130m-f32.gguf"
[ -f "$GGUF/tinyllama-bf16.gguf" ] || nice -n 5 "$PY" "$LC/convert_hf_to_gguf.py" "$MODELS/tinyllama" --outtype bf16 --outfile "$GGUF/tinyllama-bf16.gguf"
ls -l "$GGUF"
