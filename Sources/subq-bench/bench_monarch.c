/*
 * bench_monarch.c — subq-bench monarch: the Monarch product y = P2 L P1 R x
 * with prepacked weights (subq_monarch_forward).
 *   subq-bench monarch                       the standard cases (below)
 *   subq-bench monarch --n N --blocks B --tokens T [--dtype f32|bf16] [--dense]
 *   subq-bench monarch --project --n N --blocks B   (fp64 projection of N x N, 1 thread)
 *   subq-bench monarch --backward [--saved-stage1] --n N --blocks B --tokens T   (all four gradients;
 *       --saved-stage1: from the forward's saved stage 1, as an autograd caller runs it, instead of recomputing it;
 *       without --backward: the forward that also writes its stage 1 out)
 * Square blocks: k = l = B, q = p = s = r = N / B. Standard cases: n 4096 with
 * 64 blocks and 1024 tokens (spec §9 anchor; with the dense 4096 x 4096 GEMM on
 * the same tokens for the ratio), and the decode shapes n 1024 / 16384 with
 * sqrt(n) blocks and 1 token (GB/s of the packed weight read, % of the
 * measured read bandwidth; backward: weights read plus dW1 and dW2 written), the backward pass at the same shapes, and the projection of a 4096 x 4096 matrix onto 64
 * blocks (GB/s column = bytes of M per second). GFLOP/s counts 2 (kqp + lsr) per token; every case
 * checks token 0 and the last token against a float64 evaluation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct monarch_cfg {
  int64_t n, blocks, tokens;
  subq_dtype dtype;
  bool dense;
  bool project; /* time subq_monarch_project_f64 of an n x n matrix instead */
  bool backward; /* time subq_monarch_backward (grad x, W1, W2, bias) instead */
  bool saved;    /* forward: also write stage 1 (args.stage1); backward: given it (that forward is not timed) */
} monarch_cfg;

static monarch_cfg g_cfgs[8];
static int g_ncfg;

void bench_monarch_parse(int argc, char **argv) {
  monarch_cfg c = {0, 0, 0, SUBQ_DTYPE_F32, false, false, false, false};
  bool any = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--dense")) {
      c.dense = true;
      continue;
    }
    if (!strcmp(a, "--backward")) {
      c.backward = true;
      continue;
    }
    if (!strcmp(a, "--saved-stage1")) {
      c.saved = true;
      continue;
    }
    if (!strcmp(a, "--project")) {
      c.project = true;
      continue;
    }
    if (i + 1 >= argc) bench_usage_error("monarch: %s needs a value (or unknown argument)", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--dtype")) {
      if (!strcmp(v, "f32")) c.dtype = SUBQ_DTYPE_F32;
      else if (!strcmp(v, "bf16")) c.dtype = SUBQ_DTYPE_BF16;
      else bench_usage_error("monarch: --dtype: '%s' is not f32 or bf16", v);
      continue;
    }
    int64_t *dst = NULL, hi = (int64_t)1 << 20;
    if (!strcmp(a, "--n")) dst = &c.n;
    else if (!strcmp(a, "--blocks")) dst = &c.blocks;
    else if (!strcmp(a, "--tokens")) dst = &c.tokens, hi = 1 << 16;
    else
      bench_usage_error("monarch: unknown argument '%s' (--n, --blocks, --tokens, --dtype, --dense, --backward, "
                        "--saved-stage1, --project)", a);
    if (!bench_parse_i64(v, 1, hi, dst)) bench_usage_error("monarch: %s: '%s' is not an integer in 1..%lld", a, v, (long long)hi);
    any = true;
  }
  if (any) {
    if (c.project && !c.tokens) c.tokens = 1;
    if (!c.n || !c.blocks || !c.tokens) bench_usage_error("monarch: --n, --blocks and --tokens go together");
    if (c.project && c.n > 8192) bench_usage_error("monarch: --project takes --n <= 8192");
    if (c.n % c.blocks) bench_usage_error("monarch: --blocks (%lld) must divide --n (%lld)", (long long)c.blocks, (long long)c.n);
    if ((double)c.n * (double)c.tokens > 1e9) bench_usage_error("monarch: n * tokens is too large");
    g_cfgs[g_ncfg++] = c;
  } else {
    g_cfgs[g_ncfg++] = (monarch_cfg){4096, 64, 1024, SUBQ_DTYPE_F32, true, false, false, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){1024, 32, 1, SUBQ_DTYPE_F32, false, false, false, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){16384, 128, 1, SUBQ_DTYPE_F32, false, false, false, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){4096, 64, 1024, SUBQ_DTYPE_F32, false, false, true, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){4096, 64, 1024, SUBQ_DTYPE_F32, false, false, true, true};
    g_cfgs[g_ncfg++] = (monarch_cfg){1024, 32, 1, SUBQ_DTYPE_F32, false, false, true, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){16384, 128, 1, SUBQ_DTYPE_F32, false, false, true, false};
    g_cfgs[g_ncfg++] = (monarch_cfg){4096, 64, 1, SUBQ_DTYPE_F32, false, true, false, false};
  }
}

