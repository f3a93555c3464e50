/*
 * test_linattn.c — linear attention (BASED Taylor, identity, elu+1; DENOM,
 * NONE, RMSNORM; ungated, scalar and per-key gates; causal and non-causal)
 * against the float64 oracles (parallel quadratic form for outputs, the
 * recurrence for final states) on every ISA path the host runs, odd shapes
 * (T 1, 63, 500, 1000; dk 8, 16, 60, 64; dv 60, 64, 128), chunk sizes
 * 16..128 and random initial states; chunked == recurrent (decode loop);
 * prefill + decode + prefill == one prefill; the compact Taylor map equals
 * the 273-term outer-product map; bitwise determinism across thread counts
 * and executors; every bad argument gives a status and a message.
 * Tolerances (spec §10, fp32): rel-RMS <= 1e-5 and every element within
 * 1e-4 * max|ref| + 1e-6 against fp64; states rel-RMS <= 1e-5.
 */
#include <float.h>
#include <stdint.h>

#include "internal/subq_internal.h"
#include "ref/subq_ref_linattn.h"
#include "support/subq_test.h"

static float gauss(subq_rng *r) {
  float u1 = 0.5f * (subq_rng_float(r) + 1.0f), u2 = subq_rng_float(r);
  if (u1 < 1e-7f) u1 = 1e-7f;
  return sqrtf(-2.0f * logf(u1)) * cosf(3.14159265f * u2);
}

static float *gauss_buf(int64_t n, unsigned long long seed, bool positive) {
  subq_rng r = {seed};
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) p[i] = positive ? fabsf(gauss(&r)) : gauss(&r);
  return p;
}

/* rel-RMS of got (float, n) against ref (double, n). */
static double rel_rms_fd(const float *got, const double *ref, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; i++) num += (got[i] - ref[i]) * (got[i] - ref[i]), den += ref[i] * ref[i];
  return den > 0 ? sqrt(num / den) : sqrt(num);
}
static double rel_rms_ff(const float *got, const float *ref, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; i++)
    num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]), den += (double)ref[i] * ref[i];
  return den > 0 ? sqrt(num / den) : sqrt(num);
}
static bool elem_ok(const char *what, const float *got, const double *ref, int64_t n) {
  double mx = 0.0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
  for (int64_t i = 0; i < n; i++)
    if (!(fabs(got[i] - ref[i]) <= 1e-4 * mx + 1e-6)) {
      fprintf(stderr, "  %s[%lld]: got %.9g want %.9g (max|ref| %.3g)\n", what, (long long)i, got[i], ref[i], mx);
      return false;
    }
  return true;
}

/* ---- one configuration ------------------------------------------------------------------- */

typedef struct la_case {
  int64_t B, T, H, dk, dv;
  int fmap, norm, gate;
  bool causal, init_state, weight;
  double gate_n; /* g = logsigmoid(U(0,1)) / gate_n */
  int64_t chunk;
} la_case;

typedef struct la_data {
  la_case cs;
  int64_t D, sf, gw;
  float *q, *k, *v, *g, *w, *s0;
} la_data;

static void la_make(la_data *s, const la_case *k, unsigned long long seed) {
  memset(s, 0, sizeof *s);
  s->cs = *k;
  subq_linattn_args a;
  subq_linattn_args_default(&a, sizeof a);
  a.n_heads = k->H, a.dim_qk = k->dk, a.dim_v = k->dv, a.feature_map = k->fmap, a.normalize = k->norm;
  s->D = subq_linattn_feature_dim(k->fmap, k->dk);
  s->sf = subq_linattn_state_floats(&a);
  s->gw = k->gate == SUBQ_LINATTN_GATE_PER_KEY ? k->dk : 1;
  const int64_t BT = k->B * k->T;
  /* identity + DENOM: positive q, k so that z stays away from 0 (the caller's risk) */
  const bool pos = k->fmap == SUBQ_LINATTN_FMAP_IDENTITY && k->norm == SUBQ_LINATTN_NORM_DENOM;
  s->q = gauss_buf(BT * k->H * k->dk, seed + 1, pos);
  s->k = gauss_buf(BT * k->H * k->dk, seed + 2, pos);
  s->v = gauss_buf(BT * k->H * k->dv, seed + 3, false);
  s->w = gauss_buf(k->dv, seed + 4, false);
  s->g = malloc((size_t)(BT * k->H * s->gw + 1) * sizeof(float));
  subq_rng r = {seed + 5};
  for (int64_t i = 0; i < BT * k->H * s->gw; i++) {
    const double u = 0.5 * (subq_rng_float(&r) + 1.0);
    s->g[i] = (float)(-log1p(exp(-u)) / k->gate_n);
  }
  s->s0 = gauss_buf(k->B * s->sf, seed + 6, false);
  if (k->norm == SUBQ_LINATTN_NORM_DENOM) /* a plausible denominator state: positive, ~ tokens seen */
    for (int64_t b = 0; b < k->B; b++)
      for (int64_t i = k->H * s->D * k->dv; i < s->sf; i++) s->s0[b * s->sf + i] = 20.0f + fabsf(s->s0[b * s->sf + i]);
}

