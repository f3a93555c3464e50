/*
 * test_fattn.c — subq_fattn against a float64 naive attention oracle on every
 * ISA path the host runs; split-K against the unsplit pass; bitwise
 * determinism across thread counts and executors; the vector exp against libm
 * in double; every bad argument.
 *
 * Tolerance (spec attention.md §7, F32): rel_rms <= 1e-5 and elementwise
 * |out - ref| <= 1e-5 + 1e-5 * |ref| + 4e-7 * mag, where mag = sum_j p_ij |v_j|
 * bounds the magnitude of the terms summed (inputs are N(0,1)-like, so mag is
 * O(1)); lse within 1e-5 * (1 + |lse|).
 */
#include <float.h>
#include <stdint.h>

#include "families/fattn/subq_fattn_ukernel.h" /* subq_fattn_pack_bytes */
#include "ref/subq_ref_fattn.h"
#include "support/subq_test.h"

static int n_cases_run;
static double worst_rel_rms, worst_abs; /* over every oracle comparison, for the closing line */

/* layouts of q/k/v/out */
enum { LAY_BSHD, LAY_BHSD, LAY_QKV, LAY_PAD, LAY_N };
static const char *lay_name[LAY_N] = {"bshd", "bhsd", "qkv", "pad"};

typedef struct problem {
  subq_fattn_args a;
  float *qb, *kb, *vb, *ob; /* owned buffers (kb, vb may alias qb in LAY_QKV) */
  size_t osize;
} problem;

static float randn(subq_rng *r) { /* sum of uniforms: roughly N(0, 1) */
  float s = 0.0f;
  for (int i = 0; i < 4; i++) s += subq_rng_float(r);
  return s * 0.866f;
}

static float *alloc_fill(size_t n, unsigned long long seed, float qscale) {
  float *p = malloc((n ? n : 1) * sizeof(float));
  subq_rng r = {seed};
  for (size_t i = 0; i < n; i++) p[i] = randn(&r) * qscale;
  return p;
}

static void problem_make(problem *p, int64_t B, int64_t hq, int64_t hkv, int64_t sq, int64_t sk, int64_t dk,
                         int64_t dv, int lay, unsigned long long seed) {
  memset(p, 0, sizeof *p);
  subq_fattn_args *a = &p->a;
  subq_fattn_args_default(a, sizeof *a);
  a->batch = B, a->hq = hq, a->hkv = hkv, a->sq = sq, a->sk = sk, a->dk = dk, a->dv = dv;
  if (lay == LAY_QKV && (dk != dv || sq != sk)) lay = LAY_BSHD;
  size_t qn, kn, vn;
  switch (lay) {
    case LAY_BHSD:
      a->q_ss = dk, a->q_hs = sq * dk, a->q_bs = hq * sq * dk;
      a->k_ss = dk, a->k_hs = sk * dk, a->k_bs = hkv * sk * dk;
      a->v_ss = dv, a->v_hs = sk * dv, a->v_bs = hkv * sk * dv;
      a->o_ss = dv, a->o_hs = sq * dv, a->o_bs = hq * sq * dv;
      break;
    case LAY_PAD:
      a->q_hs = dk + 3, a->q_ss = hq * (dk + 3) + 5, a->q_bs = sq * a->q_ss + 1;
      a->k_hs = dk + 1, a->k_ss = hkv * (dk + 1) + 2, a->k_bs = sk * a->k_ss + 7;
      a->v_hs = dv + 2, a->v_ss = hkv * (dv + 2) + 3, a->v_bs = sk * a->v_ss + 4;
      a->o_hs = dv + 1, a->o_ss = hq * (dv + 1) + 1, a->o_bs = sq * a->o_ss + 2;
      break;
    default:
      subq_fattn_args_dense_bshd(a);
      break;
  }
  if (lay == LAY_QKV) { /* one fused [B][S][(hq + 2 hkv) * d] projection */
    const int64_t row = (hq + 2 * hkv) * dk;
    const size_t n = (size_t)(B * sq * row);
    p->qb = alloc_fill(n, seed, 1.0f);
    a->q = p->qb, a->k = p->qb + hq * dk, a->v = p->qb + (hq + hkv) * dk;
    a->q_hs = a->k_hs = a->v_hs = dk;
    a->q_ss = a->k_ss = a->v_ss = row;
    a->q_bs = a->k_bs = a->v_bs = sq * row;
    a->o_hs = dv, a->o_ss = hq * dv, a->o_bs = sq * hq * dv;
  } else {
    qn = (size_t)((B - 1) * a->q_bs + (sq - 1) * a->q_ss + (hq - 1) * a->q_hs + dk);
    kn = (size_t)((B - 1) * a->k_bs + (sk > 0 ? (sk - 1) * a->k_ss : 0) + (hkv - 1) * a->k_hs + dk);
    vn = (size_t)((B - 1) * a->v_bs + (sk > 0 ? (sk - 1) * a->v_ss : 0) + (hkv - 1) * a->v_hs + dv);
    p->qb = alloc_fill(qn, seed, 1.0f), p->kb = alloc_fill(kn, seed + 1, 1.0f), p->vb = alloc_fill(vn, seed + 2, 1.0f);
    a->q = p->qb, a->k = p->kb, a->v = p->vb;
  }
  p->osize = (size_t)((B - 1) * a->o_bs + (sq - 1) * a->o_ss + (hq - 1) * a->o_hs + dv);
  p->ob = malloc(p->osize * sizeof(float));
  a->out = p->ob;
}

static void problem_free(problem *p) {
  free(p->qb), free(p->kb), free(p->vb), free(p->ob);
}

static float out_at(const subq_fattn_args *a, const float *o, int64_t b, int64_t i, int64_t h, int64_t d) {
  return o[b * a->o_bs + i * a->o_ss + h * a->o_hs + d];
}

