/*
 * test_gemm.c — subq_gemm, subq_sgemm, prepacked B and bf16 helpers against
 * a float64 oracle, on every ISA path the host runs.
 *
 * Tolerance: each C element is a chain of k f32 FMAs (split in KC blocks,
 * alpha applied per block), plus the alpha and beta roundings, so
 * |err| <= (k + 2 * ceil(k / 64) + 3) * 2^-24 * M with
 * M = |alpha| sum_p |a_ip b_pj| + |beta c_ij|; we allow 2 (k + 8) 2^-24 M.
 * bf16 inputs are compared against the oracle fed the exactly widened values.
 */
#include <float.h>
#include <stdint.h>

#include "internal/subq_internal.h"
#include "ref/subq_ref_gemm.h"
#include "support/subq_test.h"

/* ---- operands with arbitrary layouts ---------------------------------------------- */

enum { LAY_ROW, LAY_COL, LAY_ROW_PAD, LAY_COL_PAD, LAY_N };
static const char *lay_name[LAY_N] = {"row", "col", "rowpad", "colpad"};

typedef struct operand {
  subq_dtype dt;
  int64_t rows, cols, batch, rs, cs, bs;
  size_t count; /* elements allocated */
  void *data;
  double *logical; /* batch x rows x cols, exact values */
} operand;

static void strides_for(int lay, int64_t rows, int64_t cols, int64_t *rs, int64_t *cs, int64_t *span) {
  switch (lay) {
    case LAY_ROW: *rs = cols, *cs = 1; break;
    case LAY_COL: *rs = 1, *cs = rows; break;
    case LAY_ROW_PAD: *rs = cols + 3, *cs = 1; break;
    default: *rs = 1, *cs = rows + 5; break;
  }
  if (*rs < 1) *rs = 1;
  if (*cs < 1) *cs = 1;
  *span = (rows ? (rows - 1) * *rs : 0) + (cols ? (cols - 1) * *cs : 0) + 1;
}

static double elem_value(const operand *o, size_t off) {
  if (o->dt == SUBQ_DTYPE_BF16) {
    uint32_t u = (uint32_t)((const uint16_t *)o->data)[off] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  return ((const float *)o->data)[off];
}

/* share: batch stride 0 (one matrix for the whole batch). */
static void operand_make(operand *o, subq_dtype dt, int lay, int64_t rows, int64_t cols, int64_t batch, bool share,
                         unsigned long long seed) {
  memset(o, 0, sizeof *o);
  o->dt = dt, o->rows = rows, o->cols = cols, o->batch = batch;
  int64_t span;
  strides_for(lay, rows, cols, &o->rs, &o->cs, &span);
  o->bs = share ? 0 : span + 7;
  o->count = (size_t)((batch > 1 ? (batch - 1) * o->bs : 0) + span);
  float *f = malloc(o->count * sizeof(float));
  subq_fill_random(f, (long long)o->count, seed);
  if (dt == SUBQ_DTYPE_BF16) {
    o->data = malloc(o->count * sizeof(uint16_t));
    CHECK_OK(subq_f32_to_bf16(f, o->data, (int64_t)o->count));
    free(f);
  } else {
    o->data = f;
  }
  o->logical = malloc((size_t)(batch * rows * cols + 1) * sizeof(double));
  for (int64_t t = 0; t < batch; t++)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++)
        o->logical[(t * rows + i) * cols + j] = elem_value(o, (size_t)(t * o->bs + i * o->rs + j * o->cs));
}

static void operand_free(operand *o) {
  free(o->data);
  free(o->logical);
}

/* ---- one case ------------------------------------------------------------------------ */

typedef struct gcase {
  int64_t m, n, k, batch;
  int la, lb, lc;
  subq_dtype at, bt;
  float alpha, beta;
  bool share_a, share_b;
  int api; /* 0 subq_gemm, 1 prepacked B, 2 subq_sgemm */
} gcase;

static int n_cases_run;

