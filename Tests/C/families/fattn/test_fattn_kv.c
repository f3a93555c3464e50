/*
 * test_fattn_kv.c — the KV cache (linear and ring, f32/bf16/f16 storage) and
 * subq_fattn_kv on every ISA path the host runs:
 *   - every chunk of a chunked prefill + decode through the cache against a
 *     float64 oracle on the values the cache actually holds (decoded here,
 *     independently of the library), and against one prefill over all tokens;
 *   - ring decode far beyond the window == windowed prefill, positions after
 *     wrap-around, stored slots at p mod capacity;
 *   - RNE rounding of appended bf16/f16 values;
 *   - NaN in positions outside the window never reaches the output (bitwise);
 *   - truncate / reset, thread-count determinism, every bad argument.
 * The cache stores rounded inputs and the kernel widens them exactly, so the
 * results are held to the F32 tolerance of the existing tests (1e-5 abs +
 * 1e-5 rel + 4e-7 * sum_j p_ij |v_j|, rel_rms <= 1e-5) against the oracle on
 * the rounded values — tighter than spec attention.md §7's BF16-KV / F16-KV
 * rows, which budget for the rounding itself.
 */
#include <float.h>
#include <stdint.h>

#include "ref/subq_ref_dtype.h"
#include "ref/subq_ref_fattn.h"
#include "support/subq_test.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static int n_checks;
static double worst_rel;

static float randn(subq_rng *r) {
  float s = 0.0f;
  for (int i = 0; i < 4; i++) s += subq_rng_float(r);
  return s * 0.866f;
}

static double dec(subq_dtype dt, const void *p, int64_t i) {
  if (dt == SUBQ_DTYPE_F32) return ((const float *)p)[i];
  const uint16_t h = ((const uint16_t *)p)[i];
  return dt == SUBQ_DTYPE_BF16 ? subq_ref_bf16_value(h) : subq_ref_f16_value(h); /* the formats' definitions */
}
/* Is y the round-to-nearest-even of x in dt? (half-ulp bound, ties even) */
static bool rounded_ok(subq_dtype dt, float x, double y, uint16_t bits) {
  if (dt == SUBQ_DTYPE_F32) return (double)x == y;
  const int mant = dt == SUBQ_DTYPE_BF16 ? 7 : 10, emin = dt == SUBQ_DTYPE_BF16 ? -126 : -14;
  int e;
  frexp((double)x, &e); /* x = f * 2^e, f in [0.5, 1) */
  const double ulp = ldexp(1.0, MAX(e - 1, emin) - mant);
  const double err = fabs((double)x - y);
  if (err > ulp / 2) return false;
  if (err == ulp / 2) return (bits & 1) == 0;
  return true;
}

/* A test scenario: B sequences of up to T tokens of K/V (f32 originals), and
 * per sequence the values the cache holds for each position (shadow, f32). */
typedef struct scen {
  int64_t B, hq, hkv, dk, dv, T;
  float *k, *v;   /* [B][T][hkv][d] originals */
  float *ks, *vs; /* the same layout: decoded cache contents, filled as appended */
} scen;

static void scen_make(scen *s, int64_t B, int64_t hq, int64_t hkv, int64_t dk, int64_t dv, int64_t T,
                      unsigned long long seed) {
  s->B = B, s->hq = hq, s->hkv = hkv, s->dk = dk, s->dv = dv, s->T = T;
  const size_t nk = (size_t)(B * T * hkv * dk), nv = (size_t)(B * T * hkv * dv);
  s->k = malloc(nk * sizeof(float)), s->v = malloc(nv * sizeof(float));
  s->ks = calloc(nk, sizeof(float)), s->vs = calloc(nv, sizeof(float));
  subq_rng r = {seed};
  for (size_t i = 0; i < nk; i++) s->k[i] = randn(&r);
  for (size_t i = 0; i < nv; i++) s->v[i] = randn(&r);
}
static void scen_free(scen *s) { free(s->k), free(s->v), free(s->ks), free(s->vs); }

/* Appends tokens [t0, t0 + n) of sequences [b0, b0 + nb), then reads back the
 * slots of the positions the cache now holds among them: checks rounding and
 * slot placement (p or p mod capacity) and fills the shadow. */
