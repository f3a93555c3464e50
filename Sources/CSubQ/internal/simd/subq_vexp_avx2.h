/*
 * subq_vexp_avx2.h — subq_vexp.h's exp on 8 AVX2+FMA lanes (same bits as
 * subq_expf_u2; see subq_vexp.h for the algorithm, range and the "u2").
 * Include it INSIDE a SUBQ_ISA_BEGIN_AVX2 region, after every system header,
 * so its static inline functions inherit the target (internal/subq_isa.h).
 *
 *   subq_vexp_f32_core_avx2(xc): e^xc for xc already in [SUBQ_VEXP_LO,
 *     SUBQ_VEXP_HI] (NaN propagates); no range handling. For callers that
 *     clamp themselves (the SSM decay) and keep fewer constants live.
 *   subq_vexp_f32_core_mid_avx2(xc): the same bits for xc in
 *     [SUBQ_VEXP_MID_LO, SUBQ_VEXP_MID_HI], cheaper.
 *   subq_vexp_f32_nonpos_avx2(x): x <= 0, flushed below SUBQ_VEXP_MID_LO.
 *   subq_vexp_f32_u2_avx2(x): the full contract (flush, +inf, NaN).
 */
#ifndef SUBQ_VEXP_AVX2_H
#define SUBQ_VEXP_AVX2_H

#include "internal/simd/subq_vexp.h"

/* Reduction and polynomial: returns e^r, r = xc - n ln2; *n = the integral n. */
static inline __m256 subq_vexp_f32_poly_avx2(__m256 xc, __m256 *n) {
  *n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(SUBQ_VEXP_LOG2E)),
                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(SUBQ_VEXP_LN2_HI), xc);
  r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(SUBQ_VEXP_LN2_LO), r);
  __m256 p = _mm256_set1_ps(SUBQ_VEXP_P0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SUBQ_VEXP_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SUBQ_VEXP_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SUBQ_VEXP_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SUBQ_VEXP_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SUBQ_VEXP_P5));
  return _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
}

static inline __m256 subq_vexp_f32_core_avx2(__m256 xc) {
  __m256 n;
  __m256 p = subq_vexp_f32_poly_avx2(xc, &n);
  __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i big = _mm256_cmpgt_epi32(ni, _mm256_set1_epi32(127));
  ni = _mm256_min_epi32(ni, _mm256_set1_epi32(127));
  p = _mm256_blendv_ps(p, _mm256_add_ps(p, p), _mm256_castsi256_ps(big));
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(p, scale);
}

/* The core for xc in [SUBQ_VEXP_MID_LO, SUBQ_VEXP_MID_HI] only: there
 * n <= 127 and e^r >= 1 whenever n = -126, so e^r * 2^n is normal and adding
 * n to the exponent field gives the same bits as the multiply, in fewer
 * operations and constants (hot loops under register pressure). */
static inline __m256 subq_vexp_f32_core_mid_avx2(__m256 xc) {
  __m256 n;
  const __m256 p = subq_vexp_f32_poly_avx2(xc, &n);
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

/* e^x for x <= 0 (or NaN) with x < SUBQ_VEXP_MID_LO (e^x < 1.2e-38) flushed
 * to +0: the mid-range core, so the same bits as subq_expf_u2 above the
 * threshold, without the +inf blends; NaN stays NaN (MAXPS returns its second
 * operand). Softmax terms and the SSM's softplus / SiLU. */
static inline __m256 subq_vexp_f32_nonpos_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(SUBQ_VEXP_MID_LO);
  return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), subq_vexp_f32_core_mid_avx2(_mm256_max_ps(lo, x)));
}

static inline __m256 subq_vexp_f32_u2_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(SUBQ_VEXP_LO), hi = _mm256_set1_ps(SUBQ_VEXP_HI);
  __m256 y = subq_vexp_f32_core_avx2(_mm256_min_ps(_mm256_max_ps(x, lo), hi));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN stays NaN */
}

/* subq_exp2f_decay on 8 lanes (same bits; see subq_vexp.h). With
 * below_hi the caller guarantees x <= SUBQ_VEXP2_HI (or NaN), as the SSM
 * scan does for a decay dt * A with dt >= 0 and A <= 0: both clamps are then
 * left out (one constant and two operations fewer in a register-bound loop);
 * the bits are the same (test_ssm checks them, edges included). Pass a
 * constant so the branch folds. */
static inline __attribute__((always_inline)) __m256 subq_vexp2_f32_decay_x_avx2(__m256 x, const bool below_hi) {
  const __m256 lo = _mm256_set1_ps(SUBQ_VEXP2_LO);
  const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ); /* x >= lo or NaN */
  /* Below lo the result is masked to 0 whatever the polynomial gives, so with
   * below_hi no clamp is needed at all (NaN stays NaN either way) */
  const __m256 xc = below_hi ? x : _mm256_min_ps(_mm256_set1_ps(SUBQ_VEXP2_HI), _mm256_max_ps(lo, x));
  const __m256 n = _mm256_round_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_sub_ps(xc, n), r2 = _mm256_mul_ps(r, r);
  const __m256 p01 = _mm256_fmadd_ps(_mm256_set1_ps(SUBQ_VEXP2_C1), r, _mm256_set1_ps(1.0f));
  const __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(SUBQ_VEXP2_C3), r, _mm256_set1_ps(SUBQ_VEXP2_C2));
  const __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(SUBQ_VEXP2_C5), r, _mm256_set1_ps(SUBQ_VEXP2_C4));
  const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(SUBQ_VEXP2_C6), r2, p45), r2, p23),
                                   r2, p01);
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_and_ps(keep, _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e)));
}
static inline __m256 subq_vexp2_f32_decay_avx2(__m256 x) { return subq_vexp2_f32_decay_x_avx2(x, false); }

#endif /* SUBQ_VEXP_AVX2_H */
