/*
 * subq_fattn_ukernel.h — micro-kernel contracts of the fused-attention family
 * (internal). One driver (subq_fattn.c) calls these per ISA path.
 *
 *   qk:  s[r * lds + j] = <q_r, k_j> for r < nr, j < nk; q_r at q + r * ldq
 *        (packed, already scaled), k_j at k + j * k_ss; dk >= 1, any value
 *        (vector paths handle dk % 8 != 0 with a masked tail).
 *   pv:  acc[r * ldacc + d] += sum_j p[r * ldp + j] * v[j * v_ss + d] for
 *        r < nr, d < dv, j in increasing order, one FMA per (r, j, d).
 *        Masked columns carry p == 0 (V inside [0, Sk) is caller data).
 *        ldacc is a multiple of 8.
 *   expsub: s[j] = exp(s[j] - m) for j < n (m finite; s[j] = -inf gives +0),
 *        returns the sum of the results (fixed order for a given n).
 *   exp: dst[i] = exp(src[i]) (the public subq_fattn_expf).
 *   rowmax: max(init, s[0..n)) (exact: order does not matter for max).
 *   scale: x[d] *= alpha for d < n.
 *   widen (16-bit K/V caches and inputs): dst[j * ldd + d] = (float)src[j * ss + d]
 *        for j < n, d < d_len, src bf16 (dt 0) or f16 (dt 1) bits; exact.
 *   qkh / pvh (optional, NULL where the driver widens a tile into scratch
 *        instead): qk / pv with 16-bit K / V read directly (widened in
 *        registers), dt as for widen; the same sums in the same order as the
 *        f32 kernels on the widened values.
 *   mm (optional, NULL where tiles of many rows take the direct path too): a
 *        GEMM on strided operands, both products of the transposed prefill
 *        tile (S^T = K Q^T, then O^T = O^T * alpha + V^T P^T):
 *        c[i * ldc + j] = x + sum_l a[i * a_rs + l * a_ks] * b[l * ldb + j] for
 *        i < m, j < n (n a multiple of 16), l < k in increasing order, one FMA
 *        each, skipping l whose bit (live[l / 64] >> l % 64 & 1) is clear when
 *        live is not NULL; x = 0, or (accumulate) c[i * ldc + j] * scale[j]
 *        rounded once (scale NULL: 1).
 *   colsoftmax: the online-softmax step of a transposed S tile (s[j * lds + c],
 *        key j, column c = query row), per column c < ncol (a multiple of 8):
 *        mx = max(m[c], s[0..nk)[c]); alpha[c] = 0 if m[c] = -inf, else
 *        subq_fattn_exp_neg(m[c] - mx); s[j][c] = subq_fattn_exp_neg(s[j][c]
 *        - mx) (0 for every key when mx = -inf); l[c] = fma(alpha[c], l[c],
 *        sum of the new s[.][c] in increasing j); m[c] = mx.
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

#include "internal/subq_half.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/simd/subq_vexp.h"

typedef void (*subq_fattn_qk_fn)(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                                 int64_t k_ss, float *s, int64_t lds);
#ifndef SUBQ_FATTN_MANY_ROWS
#define SUBQ_FATTN_MANY_ROWS 9 /* tiles of this many rows take mm (the transposed path); fewer: qk / pv */
#endif
typedef void (*subq_fattn_pv_fn)(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                                 int64_t v_ss, float *acc, int64_t ldacc);
typedef float (*subq_fattn_expsub_fn)(float *s, int64_t n, float m);
typedef void (*subq_fattn_exp_fn)(const float *src, float *dst, int64_t n);
typedef float (*subq_fattn_rowmax_fn)(const float *s, int64_t n, float init);
typedef void (*subq_fattn_scale_fn)(float *x, int64_t n, float alpha);
typedef void (*subq_fattn_mm_fn)(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                                 const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate,
                                 const float *scale, const uint64_t *live);
typedef void (*subq_fattn_colsoftmax_fn)(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l,
                                         float *alpha);

