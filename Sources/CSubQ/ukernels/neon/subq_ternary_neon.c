/*
 * subq_ternary_neon.c — AArch64 Advanced SIMD ternary micro-kernels
 * (contracts in families/ternary/subq_ternary_ukernel.h). Baseline ARMv8.0
 * (no dotprod): a 16-byte quarter of an SQ2 unit holds 4 rows x 16 columns;
 * x_m = (quarter >> 2m) & 3 (byte shifts; m = 3 needs no mask) is multiplied
 * with the broadcast q[16B+4m..+3] by vmlal_s8 into int16 lanes, each adding
 * one product (|.| <= 254) per m and K-block; after 16 K-blocks (64
 * products, <= 16,256) vpadalq_s16 widens into int32. actq / hgrn: 4 lanes,
 * the scalar path's arithmetic lane by lane (vrndnq ties-to-even, vrndaq
 * ties-away; subq_vexp's exp; IEEE divisions), scalar tails.
 * NEON is baseline on AArch64: no target region.
 */
#include "families/ternary/subq_ternary_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "internal/simd/subq_vexp_neon.h"

static inline int8x16_t tern_bcast4_neon(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return vreinterpretq_s8_u32(vdupq_n_u32(v));
}

static inline int8x16_t tern_unpack_neon(uint8x16_t u, int m) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  switch (m) {
    case 0: return vreinterpretq_s8_u8(vandq_u8(u, m3));
    case 1: return vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(u, 2), m3));
    case 2: return vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(u, 4), m3));
    default: return vreinterpretq_s8_u8(vshrq_n_u8(u, 6));
  }
}

static inline __attribute__((always_inline)) void tern_gemm_mr_neon(int64_t nkb, const uint8_t *w, const int8_t *q,
                                                                    int64_t q_ld, const int MR, int32_t *acc) {
  for (int h = 0; h < 4; h++) { /* rows 4h..4h+3 */
    int16x8_t lo16[4], hi16[4];
    int32x4_t lo32[4], hi32[4];
    for (int t = 0; t < MR; t++) {
      lo16[t] = hi16[t] = vdupq_n_s16(0);
      lo32[t] = hi32[t] = vdupq_n_s32(0);
    }
    for (int64_t b = 0; b < nkb; b++) {
      const uint8x16_t u = vld1q_u8(w + b * 64 + 16 * h);
      for (int m = 0; m < 4; m++) {
        const int8x16_t x = tern_unpack_neon(u, m);
        for (int t = 0; t < MR; t++) {
          const int8x16_t a = tern_bcast4_neon(q + t * q_ld + b * 16 + 4 * m);
          lo16[t] = vmlal_s8(lo16[t], vget_low_s8(x), vget_low_s8(a));
          hi16[t] = vmlal_high_s8(hi16[t], x, a);
        }
      }
      if ((b & 15) == 15)
        for (int t = 0; t < MR; t++) {
          lo32[t] = vpadalq_s16(lo32[t], lo16[t]);
          hi32[t] = vpadalq_s16(hi32[t], hi16[t]);
          lo16[t] = hi16[t] = vdupq_n_s16(0);
        }
    }
    for (int t = 0; t < MR; t++) {
      lo32[t] = vpadalq_s16(lo32[t], lo16[t]); /* rows 0, 0, 1, 1 */
      hi32[t] = vpadalq_s16(hi32[t], hi16[t]); /* rows 2, 2, 3, 3 */
      int32_t *ac = acc + t * 16 + 4 * h;
      vst1q_s32(ac, vaddq_s32(vld1q_s32(ac), vpaddq_s32(lo32[t], hi32[t])));
    }
  }
}

void subq_i8wt2_ternary_gemm_ukernel_4x16__neon(int64_t nkb, const uint8_t *w, const int8_t *q, int64_t q_ld,
                                                int64_t mr, int32_t *acc) {
  switch (mr) {
    case 1: tern_gemm_mr_neon(nkb, w, q, q_ld, 1, acc); break;
    case 2: tern_gemm_mr_neon(nkb, w, q, q_ld, 2, acc); break;
    case 3: tern_gemm_mr_neon(nkb, w, q, q_ld, 3, acc); break;
    default: tern_gemm_mr_neon(nkb, w, q, q_ld, 4, acc); break;
  }
}

