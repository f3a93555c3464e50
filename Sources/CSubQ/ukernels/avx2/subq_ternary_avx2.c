/*
 * subq_ternary_avx2.c — AVX2 ternary micro-kernels (contracts in
 * families/ternary/subq_ternary_ukernel.h).
 *
 * gemm: one 32-byte half of a 64-byte SQ2 unit holds 8 rows x 16 columns;
 * x_m = (half >> 2m) & 3 (vpsrlw + mask: x86 has no byte shift) puts row L's
 * codes of columns 16B+4m..+3 in 32-bit lane L, the unsigned operand of
 * vpmaddubsw against the broadcast q[16B+4m..+3]. Each int16 lane adds one
 * pair sum (|.| <= 2 * 2 * 127 = 508) per m and K-block; after 16 K-blocks
 * (64 sums, <= 32,512) vpmaddwd with ones widens into int32. Tokens: up to 4
 * share every unpacked x_m; one token runs both halves in one pass.
 * actq / hgrn: 8 lanes, the scalar path's arithmetic lane by lane (same
 * 16-partial sum of squares: two accumulators of 8 = partials j and j + 8;
 * vroundps ties-to-even or truncate-and-adjust for ties away; subq_vexp's
 * exp; IEEE divisions), scalar tails with the scalar path's functions.
 */
#include "families/ternary/subq_ternary_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <math.h>
#include <string.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_vexp_avx2.h"

static inline __m256i tern_bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

static inline __m256i tern_unpack(__m256i u, int m) {
  const __m256i m3 = _mm256_set1_epi8(3);
  switch (m) {
    case 0: return _mm256_and_si256(u, m3);
    case 1: return _mm256_and_si256(_mm256_srli_epi16(u, 2), m3);
    case 2: return _mm256_and_si256(_mm256_srli_epi16(u, 4), m3);
    default: return _mm256_and_si256(_mm256_srli_epi16(u, 6), m3);
  }
}

static inline void tern_add_acc(int32_t *acc, __m256i v) {
  _mm256_storeu_si256((__m256i *)(void *)acc, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)acc), v));
}

/* One token, 16 rows: both halves per K-block share the broadcasts. */
static void tern_gemm_1(int64_t nkb, const uint8_t *w, const int8_t *q, int32_t *acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i lo32 = _mm256_setzero_si256(), hi32 = lo32, lo16 = lo32, hi16 = lo32;
  for (int64_t b = 0; b < nkb; b++) {
    /* See SUBQ_TERNARY_PF_BYTES: the driver prefetched the first distance.
     * The address may lie past the blob: formed as an integer, not a pointer. */
    __builtin_prefetch((const void *)((uintptr_t)(w + b * 64) + SUBQ_TERNARY_PF_BYTES), 0, 3);
    const __m256i ulo = _mm256_load_si256((const __m256i *)(const void *)(w + b * 64));
    const __m256i uhi = _mm256_load_si256((const __m256i *)(const void *)(w + b * 64 + 32));
    const int8_t *qb = q + b * 16;
    for (int m = 0; m < 4; m++) {
      const __m256i a = tern_bcast4(qb + 4 * m);
      lo16 = _mm256_add_epi16(lo16, _mm256_maddubs_epi16(tern_unpack(ulo, m), a));
      hi16 = _mm256_add_epi16(hi16, _mm256_maddubs_epi16(tern_unpack(uhi, m), a));
    }
    if ((b & 15) == 15) {
      lo32 = _mm256_add_epi32(lo32, _mm256_madd_epi16(lo16, ones));
      hi32 = _mm256_add_epi32(hi32, _mm256_madd_epi16(hi16, ones));
      lo16 = hi16 = _mm256_setzero_si256();
    }
  }
  lo32 = _mm256_add_epi32(lo32, _mm256_madd_epi16(lo16, ones));
  hi32 = _mm256_add_epi32(hi32, _mm256_madd_epi16(hi16, ones));
  tern_add_acc(acc, lo32);
  tern_add_acc(acc + 8, hi32);
}

/* MR tokens (2..4), one 8-row half at a time. */
static inline __attribute__((always_inline)) void tern_gemm_mr(int64_t nkb, const uint8_t *w, const int8_t *q,
                                                               int64_t q_ld, const int MR, int32_t *acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int h = 0; h < 2; h++) {
    __m256i a16[4], a32[4];
    for (int t = 0; t < MR; t++) a16[t] = a32[t] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nkb; b++) {
      const __m256i u = _mm256_load_si256((const __m256i *)(const void *)(w + b * 64 + 32 * h));
      for (int m = 0; m < 4; m++) {
        const __m256i x = tern_unpack(u, m);
        for (int t = 0; t < MR; t++)
          a16[t] = _mm256_add_epi16(a16[t], _mm256_maddubs_epi16(x, tern_bcast4(q + t * q_ld + b * 16 + 4 * m)));
      }
      if ((b & 15) == 15)
        for (int t = 0; t < MR; t++) {
          a32[t] = _mm256_add_epi32(a32[t], _mm256_madd_epi16(a16[t], ones));
          a16[t] = _mm256_setzero_si256();
        }
    }
    for (int t = 0; t < MR; t++) tern_add_acc(acc + t * 16 + 8 * h, _mm256_add_epi32(a32[t], _mm256_madd_epi16(a16[t], ones)));
  }
}