static void append(subq_context *ctx, subq_kv_cache *c, scen *s, int64_t b0, int64_t nb, int64_t t0, int64_t n) {
  const int64_t H = s->hkv, dk = s->dk, dv = s->dv;
  CHECK_OK(subq_kv_cache_append(ctx, c, b0, nb, n, s->k + (b0 * s->T + t0) * H * dk, s->T * H * dk, H * dk, dk,
                                s->v + (b0 * s->T + t0) * H * dv, s->T * H * dv, H * dv, dv));
  subq_kv_cache_info in;
  in.struct_size = sizeof in;
  CHECK_OK(subq_kv_cache_get_info(c, &in));
  int bad = 0;
  for (int64_t b = b0; b < b0 + nb; b++) {
    int64_t first, end;
    CHECK_OK(subq_kv_cache_positions(c, b, &first, &end));
    for (int64_t p = MAX(first, end - n); p < end; p++) {
      const int64_t slot = in.mode == SUBQ_KV_RING ? p % in.capacity : p, t = p - (end - n) + t0;
      for (int64_t h = 0; h < H; h++) {
        for (int64_t d = 0; d < dk; d++) {
          const int64_t x = b * in.k_bs + h * in.k_hs + slot * in.k_ss + d, o = ((b * s->T + t) * H + h) * dk + d;
          const double y = dec(in.dtype, in.k, x);
          bad += !rounded_ok(in.dtype, s->k[o], y, in.dtype == SUBQ_DTYPE_F32 ? 0 : ((const uint16_t *)in.k)[x]);
          s->ks[((b * s->T + p) * H + h) * dk + d] = (float)y;
        }
        for (int64_t d = 0; d < dv; d++) {
          const int64_t x = b * in.v_bs + h * in.v_hs + slot * in.v_ss + d, o = ((b * s->T + t) * H + h) * dv + d;
          const double y = dec(in.dtype, in.v, x);
          bad += !rounded_ok(in.dtype, s->v[o], y, in.dtype == SUBQ_DTYPE_F32 ? 0 : ((const uint16_t *)in.v)[x]);
          s->vs[((b * s->T + p) * H + h) * dv + d] = (float)y;
        }
      }
    }
  }
  CHECK_MSG(bad == 0, "append: %d stored values are not the RNE rounding of the input or not at slot p%%C", bad);
}

/* out [B][sq][hq][dv] of subq_fattn_kv vs the float64 oracle over the shadow:
 * sequence b with keys [0, end_b) (positions before `first` are masked by the
 * window, which the caller guarantees). */
static void check_vs_oracle(const char *what, const scen *s, const subq_kv_cache *c, const subq_fattn_args *a,
                            const float *q, const float *out, const float *lse) {
  const int64_t H = s->hkv, sq = a->sq, hq = a->hq, dv = s->dv;
  int bad = 0;
  double e2 = 0, r2 = 0, worst = 0;
  for (int64_t b = 0; b < s->B; b++) {
    int64_t end;
    CHECK_OK(subq_kv_cache_positions(c, b, NULL, &end));
    subq_fattn_args o;
    subq_fattn_args_default(&o, sizeof o);
    o.batch = 1, o.hq = hq, o.hkv = H, o.sq = sq, o.sk = end, o.dk = s->dk, o.dv = dv;
    o.scale = a->scale, o.softcap = a->softcap, o.window_left = a->window_left, o.window_right = a->window_right;
    subq_fattn_args_dense_bshd(&o);
    o.q = q + b * sq * hq * s->dk, o.k = s->ks + b * s->T * H * s->dk, o.v = s->vs + b * s->T * H * dv;
    const size_t n = (size_t)(sq * hq * dv);
    double *ref = malloc(n * sizeof(double)), *mag = malloc(n * sizeof(double));
    double *rl = malloc((size_t)(hq * sq) * sizeof(double));
    subq_ref_fattn(&o, ref, rl, mag);
    for (size_t x = 0; x < n; x++) {
      const double got = out[(size_t)(b * sq * hq * dv) + x], err = fabs(got - ref[x]);
      e2 += err * err, r2 += ref[x] * ref[x];
      if (!(err <= 1e-5 + 1e-5 * fabs(ref[x]) + 4e-7 * mag[x]) && bad++ < 3)
        fprintf(stderr, "%s: b %lld out[%zu] = %.9g, ref %.9g\n", what, (long long)b, x, got, ref[x]);
      if (err > worst) worst = err;
    }
    if (lse)
      for (int64_t x = 0; x < hq * sq; x++) {
        const double l = lse[b * hq * sq + x];
        const bool ok = rl[x] == -INFINITY ? l == -INFINITY : fabs(l - rl[x]) <= 1e-5 * (1 + fabs(rl[x]));
        if (!ok && bad++ < 3) fprintf(stderr, "%s: lse %.9g ref %.9g\n", what, l, rl[x]);
      }
    free(ref), free(mag), free(rl);
  }
  const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
  CHECK_MSG(bad == 0 && rel <= 1e-5, "%s: %d out of tolerance, rel_rms %.3g, max abs %.3g", what, bad, rel, worst);
  if (rel > worst_rel) worst_rel = rel;
  n_checks++;
}

