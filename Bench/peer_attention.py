#!/usr/bin/env python3
"""PyTorch peer of `subq-bench fattn` (issue 3): torch.nn.functional.scaled_dot_product_attention, fp32.

    /work/wt-bench/.venv-bench/bin/python Bench/peer_attention.py [--case prefill|decode|all] [--threads 1,2]
        [--reps 5] [--json]

Shapes (subq-bench fattn's f32 cases):
  prefill  causal, B=1, H=16, N=2048, D=64 and H=32, N=4096, D=128 (GFLOP/s counts 4·H·N²·D/2, as subq-bench);
  decode   1 query, 32 query heads over 8 KV heads, D=128, 32768 cached keys, K/V [B][Hkv][S][D]: SDPA with
           enable_gqa=True (no copy of K/V), and, as `decode-repeat`, K/V repeated to 32 heads with
           repeat_interleave as transformers' repeat_kv does (the copy is timed); GB/s counts the 8-head K and V
           bytes once (268 MB), as subq-bench.
Before timing, each case's function is checked against a float64 softmax(QKᵀ/√D)V on a short slice (max
relative error < 1e-4), so the timed code computes the same thing as SubQ. Prints median and min over `reps`
calls per thread count (torch.set_num_threads). Not part of the tests; the library never needs torch.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def prefill_fn(h, n, d):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, h, n, d, generator=g) for _ in range(3))
    return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)), 0.5 * 4.0 * h * n * n * d, None, (q, k, v, True)


def decode_fn(hq, hkv, sk, d, repeat):
    g = torch.Generator().manual_seed(2)
    q = torch.randn(1, hq, 1, d, generator=g)
    k, v = (torch.randn(1, hkv, sk, d, generator=g) for _ in range(2))
    rep = hq // hkv

    def run():
        if repeat:
            return F.scaled_dot_product_attention(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1))
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    return run, 4.0 * hq * sk * d, 2.0 * k.numel() * 4, (q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), False)


def check(fn_args, out):
    q, k, v, causal = fn_args
    n = min(q.shape[2], 256)  # the first rows of a causal prefill see only the first keys
    qs, ks, vs = q[:, :, :n].double(), (k[:, :, :n] if causal else k).double(), (v[:, :, :n] if causal else v).double()
    s = qs @ ks.transpose(-1, -2) / (q.shape[-1] ** 0.5)
    if causal:
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    ref = torch.softmax(s, -1) @ vs
    err = ((out[:, :, :n].double() - ref).abs().max() / ref.abs().max()).item()
    if not err < 1e-4:
        sys.exit(f"peer_attention.py: the peer disagrees with the float64 reference ({err:.2e})")
    return err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="all", choices=["prefill", "decode", "all"])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cases = []
    if a.case in ("prefill", "all"):
        cases += [("prefill:b1hq16hkv16sq2048sk2048d64:f32:causal", prefill_fn(16, 2048, 64)),
                  ("prefill:b1hq32hkv32sq4096sk4096d128:f32:causal", prefill_fn(32, 4096, 128))]
    if a.case in ("decode", "all"):
        cases += [("decode:b1hq32hkv8sq1sk32768d128:f32", decode_fn(32, 8, 32768, 128, False)),
                  ("decode-repeat:b1hq32hkv8sq1sk32768d128:f32", decode_fn(32, 8, 32768, 128, True))]
    rows = []
    for t in (int(x) for x in a.threads.split(",")):
        torch.set_num_threads(t)
        for name, (fn, flops, nbytes, args) in cases:
            err = check(args, fn())
            fn()  # warm-up
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
            med = statistics.median(times)
            row = {"peer": f"torch {torch.__version__} sdpa", "problem": name, "threads": t, "ms_median": med,
                   "ms_min": min(times), "gflops": flops / (med * 1e-3) * 1e-9,
                   "gbps": nbytes / (med * 1e-3) * 1e-9 if nbytes else None, "check_rel_err": err}
            rows.append(row)
            if not a.json:
                rate = f"{row['gbps']:.2f} GB/s" if nbytes else f"{row['gflops']:.1f} GFLOP/s"
                print(f"{name:50s} thr {t}  median {med:9.3f} ms  min {min(times):9.3f} ms  {rate}  (check {err:.1e})")
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
