/*
 * subq_fattn_avx2.c — AVX2+FMA attention micro-kernels.
 *   qk 4x3: 4 query rows x 3 keys, 12 ymm dot accumulators over dk (masked
 *     tail for dk % 8), reduced in one transposing tree per pair (the bits of
 *     per-dot horizontal sums); key blocks outside row blocks (decode: G rows);
 *   pv 6x16: 6 rows x 16 dv lanes, 12 ymm accumulators, 6 broadcasts of p and
 *     2 V loads per key (a 4-row, 8-accumulator block for the last <= 4 rows),
 *     keys in increasing order (masked tail for dv % 8); keys no row uses
 *     (p == 0) skipped by a liveness word per 64 keys (no per-key test when
 *     all 64 are live);
 *   mm 6x16 (the transposed prefill tile, S^T = K Q^T and O^T += V^T P^T):
 *     6 rows x 16 columns, 12 ymm accumulators, 2 loads of b and 6 broadcasts
 *     of a per l (4- and 2-row blocks for the last rows);
 *   colsoftmax: column max, then exp and column sums, 8 columns a vector;
 *   exp: the shared subq_vexp_f32_u2_avx2 (internal/simd/subq_vexp_avx2.h);
 *     colsoftmax its mid-range core (terms below 1.2e-38 flushed);
 *   qkh / pvh: the same code (one inline body per element type) with bf16 /
 *     f16 K / V widened in registers (F16C VCVTPH2PS, or a 16-bit shift for
 *     bf16), for decode over 16-bit caches; widen: 16-bit tiles to f32 for the
 *     prefill path.
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

/* The 4 dot products of 4 rows x 1 key, in lanes 0..3 (row order), summed
 * exactly as subq_fattn_reduce8 sums each of its 8: half of its tree. */
static inline __m128 subq_fattn_reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 x01 = _mm256_add_ps(_mm256_permute2f128_ps(a0, a1, 0x20), _mm256_permute2f128_ps(a0, a1, 0x31));
  const __m256 x23 = _mm256_add_ps(_mm256_permute2f128_ps(a2, a3, 0x20), _mm256_permute2f128_ps(a2, a3, 0x31));
  /* x01 = (row 0 lanes i + (i + 4) | row 1 ...), x23 likewise for rows 2, 3 */
  const __m256 t = _mm256_add_ps(_mm256_unpacklo_ps(x01, x23), _mm256_unpackhi_ps(x01, x23));
  /* low half: (0 + 2 of row 0, of row 2, 1 + 3 of row 0, of row 2); high: rows 1, 3 */
  const __m128 lo = _mm256_castps256_ps128(t), hi = _mm256_extractf128_ps(t, 1);
  const __m128 r02 = _mm_add_ps(lo, _mm_movehl_ps(lo, lo)), r13 = _mm_add_ps(hi, _mm_movehl_ps(hi, hi));
  return _mm_unpacklo_ps(r02, r13); /* rows 0, 1, 2, 3 */
}

/* Writes one key's dots of rows 0..3 (lanes 0..3 of f) for rb rows at s (row stride lds). */
static inline void subq_fattn_qk_store1(__m128 f, int rb, float *s, int64_t lds) {
  _mm_store_ss(s, f);
  if (rb > 1) _mm_store_ss(s + lds, _mm_movehdup_ps(f));
  if (rb > 2) _mm_store_ss(s + 2 * lds, _mm_movehl_ps(f, f));
  if (rb > 3) _mm_store_ss(s + 3 * lds, _mm_shuffle_ps(f, f, 3));
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
  subq_fattn_qk_store1(k0, rb, s, lds);
}

#define SUBQ_FATTN_INLINE static inline __attribute__((always_inline))

/* ---- K / V element loads: f32, or bf16 / f16 widened in registers ------------------ */

#define SUBQ_FATTN_F32 (-1) /* dt of f32 K / V in the kernels below (else SUBQ_FATTN_H_*) */

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
/* Elements i .. i + 8 of row x (dt a constant where inlined), and the first
 * 0 < n <= 8 of them with zeros after. */
SUBQ_FATTN_INLINE __m256 subq_fattn_ld(int dt, const void *x, int64_t i) {
  if (dt == SUBQ_FATTN_F32) return _mm256_loadu_ps((const float *)x + i);
  return subq_fattn_ldh(dt, (const uint16_t *)x + i);
}
SUBQ_FATTN_INLINE __m256 subq_fattn_ld_n(int dt, const void *x, int64_t i, int64_t n) {
  if (dt == SUBQ_FATTN_F32) return _mm256_maskload_ps((const float *)x + i, subq_fattn_tail_mask(n));
  return subq_fattn_ldh_n(dt, (const uint16_t *)x + i, n);
}

