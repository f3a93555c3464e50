/*
 * subq_ref_linattn.c — float64 linear-attention oracles, a literal
 * transcription of the spec's math (see subq_ref_linattn.h).
 */
#include "ref/subq_ref_linattn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "subq.h"

int64_t subq_ref_la_dim(int fmap, int64_t dk, bool full273) {
  if (fmap != SUBQ_LINATTN_FMAP_TAYLOR2) return dk;
  return full273 ? 1 + dk + dk * dk : 1 + dk + dk * (dk + 1) / 2;
}

static double ref_elu1(double x) { return x > 0 ? x + 1 : exp(x); }

void subq_ref_la_phi(int fmap, int64_t dk, double scale, bool query, bool full273, const float *x, double *phi) {
  if (fmap == SUBQ_LINATTN_FMAP_IDENTITY) {
    for (int64_t d = 0; d < dk; d++) phi[d] = (query ? scale : 1.0) * x[d];
    return;
  }
  if (fmap == SUBQ_LINATTN_FMAP_ELU1) {
    for (int64_t d = 0; d < dk; d++) phi[d] = ref_elu1(x[d]);
    return;
  }
  const double sq = sqrt(scale), r2 = sqrt(2.0);
  int64_t n = 0;
  phi[n++] = 1.0;
  for (int64_t i = 0; i < dk; i++) phi[n++] = sq * x[i];
  if (full273) {
    for (int64_t i = 0; i < dk; i++)
      for (int64_t j = 0; j < dk; j++) phi[n++] = (sq * x[i]) * (sq * x[j]) / r2;
  } else {
    for (int64_t i = 0; i < dk; i++) phi[n++] = (sq * x[i]) * (sq * x[i]) / r2;
    for (int64_t i = 0; i < dk; i++)
      for (int64_t j = i + 1; j < dk; j++) phi[n++] = (sq * x[i]) * (sq * x[j]);
  }
}

/* kappa(q_i, k_j) in closed form (no features), times the decay weight. */
static double ref_weight(const subq_ref_la *p, const double *G, int64_t i, int64_t j) {
  const float *q = p->q + i * p->q_ld, *k = p->k + j * p->k_ld;
  const int64_t dk = p->dk;
  double w = 0.0;
  if (p->gate == SUBQ_LINATTN_GATE_PER_KEY) {
    for (int64_t d = 0; d < dk; d++) {
      const double qd = p->fmap == SUBQ_LINATTN_FMAP_ELU1 ? ref_elu1(q[d]) : p->scale * q[d];
      const double kd = p->fmap == SUBQ_LINATTN_FMAP_ELU1 ? ref_elu1(k[d]) : k[d];
      w += qd * kd * exp(G[i * dk + d] - G[j * dk + d]);
    }
    return w;
  }
  double s = 0.0;
  for (int64_t d = 0; d < dk; d++)
    s += p->fmap == SUBQ_LINATTN_FMAP_ELU1 ? ref_elu1(q[d]) * ref_elu1(k[d]) : (double)q[d] * k[d];
  if (p->fmap == SUBQ_LINATTN_FMAP_TAYLOR2)
    w = 1.0 + p->scale * s + 0.5 * (p->scale * s) * (p->scale * s);
  else if (p->fmap == SUBQ_LINATTN_FMAP_IDENTITY)
    w = p->scale * s;
  else
    w = s;
  if (p->gate == SUBQ_LINATTN_GATE_SCALAR) w *= exp(G[i] - G[j]);
  return w;
}

static void ref_finish(const subq_ref_la *p, const double *y, double z, double *o) {
  const int64_t dv = p->dv;
  if (p->normalize == SUBQ_LINATTN_NORM_DENOM) {
    for (int64_t e = 0; e < dv; e++) o[e] = y[e] / (z + p->eps);
  } else if (p->normalize == SUBQ_LINATTN_NORM_RMSNORM) {
    double ss = 0.0;
    for (int64_t e = 0; e < dv; e++) ss += y[e] * y[e];
    const double inv = 1.0 / sqrt(ss / (double)dv + p->norm_eps);
    for (int64_t e = 0; e < dv; e++) o[e] = y[e] * inv * (p->norm_weight ? p->norm_weight[e] : 1.0);
  } else {
    for (int64_t e = 0; e < dv; e++) o[e] = y[e];
  }
}

