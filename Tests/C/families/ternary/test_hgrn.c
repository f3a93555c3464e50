/*
 * test_hgrn.c — the MatMul-free LM token mixer (subq_hgrn_f32 / _step_f32)
 * and its GLU channel mixer (subq_swiglu on the fused gate_proj output):
 *   against a float64 evaluation of spec §7.3 on every ISA path (with and
 *     without lower bound, output gate, gate weight, initial state);
 *   the same bits on every ISA, thread count and executor;
 *   prefill(k) then decode steps == prefill(k + m), and chunked prefill ==
 *     one prefill, bitwise (states and outputs);
 *   every bad argument gives a status and a message naming it.
 */
#include <stdint.h>

#include "ref/subq_ref_ternary.h"
#include "support/subq_test.h"

static float *rand_buf(int64_t n, unsigned long long seed, float scale) {
  subq_rng r = {seed};
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) p[i] = scale * subq_rng_float(&r);
  return p;
}

typedef struct hg_case {
  int64_t T, C;
  bool lb, gate, gw, s0;
} hg_case;

static subq_hgrn_args make_args(const hg_case *k, const float *i, const float *f, const float *lb, const float *s_in,
                                float *s_out, const float *g, const float *gw, float *out) {
  subq_hgrn_args a;
  subq_hgrn_args_default(&a, sizeof a);
  a.tokens = k->T, a.channels = k->C;
  a.i = i, a.f = f, a.lower_bound = k->lb ? lb : NULL, a.state_in = k->s0 ? s_in : NULL, a.state_out = s_out;
  a.gate = k->gate ? g : NULL, a.gate_norm_weight = k->gw ? gw : NULL, a.out = out;
  return a;
}

static void test_vs_ref(void) {
  static const hg_case cases[] = {
      {1, 1, false, false, false, false}, {7, 5, true, false, false, true},  {33, 64, true, true, true, true},
      {33, 300, false, true, false, false}, {17, 300, true, true, true, false}, {64, 2049, true, true, true, true},
  };
  subq_isa isas[8];
  const int n_isas = subq_test_isas(isas);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const hg_case *k = &cases[ci];
    const int64_t T = k->T, C = k->C, n = T * C;
    float *i = rand_buf(n, 10 + ci, 4.0f), *f = rand_buf(n, 20 + ci, 6.0f), *g = rand_buf(n, 30 + ci, 2.0f);
    float *lb = rand_buf(C, 40 + ci, 0.5f), *s0 = rand_buf(C, 50 + ci, 1.0f), *gw = rand_buf(C, 60 + ci, 1.5f);
    for (int64_t c = 0; c < C; c++) lb[c] = 0.5f + lb[c]; /* lower bounds in [0, 1) */
    double *ref = malloc((size_t)n * sizeof(double)), *st = malloc((size_t)C * sizeof(double));
    for (int64_t c = 0; c < C; c++) st[c] = k->s0 ? s0[c] : 0.0;
    subq_ref_hgrn(T, C, i, f, k->lb ? lb : NULL, st, k->gate ? g : NULL, k->gw ? gw : NULL, 1e-6, ref);
    double mx = 0.0;
    for (int64_t e = 0; e < n; e++) mx = fmax(mx, fabs(ref[e]));
    float *first = NULL, *first_s = NULL;
    for (int ii = 0; ii < n_isas; ii++) {
      subq_context *ctx = subq_test_context(isas[ii], 2);
      float *out = malloc((size_t)n * sizeof(float)), *so = malloc((size_t)C * sizeof(float));
      subq_hgrn_args a = make_args(k, i, f, lb, s0, so, g, gw, out);
      CHECK_OK(subq_hgrn_f32(ctx, &a));
      /* Error budget: sigmoid / silu from exp (< 2 ulp) and a division (a few
       * ulp each), the fmaf recurrence contracts old errors by f < 1, the
       * gate's RMSNorm (f32 sum of squares over C, ~sqrt(C) ulp). Measured
       * < 1e-6 relative; bound 2e-5 |ref| + 1e-6 max|ref|. */
      bool ok = true;
      for (int64_t e = 0; e < n && ok; e++)
        if (!(fabs(out[e] - ref[e]) <= 2e-5 * fabs(ref[e]) + 1e-6 * mx)) {
          fprintf(stderr, "  hgrn case %zu %s out[%lld] %.9g want %.9g\n", ci, subq_isa_name(isas[ii]), (long long)e,
                  out[e], ref[e]);
          ok = false;
        }
      for (int64_t c = 0; c < C && ok; c++)
        if (!(fabs(so[c] - st[c]) <= 2e-5 * fabs(st[c]) + 1e-6)) ok = false;
      CHECK_MSG(ok, "hgrn case %zu vs float64 on %s", ci, subq_isa_name(isas[ii]));
      if (!first) {
        first = out, first_s = so;
      } else {
        CHECK_MSG(memcmp(first, out, (size_t)n * 4) == 0 && memcmp(first_s, so, (size_t)C * 4) == 0,
                  "hgrn case %zu: %s differs from %s", ci, subq_isa_name(isas[ii]), subq_isa_name(isas[0]));
        free(out), free(so);
      }
      subq_context_destroy(ctx);
    }
    /* threads, executor, ctx NULL */
    static const int thr[] = {1, 3, 5};
    bool same = true;
    for (int t = 0; t < 4; t++) {
      subq_context *ctx = NULL;
      subq_executor ex = subq_test_shuffled_executor();
      if (t < 3) ctx = subq_test_context(isas[n_isas - 1], thr[t]);
      else CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
      float *out = malloc((size_t)n * sizeof(float)), *so = malloc((size_t)C * sizeof(float));
      subq_hgrn_args a = make_args(k, i, f, lb, s0, so, g, gw, out);
      CHECK_OK(subq_hgrn_f32(ctx, &a));
      same &= memcmp(first, out, (size_t)n * 4) == 0 && memcmp(first_s, so, (size_t)C * 4) == 0;
      free(out), free(so);
      subq_context_destroy(ctx);
    }
    CHECK_MSG(same, "hgrn case %zu: bits depend on threads / executor", ci);
    /* prefill(k0) + decode steps == one prefill; state_out == state_in in place */
    if (T > 1) {
      subq_context *ctx = subq_test_context(isas[n_isas - 1], 2);
      float *out = malloc((size_t)n * sizeof(float)), *st2 = malloc((size_t)C * sizeof(float));
      const int64_t k0 = T / 2;
      hg_case kp = *k;
      kp.T = k0;
      subq_hgrn_args a = make_args(&kp, i, f, lb, s0, st2, g, gw, out);
      CHECK_OK(subq_hgrn_f32(ctx, &a));
      kp.s0 = true;
      for (int64_t t = k0; t < T; t++) {
        kp.T = 1;
        subq_hgrn_args b = make_args(&kp, i + t * C, f + t * C, lb, st2, st2, g + t * C, gw, out + t * C);
        CHECK_OK(subq_hgrn_step_f32(ctx, &b));
      }
      CHECK_MSG(memcmp(first, out, (size_t)n * 4) == 0 && memcmp(first_s, st2, (size_t)C * 4) == 0,
                "hgrn case %zu: prefill + decode != one prefill", ci);
      free(out), free(st2);
      subq_context_destroy(ctx);
    }
    free(first), free(first_s);
    free(i), free(f), free(g), free(lb), free(s0), free(gw), free(ref), free(st);
  }
}

