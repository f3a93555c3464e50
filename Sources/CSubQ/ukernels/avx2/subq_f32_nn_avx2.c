/*
 * subq_f32_nn_avx2.c — AVX2+FMA+F16C nn micro-kernels (contracts in
 * families/nn/subq_nn_ukernel.h). Elementwise kernels run 8 lanes at a time
 * with scalar tails; the tails use the scalar path's functions, whose bits
 * the vector code reproduces (subq_vexp's exp, F16C conversions, plain
 * multiplies and adds), so every element has the same bits wherever it sits.
 * RMSNorm sums squares in 4 x 8 partial sums (32-way), the final < 8 columns
 * masked into the first; the partial sums are added in a fixed tree.
 * Whole file in one target region.
 */
#include "families/nn/subq_nn_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <math.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_vexp_avx2.h"

static inline __m256 subq_nn_silu_avx2(__m256 x) {
  const __m256 e = subq_vexp_f32_u2_avx2(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}
static inline float subq_nn_silu_1_avx2(float x) { return x / (1.0f + subq_expf_u2(-x)); }

static inline __m256i subq_nn_tail_mask(int64_t n) { /* lanes [0, n) of 8 */
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)n), idx);
}

/* ---- conversions ------------------------------------------------------------------------ */

static inline __m128i subq_nn_bf16_pack_avx2(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
  const __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i h = _mm256_blendv_epi8(r, q, nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
static inline __m256 subq_nn_bf16_load_avx2(const uint16_t *p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline __m256 subq_nn_f16_load_avx2(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

void subq_nn_cvt_f32_bf16_ukernel__avx2(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(void *)(y + i), subq_nn_bf16_pack_avx2(_mm256_loadu_ps(x + i)));
  for (; i < n; i++) y[i] = subq_f32_to_bf16_1(x[i]);
}
void subq_nn_cvt_bf16_f32_ukernel__avx2(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_nn_bf16_load_avx2(x + i));
  for (; i < n; i++) y[i] = subq_bf16_to_f32_1(x[i]);
}
void subq_nn_cvt_f32_f16_ukernel__avx2(const float *x, uint16_t *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(void *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) y[i] = subq_f32_to_f16_1(x[i]);
}
void subq_nn_cvt_f16_f32_ukernel__avx2(const uint16_t *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_nn_f16_load_avx2(x + i));
  for (; i < n; i++) y[i] = subq_f16_to_f32_1(x[i]);
}

/* ---- elementwise ------------------------------------------------------------------------ */

void subq_f32_nn_swiglu_ukernel__avx2(const float *g, const float *u, float *o, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(o + i, _mm256_mul_ps(subq_nn_silu_avx2(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
  for (; i < n; i++) o[i] = subq_nn_silu_1_avx2(g[i]) * u[i];
}
void subq_f32_nn_silu_ukernel__avx2(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, subq_nn_silu_avx2(_mm256_loadu_ps(x + i)));
  for (; i < n; i++) y[i] = subq_nn_silu_1_avx2(x[i]);
}
void subq_f32_nn_add_ukernel__avx2(const float *a, const float *b, float *o, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 s2 = _mm256_add_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 s3 = _mm256_add_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    _mm256_storeu_ps(o + i, s0);
    _mm256_storeu_ps(o + i + 8, s1);
    _mm256_storeu_ps(o + i + 16, s2);
    _mm256_storeu_ps(o + i + 24, s3);
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; i++) o[i] = a[i] + b[i];
}

/* ---- RoPE ------------------------------------------------------------------------------- */

void subq_f32_nn_rope_ukernel__avx2(float *x, int64_t heads, int64_t hstride, int64_t half, const float *c,
                                    const float *s) {
  for (int64_t h = 0; h < heads; h++) {
    float *p = x + h * hstride;
    int64_t i = 0;
    for (; i + 8 <= half; i += 8) {
      const __m256 a = _mm256_loadu_ps(p + i), b = _mm256_loadu_ps(p + i + half);
      const __m256 cv = _mm256_loadu_ps(c + i), sv = _mm256_loadu_ps(s + i);
      _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_mul_ps(a, cv), _mm256_mul_ps(b, sv)));
      _mm256_storeu_ps(p + i + half, _mm256_add_ps(_mm256_mul_ps(b, cv), _mm256_mul_ps(a, sv)));
    }
    for (; i < half; i++) {
      const float a = p[i], b = p[i + half];
      p[i] = a * c[i] - b * s[i];
      p[i + half] = b * c[i] + a * s[i];
    }
  }
}

