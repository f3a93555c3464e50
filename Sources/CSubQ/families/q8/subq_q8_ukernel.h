/*
 * subq_q8_ukernel.h — micro-kernel contract of the int8-weight linear
 * (internal; public API in Include/subq/subq_gemm.h).
 *
 * Weight layout (one copy, written by subq_q8.c, read by every ISA): row r of
 * W (an output feature) is SUBQ_Q8_ROW_BYTES(kp) bytes at w + r * rb: kp
 * int8 codes (kp = k rounded up to SUBQ_Q8_BLOCK, the padding codes 0), then
 * kp / SUBQ_Q8_BLOCK bf16 scales (uint16_t bit patterns, widened exactly to
 * f32), one per block of 32 codes. Rows are 2-byte aligned only.
 *
 * dot: y[i * y_rs + j] = sum over blocks b of scale(j, b) * (sum over the
 * block's p of x[i * ldx + p] * code(j, p)) for tokens i < m (m <=
 * SUBQ_Q8_MR) and rows j < n (n <= SUBQ_Q8_NR), f32 arithmetic: per block a
 * partial sum, then acc = fma(partial, scale, acc). x rows hold kp floats
 * (the driver pads them with zeros). Vector kernels do this per lane and add
 * the lanes at the end, so their order differs from the scalar twin's by the
 * usual f32 rounding only.
 */
#ifndef SUBQ_Q8_UKERNEL_H
#define SUBQ_Q8_UKERNEL_H

#include <stdint.h>
#include <string.h>

#include "internal/subq_half.h"
#include "internal/subq_isa.h"
#include "subq/subq_gemm.h" /* SUBQ_Q8_BLOCK */

#define SUBQ_Q8_ROW_BYTES(kp) ((kp) + (kp) / SUBQ_Q8_BLOCK * (int64_t)sizeof(uint16_t))
/* Register tile: tokens x weight rows. */
#define SUBQ_Q8_MR 2
#define SUBQ_Q8_NR 4

/* Scale of block b (of 32 codes) of a row whose codes are kp bytes, widened
 * exactly (memcpy: rows are only 2-byte aligned). */
static inline float subq_q8_scale(const uint8_t *row, int64_t kp, int64_t b) {
  uint16_t h;
  memcpy(&h, row + kp + b * (int64_t)sizeof h, sizeof h);
  return subq_bf16_to_f32_1(h);
}

typedef void (*subq_q8_dot_fn)(int64_t m, int64_t n, int64_t kp, const float *x, int64_t ldx, const uint8_t *w,
                               int64_t rb, float *y, int64_t y_rs);

#define SUBQ_Q8_UKERNEL(isa, dot) \
  void dot(int64_t m, int64_t n, int64_t kp, const float *x, int64_t ldx, const uint8_t *w, int64_t rb, float *y, \
           int64_t y_rs);
#include "families/q8/subq_q8_impls.inc"
#undef SUBQ_Q8_UKERNEL

#endif
