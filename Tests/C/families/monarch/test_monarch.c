/*
 * test_monarch.c — Monarch / block-diagonal forward against the float64
 * oracle on every ISA path the host runs, determinism over thread counts and
 * executors, the dense closed form against the Kronecker identity, bad input.
 *
 * Tolerance: u = one f32 FMA chain over p (error <= p 2^-24 sum|W1 x|, plus
 * its rounding), z = one chain over r on the rounded u, so per element
 * |err| <= (p + r + 2) 2^-24 mag with mag = |W2| |W1| |x| (oracle on absolute
 * values); we allow twice that.
 */
#include <stdint.h>

#include "internal/subq_internal.h"
#include "ref/subq_ref_monarch.h"
#include "support/subq_test.h"

typedef struct mshape {
  int64_t k, q, p, l, s, r; /* l == 0: block-diagonal */
} mshape;

static int64_t sh_n(const mshape *s) { return s->k * s->p; }
static int64_t sh_m(const mshape *s) { return s->l ? s->l * s->s : s->k * s->q; }

static subq_monarch_desc make_desc(const mshape *s, subq_dtype dt) {
  subq_monarch_desc d;
  subq_monarch_desc_default(&d, sizeof d);
  d.k = s->k, d.q = s->q, d.p = s->p, d.l = s->l, d.s = s->s, d.r = s->r, d.dtype = dt;
  if (!s->l) d.kind = SUBQ_MONARCH_KIND_BLOCKDIAG;
  return d;
}

/* Weights N(0,1)-ish scaled by 1/sqrt(fan_in); bf16 variants keep the rounded values. */
typedef struct wset {
  float *w1, *w2;
  uint16_t *h1, *h2;
  double *d1, *d2; /* exact values the kernel sees (f32 or widened bf16) */
  int64_t e1, e2;
} wset;

static void wset_make(wset *w, const mshape *s, subq_dtype dt, unsigned long long seed) {
  memset(w, 0, sizeof *w);
  w->e1 = s->k * s->q * s->p;
  w->e2 = s->l * s->s * s->r;
  w->w1 = malloc((size_t)w->e1 * sizeof(float));
  w->w2 = malloc((size_t)(w->e2 + 1) * sizeof(float));
  subq_fill_random(w->w1, w->e1, seed);
  subq_fill_random(w->w2, w->e2, seed + 1);
  for (int64_t i = 0; i < w->e1; i++) w->w1[i] *= (float)(1.7 / sqrt((double)s->p));
  for (int64_t i = 0; i < w->e2; i++) w->w2[i] *= (float)(1.7 / sqrt((double)s->r));
  w->d1 = malloc((size_t)w->e1 * sizeof(double));
  w->d2 = malloc((size_t)(w->e2 + 1) * sizeof(double));
  if (dt == SUBQ_DTYPE_BF16) {
    w->h1 = malloc((size_t)w->e1 * sizeof(uint16_t));
    w->h2 = malloc((size_t)(w->e2 + 1) * sizeof(uint16_t));
    CHECK_OK(subq_f32_to_bf16(w->w1, w->h1, w->e1));
    CHECK_OK(subq_f32_to_bf16(w->w2, w->h2, w->e2));
    float t;
    for (int64_t i = 0; i < w->e1; i++) {
      CHECK_OK(subq_bf16_to_f32(&w->h1[i], &t, 1));
      w->d1[i] = t;
    }
    for (int64_t i = 0; i < w->e2; i++) {
      CHECK_OK(subq_bf16_to_f32(&w->h2[i], &t, 1));
      w->d2[i] = t;
    }
  } else {
    for (int64_t i = 0; i < w->e1; i++) w->d1[i] = w->w1[i];
    for (int64_t i = 0; i < w->e2; i++) w->d2[i] = w->w2[i];
  }
}

static void wset_free(wset *w) {
  free(w->w1), free(w->w2), free(w->h1), free(w->h2), free(w->d1), free(w->d2);
}

