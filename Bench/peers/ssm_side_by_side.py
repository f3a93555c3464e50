#!/usr/bin/env python3
"""SubQ's Mamba kernels beside llama.cpp's (ggml's) CPU kernels, alternating, on this machine.

    python3 Bench/peers/ssm_side_by_side.py --peer /work/llama.cpp/build/ggml-ssm-peer \\
        [--bench build/subq-bench] [--threads 2] [--rounds 3]

Each round runs, one after the other, the ggml peer (Bench/peers/ggml_ssm_peer.c, every case) and
the matching subq-bench commands; the table gives, per case, the median over rounds of each
side's per-round median and the ratio ggml / SubQ (> 1: SubQ faster). Both sides compute the
same shapes from the same input fill; "fused" ggml rows add the element-wise ops that SubQ's call
also does (dt bias, D skip, z gate; conv bias + SiLU) as llama.cpp's Mamba graph spells them, the
bare rows time GGML_OP_SSM_SCAN / GGML_OP_SSM_CONV alone. Not part of the tests.
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# (label, subq-bench args, row filter on the problem string, ggml peer cases (fused, bare))
CASES = [
    ("Mamba-1 scan d1536 n16 l1024 (A packed once)", ["ssm", "--reps", "20"], lambda p: p.endswith(":packedA"),
     ("ssm1_fused", "ssm1")),
    ("Mamba-1 scan d1536 n16 l1024 (A per call)", None, lambda p: not p.endswith(":packedA"), ("ssm1_fused", "ssm1")),
    ("decode step d1536 n16 (A packed once)", ["ssm", "--l", "1", "--reps", "200"], lambda p: p.endswith(":packedA"),
     ("step1536_fused", "step1536")),
    ("decode step d1536 n16 (A per call)", None, lambda p: not p.endswith(":packedA"), ("step1536_fused", "step1536")),
    ("decode step d5120 n16 (A packed once)", ["ssm", "--l", "1", "--d", "5120", "--reps", "200"],
     lambda p: p.endswith(":packedA"), ("step5120_fused", "step5120")),
    ("decode step d5120 n16 (A per call)", None, lambda p: not p.endswith(":packedA"), ("step5120_fused", "step5120")),
    ("conv1d d1536 w4 l1024", ["conv1d", "--reps", "50"], lambda p: True, ("conv_fused", "conv")),
    ("Mamba-2 SSD h48 p64 n128 l512 (auto)", ["ssd", "--reps", "20"], lambda p: p.endswith(":auto"),
     ("ssd_fused", "ssd")),
    ("Mamba-2 SSD h48 p64 n128 l512 (chunked)", None, lambda p: ":chunked" in p, ("ssd_fused", "ssd")),
    ("Mamba-2 SSD h48 p64 n128 l512 (recurrent)", None, lambda p: p.endswith(":rec"), ("ssd_fused", "ssd")),
    ("Mamba-2 decode step h48 p64 n128", ["ssd-step", "--reps", "200"], lambda p: True,
     ("ssd_step_fused", "ssd_step")),
]


def run_subq(bench, args, threads):
    out = subprocess.run([bench] + args + ["--threads", str(threads), "--no-peak", "--json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, help="ggml-ssm-peer built from Bench/peers/ggml_ssm_peer.c")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "subq-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-seconds", type=float, default=0.5, help="ggml peer: time per case and round (default 0.5)")
    ap.add_argument("--peer-min-reps", type=int, default=5, help="ggml peer: at least this many calls (default 5)")
    args = ap.parse_args()
    ggml = {}  # case -> [per-round median ms]
    subq = {}  # label -> [per-round median ms]
    load0 = os.getloadavg()
    for _ in range(args.rounds):
        out = subprocess.run([args.peer, "--threads", str(args.threads), "--seconds", str(args.peer_seconds),
                              "--min-reps", str(args.peer_min_reps)],
                             capture_output=True, text=True, check=True).stdout
        for r in json.loads(out):
            ggml.setdefault(r["case"], []).append(r["ms_median"])
        rows = None
        for label, cmd, keep, _ in CASES:
            if cmd is not None:
                rows = run_subq(args.bench, cmd, args.threads)
            sel = [r for r in rows if r["status"] == "ok" and keep(r["problem"])]
            if len(sel) != 1:
                raise SystemExit("%s: expected one subq-bench row, got %s" % (label, [r["problem"] for r in rows]))
            subq.setdefault(label, []).append(sel[0]["ms_median"])
    load1 = os.getloadavg()
    med = statistics.median
    print("%d threads, %d rounds (median of per-round medians); load average before %.2f/%.2f/%.2f, after "
          "%.2f/%.2f/%.2f" % ((args.threads, args.rounds) + load0 + load1))
    print("| case | SubQ | ggml fused-equivalent | ratio | ggml op alone | ratio |")
    print("|---|---|---|---|---|---|")

    def fmt(ms):
        return "%.3f ms" % ms if ms >= 1 else "%.1f µs" % (ms * 1e3)

    for label, _, _, (fused, bare) in CASES:
        s, f, b = med(subq[label]), med(ggml[fused]), med(ggml[bare])
        print("| %s | %s | %s | %.1f× | %s | %.1f× |" % (label, fmt(s), fmt(f), f / s, fmt(b), b / s))


if __name__ == "__main__":
    main()