/* Compares o (in a's out layout) and lse with the oracle; returns the rel_rms. */
static double compare(const char *what, const subq_fattn_args *a, const float *o, const float *lse) {
  const size_t n = (size_t)(a->batch * a->sq * a->hq * a->dv), nl = (size_t)(a->batch * a->hq * a->sq);
  double *ref = malloc(n * sizeof(double)), *mag = malloc(n * sizeof(double)), *rl = malloc(nl * sizeof(double));
  subq_ref_fattn(a, ref, rl, mag);
  double e2 = 0, r2 = 0, worst = 0;
  int bad = 0;
  for (int64_t b = 0; b < a->batch; b++)
    for (int64_t i = 0; i < a->sq; i++)
      for (int64_t h = 0; h < a->hq; h++)
        for (int64_t d = 0; d < a->dv; d++) {
          const size_t x = (size_t)(((b * a->sq + i) * a->hq + h) * a->dv + d);
          const double got = out_at(a, o, b, i, h, d), err = fabs(got - ref[x]);
          e2 += err * err, r2 += ref[x] * ref[x];
          const double tol = 1e-5 + 1e-5 * fabs(ref[x]) + 4e-7 * mag[x];
          if (!(err <= tol)) {
            if (bad++ < 3)
              fprintf(stderr, "%s: out[%lld,%lld,%lld,%lld] = %.9g, ref %.9g\n", what, (long long)b, (long long)i,
                      (long long)h, (long long)d, got, ref[x]);
          }
          if (err > worst) worst = err;
        }
  CHECK_MSG(bad == 0, "%s: %d elements out of tolerance (max abs %.3g)", what, bad, worst);
  const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
  CHECK_MSG(rel <= 1e-5, "%s: rel_rms %.3g", what, rel);
  if (lse) {
    int lbad = 0;
    for (size_t x = 0; x < nl; x++) {
      const bool ok = rl[x] == -INFINITY ? lse[x] == -INFINITY : fabs(lse[x] - rl[x]) <= 1e-5 * (1 + fabs(rl[x]));
      if (!ok && lbad++ < 3) fprintf(stderr, "%s: lse[%zu] = %.9g, ref %.9g\n", what, x, (double)lse[x], rl[x]);
    }
    CHECK_MSG(lbad == 0, "%s: %d lse values out of tolerance", what, lbad);
  }
  free(ref), free(mag), free(rl);
  if (rel > worst_rel_rms) worst_rel_rms = rel;
  if (worst > worst_abs) worst_abs = worst;
  n_cases_run++;
  return rel;
}

typedef struct mask_case {
  const char *name;
  int32_t align;
  int64_t wl, wr;
  float softcap;
} mask_case;

static const mask_case masks[] = {
    {"none", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, -1, -1, 0.0f},
    {"causal", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, -1, 0, 0.0f},
    {"causal_tl", SUBQ_FATTN_ALIGN_TOP_LEFT, -1, 0, 0.0f},
    {"window63", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, 63, 0, 0.0f},
    {"window5_7", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, 5, 7, 0.0f},
    {"window00", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, 0, 0, 0.0f},
    {"right16", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, -1, 16, 0.0f},
    {"causal_cap", SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, -1, 0, 10.0f},
};
#define N_MASKS ((int)(sizeof masks / sizeof masks[0]))

static void run_case(subq_context *ctx, const char *iname, int64_t B, int64_t hq, int64_t hkv, int64_t sq, int64_t sk,
                     int64_t dk, int64_t dv, int mi, int lay, int64_t kv_split, float qscale) {
  problem p;
  problem_make(&p, B, hq, hkv, sq, sk, dk, dv, lay, (unsigned long long)(sq * 131 + sk * 7 + dk + mi));
  if (qscale != 1.0f)
    for (int64_t b = 0; b < B; b++)
      for (int64_t i = 0; i < sq; i++)
        for (int64_t h = 0; h < hq; h++)
          for (int64_t d = 0; d < dk; d++) p.qb[b * p.a.q_bs + i * p.a.q_ss + h * p.a.q_hs + d] *= qscale;
  const mask_case *m = &masks[mi];
  p.a.align = m->align, p.a.window_left = m->wl, p.a.window_right = m->wr, p.a.softcap = m->softcap;
  p.a.kv_split = kv_split;
  float *lse = malloc((size_t)(B * hq * sq) * sizeof(float));
  p.a.lse = lse;
  for (size_t i = 0; i < p.osize; i++) p.ob[i] = NAN; /* every element must be written */
  char what[256];
  snprintf(what, sizeof what, "%s B%lld H%lld/%lld Sq%lld Sk%lld D%lld/%lld %s %s split%lld q*%g", iname,
           (long long)B, (long long)hq, (long long)hkv, (long long)sq, (long long)sk, (long long)dk, (long long)dv,
           m->name, lay_name[lay], (long long)kv_split, (double)qscale);
  subq_status st = subq_fattn(ctx, &p.a);
  CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
  if (st == SUBQ_OK) compare(what, &p.a, p.ob, lse);
  free(lse);
  problem_free(&p);
}