static subq_monarch_weights *pack(subq_context *ctx, const mshape *s, subq_dtype dt, const wset *w) {
  subq_monarch_desc d = make_desc(s, dt);
  subq_monarch_weights *pw = NULL;
  const void *a = dt == SUBQ_DTYPE_BF16 ? (const void *)w->h1 : (const void *)w->w1;
  const void *b = dt == SUBQ_DTYPE_BF16 ? (const void *)w->h2 : (const void *)w->w2;
  CHECK_OK(subq_monarch_weights_create(ctx, &d, a, s->l ? b : NULL, &pw));
  return pw;
}

static int n_cases;
/* A NULL the compiler cannot see (clang warns on literal NULL for non-null parameters). */
static void *volatile g_null;
#define NULLP(T) ((T)g_null)

/* One forward case: padded strides (ldx = n + xpad, ldy = m + ypad), X and Y
 * offset by `off` floats (unaligned), bias optional; sentinels in the padding. */
static void run_case(subq_context *ctx, const char *isa, const mshape *s, subq_dtype dt, int64_t T, int64_t xpad,
                     int64_t ypad, int64_t off, bool bias) {
  const int64_t n = sh_n(s), m = sh_m(s), ldx = n + xpad, ldy = m + ypad;
  char what[200];
  snprintf(what, sizeof what, "[%s] k%lld q%lld p%lld l%lld s%lld r%lld T%lld %s ldx+%lld ldy+%lld off%lld%s", isa,
           (long long)s->k, (long long)s->q, (long long)s->p, (long long)s->l, (long long)s->s, (long long)s->r,
           (long long)T, dt == SUBQ_DTYPE_BF16 ? "bf16" : "f32", (long long)xpad, (long long)ypad, (long long)off,
           bias ? " bias" : "");
  wset w;
  wset_make(&w, s, dt, (unsigned long long)(s->k * 131 + s->q * 17 + s->p * 5 + s->l * 3 + s->s + s->r * 7));
  const size_t xn = (size_t)(T * ldx + off + 1), yn = (size_t)(T * ldy + off + 1);
  float *xb = malloc(xn * sizeof(float)), *yb = malloc(yn * sizeof(float)), *bv = malloc((size_t)m * sizeof(float));
  subq_fill_random(xb, (long long)xn, 99 + (unsigned long long)T);
  subq_fill_random(bv, m, 7);
  const float sentinel = 4321.0f;
  for (size_t e = 0; e < yn; e++) yb[e] = sentinel;
  float *x = xb + off, *y = yb + off;
  double *xd = malloc((size_t)(T * n + 1) * sizeof(double)), *ref = malloc((size_t)(T * m + 1) * sizeof(double)),
         *mag = malloc((size_t)(T * m + 1) * sizeof(double));
  for (int64_t t = 0; t < T; t++)
    for (int64_t e = 0; e < n; e++) xd[t * n + e] = x[t * ldx + e];
  subq_ref_monarch_shape rs = {s->k, s->q, s->p, s->l, s->s, s->r};
  subq_ref_monarch_apply(&rs, w.d1, w.d2, T, xd, ref, mag);

  subq_monarch_weights *pw = pack(ctx, s, dt, &w);
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  a.tokens = T, a.x = x, a.ldx = ldx, a.y = y, a.ldy = ldy, a.bias = bias ? bv : NULL;
  if (pw) {
    subq_status st = subq_monarch_forward(ctx, pw, &a);
    CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
  }
  int bad = 0;
  double num = 0, den = 0;
  for (int64_t t = 0; t < T; t++)
    for (int64_t o = 0; o < m; o++) {
      const double want = ref[t * m + o] + (bias ? (double)bv[o] : 0.0);
      const double got = y[t * ldy + o];
      const double tol = 2.0 * (double)(s->p + s->r + 4) * ldexp(mag[t * m + o] + (bias ? fabs(bv[o]) : 0.0), -24) + 1e-30;
      num += (got - want) * (got - want);
      den += want * want;
      if (!(fabs(got - want) <= tol)) {
        if (bad < 3)
          fprintf(stderr, "  %s: y[%lld][%lld] = %.9g want %.9g (tol %.3g)\n", what, (long long)t, (long long)o, got,
                  want, tol);
        bad++;
      }
    }
  int clobbered = 0;
  for (size_t e = 0; e < yn; e++) {
    const int64_t rel = (int64_t)e - off;
    const bool inside = rel >= 0 && rel < T * ldy && rel % ldy < m;
    if (!inside && yb[e] != sentinel) clobbered++;
  }
  CHECK_MSG(bad == 0, "%s: %d elements outside tolerance", what, bad);
  CHECK_MSG(den == 0 || sqrt(num / den) <= 1e-5, "%s: relF %.3g", what, sqrt(num / den));
  CHECK_MSG(clobbered == 0, "%s: %d padding elements written", what, clobbered);
  n_cases++;
  subq_monarch_weights_destroy(pw);
  free(xb), free(yb), free(bv), free(xd), free(ref), free(mag);
  wset_free(&w);
}

