/*
 * subq_f32_monarch_scalar.c — portable Monarch block-matmul micro-kernel (the
 * reference path; last entry of subq_monarch_impls.inc). FMAs are explicit
 * (fmaf) so every build, and every ISA path, rounds the same way.
 */
#include <math.h>

#include "families/monarch/subq_monarch_ukernel.h"

void subq_f32_monarch_bdmm_ukernel_4x4__scalar(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                                               float *c, int64_t c_rs, int64_t mr, int64_t nr, bool accumulate) {
  float acc[4][4] = {{0}};
  for (int64_t p = 0; p < kc; p++) {
    const float *bp = b + p * 4;
    for (int64_t i = 0; i < mr; i++) {
      const float ai = a[i * a_rs + p * a_cs];
      for (int j = 0; j < 4; j++) acc[i][j] = fmaf(ai, bp[j], acc[i][j]);
    }
  }
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float *cij = c + i * c_rs + j;
      *cij = accumulate ? *cij + acc[i][j] : acc[i][j];
    }
}
