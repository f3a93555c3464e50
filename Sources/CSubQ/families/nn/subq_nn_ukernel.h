/*
 * subq_nn_ukernel.h — micro-kernel contracts of the nn family (internal).
 * Every kernel works on one row (or n contiguous elements); the driver loops
 * over rows and threads. Arithmetic contracts (all f32, no FMA except in the
 * SIMD sums of squares):
 *
 * rmsnorm (one row of `cols`, groups of `group` columns, group | cols):
 *   s = x (+ res if res); sum[c] = s if sum; v = s (* silu(gate) if gate);
 *   per group: ss = sum of v^2 in the ISA's fixed partial-sum order,
 *   inv = 1.0f / sqrtf(ss / (float)group + eps); y = w * (v * inv) (y = v *
 *   inv without w). Any of sum / y may be identical to x / res / gate: every
 *   element is read before the same element is written, and the second pass
 *   reads v back from y when the first pass had to store it.
 * rope_rotate: heads rows at x + h * hstride: for i < half:
 *   a = x[i], b = x[i + half]; x[i] = a*c[i] - b*s[i]; x[i + half] = b*c[i] + a*s[i].
 * swiglu: o = silu(g) * u; silu(x) = x / (1 + subq_expf_u2(-x)). silu: y = silu(x). add: o = a + b.
 * cvt_*: see subq_convert in subq_nn.h; every path gives the bits of the scalar one.
 * Kernels accept in-place calls where the output pointer equals an input pointer.
 */
#ifndef SUBQ_NN_UKERNEL_H
#define SUBQ_NN_UKERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_isa.h"

typedef void (*subq_f32_nn_rmsnorm_fn)(const float *x, const float *res, const float *gate, float *sum, float *y,
                                       int64_t cols, int64_t group, float eps, subq_dtype wdt, const void *w);
typedef void (*subq_f32_nn_rope_fn)(float *x, int64_t heads, int64_t hstride, int64_t half, const float *c,
                                    const float *s);
typedef void (*subq_f32_nn_binary_fn)(const float *a, const float *b, float *o, int64_t n);
typedef void (*subq_f32_nn_unary_fn)(const float *x, float *y, int64_t n);
typedef void (*subq_nn_to16_fn)(const float *x, uint16_t *y, int64_t n);
typedef void (*subq_nn_from16_fn)(const uint16_t *x, float *y, int64_t n);

#define SUBQ_NN_UKERNEL(isa, sfx)                                                                           \
  void subq_f32_nn_rmsnorm_ukernel__##sfx(const float *x, const float *res, const float *gate, float *sum,   \
                                           float *y, int64_t cols, int64_t group, float eps, subq_dtype wdt, \
                                           const void *w);                                                   \
  void subq_f32_nn_rope_ukernel__##sfx(float *x, int64_t heads, int64_t hstride, int64_t half, const float *c, \
                                        const float *s);                                                     \
  void subq_f32_nn_swiglu_ukernel__##sfx(const float *g, const float *u, float *o, int64_t n);              \
  void subq_f32_nn_add_ukernel__##sfx(const float *a, const float *b, float *o, int64_t n);                 \
  void subq_f32_nn_silu_ukernel__##sfx(const float *x, float *y, int64_t n);                                \
  void subq_nn_cvt_f32_bf16_ukernel__##sfx(const float *x, uint16_t *y, int64_t n);                         \
  void subq_nn_cvt_bf16_f32_ukernel__##sfx(const uint16_t *x, float *y, int64_t n);                         \
  void subq_nn_cvt_f32_f16_ukernel__##sfx(const float *x, uint16_t *y, int64_t n);                          \
  void subq_nn_cvt_f16_f32_ukernel__##sfx(const uint16_t *x, float *y, int64_t n);
#include "families/nn/subq_nn_impls.inc"
#undef SUBQ_NN_UKERNEL

/* Scalar conversions (kernel tails): internal/subq_half.h. */
#include "internal/subq_half.h"

#endif
