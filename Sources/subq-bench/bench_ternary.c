/*
 * bench_ternary.c — subq-bench ternary: the ternary family at the spec's
 * anchor shapes (ternary spec §10).
 *   subq-bench ternary [--op gemv|gemm|actq|hgrn|all|qgemv|qgemm] [--n N]
 *                      [--k K] [--t T] [--d D] [--l L] [--norm rmsnorm|none]
 *   gemv  fused BitLinear (RMSNorm + int8 quant + ternary GEMV) of one token,
 *         N x K (default 4096 x 14336, the llama.cpp TQ2_0 anchor); GB/s =
 *         packed weights + activations read / time, % of read bandwidth;
 *         --norm none drops the RMSNorm (int8 quant + GEMV + epilogue: the
 *         work of llama.cpp's TQ2_0 mul_mat, which quantizes to Q8_K first)
 *   gemm  the same over --t tokens (default 512); GOP/s = 2 N K T / time
 *   qgemv, qgemm  the int8 x ternary product alone (subq_ternary_matmul_i32):
 *         activations quantized once before timing, int32 out, no epilogue
 *         (not part of "all")
 *   actq  fused RMSNorm + int8 quantization of T x K rows (GB/s: x read + q
 *         written)
 *   hgrn  the HGRN recurrence + RMSNorm-SiLU gate over L tokens x D channels
 *         (default 1024 x 2048; GB/s: i, f, g read + out written)
 * Every timed case checks 16 sampled outputs of its last call against an
 * independent evaluation (the exported codes times the quantized
 * activations, with the normative epilogue: bitwise; the HGRN case against
 * a scalar float64 recurrence, 1e-4 relative) and fails its row otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct tern_cfg {
  int op; /* bit 0 gemv, 1 gemm, 2 actq, 3 hgrn, 4 qgemv, 5 qgemm */
  int64_t n, k, t, d, l;
  uint32_t norm; /* BitLinear flags: SUBQ_TERNARY_RMSNORM (default) or 0 */
} tern_cfg;

static tern_cfg g_tern = {15, 4096, 14336, 512, 2048, 1024, SUBQ_TERNARY_RMSNORM};

void bench_ternary_parse(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) bench_usage_error("ternary: %s needs a value", a);
    const char *v = argv[++i];
    int64_t *dst = NULL;
    if (!strcmp(a, "--op")) {
      if (!strcmp(v, "gemv")) g_tern.op = 1;
      else if (!strcmp(v, "gemm")) g_tern.op = 2;
      else if (!strcmp(v, "actq")) g_tern.op = 4;
      else if (!strcmp(v, "hgrn")) g_tern.op = 8;
      else if (!strcmp(v, "all")) g_tern.op = 15;
      else if (!strcmp(v, "qgemv")) g_tern.op = 16;
      else if (!strcmp(v, "qgemm")) g_tern.op = 32;
      else bench_usage_error("ternary: --op: '%s' is not gemv, gemm, actq, hgrn, all, qgemv or qgemm", v);
      continue;
    }
    if (!strcmp(a, "--norm")) {
      if (!strcmp(v, "rmsnorm")) g_tern.norm = SUBQ_TERNARY_RMSNORM;
      else if (!strcmp(v, "none")) g_tern.norm = 0;
      else bench_usage_error("ternary: --norm: '%s' is not rmsnorm or none", v);
      continue;
    }
    int64_t hi = (int64_t)1 << 20;
    if (!strcmp(a, "--n")) dst = &g_tern.n;
    else if (!strcmp(a, "--k")) dst = &g_tern.k, hi = SUBQ_TERNARY_MAX_K;
    else if (!strcmp(a, "--t")) dst = &g_tern.t, hi = 65536;
    else if (!strcmp(a, "--d")) dst = &g_tern.d;
    else if (!strcmp(a, "--l")) dst = &g_tern.l, hi = 65536;
    else bench_usage_error("ternary: unknown argument '%s' (--op, --n, --k, --t, --d, --l, --norm)", a);
    if (!bench_parse_i64(v, 1, hi, dst))
      bench_usage_error("ternary: %s: '%s' is not an integer in 1..%lld", a, v, (long long)hi);
  }
  if ((double)g_tern.n * (double)g_tern.k > 4e9 || (double)g_tern.t * (double)g_tern.k > 4e9 ||
      (double)g_tern.d * (double)g_tern.l > 4e8)
    bench_usage_error("ternary: the problem is too large");
}

