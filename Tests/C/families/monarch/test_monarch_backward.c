/*
 * test_monarch_backward.c — subq_monarch_backward against the float64 formulas
 * of spec §7 on every ISA path (odd shapes incl. k != l, q != p, r != s, l not
 * dividing q, q < l, block-diagonal), the float64 formulas against central
 * finite differences of the float64 forward, determinism over thread counts
 * and executors, the context's reused workspace (calls of changing shapes in a
 * row, two threads sharing one context, token counts past one run's chunks), the
 * forward's saved stage 1 feeding the backward, bad input. fp32 tolerance: relF <= 1e-5 per gradient (spec §11;
 * chains over s + q for dX, over T = 1000 tokens for the weights).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ref/subq_ref_monarch.h"
#include "support/subq_test.h"

typedef struct bshape {
  int64_t k, q, p, l, s, r; /* l == 0: block-diagonal */
} bshape;

static const bshape shapes[] = {
    {4, 4, 4, 4, 4, 4},   {3, 6, 5, 2, 7, 9},  {4, 6, 3, 4, 5, 6},       {6, 2, 3, 4, 5, 3},
    {1, 9, 7, 1, 6, 9},   {13, 6, 5, 13, 7, 6}, {16, 20, 33, 4, 17, 80}, {64, 8, 16, 16, 24, 32},
    {8, 192, 96, 24, 16, 64}, {4, 7, 5, 0, 0, 0}, {16, 3, 9, 0, 0, 0},
};
#define NS ((int)(sizeof shapes / sizeof shapes[0]))

static int64_t bn(const bshape *s) { return s->k * s->p; }
static int64_t bm(const bshape *s) { return s->l ? s->l * s->s : s->k * s->q; }

static double relf(const float *got, const double *want, int64_t n) {
  double e = 0, w = 0;
  for (int64_t i = 0; i < n; i++) e += (got[i] - want[i]) * (got[i] - want[i]), w += want[i] * want[i];
  return w > 0 ? sqrt(e / w) : sqrt(e);
}

typedef struct bcase {
  const bshape *s;
  int64_t T, n, m, e1, e2;
  float *w1, *w2, *x, *g;
  double *gx, *gw1, *gw2, *gb; /* oracle */
} bcase;

static void bcase_make(bcase *c, const bshape *s, int64_t T, unsigned long long seed) {
  memset(c, 0, sizeof *c);
  c->s = s, c->T = T, c->n = bn(s), c->m = bm(s);
  c->e1 = s->k * s->q * s->p, c->e2 = s->l * s->s * s->r;
  c->w1 = malloc((size_t)c->e1 * 4), c->w2 = malloc((size_t)(c->e2 + 1) * 4);
  c->x = malloc((size_t)(T * c->n) * 4), c->g = malloc((size_t)(T * c->m) * 4);
  subq_fill_random(c->w1, c->e1, seed), subq_fill_random(c->w2, c->e2, seed + 1);
  subq_fill_random(c->x, T * c->n, seed + 2), subq_fill_random(c->g, T * c->m, seed + 3);
  double *w1d = malloc((size_t)c->e1 * 8), *w2d = malloc((size_t)(c->e2 + 1) * 8);
  double *xd = malloc((size_t)(T * c->n) * 8), *gd = malloc((size_t)(T * c->m) * 8);
  for (int64_t i = 0; i < c->e1; i++) w1d[i] = c->w1[i];
  for (int64_t i = 0; i < c->e2; i++) w2d[i] = c->w2[i];
  for (int64_t i = 0; i < T * c->n; i++) xd[i] = c->x[i];
  for (int64_t i = 0; i < T * c->m; i++) gd[i] = c->g[i];
  c->gx = malloc((size_t)(T * c->n) * 8), c->gw1 = malloc((size_t)c->e1 * 8);
  c->gw2 = malloc((size_t)(c->e2 + 1) * 8), c->gb = malloc((size_t)c->m * 8);
  subq_ref_monarch_shape rs = {s->k, s->q, s->p, s->l, s->s, s->r};
  subq_ref_monarch_backward(&rs, w1d, w2d, T, xd, gd, c->gx, c->gw1, s->l ? c->gw2 : NULL, c->gb);
  free(w1d), free(w2d), free(xd), free(gd);
}

