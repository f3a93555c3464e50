/*
 * subq_f32_linattn_scalar.c — portable linear-attention micro-kernels (the
 * reference path every ISA is compared with): a plain triple-loop GEMM with
 * explicit fmaf and the fused decode pass over the state.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_internal.h"

void subq_f32_linattn_gemm_ukernel__scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                           int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                           int64_t k_tri) {
  for (int64_t i = 0; i < M; i++) {
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i + 1) : K;
    float *ci = C + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < N; j++) ci[j] = 0.0f;
    for (int64_t k = 0; k < kl; k++) {
      const float a = A[i * a_rs + k * a_cs];
      const float *bk = B + k * ldb;
      for (int64_t j = 0; j < N; j++) ci[j] = fmaf(a, bk[j], ci[j]);
    }
  }
}

void subq_f32_linattn_step_ukernel__scalar(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                           const float *v, const float *decay, float *S, float *y) {
  for (int64_t j = 0; j < dv; j++) y[j] = 0.0f;
  for (int64_t d = 0; d < D; d++) {
    float *sd = S + d * dv;
    const float pk = phik[d], pq = phiq[d];
    if (decay) {
      const float a = decay[d];
      for (int64_t j = 0; j < dv; j++) sd[j] = fmaf(pk, v[j], a * sd[j]);
    } else {
      for (int64_t j = 0; j < dv; j++) sd[j] = fmaf(pk, v[j], sd[j]);
    }
    for (int64_t j = 0; j < dv; j++) y[j] = fmaf(pq, sd[j], y[j]);
  }
}
