/*
 * subq_fattn_avx2.c — AVX2+FMA attention micro-kernels.
 *   qk 4x2: 4 query rows x 2 keys, 8 ymm dot accumulators over dk (masked
 *     tail for dk % 8), reduced in one transposing tree per block (the bits of
 *     per-dot horizontal sums); key pairs outside row blocks (decode: G rows);
 *   pv 6x16: 6 rows x 16 dv lanes, 12 ymm accumulators, 6 broadcasts of p and
 *     2 V loads per key (a 4-row, 8-accumulator block for the last <= 4 rows),
 *     keys in increasing order (masked tail for dv % 8); keys no row uses
 *     (p == 0) skipped by a liveness word per 64 keys;
 *   mm 6x16 (the transposed prefill tile, S^T = K Q^T and O^T += V^T P^T):
 *     6 rows x 16 columns, 12 ymm accumulators, 2 loads of b and 6 broadcasts
 *     of a per l (4- and 2-row blocks for the last rows);
 *   colsoftmax: column max, then exp and column sums, 8 columns a vector;
 *   exp: the shared subq_vexp_f32_u2_avx2 (internal/simd/subq_vexp_avx2.h);
 *     colsoftmax its mid-range core (terms below 1.2e-38 flushed);
 *   qkh / pvh: the same blocks with bf16 / f16 K / V widened in registers
 *     (F16C VCVTPH2PS, or a 16-bit shift for bf16), for decode over 16-bit
 *     caches; widen: 16-bit tiles to f32 for the prefill path.
 * Whole file in one target region.
 */
#include "families/fattn/subq_fattn_ukernel.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"
#include "internal/simd/subq_vexp_avx2.h"

static inline __m256i subq_fattn_tail_mask(int64_t n) { /* lanes < n (0 < n <= 8) */
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}

void subq_fattn_exp__avx2(const float *src, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, subq_vexp_f32_u2_avx2(_mm256_loadu_ps(src + i)));
  if (i < n) {
    const __m256i mk = subq_fattn_tail_mask(n - i);
    _mm256_maskstore_ps(dst + i, mk, subq_vexp_f32_u2_avx2(_mm256_maskload_ps(src + i, mk)));
  }
}

/* subq_vexp_f32_u2_avx2 with lanes below its flush threshold (masked keys:
 * -inf) sent through as 0 and zeroed after: the same bits, but the core's 2^n
 * scaling would otherwise make denormals there, a microcode assist per vector
 * on Zen (tiles crossing a causal diagonal or window edge, tiny problems). */
static inline __m256 subq_fattn_vexp(__m256 x) {
  const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(SUBQ_VEXP_LO), _CMP_LT_OQ);
  return _mm256_andnot_ps(under, subq_vexp_f32_u2_avx2(_mm256_andnot_ps(under, x)));
}

float subq_fattn_expsub__avx2(float *s, int64_t n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = subq_fattn_vexp(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    _mm256_storeu_ps(s + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (j < n) {
    /* padded with m (exp(0), then zeroed); stored through a stack copy:
     * VMASKMOVPS stores are microcoded on Zen, and tiny tiles live here */
    const __m256i mk = subq_fattn_tail_mask(n - j);
    const __m256 x = _mm256_sub_ps(_mm256_blendv_ps(vm, _mm256_maskload_ps(s + j, mk), _mm256_castsi256_ps(mk)), vm);
    const __m256 e = _mm256_and_ps(subq_fattn_vexp(x), _mm256_castsi256_ps(mk));
    float t[8];
    _mm256_storeu_ps(t, e);
    memcpy(s + j, t, (size_t)(n - j) * sizeof(float));
    sum = _mm256_add_ps(sum, e);
  }
  return subq_avx2_hsum(sum);
}

float subq_fattn_rowmax__avx2(const float *s, int64_t n, float init) {
  __m256 m = _mm256_set1_ps(init);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + j));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float r = _mm_cvtss_f32(h);
  for (; j < n; j++) r = s[j] > r ? s[j] : r;
  return r;
}