/* Wide layout: x_m of a 16-byte quarter h (rows 4h..4h+3) is row group h's K-step 4b + m. */
void subq_i8wt2_ternary_unpackw_ukernel__neon(int64_t nkb, const uint8_t *w, uint8_t *u, int64_t g_ld) {
  for (int64_t b = 0; b < nkb; b++)
    for (int h = 0; h < 4; h++) {
      const uint8x16_t x = vld1q_u8(w + b * 64 + 16 * h);
      for (int m = 0; m < 4; m++) vst1q_s8((int8_t *)(u + h * g_ld + (4 * b + m) * 16), tern_unpack_neon(x, m));
    }
}

/* Eight tokens at a time: row i's 4 codes broadcast times 2 tokens' 4 columns
 * per vmlal half into int16 lanes (one product, |.| <= 254, per K-step: 64
 * K-steps stay below 2^15), then pairwise sums give one int32 per token. */
void subq_i8wt2_ternary_gemmw_ukernel_4x16__neon(int64_t ns, const uint8_t *u, const int8_t *qv, int32_t *acc,
                                                 int64_t acc_ld) {
  for (int half = 0; half < 2; half++) {
    int16x8_t a[4][4];
    for (int i = 0; i < 4; i++)
      for (int v = 0; v < 4; v++) a[i][v] = vdupq_n_s16(0);
    for (int64_t s = 0; s < ns; s++) {
      const int8x16_t qa = vld1q_s8(qv + s * 64 + 32 * half), qb = vld1q_s8(qv + s * 64 + 32 * half + 16);
      for (int i = 0; i < 4; i++) {
        const int8x16_t c = tern_bcast4_neon((const int8_t *)(u + s * 16 + 4 * i));
        a[i][0] = vmlal_s8(a[i][0], vget_low_s8(c), vget_low_s8(qa));
        a[i][1] = vmlal_high_s8(a[i][1], c, qa);
        a[i][2] = vmlal_s8(a[i][2], vget_low_s8(c), vget_low_s8(qb));
        a[i][3] = vmlal_high_s8(a[i][3], c, qb);
      }
    }
    for (int i = 0; i < 4; i++) {
      int32_t *ac = acc + i * acc_ld + 8 * half;
      vst1q_s32(ac, vaddq_s32(vld1q_s32(ac), vpaddq_s32(vpaddlq_s16(a[i][0]), vpaddlq_s16(a[i][1]))));
      vst1q_s32(ac + 4, vaddq_s32(vld1q_s32(ac + 4), vpaddq_s32(vpaddlq_s16(a[i][2]), vpaddlq_s16(a[i][3]))));
    }
  }
}

/* ---- activation quantization -------------------------------------------------------------------- */

static float tern_sumsq_neon(const float *x, int64_t k) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4), c = vld1q_f32(x + i + 8),
                      d = vld1q_f32(x + i + 12);
    s0 = vfmaq_f32(s0, a, a), s1 = vfmaq_f32(s1, b, b), s2 = vfmaq_f32(s2, c, c), s3 = vfmaq_f32(s3, d, d);
  }
  float p[16];
  vst1q_f32(p, s0), vst1q_f32(p + 4, s1), vst1q_f32(p + 8, s2), vst1q_f32(p + 12, s3);
  for (; i < k; i++) p[i & 15] = fmaf(x[i], x[i], p[i & 15]);
  return subq_ternary_fold16(p);
}

static inline float32x4_t tern_y_neon(const float *x, const float *w, int64_t i, bool norm, float r) {
  float32x4_t y = vld1q_f32(x + i);
  if (norm) {
    y = vmulq_n_f32(y, r);
    if (w) y = vmulq_f32(y, vld1q_f32(w + i));
  }
  return y;
}

