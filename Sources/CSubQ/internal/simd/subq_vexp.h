/*
 * subq_vexp.h — subq's single-precision exp, written once: the shared
 * constants and the scalar form. The AVX2 and NEON forms
 * (subq_vexp_avx2.h, subq_vexp_neon.h) are the same algorithm lane by lane
 * and give the same bits as subq_expf_u2.
 *
 * Algorithm: Cody-Waite reduction x = n ln2 + r, n = x log2e rounded to
 * nearest even (|r| <= ln2/2 up to rounding), ln2 split in two (hi part
 * exact in 9 bits, explicit FMAs);
 * cephes degree-6 polynomial for e^r; 2^n built in the exponent field and
 * multiplied in (n = 128, x in (88.38, 88.72], as 2^127 * 2).
 * Range: x < SUBQ_VEXP_LO = ln(2^-126) gives +0 (no denormals; -inf too),
 * x > SUBQ_VEXP_HI (ln FLT_MAX rounded) gives +inf, NaN stays NaN.
 *
 * Accuracy, hence "u2", not "u1": test_fattn and test_ssm (2^20 points each
 * over [-87.3, 88.7], against exp() in double) measure 0.99 ulp, but an
 * exhaustive run over every float in [SUBQ_VEXP_LO, SUBQ_VEXP_HI] finds
 * 1.01 ulp (at x = -5.8778844), so the honest bound is the one the tests
 * enforce: < 2 ulp. (x just below SUBQ_VEXP_HI whose exp exceeds FLT_MAX by
 * more than half an ulp give +inf, the correctly rounded result.)
 *
 * No ISA code here: usable from any translation unit.
 */
#ifndef SUBQ_VEXP_H
#define SUBQ_VEXP_H

#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define SUBQ_VEXP_LO (-87.33654475f) /* ln(2^-126): below it the result flushes to +0 */
#define SUBQ_VEXP_HI (88.72283935f)  /* ln(FLT_MAX) rounded: above it +inf */
/* Inside [MID_LO, MID_HI] n = rint(x log2e) is in [-126, 127] and
 * e^r >= 1 when n = -126, so the scaled result is normal without fix-ups. */
#define SUBQ_VEXP_MID_LO (-87.3f)
#define SUBQ_VEXP_MID_HI 88.3f
#define SUBQ_VEXP_LOG2E 1.44269504088896341f
#define SUBQ_VEXP_LN2_HI 0.693359375f
#define SUBQ_VEXP_LN2_LO (-2.12194440e-4f)
#define SUBQ_VEXP_P0 1.9875691500e-4f
#define SUBQ_VEXP_P1 1.3981999507e-3f
#define SUBQ_VEXP_P2 8.3334519073e-3f
#define SUBQ_VEXP_P3 4.1665795894e-2f
#define SUBQ_VEXP_P4 1.6666665459e-1f
#define SUBQ_VEXP_P5 5.0000001201e-1f

/* 2^x for decays (x <= 0 in use): n = rint(x), r = x - n (exact), 2^r by a
 * degree-6 polynomial fitted for relative error (2.0e-9 on [-1/2, 1/2]),
 * evaluated in Estrin form (a dependency chain of 4 FMAs instead of 7), and
 * n added into the exponent field. x < -126 (and -inf) gives +0; x > 127 is
 * clamped to 127 (finite); NaN stays NaN. For x >= -126 every n = -126
 * comes with r >= 0, so the result is normal. Cheaper than e^x: the caller
 * folds log2(e) into a constant factor (the Mamba-1 scan packs A log2(e),
 * as the reference CUDA kernel does), and the reduction needs no ln2 split.
 * Measured maximum error: test_ssm (2^20 points on [-126, 0]). */
#define SUBQ_VEXP2_LO (-126.0f)
#define SUBQ_VEXP2_HI 127.0f
#define SUBQ_VEXP2_C1 6.9314718246e-01f
#define SUBQ_VEXP2_C2 2.4022647738e-01f
#define SUBQ_VEXP2_C3 5.5503323674e-02f
#define SUBQ_VEXP2_C4 9.6184369177e-03f
#define SUBQ_VEXP2_C5 1.3398876181e-03f
#define SUBQ_VEXP2_C6 1.5353359049e-04f

/* The scalar twin of the vector exp2 decays (same bits). */
static inline float subq_exp2f_decay(float x) {
  if (x != x) return x;
  if (x < SUBQ_VEXP2_LO) return 0.0f;
  const float xc = x > SUBQ_VEXP2_HI ? SUBQ_VEXP2_HI : x;
  const float n = rintf(xc), r = xc - n, r2 = r * r;
  const float p01 = fmaf(SUBQ_VEXP2_C1, r, 1.0f), p23 = fmaf(SUBQ_VEXP2_C3, r, SUBQ_VEXP2_C2);
  const float p45 = fmaf(SUBQ_VEXP2_C5, r, SUBQ_VEXP2_C4);
  const float p = fmaf(fmaf(fmaf(SUBQ_VEXP2_C6, r2, p45), r2, p23), r2, p01);
  uint32_t bits;
  memcpy(&bits, &p, sizeof bits);
  bits += (uint32_t)(int32_t)n << 23;
  float y;
  memcpy(&y, &bits, sizeof y);
  return y;
}

static inline float subq_expf_u2(float x) {
  if (x != x) return x;
  if (x < SUBQ_VEXP_LO) return 0.0f;
  if (x > SUBQ_VEXP_HI) return INFINITY;
  const float n = rintf(x * SUBQ_VEXP_LOG2E); /* nearest, ties to even (default mode) */
  float r = fmaf(-n, SUBQ_VEXP_LN2_HI, x);
  r = fmaf(-n, SUBQ_VEXP_LN2_LO, r);
  float p = SUBQ_VEXP_P0;
  p = fmaf(p, r, SUBQ_VEXP_P1);
  p = fmaf(p, r, SUBQ_VEXP_P2);
  p = fmaf(p, r, SUBQ_VEXP_P3);
  p = fmaf(p, r, SUBQ_VEXP_P4);
  p = fmaf(p, r, SUBQ_VEXP_P5);
  p = fmaf(p, r * r, r) + 1.0f;
  int32_t ni = (int32_t)n;
  if (ni > 127) { /* x in (88.38, 88.72]: 2^128 is not a float, use 2^127 * 2 */
    ni = 127;
    p *= 2.0f;
  }
  const uint32_t bits = (uint32_t)(ni + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

#endif /* SUBQ_VEXP_H */