static void run_case(subq_context *ctx, const gcase *g, const char *what) {
  operand A, B, C;
  const unsigned long long seed = (unsigned long long)(g->m * 1000003 + g->n * 1009 + g->k * 7 + g->la * 3 + g->lb);
  operand_make(&A, g->at, g->la, g->m, g->k, g->batch, g->share_a, seed + 1);
  operand_make(&B, g->bt, g->lb, g->k, g->n, g->batch, g->share_b, seed + 2);
  operand_make(&C, SUBQ_DTYPE_F32, g->lc, g->m, g->n, g->batch, false, seed + 3);
  float *c = C.data;
  /* beta == 0: C must not be read, so pre-fill the matrix with NaN; padding
   * keeps a sentinel that must survive */
  const float sentinel = 12345.0f;
  unsigned char *touched = calloc(C.count, 1);
  for (int64_t t = 0; t < g->batch; t++)
    for (int64_t i = 0; i < g->m; i++)
      for (int64_t j = 0; j < g->n; j++) touched[t * C.bs + i * C.rs + j * C.cs] = 1;
  for (size_t e = 0; e < C.count; e++)
    if (!touched[e]) c[e] = sentinel;
    else if (g->beta == 0.0f) c[e] = NAN;

  subq_status st;
  subq_gemm_packed_b *pk = NULL;
  if (g->api == 2) {
    /* row-major sgemm: trans flags from the layouts */
    const bool ta = g->la == LAY_COL || g->la == LAY_COL_PAD, tb = g->lb == LAY_COL || g->lb == LAY_COL_PAD;
    st = subq_sgemm(ctx, ta, tb, g->m, g->n, g->k, g->alpha, A.data, ta ? A.cs : A.rs, B.data, tb ? B.cs : B.rs,
                    g->beta, c, C.rs);
  } else {
    subq_gemm_args args;
    subq_gemm_args_default(&args, sizeof args);
    args.m = g->m, args.n = g->n, args.k = g->k, args.alpha = g->alpha, args.beta = g->beta;
    args.a_dtype = g->at, args.b_dtype = g->bt;
    args.a = A.data, args.a_rs = A.rs, args.a_cs = A.cs, args.a_bs = A.bs;
    args.b = B.data, args.b_rs = B.rs, args.b_cs = B.cs, args.b_bs = B.bs;
    args.c = c, args.c_rs = C.rs, args.c_cs = C.cs, args.c_bs = C.bs;
    args.batch_count = g->batch;
    if (g->api == 1) {
      CHECK_OK(subq_gemm_pack_b(ctx, g->k, g->n, g->bt, B.data, B.rs, B.cs, &pk));
      st = pk ? subq_gemm_packed(ctx, &args, pk) : SUBQ_ERR_INTERNAL;
    } else {
      st = subq_gemm(ctx, &args);
    }
  }
  CHECK_MSG(st == SUBQ_OK, "%s: %s %s", what, subq_status_string(st), subq_last_error_message());

  const int64_t mn = g->m * g->n;
  double *c0 = malloc((size_t)(mn + 1) * sizeof(double)), *ref = malloc((size_t)(mn + 1) * sizeof(double)),
         *mag = malloc((size_t)(mn + 1) * sizeof(double));
  int bad = 0;
  double worst = 0.0;
  for (int64_t t = 0; t < g->batch && st == SUBQ_OK; t++) {
    const double *a = A.logical + (g->share_a ? 0 : t * g->m * g->k);
    const double *b = B.logical + (g->share_b ? 0 : t * g->k * g->n);
    for (int64_t e = 0; e < mn; e++) c0[e] = C.logical[t * mn + e];
    subq_ref_gemm(g->m, g->n, g->k, g->alpha, a, b, g->beta, c0, ref, mag);
    for (int64_t i = 0; i < g->m; i++)
      for (int64_t j = 0; j < g->n; j++) {
        const double got = c[t * C.bs + i * C.rs + j * C.cs];
        const double tol = 2.0 * (double)(g->k + 8) * ldexp(mag[i * g->n + j], -24) + 1e-37;
        const double err = fabs(got - ref[i * g->n + j]);
        if (!(err <= tol)) {
          if (bad < 3)
            fprintf(stderr, "  %s: C[%lld][%lld][%lld] = %.9g, want %.9g (tol %.3g)\n", what, (long long)t,
                    (long long)i, (long long)j, got, ref[i * g->n + j], tol);
          bad++;
        }
        if (mag[i * g->n + j] > 0 && err / mag[i * g->n + j] > worst) worst = err / mag[i * g->n + j];
      }
  }
  int clobbered = 0;
  for (size_t e = 0; e < C.count; e++)
    if (!touched[e] && c[e] != sentinel) clobbered++;
  CHECK_MSG(bad == 0, "%s: %d elements outside tolerance", what, bad);
  CHECK_MSG(clobbered == 0, "%s: %d padding elements of C written", what, clobbered);
  n_cases_run++;
  subq_gemm_packed_b_destroy(pk);
  free(c0), free(ref), free(mag), free(touched);
  operand_free(&A), operand_free(&B), operand_free(&C);
}

