/*
 * bench_peak.c — this machine's measured f32 FMA peak and memory read
 * bandwidth, the denominators of every "% of peak" / "% of bandwidth" column.
 *
 * FMA peak: each thread runs a loop of 12 independent 8-lane FMA chains
 * (AVX2+FMA, enough to cover 2 pipes x 4-cycle latency on Zen 3 and Intel
 * cores), dispatched at run time; the portable fallback runs 8 independent
 * scalar multiply-add chains. All threads start at a barrier; time = latest
 * end - earliest start.
 *
 * Read bandwidth: a vectorised sum over a >= 1 GiB buffer (initialised before
 * timing), split in contiguous slices over the threads.
 *
 * Threads are plain pthreads started per measurement, not pinned.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "internal/subq_isa.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#endif

#define PEAK_ITERS_VEC 20000000LL   /* x 12 FMAs x 8 lanes x 2 flops = 3.84 GFLOP per thread */
#define PEAK_ITERS_SCALAR 20000000LL /* x 8 chains x 2 flops = 0.32 GFLOP per thread */
#define BW_BYTES ((size_t)1 << 30)   /* 1 GiB */

/* ---- kernels ----------------------------------------------------------------------- */
static double fma_scalar(int64_t iters) {
  float a0 = 1.0f, a1 = 1.1f, a2 = 1.2f, a3 = 1.3f, a4 = 1.4f, a5 = 1.5f, a6 = 1.6f, a7 = 1.7f;
  float m = 0.9999999f, c = 1e-7f;
  /* Hide the operands' values: clang otherwise folds the whole loop. */
#if SUBQ_ARCH_X86_64
  __asm__("" : "+x"(m), "+x"(c), "+x"(a0), "+x"(a7));
#elif SUBQ_ARCH_ARM64
  __asm__("" : "+w"(m), "+w"(c), "+w"(a0), "+w"(a7));
#else
  volatile float vm = m, vc = c;
  m = vm, c = vc;
#endif
  for (int64_t i = 0; i < iters; i++) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
  }
  return (double)(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
}

static double sum_scalar(const float *p, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3];
  }
  for (; i < n; i++) s0 += p[i];
  return (double)(s0 + s1 + s2 + s3);
}

#if SUBQ_ARCH_X86_64
SUBQ_ISA_BEGIN_AVX2
static double fma_avx2(int64_t iters) {
  __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f);
  __m256 a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f);
  __m256 a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f);
  __m256 a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
  /* Hide the operands' values: clang otherwise folds the whole loop. */
  __asm__("" : "+x"(m), "+x"(c), "+x"(a0), "+x"(a11));
  for (int64_t i = 0; i < iters; i++) {
    a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c); a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  return (double)(out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7]);
}

static double sum_avx2(const float *p, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  __m256 s4 = _mm256_setzero_ps(), s5 = _mm256_setzero_ps(), s6 = _mm256_setzero_ps(), s7 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
    s4 = _mm256_add_ps(s4, _mm256_load_ps(p + i + 32));
    s5 = _mm256_add_ps(s5, _mm256_load_ps(p + i + 40));
    s6 = _mm256_add_ps(s6, _mm256_load_ps(p + i + 48));
    s7 = _mm256_add_ps(s7, _mm256_load_ps(p + i + 56));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                           _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7)));
  float out[8];
  _mm256_storeu_ps(out, s);
  double r = 0;
  for (int j = 0; j < 8; j++) r += out[j];
  for (; i < n; i++) r += p[i];
  return r;
}
SUBQ_ISA_END
#endif

/* ---- a tiny fork-join over pthreads ----------------------------------------------------- */
typedef struct peak_job {
  bool vec;
  const float *buf;  /* bandwidth: the buffer, else NULL */
  size_t n;          /* floats in buf */
  int threads;
  pthread_barrier_t start;
  double t_start[256], t_end[256], result[256];
} peak_job;

typedef struct peak_arg {
  peak_job *job;
  int index;
} peak_arg;

static void *peak_thread(void *varg) {
  peak_arg *a = varg;
  peak_job *j = a->job;
  int i = a->index;
  pthread_barrier_wait(&j->start);
  j->t_start[i] = bench_now_s();
  double r;
  if (j->buf) {
    size_t per = (j->n / (size_t)j->threads) & ~(size_t)63;
    size_t b = per * (size_t)i, e = i == j->threads - 1 ? j->n : b + per;
#if SUBQ_ARCH_X86_64
    r = j->vec ? sum_avx2(j->buf + b, e - b) : sum_scalar(j->buf + b, e - b);
#else
    r = sum_scalar(j->buf + b, e - b);
#endif
  } else {
#if SUBQ_ARCH_X86_64
    r = j->vec ? fma_avx2(PEAK_ITERS_VEC) : fma_scalar(PEAK_ITERS_SCALAR);
#else
    r = fma_scalar(PEAK_ITERS_SCALAR);
#endif
  }
  j->t_end[i] = bench_now_s();
  j->result[i] = r;
  return NULL;
}