static void bcase_free(bcase *c) {
  free(c->w1), free(c->w2), free(c->x), free(c->g), free(c->gx), free(c->gw1), free(c->gw2), free(c->gb);
}

static subq_monarch_weights *pack(subq_context *ctx, const bcase *c) {
  subq_monarch_desc d;
  if (c->s->l) {
    subq_monarch_desc_default(&d, sizeof d);
    d.k = c->s->k, d.q = c->s->q, d.p = c->s->p, d.l = c->s->l, d.s = c->s->s, d.r = c->s->r;
  } else {
    CHECK_OK(subq_blockdiag_desc(c->n, c->m, c->s->k, &d));
  }
  subq_monarch_weights *w = NULL;
  CHECK_OK(subq_monarch_weights_create(ctx, &d, c->w1, c->s->l ? c->w2 : NULL, &w));
  return w;
}

/* Runs the backward with all outputs; returns them in one buffer (gx, gw1, gw2, gb). */
static float *run(subq_context *ctx, const bcase *c, subq_monarch_weights *w, int64_t *total) {
  const int64_t T = c->T, tot = T * c->n + c->e1 + c->e2 + c->m;
  float *out = malloc((size_t)tot * 4);
  for (int64_t i = 0; i < tot; i++) out[i] = NAN; /* outputs are overwritten, never read */
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  a.tokens = T, a.x = c->x, a.ldx = c->n, a.grad_y = c->g, a.ldgy = c->m;
  a.grad_x = out, a.ldgx = c->n;
  a.grad_w1 = out + T * c->n;
  a.grad_w2 = c->s->l ? out + T * c->n + c->e1 : NULL;
  a.grad_bias = out + T * c->n + c->e1 + c->e2;
  if (w) CHECK_OK(subq_monarch_backward(ctx, w, &a));
  *total = tot;
  return out;
}

static void vs_oracle(void) {
  subq_isa isas[8];
  const int ni = subq_test_isas(isas);
  static const int64_t toks[] = {1, 3, 1000};
  for (int si = 0; si < NS; si++)
    for (int ti = 0; ti < 3; ti++) {
      bcase c;
      bcase_make(&c, &shapes[si], toks[ti], (unsigned long long)(si * 10 + ti + 1));
      for (int ii = 0; ii < ni; ii++) {
        if (ti == 2 && c.n * c.m > 100000 && (isas[ii] == SUBQ_ISA_SCALAR || getenv("SUBQ_TEST_EMULATOR"))) continue;
        subq_context *ctx = subq_test_context(isas[ii], 2);
        subq_monarch_weights *w = pack(ctx, &c);
        int64_t tot;
        float *o = run(ctx, &c, w, &tot);
        const char *in = subq_isa_name(isas[ii]);
        const float *gx = o, *gw1 = o + c.T * c.n, *gw2 = gw1 + c.e1, *gb = gw2 + c.e2;
        CHECK_MSG(relf(gx, c.gx, c.T * c.n) <= 1e-5, "[%s] shape %d T %lld: grad_x relF %.3g", in, si, (long long)c.T,
                  relf(gx, c.gx, c.T * c.n));
        CHECK_MSG(relf(gw1, c.gw1, c.e1) <= 1e-5, "[%s] shape %d T %lld: grad_w1 relF %.3g", in, si, (long long)c.T,
                  relf(gw1, c.gw1, c.e1));
        if (c.e2)
          CHECK_MSG(relf(gw2, c.gw2, c.e2) <= 1e-5, "[%s] shape %d T %lld: grad_w2 relF %.3g", in, si,
                    (long long)c.T, relf(gw2, c.gw2, c.e2));
        CHECK_MSG(relf(gb, c.gb, c.m) <= 1e-5, "[%s] shape %d T %lld: grad_bias relF %.3g", in, si, (long long)c.T,
                  relf(gb, c.gb, c.m));
        free(o);
        subq_monarch_weights_destroy(w);
        subq_context_destroy(ctx);
      }
      bcase_free(&c);
    }
}