static void shapes_for_isa(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  if (!ctx) return;
  const char *in = subq_isa_name(isa);
  /* odd sequence lengths, every mask */
  static const int64_t ns[] = {1, 7, 63, 257};
  for (int i = 0; i < 4; i++)
    for (int mi = 0; mi < N_MASKS; mi++) run_case(ctx, in, 1, 2, 1, ns[i], ns[i], 64, 64, mi, (i + mi) % LAY_N, 0, 1.0f);
  /* head dims (DK != DV too), tails of the vector paths */
  static const int64_t dks[][2] = {{40, 40}, {80, 80}, {128, 128}, {256, 256}, {192, 128}, {40, 72}, {1, 1}, {13, 5}};
  for (int i = 0; i < 8; i++)
    run_case(ctx, in, 2, 4, 2, 33, 70, dks[i][0], dks[i][1], i % N_MASKS, i % 2 ? LAY_PAD : LAY_BHSD, 0, 1.0f);
  /* GQA ratios 1, 4, 8 (and MQA) with chunked prefill Sq < Sk */
  run_case(ctx, in, 1, 4, 4, 20, 100, 64, 64, 1, LAY_BSHD, 0, 1.0f);
  run_case(ctx, in, 2, 8, 2, 20, 100, 64, 64, 3, LAY_BHSD, 0, 1.0f);
  run_case(ctx, in, 1, 16, 2, 9, 300, 32, 48, 1, LAY_PAD, 0, 1.0f);
  run_case(ctx, in, 1, 5, 1, 17, 40, 24, 24, 6, LAY_QKV, 0, 1.0f);
  run_case(ctx, in, 1, 12, 4, 64, 64, 32, 32, 1, LAY_QKV, 0, 1.0f);
  /* long prefill: 1030 tokens, causal and sliding window */
  run_case(ctx, in, 1, 1, 1, 1030, 1030, 64, 64, 1, LAY_BSHD, 0, 1.0f);
  run_case(ctx, in, 1, 2, 1, 1030, 1030, 40, 40, 3, LAY_BHSD, 0, 1.0f);
  /* GQA 4, DK != DV, every mask over 19 query tiles of 16 tokens */
  for (int mi = 0; mi < N_MASKS; mi++) run_case(ctx, in, 1, 8, 2, 300, 330, 32, 24, mi, mi % LAY_N, 0, 1.0f);
  /* peaky softmax (q x 8) and large logits with soft-cap */
  run_case(ctx, in, 1, 2, 2, 50, 50, 64, 64, 0, LAY_BSHD, 0, 8.0f);
  run_case(ctx, in, 1, 2, 2, 50, 50, 64, 64, 7, LAY_BSHD, 0, 30.0f);
  /* decode: Sq 1..4 against long KV, automatic and explicit splits */
  run_case(ctx, in, 1, 8, 2, 1, 3000, 128, 128, 1, LAY_BSHD, 0, 1.0f);
  run_case(ctx, in, 1, 8, 2, 4, 1025, 64, 64, 1, LAY_BSHD, 7, 1.0f);
  run_case(ctx, in, 2, 4, 1, 3, 700, 64, 64, 3, LAY_PAD, 64, 1.0f);
  run_case(ctx, in, 1, 4, 4, 1, 113, 80, 80, 0, LAY_BHSD, 2, 1.0f);
  /* Sq > Sk bottom-right causal: the first rows see no key -> exact zeros (checked by compare) */
  run_case(ctx, in, 1, 2, 1, 20, 8, 16, 16, 1, LAY_BSHD, 0, 1.0f);
  run_case(ctx, in, 1, 2, 1, 20, 8, 16, 16, 5, LAY_BSHD, 3, 1.0f);
  subq_context_destroy(ctx);
}

/* Fully masked rows: exactly 0 and lse -inf, and NaN in K/V slots the mask
 * excludes never reaches the output. */
static void masked_rows(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  problem p;
  problem_make(&p, 1, 4, 2, 12, 6, 24, 24, LAY_BSHD, 77);
  p.a.align = SUBQ_FATTN_ALIGN_TOP_LEFT, p.a.window_left = 0, p.a.window_right = 0; /* row i sees key i only */
  float lse[4 * 12];
  p.a.lse = lse;
  CHECK_OK(subq_fattn(ctx, &p.a));
  bool zeros = true, lses = true;
  for (int64_t i = 6; i < 12; i++)
    for (int64_t h = 0; h < 4; h++) {
      for (int64_t d = 0; d < 24; d++) zeros &= out_at(&p.a, p.ob, 0, i, h, d) == 0.0f;
      lses &= lse[h * 12 + i] == -INFINITY;
    }
  CHECK_MSG(zeros && lses, "%s: fully masked rows are not exact zeros with lse -inf", subq_isa_name(isa));
  compare("masked_rows", &p.a, p.ob, lse);
  problem_free(&p);

  /* window (15, 0) decode-like: keys before every row's window hold NaN */
  problem_make(&p, 1, 4, 1, 5, 300, 64, 64, LAY_BSHD, 78);
  p.a.window_left = 15, p.a.window_right = 0;
  p.a.kv_split = 100;
  float *o1 = malloc(p.osize * sizeof(float));
  CHECK_OK(subq_fattn(ctx, &p.a));
  memcpy(o1, p.ob, p.osize * sizeof(float));
  for (int64_t j = 0; j < 300 - 5 - 15; j++)
    for (int64_t d = 0; d < 64; d++) p.kb[j * p.a.k_ss + d] = NAN, p.vb[j * p.a.v_ss + d] = NAN;
  CHECK_OK(subq_fattn(ctx, &p.a));
  CHECK_MSG(memcmp(o1, p.ob, p.osize * sizeof(float)) == 0, "%s: NaN in masked KV slots changed the output",
            subq_isa_name(isa));
  free(o1);
  problem_free(&p);
  subq_context_destroy(ctx);
}

/* Split-K equals the unsplit pass within tolerance, and every thread count /
 * executor reproduces the same bits. */
