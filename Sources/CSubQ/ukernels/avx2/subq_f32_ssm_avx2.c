/*
 * subq_f32_ssm_avx2.c — AVX2+FMA SSM micro-kernels and the SSM's vector exp.
 *
 * s6scan: 8 channels per vector (the 16-channel state block is two halves,
 * lanes outside the caller's range masked). Time runs in blocks of 64
 * tokens: one pass computes dt (bias, softplus) and dt*u per token, then for
 * each chunk of 4 states the chunk's 4 state vectors stay in registers for the
 * whole time block while y partials (one FMA chain over n ascending, carried
 * across chunks in a small buffer) accumulate; a last pass adds Dskip*u and
 * the SiLU gate. One token (the decode step) takes a direct path: both
 * halves at once, each state loaded and stored once, y in registers. Per lane
 * the arithmetic does not depend on the lane, the block, the time blocking or
 * the path, so chunked prefill and decode steps give the same bits as one call.
 *
 * exp: the shared subq_vexp_f32_u2_avx2 (internal/simd/subq_vexp_avx2.h:
 * Cody-Waite reduction, degree-6 polynomial, 2^n in the exponent field;
 * max error 0.99 ulp measured by test_ssm against exp() in double over 2^20
 * points on [-87.3, 88.7], the test fails above 2 ulp), flushed to exactly 0
 * below -87.3 (including -inf; no denormals); +inf above 88.7228, NaN stays
 * NaN. The scan's decay is subq_vexp2_f32_decay_avx2(dt * A log2(e)) (the
 * same bits as the scalar subq_exp2f_decay; 1.2x faster scan than e^x with
 * the Cody-Waite reduction, measured side by side).
 * Whole file in one target region.
 */
#include "families/ssm/subq_ssm2_ukernel.h"
#include "families/ssm/subq_ssm_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <math.h>
#include <string.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"
#include "internal/simd/subq_vexp_avx2.h"

/* The family's exp: the shared one with the family's flush threshold (0
 * below -87.3 rather than below ln(2^-126) = -87.3365; test_ssm checks it). */
static inline __m256 subq_ssm_exp_avx2(__m256 x) {
  return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(SUBQ_SSM_EXP_FLUSH), _CMP_LT_OQ), subq_vexp_f32_u2_avx2(x));
}

/* subq_ssm_exp_avx2 for x <= 0 (and NaN) is subq_vexp_f32_nonpos_avx2 (the
 * family's SUBQ_SSM_EXP_FLUSH is SUBQ_VEXP_MID_LO): the same bits without the
 * +inf / NaN blends. */

/* softplus without a log: see SUBQ_SOFTPLUS_Q0 (families/ssm/subq_ssm_ukernel.h). */
static inline __m256 subq_vsoftplus_avx2(__m256 x) {
  const __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 e = subq_vexp_f32_nonpos_avx2(_mm256_sub_ps(_mm256_setzero_ps(), absx));
  const __m256 s = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e)), w = _mm256_mul_ps(s, s);
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(SUBQ_SOFTPLUS_Q3), w, _mm256_set1_ps(SUBQ_SOFTPLUS_Q2));
  q = _mm256_fmadd_ps(q, w, _mm256_set1_ps(SUBQ_SOFTPLUS_Q1));
  q = _mm256_fmadd_ps(q, w, _mm256_set1_ps(SUBQ_SOFTPLUS_Q0));
  const __m256 at = _mm256_fmadd_ps(s, _mm256_mul_ps(w, q), s);
  return _mm256_add_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_add_ps(at, at));
}

/* silu(x) = x * sigmoid(x), sigmoid in the stable form. */
static inline __m256 subq_vsilu_avx2(__m256 x) {
  const __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 e = subq_vexp_f32_nonpos_avx2(_mm256_sub_ps(_mm256_setzero_ps(), absx));
  const __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
  const __m256 pos = _mm256_div_ps(_mm256_set1_ps(1.0f), d), neg = _mm256_mul_ps(e, pos);
  const __m256 s = _mm256_blendv_ps(pos, neg, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
  return _mm256_mul_ps(x, s);
}

void subq_f32_vexp2_decay__avx2(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_vexp2_f32_decay_avx2(_mm256_loadu_ps(x + i)));
  for (; i < n; i++) y[i] = subq_exp2f_decay(x[i]);
}

void subq_f32_vexp2_decay_below_hi__avx2(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_vexp2_f32_decay_x_avx2(_mm256_loadu_ps(x + i), true));
  for (; i < n; i++) y[i] = subq_exp2f_decay(x[i]);
}

void subq_f32_vsoftplus__avx2(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_vsoftplus_avx2(_mm256_loadu_ps(x + i)));
  for (; i < n; i++) { /* through the vector body: the tail gets the same bits */
    float buf[8] = {x[i]};
    _mm256_storeu_ps(buf, subq_vsoftplus_avx2(_mm256_loadu_ps(buf)));
    y[i] = buf[0];
  }
}

void subq_f32_vexp_u2__avx2(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_ssm_exp_avx2(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0};
    memcpy(buf, x + i, (size_t)(n - i) * sizeof(float));
    _mm256_storeu_ps(buf, subq_ssm_exp_avx2(_mm256_loadu_ps(buf)));
    memcpy(y + i, buf, (size_t)(n - i) * sizeof(float));
  }
}

/* dt + bias, softplus if asked, of one 8-lane half of a whole block. */
static inline __m256 subq_s6_dt_avx2(const float *dt, const float *bias, bool softplus) {
  /* + 0 without a bias too: -0 becomes +0 as on the other paths */
  const __m256 v = _mm256_add_ps(_mm256_loadu_ps(dt), bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps());
  return softplus ? subq_vsoftplus_avx2(v) : v;
}

