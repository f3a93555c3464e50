/*
 * subq_f32_gemm_neon.c — AArch64 Advanced SIMD GEMM micro-kernels.
 * 8x12 register tile: 24 q accumulators, 3 B vectors, 2 A vectors (29 of 32).
 * NEON is baseline on AArch64: no target region.
 */
#include "families/gemm/subq_gemm_ukernel.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>
#include <math.h>

static inline float32x4_t subq_neon_out(float32x4_t acc, float alpha, float beta, const float *c) {
  float32x4_t t = vmulq_n_f32(acc, alpha);
  if (beta != 0.0f) t = vaddq_f32(t, vmulq_n_f32(vld1q_f32(c), beta));
  return t;
}

static inline float32x4_t subq_neon_load_bf16(const uint16_t *p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); /* bf16 -> f32 exactly */
}
static inline float32x4_t subq_neon_load_f32(const float *p) { return vld1q_f32(p); }

/* f32 B panels and bf16 B panels (widened in registers): the same FMAs. One
 * macro makes the full 8-row kernels and the short ones for edge tiles of <= 4 or
 * <= 2 rows (subq_gemm_short_tiles.inc): R rows of the same 8-row A panel, the
 * first R rows' FMA chains of the full kernel. The accumulators are named
 * variables (c<row><quarter>), not an array: gcc 12 left a float32x4_t[8][3]
 * unscalarised and stored 12 of its q registers to the stack on every k step
 * (clang kept it in registers either way). EACH applies a macro to each row. */