/* The float64 formulas against central differences of L = sum g . y (float64 forward). */
static double loss(const subq_ref_monarch_shape *rs, const double *w1, const double *w2, int64_t T, const double *x,
                   const double *g, int64_t m, double *y) {
  subq_ref_monarch_apply(rs, w1, w2, T, x, y, NULL);
  double L = 0;
  for (int64_t i = 0; i < T * m; i++) L += g[i] * y[i];
  return L;
}

static void finite_differences(void) {
  static const bshape fs[] = {{3, 6, 5, 2, 7, 9}, {6, 2, 3, 4, 5, 3}, {4, 7, 5, 0, 0, 0}};
  for (int si = 0; si < 3; si++) {
    const bshape *s = &fs[si];
    const int64_t T = 5, n = bn(s), m = bm(s), e1 = s->k * s->q * s->p, e2 = s->l * s->s * s->r;
    subq_ref_monarch_shape rs = {s->k, s->q, s->p, s->l, s->s, s->r};
    subq_rng g = {(unsigned long long)(77 + si)};
    double *w1 = malloc((size_t)e1 * 8), *w2 = malloc((size_t)(e2 + 1) * 8), *x = malloc((size_t)(T * n) * 8);
    double *gy = malloc((size_t)(T * m) * 8), *y = malloc((size_t)(T * m) * 8);
    double *gx = malloc((size_t)(T * n) * 8), *gw1 = malloc((size_t)e1 * 8), *gw2 = malloc((size_t)(e2 + 1) * 8);
    for (int64_t i = 0; i < e1; i++) w1[i] = subq_rng_float(&g);
    for (int64_t i = 0; i < e2; i++) w2[i] = subq_rng_float(&g);
    for (int64_t i = 0; i < T * n; i++) x[i] = subq_rng_float(&g);
    for (int64_t i = 0; i < T * m; i++) gy[i] = subq_rng_float(&g);
    subq_ref_monarch_backward(&rs, w1, w2, T, x, gy, gx, gw1, s->l ? gw2 : NULL, NULL);
    const double h = 1e-5;
    double worst = 0;
    double *vars[3] = {w1, w2, x}, *grads[3] = {gw1, gw2, gx};
    const int64_t cnt[3] = {e1, e2, T * n};
    for (int v = 0; v < 3; v++)
      for (int64_t idx = 0; idx < cnt[v]; idx += 1 + cnt[v] / 40) {
        const double keep = vars[v][idx];
        vars[v][idx] = keep + h;
        const double lp = loss(&rs, w1, w2, T, x, gy, m, y);
        vars[v][idx] = keep - h;
        const double lm = loss(&rs, w1, w2, T, x, gy, m, y);
        vars[v][idx] = keep;
        const double fd = (lp - lm) / (2 * h);
        worst = fmax(worst, fabs(fd - grads[v][idx]) / fmax(1.0, fabs(grads[v][idx])));
      }
    CHECK_MSG(worst <= 1e-7, "finite differences, shape %d: %.3g", si, worst);
    free(w1), free(w2), free(x), free(gy), free(y), free(gx), free(gw1), free(gw2);
  }
}

static void determinism(void) {
  static const int threads[] = {1, 2, 3, 5};
  for (int si = 6; si < NS; si += 3) {
    bcase c;
    bcase_make(&c, &shapes[si], 300, 5);
    float *first = NULL;
    int64_t tot = 0;
    for (int run_i = 0; run_i < 6; run_i++) {
      subq_context *ctx = NULL;
      if (run_i == 4) {
        subq_executor ex = subq_test_shuffled_executor();
        CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
      } else if (run_i < 4) {
        ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run_i]);
      }
      subq_monarch_weights *w = pack(ctx, &c);
      float *o = run(ctx, &c, w, &tot);
      if (!first) first = o;
      else {
        CHECK_MSG(memcmp(first, o, (size_t)tot * 4) == 0, "backward determinism shape %d run %d", si, run_i);
        free(o);
      }
      subq_monarch_weights_destroy(w);
      subq_context_destroy(ctx);
    }
    free(first);
    bcase_free(&c);
  }
}