static void la_free(la_data *s) { free(s->q), free(s->k), free(s->v), free(s->g), free(s->w), free(s->s0); }

/* Args over tokens [t0, t0 + n) of the dense data. */
static void la_args(const la_data *s, subq_linattn_args *a, int64_t t0, int64_t n, const float *st_in, float *st_out,
                    float *out) {
  const la_case *k = &s->cs;
  subq_linattn_args_default(a, sizeof *a);
  a->batch = k->B, a->seqlen = n, a->n_heads = k->H, a->dim_qk = k->dk, a->dim_v = k->dv;
  a->feature_map = k->fmap, a->normalize = k->norm, a->gate = k->gate, a->causal = k->causal, a->chunk = k->chunk;
  const int64_t H = k->H, T = k->T;
  a->q = s->q + t0 * H * k->dk, a->q_hs = k->dk, a->q_ss = H * k->dk, a->q_bs = T * H * k->dk;
  a->k = s->k + t0 * H * k->dk, a->k_hs = k->dk, a->k_ss = H * k->dk, a->k_bs = T * H * k->dk;
  a->v = s->v + t0 * H * k->dv, a->v_hs = k->dv, a->v_ss = H * k->dv, a->v_bs = T * H * k->dv;
  a->out = out, a->o_hs = k->dv, a->o_ss = H * k->dv, a->o_bs = n * H * k->dv;
  if (k->gate) a->log_gate = s->g + t0 * H * s->gw, a->g_hs = s->gw, a->g_ss = H * s->gw, a->g_bs = T * H * s->gw;
  if (k->weight) a->norm_weight = s->w;
  a->state_in = st_in, a->state_out = st_out;
}

static subq_ref_la la_ref(const la_data *s, int64_t b, int64_t h) {
  const la_case *k = &s->cs;
  subq_ref_la p;
  memset(&p, 0, sizeof p);
  p.fmap = k->fmap, p.normalize = k->norm, p.gate = k->gate, p.causal = k->causal;
  p.T = k->T, p.dk = k->dk, p.dv = k->dv, p.scale = 1.0 / sqrt((double)(float)k->dk);
  p.scale = (double)(float)(1.0 / sqrt((double)k->dk)); /* the library's f32 default */
  p.eps = 1e-6, p.norm_eps = 1e-5;
  const int64_t H = k->H, T = k->T;
  p.q = s->q + b * T * H * k->dk + h * k->dk, p.q_ld = H * k->dk;
  p.k = s->k + b * T * H * k->dk + h * k->dk, p.k_ld = H * k->dk;
  p.v = s->v + b * T * H * k->dv + h * k->dv, p.v_ld = H * k->dv;
  if (k->gate) p.g = s->g + b * T * H * s->gw + h * s->gw, p.g_ld = H * s->gw;
  p.norm_weight = k->weight ? s->w : NULL;
  return p;
}

static const char *fmap_name(int f) { return f == 0 ? "identity" : f == 1 ? "elu1" : "taylor"; }

static void case_name(const la_case *k, char *buf, size_t n) {
  snprintf(buf, n, "%s norm%d gate%d(%g) causal%d B%lld T%lld H%lld dk%lld dv%lld C%lld init%d", fmap_name(k->fmap),
           k->norm, k->gate, k->gate_n, (int)k->causal, (long long)k->B, (long long)k->T, (long long)k->H,
           (long long)k->dk, (long long)k->dv, (long long)k->chunk, (int)k->init_state);
}