static void describe(char *buf, size_t cap, const char *isa, const gcase *g) {
  snprintf(buf, cap, "[%s api%d] %lldx%lldx%lld b%lld A:%s%s B:%s%s C:%s alpha %g beta %g%s%s", isa, g->api,
           (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch, lay_name[g->la],
           g->at == SUBQ_DTYPE_BF16 ? "/bf16" : "", lay_name[g->lb], g->bt == SUBQ_DTYPE_BF16 ? "/bf16" : "",
           lay_name[g->lc], (double)g->alpha, (double)g->beta, g->share_a ? " shareA" : "",
           g->share_b ? " shareB" : "");
}

static void shapes_for_isa(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  if (!ctx) return;
  char what[256];
  const char *iname = subq_isa_name(isa);
  /* odd shapes, all layouts of A and B (C row-major), rotating through the others */
  static const int64_t dims[] = {0, 1, 2, 3, 7, 17, 63, 65, 129};
  const int nd = (int)(sizeof dims / sizeof dims[0]);
  int r = 0;
  for (int im = 0; im < nd; im++)
    for (int in = 0; in < nd; in++) {
      const int ik = (im * 3 + in * 5) % nd;
      gcase g = {dims[im], dims[in], dims[ik], 1, r % LAY_N, (r / LAY_N) % LAY_N, (r / 3) % LAY_N,
                 SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0};
      if (r % 5 == 1) g.alpha = -0.75f, g.beta = 0.5f;
      if (r % 7 == 3) g.beta = 1.0f;
      r++;
      describe(what, sizeof what, iname, &g);
      run_case(ctx, &g, what);
    }
  /* every layout pair on a mid shape, incl. k = 257 > some block boundaries */
  for (int la = 0; la < LAY_N; la++)
    for (int lb = 0; lb < LAY_N; lb++) {
      gcase g = {33, 47, 257, 1, la, lb, (la + lb) % LAY_N, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.5f, -2.0f,
                 false, false, 0};
      describe(what, sizeof what, iname, &g);
      run_case(ctx, &g, what);
    }
  /* beyond the blocking sizes: KC (k > 1024), MC (m > 480), shared mode with several row blocks */
  const gcase big[] = {
      {500, 300, 1100, 1, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0},
      {257, 129, 600, 1, LAY_COL, LAY_ROW_PAD, LAY_COL_PAD, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 0.5f, 0.25f, false, false, 0},
      {520, 8200, 9, 1, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 1.0f, false, false, 0},
      /* bf16 A and/or B, several paths */
      {65, 63, 129, 1, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_BF16, SUBQ_DTYPE_BF16, 1.0f, 0.0f, false, false, 0},
      {300, 70, 300, 1, LAY_COL_PAD, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 1.0f, 0.5f, false, false, 0},
      {7, 65, 129, 1, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F32, 2.0f, 0.0f, false, false, 0},
      /* small M: dot form (B columns contiguous, f32 and bf16), rows form */
      {1, 300, 1031, 1, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0},
      {3, 257, 517, 1, LAY_ROW_PAD, LAY_COL_PAD, LAY_COL, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 1.0f, 1.0f, false, false, 0},
      {5, 67, 70, 1, LAY_COL, LAY_COL, LAY_ROW, SUBQ_DTYPE_BF16, SUBQ_DTYPE_BF16, -1.0f, 0.0f, false, false, 0},
      {16, 130, 257, 1, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0},
      {13, 9, 33, 1, LAY_COL, LAY_COL_PAD, LAY_ROW_PAD, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 0.5f, 2.0f, false, false, 0},
      {16, 70, 40, 3, LAY_ROW_PAD, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, true, false, 0},
      {1, 301, 257, 1, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.5f, false, false, 0},
      {1, 77, 100, 1, LAY_COL, LAY_ROW_PAD, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 1.0f, 0.0f, false, false, 0},
      /* batched, incl. shared operands */
      {64, 200, 64, 5, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0},
      {17, 33, 65, 4, LAY_COL, LAY_ROW_PAD, LAY_COL, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.5f, true, false, 0},
      {2, 33, 65, 3, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 1.0f, 0.0f, false, true, 0},
      {1, 70, 65, 3, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, true, 0},
      /* alpha = 0 and k = 0: C = beta C */
      {9, 10, 11, 1, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 0.0f, 0.5f, false, false, 0},
      {9, 10, 0, 2, LAY_ROW, LAY_ROW, LAY_COL, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 0},
      /* prepacked B: small M (rows form), private mode, batched with shared B, bf16 weights */
      {1, 300, 257, 1, LAY_ROW, LAY_COL, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 1},
      {2, 67, 129, 1, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.5f, false, false, 1},
      {300, 130, 300, 1, LAY_COL, LAY_COL_PAD, LAY_ROW_PAD, SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, 1.0f, 0.0f, false, false, 1},
      {17, 40, 70, 3, LAY_ROW, LAY_ROW, LAY_ROW, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F32, 1.0f, 1.0f, false, true, 1},
      /* subq_sgemm with each trans combination */
      {37, 29, 41, 1, LAY_ROW, LAY_ROW, LAY_ROW_PAD, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 0.0f, false, false, 2},
      {37, 29, 41, 1, LAY_COL, LAY_ROW, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 1.0f, false, false, 2},
      {37, 29, 41, 1, LAY_ROW_PAD, LAY_COL_PAD, LAY_ROW, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, -1.0f, 0.0f, false, false, 2},
      {1, 290, 41, 1, LAY_COL_PAD, LAY_COL, LAY_ROW_PAD, SUBQ_DTYPE_F32, SUBQ_DTYPE_F32, 1.0f, 2.0f, false, false, 2},
  };
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    if (big[i].api == 1 && big[i].batch > 1 && !big[i].share_b) continue;
    describe(what, sizeof what, iname, &big[i]);
    run_case(ctx, &big[i], what);
  }
  subq_context_destroy(ctx);
}

/* ---- determinism across thread counts and runners ------------------------------------ */