static void splits_and_determinism(void) {
  problem p;
  problem_make(&p, 1, 8, 2, 2, 2100, 128, 128, LAY_BSHD, 91);
  p.a.window_right = 0;
  const size_t on = p.osize;
  float *ref = malloc(on * sizeof(float)), *o = malloc(on * sizeof(float));
  p.a.kv_split = -1;
  CHECK_OK(subq_fattn(NULL, &p.a));
  memcpy(ref, p.ob, on * sizeof(float));
  static const int64_t splits[] = {1, 2, 7, 64, 256, 512};
  for (int i = 0; i < 6; i++) {
    p.a.kv_split = splits[i];
    CHECK_OK(subq_fattn(NULL, &p.a));
    double worst = 0;
    for (size_t x = 0; x < on; x++) { /* (an if, not fmax: aarch64 gcc 12 -O3 ICEs vectorising that reduction) */
      const double e = fabs((double)p.ob[x] - ref[x]) / (1e-5 + 1e-5 * fabs(ref[x]));
      if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(worst <= 1.0, "split %lld vs unsplit: %.3g x tolerance", (long long)splits[i], worst);
  }
  /* determinism: decode with automatic splits (2 items: 512-key splits; 40
   * items: 2 splits of 1050 keys), and a causal prefill; the automatic
   * splits within tolerance of the unsplit pass */
  for (int shape = 0; shape < 3; shape++) {
    problem_free(&p);
    if (shape == 0)
      problem_make(&p, 1, 8, 2, 1, 2100, 64, 64, LAY_BSHD, 92);
    else if (shape == 1)
      problem_make(&p, 2, 4, 2, 150, 150, 40, 40, LAY_PAD, 93);
    else
      problem_make(&p, 1, 40, 40, 1, 2100, 64, 64, LAY_BSHD, 94);
    p.a.window_right = 0;
    float *unsplit = malloc(p.osize * sizeof(float));
    p.a.kv_split = -1;
    CHECK_OK(subq_fattn(NULL, &p.a));
    memcpy(unsplit, p.ob, p.osize * sizeof(float));
    p.a.kv_split = 0;
    CHECK_OK(subq_fattn(NULL, &p.a));
    double worst = 0;
    for (size_t x = 0; x < p.osize; x++) {
      const double e = fabs((double)p.ob[x] - unsplit[x]) / (1e-5 + 1e-5 * fabs(unsplit[x]));
      if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(worst <= 1.0, "shape %d: automatic splits vs unsplit: %.3g x tolerance", shape, worst);
    free(unsplit);
    float lse0[8 * 150], lse1[8 * 150];
    p.a.lse = lse0;
    float *first = malloc(p.osize * sizeof(float));
    const int threads[] = {1, 2, 3, 5};
    for (int run = 0; run < 6; run++) {
      subq_context *ctx = NULL;
      if (run == 4) {
        subq_executor ex = subq_test_shuffled_executor();
        CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
      } else if (run < 4) {
        ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run]);
      } /* run 5: ctx == NULL */
      memset(p.ob, 0, p.osize * sizeof(float));
      p.a.lse = run == 0 ? lse0 : lse1;
      CHECK_OK(subq_fattn(ctx, &p.a));
      if (run == 0)
        memcpy(first, p.ob, p.osize * sizeof(float));
      else
        CHECK_MSG(memcmp(first, p.ob, p.osize * sizeof(float)) == 0 &&
                      memcmp(lse0, lse1, (size_t)(p.a.batch * p.a.hq * p.a.sq) * sizeof(float)) == 0,
                  "shape %d run %d: not bitwise identical to 1 thread", shape, run);
      subq_context_destroy(ctx);
    }
    free(first);
  }
  free(ref), free(o);
  problem_free(&p);
}

/* K/V packed once per call (subq_fattn.c: the transposed path with >= 2
 * query tiles and K/V from the args) in one wave, in several waves (the wave
 * budget lowered to a few (b, kv head) pairs) and not at all (budget 0): the
 * same bits at 1 and 2 threads and through the shuffled executor, within
 * tolerance of the oracle. The verbose plan line must name the packing and the
 * wave count, so a change that stops packing fails here. Shapes: strided
 * layouts, windows that narrow the packed key range at both ends, top-left
 * causal with Sq > Sk, an explicit split (packing, then the merge), soft-cap,
 * and GQA. */
static char plan_line[512];
static void keep_plan(void *user, subq_log_level level, const char *msg) {
  (void)user, (void)level;
  if (strstr(msg, "subq_fattn:")) snprintf(plan_line, sizeof plan_line, "%s", msg);
}

static subq_context *verbose_context(subq_isa isa, int threads) {
  subq_context_params cp;
  subq_context_params_default(&cp, sizeof cp);
  cp.max_isa = isa, cp.n_threads = threads, cp.verbose = 1;
  subq_context *ctx = NULL;
  CHECK_OK(subq_context_create(&cp, &ctx));
  return ctx;
}

