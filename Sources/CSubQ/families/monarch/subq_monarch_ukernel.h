/*
 * subq_monarch_ukernel.h — micro-kernel contract of the Monarch family (internal).
 *
 * bdmm (block-diagonal matmul) ukernel: the mr x nr corner of the MR x NR tile
 *   C[i][j] (+)= sum_{p < kc} A(i, p) * B(p, j)
 * with A read in place through two element strides, A(i, p) = a[i*a_rs + p*a_cs]
 * (rows i >= mr are never read), and B one packed panel of kc x NR floats,
 * B(p, j) = b[p*NR + j], zero-padded past the matrix edge, 32-byte aligned.
 * C rows are contiguous, row stride c_rs. Each element is one f32 FMA chain
 * over p in increasing order starting from 0; with accumulate the chain's
 * result is added to C (one rounding), otherwise C is written without being
 * read. Every ISA computes the same chain, so all paths round identically.
 * Strided A is how the permutations fold into the GEMMs: stage 1 reads x with
 * a_cs = 1, stage 2 reads v_j = u[t*l + j] with a_cs = l (a broadcast is a
 * scalar load either way), backward products read transposed operands.
 */
#ifndef SUBQ_MONARCH_UKERNEL_H
#define SUBQ_MONARCH_UKERNEL_H

#include "internal/subq_isa.h"

typedef void (*subq_f32_monarch_bdmm_fn)(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                                          float *c, int64_t c_rs, int64_t mr, int64_t nr, bool accumulate);

#define SUBQ_MONARCH_MAX_MR 8
#define SUBQ_MONARCH_MAX_NR 16

/* lanes ukernel (stage 2 with SIMD lanes over blocks j0..j0+jw-1, jw <= lanes):
 *   y[tok*ldy + c*l + lam] = sum_{t<r} w[(t*MC + c)*lanes + lam] * u[tok*ldu + t*l + lam]
 *                            (+ bias[c*l + lam]) for tok < mt, c < mc, lam < jw,
 * u and y already offset by j0 (and the first token / c). One f32 FMA chain over t
 * per element, as bdmm computes it: stage 2 + P2 in one pass, same bits. */
typedef void (*subq_f32_monarch_lanes_fn)(int64_t r, int64_t l, const float *u, int64_t ldu, const float *w, float *y,
                                           int64_t ldy, int64_t mt, int64_t mc, int64_t jw, const float *bias);

/* perm ukernel: dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols (a copy, exact). */
typedef void (*subq_f32_monarch_perm_fn)(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst,
                                          int64_t ldd);

#define SUBQ_MONARCH_PERM(isa, fn) \
  void fn(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd);
#define SUBQ_MONARCH_UKERNEL(isa, bdmm, mr, nr)                                                                    \
  void bdmm(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b, float *c, int64_t c_rs,       \
            int64_t mr_, int64_t nr_, bool accumulate);
#define SUBQ_MONARCH_LANES(isa, fn, mt, mc, lanes)                                                                 \
  void fn(int64_t r, int64_t l, const float *u, int64_t ldu, const float *w, float *y, int64_t ldy, int64_t mt_,  \
          int64_t mc_, int64_t jw, const float *bias);
#include "families/monarch/subq_monarch_impls.inc"
#undef SUBQ_MONARCH_UKERNEL
#undef SUBQ_MONARCH_LANES
#undef SUBQ_MONARCH_PERM

#endif