/* ---- QK: dot products of up to 4 query rows with a block of keys ------------------- */

/* Dot products of rb <= 4 packed q rows (rows past rb alias row 0) with KB
 * keys (2 or 3, a constant where inlined: kp[1] may equal kp[0] for a lone
 * key): 4 x KB lane accumulators over dk, one q load per row and step, each K
 * vector used by 4 rows. 3 keys (12 accumulators, 3 K vectors, a q vector:
 * all 16 registers) give each FMA chain 6 cycles of other FMAs to hide its
 * latency behind; with 2 (8 accumulators) the chains only just cover the
 * 4-cycle latency, and a 4x2 key loop ran at 45 cycles a key (f16, D 128,
 * Zen 3, no reduction) against 34 for 4x3. f01 gets keys 0 and 1 as
 * subq_fattn_reduce8 lays them out; f2 (KB = 3) key 2 of rows 0..3. */
SUBQ_FATTN_INLINE void subq_fattn_qk_dots(const int dt, const int KB, int rb, int64_t dk, const float *q, int64_t ldq,
                                          const void *const *kp, __m256 *f01, __m128 *f2) {
  __m256 a[4][3];
  const float *qr[4];
  for (int i = 0; i < 4; i++) {
    qr[i] = q + (rb > i ? i * ldq : 0);
    for (int t = 0; t < KB; t++) a[i][t] = _mm256_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 8 <= dk; d += 8) {
    __m256 kv[3];
    for (int t = 0; t < KB; t++) kv[t] = subq_fattn_ld(dt, kp[t], d);
    for (int i = 0; i < 4; i++) {
      const __m256 qv = _mm256_loadu_ps(qr[i] + d);
      for (int t = 0; t < KB; t++) a[i][t] = _mm256_fmadd_ps(qv, kv[t], a[i][t]);
    }
  }
  if (d < dk) { /* masked tail: zeros past dk add nothing */
    const __m256i mk = subq_fattn_tail_mask(dk - d);
    __m256 kv[3];
    for (int t = 0; t < KB; t++) kv[t] = subq_fattn_ld_n(dt, kp[t], d, dk - d);
    for (int i = 0; i < 4; i++) {
      const __m256 qv = _mm256_maskload_ps(qr[i] + d, mk);
      for (int t = 0; t < KB; t++) a[i][t] = _mm256_fmadd_ps(qv, kv[t], a[i][t]);
    }
  }
  *f01 = subq_fattn_reduce8(a[0][0], a[0][1], a[1][0], a[1][1], a[2][0], a[2][1], a[3][0], a[3][1]);
  if (KB > 2) *f2 = subq_fattn_reduce4(a[0][2], a[1][2], a[2][2], a[3][2]);
}

/* s[r][j] = <q_r, k_j>: keys in blocks of 3 outside (a block stays in L1
 * across row blocks), then a last pair or single key. */
SUBQ_FATTN_INLINE void subq_fattn_qk_impl(const int dt, int64_t nr, int64_t nk, int64_t dk, const float *q,
                                          int64_t ldq, const void *k, int64_t k_ss, float *s, int64_t lds) {
  const size_t ks = (size_t)k_ss * (dt == SUBQ_FATTN_F32 ? sizeof(float) : sizeof(uint16_t));
  int64_t j = 0;
  for (; j + 3 <= nk; j += 3) {
    const char *k0 = (const char *)k + (size_t)j * ks;
    const void *kp[3] = {k0, k0 + ks, k0 + 2 * ks};
    for (int64_t r = 0; r < nr; r += 4) {
      const int rb = (int)SUBQ_MIN(4, nr - r);
      __m256 f01;
      __m128 f2;
      subq_fattn_qk_dots(dt, 3, rb, dk, q + r * ldq, ldq, kp, &f01, &f2);
      subq_fattn_qk_store(f01, rb, 2, s + r * lds + j, lds);
      subq_fattn_qk_store1(f2, rb, s + r * lds + j + 2, lds);
    }
  }
  if (j < nk) {
    const int kb = (int)(nk - j); /* 1 or 2 */
    const char *k0 = (const char *)k + (size_t)j * ks;
    const void *kp[2] = {k0, kb > 1 ? k0 + ks : k0};
    for (int64_t r = 0; r < nr; r += 4) {
      const int rb = (int)SUBQ_MIN(4, nr - r);
      __m256 f01;
      __m128 unused;
      subq_fattn_qk_dots(dt, 2, rb, dk, q + r * ldq, ldq, kp, &f01, &unused);
      subq_fattn_qk_store(f01, rb, kb, s + r * lds + j, lds);
    }
  }
}

