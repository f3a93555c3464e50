/*
 * bench_q8.c — subq-bench q8: the int8-weight linear (subq_q8_linear) beside
 * the bf16-weight product of the same shape (subq_gemm on the unpacked bf16
 * W, what the runner uses for a bf16 head), in the same run.
 *   subq-bench q8 [--n N] [--k K] [--m M]
 *   default n 128256, k 2560, m 1: BitNet-b1.58-2B's tied LM head, one token.
 * GB/s = weight bytes + x read + y written / time, % of read bandwidth at
 * the same thread count. Each timed case checks 16 sampled outputs of its
 * last call against a float64 dot product of the dequantized (q8) or exact
 * (bf16) weights, within the header's f32 bound, and fails its row otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct q8_cfg {
  int64_t n, k, m;
} q8_cfg;

static q8_cfg g_q8 = {128256, 2560, 1};

void bench_q8_parse(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) bench_usage_error("q8: %s needs a value", a);
    const char *v = argv[++i];
    int64_t *dst = NULL, hi = (int64_t)1 << 20;
    if (!strcmp(a, "--n")) dst = &g_q8.n;
    else if (!strcmp(a, "--k")) dst = &g_q8.k, hi = 65536;
    else if (!strcmp(a, "--m")) dst = &g_q8.m, hi = 4096;
    else bench_usage_error("q8: unknown argument '%s' (--n, --k, --m)", a);
    if (!bench_parse_i64(v, 1, hi, dst)) bench_usage_error("q8: %s: '%s' is not an integer in 1..%lld", a, v, (long long)hi);
  }
  if ((double)g_q8.n * (double)g_q8.k > 2e9) bench_usage_error("q8: n x k is too large");
}

typedef struct q8_body {
  subq_context *ctx;
  const subq_q8_weights *q; /* NULL: the bf16 product */
  const uint16_t *wb;
  const float *x;
  float *y;
  int64_t n, k, m;
} q8_body;

static subq_status q8_body_run(void *arg, char *msg, size_t cap) {
  q8_body *b = arg;
  subq_status st;
  if (b->q) {
    st = subq_q8_linear(b->ctx, b->m, b->x, 0, b->q, b->y, 0);
  } else {
    subq_gemm_args g;
    subq_gemm_args_default(&g, sizeof g);
    g.m = b->m, g.n = b->n, g.k = b->k, g.b_dtype = SUBQ_DTYPE_BF16;
    g.a = b->x, g.a_rs = b->k, g.a_cs = 1;
    g.b = b->wb, g.b_rs = 1, g.b_cs = b->k; /* B = W^T */
    g.c = b->y, g.c_rs = b->n, g.c_cs = 1;
    st = subq_gemm(b->ctx, &g);
  }
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

static float bf16f(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* 16 sampled outputs against float64 over the weights the product uses. */
static bool q8_check(const q8_body *b, char *msg, size_t cap) {
  float *row = malloc((size_t)b->k * sizeof(float));
  bool ok = row != NULL;
  for (int s = 0; s < 16 && ok; s++) {
    const int64_t i = (s * 7919) % b->m, j = (s * 104729) % b->n;
    if (b->q) {
      ok = subq_q8_weights_dequantize(b->q, j, 1, row, 0) == SUBQ_OK;
    } else {
      for (int64_t p = 0; p < b->k; p++) row[p] = bf16f(b->wb[j * b->k + p]);
    }
    double ref = 0.0, mag = 0.0;
    for (int64_t p = 0; p < b->k; p++) {
      ref += (double)b->x[i * b->k + p] * row[p];
      mag += fabs((double)b->x[i * b->k + p] * row[p]);
    }
    const double got = b->y[i * b->n + j];
    if (ok && !(fabs(got - ref) <= (double)(b->k + 16) * 0x1p-24 * mag)) {
      snprintf(msg, cap, "check failed: y[%lld][%lld] = %.9g, want %.9g", (long long)i, (long long)j, got, ref);
      ok = false;
    }
  }
  free(row);
  return ok;
}

int bench_q8_main(const bench_opts *opts) {
  const int64_t N = g_q8.n, K = g_q8.k, M = g_q8.m;
  char vars[96];
  bench_output_section(opts, "q8: int8-weight linear vs the bf16-weight product (GB/s = weights + x + y / time)");
  float *wf = bench_alloc((size_t)(N * K) * 4), *x = bench_alloc((size_t)(M * K) * 4);
  float *y = bench_alloc((size_t)(M * N) * 4);
  uint16_t *wb = bench_alloc((size_t)(N * K) * 2);
  subq_q8_weights *q = NULL;
  int rc = 0;
  if (wf && x && y && wb) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < N * K; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      wf[i] = 0.05f * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
    }
    for (int64_t i = 0; i < M * K; i++) x[i] = (float)((i * 104729) % 1009) / 504.0f - 1.0f;
    if (subq_f32_to_bf16(wf, wb, N * K) != SUBQ_OK) bench_free(wb), wb = NULL;
    /* the int8 copy is made from the bf16 values, as the runner makes it from a bf16 checkpoint */
    if (wb && subq_q8_weights_create(NULL, N, K, SUBQ_DTYPE_BF16, wb, 0, &q) != SUBQ_OK) q = NULL;
  }
  bench_free(wf);
  for (int ti = 0; ti < opts->n_threads; ti++)
    for (int kind = 0; kind < 2; kind++) { /* 0: bf16, 1: int8 */
      bench_result r;
      snprintf(vars, sizeof vars, "n%lldk%lldm%lld:%s", (long long)N, (long long)K, (long long)M, kind ? "q8" : "bf16");
      bench_result_init(&r, "q8", vars, opts->threads[ti], "");
      const double wbytes = kind ? (double)(q ? subq_q8_weights_size(q) : 0) : 2.0 * (double)N * (double)K;
      snprintf(r.params_json, sizeof r.params_json, "{\"n\": %lld, \"k\": %lld, \"m\": %lld, \"weight_bytes\": %.0f}",
               (long long)N, (long long)K, (long long)M, wbytes);
      if (!(x && y && wb && q)) {
        r.status = SUBQ_ERR_OUT_OF_MEMORY;
        snprintf(r.message, sizeof r.message, "cannot allocate or quantize the operands");
        bench_output_result(opts, &r);
        rc = 1;
        continue;
      }
      q8_body b = {NULL, kind ? q : NULL, wb, x, y, N, K, M};
      b.ctx = bench_context(opts, opts->threads[ti], 0, &r);
      if (!b.ctx) {
        bench_output_result(opts, &r);
        continue;
      }
      bench_time(opts, q8_body_run, &b, 3, &r);
      if (r.status == SUBQ_OK) {
        r.gflops = 2.0 * (double)N * (double)K * (double)M / (r.ms_median * 1e-3) * 1e-9;
        r.gbps = (wbytes + 4.0 * (double)M * (double)(K + N)) / (r.ms_median * 1e-3) * 1e-9;
        if (!opts->no_peak) {
          const double bw = bench_peak_gbps(opts, opts->threads[ti], false);
          if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
        }
        if (!q8_check(&b, r.message, sizeof r.message)) r.status = SUBQ_ERR_INTERNAL;
        bench_sink += y[0];
      }
      bench_output_result(opts, &r);
      subq_context_destroy(b.ctx);
    }
  subq_q8_weights_destroy(q);
  bench_free(x), bench_free(y), bench_free(wb);
  return rc;
}