static void determinism(void) {
  typedef struct {
    int64_t m, n, k, batch;
    int lb;
    bool packed;
  } dshape;
  const dshape shapes[] = {
      {520, 300, 700, 1, LAY_ROW, false}, /* shared mode */
      {100, 333, 1100, 1, LAY_COL, false}, /* private mode */
      {4, 1000, 517, 1, LAY_COL, false},   /* small M, dot form */
      {1, 1000, 300, 1, LAY_ROW, true},    /* small M, prepacked rows */
      {64, 300, 64, 6, LAY_ROW, false},    /* batched, prefetching the next item's B */
      {16, 700, 300, 1, LAY_COL, false},   /* small M, 16 rows */
  };
  const int threads[] = {1, 2, 3, 5, 8};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const dshape *d = &shapes[s];
    operand A, B;
    operand_make(&A, SUBQ_DTYPE_F32, LAY_ROW, d->m, d->k, d->batch, false, 11 + s);
    operand_make(&B, SUBQ_DTYPE_F32, d->lb, d->k, d->n, d->batch, false, 17 + s);
    const size_t csz = (size_t)(d->batch * d->m * d->n);
    float *first = NULL;
    for (int run = 0; run < 7; run++) {
      subq_context *ctx = NULL;
      if (run == 5) {
        subq_executor ex = subq_test_shuffled_executor();
        CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
      } else if (run < 5) {
        ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run]);
      } /* run 6: ctx == NULL */
      float *c = malloc(csz * sizeof(float));
      subq_gemm_args g;
      subq_gemm_args_default(&g, sizeof g);
      g.m = d->m, g.n = d->n, g.k = d->k, g.batch_count = d->batch;
      g.a = A.data, g.a_rs = A.rs, g.a_cs = A.cs, g.a_bs = A.bs;
      g.b = B.data, g.b_rs = B.rs, g.b_cs = B.cs, g.b_bs = B.bs;
      g.c = c, g.c_rs = d->n, g.c_cs = 1, g.c_bs = d->m * d->n;
      if (d->packed) {
        subq_gemm_packed_b *pk = NULL;
        CHECK_OK(subq_gemm_pack_b(ctx, d->k, d->n, SUBQ_DTYPE_F32, B.data, B.rs, B.cs, &pk));
        if (pk) CHECK_OK(subq_gemm_packed(ctx, &g, pk));
        subq_gemm_packed_b_destroy(pk);
      } else {
        CHECK_OK(subq_gemm(ctx, &g));
      }
      if (!first) {
        first = c;
      } else {
        CHECK_MSG(memcmp(first, c, csz * sizeof(float)) == 0, "shape %zu: run %d differs bitwise from 1 thread", s,
                  run);
        free(c);
      }
      subq_context_destroy(ctx);
    }
    free(first);
    operand_free(&A), operand_free(&B);
  }
}

/* A null pointer clang cannot see through (the API validates NULLs it declares non-null). */
static void *volatile subq_test_null;
#define NULLP ((void *)subq_test_null)

/* ---- errors -------------------------------------------------------------------------- */

