/*
 * gemm_probe.c — quick timing of subq_gemm for one shape (not a test).
 * Build: gcc -O2 -I Include -I Sources/CSubQ tools/gemm_probe.c build/libsubq_internal.a -lpthread -lm -o build/gemm_probe
 *        (add $(pkg-config --libs hwloc numa) when the build found them)
 * Run:   build/gemm_probe M N K [threads] [reps] [layout] [batch]
 *        layout: nn (row-major B) | nt (B = W^T, Linear) | packed; batch: independent products (strided)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subq.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s M N K [threads] [reps] [nn|nt|packed]\n", argv[0]);
    return 2;
  }
  const long long m = atoll(argv[1]), n = atoll(argv[2]), k = atoll(argv[3]);
  const int threads = argc > 4 ? atoi(argv[4]) : 1, reps = argc > 5 ? atoi(argv[5]) : 7;
  const char *lay = argc > 6 ? argv[6] : "nn";
  const long long batch = argc > 7 ? atoll(argv[7]) : 1;
  float *a = malloc((size_t)(batch * m * k) * 4), *b = malloc((size_t)(batch * k * n) * 4),
        *c = malloc((size_t)(batch * m * n) * 4);
  for (long long i = 0; i < batch * m * k; i++) a[i] = (float)((i * 7) % 13) * 0.1f - 0.6f;
  for (long long i = 0; i < batch * k * n; i++) b[i] = (float)((i * 5) % 11) * 0.1f - 0.5f;
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = threads;
  subq_context *ctx = NULL;
  if (subq_context_create(&p, &ctx) != SUBQ_OK) return 1;
  subq_gemm_args g;
  subq_gemm_args_default(&g, sizeof g);
  g.m = m, g.n = n, g.k = k, g.a = a, g.a_rs = k, g.a_cs = 1, g.c = c, g.c_rs = n, g.c_cs = 1;
  g.b = b;
  g.batch_count = batch, g.a_bs = m * k, g.b_bs = k * n, g.c_bs = m * n;
  if (!strcmp(lay, "nn")) g.b_rs = n, g.b_cs = 1;
  else g.b_rs = 1, g.b_cs = k;
  subq_gemm_packed_b *pk = NULL;
  if (!strcmp(lay, "packed") && subq_gemm_pack_b(ctx, k, n, SUBQ_DTYPE_F32, b, 1, k, &pk) != SUBQ_OK) return 1;
  double *t = malloc(sizeof(double) * (size_t)reps), *ct = malloc(sizeof(double) * (size_t)reps);
  for (int r = -1; r < reps; r++) {
    double t0 = now(), c0 = cpu_now();
    subq_status st = pk ? subq_gemm_packed(ctx, &g, pk) : subq_gemm(ctx, &g);
    if (st != SUBQ_OK) {
      fprintf(stderr, "%s\n", subq_last_error_message());
      return 1;
    }
    if (r >= 0) t[r] = now() - t0, ct[r] = cpu_now() - c0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp);
  qsort(ct, (size_t)reps, sizeof *ct, cmp);
  const double flops = 2.0 * (double)batch * (double)m * (double)n * (double)k;
  printf("%lldx%lldx%lld %s batch=%lld threads=%d: median %.3f ms min %.3f ms  %.1f GFLOP/s (best %.1f)\n", m, n, k, lay, batch, threads,
         t[reps / 2] * 1e3, t[0] * 1e3, flops / t[reps / 2] / 1e9, flops / t[0] / 1e9);
  /* caller-thread CPU time: with threads=1 this is the kernel's own speed even on a shared, loaded box */
  printf("  caller CPU time median %.3f ms: %.1f GFLOP per CPU-second of the caller\n", ct[reps / 2] * 1e3,
         flops / ct[reps / 2] / 1e9 / threads);
  subq_gemm_packed_b_destroy(pk);
  subq_context_destroy(ctx);
  return 0;
}