void subq_fattn_scale__avx2(float *x, int64_t n, float alpha) {
  const __m256 a = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(a, _mm256_loadu_ps(x + i)));
  for (; i < n; i++) x[i] *= alpha;
}

/* The 8 dot products of 4 rows x 2 keys from their lane accumulators a<row><key>,
 * in one transposing tree instead of 8 horizontal sums. Each is summed exactly
 * as subq_fattn_hsum does (lanes i + (i + 4), then (0 + 2) + (1 + 3)), so the
 * bits do not change. Lanes 0..3: key 0 of rows 0..3; lanes 4..7: key 1. */
static inline __m256 subq_fattn_reduce8(__m256 a00, __m256 a01, __m256 a10, __m256 a11, __m256 a20, __m256 a21,
                                        __m256 a30, __m256 a31) {
#define SUBQ_FOLD(x, y) _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31))
  const __m256 x0 = SUBQ_FOLD(a00, a01), x1 = SUBQ_FOLD(a10, a11), x2 = SUBQ_FOLD(a20, a21), x3 = SUBQ_FOLD(a30, a31);
#undef SUBQ_FOLD
  const __m256 r01 = _mm256_add_ps(_mm256_unpacklo_ps(x0, x1), _mm256_unpackhi_ps(x0, x1));
  const __m256 r23 = _mm256_add_ps(_mm256_unpacklo_ps(x2, x3), _mm256_unpackhi_ps(x2, x3));
  return _mm256_add_ps(_mm256_shuffle_ps(r01, r23, 0x44), _mm256_shuffle_ps(r01, r23, 0xEE));
}

/* Writes subq_fattn_reduce8's result for rb rows and kb <= 2 keys at s (row stride lds). */
static inline void subq_fattn_qk_store(__m256 f, int rb, int kb, float *s, int64_t lds) {
  const __m128 k0 = _mm256_castps256_ps128(f), k1 = _mm256_extractf128_ps(f, 1);
  if (kb == 2) { /* (key 0, key 1) pairs per row */
    const __m128 u = _mm_unpacklo_ps(k0, k1), w = _mm_unpackhi_ps(k0, k1);
    _mm_storel_pi((__m64 *)(void *)s, u);
    if (rb > 1) _mm_storeh_pi((__m64 *)(void *)(s + lds), u);
    if (rb > 2) _mm_storel_pi((__m64 *)(void *)(s + 2 * lds), w);
    if (rb > 3) _mm_storeh_pi((__m64 *)(void *)(s + 3 * lds), w);
    return;
  }
  float t[4];
  _mm_storeu_ps(t, k0);
  for (int i = 0; i < rb; i++) s[i * lds] = t[i];
}