/* Whether the decay may leave out its clamps for this block: dt >= 0
 * (softplus on) and every A of the block's [N][16] (padding lanes 0) <= 0, so
 * dt * A <= 0 (a NaN gives NaN either way). 2N vector maxima. */
static inline bool subq_s6_decay_below_hi_avx2(const float *a, int64_t N, bool softplus) {
  if (!softplus) return false;
  __m256 amax = _mm256_loadu_ps(a);
  for (int64_t i = 8; i < SUBQ_SSM_BLOCK * N; i += 8) amax = _mm256_max_ps(amax, _mm256_loadu_ps(a + i));
  return _mm256_movemask_ps(_mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ)) == 0;
}

/* One token's states of a whole block: both halves, y in registers. */
static inline __attribute__((always_inline)) void subq_s6_step_states_avx2(int64_t N, const float *ap, float *hp,
                                                                          const float *bp, const float *cp,
                                                                          __m256 dv0, __m256 dv1, __m256 du0,
                                                                          __m256 du1, __m256 *y0, __m256 *y1,
                                                                          const bool below_hi) {
  for (int64_t n = 0; n < N; n++, ap += 16, hp += 16) {
    const __m256 bn = _mm256_broadcast_ss(bp + n), cn = _mm256_broadcast_ss(cp + n);
    const __m256 a0 = subq_vexp2_f32_decay_x_avx2(_mm256_mul_ps(dv0, _mm256_loadu_ps(ap)), below_hi);
    const __m256 a1 = subq_vexp2_f32_decay_x_avx2(_mm256_mul_ps(dv1, _mm256_loadu_ps(ap + 8)), below_hi);
    const __m256 h0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(hp), _mm256_mul_ps(du0, bn));
    const __m256 h1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(hp + 8), _mm256_mul_ps(du1, bn));
    _mm256_storeu_ps(hp, h0), _mm256_storeu_ps(hp + 8, h1);
    *y0 = _mm256_fmadd_ps(h0, cn, *y0), *y1 = _mm256_fmadd_ps(h1, cn, *y1);
  }
}

/* One token (the decode step) over p->nblk whole blocks: both 8-lane halves
 * at once, each state's h loaded, updated and stored once, y in registers (two
 * independent FMA chains instead of one chain through the y buffer). The SiLU
 * gate is computed before the states (measured: 1.04x over after them);
 * computing the next block's softplus ahead measured no faster. Per lane the
 * operations and their order are the time-blocked path's (y over n ascending
 * from 0), so the bits are the same. */
static void subq_s6scan_step_blocks_avx2(const subq_s6scan_params *p) {
  const int64_t N = p->N, nblk = p->nblk, hs = SUBQ_SSM_BLOCK * N;
  const bool sp = p->softplus;
  /* locals: the h stores may alias *p */
  const float *dt = p->dt, *bias = p->dt_bias, *u = p->u, *z = p->z, *dsk = p->d_skip, *ab = p->a;
  const float *bp = p->b, *cp = p->c;
  float *hb = p->h, *yp = p->y;
  for (int64_t k = 0; k < nblk; k++, dt += 16, bias = bias ? bias + 16 : NULL, u += 16, z = z ? z + 16 : NULL,
               dsk = dsk ? dsk + 16 : NULL, ab += hs, hb += hs, yp += 16) {
    const __m256 dv0 = subq_s6_dt_avx2(dt, bias, sp), dv1 = subq_s6_dt_avx2(dt + 8, bias ? bias + 8 : NULL, sp);
    __m256 g0 = _mm256_set1_ps(1.0f), g1 = g0; /* the gate first: it does not wait for the states */
    if (z) g0 = subq_vsilu_avx2(_mm256_loadu_ps(z)), g1 = subq_vsilu_avx2(_mm256_loadu_ps(z + 8));
    const __m256 u0 = _mm256_loadu_ps(u), u1 = _mm256_loadu_ps(u + 8);
    const __m256 du0 = _mm256_mul_ps(dv0, u0), du1 = _mm256_mul_ps(dv1, u1);
    __m256 y0 = _mm256_setzero_ps(), y1 = _mm256_setzero_ps();
    if (subq_s6_decay_below_hi_avx2(ab, N, sp)) /* checked per block: A is the caller's packed memory */
      subq_s6_step_states_avx2(N, ab, hb, bp, cp, dv0, dv1, du0, du1, &y0, &y1, true);
    else
      subq_s6_step_states_avx2(N, ab, hb, bp, cp, dv0, dv1, du0, du1, &y0, &y1, false);
    if (dsk) y0 = _mm256_fmadd_ps(_mm256_loadu_ps(dsk), u0, y0), y1 = _mm256_fmadd_ps(_mm256_loadu_ps(dsk + 8), u1, y1);
    if (z) y0 = _mm256_mul_ps(y0, g0), y1 = _mm256_mul_ps(y1, g1);
    _mm256_storeu_ps(yp, y0), _mm256_storeu_ps(yp + 8, y1);
  }
}

