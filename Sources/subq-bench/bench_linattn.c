/*
 * bench_linattn.c — subq-bench linattn, linattn-step and linattn-hybrid:
 * BASED (Taylor map 153) linear attention and its place in a BASED-style
 * hybrid layer.
 *   subq-bench linattn [--b B] [--h H] [--dk K] [--dv V] [--l L] [--map taylor|identity|elu1] [--chunk C]
 *                      [--gate none|scalar|perkey] [--norm denom|none]   (gates g = logsigmoid(x) / 16)
 *       default b1 h16 dk16 dv64 l8192 taylor (the BASED prefill shape), DENOM
 *   subq-bench linattn-step [--b B] [--h H] [--dk K] [--dv V] [--pos LIST]
 *       default b1 h16 dk16 dv64, pos 1024,65536: the state is first built by a
 *       prefill of `pos` tokens, then one decode step is timed (in place)
 *   subq-bench linattn-hybrid [--l LIST] [--no-full] [--parts]   default 2048,8192,32768
 *       per T, d_model 1024 (16 heads x 64): the hybrid = BASED linear attention
 *       (dk 16, dv 64) + sliding-window attention (subq_fattn, window (128, 0))
 *       + BaseConv's gated short conv (subq_conv1d_f32 width 3 + SiLU on 2048
 *       channels, times the gate), back to back on one input; against full
 *       causal attention (subq_fattn, 16 heads x 64). Full attention at
 *       T > 8192 is timed once without warm-up (it takes seconds).
 * GFLOP/s of linattn counts the chunked algorithm's work per token and head:
 * 2 * (2 * D * dv + D + cbar * (dk + dv)) with cbar = (C + 1) / 2 the mean causal
 * intra-chunk length (inter-chunk read-out + state update + intra-chunk
 * products). linattn-step reports GB/s of the state read and written.
 * Checks: with the Taylor map and DENOM every output is a convex combination
 * of the v rows, so each element must lie within [min v, max v]; the case
 * fails otherwise (also for NaN).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define LA_MAX_LIST 8

typedef struct la_bench_cfg {
  int64_t b, h, dk, dv, l, chunk;
  int32_t map;
  bool no_full, parts;
  int32_t gate, norm;
  int64_t list[LA_MAX_LIST];
  int n_list;
} la_bench_cfg;

static la_bench_cfg g_la = {1, 16, 16, 64, 8192, 0, SUBQ_LINATTN_FMAP_TAYLOR2, false, false, SUBQ_LINATTN_GATE_NONE,
                            SUBQ_LINATTN_NORM_DENOM, {0}, 0};
static la_bench_cfg g_step = {1, 16, 16, 64, 0, 0, SUBQ_LINATTN_FMAP_TAYLOR2, false, false, SUBQ_LINATTN_GATE_NONE,
                              SUBQ_LINATTN_NORM_DENOM, {1024, 65536}, 2};
static la_bench_cfg g_hyb = {1, 16, 16, 64, 0, 0, SUBQ_LINATTN_FMAP_TAYLOR2, false, false, SUBQ_LINATTN_GATE_NONE,
                             SUBQ_LINATTN_NORM_DENOM, {2048, 8192, 32768}, 3};

static void parse_list(const char *cmd, const char *flag, const char *s, la_bench_cfg *c) {
  c->n_list = 0;
  while (*s) {
    char num[32];
    const size_t len = strcspn(s, ",");
    if (len == 0 || len >= sizeof num || c->n_list >= LA_MAX_LIST)
      bench_usage_error("%s: %s: bad list (at most %d comma-separated integers)", cmd, flag, LA_MAX_LIST);
    memcpy(num, s, len);
    num[len] = '\0';
    if (!bench_parse_i64(num, 1, (int64_t)1 << 20, &c->list[c->n_list++]))
      bench_usage_error("%s: %s: '%s' is not an integer in 1..%d", cmd, flag, num, 1 << 20);
    s += len;
    if (*s == ',') s++;
  }
}

static void parse_la(const char *cmd, int argc, char **argv, la_bench_cfg *c, int kind) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (kind == 2 && !strcmp(a, "--no-full")) {
      c->no_full = true;
      continue;
    }
    if (kind == 2 && !strcmp(a, "--parts")) {
      c->parts = true;
      continue;
    }
    if (i + 1 >= argc) bench_usage_error("%s: %s needs a value", cmd, a);
    const char *v = argv[i + 1];
    int64_t *dst = NULL, lo = 1, hi = 4096;
    if (kind == 0 && !strcmp(a, "--gate")) {
      if (!strcmp(v, "none")) c->gate = SUBQ_LINATTN_GATE_NONE;
      else if (!strcmp(v, "scalar")) c->gate = SUBQ_LINATTN_GATE_SCALAR;
      else if (!strcmp(v, "perkey")) c->gate = SUBQ_LINATTN_GATE_PER_KEY;
      else bench_usage_error("%s: --gate: '%s' is not none, scalar or perkey", cmd, v);
      i++;
      continue;
    }
    if (kind == 0 && !strcmp(a, "--norm")) {
      if (!strcmp(v, "none")) c->norm = SUBQ_LINATTN_NORM_NONE;
      else if (!strcmp(v, "denom")) c->norm = SUBQ_LINATTN_NORM_DENOM;
      else bench_usage_error("%s: --norm: '%s' is not none or denom", cmd, v);
      i++;
      continue;
    }
    if (kind == 0 && !strcmp(a, "--map")) {
      if (!strcmp(v, "taylor")) c->map = SUBQ_LINATTN_FMAP_TAYLOR2;
      else if (!strcmp(v, "identity")) c->map = SUBQ_LINATTN_FMAP_IDENTITY;
      else if (!strcmp(v, "elu1")) c->map = SUBQ_LINATTN_FMAP_ELU1;
      else bench_usage_error("%s: --map: '%s' is not taylor, identity or elu1", cmd, v);
      i++;
      continue;
    }
    if ((kind == 1 && !strcmp(a, "--pos")) || (kind == 2 && !strcmp(a, "--l"))) {
      parse_list(cmd, a, v, c);
      i++;
      continue;
    }
    if (kind < 2) {
      if (!strcmp(a, "--b")) dst = &c->b, hi = 256;
      else if (!strcmp(a, "--h")) dst = &c->h, hi = 1024;
      else if (!strcmp(a, "--dk")) dst = &c->dk, hi = SUBQ_LINATTN_MAX_DK;
      else if (!strcmp(a, "--dv")) dst = &c->dv, hi = SUBQ_LINATTN_MAX_DV;
      else if (kind == 0 && !strcmp(a, "--l")) dst = &c->l, hi = (int64_t)1 << 20;
      else if (kind == 0 && !strcmp(a, "--chunk")) dst = &c->chunk, lo = 0, hi = SUBQ_LINATTN_MAX_CHUNK;
    }
    if (!dst)
      bench_usage_error("%s: unknown argument '%s' (%s)", cmd, a,
                        kind == 0   ? "--b, --h, --dk, --dv, --l, --map, --chunk, --gate, --norm"
                        : kind == 1 ? "--b, --h, --dk, --dv, --pos"
                                    : "--l, --no-full, --parts");
    if (!bench_parse_i64(v, lo, hi, dst))
      bench_usage_error("%s: %s: '%s' is not an integer in %lld..%lld", cmd, a, v, (long long)lo, (long long)hi);
    i++;
  }
  if (c->gate == SUBQ_LINATTN_GATE_PER_KEY && c->map == SUBQ_LINATTN_FMAP_TAYLOR2)
    bench_usage_error("%s: --gate perkey needs --map identity or elu1", cmd);
  if (c->map == SUBQ_LINATTN_FMAP_TAYLOR2 && c->dk > SUBQ_LINATTN_MAX_TAYLOR_DK)
    bench_usage_error("%s: --dk (%lld) > %d with the Taylor map", cmd, (long long)c->dk, SUBQ_LINATTN_MAX_TAYLOR_DK);
  if ((double)c->b * (double)c->h * (double)(c->dk + c->dv) * (double)(kind == 0 ? c->l : 1) > 4e8)
    bench_usage_error("%s: the problem is too large", cmd);
}

void bench_linattn_parse(int argc, char **argv) { parse_la("linattn", argc, argv, &g_la, 0); }
void bench_linattn_step_parse(int argc, char **argv) { parse_la("linattn-step", argc, argv, &g_step, 1); }
void bench_linattn_hybrid_parse(int argc, char **argv) { parse_la("linattn-hybrid", argc, argv, &g_hyb, 2); }

static void la_fill(float *p, int64_t n, unsigned seed) { /* ~N(0,1)-sized uniform */
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = 3.4f * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

