/*
 * bench_nn.c — subq-bench nn: the memory-bound layer ops of a Llama block at
 * one prefill shape, reported as GB/s of the bytes each op must move (and %
 * of the read bandwidth measured in the same run):
 *   rmsnorm       y = w * rmsnorm(x)                    8 B / element (x in, y out)
 *   add_rmsnorm   s = x + r; y = w * rmsnorm(s)          16 B / element (x, r in; s, y out)
 *   swiglu        out = silu(gate) * up                 12 B / element
 *   rope          q, k rotated in place (llama3 table)  8 B / element of q and k
 *   subq-bench nn [--t T] [--d D] [--hd HD] [--kv KV]   default t512 d2048 hd64 kv4 (TinyLlama)
 * The operands of one op (4-16 MiB at the default) may partly stay in the L3
 * cache between repetitions; --flush evicts it before every call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct nn_bench_cfg {
  int64_t t, d, hd, kv;
} nn_bench_cfg;

static nn_bench_cfg g_nn = {512, 2048, 64, 4};

void bench_nn_parse(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int64_t *dst = NULL, lo = 1, hi = (int64_t)1 << 20;
    if (!strcmp(a, "--t")) dst = &g_nn.t;
    else if (!strcmp(a, "--d")) dst = &g_nn.d;
    else if (!strcmp(a, "--hd")) dst = &g_nn.hd, lo = 2, hi = 4096;
    else if (!strcmp(a, "--kv")) dst = &g_nn.kv, lo = 0;
    else bench_usage_error("nn: unknown argument '%s' (--t, --d, --hd, --kv)", a);
    if (i + 1 >= argc) bench_usage_error("nn: %s needs a value", a);
    if (!bench_parse_i64(argv[++i], lo, hi, dst))
      bench_usage_error("nn: %s: '%s' is not an integer in %lld..%lld", a, argv[i], (long long)lo, (long long)hi);
  }
  if (g_nn.hd % 2 || g_nn.d % g_nn.hd)
    bench_usage_error("nn: --hd (%lld) must be even and divide --d (%lld)", (long long)g_nn.hd, (long long)g_nn.d);
  if (g_nn.kv > g_nn.d / g_nn.hd) bench_usage_error("nn: --kv (%lld) exceeds the query heads", (long long)g_nn.kv);
  if ((double)g_nn.t * (double)g_nn.d > 1e8) bench_usage_error("nn: t * d is too large");
}

typedef enum nn_op { NN_RMSNORM, NN_ADD_RMSNORM, NN_SWIGLU, NN_ROPE, NN_N_OPS } nn_op;
static const char *const nn_names[NN_N_OPS] = {"rmsnorm", "add_rmsnorm", "swiglu", "rope"};

typedef struct nn_body {
  subq_context *ctx;
  nn_op op;
  subq_rmsnorm_args rms;
  subq_rope_args rope;
  int64_t rows, cols;
  const float *g, *u;
  float *o;
} nn_body;

static subq_status nn_body_run(void *arg, char *msg, size_t cap) {
  nn_body *b = arg;
  subq_status st;
  switch (b->op) {
  case NN_RMSNORM:
  case NN_ADD_RMSNORM: st = subq_rmsnorm(b->ctx, &b->rms); break;
  case NN_SWIGLU: st = subq_swiglu(b->ctx, b->rows, b->cols, b->g, 0, b->u, 0, b->o, 0); break;
  default: st = subq_rope(b->ctx, &b->rope); break;
  }
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

static void nn_fill(float *p, int64_t n, unsigned seed) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = 4.0f * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

int bench_nn_main(const bench_opts *opts) {
  const nn_bench_cfg *c = &g_nn;
  const int64_t n = c->t * c->d, hq = c->d / c->hd, qk = c->t * (hq + c->kv) * c->hd;
  if (!opts->no_peak) bench_peak_prepare(opts, true);
  bench_output_section(opts, "nn: layer ops of a Llama block (GB/s of the bytes each op moves; % of measured read bandwidth)");
  float *x = bench_alloc((size_t)n * 4), *r = bench_alloc((size_t)n * 4), *s = bench_alloc((size_t)n * 4);
  float *y = bench_alloc((size_t)n * 4), *w = bench_alloc((size_t)c->d * 4), *q = bench_alloc((size_t)qk * 4);
  int64_t *pos = bench_alloc((size_t)c->t * sizeof(int64_t));
  subq_rope_table *table = NULL;
  subq_rope_params rp;
  subq_rope_params_default(&rp, sizeof rp);
  rp.rot_dim = c->hd, rp.theta = 500000.0, rp.type = SUBQ_ROPE_LLAMA3, rp.factor = 8.0, rp.cached_positions = c->t;
  const subq_status tst = subq_rope_table_create(NULL, &rp, &table);
  int rc = 0;
  if (x && r && w && q && pos) {
    nn_fill(x, n, 1), nn_fill(r, n, 2), nn_fill(w, c->d, 3), nn_fill(q, qk, 4);
    for (int64_t t = 0; t < c->t; t++) pos[t] = t;
  }
  for (int op = 0; op < NN_N_OPS; op++) {
    char vars[96];
    snprintf(vars, sizeof vars, op == NN_ROPE ? "t%lldq%lldkv%lldhd%lld:llama3" : "t%lldd%lld", (long long)c->t,
             op == NN_ROPE ? (long long)hq : (long long)c->d, (long long)c->kv, (long long)c->hd);
    for (int ti = 0; ti < opts->n_threads; ti++) {
      bench_result res;
      char kname[32];
      snprintf(kname, sizeof kname, "nn_%s", nn_names[op]);
      bench_result_init(&res, kname, vars, opts->threads[ti], "");
      snprintf(res.params_json, sizeof res.params_json,
               "{\"tokens\": %lld, \"width\": %lld, \"head_dim\": %lld, \"kv_heads\": %lld}", (long long)c->t,
               (long long)c->d, (long long)c->hd, (long long)c->kv);
      if (!x || !r || !s || !y || !w || !q || !pos || tst != SUBQ_OK) {
        res.status = tst != SUBQ_OK ? tst : SUBQ_ERR_OUT_OF_MEMORY;
        snprintf(res.message, sizeof res.message, "cannot allocate the operands or the rope table");
        bench_output_result(opts, &res);
        rc = 1;
        continue;
      }
      nn_body body;
      memset(&body, 0, sizeof body);
      body.op = (nn_op)op;
      body.ctx = bench_context(opts, opts->threads[ti], 0, &res);
      if (!body.ctx) {
        bench_output_result(opts, &res);
        continue;
      }
      subq_rmsnorm_args_default(&body.rms, sizeof body.rms);
      body.rms.rows = c->t, body.rms.cols = c->d, body.rms.eps = 1e-5f, body.rms.weight = w, body.rms.x = x;
      body.rms.y = y;
      if (op == NN_ADD_RMSNORM) body.rms.residual = r, body.rms.sum_out = s;
      body.rows = c->t, body.cols = c->d, body.g = x, body.u = r, body.o = y;
      subq_rope_args_default(&body.rope, sizeof body.rope);
      body.rope.tokens = c->t, body.rope.head_dim = c->hd, body.rope.table = table, body.rope.positions = pos;
      body.rope.q = q, body.rope.q_heads = hq, body.rope.q_token_stride = (hq + c->kv) * c->hd;
      body.rope.k = c->kv ? q + hq * c->hd : NULL, body.rope.k_heads = c->kv;
      body.rope.k_token_stride = (hq + c->kv) * c->hd;
      bench_time(opts, nn_body_run, &body, 3, &res);
      if (res.status == SUBQ_OK) {
        const double bytes_per[NN_N_OPS] = {8.0, 16.0, 12.0, 8.0};
        const double elems = op == NN_ROPE ? (double)qk : (double)n;
        res.gbps = bytes_per[op] * elems / (res.ms_median * 1e-3) * 1e-9;
        const double bw = opts->no_peak ? -1.0 : bench_peak_gbps(opts, opts->threads[ti], false);
        if (bw > 0) res.pct_bw = 100.0 * res.gbps / bw;
        for (int64_t i = 0; i < n; i += 4099) bench_sink += y[i];
        bench_sink += q[qk / 3];
      }
      bench_output_result(opts, &res);
      subq_context_destroy(body.ctx);
    }
  }
  subq_rope_table_destroy(table);
  bench_free(x), bench_free(r), bench_free(s), bench_free(y), bench_free(w), bench_free(q), bench_free(pos);
  return rc;
}
