/*
 * subq_f32_nn_scalar.c — portable nn micro-kernels (the fallback path) and the
 * scalar conversions every path shares for its tails. The arithmetic is the
 * contract of subq_nn_ukernel.h; exp is subq_expf_u2, whose bits the SIMD
 * paths reproduce, so every elementwise op has the same bits on every path.
 */
#include <math.h>
#include <string.h>

#include "families/nn/subq_nn_ukernel.h"
#include "internal/simd/subq_vexp.h"

/* ---- conversions ------------------------------------------------------------------------ */

uint16_t subq_nn_f32_to_bf16_1(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN, sign kept */
  u += 0x7fffu + ((u >> 16) & 1u);                                              /* nearest even; overflow -> Inf */
  return (uint16_t)(u >> 16);
}

float subq_nn_bf16_to_f32_1(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Round to nearest even, subnormals exact, overflow -> Inf, NaN -> quiet NaN
 * with the top payload bits (what F16C's VCVTPS2PH and AArch64 FCVT do). */
uint16_t subq_nn_f32_to_f16_1(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t ax = u & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (half-way to 2^16): Inf */
  if (ax >= 0x38800000u) {                                   /* normal f16 (>= 2^-14) */
    const uint32_t t = (ax + 0xfffu + ((ax >> 13) & 1u)) >> 13;
    return (uint16_t)(sign | (t - (112u << 10)));          /* rebias 127 -> 15; a carry rounds up the exponent */
  }
  const uint32_t e = ax >> 23;
  if (e < 102) return sign; /* below 2^-25: rounds to zero (2^-25 itself ties to even 0, handled below too) */
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u, s = 126u - e; /* units of 2^-24: mant >> s, s in 14..24 */
  uint32_t q = mant >> s;
  const uint32_t rem = mant & ((1u << s) - 1u), half = 1u << (s - 1u);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return (uint16_t)(sign | q); /* q == 0x400 is the smallest normal: the encoding carries over */
}

float subq_nn_f16_to_f32_1(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t u;
  if (e == 0x1f) {
    u = sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0u); /* NaN comes back quiet */
  } else if (e == 0) {
    const float f = (float)m * 0x1p-24f; /* subnormal (or zero): exact */
    memcpy(&u, &f, sizeof u);
    u |= sign;
  } else {
    u = sign | ((e + 112u) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

void subq_nn_cvt_f32_bf16_ukernel__scalar(const float *x, uint16_t *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_nn_f32_to_bf16_1(x[i]);
}
void subq_nn_cvt_bf16_f32_ukernel__scalar(const uint16_t *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_nn_bf16_to_f32_1(x[i]);
}
void subq_nn_cvt_f32_f16_ukernel__scalar(const float *x, uint16_t *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_nn_f32_to_f16_1(x[i]);
}
void subq_nn_cvt_f16_f32_ukernel__scalar(const uint16_t *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_nn_f16_to_f32_1(x[i]);
}

/* ---- elementwise ------------------------------------------------------------------------ */

static inline float subq_nn_silu_1(float x) { return x / (1.0f + subq_expf_u2(-x)); }

void subq_f32_nn_swiglu_ukernel__scalar(const float *g, const float *u, float *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = subq_nn_silu_1(g[i]) * u[i];
}
void subq_f32_nn_silu_ukernel__scalar(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_nn_silu_1(x[i]);
}
void subq_f32_nn_add_ukernel__scalar(const float *a, const float *b, float *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i];
}

/* ---- RoPE ------------------------------------------------------------------------------- */

void subq_f32_nn_rope_ukernel__scalar(float *x, int64_t heads, int64_t hstride, int64_t half, const float *c,
                                      const float *s) {
  for (int64_t h = 0; h < heads; h++) {
    float *p = x + h * hstride;
    for (int64_t i = 0; i < half; i++) {
      const float a = p[i], b = p[i + half];
      p[i] = a * c[i] - b * s[i];
      p[i + half] = b * c[i] + a * s[i];
    }
  }
}

/* ---- RMSNorm ---------------------------------------------------------------------------- */

static inline float subq_nn_weight_1(subq_dtype wdt, const void *w, int64_t i) {
  if (wdt == SUBQ_DTYPE_BF16) return subq_nn_bf16_to_f32_1(((const uint16_t *)w)[i]);
  if (wdt == SUBQ_DTYPE_F16) return subq_nn_f16_to_f32_1(((const uint16_t *)w)[i]);
  return ((const float *)w)[i];
}

void subq_f32_nn_rmsnorm_ukernel__scalar(const float *x, const float *res, const float *gate, float *sum, float *y,
                                         int64_t cols, int64_t group, float eps, subq_dtype wdt, const void *w) {
  const bool store_v = res || gate; /* v differs from x: pass 1 keeps it in y */
  for (int64_t g0 = 0; g0 < cols; g0 += group) {
    float acc[8] = {0};
    for (int64_t i = g0; i < g0 + group; i++) {
      float v = x[i];
      if (res) v = v + res[i];
      if (sum) sum[i] = v;
      if (gate) v = v * subq_nn_silu_1(gate[i]);
      if (store_v) y[i] = v;
      acc[(i - g0) & 7] += v * v;
    }
    const float ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    const float inv = 1.0f / sqrtf(ss / (float)group + eps);
    const float *src = store_v ? y : x;
    for (int64_t i = g0; i < g0 + group; i++) {
      const float t = src[i] * inv;
      y[i] = w ? subq_nn_weight_1(wdt, w, i) * t : t;
    }
  }
}