static void errors(void) {
  float a[64], b[64], c[64];
  memset(a, 0, sizeof a), memset(b, 0, sizeof b), memset(c, 0, sizeof c);
  subq_gemm_args g0;
  subq_gemm_args_default(&g0, sizeof g0);
  g0.m = 2, g0.n = 3, g0.k = 4;
  g0.a = a, g0.a_rs = 4, g0.a_cs = 1;
  g0.b = b, g0.b_rs = 3, g0.b_cs = 1;
  g0.c = c, g0.c_rs = 3, g0.c_cs = 1;
  CHECK_OK(subq_gemm(NULL, &g0));
  subq_gemm_args g;
#define BAD(mod, status, needle)          \
  do {                                    \
    g = g0;                               \
    mod;                                  \
    CHECK_STATUS(subq_gemm(NULL, &g), status, needle); \
  } while (0)
  CHECK_STATUS(subq_gemm(NULL, NULLP), SUBQ_ERR_INVALID_ARGUMENT, "args is NULL");
  BAD(g.struct_size = 8, SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
  BAD(g.m = -1, SUBQ_ERR_INVALID_ARGUMENT, "m (-1)");
  BAD(g.n = -2, SUBQ_ERR_INVALID_ARGUMENT, "n (-2)");
  BAD(g.k = -3, SUBQ_ERR_INVALID_ARGUMENT, "k (-3)");
  BAD(g.batch_count = -1, SUBQ_ERR_INVALID_ARGUMENT, "batch_count");
  BAD(g.a_dtype = SUBQ_DTYPE_F16, SUBQ_ERR_INVALID_ARGUMENT, "a_dtype");
  BAD(g.b_dtype = (subq_dtype)99, SUBQ_ERR_INVALID_ARGUMENT, "b_dtype");
  BAD(g.c = NULL, SUBQ_ERR_INVALID_ARGUMENT, "c is NULL");
  BAD(g.a = NULL, SUBQ_ERR_INVALID_ARGUMENT, "a is NULL");
  BAD(g.b = NULL, SUBQ_ERR_INVALID_ARGUMENT, "b is NULL");
  BAD(g.a_rs = 0, SUBQ_ERR_INVALID_ARGUMENT, "a_rs");
  BAD(g.a_cs = -1, SUBQ_ERR_INVALID_ARGUMENT, "a_cs");
  BAD(g.b_rs = 0, SUBQ_ERR_INVALID_ARGUMENT, "b_rs");
  BAD(g.b_cs = 0, SUBQ_ERR_INVALID_ARGUMENT, "b_cs");
  BAD(g.c_rs = 0, SUBQ_ERR_INVALID_ARGUMENT, "c_rs");
  BAD(g.c_cs = 0, SUBQ_ERR_INVALID_ARGUMENT, "c_cs");
  BAD((g.batch_count = 2, g.c_bs = 0), SUBQ_ERR_INVALID_ARGUMENT, "c_bs");
  BAD((g.batch_count = 2, g.c_bs = 6, g.a_bs = -1), SUBQ_ERR_INVALID_ARGUMENT, "a_bs");
  BAD((g.batch_count = 2, g.c_bs = 6, g.b_bs = -1), SUBQ_ERR_INVALID_ARGUMENT, "b_bs");
  /* C elements sharing an address */
  BAD((g.c_rs = 1, g.c_cs = 1), SUBQ_ERR_INVALID_ARGUMENT, "c strides");
  BAD((g.m = 3, g.n = 4, g.c_rs = 3, g.c_cs = 2, g.a_rs = 1, g.a_cs = 3, g.b_rs = 4, g.b_cs = 1),
      SUBQ_ERR_INVALID_ARGUMENT, "c strides"); /* (2,0) and (0,3) meet at 6 */
  BAD((g.m = 2, g.n = 1, g.batch_count = 3, g.c_rs = 2, g.c_bs = 1), SUBQ_ERR_INVALID_ARGUMENT, "c strides");
  /* interleaved but distinct layouts are accepted */
  g = g0;
  g.m = 3, g.n = 3, g.c_rs = 3, g.c_cs = 2, g.a_rs = 4; /* offsets 0,2,4,3,5,7,6,8,10 */
  CHECK_OK(subq_gemm(NULL, &g));
  g = g0;
  g.batch_count = 2, g.c_rs = 6, g.c_bs = 3; /* C as [m][batch][n] */
  CHECK_OK(subq_gemm(NULL, &g));
  /* C overlapping A or B */
  BAD(g.c = a + 2, SUBQ_ERR_INVALID_ARGUMENT, "c overlaps a");
  BAD(g.c = b, SUBQ_ERR_INVALID_ARGUMENT, "c overlaps b");
  /* int64 overflow of the index arithmetic */
  BAD(g.a_rs = INT64_MAX / 2, SUBQ_ERR_INVALID_ARGUMENT, "overflows int64");
  BAD((g.batch_count = 3, g.c_bs = 6, g.b_bs = INT64_MAX / 2), SUBQ_ERR_INVALID_ARGUMENT, "overflows int64");
  BAD((g.c_cs = INT64_MAX / 2 + 1), SUBQ_ERR_INVALID_ARGUMENT, "overflows int64");
  /* a newer struct with a non-zero unknown tail */
  {
    union {
      subq_gemm_args g;
      unsigned char bytes[sizeof(subq_gemm_args) + 16];
    } big;
    memset(&big, 0, sizeof big);
    big.g = g0;
    big.g.struct_size = sizeof big.bytes;
    CHECK_OK(subq_gemm(NULL, &big.g));
    big.bytes[sizeof(subq_gemm_args) + 3] = 1;
    CHECK_STATUS(subq_gemm(NULL, &big.g), SUBQ_ERR_UNSUPPORTED, "struct_size");
  }
  /* empty problems succeed and touch nothing, even with NULL pointers */
  g = g0;
  g.m = 0, g.c = NULL, g.a = NULL;
  CHECK_OK(subq_gemm(NULL, &g));
  g = g0;
  g.batch_count = 0, g.c = NULL;
  CHECK_OK(subq_gemm(NULL, &g));
  /* subq_sgemm */
  CHECK_STATUS(subq_sgemm(NULL, false, false, 2, 3, 4, 1.0f, a, 3, b, 3, 0.0f, c, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "lda (3)");
  CHECK_STATUS(subq_sgemm(NULL, true, false, 2, 3, 4, 1.0f, a, 1, b, 3, 0.0f, c, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "lda (1)");
  CHECK_STATUS(subq_sgemm(NULL, false, true, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "ldb (3)");
  CHECK_STATUS(subq_sgemm(NULL, false, false, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 2), SUBQ_ERR_INVALID_ARGUMENT,
               "ldc (2)");
  CHECK_STATUS(subq_sgemm(NULL, false, false, -1, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "m (-1)");
  CHECK_STATUS(subq_sgemm(NULL, false, false, 2, 3, 4, 1.0f, NULL, 4, b, 3, 0.0f, c, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "a is NULL");
  CHECK_STATUS(subq_sgemm(NULL, false, false, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, a, 3), SUBQ_ERR_INVALID_ARGUMENT,
               "c overlaps a");
  CHECK_OK(subq_sgemm(NULL, false, false, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3));
  /* prepacked B */
  subq_gemm_packed_b *pk = NULL;
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_F32, b, 3, 1, NULLP), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_gemm_pack_b(NULL, -1, 3, SUBQ_DTYPE_F32, b, 3, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT, "k (-1)");
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, -3, SUBQ_DTYPE_F32, b, 3, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT, "n (-3)");
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_I8, b, 3, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT, "b_dtype");
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_F32, NULLP, 3, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT, "b is NULL");
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_F32, b, 0, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT, "b_rs");
  CHECK_STATUS(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_F32, b, INT64_MAX / 2, 1, &pk), SUBQ_ERR_INVALID_ARGUMENT,
               "overflows");
  CHECK(pk == NULL);
  /* k == 0 reads no B whatever n is: an empty packed B, not an overflowing
   * panel count (fuzz_kernel_args: n = INT64_MAX overflowed a round-up) */
  CHECK_OK(subq_gemm_pack_b(NULL, 0, INT64_MAX, SUBQ_DTYPE_F32, NULLP, 0, 0, &pk));
  CHECK(pk && subq_gemm_packed_b_size(pk) > 0);
  subq_gemm_packed_b_destroy(pk);
  pk = NULL;
  CHECK_OK(subq_gemm_pack_b(NULL, 4, 3, SUBQ_DTYPE_F32, b, 3, 1, &pk));
  CHECK(pk && subq_gemm_packed_b_size(pk) >= 12 * sizeof(float));
  CHECK_OK(subq_gemm_packed(NULL, &g0, pk));
  CHECK_STATUS(subq_gemm_packed(NULL, &g0, NULLP), SUBQ_ERR_INVALID_ARGUMENT, "packed is NULL");
  g = g0;
  g.k = 5;
  CHECK_STATUS(subq_gemm_packed(NULL, &g, pk), SUBQ_ERR_INVALID_ARGUMENT, "differs from packed");
  g = g0;
  g.n = 2;
  CHECK_STATUS(subq_gemm_packed(NULL, &g, pk), SUBQ_ERR_INVALID_ARGUMENT, "differs from packed");
  g = g0;
  g.b = NULL, g.b_rs = 0, g.b_dtype = (subq_dtype)77; /* ignored with packed B */
  CHECK_OK(subq_gemm_packed(NULL, &g, pk));
  g.c_cs = 0;
  CHECK_STATUS(subq_gemm_packed(NULL, &g, pk), SUBQ_ERR_INVALID_ARGUMENT, "c_cs");
  /* pk was packed (ctx == NULL) for the host's best path under SUBQ_MAX_ISA,
   * which a default context also takes; with SUBQ_MAX_ISA=scalar that is scalar */
  subq_context *dflt = subq_test_context(SUBQ_ISA_AUTO, 1);
  const bool packed_above_scalar = dflt && subq_context_isa(dflt) != SUBQ_ISA_SCALAR;
  subq_context_destroy(dflt);
  if (packed_above_scalar) {
    subq_context *sc = subq_test_context(SUBQ_ISA_SCALAR, 1);
    /* pk was packed for the best path; a scalar-only context must refuse it */
    CHECK_STATUS(subq_gemm_packed(sc, &g0, pk), SUBQ_ERR_INVALID_ARGUMENT, "ISA");
    subq_gemm_packed_b *pks = NULL;
    CHECK_OK(subq_gemm_pack_b(sc, 4, 3, SUBQ_DTYPE_F32, b, 3, 1, &pks));
    CHECK_OK(subq_gemm_packed(sc, &g0, pks));
    CHECK_OK(subq_gemm_packed(NULL, &g0, pks)); /* scalar is allowed everywhere */
    subq_gemm_packed_b_destroy(pks);
    subq_context_destroy(sc);
  }
  subq_gemm_packed_b_destroy(pk);
  subq_gemm_packed_b_destroy(NULL);
  /* bf16 helpers */
  uint16_t h[8];
  CHECK_STATUS(subq_f32_to_bf16(a, h, -1), SUBQ_ERR_INVALID_ARGUMENT, "n (-1)");
  CHECK_STATUS(subq_f32_to_bf16(NULLP, h, 2), SUBQ_ERR_INVALID_ARGUMENT, "src is NULL");
  CHECK_STATUS(subq_f32_to_bf16(a, NULLP, 2), SUBQ_ERR_INVALID_ARGUMENT, "dst is NULL");
  CHECK_STATUS(subq_f32_to_bf16(a, (uint16_t *)(void *)(a + 1), 4), SUBQ_ERR_INVALID_ARGUMENT, "overlaps");
  CHECK_STATUS(subq_bf16_to_f32(h, NULLP, 2), SUBQ_ERR_INVALID_ARGUMENT, "dst is NULL");
  CHECK_STATUS(subq_bf16_to_f32(NULLP, a, 2), SUBQ_ERR_INVALID_ARGUMENT, "src is NULL");
  CHECK_STATUS(subq_bf16_to_f32(h, a, -5), SUBQ_ERR_INVALID_ARGUMENT, "n (-5)");
  CHECK_OK(subq_f32_to_bf16(NULLP, NULLP, 0));
#undef BAD
}

