/*
 * subq_f32_nn_neon.c — AArch64 Advanced SIMD nn micro-kernels (contracts in
 * families/nn/subq_nn_ukernel.h). 4 lanes per vector, scalar tails with the
 * scalar path's functions, whose bits the vector code reproduces (subq_vexp's
 * exp, FCVT conversions under the default FPCR, plain multiplies and adds).
 * RMSNorm sums squares in 4 x 4 partial sums, the final < 4 columns in a
 * scalar partial added last. NEON is baseline on AArch64: no target region.
 */
#include "families/nn/subq_nn_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>
#include <math.h>

#include "internal/simd/subq_vexp_neon.h"

static inline float32x4_t subq_nn_silu_neon(float32x4_t x) {
  return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), subq_vexp_f32_u2_neon(vnegq_f32(x))));
}
static inline float subq_nn_silu_1_neon(float x) { return x / (1.0f + subq_expf_u2(-x)); }

/* ---- conversions ------------------------------------------------------------------------ */

static inline uint16x4_t subq_nn_bf16_pack_neon(float32x4_t v) {
  const uint32x4_t u = vreinterpretq_u32_f32(v);
  const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u));
  const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
  const uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fffu), odd)), 16);
  const uint32x4_t q = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40u));
  return vmovn_u32(vbslq_u32(nan, q, r));
}
static inline float32x4_t subq_nn_bf16_load_neon(const uint16_t *p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
static inline float32x4_t subq_nn_f16_load_neon(const uint16_t *p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

void subq_nn_cvt_f32_bf16_ukernel__neon(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, subq_nn_bf16_pack_neon(vld1q_f32(x + i)));
  for (; i < n; i++) y[i] = subq_f32_to_bf16_1(x[i]);
}
void subq_nn_cvt_bf16_f32_ukernel__neon(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, subq_nn_bf16_load_neon(x + i));
  for (; i < n; i++) y[i] = subq_bf16_to_f32_1(x[i]);
}
void subq_nn_cvt_f32_f16_ukernel__neon(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; i++) y[i] = subq_f32_to_f16_1(x[i]);
}
void subq_nn_cvt_f16_f32_ukernel__neon(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, subq_nn_f16_load_neon(x + i));
  for (; i < n; i++) y[i] = subq_f16_to_f32_1(x[i]);
}

/* ---- elementwise ------------------------------------------------------------------------ */

