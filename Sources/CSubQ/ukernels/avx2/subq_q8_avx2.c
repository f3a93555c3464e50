/*
 * subq_q8_avx2.c — AVX2+FMA int8-weight dot micro-kernel: 8 codes at a time
 * sign-extended to int32 and converted; per block of 32 the products with x
 * are summed in 8 lanes, then scaled into the 8-lane accumulators by one FMA
 * (the scalar twin's order per lane); the lanes are added once at the end
 * (fixed order).
 * Whole file in one target region.
 */
#include "families/q8/subq_q8_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <string.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"

/* How many C-row tiles ahead the kernel prefetches its rows. */
#define SUBQ_Q8_PF_TILES 4

/* 8 codes of a row from byte p, as floats. */
static inline __m256 subq_q8_c8(const uint8_t *row, int64_t p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + p))));
}

/* M tokens x C rows: per block, part[i][q] = the block's x * code in 8
 * lanes (FMAs from 0, as the scalar twin), then acc[i][q] = fma(part, scale, acc). */
#define SUBQ_Q8_TILE(NAME, M, C)                                                                                  \
  static void NAME(int64_t kp, const float *x, int64_t ldx, const uint8_t *w, int64_t rb, float *y, int64_t y_rs) { \
    __m256 acc[M][C];                                                                                              \
    for (int i = 0; i < M; i++)                                                                                    \
      for (int q = 0; q < C; q++) acc[i][q] = _mm256_setzero_ps();                                                 \
    for (int64_t b0 = 0; b0 < kp; b0 += SUBQ_Q8_BLOCK) {                                                           \
      /* stream rows SUBQ_Q8_PF_TILES tiles ahead: the rows are short and the prefetchers lag (1 tile ahead: \
       * 1.8x at 1 thread over none; 4 tiles: 1.12x more at 1 and 2 threads)   */                            \
      for (int q = 0; q < C; q++) _mm_prefetch((const char *)(w + (SUBQ_Q8_PF_TILES * C + q) * rb + b0), _MM_HINT_T0); \
      __m256 part[M][C];                                                                                           \
      for (int i = 0; i < M; i++)                                                                                  \
        for (int q = 0; q < C; q++) part[i][q] = _mm256_setzero_ps();                                              \
      for (int64_t p = b0; p < b0 + SUBQ_Q8_BLOCK; p += 8) {                                                       \
        __m256 cv[C];                                                                                              \
        for (int q = 0; q < C; q++) cv[q] = subq_q8_c8(w + q * rb, p);                                             \
        for (int i = 0; i < M; i++) {                                                                              \
          const __m256 xv = _mm256_loadu_ps(x + i * ldx + p);                                                      \
          for (int q = 0; q < C; q++)                                                                              \
            part[i][q] = _mm256_fmadd_ps(xv, cv[q], part[i][q]);                                                   \
        }                                                                                                          \
      }                                                                                                            \
      for (int q = 0; q < C; q++) {                                                                                \
        const __m256 s = _mm256_set1_ps(subq_q8_scale(w + q * rb, kp, b0 / SUBQ_Q8_BLOCK));                         \
        for (int i = 0; i < M; i++) acc[i][q] = _mm256_fmadd_ps(part[i][q], s, acc[i][q]);                         \
      }                                                                                                            \
    }                                                                                                              \
    for (int i = 0; i < M; i++)                                                                                    \
      for (int q = 0; q < C; q++) y[i * y_rs + q] = subq_avx2_hsum(acc[i][q]);                                     \
  }

SUBQ_Q8_TILE(subq_q8_avx2_2x4, 2, 4)
SUBQ_Q8_TILE(subq_q8_avx2_1x4, 1, 4)
SUBQ_Q8_TILE(subq_q8_avx2_2x1, 2, 1)
SUBQ_Q8_TILE(subq_q8_avx2_1x1, 1, 1)

void subq_f32wq8_dot_ukernel_2x4__avx2(int64_t m, int64_t n, int64_t kp, const float *x, int64_t ldx,
                                       const uint8_t *w, int64_t rb, float *y, int64_t y_rs) {
  if (n == 4) {
    (m == 2 ? subq_q8_avx2_2x4 : subq_q8_avx2_1x4)(kp, x, ldx, w, rb, y, y_rs);
    return;
  }
  for (int64_t j = 0; j < n; j++) (m == 2 ? subq_q8_avx2_2x1 : subq_q8_avx2_1x1)(kp, x, ldx, w + j * rb, rb, y + j, y_rs);
}

SUBQ_ISA_END
#endif