#define SUBQ_NEON_EACH2(X) X(0) X(1)
#define SUBQ_NEON_EACH4(X) SUBQ_NEON_EACH2(X) X(2) X(3)
#define SUBQ_NEON_EACH8(X) SUBQ_NEON_EACH4(X) X(4) X(5) X(6) X(7)
#define SUBQ_NEON_ZERO(i) float32x4_t c##i##0 = vdupq_n_f32(0.0f), c##i##1 = c##i##0, c##i##2 = c##i##0;
#define SUBQ_NEON_STORE(i)                                                   \
  if (mr > i) {                                                              \
    float *r = c + i * c_rs;                                                 \
    vst1q_f32(r, subq_neon_out(c##i##0, alpha, beta, r));                    \
    vst1q_f32(r + 4, subq_neon_out(c##i##1, alpha, beta, r + 4));            \
    vst1q_f32(r + 8, subq_neon_out(c##i##2, alpha, beta, r + 8));            \
  }
#define SUBQ_NEON_TILE(i)                  \
  vst1q_f32(tile + i * 12, c##i##0);       \
  vst1q_f32(tile + i * 12 + 4, c##i##1);   \
  vst1q_f32(tile + i * 12 + 8, c##i##2);
#define SUBQ_NEON_GEMM_RX12(NAME, BT, LOADB, R, ROWS)                                                              \
  void NAME(int64_t kc, const float *a, const BT *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs, int64_t mr, \
            int64_t nr, float alpha, float beta) {                                                                 \
    SUBQ_NEON_EACH##R(SUBQ_NEON_ZERO)                                                                              \
    for (int64_t p = 0; p < kc; p++) {                                                                             \
      const float32x4_t b0 = LOADB(b), b1 = LOADB(b + 4), b2 = LOADB(b + 8);                                       \
      ROWS                                                                                                         \
      a += 8;                                                                                                      \
      b += ldb;                                                                                                    \
    }                                                                                                              \
    if (nr == 12 && c_cs == 1) {                                                                                   \
      SUBQ_NEON_EACH##R(SUBQ_NEON_STORE)                                                                           \
      return;                                                                                                      \
    }                                                                                                              \
    float tile[R * 12];                                                                                            \
    SUBQ_NEON_EACH##R(SUBQ_NEON_TILE)                                                                              \
    for (int64_t i = 0; i < mr; i++)                                                                               \
      for (int64_t j = 0; j < nr; j++) {                                                                           \
        float *cij = c + i * c_rs + j * c_cs;                                                                      \
        *cij = subq_gemm_out(tile[i * 12 + j], alpha, beta, cij);                                                  \
      }                                                                                                            \
  }
#define SUBQ_ROW(i, av, lane)                           \
  c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, lane);     \
  c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, lane);     \
  c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, lane);
#define SUBQ_NEON_ROWS2                   \
  const float32x4_t a0 = vld1q_f32(a);    \
  SUBQ_ROW(0, a0, 0) SUBQ_ROW(1, a0, 1)
#define SUBQ_NEON_ROWS4 SUBQ_NEON_ROWS2 SUBQ_ROW(2, a0, 2) SUBQ_ROW(3, a0, 3)
#define SUBQ_NEON_ROWS8                                                                  \
  SUBQ_NEON_ROWS4 const float32x4_t a1 = vld1q_f32(a + 4);                               \
  SUBQ_ROW(4, a1, 0) SUBQ_ROW(5, a1, 1) SUBQ_ROW(6, a1, 2) SUBQ_ROW(7, a1, 3)
SUBQ_NEON_GEMM_RX12(subq_f32_gemm_ukernel_8x12__neon, float, subq_neon_load_f32, 8, SUBQ_NEON_ROWS8)
SUBQ_NEON_GEMM_RX12(subq_f32wbf16_gemm_ukernel_8x12__neon, uint16_t, subq_neon_load_bf16, 8, SUBQ_NEON_ROWS8)
SUBQ_NEON_GEMM_RX12(subq_f32_gemm_ukernel_8x12r4__neon, float, subq_neon_load_f32, 4, SUBQ_NEON_ROWS4)
SUBQ_NEON_GEMM_RX12(subq_f32wbf16_gemm_ukernel_8x12r4__neon, uint16_t, subq_neon_load_bf16, 4, SUBQ_NEON_ROWS4)
SUBQ_NEON_GEMM_RX12(subq_f32_gemm_ukernel_8x12r2__neon, float, subq_neon_load_f32, 2, SUBQ_NEON_ROWS2)
SUBQ_NEON_GEMM_RX12(subq_f32wbf16_gemm_ukernel_8x12r2__neon, uint16_t, subq_neon_load_bf16, 2, SUBQ_NEON_ROWS2)
#undef SUBQ_ROW
#undef SUBQ_NEON_ZERO
#undef SUBQ_NEON_STORE
#undef SUBQ_NEON_TILE

/* Fixed-order horizontal sum. */
static inline float subq_neon_hsum(float32x4_t v) {
  float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
}

#define SUBQ_F32_ID(x) (x)
/* Full 3 x 4 blocks keep their 12 accumulators in named variables
 * (d<row><column>), for the reason the 8x12 kernels do; edge blocks (runtime
 * nr, nc) use the array. Each accumulator takes the same FMAs in the same
 * order either way. */
#define SUBQ_DOT_ZERO4(r) \
  float32x4_t d##r##0 = vdupq_n_f32(0.0f), d##r##1 = d##r##0, d##r##2 = d##r##0, d##r##3 = d##r##0;
#define SUBQ_DOT_FMA4(r)                    \
  d##r##0 = vfmaq_f32(d##r##0, a##r, b0); \
  d##r##1 = vfmaq_f32(d##r##1, a##r, b1); \
  d##r##2 = vfmaq_f32(d##r##2, a##r, b2); \
  d##r##3 = vfmaq_f32(d##r##3, a##r, b3);
#define SUBQ_DOT_SAVE4(r) acc[r][0] = d##r##0, acc[r][1] = d##r##1, acc[r][2] = d##r##2, acc[r][3] = d##r##3;
#define SUBQ_DOT_DRIVER(NAME, BT, LOADB, WIDEN)                                                                  \
  void NAME(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *bv, int64_t ldb, float *c, \
            int64_t c_rs, int64_t c_cs, float alpha, float beta) {                                              \
    const BT *b = (const BT *)bv;                                                                                \
    for (int64_t j0 = 0; j0 < n; j0 += 4) {                                                                      \
      const int nc = (int)SUBQ_MIN(4, n - j0);                                                                   \
      for (int64_t i0 = 0; i0 < m; i0 += 3) {                                                                    \
        const int nr = (int)SUBQ_MIN(3, m - i0);                                                                 \
        float32x4_t acc[3][4];                                                                                   \
        int64_t p = 0;                                                                                           \
        if (nr == 3 && nc == 4) {                                                                                \
          const float *a0p = a + i0 * lda, *a1p = a0p + lda, *a2p = a1p + lda;                                   \
          const BT *b0p = b + j0 * ldb, *b1p = b0p + ldb, *b2p = b1p + ldb, *b3p = b2p + ldb;                    \
          SUBQ_DOT_ZERO4(0) SUBQ_DOT_ZERO4(1) SUBQ_DOT_ZERO4(2)                                                  \
          for (; p + 4 <= k; p += 4) {                                                                           \
            const float32x4_t b0 = LOADB(b0p + p), b1 = LOADB(b1p + p), b2 = LOADB(b2p + p), b3 = LOADB(b3p + p); \
            const float32x4_t a0 = vld1q_f32(a0p + p), a1 = vld1q_f32(a1p + p), a2 = vld1q_f32(a2p + p);         \
            SUBQ_DOT_FMA4(0) SUBQ_DOT_FMA4(1) SUBQ_DOT_FMA4(2)                                                   \
          }                                                                                                      \
          SUBQ_DOT_SAVE4(0) SUBQ_DOT_SAVE4(1) SUBQ_DOT_SAVE4(2)                                                  \
        } else {                                                                                                 \
          for (int r = 0; r < 3; r++)                                                                            \
            for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);                                           \
          for (; p + 4 <= k; p += 4)                                                                             \
            for (int q = 0; q < nc; q++) {                                                                       \
              const float32x4_t bq = LOADB(b + (j0 + q) * ldb + p);                                              \
              for (int r = 0; r < nr; r++)                                                                       \
                acc[r][q] = vfmaq_f32(acc[r][q], vld1q_f32(a + (i0 + r) * lda + p), bq);                         \
            }                                                                                                    \
        }                                                                                                        \
        for (int r = 0; r < nr; r++)                                                                             \
          for (int q = 0; q < nc; q++) {                                                                         \
            float s = subq_neon_hsum(acc[r][q]);                                                                 \
            for (int64_t t = p; t < k; t++) s = fmaf(a[(i0 + r) * lda + t], WIDEN(b[(j0 + q) * ldb + t]), s);    \
            float *cij = c + (i0 + r) * c_rs + (j0 + q) * c_cs;                                                  \
            *cij = subq_gemm_out(s, alpha, beta, cij);                                                           \
          }                                                                                                      \
      }                                                                                                          \
    }                                                                                                            \
  }

SUBQ_DOT_DRIVER(subq_f32_gemm_dot_ukernel_3x4__neon, float, subq_neon_load_f32, SUBQ_F32_ID)
SUBQ_DOT_DRIVER(subq_f32wbf16_gemm_dot_ukernel_3x4__neon, uint16_t, subq_neon_load_bf16, subq_bf16_to_f32_1)
#undef SUBQ_DOT_ZERO4
#undef SUBQ_DOT_FMA4
#undef SUBQ_DOT_SAVE4

#define SUBQ_ROWS_DRIVER(NAME, BT, LOADB, WIDEN)                                                          \
  void NAME(int64_t w, int64_t k, const float *a, const void *bv, int64_t ldb, int64_t pw, int64_t pstride, \
            float *c, int64_t c_cs, float alpha, float beta) {                                             \
    const BT *b = (const BT *)bv;                                                                          \
    int64_t j = 0;                                                                                         \
    for (; j + 16 <= w && (pw % 4 == 0 || pw >= w); j += 16) {                                             \
      float32x4_t acc[4];                                                                                  \
      const BT *bq[4];                                                                                     \
      for (int v = 0; v < 4; v++)                                                                          \
        acc[v] = vdupq_n_f32(0.0f), bq[v] = b + ((j + 4 * v) / pw) * pstride + (j + 4 * v) % pw;           \
      for (int64_t p = 0; p < k; p++)                                                                      \
        for (int v = 0; v < 4; v++) acc[v] = vfmaq_n_f32(acc[v], LOADB(bq[v] + p * ldb), a[p]);            \
      for (int v = 0; v < 4; v++) {                                                                        \
        float t[4];                                                                                        \
        vst1q_f32(t, acc[v]);                                                                              \
        for (int l = 0; l < 4; l++) {                                                                      \
          float *cj = c + (j + 4 * v + l) * c_cs;                                                          \
          *cj = subq_gemm_out(t[l], alpha, beta, cj);                                                      \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
    for (; j < w; j++) {                                                                                   \
      float s = 0.0f;                                                                                      \
      const BT *bj = b + (j / pw) * pstride + j % pw;                                                      \
      for (int64_t p = 0; p < k; p++) s = fmaf(a[p], WIDEN(bj[p * ldb]), s);                               \
      c[j * c_cs] = subq_gemm_out(s, alpha, beta, c + j * c_cs);                                           \
    }                                                                                                      \
  }

SUBQ_ROWS_DRIVER(subq_f32_gemm_rows_ukernel_1x64__neon, float, subq_neon_load_f32, SUBQ_F32_ID)
SUBQ_ROWS_DRIVER(subq_f32wbf16_gemm_rows_ukernel_1x64__neon, uint16_t, subq_neon_load_bf16, subq_bf16_to_f32_1)

#endif
