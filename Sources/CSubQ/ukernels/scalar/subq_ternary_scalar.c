/*
 * subq_ternary_scalar.c — portable ternary micro-kernels (the fallback path
 * and the bit-exact reference of the SIMD paths): the int8 x SQ2 product
 * decoded code by code, the activation quantizer, the HGRN recurrence and
 * gate with SubQ's scalar exp. Contracts in subq_ternary_ukernel.h.
 */
#include <math.h>

#include "families/ternary/subq_ternary_ukernel.h"
#include "internal/simd/subq_vexp.h"

float subq_ternary_sumsq_scalar(const float *x, int64_t k) {
  float p[16] = {0};
  for (int64_t i = 0; i < k; i++) p[i & 15] = fmaf(x[i], x[i], p[i & 15]);
  return subq_ternary_fold16(p);
}

void subq_i8wt2_ternary_gemm_ukernel_4x16__scalar(int64_t nkb, const uint8_t *w, const int8_t *q, int64_t q_ld,
                                                  int64_t mr, int32_t *acc) {
  for (int64_t t = 0; t < mr; t++) {
    int32_t s[16] = {0};
    for (int64_t b = 0; b < nkb; b++) {
      const uint8_t *u = w + b * 64;
      const int8_t *qb = q + t * q_ld + b * 16;
      for (int i = 0; i < 16; i++)
        for (int m = 0; m < 4; m++)
          for (int j = 0; j < 4; j++) s[i] += (int32_t)((u[i * 4 + j] >> (2 * m)) & 3) * qb[4 * m + j];
    }
    for (int i = 0; i < 16; i++) acc[t * 16 + i] += s[i];
  }
}

void subq_i8wt2_ternary_unpackw_ukernel__scalar(int64_t nkb, const uint8_t *w, uint8_t *u, int64_t g_ld) {
  for (int64_t b = 0; b < nkb; b++)
    for (int i = 0; i < 16; i++)
      for (int m = 0; m < 4; m++)
        for (int j = 0; j < 4; j++)
          u[(i / 4) * g_ld + (4 * b + m) * 16 + 4 * (i % 4) + j] = (uint8_t)((w[b * 64 + 4 * i + j] >> (2 * m)) & 3);
}

void subq_i8wt2_ternary_gemmw_ukernel_4x16__scalar(int64_t ns, const uint8_t *u, const int8_t *qv, int32_t *acc,
                                                   int64_t acc_ld) {
  for (int i = 0; i < 4; i++)
    for (int t = 0; t < 16; t++) {
      int32_t s = 0;
      for (int64_t k = 0; k < ns; k++)
        for (int j = 0; j < 4; j++) s += (int32_t)u[k * 16 + 4 * i + j] * qv[k * 64 + 4 * t + j];
      acc[i * acc_ld + t] += s;
    }
}

void subq_f32_ternary_actq_ukernel__scalar(const float *x, const float *w, int64_t k, int64_t k_pad, bool norm,
                                           float eps, int rounding, int8_t *q, int32_t *sum, float *amax) {
  const float r = norm ? subq_ternary_rms_inv(subq_ternary_sumsq_scalar(x, k), k, eps) : 1.0f;
  float m = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    float y = x[i];
    if (norm) y = w ? (y * r) * w[i] : y * r;
    m = fmaxf(m, fabsf(y));
  }
  const float a = m > 1e-5f ? m : 1e-5f, s = 127.0f / a;
  int32_t S = 0;
  for (int64_t i = 0; i < k; i++) {
    float y = x[i];
    if (norm) y = w ? (y * r) * w[i] : y * r;
    q[i] = subq_ternary_q1(y * s, rounding);
    S += q[i];
  }
  for (int64_t i = k; i < k_pad; i++) q[i] = 0;
  *sum = S;
  *amax = a;
}

void subq_f32_hgrn_scan_ukernel__scalar(int64_t T, int64_t nc, const float *i, int64_t i_ld, const float *f,
                                        int64_t f_ld, const float *lb, const float *s_in, float *s_out, float *u,
                                        int64_t u_ld) {
  for (int64_t t = 0; t < T; t++) {
    const float *prev = t ? u + (t - 1) * u_ld : s_in;
    for (int64_t c = 0; c < nc; c++) {
      const float fr = f[t * f_ld + c], iv = i[t * i_ld + c];
      float fv = 1.0f / (1.0f + subq_expf_u2(-fr));
      if (lb) fv = lb[c] + (1.0f - lb[c]) * fv;
      const float cv = (iv / (1.0f + subq_expf_u2(-iv))) * (1.0f - fv);
      u[t * u_ld + c] = fmaf(fv, prev ? prev[c] : 0.0f, cv);
    }
  }
  if (s_out && T > 0)
    for (int64_t c = 0; c < nc; c++) s_out[c] = u[(T - 1) * u_ld + c];
}

void subq_f32_hgrn_gate_ukernel__scalar(int64_t C, const float *g, const float *w, float eps, float *o) {
  const float r = subq_ternary_rms_inv(subq_ternary_sumsq_scalar(g, C), C, eps);
  for (int64_t c = 0; c < C; c++) {
    float gn = g[c] * r;
    if (w) gn = gn * w[c];
    const float s = o[c];
    o[c] = gn * (s / (1.0f + subq_expf_u2(-s)));
  }
}