/* The forward's stage-1 output (args.stage1) and its use in the backward: on
 * every ISA path and in every forward mode (one fused item, phased, fused tiles;
 * plain, lanes and transpose-then-bdmm stage 2), y is bitwise the y of a call
 * without stage1, stage1 matches float64 u = R x with its row padding untouched,
 * and the backward given stage1 gives bitwise the gradients of the recomputing
 * backward (and needs no x for grad_w2 alone). */
static void saved_stage1(void) {
  subq_isa isas[8];
  const int ni = subq_test_isas(isas);
  static const int64_t toks[] = {1, 3, 20, 300};
  for (int si = 0; si < NS; si++) {
    if (!shapes[si].l) continue;
    for (int ti = 0; ti < 4; ti++) {
      bcase c;
      bcase_make(&c, &shapes[si], toks[ti], (unsigned long long)(700 + si * 10 + ti));
      const bshape *sh = c.s;
      const int64_t T = c.T, N = sh->k * sh->q, ldu = N + 3;
      double *uref = malloc((size_t)(T * N) * 8);
      for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < sh->k; i++)
          for (int64_t a = 0; a < sh->q; a++) {
            double acc = 0;
            for (int64_t e = 0; e < sh->p; e++)
              acc += (double)c.w1[(i * sh->q + a) * sh->p + e] * c.x[t * c.n + i * sh->p + e];
            uref[t * N + i * sh->q + a] = acc;
          }
      for (int ii = 0; ii < ni; ii++) {
        if (T == 300 && c.n * c.m > 100000 && getenv("SUBQ_TEST_EMULATOR")) continue;
        const char *in = subq_isa_name(isas[ii]);
        subq_context *ctx = subq_test_context(isas[ii], 2);
        subq_monarch_weights *w = pack(ctx, &c);
        float *y0 = malloc((size_t)(T * c.m) * 4), *y1 = malloc((size_t)(T * c.m) * 4);
        float *u = malloc((size_t)(T * ldu) * 4);
        for (int64_t i = 0; i < T * ldu; i++) u[i] = -7.25f;
        subq_monarch_args fa;
        subq_monarch_args_default(&fa, sizeof fa);
        fa.tokens = T, fa.x = c.x, fa.ldx = c.n, fa.y = y0, fa.ldy = c.m;
        CHECK_OK(subq_monarch_forward(ctx, w, &fa));
        fa.y = y1, fa.stage1 = u, fa.ldstage1 = ldu;
        CHECK_OK(subq_monarch_forward(ctx, w, &fa));
        CHECK_MSG(memcmp(y0, y1, (size_t)(T * c.m) * 4) == 0, "[%s] shape %d T %lld: y changes with stage1", in, si,
                  (long long)T);
        double e = 0, r = 0;
        bool pad_ok = true;
        for (int64_t t = 0; t < T; t++) {
          for (int64_t j = 0; j < N; j++) {
            const double d = u[t * ldu + j] - uref[t * N + j];
            e += d * d, r += uref[t * N + j] * uref[t * N + j];
          }
          for (int64_t j = N; j < ldu; j++) pad_ok = pad_ok && u[t * ldu + j] == -7.25f;
        }
        CHECK_MSG(sqrt(e / r) <= 1e-6, "[%s] shape %d T %lld: stage1 relF %.3g", in, si, (long long)T, sqrt(e / r));
        CHECK_MSG(pad_ok, "[%s] shape %d T %lld: stage1 written past N", in, si, (long long)T);
        /* the backward with the saved stage 1, against the recomputing one */
        int64_t tot;
        float *want = run(ctx, &c, w, &tot);
        float *got = malloc((size_t)tot * 4);
        for (int64_t i = 0; i < tot; i++) got[i] = NAN;
        subq_monarch_backward_args a;
        subq_monarch_backward_args_default(&a, sizeof a);
        a.tokens = T, a.x = c.x, a.ldx = c.n, a.grad_y = c.g, a.ldgy = c.m, a.grad_x = got, a.ldgx = c.n;
        a.grad_w1 = got + T * c.n, a.grad_w2 = got + T * c.n + c.e1, a.grad_bias = got + T * c.n + c.e1 + c.e2;
        a.stage1 = u, a.ldstage1 = ldu;
        CHECK_OK(subq_monarch_backward(ctx, w, &a));
        CHECK_MSG(memcmp(got, want, (size_t)tot * 4) == 0, "[%s] shape %d T %lld: backward with stage1 differs", in,
                  si, (long long)T);
        /* grad_w2 alone from stage1: x is not needed */
        float *gw2 = malloc((size_t)c.e2 * 4);
        subq_monarch_backward_args_default(&a, sizeof a);
        a.tokens = T, a.grad_y = c.g, a.ldgy = c.m, a.grad_w2 = gw2, a.stage1 = u, a.ldstage1 = ldu;
        CHECK_OK(subq_monarch_backward(ctx, w, &a));
        CHECK_MSG(memcmp(gw2, want + T * c.n + c.e1, (size_t)c.e2 * 4) == 0, "[%s] shape %d T %lld: grad_w2 alone",
                  in, si, (long long)T);
        free(gw2), free(got), free(want), free(u), free(y0), free(y1);
        subq_monarch_weights_destroy(w);
        subq_context_destroy(ctx);
      }
      free(uref);
      bcase_free(&c);
    }
  }
}

