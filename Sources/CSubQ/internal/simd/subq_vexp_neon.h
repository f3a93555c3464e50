/*
 * subq_vexp_neon.h — subq_vexp.h's exp on 4 AArch64 Advanced SIMD lanes (same
 * bits as subq_expf_u2; see subq_vexp.h for the algorithm, range and the
 * "u2"). Include it after <arm_neon.h> (NEON is baseline: no target region).
 *
 *   subq_vexp_f32_core_neon(xc): e^xc for xc already in [SUBQ_VEXP_LO,
 *     SUBQ_VEXP_HI] (NaN propagates); no range handling.
 *   subq_vexp_f32_core_mid_neon(xc): the same bits for xc in
 *     [SUBQ_VEXP_MID_LO, SUBQ_VEXP_MID_HI], cheaper.
 *   subq_vexp_f32_u2_neon(x): the full contract (flush, +inf, NaN).
 */
#ifndef SUBQ_VEXP_NEON_H
#define SUBQ_VEXP_NEON_H

#include "internal/simd/subq_vexp.h"

/* Reduction and polynomial: returns e^r, r = xc - n ln2; *n = the integral n. */
static inline float32x4_t subq_vexp_f32_poly_neon(float32x4_t xc, float32x4_t *n) {
  *n = vrndnq_f32(vmulq_n_f32(xc, SUBQ_VEXP_LOG2E));
  float32x4_t r = vfmsq_f32(xc, *n, vdupq_n_f32(SUBQ_VEXP_LN2_HI));
  r = vfmsq_f32(r, *n, vdupq_n_f32(SUBQ_VEXP_LN2_LO));
  float32x4_t p = vdupq_n_f32(SUBQ_VEXP_P0);
  p = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP_P1), p, r);
  p = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP_P2), p, r);
  p = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP_P3), p, r);
  p = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP_P4), p, r);
  p = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP_P5), p, r);
  return vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
}

static inline float32x4_t subq_vexp_f32_core_neon(float32x4_t xc) {
  float32x4_t n;
  float32x4_t p = subq_vexp_f32_poly_neon(xc, &n);
  int32x4_t ni = vcvtq_s32_f32(n);
  const uint32x4_t big = vcgtq_s32(ni, vdupq_n_s32(127));
  ni = vminq_s32(ni, vdupq_n_s32(127));
  p = vbslq_f32(big, vaddq_f32(p, p), p);
  const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(ni, vdupq_n_s32(127)), 23));
  return vmulq_f32(p, scale);
}

/* The core for xc in [SUBQ_VEXP_MID_LO, SUBQ_VEXP_MID_HI] only (see
 * subq_vexp_avx2.h): exponent-field add, same bits, fewer operations. */
static inline float32x4_t subq_vexp_f32_core_mid_neon(float32x4_t xc) {
  float32x4_t n;
  const float32x4_t p = subq_vexp_f32_poly_neon(xc, &n);
  const int32x4_t e = vshlq_n_s32(vcvtq_s32_f32(n), 23);
  return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), e));
}

/* subq_vexp_f32_nonpos_avx2 on 4 lanes: e^x for x <= 0 (or NaN), x below
 * SUBQ_VEXP_MID_LO flushed to +0, NaN kept. */
static inline float32x4_t subq_vexp_f32_nonpos_neon(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(SUBQ_VEXP_MID_LO);
  const uint32x4_t under = vcltq_f32(x, lo);
  const float32x4_t xc = vbslq_f32(under, lo, x); /* NaN: not under, stays NaN */
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(subq_vexp_f32_core_mid_neon(xc)), under));
}

static inline float32x4_t subq_vexp_f32_u2_neon(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(SUBQ_VEXP_LO), hi = vdupq_n_f32(SUBQ_VEXP_HI);
  float32x4_t y = subq_vexp_f32_core_neon(vminq_f32(vmaxq_f32(x, lo), hi));
  y = vbslq_f32(vcltq_f32(x, lo), vdupq_n_f32(0.0f), y);
  y = vbslq_f32(vcgtq_f32(x, hi), vdupq_n_f32(INFINITY), y);
  return vbslq_f32(vceqq_f32(x, x), y, x); /* NaN stays NaN */
}

/* subq_exp2f_decay on 4 lanes (same bits; see subq_vexp.h). */
static inline float32x4_t subq_vexp2_f32_decay_neon(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(SUBQ_VEXP2_LO);
  const uint32x4_t under = vcltq_f32(x, lo); /* false for NaN */
  const uint32x4_t nan = vmvnq_u32(vceqq_f32(x, x));
  const float32x4_t xc = vminq_f32(vmaxq_f32(x, lo), vdupq_n_f32(SUBQ_VEXP2_HI));
  const float32x4_t n = vrndnq_f32(xc);
  const float32x4_t r = vsubq_f32(xc, n), r2 = vmulq_f32(r, r);
  const float32x4_t p01 = vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(SUBQ_VEXP2_C1), r);
  const float32x4_t p23 = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP2_C2), vdupq_n_f32(SUBQ_VEXP2_C3), r);
  const float32x4_t p45 = vfmaq_f32(vdupq_n_f32(SUBQ_VEXP2_C4), vdupq_n_f32(SUBQ_VEXP2_C5), r);
  const float32x4_t p = vfmaq_f32(p01, vfmaq_f32(p23, vfmaq_f32(p45, vdupq_n_f32(SUBQ_VEXP2_C6), r2), r2), r2);
  const int32x4_t e = vshlq_n_s32(vcvtq_s32_f32(n), 23);
  const float32x4_t y = vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), e));
  /* vmaxq/vminq return NaN for a NaN operand and vcvtq gives 0 for NaN, so
   * y is NaN there already; the select keeps the input's payload. */
  return vbslq_f32(nan, x, vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), under)));
}

#endif /* SUBQ_VEXP_NEON_H */
