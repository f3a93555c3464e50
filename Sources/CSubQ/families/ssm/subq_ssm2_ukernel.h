/*
 * subq_ssm2_ukernel.h — micro-kernel contracts of the Mamba-2 (SSD) part of
 * the SSM family (internal).
 *
 * rec (the recurrence, spec §3.2): one sequence, one head, T <= SUBQ_SSD_TC
 *   tokens in order. dtv[t] and decay[t] = exp(dtv[t] * A) come from the
 *   driver (one portable computation shared by every path). x, y point at
 *   the head's channel 0 of token 0; b, c at the group's state column 0 of
 *   token 0; S is the head's state [N][P] (p innermost), read and written in
 *   place; d_skip is P floats or NULL. Per token and p (any p order):
 *   xd = dtv * x; for n ascending in tiles of 8: S = fma(decay, S, xd * B[n]);
 *   a whole tile's sum is (S·C over states 0-3, one mul then fmas) + (the
 *   same over states 4-7) (two chains: half the latency), a last partial
 *   tile one chain; y starts at 0 and adds the tile sums in order; then
 *   y = fma(Dskip, x, y). A given ISA computes the same bits for a token
 *   whatever T and the token's position in the call are (the scalar kernel
 *   follows the same order).
 * gemm: for i < M, j < Nc: acc = sum_k A(i,k) * B[k][j] over k < K
 *   ascending (the first term a product, then one fma per k), with
 *   A(i,k) = A[i * a_rs + k * a_cs], rows of B at ldb, rows of C at ldc;
 *   acc *= row_scale[i] if row_scale; acc = fma(beta, C[i][j], acc) if
 *   beta != 0 (C is not read when beta == 0); C[i][j] = acc. With
 *   k_tri >= 0, A(i,k) == 0 for k > k_tri + i and the kernel may skip those
 *   terms (the causal mask of the chunk form). The scalar and SIMD kernels
 *   agree up to the sign of zero sums.
 * rmsnorm: one row of `width` channels in groups of `gs`, as
 *   subq_gated_rmsnorm_f32 (z, weight may be NULL); out may equal y.
 */
#ifndef SUBQ_SSM2_UKERNEL_H
#define SUBQ_SSM2_UKERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_isa.h"

#define SUBQ_SSD_TC 32 /* tokens per recurrence call (time block) */
/* Scratch of the recurrence ukernel for head_dim P: per time block xd and y
 * partials of every p-vector (P rounded up to 8 lanes). */
#define SUBQ_SSD_REC_WORK_FLOATS(P) (2 * SUBQ_SSD_TC * (((P) + 7) / 8 * 8))

typedef struct subq_ssd_rec_params {
  int64_t T, N, P;
  const float *dtv, *decay;
  const float *x;
  int64_t x_ld;
  const float *b, *c;
  int64_t b_ld, c_ld;
  const float *d_skip;
  float *S;
  float *y;
  int64_t y_ld;
  float *work; /* SUBQ_SSD_REC_WORK_FLOATS(P), 64-byte aligned */
} subq_ssd_rec_params;

typedef void (*subq_f32_ssd_rec_fn)(const subq_ssd_rec_params *p);
typedef void (*subq_f32_ssd_gemm_fn)(int64_t M, int64_t Nc, int64_t K, const float *A, int64_t a_rs, int64_t a_cs,
                                     const float *B, int64_t ldb, float *C, int64_t ldc, const float *row_scale,
                                     float beta, int64_t k_tri);
typedef void (*subq_f32_gated_rmsnorm_fn)(int64_t width, int64_t gs, float eps, bool norm_before_gate,
                                          const float *y, const float *z, const float *weight, float *out);

#define SUBQ_SSM2_UKERNEL(isa, rec, gemm, norm)                                                              \
  void rec(const subq_ssd_rec_params *p);                                                                  \
  void gemm(int64_t M, int64_t Nc, int64_t K, const float *A, int64_t a_rs, int64_t a_cs, const float *B,   \
            int64_t ldb, float *C, int64_t ldc, const float *row_scale, float beta, int64_t k_tri);         \
  void norm(int64_t width, int64_t gs, float eps, bool norm_before_gate, const float *y, const float *z,      \
            const float *weight, float *out);
#include "families/ssm/subq_ssm2_impls.inc"
#undef SUBQ_SSM2_UKERNEL

#endif