void subq_f32_nn_swiglu_ukernel__neon(const float *g, const float *u, float *o, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(o + i, vmulq_f32(subq_nn_silu_neon(vld1q_f32(g + i)), vld1q_f32(u + i)));
  for (; i < n; i++) o[i] = subq_nn_silu_1_neon(g[i]) * u[i];
}
void subq_f32_nn_silu_ukernel__neon(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, subq_nn_silu_neon(vld1q_f32(x + i)));
  for (; i < n; i++) y[i] = subq_nn_silu_1_neon(x[i]);
}
void subq_f32_nn_add_ukernel__neon(const float *a, const float *b, float *o, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const float32x4_t s0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    const float32x4_t s1 = vaddq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    const float32x4_t s2 = vaddq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    const float32x4_t s3 = vaddq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    vst1q_f32(o + i, s0);
    vst1q_f32(o + i + 4, s1);
    vst1q_f32(o + i + 8, s2);
    vst1q_f32(o + i + 12, s3);
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(o + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  for (; i < n; i++) o[i] = a[i] + b[i];
}

/* ---- RoPE ------------------------------------------------------------------------------- */

void subq_f32_nn_rope_ukernel__neon(float *x, int64_t heads, int64_t hstride, int64_t half, const float *c,
                                    const float *s) {
  for (int64_t h = 0; h < heads; h++) {
    float *p = x + h * hstride;
    int64_t i = 0;
    for (; i + 4 <= half; i += 4) {
      const float32x4_t a = vld1q_f32(p + i), b = vld1q_f32(p + i + half);
      const float32x4_t cv = vld1q_f32(c + i), sv = vld1q_f32(s + i);
      vst1q_f32(p + i, vsubq_f32(vmulq_f32(a, cv), vmulq_f32(b, sv)));
      vst1q_f32(p + i + half, vaddq_f32(vmulq_f32(b, cv), vmulq_f32(a, sv)));
    }
    for (; i < half; i++) {
      const float a = p[i], b = p[i + half];
      p[i] = a * c[i] - b * s[i];
      p[i + half] = b * c[i] + a * s[i];
    }
  }
}

/* ---- RMSNorm ---------------------------------------------------------------------------- */

static inline float32x4_t subq_nn_weight_neon(subq_dtype wdt, const void *w, int64_t i) {
  if (wdt == SUBQ_DTYPE_BF16) return subq_nn_bf16_load_neon((const uint16_t *)w + i);
  if (wdt == SUBQ_DTYPE_F16) return subq_nn_f16_load_neon((const uint16_t *)w + i);
  return vld1q_f32((const float *)w + i);
}
static inline float subq_nn_weight_1_neon(subq_dtype wdt, const void *w, int64_t i) {
  if (wdt == SUBQ_DTYPE_BF16) return subq_bf16_to_f32_1(((const uint16_t *)w)[i]);
  if (wdt == SUBQ_DTYPE_F16) return subq_f16_to_f32_1(((const uint16_t *)w)[i]);
  return ((const float *)w)[i];
}

static inline float32x4_t subq_nn_rms_v_neon(const float *x, const float *res, const float *gate, float *sum,
                                             float *y, int64_t i) {
  float32x4_t v = vld1q_f32(x + i);
  if (res) v = vaddq_f32(v, vld1q_f32(res + i));
  if (sum) vst1q_f32(sum + i, v);
  if (gate) v = vmulq_f32(v, subq_nn_silu_neon(vld1q_f32(gate + i)));
  if (res || gate) vst1q_f32(y + i, v);
  return v;
}

void subq_f32_nn_rmsnorm_ukernel__neon(const float *x, const float *res, const float *gate, float *sum, float *y,
                                       int64_t cols, int64_t group, float eps, subq_dtype wdt, const void *w) {
  const bool store_v = res || gate;
  for (int64_t g0 = 0; g0 < cols; g0 += group) {
    const int64_t ge = g0 + group;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = g0;
    for (; i + 16 <= ge; i += 16) {
      const float32x4_t v0 = subq_nn_rms_v_neon(x, res, gate, sum, y, i);
      const float32x4_t v1 = subq_nn_rms_v_neon(x, res, gate, sum, y, i + 4);
      const float32x4_t v2 = subq_nn_rms_v_neon(x, res, gate, sum, y, i + 8);
      const float32x4_t v3 = subq_nn_rms_v_neon(x, res, gate, sum, y, i + 12);
      a0 = vfmaq_f32(a0, v0, v0);
      a1 = vfmaq_f32(a1, v1, v1);
      a2 = vfmaq_f32(a2, v2, v2);
      a3 = vfmaq_f32(a3, v3, v3);
    }
    for (; i + 4 <= ge; i += 4) {
      const float32x4_t v = subq_nn_rms_v_neon(x, res, gate, sum, y, i);
      a0 = vfmaq_f32(a0, v, v);
    }
    float tail = 0.0f;
    for (; i < ge; i++) {
      float v = x[i];
      if (res) v = v + res[i];
      if (sum) sum[i] = v;
      if (gate) v = v * subq_nn_silu_1_neon(gate[i]);
      if (store_v) y[i] = v;
      tail = fmaf(v, v, tail);
    }
    const float32x4_t a = vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3));
    const float ss = ((vgetq_lane_f32(a, 0) + vgetq_lane_f32(a, 1)) + (vgetq_lane_f32(a, 2) + vgetq_lane_f32(a, 3))) + tail;
    const float inv = 1.0f / sqrtf(ss / (float)group + eps);
    const float *src = store_v ? y : x;
    for (i = g0; i + 4 <= ge; i += 4) {
      const float32x4_t t = vmulq_n_f32(vld1q_f32(src + i), inv);
      vst1q_f32(y + i, w ? vmulq_f32(subq_nn_weight_neon(wdt, w, i), t) : t);
    }
    for (; i < ge; i++) {
      const float t = src[i] * inv;
      y[i] = w ? subq_nn_weight_1_neon(wdt, w, i) * t : t;
    }
  }
}

#endif
