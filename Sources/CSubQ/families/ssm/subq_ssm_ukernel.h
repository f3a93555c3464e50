/*
 * subq_ssm_ukernel.h — micro-kernel contracts of the SSM family (internal).
 *
 * s6scan: one sequence, one block of 16 channels (the state layout's block),
 *   lanes [lane0, lane0 + nl) of it (one B/C group), all T tokens in order.
 *   Pointers u, dt, z, y, dt_bias, d_skip point at the block's channel 0;
 *   b and c at the group's first state column of token 0. `a` is the block's
 *   A * log2(e) packed [n][16] (not A_log); any float alignment (with
 *   SUBQ_SSM1_A_PACKED it is the caller's memory). `h` is the block's state [n][16], read
 *   and written in place; lanes outside the range are neither read nor
 *   written, in h or in any activation.
 *   Per token and lane: dt = dt + dt_bias (0 if NULL), softplus if asked;
 *   du = dt * u; for n ascending: h = fma(exp2(dt * a[n]), h, du * B[n])
 *   (exp2 = subq_exp2f_decay's bits on every path),
 *   y = fma(h, C[n], y) (y starts at 0); y = fma(Dskip, u, y) if d_skip;
 *   y = y * silu(z) if z.
 *   nblk >= 1 blocks in one call: more than 1 only for one token (T == 1) of
 *   whole blocks (lane0 == 0, nl == 16) in one B/C group; block k is block 0's
 *   pointers advanced k times by subq_s6scan_next_block (16 channels; a and h
 *   16 * N floats), b and c shared. One call for a run of blocks spares the
 *   driver's per-block work in the decode step.
 * conv1d: one sequence, channels [0, nc) with nc <= SUBQ_CONV_BLOCK (pointers at the
 *   first channel), T tokens; weights w[c * W + k]; state_in rows at
 *   state_in + k * s_ld (NULL: zeros); state_out (NULL: none; may equal
 *   state_in) written after every read of state_in. `work`:
 *   SUBQ_CONV_WORK_FLOATS floats, 64-byte aligned.
 */
#ifndef SUBQ_SSM_UKERNEL_H
#define SUBQ_SSM_UKERNEL_H

#include <stdbool.h>

#include "internal/subq_isa.h"
#include "internal/simd/subq_vexp.h"

#define SUBQ_SSM_BLOCK 16
/* conv1d items: SUBQ_CONV_BLOCK channels (rows of x read 1 KiB at a time)
 * x SUBQ_CONV_TOKENS tokens (the halo of a later token block is read from x,
 * so items stay many on many cores). Measured on Zen 3: 256 channels 1.11x
 * 64 (BENCHMARKS.md, "conv1d: prefetch and wider items"). */
#ifndef SUBQ_CONV_BLOCK
#define SUBQ_CONV_BLOCK 256
#endif
#ifndef SUBQ_CONV_TOKENS
#define SUBQ_CONV_TOKENS 256
#endif
/* The family's exp (built on internal/simd/subq_vexp*.h) flushes to 0 below
 * SUBQ_SSM_EXP_FLUSH; the scan's decay exp also clamps above
 * SUBQ_SSM_EXP_CLAMP (no +inf). */
#define SUBQ_SSM_EXP_FLUSH SUBQ_VEXP_MID_LO
#define SUBQ_SSM_EXP_CLAMP SUBQ_VEXP_MID_HI

/* The vector paths' softplus(x) = max(x, 0) + log1p(e), e = exp(-|x|):
 * log1p(e) = 2 atanh(s), s = e / (2 + e) in [0, 1/3], and
 * atanh(s) = s + s w q(w), w = s^2 <= 1/9, q = Q0 + Q1 w + Q2 w^2 + Q3 w^3
 * (fitted to atanh(s)/s - 1 = w/3 + w^2/5 + ..., relative error 8e-9 with
 * these float coefficients): no log, no exponent split. test_ssm checks the
 * AVX2 result against log1p(exp(x)) in double. */
#define SUBQ_SOFTPLUS_Q0 0.3333315849304199f
#define SUBQ_SOFTPLUS_Q1 0.20012454688549042f
#define SUBQ_SOFTPLUS_Q2 0.13980302214622498f
#define SUBQ_SOFTPLUS_Q3 0.1408916711807251f

typedef struct subq_s6scan_params {
  int64_t T, N;
  int32_t lane0, nl;
  bool softplus;
  const float *u, *dt, *z;
  int64_t u_ld, dt_ld, z_ld;
  const float *b, *c;
  int64_t b_ld, c_ld;
  const float *a;        /* [N][16] */
  const float *dt_bias, *d_skip;
  float *h;              /* [N][16] */
  float *y;
  int64_t y_ld;
  float *work;           /* SUBQ_S6_WORK_FLOATS floats, 64-byte aligned (participant scratch) */
  int64_t nblk;          /* blocks in this call (see above) */
} subq_s6scan_params;

/* p moved to the next 16-channel block of a multi-block call. */
static inline void subq_s6scan_next_block(subq_s6scan_params *p) {
  p->u += SUBQ_SSM_BLOCK, p->dt += SUBQ_SSM_BLOCK, p->y += SUBQ_SSM_BLOCK;
  if (p->z) p->z += SUBQ_SSM_BLOCK;
  if (p->dt_bias) p->dt_bias += SUBQ_SSM_BLOCK;
  if (p->d_skip) p->d_skip += SUBQ_SSM_BLOCK;
  p->a += SUBQ_SSM_BLOCK * p->N, p->h += SUBQ_SSM_BLOCK * p->N;
}

/* Scratch of the micro-kernels, from the participant's buffer (never the
 * stack): the scan's per-time-block dt, dt*u and y partials (64 tokens x up to
 * 16 lanes each); conv1d's repacked weights and bias (64 channels x 9 rows). */
#define SUBQ_S6_TC 64
#define SUBQ_S6_WORK_FLOATS (3 * SUBQ_S6_TC * 16)
#define SUBQ_CONV_WORK_FLOATS (SUBQ_CONV_BLOCK * 9)

typedef void (*subq_f32_s6scan_fn)(const subq_s6scan_params *p);
typedef void (*subq_f32_conv1d_fn)(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld, const float *w,
                                   const float *bias, const float *state_in, float *state_out, int64_t s_ld,
                                   float *y, int64_t y_ld, bool silu, float *work);

#define SUBQ_SSM_UKERNEL(isa, scan, conv)                                                                  \
  void scan(const subq_s6scan_params *p);                                                                  \
  void conv(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld, const float *w, const float *bias, \
            const float *state_in, float *state_out, int64_t s_ld, float *y, int64_t y_ld, bool silu, float *work);
#include "families/ssm/subq_ssm_impls.inc"
#undef SUBQ_SSM_UKERNEL

/* Vector-exp building blocks exposed for tests (AVX2 build only). */
#if SUBQ_ARCH_X86_64
void subq_f32_vexp_u2__avx2(const float *x, float *y, int64_t n);
void subq_f32_vexp2_decay__avx2(const float *x, float *y, int64_t n);
void subq_f32_vsoftplus__avx2(const float *x, float *y, int64_t n);
void subq_f32_vexp2_decay_below_hi__avx2(const float *x, float *y, int64_t n); /* x <= SUBQ_VEXP2_HI or NaN */
#endif

#endif