/* The plan line's value of `key=` (-1 when absent). */
static long long plan_value(const char *key) {
  const char *at = strstr(plan_line, key);
  return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

static void packed_kv(subq_isa isa) {
  static const struct {
    int64_t B, hq, hkv, sq, sk, dk, dv;
    int mi, lay;
    int64_t split, keys; /* keys: how many keys some query may see (the packed range) */
  } cs[] = {
      {2, 6, 3, 200, 260, 40, 24, 1, LAY_PAD, 0, 260},   /* causal: every key */
      {1, 4, 2, 150, 600, 64, 64, 3, LAY_BSHD, 0, 213},  /* window 63, first query at 450: [387, 600) */
      {1, 4, 4, 130, 500, 32, 32, 2, LAY_BHSD, 0, 130},  /* top-left causal: [0, 130) */
      {1, 2, 1, 300, 150, 16, 16, 2, LAY_BSHD, 0, 150},  /* top-left causal, Sq > Sk */
      {1, 8, 2, 120, 900, 48, 48, 4, LAY_BSHD, 250, 125}, /* window (5, 7): [775, 900); splits of 250 */
      {2, 4, 2, 140, 140, 64, 64, 7, LAY_PAD, 0, 140},   /* soft-cap */
  };
  const size_t saved = subq_fattn_pack_bytes;
  subq_set_log_callback(keep_plan, NULL);
  for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
    problem p;
    problem_make(&p, cs[c].B, cs[c].hq, cs[c].hkv, cs[c].sq, cs[c].sk, cs[c].dk, cs[c].dv, cs[c].lay, 500 + c);
    const mask_case *m = &masks[cs[c].mi];
    p.a.align = m->align, p.a.window_left = m->wl, p.a.window_right = m->wr, p.a.softcap = m->softcap;
    p.a.kv_split = cs[c].split;
    const size_t nl = (size_t)(cs[c].B * cs[c].hq * cs[c].sq);
    float *lse = malloc(nl * sizeof(float)), *first = malloc(p.osize * sizeof(float)), *lse0 = malloc(nl * sizeof(float));
    p.a.lse = lse;
    const size_t pair = (size_t)cs[c].keys * (size_t)(cs[c].dk + cs[c].dv) * sizeof(float);
    const size_t budgets[3] = {0, saved, pair}; /* none, the default (one wave here), one pair's worth */
    for (int bi = 0; bi < 3; bi++)
      for (int run = 0; run < 3; run++) {
        subq_fattn_pack_bytes = budgets[bi];
        subq_context *ctx = NULL;
        if (run == 2) {
          subq_executor ex = subq_test_shuffled_executor();
          subq_context_params cp;
          subq_context_params_default(&cp, sizeof cp);
          cp.max_isa = isa, cp.verbose = 1;
          CHECK_OK(subq_context_create_with_executor(&cp, &ex, &ctx));
        } else {
          ctx = verbose_context(isa, run + 1);
        }
        plan_line[0] = '\0';
        for (size_t i = 0; i < p.osize; i++) p.ob[i] = NAN;
        const subq_status st = subq_fattn(ctx, &p.a);
        subq_context_destroy(ctx);
        CHECK_MSG(st == SUBQ_OK, "packed_kv case %zu: %s", c, subq_last_error_message());
        const bool packed = strstr(plan_line, "packed_kv=yes") != NULL;
        const long long waves = plan_value("waves=");
        CHECK_MSG(bi == 0 ? strstr(plan_line, "packed_kv=no") != NULL : packed,
                  "%s case %zu budget %zu run %d: plan '%s'", subq_isa_name(isa), c, budgets[bi], run, plan_line);
        if (bi == 1) CHECK_MSG(waves == 1, "case %zu: default budget: %lld waves, not 1", c, waves);
        if (bi == 2 && run == 0 && cs[c].B * cs[c].hkv > 1)
          CHECK_MSG(waves > 1, "case %zu: one pair's budget at 1 thread: %lld waves", c, waves);
        if (bi == 0 && run == 0) {
          memcpy(first, p.ob, p.osize * sizeof(float));
          memcpy(lse0, lse, nl * sizeof(float));
          compare("packed_kv", &p.a, p.ob, lse);
        } else {
          CHECK_MSG(memcmp(first, p.ob, p.osize * sizeof(float)) == 0 && memcmp(lse0, lse, nl * sizeof(float)) == 0,
                    "%s case %zu budget %zu run %d: not bitwise identical to the unpacked pass", subq_isa_name(isa), c,
                    budgets[bi], run);
        }
      }
    free(lse), free(first), free(lse0);
    problem_free(&p);
  }
  subq_set_log_callback(NULL, NULL);
  subq_fattn_pack_bytes = saved;
}

/* Tiny problems (below the driver's 2^17 multiply-adds) run inline on the
 * calling thread, on a stack buffer when their tiles need no packing: batch 1
 * of a shape just under the threshold must give the same bits as batch 0 of
 * the same data with batch 2 (over it: the pool, the tiled path's scratch),
 * and both must match the oracle. Every mask; prefill and decode. */
static void tiny_threshold(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  /* {hq, hkv, sq, sk, d}: 8 * 11 * 11 * 128 and 8 * 1 * 100 * 128 multiply-adds per batch */
  static const int64_t shapes[][5] = {{8, 2, 11, 11, 64}, {8, 2, 1, 100, 64}, {4, 4, 3, 5, 24}};
  for (int si = 0; si < 3; si++)
    for (int mi = 0; mi < N_MASKS; mi++) {
      const int64_t *sh = shapes[si];
      problem p;
      problem_make(&p, 2, sh[0], sh[1], sh[2], sh[3], sh[4], sh[4], LAY_BSHD, 300 + (unsigned long long)(si * 16 + mi));
      const mask_case *m = &masks[mi];
      p.a.align = m->align, p.a.window_left = m->wl, p.a.window_right = m->wr, p.a.softcap = m->softcap;
      float lse[2 * 8 * 11];
      p.a.lse = lse;
      CHECK_OK(subq_fattn(ctx, &p.a));
      char what[160];
      snprintf(what, sizeof what, "%s tiny threshold H%lld/%lld Sq%lld Sk%lld D%lld %s", subq_isa_name(isa),
               (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3], (long long)sh[4], m->name);
      compare(what, &p.a, p.ob, lse);
      const size_t half = (size_t)p.a.o_bs, nl = (size_t)(sh[0] * sh[2]);
      float *o2 = malloc(half * sizeof(float)), l2[8 * 11];
      memcpy(o2, p.ob, half * sizeof(float)), memcpy(l2, lse, nl * sizeof(float));
      p.a.batch = 1;
      for (size_t i = 0; i < half; i++) p.ob[i] = NAN;
      CHECK_OK(subq_fattn(ctx, &p.a));
      compare(what, &p.a, p.ob, lse);
      CHECK_MSG(memcmp(o2, p.ob, half * sizeof(float)) == 0 && memcmp(l2, lse, nl * sizeof(float)) == 0,
                "%s: inline (batch 1) differs from the tiled path (batch 2)", what);
      free(o2);
      problem_free(&p);
    }
  subq_context_destroy(ctx);
}

