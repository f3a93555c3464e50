/*
 * subq_ref_gemm.h — float64 oracle for the GEMM family (slow and readable).
 */
#ifndef SUBQ_REF_GEMM_H
#define SUBQ_REF_GEMM_H

#include <stdint.h>

/* out = alpha * A * B + beta * C0 in float64 on dense row-major logical
 * arrays (A m x k, B k x n, C0 m x n). beta == 0 ignores C0 (NaN allowed
 * there). mag (optional) receives |alpha| * sum_p |a_ip b_pj| + |beta c0_ij|,
 * the scale rounding errors are measured against. */
void subq_ref_gemm(int64_t m, int64_t n, int64_t k, double alpha, const double *a, const double *b, double beta,
                   const double *c0, double *out, double *mag);

#include "ref/subq_ref_dtype.h" /* subq_ref_f32_to_bf16, moved there */

#endif