/* Dot products of rb <= 4 packed q rows with 2 keys (k1 may equal k0 for a lone key). */
static inline __m256 subq_fattn_qk_block(int rb, int64_t dk, const float *q, int64_t ldq, const float *k0,
                                         const float *k1) {
  __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
  __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
  const float *q0 = q, *q1 = q + (rb > 1 ? ldq : 0), *q2 = q + (rb > 2 ? 2 * ldq : 0), *q3 = q + (rb > 3 ? 3 * ldq : 0);
  int64_t d = 0;
  for (; d + 8 <= dk; d += 8) {
    const __m256 kv0 = _mm256_loadu_ps(k0 + d), kv1 = _mm256_loadu_ps(k1 + d);
    __m256 qv = _mm256_loadu_ps(q0 + d);
    a00 = _mm256_fmadd_ps(qv, kv0, a00), a01 = _mm256_fmadd_ps(qv, kv1, a01);
    qv = _mm256_loadu_ps(q1 + d);
    a10 = _mm256_fmadd_ps(qv, kv0, a10), a11 = _mm256_fmadd_ps(qv, kv1, a11);
    qv = _mm256_loadu_ps(q2 + d);
    a20 = _mm256_fmadd_ps(qv, kv0, a20), a21 = _mm256_fmadd_ps(qv, kv1, a21);
    qv = _mm256_loadu_ps(q3 + d);
    a30 = _mm256_fmadd_ps(qv, kv0, a30), a31 = _mm256_fmadd_ps(qv, kv1, a31);
  }
  if (d < dk) {
    const __m256i mk = subq_fattn_tail_mask(dk - d);
    const __m256 kv0 = _mm256_maskload_ps(k0 + d, mk), kv1 = _mm256_maskload_ps(k1 + d, mk);
    __m256 qv = _mm256_maskload_ps(q0 + d, mk);
    a00 = _mm256_fmadd_ps(qv, kv0, a00), a01 = _mm256_fmadd_ps(qv, kv1, a01);
    qv = _mm256_maskload_ps(q1 + d, mk);
    a10 = _mm256_fmadd_ps(qv, kv0, a10), a11 = _mm256_fmadd_ps(qv, kv1, a11);
    qv = _mm256_maskload_ps(q2 + d, mk);
    a20 = _mm256_fmadd_ps(qv, kv0, a20), a21 = _mm256_fmadd_ps(qv, kv1, a21);
    qv = _mm256_maskload_ps(q3 + d, mk);
    a30 = _mm256_fmadd_ps(qv, kv0, a30), a31 = _mm256_fmadd_ps(qv, kv1, a31);
  }
  return subq_fattn_reduce8(a00, a01, a10, a11, a20, a21, a30, a31);
}

void subq_fattn_qk_4x2__avx2(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                            int64_t k_ss, float *s, int64_t lds) {
  for (int64_t j = 0; j < nk; j += 2) { /* key pairs outside: a pair stays in L1 across row blocks */
    const int kb = (int)SUBQ_MIN(2, nk - j);
    const float *k0 = k + j * k_ss, *k1 = kb > 1 ? k0 + k_ss : k0;
    for (int64_t r = 0; r < nr; r += 4) {
      const int rb = (int)SUBQ_MIN(4, nr - r);
      subq_fattn_qk_store(subq_fattn_qk_block(rb, dk, q + r * ldq, ldq, k0, k1), rb, kb, s + r * lds + j, lds);
    }
  }
}

#define SUBQ_FATTN_INLINE static inline __attribute__((always_inline))

/* acc rows += p rows * V over nk keys for a 16-lane (or narrower, masked) dv
 * block of rb <= R rows: 2R accumulators, p broadcast from memory (load port).
 * R is a constant where this is inlined (6 for prefill tiles, 4 for decode: G
 * heads of one token), so the loops over rows unroll and the arrays live in
 * registers. Rows past rb alias row 0 (same loads, stores done last by row 0). */
SUBQ_FATTN_INLINE void subq_fattn_pv_rows(const int R, int rb, int64_t nk, uint64_t live, int64_t width,
                                          const float *p, int64_t ldp, const float *v, int64_t v_ss, float *acc,
                                          int64_t ldacc) {
  const float *pr[6];
  float *c[6];
  for (int i = 0; i < R; i++) pr[i] = p + (rb > i ? i * ldp : 0), c[i] = acc + (rb > i ? i * ldacc : 0);
  /* width in 1..16: lanes 0..7 in the first vector, 8..15 in the second */
  const __m256i m0 = subq_fattn_tail_mask(SUBQ_MIN(8, width));
  const bool two = width > 8, full = width == 16;
  const __m256i m1 = two ? subq_fattn_tail_mask(width - 8) : _mm256_setzero_si256();
  __m256 x0[6], x1[6];
  for (int i = 0; i < R; i++)
    x0[i] = _mm256_loadu_ps(c[i]), x1[i] = two ? _mm256_loadu_ps(c[i] + 8) : _mm256_setzero_ps();
  for (int64_t j = 0; j < nk; j++) {
    if (!(live >> j & 1)) continue; /* p == 0 in every row (masked): V not used */
    const float *vj = v + j * v_ss;
    __m256 v0, v1;
    if (full) {
      v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
    } else {
      v0 = _mm256_maskload_ps(vj, m0), v1 = two ? _mm256_maskload_ps(vj + 8, m1) : _mm256_setzero_ps();
    }
    for (int i = 0; i < R; i++) {
      const __m256 b = _mm256_broadcast_ss(pr[i] + j);
      x0[i] = _mm256_fmadd_ps(b, v0, x0[i]), x1[i] = _mm256_fmadd_ps(b, v1, x1[i]);
    }
  }
  /* store in reverse row order so aliased rows (rb < R) end with row 0's value */
  for (int i = R - 1; i >= 0; i--) {
    if (i > 0 && rb <= i) continue;
    _mm256_storeu_ps(c[i], x0[i]);
    if (two) _mm256_storeu_ps(c[i] + 8, x1[i]);
  }
}