static void bf16_conversions(void) {
  /* specific cases: ties to even, overflow to Inf, NaN, signed zero, subnormals */
  const float xs[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -1.0f - 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f,
                      FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, 0.0f, -0.0f, 0x1p-140f, 0x1.01p-130f,
                      3.14159265f, 65504.0f};
  const uint16_t want[] = {0x3f80, 0x3f80, 0x3f82, 0xbf80, 0x3f81, 0x7f80, 0xff80, 0x7f80, 0xff80, 0x0000, 0x8000};
  const int nx = (int)(sizeof xs / sizeof xs[0]);
  uint16_t h[32];
  float back[32];
  CHECK_OK(subq_f32_to_bf16(xs, h, nx));
  for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
    CHECK_MSG(h[i] == want[i], "bf16(%a) = 0x%04x, want 0x%04x", (double)xs[i], h[i], want[i]);
  for (int i = 0; i < nx; i++)
    CHECK_MSG(h[i] == subq_ref_f32_to_bf16(xs[i]), "bf16(%a) = 0x%04x, ref 0x%04x", (double)xs[i], h[i],
              subq_ref_f32_to_bf16(xs[i]));
  const float nans[2] = {NAN, -NAN};
  CHECK_OK(subq_f32_to_bf16(nans, h, 2));
  CHECK_OK(subq_bf16_to_f32(h, back, 2));
  CHECK(isnan(back[0]) && isnan(back[1]));
  /* a signalling NaN whose payload lives only in the low half stays NaN */
  uint32_t snan_bits = 0x7f800001u;
  float snan;
  memcpy(&snan, &snan_bits, sizeof snan);
  CHECK_OK(subq_f32_to_bf16(&snan, h, 1));
  CHECK_OK(subq_bf16_to_f32(h, back, 1));
  CHECK(isnan(back[0]));
  /* random values over many exponents against the float64-distance reference,
   * and the round trip is exact on bf16 values */
  subq_rng r = {99};
  int bad = 0, bad_rt = 0;
  for (int i = 0; i < 20000; i++) {
    uint32_t u = (uint32_t)subq_rng_next(&r);
    float x;
    memcpy(&x, &u, sizeof x);
    if (isnan(x)) continue;
    uint16_t hb;
    float w;
    if (subq_f32_to_bf16(&x, &hb, 1) != SUBQ_OK || subq_bf16_to_f32(&hb, &w, 1) != SUBQ_OK) bad++;
    if (hb != subq_ref_f32_to_bf16(x)) bad++;
    uint16_t h2;
    if (subq_f32_to_bf16(&w, &h2, 1) != SUBQ_OK || h2 != hb) bad_rt++;
  }
  CHECK_MSG(bad == 0, "%d f32->bf16 conversions differ from the reference", bad);
  CHECK_MSG(bad_rt == 0, "%d bf16 round trips not exact", bad_rt);
}