void subq_i8wt2_ternary_gemm_ukernel_4x16__avx2(int64_t nkb, const uint8_t *w, const int8_t *q, int64_t q_ld,
                                                int64_t mr, int32_t *acc) {
  switch (mr) {
    case 1: tern_gemm_1(nkb, w, q, acc); break;
    case 2: tern_gemm_mr(nkb, w, q, q_ld, 2, acc); break;
    case 3: tern_gemm_mr(nkb, w, q, q_ld, 3, acc); break;
    default: tern_gemm_mr(nkb, w, q, q_ld, 4, acc); break;
  }
}

/* Wide layout: each x_m of a 32-byte half (8 rows x 4 columns) is two row
 * groups' K-step 4b + m; the 16-byte halves go to their groups' streams. */
void subq_i8wt2_ternary_unpackw_ukernel__avx2(int64_t nkb, const uint8_t *w, uint8_t *u, int64_t g_ld) {
  for (int64_t b = 0; b < nkb; b++)
    for (int h = 0; h < 2; h++) {
      const __m256i x = _mm256_load_si256((const __m256i *)(const void *)(w + b * 64 + 32 * h));
      uint8_t *lo = u + (2 * h) * g_ld + b * 64, *hi = lo + g_ld;
      for (int m = 0; m < 4; m++) {
        const __m256i xm = tern_unpack(x, m);
        _mm_storeu_si128((__m128i *)(void *)(lo + 16 * m), _mm256_castsi256_si128(xm));
        _mm_storeu_si128((__m128i *)(void *)(hi + 16 * m), _mm256_extracti128_si256(xm, 1));
      }
    }
}

/* Row i's 4 codes broadcast (unsigned operand) against 8 tokens' 4 columns;
 * named accumulators: gcc keeps an array of 8 vectors in memory. */
#define TERN_W_ROW(i, a0, a1)                                                     \
  do {                                                                            \
    const __m256i c = tern_bcast4((const int8_t *)(const void *)(us + 4 * (i))); \
    a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(c, q0));                       \
    a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(c, q1));                       \
  } while (0)

static inline void tern_w_store(int32_t *acc, __m256i a) { /* int16 pairs -> int32 per token */
  tern_add_acc(acc, _mm256_madd_epi16(a, _mm256_set1_epi16(1)));
}

void subq_i8wt2_ternary_gemmw_ukernel_4x16__avx2(int64_t ns, const uint8_t *u, const int8_t *qv, int32_t *acc,
                                                 int64_t acc_ld) {
  __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (int64_t s = 0; s < ns; s++) {
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)(const void *)(qv + s * 64));
    const __m256i q1 = _mm256_loadu_si256((const __m256i *)(const void *)(qv + s * 64 + 32));
    const uint8_t *us = u + s * 16;
    TERN_W_ROW(0, a00, a01);
    TERN_W_ROW(1, a10, a11);
    TERN_W_ROW(2, a20, a21);
    TERN_W_ROW(3, a30, a31);
  }
  tern_w_store(acc, a00), tern_w_store(acc + 8, a01);
  tern_w_store(acc + acc_ld, a10), tern_w_store(acc + acc_ld + 8, a11);
  tern_w_store(acc + 2 * acc_ld, a20), tern_w_store(acc + 2 * acc_ld + 8, a21);
  tern_w_store(acc + 3 * acc_ld, a30), tern_w_store(acc + 3 * acc_ld + 8, a31);
}
#undef TERN_W_ROW

/* ---- activation quantization -------------------------------------------------------------------- */

static float tern_sumsq_avx2(const float *x, int64_t k) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  float p[16];
  _mm256_storeu_ps(p, s0);
  _mm256_storeu_ps(p + 8, s1);
  for (; i < k; i++) p[i & 15] = fmaf(x[i], x[i], p[i & 15]);
  return subq_ternary_fold16(p);
}

static inline __m256 tern_y(const float *x, const float *w, int64_t i, bool norm, __m256 r) {
  __m256 y = _mm256_loadu_ps(x + i);
  if (norm) {
    y = _mm256_mul_ps(y, r);
    if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
  }
  return y;
}

