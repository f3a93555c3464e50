/*
 * bench_ssd.c — subq-bench ssd, ssd-step and gated-rmsnorm: the Mamba-2 SSD
 * scan (prefill), its decode step and the grouped gated RMSNorm.
 *   subq-bench ssd [--b B] [--h H] [--p P] [--n N] [--g G] [--l L] [--algo auto|rec|chunked|all] [--chunk Q]
 *       default b1 h48 p64 n128 g1 l512 algo all (the benchmark shape)
 *   subq-bench ssd-step [--b B] [--h H] [--p P] [--n N] [--g G]   default b1 h48 p64 n128 g1
 *   subq-bench gated-rmsnorm [--rows R] [--width W] [--g G]       default rows 512 width 3072 g1
 * ssd reports GFLOP/s counting the recurrence's 5 flops per (token, head,
 * p, n) (mul + 2 FMA) for every algorithm, so the rates compare the
 * algorithms' speed on the same work; ssd-step reports GB/s of the state
 * read and written (2 * H * P * N * 4 bytes per sequence). Inputs are
 * Mamba-2-like: A = -exp(U(0,1)), dt = softplus(N(0,1)-ish - 4), state in
 * and out in place.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct ssd_bench_cfg {
  int64_t b, h, p, n, g, l, chunk, rows, width;
  int algo; /* -1 = all three */
} ssd_bench_cfg;

static ssd_bench_cfg g_ssd = {1, 48, 64, 128, 1, 512, 0, 0, 0, -1};
static ssd_bench_cfg g_step = {1, 48, 64, 128, 1, 1, 0, 0, 0, 1};
static ssd_bench_cfg g_norm = {0, 0, 0, 0, 1, 0, 0, 512, 3072, 0};

static void parse_ssd_common(const char *cmd, int argc, char **argv, ssd_bench_cfg *c, int kind) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int64_t *dst = NULL, lo = 1, hi = (int64_t)1 << 24;
    if (kind == 0 && !strcmp(a, "--algo")) {
      if (i + 1 >= argc) bench_usage_error("%s: --algo needs a value", cmd);
      const char *v = argv[++i];
      if (!strcmp(v, "auto")) c->algo = SUBQ_SSM2_ALGO_AUTO;
      else if (!strcmp(v, "rec")) c->algo = SUBQ_SSM2_ALGO_RECURRENT;
      else if (!strcmp(v, "chunked")) c->algo = SUBQ_SSM2_ALGO_CHUNKED;
      else if (!strcmp(v, "all")) c->algo = -1;
      else bench_usage_error("%s: --algo: '%s' is not auto, rec, chunked or all", cmd, v);
      continue;
    }
    if (kind == 2) {
      if (!strcmp(a, "--rows")) dst = &c->rows;
      else if (!strcmp(a, "--width")) dst = &c->width;
      else if (!strcmp(a, "--g")) dst = &c->g, hi = 1 << 16;
    } else {
      if (!strcmp(a, "--b")) dst = &c->b, hi = 4096;
      else if (!strcmp(a, "--h")) dst = &c->h, hi = 1 << 16;
      else if (!strcmp(a, "--p")) dst = &c->p, hi = 1 << 16;
      else if (!strcmp(a, "--n")) dst = &c->n, hi = SUBQ_SSM2_MAX_D_STATE;
      else if (!strcmp(a, "--g")) dst = &c->g, hi = 1 << 16;
      else if (kind == 0 && !strcmp(a, "--l")) dst = &c->l;
      else if (kind == 0 && !strcmp(a, "--chunk")) dst = &c->chunk, lo = 0, hi = SUBQ_SSM2_MAX_CHUNK;
    }
    if (!dst)
      bench_usage_error("%s: unknown argument '%s' (%s)", cmd, a,
                        kind == 2   ? "--rows, --width, --g"
                        : kind == 0 ? "--b, --h, --p, --n, --g, --l, --algo, --chunk"
                                    : "--b, --h, --p, --n, --g");
    if (i + 1 >= argc) bench_usage_error("%s: %s needs a value", cmd, a);
    if (!bench_parse_i64(argv[++i], lo, hi, dst))
      bench_usage_error("%s: %s: '%s' is not an integer in %lld..%lld", cmd, a, argv[i], (long long)lo, (long long)hi);
  }
  if (kind == 2) {
    if (c->width % c->g) bench_usage_error("%s: --g (%lld) must divide --width (%lld)", cmd, (long long)c->g, (long long)c->width);
    if ((double)c->rows * (double)c->width > 4e8) bench_usage_error("%s: rows * width is too large", cmd);
  } else {
    if (c->h % c->g) bench_usage_error("%s: --g (%lld) must divide --h (%lld)", cmd, (long long)c->g, (long long)c->h);
    if ((double)c->b * (double)c->l * (double)c->h * (double)c->p > 4e8 ||
        (double)c->b * (double)c->h * (double)c->p * (double)c->n > 4e8)
      bench_usage_error("%s: the problem is too large", cmd);
  }
}