/* The same call on a fresh context (2 threads): the reference for reuse checks. */
static float *run_fresh(const bcase *c, int64_t *tot) {
  subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
  subq_monarch_weights *w = pack(ctx, c);
  float *o = run(ctx, c, w, tot);
  subq_monarch_weights_destroy(w);
  subq_context_destroy(ctx);
  return o;
}

/* One context runs backward calls of changing shapes and token counts in a row
 * (its workspace grows, is reused larger than needed, and by forward calls in
 * between): every result equals the same call on a fresh context bit for bit. */
static void workspace_reuse(void) {
  static const struct {
    int si;
    int64_t T;
  } seq[] = {{7, 600}, {1, 3}, {8, 257}, {9, 40}, {7, 600}, {0, 1}, {8, 257}, {10, 513}};
  subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
  for (int i = 0; i < (int)(sizeof seq / sizeof seq[0]); i++) {
    bcase c;
    bcase_make(&c, &shapes[seq[i].si], seq[i].T, (unsigned long long)(100 + i));
    subq_monarch_weights *w = pack(ctx, &c);
    int64_t tot, tot2;
    float *o = run(ctx, &c, w, &tot);
    float *want = run_fresh(&c, &tot2);
    CHECK_MSG(tot == tot2 && memcmp(o, want, (size_t)tot * 4) == 0, "reuse step %d (shape %d, T %lld) differs", i,
              seq[i].si, (long long)seq[i].T);
    CHECK_MSG(relf(o + c.T * c.n, c.gw1, c.e1) <= 1e-5, "reuse step %d: grad_w1 relF %.3g", i,
              relf(o + c.T * c.n, c.gw1, c.e1));
    /* a forward on the same context between backward calls */
    float *y = malloc((size_t)(c.T * c.m) * 4);
    subq_monarch_args fa;
    subq_monarch_args_default(&fa, sizeof fa);
    fa.tokens = c.T, fa.x = c.x, fa.ldx = c.n, fa.y = y, fa.ldy = c.m;
    CHECK_OK(subq_monarch_forward(ctx, w, &fa));
    free(y), free(o), free(want);
    subq_monarch_weights_destroy(w);
    bcase_free(&c);
  }
  subq_context_destroy(ctx);
}

/* Two threads share one context: each repeats its own calls (backward of one
 * shape; forward then backward of another) and must get the serial results. */
typedef struct conc_job {
  subq_context *ctx;
  const bcase *c;
  subq_monarch_weights *w;
  const float *want, *want_y; /* want_y: forward first (NULL: backward only) */
  int64_t tot;
  int iters, fails;
} conc_job;

static int conc_backward(const conc_job *j, float *o) {
  const bcase *c = j->c;
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  a.tokens = c->T, a.x = c->x, a.ldx = c->n, a.grad_y = c->g, a.ldgy = c->m;
  a.grad_x = o, a.ldgx = c->n, a.grad_w1 = o + c->T * c->n;
  a.grad_w2 = c->s->l ? o + c->T * c->n + c->e1 : NULL;
  a.grad_bias = o + c->T * c->n + c->e1 + c->e2;
  if (subq_monarch_backward(j->ctx, j->w, &a) != SUBQ_OK) return 1;
  return memcmp(o, j->want, (size_t)j->tot * 4) != 0;
}