/* Keys in chunks of 64 (one liveness word per row block and chunk, computed
 * once instead of per 16-lane strip); per element still j in increasing order. */
void subq_fattn_pv_6x16__avx2(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t j0 = 0; j0 < nk; j0 += 64) {
    const int64_t n = SUBQ_MIN(64, nk - j0);
    const float *vj = v + j0 * v_ss;
    for (int64_t r = 0; r < nr; r += 6) {
      const int rb = (int)SUBQ_MIN(6, nr - r);
      const float *pr = p + r * ldp + j0;
      const uint64_t live = subq_fattn_live(rb, n, pr, ldp);
      if (!live) continue;
      for (int64_t d = 0; d < dv; d += 16) {
        if (rb <= 4)
          subq_fattn_pv_rows(4, rb, n, live, SUBQ_MIN(16, dv - d), pr, ldp, vj + d, v_ss, acc + r * ldacc + d, ldacc);
        else
          subq_fattn_pv_rows(6, rb, n, live, SUBQ_MIN(16, dv - d), pr, ldp, vj + d, v_ss, acc + r * ldacc + d, ldacc);
      }
    }
  }
}

/* ---- the transposed prefill tile: a 6x16 GEMM on strided operands ------------------ */

/* R (6, 4 or 2: a constant where inlined) rows x 16 columns of c, 2R
 * accumulators; per l, 2 loads of b and R broadcasts of a. Rows past rb alias
 * row 0 (same loads; stored last by row 0). */
SUBQ_FATTN_INLINE void subq_fattn_mm_rows(const int R, int rb, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                                          const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate,
                                          const float *scale, const uint64_t *live) {
  int64_t off[6];
  float *cr[6];
  for (int i = 0; i < R; i++) off[i] = rb > i ? i * a_rs : 0, cr[i] = c + (rb > i ? i * ldc : 0);
  __m256 x0[6], x1[6];
  if (accumulate) {
    const __m256 s0 = scale ? _mm256_loadu_ps(scale) : _mm256_set1_ps(1.0f);
    const __m256 s1 = scale ? _mm256_loadu_ps(scale + 8) : _mm256_set1_ps(1.0f);
    for (int i = 0; i < R; i++)
      x0[i] = _mm256_mul_ps(_mm256_loadu_ps(cr[i]), s0), x1[i] = _mm256_mul_ps(_mm256_loadu_ps(cr[i] + 8), s1);
  } else {
    for (int i = 0; i < R; i++) x0[i] = _mm256_setzero_ps(), x1[i] = _mm256_setzero_ps();
  }
  const float *ap = a, *bp = b;
  for (int64_t l = 0; l < k; l++, ap += a_ks, bp += ldb) {
    if (live && !(live[l >> 6] >> (l & 63) & 1)) continue;
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    for (int i = 0; i < R; i++) {
      const __m256 x = _mm256_broadcast_ss(ap + off[i]);
      x0[i] = _mm256_fmadd_ps(x, b0, x0[i]), x1[i] = _mm256_fmadd_ps(x, b1, x1[i]);
    }
  }
  for (int i = R - 1; i >= 0; i--) {
    if (i > 0 && rb <= i) continue;
    _mm256_storeu_ps(cr[i], x0[i]), _mm256_storeu_ps(cr[i] + 8, x1[i]);
  }
}