/* One token on part of one block (lanes [lane0, lane0 + nl)): masked halves. */
static void subq_s6scan_step_avx2(const subq_s6scan_params *p) {
  if (p->lane0 == 0 && p->nl == 16) {
    subq_s6scan_step_blocks_avx2(p);
    return;
  }
  __m256i m[2];
  bool full[2], on[2];
  __m256 dv[2], du[2], y[2];
  for (int32_t half = 0; half < 2; half++) {
    const int32_t o = half * 8;
    const int32_t lo = SUBQ_MAX(p->lane0, o) - o, hi = SUBQ_MIN(p->lane0 + p->nl, o + 8) - o;
    on[half] = lo < hi;
    m[half] = subq_avx2_lanes(on[half] ? lo : 0, on[half] ? hi : 0);
    full[half] = lo == 0 && hi == 8;
    if (!on[half]) m[half] = _mm256_setzero_si256(), full[half] = false;
    const __m256 bias = p->dt_bias ? subq_avx2_ld(p->dt_bias + o, m[half], full[half]) : _mm256_setzero_ps();
    dv[half] = _mm256_add_ps(subq_avx2_ld(p->dt + o, m[half], full[half]), bias);
    if (p->softplus) dv[half] = subq_vsoftplus_avx2(dv[half]);
    du[half] = _mm256_mul_ps(dv[half], subq_avx2_ld(p->u + o, m[half], full[half]));
    y[half] = _mm256_setzero_ps();
  }
  for (int64_t n = 0; n < p->N; n++) {
    const __m256 bn = _mm256_broadcast_ss(p->b + n), cn = _mm256_broadcast_ss(p->c + n);
    for (int32_t half = 0; half < 2; half++) { /* an inactive half runs on zero lanes, never stored */
      float *hp = p->h + n * 16 + half * 8;
      const __m256 a = subq_vexp2_f32_decay_avx2(_mm256_mul_ps(dv[half], _mm256_loadu_ps(p->a + n * 16 + half * 8)));
      const __m256 h = _mm256_fmadd_ps(a, subq_avx2_ld(hp, m[half], full[half]), _mm256_mul_ps(du[half], bn));
      if (on[half]) subq_avx2_st(hp, m[half], full[half], h);
      y[half] = _mm256_fmadd_ps(h, cn, y[half]);
    }
  }
  for (int32_t half = 0; half < 2; half++) {
    if (!on[half]) continue;
    const int32_t o = half * 8;
    __m256 yv = y[half];
    if (p->d_skip)
      yv = _mm256_fmadd_ps(subq_avx2_ld(p->d_skip + o, m[half], full[half]), subq_avx2_ld(p->u + o, m[half], full[half]), yv);
    if (p->z) yv = _mm256_mul_ps(yv, subq_vsilu_avx2(subq_avx2_ld(p->z + o, m[half], full[half])));
    subq_avx2_st(p->y + o, m[half], full[half], yv);
  }
}

/* The states of one 8-lane half over one time block (the scan's main loop):
 * below_hi selects the decay exp2 without its clamps (the same bits when
 * every dt * A <= SUBQ_VEXP2_HI); pass a constant. */
static inline __attribute__((always_inline)) void subq_s6_states_avx2(const subq_s6scan_params *p, int64_t t0,
                                                                     int64_t tc, int32_t o, __m256i m, bool fl,
                                                                     const float *dvh, const float *duh, float *yh,
                                                                     const bool below_hi) {
  const int64_t N = p->N;
  float *hh = p->h + o;
  int64_t n0 = 0;
  for (; n0 + 4 <= N; n0 += 4) {
    __m256 h0 = subq_avx2_ld(hh + (n0 + 0) * 16, m, fl), h1 = subq_avx2_ld(hh + (n0 + 1) * 16, m, fl);
    __m256 h2 = subq_avx2_ld(hh + (n0 + 2) * 16, m, fl), h3 = subq_avx2_ld(hh + (n0 + 3) * 16, m, fl);
    const float *ap = p->a + n0 * 16 + o;
    for (int64_t t = 0; t < tc; t++) {
      const __m256 dv = _mm256_load_ps(dvh + t * 8), du = _mm256_load_ps(duh + t * 8);
      const float *br = p->b + (t0 + t) * p->b_ld + n0, *cr = p->c + (t0 + t) * p->c_ld + n0;
      __m256 y = _mm256_load_ps(yh + t * 8);
#define SUBQ_S6_STEP(j, h)                                                                                   \
  {                                                                                                          \
    const __m256 a = subq_vexp2_f32_decay_x_avx2(_mm256_mul_ps(dv, _mm256_loadu_ps(ap + (j) * 16)), below_hi); \
    h = _mm256_fmadd_ps(a, h, _mm256_mul_ps(du, _mm256_broadcast_ss(br + (j))));                             \
    y = _mm256_fmadd_ps(h, _mm256_broadcast_ss(cr + (j)), y);                                                \
  }
      SUBQ_S6_STEP(0, h0) SUBQ_S6_STEP(1, h1) SUBQ_S6_STEP(2, h2) SUBQ_S6_STEP(3, h3)
      _mm256_store_ps(yh + t * 8, y);
    }
    subq_avx2_st(hh + (n0 + 0) * 16, m, fl, h0), subq_avx2_st(hh + (n0 + 1) * 16, m, fl, h1);
    subq_avx2_st(hh + (n0 + 2) * 16, m, fl, h2), subq_avx2_st(hh + (n0 + 3) * 16, m, fl, h3);
  }
  for (; n0 < N; n0++) { /* tail states, one at a time: same per-lane operations */
    __m256 h = subq_avx2_ld(hh + n0 * 16, m, fl);
    const __m256 av = _mm256_loadu_ps(p->a + n0 * 16 + o);
    for (int64_t t = 0; t < tc; t++) {
      const __m256 dv = _mm256_load_ps(dvh + t * 8), du = _mm256_load_ps(duh + t * 8);
      const float *br = p->b + (t0 + t) * p->b_ld + n0, *cr = p->c + (t0 + t) * p->c_ld + n0;
      const __m256 a = subq_vexp2_f32_decay_x_avx2(_mm256_mul_ps(dv, av), below_hi);
      h = _mm256_fmadd_ps(a, h, _mm256_mul_ps(du, _mm256_broadcast_ss(br)));
      _mm256_store_ps(yh + t * 8, _mm256_fmadd_ps(h, _mm256_broadcast_ss(cr), _mm256_load_ps(yh + t * 8)));
    }
    subq_avx2_st(hh + n0 * 16, m, fl, h);
  }
#undef SUBQ_S6_STEP
}