/* Prefill vs the fp64 quadratic form and the fp64 recurrence (states). */
static void la_vs_ref(subq_isa isa, const la_case *k, unsigned long long seed) {
  char name[256];
  case_name(k, name, sizeof name);
  subq_context *ctx = subq_test_context(isa, 2);
  la_data s;
  la_make(&s, k, seed);
  const int64_t H = k->H, T = k->T, dv = k->dv, D = s.D, nO = k->B * T * H * dv;
  float *out = malloc((size_t)nO * sizeof(float)), *st = malloc((size_t)(k->B * s.sf) * sizeof(float));
  subq_linattn_args a;
  la_args(&s, &a, 0, T, k->init_state ? s.s0 : NULL, st, out);
  CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
  double *ro = malloc((size_t)(T * dv) * sizeof(double)), *rS = malloc((size_t)(D * dv) * sizeof(double));
  double *rs = malloc((size_t)D * sizeof(double)), *S0 = malloc((size_t)(D * dv) * sizeof(double));
  double *s0 = malloc((size_t)D * sizeof(double));
  float *og = malloc((size_t)(T * dv) * sizeof(float)), *sg = malloc((size_t)(D * dv) * sizeof(float));
  double worst_o = 0.0, worst_s = 0.0;
  bool ok = true;
  const bool denom = k->norm == SUBQ_LINATTN_NORM_DENOM;
  for (int64_t b = 0; b < k->B; b++)
    for (int64_t h = 0; h < H; h++) {
      const subq_ref_la p = la_ref(&s, b, h);
      const float *in = s.s0 + b * s.sf;
      for (int64_t i = 0; i < D * dv; i++) S0[i] = k->init_state ? in[h * D * dv + i] : 0.0;
      for (int64_t i = 0; i < D; i++) s0[i] = k->init_state && denom ? in[H * D * dv + h * D + i] : 0.0;
      subq_ref_la_quadratic(&p, k->init_state ? S0 : NULL, k->init_state && denom ? s0 : NULL, ro);
      for (int64_t t = 0; t < T; t++) memcpy(og + t * dv, out + (b * T + t) * H * dv + h * dv, (size_t)dv * 4);
      const double e = rel_rms_fd(og, ro, T * dv);
      worst_o = fmax(worst_o, e);
      ok = ok && e <= 1e-5 && elem_ok("out", og, ro, T * dv);
      /* final state: the recurrence (ungated non-causal sums every token the same way) */
      memcpy(rS, S0, (size_t)(D * dv) * sizeof(double));
      memcpy(rs, s0, (size_t)D * sizeof(double));
      subq_ref_la p2 = p;
      p2.causal = true;
      subq_ref_la_recurrent(&p2, rS, denom ? rs : NULL, NULL);
      const float *so = st + b * s.sf;
      memcpy(sg, so + h * D * dv, (size_t)(D * dv) * 4);
      double es = rel_rms_fd(sg, rS, D * dv);
      if (denom) es = fmax(es, rel_rms_fd(so + H * D * dv + h * D, rs, D));
      worst_s = fmax(worst_s, es);
      ok = ok && es <= 1e-5;
    }
  CHECK_MSG(ok, "%s %s: rel-RMS out %.3g state %.3g", subq_isa_name(isa), name, worst_o, worst_s);
  if (getenv("SUBQ_TEST_VERBOSE"))
    fprintf(stderr, "%s %s: rel-RMS out %.3g state %.3g\n", subq_isa_name(isa), name, worst_o, worst_s);
  free(out), free(st), free(ro), free(rS), free(rs), free(S0), free(s0), free(og), free(sg);
  la_free(&s);
  subq_context_destroy(ctx);
}

/* Chunked prefill == T decode steps (recurrent form), and prefill split as
 * [0, a) prefill + decode steps [a, b) + prefill [b, T) == one prefill. */
static void la_forms(subq_isa isa, const la_case *k, unsigned long long seed) {
  char name[256];
  case_name(k, name, sizeof name);
  subq_context *ctx = subq_test_context(isa, 2);
  la_data s;
  la_make(&s, k, seed);
  const int64_t H = k->H, T = k->T, dv = k->dv, nO = k->B * T * H * dv, nS = k->B * s.sf;
  float *o1 = malloc((size_t)nO * 4), *o2 = malloc((size_t)nO * 4), *o3 = malloc((size_t)nO * 4);
  float *s1 = malloc((size_t)nS * 4), *s2 = malloc((size_t)nS * 4), *s3 = malloc((size_t)nS * 4);
  float *tmp = malloc((size_t)nO * 4);
  subq_linattn_args a;
  la_args(&s, &a, 0, T, s.s0, s1, o1);
  CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
  /* decode loop */
  memcpy(s2, s.s0, (size_t)nS * 4);
  for (int64_t t = 0; t < T; t++) {
    la_args(&s, &a, t, 1, s2, s2, tmp);
    CHECK_OK(subq_linattn_decode_f32(ctx, &a));
    for (int64_t b = 0; b < k->B; b++) memcpy(o2 + (b * T + t) * H * dv, tmp + b * H * dv, (size_t)(H * dv) * 4);
  }
  /* split */
  const int64_t ta = T / 3, tb = SUBQ_MIN(T, ta + 5);
  memcpy(s3, s.s0, (size_t)nS * 4);
  if (ta > 0) {
    la_args(&s, &a, 0, ta, s3, s3, tmp);
    CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
    for (int64_t b = 0; b < k->B; b++) memcpy(o3 + b * T * H * dv, tmp + b * ta * H * dv, (size_t)(ta * H * dv) * 4);
  }
  for (int64_t t = ta; t < tb; t++) {
    la_args(&s, &a, t, 1, s3, s3, tmp);
    CHECK_OK(subq_linattn_decode_f32(ctx, &a));
    for (int64_t b = 0; b < k->B; b++) memcpy(o3 + (b * T + t) * H * dv, tmp + b * H * dv, (size_t)(H * dv) * 4);
  }
  if (tb < T) {
    la_args(&s, &a, tb, T - tb, s3, s3, tmp);
    CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
    for (int64_t b = 0; b < k->B; b++)
      memcpy(o3 + (b * T + tb) * H * dv, tmp + b * (T - tb) * H * dv, (size_t)((T - tb) * H * dv) * 4);
  }
  const double eo2 = rel_rms_ff(o2, o1, nO), es2 = rel_rms_ff(s2, s1, nS);
  const double eo3 = rel_rms_ff(o3, o1, nO), es3 = rel_rms_ff(s3, s1, nS);
  CHECK_MSG(eo2 <= 1e-5 && es2 <= 1e-5, "%s %s: decode loop vs chunked rel-RMS out %.3g state %.3g",
            subq_isa_name(isa), name, eo2, es2);
  CHECK_MSG(eo3 <= 1e-5 && es3 <= 1e-5, "%s %s: split prefill vs one prefill rel-RMS out %.3g state %.3g",
            subq_isa_name(isa), name, eo3, es3);
  free(o1), free(o2), free(o3), free(s1), free(s2), free(s3), free(tmp);
  la_free(&s);
  subq_context_destroy(ctx);
}