/* ---- RMSNorm ---------------------------------------------------------------------------- */

static inline __m256 subq_nn_weight_avx2(subq_dtype wdt, const void *w, int64_t i) {
  if (wdt == SUBQ_DTYPE_BF16) return subq_nn_bf16_load_avx2((const uint16_t *)w + i);
  if (wdt == SUBQ_DTYPE_F16) return subq_nn_f16_load_avx2((const uint16_t *)w + i);
  return _mm256_loadu_ps((const float *)w + i);
}
static inline float subq_nn_weight_1_avx2(subq_dtype wdt, const void *w, int64_t i) {
  if (wdt == SUBQ_DTYPE_BF16) return subq_bf16_to_f32_1(((const uint16_t *)w)[i]);
  if (wdt == SUBQ_DTYPE_F16) return subq_f16_to_f32_1(((const uint16_t *)w)[i]);
  return ((const float *)w)[i];
}

/* v for 8 columns at i (masked lanes: loads give 0, stores skipped). */
static inline __m256 subq_nn_rms_v_avx2(const float *x, const float *res, const float *gate, float *sum, float *y,
                                        int64_t i, bool masked, __m256i m) {
  __m256 v = masked ? _mm256_maskload_ps(x + i, m) : _mm256_loadu_ps(x + i);
  if (res) v = _mm256_add_ps(v, masked ? _mm256_maskload_ps(res + i, m) : _mm256_loadu_ps(res + i));
  if (sum) {
    if (masked)
      _mm256_maskstore_ps(sum + i, m, v);
    else
      _mm256_storeu_ps(sum + i, v);
  }
  if (gate) v = _mm256_mul_ps(v, subq_nn_silu_avx2(masked ? _mm256_maskload_ps(gate + i, m) : _mm256_loadu_ps(gate + i)));
  if (res || gate) {
    if (masked)
      _mm256_maskstore_ps(y + i, m, v);
    else
      _mm256_storeu_ps(y + i, v);
  }
  return v;
}

void subq_f32_nn_rmsnorm_ukernel__avx2(const float *x, const float *res, const float *gate, float *sum, float *y,
                                       int64_t cols, int64_t group, float eps, subq_dtype wdt, const void *w) {
  const bool store_v = res || gate;
  const __m256i none = _mm256_setzero_si256();
  for (int64_t g0 = 0; g0 < cols; g0 += group) {
    const int64_t ge = g0 + group;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = g0;
    if (!store_v && !sum) {
      for (; i + 32 <= ge; i += 32) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        const __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
      }
    } else {
      for (; i + 32 <= ge; i += 32) {
        const __m256 v0 = subq_nn_rms_v_avx2(x, res, gate, sum, y, i, false, none);
        const __m256 v1 = subq_nn_rms_v_avx2(x, res, gate, sum, y, i + 8, false, none);
        const __m256 v2 = subq_nn_rms_v_avx2(x, res, gate, sum, y, i + 16, false, none);
        const __m256 v3 = subq_nn_rms_v_avx2(x, res, gate, sum, y, i + 24, false, none);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
      }
    }
    for (; i + 8 <= ge; i += 8) {
      const __m256 v = subq_nn_rms_v_avx2(x, res, gate, sum, y, i, false, none);
      a0 = _mm256_fmadd_ps(v, v, a0);
    }
    if (i < ge) {
      const __m256 v = subq_nn_rms_v_avx2(x, res, gate, sum, y, i, true, subq_nn_tail_mask(ge - i));
      a0 = _mm256_fmadd_ps(v, v, a0);
    }
    const __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
    const float ss = _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
    const float inv = 1.0f / sqrtf(ss / (float)group + eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    const float *src = store_v ? y : x;
    for (i = g0; i + 8 <= ge; i += 8) {
      const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(src + i), vinv);
      _mm256_storeu_ps(y + i, w ? _mm256_mul_ps(subq_nn_weight_avx2(wdt, w, i), t) : t);
    }
    for (; i < ge; i++) {
      const float t = src[i] * inv;
      y[i] = w ? subq_nn_weight_1_avx2(wdt, w, i) * t : t;
    }
  }
}

SUBQ_ISA_END
#endif
