#!/usr/bin/env python3
"""subq-run --monarch BLOCKS against the same dense model, side by side.

    python3 Bench/bench_monarch_mlp.py [--run PATH] [--threads 2] [--layers 4] [--blocks 4]
                                       [--prompt 128] [--new 32] [--reps 3] [--dir bench-results/models]

Needs torch, transformers and safetensors (the .venv-bench of Bench/compare_peers.py). Creates once
under --dir a random-weight f32 LlamaForCausalLM with TinyLlama-1.1B's widths (2048 wide, 32/4 heads,
FFN 5632, vocab 32000) and --layers layers, then alternates, --reps times, subq-run on it dense and
with --monarch BLOCKS (prefill of --prompt random ids, then --new greedy tokens) and reports medians:
load time (for --monarch: the projection of every MLP matrix), prefill and decode tokens/s, the
projection's relative error and the parameters kept. Random weights are far from any Monarch
matrix (relative error ~0.73 at 4 blocks); the figure that transfers to trained checkpoints is the
speed. Not part of the tests.
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def make_checkpoint(path, layers):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=2048, num_hidden_layers=layers, num_attention_heads=32, num_key_value_heads=4,
                      intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048, rms_norm_eps=1e-5,
                      rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(cfg).to(torch.float32).save_pretrained(path, safe_serialization=True)


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (" ".join(cmd), out.stderr))
    err = out.stderr
    load = float(re.search(r"loaded .* in ([0-9.]+) s", err).group(1))
    m = re.search(r"prefill: \d+ tokens in [0-9.]+ s \(([0-9.]+) tok/s\); decode: \d+ tokens in [0-9.]+ s \(([0-9.]+) tok/s\)", err)
    errors = [float(x) for x in re.findall(r" (0\.[0-9]+)(?=,|$)", "\n".join(l for l in err.splitlines() if l.startswith("monarch layer")), re.M)]
    summary = re.search(r"^monarch: .*$", err, re.M)
    return load, float(m.group(1)), float(m.group(2)), errors, summary.group(0) if summary else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=os.path.join(ROOT, ".build", "release", "subq-run"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=os.path.join(ROOT, "bench-results", "models"))
    a = ap.parse_args()
    path = os.path.join(a.dir, "llama-tinywidth-%dl-f32" % a.layers)
    if not os.path.exists(os.path.join(path, "config.json")):
        print("creating", path, flush=True)
        make_checkpoint(path, a.layers)
    ids = ",".join(str(random.Random(0).randrange(3, 32000)) for _ in range(a.prompt))
    base = [a.run, path, "--tokens", ids, "--max-tokens", str(a.new), "--threads", str(a.threads), "--quiet",
            "--print-ids"]
    res = {"dense": [], "monarch": []}
    for rep in range(a.reps):
        for kind in res:
            cmd = base + (["--monarch", str(a.blocks)] if kind == "monarch" else [])
            res[kind].append(run(cmd))
            load, pre, dec, _, _ = res[kind][-1]
            print("rep %d %-7s load %.1f s, prefill %.1f tok/s, decode %.2f tok/s" % (rep, kind, load, pre, dec), flush=True)
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in res.items()}
    errs = res["monarch"][0][3]
    print("\nmodel: %d layers, 2048 wide, FFN 5632, vocab 32000, f32; %d threads; --monarch %d" % (a.layers, a.threads, a.blocks))
    print(res["monarch"][0][4])
    if errs:
        print("relative error per matrix: min %.4f, median %.4f, max %.4f" % (min(errs), statistics.median(errs), max(errs)))
    print("| run | load | prefill %d tok | decode |" % a.prompt)
    print("|---|---|---|---|")
    for k in res:
        print("| %s | %.1f s | %.1f tok/s | %.2f tok/s |" % (k, *med[k]))
    print("monarch / dense: prefill %.2fx, decode %.2fx" % (med["monarch"][1] / med["dense"][1], med["monarch"][2] / med["dense"][2]))


if __name__ == "__main__":
    main()
