#!/usr/bin/env python3
"""PyTorch sequential Mamba-1 selective scan, the issue's peer for `subq-bench ssm` (spec mamba.md §1.1 and §8.7),
fp32, with delta bias + softplus, Dskip and the SiLU(z) gate. Two forms:
  ref   (default) as mamba_ssm's `selective_scan_ref` computes it: exp(delta A) and delta B u materialised for every
        token as (batch, d, l, n) tensors, then a Python loop over time reading their strided slices;
  step  one small step of torch ops per token (no (d, l, n) tensors): a faster sequential peer.

    .venv-bench/bin/python Bench/peer_mamba_scan.py [--form ref|step] [--d 1536] [--n 16] [--l 1024] [--threads 2] [--reps 5]

Run it alternately with `build/subq-bench ssm --threads T` (same shape, batch 1) and compare medians.
Not part of the tests."""
import argparse
import statistics
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--d", type=int, default=1536)
ap.add_argument("--n", type=int, default=16)
ap.add_argument("--l", type=int, default=1024)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--form", choices=["ref", "step"], default="ref")
a = ap.parse_args()
torch.set_num_threads(a.threads)
g = torch.Generator().manual_seed(0)
D, N, L = a.d, a.n, a.l
u = torch.randn(L, D, generator=g)
delta = torch.randn(L, D, generator=g) * 0.5
z = torch.randn(L, D, generator=g)
B = torch.randn(L, N, generator=g)
C = torch.randn(L, N, generator=g)
A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(D, 1)  # S4D-real init, (D, N)
Dskip = torch.ones(D)
dbias = torch.full((D,), -4.0)


def scan_ref():
    dt = torch.nn.functional.softplus(delta + dbias).t()[None]  # (1, D, L)
    uu, Bt, Ct = u.t()[None], B.t()[None], C.t()[None]  # (1, D, L), (1, N, L)
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", dt, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", dt, Bt, uu)
    x = torch.zeros(1, D, N)
    ys = []
    for i in range(L):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, Ct[:, :, i]))
    y = torch.stack(ys, dim=2) + uu * Dskip[None, :, None]  # (1, D, L)
    return y * torch.nn.functional.silu(z.t()[None])


def scan_step():
    dt = torch.nn.functional.softplus(delta + dbias)  # (L, D)
    h = torch.zeros(D, N)
    ys = []
    for t in range(L):
        h = torch.exp(dt[t, :, None] * A) * h + (dt[t] * u[t])[:, None] * B[t][None, :]
        ys.append(h @ C[t])
    y = torch.stack(ys) + u * Dskip
    return y * torch.nn.functional.silu(z)


with torch.no_grad():
    scan = scan_ref if a.form == "ref" else scan_step
    scan()  # warm-up
    ts = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        y = scan()
        ts.append(time.perf_counter() - t0)
print("torch %s sequential scan (%s) d%d n%d l%d, %d threads: median %.1f ms, min %.1f ms (%.2f ns per channel x state x token)"
      % (torch.__version__, a.form, D, N, L, a.threads, statistics.median(ts) * 1e3, min(ts) * 1e3,
         statistics.median(ts) * 1e9 / (D * N * L)))