/* ---- the compact Taylor map ---------------------------------------------------------------- */

/* Out of line: aarch64 gcc 12's vectoriser crashes on these reductions inlined below. */
static __attribute__((noinline)) double dot_dd(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
static __attribute__((noinline)) double max_diff_fd(const float *a, const double *b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double e = fabs((double)a[i] - b[i]);
    if (!(e <= m)) m = e; /* NaN propagates */
  }
  return m;
}
static __attribute__((noinline)) double dot_ff(const float *a, const float *b, int64_t n) {
  double s = 0.0, x[1024], y[1024]; /* widen first: the widening reduction is what crashes it */
  for (int64_t i = 0; i < n; i++) x[i] = a[i], y[i] = b[i];
  for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

static void test_feature_map(void) {
  for (int64_t dk = 8; dk <= 16; dk += 8) {
    const int64_t D = subq_linattn_feature_dim(SUBQ_LINATTN_FMAP_TAYLOR2, dk), D273 = 1 + dk + dk * dk;
    CHECK(D == 1 + dk + dk * (dk + 1) / 2);
    if (dk == 16) CHECK(D == 153);
    const int64_t rows = 50;
    float *x = gauss_buf(rows * dk, 77 + (unsigned long long)dk, false), *phi = malloc((size_t)(rows * D) * 4);
    CHECK_OK(subq_linattn_feature_map_f32(SUBQ_LINATTN_FMAP_TAYLOR2, dk, 0.0f, true, rows, x, dk, phi, D));
    double *p273a = malloc((size_t)D273 * 8), *p273b = malloc((size_t)D273 * 8), *pc = malloc((size_t)D * 8);
    const double scale = (double)(float)(1.0 / sqrt((double)dk));
    double worst = 0.0, worst_el = 0.0;
    for (int64_t i = 0; i < rows; i++) {
      subq_ref_la_phi(SUBQ_LINATTN_FMAP_TAYLOR2, dk, scale, true, false, x + i * dk, pc);
      worst_el = fmax(worst_el, max_diff_fd(phi + i * D, pc, D));
      for (int64_t j = 0; j < rows; j++) {
        subq_ref_la_phi(SUBQ_LINATTN_FMAP_TAYLOR2, dk, scale, true, true, x + i * dk, p273a);
        subq_ref_la_phi(SUBQ_LINATTN_FMAP_TAYLOR2, dk, scale, false, true, x + j * dk, p273b);
        const double d273 = dot_dd(p273a, p273b, D273), d153 = dot_ff(phi + i * D, phi + j * D, D);
        const double s = scale * dot_ff(x + i * dk, x + j * dk, dk);
        const double closed = 1.0 + s + 0.5 * s * s;
        worst = fmax(worst, fabs(d153 - d273) / fabs(d273));
        CHECK_MSG(fabs(d273 - closed) <= 1e-12 * fabs(closed), "273 map vs closed form: %.17g %.17g", d273, closed);
      }
    }
    CHECK_MSG(worst <= 1e-6, "dk %lld: compact map dot vs 273 map dot rel %.3g", (long long)dk, worst);
    CHECK_MSG(worst_el <= 1e-6, "dk %lld: compact map elements vs fp64 %.3g", (long long)dk, worst_el);
    free(x), free(phi), free(p273a), free(p273b), free(pc);
  }
  /* identity and elu+1 */
  float x[4] = {-1.0f, 0.5f, 2.0f, -0.25f}, o[4];
  CHECK_OK(subq_linattn_feature_map_f32(SUBQ_LINATTN_FMAP_ELU1, 4, 0.0f, true, 1, x, 4, o, 4));
  CHECK(fabsf(o[0] - expf(-1.0f)) < 1e-7f && o[1] == 1.5f && o[2] == 3.0f);
  CHECK_OK(subq_linattn_feature_map_f32(SUBQ_LINATTN_FMAP_IDENTITY, 4, 0.25f, true, 1, x, 4, o, 4));
  CHECK(o[0] == -0.25f && o[2] == 0.5f);
  CHECK_OK(subq_linattn_feature_map_f32(SUBQ_LINATTN_FMAP_IDENTITY, 4, 0.25f, false, 1, x, 4, o, 4));
  CHECK(o[0] == -1.0f && o[2] == 2.0f);
}

/* ---- determinism across thread counts and executors ------------------------------------------ */

static void test_determinism(void) {
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  const la_case cases[] = {
      {2, 300, 3, 16, 64, SUBQ_LINATTN_FMAP_TAYLOR2, SUBQ_LINATTN_NORM_DENOM, 0, true, true, false, 1, 0},
      {2, 200, 3, 32, 40, SUBQ_LINATTN_FMAP_IDENTITY, SUBQ_LINATTN_NORM_NONE, SUBQ_LINATTN_GATE_PER_KEY, true, true,
       false, 1, 32},
  };
  for (int ii = 0; ii < n; ii++)
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      la_data s;
      la_make(&s, &cases[c], 900 + c);
      const int64_t nO = s.cs.B * s.cs.T * s.cs.H * s.cs.dv, nS = s.cs.B * s.sf;
      float *o0 = malloc((size_t)nO * 4), *s0 = malloc((size_t)nS * 4), *o1 = malloc((size_t)nO * 4),
            *s1 = malloc((size_t)nS * 4);
      subq_linattn_args a;
      subq_context *c1 = subq_test_context(isas[ii], 1);
      la_args(&s, &a, 0, s.cs.T, s.s0, s0, o0);
      CHECK_OK(subq_linattn_prefill_f32(c1, &a));
      subq_context_destroy(c1);
      const int threads[] = {2, 3, 5};
      for (int t = 0; t < 4; t++) {
        subq_context *ct = NULL;
        if (t < 3) {
          ct = subq_test_context(isas[ii], threads[t]);
        } else {
          subq_context_params prm;
          subq_context_params_default(&prm, sizeof prm);
          prm.max_isa = isas[ii];
          const subq_executor ex = subq_test_shuffled_executor();
          CHECK_OK(subq_context_create_with_executor(&prm, &ex, &ct));
        }
        memset(o1, 0, (size_t)nO * 4);
        la_args(&s, &a, 0, s.cs.T, s.s0, s1, o1);
        CHECK_OK(subq_linattn_prefill_f32(ct, &a));
        CHECK_MSG(memcmp(o0, o1, (size_t)nO * 4) == 0 && memcmp(s0, s1, (size_t)nS * 4) == 0,
                  "%s case %zu: not bitwise equal with configuration %d", subq_isa_name(isas[ii]), c, t);
        subq_context_destroy(ct);
      }
      free(o0), free(s0), free(o1), free(s1);
      la_free(&s);
    }
}

