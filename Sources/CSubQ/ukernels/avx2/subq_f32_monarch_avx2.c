/*
 * subq_f32_monarch_avx2.c — AVX2+FMA Monarch block-matmul micro-kernel.
 * 6x16 register tile (12 ymm accumulators, 2 B vectors, 1 broadcast); A is
 * broadcast straight from its strided home (x, or u for the P1-folded stage 2),
 * so nothing is packed per call. One body per row count 1..6 (named
 * accumulators, so the compiler keeps all 12 in registers), so short token
 * tiles (decode) do no wasted FMAs. Whole file in one target region.
 */
#include "families/monarch/subq_monarch_ukernel.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>

SUBQ_ISA_BEGIN_AVX2

static inline __attribute__((always_inline)) void subq_monarch_avx2_store(float *c, __m256 v0, __m256 v1, int64_t nr,
                                                                         bool accumulate) {
  if (nr == 16) {
    if (accumulate) {
      v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
      v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
    }
    _mm256_storeu_ps(c, v0);
    _mm256_storeu_ps(c + 8, v1);
    return;
  }
  float tile[16];
  _mm256_storeu_ps(tile, v0);
  _mm256_storeu_ps(tile + 8, v1);
  for (int64_t j = 0; j < nr; j++) c[j] = accumulate ? c[j] + tile[j] : tile[j];
}

#define SUBQ_MA_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define SUBQ_MA_ROW(i)                                      \
  if (M > i) {                                              \
    const __m256 av = _mm256_broadcast_ss(ap + o##i);       \
    c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);             \
    c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);             \
  }