/* ---- prepacked bf16 B: kept as bf16, same bits as the widened f32 copy ----------------- */

/* The bf16 panels are widened exactly in registers and run the same FMA chains
 * as the f32 panels, so subq_gemm_packed on a bf16 pack equals, bit for bit,
 * subq_gemm_packed on the pack of the widened f32 B (every path: small M rows,
 * private macro with edge tiles, k tails, alpha/beta, a batch), and the bf16
 * pack holds half the bytes. */
static void packed_bf16_for_isa(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  if (!ctx) return;
  typedef struct {
    int64_t m, n, k, batch;
    int lb;
    float alpha, beta;
  } pshape;
  const pshape shapes[] = {
      {1, 300, 257, 1, LAY_COL, 1.0f, 0.0f},   /* m = 1: rows form over the panels (W[out][in] as B) */
      {1, 37, 5, 1, LAY_ROW, 1.0f, 0.5f},      /* n and k tails */
      {2, 67, 129, 1, LAY_COL, 1.0f, 0.5f},    /* small M on the macro path */
      {7, 50, 63, 1, LAY_ROW_PAD, -2.0f, 0.0f}, /* edge rows and columns */
      {128, 200, 300, 1, LAY_COL, 1.0f, 0.0f}, /* a prefill-sized product */
      {300, 130, 1100, 1, LAY_COL_PAD, 1.0f, 1.0f}, /* several KC blocks */
      {17, 40, 70, 3, LAY_COL, 1.0f, 0.0f},    /* batch sharing the packed B */
  };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const pshape *d = &shapes[s];
    operand A, B;
    operand_make(&A, SUBQ_DTYPE_F32, LAY_ROW, d->m, d->k, d->batch, false, 101 + s);
    operand_make(&B, SUBQ_DTYPE_BF16, d->lb, d->k, d->n, 1, true, 131 + s);
    float *bw = malloc(B.count * sizeof(float)); /* the same B widened, same strides */
    CHECK_OK(subq_bf16_to_f32(B.data, bw, (int64_t)B.count));
    subq_gemm_packed_b *p16 = NULL, *p32 = NULL;
    CHECK_OK(subq_gemm_pack_b(ctx, d->k, d->n, SUBQ_DTYPE_BF16, B.data, B.rs, B.cs, &p16));
    CHECK_OK(subq_gemm_pack_b(ctx, d->k, d->n, SUBQ_DTYPE_F32, bw, B.rs, B.cs, &p32));
    const size_t csz = (size_t)(d->batch * d->m * d->n);
    float *c16 = malloc(csz * sizeof(float)), *c32 = malloc(csz * sizeof(float));
    subq_fill_random(c16, (long long)csz, 7 + s);
    memcpy(c32, c16, csz * sizeof(float));
    if (p16 && p32) {
      /* half the panel bytes (each allocation is rounded up to a cache line or so) */
      CHECK_MSG(subq_gemm_packed_b_size(p16) <= subq_gemm_packed_b_size(p32) / 2 + 128, "%s shape %zu: bf16 pack %zu B, f32 %zu B",
                subq_isa_name(isa), s, subq_gemm_packed_b_size(p16), subq_gemm_packed_b_size(p32));
      subq_gemm_args g;
      subq_gemm_args_default(&g, sizeof g);
      g.m = d->m, g.n = d->n, g.k = d->k, g.batch_count = d->batch, g.alpha = d->alpha, g.beta = d->beta;
      g.a = A.data, g.a_rs = A.rs, g.a_cs = A.cs, g.a_bs = A.bs;
      g.c_rs = d->n, g.c_cs = 1, g.c_bs = d->m * d->n;
      g.c = c16;
      CHECK_OK(subq_gemm_packed(ctx, &g, p16));
      g.c = c32;
      CHECK_OK(subq_gemm_packed(ctx, &g, p32));
      size_t bad = 0;
      for (size_t i = 0; i < csz; i++) bad += memcmp(&c16[i], &c32[i], sizeof(float)) != 0;
      CHECK_MSG(bad == 0, "%s shape %zu (m %lld n %lld k %lld): %zu of %zu elements differ from the f32 pack",
                subq_isa_name(isa), s, (long long)d->m, (long long)d->n, (long long)d->k, bad, csz);
      n_cases_run++;
    }
    subq_gemm_packed_b_destroy(p16);
    subq_gemm_packed_b_destroy(p32);
    free(c16), free(c32), free(bw);
    operand_free(&A), operand_free(&B);
  }
  subq_context_destroy(ctx);
}

