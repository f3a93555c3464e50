/*
 * subq_avx2_lanes.h — partial-vector helpers shared by the AVX2 micro-kernels
 * (lane masks, loads/stores that mask only when lanes are missing, and the
 * fixed-order horizontal sum).
 * Include it INSIDE a SUBQ_ISA_BEGIN_AVX2 region, after every system header,
 * so its static inline functions inherit the target (internal/subq_isa.h).
 */
#ifndef SUBQ_AVX2_LANES_H
#define SUBQ_AVX2_LANES_H

#include <stdbool.h>
#include <stdint.h>

/* All-ones in lanes [lo, hi) of 0..7. */
static inline __m256i subq_avx2_lanes(int32_t lo, int32_t hi) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(lo - 1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}

/* Masked access only where lanes are missing: VMASKMOVPS stores are slow
 * (microcoded) on AMD Zen, so full vectors use plain loads and stores. */
static inline __m256 subq_avx2_ld(const float *p, __m256i m, bool full) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
static inline void subq_avx2_st(float *p, __m256i m, bool full, __m256 v) {
  if (full)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, m, v);
}

/* Fixed-order horizontal sum: (lo + hi), then pairs, then the last two. */
static inline float subq_avx2_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

#endif /* SUBQ_AVX2_LANES_H */
