#!/usr/bin/env python3
"""SubQ GEMM vs peers (numpy/OpenBLAS, PyTorch) at the same shapes and thread counts.

    python3 Bench/compare_peers.py [--bin PATH] [--threads 1,2] [--batch FILE ...]
                                   [--problem P ...] [--reps N] [--no-torch] [--json OUT]

Creates a virtual environment (.venv-bench at the repository root, gitignored)
with numpy and torch from PyPI on first use (plain `pip install torch`; if that
fails the comparison goes on with numpy only and says so), then re-runs itself
inside it. For each thread count and each problem it runs, one after the other,
numpy (in a child process with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set),
SubQ (`subq-bench gemm PROBLEM --threads T --json --no-peak`) and torch (in a
child process with torch.set_num_threads(T)), so that peer and SubQ runs are
interleaved, and prints a ratio table. Not part of the tests.

Problems default to subq-bench's standard shapes (`subq-bench list`). Problem
strings are subq-bench's: "[b<batch>]m<M>n<N>k<K>[:f32|bf16][:nn|nt|tn|tt][:packed]".
Peers have no prepacked-B API: a ":packed" SubQ case is compared with the
peer's ordinary call on the same layout. numpy has no bf16: bf16 cases are
"n/a" for numpy; torch computes bf16 x bf16 with a bf16 result (SubQ writes f32).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".venv-bench")


def die(msg, code=2):
    print(f"compare_peers.py: {msg}", file=sys.stderr)
    sys.exit(code)


# ---- problems ---------------------------------------------------------------------------------
PROBLEM_RE = re.compile(r"^(?:b(\d+))?m(\d+)n(\d+)k(\d+)$")


def parse_problem(text):
    toks = [t for t in re.split(r"[:\s]+", text.strip()) if t]
    if not toks:
        raise ValueError("empty problem")
    m = PROBLEM_RE.match(toks[0])
    if not m:
        raise ValueError(f"'{toks[0]}' is not [b<batch>]m<M>n<N>k<K>")
    p = {"batch": int(m.group(1) or 1), "m": int(m.group(2)), "n": int(m.group(3)), "k": int(m.group(4)),
         "dtype": "f32", "layout": "nn", "packed": False}
    for t in toks[1:]:
        if t in ("f32", "bf16"):
            p["dtype"] = t
        elif t in ("nn", "nt", "tn", "tt"):
            p["layout"] = t
        elif t == "packed":
            p["packed"] = True
        elif t == "unpacked":
            p["packed"] = False
        else:
            raise ValueError(f"unknown token '{t}'")
    if min(p["batch"], p["m"], p["n"], p["k"]) < 1:
        raise ValueError("dimensions must be >= 1")
    return p


def problem_string(p):
    s = f"b{p['batch']}m{p['m']}n{p['n']}k{p['k']}:{p['dtype']}:{p['layout']}"
    return s + (":packed" if p["packed"] else "")


def read_batch(path):
    out = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                try:
                    out.append(parse_problem(line))
                except ValueError as e:
                    die(f"{path}:{i}: {e}")
    return out


# ---- peer workers (child processes) ------------------------------------------------------------
def time_calls(fn, reps):
    t0 = time.perf_counter()
    fn()  # warm-up (timed only to size the repetitions)
    warm = time.perf_counter() - t0
    if reps <= 0:
        # About 1 s of timed calls, at least 3; when one call takes over 5 s
        # (torch bf16 on CPUs without bf16 instructions) a single timed call.
        reps = 1 if warm > 5.0 else max(3, min(50, int(1.0 / max(warm, 1e-6))))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"reps": reps, "ms_min": min(ts) * 1e3, "ms_median": statistics.median(ts) * 1e3}


def worker(kind, p, threads, reps):
    b, m, n, k = p["batch"], p["m"], p["n"], p["k"]
    if kind == "numpy":
        import numpy as np
        if p["dtype"] != "f32":
            return {"status": "n/a", "message": "numpy has no bf16"}
        rng = np.random.default_rng(1)
        a = rng.uniform(-1, 1, (b, k, m) if p["layout"][0] == "t" else (b, m, k)).astype(np.float32)
        w = rng.uniform(-1, 1, (b, n, k) if p["layout"][1] == "t" else (b, k, n)).astype(np.float32)
        av = a.transpose(0, 2, 1) if p["layout"][0] == "t" else a
        bv = w.transpose(0, 2, 1) if p["layout"][1] == "t" else w
        if b == 1:
            av, bv = av[0], bv[0]
            c = np.empty((m, n), np.float32)
        else:
            c = np.empty((b, m, n), np.float32)
        r = time_calls(lambda: np.matmul(av, bv, out=c), reps)
        cfg = np.__config__.show(mode="dicts") if hasattr(np.__config__, "show") else None
        blas = ""
        try:
            blas = cfg["Build Dependencies"]["blas"]["name"]
        except Exception:
            pass
        r.update(status="ok", message="", impl=f"numpy {np.__version__} ({blas or 'BLAS'})")
        return r
    if kind == "torch":
        import torch
        torch.set_num_threads(threads)
        dt = torch.float32 if p["dtype"] == "f32" else torch.bfloat16
        g = torch.Generator().manual_seed(1)
        a = torch.rand((b, k, m) if p["layout"][0] == "t" else (b, m, k), generator=g).mul_(2).sub_(1).to(dt)
        w = torch.rand((b, n, k) if p["layout"][1] == "t" else (b, k, n), generator=g).mul_(2).sub_(1).to(dt)
        av = a.transpose(1, 2) if p["layout"][0] == "t" else a
        bv = w.transpose(1, 2) if p["layout"][1] == "t" else w
        if b == 1:
            av, bv = av[0], bv[0]
            c = torch.empty((m, n), dtype=dt)
        else:
            c = torch.empty((b, m, n), dtype=dt)
        with torch.inference_mode():
            r = time_calls(lambda: torch.matmul(av, bv, out=c), reps)
        r.update(status="ok", message="", impl=f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        return r
    raise ValueError(kind)


def run_worker(kind, p, threads, reps):
    env = dict(os.environ)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--problem", problem_string(p),
           "--threads", str(threads), "--reps", str(reps)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "message": "timed out"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "message": f"{kind} worker exit {out.returncode}: {tail}"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:
        return {"status": "failed", "message": f"bad worker output: {e}"}


def run_subq(binary, p, threads, reps):
    cmd = [binary, "gemm", problem_string(p), "--threads", str(threads), "--json", "--no-peak"]
    if reps > 0:
        cmd += ["--reps", str(reps)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "message": "timed out"}
    if out.returncode not in (0, 1):
        return {"status": "failed", "message": f"subq-bench exit {out.returncode}: {out.stderr.strip()[-200:]}"}
    try:
        rows = [r for r in json.loads(out.stdout) if r.get("kernel") == "gemm"]
    except Exception as e:
        return {"status": "failed", "message": f"bad subq-bench output: {e}"}
    if not rows:
        return {"status": "failed", "message": "subq-bench returned no gemm row"}
    return rows[0]


# ---- the venv -------------------------------------------------------------------------------------
def ensure_venv(no_torch):
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pip = [py, "-m", "pip", "install", "-q"]
    have = subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode == 0
    if not have:
        print("installing numpy from PyPI", file=sys.stderr)
        if subprocess.run(pip + ["numpy"]).returncode != 0:
            die("pip install numpy failed", 1)
    torch_ok = False
    if not no_torch:
        torch_ok = subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0
        if not torch_ok:
            print("installing torch from PyPI (pip install torch)", file=sys.stderr)
            torch_ok = subprocess.run(pip + ["torch"]).returncode == 0
            if not torch_ok:
                print("NOTE: pip install torch failed: continuing with numpy only", file=sys.stderr)
    return py, torch_ok


def find_binary(given):
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            die(f"--bin '{given}' is not an executable")
        return given
    for c in (os.path.join(ROOT, "build", "subq-bench"), os.path.join(ROOT, ".build", "release", "subq-bench")):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which("subq-bench")
    if found:
        return found
    die("no subq-bench binary: build it (cmake -B build -G Ninja && ninja -C build subq-bench) or pass --bin")


def fmt(v, prec=2):
    return "-" if v is None else f"{v:.{prec}f}"


def main():
    ap = argparse.ArgumentParser(description="SubQ GEMM vs numpy/torch at the same shapes and threads")
    ap.add_argument("--bin", help="subq-bench binary (default: build/subq-bench or .build/release/subq-bench)")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,2[,cores])")
    ap.add_argument("--batch", action="append", default=[], help="problem file (subq-bench batch format)")
    ap.add_argument("--problem", action="append", default=[], help="problem string, repeatable")
    ap.add_argument("--reps", type=int, default=0, help="timed repetitions (default adaptive)")
    ap.add_argument("--no-torch", action="store_true", help="numpy only")
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--torch-ok", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reps < 0 or args.reps > 200:
        die("--reps must be 0..200")

    if args.worker:
        try:
            p = parse_problem(args.problem[0])
            print(json.dumps(worker(args.worker, p, int(args.threads), args.reps)))
        except Exception as e:  # report, never a traceback in the table
            print(json.dumps({"status": "failed", "message": f"{type(e).__name__}: {e}"}))
        return 0

    threads = None
    if args.threads is not None:
        if not re.fullmatch(r"\d+(,\d+)*", args.threads) or any(int(t) < 1 or int(t) > 256 for t in args.threads.split(",")):
            die(f"--threads wants counts in 1..256 such as 1,2 (got '{args.threads}')")
        threads = [int(t) for t in args.threads.split(",")]

    for s_ in args.problem:
        try:
            parse_problem(s_)
        except ValueError as e:
            die(f"--problem '{s_}': {e}")
    for f in args.batch:
        if not os.path.isfile(f):
            die(f"--batch: no such file '{f}'")
    if not args.in_venv:
        py, torch_ok = ensure_venv(args.no_torch)
        argv = [py, os.path.abspath(__file__), "--in-venv"] + (["--torch-ok"] if torch_ok else []) + sys.argv[1:]
        os.execv(py, argv)

    problems = []
    for f in args.batch:
        if not os.path.isfile(f):
            die(f"--batch: no such file '{f}'")
        problems += read_batch(f)
    for s in args.problem:
        try:
            problems.append(parse_problem(s))
        except ValueError as e:
            die(f"--problem '{s}': {e}")
    binary = find_binary(args.bin)
    if not problems:
        out = subprocess.run([binary, "list"], capture_output=True, text=True)
        problems = [parse_problem(l.strip()) for l in out.stdout.splitlines() if l.startswith("  ")]
        if not problems:
            die("subq-bench list returned no problems", 1)
    if threads is None:
        threads = [1, 2]
        cores = os.cpu_count() or 1
        if cores > 2:
            threads.append(cores)

    peers = ["numpy"] + (["torch"] if args.torch_ok and not args.no_torch else [])
    if "torch" not in peers and not args.no_torch:
        print("NOTE: torch is not available: numpy only", file=sys.stderr)
    results = []
    t_start = time.time()
    hdr = f"{'problem':34} {'thr':>3} {'subq ms':>10} " + " ".join(f"{p + ' ms':>10}" for p in peers)
    hdr += f" {'subq GF/s':>9} " + " ".join(f"{p[:5] + ' GF/s':>10}" for p in peers)
    hdr += " " + " ".join(f"{'subq/' + p[:5]:>11}" for p in peers)
    print(f"SubQ vs peers — {binary}; ratio = SubQ median time / peer median time (< 1: SubQ faster)")
    print(hdr)
    for t in threads:
        for p in problems:
            flops = 2.0 * p["m"] * p["n"] * p["k"] * p["batch"]
            row = {"problem": problem_string(p), "threads": t}
            # Interleaved: numpy, SubQ, torch for each problem.
            row["numpy"] = run_worker("numpy", p, t, args.reps)
            row["subq"] = run_subq(binary, p, t, args.reps)
            if "torch" in peers:
                row["torch"] = run_worker("torch", p, t, args.reps)
            results.append(row)

            def ms(r):
                return r.get("ms_median") if r and r.get("status") == "ok" else None

            sq = ms(row["subq"])
            line = f"{row['problem']:34} {t:>3} {fmt(sq, 3):>10} " + " ".join(f"{fmt(ms(row[q]), 3):>10}" for q in peers)
            line += f" {fmt(flops / sq / 1e6 if sq else None):>9} "
            line += " ".join(f"{fmt(flops / ms(row[q]) / 1e6 if ms(row[q]) else None):>10}" for q in peers)
            line += " " + " ".join(f"{fmt(sq / ms(row[q]) if sq and ms(row[q]) else None, 3):>11}" for q in peers)
            print(line, flush=True)
            for q in ["subq"] + peers:
                r = row[q]
                if r.get("status") not in ("ok", "n/a"):
                    print(f"    {q}: {r.get('status')}: {r.get('message')}", flush=True)
    print(f"wall time {time.time() - t_start:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"binary": binary, "threads": threads, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
