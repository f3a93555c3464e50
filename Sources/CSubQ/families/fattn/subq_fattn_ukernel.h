/*
 * subq_fattn_ukernel.h — micro-kernel contracts of the fused-attention family
 * (internal). One driver (subq_fattn.c) calls these per ISA path.
 *
 *   qk:  s[r * lds + j] = <q_r, k_j> for r < nr, j < nk; q_r at q + r * ldq
 *        (packed, already scaled), k_j at k + j * k_ss; dk >= 1, any value
 *        (vector paths handle dk % 8 != 0 with a masked tail).
 *   qkt (optional, NULL on paths without it): the same product with the K tile
 *        packed transposed, element (d, j) at kt[d * ldk + j] (ldk a multiple
 *        of 16, keys past nk zero), one FMA chain over d per element; used for
 *        tiles of >= SUBQ_FATTN_QKT_MIN_ROWS rows (prefill).
 *   pv:  acc[r * ldacc + d] += sum_j p[r * ldp + j] * v[j * v_ss + d] for
 *        r < nr, d < dv, j in increasing order, one FMA per (r, j, d).
 *        Masked columns carry p == 0 (V inside [0, Sk) is caller data).
 *        ldacc is a multiple of 8.
 *   expsub: s[j] = exp(s[j] - m) for j < n (m finite; s[j] = -inf gives +0),
 *        returns the sum of the results (fixed order for a given n).
 *   exp: dst[i] = exp(src[i]) (the public subq_fattn_expf).
 *   rowmax: max(init, s[0..n)) (exact: order does not matter for max).
 *   scale: x[d] *= alpha for d < n.
 *   packk (with qkt): kt[d * ldk + j] = k[j * k_ss + d] for j < nk, 0 for
 *        nk <= j < ldk (a plain copy: exact).
 * exp is subq's shared exp on every path (internal/simd/subq_vexp*.h: scalar
 * subq_expf_u2, AVX2 subq_vexp_f32_u2_avx2, NEON subq_vexp_f32_u2_neon, the
 * same bits): Cody-Waite reduction, cephes degree-6 polynomial, 2^n by
 * exponent-field construction; < 2 ulp; x < -87.3365 (result below 2^-126)
 * flushes to +0.
 */
#ifndef SUBQ_FATTN_UKERNEL_H
#define SUBQ_FATTN_UKERNEL_H

#include <math.h>
#include <string.h>

#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/simd/subq_vexp.h"

typedef void (*subq_fattn_qk_fn)(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                                 int64_t k_ss, float *s, int64_t lds);
typedef void (*subq_fattn_qkt_fn)(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *kt,
                                  int64_t ldk, float *s, int64_t lds);
#define SUBQ_FATTN_QKT_MIN_ROWS 8
typedef void (*subq_fattn_pv_fn)(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                                 int64_t v_ss, float *acc, int64_t ldacc);
typedef float (*subq_fattn_expsub_fn)(float *s, int64_t n, float m);
typedef void (*subq_fattn_exp_fn)(const float *src, float *dst, int64_t n);
typedef float (*subq_fattn_rowmax_fn)(const float *s, int64_t n, float init);
typedef void (*subq_fattn_scale_fn)(float *x, int64_t n, float alpha);
typedef void (*subq_fattn_packk_fn)(int64_t nk, int64_t dk, const float *k, int64_t k_ss, float *kt, int64_t ldk);

/* Scalar path (also the reference and fallback). */
void subq_fattn_qk__scalar(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                           int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pv__scalar(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                           int64_t v_ss, float *acc, int64_t ldacc);
float subq_fattn_expsub__scalar(float *s, int64_t n, float m);
void subq_fattn_exp__scalar(const float *src, float *dst, int64_t n);
float subq_fattn_rowmax__scalar(const float *s, int64_t n, float init);
void subq_fattn_scale__scalar(float *x, int64_t n, float alpha);
void subq_fattn_packk__scalar(int64_t nk, int64_t dk, const float *k, int64_t k_ss, float *kt, int64_t ldk);

#if SUBQ_ARCH_X86_64
void subq_fattn_qk_4x2__avx2(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                            int64_t k_ss, float *s, int64_t lds);
void subq_fattn_qkt_6x16__avx2(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *kt,
                               int64_t ldk, float *s, int64_t lds);
void subq_fattn_pv_6x16__avx2(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc);
float subq_fattn_expsub__avx2(float *s, int64_t n, float m);
void subq_fattn_exp__avx2(const float *src, float *dst, int64_t n);
float subq_fattn_rowmax__avx2(const float *s, int64_t n, float init);
void subq_fattn_scale__avx2(float *x, int64_t n, float alpha);
void subq_fattn_packk__avx2(int64_t nk, int64_t dk, const float *k, int64_t k_ss, float *kt, int64_t ldk);
#endif

#if SUBQ_ARCH_ARM64
void subq_fattn_qk_4x2__neon(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                             int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pv_4x16__neon(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc);
float subq_fattn_expsub__neon(float *s, int64_t n, float m);
void subq_fattn_exp__neon(const float *src, float *dst, int64_t n);
float subq_fattn_rowmax__neon(const float *s, int64_t n, float init);
void subq_fattn_scale__neon(float *x, int64_t n, float alpha);
#endif

#endif /* SUBQ_FATTN_UKERNEL_H */
