#!/usr/bin/env python3
"""Peer timing for `subq-bench monarch`: the Monarch product in PyTorch as fly's
`blockdiag_butterfly_multiply` bmm path does it (two torch.bmm calls plus the
permutation copies), and the dense n x n matmul on the same tokens.

    /path/to/venv/bin/python Bench/peer_monarch.py [--n 4096] [--blocks 64] [--tokens 1024] [--threads 2]

Also checks the PyTorch result against a float64 evaluation of the same
convention (y[c*l + j] = sum_t W2[j][c][t] u[t*l + j]). Prints medians in ms.
Only this script needs torch; the library and its tests never do.
"""
import argparse
import statistics
import time

import torch


def monarch_bmm(x, w1, w2):
    # fly blockdiag_butterfly_multiply (bmm path), square or rectangular
    batch, n = x.shape
    k, q, p = w1.shape
    l, s, r = w2.shape
    out1 = torch.bmm(x.reshape(batch, k, p).transpose(0, 1), w1.transpose(-1, -2))  # (k, batch, q)
    out1 = out1.transpose(0, 1).reshape(batch, r, l).transpose(-1, -2).contiguous().transpose(0, 1)  # (l, batch, r)
    out2 = torch.bmm(out1, w2.transpose(-1, -2))  # (l, batch, s)
    return out2.permute(1, 2, 0).reshape(batch, s * l)


def timeit(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--blocks", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    b = a.n // a.blocks
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.tokens, a.n, generator=g)
    w1 = torch.randn(a.blocks, b, b, generator=g) / b**0.5
    w2 = torch.randn(a.blocks, b, b, generator=g) / b**0.5
    # correctness of the convention on a few tokens, float64
    xd, w1d, w2d = x[:3].double(), w1.double(), w2.double()
    u = torch.einsum("kqp,tkp->tkq", w1d, xd.reshape(3, a.blocks, b)).reshape(3, a.n)
    v = u.reshape(3, b, a.blocks)  # [tok][t][j] = u[tok][t*l + j]  (P1)
    z = torch.einsum("jct,btj->bjc", w2d, v)  # z[tok][j][c] = sum_t W2[j][c][t] v[tok][j][t]
    y_ref = z.transpose(1, 2).reshape(3, a.n)  # y[c*l + j] = z[j][c]  (P2)
    err = (monarch_bmm(x[:3], w1, w2).double() - y_ref).norm() / y_ref.norm()
    assert err < 1e-5, f"bmm Monarch disagrees with the float64 reference: {err}"
    flops = 4.0 * a.blocks * b * b * a.tokens
    med, mn = timeit(lambda: monarch_bmm(x, w1, w2), a.reps)
    print(f"torch {torch.__version__}, {a.threads} threads")
    print(f"monarch bmm  n{a.n} b{a.blocks} t{a.tokens}: median {med:.2f} ms  min {mn:.2f} ms  {flops / med / 1e6:.1f} GFLOP/s")
    wd = torch.randn(a.n, a.n, generator=g) / a.n**0.5
    med, mn = timeit(lambda: x @ wd.T, max(3, a.reps // 3))
    print(f"dense matmul m{a.tokens} n{a.n} k{a.n}: median {med:.2f} ms  min {mn:.2f} ms  "
          f"{2.0 * a.n * a.n * a.tokens / med / 1e6:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
