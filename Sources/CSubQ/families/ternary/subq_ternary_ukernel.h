/*
 * subq_ternary_ukernel.h — micro-kernel contracts of the ternary family
 * (internal). Layouts are those of subq_ternary.h (SQ2 / P16).
 *
 * gemm (MR <= 4 tokens x 16 rows of one panel):
 *   acc[t * 16 + i] += sum_{b < nkb} sum_{j < 16} c(i, 16b + j) * q[t * q_ld + 16b + j]
 *   for t < mr, i < 16, where c in {0,1,2} is the code of row i of the panel
 *   and w points at the panel's first 64-byte unit of the range (units are
 *   consecutive). The caller subtracts S. Exact int32: SIMD paths widen their
 *   int16 partials to int32 after at most 64 products of |c q| <= 254 per
 *   int16 lane pair (32,512 < 2^15). q rows are read for nkb * 16 bytes.
 * unpackw (one panel's nkb consecutive units from w): the wide layout of the
 *   panel's codes, one stream per group g of 4 rows (rows 4g..4g+3):
 *   u[g * g_ld + s * 16 + 4 i + j] = c(4g + i, 16b + 4m + j) for K-step
 *   s = 4b + m (4 columns each), b < nkb, g, i, j, m < 4.
 * gemmw (4 rows x 16 tokens, ns <= SUBQ_TERNARY_WIDE_NS K-steps):
 *   acc[i * acc_ld + t] += sum_{s < ns} sum_{j < 4} u[s * 16 + 4 i + j] *
 *   qv[s * 64 + 4 t + j] for i < 4, t < 16: u is one row group's stream
 *   (unpackw), qv the interleaved activations of 16 tokens (qv[s][t][j] =
 *   q[t][4 s + j]). Why: without VNNI, vpmaddubsw with the row's 4 codes
 *   broadcast and 8 tokens per vector needs no unpack and a quarter of the
 *   broadcasts of gemm. Each int16 lane (a token's pair of columns) adds one
 *   pair sum (|.| <= 508) per K-step: ns <= 64 keeps it below 2^15.
 * actq (one token row): the activation math of subq_ternary.h (RMSNorm with
 *   the fixed 16-partial order when norm, y = (x * r) * w, a, s = 127 / a,
 *   q = clamp(round(y * s), -127, 127) with `rounding`); q[k..k_pad) = 0;
 *   writes S and a. Every ISA gives the scalar bits.
 * hgrn_scan (channels [0, nc) of the given pointers, tokens 0..T-1 in order):
 *   the recurrence of subq_hgrn_f32, u[t * u_ld + c] = s_t; s_in NULL = 0;
 *   s_out may equal s_in. hgrn_gate (one token row of C channels): o holds s
 *   on entry and receives ((g * r) * w) * silu(s), r from the fixed 16-partial
 *   sum of squares of g (as actq).
 */
#ifndef SUBQ_TERNARY_UKERNEL_H
#define SUBQ_TERNARY_UKERNEL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_isa.h"

#define SUBQ_TERNARY_MR 4
#define SUBQ_TERNARY_WIDE_NS 64 /* K-steps (4 columns) per gemmw call, at most */
/* Software prefetch distance of the one-token gemm (bytes of SQ2 units ahead).
 * A decode GEMV reads every unit once, usually cold from DRAM; the hardware
 * prefetchers restart at each 4 KiB page, so the stream keeps this many bytes
 * in flight itself. The driver prefetches the first distance of each item's
 * contiguous panel range; the micro-kernel prefetches unit b + distance while
 * it reads unit b (past the range: the next item's units, or nothing, since
 * prefetches never fault). Measured on Zen 3 (BENCHMARKS.md). */
#ifndef SUBQ_TERNARY_PF_BYTES
#define SUBQ_TERNARY_PF_BYTES 2048
#endif

typedef void (*subq_i8wt2_gemm_fn)(int64_t nkb, const uint8_t *w, const int8_t *q, int64_t q_ld, int64_t mr,
                                   int32_t *acc);
typedef void (*subq_i8wt2_unpackw_fn)(int64_t nkb, const uint8_t *w, uint8_t *u, int64_t g_ld);
typedef void (*subq_i8wt2_gemmw_fn)(int64_t ns, const uint8_t *u, const int8_t *qv, int32_t *acc, int64_t acc_ld);
typedef void (*subq_ternary_actq_fn)(const float *x, const float *w, int64_t k, int64_t k_pad, bool norm, float eps,
                                     int rounding, int8_t *q, int32_t *sum, float *amax);
typedef void (*subq_hgrn_scan_fn)(int64_t T, int64_t nc, const float *i, int64_t i_ld, const float *f, int64_t f_ld,
                                  const float *lb, const float *s_in, float *s_out, float *u, int64_t u_ld);
typedef void (*subq_hgrn_gate_fn)(int64_t C, const float *g, const float *w, float eps, float *o);

#define SUBQ_TERNARY_UKERNEL(isa, sfx)                                                                            \
  void subq_i8wt2_ternary_gemm_ukernel_4x16__##sfx(int64_t nkb, const uint8_t *w, const int8_t *q, int64_t q_ld,   \
                                                   int64_t mr, int32_t *acc);                                     \
  void subq_i8wt2_ternary_unpackw_ukernel__##sfx(int64_t nkb, const uint8_t *w, uint8_t *u, int64_t g_ld);         \
  void subq_i8wt2_ternary_gemmw_ukernel_4x16__##sfx(int64_t ns, const uint8_t *u, const int8_t *qv, int32_t *acc,  \
                                                    int64_t acc_ld);                                              \
  void subq_f32_ternary_actq_ukernel__##sfx(const float *x, const float *w, int64_t k, int64_t k_pad, bool norm,   \
                                            float eps, int rounding, int8_t *q, int32_t *sum, float *amax);       \
  void subq_f32_hgrn_scan_ukernel__##sfx(int64_t T, int64_t nc, const float *i, int64_t i_ld, const float *f,      \
                                         int64_t f_ld, const float *lb, const float *s_in, float *s_out, float *u, \
                                         int64_t u_ld);                                                           \
  void subq_f32_hgrn_gate_ukernel__##sfx(int64_t C, const float *g, const float *w, float eps, float *o);
#include "families/ternary/subq_ternary_impls.inc"
#undef SUBQ_TERNARY_UKERNEL

/* Shared scalar pieces (subq_ternary_scalar.c), also the SIMD tails. */
/* Sum of squares of x[0..k) in the fixed 16-partial order. */
float subq_ternary_sumsq_scalar(const float *x, int64_t k);
/* Folds 16 partials p[0..16) in the fixed order. */
static inline float subq_ternary_fold16(const float *p) {
  float v[16];
  for (int j = 0; j < 16; j++) v[j] = p[j];
  for (int j = 0; j < 8; j++) v[j] = v[j] + v[j + 8];
  for (int j = 0; j < 4; j++) v[j] = v[j] + v[j + 4];
  for (int j = 0; j < 2; j++) v[j] = v[j] + v[j + 2];
  return v[0] + v[1];
}
/* r = 1 / sqrtf(ss / k + eps). */
static inline float subq_ternary_rms_inv(float ss, int64_t k, float eps) {
  return 1.0f / sqrtf(ss / (float)k + eps);
}
/* The rounding of q: ties to even or away from zero. */
static inline float subq_ternary_round1(float v, int rounding) { return rounding ? roundf(v) : rintf(v); }
static inline int8_t subq_ternary_q1(float v, int rounding) {
  float r = subq_ternary_round1(v, rounding);
  r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
  return (int8_t)(int)r;
}

#endif
