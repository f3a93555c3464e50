#!/usr/bin/env python3
"""f32 GEMV peer for the ternary GEMV goal: y = W x with W (N, K) f32 through numpy (OpenBLAS).

    OPENBLAS_NUM_THREADS=2 python3 Bench/peer_f32_gemv.py [--n 4096] [--k 14336] [--reps 25]

Run it alternately with `build/subq-bench ternary --op gemv --threads 2 --no-peak` (same shape)
and compare medians. Not part of the tests."""
import argparse
import statistics
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=4096)
ap.add_argument("--k", type=int, default=14336)
ap.add_argument("--reps", type=int, default=25)
a = ap.parse_args()
W = np.random.default_rng(0).standard_normal((a.n, a.k), dtype=np.float32)
x = np.ones(a.k, np.float32)
ts = []
for _ in range(a.reps):
    t = time.perf_counter()
    y = W @ x
    ts.append(time.perf_counter() - t)
ts = ts[3:] if len(ts) > 5 else ts  # the first calls warm the caches and the thread pool
print("numpy/OpenBLAS f32 GEMV %dx%d: median %.3f ms, min %.3f ms (%.1f GB/s of weights)"
      % (a.n, a.k, statistics.median(ts) * 1e3, min(ts) * 1e3, 4.0 * a.n * a.k / statistics.median(ts) * 1e-9))
