#!/usr/bin/env python3
"""SubQ vs PyTorch on a few kernels, side by side in one process (medians).

Optional, not a benchmark of record: needs torch. Each row also prints the largest
difference between the two results relative to the largest |torch| value. Example:
  SUBQ_LIBRARY=build/libsubq.so PYTHONPATH=bindings/python python3 bindings/python/examples/compare_torch.py --threads 2
--quick uses small sizes (the pytest smoke test runs it that way when torch is installed).
"""
import argparse
import statistics
import time

import numpy as np

import subq


def median_s(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = subq.Context(threads=args.threads)
    rng = np.random.default_rng(0)
    print("subq %s (%s, %d threads) vs torch %s (%d threads)"
          % (subq.version(), ctx.isa, ctx.threads, torch.__version__, torch.get_num_threads()))
    print("%-44s %12s %12s %8s %10s" % ("kernel", "subq ms", "torch ms", "ratio", "max diff"))

    def row(name, f_subq, f_torch):
        mine, theirs = np.asarray(f_subq(), np.float64), np.asarray(f_torch(), np.float64)
        diff = np.abs(mine - theirs).max() / max(np.abs(theirs).max(), 1e-30)
        a, b = median_s(f_subq, args.reps), median_s(f_torch, args.reps)
        print("%-44s %12.3f %12.3f %7.2fx %10.2e" % (name, a * 1e3, b * 1e3, b / a, diff))

    quick = args.quick
    n = 256 if quick else 2048
    A = rng.standard_normal((n, n)).astype(np.float32)
    B = rng.standard_normal((n, n)).astype(np.float32)
    C = np.empty((n, n), np.float32)
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    row("sgemm %dx%dx%d" % (n, n, n), lambda: subq.gemm(A, B, out=C, ctx=ctx), lambda: tA @ tB)

    b_, h, s, d = (1, 4, 128, 32) if quick else (1, 16, 2048, 64)
    q = rng.standard_normal((b_, s, h, d)).astype(np.float32)
    k = rng.standard_normal((b_, s, h, d)).astype(np.float32)
    v = rng.standard_normal((b_, s, h, d)).astype(np.float32)
    o = np.empty_like(q)
    tq, tk, tv = (torch.from_numpy(x).transpose(1, 2) for x in (q, k, v))
    row("causal attention H%d N%d D%d" % (h, s, d), lambda: subq.attention(q, k, v, causal=True, out=o, ctx=ctx),
        lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True).transpose(1, 2))

    c, l, st = (96, 32, 16) if quick else (1536, 256, 16)
    u = rng.standard_normal((1, l, c)).astype(np.float32)
    dt = rng.standard_normal((1, l, c)).astype(np.float32) * 0.5 - 1
    Am = -np.exp(rng.standard_normal((c, st)).astype(np.float32) * 0.5)
    Bm = rng.standard_normal((1, l, st)).astype(np.float32)
    Cm = rng.standard_normal((1, l, st)).astype(np.float32)
    y = np.empty_like(u)
    tu, tdt, tA_, tB_, tC_ = (torch.from_numpy(x) for x in (u, dt, Am, Bm, Cm))

    def torch_scan():  # the sequential reference loop of mamba_ssm (selective_scan_ref), one token at a time
        d = torch.nn.functional.softplus(tdt[0])
        hs = torch.zeros(c, st)
        ys = torch.empty(1, l, c)
        for t in range(l):
            hs = torch.exp(d[t, :, None] * tA_) * hs + (d[t] * tu[0, t])[:, None] * tB_[0, t][None, :]
            ys[0, t] = (hs * tC_[0, t][None, :]).sum(-1)
        return ys

    row("mamba-1 scan D%d N%d L%d" % (c, st, l), lambda: subq.ssm1_scan(u, dt, Am, Bm, Cm, out=y, ctx=ctx),
        torch_scan)


if __name__ == "__main__":
    main()