/* Runs the job on `threads` threads (the caller is one); returns the wall time
 * in seconds, or < 0 when threads could not be started (msg filled). */
static double peak_run(peak_job *j, int threads, char *msg, size_t cap) {
  pthread_t tid[256];
  peak_arg args[256];
  j->threads = threads;
  if (pthread_barrier_init(&j->start, NULL, (unsigned)threads) != 0) {
    snprintf(msg, cap, "pthread_barrier_init failed");
    return -1.0;
  }
  int started = 0;
  for (int i = 1; i < threads; i++) {
    args[i].job = j;
    args[i].index = i;
    if (pthread_create(&tid[i], NULL, peak_thread, &args[i]) != 0) break;
    started++;
  }
  if (started != threads - 1) {
    /* Cannot release a barrier that is short of members: fail loudly. */
    fprintf(stderr, "subq-bench: pthread_create failed after %d threads\n", started);
    exit(1);
  }
  args[0].job = j;
  args[0].index = 0;
  peak_thread(&args[0]);
  for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
  pthread_barrier_destroy(&j->start);
  double t0 = j->t_start[0], t1 = j->t_end[0], s = 0;
  for (int i = 0; i < threads; i++) {
    if (j->t_start[i] < t0) t0 = j->t_start[i];
    if (j->t_end[i] > t1) t1 = j->t_end[i];
    s += j->result[i];
  }
  bench_sink += s;
  return t1 - t0;
}

static bool host_vec(void) {
#if SUBQ_ARCH_X86_64
  return subq_host_supports_isa(SUBQ_ISA_AVX2);
#else
  return false;
#endif
}

/* Median/min over reps of one peak measurement. */
static void peak_measure(const bench_opts *opts, peak_job *j, int threads, double work, bool gb, int def_reps,
                         bench_result *r) {
  double t[64];
  char msg[BENCH_MSG] = "";
  int reps = opts->reps > 0 ? opts->reps : def_reps;
  if (reps > 64) reps = 64;
  if (threads < 1 || threads > 256) {
    r->status = SUBQ_ERR_INVALID_ARGUMENT;
    snprintf(r->message, sizeof r->message, "threads must be 1..256 for the peak loops");
    return;
  }
  for (int w = 0; w < (opts->warmup > 0 ? opts->warmup : 1); w++)
    if (peak_run(j, threads, msg, sizeof msg) < 0) {
      r->status = SUBQ_ERR_SYSTEM;
      snprintf(r->message, sizeof r->message, "%s", msg);
      return;
    }
  for (int i = 0; i < reps; i++) t[i] = peak_run(j, threads, msg, sizeof msg);
  r->reps = reps;
  r->ms_min = bench_min(t, reps) * 1e3;
  r->ms_median = bench_median(t, reps) * 1e3;
  if (gb)
    r->gbps = work / (r->ms_median * 1e-3) * 1e-9;
  else
    r->gflops = work / (r->ms_median * 1e-3) * 1e-9;
}

/* ---- cached figures ------------------------------------------------------------------------ */
#define CACHE_N 32
static struct { int32_t threads; double v; } g_peak[CACHE_N], g_bw[CACHE_N];
static int g_npeak, g_nbw;

static double fma_case(const bench_opts *opts, int32_t threads, bool vec, bool emit) {
  static peak_job job;
  bench_result r;
  bench_result_init(&r, "peak_fma", "", threads, vec ? "avx2" : "scalar");
  snprintf(r.vars, sizeof r.vars, "%s", vec ? "12x8 fma chains" : "8 scalar mul+add chains");
  snprintf(r.params_json, sizeof r.params_json, "{\"chains\": %d, \"lanes\": %d, \"iterations\": %lld}", vec ? 12 : 8,
           vec ? 8 : 1, (long long)(vec ? PEAK_ITERS_VEC : PEAK_ITERS_SCALAR));
  memset(&job, 0, sizeof job);
  job.vec = vec;
  double work = (double)threads * (vec ? (double)PEAK_ITERS_VEC * 12 * 8 * 2 : (double)PEAK_ITERS_SCALAR * 8 * 2);
  peak_measure(opts, &job, threads, work, false, 7, &r);
  if (emit) bench_output_result(opts, &r);
  return r.status == SUBQ_OK ? r.gflops : -1.0;
}

