/*
 * subq_f32_nn_scalar.c — portable nn micro-kernels (the fallback path) and the
 * scalar array conversions (internal/subq_half.h per element). The arithmetic is the
 * contract of subq_nn_ukernel.h; exp is subq_expf_u2, whose bits the SIMD
 * paths reproduce, so every elementwise op has the same bits on every path.
 */
#include <math.h>
#include <string.h>

#include "families/nn/subq_nn_ukernel.h"
#include "internal/subq_half.h"
#include "internal/simd/subq_vexp.h"

/* ---- conversions ------------------------------------------------------------------------ */
/* (the scalar conversions themselves live in internal/subq_half.h) */

void subq_nn_cvt_f32_bf16_ukernel__scalar(const float *x, uint16_t *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_f32_to_bf16_1(x[i]);
}
void subq_nn_cvt_bf16_f32_ukernel__scalar(const uint16_t *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_bf16_to_f32_1(x[i]);
}
void subq_nn_cvt_f32_f16_ukernel__scalar(const float *x, uint16_t *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_f32_to_f16_1(x[i]);
}
void subq_nn_cvt_f16_f32_ukernel__scalar(const uint16_t *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = subq_f16_to_f32_1(x[i]);
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
  if (wdt == SUBQ_DTYPE_BF16) return subq_bf16_to_f32_1(((const uint16_t *)w)[i]);
  if (wdt == SUBQ_DTYPE_F16) return subq_f16_to_f32_1(((const uint16_t *)w)[i]);
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
