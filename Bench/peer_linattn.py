#!/usr/bin/env python3
"""PyTorch peer of `subq-bench linattn`: BASED (Taylor map 153) causal linear
attention, chunked, fp32, the same math as SubQ (linear_attention spec §4, §8).

    /work/wt-bench/.venv-bench/bin/python Bench/peer_linattn.py [--b 1] [--h 16] [--dk 16] [--dv 64]
        [--l 8192] [--chunk 64] [--threads 1,2] [--reps 5] [--json]

Per chunk of C tokens (all heads and batches at once, torch eager ops):
    A = tril(1 + s + s^2/2), s = (q k^T) / sqrt(dk)     (C x C from the 16-dim dots)
    O = A V + Phi(Q) S,  z = rowsum(A) + Phi(Q) s,  out = O / (z + 1e-6)
    S += Phi(K)^T V,  s += colsum Phi(K)
with Phi the compact 153-term Taylor map [1, x~, x~_i^2/sqrt2, x~_i x~_j (i<j)],
x~ = x / dk^(1/4) (computed once for the whole sequence, outside the chunk loop).
Before timing, the script checks its output against a float64 quadratic
reference on a short sequence (max rel error must be < 1e-4) so that the
timed code computes the same thing as SubQ. Prints the median and min of
`reps` timed calls per thread count (torch.set_num_threads). Not part of the
tests; the library and its tests never need torch.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def taylor153(x, dk):
    xs = x * (dk ** -0.25)
    iu = torch.triu_indices(dk, dk, offset=1)
    quad_diag = xs * xs * (2.0 ** -0.5)
    quad_off = xs[..., iu[0]] * xs[..., iu[1]]
    ones = torch.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    return torch.cat([ones, xs, quad_diag, quad_off], dim=-1)


def based_chunked(q, k, v, chunk=64, eps=1e-6):
    """q, k: [B, H, T, dk]; v: [B, H, T, dv] -> out [B, H, T, dv]."""
    B, H, T, dk = q.shape
    dv = v.shape[-1]
    scale = dk ** -0.5
    fq, fk = taylor153(q, dk), taylor153(k, dk)
    D = fq.shape[-1]
    S = torch.zeros(B, H, D, dv, dtype=q.dtype)
    s = torch.zeros(B, H, D, dtype=q.dtype)
    out = torch.empty(B, H, T, dv, dtype=q.dtype)
    mask = torch.ones(chunk, chunk, dtype=torch.bool).tril()
    for t0 in range(0, T, chunk):
        t1 = min(T, t0 + chunk)
        c = t1 - t0
        qc, kc, vc = q[:, :, t0:t1], k[:, :, t0:t1], v[:, :, t0:t1]
        fqc, fkc = fq[:, :, t0:t1], fk[:, :, t0:t1]
        a = (qc @ kc.transpose(-1, -2)) * scale
        a = (1.0 + a + 0.5 * a * a).masked_fill(~mask[:c, :c], 0.0)
        o = a @ vc + fqc @ S
        z = a.sum(-1) + (fqc @ s.unsqueeze(-1)).squeeze(-1)
        out[:, :, t0:t1] = o / (z.unsqueeze(-1) + eps)
        S = S + fkc.transpose(-1, -2) @ vc
        s = s + fkc.sum(-2)
    return out


def quadratic_ref(q, k, v, eps=1e-6):
    q, k, v = q.double(), k.double(), v.double()
    dk = q.shape[-1]
    s = (q @ k.transpose(-1, -2)) * dk ** -0.5
    a = (1.0 + s + 0.5 * s * s).tril()
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--b", type=int, default=1)
    ap.add_argument("--h", type=int, default=16)
    ap.add_argument("--dk", type=int, default=16)
    ap.add_argument("--dv", type=int, default=64)
    ap.add_argument("--l", type=int, default=8192)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)

    # correctness of the timed code against a float64 quadratic reference
    qs, ks, vs = (torch.randn(1, 2, 300, d) for d in (args.dk, args.dk, args.dv))
    got = based_chunked(qs, ks, vs, args.chunk)
    want = quadratic_ref(qs, ks, vs)
    err = ((got.double() - want).abs() / want.abs().max()).max().item()
    if not err < 1e-4:
        print(f"peer_linattn.py: self-check failed, max rel error {err:.3g}", file=sys.stderr)
        sys.exit(1)

    q = torch.randn(args.b, args.h, args.l, args.dk)
    k = torch.randn(args.b, args.h, args.l, args.dk)
    v = torch.randn(args.b, args.h, args.l, args.dv)
    rows = []
    for t in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(t)
        with torch.no_grad():
            based_chunked(q, k, v, args.chunk)  # warm-up
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                based_chunked(q, k, v, args.chunk)
                times.append(time.perf_counter() - t0)
        row = {"peer": "torch", "kernel": "linattn", "threads": t, "batch": args.b, "heads": args.h, "dk": args.dk,
               "dv": args.dv, "seqlen": args.l, "chunk": args.chunk, "ms_median": statistics.median(times) * 1e3,
               "ms_min": min(times) * 1e3, "torch": torch.__version__, "self_check_max_rel_err": err}
        rows.append(row)
        if not args.json:
            print(f"torch {torch.__version__} linattn b{args.b}h{args.h}k{args.dk}v{args.dv}l{args.l} c{args.chunk} "
                  f"threads {t}: median {row['ms_median']:.1f} ms, min {row['ms_min']:.1f} ms "
                  f"({args.b * args.l / statistics.median(times):.0f} tok/s); self-check {err:.2g}")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