static float *make_q(int64_t n, unsigned long long seed) {
  float *q = malloc((size_t)n * sizeof(float));
  subq_rng r = {seed};
  for (int64_t i = 0; i < n; i++) q[i] = randn(&r);
  return q;
}

static subq_kv_cache *make_cache(subq_dtype dt, int32_t mode, int64_t B, int64_t hkv, int64_t dk, int64_t dv,
                                 int64_t cap) {
  subq_kv_cache_args ca;
  subq_kv_cache_args_default(&ca, sizeof ca);
  ca.dtype = dt, ca.mode = mode, ca.batch = B, ca.hkv = hkv, ca.dk = dk, ca.dv = dv, ca.capacity = cap;
  subq_kv_cache *c = NULL;
  CHECK_OK(subq_kv_cache_create(&ca, &c));
  return c;
}

static void kv_args(subq_fattn_args *a, const scen *s, int64_t sq, int64_t wl, int64_t wr, float *q, float *out,
                    float *lse) {
  subq_fattn_args_default(a, sizeof *a);
  a->batch = s->B, a->hq = s->hq, a->hkv = s->hkv, a->sq = sq, a->dk = s->dk, a->dv = s->dv;
  a->window_left = wl, a->window_right = wr;
  subq_fattn_args_dense_bshd(a);
  a->q = q, a->out = out, a->lse = lse;
}

/* Chunked prefill + decode through a cache: each chunk vs the oracle; the
 * rows of every chunk vs one plain prefill over all tokens so far (same rows).
 * Sequence 1 runs 5 tokens ahead of sequence 0 (different lengths). */
