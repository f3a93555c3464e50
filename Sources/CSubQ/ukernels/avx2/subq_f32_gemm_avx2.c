/*
 * subq_f32_gemm_avx2.c — AVX2+FMA GEMM micro-kernels.
 * 6x16 register tile: 12 ymm accumulators, 2 B vectors, 1 broadcast A
 * (15 of the 16 ymm registers). Whole file in one target region.
 */
#include "families/gemm/subq_gemm_ukernel.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <math.h>
#include <string.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"

static inline __m256 subq_avx2_out(__m256 acc, __m256 valpha, float beta, const float *c) {
  __m256 t = _mm256_mul_ps(valpha, acc);
  if (beta != 0.0f) t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c)));
  return t;
}

/* The 6 x 16 tile (row i: ci0 = columns 0-7, ci1 = 8-15) to C by the alpha/beta rule.
 * Inlined into each kernel, rows unrolled: an out-of-line call with the tile in an
 * array (spilled, 4 vectors passed on the stack) cost 1024^3-class products ~20%. */
static inline __attribute__((always_inline)) void
subq_avx2_store_6x16(__m256 c00, __m256 c01, __m256 c10, __m256 c11, __m256 c20, __m256 c21, __m256 c30, __m256 c31,
                     __m256 c40, __m256 c41, __m256 c50, __m256 c51, float *c, int64_t c_rs, int64_t c_cs, int64_t mr,
                     int64_t nr, float alpha, float beta) {
  const __m256 valpha = _mm256_set1_ps(alpha);
  if (nr == 16 && c_cs == 1) { /* full-width rows: a full tile or a short kernel's */
#define SUBQ_AVX2_ROW_OUT(i, x0, x1)                                         \
  if (mr > i) {                                                              \
    float *r = c + i * c_rs;                                                 \
    _mm256_storeu_ps(r, subq_avx2_out(x0, valpha, beta, r));                 \
    _mm256_storeu_ps(r + 8, subq_avx2_out(x1, valpha, beta, r + 8));         \
  }
    SUBQ_AVX2_ROW_OUT(0, c00, c01)
    SUBQ_AVX2_ROW_OUT(1, c10, c11)
    SUBQ_AVX2_ROW_OUT(2, c20, c21)
    SUBQ_AVX2_ROW_OUT(3, c30, c31)
    SUBQ_AVX2_ROW_OUT(4, c40, c41)
    SUBQ_AVX2_ROW_OUT(5, c50, c51)
#undef SUBQ_AVX2_ROW_OUT
    return;
  }
  float tile[6 * 16];
  _mm256_storeu_ps(tile + 0, c00), _mm256_storeu_ps(tile + 8, c01);
  _mm256_storeu_ps(tile + 16, c10), _mm256_storeu_ps(tile + 24, c11);
  _mm256_storeu_ps(tile + 32, c20), _mm256_storeu_ps(tile + 40, c21);
  _mm256_storeu_ps(tile + 48, c30), _mm256_storeu_ps(tile + 56, c31);
  _mm256_storeu_ps(tile + 64, c40), _mm256_storeu_ps(tile + 72, c41);
  _mm256_storeu_ps(tile + 80, c50), _mm256_storeu_ps(tile + 88, c51);
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float *cij = c + i * c_rs + j * c_cs;
      *cij = subq_gemm_out(tile[i * 16 + j], alpha, beta, cij);
    }
}

/* The two 6x16 kernels (f32 and bf16 B panels) share everything but the B load of
 * a k step. The k loop is written in assembly: compilers spill or shuffle
 * registers around 15 live ymm values. Accumulators stay in compiler-chosen
 * registers (ymm0-11, since 12-15 are clobbered); a step puts one k row of B in
 * ymm12 / ymm13, then 6 broadcasts and 12 FMAs, k in increasing order for every
 * element. r8 = a, r9 = b, r10 = B row stride in bytes, r11 = k / 4, rcx = k % 4. */
/* One row of a step: broadcast A(row) (at byte offset ao + off of the A panel) into
 * ymm14 or ymm15 (alternating, so consecutive rows do not wait on one register),
 * then its two FMAs. */
#define SUBQ_X16_ROW(ao, off, reg, ci0, ci1)                   \
  "vbroadcastss " #ao "+" #off "(%%r8), %%" #reg "\n\t"         \
  "vfmadd231ps %%ymm12, %%" #reg ", %[" #ci0 "]\n\t"             \
  "vfmadd231ps %%ymm13, %%" #reg ", %[" #ci1 "]\n\t"