/* Convex-combination check of Taylor + DENOM outputs (see the top). */
static bool la_check(const float *out, int64_t n, const float *v, int64_t nv, char *msg, size_t cap) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < nv; i++) lo = fminf(lo, v[i]), hi = fmaxf(hi, v[i]);
  const float tol = 1e-4f * (hi - lo);
  for (int64_t i = 0; i < n; i++)
    if (!(out[i] >= lo - tol && out[i] <= hi + tol)) {
      snprintf(msg, cap, "output %lld = %g is outside the range of v [%g, %g]", (long long)i, (double)out[i],
               (double)lo, (double)hi);
      return false;
    }
  return true;
}

typedef struct la_body {
  subq_context *ctx;
  subq_linattn_args a;
  /* hybrid */
  subq_fattn_args f;
  subq_conv1d_args cv;
  float *gate, *conv_y;
  int64_t conv_n;
  int kind; /* 0 linattn prefill, 1 decode step, 2 hybrid, 3 full attention; hybrid parts: 4 SWA, 5 conv */
} la_body;

static subq_status la_body_run(void *arg, char *msg, size_t cap) {
  la_body *b = arg;
  subq_status st = SUBQ_OK;
  if (b->kind == 0 || b->kind == 2) st = subq_linattn_prefill_f32(b->ctx, &b->a);
  if (b->kind == 1) st = subq_linattn_decode_f32(b->ctx, &b->a);
  if (st == SUBQ_OK && b->kind >= 2 && b->kind <= 4) st = subq_fattn(b->ctx, &b->f);
  if (st == SUBQ_OK && (b->kind == 2 || b->kind == 5)) {
    st = subq_conv1d_f32(b->ctx, &b->cv);
    for (int64_t i = 0; st == SUBQ_OK && i < b->conv_n; i++) b->conv_y[i] *= b->gate[i]; /* silu(conv) * u2 */
  }
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

static void la_args_fill(subq_linattn_args *a, const la_bench_cfg *c, int64_t T, float *q, float *k, float *v,
                         float *out, float *state) {
  subq_linattn_args_default(a, sizeof *a);
  a->batch = c->b, a->seqlen = T, a->n_heads = c->h, a->dim_qk = c->dk, a->dim_v = c->dv;
  a->feature_map = c->map, a->chunk = c->chunk, a->gate = c->gate, a->normalize = c->norm;
  subq_linattn_args_dense(a);
  a->q = q, a->k = k, a->v = v, a->out = out, a->state_in = state, a->state_out = state;
}

static void oom(const bench_opts *opts, bench_result *r) {
  r->status = SUBQ_ERR_OUT_OF_MEMORY;
  snprintf(r->message, sizeof r->message, "cannot allocate the operands");
  bench_output_result(opts, r);
}

int bench_linattn_main(const bench_opts *opts) {
  const la_bench_cfg *c = &g_la;
  const int64_t T = c->l, nqk = c->b * T * c->h * c->dk, nv = c->b * T * c->h * c->dv;
  subq_linattn_args t;
  subq_linattn_args_default(&t, sizeof t);
  t.n_heads = c->h, t.dim_qk = c->dk, t.dim_v = c->dv, t.feature_map = c->map;
  const int64_t sf = subq_linattn_state_floats(&t), D = subq_linattn_feature_dim(c->map, c->dk);
  const int64_t C = c->chunk ? c->chunk : SUBQ_LINATTN_DEFAULT_CHUNK;
  const char *mapn = c->map == SUBQ_LINATTN_FMAP_TAYLOR2 ? "taylor" : c->map == SUBQ_LINATTN_FMAP_ELU1 ? "elu1" : "identity";
  bench_output_section(opts, "linattn: causal linear attention prefill, chunked (GFLOP/s of the chunked algorithm)");
  float *q = bench_alloc((size_t)nqk * 4), *k = bench_alloc((size_t)nqk * 4), *v = bench_alloc((size_t)nv * 4);
  float *o = bench_alloc((size_t)nv * 4), *st = bench_alloc((size_t)(c->b * sf) * 4);
  const int64_t ng = c->b * T * c->h * (c->gate == SUBQ_LINATTN_GATE_PER_KEY ? c->dk : 1);
  float *gt = c->gate ? bench_alloc((size_t)ng * 4) : NULL;
  const char *gaten = c->gate == SUBQ_LINATTN_GATE_SCALAR ? ":gs" : c->gate == SUBQ_LINATTN_GATE_PER_KEY ? ":gk" : "";
  char vars[96];
  snprintf(vars, sizeof vars, "b%lldh%lldk%lldv%lldl%lld:%s:c%lld%s%s", (long long)c->b, (long long)c->h,
           (long long)c->dk, (long long)c->dv, (long long)T, mapn, (long long)C, gaten,
           c->norm == SUBQ_LINATTN_NORM_NONE ? ":nonorm" : "");
  int rc = 0;
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "linattn", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json,
             "{\"batch\": %lld, \"heads\": %lld, \"dk\": %lld, \"dv\": %lld, \"seqlen\": %lld, \"map\": \"%s\", "
             "\"feature_dim\": %lld, \"chunk\": %lld}",
             (long long)c->b, (long long)c->h, (long long)c->dk, (long long)c->dv, (long long)T, mapn, (long long)D,
             (long long)C);
    if (!q || !k || !v || !o || !st || (c->gate && !gt)) {
      oom(opts, &r), rc = 1;
      continue;
    }
    la_fill(q, nqk, 1), la_fill(k, nqk, 2), la_fill(v, nv, 3);
    if (gt) { /* g = logsigmoid(x) / 16, the GLA layers' gate (spec §5) */
      la_fill(gt, ng, 4);
      for (int64_t i = 0; i < ng; i++) gt[i] = -log1pf(expf(-gt[i])) / 16.0f;
    }
    la_body body;
    memset(&body, 0, sizeof body);
    body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
    if (!body.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    la_args_fill(&body.a, c, T, q, k, v, o, NULL);
    body.a.log_gate = gt;
    body.a.state_out = st; /* from zero each call, final state written */
    bench_time(opts, la_body_run, &body, 3, &r);
    if (r.status == SUBQ_OK) {
      const double cbar = (double)(C + 1) / 2.0, per = 2.0 * (2.0 * (double)(D * c->dv) + (double)D + cbar * (double)(c->dk + c->dv));
      r.gflops = per * (double)(c->b * T * c->h) / (r.ms_median * 1e-3) * 1e-9;
      if (c->map == SUBQ_LINATTN_FMAP_TAYLOR2 && c->norm == SUBQ_LINATTN_NORM_DENOM &&
          !la_check(o, nv, v, nv, r.message, sizeof r.message))
        r.status = SUBQ_ERR_INTERNAL, rc = 1;
      for (int64_t i = 0; i < nv; i += 997) bench_sink += o[i];
    }
    bench_output_result(opts, &r);
    subq_context_destroy(body.ctx);
  }
  bench_free(q), bench_free(k), bench_free(v), bench_free(o), bench_free(st), bench_free(gt);
  return rc;
}