void subq_fattn_qk_4x3__avx2(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                            int64_t k_ss, float *s, int64_t lds) {
  subq_fattn_qk_impl(SUBQ_FATTN_F32, nr, nk, dk, q, ldq, k, k_ss, s, lds);
}

void subq_fattn_qkh_4x3__avx2(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                              const uint16_t *k, int64_t k_ss, float *s, int64_t lds) {
  if (dt == SUBQ_FATTN_H_F16)
    subq_fattn_qk_impl(SUBQ_FATTN_H_F16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
  else
    subq_fattn_qk_impl(SUBQ_FATTN_H_BF16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
}

/* ---- PV: acc += P V ------------------------------------------------------------------ */

/* Bit j (j < n <= 64) set when p[i * ldp + j] != 0 for some row i < rb:
 * subq_fattn_live, 8 keys a compare (NEQ_UQ: NaN counts as live, -0 not). */
static inline uint64_t subq_fattn_live_avx2(int rb, int64_t n, const float *p, int64_t ldp) {
  const __m256 zero = _mm256_setzero_ps();
  uint64_t live = 0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 any = _mm256_cmp_ps(_mm256_loadu_ps(p + j), zero, _CMP_NEQ_UQ);
    for (int i = 1; i < rb; i++) any = _mm256_or_ps(any, _mm256_cmp_ps(_mm256_loadu_ps(p + i * ldp + j), zero, _CMP_NEQ_UQ));
    live |= (uint64_t)(unsigned)_mm256_movemask_ps(any) << j;
  }
  if (j < n) live |= subq_fattn_live(rb, n - j, p + j, ldp) << j; /* the last n % vector keys */
  return live;
}

/* The keys of subq_fattn_pv_rows: TEST (a constant) skips keys whose live bit
 * is clear; FULL (a constant) means 16 lanes, else width lanes (zeros after).
 * Row pointers are named scalars, not an array: clang kept an array of them
 * in memory and reloaded each per key. */
SUBQ_FATTN_INLINE void subq_fattn_pv_keys(const int dt, const int R, const bool TEST, const bool FULL, int rb,
                                          int64_t nk, uint64_t live, int64_t width, const float *p, int64_t ldp,
                                          const void *v, int64_t v_ss, __m256 *x0, __m256 *x1) {
  const float *p0 = p, *p1 = p + (rb > 1 ? ldp : 0), *p2 = p + (rb > 2 ? 2 * ldp : 0);
  const float *p3 = p + (rb > 3 ? 3 * ldp : 0), *p4 = p + (rb > 4 ? 4 * ldp : 0), *p5 = p + (rb > 5 ? 5 * ldp : 0);
  const size_t vs = (size_t)v_ss * (dt == SUBQ_FATTN_F32 ? sizeof(float) : sizeof(uint16_t));
  const bool two = width > 8;
  for (int64_t j = 0; j < nk; j++) {
    if (TEST && !(live >> j & 1)) continue; /* p == 0 in every row (masked): V not read */
    const void *vj = (const char *)v + (size_t)j * vs;
    __m256 v0, v1;
    if (FULL) {
      v0 = subq_fattn_ld(dt, vj, 0), v1 = subq_fattn_ld(dt, vj, 8);
    } else {
      v0 = subq_fattn_ld_n(dt, vj, 0, SUBQ_MIN(8, width));
      v1 = two ? subq_fattn_ld_n(dt, vj, 8, width - 8) : _mm256_setzero_ps();
    }
    for (int i = 0; i < R; i++) {
      const float *pi = i == 0 ? p0 : i == 1 ? p1 : i == 2 ? p2 : i == 3 ? p3 : i == 4 ? p4 : p5;
      const __m256 b = _mm256_broadcast_ss(pi + j);
      x0[i] = _mm256_fmadd_ps(b, v0, x0[i]), x1[i] = _mm256_fmadd_ps(b, v1, x1[i]);
    }
  }
}

/* acc rows += p rows * V over nk <= 64 keys for a 16-lane (or narrower) dv
 * block of rb <= R rows: 2R accumulators, p broadcast from memory (load
 * port). R (6 for prefill tiles, 4 for decode: G heads of one token) and dt
 * are constants where this is inlined, so the loops over rows unroll and the
 * arrays live in registers. Rows past rb alias row 0 (same loads, stores done
 * last by row 0). Lanes past width stay as they were (V reads as 0 there; acc
 * rows are padded to a multiple of 8). A chunk whose keys are all live runs
 * without the per-key test (decode: every chunk but the window's edges). */
SUBQ_FATTN_INLINE void subq_fattn_pv_rows(const int dt, const int R, int rb, int64_t nk, uint64_t live, int64_t width,
                                          const float *p, int64_t ldp, const void *v, int64_t v_ss, float *acc,
                                          int64_t ldacc) {
  float *c[6];
  for (int i = 0; i < R; i++) c[i] = acc + (rb > i ? i * ldacc : 0);
  const bool two = width > 8;
  __m256 x0[6], x1[6];
  for (int i = 0; i < R; i++)
    x0[i] = _mm256_loadu_ps(c[i]), x1[i] = two ? _mm256_loadu_ps(c[i] + 8) : _mm256_setzero_ps();
  const uint64_t all = nk == 64 ? ~(uint64_t)0 : ((uint64_t)1 << nk) - 1;
  if (width < 16)
    subq_fattn_pv_keys(dt, R, true, false, rb, nk, live, width, p, ldp, v, v_ss, x0, x1);
  else if (live == all)
    subq_fattn_pv_keys(dt, R, false, true, rb, nk, live, width, p, ldp, v, v_ss, x0, x1);
  else
    subq_fattn_pv_keys(dt, R, true, true, rb, nk, live, width, p, ldp, v, v_ss, x0, x1);
  /* store in reverse row order so aliased rows (rb < R) end with row 0's value */
  for (int i = R - 1; i >= 0; i--) {
    if (i > 0 && rb <= i) continue;
    _mm256_storeu_ps(c[i], x0[i]);
    if (two) _mm256_storeu_ps(c[i] + 8, x1[i]);
  }
}

/* Keys in chunks of 64 (one liveness word per row block and chunk, computed
 * once instead of per 16-lane strip); per element still j in increasing order. */
SUBQ_FATTN_INLINE void subq_fattn_pv_impl(const int dt, int64_t nr, int64_t nk, int64_t dv, const float *p,
                                          int64_t ldp, const void *v, int64_t v_ss, float *acc, int64_t ldacc) {
  const size_t vs = (size_t)v_ss * (dt == SUBQ_FATTN_F32 ? sizeof(float) : sizeof(uint16_t));
  const size_t es = dt == SUBQ_FATTN_F32 ? sizeof(float) : sizeof(uint16_t);
  for (int64_t j0 = 0; j0 < nk; j0 += 64) {
    const int64_t n = SUBQ_MIN(64, nk - j0);
    const char *vj = (const char *)v + (size_t)j0 * vs;
    for (int64_t r = 0; r < nr; r += 6) {
      const int rb = (int)SUBQ_MIN(6, nr - r);
      const float *pr = p + r * ldp + j0;
      const uint64_t live = subq_fattn_live_avx2(rb, n, pr, ldp);
      if (!live) continue;
      for (int64_t d = 0; d < dv; d += 16) {
        const int64_t w = SUBQ_MIN(16, dv - d);
        if (rb <= 4)
          subq_fattn_pv_rows(dt, 4, rb, n, live, w, pr, ldp, vj + (size_t)d * es, v_ss, acc + r * ldacc + d, ldacc);
        else
          subq_fattn_pv_rows(dt, 6, rb, n, live, w, pr, ldp, vj + (size_t)d * es, v_ss, acc + r * ldacc + d, ldacc);
      }
    }
  }
}

void subq_fattn_pv_6x16__avx2(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc) {
  subq_fattn_pv_impl(SUBQ_FATTN_F32, nr, nk, dv, p, ldp, v, v_ss, acc, ldacc);
}

void subq_fattn_pvh_6x16__avx2(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                               const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  if (dt == SUBQ_FATTN_H_F16)
    subq_fattn_pv_impl(SUBQ_FATTN_H_F16, nr, nk, dv, p, ldp, v, v_ss, acc, ldacc);
  else
    subq_fattn_pv_impl(SUBQ_FATTN_H_BF16, nr, nk, dv, p, ldp, v, v_ss, acc, ldacc);
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

/* ---- 16-bit K/V tiles widened for the prefill path -------------------------------- */

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

SUBQ_ISA_END
#endif