/* 6 rows for full tiles; the short kernels' steps take the first 4 or 2 rows of
 * the same 6-row A panel, with the same FMA chains (an edge tile of 1 to 4 rows
 * costs 8 or 4 FMAs a step, not 12). */
#define SUBQ_2X16_FMAS(ao) SUBQ_X16_ROW(ao, 0, ymm14, c00, c01) SUBQ_X16_ROW(ao, 4, ymm15, c10, c11)
#define SUBQ_4X16_FMAS(ao) \
  SUBQ_2X16_FMAS(ao) SUBQ_X16_ROW(ao, 8, ymm14, c20, c21) SUBQ_X16_ROW(ao, 12, ymm15, c30, c31)
#define SUBQ_6X16_FMAS(ao) \
  SUBQ_4X16_FMAS(ao) SUBQ_X16_ROW(ao, 16, ymm14, c40, c41) SUBQ_X16_ROW(ao, 20, ymm15, c50, c51)
/* f32 B: 2 aligned loads (columns 0-7, 8-15). */
#define SUBQ_6X16_LOAD_F32                                       \
  "vmovups (%%r9), %%ymm12\n\t"                                   \
  "vmovups 32(%%r9), %%ymm13\n\t"                                 \
  "addq %%r10, %%r9\n\t"
/* bf16 B: one 32-byte load holds the row's 16 columns; as 8 dwords, `<< 16`
 * gives the even columns as f32 and `& 0xffff0000` the odd ones (exact). */
#define SUBQ_6X16_LOAD_BF16                                      \
  "vmovdqu (%%r9), %%ymm12\n\t"                                   \
  "addq %%r10, %%r9\n\t"                                          \
  "vpand %[hi], %%ymm12, %%ymm13\n\t"                             \
  "vpslld $16, %%ymm12, %%ymm12\n\t"

static const uint32_t subq_avx2_hi16_mask[8] __attribute__((aligned(32))) = {
    0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u};

#define SUBQ_6X16_KERNEL(NAME, BT, LOAD, INTERLEAVE, FMAS)                                                            \
  void NAME(int64_t kc, const float *a, const BT *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs, int64_t mr,    \
            int64_t nr, float alpha, float beta) {                                                                    \
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();                                                      \
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();                                                      \
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();                                                      \
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();                                                      \
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();                                                      \
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();                                                      \
    if (c_cs == 1)                                                                                                    \
      for (int64_t i = 0; i < mr; i++) {                                                                              \
        _mm_prefetch((const char *)(c + i * c_rs), _MM_HINT_T0);                                                      \
        _mm_prefetch((const char *)(c + i * c_rs + 15), _MM_HINT_T0);                                                 \
      }                                                                                                               \
    const int64_t args[5] = {(int64_t)(intptr_t)a, (int64_t)(intptr_t)b, ldb * (int64_t)sizeof(BT), kc / 4, kc % 4}; \
    __asm__ volatile("movq 0(%[args]), %%r8\n\t"                                                                      \
                     "movq 8(%[args]), %%r9\n\t"                                                                      \
                     "movq 16(%[args]), %%r10\n\t"                                                                    \
                     "movq 24(%[args]), %%r11\n\t"                                                                    \
                     "movq 32(%[args]), %%rcx\n\t"                                                                    \
                     "testq %%r11, %%r11\n\t"                                                                         \
                     "jz 2f\n\t"                                                                                      \
                     ".p2align 5\n\t"                                                                                 \
                     "1:\n\t"                                                                                         \
                     "prefetcht0 384(%%r8)\n\t"                                                                       \
                     "prefetcht0 (%%r9,%%r10,8)\n\t" LOAD FMAS(0) LOAD FMAS(24) LOAD FMAS(48) LOAD FMAS(72)          \
                     "addq $96, %%r8\n\t"                                                                            \
                     "decq %%r11\n\t"                                                                                 \
                     "jnz 1b\n\t"                                                                                     \
                     "2:\n\t"                                                                                         \
                     "testq %%rcx, %%rcx\n\t"                                                                         \
                     "jz 4f\n\t"                                                                                      \
                     "3:\n\t" LOAD FMAS(0) "addq $24, %%r8\n\t"                                                       \
                     "decq %%rcx\n\t"                                                                                 \
                     "jnz 3b\n\t"                                                                                     \
                     "4:\n\t"                                                                                         \
                     : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),           \
                       [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),           \
                       [c50] "+x"(c50), [c51] "+x"(c51)                                                               \
                     : [args] "r"(args), [hi] "m"(subq_avx2_hi16_mask)                                                \
                     : "r8", "r9", "r10", "r11", "rcx", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");          \
    INTERLEAVE(c00, c01);                                                                                             \
    INTERLEAVE(c10, c11);                                                                                             \
    INTERLEAVE(c20, c21);                                                                                             \
    INTERLEAVE(c30, c31);                                                                                             \
    INTERLEAVE(c40, c41);                                                                                             \
    INTERLEAVE(c50, c51);                                                                                             \
    subq_avx2_store_6x16(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c, c_rs, c_cs, mr, nr, alpha,    \
                         beta);                                                                                       \
  }

/* f32 B: the accumulators already hold columns (0-7, 8-15). */
#define SUBQ_6X16_IN_ORDER(e, o) ((void)0)
/* bf16 B: (even, odd) columns -> (0-7, 8-15). */
#define SUBQ_6X16_EVEN_ODD(e, o)                                                                 \
  do {                                                                                           \
    const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o); /* 0-3|8-11, 4-7|12-15 */ \
    e = _mm256_permute2f128_ps(lo, hi, 0x20);                                                    \
    o = _mm256_permute2f128_ps(lo, hi, 0x31);                                                    \
  } while (0)

