/*
 * subq_ref_linattn.h — float64 oracles for linear attention
 * (linear_attention spec §1, §2, §5, §10): the parallel quadratic form with
 * closed-form kernels (1 + s + s^2/2, q.k, (elu+1) dots) and fp64 decay
 * matrices exp(G_i - G_j), and the fp64 recurrence for states. One
 * (sequence, head) at a time; row t of q at q + t * q_ld (likewise k, v, g,
 * out). fmap / normalize / gate take the SUBQ_LINATTN_* values.
 */
#ifndef SUBQ_REF_LINATTN_H
#define SUBQ_REF_LINATTN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct subq_ref_la {
  int fmap, normalize, gate;
  bool causal;
  int64_t T, dk, dv;
  double scale, eps, norm_eps; /* scale already resolved (> 0) */
  const float *q, *k, *v, *g;  /* g: log gates (T) or (T, dk), NULL without gate */
  int64_t q_ld, k_ld, v_ld, g_ld;
  const float *norm_weight;    /* (dv) or NULL */
} subq_ref_la;

/* D of the compact map (Taylor 1 + dk + dk(dk+1)/2) or, with full273, the
 * outer-product map 1 + dk + dk^2. */
int64_t subq_ref_la_dim(int fmap, int64_t dk, bool full273);

/* phi of one row in double: compact (spec order) or the BASED outer-product
 * form [1, x~, x~_i x~_j / sqrt2 for all (i, j) row-major]. */
void subq_ref_la_phi(int fmap, int64_t dk, double scale, bool query, bool full273, const float *x, double *phi);

/* Parallel quadratic form: out (T, dv) dense. S0 (D, dv) and s0 (D) are
 * the state entering the call in the compact layout (NULL = zeros). */
void subq_ref_la_quadratic(const subq_ref_la *p, const double *S0, const double *s0, double *out);

/* Recurrence: S (D, dv) and s (D) in/out (compact layout), out (T, dv)
 * dense or NULL. Causal only. */
void subq_ref_la_recurrent(const subq_ref_la *p, double *S, double *s, double *out);

#endif