void subq_fattn_mm_6x16__avx2(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                              const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                              const uint64_t *live) {
  for (int64_t i = 0; i < m; i += 6) {
    const int rb = (int)SUBQ_MIN(6, m - i);
    const float *ai = a + i * a_rs;
    for (int64_t j = 0; j < n; j += 16) {
      const float *sj = scale ? scale + j : NULL;
      if (rb > 4)
        subq_fattn_mm_rows(6, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
      else if (rb > 2)
        subq_fattn_mm_rows(4, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
      else
        subq_fattn_mm_rows(2, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
    }
  }
}

/* Column max in two chains, then exp and a column sum per 8 columns. */
void subq_fattn_colsoftmax__avx2(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l, float *alpha) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
  for (int64_t c = 0; c < ncol; c += 8) {
    const __m256 mold = _mm256_loadu_ps(m + c);
    __m256 mx0 = mold, mx1 = ninf;
    int64_t j = 0;
    for (; j + 2 <= nk; j += 2)
      mx0 = _mm256_max_ps(mx0, _mm256_loadu_ps(s + j * lds + c)),
      mx1 = _mm256_max_ps(mx1, _mm256_loadu_ps(s + (j + 1) * lds + c));
    if (j < nk) mx0 = _mm256_max_ps(mx0, _mm256_loadu_ps(s + j * lds + c));
    const __m256 mx = _mm256_max_ps(mx0, mx1);
    const __m256 none = _mm256_cmp_ps(mx, ninf, _CMP_EQ_OQ); /* no allowed key yet: p = 0 */
    const __m256 msafe = _mm256_andnot_ps(none, mx);
    const __m256 al =
        _mm256_andnot_ps(_mm256_cmp_ps(mold, ninf, _CMP_EQ_OQ), subq_vexp_f32_nonpos_avx2(_mm256_sub_ps(mold, msafe)));
    __m256 sum = zero;
    for (j = 0; j < nk; j++) {
      const __m256 p = subq_vexp_f32_nonpos_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j * lds + c), msafe));
      _mm256_storeu_ps(s + j * lds + c, p);
      sum = _mm256_add_ps(sum, p);
    }
    _mm256_storeu_ps(l + c, _mm256_fmadd_ps(al, _mm256_loadu_ps(l + c), sum));
    _mm256_storeu_ps(m + c, mx);
    _mm256_storeu_ps(alpha + c, al);
  }
}

/* ---- 16-bit K/V (bf16, f16) widened in registers --------------------------------- */