/* The vector exp against libm in double: <= 2 ulp over the whole range. */
static void exp_accuracy(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 1);
  const int64_t n = 1 << 20;
  float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = -87.33f + (float)((88.72 + 87.33) * (double)i / (double)(n - 1));
  x[0] = -INFINITY, x[1] = INFINITY, x[2] = NAN, x[3] = -100.0f, x[4] = 100.0f, x[5] = 0.0f, x[6] = -0.0f;
  x[7] = 88.7228f, x[8] = -87.3365f, x[9] = 1e-30f;
  CHECK_OK(subq_fattn_expf(ctx, x, y, n));
  double worst = 0;
  int64_t wi = 0;
  for (int64_t i = 10; i < n; i++) {
    const double e = exp((double)x[i]);
    const double ulp = ldexp(1.0, ilogb(e) - 23);
    const double u = fabs((double)y[i] - e) / ulp;
    if (u > worst) worst = u, wi = i;
  }
  CHECK_MSG(worst <= 2.0, "%s exp: %.3g ulp at x = %.9g", subq_isa_name(isa), worst, (double)x[wi]);
  CHECK(y[0] == 0.0f && !signbit(y[0]));
  CHECK(isinf(y[1]) && y[1] > 0);
  CHECK(isnan(y[2]));
  CHECK(y[3] == 0.0f && isinf(y[4]) && y[5] == 1.0f && y[6] == 1.0f);
  CHECK(isfinite(y[7]) && y[7] > 3.4e38f);
  CHECK(y[9] == 1.0f);
  /* odd lengths (masked tails) agree with the full-length call */
  float z[13];
  CHECK_OK(subq_fattn_expf(ctx, x + 100, z, 13));
  CHECK(memcmp(z, y + 100, sizeof z) == 0);
  printf("test_fattn: %s exp max error %.3f ulp\n", subq_isa_name(isa), worst);
  free(x), free(y);
  subq_context_destroy(ctx);
}

/* The optional additive mask tensor: full (B, Hq, Sq, Sk), and broadcast over
 * B, H and Sq via zero strides (a [B,1,1,Sk] padding mask), with -inf entries,
 * combined with causal / window masks, soft-cap and split-K; rows the bias
 * masks entirely are exact zeros with lse -inf. */
static void mask_tensor(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  static const struct {
    int64_t B, hq, hkv, sq, sk, d;
    int bcast; /* bit 0: batch, 1: head, 2: query row broadcast */
    int mi;    /* window mask */
    int64_t split;
  } cs[] = {
      {2, 4, 2, 33, 70, 40, 0, 0, 0},  {2, 4, 2, 33, 70, 64, 1, 1, 0}, {1, 6, 3, 50, 50, 32, 2, 3, 0},
      {2, 4, 1, 1, 900, 64, 6, 1, 100}, {3, 2, 2, 20, 20, 16, 7, 7, 0}, {1, 8, 2, 70, 130, 24, 4, 0, 0},
  };
  for (int c = 0; c < (int)(sizeof cs / sizeof cs[0]); c++) {
    problem p;
    problem_make(&p, cs[c].B, cs[c].hq, cs[c].hkv, cs[c].sq, cs[c].sk, cs[c].d, cs[c].d, LAY_BSHD, 300 + (unsigned)c);
    const int64_t nb = cs[c].bcast & 1 ? 1 : cs[c].B, nh = cs[c].bcast & 2 ? 1 : cs[c].hq;
    const int64_t ns = cs[c].bcast & 4 ? 1 : cs[c].sq, sk = cs[c].sk;
    const size_t n = (size_t)(nb * nh * ns * sk);
    float *m = malloc(n * sizeof(float));
    subq_rng r = {77 + (unsigned long long)c};
    for (size_t i = 0; i < n; i++) {
      const float u = subq_rng_float(&r);
      m[i] = u > 0.8f ? -INFINITY : 2.0f * u; /* ~10% of keys excluded */
    }
    /* query row 0 of head 0, batch 0 excluded from every key: exact zeros (unless broadcast over rows) */
    for (int64_t j = 0; j < sk; j++) m[j] = -INFINITY;
    p.a.mask = m;
    p.a.mask_ss = cs[c].bcast & 4 ? 0 : sk;
    p.a.mask_hs = cs[c].bcast & 2 ? 0 : ns * sk;
    p.a.mask_bs = cs[c].bcast & 1 ? 0 : nh * ns * sk;
    const mask_case *mc = &masks[cs[c].mi];
    p.a.align = mc->align, p.a.window_left = mc->wl, p.a.window_right = mc->wr, p.a.softcap = mc->softcap;
    p.a.kv_split = cs[c].split;
    float *lse = malloc((size_t)(cs[c].B * cs[c].hq * cs[c].sq) * sizeof(float));
    p.a.lse = lse;
    for (size_t i = 0; i < p.osize; i++) p.ob[i] = NAN;
    char what[160];
    snprintf(what, sizeof what, "%s mask case %d (bcast %d, %s, split %lld)", subq_isa_name(isa), c, cs[c].bcast,
             mc->name, (long long)cs[c].split);
    subq_status st = subq_fattn(ctx, &p.a);
    CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
    if (st == SUBQ_OK) {
      compare(what, &p.a, p.ob, lse);
      bool zeros = lse[0] == -INFINITY;
      for (int64_t d = 0; d < cs[c].d; d++) zeros &= out_at(&p.a, p.ob, 0, 0, 0, d) == 0.0f;
      CHECK_MSG(zeros, "%s: the row the bias excludes entirely is not exact zeros / lse -inf", what);
    }
    free(m), free(lse);
    problem_free(&p);
  }
  subq_context_destroy(ctx);
}