static void test_glu(void) {
  /* MMfree's channel mixer: z = gate_proj(x) of width 2I, m = silu(z[:, :I]) * z[:, I:] */
  const int64_t T = 5, I = 37;
  float *z = rand_buf(T * 2 * I, 77, 6.0f), *m = malloc((size_t)(T * I) * 4);
  CHECK_OK(subq_swiglu(NULL, T, I, z, 2 * I, z + I, 2 * I, m, I));
  bool ok = true;
  for (int64_t t = 0; t < T; t++)
    for (int64_t c = 0; c < I; c++) {
      const double gz = z[t * 2 * I + c], u = z[t * 2 * I + I + c];
      const double e = gz / (1.0 + exp(-gz)) * u;
      ok &= fabs(m[t * I + c] - e) <= 1e-6 * fabs(e) + 1e-7;
    }
  CHECK_MSG(ok, "GLU (subq_swiglu on [gate | up]) vs float64");
  free(z), free(m);
}

static void test_errors(void) {
  float x[64] = {0}, y[64], s[8];
  subq_hgrn_args a;
  subq_hgrn_args_default(&a, sizeof a);
  a.tokens = 2, a.channels = 4, a.i = x, a.f = x + 8, a.out = y;
  CHECK_OK(subq_hgrn_f32(NULL, &a));
  CHECK_STATUS(subq_hgrn_f32(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_hgrn_f32: args is NULL");
  a.tokens = -1;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "tokens (-1) < 0");
  a.tokens = 2, a.channels = 0;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "channels (0) < 1");
  a.channels = 4, a.i = NULL;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "i is NULL");
  a.i = x, a.f_ld = 3;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "f_ld (3) < row length 4");
  a.f_ld = 0, a.out = x + 4;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps i");
  a.out = y, a.state_out = y + 2;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_out overlaps out");
  a.state_out = s, a.eps = -1.0f;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "eps (-1)");
  a.eps = 1e-6f;
  CHECK_STATUS(subq_hgrn_step_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "tokens (2) != 1 for a decode step");
  a.tokens = 1, a.state_out = NULL;
  CHECK_STATUS(subq_hgrn_step_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_out is NULL");
  a.state_out = s, a.struct_size = 4;
  CHECK_STATUS(subq_hgrn_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
}

int main(void) {
  test_vs_ref();
  test_glu();
  test_errors();
  return subq_test_finish("test_hgrn");
}