void subq_f32_ssm_s6scan_ukernel_d16__avx2(const subq_s6scan_params *p) {
  if (p->T == 1) {
    subq_s6scan_step_avx2(p);
    return;
  }
  /* dt, dt*u and y partials per half: [half][t][8] (32-byte aligned) */
  float *dvb = p->work, *dub = dvb + SUBQ_S6_TC * 16, *yb = dub + SUBQ_S6_TC * 16;
  __m256i mk[2];
  bool full[2], on[2];
  __m256 bias[2], dsk[2];
  for (int32_t half = 0; half < 2; half++) {
    const int32_t o = half * 8;
    const int32_t lo = SUBQ_MAX(p->lane0, o) - o, hi = SUBQ_MIN(p->lane0 + p->nl, o + 8) - o;
    on[half] = lo < hi;
    mk[half] = subq_avx2_lanes(on[half] ? lo : 0, on[half] ? hi : 0);
    full[half] = lo == 0 && hi == 8;
    bias[half] = on[half] && p->dt_bias ? subq_avx2_ld(p->dt_bias + o, mk[half], full[half]) : _mm256_setzero_ps();
    dsk[half] = on[half] && p->d_skip ? subq_avx2_ld(p->d_skip + o, mk[half], full[half]) : _mm256_setzero_ps();
  }
  /* the decay without its clamps (same bits; 1.10-1.12x, measured: BENCHMARKS.md) */
  const bool below_hi = subq_s6_decay_below_hi_avx2(p->a, p->N, p->softplus);
  for (int64_t t0 = 0; t0 < p->T; t0 += SUBQ_S6_TC) {
    const int64_t tc = SUBQ_MIN((int64_t)SUBQ_S6_TC, p->T - t0);
    /* dt (bias, softplus) and dt*u of both halves per token: two independent
     * softplus chains per token instead of one (measured: BENCHMARKS.md) */
    for (int64_t t = 0; t < tc; t++)
      for (int32_t half = 0; half < 2; half++) {
        if (!on[half]) continue;
        const int32_t o = half * 8;
        __m256 dv = _mm256_add_ps(subq_avx2_ld(p->dt + (t0 + t) * p->dt_ld + o, mk[half], full[half]), bias[half]);
        if (p->softplus) dv = subq_vsoftplus_avx2(dv);
        const __m256 uv = subq_avx2_ld(p->u + (t0 + t) * p->u_ld + o, mk[half], full[half]);
        _mm256_store_ps(dvb + (half * SUBQ_S6_TC + t) * 8, dv);
        _mm256_store_ps(dub + (half * SUBQ_S6_TC + t) * 8, _mm256_mul_ps(dv, uv));
        _mm256_store_ps(yb + (half * SUBQ_S6_TC + t) * 8, _mm256_setzero_ps());
      }
    for (int32_t half = 0; half < 2; half++) {
      if (!on[half]) continue;
      const float *dvh = dvb + half * SUBQ_S6_TC * 8, *duh = dub + half * SUBQ_S6_TC * 8;
      float *yh = yb + half * SUBQ_S6_TC * 8;
      if (below_hi)
        subq_s6_states_avx2(p, t0, tc, half * 8, mk[half], full[half], dvh, duh, yh, true);
      else
        subq_s6_states_avx2(p, t0, tc, half * 8, mk[half], full[half], dvh, duh, yh, false);
    }
    /* Dskip and the SiLU gate, both halves per token */
    for (int64_t t = 0; t < tc; t++)
      for (int32_t half = 0; half < 2; half++) {
        if (!on[half]) continue;
        const int32_t o = half * 8;
        __m256 y = _mm256_load_ps(yb + (half * SUBQ_S6_TC + t) * 8);
        if (p->d_skip) y = _mm256_fmadd_ps(dsk[half], subq_avx2_ld(p->u + (t0 + t) * p->u_ld + o, mk[half], full[half]), y);
        if (p->z)
          y = _mm256_mul_ps(y, subq_vsilu_avx2(subq_avx2_ld(p->z + (t0 + t) * p->z_ld + o, mk[half], full[half])));
        subq_avx2_st(p->y + (t0 + t) * p->y_ld + o, mk[half], full[half], y);
      }
  }
}

#ifndef SUBQ_CONV_PF_ROWS
#define SUBQ_CONV_PF_ROWS 8
#endif
/* conv1d over tokens [t0, T) whose taps all lie in x, chunks [0, nfull) of 8
 * channels; W is a constant at each call site, so the taps unroll. */
static inline void subq_conv1d_interior_avx2(int32_t W, int64_t t0, int64_t T, int64_t nfull, const float *x,
                                             int64_t x_ld, float (*wt)[8][8], float (*bt)[8], float *y,
                                             int64_t y_ld, bool silu) {
  for (int64_t t = t0; t < T; t++) {
    const float *xr = x + (t - (W - 1)) * x_ld;
    float *yr = y + t * y_ld;
    /* Rows are x_ld (y_ld) apart: prefetch the x row SUBQ_CONV_PF_ROWS ahead,
     * and the y row for writing, whose lines would otherwise each wait a full
     * miss (prefetches never fault; the addresses are formed as integers). */
    const uintptr_t pf = (uintptr_t)x + (uintptr_t)(t + SUBQ_CONV_PF_ROWS) * (uintptr_t)x_ld * sizeof(float);
    const uintptr_t pfy = (uintptr_t)y + (uintptr_t)(t + SUBQ_CONV_PF_ROWS) * (uintptr_t)y_ld * sizeof(float);
    for (int64_t q = 0; q < nfull; q += 2) {
      __builtin_prefetch((const void *)(pf + (uintptr_t)q * 32), 0, 3);
      __builtin_prefetch((const void *)(pfy + (uintptr_t)q * 32), 1, 3);
    }
    for (int64_t q = 0; q < nfull; q++) {
      __m256 acc = _mm256_load_ps(bt[q]);
      for (int32_t k = 0; k < W; k++) acc = _mm256_fmadd_ps(_mm256_load_ps(wt[q][k]), _mm256_loadu_ps(xr + k * x_ld + q * 8), acc);
      _mm256_storeu_ps(yr + q * 8, silu ? subq_vsilu_avx2(acc) : acc);
    }
  }
}