static const mshape shapes[] = {
    {4, 4, 4, 4, 4, 4},         /* square, n = 16 */
    {1, 9, 7, 1, 6, 9},         /* one block each */
    {2, 4, 4, 2, 4, 4},         /* worked example, rank 2 sub-blocks */
    {4, 6, 3, 4, 5, 6},         /* l does not divide q */
    {6, 2, 3, 4, 5, 3},         /* q < l: half the sub-blocks zero */
    {3, 6, 5, 2, 7, 9},         /* k != l, q != p, r != s */
    {5, 3, 7, 3, 2, 5},
    {16, 16, 16, 16, 16, 16},   /* n = 256 */
    {13, 6, 5, 13, 7, 6},       /* l = 13: a partial SIMD lane group */
    {10, 9, 4, 15, 3, 6},       /* l = 15, s = 3 */
    {16, 20, 33, 4, 17, 80},    /* non-square, beyond one NR panel */
    {64, 8, 16, 16, 24, 32},    /* 64 blocks, non-square */
    {64, 64, 64, 64, 64, 64},   /* the anchor shape, n = 4096 */
    {8, 192, 96, 24, 16, 64},   /* fly rectangular 768 -> 384 */
    {4, 7, 5, 0, 0, 0},         /* block-diagonal */
    {1, 33, 17, 0, 0, 0},
    {64, 3, 5, 0, 0, 0},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static void forward_all_isas(void) {
  subq_isa isas[8];
  const int ni = subq_test_isas(isas);
  static const int64_t toks[] = {1, 3, 1000};
  for (int ii = 0; ii < ni; ii++) {
    subq_context *ctx = subq_test_context(isas[ii], 2);
    const char *iname = subq_isa_name(isas[ii]);
    for (int si = 0; si < N_SHAPES; si++) {
      const mshape *s = &shapes[si];
      const bool big = sh_n(s) * sh_m(s) > 200000;
      for (int ti = 0; ti < 3; ti++) {
        /* keeps the scalar and emulated runs short */
        if (big && ti == 2 && (isas[ii] == SUBQ_ISA_SCALAR || getenv("SUBQ_TEST_EMULATOR"))) continue;
        run_case(ctx, iname, s, SUBQ_DTYPE_F32, toks[ti], ti, 2 * ti, ti == 1 ? 1 : 0, ti != 0);
      }
      run_case(ctx, iname, s, SUBQ_DTYPE_BF16, big ? 7 : 65, 3, 0, 1, true);
    }
    subq_context_destroy(ctx);
  }
}

/* The oracle itself: the four-loop apply equals the closed-form dense matrix,
 * and A (x) B is the Monarch with W1[i] = B, W2[j] = A (spec §1). */
static void oracle_identities(void) {
  /* A (3 x 5) (x) B (4 x 2): k = 5, q = 4, p = 2, l = 4, s = 3, r = 5 */
  double A[15], B[8];
  for (int i = 0; i < 15; i++) A[i] = (double)((i * 7) % 11) - 5.0;
  for (int i = 0; i < 8; i++) B[i] = (double)((i * 5) % 7) - 3.0;
  subq_ref_monarch_shape rs = {5, 4, 2, 4, 3, 5};
  double w1[5 * 8], w2[4 * 15], M[12 * 10];
  for (int i = 0; i < 5; i++) memcpy(w1 + i * 8, B, sizeof B);
  for (int j = 0; j < 4; j++) memcpy(w2 + j * 15, A, sizeof A);
  subq_ref_monarch_dense(&rs, w1, w2, M);
  int bad = 0;
  for (int r1 = 0; r1 < 3; r1++)
    for (int r2 = 0; r2 < 4; r2++)
      for (int c1 = 0; c1 < 5; c1++)
        for (int c2 = 0; c2 < 2; c2++)
          if (M[(r1 * 4 + r2) * 10 + c1 * 2 + c2] != A[r1 * 5 + c1] * B[r2 * 2 + c2]) bad++;
  CHECK_MSG(bad == 0, "kronecker: %d entries differ", bad);
  /* dense . x == apply(x) on the irregular shapes */
  for (int si = 0; si < N_SHAPES; si++) {
    const mshape *s = &shapes[si];
    if (!s->l || sh_n(s) * sh_m(s) > 100000) continue;
    const int64_t n = sh_n(s), m = sh_m(s);
    subq_ref_monarch_shape r2 = {s->k, s->q, s->p, s->l, s->s, s->r};
    wset w;
    wset_make(&w, s, SUBQ_DTYPE_F32, 5);
    double *D = malloc((size_t)(m * n) * sizeof(double)), *x = malloc((size_t)n * sizeof(double)),
           *y = malloc((size_t)m * sizeof(double));
    for (int64_t e = 0; e < n; e++) x[e] = sin((double)e + 1.0);
    subq_ref_monarch_dense(&r2, w.d1, w.d2, D);
    subq_ref_monarch_apply(&r2, w.d1, w.d2, 1, x, y, NULL);
    double worst = 0;
    for (int64_t o = 0; o < m; o++) {
      double acc = 0;
      for (int64_t e = 0; e < n; e++) acc += D[o * n + e] * x[e];
      if (fabs(acc - y[o]) > worst) worst = fabs(acc - y[o]);
    }
    CHECK_MSG(worst < 1e-12, "dense vs apply, shape %d: %.3g", si, worst);
    free(D), free(x), free(y);
    wset_free(&w);
  }
}

/* Bitwise identical over thread counts, the shuffled executor and ctx == NULL,
 * in both the phased (few tokens) and fused (many tokens) modes. */
static void determinism(void) {
  static const mshape ds[] = {{64, 8, 16, 16, 24, 32}, {16, 20, 33, 4, 17, 80}, {8, 12, 8, 0, 0, 0}};
  static const int64_t toks[] = {5, 700};
  static const int threads[] = {1, 2, 3, 5, 8};
  for (int si = 0; si < 3; si++)
    for (int ti = 0; ti < 2; ti++) {
      const mshape *s = &ds[si];
      const int64_t n = sh_n(s), m = sh_m(s), T = toks[ti];
      wset w;
      wset_make(&w, s, SUBQ_DTYPE_F32, 3);
      float *x = malloc((size_t)(T * n) * sizeof(float)), *bias = malloc((size_t)m * sizeof(float));
      subq_fill_random(x, T * n, 11);
      subq_fill_random(bias, m, 12);
      float *first = NULL;
      for (int run = 0; run < 7; run++) {
        subq_context *ctx = NULL;
        if (run == 5) {
          subq_executor ex = subq_test_shuffled_executor();
          CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
        } else if (run < 5) {
          ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run]);
        }
        subq_monarch_weights *pw = pack(ctx, s, SUBQ_DTYPE_F32, &w);
        float *y = malloc((size_t)(T * m) * sizeof(float));
        subq_monarch_args a;
        subq_monarch_args_default(&a, sizeof a);
        a.tokens = T, a.x = x, a.ldx = n, a.y = y, a.ldy = m, a.bias = bias;
        if (pw) CHECK_OK(subq_monarch_forward(ctx, pw, &a));
        if (!first) first = y;
        else {
          CHECK_MSG(memcmp(first, y, (size_t)(T * m) * sizeof(float)) == 0, "determinism shape %d T %lld run %d", si,
                    (long long)T, run);
          free(y);
        }
        subq_monarch_weights_destroy(pw);
        subq_context_destroy(ctx);
      }
      free(first), free(x), free(bias);
      wset_free(&w);
    }
}

