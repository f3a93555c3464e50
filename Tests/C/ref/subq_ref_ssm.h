/*
 * subq_ref_ssm.h — float64 oracles for the SSM family (mamba spec §1.1, §2,
 * §3.2 and §3.4),
 * a literal transcription in double of the math, on contiguous inputs.
 */
#ifndef SUBQ_REF_SSM_H
#define SUBQ_REF_SSM_H

#include <stdbool.h>
#include <stdint.h>

/* One sequence: x (T, C), w (C, W), bias (C) or NULL, state_in (W-1, C) or
 * NULL; writes y (T, C) and state_out (W-1, C) (if not NULL). */
void subq_ref_conv1d(int64_t T, int64_t C, int W, const float *x, const float *w, const float *bias,
                     const float *state_in, bool silu, double *y, double *state_out);

/* One sequence of the Mamba-1 scan: u, dt, z (T, E); b, c (T, G*N); a (E, N)
 * holding A (or A_log when a_log); dt_bias, d_skip (E) or NULL; h (E, N) in
 * double, in/out (the HF layout). Writes y (T, E). */
void subq_ref_ssm1(int64_t T, int64_t E, int64_t N, int64_t G, bool softplus, bool a_log, const float *u,
                   const float *dt, const float *b, const float *c, const float *z, const float *a,
                   const float *dt_bias, const float *d_skip, double *h, double *y);

/* One sequence of the Mamba-2 recurrence (spec §3.2): x, y (T, H*P);
 * dt (T, H) raw; b, c (T, G*N); a (H) holding A (or A_log when a_log);
 * dt_bias (H) or NULL; d_skip (H, or H*P when d_per_channel) or NULL;
 * dt = clamp(softplus?(dt + dt_bias), lo, hi). S (H, P, N) in double, in/out
 * (the HF layout). */
void subq_ref_ssm2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, bool softplus, bool a_log,
                   bool d_per_channel, double lo, double hi, const float *x, const float *dt, const float *b,
                   const float *c, const float *a, const float *dt_bias, const float *d_skip, double *S, double *y);

/* Grouped gated RMSNorm (spec §3.4) of rows x width (dense), groups of gs
 * channels; z and weight may be NULL. */
void subq_ref_gated_rmsnorm(int64_t rows, int64_t width, int64_t gs, double eps, bool norm_before_gate,
                            const float *y, const float *z, const float *weight, double *out);

#endif
