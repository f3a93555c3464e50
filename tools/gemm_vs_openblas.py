#!/usr/bin/env python3
"""Side-by-side timing of SubQ GEMM against numpy's OpenBLAS in one process.

Calls alternate (SubQ, OpenBLAS, SubQ, ...); medians are reported with their
ratio. Usage (threads set for both libraries):
  python3 tools/gemm_vs_openblas.py --lib build/libsubq.so --threads 2 [--reps 9] [--only square,linear,...]
"""
import argparse, ctypes as C, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--lib", default="build/libsubq.so")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=9)
ap.add_argument("--only", default="")
args = ap.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["SUBQ_NUM_THREADS"] = str(args.threads)
import numpy as np  # noqa: E402  (after the thread variables)

lib = C.CDLL(os.path.abspath(args.lib))
F32, BF16 = 1, 2


class Args(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("m", C.c_int64), ("n", C.c_int64), ("k", C.c_int64),
                ("alpha", C.c_float), ("beta", C.c_float), ("a_dtype", C.c_int32), ("b_dtype", C.c_int32),
                ("a", C.c_void_p), ("a_rs", C.c_int64), ("a_cs", C.c_int64),
                ("b", C.c_void_p), ("b_rs", C.c_int64), ("b_cs", C.c_int64),
                ("c", C.c_void_p), ("c_rs", C.c_int64), ("c_cs", C.c_int64),
                ("batch_count", C.c_int64), ("a_bs", C.c_int64), ("b_bs", C.c_int64), ("c_bs", C.c_int64)]


lib.subq_gemm_args_default.argtypes = [C.POINTER(Args), C.c_size_t]
lib.subq_gemm.argtypes = [C.c_void_p, C.POINTER(Args)]
lib.subq_gemm_packed.argtypes = [C.c_void_p, C.POINTER(Args), C.c_void_p]
lib.subq_gemm_pack_b.argtypes = [C.c_void_p, C.c_int64, C.c_int64, C.c_int32, C.c_void_p, C.c_int64, C.c_int64,
                                 C.POINTER(C.c_void_p)]
lib.subq_context_create.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
lib.subq_last_error_message.restype = C.c_char_p
ctx = C.c_void_p()
assert lib.subq_context_create(None, C.byref(ctx)) == 0


def ptr(x):
    return x.ctypes.data_as(C.c_void_p)


def make_args(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, batch=1, a_bs=0, b_bs=0, c_bs=0, a_dt=F32, b_dt=F32):
    g = Args()
    lib.subq_gemm_args_default(C.byref(g), C.sizeof(g))
    g.m, g.n, g.k = m, n, k
    g.a, g.a_rs, g.a_cs, g.a_dtype = ptr(a), a_rs, a_cs, a_dt
    g.b, g.b_rs, g.b_cs, g.b_dtype = (ptr(b) if b is not None else None), b_rs, b_cs, b_dt
    g.c, g.c_rs, g.c_cs = ptr(c), n, 1
    g.batch_count, g.a_bs, g.b_bs, g.c_bs = batch, a_bs, b_bs, c_bs
    return g


def bench(name, flops, bytes_b, subq_fn, blas_fn, check=None):
    ts, tb = [], []
    subq_fn(), blas_fn()
    for _ in range(args.reps):
        t0 = time.perf_counter(); subq_fn(); t1 = time.perf_counter(); blas_fn(); t2 = time.perf_counter()
        ts.append(t1 - t0); tb.append(t2 - t1)
    s, b = float(np.median(ts)), float(np.median(tb))
    extra = f" B {bytes_b / s / 1e9:6.1f} GB/s" if bytes_b else ""
    err = f" maxrelerr {check():.1e}" if check else ""
    print(f"{name:34s} subq {s*1e3:8.3f} ms {flops/s/1e9:7.1f} GF/s | openblas {b*1e3:8.3f} ms {flops/b/1e9:7.1f} GF/s"
          f" | ratio {b/s:5.3f}{extra}{err}", flush=True)


