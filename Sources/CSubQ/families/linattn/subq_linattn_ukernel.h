/*
 * subq_linattn_ukernel.h — micro-kernel contracts of the linear-attention
 * family (internal).
 *
 * gemm: C[i][j] = (accumulate ? C[i][j] : 0) + sum_k A(i, k) * B[k * ldb + j], A(i, k) = A[i * a_rs + k * a_cs]
 *   for i < M, j < N, k < K ascending (one fma per term; with accumulate the
 *   sum starts from C, else from the first product). With k_tri >= 0 the
 *   terms k > k_tri + i are zero and may be skipped (causal intra-chunk
 *   product); k_tri < 0 means none. M, N, K >= 0; K == 0 writes
 *   accumulate ? C : 0. C does not overlap A or B.
 * step: the fused decode pass over one head's state S (D rows of dv floats,
 *   row stride dv): for d ascending S[d][:] = decay[d] * S[d][:] + phik[d] * v
 *   (decay NULL = 1), y[:] = sum_d phiq[d] * S[d][:] (after the update).
 *   Scalar and SIMD paths agree within f32 rounding (no bitwise contract).
 * The per-chunk elementwise kernels (each a pure function of its arguments,
 * so results never depend on the thread split; paths of different ISAs agree
 * within f32 rounding):
 * tload: XT[d * ldx + i] = scale * x[i * ld + d] for i < c, d < dk (the
 *   transposed, scaled dot rows of c tokens with row stride ld).
 * taylor: features n0 <= n < n1 of the compact Taylor map (subq_la_feature)
 *   of c scaled rows given transposed (XT, dk x c, row stride ldx), feature
 *   n in row n - n0 of P (row stride ldp); rs (may be NULL) receives the
 *   row sums rs[n - n0] (a fixed summation order per ISA).
 * qpanel: all D features of the m (1..SUBQ_LA_QPANEL) tokens in columns
 *   i0..i0+m-1 of XT, feature-major with SUBQ_LA_QPANEL lanes: P[n *
 *   SUBQ_LA_QPANEL + r] for r < m (lanes r >= m are unspecified); with s,
 *   z8[r] = sum_n P[n * SUBQ_LA_QPANEL + r] * s[n] for r < m (four fma chains
 *   over n = 0, 4, 8, ... / 1, 5, ... / ..., then (c0 + c1) + (c2 + c3)).
 * intra: on the c x c block A (row stride lda): with poly, A[i][j] = 1 +
 *   A[i][j] + A[i][j]^2 / 2 for j <= i (the Taylor kernel of s = A); A[i][j] = 0
 *   for i < j < c; z (may be NULL) z[i] = sum_{j <= i} A[i][j] (after poly).
 *   Entries above the diagonal are never read (may be garbage or NaN).
 * zstate: z[i] += sum_d P[d * ldp + i] * s[d] for i < c, d < D.
 * rowsum: s[d] += sum_{i < c} P[d * ldp + i] for d < D.
 * outrows: out[i * ld + :dv] = O[i * ldo + :dv] * (1 / (z[i] + eps)) for i < c
 *   (z NULL: a copy). stream: a hint that out will not be read soon (the
 *   kernel may write around the caches with weakly ordered stores; the values
 *   are the same). After its last streamed call a caller calls it once more
 *   with c == 0 and stream, which orders every earlier store (a fence) before
 *   anyone else reads out.
 */
#ifndef SUBQ_LINATTN_UKERNEL_H
#define SUBQ_LINATTN_UKERNEL_H

/* Lanes of a query feature panel: a multiple of 8 (AVX2 vectors) and of 6
 * (the gemm ukernels' tile height), so that panels feed whole tiles. */
#define SUBQ_LA_QPANEL 24

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_isa.h"