/* state_in without state_out, state_out without state_in, separate in and out
 * buffers: the same outputs and states as in place. */
static void test_state_plumbing(void) {
  const la_case k = {2, 70, 3, 16, 24, SUBQ_LINATTN_FMAP_TAYLOR2, SUBQ_LINATTN_NORM_DENOM, 0, true, true, false, 1, 16};
  la_data s;
  la_make(&s, &k, 4242);
  const int64_t nO = k.B * k.T * k.H * k.dv, nS = k.B * s.sf;
  float *o1 = malloc((size_t)nO * 4), *o2 = malloc((size_t)nO * 4), *s1 = malloc((size_t)nS * 4),
        *s2 = malloc((size_t)nS * 4), *z = calloc((size_t)nS, 4);
  subq_linattn_args a;
  memcpy(s1, s.s0, (size_t)nS * 4);
  la_args(&s, &a, 0, k.T, s1, s1, o1);
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  la_args(&s, &a, 0, k.T, s.s0, NULL, o2);
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  CHECK(memcmp(o1, o2, (size_t)nO * 4) == 0);
  la_args(&s, &a, 0, k.T, s.s0, s2, o2);
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  CHECK(memcmp(o1, o2, (size_t)nO * 4) == 0 && memcmp(s1, s2, (size_t)nS * 4) == 0);
  /* zero start: NULL state_in equals an explicit zero state */
  la_args(&s, &a, 0, k.T, z, s1, o1);
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  la_args(&s, &a, 0, k.T, NULL, s2, o2);
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  CHECK(memcmp(o1, o2, (size_t)nO * 4) == 0 && memcmp(s1, s2, (size_t)nS * 4) == 0);
  /* decode: separate in / out buffers, and NULL state_in */
  la_args(&s, &a, 5, 1, s.s0, s1, o1);
  CHECK_OK(subq_linattn_decode_f32(NULL, &a));
  memcpy(s2, s.s0, (size_t)nS * 4);
  la_args(&s, &a, 5, 1, s2, s2, o2);
  CHECK_OK(subq_linattn_decode_f32(NULL, &a));
  CHECK(memcmp(o1, o2, (size_t)(k.B * k.H * k.dv) * 4) == 0 && memcmp(s1, s2, (size_t)nS * 4) == 0);
  la_args(&s, &a, 5, 1, NULL, s1, o1);
  CHECK_OK(subq_linattn_decode_f32(NULL, &a));
  memset(s2, 0, (size_t)nS * 4);
  la_args(&s, &a, 5, 1, s2, s2, o2);
  CHECK_OK(subq_linattn_decode_f32(NULL, &a));
  CHECK(memcmp(o1, o2, (size_t)(k.B * k.H * k.dv) * 4) == 0 && memcmp(s1, s2, (size_t)nS * 4) == 0);
  free(o1), free(o2), free(s1), free(s2), free(z);
  la_free(&s);
}