/* A row of C does not depend on how many rows the call has: with prepacked B and
 * 2 <= m <= 16 (one k block) every row is one FMA chain over k, whether a full
 * tile or a short-tile ukernel (the edge rows) computes it. (m = 1 is the rows
 * form, which splits k over several accumulators: other roundings.) */
static void packed_rows_independent_of_m(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  if (!ctx) return;
  const int64_t mmax = 16, n = 50, k = 701;
  for (int dt = 0; dt < 2; dt++) {
    const subq_dtype bt = dt ? SUBQ_DTYPE_BF16 : SUBQ_DTYPE_F32;
    operand A, B;
    operand_make(&A, SUBQ_DTYPE_F32, LAY_ROW, mmax, k, 1, false, 211 + dt);
    operand_make(&B, bt, LAY_COL, k, n, 1, true, 223 + dt);
    subq_gemm_packed_b *pb = NULL;
    CHECK_OK(subq_gemm_pack_b(ctx, k, n, bt, B.data, B.rs, B.cs, &pb));
    float *full = calloc((size_t)(mmax * n), sizeof(float)), *part = calloc((size_t)(mmax * n), sizeof(float));
    subq_gemm_args g;
    subq_gemm_args_default(&g, sizeof g);
    g.n = n, g.k = k, g.alpha = 1.5f, g.beta = 0.0f;
    g.a = A.data, g.a_rs = A.rs, g.a_cs = A.cs, g.c_rs = n, g.c_cs = 1;
    g.m = mmax, g.c = full;
    if (pb) CHECK_OK(subq_gemm_packed(ctx, &g, pb));
    for (int64_t m = 2; pb && m < mmax; m++) {
      g.m = m, g.c = part;
      CHECK_OK(subq_gemm_packed(ctx, &g, pb));
      size_t bad = 0;
      for (int64_t i = 0; i < m * n; i++) bad += memcmp(&part[i], &full[i], sizeof(float)) != 0;
      CHECK_MSG(bad == 0, "%s %s B: m = %lld: %zu of %lld elements differ from the m = %lld product's rows",
                subq_isa_name(isa), dt ? "bf16" : "f32", (long long)m, bad, (long long)(m * n), (long long)mmax);
      n_cases_run++;
    }
    subq_gemm_packed_b_destroy(pb);
    free(full), free(part);
    operand_free(&A), operand_free(&B);
  }
  subq_context_destroy(ctx);
}

int main(void) {
  bf16_conversions();
  errors();
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  for (int i = 0; i < n; i++) shapes_for_isa(isas[i]);
  for (int i = 0; i < n; i++) packed_bf16_for_isa(isas[i]);
  for (int i = 0; i < n; i++) packed_rows_independent_of_m(isas[i]);
  determinism();
  printf("test_gemm: %d GEMM cases on %d ISA paths\n", n_cases_run, n);
  return subq_test_finish("test_gemm");
}