typedef void (*subq_f32_linattn_gemm_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                         int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                         int64_t k_tri);
typedef void (*subq_f32_linattn_step_fn)(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                         const float *v, const float *decay, float *S, float *y);
typedef void (*subq_f32_linattn_tload_fn)(int64_t c, int64_t dk, const float *x, int64_t ld, float scale, float *XT,
                                          int64_t ldx);
typedef void (*subq_f32_linattn_taylor_fn)(int64_t dk, int64_t c, const float *XT, int64_t ldx, int64_t n0,
                                           int64_t n1, float *P, int64_t ldp, float *rs);
typedef void (*subq_f32_linattn_qpanel_fn)(int64_t dk, const float *XT, int64_t ldx, int64_t i0, int m, float *P,
                                           const float *s, float *z8);
typedef void (*subq_f32_linattn_intra_fn)(int64_t c, float *A, int64_t lda, bool poly, float *z);
typedef void (*subq_f32_linattn_zstate_fn)(int64_t D, int64_t c, const float *P, int64_t ldp, const float *s,
                                           float *z);
typedef void (*subq_f32_linattn_rowsum_fn)(int64_t D, int64_t c, const float *P, int64_t ldp, float *s);
typedef void (*subq_f32_linattn_outrows_fn)(int64_t c, int64_t dv, const float *O, int64_t ldo, const float *z,
                                            float eps, float *out, int64_t ld, bool stream);

/* Feature n of the compact Taylor map [1, x_i, x_i^2 / sqrt2, x_i x_j (i < j,
 * row-major)] over dk inputs: the product of x_a (a < 0: 1) and x_b (b < 0:
 * 1), times 1/sqrt2 when sq (then a == b). */
static inline void subq_la_feature(int64_t dk, int64_t n, int64_t *a, int64_t *b, bool *sq) {
  *sq = false;
  if (n == 0) {
    *a = *b = -1;
  } else if (n <= dk) {
    *a = n - 1, *b = -1;
  } else if (n <= 2 * dk) {
    *a = *b = n - 1 - dk, *sq = true;
  } else {
    int64_t m = n - 1 - 2 * dk, i = 0;
    while (m >= dk - 1 - i) m -= dk - 1 - i, i++;
    *a = i, *b = i + 1 + m;
  }
}

#define SUBQ_LINATTN_UKERNEL(isa, gemm, step, tload, taylor, qpanel, intra, zstate, rowsum, outrows)                  \
  void gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs, int64_t a_cs, const float *B,             \
            int64_t ldb, float *C, int64_t ldc, bool accumulate, int64_t k_tri);                                    \
  void step(int64_t D, int64_t dv, const float *phiq, const float *phik, const float *v, const float *decay,          \
            float *S, float *y);                                                                                    \
  void tload(int64_t c, int64_t dk, const float *x, int64_t ld, float scale, float *XT, int64_t ldx);                \
  void taylor(int64_t dk, int64_t c, const float *XT, int64_t ldx, int64_t n0, int64_t n1, float *P, int64_t ldp,    \
              float *rs);                                                                                           \
  void qpanel(int64_t dk, const float *XT, int64_t ldx, int64_t i0, int m, float *P, const float *s, float *z8);     \
  void intra(int64_t c, float *A, int64_t lda, bool poly, float *z);                                                 \
  void zstate(int64_t D, int64_t c, const float *P, int64_t ldp, const float *s, float *z);                          \
  void rowsum(int64_t D, int64_t c, const float *P, int64_t ldp, float *s);                                          \
  void outrows(int64_t c, int64_t dv, const float *O, int64_t ldo, const float *z, float eps, float *out, int64_t ld, bool stream);
#include "families/linattn/subq_linattn_impls.inc"
#undef SUBQ_LINATTN_UKERNEL

/* Sum of n floats in a fixed order (8 interleaved partial sums, then a fixed
 * tree): the order the AVX2 kernels keep with one 8-lane accumulator, so the
 * scalar kernels and the driver give the same bits as every vector path. */
static inline float subq_la_sum8(const float *x, int64_t n) {
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] += x[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

#endif