/* Keys the bias excludes for every row and head (padding) may hold NaN or Inf
 * in K and V: the output is bitwise the one with zeros there, on the
 * many-row (prefill) path, the few-row (decode) path and with splits. */
static void padding_keys(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  static const struct {
    int64_t hq, hkv, sq, sk, d, split;
  } cs[] = {{4, 2, 40, 100, 64, 0}, {8, 2, 1, 300, 40, 64}, {2, 2, 70, 70, 24, 0}, {6, 3, 2, 130, 32, 0}};
  for (int c = 0; c < (int)(sizeof cs / sizeof cs[0]); c++) {
    problem p;
    problem_make(&p, 1, cs[c].hq, cs[c].hkv, cs[c].sq, cs[c].sk, cs[c].d, cs[c].d, LAY_BSHD, 900 + (unsigned)c);
    const int64_t sk = cs[c].sk, d = cs[c].d;
    float *m = calloc((size_t)sk, sizeof(float));
    bool *pad = calloc((size_t)sk, sizeof(bool));
    for (int64_t j = 0; j < sk; j++) pad[j] = j < 10 || (j >= sk / 2 && j < sk / 2 + 3) || j % 17 == 5;
    for (int64_t j = 0; j < sk; j++) m[j] = pad[j] ? -INFINITY : 0.0f;
    p.a.mask = m, p.a.mask_bs = p.a.mask_hs = p.a.mask_ss = 0; /* one row of bias for all */
    p.a.window_right = 0;
    p.a.kv_split = cs[c].split;
    for (int64_t j = 0; j < sk; j++)
      if (pad[j])
        for (int64_t h = 0; h < cs[c].hkv; h++)
          for (int64_t i = 0; i < d; i++) p.kb[j * p.a.k_ss + h * p.a.k_hs + i] = 0.0f, p.vb[j * p.a.v_ss + h * p.a.v_hs + i] = 0.0f;
    CHECK_OK(subq_fattn(ctx, &p.a));
    char what[160];
    snprintf(what, sizeof what, "%s padding keys case %d", subq_isa_name(isa), c);
    compare(what, &p.a, p.ob, NULL);
    float *o0 = malloc(p.osize * sizeof(float));
    memcpy(o0, p.ob, p.osize * sizeof(float));
    for (int64_t j = 0; j < sk; j++)
      if (pad[j])
        for (int64_t h = 0; h < cs[c].hkv; h++)
          for (int64_t i = 0; i < d; i++) {
            p.kb[j * p.a.k_ss + h * p.a.k_hs + i] = i % 2 ? NAN : INFINITY;
            p.vb[j * p.a.v_ss + h * p.a.v_hs + i] = i % 3 ? NAN : -INFINITY;
          }
    CHECK_OK(subq_fattn(ctx, &p.a));
    CHECK_MSG(memcmp(o0, p.ob, p.osize * sizeof(float)) == 0, "%s: NaN / Inf in padded K/V changed the output", what);
    free(o0), free(m), free(pad);
    problem_free(&p);
  }
  subq_context_destroy(ctx);
}