void bench_ssd_parse(int argc, char **argv) { parse_ssd_common("ssd", argc, argv, &g_ssd, 0); }
void bench_ssd_step_parse(int argc, char **argv) { parse_ssd_common("ssd-step", argc, argv, &g_step, 1); }
void bench_gated_rmsnorm_parse(int argc, char **argv) { parse_ssd_common("gated-rmsnorm", argc, argv, &g_norm, 2); }

static void fill(float *p, int64_t n, unsigned seed, float scale, float offset) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = offset + scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

typedef struct ssd_body {
  subq_context *ctx;
  subq_ssm2_args a;
  subq_gated_rmsnorm_args n;
  int kind;
} ssd_body;

static subq_status ssd_body_run(void *arg, char *msg, size_t cap) {
  ssd_body *b = arg;
  subq_status st = b->kind == 2   ? subq_gated_rmsnorm_f32(b->ctx, &b->n)
                   : b->kind == 1 ? subq_ssm2_step_f32(b->ctx, &b->a)
                                  : subq_ssm2_scan_f32(b->ctx, &b->a);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

static const char *algo_str(int algo) {
  return algo == SUBQ_SSM2_ALGO_RECURRENT ? "rec" : algo == SUBQ_SSM2_ALGO_CHUNKED ? "chunked" : "auto";
}

static int ssd_run(const bench_opts *opts, const ssd_bench_cfg *c, bool step) {
  const int64_t E = c->h * c->p, GN = c->g * c->n, BT = c->b * c->l, sf = subq_ssm2_state_floats(c->h, c->p, c->n);
  bench_output_section(opts, step ? "ssd-step: Mamba-2 decode step (GB/s = state read + written)"
                                  : "ssd: Mamba-2 SSD scan (GFLOP/s = 5 flops per token x head x p x n)");
  float *x = bench_alloc((size_t)(BT * E) * 4), *y = bench_alloc((size_t)(BT * E) * 4);
  float *dt = bench_alloc((size_t)(BT * c->h) * 4), *B = bench_alloc((size_t)(BT * GN) * 4);
  float *C = bench_alloc((size_t)(BT * GN) * 4), *A = bench_alloc((size_t)c->h * 4), *dtb = bench_alloc((size_t)c->h * 4);
  float *D = bench_alloc((size_t)c->h * 4), *h = bench_alloc((size_t)(c->b * sf) * 4);
  int rc = 0;
  const int algos[3] = {SUBQ_SSM2_ALGO_RECURRENT, SUBQ_SSM2_ALGO_CHUNKED, SUBQ_SSM2_ALGO_AUTO};
  const int n_algo = (!step && c->algo < 0) ? 3 : 1;
  for (int ai = 0; ai < n_algo; ai++) {
    const int algo = step ? SUBQ_SSM2_ALGO_RECURRENT : c->algo < 0 ? algos[ai] : c->algo;
    char vars[96];
    if (step)
      snprintf(vars, sizeof vars, "b%lldh%lldp%lldn%lldg%lld:step", (long long)c->b, (long long)c->h, (long long)c->p,
               (long long)c->n, (long long)c->g);
    else
    {
      char q[32] = "";
      if (algo != SUBQ_SSM2_ALGO_RECURRENT) snprintf(q, sizeof q, ":q%lld", (long long)c->chunk);
      snprintf(vars, sizeof vars, "b%lldh%lldp%lldn%lldg%lldl%lld:%s%s", (long long)c->b, (long long)c->h,
               (long long)c->p, (long long)c->n, (long long)c->g, (long long)c->l, algo_str(algo),
               c->chunk ? q : "");
    }
    for (int ti = 0; ti < opts->n_threads; ti++) {
      bench_result r;
      bench_result_init(&r, step ? "ssd_step" : "ssd", vars, opts->threads[ti], "");
      snprintf(r.params_json, sizeof r.params_json,
               "{\"batch\": %lld, \"heads\": %lld, \"head_dim\": %lld, \"d_state\": %lld, \"groups\": %lld, "
               "\"seqlen\": %lld, \"algo\": \"%s\", \"chunk\": %lld}",
               (long long)c->b, (long long)c->h, (long long)c->p, (long long)c->n, (long long)c->g, (long long)c->l,
               algo_str(algo), (long long)c->chunk);
      if (!x || !y || !dt || !B || !C || !A || !dtb || !D || !h) {
        r.status = SUBQ_ERR_OUT_OF_MEMORY;
        snprintf(r.message, sizeof r.message, "cannot allocate the operands");
        bench_output_result(opts, &r);
        rc = 1;
        continue;
      }
      fill(x, BT * E, 1, 2.0f, 0.0f), fill(dt, BT * c->h, 2, 2.0f, 0.0f), fill(B, BT * GN, 3, 2.0f, 0.0f);
      fill(C, BT * GN, 4, 2.0f, 0.0f), fill(dtb, c->h, 5, 1.0f, -4.0f), fill(D, c->h, 6, 2.0f, 0.0f);
      fill(A, c->h, 7, 1.0f, 0.5f); /* A_log in [0, 1) */
      memset(h, 0, (size_t)(c->b * sf) * 4);
      ssd_body body;
      memset(&body, 0, sizeof body);
      body.kind = step ? 1 : 0;
      body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
      if (!body.ctx) {
        bench_output_result(opts, &r);
        continue;
      }
      subq_ssm2_args *a = &body.a;
      subq_ssm2_args_default(a, sizeof *a);
      a->batch = c->b, a->seqlen = c->l, a->n_heads = c->h, a->head_dim = c->p, a->d_state = c->n, a->n_groups = c->g;
      a->flags |= SUBQ_SSM2_A_LOG, a->algo = algo, a->chunk = c->chunk;
      a->x = x, a->dt = dt, a->b = B, a->c = C, a->a = A, a->dt_bias = dtb, a->d_skip = D;
      a->h_in = h, a->h_out = h, a->y = y;
      bench_time(opts, ssd_body_run, &body, 3, &r);
      if (r.status == SUBQ_OK) {
        const double sec = r.ms_median * 1e-3;
        if (step)
          r.gbps = 8.0 * (double)(c->b * sf) / sec * 1e-9;
        else
          r.gflops = 5.0 * (double)BT * (double)E * (double)c->n / sec * 1e-9;
        for (int64_t i = 0; i < BT * E; i += 997) bench_sink += y[i];
      }
      bench_output_result(opts, &r);
      subq_context_destroy(body.ctx);
    }
  }
  bench_free(x), bench_free(y), bench_free(dt), bench_free(B), bench_free(C), bench_free(A), bench_free(dtb);
  bench_free(D), bench_free(h);
  return rc;
}

int bench_ssd_main(const bench_opts *opts) { return ssd_run(opts, &g_ssd, false); }
int bench_ssd_step_main(const bench_opts *opts) { return ssd_run(opts, &g_step, true); }

int bench_gated_rmsnorm_main(const bench_opts *opts) {
  const ssd_bench_cfg *c = &g_norm;
  const int64_t n = c->rows * c->width;
  char vars[96];
  snprintf(vars, sizeof vars, "r%lldw%lldg%lld", (long long)c->rows, (long long)c->width, (long long)c->g);
  bench_output_section(opts, "gated-rmsnorm: grouped gated RMSNorm (GB/s = y, z read + out written)");
  float *y = bench_alloc((size_t)n * 4), *z = bench_alloc((size_t)n * 4), *o = bench_alloc((size_t)n * 4);
  float *w = bench_alloc((size_t)c->width * 4);
  int rc = 0;
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "gated_rmsnorm", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json, "{\"rows\": %lld, \"width\": %lld, \"groups\": %lld}",
             (long long)c->rows, (long long)c->width, (long long)c->g);
    if (!y || !z || !o || !w) {
      r.status = SUBQ_ERR_OUT_OF_MEMORY;
      snprintf(r.message, sizeof r.message, "cannot allocate the operands");
      bench_output_result(opts, &r);
      rc = 1;
      continue;
    }
    fill(y, n, 1, 2.0f, 0.0f), fill(z, n, 2, 4.0f, 0.0f), fill(w, c->width, 3, 1.0f, 1.0f);
    ssd_body body;
    memset(&body, 0, sizeof body);
    body.kind = 2;
    body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
    if (!body.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    subq_gated_rmsnorm_args *a = &body.n;
    subq_gated_rmsnorm_args_default(a, sizeof *a);
    a->rows = c->rows, a->width = c->width, a->group_size = c->width / c->g;
    a->y = y, a->z = z, a->weight = w, a->out = o;
    bench_time(opts, ssd_body_run, &body, 3, &r);
    if (r.status == SUBQ_OK) {
      r.gbps = 12.0 * (double)n / (r.ms_median * 1e-3) * 1e-9;
      for (int64_t i = 0; i < n; i += 997) bench_sink += o[i];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(body.ctx);
  }
  bench_free(y), bench_free(z), bench_free(o), bench_free(w);
  return rc;
}