void subq_f32_ssm_conv1d_ukernel_c256__avx2(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld,
                                           const float *w, const float *bias, const float *state_in,
                                           float *state_out, int64_t s_ld, float *y, int64_t y_ld, bool silu,
                                           float *work) {
  /* Weights repacked [chunk][k][8] (zero past nc) in the scratch; tokens
   * outer, the <= 8 chunks of 8 channels inner, so each row of x and y is
   * touched once. */
  float(*wt)[8][8] = (float(*)[8][8])work;
  float(*bt)[8] = (float(*)[8])(work + SUBQ_CONV_BLOCK * 8);
  memset(work, 0, SUBQ_CONV_WORK_FLOATS * sizeof(float));
  const int64_t nch = (nc + 7) / 8;
  for (int64_t ch = 0; ch < nc; ch++) {
    for (int32_t k = 0; k < W; k++) wt[ch / 8][k][ch % 8] = w[ch * W + k];
    if (bias) bt[ch / 8][ch % 8] = bias[ch];
  }
  const __m256i mtail = subq_avx2_lanes(0, (int32_t)(nc - (nch - 1) * 8));
  const __m256i mall = _mm256_set1_epi32(-1);
  /* Interior tokens (every tap inside x) of the full chunks: the taps
   * unrolled for the width, no per-tap branch; the same FMA order (k
   * ascending from the bias) as the general loop below, so the same bits. */
  const int64_t nfull = nc / 8, t_in = SUBQ_MIN(T, (int64_t)(W - 1));
  switch (W) {
#define SUBQ_CONV_INTERIOR(WW)                                                                                    case WW:                                                                                                          subq_conv1d_interior_avx2(WW, t_in, T, nfull, x, x_ld, wt, bt, y, y_ld, silu);                                 break;
    SUBQ_CONV_INTERIOR(1) SUBQ_CONV_INTERIOR(2) SUBQ_CONV_INTERIOR(3) SUBQ_CONV_INTERIOR(4)
    SUBQ_CONV_INTERIOR(5) SUBQ_CONV_INTERIOR(6) SUBQ_CONV_INTERIOR(7) SUBQ_CONV_INTERIOR(8)
#undef SUBQ_CONV_INTERIOR
    default: break;
  }
  for (int64_t t = 0; t < T; t++)
    for (int64_t q = t >= t_in ? nfull : 0; q < nch; q++) {
      const bool full = q < nch - 1 || nc % 8 == 0;
      const __m256i m = full ? mall : mtail;
      const int64_t c0 = q * 8;
      __m256 acc = _mm256_load_ps(bt[q]);
      for (int32_t k = 0; k < W; k++) {
        const int64_t r = t + k - (W - 1);
        const __m256 v = r >= 0 ? subq_avx2_ld(x + r * x_ld + c0, m, full)
                                : (state_in ? subq_avx2_ld(state_in + (W - 1 + r) * s_ld + c0, m, full)
                                            : _mm256_setzero_ps());
        acc = _mm256_fmadd_ps(_mm256_load_ps(wt[q][k]), v, acc);
      }
      subq_avx2_st(y + t * y_ld + c0, m, full, silu ? subq_vsilu_avx2(acc) : acc);
    }
  if (state_out)
    for (int32_t k = 0; k < W - 1; k++) { /* ascending k reads rows > k only: in place is safe */
      const int64_t r = T + k - (W - 1);
      for (int64_t q = 0; q < nch; q++) {
        const bool full = q < nch - 1 || nc % 8 == 0;
      const __m256i m = full ? mall : mtail;
        const int64_t c0 = q * 8;
        const __m256 v = r >= 0 ? subq_avx2_ld(x + r * x_ld + c0, m, full)
                                : (state_in ? subq_avx2_ld(state_in + (W - 1 + r) * s_ld + c0, m, full)
                                            : _mm256_setzero_ps());
        subq_avx2_st(state_out + k * s_ld + c0, m, full, v);
      }
    }
}

/* ---- Mamba-2 (SSD) -------------------------------------------------------------------
 * rec: 8 head_dim lanes per vector (tail lanes masked); per time block the
 * dt*x vectors are precomputed, then each tile of 8 states x 8 lanes stays in
 * 8 registers for the whole block: per token and state one mul (dt*x*B), two
 * FMAs (decay, y). Tile sums are added to the y partials in tile order.
 * gemm: 6 rows x 16 columns of C in 12 accumulators, A broadcast, B rows
 * loaded (masked past Nc); one FMA per k in k order, as the scalar kernel.
 */

/* Decode step, states 4q..4q+3 of a tile for two p-blocks (16 lanes): each B and
 * C broadcast serves two vectors. Returns the two chains' sums (mul, then fmas). */