static void bad_args(void) {
  problem p;
  problem_make(&p, 2, 4, 2, 8, 8, 16, 16, LAY_BSHD, 5);
  subq_fattn_args a;
#define BAD(field_assign, needle)                                                            \
  do {                                                                                       \
    a = p.a;                                                                                 \
    field_assign;                                                                            \
    CHECK_STATUS(subq_fattn(NULL, &a), SUBQ_ERR_INVALID_ARGUMENT, needle);                   \
  } while (0)
  CHECK_STATUS(subq_fattn(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "args");
  BAD(a.batch = -1, "batch");
  BAD(a.sq = -2, "sq");
  BAD(a.sk = -1, "sk");
  BAD(a.hq = 0, "hq");
  BAD(a.hkv = 0, "hkv");
  BAD(a.hkv = 3, "not a multiple of hkv");
  BAD(a.dk = 0, "dk");
  BAD(a.dk = 257, "dk");
  BAD(a.dv = 300, "dv");
  BAD(a.window_left = -2, "window_left");
  BAD(a.window_right = -5, "window_right");
  BAD(a.align = 7, "align");
  BAD(a.scale = INFINITY, "scale");
  BAD(a.softcap = -1.0f, "softcap");
  BAD(a.softcap = NAN, "softcap");
  BAD(a.kv_split = -3, "kv_split");
  BAD(a.q = NULL, "q is NULL");
  BAD(a.k = NULL, "k is NULL");
  BAD(a.v = NULL, "v is NULL");
  BAD(a.out = NULL, "out is NULL");
  BAD(a.q_ss = -16, "q_ss");
  BAD(a.k_hs = -1, "k_hs");
  BAD(a.o_hs = 8, "o_hs");         /* heads of out overlap (dv 16) */
  BAD(a.k_ss = 20, "k_ss");        /* tokens overlap heads */
  BAD(a.v_hs = 0, "v_hs");
  BAD(a.o_bs = 0, "o_bs");
  BAD(a.out = (float *)p.qb, "out overlaps q");
  BAD(a.lse = p.ob + 3, "out overlaps lse");
  BAD(a.lse = p.kb + 1, "lse overlaps k");
  BAD(a.q_bs = INT64_MAX / 2, "overflows");
  {
    float mk[8 * 8] = {0};
    BAD((a.mask = mk, a.mask_ss = -8), "mask stride");
    BAD((a.mask = mk, a.mask_hs = INT64_MAX / 2), "index arithmetic of mask");
    BAD((a.mask = p.ob, a.mask_ss = 8), "out overlaps mask");
    /* lse is written while other tiles still read the mask (fuzz_kernel_args) */
    float mkl[8 * 8 + 2 * 4 * 8] = {0};
    BAD((a.mask = mkl, a.mask_ss = 8, a.lse = mkl + 5), "lse overlaps mask");
    BAD((a.mask = mkl + 8, a.mask_ss = 8, a.lse = mkl), "lse overlaps mask");
    a = p.a, a.mask = mk, a.mask_ss = 8; /* (1, 1, Sq, Sk) */
    CHECK_OK(subq_fattn(NULL, &a));
  }
  BAD((a.batch = INT64_MAX / 2, a.hq = 4), "overflows");
  {
    /* a newer caller's struct: unknown non-zero tail -> UNSUPPORTED, zero tail -> fine */
    _Alignas(subq_fattn_args) unsigned char big[sizeof(subq_fattn_args) + 16];
    memset(big, 0, sizeof big);
    a = p.a;
    a.struct_size = sizeof big;
    memcpy(big, &a, sizeof a);
    CHECK_OK(subq_fattn(NULL, (const subq_fattn_args *)(void *)big));
    big[sizeof a + 3] = 1;
    CHECK_STATUS(subq_fattn(NULL, (const subq_fattn_args *)(void *)big), SUBQ_ERR_UNSUPPORTED, "struct_size");
  }
  /* empty problems touch nothing; sk == 0 writes zeros */
  a = p.a;
  a.batch = 0, a.q = NULL, a.k = NULL, a.v = NULL, a.out = NULL;
  CHECK_OK(subq_fattn(NULL, &a));
  a = p.a;
  a.sk = 0, a.k = NULL, a.v = NULL;
  for (size_t i = 0; i < p.osize; i++) p.ob[i] = NAN;
  CHECK_OK(subq_fattn(NULL, &a));
  bool zeros = true;
  for (size_t i = 0; i < p.osize; i++) zeros &= p.ob[i] == 0.0f;
  CHECK(zeros);
  /* huge windows equal no mask, bit for bit */
  {
    float *o0 = malloc(p.osize * sizeof(float));
    a = p.a;
    CHECK_OK(subq_fattn(NULL, &a));
    memcpy(o0, p.ob, p.osize * sizeof(float));
    a.window_left = INT64_MAX, a.window_right = INT64_MAX;
    CHECK_OK(subq_fattn(NULL, &a));
    CHECK(memcmp(o0, p.ob, p.osize * sizeof(float)) == 0);
    free(o0);
  }
  float dummy[4];
  subq_fattn_args d;
  CHECK_STATUS(subq_fattn_expf(NULL, dummy, dummy, -1), SUBQ_ERR_INVALID_ARGUMENT, "n");
  CHECK_STATUS(subq_fattn_expf(NULL, NULL, dummy, 4), SUBQ_ERR_INVALID_ARGUMENT, "src");
  CHECK_STATUS(subq_fattn_expf(NULL, dummy, NULL, 4), SUBQ_ERR_INVALID_ARGUMENT, "dst");
  /* n whose bytes pass the address space, and dst partly overlapping src, are
   * refused before anything is read (fuzz_kernel_args); dst == src is in place */
  for (int i = 0; i < 4; i++) dummy[i] = (float)i;
  CHECK_STATUS(subq_fattn_expf(NULL, dummy, dummy, INT64_MAX), SUBQ_ERR_INVALID_ARGUMENT, "n (");
  CHECK_STATUS(subq_fattn_expf(NULL, dummy, dummy, INT64_MAX / 4 + 1), SUBQ_ERR_INVALID_ARGUMENT, "n (");
  CHECK_STATUS(subq_fattn_expf(NULL, dummy, dummy + 1, 3), SUBQ_ERR_INVALID_ARGUMENT, "dst overlaps src");
  CHECK_STATUS(subq_fattn_expf(NULL, dummy + 1, dummy, 3), SUBQ_ERR_INVALID_ARGUMENT, "dst overlaps src");
  CHECK_OK(subq_fattn_expf(NULL, dummy, dummy, 4));
  CHECK(dummy[0] == 1.0f);
  /* dense strides that overflow saturate at INT64_MAX (the call then reports the overflow) */
  d = p.a;
  d.sq = INT64_MAX / 2, d.hq = 4, d.dk = 8;
  subq_fattn_args_dense_bshd(&d);
  CHECK(d.q_hs == 8 && d.q_ss == 32 && d.q_bs == INT64_MAX);
  CHECK_STATUS(subq_fattn(NULL, &d), SUBQ_ERR_INVALID_ARGUMENT, "overflows");
  /* args_default honours a shorter struct_size */
  memset(&d, 0x5a, sizeof d);
  subq_fattn_args_default(&d, sizeof d);
  CHECK(d.struct_size == sizeof d && d.window_left == -1 && d.window_right == -1 && d.kv_split == 0 &&
        d.align == SUBQ_FATTN_ALIGN_BOTTOM_RIGHT && d.scale == 0.0f);
#undef BAD
  problem_free(&p);
}

int main(void) {
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  for (int i = 0; i < n; i++) {
    exp_accuracy(isas[i]);
    shapes_for_isa(isas[i]);
    masked_rows(isas[i]);
    mask_tensor(isas[i]);
    padding_keys(isas[i]);
    tiny_threshold(isas[i]);
    packed_kv(isas[i]);
  }
  splits_and_determinism();
  bad_args();
  printf("test_fattn: %d attention cases on %d ISA paths; worst rel_rms %.3g, worst max_abs %.3g vs float64\n",
         n_cases_run, n, worst_rel_rms, worst_abs);
  return subq_test_finish("test_fattn");
}