/* Outputs whose extent exceeds 16 MiB are written with non-temporal stores
 * (when aligned): a widely strided out gives the same bits as a dense one. */
static void test_streamed_output(void) {
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  const la_case cases[] = {
      {1, 70, 2, 16, 64, SUBQ_LINATTN_FMAP_TAYLOR2, SUBQ_LINATTN_NORM_DENOM, 0, true, true, false, 1, 0},
      {1, 70, 2, 16, 60, SUBQ_LINATTN_FMAP_TAYLOR2, SUBQ_LINATTN_NORM_DENOM, 0, true, true, false, 1, 32},
      {1, 70, 2, 64, 64, SUBQ_LINATTN_FMAP_IDENTITY, SUBQ_LINATTN_NORM_NONE, 0, false, false, false, 1, 0},
  };
  const int64_t ss = 65536; /* 69 rows x 256 KiB > 16 MiB */
  for (int ii = 0; ii < n; ii++)
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      const la_case *k = &cases[c];
      la_data s;
      la_make(&s, k, 700 + c);
      const int64_t nO = k->T * k->H * k->dv;
      float *o1 = malloc((size_t)nO * 4), *o2 = aligned_alloc(64, (size_t)(k->T * ss) * 4);
      subq_context *ctx = subq_test_context(isas[ii], 2);
      subq_linattn_args a;
      la_args(&s, &a, 0, k->T, s.s0, NULL, o1);
      CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
      la_args(&s, &a, 0, k->T, s.s0, NULL, o2);
      a.o_ss = ss, a.o_bs = k->T * ss;
      CHECK_OK(subq_linattn_prefill_f32(ctx, &a));
      bool same = true;
      for (int64_t t = 0; t < k->T; t++)
        same = same && memcmp(o1 + t * k->H * k->dv, o2 + t * ss, (size_t)(k->H * k->dv) * 4) == 0;
      CHECK_MSG(same, "%s case %zu: strided (streamed) output differs from dense", subq_isa_name(isas[ii]), c);
      subq_context_destroy(ctx);
      free(o1), free(o2);
      la_free(&s);
    }
}

/* ---- bad inputs ---------------------------------------------------------------------------- */

static void bad_reset(subq_linattn_args *a, float *q, float *k, float *v, float *o) {
  subq_linattn_args_default(a, sizeof *a);
  a->batch = 1, a->seqlen = 2, a->n_heads = 1, a->dim_qk = 4, a->dim_v = 4;
  a->q = q, a->k = k, a->v = v, a->out = o;
}

