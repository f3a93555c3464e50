/*
 * subq_q8_neon.c — AArch64 Advanced SIMD int8-weight dot micro-kernel: the
 * AVX2 kernel's scheme on 4 lanes (codes widened to int32 and converted, per
 * block the products summed in lanes, then scaled into the accumulators by
 * one FMA, lanes added once at the end). NEON is baseline on
 * AArch64: no target region.
 */
#include "families/q8/subq_q8_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>

void subq_f32wq8_dot_ukernel_2x4__neon(int64_t m, int64_t n, int64_t kp, const float *x, int64_t ldx,
                                       const uint8_t *w, int64_t rb, float *y, int64_t y_rs) {
  for (int64_t j0 = 0; j0 < n; j0 += 2) {
    const int64_t nc = SUBQ_MIN((int64_t)2, n - j0);
    float32x4_t acc[SUBQ_Q8_MR][2][2];
    for (int i = 0; i < SUBQ_Q8_MR; i++)
      for (int q = 0; q < 2; q++) acc[i][q][0] = acc[i][q][1] = vdupq_n_f32(0.0f);
    for (int64_t b0 = 0; b0 < kp; b0 += SUBQ_Q8_BLOCK) {
      float32x4_t part[SUBQ_Q8_MR][2][2];
      for (int i = 0; i < SUBQ_Q8_MR; i++)
        for (int q = 0; q < 2; q++) part[i][q][0] = part[i][q][1] = vdupq_n_f32(0.0f);
      for (int64_t p = b0; p < b0 + SUBQ_Q8_BLOCK; p += 8) {
        float32x4_t cv[2][2];
        for (int q = 0; q < 2; q++) {
          const int16x8_t c = vmovl_s8(vld1_s8((const int8_t *)(w + (j0 + (q < nc ? q : 0)) * rb) + p));
          cv[q][0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(c)));
          cv[q][1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(c)));
        }
        for (int i = 0; i < SUBQ_Q8_MR; i++) {
          const float *xr = x + (i < m ? i : 0) * ldx + p;
          const float32x4_t x0 = vld1q_f32(xr), x1 = vld1q_f32(xr + 4);
          for (int q = 0; q < 2; q++) {
            part[i][q][0] = vfmaq_f32(part[i][q][0], x0, cv[q][0]);
            part[i][q][1] = vfmaq_f32(part[i][q][1], x1, cv[q][1]);
          }
        }
      }
      for (int q = 0; q < 2; q++) {
        const float s = subq_q8_scale(w + (j0 + (q < nc ? q : 0)) * rb, kp, b0 / SUBQ_Q8_BLOCK);
        for (int i = 0; i < SUBQ_Q8_MR; i++) {
          acc[i][q][0] = vfmaq_n_f32(acc[i][q][0], part[i][q][0], s);
          acc[i][q][1] = vfmaq_n_f32(acc[i][q][1], part[i][q][1], s);
        }
      }
    }
    for (int64_t i = 0; i < m; i++)
      for (int64_t q = 0; q < nc; q++) y[i * y_rs + j0 + q] = vaddvq_f32(vaddq_f32(acc[i][q][0], acc[i][q][1]));
  }
}
#endif