int bench_linattn_step_main(const bench_opts *opts) {
  const la_bench_cfg *c = &g_step;
  subq_linattn_args t;
  subq_linattn_args_default(&t, sizeof t);
  t.n_heads = c->h, t.dim_qk = c->dk, t.dim_v = c->dv, t.feature_map = c->map;
  const int64_t sf = subq_linattn_state_floats(&t);
  bench_output_section(opts, "linattn-step: decode step after a prefill of `pos` tokens (GB/s = state read + written)");
  int rc = 0;
  for (int pi = 0; pi < c->n_list; pi++) {
    const int64_t P = c->list[pi], nqk = c->b * P * c->h * c->dk, nv = c->b * P * c->h * c->dv;
    float *q = bench_alloc((size_t)nqk * 4), *k = bench_alloc((size_t)nqk * 4), *v = bench_alloc((size_t)nv * 4);
    float *o = bench_alloc((size_t)nv * 4), *st = bench_alloc((size_t)(c->b * sf) * 4);
    char vars[96];
    snprintf(vars, sizeof vars, "b%lldh%lldk%lldv%lld:pos%lld", (long long)c->b, (long long)c->h, (long long)c->dk,
             (long long)c->dv, (long long)P);
    for (int ti = 0; ti < opts->n_threads; ti++) {
      bench_result r;
      bench_result_init(&r, "linattn_step", vars, opts->threads[ti], "");
      snprintf(r.params_json, sizeof r.params_json,
               "{\"batch\": %lld, \"heads\": %lld, \"dk\": %lld, \"dv\": %lld, \"pos\": %lld, \"state_bytes\": %lld}",
               (long long)c->b, (long long)c->h, (long long)c->dk, (long long)c->dv, (long long)P,
               (long long)(c->b * sf * 4));
      if (!q || !k || !v || !o || !st) {
        oom(opts, &r), rc = 1;
        continue;
      }
      la_fill(q, nqk, 1), la_fill(k, nqk, 2), la_fill(v, nv, 3);
      la_body body;
      memset(&body, 0, sizeof body);
      body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
      if (!body.ctx) {
        bench_output_result(opts, &r);
        continue;
      }
      /* state after P - 1 tokens, then the step runs token P - 1 (repeatedly: the cost does not depend on the values) */
      la_args_fill(&body.a, c, P - 1, q, k, v, o, NULL);
      body.a.state_out = st;
      subq_status s0 = P > 1 ? subq_linattn_prefill_f32(body.ctx, &body.a) : SUBQ_OK;
      if (P == 1) memset(st, 0, (size_t)(c->b * sf) * 4);
      if (s0 != SUBQ_OK) {
        r.status = s0;
        snprintf(r.message, sizeof r.message, "%s", subq_last_error_message());
      } else {
        la_args_fill(&body.a, c, 1, q + (P - 1) * c->h * c->dk, k + (P - 1) * c->h * c->dk,
                     v + (P - 1) * c->h * c->dv, o, st);
        body.a.q_bs = body.a.k_bs = P * c->h * c->dk, body.a.v_bs = P * c->h * c->dv;
        body.kind = 1;
        bench_time(opts, la_body_run, &body, 20, &r);
      }
      if (r.status == SUBQ_OK) {
        r.gbps = 8.0 * (double)(c->b * sf) / (r.ms_median * 1e-3) * 1e-9;
        r.ns_per_op = r.ms_median * 1e6;
        if (c->map == SUBQ_LINATTN_FMAP_TAYLOR2 && !la_check(o, c->b * c->h * c->dv, v, nv, r.message, sizeof r.message))
          r.status = SUBQ_ERR_INTERNAL, rc = 1;
        bench_sink += o[0];
      }
      bench_output_result(opts, &r);
      subq_context_destroy(body.ctx);
    }
    bench_free(q), bench_free(k), bench_free(v), bench_free(o), bench_free(st);
  }
  return rc;
}

