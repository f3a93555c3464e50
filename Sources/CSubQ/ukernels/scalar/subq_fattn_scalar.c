/*
 * subq_fattn_scalar.c — scalar attention micro-kernels (reference path and
 * fallback on every architecture). FMAs are explicit (fmaf).
 */
#include "families/fattn/subq_fattn_ukernel.h"

void subq_fattn_qk__scalar(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                           int64_t k_ss, float *s, int64_t lds) {
  for (int64_t r = 0; r < nr; r++) {
    const float *qr = q + r * ldq;
    for (int64_t j = 0; j < nk; j++) {
      const float *kj = k + j * k_ss;
      float acc = 0.0f;
      for (int64_t d = 0; d < dk; d++) acc = fmaf(qr[d], kj[d], acc);
      s[r * lds + j] = acc;
    }
  }
}

void subq_fattn_pv__scalar(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                           int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t r = 0; r < nr; r++) {
    float *ar = acc + r * ldacc;
    for (int64_t j = 0; j < nk; j++) {
      const float pj = p[r * ldp + j];
      if (pj == 0.0f) continue; /* masked or underflowed: adds exactly nothing */
      const float *vj = v + j * v_ss;
      for (int64_t d = 0; d < dv; d++) ar[d] = fmaf(pj, vj[d], ar[d]);
    }
  }
}

float subq_fattn_expsub__scalar(float *s, int64_t n, float m) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; j++) {
    const float e = subq_expf_u2(s[j] - m);
    s[j] = e;
    sum += e;
  }
  return sum;
}

void subq_fattn_exp__scalar(const float *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = subq_expf_u2(src[i]);
}

float subq_fattn_rowmax__scalar(const float *s, int64_t n, float init) {
  float m = init;
  for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
  return m;
}

void subq_fattn_scale__scalar(float *x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; i++) x[i] *= alpha;
}

void subq_fattn_widen__scalar(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst,
                              int64_t ldd) {
  for (int64_t j = 0; j < n; j++)
    for (int64_t d = 0; d < d_len; d++) dst[j * ldd + d] = subq_fattn_h_to_f32(dt, src[j * ss + d]);
}

void subq_fattn_mm__scalar(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                           const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                           const uint64_t *live) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float x = accumulate ? c[i * ldc + j] * (scale ? scale[j] : 1.0f) : 0.0f;
      for (int64_t l = 0; l < k; l++) {
        if (live && !(live[l >> 6] >> (l & 63) & 1)) continue;
        x = fmaf(a[i * a_rs + l * a_ks], b[l * ldb + j], x);
      }
      c[i * ldc + j] = x;
    }
}

void subq_fattn_colsoftmax__scalar(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l,
                                   float *alpha) {
  for (int64_t c = 0; c < ncol; c++) {
    float mx = m[c];
    for (int64_t j = 0; j < nk; j++) mx = s[j * lds + c] > mx ? s[j * lds + c] : mx;
    const float msafe = mx == -INFINITY ? 0.0f : mx;
    const float al = m[c] == -INFINITY ? 0.0f : subq_fattn_exp_neg(m[c] - msafe);
    float sum = 0.0f;
    for (int64_t j = 0; j < nk; j++) {
      const float p = subq_fattn_exp_neg(s[j * lds + c] - msafe);
      s[j * lds + c] = p;
      sum += p;
    }
    l[c] = fmaf(al, l[c], sum);
    m[c] = mx;
    alpha[c] = al;
  }
}
