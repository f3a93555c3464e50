/*
 * subq_ref_monarch.h — float64 oracle for the Monarch family (slow, readable,
 * written from the spec's §1 / §7 formulas).
 *
 * Shapes: W1 k x q x p, W2 l x s x r (row-major, as in the public header),
 * n = k p, N = k q = l r, m = l s. blockdiag: l = 0, W2 unused, m = k q.
 */
#ifndef SUBQ_REF_MONARCH_H
#define SUBQ_REF_MONARCH_H

#include <stdint.h>

typedef struct subq_ref_monarch_shape {
  int64_t k, q, p, l, s, r; /* l == 0: block-diagonal (W1 only) */
} subq_ref_monarch_shape;

/* y[T][m] = M x for T tokens (x [T][n] dense). mag (optional, [T][m]) receives
 * the same product over |W1|, |W2|, |x|: the scale of f32 rounding errors. */
void subq_ref_monarch_apply(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, int64_t T,
                            const double *x, double *y, double *mag);

/* The dense m x n matrix from the closed form
 * M[c l + j][i p + e] = sum_{t in T(i,j)} W2[j][c][t] W1[i][t l + j - i q][e]. */
void subq_ref_monarch_dense(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, double *M);

/* Backward (spec §7): given x [T][n] and g = dL/dy [T][m], fills any non-NULL
 * of gx [T][n], gw1 [k q p], gw2 [l s r], gb [m]. */
void subq_ref_monarch_backward(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, int64_t T,
                               const double *x, const double *g, double *gx, double *gw1, double *gw2, double *gb);

#endif
