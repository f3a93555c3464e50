/*
 * test_fattn_dtype.c — subq_fattn with bf16 / f16 q, k/v and out (appended
 * q_dtype / kv_dtype / out_dtype fields) on every ISA path the host runs,
 * against the float64 oracle on the rounded inputs (spec attention.md §7):
 *   - f32 out: the inputs are widened exactly and all arithmetic is f32, so
 *     the F32 tolerance holds (1e-5 abs + 1e-5 rel + 4e-7 * sum_j p |v|,
 *     rel_rms <= 1e-5), tighter than the BF16-KV / F16-KV rows;
 *   - bf16 out: rel_rms <= 6e-3, |err| <= 1e-2 + 1.6e-2 |ref|; f16 out:
 *     rel_rms <= 1.5e-3, |err| <= 2e-3 + 2e-3 |ref|; and for both the
 *     relative-to-baseline rule max_abs <= 2 * max_abs(naive) + 1e-6 with
 *     naive = the oracle rounded to the out dtype.
 * Each case also runs with the transposed path's K/V packing off: the same bits.
 * Also: an old caller's struct (without the dtype fields) still runs as f32,
 * mixed f32 / 16-bit combinations, and bad dtype values.
 * Encoders and decoders here are written from the formats (not the library's).
 */
#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "families/fattn/subq_fattn_ukernel.h" /* subq_fattn_pack_bytes */
#include "ref/subq_ref_dtype.h"
#include "ref/subq_ref_fattn.h"
#include "support/subq_test.h"

static int n_cases;

static float randn(subq_rng *r) {
  float s = 0.0f;
  for (int i = 0; i < 4; i++) s += subq_rng_float(r);
  return s * 0.866f;
}

/* n values of dt from f32 x: returns the storage (f32 copy or 16-bit) and
 * writes the values it represents to xr (f32, exact). */
static void *make_input(subq_dtype dt, const float *x, size_t n, float *xr) {
  if (dt == SUBQ_DTYPE_F32) {
    float *p = malloc(n * sizeof(float));
    memcpy(p, x, n * sizeof(float));
    memcpy(xr, x, n * sizeof(float));
    return p;
  }
  uint16_t *p = malloc(n * sizeof(uint16_t));
  for (size_t i = 0; i < n; i++) {
    p[i] = dt == SUBQ_DTYPE_BF16 ? subq_ref_f32_to_bf16(x[i]) : subq_ref_f32_to_f16(x[i]);
    xr[i] = (float)(dt == SUBQ_DTYPE_BF16 ? subq_ref_bf16_value(p[i]) : subq_ref_f16_value(p[i]));
  }
  return p;
}

static const char *dname(subq_dtype dt) { return dt == SUBQ_DTYPE_F32 ? "f32" : dt == SUBQ_DTYPE_BF16 ? "bf16" : "f16"; }

