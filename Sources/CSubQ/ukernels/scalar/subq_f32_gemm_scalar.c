/*
 * subq_f32_gemm_scalar.c — portable GEMM micro-kernels (the reference path
 * every host can run; also the last entry of subq_gemm_impls.inc).
 * FMAs are explicit (fmaf) so every build rounds the same way.
 */
#include <math.h>

#include "families/gemm/subq_gemm_ukernel.h"

void subq_f32_gemm_ukernel_4x4__scalar(int64_t kc, const float *a, const float *b, int64_t ldb, float *c, int64_t c_rs,
                                       int64_t c_cs, int64_t mr, int64_t nr, float alpha, float beta) {
  float acc[4][4] = {{0}};
  for (int64_t p = 0; p < kc; p++) {
    const float *ap = a + p * 4, *bp = b + p * ldb;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) acc[i][j] = fmaf(ap[i], bp[j], acc[i][j]);
  }
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float *cij = c + i * c_rs + j * c_cs;
      *cij = subq_gemm_out(acc[i][j], alpha, beta, cij);
    }
}

void subq_f32wbf16_gemm_ukernel_4x4__scalar(int64_t kc, const float *a, const uint16_t *b, int64_t ldb, float *c,
                                           int64_t c_rs, int64_t c_cs, int64_t mr, int64_t nr, float alpha, float beta) {
  float acc[4][4] = {{0}};
  for (int64_t p = 0; p < kc; p++) {
    const float *ap = a + p * 4;
    const uint16_t *bp = b + p * ldb;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) acc[i][j] = fmaf(ap[i], subq_bf16_to_f32_1(bp[j]), acc[i][j]);
  }
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float *cij = c + i * c_rs + j * c_cs;
      *cij = subq_gemm_out(acc[i][j], alpha, beta, cij);
    }
}

static void subq_gemm_dot_scalar(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const void *b,
                                 int64_t ldb, bool bf16, float *c, int64_t c_rs, int64_t c_cs, float alpha,
                                 float beta) {
  for (int64_t j = 0; j < n; j++) {
    for (int64_t i = 0; i < m; i++) {
      const float *ai = a + i * lda;
      float acc = 0.0f;
      if (bf16) {
        const uint16_t *bj = (const uint16_t *)b + j * ldb;
        for (int64_t p = 0; p < k; p++) acc = fmaf(ai[p], subq_bf16_to_f32_1(bj[p]), acc);
      } else {
        const float *bj = (const float *)b + j * ldb;
        for (int64_t p = 0; p < k; p++) acc = fmaf(ai[p], bj[p], acc);
      }
      float *cij = c + i * c_rs + j * c_cs;
      *cij = subq_gemm_out(acc, alpha, beta, cij);
    }
  }
}

void subq_f32_gemm_dot_ukernel_3x4__scalar(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                           const void *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs,
                                           float alpha, float beta) {
  subq_gemm_dot_scalar(m, n, k, a, lda, b, ldb, false, c, c_rs, c_cs, alpha, beta);
}

void subq_f32wbf16_gemm_dot_ukernel_3x4__scalar(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                                const void *b, int64_t ldb, float *c, int64_t c_rs, int64_t c_cs,
                                                float alpha, float beta) {
  subq_gemm_dot_scalar(m, n, k, a, lda, b, ldb, true, c, c_rs, c_cs, alpha, beta);
}

static void subq_gemm_rows_scalar(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb, int64_t pw,
                                  int64_t pstride, bool bf16, float *c, int64_t c_cs, float alpha, float beta) {
  float acc[SUBQ_GEMM_ROWS_MAX_W];
  int64_t off[SUBQ_GEMM_ROWS_MAX_W];
  for (int64_t j = 0; j < w; j++) acc[j] = 0.0f, off[j] = (j / pw) * pstride + j % pw;
  for (int64_t p = 0; p < k; p++) {
    const float ap = a[p];
    if (bf16) {
      const uint16_t *bp = (const uint16_t *)b + p * ldb;
      for (int64_t j = 0; j < w; j++) acc[j] = fmaf(ap, subq_bf16_to_f32_1(bp[off[j]]), acc[j]);
    } else {
      const float *bp = (const float *)b + p * ldb;
      for (int64_t j = 0; j < w; j++) acc[j] = fmaf(ap, bp[off[j]], acc[j]);
    }
  }
  for (int64_t j = 0; j < w; j++) c[j * c_cs] = subq_gemm_out(acc[j], alpha, beta, c + j * c_cs);
}

void subq_f32_gemm_rows_ukernel_1x64__scalar(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb,
                                             int64_t pw, int64_t pstride, float *c, int64_t c_cs, float alpha,
                                             float beta) {
  subq_gemm_rows_scalar(w, k, a, b, ldb, pw, pstride, false, c, c_cs, alpha, beta);
}

void subq_f32wbf16_gemm_rows_ukernel_1x64__scalar(int64_t w, int64_t k, const float *a, const void *b, int64_t ldb,
                                                  int64_t pw, int64_t pstride, float *c, int64_t c_cs, float alpha,
                                                  float beta) {
  subq_gemm_rows_scalar(w, k, a, b, ldb, pw, pstride, true, c, c_cs, alpha, beta);
}
