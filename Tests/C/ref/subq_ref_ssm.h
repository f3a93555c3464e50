/*
 * subq_ref_ssm.h — float64 oracles for the SSM family (mamba spec §1.1, §2),
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

#endif