SUBQ_6X16_KERNEL(subq_f32_gemm_ukernel_6x16__avx2, float, SUBQ_6X16_LOAD_F32, SUBQ_6X16_IN_ORDER, SUBQ_6X16_FMAS)
/* bf16 B panels: 1 load and 2 integer ops a step instead of 2 loads; the same FMA
 * chains as the f32 kernel on the widened panel. */
SUBQ_6X16_KERNEL(subq_f32wbf16_gemm_ukernel_6x16__avx2, uint16_t, SUBQ_6X16_LOAD_BF16, SUBQ_6X16_EVEN_ODD,
                 SUBQ_6X16_FMAS)
/* Short tiles (mr <= 4, <= 2): the decode-batch and edge-row-block case. */
SUBQ_6X16_KERNEL(subq_f32_gemm_ukernel_6x16r4__avx2, float, SUBQ_6X16_LOAD_F32, SUBQ_6X16_IN_ORDER, SUBQ_4X16_FMAS)
SUBQ_6X16_KERNEL(subq_f32wbf16_gemm_ukernel_6x16r4__avx2, uint16_t, SUBQ_6X16_LOAD_BF16, SUBQ_6X16_EVEN_ODD,
                 SUBQ_4X16_FMAS)
SUBQ_6X16_KERNEL(subq_f32_gemm_ukernel_6x16r2__avx2, float, SUBQ_6X16_LOAD_F32, SUBQ_6X16_IN_ORDER, SUBQ_2X16_FMAS)
SUBQ_6X16_KERNEL(subq_f32wbf16_gemm_ukernel_6x16r2__avx2, uint16_t, SUBQ_6X16_LOAD_BF16, SUBQ_6X16_EVEN_ODD,
                 SUBQ_2X16_FMAS)

/* ---- small M: dot products against contiguous columns of B --------------- */

