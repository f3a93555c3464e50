#!/usr/bin/env python3
"""A BitNet b1.58 checkpoint in transformers' layout (Bench/bench_models.py's random-weight bitnet2b:
bf16 float masters, quantization_config autobitlinear online) as llama.cpp GGUFs, for the
whole-model comparison (BENCHMARKS.md "BitNet b1.58 2B shape whole model"). Run by hand; nothing of
llama.cpp enters SubQ.

    python tools/convert_bitnet_for_llamacpp.py CHECKPOINT [--lc /work/llama.cpp] [--out-dir /work/gguf]
                                                [--name bitnet2b] [--outtype bf16|f32] [--type TQ2_0]
                                                [--token-embedding-type bf16] [--keep-intermediate]

The Python running it needs torch, numpy, safetensors and llama.cpp's gguf-py (the .venv-bench of
Bench/compare_peers.py has them; tools/build_llamacpp_peer.sh installs gguf-py). Steps:
  1. OUT_DIR/NAME-hf/: a copy of the checkpoint with the sub-norms renamed to the names llama.cpp's
     converter maps for BitNet (gguf-py tensor_mapping.py: self_attn.attn_sub_norm ->
     self_attn.inner_attn_ln, mlp.ffn_sub_norm -> mlp.ffn_layernorm). Only the safetensors header
     changes; the tensor bytes are streamed through unchanged. config.json keeps its architectures
     (BitNetForCausalLM, which the converter registers as BitnetModel) without quantization_config:
     the converter ternarizes q/k/v/o/gate/up/down itself with the same per-tensor absmean rule
     (round(W / mean|W|) clamped to [-1, 1], times mean|W|) as transformers' online WeightQuant.
  2. LC/convert_hf_to_gguf.py, run in this process so that BitnetModel.set_vocab can be pointed at
     the converter's built-in Llama-3 BPE vocabulary (models/ggml-vocab-llama-bpe.gguf, 128256 tokens):
     the random-weight checkpoint ships no tokenizer.model, which BitnetModel otherwise requires.
     Tokens play no part in the timings (both sides feed token ids). -> OUT_DIR/NAME-OUTTYPE.gguf
  3. LC/build/bin/llama-quantize ... TYPE (default TQ2_0) -> OUT_DIR/NAME-tq2_0.gguf; the intermediate
     GGUF and the renamed copy are then deleted unless --keep-intermediate. For TQ2_0 llama-quantize
     stores the tied token embedding, which is also the output head, as Q6_K (269 MB at this shape);
     --token-embedding-type bf16 keeps it as the checkpoint has it (657 MB, what subq-run reads)
     -> OUT_DIR/NAME-tq2_0-emb-bf16.gguf.
Keep OUT_DIR outside the repository (GGUFs are not committed).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

RENAMES = ((".self_attn.attn_sub_norm.", ".self_attn.inner_attn_ln."), (".mlp.ffn_sub_norm.", ".mlp.ffn_layernorm."))


def renamed_safetensors(src, dst):
    """Copies safetensors file src to dst with RENAMES applied to the tensor names (header only)."""
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        out = {}
        for k, v in header.items():
            for a, b in RENAMES:
                k = k.replace(a, b)
            out[k] = v
        blob = json.dumps(out, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)  # the data section stays 8-byte aligned
        with open(dst, "wb") as g:
            g.write(struct.pack("<Q", len(blob)))
            g.write(blob)
            shutil.copyfileobj(f, g, 64 << 20)
    return sum(1 for k in header if any(a in k for a, _ in RENAMES))


def renamed_checkpoint(ck, dst):
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(ck, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bitnet":
        raise SystemExit("%s: model_type %r, expected bitnet" % (ck, cfg.get("model_type")))
    qc = cfg.pop("quantization_config", None) or {}
    if qc.get("linear_class") != "autobitlinear" or qc.get("quantization_mode") != "online":
        raise SystemExit("%s: expects float masters (quantization_config autobitlinear online), found %s" % (ck, qc))
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    renamed = 0
    for name in sorted(os.listdir(ck)):
        if name.endswith(".safetensors"):
            renamed += renamed_safetensors(os.path.join(ck, name), os.path.join(dst, name))
        elif name.endswith(".safetensors.index.json"):
            with open(os.path.join(ck, name)) as f:
                idx = json.load(f)
            wm = {}
            for k, v in idx["weight_map"].items():
                for a, b in RENAMES:
                    k = k.replace(a, b)
                wm[k] = v
            idx["weight_map"] = wm
            with open(os.path.join(dst, name), "w") as f:
                json.dump(idx, f, indent=1)
    want = 2 * cfg["num_hidden_layers"]
    if renamed != want:
        raise SystemExit("%s: renamed %d sub-norm tensors, expected %d" % (ck, renamed, want))
    return cfg


def convert(lc, hf_dir, outtype, outfile):
    """convert_hf_to_gguf.py's main() in this process, BitnetModel's vocabulary the built-in llama-bpe."""
    sys.path.insert(0, lc)  # _set_vocab_builtin finds models/ under sys.path[0]
    import convert_hf_to_gguf  # noqa: E402 (it puts gguf-py on the path itself)
    from conversion.bitnet import BitnetModel

    def builtin_vocab(self):
        if (self.dir_model / "tokenizer.model").is_file():
            return self._set_vocab_sentencepiece()
        self._set_vocab_builtin("llama-bpe", self.hparams["vocab_size"])

    BitnetModel.set_vocab = builtin_vocab
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", hf_dir, "--outtype", outtype, "--outfile", outfile]
    try:
        convert_hf_to_gguf.main()
    finally:
        sys.argv = argv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--lc", default="/work/llama.cpp", help="llama.cpp source tree with build/bin/llama-quantize")
    ap.add_argument("--out-dir", default="/work/gguf")
    ap.add_argument("--name", default="bitnet2b", help="GGUF file name prefix (Bench/bench_models.py's model name)")
    ap.add_argument("--outtype", default="bf16", choices=("bf16", "f32"))
    ap.add_argument("--type", default="TQ2_0", help="llama-quantize type")
    ap.add_argument("--token-embedding-type", default=None, help="llama-quantize --token-embedding-type")
    ap.add_argument("--keep-intermediate", action="store_true")
    args = ap.parse_args()
    lc, out = os.path.abspath(args.lc), os.path.abspath(args.out_dir)
    quantize = os.path.join(lc, "build", "bin", "llama-quantize")
    if not os.access(quantize, os.X_OK):
        raise SystemExit("%s not built (tools/build_llamacpp_peer.sh)" % quantize)
    os.makedirs(out, exist_ok=True)
    hf = os.path.join(out, args.name + "-hf")
    mid = os.path.join(out, "%s-%s.gguf" % (args.name, args.outtype))
    emb = ["--token-embedding-type", args.token_embedding_type] if args.token_embedding_type else []
    final = os.path.join(out, "%s-%s%s.gguf" % (args.name, args.type.lower(),
                                                 "-emb-" + args.token_embedding_type.lower() if emb else ""))
    renamed_checkpoint(args.checkpoint, hf)
    convert(lc, hf, args.outtype, mid)
    subprocess.run([quantize] + emb + [mid, final, args.type], check=True)
    if not args.keep_intermediate:
        os.remove(mid)
        shutil.rmtree(hf)
    print("wrote", final)


if __name__ == "__main__":
    main()