static inline __m256i tern_q8(__m256 v, int rounding) {
  __m256 t;
  if (rounding) {
    t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 d = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    const __m256 one = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(d, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
  } else {
    t = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(t);
}

void subq_f32_ternary_actq_ukernel__avx2(const float *x, const float *w, int64_t k, int64_t k_pad, bool norm,
                                         float eps, int rounding, int8_t *q, int32_t *sum, float *amax) {
  const float rs = norm ? subq_ternary_rms_inv(tern_sumsq_avx2(x, k), k, eps) : 1.0f;
  const __m256 r = _mm256_set1_ps(rs), absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 mv = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) mv = _mm256_max_ps(mv, _mm256_and_ps(tern_y(x, w, i, norm, r), absm));
  float mx[8], m = 0.0f;
  _mm256_storeu_ps(mx, mv);
  for (int j = 0; j < 8; j++) m = fmaxf(m, mx[j]);
  for (; i < k; i++) {
    float y = x[i];
    if (norm) y = w ? (y * rs) * w[i] : y * rs;
    m = fmaxf(m, fabsf(y));
  }
  const float a = m > 1e-5f ? m : 1e-5f, s = 127.0f / a;
  const __m256 sv = _mm256_set1_ps(s);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i S = _mm256_setzero_si256();
  for (i = 0; i + 32 <= k; i += 32) {
    const __m256i q0 = tern_q8(_mm256_mul_ps(tern_y(x, w, i, norm, r), sv), rounding);
    const __m256i q1 = tern_q8(_mm256_mul_ps(tern_y(x, w, i + 8, norm, r), sv), rounding);
    const __m256i q2 = tern_q8(_mm256_mul_ps(tern_y(x, w, i + 16, norm, r), sv), rounding);
    const __m256i q3 = tern_q8(_mm256_mul_ps(tern_y(x, w, i + 24, norm, r), sv), rounding);
    S = _mm256_add_epi32(S, _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3)));
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256((__m256i *)(void *)(q + i), _mm256_permutevar8x32_epi32(p, perm));
  }
  int32_t sl[8], St = 0;
  _mm256_storeu_si256((__m256i *)(void *)sl, S);
  for (int j = 0; j < 8; j++) St += sl[j];
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

static inline __m256 tern_recip1p_exp_neg(__m256 v, __m256 num) { /* num / (1 + exp(-v)) */
  const __m256 e = subq_vexp_f32_u2_avx2(_mm256_xor_ps(v, _mm256_set1_ps(-0.0f)));
  return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void subq_f32_hgrn_scan_ukernel__avx2(int64_t T, int64_t nc, const float *i, int64_t i_ld, const float *f,
                                      int64_t f_ld, const float *lb, const float *s_in, float *s_out, float *u,
                                      int64_t u_ld) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t t = 0; t < T; t++) {
    const float *prev = t ? u + (t - 1) * u_ld : s_in;
    const float *ft = f + t * f_ld, *it = i + t * i_ld;
    float *ut = u + t * u_ld;
    int64_t c = 0;
    for (; c + 8 <= nc; c += 8) {
      __m256 fv = tern_recip1p_exp_neg(_mm256_loadu_ps(ft + c), one);
      if (lb) {
        const __m256 l = _mm256_loadu_ps(lb + c);
        fv = _mm256_add_ps(l, _mm256_mul_ps(_mm256_sub_ps(one, l), fv));
      }
      const __m256 iv = _mm256_loadu_ps(it + c);
      const __m256 cv = _mm256_mul_ps(tern_recip1p_exp_neg(iv, iv), _mm256_sub_ps(one, fv));
      const __m256 pv = prev ? _mm256_loadu_ps(prev + c) : _mm256_setzero_ps();
      _mm256_storeu_ps(ut + c, _mm256_fmadd_ps(fv, pv, cv));
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

void subq_f32_hgrn_gate_ukernel__avx2(int64_t C, const float *g, const float *w, float eps, float *o) {
  const float rs = subq_ternary_rms_inv(tern_sumsq_avx2(g, C), C, eps);
  const __m256 r = _mm256_set1_ps(rs);
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 gn = _mm256_mul_ps(_mm256_loadu_ps(g + c), r);
    if (w) gn = _mm256_mul_ps(gn, _mm256_loadu_ps(w + c));
    const __m256 s = _mm256_loadu_ps(o + c);
    _mm256_storeu_ps(o + c, _mm256_mul_ps(gn, tern_recip1p_exp_neg(s, s)));
  }
  for (; c < C; c++) {
    float gn = g[c] * rs;
    if (w) gn = gn * w[c];
    const float s = o[c];
    o[c] = gn * (s / (1.0f + subq_expf_u2(-s)));
  }
}

SUBQ_ISA_END
#endif