#define SUBQ_MA_STORE(i) \
  if (M > i) subq_monarch_avx2_store(c + i * c_rs, c##i##0, c##i##1, nr, accumulate);

static inline __attribute__((always_inline)) void subq_monarch_avx2_tile(const int M, int64_t kc, const float *a,
                                                                        int64_t a_rs, int64_t a_cs, const float *b,
                                                                        float *c, int64_t c_rs, int64_t nr,
                                                                        bool accumulate) {
  SUBQ_MA_DECL(0) SUBQ_MA_DECL(1) SUBQ_MA_DECL(2) SUBQ_MA_DECL(3) SUBQ_MA_DECL(4) SUBQ_MA_DECL(5)
  /* offsets of the rows this tile has only: a_rs may be any legal stride of
   * fewer rows (one token with a huge ldx), whose multiples overflow int64 */
  const int64_t o0 = 0, o1 = M > 1 ? a_rs : 0, o2 = M > 2 ? 2 * a_rs : 0, o3 = M > 3 ? 3 * a_rs : 0,
                o4 = M > 4 ? 4 * a_rs : 0, o5 = M > 5 ? 5 * a_rs : 0;
  const float *ap = a;
  for (int64_t p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    b += 16;
    SUBQ_MA_ROW(0) SUBQ_MA_ROW(1) SUBQ_MA_ROW(2) SUBQ_MA_ROW(3) SUBQ_MA_ROW(4) SUBQ_MA_ROW(5)
    ap += a_cs;
  }
  SUBQ_MA_STORE(0) SUBQ_MA_STORE(1) SUBQ_MA_STORE(2) SUBQ_MA_STORE(3) SUBQ_MA_STORE(4) SUBQ_MA_STORE(5)
}

void subq_f32_monarch_bdmm_ukernel_6x16__avx2(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                                              float *c, int64_t c_rs, int64_t mr, int64_t nr, bool accumulate) {
  switch (mr) {
    case 6: subq_monarch_avx2_tile(6, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    case 5: subq_monarch_avx2_tile(5, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    case 4: subq_monarch_avx2_tile(4, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    case 3: subq_monarch_avx2_tile(3, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    case 2: subq_monarch_avx2_tile(2, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    case 1: subq_monarch_avx2_tile(1, kc, a, a_rs, a_cs, b, c, c_rs, nr, accumulate); break;
    default: break;
  }
}


/* ---- stage 2 with lanes over blocks (l >= 8): P1 and P2 vanish ---------------------------
 * y[tok][c*l + j0 + lam] (+)= sum_t W2[j0+lam][c][t] * u[tok][t*l + j0 + lam] for lam < jw, c < mc,
 * tok < mt: u rows are read as 8-lane vectors (stride l between t), W2 packed as
 * w[(t*4 + c)*8 + lam] (one 128-byte stream), outputs stored contiguous in final (P2) order. 3 tokens x 4 c
 * register tile: 12 accumulators, 3 u vectors, 1 w vector. Same FMA chain per element as
 * the bdmm path, so the two give identical bits. */
#define SUBQ_ML_DECL(i) __m256 c##i##0 = z, c##i##1 = z, c##i##2 = z, c##i##3 = z;
#define SUBQ_ML_FMA(c)                                       \
  {                                                          \
    const __m256 wv = _mm256_load_ps(wp + (c) * 8);        \
    if (MT > 0) c0##c = _mm256_fmadd_ps(wv, u0v, c0##c);     \
    if (MT > 1) c1##c = _mm256_fmadd_ps(wv, u1v, c1##c);     \
    if (MT > 2) c2##c = _mm256_fmadd_ps(wv, u2v, c2##c);     \
  }

static inline __attribute__((always_inline)) void subq_monarch_avx2_lane_out(float *y, __m256 v, __m256i mask,
                                                                            const float *bias, int64_t jw) {
  if (jw == 8) {
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
    _mm256_storeu_ps(y, v);
  } else {
    if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias, mask));
    _mm256_maskstore_ps(y, mask, v);
  }
}

static inline __attribute__((always_inline)) void subq_monarch_avx2_lanes(const int MT, const int MC, int64_t r,
                                                                         int64_t l, const float *u, int64_t ldu,
                                                                         const float *w, float *y, int64_t ldy,
                                                                         int64_t jw, const float *bias) {
  const __m256 z = _mm256_setzero_ps();
  SUBQ_ML_DECL(0) SUBQ_ML_DECL(1) SUBQ_ML_DECL(2)
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)jw), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const float *wp = w, *up = u;
  for (int64_t t = 0; t < r; t++) {
    __m256 u0v = z, u1v = z, u2v = z;
    if (jw == 8) {
      if (MT > 0) u0v = _mm256_loadu_ps(up);
      if (MT > 1) u1v = _mm256_loadu_ps(up + ldu);
      if (MT > 2) u2v = _mm256_loadu_ps(up + 2 * ldu);
    } else {
      if (MT > 0) u0v = _mm256_maskload_ps(up, mask);
      if (MT > 1) u1v = _mm256_maskload_ps(up + ldu, mask);
      if (MT > 2) u2v = _mm256_maskload_ps(up + 2 * ldu, mask);
    }
    /* keep the u vectors in registers: folded into the FMAs as memory operands
     * they would be loaded MC times each (load-bound instead of FMA-bound) */
    __asm__("" : "+x"(u0v), "+x"(u1v), "+x"(u2v));
    if (MC > 0) SUBQ_ML_FMA(0)
    if (MC > 1) SUBQ_ML_FMA(1)
    if (MC > 2) SUBQ_ML_FMA(2)
    if (MC > 3) SUBQ_ML_FMA(3)
    up += l;
    wp += 32;
  }
#define SUBQ_ML_OUT(i, q)                                                                                  \
  if (MT > i && MC > q)                                                                                    \
    subq_monarch_avx2_lane_out(y + i * ldy + (q) * l, c##i##q, mask, bias ? bias + (q) * l : NULL, jw);
  SUBQ_ML_OUT(0, 0) SUBQ_ML_OUT(0, 1) SUBQ_ML_OUT(0, 2) SUBQ_ML_OUT(0, 3)
  SUBQ_ML_OUT(1, 0) SUBQ_ML_OUT(1, 1) SUBQ_ML_OUT(1, 2) SUBQ_ML_OUT(1, 3)
  SUBQ_ML_OUT(2, 0) SUBQ_ML_OUT(2, 1) SUBQ_ML_OUT(2, 2) SUBQ_ML_OUT(2, 3)
#undef SUBQ_ML_OUT
}

void subq_f32_monarch_lanes_ukernel_3x4x8__avx2(int64_t r, int64_t l, const float *u, int64_t ldu, const float *w,
                                                float *y, int64_t ldy, int64_t mt, int64_t mc, int64_t jw,
                                                const float *bias) {
#define SUBQ_ML_CASE(a, b) \
  case a * 8 + b: subq_monarch_avx2_lanes(a, b, r, l, u, ldu, w, y, ldy, jw, bias); break;
  switch (mt * 8 + mc) {
    SUBQ_ML_CASE(3, 4) SUBQ_ML_CASE(3, 3) SUBQ_ML_CASE(3, 2) SUBQ_ML_CASE(3, 1)
    SUBQ_ML_CASE(2, 4) SUBQ_ML_CASE(2, 3) SUBQ_ML_CASE(2, 2) SUBQ_ML_CASE(2, 1)
    SUBQ_ML_CASE(1, 4) SUBQ_ML_CASE(1, 3) SUBQ_ML_CASE(1, 2) SUBQ_ML_CASE(1, 1)
    default: break;
  }
#undef SUBQ_ML_CASE
}

#undef SUBQ_ML_DECL
#undef SUBQ_ML_FMA

/* ---- perm: dst[c*ldd + r] = src[r*lds + c] (r < rows, c < cols), 8 x 8 register tiles ---- */
static inline __attribute__((always_inline)) void subq_monarch_avx2_t8x8(const float *s, int64_t lds, float *d,
                                                                        int64_t ldd) {
  __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds), r2 = _mm256_loadu_ps(s + 2 * lds);
  __m256 r3 = _mm256_loadu_ps(s + 3 * lds), r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  r0 = _mm256_shuffle_ps(t0, t2, 0x44), r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  r2 = _mm256_shuffle_ps(t1, t3, 0x44), r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  r4 = _mm256_shuffle_ps(t4, t6, 0x44), r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  r6 = _mm256_shuffle_ps(t5, t7, 0x44), r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(d, _mm256_permute2f128_ps(r0, r4, 0x20));
  _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(r1, r5, 0x20));
  _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(r2, r6, 0x20));
  _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(r3, r7, 0x20));
  _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(r0, r4, 0x31));
  _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(r1, r5, 0x31));
  _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(r2, r6, 0x31));
  _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(r3, r7, 0x31));
}

void subq_f32_monarch_perm_ukernel_8x8__avx2(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst,
                                             int64_t ldd) {
  const int64_t r8 = rows & ~(int64_t)7, c8 = cols & ~(int64_t)7;
  for (int64_t r = 0; r < r8; r += 8)
    for (int64_t c = 0; c < c8; c += 8) subq_monarch_avx2_t8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = (r < r8 ? c8 : 0); c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

#undef SUBQ_MA_DECL
#undef SUBQ_MA_ROW
#undef SUBQ_MA_STORE

SUBQ_ISA_END
#endif