/* The phased (few tokens) and fused (many tokens) modes give the same bits per token. */
static void modes_agree(void) {
  static const mshape ms[] = {{64, 8, 16, 16, 24, 32}, {4, 6, 3, 4, 5, 6}, {64, 64, 64, 64, 64, 64}};
  for (int si = 0; si < 3; si++) {
    const mshape *s = &ms[si];
    /* 800 tokens: >= 8 tiles whatever the L2 size, so the fused mode (and, with
     * lanes weights, its transpose-then-bdmm stage 2) runs */
    const int64_t n = sh_n(s), m = sh_m(s), T = 800;
    wset w;
    wset_make(&w, s, SUBQ_DTYPE_F32, 31);
    float *x = malloc((size_t)(T * n) * sizeof(float)), *y1 = malloc((size_t)(T * m) * sizeof(float));
    float *y2 = malloc((size_t)(5 * m) * sizeof(float));
    subq_fill_random(x, T * n, 32);
    subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
    subq_monarch_weights *pw = pack(ctx, s, SUBQ_DTYPE_F32, &w);
    subq_monarch_args a;
    subq_monarch_args_default(&a, sizeof a);
    a.tokens = T, a.x = x, a.ldx = n, a.y = y1, a.ldy = m;
    if (pw) CHECK_OK(subq_monarch_forward(ctx, pw, &a));
    a.tokens = 5, a.x = x + 100 * n, a.y = y2;
    if (pw) CHECK_OK(subq_monarch_forward(ctx, pw, &a));
    CHECK_MSG(memcmp(y1 + 100 * m, y2, (size_t)(5 * m) * sizeof(float)) == 0, "fused vs phased, shape %d", si);
    subq_monarch_weights_destroy(pw);
    subq_context_destroy(ctx);
    free(x), free(y1), free(y2);
    wset_free(&w);
  }
}