static void fill(float *p, int64_t n, unsigned seed, float scale) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

typedef struct monarch_body {
  subq_context *ctx;
  const subq_monarch_weights *w;
  subq_monarch_args a;
  subq_monarch_backward_args ba;
  bool dense, backward;
  const float *x, *wd;
  float *y;
  int64_t n, T;
} monarch_body;

static subq_status monarch_body_run(void *arg, char *msg, size_t cap) {
  monarch_body *b = arg;
  subq_status st = b->dense ? subq_sgemm(b->ctx, false, true, b->T, b->n, b->n, 1.0f, b->x, b->n, b->wd, b->n, 0.0f,
                                         b->y, b->n)
                 : b->backward ? subq_monarch_backward(b->ctx, b->w, &b->ba)
                               : subq_monarch_forward(b->ctx, b->w, &b->a);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

/* Token t of y, and of the saved stage 1 s1 when not NULL, against float64
 * (square blocks b x b, k = l = B). */
static bool monarch_check(const monarch_cfg *c, const float *w1, const float *w2, const float *x, const float *y,
                          const float *s1, int64_t t, char *msg, size_t cap) {
  const int64_t n = c->n, B = c->blocks, b = n / B;
  double *u = malloc((size_t)n * sizeof(double));
  double err = 0, ref = 0, err1 = 0, ref1 = 0;
  if (!u) return true;
  for (int64_t i = 0; i < B; i++)
    for (int64_t a = 0; a < b; a++) {
      double s = 0;
      for (int64_t e = 0; e < b; e++) s += (double)w1[(i * b + a) * b + e] * x[t * n + i * b + e];
      u[i * b + a] = s;
      if (s1) err1 += (s - s1[t * n + i * b + a]) * (s - s1[t * n + i * b + a]), ref1 += s * s;
    }
  for (int64_t j = 0; j < B; j++)
    for (int64_t cc = 0; cc < b; cc++) {
      double s = 0;
      for (int64_t r = 0; r < b; r++) s += (double)w2[(j * b + cc) * b + r] * u[r * B + j];
      const double d = s - y[t * n + cc * B + j];
      err += d * d, ref += s * s;
    }
  free(u);
  const double rel1 = ref1 > 0 ? sqrt(err1 / ref1) : sqrt(err1);
  if (rel1 > 1e-5) {
    snprintf(msg, cap, "token %lld: stage 1 relative error %.3g against float64", (long long)t, rel1);
    return false;
  }
  const double rel = ref > 0 ? sqrt(err / ref) : sqrt(err);
  if (rel > 1e-5) {
    snprintf(msg, cap, "token %lld: relative error %.3g against float64", (long long)t, rel);
    return false;
  }
  return true;
}

static int run_cfg(const bench_opts *opts, const monarch_cfg *c) {
  const int64_t n = c->n, B = c->blocks, b = n / B, T = c->tokens, np = B * b * b;
  char vars[96];
  snprintf(vars, sizeof vars, "n%lldb%lldt%lld:%s%s%s", (long long)n, (long long)B, (long long)T,
           c->dtype == SUBQ_DTYPE_BF16 ? "bf16" : "f32", c->backward ? ":backward" : "", c->saved ? ":saved" : "");
  float *w1 = bench_alloc((size_t)np * 4), *w2 = bench_alloc((size_t)np * 4);
  uint16_t *h1 = bench_alloc((size_t)np * 2), *h2 = bench_alloc((size_t)np * 2);
  float *x = bench_alloc((size_t)(T * n) * 4), *y = bench_alloc((size_t)(T * n) * 4);
  int rc = 0;
  if (!w1 || !w2 || !h1 || !h2 || !x || !y) {
    bench_result r;
    bench_result_init(&r, "monarch", vars, opts->threads[0], "");
    r.status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r.message, sizeof r.message, "cannot allocate the operands");
    bench_output_result(opts, &r);
    rc = 1;
    goto out;
  }
  fill(w1, np, 1, 2.0f / sqrtf((float)b)), fill(w2, np, 2, 2.0f / sqrtf((float)b)), fill(x, T * n, 3, 2.0f);
  if (c->dtype == SUBQ_DTYPE_BF16) {
    if (subq_f32_to_bf16(w1, h1, np) != SUBQ_OK || subq_f32_to_bf16(w2, h2, np) != SUBQ_OK ||
        subq_bf16_to_f32(h1, w1, np) != SUBQ_OK || subq_bf16_to_f32(h2, w2, np) != SUBQ_OK)
      rc = 1;
  }
  for (int ti = 0; ti < opts->n_threads; ti++) {
    bench_result r;
    bench_result_init(&r, "monarch", vars, opts->threads[ti], "");
    snprintf(r.params_json, sizeof r.params_json,
             "{\"n\": %lld, \"blocks\": %lld, \"tokens\": %lld, \"dtype\": \"%s\"}", (long long)n, (long long)B,
             (long long)T, c->dtype == SUBQ_DTYPE_BF16 ? "bf16" : "f32");
    monarch_body body;
    memset(&body, 0, sizeof body);
    body.ctx = bench_context(opts, opts->threads[ti], 0, &r);
    if (!body.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    subq_monarch_desc d;
    subq_monarch_desc_default(&d, sizeof d);
    d.k = d.l = B, d.q = d.p = d.s = d.r = b, d.dtype = c->dtype;
    subq_monarch_weights *w = NULL;
    const bool bf = c->dtype == SUBQ_DTYPE_BF16;
    subq_status st = subq_monarch_weights_create(body.ctx, &d, bf ? (const void *)h1 : (const void *)w1,
                                                 bf ? (const void *)h2 : (const void *)w2, &w);
    if (st != SUBQ_OK) {
      r.status = st;
      snprintf(r.message, sizeof r.message, "%s", subq_last_error_message());
    } else {
      body.w = w;
      subq_monarch_args_default(&body.a, sizeof body.a);
      body.a.tokens = T, body.a.x = x, body.a.ldx = n, body.a.y = y, body.a.ldy = n;
      float *gx = NULL, *gw = NULL, *u = NULL;
      if (c->saved) { /* stage 1 as the forward leaves it (N = B*b = n here) */
        u = bench_alloc((size_t)(T * n) * 4);
        body.a.stage1 = u, body.a.ldstage1 = n;
      }
      if (c->backward) {
        /* dL/dy = x (any data), all four gradients */
        gx = bench_alloc((size_t)(T * n) * 4), gw = bench_alloc((size_t)(2 * np + n) * 4);
        body.backward = true;
        subq_monarch_backward_args_default(&body.ba, sizeof body.ba);
        body.ba.tokens = T, body.ba.x = x, body.ba.ldx = n, body.ba.grad_y = x, body.ba.ldgy = n;
        body.ba.grad_x = gx, body.ba.ldgx = n, body.ba.grad_w1 = gw, body.ba.grad_w2 = gw ? gw + np : NULL;
        body.ba.grad_bias = gw ? gw + 2 * np : NULL;
        body.ba.stage1 = u, body.ba.ldstage1 = n;
      }
      if ((c->backward && (!gx || !gw)) || (c->saved && !u)) {
        r.status = SUBQ_ERR_OUT_OF_MEMORY;
        snprintf(r.message, sizeof r.message, "cannot allocate the gradients or stage 1");
      } else if (c->backward && c->saved && (st = subq_monarch_forward(body.ctx, w, &body.a)) != SUBQ_OK) {
        /* the stage 1 the backward reads, outside the timing */
        r.status = st;
        snprintf(r.message, sizeof r.message, "%s", subq_last_error_message());
      } else {
        bench_time(opts, monarch_body_run, &body, 3, &r);
      }
      if (c->backward && r.status == SUBQ_OK) {
        /* check grad_bias = sum of grad_y over tokens for a few columns */
        for (int64_t col = 0; col < n; col += n / 7) {
          double ref = 0;
          for (int64_t t = 0; t < T; t++) ref += x[t * n + col];
          if (fabs(ref - gw[2 * np + col]) > 1e-4 * (1.0 + fabs(ref))) {
            r.status = SUBQ_ERR_INTERNAL;
            snprintf(r.message, sizeof r.message, "grad_bias[%lld] = %g, want %g", (long long)col,
                     (double)gw[2 * np + col], ref);
          }
        }
        bench_sink += gx[0] + gw[0] + gw[np];
      }
      bench_free(gx), bench_free(gw);
      if (!c->backward && r.status == SUBQ_OK &&
          (!monarch_check(c, w1, w2, x, y, u, 0, r.message, sizeof r.message) ||
           !monarch_check(c, w1, w2, x, y, u, T - 1, r.message, sizeof r.message)))
        r.status = SUBQ_ERR_INTERNAL;
      bench_free(u);
      if (r.status == SUBQ_OK) {
        const double sec = r.ms_median * 1e-3;
        /* backward: dX path + both weight gradients = 2x the forward (the
         * recomputed stage 1, when not saved, is not counted) */
        r.gflops = (c->backward ? 8.0 : 4.0) * (double)np * (double)T / sec * 1e-9;
        if (!opts->no_peak) {
          const double peak = bench_peak_gflops(opts, opts->threads[ti], false);
          if (peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
        }
        if (T <= 8) {
          /* packed weights are f32; the backward also writes dW1 and dW2 (the same size again) */
          r.gbps = (double)(2 * np) * (c->backward ? 8.0 : 4.0) / sec * 1e-9;
          if (!opts->no_peak) {
            const double bw = bench_peak_gbps(opts, opts->threads[ti], false);
            if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
          }
        }
        bench_sink += y[0];
      }
    }
    bench_output_result(opts, &r);
    if (c->dense && r.status == SUBQ_OK) {
      /* the dense n x n GEMM on the same tokens (subq_sgemm, W stored [out][in]) */
      bench_result rd;
      char dv[96];
      snprintf(dv, sizeof dv, "dense:m%lldn%lldk%lld", (long long)T, (long long)n, (long long)n);
      bench_result_init(&rd, "monarch", dv, opts->threads[ti], "");
      float *wd = bench_alloc((size_t)(n * n) * 4);
      if (!wd) {
        rd.status = SUBQ_ERR_OUT_OF_MEMORY;
      } else {
        fill(wd, n * n, 4, 2.0f / sqrtf((float)n));
        monarch_body db = body;
        db.dense = true, db.wd = wd, db.x = x, db.y = y, db.n = n, db.T = T;
        bench_time(opts, monarch_body_run, &db, 3, &rd);
        if (rd.status == SUBQ_OK) {
          const double sec = rd.ms_median * 1e-3;
          rd.gflops = 2.0 * (double)n * (double)n * (double)T / sec * 1e-9;
          if (!opts->no_peak) {
            const double peak = bench_peak_gflops(opts, opts->threads[ti], false);
            if (peak > 0) rd.pct_peak = 100.0 * rd.gflops / peak;
          }
          bench_sink += y[0];
        }
        bench_free(wd);
      }
      bench_output_result(opts, &rd);
      if (rd.status == SUBQ_OK && opts->format == BENCH_TABLE)
        printf("  monarch vs dense at %lld tokens, %d threads: %.1fx faster\n", (long long)T, (int)opts->threads[ti],
               rd.ms_median / r.ms_median);
    }
    subq_monarch_weights_destroy(w);
    subq_context_destroy(body.ctx);
  }
out:
  bench_free(w1), bench_free(w2), bench_free(h1), bench_free(h2), bench_free(x), bench_free(y);
  return rc;
}

/* ---- projection: M = dense(W1, W2) + 0.01 noise, n x n, fp64, single-threaded ---- */
typedef struct project_body {
  const double *M;
  int64_t n;
  subq_monarch_desc d;
  double *w1, *w2, resid;
} project_body;

static subq_status project_body_run(void *arg, char *msg, size_t cap) {
  project_body *b = arg;
  subq_status st = subq_monarch_project_f64(b->M, b->n, b->n, b->n, &b->d, false, b->w1, b->w2, &b->resid);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s", subq_last_error_message());
  return st;
}

static int run_project(const bench_opts *opts, const monarch_cfg *c) {
  const int64_t n = c->n, B = c->blocks, b = n / B, np = B * b * b;
  char vars[96];
  snprintf(vars, sizeof vars, "project:n%lldb%lld:f64", (long long)n, (long long)B);
  bench_result r;
  bench_result_init(&r, "monarch", vars, 1, "");
  snprintf(r.params_json, sizeof r.params_json, "{\"n\": %lld, \"blocks\": %lld, \"op\": \"project\"}", (long long)n,
           (long long)B);
  project_body pb;
  memset(&pb, 0, sizeof pb);
  double *M = bench_alloc((size_t)(n * n) * 8);
  pb.w1 = bench_alloc((size_t)np * 8), pb.w2 = bench_alloc((size_t)np * 8);
  float *tmp = bench_alloc((size_t)np * 4);
  int rc = 0;
  if (!M || !pb.w1 || !pb.w2 || !tmp) {
    r.status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r.message, sizeof r.message, "cannot allocate the operands");
    rc = 1;
  } else {
    subq_monarch_desc_default(&pb.d, sizeof pb.d);
    pb.d.k = pb.d.l = B, pb.d.q = pb.d.p = pb.d.s = pb.d.r = b;
    fill(tmp, np, 5, 2.0f);
    for (int64_t i = 0; i < np; i++) pb.w1[i] = tmp[i];
    fill(tmp, np, 6, 2.0f);
    for (int64_t i = 0; i < np; i++) pb.w2[i] = tmp[i];
    subq_status st = subq_monarch_to_dense_f64(&pb.d, false, pb.w1, pb.w2, M, n);
    double noise = 0;
    for (int64_t row = 0; row < n && st == SUBQ_OK; row++) {
      fill(tmp, n, (unsigned)(100 + row), 0.02f);
      for (int64_t e = 0; e < n; e++) M[row * n + e] += tmp[e], noise += (double)tmp[e] * tmp[e];
    }
    pb.M = M, pb.n = n;
    if (st != SUBQ_OK) {
      r.status = st;
      snprintf(r.message, sizeof r.message, "%s", subq_last_error_message());
    } else {
      bench_time(opts, project_body_run, &pb, 2, &r);
      /* the projection can only be closer than the Monarch the noise was added to */
      if (r.status == SUBQ_OK && !(pb.resid >= 0 && pb.resid <= noise)) {
        r.status = SUBQ_ERR_INTERNAL;
        snprintf(r.message, sizeof r.message, "residual %.6g exceeds the added noise %.6g", pb.resid, noise);
      }
      if (r.status == SUBQ_OK) {
        r.gbps = (double)(n * n) * 8.0 / (r.ms_median * 1e-3) * 1e-9;
        bench_sink += pb.w1[0];
      }
    }
  }
  bench_output_result(opts, &r);
  bench_free(M), bench_free(pb.w1), bench_free(pb.w2), bench_free(tmp);
  return rc;
}

int bench_monarch_main(const bench_opts *opts) {
  bench_output_section(opts, "monarch: y = P2 L P1 R x, prepacked weights (GFLOP/s at 4 n^2/blocks per token)");
  if (!opts->no_peak) bench_peak_prepare(opts, true);
  int rc = 0;
  for (int i = 0; i < g_ncfg; i++) rc |= g_cfgs[i].project ? run_project(opts, &g_cfgs[i]) : run_cfg(opts, &g_cfgs[i]);
  return rc;
}