static void *conc_thread(void *arg) {
  conc_job *j = arg;
  float *o = malloc((size_t)j->tot * 4), *y = malloc((size_t)(j->c->T * j->c->m) * 4);
  for (int it = 0; it < j->iters; it++) {
    if (j->want_y) {
      subq_monarch_args fa;
      subq_monarch_args_default(&fa, sizeof fa);
      fa.tokens = j->c->T, fa.x = j->c->x, fa.ldx = j->c->n, fa.y = y, fa.ldy = j->c->m;
      if (subq_monarch_forward(j->ctx, j->w, &fa) != SUBQ_OK ||
          memcmp(y, j->want_y, (size_t)(j->c->T * j->c->m) * 4) != 0)
        j->fails++;
    }
    j->fails += conc_backward(j, o);
  }
  free(o), free(y);
  return NULL;
}

static void shared_context_threads(void) {
  /* A: n = 16 with more tokens than one run's 64 chunks of 256 (two runs per call) */
  static const bshape tiny = {4, 4, 4, 4, 4, 4};
  bcase ca, cb;
  bcase_make(&ca, &tiny, 64 * 256 + 300, 41);
  bcase_make(&cb, &shapes[8], 300, 42);
  int64_t ta, tb;
  float *wa = run_fresh(&ca, &ta), *wb = run_fresh(&cb, &tb);
  const float *ga = wa + ca.T * ca.n, *gb2 = ga + ca.e1, *gbias = gb2 + ca.e2;
  CHECK_MSG(relf(wa, ca.gx, ca.T * ca.n) <= 1e-5 && relf(ga, ca.gw1, ca.e1) <= 1e-5 &&
                relf(gb2, ca.gw2, ca.e2) <= 1e-5 && relf(gbias, ca.gb, ca.m) <= 1e-5,
            "T %lld (two runs): relF %.3g %.3g %.3g %.3g", (long long)ca.T, relf(wa, ca.gx, ca.T * ca.n),
            relf(ga, ca.gw1, ca.e1), relf(gb2, ca.gw2, ca.e2), relf(gbias, ca.gb, ca.m));
  subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
  subq_monarch_weights *w1 = pack(ctx, &ca), *w2 = pack(ctx, &cb);
  float *yb = malloc((size_t)(cb.T * cb.m) * 4);
  subq_monarch_args fa;
  subq_monarch_args_default(&fa, sizeof fa);
  fa.tokens = cb.T, fa.x = cb.x, fa.ldx = cb.n, fa.y = yb, fa.ldy = cb.m;
  CHECK_OK(subq_monarch_forward(ctx, w2, &fa));
  conc_job ja = {ctx, &ca, w1, wa, NULL, ta, 3, 0}, jb = {ctx, &cb, w2, wb, yb, tb, 6, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, conc_thread, &ja) == 0);
  conc_thread(&jb);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_MSG(ja.fails == 0 && jb.fails == 0, "shared context: %d and %d calls differ from the serial results", ja.fails,
            jb.fails);
  subq_monarch_weights_destroy(w1), subq_monarch_weights_destroy(w2);
  subq_context_destroy(ctx);
  free(yb), free(wa), free(wb);
  bcase_free(&ca), bcase_free(&cb);
}

