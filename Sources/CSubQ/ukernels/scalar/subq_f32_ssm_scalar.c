/*
 * subq_f32_ssm_scalar.c — portable SSM micro-kernels (the fallback path):
 * libm expf/log1pf, explicit fmaf, the operation order of the contract in
 * subq_ssm_ukernel.h.
 */
#include <math.h>

#include "families/ssm/subq_ssm_ukernel.h"

static float subq_softplus_scalar(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

static float subq_silu_scalar(float x) {
  const float e = expf(-fabsf(x));
  const float s = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  return x * s;
}

void subq_f32_ssm_s6scan_ukernel_d16__scalar(const subq_s6scan_params *p) {
  const int64_t N = p->N;
  for (int64_t t = 0; t < p->T; t++) {
    const float *u = p->u + t * p->u_ld, *dt = p->dt + t * p->dt_ld;
    const float *b = p->b + t * p->b_ld, *c = p->c + t * p->c_ld;
    float *y = p->y + t * p->y_ld;
    for (int32_t l = p->lane0; l < p->lane0 + p->nl; l++) {
      float dv = dt[l] + (p->dt_bias ? p->dt_bias[l] : 0.0f);
      if (p->softplus) dv = subq_softplus_scalar(dv);
      const float uv = u[l], du = dv * uv;
      float acc = 0.0f;
      for (int64_t n = 0; n < N; n++) {
        const float a = expf(dv * p->a[n * SUBQ_SSM_BLOCK + l]);
        float *h = &p->h[n * SUBQ_SSM_BLOCK + l];
        *h = fmaf(a, *h, du * b[n]);
        acc = fmaf(*h, c[n], acc);
      }
      if (p->d_skip) acc = fmaf(p->d_skip[l], uv, acc);
      if (p->z) acc = acc * subq_silu_scalar(p->z[t * p->z_ld + l]);
      y[l] = acc;
    }
  }
}

void subq_f32_ssm_conv1d_ukernel_c64__scalar(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld,
                                             const float *w, const float *bias, const float *state_in,
                                             float *state_out, int64_t s_ld, float *y, int64_t y_ld, bool silu,
                                             float *work) {
  (void)work;
  for (int64_t t = 0; t < T; t++)
    for (int64_t ch = 0; ch < nc; ch++) {
      float acc = bias ? bias[ch] : 0.0f;
      for (int32_t k = 0; k < W; k++) {
        const int64_t r = t + k - (W - 1); /* row of x; < 0: state row W-1+r */
        const float v = r >= 0 ? x[r * x_ld + ch] : (state_in ? state_in[(W - 1 + r) * s_ld + ch] : 0.0f);
        acc = fmaf(w[ch * W + k], v, acc);
      }
      y[t * y_ld + ch] = silu ? subq_silu_scalar(acc) : acc;
    }
  if (state_out)
    for (int32_t k = 0; k < W - 1; k++) { /* ascending k reads rows > k only: in place is safe */
      const int64_t r = T + k - (W - 1);
      for (int64_t ch = 0; ch < nc; ch++)
        state_out[k * s_ld + ch] = r >= 0 ? x[r * x_ld + ch] : (state_in ? state_in[(W - 1 + r) * s_ld + ch] : 0.0f);
    }
}
