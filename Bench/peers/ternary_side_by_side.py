#!/usr/bin/env python3
"""SubQ's ternary GEMV / GEMM beside llama.cpp's (ggml's) TQ2_0 mul_mat, alternating, on this machine (issue 6).

    python3 Bench/peers/ternary_side_by_side.py --peer /work/llama.cpp/build/ggml-ternary-peer \\
        [--bench build/subq-bench] [--threads 1,2] [--rounds 3] [--reference]

Shape: W 4096 x 14336 (N outputs x K inputs, subq-bench ternary's default and test-backend-ops' MUL_MAT
m=4096 k=14336 perf case), 1 token (GEMV) and 512 tokens (GEMM). Each round, per thread count: the
peer's GEMV cases, SubQ's three GEMV ops, the peer's GEMM cases, SubQ's three GEMM ops; the table
gives the median over rounds of each side's per-round median and the ratio ggml / SubQ (> 1: SubQ
faster). Pairs, each doing the same work on both sides:
  issue     SubQ fused BitLinear (RMSNorm + int8 quant + matmul + epilogue, `ternary --op gemv|gemm`)
            vs ggml TQ2_0 mul_mat (f32 src1 -> Q8_K, vec_dot, f32 out): SubQ does the RMSNorm on top;
  fair      SubQ BitLinear without the RMSNorm (`--norm none`: int8 quant + matmul + epilogue) vs the
            same ggml op: both quantize the f32 activations and write f32;
  product   SubQ int8 x ternary product alone (`--op qgemv|qgemm`, activations quantized before timing,
            int32 out) vs ggml with src1 already Q8_K (vec_dot loop alone, f32 out).
--reference also times ggml's TQ1_0, Q8_0 and F16 mul_mat of the same shape once per thread count.
Not part of the tests.
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOAL = 4.0  # issue 6: GEMV and GEMM >= 4x llama.cpp's TQ2_0

# (pair, SubQ op label, subq-bench args after `ternary`, ggml peer case)
PAIRS = {
    "gemv": [
        ("issue", "fused BitLinear: RMSNorm + int8 quant + GEMV (`--op gemv`)", ["--op", "gemv"], "tq2_0_gemv"),
        ("fair", "BitLinear without RMSNorm: int8 quant + GEMV (`--op gemv --norm none`)",
         ["--op", "gemv", "--norm", "none"], "tq2_0_gemv"),
        ("product", "int8 x ternary GEMV alone, int32 out (`--op qgemv`)", ["--op", "qgemv"], "tq2_0_gemv_q8k"),
    ],
    "gemm": [
        ("issue", "fused BitLinear: RMSNorm + int8 quant + GEMM (`--op gemm`)", ["--op", "gemm"], "tq2_0_gemm"),
        ("fair", "BitLinear without RMSNorm: int8 quant + GEMM (`--op gemm --norm none`)",
         ["--op", "gemm", "--norm", "none"], "tq2_0_gemm"),
        ("product", "int8 x ternary GEMM alone, int32 out (`--op qgemm`)", ["--op", "qgemm"], "tq2_0_gemm_q8k"),
    ],
}
GGML_LABEL = {
    "tq2_0_gemv": "TQ2_0 mul_mat, f32 src1 (-> Q8_K inside)",
    "tq2_0_gemv_q8k": "TQ2_0 mul_mat, src1 already Q8_K",
    "tq2_0_gemm": "TQ2_0 mul_mat, f32 src1 (-> Q8_K inside)",
    "tq2_0_gemm_q8k": "TQ2_0 mul_mat, src1 already Q8_K",
}
REFERENCE = ["tq1_0_gemv", "q8_0_gemv", "f16_gemv", "tq1_0_gemm", "q8_0_gemm", "f16_gemm"]


def run_peer(peer, cases, threads, seconds, min_reps, tokens):
    out = subprocess.run([peer, "--threads", str(threads), "--case", ",".join(cases), "--seconds", str(seconds),
                          "--min-reps", str(min_reps), "--t", str(tokens)], capture_output=True, text=True,
                         check=True).stdout
    return {r["case"]: r for r in json.loads(out)}


def run_subq(bench, args, threads, reps, tokens):
    cmd = [bench, "ternary"] + args + ["--t", str(tokens), "--threads", str(threads), "--reps", str(reps),
                                       "--no-peak", "--json"]
    rows = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    if len(rows) != 1 or rows[0]["status"] != "ok":
        raise SystemExit("%s: %s" % (" ".join(cmd), rows))
    return rows[0]


def fmt(ms):
    return "%.2f ms" % ms if ms >= 10 else "%.3f ms" % ms if ms >= 1 else "%.0f µs" % (ms * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, help="ggml-ternary-peer built from Bench/peers/ggml_ternary_peer.c")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "subq-bench"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=512, help="GEMM tokens (default 512)")
    ap.add_argument("--gemv-reps", type=int, default=200, help="SubQ GEMV reps per op and round (default 200)")
    ap.add_argument("--gemm-reps", type=int, default=3, help="GEMM reps per op and round, both sides (default 3)")
    ap.add_argument("--peer-seconds", type=float, default=0.3, help="ggml GEMV: time per case and round")
    ap.add_argument("--reference", action="store_true", help="also time ggml TQ1_0 / Q8_0 / F16 once")
    args = ap.parse_args()
    med = statistics.median
    for threads in [int(t) for t in args.threads.split(",")]:
        ggml, subq, info = {}, {}, {}
        load0 = os.getloadavg()
        for _ in range(args.rounds):
            for kind in ("gemv", "gemm"):
                cases = sorted({p[3] for p in PAIRS[kind]})
                if kind == "gemv":
                    res = run_peer(args.peer, cases, threads, args.peer_seconds, 20, args.tokens)
                else:
                    res = run_peer(args.peer, cases, threads, 0, args.gemm_reps, args.tokens)
                for c, r in res.items():
                    ggml.setdefault(c, []).append(r["ms_median"])
                    info[c] = r
                for pair, _, sargs, _ in PAIRS[kind]:
                    reps = args.gemv_reps if kind == "gemv" else args.gemm_reps
                    r = run_subq(args.bench, sargs, threads, reps, args.tokens)
                    subq.setdefault((kind, pair), []).append(r["ms_median"])
                    info[(kind, pair)] = r
        load1 = os.getloadavg()
        print("\n%d thread(s), %d rounds (median of per-round medians); load average before %.2f/%.2f/%.2f, after "
              "%.2f/%.2f/%.2f" % ((threads, args.rounds) + load0 + load1))
        print("| shape | pair | SubQ op | SubQ | ggml op | ggml | ggml / SubQ (goal ≥ %.0f×) |" % GOAL)
        print("|---|---|---|---|---|---|---|")
        for kind in ("gemv", "gemm"):
            shape = "4096×14336, 1 token" if kind == "gemv" else "4096×14336×%d" % args.tokens
            for pair, label, _, case in PAIRS[kind]:
                s, g = med(subq[(kind, pair)]), med(ggml[case])
                ratio = g / s
                mark = "met" if ratio >= GOAL else "not met"
                print("| %s | %s | %s | %s | %s | %s | **%.2f×** (%s) |" % (shape, pair, label, fmt(s),
                                                                            GGML_LABEL[case], fmt(g), ratio, mark))
        print("per round (ms): " + "; ".join(
            ["SubQ %s/%s " % k + "/".join("%.3f" % v for v in subq[k]) for k in subq] +
            ["ggml %s " % c + "/".join("%.3f" % v for v in ggml[c]) for c in sorted(ggml)]))
        print("weights: SubQ SQ2 %d bytes, ggml TQ2_0 %d bytes; ggml err (sampled, vs fp64) %s" % (
            info[("gemv", "issue")]["parameters"]["weight_bytes"], info["tq2_0_gemv"]["weight_bytes"],
            ", ".join("%s %.2g" % (c, info[c]["err"]) for c in sorted(ggml))))
        if args.reference:
            ref = run_peer(args.peer, REFERENCE[:3], threads, args.peer_seconds, 20, args.tokens)
            ref.update(run_peer(args.peer, REFERENCE[3:], threads, 0, args.gemm_reps, args.tokens))
            sv, sm = med(subq[("gemv", "issue")]), med(subq[("gemm", "issue")])
            print("reference, ggml once after the rounds (ratio against SubQ's fused BitLinear above): " + "; ".join(
                "%s %s (%d MB) %.2f×" % (c, fmt(ref[c]["ms_median"]), ref[c]["weight_bytes"] // 1000000,
                                         ref[c]["ms_median"] / (sv if c.endswith("gemv") else sm))
                for c in REFERENCE))


if __name__ == "__main__":
    main()