/* Bytes of packed K/V per wave of the transposed path (subq_fattn.c; default
 * SUBQ_FATTN_PACK_BYTES). Tests lower it to force several waves, or set 0 for
 * no packing; not thread-safe, not public. */
extern size_t subq_fattn_pack_bytes;

/* 16-bit element types of the K/V kernels (index into qkh/pvh tables). */
#define SUBQ_FATTN_H_BF16 0
#define SUBQ_FATTN_H_F16 1
typedef void (*subq_fattn_widen_fn)(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst,
                                    int64_t ldd);
typedef void (*subq_fattn_qkh_fn)(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                                  const uint16_t *k, int64_t k_ss, float *s, int64_t lds);
typedef void (*subq_fattn_pvh_fn)(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                                  const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc);

/* Scalar 16-bit conversions: internal/subq_half.h. */
static inline float subq_fattn_h_to_f32(int dt, uint16_t h) {
  return dt == SUBQ_FATTN_H_F16 ? subq_f16_to_f32_1(h) : subq_bf16_to_f32_1(h);
}

/* The softmax's exp of x <= 0 (colsoftmax): x < SUBQ_VEXP_MID_LO (where
 * e^x < 1.2e-38) flushes to +0, so vector paths may use the cheaper mid-range
 * core (the same bits above the threshold); NaN propagates. */
static inline float subq_fattn_exp_neg(float x) {
  return x < SUBQ_VEXP_MID_LO ? 0.0f : subq_expf_u2(x);
}

/* Bit j (j < n <= 64) set when p[i * ldp + j] != 0 for some row i < rb: the
 * keys PV must read (p == 0 in every row means masked, or underflowed to 0
 * everywhere: adding it changes nothing, and V is not read). NaN counts as live. */
static inline uint64_t subq_fattn_live(int rb, int64_t n, const float *p, int64_t ldp) {
  uint64_t live = 0;
  for (int i = 0; i < rb; i++)
    for (int64_t j = 0; j < n; j++) live |= (uint64_t)(p[i * ldp + j] != 0.0f) << j;
  return live;
}

/* Scalar path (also the reference and fallback). */
void subq_fattn_qk__scalar(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                           int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pv__scalar(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                           int64_t v_ss, float *acc, int64_t ldacc);
float subq_fattn_expsub__scalar(float *s, int64_t n, float m);
void subq_fattn_exp__scalar(const float *src, float *dst, int64_t n);
float subq_fattn_rowmax__scalar(const float *s, int64_t n, float init);
void subq_fattn_scale__scalar(float *x, int64_t n, float alpha);
void subq_fattn_mm__scalar(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                           const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                           const uint64_t *live);
void subq_fattn_colsoftmax__scalar(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l,
                                   float *alpha);
void subq_fattn_widen__scalar(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst,
                              int64_t ldd);

#if SUBQ_ARCH_X86_64
void subq_fattn_qk_4x3__avx2(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                            int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pv_6x16__avx2(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc);
float subq_fattn_expsub__avx2(float *s, int64_t n, float m);
void subq_fattn_exp__avx2(const float *src, float *dst, int64_t n);
float subq_fattn_rowmax__avx2(const float *s, int64_t n, float init);
void subq_fattn_scale__avx2(float *x, int64_t n, float alpha);
void subq_fattn_mm_6x16__avx2(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                              const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                              const uint64_t *live);
void subq_fattn_colsoftmax__avx2(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l, float *alpha);
void subq_fattn_widen__avx2(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst, int64_t ldd);
void subq_fattn_qkh_4x3__avx2(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                              const uint16_t *k, int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pvh_6x16__avx2(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                               const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc);
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
void subq_fattn_mm_6x16__neon(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                              const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                              const uint64_t *live);
void subq_fattn_colsoftmax__neon(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l, float *alpha);
void subq_fattn_widen__neon(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst, int64_t ldd);
void subq_fattn_qkh_4x2__neon(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                              const uint16_t *k, int64_t k_ss, float *s, int64_t lds);
void subq_fattn_pvh_4x16__neon(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                               const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc);
#endif

#endif /* SUBQ_FATTN_UKERNEL_H */