static inline int32x4_t tern_q4_neon(float32x4_t v, int rounding) {
  float32x4_t t = rounding ? vrndaq_f32(v) : vrndnq_f32(v);
  t = vminq_f32(vmaxq_f32(t, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
  return vcvtq_s32_f32(t);
}

void subq_f32_ternary_actq_ukernel__neon(const float *x, const float *w, int64_t k, int64_t k_pad, bool norm,
                                         float eps, int rounding, int8_t *q, int32_t *sum, float *amax) {
  const float rs = norm ? subq_ternary_rms_inv(tern_sumsq_neon(x, k), k, eps) : 1.0f;
  float32x4_t mv = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) mv = vmaxq_f32(mv, vabsq_f32(tern_y_neon(x, w, i, norm, rs)));
  float m = vmaxvq_f32(mv);
  for (; i < k; i++) {
    float y = x[i];
    if (norm) y = w ? (y * rs) * w[i] : y * rs;
    m = fmaxf(m, fabsf(y));
  }
  const float a = m > 1e-5f ? m : 1e-5f, s = 127.0f / a;
  int32x4_t S = vdupq_n_s32(0);
  for (i = 0; i + 16 <= k; i += 16) {
    const int32x4_t q0 = tern_q4_neon(vmulq_n_f32(tern_y_neon(x, w, i, norm, rs), s), rounding);
    const int32x4_t q1 = tern_q4_neon(vmulq_n_f32(tern_y_neon(x, w, i + 4, norm, rs), s), rounding);
    const int32x4_t q2 = tern_q4_neon(vmulq_n_f32(tern_y_neon(x, w, i + 8, norm, rs), s), rounding);
    const int32x4_t q3 = tern_q4_neon(vmulq_n_f32(tern_y_neon(x, w, i + 12, norm, rs), s), rounding);
    S = vaddq_s32(S, vaddq_s32(vaddq_s32(q0, q1), vaddq_s32(q2, q3)));
    const int16x8_t p01 = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
    const int16x8_t p23 = vcombine_s16(vmovn_s32(q2), vmovn_s32(q3));
    vst1q_s8(q + i, vcombine_s8(vmovn_s16(p01), vmovn_s16(p23)));
  }
  int32_t St = vaddvq_s32(S);
  for (; i < k; i++) {
    float y = x[i];
    if (norm) y = w ? (y * rs) * w[i] : y * rs;
    q[i] = subq_ternary_q1(y * s, rounding);
    St += q[i];
  }
  if (k_pad > k) memset(q + k, 0, (size_t)(k_pad - k));
  *sum = St;
  *amax = a;
}

/* ---- HGRN --------------------------------------------------------------------------------------------- */

static inline float32x4_t tern_div1p_exp_neg_neon(float32x4_t v, float32x4_t num) { /* num / (1 + exp(-v)) */
  return vdivq_f32(num, vaddq_f32(vdupq_n_f32(1.0f), subq_vexp_f32_u2_neon(vnegq_f32(v))));
}

void subq_f32_hgrn_scan_ukernel__neon(int64_t T, int64_t nc, const float *i, int64_t i_ld, const float *f,
                                      int64_t f_ld, const float *lb, const float *s_in, float *s_out, float *u,
                                      int64_t u_ld) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  for (int64_t t = 0; t < T; t++) {
    const float *prev = t ? u + (t - 1) * u_ld : s_in;
    const float *ft = f + t * f_ld, *it = i + t * i_ld;
    float *ut = u + t * u_ld;
    int64_t c = 0;
    for (; c + 4 <= nc; c += 4) {
      float32x4_t fv = tern_div1p_exp_neg_neon(vld1q_f32(ft + c), one);
      if (lb) {
        const float32x4_t l = vld1q_f32(lb + c);
        fv = vaddq_f32(l, vmulq_f32(vsubq_f32(one, l), fv));
      }
      const float32x4_t iv = vld1q_f32(it + c);
      const float32x4_t cv = vmulq_f32(tern_div1p_exp_neg_neon(iv, iv), vsubq_f32(one, fv));
      const float32x4_t pv = prev ? vld1q_f32(prev + c) : vdupq_n_f32(0.0f);
      vst1q_f32(ut + c, vfmaq_f32(cv, fv, pv));
    }
    for (; c < nc; c++) {
      float fv = 1.0f / (1.0f + subq_expf_u2(-ft[c]));
      if (lb) fv = lb[c] + (1.0f - lb[c]) * fv;
      const float iv = it[c], cv = (iv / (1.0f + subq_expf_u2(-iv))) * (1.0f - fv);
      ut[c] = fmaf(fv, prev ? prev[c] : 0.0f, cv);
    }
  }
  if (s_out && T > 0) memcpy(s_out, u + (T - 1) * u_ld, (size_t)nc * sizeof(float));
}

void subq_f32_hgrn_gate_ukernel__neon(int64_t C, const float *g, const float *w, float eps, float *o) {
  const float rs = subq_ternary_rms_inv(tern_sumsq_neon(g, C), C, eps);
  int64_t c = 0;
  for (; c + 4 <= C; c += 4) {
    float32x4_t gn = vmulq_n_f32(vld1q_f32(g + c), rs);
    if (w) gn = vmulq_f32(gn, vld1q_f32(w + c));
    const float32x4_t s = vld1q_f32(o + c);
    vst1q_f32(o + c, vmulq_f32(gn, tern_div1p_exp_neg_neon(s, s)));
  }
  for (; c < C; c++) {
    float gn = g[c] * rs;
    if (w) gn = gn * w[c];
    const float s = o[c];
    o[c] = gn * (s / (1.0f + subq_expf_u2(-s)));
  }
}

#endif