static inline __attribute__((always_inline)) void subq_ssd_step_quad(float *sp, int64_t P, __m256 a, __m256 xd0,
                                                                    __m256 xd1, const float *br, const float *cr,
                                                                    __m256 *acc0, __m256 *acc1) {
  __m256 s0[4], s1[4];
  for (int j = 0; j < 4; j++) s0[j] = _mm256_loadu_ps(sp + j * P), s1[j] = _mm256_loadu_ps(sp + j * P + 8);
  for (int j = 0; j < 4; j++) {
    const __m256 b = _mm256_broadcast_ss(br + j), c = _mm256_broadcast_ss(cr + j);
    s0[j] = _mm256_fmadd_ps(a, s0[j], _mm256_mul_ps(xd0, b));
    s1[j] = _mm256_fmadd_ps(a, s1[j], _mm256_mul_ps(xd1, b));
    *acc0 = j == 0 ? _mm256_mul_ps(s0[j], c) : _mm256_fmadd_ps(s0[j], c, *acc0);
    *acc1 = j == 0 ? _mm256_mul_ps(s1[j], c) : _mm256_fmadd_ps(s1[j], c, *acc1);
  }
  for (int j = 0; j < 4; j++) _mm256_storeu_ps(sp + j * P, s0[j]), _mm256_storeu_ps(sp + j * P + 8, s1[j]);
}

/* One token, P % 16 == 0, N % 8 == 0 (Mamba-2 decode): the operations of the
 * general path below in the same order per lane (same bits), with two p-blocks
 * per pass (a third fewer loads) and y in registers. 1.6x the general path
 * on the 48-head x 64 x 128 state, 1.9x with the state in L2 (Zen 3, 1 thread). */
static void subq_ssd_step_p16(const subq_ssd_rec_params *p) {
  const int64_t N = p->N, P = p->P;
  const __m256 a = _mm256_broadcast_ss(p->decay), dt = _mm256_broadcast_ss(p->dtv);
  for (int64_t pb = 0; pb < P; pb += 16) {
    const __m256 xd0 = _mm256_mul_ps(dt, _mm256_loadu_ps(p->x + pb)), xd1 = _mm256_mul_ps(dt, _mm256_loadu_ps(p->x + pb + 8));
    __m256 y0 = _mm256_setzero_ps(), y1 = _mm256_setzero_ps();
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
      float *sp = p->S + n0 * P + pb;
      __m256 lo0, lo1, hi0, hi1;
      subq_ssd_step_quad(sp, P, a, xd0, xd1, p->b + n0, p->c + n0, &lo0, &lo1);
      subq_ssd_step_quad(sp + 4 * P, P, a, xd0, xd1, p->b + n0 + 4, p->c + n0 + 4, &hi0, &hi1);
      y0 = _mm256_add_ps(y0, _mm256_add_ps(lo0, hi0));
      y1 = _mm256_add_ps(y1, _mm256_add_ps(lo1, hi1));
    }
    if (p->d_skip) {
      y0 = _mm256_fmadd_ps(_mm256_loadu_ps(p->d_skip + pb), _mm256_loadu_ps(p->x + pb), y0);
      y1 = _mm256_fmadd_ps(_mm256_loadu_ps(p->d_skip + pb + 8), _mm256_loadu_ps(p->x + pb + 8), y1);
    }
    _mm256_storeu_ps(p->y + pb, y0);
    _mm256_storeu_ps(p->y + pb + 8, y1);
  }
}

