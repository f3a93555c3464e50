/*
 * subq_f32_linattn_avx2.c — AVX2+FMA linear-attention micro-kernels.
 *
 * gemm: 6 x 16 register tile (12 accumulators, two B vectors and six A
 * broadcasts per k), B rows read in place (the state S or V with its token
 * stride), column tails through lane masks (dv 60, 100, ...), row tails by
 * specialised tiles of 1..5 rows. With k_tri the tile stops at the last k
 * any of its rows needs (the causal chunk product).
 * step: the decode pass, dv in blocks of 32 columns held in registers while
 * d runs over the state rows (S row block loaded, decayed, updated, stored,
 * then folded into y): S is read and written once.
 * Whole file in one target region.
 */
#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"

#if defined(__clang__)
#define SUBQ_LA_UNROLL _Pragma("unroll")
#else
#define SUBQ_LA_UNROLL _Pragma("GCC unroll 8")
#endif


static inline __attribute__((always_inline)) void subq_la_tile(const int MR, const int NV, int64_t K, const float *A,
                                                               int64_t a_rs, int64_t a_cs, const float *B, int64_t ldb, float *C,
                                                               int64_t ldc, bool accumulate, __m256i m0, __m256i m1,
                                                               bool f0, bool f1) {
  __m256 acc[6][2];
  SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
    if (accumulate) {
      acc[r][0] = subq_avx2_ld(C + r * ldc, m0, f0);
      if (NV > 1) acc[r][1] = subq_avx2_ld(C + r * ldc + 8, m1, f1);
    } else {
      acc[r][0] = _mm256_setzero_ps();
      if (NV > 1) acc[r][1] = _mm256_setzero_ps();
    }
  }
  for (int64_t k = 0; k < K; k++) {
    const float *br = B + k * ldb, *ak = A + k * a_cs;
    const __m256 b0 = subq_avx2_ld(br, m0, f0), b1 = NV > 1 ? subq_avx2_ld(br + 8, m1, f1) : _mm256_setzero_ps();
    SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
      const __m256 av = _mm256_broadcast_ss(ak + r * a_rs);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      if (NV > 1) acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
    subq_avx2_st(C + r * ldc, m0, f0, acc[r][0]);
    if (NV > 1) subq_avx2_st(C + r * ldc + 8, m1, f1, acc[r][1]);
  }
}

void subq_f32_linattn_gemm_ukernel_6x16__avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                              int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                              int64_t k_tri) {
  for (int64_t i0 = 0; i0 < M; i0 += 6) {
    const int mr = (int)SUBQ_MIN((int64_t)6, M - i0);
    /* rows i0..i0+mr-1 need k <= k_tri + i; terms beyond a row's limit are zero in A */
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i0 + mr) : K;
    const float *ai = A + i0 * a_rs;
    for (int64_t j0 = 0; j0 < N; j0 += 16) {
      const int64_t nc = SUBQ_MIN((int64_t)16, N - j0);
      const int nv = nc > 8 ? 2 : 1;
      const bool f0 = nc >= 8, f1 = nc >= 16;
      const __m256i m0 = subq_avx2_lanes(0, (int32_t)SUBQ_MIN((int64_t)8, nc));
      const __m256i m1 = subq_avx2_lanes(0, (int32_t)(nc > 8 ? nc - 8 : 0));
      float *cij = C + i0 * ldc + j0;
      const float *bj = B + j0;
#define SUBQ_LA_TILE(R)                                                                       \
  case R:                                                                                     \
    if (nv == 2)                                                                              \
      subq_la_tile(R, 2, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, m0, m1, f0, f1);         \
    else                                                                                      \
      subq_la_tile(R, 1, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, m0, m1, f0, f1);         \
    break;
      switch (mr) {
        SUBQ_LA_TILE(1)
        SUBQ_LA_TILE(2)
        SUBQ_LA_TILE(3)
        SUBQ_LA_TILE(4)
        SUBQ_LA_TILE(5)
        default:
        SUBQ_LA_TILE(6)
      }
#undef SUBQ_LA_TILE
    }
  }
}

void subq_f32_linattn_step_ukernel__avx2(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                         const float *v, const float *decay, float *S, float *y) {
  for (int64_t j0 = 0; j0 < dv; j0 += 32) {
    const int64_t nc = SUBQ_MIN((int64_t)32, dv - j0);
    const int nv = (int)((nc + 7) / 8);
    __m256i m[4];
    bool f[4];
    __m256 vv[4], acc[4];
    for (int u = 0; u < 4; u++) {
      const int64_t n = SUBQ_MAX((int64_t)0, SUBQ_MIN((int64_t)8, nc - 8 * u));
      m[u] = subq_avx2_lanes(0, (int32_t)n), f[u] = n == 8;
      vv[u] = u < nv ? subq_avx2_ld(v + j0 + 8 * u, m[u], f[u]) : _mm256_setzero_ps();
      acc[u] = _mm256_setzero_ps();
    }
    if (nv == 4 && f[3]) { /* full 32-column block: no masks, fully unrolled */
      for (int64_t d = 0; d < D; d++) {
        float *sd = S + d * dv + j0;
        const __m256 pk = _mm256_broadcast_ss(phik + d), pq = _mm256_broadcast_ss(phiq + d);
        const __m256 a = decay ? _mm256_broadcast_ss(decay + d) : _mm256_set1_ps(1.0f);
        SUBQ_LA_UNROLL for (int u = 0; u < 4; u++) {
          __m256 s = _mm256_loadu_ps(sd + 8 * u);
          s = decay ? _mm256_fmadd_ps(pk, vv[u], _mm256_mul_ps(a, s)) : _mm256_fmadd_ps(pk, vv[u], s);
          _mm256_storeu_ps(sd + 8 * u, s);
          acc[u] = _mm256_fmadd_ps(pq, s, acc[u]);
        }
      }
    } else {
      for (int64_t d = 0; d < D; d++) {
        float *sd = S + d * dv + j0;
        const __m256 pk = _mm256_broadcast_ss(phik + d), pq = _mm256_broadcast_ss(phiq + d);
        const __m256 a = decay ? _mm256_broadcast_ss(decay + d) : _mm256_set1_ps(1.0f);
        for (int u = 0; u < nv; u++) {
          __m256 s = subq_avx2_ld(sd + 8 * u, m[u], f[u]);
          s = decay ? _mm256_fmadd_ps(pk, vv[u], _mm256_mul_ps(a, s)) : _mm256_fmadd_ps(pk, vv[u], s);
          subq_avx2_st(sd + 8 * u, m[u], f[u], s);
          acc[u] = _mm256_fmadd_ps(pq, s, acc[u]);
        }
      }
    }
    for (int u = 0; u < nv; u++) subq_avx2_st(y + j0 + 8 * u, m[u], f[u], acc[u]);
  }
}

SUBQ_ISA_END
#endif
