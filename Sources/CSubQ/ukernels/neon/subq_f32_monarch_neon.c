/*
 * subq_f32_monarch_neon.c — AArch64 Advanced SIMD Monarch block-matmul
 * micro-kernel: 8x8 tile (16 q accumulators, 2 B vectors), A broadcast from its
 * strided home. NEON is baseline on AArch64: no target region.
 */
#include "families/monarch/subq_monarch_ukernel.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>

void subq_f32_monarch_bdmm_ukernel_8x8__neon(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                                             float *c, int64_t c_rs, int64_t mr, int64_t nr, bool accumulate) {
  float32x4_t acc[8][2];
  for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
  const int64_t m = mr < 8 ? mr : 8;
  for (int64_t p = 0; p < kc; p++) {
    const float32x4_t b0 = vld1q_f32(b + p * 8), b1 = vld1q_f32(b + p * 8 + 4);
    const float *ap = a + p * a_cs;
    for (int64_t i = 0; i < m; i++) {
      const float32x4_t av = vld1q_dup_f32(ap + i * a_rs);
      acc[i][0] = vfmaq_f32(acc[i][0], av, b0);
      acc[i][1] = vfmaq_f32(acc[i][1], av, b1);
    }
  }
  float tile[8];
  for (int64_t i = 0; i < m; i++) {
    vst1q_f32(tile, acc[i][0]);
    vst1q_f32(tile + 4, acc[i][1]);
    float *ci = c + i * c_rs;
    for (int64_t j = 0; j < nr; j++) ci[j] = accumulate ? ci[j] + tile[j] : tile[j];
  }
}
#endif