static void fill(float *p, int64_t n, unsigned seed, float scale) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

typedef struct tern_body {
  subq_context *ctx;
  const subq_ternary *w;
  subq_bitlinear_args bl;
  subq_ternary_act_args aq;
  subq_hgrn_args hg;
  int64_t tokens; /* qgemv / qgemm */
  const int8_t *q;
  int32_t *d;
  int op;
} tern_body;

static subq_status tern_body_run(void *arg, char *msg, size_t cap) {
  tern_body *b = arg;
  subq_status st = b->op == 4    ? subq_ternary_act_quant(b->ctx, &b->aq)
                 : b->op == 8    ? subq_hgrn_f32(b->ctx, &b->hg)
                 : b->op >= 16   ? subq_ternary_matmul_i32(b->ctx, b->w, b->tokens, b->q, 0, b->d, 0)
                                 : subq_bitlinear(b->ctx, b->w, &b->bl);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

/* One case's start: an error result when the operands could not be made (`what`
 * they needed), else a context for the thread count. Returns false when the case
 * cannot run (its result has been printed). */
static bool tern_case_begin(const bench_opts *opts, int ti, bool ready, const char *what, bench_result *r,
                            tern_body *b, int *rc) {
  if (!ready) {
    r->status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r->message, sizeof r->message, "cannot %s the operands", what);
    bench_output_result(opts, r);
    *rc = 1;
    return false;
  }
  memset(b, 0, sizeof *b);
  b->ctx = bench_context(opts, opts->threads[ti], 0, r);
  if (!b->ctx) {
    bench_output_result(opts, r);
    return false;
  }
  return true;
}

/* GB/s of `bytes` per call at the median time; with `vs_peak`, also its share of
 * the read bandwidth at the same thread count. */
static void tern_case_rate(const bench_opts *opts, int ti, double bytes, bool vs_peak, bench_result *r) {
  r->gbps = bytes / (r->ms_median * 1e-3) * 1e-9;
  if (vs_peak && !opts->no_peak) {
    const double bw = bench_peak_gbps(opts, opts->threads[ti], false);
    if (bw > 0) r->pct_bw = 100.0 * r->gbps / bw;
  }
}

/* Bitwise check of 16 sampled outputs of a BitLinear call. */
static bool check_bitlinear(const tern_body *b, const float *x, const float *norm_w, const float *out, int64_t T,
                            int64_t N, int64_t K, char *msg, size_t cap) {
  int8_t *t = malloc((size_t)N * (size_t)K), *q = malloc((size_t)K);
  float *g = malloc((size_t)N * 4);
  bool ok = t && q && g && subq_ternary_to_codes(b->w, t, K, g) == SUBQ_OK;
  const bool per_row = subq_ternary_scale_mode(b->w) == SUBQ_TERNARY_SCALE_ROW;
  for (int s = 0; s < 16 && ok; s++) {
    const int64_t tt = (s * 7919) % T, r = (s * 104729) % N;
    int32_t S;
    float a;
    subq_ternary_act_args aq;
    subq_ternary_act_args_default(&aq, sizeof aq);
    aq.rows = 1, aq.cols = K, aq.x = x + tt * K, aq.flags = b->bl.flags, aq.norm_weight = norm_w;
    aq.q = q, aq.sums = &S, aq.scales = &a;
    if (subq_ternary_act_quant(NULL, &aq) != SUBQ_OK) ok = false;
    int64_t D = 0;
    for (int64_t c = 0; c < K; c++) D += (int64_t)t[r * K + c] * q[c];
    const float want = (float)D * (g[per_row ? r : 0] * (a / 127.0f));
    if (ok && memcmp(&want, &out[tt * N + r], 4) != 0) {
      snprintf(msg, cap, "check failed: out[%lld][%lld] = %.9g, want %.9g", (long long)tt, (long long)r,
               out[tt * N + r], want);
      ok = false;
    }
  }
  free(t), free(q), free(g);
  return ok;
}