static inline __m256 subq_avx2_load_bf16(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* R rows x C columns: R*C accumulators of 8 k-lanes; lanes, then the k tail. */
#define SUBQ_DOT_BLOCK(NAME, R, C, BT, LOADB, WIDEN)                                                              \
  static inline void NAME(int64_t k, const float *a, int64_t lda, const BT *b, int64_t ldb, float *c, int64_t c_rs, \
                          int64_t c_cs, float alpha, float beta) {                                                  \
    __m256 acc[R][C];                                                                                               \
    for (int r = 0; r < R; r++)                                                                                     \
      for (int q = 0; q < C; q++) acc[r][q] = _mm256_setzero_ps();                                                  \
    int64_t p = 0;                                                                                                  \
    for (; p + 8 <= k; p += 8) {                                                                                    \
      /* stream the next C columns too: twice the memory parallelism */                                            \
      for (int q = 0; q < C; q++) _mm_prefetch((const char *)(b + (C + q) * ldb + p), _MM_HINT_T0);                \
      __m256 bv[C];                                                                                                 \
      for (int q = 0; q < C; q++) bv[q] = LOADB(b + q * ldb + p);                                                   \
      for (int r = 0; r < R; r++) {                                                                                 \
        const __m256 av = _mm256_loadu_ps(a + r * lda + p);                                                         \
        for (int q = 0; q < C; q++) acc[r][q] = _mm256_fmadd_ps(av, bv[q], acc[r][q]);                              \
      }                                                                                                             \
    }                                                                                                               \
    for (int r = 0; r < R; r++)                                                                                     \
      for (int q = 0; q < C; q++) {                                                                                 \
        float s = subq_avx2_hsum(acc[r][q]);                                                                        \
        for (int64_t t = p; t < k; t++) s = fmaf(a[r * lda + t], WIDEN(b[q * ldb + t]), s);                         \
        float *cij = c + r * c_rs + q * c_cs;                                                                       \
        *cij = subq_gemm_out(s, alpha, beta, cij);                                                                  \
      }                                                                                                             \
  }

#define SUBQ_F32_ID(x) (x)
SUBQ_DOT_BLOCK(subq_avx2_dot_3x4_f32, 3, 4, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_2x4_f32, 2, 4, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_1x4_f32, 1, 4, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_3x1_f32, 3, 1, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_2x1_f32, 2, 1, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_1x1_f32, 1, 1, float, _mm256_loadu_ps, SUBQ_F32_ID)
SUBQ_DOT_BLOCK(subq_avx2_dot_3x4_bf16, 3, 4, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)
SUBQ_DOT_BLOCK(subq_avx2_dot_2x4_bf16, 2, 4, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)
SUBQ_DOT_BLOCK(subq_avx2_dot_1x4_bf16, 1, 4, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)
SUBQ_DOT_BLOCK(subq_avx2_dot_3x1_bf16, 3, 1, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)
SUBQ_DOT_BLOCK(subq_avx2_dot_2x1_bf16, 2, 1, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)
SUBQ_DOT_BLOCK(subq_avx2_dot_1x1_bf16, 1, 1, uint16_t, subq_avx2_load_bf16, subq_bf16_to_f32_1)

#define SUBQ_DOT_DRIVER(NAME, BT, SUF)                                                                             \
  void NAME(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *bv, int64_t ldb, float *c,   \
            int64_t c_rs, int64_t c_cs, float alpha, float beta) {                                                \
    const BT *b = (const BT *)bv;                                                                                  \
    int64_t j = 0;                                                                                                 \
    for (; j + 4 <= n; j += 4) {                                                                                   \
      int64_t i = 0;                                                                                               \
      for (; i + 3 <= m; i += 3)                                                                                   \
        subq_avx2_dot_3x4_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
      if (m - i == 2)                                                                                              \
        subq_avx2_dot_2x4_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
      else if (m - i == 1)                                                                                         \
        subq_avx2_dot_1x4_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
    }                                                                                                              \
    for (; j < n; j++) {                                                                                           \
      int64_t i = 0;                                                                                               \
      for (; i + 3 <= m; i += 3)                                                                                   \
        subq_avx2_dot_3x1_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
      if (m - i == 2)                                                                                              \
        subq_avx2_dot_2x1_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
      else if (m - i == 1)                                                                                         \
        subq_avx2_dot_1x1_##SUF(k, a + i * lda, lda, b + j * ldb, ldb, c + i * c_rs + j * c_cs, c_rs, c_cs, alpha,  \
                                beta);                                                                             \
    }                                                                                                              \
  }

SUBQ_DOT_DRIVER(subq_f32_gemm_dot_ukernel_3x4__avx2, float, f32)
SUBQ_DOT_DRIVER(subq_f32wbf16_gemm_dot_ukernel_3x4__avx2, uint16_t, bf16)

/* ---- small M: one row of A times rows of B ---------------------------------- */

/* NV vectors of columns, k unrolled U ways into separate accumulators (U*NV
 * = 8 chains hide the FMA latency), summed u = 0, 1, ... at the end. */
#define SUBQ_ROWS_BLOCK(NAME, NV, U, BT, LOADB)                                                                \
  static inline void NAME(int64_t k, const float *a, const BT *const *bq, int64_t ldb, float *c, int64_t c_cs, \
                          float alpha, float beta) {                                                            \
    __m256 acc[U][NV];                                                                                          \
    for (int u = 0; u < U; u++)                                                                                 \
      for (int v = 0; v < NV; v++) acc[u][v] = _mm256_setzero_ps();                                             \
    int64_t p = 0;                                                                                              \
    for (; p + U <= k; p += U)                                                                                  \
      for (int u = 0; u < U; u++) {                                                                             \
        const __m256 av = _mm256_broadcast_ss(a + p + u);                                                       \
        const int64_t o = (p + u) * ldb;                                                                        \
        for (int v = 0; v < NV; v++) acc[u][v] = _mm256_fmadd_ps(av, LOADB(bq[v] + o), acc[u][v]);             \
      }                                                                                                         \
    for (; p < k; p++) {                                                                                        \
      const __m256 av = _mm256_broadcast_ss(a + p);                                                             \
      for (int v = 0; v < NV; v++) acc[0][v] = _mm256_fmadd_ps(av, LOADB(bq[v] + p * ldb), acc[0][v]);          \
    }                                                                                                           \
    for (int u = 1; u < U; u++)                                                                                 \
      for (int v = 0; v < NV; v++) acc[0][v] = _mm256_add_ps(acc[0][v], acc[u][v]);                             \
    const __m256 valpha = _mm256_set1_ps(alpha);                                                                \
    for (int v = 0; v < NV; v++) {                                                                              \
      if (c_cs == 1) {                                                                                          \
        _mm256_storeu_ps(c + 8 * v, subq_avx2_out(acc[0][v], valpha, beta, c + 8 * v));                        \
      } else {                                                                                                  \
        float t[8];                                                                                             \
        _mm256_storeu_ps(t, acc[0][v]);                                                                         \
        for (int l = 0; l < 8; l++) {                                                                           \
          float *cj = c + (8 * v + l) * c_cs;                                                                   \
          *cj = subq_gemm_out(t[l], alpha, beta, cj);                                                           \
        }                                                                                                       \
      }                                                                                                         \
    }                                                                                                           \
  }