static void test_bad_inputs(void) {
  float q[64] = {0}, k[64] = {0}, v[64] = {0}, o[64], st[4096], g[8] = {0};
  subq_linattn_args a;
#define RESET() bad_reset(&a, q, k, v, o)
  RESET();
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_linattn_prefill_f32: args is NULL");
  RESET(), a.batch = -1;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "batch (-1) < 0");
  RESET(), a.seqlen = -2;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "seqlen (-2) < 0");
  RESET(), a.n_heads = 0;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "n_heads (0) < 1");
  RESET(), a.dim_qk = 33;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "dim_qk (33)");
  RESET(), a.dim_v = 0;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "dim_v (0)");
  RESET(), a.feature_map = 7;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "feature_map (7) is unknown");
  RESET(), a.normalize = 9;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "normalize (9) is unknown");
  RESET(), a.gate = 5;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "gate (5) is unknown");
  RESET(), a.gate = SUBQ_LINATTN_GATE_PER_KEY;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "gate PER_KEY needs");
  RESET(), a.gate = SUBQ_LINATTN_GATE_SCALAR, a.causal = 0, a.log_gate = g;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "gate needs causal == 1");
  RESET(), a.causal = 2;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "causal (2)");
  RESET(), a.gate = SUBQ_LINATTN_GATE_SCALAR;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "log_gate is NULL");
  RESET(), a.gate = SUBQ_LINATTN_GATE_SCALAR, a.log_gate = g, g[1] = 0.5f;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "log_gate (0.5 at batch 0, token 1");
  g[1] = NAN;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "is > 0 or NaN");
  g[1] = -1.0f;
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  RESET(), a.scale = -1.0f;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "scale (-1)");
  RESET(), a.scale = INFINITY;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "scale (inf)");
  RESET(), a.eps = NAN;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "eps (nan)");
  RESET(), a.norm_eps = -1.0f;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "norm_eps (-1)");
  RESET(), a.chunk = 2000;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "chunk (2000)");
  RESET(), a.q = NULL;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "q is NULL");
  RESET(), a.v = NULL;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "v is NULL");
  RESET(), a.out = NULL;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  RESET(), a.k_ss = -4, a.k_hs = 4;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "a stride of k is negative");
  RESET(), a.o_ss = 0, a.o_hs = 4, a.o_bs = 8;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "the strides of out make rows overlap");
  /* out's token rows must not overlap: o_ss 1 < dv 4 (found by fuzz_kernel_args) */
  RESET(), a.o_ss = 1, a.o_hs = 4, a.o_bs = 8;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "the strides of out make rows overlap");
  RESET(), a.batch = 2, a.o_ss = 4, a.o_hs = 4, a.o_bs = 4; /* sequences overlap */
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "the strides of out make rows overlap");
  RESET(), a.batch = 2, a.o_ss = 8, a.o_hs = 4, a.o_bs = 4; /* interleaved sequences are fine */
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  /* dense strides of a huge sequence: an overflow error, not a wrapped product */
  RESET(), a.seqlen = INT64_MAX / 2;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "overflows");
  RESET(), a.seqlen = INT64_MAX / 2, a.n_heads = 4, a.dim_qk = 8;
  subq_linattn_args_dense(&a);
  CHECK(a.q_hs == 8 && a.q_ss == 32 && a.q_bs == INT64_MAX && a.o_bs == INT64_MAX);
  RESET(), a.q_ss = INT64_MAX / 2, a.q_hs = 4;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "index arithmetic of q overflows");
  RESET(), a.out = q;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps q");
  RESET(), a.state_out = q + 1;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_out overlaps q");
  RESET(), a.state_out = st, a.out = st + 8;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps state_out");
  RESET(), a.state_bs = -1;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_bs (-1) < 0");
  RESET(), a.batch = 2, a.state_bs = 3, a.state_out = st;
  CHECK_STATUS(subq_linattn_prefill_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_bs (3) < state floats");
  RESET(), a.state_in = st, a.state_out = st;
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a)); /* in place is fine */
  RESET();
  CHECK_STATUS(subq_linattn_decode_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "subq_linattn_decode_f32: seqlen (2) must be 1");
  RESET(), a.seqlen = 1;
  CHECK_STATUS(subq_linattn_decode_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "state_out is NULL");
  RESET(), a.seqlen = 1, a.state_out = st, a.causal = 0;
  CHECK_STATUS(subq_linattn_decode_f32(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, "causal must be 1 for decode");
  /* struct_size: a larger struct with a non-zero tail */
  {
    unsigned char big[sizeof(subq_linattn_args) + 16];
    memset(big, 0, sizeof big);
    RESET();
    memcpy(big, &a, sizeof a);
    big[sizeof a + 3] = 1;
    subq_linattn_args *pa = (subq_linattn_args *)(void *)big;
    pa->struct_size = sizeof big;
    CHECK_STATUS(subq_linattn_prefill_f32(NULL, pa), SUBQ_ERR_UNSUPPORTED, "");
  }
  /* empty problems touch nothing */
  RESET(), a.batch = 0, a.q = a.k = a.v = NULL, a.out = NULL;
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  RESET(), a.seqlen = 0, a.state_out = st, st[0] = 123.0f;
  CHECK_OK(subq_linattn_prefill_f32(NULL, &a));
  CHECK(st[0] == 123.0f);
  /* the feature map entry point */
  CHECK_STATUS(subq_linattn_feature_map_f32(9, 4, 0.0f, true, 1, q, 4, o, 4), SUBQ_ERR_INVALID_ARGUMENT, "feature_map (9)");
  CHECK_STATUS(subq_linattn_feature_map_f32(2, 40, 0.0f, true, 1, q, 40, st, 1000), SUBQ_ERR_INVALID_ARGUMENT,
               "dim_qk (40)");
  CHECK_STATUS(subq_linattn_feature_map_f32(2, 4, 0.0f, true, 1, q, 4, o, 10), SUBQ_ERR_INVALID_ARGUMENT,
               "out_ld (10) < feature dim 15");
  CHECK_STATUS(subq_linattn_feature_map_f32(0, 4, 0.0f, true, 2, q, 3, o, 4), SUBQ_ERR_INVALID_ARGUMENT, "x_ld (3)");
  CHECK_STATUS(subq_linattn_feature_map_f32(0, 4, 0.0f, true, 1, NULL, 4, o, 4), SUBQ_ERR_INVALID_ARGUMENT, "x is NULL");
  CHECK_STATUS(subq_linattn_feature_map_f32(0, 4, 0.0f, true, 2, q, 4, q + 4, 4), SUBQ_ERR_INVALID_ARGUMENT,
               "out overlaps x");
  CHECK_STATUS(subq_linattn_feature_map_f32(0, 4, -2.0f, true, 1, q, 4, o, 4), SUBQ_ERR_INVALID_ARGUMENT, "scale (-2)");
  CHECK(subq_linattn_feature_dim(2, 16) == 153 && subq_linattn_feature_dim(0, 64) == 64 &&
        subq_linattn_feature_dim(5, 4) == 0 && subq_linattn_feature_dim(2, 0) == 0);
  RESET();
  CHECK(subq_linattn_state_floats(&a) == 15 * 4 + 15);
  a.normalize = SUBQ_LINATTN_NORM_NONE;
  CHECK(subq_linattn_state_floats(&a) == 15 * 4);
  CHECK(subq_linattn_state_floats(NULL) == 0);
#undef RESET
}

