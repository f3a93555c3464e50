/*
 * subq_gemm_ukernel.h — micro-kernel contracts of the GEMM family (internal).
 *
 * Packed layouts (written once by subq_gemm.c, read by every ISA):
 *   A micro-panel: MR rows x kc, element (i, p) at a[p * MR + i] (rows past the
 *     matrix edge are zero);
 *   B micro-panel: kc x NR, element (p, j) at b[p * ldb + j] (zero-padded);
 *     packed panels have ldb = NR (and are 32-byte aligned); the driver may
 *     also pass full-width rows of a row-major f32 B in place (any ldb).
 * A gemm ukernel computes the MR x NR product of one A and one B micro-panel
 * over kc, k in increasing order, one f32 FMA chain per element of C, and
 * writes the top-left mr x nr corner of it to C:
 *   C = alpha * acc            (beta == 0: C is not read)
 *   C = alpha * acc + beta * C (otherwise; two roundings, no FMA).
 * The gemm_bf16 ukernel is the same product over a bf16 B micro-panel (same
 * layout, element (p, j) at b[p * ldb + j], ldb in elements), widened exactly
 * in registers: its results have the bits of the f32 ukernel on the widened
 * panel (prepacked bf16 B keeps half the bytes of an f32 copy).
 *
 * Small-M (decode) ukernels stream B unpacked:
 *   dot:  B columns contiguous (b_rs == 1): c[i, j] for m <= 3 rows of A
 *         (contiguous f32, row stride lda) and 4 or fewer columns of B (column
 *         stride ldb), each a dot product over k.
 *   rows: B rows contiguous (b_cs == 1, or prepacked panels): one row of A
 *         times a k x w block of B (w <= 64), k in order; column j of row p
 *         at b[(j / pw) * pstride + j % pw + p * ldb] (pw = w for a plain
 *         row-major block; pw = NR, pstride = k * NR, ldb = NR for panels, so
 *         several panels stream side by side). pw is a multiple of the
 *         ukernel's vector width or >= w.
 * bf16 variants read B as bf16 and widen it exactly in registers.
 * Results are written with the alpha/beta rule above.
 */
#ifndef SUBQ_GEMM_UKERNEL_H
#define SUBQ_GEMM_UKERNEL_H

#include "internal/subq_half.h" /* bf16 B operands: subq_bf16_to_f32_1 in the scalar tails */
#include "internal/subq_isa.h"

typedef void (*subq_f32_gemm_ukernel_fn)(int64_t kc, const float *a, const float *b, int64_t ldb, float *c, int64_t c_rs,
                                          int64_t c_cs, int64_t mr, int64_t nr, float alpha, float beta);
typedef void (*subq_f32wbf16_gemm_ukernel_fn)(int64_t kc, const float *a, const uint16_t *b, int64_t ldb, float *c,
                                              int64_t c_rs, int64_t c_cs, int64_t mr, int64_t nr, float alpha,
                                              float beta);
typedef void (*subq_f32_gemm_dot_fn)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *b,
                                      int64_t ldb, float *c, int64_t c_rs, int64_t c_cs, float alpha, float beta);
typedef void (*subq_f32_gemm_rows_fn)(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb, int64_t pw,
                                       int64_t pstride, float *c, int64_t c_cs, float alpha, float beta);

/* Maximum register tile of any ukernel (sizes the edge buffers). */
#define SUBQ_GEMM_MAX_MR 16
#define SUBQ_GEMM_MAX_NR 32
/* Widest block the rows ukernels take. */
#define SUBQ_GEMM_ROWS_MAX_W 64

/* Prototypes of every entry of the impl list. */
#define SUBQ_GEMM_UKERNEL(isa, gemm, gemm_bf16, mr, nr, dot_f32, dot_bf16, rows_f32, rows_bf16)          \
  void gemm(int64_t kc, const float *a, const float *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs,   \
            int64_t mr_, int64_t nr_, float alpha, float beta);                                             \
  void gemm_bf16(int64_t kc, const float *a, const uint16_t *b, int64_t ldb, float *c, int64_t c_rs,         \
                 int64_t c_cs, int64_t mr_, int64_t nr_, float alpha, float beta);                          \
  void dot_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *b, int64_t ldb,    \
               float *c, int64_t c_rs, int64_t c_cs, float alpha, float beta);                              \
  void dot_bf16(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *b, int64_t ldb,   \
                float *c, int64_t c_rs, int64_t c_cs, float alpha, float beta);                             \
  void rows_f32(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb, int64_t pw,              \
                int64_t pstride, float *c, int64_t c_cs, float alpha, float beta);                          \
  void rows_bf16(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb, int64_t pw,             \
                 int64_t pstride, float *c, int64_t c_cs, float alpha, float beta);
#include "families/gemm/subq_gemm_impls.inc"
#undef SUBQ_GEMM_UKERNEL

/* Short-tile ukernels (subq_gemm_short_tiles.inc): an edge tile of at most `rows`
 * rows (m = 2..4 of a decode batch, the last row block of any m) costs rows/MR of
 * the FMAs, and its results have the bits of the full ukernel's. */
#define SUBQ_GEMM_SHORT_TILE(main, rows, f32, bf16)                                                        \
  void f32(int64_t kc, const float *a, const float *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs,  \
           int64_t mr_, int64_t nr_, float alpha, float beta);                                             \
  void bf16(int64_t kc, const float *a, const uint16_t *b, int64_t ldb, float *c, int64_t c_rs,            \
            int64_t c_cs, int64_t mr_, int64_t nr_, float alpha, float beta);
#include "families/gemm/subq_gemm_short_tiles.inc"
#undef SUBQ_GEMM_SHORT_TILE

/* The alpha/beta store rule, shared by every ISA's scalar tails. */
static inline float subq_gemm_out(float acc, float alpha, float beta, const float *c) {
  float t = alpha * acc;
  if (beta != 0.0f) t = t + beta * *c;
  return t;
}

#endif