int bench_linattn_hybrid_main(const bench_opts *opts) {
  const int64_t H = 16, HD = 64, DK = 16, DM = H * HD, WIN = 128;
  bench_output_section(opts,
                       "linattn-hybrid: BASED-style hybrid (linear attn + SWA (128, 0) + short conv) vs full causal "
                       "attention, d_model 1024 (ns/op = hybrid / full time ratio x 1e3)");
  int rc = 0;
  la_bench_cfg lc = g_la;
  lc.b = 1, lc.h = H, lc.dk = DK, lc.dv = HD, lc.chunk = 0, lc.map = SUBQ_LINATTN_FMAP_TAYLOR2;
  for (int li = 0; li < g_hyb.n_list; li++) {
    const int64_t T = g_hyb.list[li];
    float *q = bench_alloc((size_t)(T * H * DK) * 4), *k = bench_alloc((size_t)(T * H * DK) * 4);
    float *qa = bench_alloc((size_t)(T * DM) * 4), *ka = bench_alloc((size_t)(T * DM) * 4);
    float *v = bench_alloc((size_t)(T * DM) * 4), *o1 = bench_alloc((size_t)(T * DM) * 4);
    float *o2 = bench_alloc((size_t)(T * DM) * 4), *u1 = bench_alloc((size_t)(T * 2 * DM) * 4);
    float *u2 = bench_alloc((size_t)(T * 2 * DM) * 4), *cy = bench_alloc((size_t)(T * 2 * DM) * 4);
    float *w = bench_alloc((size_t)(2 * DM * 3) * 4);
    double hybrid_ms = -1.0;
    static const int kinds[5] = {2, 3, 0, 4, 5};
    static const char *const kname[6] = {"linattn", "", "hybrid", "full", "swa", "shortconv"};
    for (int ki = 0; ki < 5; ki++) {
      const int kind = kinds[ki];
      if ((kind == 3 && g_hyb.no_full) || (ki >= 2 && !g_hyb.parts)) continue;
      char vars[96];
      snprintf(vars, sizeof vars, "l%lld:%s", (long long)T, kname[kind]);
      for (int ti = 0; ti < opts->n_threads; ti++) {
        bench_result r;
        bench_result_init(&r, kind == 3 ? "full_attention" : "linattn_hybrid", vars, opts->threads[ti], "");
        snprintf(r.params_json, sizeof r.params_json,
                 "{\"seqlen\": %lld, \"heads\": %lld, \"head_dim\": %lld, \"window\": %lld, \"layer\": \"%s\"}",
                 (long long)T, (long long)H, (long long)HD, (long long)WIN, kname[kind]);
        if (!q || !k || !qa || !ka || !v || !o1 || !o2 || !u1 || !u2 || !cy || !w) {
          oom(opts, &r), rc = 1;
          continue;
        }
        la_fill(q, T * H * DK, 1), la_fill(k, T * H * DK, 2), la_fill(v, T * DM, 3), la_fill(qa, T * DM, 4);
        la_fill(ka, T * DM, 5), la_fill(u1, T * 2 * DM, 6), la_fill(u2, T * 2 * DM, 7), la_fill(w, 2 * DM * 3, 8);
        la_body body;
        memset(&body, 0, sizeof body);
        body.kind = kind;
        body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
        if (!body.ctx) {
          bench_output_result(opts, &r);
          continue;
        }
        la_args_fill(&body.a, &lc, T, q, k, v, o1, NULL);
        subq_fattn_args_default(&body.f, sizeof body.f);
        body.f.batch = 1, body.f.hq = H, body.f.hkv = H, body.f.sq = T, body.f.sk = T, body.f.dk = HD, body.f.dv = HD;
        body.f.window_right = 0;
        if (kind != 3) body.f.window_left = WIN;
        subq_fattn_args_dense_bshd(&body.f);
        body.f.q = qa, body.f.k = ka, body.f.v = v, body.f.out = o2;
        subq_conv1d_args_default(&body.cv, sizeof body.cv);
        body.cv.batch = 1, body.cv.seqlen = T, body.cv.channels = 2 * DM, body.cv.width = 3;
        body.cv.flags = SUBQ_CONV1D_SILU, body.cv.x = u1, body.cv.weight = w, body.cv.y = cy;
        body.gate = u2;
        body.conv_y = cy, body.conv_n = T * 2 * DM;
        bench_opts once = *opts;
        if (kind == 3 && T > 8192) once.warmup = 0, once.reps = 1;
        bench_time(&once, la_body_run, &body, 3, &r);
        if (r.status == SUBQ_OK) {
          if (kind == 2 || kind == 0) {
            if (!la_check(o1, T * DM, v, T * DM, r.message, sizeof r.message)) r.status = SUBQ_ERR_INTERNAL, rc = 1;
          }
          if (kind == 2) {
            if (ti == opts->n_threads - 1) hybrid_ms = r.ms_median;
          } else if (kind == 3 && hybrid_ms > 0 && ti == opts->n_threads - 1) {
            r.ns_per_op = hybrid_ms / r.ms_median * 1e3;
          }
          bench_sink += o1[0] + o2[0] + cy[0];
        }
        bench_output_result(opts, &r);
        subq_context_destroy(body.ctx);
      }
    }
    bench_free(q), bench_free(k), bench_free(qa), bench_free(ka), bench_free(v), bench_free(o1), bench_free(o2);
    bench_free(u1), bench_free(u2), bench_free(cy), bench_free(w);
  }
  return rc;
}
