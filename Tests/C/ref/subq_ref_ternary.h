/*
 * subq_ref_ternary.h — oracles for the ternary family (subq_ternary.h),
 * written from the spec's formulas (ternary spec §1, §6, §7):
 *   the absmean quantizer and the activation quantizer as literal f32
 *   transcriptions (the spec fixes their f32 operation order, so they are
 *   bit-exact oracles), the integer product in int64, the BitLinear epilogue
 *   and the HGRN recurrence in float64.
 */
#ifndef SUBQ_REF_TERNARY_H
#define SUBQ_REF_TERNARY_H

#include <stdbool.h>
#include <stdint.h>

/* absmean: w (n x k f32, contiguous); per_row selects one gamma per row.
 * Writes t (n x k) and gamma (1 or n). */
void subq_ref_ternary_absmean(int64_t n, int64_t k, const float *w, bool per_row, int8_t *t, float *gamma);

/* One activation row: q (k), S, a. norm: RMSNorm with w (NULL = 1) and eps. */
void subq_ref_ternary_actq(const float *x, const float *w, int64_t k, bool norm, float eps, int rounding, int8_t *q,
                           int32_t *S, float *a);

/* D[t][r] = sum_k t[r][k] q[t][k] in int64; t (n x k), q (T x k), d (T x n). */
void subq_ref_ternary_dot(int64_t T, int64_t n, int64_t k, const int8_t *t, const int8_t *q, int64_t *d);

/* HGRN in float64 (subq_hgrn_f32's math): i, f, gate (T x C contiguous),
 * lb / state / gw may be NULL; state is updated in place when non-NULL
 * (zeros when NULL); out (T x C) double. */
void subq_ref_hgrn(int64_t T, int64_t C, const float *i, const float *f, const float *lb, double *state,
                   const float *gate, const float *gw, double eps, double *out);

#endif