double bench_peak_gflops(const bench_opts *opts, int32_t threads, bool emit) {
  for (int i = 0; i < g_npeak; i++)
    if (g_peak[i].threads == threads) return g_peak[i].v;
  double v = fma_case(opts, threads, host_vec(), emit);
  if (g_npeak < CACHE_N) {
    g_peak[g_npeak].threads = threads;
    g_peak[g_npeak++].v = v;
  }
  return v;
}

static float *g_bw_buf;
static bool g_bw_keep; /* the peak subcommand measures 1 and N threads on one buffer */

static float *bw_buffer(void) {
  if (!g_bw_buf) {
    /* 2 MiB aligned and, where the kernel allows it, backed by transparent
     * huge pages, so that the sum measures DRAM rather than TLB misses. */
    g_bw_buf = aligned_alloc((size_t)2 << 20, BW_BYTES);
    if (!g_bw_buf) return NULL;
#if defined(MADV_HUGEPAGE)
    (void)madvise(g_bw_buf, BW_BYTES, MADV_HUGEPAGE);
#endif
    size_t n = BW_BYTES / sizeof(float);
    for (size_t i = 0; i < n; i++) g_bw_buf[i] = (float)(i & 1023) * (1.0f / 1024.0f);
  }
  return g_bw_buf;
}

static double bw_case(const bench_opts *opts, int32_t threads, bool vec, bool emit) {
  static peak_job job;
  bench_result r;
  bench_result_init(&r, "mem_read", "sum 1 GiB f32", threads, vec ? "avx2" : "scalar");
  snprintf(r.params_json, sizeof r.params_json, "{\"bytes\": %zu}", BW_BYTES);
  float *buf = bw_buffer();
  if (!buf) {
    r.status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r.message, sizeof r.message, "cannot allocate the 1 GiB bandwidth buffer");
  } else {
    memset(&job, 0, sizeof job);
    job.vec = vec;
    job.buf = buf;
    job.n = BW_BYTES / sizeof(float);
    peak_measure(opts, &job, threads, (double)BW_BYTES, true, 7, &r);
  }
  if (!g_bw_keep) {
    bench_free(g_bw_buf);
    g_bw_buf = NULL;
  }
  if (emit) bench_output_result(opts, &r);
  return r.status == SUBQ_OK ? r.gbps : -1.0;
}

double bench_peak_gbps(const bench_opts *opts, int32_t threads, bool emit) {
  for (int i = 0; i < g_nbw; i++)
    if (g_bw[i].threads == threads) return g_bw[i].v;
  double v = bw_case(opts, threads, host_vec(), emit);
  if (g_nbw < CACHE_N) {
    g_bw[g_nbw].threads = threads;
    g_bw[g_nbw++].v = v;
  }
  return v;
}

static void bw_release(void) {
  g_bw_keep = false;
  bench_free(g_bw_buf);
  g_bw_buf = NULL;
}

int bench_peak_main(const bench_opts *opts) {
  bool vec = host_vec() && opts->isa != SUBQ_ISA_SCALAR;
  bench_output_section(opts, "peak: f32 FMA loop (GFLOP/s) and memory read (GB/s)");
  for (int i = 0; i < opts->n_threads; i++) {
    int32_t t = opts->threads[i];
    if (vec == host_vec())
      bench_peak_gflops(opts, t, true); /* the machine peak: cache it */
    else
      fma_case(opts, t, vec, true);
  }
  /* Bandwidth at 1 thread and at the largest requested count. */
  g_bw_keep = true;
  int32_t tmax = 1;
  for (int i = 0; i < opts->n_threads; i++)
    if (opts->threads[i] > tmax) tmax = opts->threads[i];
  if (vec == host_vec()) {
    bench_peak_gbps(opts, 1, true);
    if (tmax > 1) bench_peak_gbps(opts, tmax, true);
  } else {
    bw_case(opts, 1, vec, true);
    if (tmax > 1) bw_case(opts, tmax, vec, true);
  }
  bw_release();
  return 0;
}

void bench_peak_prepare(const bench_opts *opts, bool need_bw) {
  if (opts->no_peak) return;
  bool missing = false;
  for (int i = 0; i < opts->n_threads; i++) {
    bool have_p = false, have_b = false;
    for (int j = 0; j < g_npeak; j++) have_p |= g_peak[j].threads == opts->threads[i];
    for (int j = 0; j < g_nbw; j++) have_b |= g_bw[j].threads == opts->threads[i];
    missing |= !have_p || (need_bw && !have_b);
  }
  if (!missing) return;
  bench_output_section(opts, "peak (denominators of the % columns below)");
  for (int i = 0; i < opts->n_threads; i++) bench_peak_gflops(opts, opts->threads[i], true);
  if (need_bw)
    for (int i = 0; i < opts->n_threads; i++) bench_peak_gbps(opts, opts->threads[i], true);
}