static void chunked(subq_isa isa, subq_dtype dt, int32_t mode, int64_t cap, int64_t wl, int64_t hq, int64_t hkv,
                    int64_t dk, int64_t dv, int64_t T, const int64_t *chunks, int n_chunks, float softcap) {
  subq_context *ctx = subq_test_context(isa, 2);
  scen s;
  scen_make(&s, 2, hq, hkv, dk, dv, T, (unsigned long long)(T * 7 + dk + (uint64_t)dt * 1000 + (uint64_t)mode));
  subq_kv_cache *c = make_cache(dt, mode, 2, hkv, dk, dv, cap);
  /* one prefill over all T tokens, on the rounded values, per sequence: rows are references for every chunk */
  float *qall = make_q(2 * T * hq * dk, 99 + (unsigned long long)T);
  float *full = malloc((size_t)(2 * T * hq * dv) * sizeof(float)), *rows = malloc((size_t)(T * hq * dv) * sizeof(float));
  int64_t t = 0;
  int64_t t1 = 0; /* tokens appended to sequence 1 */
  char what[200];
  for (int ci = 0; ci < n_chunks && t < T; ci++) {
    const int64_t n = MIN(chunks[ci], T - t);
    append(ctx, c, &s, 0, 1, t, n);
    const int64_t n1 = MIN(ci == 0 ? n + 5 : n, T - t1); /* sequence 1 runs 5 tokens ahead */
    if (n1 > 0) append(ctx, c, &s, 1, 1, t1, n1), t1 += n1;
    /* queries: the newest n tokens of sequence 0; sequence 1 uses its newest n too */
    int64_t e1;
    CHECK_OK(subq_kv_cache_positions(c, 1, NULL, &e1));
    const int64_t sq = MIN(n, e1);
    float *q = malloc((size_t)(2 * sq * hq * dk) * sizeof(float));
    memcpy(q, qall + (t + n - sq) * hq * dk, (size_t)(sq * hq * dk) * sizeof(float));
    memcpy(q + sq * hq * dk, qall + (T + e1 - sq) * hq * dk, (size_t)(sq * hq * dk) * sizeof(float));
    float *out = malloc((size_t)(2 * sq * hq * dv) * sizeof(float));
    float *lse = malloc((size_t)(2 * hq * sq) * sizeof(float));
    for (int64_t i = 0; i < 2 * sq * hq * dv; i++) out[i] = NAN;
    subq_fattn_args a;
    kv_args(&a, &s, sq, wl, 0, q, out, lse);
    a.softcap = softcap;
    snprintf(what, sizeof what, "%s %s %s cap%lld wl%lld H%lld/%lld D%lld/%lld chunk %d (pos %lld, n %lld)",
             subq_isa_name(isa), dt == SUBQ_DTYPE_F32 ? "f32" : dt == SUBQ_DTYPE_BF16 ? "bf16" : "f16",
             mode == SUBQ_KV_RING ? "ring" : "linear", (long long)cap, (long long)wl, (long long)hq, (long long)hkv,
             (long long)dk, (long long)dv, ci, (long long)t, (long long)n);
    subq_status st = subq_fattn_kv(ctx, &a, c);
    CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
    if (st == SUBQ_OK) check_vs_oracle(what, &s, c, &a, q, out, lse);
    /* keep sequence 0's rows (sq == n: sequence 1 is never shorter) for the one-prefill check */
    CHECK(sq == n);
    if (st == SUBQ_OK && sq == n) memcpy(rows + t * hq * dv, out, (size_t)(n * hq * dv) * sizeof(float));
    int64_t first, end;
    CHECK_OK(subq_kv_cache_positions(c, 0, &first, &end));
    CHECK_MSG(end == t + n && first == (mode == SUBQ_KV_RING ? MAX(0, t + n - cap) : 0),
              "%s: positions [%lld, %lld)", what, (long long)first, (long long)end);
    free(q), free(out), free(lse);
    t += n;
  }
  /* every chunk's rows vs one prefill over the t tokens of sequence 0 on the same (rounded) values */
  {
    subq_fattn_args p;
    subq_fattn_args_default(&p, sizeof p);
    p.batch = 1, p.hq = hq, p.hkv = hkv, p.sq = t, p.sk = t, p.dk = dk, p.dv = dv;
    p.window_left = wl, p.window_right = 0, p.softcap = softcap;
    subq_fattn_args_dense_bshd(&p);
    p.q = qall, p.k = s.ks, p.v = s.vs, p.out = full;
    CHECK_OK(subq_fattn(ctx, &p));
    double worst = 0;
    for (int64_t i = 0; i < t * hq * dv; i++) {
      const double e = fabs(rows[i] - full[i]) / (2e-5 + 2e-5 * fabs(full[i]));
      if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(worst <= 1.0, "%s: chunks through the cache vs one prefill: %.3g x tolerance", what, worst);
  }
  free(qall), free(full), free(rows);
  subq_kv_cache_destroy(c);
  scen_free(&s);
  subq_context_destroy(ctx);
}

static void chunked_all(subq_isa isa) {
  static const int64_t ch1[] = {70, 1, 1, 17, 1, 64, 1, 3, 1, 1};
  static const int64_t ch2[] = {20, 1, 1, 16, 1, 1, 5, 1, 16, 16, 16, 1, 1, 1, 9, 16, 16, 16, 16, 16, 1, 1};
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  for (int i = 0; i < 3; i++) {
    /* linear causal, GQA 4 */
    chunked(isa, dts[i], SUBQ_KV_LINEAR, 200, -1, 8, 2, 64, 64, 160, ch1, 10, 0.0f);
    /* ring: window 31 (W = 32), capacity wl + 17 (chunks up to 17), far beyond the window */
    chunked(isa, dts[i], SUBQ_KV_RING, 48, 31, 4, 1, 40, 24, 230, ch2, 22, 0.0f);
    /* ring with capacity exactly wl + 1 and decode-only steps after a short prompt; soft-cap */
    static const int64_t ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    chunked(isa, dts[i], SUBQ_KV_RING, 8, 7, 6, 3, 13, 13, 20, ones, 20, 20.0f);
  }
  /* head dims with vector tails, odd GQA, f16 */
  static const int64_t ch3[] = {33, 1, 2, 1};
  chunked(isa, SUBQ_DTYPE_F16, SUBQ_KV_LINEAR, 64, -1, 13, 1, 21, 9, 37, ch3, 4, 0.0f);
  chunked(isa, SUBQ_DTYPE_BF16, SUBQ_KV_RING, 40, 20, 12, 4, 128, 96, 150, ch2, 22, 0.0f);
  /* decode-shaped tiles (G heads x 1-2 tokens <= 8 rows: K/V read in place) at
   * head dims 80 and 256, GQA 8 and 4, across a ring wrap */
  static const int64_t ch4[] = {90, 1, 1, 2, 1, 1, 2, 1, 1};
  static const int64_t ch5[] = {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 1, 1, 2, 1, 1, 2, 1, 1, 2};
  for (int i = 0; i < 3; i++) {
    chunked(isa, dts[i], SUBQ_KV_LINEAR, 128, -1, 16, 2, 80, 80, 100, ch4, 9, 0.0f);
    chunked(isa, dts[i], SUBQ_KV_RING, 72, 64, 8, 2, 256, 256, 100, ch5, 20, 0.0f);
  }
}

/* Long decode (splits) over 16-bit caches: Hq 32 / Hkv 8 (and 4: 8 rows per
 * tile, the direct path's largest), D 128, 1100 keys, batch 1 (automatic
 * split-K), plus an explicit split over a wrapped ring. */
static void long_decode(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  static const subq_dtype dts[] = {SUBQ_DTYPE_F16, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F32};
  for (int i = 0; i < 6; i++) {
    const int64_t H = i < 3 ? 8 : 4;
    scen s;
    scen_make(&s, 1, 32, H, 128, 128, 1100, 500 + (unsigned long long)i);
    subq_kv_cache *c = make_cache(dts[i % 3], SUBQ_KV_LINEAR, 1, H, 128, 128, 2048);
    append(ctx, c, &s, 0, 1, 0, 1099);
    append(ctx, c, &s, 0, 1, 1099, 1);
    float *q = make_q(32 * 128, 7), out[32 * 128], lse[32];
    subq_fattn_args a;
    kv_args(&a, &s, 1, -1, 0, q, out, lse);
    CHECK_OK(subq_fattn_kv(ctx, &a, c));
    check_vs_oracle("long decode", &s, c, &a, q, out, lse);
    /* determinism across thread counts */
    float out1[32 * 128];
    subq_context *c1 = subq_test_context(isa, 1), *c3 = subq_test_context(isa, 3);
    a.out = out1;
    CHECK_OK(subq_fattn_kv(c1, &a, c));
    CHECK_MSG(memcmp(out, out1, sizeof out) == 0, "long decode: 1 thread differs from 2");
    CHECK_OK(subq_fattn_kv(c3, &a, c));
    CHECK_MSG(memcmp(out, out1, sizeof out) == 0, "long decode: 3 threads differ from 2");
    subq_context_destroy(c1), subq_context_destroy(c3);
    subq_kv_cache_destroy(c);
    /* ring with window 400, capacity 403, 1100 tokens: wrapped twice; splits of 100 */
    c = make_cache(dts[i % 3], SUBQ_KV_RING, 1, H, 128, 128, 403);
    append(ctx, c, &s, 0, 1, 0, 700); /* more than capacity in one call: only the last 403 kept */
    append(ctx, c, &s, 0, 1, 700, 397);
    append(ctx, c, &s, 0, 1, 1097, 3);
    float q3[3 * 32 * 128], o3[3 * 32 * 128];
    memcpy(q3, q, sizeof(float) * 32 * 128), memcpy(q3 + 32 * 128, q, sizeof(float) * 32 * 128);
    memcpy(q3 + 2 * 32 * 128, q, sizeof(float) * 32 * 128);
    kv_args(&a, &s, 3, 400, 0, q3, o3, NULL);
    a.kv_split = 100;
    CHECK_OK(subq_fattn_kv(ctx, &a, c));
    check_vs_oracle("ring decode wrapped", &s, c, &a, q3, o3, NULL);
    subq_kv_cache_destroy(c);
    free(q);
    scen_free(&s);
  }
  subq_context_destroy(ctx);
}

/* NaN K/V at positions no query can see (outside the window) must not change
 * a single bit of the output; the same with a linear cache. */
static void nan_outside_window(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  for (int i = 0; i < 3; i++) {
    scen s;
    scen_make(&s, 1, 4, 2, 32, 32, 300, 42);
    subq_kv_cache *c0 = make_cache(dts[i], SUBQ_KV_LINEAR, 1, 2, 32, 32, 300);
    subq_kv_cache *c1 = make_cache(dts[i], SUBQ_KV_LINEAR, 1, 2, 32, 32, 300);
    float *zero = calloc(200 * 2 * 32, sizeof(float)), *nans = malloc(200 * 2 * 32 * sizeof(float));
    for (int j = 0; j < 200 * 2 * 32; j++) nans[j] = NAN;
    CHECK_OK(subq_kv_cache_append(ctx, c0, 0, 1, 200, zero, 0, 64, 32, zero, 0, 64, 32));
    CHECK_OK(subq_kv_cache_append(ctx, c1, 0, 1, 200, nans, 0, 64, 32, nans, 0, 64, 32));
    append(ctx, c0, &s, 0, 1, 200, 100);
    append(ctx, c1, &s, 0, 1, 200, 100);
    float *q = make_q(4 * 4 * 32, 3), o0[4 * 4 * 32], o1[4 * 4 * 32];
    subq_fattn_args a;
    kv_args(&a, &s, 4, 63, 0, q, o0, NULL);
    a.kv_split = 16;
    CHECK_OK(subq_fattn_kv(ctx, &a, c0));
    a.out = o1;
    CHECK_OK(subq_fattn_kv(ctx, &a, c1));
    CHECK_MSG(memcmp(o0, o1, sizeof o0) == 0, "%s dtype %d: NaN outside the window changed the output",
              subq_isa_name(isa), (int)dts[i]);
    free(q), free(zero), free(nans);
    subq_kv_cache_destroy(c0), subq_kv_cache_destroy(c1);
    scen_free(&s);
  }
  subq_context_destroy(ctx);
}

/* Truncate then re-append other tokens; reset; ring truncation. */
static void truncate_reset(void) {
  scen s;
  scen_make(&s, 1, 2, 1, 16, 16, 100, 8);
  subq_kv_cache *c = make_cache(SUBQ_DTYPE_F32, SUBQ_KV_LINEAR, 1, 1, 16, 16, 100);
  append(NULL, c, &s, 0, 1, 0, 60);
  CHECK_OK(subq_kv_cache_truncate(c, 0, 40));
  int64_t f, e;
  CHECK_OK(subq_kv_cache_positions(c, 0, &f, &e));
  CHECK(f == 0 && e == 40);
  /* positions 40.. now hold tokens 70..89 of the scenario: the shadow follows */
  CHECK_OK(subq_kv_cache_append(NULL, c, 0, 1, 20, s.k + 70 * 16, 0, 16, 16, s.v + 70 * 16, 0, 16, 16));
  memcpy(s.ks + 40 * 16, s.k + 70 * 16, 20 * 16 * sizeof(float));
  memcpy(s.vs + 40 * 16, s.v + 70 * 16, 20 * 16 * sizeof(float));
  float *q = make_q(3 * 2 * 16, 9), o[3 * 2 * 16];
  subq_fattn_args a;
  kv_args(&a, &s, 3, -1, 0, q, o, NULL);
  CHECK_OK(subq_fattn_kv(NULL, &a, c));
  check_vs_oracle("after truncate", &s, c, &a, q, o, NULL);
  subq_kv_cache_reset(c);
  CHECK_OK(subq_kv_cache_positions(c, 0, &f, &e));
  CHECK(f == 0 && e == 0);
  subq_kv_cache_destroy(c);
  /* ring: truncating below the oldest held position empties it */
  c = make_cache(SUBQ_DTYPE_F16, SUBQ_KV_RING, 1, 1, 16, 16, 10);
  append(NULL, c, &s, 0, 1, 0, 25);
  CHECK_OK(subq_kv_cache_positions(c, 0, &f, &e));
  CHECK(f == 15 && e == 25);
  CHECK_OK(subq_kv_cache_truncate(c, 0, 20));
  CHECK_OK(subq_kv_cache_positions(c, 0, &f, &e));
  CHECK(f == 15 && e == 20);
  CHECK_OK(subq_kv_cache_truncate(c, 0, 3));
  CHECK_OK(subq_kv_cache_positions(c, 0, &f, &e));
  CHECK(f == 3 && e == 3);
  subq_kv_cache_destroy(c);
  free(q);
  scen_free(&s);
}

/* RNE at the edges: ties to even, overflow to Inf, subnormals, NaN. */
static void rounding_edges(void) {
  const float xs[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 65519.0f, 65520.0f, -1e6f, 0x1p-25f,
                      0x1.8p-24f, 3e-5f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 3.4e38f, -0.0f, 1e-40f};
  const int n = (int)(sizeof xs / sizeof xs[0]);
  float kv[16];
  for (int dti = 0; dti < 2; dti++) {
    const subq_dtype dt = dti ? SUBQ_DTYPE_F16 : SUBQ_DTYPE_BF16;
    subq_kv_cache *c = make_cache(dt, SUBQ_KV_LINEAR, 1, 1, 16, 16, 2);
    for (int i = 0; i < 16; i++) kv[i] = i < n ? xs[i] : NAN;
    CHECK_OK(subq_kv_cache_append(NULL, c, 0, 1, 1, kv, 0, 16, 16, kv, 0, 16, 16));
    subq_kv_cache_info in;
    in.struct_size = sizeof in;
    CHECK_OK(subq_kv_cache_get_info(c, &in));
    const uint16_t *h = in.k;
    for (int i = 0; i < n; i++) {
      const double y = dec(dt, h, i);
      const bool ovf = dt == SUBQ_DTYPE_F16 ? fabsf(xs[i]) >= 65520.0f : fabsf(xs[i]) > 3.3961e38f;
      if (ovf)
        CHECK_MSG(isinf(y) && (y < 0) == (xs[i] < 0), "dtype %d: %g -> %g, want Inf", (int)dt, (double)xs[i], y);
      else
        CHECK_MSG(rounded_ok(dt, xs[i], y, h[i]), "dtype %d: %g -> %.10g is not RNE", (int)dt, (double)xs[i], y);
    }
    CHECK(isnan(dec(dt, h, 15)));
    CHECK(in.dtype == dt && in.capacity == 2 && in.dk == 16 && in.k_ss == 16 && in.mode == SUBQ_KV_LINEAR);
    subq_kv_cache_destroy(c);
  }
}

static void bad_args(void) {
  subq_kv_cache_args ca;
  subq_kv_cache *c = NULL;
#define BADC(assign, needle)                                                           \
  do {                                                                                 \
    subq_kv_cache_args_default(&ca, sizeof ca);                                        \
    ca.batch = 2, ca.hkv = 2, ca.dk = 16, ca.dv = 16, ca.capacity = 10;                \
    assign;                                                                            \
    CHECK_STATUS(subq_kv_cache_create(&ca, &c), SUBQ_ERR_INVALID_ARGUMENT, needle);    \
    CHECK(c == NULL);                                                                  \
  } while (0)
  BADC(ca.dtype = SUBQ_DTYPE_I8, "dtype");
  BADC(ca.mode = 2, "mode");
  BADC(ca.batch = 0, "batch");
  BADC(ca.hkv = 0, "hkv");
  BADC(ca.dk = 0, "dk");
  BADC(ca.dv = 257, "dv");
  BADC(ca.capacity = 0, "capacity");
  BADC(ca.capacity = INT64_MAX / 4, "overflows");
#undef BADC
  CHECK_STATUS(subq_kv_cache_create(NULL, &c), SUBQ_ERR_INVALID_ARGUMENT, "args");
  subq_kv_cache_args_default(&ca, sizeof ca);
  ca.batch = 2, ca.hkv = 2, ca.dk = 16, ca.dv = 16, ca.capacity = 10;
  CHECK_STATUS(subq_kv_cache_create(&ca, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out");
  {
    _Alignas(subq_kv_cache_args) unsigned char big[sizeof ca + 8];
    memset(big, 0, sizeof big);
    subq_kv_cache_args b2 = ca;
    b2.struct_size = sizeof big;
    memcpy(big, &b2, sizeof b2);
    big[sizeof b2 + 1] = 1;
    CHECK_STATUS(subq_kv_cache_create((const subq_kv_cache_args *)(void *)big, &c), SUBQ_ERR_UNSUPPORTED,
                 "struct_size");
  }
  CHECK_OK(subq_kv_cache_create(&ca, &c));
  float kv[2 * 12 * 2 * 16] = {0};
  CHECK_STATUS(subq_kv_cache_append(NULL, NULL, 0, 1, 1, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "cache is NULL");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 1, 2, 1, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "exceed batch");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, -1, 1, 1, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "exceed batch");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, -1, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "n_new");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 1, NULL, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "k is NULL");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 1, kv, 0, 32, 16, NULL, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "v is NULL");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 2, kv, 0, -32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "stride of k");
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 11, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "full");
  {
    /* The source's last element sits at byte 4 * (INT64_MAX / 4) - 4 (fits int64) but its end is
     * 2^63 bytes past k: past PTRDIFF_MAX, refused as an overflow before anything else (found by
     * fuzz_kernel_args: the check measured the last element's offset, not the end). */
    const int64_t ss = INT64_MAX / 40 - 2, hs = INT64_MAX / 4 - 15 - 10 * ss;
    CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 11, kv, 0, ss, hs, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
                 "index arithmetic of k overflows");
    CHECK_STATUS(subq_kv_cache_append(NULL, c, 0, 1, 11, kv, 0, 32, 16, kv, 0, ss, hs), SUBQ_ERR_INVALID_ARGUMENT,
                 "index arithmetic of v overflows");
  }
  CHECK_OK(subq_kv_cache_append(NULL, c, 0, 2, 10, kv, 0, 32, 16, kv, 0, 32, 16));
  CHECK_STATUS(subq_kv_cache_append(NULL, c, 1, 1, 1, kv, 0, 32, 16, kv, 0, 32, 16), SUBQ_ERR_INVALID_ARGUMENT,
               "full");
  CHECK_OK(subq_kv_cache_append(NULL, c, 0, 1, 0, NULL, 0, 0, 0, NULL, 0, 0, 0)); /* nothing to append */
  CHECK_STATUS(subq_kv_cache_truncate(NULL, 0, 0), SUBQ_ERR_INVALID_ARGUMENT, "cache");
  CHECK_STATUS(subq_kv_cache_truncate(c, 2, 0), SUBQ_ERR_INVALID_ARGUMENT, "b (2)");
  CHECK_STATUS(subq_kv_cache_truncate(c, 0, 11), SUBQ_ERR_INVALID_ARGUMENT, "end (11)");
  CHECK_STATUS(subq_kv_cache_truncate(c, 0, -1), SUBQ_ERR_INVALID_ARGUMENT, "end (-1)");
  int64_t f;
  CHECK_STATUS(subq_kv_cache_positions(NULL, 0, &f, NULL), SUBQ_ERR_INVALID_ARGUMENT, "cache");
  CHECK_STATUS(subq_kv_cache_positions(c, -1, &f, NULL), SUBQ_ERR_INVALID_ARGUMENT, "b (-1)");
  subq_kv_cache_info in;
  in.struct_size = 2;
  CHECK_STATUS(subq_kv_cache_get_info(c, &in), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK_STATUS(subq_kv_cache_get_info(c, NULL), SUBQ_ERR_INVALID_ARGUMENT, "info");
  CHECK_STATUS(subq_kv_cache_get_info(NULL, &in), SUBQ_ERR_INVALID_ARGUMENT, "cache");

  /* attention over the cache */
  float q[2 * 4 * 4 * 16] = {0}, out[2 * 4 * 4 * 16];
  subq_fattn_args a0, a;
  subq_fattn_args_default(&a0, sizeof a0);
  a0.batch = 2, a0.hq = 4, a0.hkv = 2, a0.sq = 4, a0.dk = 16, a0.dv = 16, a0.window_right = 0;
  subq_fattn_args_dense_bshd(&a0);
  a0.q = q, a0.out = out;
  CHECK_OK(subq_fattn_kv(NULL, &a0, c));
#define BAD(assign, needle)                                                          \
  do {                                                                               \
    a = a0;                                                                          \
    assign;                                                                          \
    CHECK_STATUS(subq_fattn_kv(NULL, &a, c), SUBQ_ERR_INVALID_ARGUMENT, needle);     \
  } while (0)
  CHECK_STATUS(subq_fattn_kv(NULL, &a0, NULL), SUBQ_ERR_INVALID_ARGUMENT, "cache is NULL");
  CHECK_STATUS(subq_fattn_kv(NULL, NULL, c), SUBQ_ERR_INVALID_ARGUMENT, "args");
  BAD(a.batch = 1, "do not match the cache");
  BAD(a.hkv = 4, "do not match the cache");
  BAD((a.hkv = 1, a.hq = 4), "do not match the cache");
  BAD(a.dk = 8, "do not match the cache");
  BAD(a.dv = 32, "do not match the cache");
  BAD(a.hq = 3, "not a multiple of hkv");
  BAD(a.window_left = -2, "window_left");
  BAD(a.align = SUBQ_FATTN_ALIGN_TOP_LEFT, "BOTTOM_RIGHT");
  BAD((a.sq = 11, a.q_bs = 11 * 64, a.o_bs = 11 * 64), "fewer than sq");
  BAD(a.q = NULL, "q is NULL");
  BAD(a.out = NULL, "out is NULL");
  BAD(a.q_dtype = 9, "q_dtype");
  BAD(a.out = q, "out overlaps q");
  BAD(a.mask = q, "mask is not supported over a cache");
  subq_kv_cache_destroy(c);
  /* a ring that no longer holds what the queries may see */
  ca.mode = SUBQ_KV_RING, ca.capacity = 8;
  CHECK_OK(subq_kv_cache_create(&ca, &c));
  CHECK_OK(subq_kv_cache_append(NULL, c, 0, 2, 12, kv, 0, 32, 16, kv, 0, 32, 16));
  BAD(a.window_left = -1, "no longer holds position 0");
  BAD(a.window_left = 5, "no longer holds position 3");
  a = a0;
  a.window_left = 4; /* queries at 8..11 see from 4 = the oldest held */
  CHECK_OK(subq_fattn_kv(NULL, &a, c));
#undef BAD
  subq_kv_cache_destroy(c);
  subq_kv_cache_destroy(NULL);
  subq_kv_cache_reset(NULL);
  subq_kv_cache_args_default(&ca, sizeof ca);
  CHECK(ca.struct_size == sizeof ca && ca.dtype == SUBQ_DTYPE_F32 && ca.mode == SUBQ_KV_LINEAR);
}

int main(void) {
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  for (int i = 0; i < n; i++) {
    chunked_all(isas[i]);
    long_decode(isas[i]);
    nan_outside_window(isas[i]);
  }
  rounding_edges();
  truncate_reset();
  bad_args();
  printf("test_fattn_kv: %d cache attention checks on %d ISA paths; worst rel_rms %.3g vs float64\n", n_checks, n,
         worst_rel);
  return subq_test_finish("test_fattn_kv");
}
