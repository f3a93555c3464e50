/*
 * bench.h — shared declarations of subq-bench: options, timing, one result
 * record per case, output (table, JSON, CSV), and the per-run caches of the
 * measured FMA peak and memory read bandwidth used for the % columns.
 */
#ifndef SUBQ_BENCH_H
#define SUBQ_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subq.h"

#define BENCH_MAX_THREADS 16   /* entries of a --threads list */
#define BENCH_MSG 256

typedef enum bench_format { BENCH_TABLE = 0, BENCH_JSON = 1, BENCH_CSV = 2 } bench_format;

typedef struct bench_opts {
  int32_t threads[BENCH_MAX_THREADS];
  int n_threads;
  subq_isa isa;                /* --isa: context max_isa (SUBQ_ISA_AUTO = host best) */
  int reps;                    /* 0 = adaptive */
  int warmup;
  double budget_s;             /* adaptive reps: timed seconds per case */
  bench_format format;
  bool no_peak;                /* skip the peak/bandwidth measurements and % columns */
  bool flush;                  /* evict the caches (write 2 x L3) before every timed call */
} bench_opts;

/* One measured (or failed) case. Fields that do not apply are negative. */
typedef struct bench_result {
  char kernel[32];             /* "gemm", "peak_fma", "mem_read", "pool_kickoff", "pool_barrier" */
  char vars[96];               /* problem string, e.g. "b1m1n4096k4096:bf16:nt:packed" */
  char params_json[256];       /* the same as a JSON object ("{}" when empty) */
  int32_t threads;
  char isa[16];
  subq_status status;          /* SUBQ_OK or the failing status */
  char message[BENCH_MSG];     /* error message (empty on success) */
  int reps;
  double ms_min, ms_median;    /* per call */
  double gflops, gbps;         /* from the median; < 0 = not applicable */
  double pct_peak, pct_bw;     /* < 0 = not applicable or not measured */
  double ns_per_op;            /* pool: ns per kickoff / barrier; < 0 otherwise */
} bench_result;

void bench_result_init(bench_result *r, const char *kernel, const char *vars, int32_t threads, const char *isa);

/* ---- timing ---------------------------------------------------------------------- */
double bench_now_s(void);      /* CLOCK_MONOTONIC seconds */
/* A timed body: runs one call, returns SUBQ_OK or a status (message in *msg). */
typedef subq_status (*bench_body_fn)(void *arg, char *msg, size_t msg_cap);
/* Warm-up, then reps (adaptive when opts->reps == 0: enough for budget_s,
 * between min_reps and 200) timed calls; fills reps, ms_min, ms_median or
 * status/message on failure. */
void bench_time(const bench_opts *opts, bench_body_fn body, void *arg, int min_reps, bench_result *r);
double bench_median(double *v, int n); /* sorts v */
double bench_min(const double *v, int n);

/* Anti-dead-code sink: results are folded in here and printed nowhere. */
extern volatile double bench_sink;

/* ---- output ---------------------------------------------------------------------- */
void bench_output_begin(const bench_opts *opts);
void bench_output_section(const bench_opts *opts, const char *title); /* table only */
void bench_output_result(const bench_opts *opts, const bench_result *r);
void bench_output_end(const bench_opts *opts);
/* Counts failed cases over the run (for the exit status). */
int bench_failures(void);

/* ---- measured machine figures (cached per run) -------------------------------------- */
/* GFLOP/s of the f32 FMA loop at `threads` with the host's best ISA; measured on
 * first use, emitted as a result row when emit is true. < 0 if not measured. */
double bench_peak_gflops(const bench_opts *opts, int32_t threads, bool emit);
/* GB/s read bandwidth (vectorised sum over >= 1 GiB) at `threads`. */
double bench_peak_gbps(const bench_opts *opts, int32_t threads, bool emit);
/* Measures (and emits, under their own section) the figures the % columns of
 * opts->threads will need and that this run has not measured yet. */
void bench_peak_prepare(const bench_opts *opts, bool need_bw);
/* Runs the `peak` subcommand: FMA peak per thread count (with opts->isa), then
 * read bandwidth at 1 and N threads. */
int bench_peak_main(const bench_opts *opts);

/* ---- kernels ---------------------------------------------------------------------- */
/* Parse a subcommand's own arguments (exit 2 on errors) before any output,
 * then run it. */
void bench_gemm_parse(int argc, char **argv);
int bench_gemm_main(const bench_opts *opts);
int bench_gemm_suite(const bench_opts *opts);                        /* the standard GEMM shapes */
void bench_gemm_list(void);
void bench_fattn_parse(int argc, char **argv);   /* fattn: --case prefill|decode|tiny|all */
int bench_fattn_main(const bench_opts *opts);                          /* subq-bench fattn */
void bench_fattn_list(void);
void bench_pool_parse(int argc, char **argv);
void bench_ssm_parse(int argc, char **argv);     /* ssm: Mamba-1 scan (--l 1: decode step) */
int bench_ssm_main(const bench_opts *opts);
void bench_conv1d_parse(int argc, char **argv);  /* conv1d: causal depthwise conv1d */
int bench_conv1d_main(const bench_opts *opts);
void bench_ssd_parse(int argc, char **argv);            /* ssd: Mamba-2 SSD scan */
int bench_ssd_main(const bench_opts *opts);
void bench_ssd_step_parse(int argc, char **argv);       /* ssd-step: Mamba-2 decode step */
int bench_ssd_step_main(const bench_opts *opts);
void bench_gated_rmsnorm_parse(int argc, char **argv);  /* gated-rmsnorm: grouped gated RMSNorm */
int bench_gated_rmsnorm_main(const bench_opts *opts);
int bench_pool_main(const bench_opts *opts);
void bench_linattn_parse(int argc, char **argv);         /* linattn: BASED / linear attention prefill */
int bench_linattn_main(const bench_opts *opts);
void bench_linattn_step_parse(int argc, char **argv);    /* linattn-step: decode step at given positions */
int bench_linattn_step_main(const bench_opts *opts);
void bench_linattn_hybrid_parse(int argc, char **argv);  /* linattn-hybrid: BASED-style hybrid vs full attention */
int bench_linattn_hybrid_main(const bench_opts *opts);
void bench_ternary_parse(int argc, char **argv); /* ternary: BitLinear GEMV/GEMM, act quant, HGRN */
int bench_ternary_main(const bench_opts *opts);
void bench_q8_parse(int argc, char **argv);      /* q8: int8-weight linear vs bf16 weights */
int bench_q8_main(const bench_opts *opts);
void bench_nn_parse(int argc, char **argv);      /* nn: RMSNorm, add+RMSNorm, SwiGLU, RoPE */
int bench_nn_main(const bench_opts *opts);
void bench_monarch_parse(int argc, char **argv); /* monarch: Monarch product, prepacked weights */
int bench_monarch_main(const bench_opts *opts);

/* ---- helpers ---------------------------------------------------------------------- */
/* Creates a context with n threads and opts->isa; on failure fills r. */
subq_context *bench_context(const bench_opts *opts, int32_t threads, uint32_t flags, bench_result *r);
void *bench_alloc(size_t bytes);  /* 64-byte aligned, NULL on failure or overflow */
void bench_free(void *p);
bool bench_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
void bench_usage_error(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
int32_t bench_host_cores(void);

#endif /* SUBQ_BENCH_H */