SUBQ_ROWS_BLOCK(subq_avx2_rows_8_f32, 8, 1, float, _mm256_loadu_ps)
SUBQ_ROWS_BLOCK(subq_avx2_rows_4_f32, 4, 2, float, _mm256_loadu_ps)
SUBQ_ROWS_BLOCK(subq_avx2_rows_2_f32, 2, 4, float, _mm256_loadu_ps)
SUBQ_ROWS_BLOCK(subq_avx2_rows_1_f32, 1, 8, float, _mm256_loadu_ps)
SUBQ_ROWS_BLOCK(subq_avx2_rows_8_bf16, 8, 1, uint16_t, subq_avx2_load_bf16)
SUBQ_ROWS_BLOCK(subq_avx2_rows_4_bf16, 4, 2, uint16_t, subq_avx2_load_bf16)
SUBQ_ROWS_BLOCK(subq_avx2_rows_2_bf16, 2, 4, uint16_t, subq_avx2_load_bf16)
SUBQ_ROWS_BLOCK(subq_avx2_rows_1_bf16, 1, 8, uint16_t, subq_avx2_load_bf16)

#define SUBQ_ROWS_DRIVER(NAME, BT, SUF, WIDEN)                                                                \
  void NAME(int64_t w, int64_t k, const float *a, const void *bv, int64_t ldb, int64_t pw, int64_t pstride,     \
            float *c, int64_t c_cs, float alpha, float beta) {                                                  \
    const BT *b = (const BT *)bv;                                                                               \
    const BT *bq[8];                                                                                            \
    int64_t j = 0;                                                                                              \
    if (pw % 8 == 0 || pw >= w) {                                                                               \
      for (int nv = 8; nv >= 1; nv /= 2)                                                                        \
        for (; j + 8 * nv <= w; j += 8 * nv) {                                                                  \
          for (int v = 0; v < nv; v++) bq[v] = b + ((j + 8 * v) / pw) * pstride + (j + 8 * v) % pw;            \
          if (nv == 8) subq_avx2_rows_8_##SUF(k, a, bq, ldb, c + j * c_cs, c_cs, alpha, beta);                  \
          else if (nv == 4) subq_avx2_rows_4_##SUF(k, a, bq, ldb, c + j * c_cs, c_cs, alpha, beta);             \
          else if (nv == 2) subq_avx2_rows_2_##SUF(k, a, bq, ldb, c + j * c_cs, c_cs, alpha, beta);             \
          else subq_avx2_rows_1_##SUF(k, a, bq, ldb, c + j * c_cs, c_cs, alpha, beta);                          \
        }                                                                                                       \
    }                                                                                                           \
    for (; j < w; j++) {                                                                                        \
      const BT *bj = b + (j / pw) * pstride + j % pw;                                                           \
      float s = 0.0f;                                                                                           \
      for (int64_t p = 0; p < k; p++) s = fmaf(a[p], WIDEN(bj[p * ldb]), s);                                    \
      c[j * c_cs] = subq_gemm_out(s, alpha, beta, c + j * c_cs);                                                \
    }                                                                                                           \
  }

SUBQ_ROWS_DRIVER(subq_f32_gemm_rows_ukernel_1x64__avx2, float, f32, SUBQ_F32_ID)
SUBQ_ROWS_DRIVER(subq_f32wbf16_gemm_rows_ukernel_1x64__avx2, uint16_t, bf16, subq_bf16_to_f32_1)

SUBQ_ISA_END
#endif