def run(st):
    if st != 0:
        raise SystemExit(lib.subq_last_error_message().decode())


rng = np.random.default_rng(1)
only = set(filter(None, args.only.split(",")))
print(f"threads={args.threads} reps={args.reps}")

if not only or "square" in only:
    for N in (1024, 2048, 4096):
        A = rng.standard_normal((N, N), dtype=np.float32); B = rng.standard_normal((N, N), dtype=np.float32)
        Cs = np.empty((N, N), np.float32); Cb = np.empty((N, N), np.float32)
        g = make_args(N, N, N, A, N, 1, B, N, 1, Cs)
        bench(f"square {N}", 2.0 * N**3, 0, lambda: run(lib.subq_gemm(ctx, C.byref(g))),
              lambda: np.matmul(A, B, out=Cb), lambda: float(np.max(np.abs(Cs - Cb)) / np.max(np.abs(Cb))))

if not only or "linear" in only:
    for (M, K, N) in ((1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096), (1, 4096, 14336)):
        X = rng.standard_normal((M, K), dtype=np.float32); W = rng.standard_normal((N, K), dtype=np.float32)
        Cs = np.empty((M, N), np.float32); Cb = np.empty((M, N), np.float32)
        WT = W.T
        g = make_args(M, N, K, X, K, 1, W, 1, K, Cs)
        bench(f"linear {M}x{K}x{N}", 2.0 * M * N * K, W.nbytes, lambda: run(lib.subq_gemm(ctx, C.byref(g))),
              lambda: np.matmul(X, WT, out=Cb), lambda: float(np.max(np.abs(Cs - Cb)) / np.max(np.abs(Cb))))
        pk = C.c_void_p()
        run(lib.subq_gemm_pack_b(ctx, K, N, F32, ptr(W), 1, K, C.byref(pk)))
        gp = make_args(M, N, K, X, K, 1, None, 0, 0, Cs)
        bench(f"linear {M}x{K}x{N} prepacked", 2.0 * M * N * K, W.nbytes,
              lambda: run(lib.subq_gemm_packed(ctx, C.byref(gp), pk)), lambda: np.matmul(X, WT, out=Cb),
              lambda: float(np.max(np.abs(Cs - Cb)) / np.max(np.abs(Cb))))
        lib.subq_gemm_packed_b_destroy.argtypes = [C.c_void_p]
        lib.subq_gemm_packed_b_destroy(pk)
        if M == 1:
            Wb = (W.view(np.uint32) >> 16).astype(np.uint16)  # truncation is fine for timing
            gb = make_args(M, N, K, X, K, 1, Wb, 1, K, Cs, b_dt=BF16)
            bench(f"linear {M}x{K}x{N} bf16 W", 2.0 * M * N * K, Wb.nbytes,
                  lambda: run(lib.subq_gemm(ctx, C.byref(gb))), lambda: np.matmul(X, WT, out=Cb))

if not only or "batched" in only:
    Bt, M, K, N = 64, 64, 64, 1024
    A = rng.standard_normal((Bt, M, K), dtype=np.float32); B = rng.standard_normal((Bt, K, N), dtype=np.float32)
    Cs = np.empty((Bt, M, N), np.float32); Cb = np.empty((Bt, M, N), np.float32)
    g = make_args(M, N, K, A, K, 1, B, N, 1, Cs, batch=Bt, a_bs=M * K, b_bs=K * N, c_bs=M * N)
    bench(f"batched {Bt}x({M}x{K})x({K}x{N})", 2.0 * Bt * M * N * K, 0, lambda: run(lib.subq_gemm(ctx, C.byref(g))),
          lambda: np.matmul(A, B, out=Cb), lambda: float(np.max(np.abs(Cs - Cb)) / np.max(np.abs(Cb))))