static void bad_inputs(void) {
  bcase c;
  bcase_make(&c, &shapes[1], 4, 9);
  subq_monarch_weights *w = pack(NULL, &c);
  float gx[4 * 15], gw1[90], gw2[126], gb[14];
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  a.tokens = 4, a.x = c.x, a.ldx = 15, a.grad_y = c.g, a.ldgy = 14, a.grad_x = gx, a.ldgx = 15;
  a.grad_w1 = gw1, a.grad_w2 = gw2, a.grad_bias = gb;
  CHECK_OK(subq_monarch_backward(NULL, w, &a));
  a.ldgy = 13;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "ldgy (13)");
  a.ldgy = 14, a.x = NULL;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "x is NULL");
  a.x = c.x, a.ldgx = 3;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "ldgx (3)");
  a.ldgx = 15, a.grad_w1 = gw2 + 10;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "grad_w1 overlaps grad_w2");
  a.grad_w1 = gw1, a.grad_bias = (float *)c.g;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "grad_bias overlaps grad_y");
  a.grad_bias = gb, a.tokens = -2;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "tokens (-2)");
  a.tokens = 0;
  CHECK_OK(subq_monarch_backward(NULL, w, &a));
  CHECK(gw1[0] == 0.0f && gb[13] == 0.0f);
  /* stage1: its stride, its overlap with outputs, and a short struct_size (no stage1) */
  float u[4 * 18];
  a.tokens = 4, a.stage1 = u, a.ldstage1 = 17;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "ldstage1 (17)");
  a.ldstage1 = 18, a.grad_w1 = u;
  CHECK_STATUS(subq_monarch_backward(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "grad_w1 overlaps stage1");
  a.grad_w1 = gw1, a.struct_size = offsetof(subq_monarch_backward_args, stage1), a.ldstage1 = 1;
  CHECK_OK(subq_monarch_backward(NULL, w, &a)); /* stage1 beyond struct_size: not read */
  a.struct_size = sizeof a, a.stage1 = NULL;
  subq_monarch_args fa;
  subq_monarch_args_default(&fa, sizeof fa);
  float y[4 * 14];
  fa.tokens = 4, fa.x = c.x, fa.ldx = 15, fa.y = y, fa.ldy = 14, fa.stage1 = u, fa.ldstage1 = 17;
  CHECK_STATUS(subq_monarch_forward(NULL, w, &fa), SUBQ_ERR_INVALID_ARGUMENT, "ldstage1 (17)");
  fa.ldstage1 = 18, fa.stage1 = y + 2;
  CHECK_STATUS(subq_monarch_forward(NULL, w, &fa), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps stage1");
  fa.stage1 = (float *)c.x;
  CHECK_STATUS(subq_monarch_forward(NULL, w, &fa), SUBQ_ERR_INVALID_ARGUMENT, "stage1 overlaps x");
  fa.stage1 = u, fa.struct_size = offsetof(subq_monarch_args, stage1), fa.ldstage1 = 1;
  CHECK_OK(subq_monarch_forward(NULL, w, &fa));
  /* only grad_x: x may be NULL */
  a.tokens = 4, a.x = NULL, a.grad_w1 = a.grad_w2 = a.grad_bias = NULL;
  CHECK_OK(subq_monarch_backward(NULL, w, &a));
  subq_monarch_weights_destroy(w);
  bcase_free(&c);
  bcase cb;
  bcase_make(&cb, &shapes[9], 2, 3);
  subq_monarch_weights *wb = pack(NULL, &cb);
  a.x = cb.x, a.ldx = cb.n, a.grad_y = cb.g, a.ldgy = cb.m, a.grad_x = gx, a.ldgx = cb.n, a.tokens = 2;
  a.grad_w2 = gw2;
  CHECK_STATUS(subq_monarch_backward(NULL, wb, &a), SUBQ_ERR_INVALID_ARGUMENT, "grad_w2 must be NULL");
  a.grad_w2 = NULL, a.stage1 = gw2, a.ldstage1 = cb.m;
  CHECK_STATUS(subq_monarch_backward(NULL, wb, &a), SUBQ_ERR_INVALID_ARGUMENT, "stage1 must be NULL");
  a.stage1 = NULL;
  subq_monarch_args_default(&fa, sizeof fa);
  fa.tokens = 2, fa.x = cb.x, fa.ldx = cb.n, fa.y = y, fa.ldy = cb.m, fa.stage1 = u, fa.ldstage1 = cb.m;
  CHECK_STATUS(subq_monarch_forward(NULL, wb, &fa), SUBQ_ERR_INVALID_ARGUMENT, "stage1 must be NULL");
  subq_monarch_weights_destroy(wb);
  bcase_free(&cb);
}

int main(void) {
  finite_differences();
  vs_oracle();
  determinism();
  workspace_reuse();
  shared_context_threads();
  saved_stage1();
  bad_inputs();
  return subq_test_finish("test_monarch_backward");
}