void subq_f32_ssd_rec_ukernel_p8__avx2(const subq_ssd_rec_params *p) {
  const int64_t N = p->N, P = p->P, T = p->T, npb = (P + 7) / 8;
  if (T == 1 && P % 16 == 0 && N % 8 == 0) {
    subq_ssd_step_p16(p);
    return;
  }
  /* xd and y partials [p-block][t][8]: the p-blocks are the inner loop of a
   * state tile, so the tile's B and C values of the block's tokens are read
   * from L1 once per p-block */
  float *xdb = p->work, *yb = xdb + npb * SUBQ_SSD_TC * 8; /* 32-byte aligned */
  const __m256i mt = subq_avx2_lanes(0, (int32_t)(P - (npb - 1) * 8));
  const bool ft = P % 8 == 0;
#define SUBQ_PB_MASK(pb) ((pb) < npb - 1 ? _mm256_set1_epi32(-1) : mt)
#define SUBQ_PB_FULL(pb) ((pb) < npb - 1 || ft)
  for (int64_t pb = 0; pb < npb; pb++) {
    const __m256i m = SUBQ_PB_MASK(pb);
    const bool full = SUBQ_PB_FULL(pb);
    for (int64_t t = 0; t < T; t++) {
      const __m256 xv = subq_avx2_ld(p->x + t * p->x_ld + pb * 8, m, full);
      _mm256_store_ps(xdb + (pb * SUBQ_SSD_TC + t) * 8, _mm256_mul_ps(_mm256_broadcast_ss(p->dtv + t), xv));
      _mm256_store_ps(yb + (pb * SUBQ_SSD_TC + t) * 8, _mm256_setzero_ps());
    }
  }
  int64_t n0 = 0;
  for (; n0 + 8 <= N; n0 += 8) {
    for (int64_t pb = 0; pb < npb; pb++) {
      const __m256i m = SUBQ_PB_MASK(pb);
      const bool full = SUBQ_PB_FULL(pb);
      float *sp = p->S + n0 * P + pb * 8;
      const float *xdp = xdb + pb * SUBQ_SSD_TC * 8;
      float *ybp = yb + pb * SUBQ_SSD_TC * 8;
      __m256 s0 = subq_avx2_ld(sp + 0 * P, m, full), s1 = subq_avx2_ld(sp + 1 * P, m, full);
      __m256 s2 = subq_avx2_ld(sp + 2 * P, m, full), s3 = subq_avx2_ld(sp + 3 * P, m, full);
      __m256 s4 = subq_avx2_ld(sp + 4 * P, m, full), s5 = subq_avx2_ld(sp + 5 * P, m, full);
      __m256 s6 = subq_avx2_ld(sp + 6 * P, m, full), s7 = subq_avx2_ld(sp + 7 * P, m, full);
      for (int64_t t = 0; t < T; t++) {
        const __m256 a = _mm256_broadcast_ss(p->decay + t), xd = _mm256_load_ps(xdp + t * 8);
        const float *br = p->b + t * p->b_ld + n0, *cr = p->c + t * p->c_ld + n0;
        __m256 acc;
#define SUBQ_SSD_UPD(j, s) s = _mm256_fmadd_ps(a, s, _mm256_mul_ps(xd, _mm256_broadcast_ss(br + (j))))
        __m256 acc2;
        SUBQ_SSD_UPD(0, s0);
        acc = _mm256_mul_ps(s0, _mm256_broadcast_ss(cr));
        SUBQ_SSD_UPD(4, s4);
        acc2 = _mm256_mul_ps(s4, _mm256_broadcast_ss(cr + 4));
#define SUBQ_SSD_STEP(j, s, acc) \
  SUBQ_SSD_UPD(j, s);       \
  acc = _mm256_fmadd_ps(s, _mm256_broadcast_ss(cr + (j)), acc)
        SUBQ_SSD_STEP(1, s1, acc);
        SUBQ_SSD_STEP(5, s5, acc2);
        SUBQ_SSD_STEP(2, s2, acc);
        SUBQ_SSD_STEP(6, s6, acc2);
        SUBQ_SSD_STEP(3, s3, acc);
        SUBQ_SSD_STEP(7, s7, acc2);
        acc = _mm256_add_ps(acc, acc2);
#undef SUBQ_SSD_STEP
#undef SUBQ_SSD_UPD
        _mm256_store_ps(ybp + t * 8, _mm256_add_ps(_mm256_load_ps(ybp + t * 8), acc));
      }
      subq_avx2_st(sp + 0 * P, m, full, s0), subq_avx2_st(sp + 1 * P, m, full, s1);
      subq_avx2_st(sp + 2 * P, m, full, s2), subq_avx2_st(sp + 3 * P, m, full, s3);
      subq_avx2_st(sp + 4 * P, m, full, s4), subq_avx2_st(sp + 5 * P, m, full, s5);
      subq_avx2_st(sp + 6 * P, m, full, s6), subq_avx2_st(sp + 7 * P, m, full, s7);
    }
  }
  for (int64_t pb = 0; pb < npb; pb++) {
    const __m256i m = SUBQ_PB_MASK(pb);
    const bool full = SUBQ_PB_FULL(pb);
    const float *xdp = xdb + pb * SUBQ_SSD_TC * 8;
    float *ybp = yb + pb * SUBQ_SSD_TC * 8, *sp = p->S + pb * 8;
    if (n0 < N) /* a last partial tile: the states stay in memory, same per-lane operations */
      for (int64_t t = 0; t < T; t++) {
        const __m256 a = _mm256_broadcast_ss(p->decay + t), xd = _mm256_load_ps(xdp + t * 8);
        const float *br = p->b + t * p->b_ld, *cr = p->c + t * p->c_ld;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t n = n0; n < N; n++) {
          __m256 s = subq_avx2_ld(sp + n * P, m, full);
          s = _mm256_fmadd_ps(a, s, _mm256_mul_ps(xd, _mm256_broadcast_ss(br + n)));
          acc = n == n0 ? _mm256_mul_ps(s, _mm256_broadcast_ss(cr + n))
                        : _mm256_fmadd_ps(s, _mm256_broadcast_ss(cr + n), acc);
          subq_avx2_st(sp + n * P, m, full, s);
        }
        _mm256_store_ps(ybp + t * 8, _mm256_add_ps(_mm256_load_ps(ybp + t * 8), acc));
      }
    for (int64_t t = 0; t < T; t++) {
      __m256 y = _mm256_load_ps(ybp + t * 8);
      if (p->d_skip)
        y = _mm256_fmadd_ps(subq_avx2_ld(p->d_skip + pb * 8, m, full), subq_avx2_ld(p->x + t * p->x_ld + pb * 8, m, full), y);
      subq_avx2_st(p->y + t * p->y_ld + pb * 8, m, full, y);
    }
  }
#undef SUBQ_PB_MASK
#undef SUBQ_PB_FULL
}

#if defined(__GNUC__) && !defined(__clang__)
#define SUBQ_UNROLL _Pragma("GCC unroll 8")
#else
#define SUBQ_UNROLL _Pragma("unroll")
#endif

