#!/usr/bin/env python3
"""Whole-model speed: subq-run against transformers on the same random-weight checkpoints, side by side.

    python3 Bench/bench_models.py [--run PATH] [--bench PATH] [--threads 2] [--models mamba130m,tinyllama]
                                  [--prompt 512] [--new 32] [--reps 3] [--dir bench-results/models]
                                  [--skip-transformers] [--llama-bench PATH --gguf-dir DIR [--llama-reps 1]]
                                  [--int8-head]

Needs torch, transformers and safetensors in the running Python (for instance the .venv-bench of
Bench/compare_peers.py plus `pip install transformers safetensors`); the checkpoints are created
on first use under --dir (random weights, seeded):
  mamba130m   MambaForCausalLM, mamba-130m's shape (24 layers, 768 wide, vocab 50280), f32
  tinyllama   LlamaForCausalLM, TinyLlama-1.1B's shape (22 layers, 2048 wide, 32/4 heads, FFN 5632), bf16
  mmfree370m  hgrn_bit (MatMul-free LM), MMfreeLM-370M's shape (24 layers, 1024 wide, I 2816, vocab 32000),
              bf16 masters ternarized at load (tools/make_tiny_hgrn_bit.py --bench); no transformers
              class exists, so subq-run only, and the decode bound counts the ternary weights at
              2 bits each (what subq-run reads per token) plus the f32 norm weights
  bitnet2b    BitNetForCausalLM, bitnet-b1.58-2B-4T's shape (30 layers, 2560 wide, 20/5 heads, FFN 6912,
              relu2, vocab 128256, tied embeddings), bf16 float masters with quantization_config
              autobitlinear online: subq-run and transformers both absmean-ternarize the projections
              (per tensor); the decode bound counts them at 2 bits each, the tied bf16 embedding
              (the head) at 2 bytes and the norms at 4 (decode_bytes, as for mmfree370m). Its GGUF
              (llama.cpp TQ2_0): tools/convert_bitnet_for_llamacpp.py
  based360m   BASED, based-360m's shape (27 layers, 1024 wide: 17 BaseConv, 5 linear attention with 16
              heads of feature_dim 16, 5 sliding window with window_size 256 -> (128, 0); n_inner 2048,
              vocab 50257 padded to 50264), f32, written directly (no transformers class: subq only)
For each model and repetition it runs, one after the other, subq-run (prefill of --prompt random
token ids, then --new greedy tokens) and transformers (a cached prefill forward, then greedy decode
steps with the cache), and reports medians: prefill and decode tokens/s, and the decode bound =
measured read bandwidth (subq-bench peak, same thread count, probed before and after the model's
runs: the larger of the two) / bytes of weights read per token. Not part of the tests.

With --llama-bench PATH (llama.cpp's llama-bench, built outside the repo: BENCHMARKS.md "llama.cpp side
by side") each repetition also runs `llama-bench -m DIR/<model>*.gguf -p PROMPT -n NEW -t THREADS
-r LLAMA_REPS -o json` right after subq-run, on the GGUF converted from the same checkpoint (one
file per model in --gguf-dir whose name starts with the model's name). llama-bench times its
prefill (pp) and its decode (tg, from an empty context) separately, each after a warm-up run, and
feeds its own token ids; the medians of its per-run tokens/s are reported beside subq's.
--skip-transformers (or --no-transformers) leaves transformers out (and does not import torch).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def make_based360m(path):
    """based-360m's config.json (model_type "based", as SubQ's converter writes it) and random f32
    weights under the spec's names (linear_attention spec §11)."""
    import numpy as np
    from safetensors.numpy import save_file

    d, layers, inner, vocab = 1024, 27, 2048, 50257
    linear, sliding = [1, 6, 11, 16, 21], [2, 7, 12, 17, 22]
    cfg = {
        "activation_function": "swiglu", "model_type": "based", "n_embd": d, "n_head": 16, "n_inner": inner,
        "n_layer": layers, "n_positions": 0, "vocab_size": vocab, "pad_vocab_size_multiple": 8, "rms_norm": True,
        "residual_in_fp32": True, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True, "rotary_emb_fraction": 1,
        "qkv_proj_bias": False, "out_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
        "bos_token_id": 50256, "eos_token_id": 50256, "alt_mixer_layers": linear, "alt_mixer_2_layers": sliding,
        "mixer": {"_target_": "based.models.mixers.convolution.BaseConv", "expand_proj": 4, "kernel_sizes": 3,
                  "l_max": 2048, "use_bias": True},
        "alt_mixer": {"_target_": "based.models.mixers.linear_attention.LinearAttention", "feature_dim": 16,
                      "feature_map": {"_target_": "based.models.mixers.linear_attention.TaylorExp", "input_dim": 16},
                      "l_max": 2048, "num_heads": 16, "parallel_implementation": "fla_parallel"},
        "alt_mixer_2": {"_target_": "based.models.mixers.slide_attention.SlidingAttention", "causal": True,
                        "num_heads": 16, "window_size": 256},
    }
    rng = np.random.default_rng(0)

    def randn(*shape):
        return (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)

    w = {"transformer.embeddings.word_embeddings.weight": randn(50264, d),
         "transformer.ln_f.weight": np.ones(d, np.float32)}
    for i in range(layers):
        p = "transformer.layers.%d." % i
        w[p + "norm1.weight"] = np.ones(d, np.float32)
        w[p + "norm2.weight"] = np.ones(d, np.float32)
        w[p + "mlp.fc1.weight"] = randn(2 * inner, d)
        w[p + "mlp.fc2.weight"] = randn(d, inner)
        if i in sliding:
            w[p + "mixer.Wqkv.weight"] = randn(3 * d, d)
            w[p + "mixer.out_proj.weight"] = randn(d, d)
        elif i in linear:
            w[p + "mixer.proj_q.weight"] = randn(256, d)
            w[p + "mixer.proj_k.weight"] = randn(256, d)
            w[p + "mixer.proj_v.weight"] = randn(d, d)
            w[p + "mixer.out_proj.weight"] = randn(d, d)
        else:
            w[p + "mixer.in_proj.weight"] = randn(4 * d, d)
            w[p + "mixer.in_proj.bias"] = randn(4 * d)
            w[p + "mixer.conv.conv.weight"] = randn(2 * d, 1, 3)
            w[p + "mixer.out_proj.weight"] = randn(d, 2 * d)
            w[p + "mixer.out_proj.bias"] = randn(d)
    os.makedirs(path, exist_ok=True)
    save_file(w, os.path.join(path, "model.safetensors"))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def make_checkpoint(name, path):
    if name == "based360m":
        return make_based360m(path)
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM

    torch.manual_seed(0)
    if name == "mamba130m":
        cfg = MambaConfig(hidden_size=768, num_hidden_layers=24, vocab_size=50280, state_size=16, expand=2,
                          conv_kernel=4, tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
        model = MambaForCausalLM(cfg).to(torch.float32)
    elif name == "tinyllama":
        cfg = LlamaConfig(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                          intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048, rms_norm_eps=1e-5,
                          rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    elif name == "bitnet2b":
        from transformers import BitNetConfig, BitNetForCausalLM
        from transformers.utils.quantization_config import BitNetQuantConfig

        cfg = BitNetConfig(hidden_size=2560, intermediate_size=6912, num_hidden_layers=30, num_attention_heads=20,
                           num_key_value_heads=5, vocab_size=128256, max_position_embeddings=4096, rms_norm_eps=1e-5,
                           rope_theta=500000.0, tie_word_embeddings=True, hidden_act="relu2", bos_token_id=128000,
                           eos_token_id=128001)
        torch.set_default_dtype(torch.bfloat16)  # built in bf16: no 9.6 GB f32 copy of 2.4 B params
        model = BitNetForCausalLM(cfg)
        torch.set_default_dtype(torch.float32)
        # float masters, ternarized at load (transformers: AutoBitLinear online, WeightQuant per forward)
        model.config.quantization_config = BitNetQuantConfig(linear_class="autobitlinear", quantization_mode="online")
    elif name == "mmfree370m":
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import make_tiny_hgrn_bit

        make_tiny_hgrn_bit.bench_checkpoint(path, 24, 1024, 2816, 32000)
        return
    else:
        raise SystemExit("unknown model %r" % name)
    model.save_pretrained(path, safe_serialization=True)


DTYPE_BYTES = {"F32": 4, "BF16": 2, "F16": 2}


def tensors(path):
    """(name, shape, dtype, elements) of every tensor in the checkpoint's safetensors files."""
    from safetensors import safe_open

    for f in sorted(os.listdir(path)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(path, f), "np") as st:
                for k in st.keys():
                    t = st.get_slice(k)
                    shape = t.get_shape()
                    n = 1
                    for d in shape:
                        n *= d
                    yield k, shape, t.get_dtype(), n


def weight_bytes(path):
    """Bytes of every tensor in the checkpoint (what one decode token reads, up to the embedding row)."""
    return sum(n * DTYPE_BYTES[dt] for _, _, dt, n in tensors(path))


def ternary_tensor(model_type, name, shape):
    """Whether subq-run holds this checkpoint tensor as SQ2 ternary codes (float masters ternarized
    at load): hgrn_bit's projections (every matrix but the embedding and lower bounds; lm_head
    included), bitnet's q/k/v/o/gate/up/down (its head is the dense tied embedding)."""
    if len(shape) != 2:
        return False
    if model_type == "hgrn_bit":
        return name not in ("model.embeddings.weight", "model.lower_bounds")
    if model_type == "bitnet":
        return name.endswith("_proj.weight")
    return False


def head_tensor(path, cfg):
    """The checkpoint tensor the output head reads: lm_head.weight, or the tied input embedding."""
    names = {k: shape for k, shape, _, _ in tensors(path)}
    if not cfg.get("tie_word_embeddings", False) and "lm_head.weight" in names:
        return "lm_head.weight"
    for k in ("model.embed_tokens.weight", "backbone.embeddings.weight", "backbone.embedding.weight",
              "transformer.embeddings.word_embeddings.weight", "transformer.wte.weight"):
        if k in names:
            return k
    return None


def int8_head_saving(path):
    """Bytes per token that --int8-head saves: the head at its dtype minus its int8 form (per row, the
    codes padded to 32 columns plus one bf16 scale per 32: 34 bytes per 32 weights)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    name = head_tensor(path, cfg)
    for k, shape, dt, n in tensors(path):
        if k == name:
            rows, cols = shape
            return n * DTYPE_BYTES[dt] - rows * ((cols + 31) // 32) * 34
    return 0


def decode_bytes(path):
    """Bytes one decode token reads. Models without ternary weights: every tensor at its dtype
    (weight_bytes). hgrn_bit and bitnet, which subq-run ternarizes at load: the ternary tensors at
    2 bits per weight (SQ2), vectors (norm weights) at 4 bytes (widened to f32 at load), other
    matrices at their dtype; an untied input embedding is not counted (one row per token), a tied
    one is (it is the head); nor are hgrn_bit's lower bounds (49 KB at 370M)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    mt = cfg["model_type"]
    if mt not in ("hgrn_bit", "bitnet"):
        return weight_bytes(path)
    embedding = {"hgrn_bit": "model.embeddings.weight", "bitnet": "model.embed_tokens.weight"}[mt]
    tied = cfg.get("tie_word_embeddings", False)
    total = 0
    for k, shape, dt, n in tensors(path):
        if (k == embedding and not tied) or k == "model.lower_bounds":
            continue
        if ternary_tensor(mt, k, shape):
            total += n // 4
        elif len(shape) == 1:
            total += 4 * n
        else:
            total += n * DTYPE_BYTES[dt]
    return total


def read_bandwidth(bench, threads):
    if not os.path.exists(bench):
        return None  # no subq-bench built: no decode bound
    out = subprocess.run([bench, "peak", "--threads", str(threads), "--json"], capture_output=True, text=True,
                         check=True).stdout
    rows = [r for r in json.loads(out) if r["kernel"] == "mem_read" and r["threads"] == threads]
    r = rows[0]
    return r["parameters"]["bytes"] / (r["ms_median"] * 1e-3) / 1e9


SUMMARY = re.compile(r"prefill: (\d+) tokens in ([\d.]+) s \(([\d.]+) tok/s\); decode: (\d+) tokens in ([\d.]+) s "
                     r"\(([\d.]+) tok/s\)")


def run_subq(run, path, ids, new, threads, extra=()):
    cmd = [run, path, "--tokens", ",".join(map(str, ids)), "--max-tokens", str(new + 1), "--threads", str(threads),
           "--quiet", "--prefill-chunk", str(len(ids))] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = SUMMARY.search(p.stderr)
    if p.returncode != 0 or not m:
        raise SystemExit("subq-run failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    return float(m.group(3)), float(m.group(6))


def run_transformers(model, ids, new):
    import torch

    x = torch.tensor([ids])
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model(x, use_cache=True)
        t1 = time.perf_counter()
        past = out.past_key_values if hasattr(out, "past_key_values") and out.past_key_values is not None else None
        cache_params = getattr(out, "cache_params", None)
        tok = out.logits[:, -1:].argmax(-1)
        t2 = time.perf_counter()
        for i in range(new):
            pos = len(ids) + i
            if cache_params is not None:
                out = model(tok, cache_params=cache_params, use_cache=True,
                            cache_position=torch.tensor([pos]))
                cache_params = out.cache_params
            else:
                out = model(tok, past_key_values=past, use_cache=True)
                past = out.past_key_values
            tok = out.logits[:, -1:].argmax(-1)
        t3 = time.perf_counter()
    return len(ids) / (t1 - t0), new / (t3 - t2)


def find_gguf(gguf_dir, name):
    hits = sorted(f for f in os.listdir(gguf_dir) if f.endswith(".gguf") and (f == name + ".gguf" or f.startswith(name + "-")))
    if len(hits) != 1:
        raise SystemExit("--gguf-dir %s: need exactly one %s.gguf or %s-*.gguf, found %s" % (gguf_dir, name, name, hits or "none"))
    return os.path.join(gguf_dir, hits[0])


def run_llama_bench(exe, gguf, prompt, new, threads, reps):
    """llama-bench's pp and tg tokens/s (each the median of its REPS samples) and its build/CPU info."""
    cmd = [exe, "-m", gguf, "-p", str(prompt), "-n", str(new), "-t", str(threads), "-r", str(reps), "-o", "json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("llama-bench failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    rows = json.loads(p.stdout)
    pp = [r for r in rows if r["n_prompt"] == prompt and r["n_gen"] == 0]
    tg = [r for r in rows if r["n_gen"] == new and r["n_prompt"] == 0]
    if len(pp) != 1 or len(tg) != 1:
        raise SystemExit("llama-bench: unexpected output: %s" % p.stdout[-2000:])
    info = "build %s (%s), %s, %s" % (pp[0].get("build_commit"), pp[0].get("build_number"), pp[0].get("model_type"),
                                       pp[0].get("cpu_info"))
    return statistics.median(pp[0]["samples_ts"]), statistics.median(tg[0]["samples_ts"]), info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=os.path.join(ROOT, ".build", "release", "subq-run"))
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "subq-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="mamba130m,tinyllama")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=os.path.join(ROOT, "bench-results", "models"))
    ap.add_argument("--no-transformers", "--skip-transformers", dest="no_transformers", action="store_true")
    ap.add_argument("--llama-bench", default=None, help="llama.cpp's llama-bench: run it too, on the GGUFs")
    ap.add_argument("--gguf-dir", default=os.path.join(ROOT, "bench-results", "gguf"))
    ap.add_argument("--llama-reps", type=int, default=1, help="llama-bench -r per repetition (default 1)")
    ap.add_argument("--int8-head", action="store_true",
                    help="run subq-run with --int8-head (the head quantized to int8 at load); the decode bound "
                         "counts the head at 36 bytes per 32 weights")
    args = ap.parse_args()
    peers = ""
    if not args.no_transformers:
        import torch
        import transformers

        torch.set_num_threads(args.threads)
        peers += " vs transformers %s / torch %s" % (transformers.__version__, torch.__version__)
    if args.llama_bench:
        peers += " vs llama-bench %s (GGUFs from %s)" % (args.llama_bench, args.gguf_dir)
    print("subq-run %s%s%s, %d threads, prompt %d, %d new tokens, %d reps (medians)"
          % (args.run, " --int8-head" if args.int8_head else "", peers, args.threads, args.prompt, args.new, args.reps))
    for name in args.models.split(","):
        path = os.path.join(args.dir, name)
        if not os.path.exists(os.path.join(path, "config.json")):
            print("creating %s ..." % path, flush=True)
            make_checkpoint(name, path)
        wb = decode_bytes(path) - (int8_head_saving(path) if args.int8_head else 0)
        bw_before = read_bandwidth(args.bench, args.threads)
        with open(os.path.join(path, "config.json")) as f:
            vocab = json.load(f)["vocab_size"]
        import random

        random.seed(1)
        ids = [random.randrange(3, vocab) for _ in range(args.prompt)]
        hf = None
        if not args.no_transformers and name not in ("mmfree370m", "based360m"):  # no transformers class
            from transformers import AutoModelForCausalLM

            hf = AutoModelForCausalLM.from_pretrained(path, dtype="auto").eval()
        gguf = find_gguf(args.gguf_dir, name) if args.llama_bench and name not in ("mmfree370m", "based360m") else None
        load0 = os.getloadavg()
        sp, sd, tp, td, lp, ld, linfo = [], [], [], [], [], [], ""
        for _ in range(args.reps):
            a, b = run_subq(args.run, path, ids, args.new, args.threads, ["--int8-head"] if args.int8_head else [])
            sp.append(a)
            sd.append(b)
            if gguf:
                a, b, linfo = run_llama_bench(args.llama_bench, gguf, args.prompt, args.new, args.threads,
                                              args.llama_reps)
                lp.append(a)
                ld.append(b)
            if hf is not None:
                a, b = run_transformers(hf, ids, args.new)
                tp.append(a)
                td.append(b)
        med = statistics.median
        # The host's bandwidth drifts over a model's runs: probe before and after them, and bound by
        # the larger (what the machine showed it can deliver during the runs).
        bw_after = read_bandwidth(args.bench, args.threads) if bw_before else None
        bw = max(bw_before, bw_after) if bw_before else None
        bound = bw * 1e9 / wb if bw else None
        if bound:
            print("\n%s: %.1f MB of weights read per token; read bandwidth %.1f GB/s (probes before / after the runs: "
                  "%.1f / %.1f) -> decode bound %.1f tok/s" % (name, wb / 1e6, bw, bw_before, bw_after, bound))
        else:
            print("\n%s: %.1f MB of weights; no subq-bench at %s: no decode bound" % (name, wb / 1e6, args.bench))
        load1 = os.getloadavg()
        print("  load average (1/5/15 min) before %.2f/%.2f/%.2f, after %.2f/%.2f/%.2f" % (load0 + load1))
        print("  per-rep subq prefill %s decode %s" % (["%.1f" % v for v in sp], ["%.2f" % v for v in sd]))
        if lp:
            print("  per-rep llama.cpp prefill %s decode %s" % (["%.1f" % v for v in lp], ["%.2f" % v for v in ld]))
            print("  llama.cpp: %s, %s" % (os.path.basename(gguf), linfo))
        print("  %-14s %12s %12s" % ("", "prefill t/s", "decode t/s"))
        print("  %-14s %12.1f %12.2f   %s" % ("subq", med(sp), med(sd),
                                             "(decode %.0f%% of the bound)" % (100 * med(sd) / bound) if bound else ""))
        if tp:
            print("  %-14s %12.1f %12.2f" % ("transformers", med(tp), med(td)))
            print("  %-14s %11.2fx %11.2fx" % ("subq / hf", med(sp) / med(tp), med(sd) / med(td)))
        if lp:
            print("  %-14s %12.1f %12.2f   %s" % ("llama.cpp", med(lp), med(ld),
                                                 "(decode %.0f%% of the bound)" % (100 * med(ld) / bound) if bound else ""))
            print("  %-14s %11.2fx %11.2fx" % ("subq / llama", med(sp) / med(lp), med(sd) / med(ld)))
        del hf


if __name__ == "__main__":
    main()