static int run_bitlinear(const bench_opts *opts, bool gemm) {
  const int64_t N = g_tern.n, K = g_tern.k, T = gemm ? g_tern.t : 1;
  char vars[96];
  snprintf(vars, sizeof vars, "n%lldk%lldt%lld:%s", (long long)N, (long long)K, (long long)T,
           g_tern.norm ? "rmsnorm" : "nonorm");
  bench_output_section(opts, gemm ? "ternary gemm: fused BitLinear over T tokens (GOP/s = 2 N K T / time)"
                                  : "ternary gemv: fused BitLinear decode (GB/s = packed weights + x read / time)");
  float *wd = bench_alloc((size_t)(N * K) * 4), *x = bench_alloc((size_t)(T * K) * 4);
  float *nw = bench_alloc((size_t)K * 4), *out = bench_alloc((size_t)(T * N) * 4);
  subq_ternary *w = NULL;
  int rc = 0;
  if (wd && x && nw && out) {
    fill(wd, N * K, 1, 0.1f), fill(x, T * K, 2, 4.0f), fill(nw, K, 3, 1.0f);
    if (subq_ternary_quantize(NULL, N, K, SUBQ_DTYPE_F32, wd, K, SUBQ_TERNARY_SCALE_TENSOR, &w) != SUBQ_OK) w = NULL;
  }
  bench_free(wd);
  size_t wbytes = 0;
  if (w) subq_ternary_blob(w, &wbytes);
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, gemm ? "ternary_gemm" : "ternary_gemv", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json, "{\"n\": %lld, \"k\": %lld, \"tokens\": %lld, \"weight_bytes\": %zu}",
             (long long)N, (long long)K, (long long)T, wbytes);
    tern_body b;
    if (!tern_case_begin(opts, ti, w && x && nw && out, "allocate or pack", &r, &b, &rc)) continue;
    b.w = w, b.op = gemm ? 2 : 1;
    subq_bitlinear_args_default(&b.bl, sizeof b.bl);
    b.bl.tokens = T, b.bl.x = x, b.bl.out = out, b.bl.flags = g_tern.norm, b.bl.norm_weight = g_tern.norm ? nw : NULL;
    bench_time(opts, tern_body_run, &b, 3, &r);
    if (r.status == SUBQ_OK) {
      const double sec = r.ms_median * 1e-3;
      r.gflops = 2.0 * (double)N * (double)K * (double)T / sec * 1e-9;
      tern_case_rate(opts, ti, (double)wbytes + 4.0 * (double)T * (double)(K + N), !gemm, &r);
      if (!check_bitlinear(&b, x, b.bl.norm_weight, out, T, N, K, r.message, sizeof r.message))
        r.status = SUBQ_ERR_INTERNAL;
      bench_sink += out[0];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(b.ctx);
  }
  subq_ternary_destroy(w);
  bench_free(x), bench_free(nw), bench_free(out);
  return rc;
}