static inline __attribute__((always_inline)) void subq_ssd_gemm_tile(const int MR, const int NV, int64_t K,
                                                                     const float *A, int64_t a_rs, int64_t a_cs,
                                                                     const float *B, int64_t ldb, float *C,
                                                                     int64_t ldc, const float *rs, float beta,
                                                                     __m256i m0, __m256i m1, bool f0, bool f1) {
  __m256 acc[6][2];
  {
    const __m256 b0 = subq_avx2_ld(B, m0, f0), b1 = NV > 1 ? subq_avx2_ld(B + 8, m1, f1) : _mm256_setzero_ps();
    SUBQ_UNROLL for (int r = 0; r < MR; r++) {
      const __m256 av = _mm256_broadcast_ss(A + r * a_rs);
      acc[r][0] = _mm256_mul_ps(av, b0);
      if (NV > 1) acc[r][1] = _mm256_mul_ps(av, b1);
    }
  }
  for (int64_t k = 1; k < K; k++) {
    const float *br = B + k * ldb, *ak = A + k * a_cs;
    const __m256 b0 = subq_avx2_ld(br, m0, f0), b1 = NV > 1 ? subq_avx2_ld(br + 8, m1, f1) : _mm256_setzero_ps();
    SUBQ_UNROLL for (int r = 0; r < MR; r++) {
      const __m256 av = _mm256_broadcast_ss(ak + r * a_rs);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      if (NV > 1) acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  const __m256 vb = _mm256_set1_ps(beta);
  SUBQ_UNROLL for (int r = 0; r < MR; r++) {
    if (rs) {
      const __m256 sc = _mm256_broadcast_ss(rs + r);
      acc[r][0] = _mm256_mul_ps(acc[r][0], sc);
      if (NV > 1) acc[r][1] = _mm256_mul_ps(acc[r][1], sc);
    }
    if (beta != 0.0f) {
      acc[r][0] = _mm256_fmadd_ps(vb, subq_avx2_ld(C + r * ldc, m0, f0), acc[r][0]);
      if (NV > 1) acc[r][1] = _mm256_fmadd_ps(vb, subq_avx2_ld(C + r * ldc + 8, m1, f1), acc[r][1]);
    }
    subq_avx2_st(C + r * ldc, m0, f0, acc[r][0]);
    if (NV > 1) subq_avx2_st(C + r * ldc + 8, m1, f1, acc[r][1]);
  }
}

void subq_f32_ssd_gemm_ukernel_6x16__avx2(int64_t M, int64_t Nc, int64_t K, const float *A, int64_t a_rs,
                                          int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc,
                                          const float *row_scale, float beta, int64_t k_tri) {
  if (K < 1) { /* no terms: acc = 0 */
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < Nc; j++) {
        float acc = 0.0f;
        if (row_scale) acc = acc * row_scale[i];
        C[i * ldc + j] = beta != 0.0f ? fmaf(beta, C[i * ldc + j], acc) : acc;
      }
    return;
  }
  for (int64_t i0 = 0; i0 < M; i0 += 6) {
    const int mr = (int)SUBQ_MIN((int64_t)6, M - i0);
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i0 + mr) : K;
    const float *ai = A + i0 * a_rs, *rs = row_scale ? row_scale + i0 : NULL;
    for (int64_t j0 = 0; j0 < Nc; j0 += 16) {
      const int64_t nc = SUBQ_MIN((int64_t)16, Nc - j0);
      const int nv = nc > 8 ? 2 : 1;
      const bool f0 = nc >= 8, f1 = nc >= 16;
      const __m256i m0 = subq_avx2_lanes(0, (int32_t)SUBQ_MIN((int64_t)8, nc));
      const __m256i m1 = subq_avx2_lanes(0, (int32_t)(nc > 8 ? nc - 8 : 0));
      float *cij = C + i0 * ldc + j0;
      const float *bj = B + j0;
#define SUBQ_SSD_TILE(R)                                                                            \
  case R:                                                                                           \
    if (nv == 2)                                                                                    \
      subq_ssd_gemm_tile(R, 2, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, rs, beta, m0, m1, f0, f1);     \
    else                                                                                            \
      subq_ssd_gemm_tile(R, 1, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, rs, beta, m0, m1, f0, f1);     \
    break;
      switch (mr) {
        SUBQ_SSD_TILE(1)
        SUBQ_SSD_TILE(2)
        SUBQ_SSD_TILE(3)
        SUBQ_SSD_TILE(4)
        SUBQ_SSD_TILE(5)
        default:
        SUBQ_SSD_TILE(6)
      }
#undef SUBQ_SSD_TILE
    }
  }
}

void subq_f32_gated_rmsnorm_ukernel__avx2(int64_t width, int64_t gs, float eps, bool norm_before_gate,
                                          const float *y, const float *z, const float *weight, float *out) {
  const bool gate_first = z && !norm_before_gate;
  for (int64_t g0 = 0; g0 < width; g0 += gs) {
    const int64_t g1 = g0 + gs;
    __m256 ss = _mm256_setzero_ps();
    for (int64_t i = g0; i < g1; i += 8) {
      const int32_t nl = (int32_t)SUBQ_MIN((int64_t)8, g1 - i);
      const __m256i m = subq_avx2_lanes(0, nl);
      const bool full = nl == 8;
      __m256 v = subq_avx2_ld(y + i, m, full);
      if (gate_first) {
        v = _mm256_mul_ps(v, subq_vsilu_avx2(subq_avx2_ld(z + i, m, full)));
        subq_avx2_st(out + i, m, full, v); /* the gated value, read back by the second pass */
      }
      ss = _mm256_fmadd_ps(v, v, ss);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, ss);
    float sum = 0.0f;
    for (int l = 0; l < 8; l++) sum += lanes[l];
    const __m256 r = _mm256_set1_ps(1.0f / sqrtf(sum / (float)gs + eps));
    for (int64_t i = g0; i < g1; i += 8) {
      const int32_t nl = (int32_t)SUBQ_MIN((int64_t)8, g1 - i);
      const __m256i m = subq_avx2_lanes(0, nl);
      const bool full = nl == 8;
      __m256 v = gate_first ? subq_avx2_ld(out + i, m, full) : subq_avx2_ld(y + i, m, full);
      v = _mm256_mul_ps(v, r);
      if (weight) v = _mm256_mul_ps(subq_avx2_ld(weight + i, m, full), v);
      if (z && norm_before_gate) v = _mm256_mul_ps(v, subq_vsilu_avx2(subq_avx2_ld(z + i, m, full)));
      subq_avx2_st(out + i, m, full, v);
    }
  }
}

SUBQ_ISA_END
#endif
