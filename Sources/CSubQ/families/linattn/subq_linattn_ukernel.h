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
 */
#ifndef SUBQ_LINATTN_UKERNEL_H
#define SUBQ_LINATTN_UKERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_isa.h"

typedef void (*subq_f32_linattn_gemm_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                         int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                         int64_t k_tri);
typedef void (*subq_f32_linattn_step_fn)(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                         const float *v, const float *decay, float *S, float *y);

#define SUBQ_LINATTN_UKERNEL(isa, gemm, step)                                                              \
  void gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs, int64_t a_cs, const float *B,    \
            int64_t ldb, float *C, int64_t ldc, bool accumulate, int64_t k_tri);                           \
  void step(int64_t D, int64_t dv, const float *phiq, const float *phik, const float *v, const float *decay, \
            float *S, float *y);
#include "families/linattn/subq_linattn_impls.inc"
#undef SUBQ_LINATTN_UKERNEL

#endif