/* Inclusive cumulative log gates in double: G (T) or (T, dk). */
static double *ref_cumgate(const subq_ref_la *p) {
  const int64_t T = p->T, w = p->gate == SUBQ_LINATTN_GATE_PER_KEY ? p->dk : 1;
  double *G = calloc((size_t)(T * w + 1), sizeof(double));
  if (p->gate == SUBQ_LINATTN_GATE_NONE) return G;
  for (int64_t t = 0; t < T; t++)
    for (int64_t d = 0; d < w; d++) G[t * w + d] = (t ? G[(t - 1) * w + d] : 0.0) + (double)p->g[t * p->g_ld + d];
  return G;
}

void subq_ref_la_quadratic(const subq_ref_la *p, const double *S0, const double *s0, double *out) {
  const int64_t T = p->T, dv = p->dv, D = subq_ref_la_dim(p->fmap, p->dk, false);
  double *G = ref_cumgate(p), *y = malloc((size_t)dv * sizeof(double)), *phq = malloc((size_t)D * sizeof(double));
  for (int64_t i = 0; i < T; i++) {
    double z = 0.0;
    for (int64_t e = 0; e < dv; e++) y[e] = 0.0;
    const int64_t jend = p->causal ? i + 1 : T;
    for (int64_t j = 0; j < jend; j++) {
      const double w = ref_weight(p, G, i, j);
      const float *vj = p->v + j * p->v_ld;
      for (int64_t e = 0; e < dv; e++) y[e] += w * vj[e];
      z += w;
    }
    if (S0) { /* the entering state, decayed by every gate up to and including token i */
      subq_ref_la_phi(p->fmap, p->dk, p->scale, true, false, p->q + i * p->q_ld, phq);
      for (int64_t d = 0; d < D; d++) {
        double f = phq[d];
        if (p->gate == SUBQ_LINATTN_GATE_SCALAR) f *= exp(G[i]);
        if (p->gate == SUBQ_LINATTN_GATE_PER_KEY) f *= exp(G[i * p->dk + d]);
        for (int64_t e = 0; e < dv; e++) y[e] += f * S0[d * dv + e];
        if (s0) z += f * s0[d];
      }
    }
    ref_finish(p, y, z, out + i * dv);
  }
  free(G), free(y), free(phq);
}

void subq_ref_la_recurrent(const subq_ref_la *p, double *S, double *s, double *out) {
  const int64_t T = p->T, dv = p->dv, dk = p->dk, D = subq_ref_la_dim(p->fmap, dk, false);
  double *phq = malloc((size_t)D * sizeof(double)), *phk = malloc((size_t)D * sizeof(double));
  double *y = malloc((size_t)dv * sizeof(double));
  for (int64_t t = 0; t < T; t++) {
    subq_ref_la_phi(p->fmap, dk, p->scale, true, false, p->q + t * p->q_ld, phq);
    subq_ref_la_phi(p->fmap, dk, p->scale, false, false, p->k + t * p->k_ld, phk);
    const float *vt = p->v + t * p->v_ld;
    double z = 0.0;
    for (int64_t e = 0; e < dv; e++) y[e] = 0.0;
    for (int64_t d = 0; d < D; d++) {
      double a = 1.0;
      if (p->gate == SUBQ_LINATTN_GATE_SCALAR) a = exp((double)p->g[t * p->g_ld]);
      if (p->gate == SUBQ_LINATTN_GATE_PER_KEY) a = exp((double)p->g[t * p->g_ld + d]);
      for (int64_t e = 0; e < dv; e++) {
        S[d * dv + e] = a * S[d * dv + e] + phk[d] * vt[e];
        y[e] += phq[d] * S[d * dv + e];
      }
      if (s) {
        s[d] = a * s[d] + phk[d];
        z += phq[d] * s[d];
      }
    }
    if (out) ref_finish(p, y, z, out + t * dv);
  }
  free(phq), free(phk), free(y);
}