/* Every ISA path computes the same FMA chains (bdmm, lanes, scalar): bitwise equal. */
static void isas_agree(void) {
  subq_isa isas[8];
  const int ni = subq_test_isas(isas);
  static const mshape as[] = {{64, 8, 16, 16, 24, 32}, {13, 6, 5, 13, 7, 6}, {4, 6, 3, 4, 5, 6}, {8, 12, 8, 0, 0, 0}};
  /* shape 0 also with 1030 tokens: >= 8 tiles (of <= 128), the fused mode with,
   * for lanes weights, its transpose-then-bdmm stage 2 */
  for (int ci = 0; ci < 5; ci++) {
    const int si = ci < 4 ? ci : 0;
    const mshape *s = &as[si];
    const int64_t n = sh_n(s), m = sh_m(s), T = ci < 4 ? 37 : 1030;
    wset w;
    wset_make(&w, s, SUBQ_DTYPE_F32, 21);
    float *x = malloc((size_t)(T * n) * sizeof(float)), *bias = malloc((size_t)m * sizeof(float));
    subq_fill_random(x, T * n, 22);
    subq_fill_random(bias, m, 23);
    float *first = NULL;
    for (int ii = 0; ii < ni; ii++) {
      subq_context *ctx = subq_test_context(isas[ii], 2);
      subq_monarch_weights *pw = pack(ctx, s, SUBQ_DTYPE_F32, &w);
      float *y = malloc((size_t)(T * m) * sizeof(float));
      subq_monarch_args a;
      subq_monarch_args_default(&a, sizeof a);
      a.tokens = T, a.x = x, a.ldx = n, a.y = y, a.ldy = m, a.bias = bias;
      if (pw) CHECK_OK(subq_monarch_forward(ctx, pw, &a));
      if (!first) {
        first = y;
      } else {
        CHECK_MSG(memcmp(first, y, (size_t)(T * m) * sizeof(float)) == 0, "isa %s differs from scalar, shape %d T %lld",
                  subq_isa_name(isas[ii]), si, (long long)T);
        free(y);
      }
      subq_monarch_weights_destroy(pw);
      subq_context_destroy(ctx);
    }
    free(first), free(x), free(bias);
    wset_free(&w);
  }
}