static void run(subq_context *ctx, const char *iname, subq_dtype qd, subq_dtype kvd, subq_dtype od, int64_t B,
                int64_t hq, int64_t hkv, int64_t sq, int64_t sk, int64_t dk, int64_t dv, int64_t wl, int64_t wr,
                float qmul) {
  subq_fattn_args a;
  subq_fattn_args_default(&a, sizeof a);
  a.batch = B, a.hq = hq, a.hkv = hkv, a.sq = sq, a.sk = sk, a.dk = dk, a.dv = dv;
  a.window_left = wl, a.window_right = wr;
  subq_fattn_args_dense_bshd(&a);
  const size_t nq = (size_t)(B * sq * hq * dk), nk = (size_t)(B * sk * hkv * dk), nv = (size_t)(B * sk * hkv * dv);
  const size_t no = (size_t)(B * sq * hq * dv);
  float *x = malloc((nq + nk + nv) * sizeof(float)), *xr = malloc((nq + nk + nv) * sizeof(float));
  subq_rng r = {(unsigned long long)(sq * 31 + sk + dk * 7 + qd * 100 + kvd * 10 + od)};
  for (size_t i = 0; i < nq + nk + nv; i++) x[i] = randn(&r) * (i < nq ? qmul : 1.0f);
  void *q = make_input(qd, x, nq, xr), *k = make_input(kvd, x + nq, nk, xr + nq);
  void *v = make_input(kvd, x + nq + nk, nv, xr + nq + nk);
  void *out = malloc(no * sizeof(float));
  memset(out, 0xff, no * sizeof(float)); /* NaN patterns: every element must be written */
  a.q_dtype = qd, a.kv_dtype = kvd, a.out_dtype = od;
  a.q = q, a.k = k, a.v = v, a.out = out;
  float *lse = malloc((size_t)(B * hq * sq) * sizeof(float));
  a.lse = lse;
  char what[200];
  snprintf(what, sizeof what, "%s q %s kv %s out %s B%lld H%lld/%lld Sq%lld Sk%lld D%lld/%lld w(%lld,%lld) q*%g",
           iname, dname(qd), dname(kvd), dname(od), (long long)B, (long long)hq, (long long)hkv, (long long)sq,
           (long long)sk, (long long)dk, (long long)dv, (long long)wl, (long long)wr, (double)qmul);
  subq_status st = subq_fattn(ctx, &a);
  CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
  if (st == SUBQ_OK) { /* K/V packed once per call (widened there) or per tile: the same bits */
    const size_t budget = subq_fattn_pack_bytes, osz = no * (od == SUBQ_DTYPE_F32 ? 4 : 2);
    void *o2 = malloc(osz);
    memcpy(o2, out, osz);
    subq_fattn_pack_bytes = 0;
    CHECK_OK(subq_fattn(ctx, &a));
    subq_fattn_pack_bytes = budget;
    CHECK_MSG(memcmp(o2, out, osz) == 0, "%s: packed and unpacked K/V differ", what);
    free(o2);
  }
  /* oracle on the rounded inputs */
  subq_fattn_args o = a;
  o.q_dtype = o.kv_dtype = o.out_dtype = SUBQ_DTYPE_F32;
  o.q = xr, o.k = xr + nq, o.v = xr + nq + nk;
  double *ref = malloc(no * sizeof(double)), *mag = malloc(no * sizeof(double));
  double *rl = malloc((size_t)(B * hq * sq) * sizeof(double));
  subq_ref_fattn(&o, ref, rl, mag);
  double e2 = 0, r2 = 0, worst = 0, naive = 0;
  int bad = 0;
  const double atol = od == SUBQ_DTYPE_F32 ? 1e-5 : od == SUBQ_DTYPE_BF16 ? 1e-2 : 2e-3;
  const double rtol = od == SUBQ_DTYPE_F32 ? 1e-5 : od == SUBQ_DTYPE_BF16 ? 1.6e-2 : 2e-3;
  const double rms = od == SUBQ_DTYPE_F32 ? 1e-5 : od == SUBQ_DTYPE_BF16 ? 6e-3 : 1.5e-3;
  for (size_t i = 0; i < no && st == SUBQ_OK; i++) {
    double got;
    if (od == SUBQ_DTYPE_F32) {
      got = ((const float *)out)[i];
    } else {
      const uint16_t h = ((const uint16_t *)out)[i];
      got = od == SUBQ_DTYPE_BF16 ? subq_ref_bf16_value(h) : subq_ref_f16_value(h);
      const float rf = (float)ref[i];
      const double nv16 = od == SUBQ_DTYPE_BF16 ? subq_ref_bf16_value(subq_ref_f32_to_bf16(rf)) : subq_ref_f16_value(subq_ref_f32_to_f16(rf));
      if (fabs(nv16 - ref[i]) > naive) naive = fabs(nv16 - ref[i]);
    }
    const double err = fabs(got - ref[i]);
    e2 += err * err, r2 += ref[i] * ref[i];
    const double tol = atol + rtol * fabs(ref[i]) + (od == SUBQ_DTYPE_F32 ? 4e-7 * mag[i] : 0.0);
    if (!(err <= tol) && bad++ < 3) fprintf(stderr, "%s: out[%zu] = %.9g, ref %.9g\n", what, i, got, ref[i]);
    if (err > worst) worst = err;
  }
  const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
  CHECK_MSG(bad == 0 && rel <= rms, "%s: %d elements out of tolerance, rel_rms %.3g, max_abs %.3g", what, bad, rel,
            worst);
  if (od != SUBQ_DTYPE_F32)
    CHECK_MSG(worst <= 2 * naive + 1e-6, "%s: max_abs %.3g > 2 x naive rounded %.3g", what, worst, naive);
  int lbad = 0;
  for (int64_t i = 0; i < B * hq * sq && st == SUBQ_OK; i++) {
    const bool ok = rl[i] == -INFINITY ? lse[i] == -INFINITY : fabs(lse[i] - rl[i]) <= 1e-5 * (1 + fabs(rl[i]));
    lbad += !ok;
  }
  CHECK_MSG(lbad == 0, "%s: %d lse out of tolerance", what, lbad);
  n_cases++;
  free(ref), free(mag), free(rl), free(x), free(xr), free(q), free(k), free(v), free(out), free(lse);
}

