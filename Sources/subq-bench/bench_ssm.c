/*
 * bench_ssm.c — subq-bench ssm and conv1d: the Mamba-1 selective scan
 * (prefill, or the decode step with --l 1) and the causal depthwise conv1d.
 *   subq-bench ssm [--b B] [--d D] [--n N] [--l L] [--g G]   default b1 d1536 n16 l1024
 *   subq-bench conv1d [--b B] [--d D] [--w W] [--l L]         default b1 d1536 w4 l1024
 * ssm reports ns per (channel x state x token) in the ns/op column (and
 * GB/s of the activation traffic); conv1d reports GB/s (x read + y written).
 * Inputs are Mamba-like: A = -(1..N) (S4D-real), dt bias and softplus, z gate,
 * Dskip, state in and out (in place).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct ssm_bench_cfg {
  int64_t b, d, n, l, g, w;
} ssm_bench_cfg;

static ssm_bench_cfg g_ssm = {1, 1536, 16, 1024, 1, 4};
static ssm_bench_cfg g_conv = {1, 1536, 16, 1024, 1, 4};

static void parse_common(const char *cmd, int argc, char **argv, ssm_bench_cfg *c, bool conv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int64_t *dst = NULL, lo = 1, hi = (int64_t)1 << 24;
    if (!strcmp(a, "--b")) dst = &c->b, hi = 4096;
    else if (!strcmp(a, "--d")) dst = &c->d;
    else if (!strcmp(a, "--l")) dst = &c->l;
    else if (!conv && !strcmp(a, "--n")) dst = &c->n, hi = SUBQ_SSM1_MAX_D_STATE;
    else if (!conv && !strcmp(a, "--g")) dst = &c->g, hi = 1 << 16;
    else if (conv && !strcmp(a, "--w")) dst = &c->w, hi = 8;
    else
      bench_usage_error("%s: unknown argument '%s' (%s)", cmd, a,
                        conv ? "--b, --d, --w, --l" : "--b, --d, --n, --l, --g");
    if (i + 1 >= argc) bench_usage_error("%s: %s needs a value", cmd, a);
    if (!bench_parse_i64(argv[++i], lo, hi, dst))
      bench_usage_error("%s: %s: '%s' is not an integer in %lld..%lld", cmd, a, argv[i], (long long)lo, (long long)hi);
  }
  if (!conv && c->d % c->g) bench_usage_error("%s: --g (%lld) must divide --d (%lld)", cmd, (long long)c->g, (long long)c->d);
  if ((double)c->b * (double)c->l * (double)c->d > 4e8) bench_usage_error("%s: b * l * d is too large", cmd);
}

void bench_ssm_parse(int argc, char **argv) { parse_common("ssm", argc, argv, &g_ssm, false); }
void bench_conv1d_parse(int argc, char **argv) { parse_common("conv1d", argc, argv, &g_conv, true); }

static void fill(float *p, int64_t n, unsigned seed, float scale, float offset) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = offset + scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

typedef struct ssm_body {
  subq_context *ctx;
  subq_ssm1_args a;
  subq_conv1d_args c;
  bool conv;
} ssm_body;

static subq_status ssm_body_run(void *arg, char *msg, size_t cap) {
  ssm_body *b = arg;
  subq_status st;
  if (b->conv)
    st = subq_conv1d_f32(b->ctx, &b->c);
  else if (b->a.seqlen == 1)
    st = subq_ssm1_step_f32(b->ctx, &b->a);
  else
    st = subq_ssm1_scan_f32(b->ctx, &b->a);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

int bench_ssm_main(const bench_opts *opts) {
  const ssm_bench_cfg *c = &g_ssm;
  const int64_t BT = c->b * c->l, GN = c->g * c->n, sf = subq_ssm1_state_floats(c->d, c->n);
  char vars[96];
  snprintf(vars, sizeof vars, "b%lldd%lldn%lldl%lldg%lld%s", (long long)c->b, (long long)c->d, (long long)c->n,
           (long long)c->l, (long long)c->g, c->l == 1 ? ":step" : "");
  bench_output_section(opts, "ssm: Mamba-1 selective scan (ns/op = ns per channel x state x token)");
  float *u = bench_alloc((size_t)(BT * c->d) * 4), *dt = bench_alloc((size_t)(BT * c->d) * 4);
  float *z = bench_alloc((size_t)(BT * c->d) * 4), *y = bench_alloc((size_t)(BT * c->d) * 4);
  float *B = bench_alloc((size_t)(BT * GN) * 4), *C = bench_alloc((size_t)(BT * GN) * 4);
  float *A = bench_alloc((size_t)(c->d * c->n) * 4), *dtb = bench_alloc((size_t)c->d * 4);
  float *D = bench_alloc((size_t)c->d * 4), *h = bench_alloc((size_t)(c->b * sf) * 4);
  int rc = 0;
  /* Each case twice: A passed per call (packed by the call) and A packed once
   * (subq_ssm1_pack_a + SUBQ_SSM1_A_PACKED, what the runner does). */
  float *Ap = bench_alloc((size_t)sf * 4);
  for (int ti = 0; ti < opts->n_threads * 2; ti++) {
    const bool packed = ti % 2 == 1;
    const int nthr = opts->threads[ti / 2];
    char pvars[112];
    snprintf(pvars, sizeof pvars, "%s%s", vars, packed ? ":packedA" : "");
    bench_result r;
    bench_result_init(&r, "ssm", pvars, nthr, "");
    snprintf(r.params_json, sizeof r.params_json,
             "{\"batch\": %lld, \"channels\": %lld, \"d_state\": %lld, \"seqlen\": %lld, \"groups\": %lld}",
             (long long)c->b, (long long)c->d, (long long)c->n, (long long)c->l, (long long)c->g);
    if (!u || !dt || !z || !y || !B || !C || !A || !dtb || !D || !h || !Ap) {
      r.status = SUBQ_ERR_OUT_OF_MEMORY;
      snprintf(r.message, sizeof r.message, "cannot allocate the operands");
      bench_output_result(opts, &r);
      rc = 1;
      continue;
    }
    fill(u, BT * c->d, 1, 2.0f, 0.0f), fill(dt, BT * c->d, 2, 1.0f, -4.0f), fill(z, BT * c->d, 3, 2.0f, 0.0f);
    fill(B, BT * GN, 4, 2.0f, 0.0f), fill(C, BT * GN, 5, 2.0f, 0.0f), fill(dtb, c->d, 6, 0.5f, 0.0f);
    fill(D, c->d, 7, 2.0f, 0.0f);
    for (int64_t d = 0; d < c->d; d++)
      for (int64_t n = 0; n < c->n; n++) A[d * c->n + n] = -(float)(n + 1);
    if (subq_ssm1_pack_a(c->d, c->n, A, false, Ap) != SUBQ_OK) {
      r.status = SUBQ_ERR_INVALID_ARGUMENT;
      snprintf(r.message, sizeof r.message, "%s", subq_last_error_message());
      bench_output_result(opts, &r);
      rc = 1;
      continue;
    }
    memset(h, 0, (size_t)(c->b * sf) * 4);
    ssm_body body;
    memset(&body, 0, sizeof body);
    body.ctx = bench_context(opts, nthr, 0, &r);
    if (!body.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    subq_ssm1_args *a = &body.a;
    subq_ssm1_args_default(a, sizeof *a);
    a->batch = c->b, a->seqlen = c->l, a->channels = c->d, a->d_state = c->n, a->n_groups = c->g;
    a->u = u, a->dt = dt, a->b = B, a->c = C, a->z = z, a->a = packed ? Ap : A, a->dt_bias = dtb, a->d_skip = D;
    if (packed) a->flags |= SUBQ_SSM1_A_PACKED;
    a->h_in = h, a->h_out = h, a->y = y;
    bench_time(opts, ssm_body_run, &body, 3, &r);
    if (r.status == SUBQ_OK) {
      const double sec = r.ms_median * 1e-3;
      r.ns_per_op = sec * 1e9 / ((double)c->d * (double)c->n * (double)BT);
      r.gbps = (4.0 * (double)BT * (4.0 * (double)c->d + 2.0 * (double)GN) + 8.0 * (double)(c->b * sf)) / sec * 1e-9;
      for (int64_t i = 0; i < BT * c->d; i += 997) bench_sink += y[i];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(body.ctx);
  }
  bench_free(u), bench_free(dt), bench_free(z), bench_free(y), bench_free(B), bench_free(C), bench_free(A);
  bench_free(dtb), bench_free(D), bench_free(h), bench_free(Ap);
  return rc;
}

int bench_conv1d_main(const bench_opts *opts) {
  const ssm_bench_cfg *c = &g_conv;
  const int64_t BT = c->b * c->l, S = (c->w - 1) * c->d;
  char vars[96];
  snprintf(vars, sizeof vars, "b%lldd%lldw%lldl%lld:silu", (long long)c->b, (long long)c->d, (long long)c->w,
           (long long)c->l);
  bench_output_section(opts, "conv1d: causal depthwise conv1d + bias + SiLU (GB/s = x read + y written)");
  float *x = bench_alloc((size_t)(BT * c->d) * 4), *y = bench_alloc((size_t)(BT * c->d) * 4);
  float *w = bench_alloc((size_t)(c->d * c->w) * 4), *bias = bench_alloc((size_t)c->d * 4);
  float *st = bench_alloc((size_t)(c->b * S + 1) * 4);
  int rc = 0;
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "conv1d", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json,
             "{\"batch\": %lld, \"channels\": %lld, \"width\": %lld, \"seqlen\": %lld}", (long long)c->b,
             (long long)c->d, (long long)c->w, (long long)c->l);
    if (!x || !y || !w || !bias || !st) {
      r.status = SUBQ_ERR_OUT_OF_MEMORY;
      snprintf(r.message, sizeof r.message, "cannot allocate the operands");
      bench_output_result(opts, &r);
      rc = 1;
      continue;
    }
    fill(x, BT * c->d, 1, 2.0f, 0.0f), fill(w, c->d * c->w, 2, 1.0f, 0.0f), fill(bias, c->d, 3, 1.0f, 0.0f);
    memset(st, 0, (size_t)(c->b * S + 1) * 4);
    ssm_body body;
    memset(&body, 0, sizeof body);
    body.conv = true;
    body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
    if (!body.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    subq_conv1d_args *a = &body.c;
    subq_conv1d_args_default(a, sizeof *a);
    a->batch = c->b, a->seqlen = c->l, a->channels = c->d, a->width = (int32_t)c->w, a->flags = SUBQ_CONV1D_SILU;
    a->x = x, a->weight = w, a->bias = bias, a->state_in = st, a->state_out = st, a->y = y;
    bench_time(opts, ssm_body_run, &body, 3, &r);
    if (r.status == SUBQ_OK) {
      const double sec = r.ms_median * 1e-3;
      r.gbps = 8.0 * (double)BT * (double)c->d / sec * 1e-9;
      for (int64_t i = 0; i < BT * c->d; i += 997) bench_sink += y[i];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(body.ctx);
  }
  bench_free(x), bench_free(y), bench_free(w), bench_free(bias), bench_free(st);
  return rc;
}
