/*
 * subq_q8_scalar.c — portable int8-weight dot micro-kernel (the fallback and
 * the vector kernels' twin): per output and block of 32, part = the FMA chain
 * of x * code over the block, then acc = fma(part, scale, acc), blocks in
 * order.
 */
#include <math.h>
#include <string.h>

#include "families/q8/subq_q8_ukernel.h"

void subq_f32wq8_dot_ukernel_2x4__scalar(int64_t m, int64_t n, int64_t kp, const float *x, int64_t ldx,
                                         const uint8_t *w, int64_t rb, float *y, int64_t y_rs) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      const uint8_t *row = w + j * rb;
      const int8_t *codes = (const int8_t *)row;
      float acc = 0.0f;
      for (int64_t b0 = 0; b0 < kp; b0 += SUBQ_Q8_BLOCK) {
        const float s = subq_q8_scale(row, kp, b0 / SUBQ_Q8_BLOCK);
        float part = 0.0f;
        for (int64_t p = b0; p < b0 + SUBQ_Q8_BLOCK; p++) part = fmaf(x[i * ldx + p], (float)codes[p], part);
        acc = fmaf(part, s, acc);
      }
      y[i * y_rs + j] = acc;
    }
}