static void for_isa(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  const char *in = subq_isa_name(isa);
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  for (int qi = 0; qi < 3; qi++)
    for (int ki = 0; ki < 3; ki++)
      for (int oi = 0; oi < 3; oi++) {
        /* causal prefill (packed path) and a decode (direct 16-bit kernels), GQA */
        run(ctx, in, dts[qi], dts[ki], dts[oi], 1, 4, 2, 70, 70, 64, 64, -1, 0, 1.0f);
        run(ctx, in, dts[qi], dts[ki], dts[oi], 2, 8, 2, 1, 600, 40, 24, -1, 0, 1.0f);
      }
  /* tails, windows, peaky logits, Sq < Sk, MQA */
  run(ctx, in, SUBQ_DTYPE_BF16, SUBQ_DTYPE_BF16, SUBQ_DTYPE_BF16, 1, 2, 2, 130, 130, 128, 128, 31, 0, 1.0f);
  run(ctx, in, SUBQ_DTYPE_F16, SUBQ_DTYPE_F16, SUBQ_DTYPE_F16, 1, 3, 1, 17, 300, 13, 21, -1, -1, 1.0f);
  run(ctx, in, SUBQ_DTYPE_BF16, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F32, 1, 4, 1, 5, 1030, 96, 80, 100, 0, 8.0f);
  run(ctx, in, SUBQ_DTYPE_F16, SUBQ_DTYPE_F16, SUBQ_DTYPE_F32, 2, 6, 3, 40, 90, 72, 72, 10, 3, 8.0f);
  run(ctx, in, SUBQ_DTYPE_F32, SUBQ_DTYPE_F16, SUBQ_DTYPE_F32, 1, 2, 1, 20, 8, 16, 16, -1, 0, 1.0f); /* zero rows */
  subq_context_destroy(ctx);
}

/* An old caller (struct without the dtype fields) still gets f32 and the
 * same bits as a new caller with explicit F32; bad dtype values. */
static void abi_and_bad(void) {
  subq_fattn_args a;
  subq_fattn_args_default(&a, sizeof a);
  CHECK(a.q_dtype == SUBQ_DTYPE_F32 && a.kv_dtype == SUBQ_DTYPE_F32 && a.out_dtype == SUBQ_DTYPE_F32);
  a.batch = 1, a.hq = 2, a.hkv = 1, a.sq = 9, a.sk = 9, a.dk = 16, a.dv = 16, a.window_right = 0;
  subq_fattn_args_dense_bshd(&a);
  float q[9 * 2 * 16], kv[9 * 16], o1[9 * 2 * 16], o2[9 * 2 * 16];
  subq_fill_random(q, 9 * 2 * 16, 1), subq_fill_random(kv, 9 * 16, 2);
  a.q = q, a.k = kv, a.v = kv, a.out = o1;
  CHECK_OK(subq_fattn(NULL, &a));
  subq_fattn_args old = a;
  old.struct_size = offsetof(subq_fattn_args, q_dtype);
  old.q_dtype = 77, old.kv_dtype = 77, old.out_dtype = 77; /* beyond the old size: never read */
  old.out = o2;
  CHECK_OK(subq_fattn(NULL, &old));
  CHECK(memcmp(o1, o2, sizeof o1) == 0);
  a.q_dtype = a.kv_dtype = a.out_dtype = 0; /* zero-initialised new struct: f32 */
  CHECK_OK(subq_fattn(NULL, &a));
  CHECK(memcmp(o1, a.out, sizeof o1) == 0);
  subq_fattn_args b = a;
  b.q_dtype = SUBQ_DTYPE_I8;
  CHECK_STATUS(subq_fattn(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "q_dtype");
  b = a, b.kv_dtype = SUBQ_DTYPE_I32;
  CHECK_STATUS(subq_fattn(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "kv_dtype");
  b = a, b.out_dtype = 12;
  CHECK_STATUS(subq_fattn(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "out_dtype");
  /* a 16-bit out of 9 x 2 x 16 elements fits in half the bytes: out may sit
   * right after them without overlap; one element earlier overlaps */
  b = a, b.out_dtype = SUBQ_DTYPE_BF16, b.out = o1;
  b.lse = o1 + 9 * 16; /* bf16 out ends at o1 + 9 * 2 * 16 / 2 floats */
  CHECK_OK(subq_fattn(NULL, &b));
  b.lse = o1 + 9 * 16 - 1;
  CHECK_STATUS(subq_fattn(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps lse");
}

int main(void) {
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  for (int i = 0; i < n; i++) for_isa(isas[i]);
  abi_and_bad();
  printf("test_fattn_dtype: %d cases on %d ISA paths\n", n_cases, n);
  return subq_test_finish("test_fattn_dtype");
}