/* 8 elements to f32: VCVTPH2PS (f16) or zero-extend and shift left 16 (bf16); exact. */
SUBQ_FATTN_INLINE __m256 subq_fattn_cvth(int dt, __m128i h) {
  if (dt == SUBQ_FATTN_H_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
SUBQ_FATTN_INLINE __m256 subq_fattn_ldh(int dt, const uint16_t *p) {
  return subq_fattn_cvth(dt, _mm_loadu_si128((const __m128i *)(const void *)p));
}
/* n < 8 elements (zeros after): no 16-bit masked load in AVX2, so via a stack copy */
SUBQ_FATTN_INLINE __m256 subq_fattn_ldh_n(int dt, const uint16_t *p, int64_t n) {
  uint16_t t[8] = {0};
  memcpy(t, p, (size_t)n * sizeof(uint16_t));
  return subq_fattn_cvth(dt, _mm_loadu_si128((const __m128i *)(void *)t));
}

void subq_fattn_widen__avx2(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst, int64_t ldd) {
  for (int64_t j = 0; j < n; j++) {
    const uint16_t *sr = src + j * ss;
    float *dr = dst + j * ldd;
    int64_t d = 0;
    if (dt == SUBQ_FATTN_H_F16) {
      for (; d + 8 <= d_len; d += 8) _mm256_storeu_ps(dr + d, subq_fattn_ldh(SUBQ_FATTN_H_F16, sr + d));
    } else {
      for (; d + 8 <= d_len; d += 8) _mm256_storeu_ps(dr + d, subq_fattn_ldh(SUBQ_FATTN_H_BF16, sr + d));
    }
    for (; d < d_len; d++) dr[d] = subq_fattn_h_to_f32(dt, sr[d]);
  }
}

/* subq_fattn_qk_block with 16-bit keys. */
SUBQ_FATTN_INLINE __m256 subq_fattn_qkh_block(int dt, int rb, int64_t dk, const float *q, int64_t ldq,
                                              const uint16_t *k0, const uint16_t *k1) {
  __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
  __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
  const float *q0 = q, *q1 = q + (rb > 1 ? ldq : 0), *q2 = q + (rb > 2 ? 2 * ldq : 0), *q3 = q + (rb > 3 ? 3 * ldq : 0);
  int64_t d = 0;
  for (; d + 8 <= dk; d += 8) {
    const __m256 kv0 = subq_fattn_ldh(dt, k0 + d), kv1 = subq_fattn_ldh(dt, k1 + d);
    __m256 qv = _mm256_loadu_ps(q0 + d);
    a00 = _mm256_fmadd_ps(qv, kv0, a00), a01 = _mm256_fmadd_ps(qv, kv1, a01);
    qv = _mm256_loadu_ps(q1 + d);
    a10 = _mm256_fmadd_ps(qv, kv0, a10), a11 = _mm256_fmadd_ps(qv, kv1, a11);
    qv = _mm256_loadu_ps(q2 + d);
    a20 = _mm256_fmadd_ps(qv, kv0, a20), a21 = _mm256_fmadd_ps(qv, kv1, a21);
    qv = _mm256_loadu_ps(q3 + d);
    a30 = _mm256_fmadd_ps(qv, kv0, a30), a31 = _mm256_fmadd_ps(qv, kv1, a31);
  }
  if (d < dk) {
    const __m256i mk = subq_fattn_tail_mask(dk - d);
    const __m256 kv0 = subq_fattn_ldh_n(dt, k0 + d, dk - d), kv1 = subq_fattn_ldh_n(dt, k1 + d, dk - d);
    __m256 qv = _mm256_maskload_ps(q0 + d, mk);
    a00 = _mm256_fmadd_ps(qv, kv0, a00), a01 = _mm256_fmadd_ps(qv, kv1, a01);
    qv = _mm256_maskload_ps(q1 + d, mk);
    a10 = _mm256_fmadd_ps(qv, kv0, a10), a11 = _mm256_fmadd_ps(qv, kv1, a11);
    qv = _mm256_maskload_ps(q2 + d, mk);
    a20 = _mm256_fmadd_ps(qv, kv0, a20), a21 = _mm256_fmadd_ps(qv, kv1, a21);
    qv = _mm256_maskload_ps(q3 + d, mk);
    a30 = _mm256_fmadd_ps(qv, kv0, a30), a31 = _mm256_fmadd_ps(qv, kv1, a31);
  }
  return subq_fattn_reduce8(a00, a01, a10, a11, a20, a21, a30, a31);
}

SUBQ_FATTN_INLINE void subq_fattn_qkh_impl(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                                           const uint16_t *k, int64_t k_ss, float *s, int64_t lds) {
  for (int64_t j = 0; j < nk; j += 2) {
    const int kb = (int)SUBQ_MIN(2, nk - j);
    const uint16_t *k0 = k + j * k_ss, *k1 = kb > 1 ? k0 + k_ss : k0;
    for (int64_t r = 0; r < nr; r += 4) {
      const int rb = (int)SUBQ_MIN(4, nr - r);
      subq_fattn_qk_store(subq_fattn_qkh_block(dt, rb, dk, q + r * ldq, ldq, k0, k1), rb, kb, s + r * lds + j, lds);
    }
  }
}

void subq_fattn_qkh_4x2__avx2(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                              const uint16_t *k, int64_t k_ss, float *s, int64_t lds) {
  if (dt == SUBQ_FATTN_H_F16)
    subq_fattn_qkh_impl(SUBQ_FATTN_H_F16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
  else
    subq_fattn_qkh_impl(SUBQ_FATTN_H_BF16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
}

/* subq_fattn_pv_block4 / _block with 16-bit values: rb <= 4 (or <= 6) rows x
 * 16 lanes in named accumulators (8 or 12 ymm; arrays would be spilled). */
#define SUBQ_PVH_ROW(i) __m256 x##i##0 = _mm256_loadu_ps(c[i]), x##i##1 = two ? _mm256_loadu_ps(c[i] + 8) : _mm256_setzero_ps()
#define SUBQ_PVH_FMA(i)                                                       \
  do {                                                                        \
    const __m256 b = _mm256_broadcast_ss(p##i + j);                           \
    x##i##0 = _mm256_fmadd_ps(b, v0, x##i##0), x##i##1 = _mm256_fmadd_ps(b, v1, x##i##1); \
  } while (0)
#define SUBQ_PVH_ST(i)                                    \
  do {                                                    \
    if (full) {                                           \
      _mm256_storeu_ps(c[i], x##i##0);                    \
      _mm256_storeu_ps(c[i] + 8, x##i##1);                \
    } else {                                              \
      _mm256_maskstore_ps(c[i], m0, x##i##0);             \
      if (two) _mm256_maskstore_ps(c[i] + 8, m1, x##i##1); \
    }                                                     \
  } while (0)
#define SUBQ_PVH_LOADV()                                                      \
  const uint16_t *vj = v + j * v_ss;                                          \
  __m256 v0, v1;                                                              \
  if (full) {                                                                 \
    v0 = subq_fattn_ldh(dt, vj), v1 = subq_fattn_ldh(dt, vj + 8);             \
  } else {                                                                    \
    v0 = subq_fattn_ldh_n(dt, vj, SUBQ_MIN(8, width));                        \
    v1 = two ? subq_fattn_ldh_n(dt, vj + 8, width - 8) : _mm256_setzero_ps(); \
  }

SUBQ_FATTN_INLINE void subq_fattn_pvh_block4(int dt, int rb, int64_t nk, uint64_t live, int64_t width, const float *p,
                                             int64_t ldp, const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  const float *p0 = p, *p1 = p + (rb > 1 ? ldp : 0), *p2 = p + (rb > 2 ? 2 * ldp : 0), *p3 = p + (rb > 3 ? 3 * ldp : 0);
  float *c[4];
  for (int i = 0; i < 4; i++) c[i] = acc + (rb > i ? i * ldacc : 0);
  const bool two = width > 8, full = width == 16;
  SUBQ_PVH_ROW(0);
  SUBQ_PVH_ROW(1);
  SUBQ_PVH_ROW(2);
  SUBQ_PVH_ROW(3);
  for (int64_t j = 0; j < nk; j++) {
    if (!(live >> j & 1)) continue; /* V not read */
    SUBQ_PVH_LOADV();
    SUBQ_PVH_FMA(0);
    SUBQ_PVH_FMA(1);
    SUBQ_PVH_FMA(2);
    SUBQ_PVH_FMA(3);
  }
  const __m256i m0 = subq_fattn_tail_mask(SUBQ_MIN(8, width));
  const __m256i m1 = two ? subq_fattn_tail_mask(width - 8) : _mm256_setzero_si256();
  if (rb > 3) SUBQ_PVH_ST(3); /* only the real rows: aliased ones are never stored */
  if (rb > 2) SUBQ_PVH_ST(2);
  if (rb > 1) SUBQ_PVH_ST(1);
  SUBQ_PVH_ST(0);
}

SUBQ_FATTN_INLINE void subq_fattn_pvh_block6(int dt, int rb, int64_t nk, uint64_t live, int64_t width, const float *p,
                                             int64_t ldp, const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  const float *p0 = p, *p1 = p + (rb > 1 ? ldp : 0), *p2 = p + (rb > 2 ? 2 * ldp : 0);
  const float *p3 = p + (rb > 3 ? 3 * ldp : 0), *p4 = p + (rb > 4 ? 4 * ldp : 0), *p5 = p + (rb > 5 ? 5 * ldp : 0);
  float *c[6];
  for (int i = 0; i < 6; i++) c[i] = acc + (rb > i ? i * ldacc : 0);
  const bool two = width > 8, full = width == 16;
  SUBQ_PVH_ROW(0);
  SUBQ_PVH_ROW(1);
  SUBQ_PVH_ROW(2);
  SUBQ_PVH_ROW(3);
  SUBQ_PVH_ROW(4);
  SUBQ_PVH_ROW(5);
  for (int64_t j = 0; j < nk; j++) {
    if (!(live >> j & 1)) continue;
    SUBQ_PVH_LOADV();
    SUBQ_PVH_FMA(0);
    SUBQ_PVH_FMA(1);
    SUBQ_PVH_FMA(2);
    SUBQ_PVH_FMA(3);
    SUBQ_PVH_FMA(4);
    SUBQ_PVH_FMA(5);
  }
  const __m256i m0 = subq_fattn_tail_mask(SUBQ_MIN(8, width));
  const __m256i m1 = two ? subq_fattn_tail_mask(width - 8) : _mm256_setzero_si256();
  if (rb > 5) SUBQ_PVH_ST(5);
  if (rb > 4) SUBQ_PVH_ST(4);
  if (rb > 3) SUBQ_PVH_ST(3);
  if (rb > 2) SUBQ_PVH_ST(2);
  if (rb > 1) SUBQ_PVH_ST(1);
  SUBQ_PVH_ST(0);
}
#undef SUBQ_PVH_ROW
#undef SUBQ_PVH_FMA
#undef SUBQ_PVH_ST
#undef SUBQ_PVH_LOADV

SUBQ_FATTN_INLINE void subq_fattn_pvh_impl(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                                           const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t j0 = 0; j0 < nk; j0 += 64) {
    const int64_t n = SUBQ_MIN(64, nk - j0);
    const uint16_t *vj = v + j0 * v_ss;
    for (int64_t r = 0; r < nr; r += 6) {
      const int rb = (int)SUBQ_MIN(6, nr - r);
      const float *pr = p + r * ldp + j0;
      const uint64_t live = subq_fattn_live(rb, n, pr, ldp);
      if (!live) continue;
      for (int64_t d = 0; d < dv; d += 16) {
        if (rb <= 4)
          subq_fattn_pvh_block4(dt, rb, n, live, SUBQ_MIN(16, dv - d), pr, ldp, vj + d, v_ss, acc + r * ldacc + d,
                                ldacc);
        else
          subq_fattn_pvh_block6(dt, rb, n, live, SUBQ_MIN(16, dv - d), pr, ldp, vj + d, v_ss, acc + r * ldacc + d,
                                ldacc);
      }
    }
  }
}

void subq_fattn_pvh_6x16__avx2(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                               const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  if (dt == SUBQ_FATTN_H_F16)
    subq_fattn_pvh_impl(SUBQ_FATTN_H_F16, nr, nk, dv, p, ldp, v, v_ss, acc, ldacc);
  else
    subq_fattn_pvh_impl(SUBQ_FATTN_H_BF16, nr, nk, dv, p, ldp, v, v_ss, acc, ldacc);
}

SUBQ_ISA_END
#endif
