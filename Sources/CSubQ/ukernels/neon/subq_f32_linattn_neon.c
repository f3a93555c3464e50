/*
 * subq_f32_linattn_neon.c — AArch64 Advanced SIMD linear-attention
 * micro-kernels: the AVX2 structure with 4-lane vectors (gemm 6 x 8 tile,
 * column tails through a zero-padded lane buffer; step over dv blocks of 16
 * columns in registers). NEON is baseline on AArch64: no target region.
 */
#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline float32x4_t subq_la_ld4(const float *p, int n) { /* lanes [0, n), rest 0 */
  if (n >= 4) return vld1q_f32(p);
  float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(buf, p, (size_t)n * sizeof(float));
  return vld1q_f32(buf);
}
static inline void subq_la_st4(float *p, int n, float32x4_t v) {
  if (n >= 4) {
    vst1q_f32(p, v);
    return;
  }
  float buf[4];
  vst1q_f32(buf, v);
  memcpy(p, buf, (size_t)n * sizeof(float));
}

/* One MR x 8 tile (MR a constant after inlining). The accumulators are named
 * variables (c<row><half>), not an array: gcc 12 kept a float32x4_t[6][2] in
 * memory and stored it on every k step (the GEMM 8x12 kernels' note). */
#define SUBQ_LA_EACH6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define SUBQ_LA_INIT(r)                                          \
  float32x4_t c##r##0 = vdupq_n_f32(0.0f), c##r##1 = c##r##0;    \
  if (MR > r && accumulate) {                                    \
    c##r##0 = subq_la_ld4(C + r * ldc, n0);                      \
    if (n1 > 0) c##r##1 = subq_la_ld4(C + r * ldc + 4, n1);      \
  }
#define SUBQ_LA_FMA(r)                          \
  if (MR > r) {                                 \
    const float a = ak[r * a_rs];               \
    c##r##0 = vfmaq_n_f32(c##r##0, b0, a);      \
    c##r##1 = vfmaq_n_f32(c##r##1, b1, a);      \
  }
#define SUBQ_LA_STORE(r)                                  \
  if (MR > r) {                                           \
    subq_la_st4(C + r * ldc, n0, c##r##0);                \
    if (n1 > 0) subq_la_st4(C + r * ldc + 4, n1, c##r##1); \
  }
static inline __attribute__((always_inline)) void subq_la_tile_neon(const int MR, int64_t K, const float *A,
                                                                    int64_t a_rs, int64_t a_cs, const float *B, int64_t ldb,
                                                                    float *C, int64_t ldc, bool accumulate, int n0,
                                                                    int n1) {
  SUBQ_LA_EACH6(SUBQ_LA_INIT)
  const bool full = n0 == 4 && n1 == 4;
  for (int64_t k = 0; k < K; k++) {
    const float *br = B + k * ldb, *ak = A + k * a_cs;
    const float32x4_t b0 = full ? vld1q_f32(br) : subq_la_ld4(br, n0);
    const float32x4_t b1 = full ? vld1q_f32(br + 4) : (n1 > 0 ? subq_la_ld4(br + 4, n1) : vdupq_n_f32(0.0f));
    SUBQ_LA_EACH6(SUBQ_LA_FMA)
  }
  SUBQ_LA_EACH6(SUBQ_LA_STORE)
}
#undef SUBQ_LA_EACH6
#undef SUBQ_LA_INIT
#undef SUBQ_LA_FMA
#undef SUBQ_LA_STORE

void subq_f32_linattn_gemm_ukernel_6x8__neon(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                             int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                             int64_t k_tri) {
  for (int64_t i0 = 0; i0 < M; i0 += 6) {
    const int mr = (int)SUBQ_MIN((int64_t)6, M - i0);
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i0 + mr) : K;
    const float *ai = A + i0 * a_rs;
    for (int64_t j0 = 0; j0 < N; j0 += 8) {
      const int nc = (int)SUBQ_MIN((int64_t)8, N - j0);
      const int n0 = nc < 4 ? nc : 4, n1 = nc > 4 ? nc - 4 : 0;
      float *cij = C + i0 * ldc + j0;
      const float *bj = B + j0;
      switch (mr) {
        case 1: subq_la_tile_neon(1, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
        case 2: subq_la_tile_neon(2, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
        case 3: subq_la_tile_neon(3, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
        case 4: subq_la_tile_neon(4, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
        case 5: subq_la_tile_neon(5, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
        default: subq_la_tile_neon(6, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, n0, n1); break;
      }
    }
  }
}

void subq_f32_linattn_step_ukernel__neon(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                         const float *v, const float *decay, float *S, float *y) {
  for (int64_t j0 = 0; j0 < dv; j0 += 16) {
    const int64_t nc = SUBQ_MIN((int64_t)16, dv - j0);
    int n[4];
    float32x4_t vv[4], acc[4];
    for (int u = 0; u < 4; u++) {
      n[u] = (int)SUBQ_MAX((int64_t)0, SUBQ_MIN((int64_t)4, nc - 4 * u));
      vv[u] = n[u] > 0 ? subq_la_ld4(v + j0 + 4 * u, n[u]) : vdupq_n_f32(0.0f);
      acc[u] = vdupq_n_f32(0.0f);
    }
    for (int64_t d = 0; d < D; d++) {
      float *sd = S + d * dv + j0;
      const float pk = phik[d], pq = phiq[d];
      for (int u = 0; u < 4; u++) {
        if (n[u] == 0) break;
        float32x4_t s = subq_la_ld4(sd + 4 * u, n[u]);
        if (decay) s = vmulq_n_f32(s, decay[d]);
        s = vfmaq_n_f32(s, vv[u], pk);
        subq_la_st4(sd + 4 * u, n[u], s);
        acc[u] = vfmaq_n_f32(acc[u], s, pq);
      }
    }
    for (int u = 0; u < 4; u++)
      if (n[u] > 0) subq_la_st4(y + j0 + 4 * u, n[u], acc[u]);
  }
}
#endif