/* qgemv / qgemm: the int8 x ternary product alone on activations quantized before timing (int32 out). */
static int run_qmatmul(const bench_opts *opts, bool gemm) {
  const int64_t N = g_tern.n, K = g_tern.k, T = gemm ? g_tern.t : 1;
  char vars[96];
  snprintf(vars, sizeof vars, "n%lldk%lldt%lld:i8", (long long)N, (long long)K, (long long)T);
  bench_output_section(opts, "ternary qgemv/qgemm: int8 x ternary product alone, int32 out (GOP/s = 2 N K T / time)");
  float *wd = bench_alloc((size_t)(N * K) * 4), *x = bench_alloc((size_t)(T * K) * 4);
  int8_t *q = bench_alloc((size_t)(T * K)), *codes = bench_alloc((size_t)(N * K));
  int32_t *d = bench_alloc((size_t)(T * N) * 4);
  subq_ternary *w = NULL;
  int rc = 0;
  bool ready = false;
  if (wd && x && q && codes && d) {
    fill(wd, N * K, 1, 0.1f), fill(x, T * K, 2, 4.0f);
    subq_ternary_act_args aq;
    subq_ternary_act_args_default(&aq, sizeof aq);
    aq.rows = T, aq.cols = K, aq.x = x, aq.q = q;
    ready = subq_ternary_quantize(NULL, N, K, SUBQ_DTYPE_F32, wd, K, SUBQ_TERNARY_SCALE_TENSOR, &w) == SUBQ_OK &&
            subq_ternary_act_quant(NULL, &aq) == SUBQ_OK && subq_ternary_to_codes(w, codes, K, NULL) == SUBQ_OK;
  }
  bench_free(wd);
  size_t wbytes = 0;
  if (w) subq_ternary_blob(w, &wbytes);
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, gemm ? "ternary_qgemm" : "ternary_qgemv", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json, "{\"n\": %lld, \"k\": %lld, \"tokens\": %lld, \"weight_bytes\": %zu}",
             (long long)N, (long long)K, (long long)T, wbytes);
    tern_body b;
    if (!tern_case_begin(opts, ti, ready, "allocate, pack or quantize", &r, &b, &rc)) continue;
    b.w = w, b.op = gemm ? 32 : 16, b.tokens = T, b.q = q, b.d = d;
    bench_time(opts, tern_body_run, &b, 3, &r);
    if (r.status == SUBQ_OK) {
      const double sec = r.ms_median * 1e-3;
      r.gflops = 2.0 * (double)N * (double)K * (double)T / sec * 1e-9;
      tern_case_rate(opts, ti, (double)wbytes + (double)T * (double)K + 4.0 * (double)T * (double)N, !gemm, &r);
      /* check: 16 sampled D exactly against the exported codes times q */
      for (int s = 0; s < 16 && r.status == SUBQ_OK; s++) {
        const int64_t tt = (s * 7919) % T, n = (s * 104729) % N;
        int64_t want = 0;
        for (int64_t c = 0; c < K; c++) want += (int64_t)codes[n * K + c] * q[tt * K + c];
        if (want != d[tt * N + n]) {
          r.status = SUBQ_ERR_INTERNAL;
          snprintf(r.message, sizeof r.message, "check failed: d[%lld][%lld] = %d, want %lld", (long long)tt,
                   (long long)n, d[tt * N + n], (long long)want);
        }
      }
      bench_sink += (double)d[0];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(b.ctx);
  }
  subq_ternary_destroy(w);
  bench_free(x), bench_free(q), bench_free(codes), bench_free(d);
  return rc;
}

static int run_actq(const bench_opts *opts) {
  const int64_t T = g_tern.t, K = g_tern.k;
  char vars[96];
  snprintf(vars, sizeof vars, "t%lldk%lld:rmsnorm", (long long)T, (long long)K);
  bench_output_section(opts, "ternary actq: fused RMSNorm + int8 quantization (GB/s = x read + q written)");
  float *x = bench_alloc((size_t)(T * K) * 4), *nw = bench_alloc((size_t)K * 4), *sc = bench_alloc((size_t)T * 4);
  int8_t *q = bench_alloc((size_t)(T * K));
  int32_t *S = bench_alloc((size_t)T * 4);
  int rc = 0;
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "ternary_actq", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json, "{\"tokens\": %lld, \"k\": %lld}", (long long)T, (long long)K);
    tern_body b;
    if (!tern_case_begin(opts, ti, x && nw && sc && q && S, "allocate", &r, &b, &rc)) continue;
    fill(x, T * K, 2, 4.0f), fill(nw, K, 3, 1.0f);
    b.op = 4;
    subq_ternary_act_args_default(&b.aq, sizeof b.aq);
    b.aq.rows = T, b.aq.cols = K, b.aq.x = x, b.aq.flags = SUBQ_TERNARY_RMSNORM, b.aq.norm_weight = nw;
    b.aq.q = q, b.aq.sums = S, b.aq.scales = sc;
    bench_time(opts, tern_body_run, &b, 3, &r);
    if (r.status == SUBQ_OK) {
      tern_case_rate(opts, ti, 5.0 * (double)T * (double)K, true, &r);
      /* check: S of sampled rows equals the sum of their q, |q| <= 127, one q hits +-127 */
      for (int s = 0; s < 16 && r.status == SUBQ_OK; s++) {
        const int64_t tt = (s * 7919) % T;
        int32_t sum = 0;
        int mx = 0;
        for (int64_t c = 0; c < K; c++) sum += q[tt * K + c], mx = abs(q[tt * K + c]) > mx ? abs(q[tt * K + c]) : mx;
        if (sum != S[tt] || mx != 127) {
          r.status = SUBQ_ERR_INTERNAL;
          snprintf(r.message, sizeof r.message, "check failed on row %lld", (long long)tt);
        }
      }
      bench_sink += sc[0];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(b.ctx);
  }
  bench_free(x), bench_free(nw), bench_free(sc), bench_free(q), bench_free(S);
  return rc;
}