int main(void) {
  test_feature_map();
  test_bad_inputs();
  test_state_plumbing();
  test_streamed_output();
  subq_isa isas[8];
  const int n_isa = subq_test_isas(isas);
  const int TA = SUBQ_LINATTN_FMAP_TAYLOR2, ID = SUBQ_LINATTN_FMAP_IDENTITY, EL = SUBQ_LINATTN_FMAP_ELU1;
  const int DEN = SUBQ_LINATTN_NORM_DENOM, NON = SUBQ_LINATTN_NORM_NONE, RMS = SUBQ_LINATTN_NORM_RMSNORM;
  const int GS = SUBQ_LINATTN_GATE_SCALAR, GK = SUBQ_LINATTN_GATE_PER_KEY;
  /* B, T, H, dk, dv, map, norm, gate, causal, init, weight, gate_n, chunk */
  const la_case cases[] = {
      {1, 1, 1, 16, 64, TA, DEN, 0, true, false, false, 1, 0},
      {1, 63, 1, 16, 60, TA, DEN, 0, true, true, false, 1, 0},
      {2, 500, 3, 16, 64, TA, DEN, 0, true, true, false, 1, 0},
      {1, 1000, 2, 16, 128, TA, DEN, 0, true, false, false, 1, 0},
      {2, 500, 2, 8, 60, TA, NON, 0, true, true, false, 1, 0},
      {1, 500, 2, 16, 64, TA, RMS, 0, true, true, true, 1, 0},
      {1, 300, 2, 16, 64, TA, DEN, 0, true, true, false, 1, 16},
      {1, 300, 2, 16, 64, TA, DEN, 0, true, true, false, 1, 32},
      {1, 300, 2, 16, 64, TA, DEN, 0, true, true, false, 1, 128},
      /* chunks and tails off the 8-lane grid, the largest Taylor dk (D = 561) */
      {1, 70, 2, 16, 60, TA, DEN, 0, true, true, false, 1, 20},
      {1, 101, 2, 12, 64, TA, NON, 0, true, true, false, 1, 36},
      {1, 100, 1, 32, 64, TA, DEN, 0, true, true, false, 1, 0},
      {2, 500, 2, 64, 64, ID, NON, 0, true, true, false, 1, 0},
      {1, 1000, 2, 60, 128, ID, NON, 0, true, false, false, 1, 0},
      {1, 300, 2, 64, 64, ID, DEN, 0, true, true, false, 1, 0},
      {2, 300, 2, 16, 64, EL, DEN, 0, true, true, false, 1, 0},
      /* non-causal */
      {2, 200, 2, 16, 64, TA, DEN, 0, false, true, false, 1, 0},
      {1, 130, 2, 64, 60, ID, NON, 0, false, false, false, 1, 0},
      {1, 100, 2, 16, 64, EL, DEN, 0, false, false, false, 1, 0},
      /* gates */
      {2, 500, 2, 16, 64, TA, DEN, GS, true, true, false, 1, 0},
      {1, 300, 2, 64, 64, ID, NON, GS, true, true, false, 0.1, 0},
      {1, 300, 2, 64, 64, ID, NON, GS, true, true, false, 10, 0},
      {1, 300, 2, 64, 64, ID, NON, GK, true, true, false, 0.1, 0},
      {1, 300, 2, 64, 64, ID, NON, GK, true, true, false, 1, 0},
      {1, 300, 2, 60, 128, ID, NON, GK, true, true, false, 10, 0},
      {1, 200, 2, 16, 64, EL, DEN, GK, true, true, false, 1, 0},
      {1, 200, 2, 64, 64, ID, NON, GK, true, true, false, 1, 128},
  };
  /* under qemu the fp64 quadratic oracle dominates: the long cases shrink to T <= 300 */
  const bool emulated = getenv("SUBQ_TEST_EMULATOR") != NULL;
  for (int ii = 0; ii < n_isa; ii++)
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      la_case k = cases[c];
      if (emulated && k.T > 300) k.T = 257 + (int64_t)c;
      la_vs_ref(isas[ii], &k, 1000 + c);
    }
  const la_case forms[] = {
      {2, 150, 3, 16, 64, TA, DEN, 0, true, true, false, 1, 0},
      {1, 130, 2, 16, 60, TA, RMS, 0, true, true, true, 1, 0},
      {1, 100, 2, 64, 64, ID, NON, 0, true, true, false, 1, 0},
      {1, 100, 2, 64, 64, ID, NON, GS, true, true, false, 1, 0},
      {1, 100, 2, 32, 64, ID, NON, GK, true, true, false, 0.1, 0},
      {1, 100, 2, 16, 64, EL, DEN, GK, true, true, false, 1, 0},
  };
  for (int ii = 0; ii < n_isa; ii++)
    for (size_t c = 0; c < sizeof forms / sizeof forms[0]; c++) la_forms(isas[ii], &forms[c], 2000 + c);
  test_determinism();
  return subq_test_finish("test_linattn");
}
