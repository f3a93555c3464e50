/*
 * subq_f32_linattn_scalar.c — portable linear-attention micro-kernels (the
 * reference path every ISA is compared with): a plain triple-loop GEMM with
 * explicit fmaf and the fused decode pass over the state.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_internal.h"

void subq_f32_linattn_gemm_ukernel__scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                           int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                           int64_t k_tri) {
  for (int64_t i = 0; i < M; i++) {
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i + 1) : K;
    float *ci = C + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < N; j++) ci[j] = 0.0f;
    for (int64_t k = 0; k < kl; k++) {
      const float a = A[i * a_rs + k * a_cs];
      const float *bk = B + k * ldb;
      for (int64_t j = 0; j < N; j++) ci[j] = fmaf(a, bk[j], ci[j]);
    }
  }
}

void subq_f32_linattn_step_ukernel__scalar(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                           const float *v, const float *decay, float *S, float *y) {
  for (int64_t j = 0; j < dv; j++) y[j] = 0.0f;
  for (int64_t d = 0; d < D; d++) {
    float *sd = S + d * dv;
    const float pk = phik[d], pq = phiq[d];
    if (decay) {
      const float a = decay[d];
      for (int64_t j = 0; j < dv; j++) sd[j] = fmaf(pk, v[j], a * sd[j]);
    } else {
      for (int64_t j = 0; j < dv; j++) sd[j] = fmaf(pk, v[j], sd[j]);
    }
    for (int64_t j = 0; j < dv; j++) y[j] = fmaf(pq, sd[j], y[j]);
  }
}

/* ---- per-chunk elementwise kernels ------------------------------------------------------------ */

void subq_f32_linattn_tload__scalar(int64_t c, int64_t dk, const float *x, int64_t ld, float scale, float *XT,
                                    int64_t ldx) {
  for (int64_t i = 0; i < c; i++)
    for (int64_t d = 0; d < dk; d++) XT[d * ldx + i] = scale * x[i * ld + d];
}

void subq_f32_linattn_taylor__scalar(int64_t dk, int64_t c, const float *XT, int64_t ldx, int64_t n0, int64_t n1,
                                     float *P, int64_t ldp, float *rs) {
  const float r2 = 0.70710678118654752f;
  for (int64_t n = n0; n < n1; n++) {
    int64_t a, b;
    bool sq;
    subq_la_feature(dk, n, &a, &b, &sq);
    const float *x = a >= 0 ? XT + a * ldx : NULL, *y = b >= 0 ? XT + b * ldx : NULL;
    float *p = P + (n - n0) * ldp;
    for (int64_t t = 0; t < c; t++) p[t] = !x ? 1.0f : sq ? (x[t] * x[t]) * r2 : y ? x[t] * y[t] : x[t];
    if (rs) rs[n - n0] = subq_la_sum8(p, c);
  }
}

void subq_f32_linattn_qpanel__scalar(int64_t dk, const float *XT, int64_t ldx, int64_t i0, int m, float *P,
                                     const float *s, float *z8) {
  const float r2 = 0.70710678118654752f;
  const int64_t D = 1 + dk + dk * (dk + 1) / 2;
  float zc[4][SUBQ_LA_QPANEL] = {{0.0f}}; /* four interleaved chains, feature n into chain n % 4 */
  for (int64_t n = 0; n < D; n++) {
    int64_t a, b;
    bool sq;
    subq_la_feature(dk, n, &a, &b, &sq);
    for (int r = 0; r < m; r++) {
      const float x = a >= 0 ? XT[a * ldx + i0 + r] : 1.0f, y = b >= 0 ? XT[b * ldx + i0 + r] : 1.0f;
      const float v = a < 0 ? 1.0f : sq ? (x * x) * r2 : b >= 0 ? x * y : x;
      P[n * SUBQ_LA_QPANEL + r] = v;
      if (s) zc[n & 3][r] = fmaf(v, s[n], zc[n & 3][r]);
    }
  }
  if (s)
    for (int r = 0; r < m; r++) z8[r] = (zc[0][r] + zc[1][r]) + (zc[2][r] + zc[3][r]);
}

void subq_f32_linattn_intra__scalar(int64_t c, float *A, int64_t lda, bool poly, float *z) {
  for (int64_t i = 0; i < c; i++) {
    float *ai = A + i * lda;
    if (poly)
      for (int64_t j = 0; j <= i; j++) ai[j] = (1.0f + ai[j]) + 0.5f * (ai[j] * ai[j]);
    for (int64_t j = i + 1; j < c; j++) ai[j] = 0.0f;
    if (z) z[i] = subq_la_sum8(ai, i + 1);
  }
}

void subq_f32_linattn_zstate__scalar(int64_t D, int64_t c, const float *P, int64_t ldp, const float *s, float *z) {
  for (int64_t d = 0; d < D; d++) {
    const float sd = s[d], *p = P + d * ldp;
    for (int64_t i = 0; i < c; i++) z[i] = fmaf(p[i], sd, z[i]);
  }
}

void subq_f32_linattn_rowsum__scalar(int64_t D, int64_t c, const float *P, int64_t ldp, float *s) {
  for (int64_t d = 0; d < D; d++) s[d] += subq_la_sum8(P + d * ldp, c);
}

void subq_f32_linattn_outrows__scalar(int64_t c, int64_t dv, const float *O, int64_t ldo, const float *z, float eps,
                                      float *out, int64_t ld, bool stream) {
  (void)stream;
  for (int64_t i = 0; i < c; i++) {
    const float *r = O + i * ldo;
    float *o = out + i * ld;
    if (z) {
      const float inv = 1.0f / (z[i] + eps);
      for (int64_t d = 0; d < dv; d++) o[d] = r[d] * inv;
    } else {
      for (int64_t d = 0; d < dv; d++) o[d] = r[d];
    }
  }
}