static void bad_inputs(void) {
  subq_monarch_desc d;
  subq_monarch_desc_default(&d, sizeof d);
  d.k = 4, d.q = 6, d.p = 3, d.l = 4, d.s = 5, d.r = 5; /* k q = 24 != l r = 20 */
  int64_t n, m;
  CHECK_STATUS(subq_monarch_desc_check(&d, &n, &m), SUBQ_ERR_INVALID_ARGUMENT, "k*q (24) != l*r (20)");
  d.r = 6;
  CHECK_OK(subq_monarch_desc_check(&d, &n, &m));
  CHECK(n == 12 && m == 20);
  d.p = 0;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "desc->p (0) must be > 0");
  d.p = -3;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "desc->p (-3)");
  d.p = 3, d.dtype = SUBQ_DTYPE_I8;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "desc->dtype");
  d.dtype = SUBQ_DTYPE_F32, d.kind = (subq_monarch_kind)7;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "desc->kind (7)");
  d.kind = SUBQ_MONARCH_KIND_MONARCH;
  d.k = d.l = (int64_t)1 << 40, d.q = d.r = (int64_t)1 << 30;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "overflow");
  CHECK_STATUS(subq_monarch_desc_check(NULLP(const subq_monarch_desc *), NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "desc is NULL");
  d.struct_size = 4;
  d.k = 4, d.q = 6, d.l = 4, d.r = 6;
  CHECK_STATUS(subq_monarch_desc_check(&d, NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");

  subq_monarch_desc bd;
  CHECK_STATUS(subq_blockdiag_desc(1000, 999, 3, &bd), SUBQ_ERR_INVALID_ARGUMENT, "in (1000) is not a multiple of nblocks (3)");
  CHECK_STATUS(subq_blockdiag_desc(999, 1000, 3, &bd), SUBQ_ERR_INVALID_ARGUMENT, "out (1000) is not a multiple of nblocks (3)");
  CHECK_STATUS(subq_blockdiag_desc(12, 12, 0, &bd), SUBQ_ERR_INVALID_ARGUMENT, "nblocks (0)");
  CHECK_OK(subq_blockdiag_desc(12, 8, 4, &bd));
  CHECK(bd.kind == SUBQ_MONARCH_KIND_BLOCKDIAG && bd.k == 4 && bd.q == 2 && bd.p == 3);

  subq_monarch_desc ld;
  int64_t ie, oe;
  CHECK_OK(subq_monarch_linear_shapes(1000, 4096, 3, &ld, &ie, &oe));
  CHECK(ie == 1002 && oe == 4098 && ld.k == 3 && ld.p == 334 && ld.q == 334 && ld.s == 1366 && ld.r == 334);
  CHECK_OK(subq_monarch_desc_check(&ld, &n, &m));
  CHECK(n == ie && m == oe);
  CHECK_OK(subq_monarch_linear_shapes(768, 384, 4, &ld, &ie, &oe));
  CHECK(ld.q == 96 && ld.p == 192 && ld.s == 96 && ld.r == 96);
  CHECK_STATUS(subq_monarch_linear_shapes(0, 4, 2, &ld, &ie, &oe), SUBQ_ERR_INVALID_ARGUMENT, "in (0)");

  /* weights and forward */
  mshape s = {4, 6, 3, 4, 5, 6};
  wset w;
  wset_make(&w, &s, SUBQ_DTYPE_F32, 1);
  subq_monarch_desc good = make_desc(&s, SUBQ_DTYPE_F32);
  subq_monarch_weights *pw = NULL;
  CHECK_STATUS(subq_monarch_weights_create(NULL, &good, NULLP(const void *), w.w2, &pw), SUBQ_ERR_INVALID_ARGUMENT, "w1 is NULL");
  CHECK_STATUS(subq_monarch_weights_create(NULL, &good, w.w1, NULL, &pw), SUBQ_ERR_INVALID_ARGUMENT, "w2 is NULL");
  CHECK(pw == NULL);
  CHECK_OK(subq_monarch_weights_create(NULL, &good, w.w1, w.w2, &pw));
  CHECK(subq_monarch_weights_size(pw) > (size_t)(w.e1 + w.e2) * sizeof(float));
  CHECK(strstr(subq_monarch_weights_ukernel(pw), "bdmm") != NULL);
  subq_monarch_desc back;
  subq_monarch_desc_default(&back, sizeof back);
  subq_monarch_weights_get_desc(pw, &back);
  CHECK(back.k == 4 && back.q == 6 && back.p == 3 && back.l == 4 && back.s == 5 && back.r == 6);
  float x[2 * 16], y[2 * 24], bias[20];
  memset(x, 0, sizeof x);
  memset(bias, 0, sizeof bias);
  for (int i = 0; i < 48; i++) y[i] = 7.0f;
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  a.tokens = 2, a.x = x, a.ldx = 12, a.y = y, a.ldy = 20;
  CHECK_STATUS(subq_monarch_forward(NULL, NULLP(const subq_monarch_weights *), &a), SUBQ_ERR_INVALID_ARGUMENT, "w is NULL");
  CHECK_STATUS(subq_monarch_forward(NULL, pw, NULLP(const subq_monarch_args *)), SUBQ_ERR_INVALID_ARGUMENT, "args is NULL");
  a.ldx = 11;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "ldx (11) is smaller than the row length (12)");
  a.ldx = 12, a.ldy = 19;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "ldy (19)");
  a.ldy = 20, a.tokens = -1;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "tokens (-1) < 0");
  a.tokens = 2, a.x = NULL;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "x is NULL");
  a.x = x, a.y = NULL;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "y is NULL");
  a.y = x;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps x");
  a.y = y, a.bias = y + 5;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps bias");
  a.bias = NULL, a.ldx = INT64_MAX / 2;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "overflows");
  a.ldx = 12;
  struct {
    subq_monarch_args a;
    uint64_t extra;
  } newer = {a, 1};
  newer.a.struct_size = sizeof newer;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &newer.a), SUBQ_ERR_UNSUPPORTED, "newer than this library");
  a.struct_size = 3;
  CHECK_STATUS(subq_monarch_forward(NULL, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
  a.struct_size = sizeof a;
  int untouched = 0;
  for (int i = 0; i < 48; i++) untouched += y[i] == 7.0f;
  CHECK_MSG(untouched == 48, "failed calls wrote y");
  /* one token: any row stride is legal (the AVX2 kernel formed 5 * ldx for
   * rows it did not have, overflowing int64: UB; found by fuzz_kernel_args) */
  a.tokens = 1, a.ldx = INT64_MAX / 4, a.ldy = INT64_MAX / 4;
  CHECK_OK(subq_monarch_forward(NULL, pw, &a));
  a.tokens = 2, a.ldx = 12, a.ldy = 20;
  for (int i = 0; i < 48; i++) y[i] = 7.0f;
  a.tokens = 0;
  CHECK_OK(subq_monarch_forward(NULL, pw, &a));
  /* weights packed for a better ISA than a context allows */
  if (strstr(subq_monarch_weights_ukernel(pw), "scalar") == NULL) {
    subq_context *sc = subq_test_context(SUBQ_ISA_SCALAR, 1);
    a.tokens = 2;
    CHECK_STATUS(subq_monarch_forward(sc, pw, &a), SUBQ_ERR_INVALID_ARGUMENT, "which ctx does not allow");
    subq_context_destroy(sc);
  }
  subq_monarch_weights_destroy(pw);
  subq_monarch_weights_destroy(NULL);
  wset_free(&w);
}

int main(void) {
  oracle_identities();
  bad_inputs();
  forward_all_isas();
  determinism();
  isas_agree();
  modes_agree();
  printf("monarch forward cases: %d\n", n_cases);
  return subq_test_finish("test_monarch");
}