static int run_hgrn(const bench_opts *opts) {
  const int64_t L = g_tern.l, D = g_tern.d;
  char vars[96];
  snprintf(vars, sizeof vars, "l%lldd%lld:lb:gate", (long long)L, (long long)D);
  bench_output_section(opts, "ternary hgrn: HGRN recurrence + RMSNorm-SiLU gate (GB/s = i, f, g read + out written)");
  float *i = bench_alloc((size_t)(L * D) * 4), *f = bench_alloc((size_t)(L * D) * 4);
  float *g = bench_alloc((size_t)(L * D) * 4), *out = bench_alloc((size_t)(L * D) * 4);
  float *lb = bench_alloc((size_t)D * 4), *gw = bench_alloc((size_t)D * 4), *st = bench_alloc((size_t)D * 4);
  int rc = 0;
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "ternary_hgrn", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json, "{\"tokens\": %lld, \"channels\": %lld}", (long long)L,
             (long long)D);
    tern_body b;
    if (!tern_case_begin(opts, ti, i && f && g && out && lb && gw && st, "allocate", &r, &b, &rc)) continue;
    fill(i, L * D, 1, 4.0f), fill(f, L * D, 2, 6.0f), fill(g, L * D, 3, 2.0f), fill(gw, D, 4, 2.0f);
    fill(lb, D, 5, 1.0f);
    for (int64_t c = 0; c < D; c++) lb[c] += 0.5f;
    b.op = 8;
    subq_hgrn_args_default(&b.hg, sizeof b.hg);
    b.hg.tokens = L, b.hg.channels = D, b.hg.i = i, b.hg.f = f, b.hg.lower_bound = lb, b.hg.gate = g;
    b.hg.gate_norm_weight = gw, b.hg.out = out, b.hg.state_out = st;
    bench_time(opts, tern_body_run, &b, 3, &r);
    if (r.status == SUBQ_OK) {
      tern_case_rate(opts, ti, 16.0 * (double)L * (double)D, true, &r);
      /* check: the final state of sampled channels against a float64 recurrence */
      for (int s = 0; s < 16 && r.status == SUBQ_OK; s++) {
        const int64_t c = (s * 104729) % D;
        double sv = 0.0;
        for (int64_t t = 0; t < L; t++) {
          double fv = 1.0 / (1.0 + exp(-(double)f[t * D + c]));
          fv = lb[c] + (1.0 - lb[c]) * fv;
          const double iv = i[t * D + c];
          sv = fv * sv + iv / (1.0 + exp(-iv)) * (1.0 - fv);
        }
        if (!(fabs(st[c] - sv) <= 1e-4 * fabs(sv) + 1e-5)) {
          r.status = SUBQ_ERR_INTERNAL;
          snprintf(r.message, sizeof r.message, "check failed: state[%lld] = %.9g, want %.9g", (long long)c, st[c], sv);
        }
      }
      bench_sink += out[0];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(b.ctx);
  }
  bench_free(i), bench_free(f), bench_free(g), bench_free(out), bench_free(lb), bench_free(gw), bench_free(st);
  return rc;
}

int bench_ternary_main(const bench_opts *opts) {
  if (!opts->no_peak) bench_peak_prepare(opts, true);
  int rc = 0;
  if (g_tern.op & 1) rc |= run_bitlinear(opts, false);
  if (g_tern.op & 2) rc |= run_bitlinear(opts, true);
  if (g_tern.op & 4) rc |= run_actq(opts);
  if (g_tern.op & 8) rc |= run_hgrn(opts);
  if (g_tern.op & 16) rc |= run_qmatmul(opts, false);
  if (g_tern.op & 32) rc |= run_qmatmul(opts, true);
  return rc;
}
