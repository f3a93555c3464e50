/*
 * subq_f32_ssm_scalar.c — portable SSM micro-kernels (the fallback path):
 * libm expf/log1pf (the scan's decay: subq_exp2f_decay, the vector paths'
 * bits), explicit fmaf, the operation order of the contracts in
 * subq_ssm_ukernel.h and subq_ssm2_ukernel.h (Mamba-2: the recurrence in the
 * AVX2 kernel's order, tiles of 8 states; the GEMM in k order).
 */
#include <math.h>

#include "families/ssm/subq_ssm2_ukernel.h"
#include "families/ssm/subq_ssm_ukernel.h"

static float subq_softplus_scalar(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

static float subq_silu_scalar(float x) {
  const float e = expf(-fabsf(x));
  const float s = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  return x * s;
}

static void subq_s6scan_block_scalar(const subq_s6scan_params *p) {
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
        const float a = subq_exp2f_decay(dv * p->a[n * SUBQ_SSM_BLOCK + l]); /* a = A log2(e) */
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

void subq_f32_ssm_s6scan_ukernel_d16__scalar(const subq_s6scan_params *p) {
  subq_s6scan_params q = *p;
  for (int64_t k = 0; k < p->nblk; k++, subq_s6scan_next_block(&q)) subq_s6scan_block_scalar(&q);
}

void subq_f32_ssm_conv1d_ukernel_c256__scalar(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld,
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

/* ---- Mamba-2 ------------------------------------------------------------------------ */

void subq_f32_ssd_rec_ukernel__scalar(const subq_ssd_rec_params *p) {
  const int64_t N = p->N, P = p->P;
  for (int64_t t = 0; t < p->T; t++) {
    const float *xr = p->x + t * p->x_ld, *br = p->b + t * p->b_ld, *cr = p->c + t * p->c_ld;
    const float a = p->decay[t], dv = p->dtv[t];
    float *yr = p->y + t * p->y_ld;
    for (int64_t pp = 0; pp < P; pp++) {
      const float xd = dv * xr[pp];
      float y = 0.0f;
      for (int64_t n0 = 0; n0 < N; n0 += 8) { /* the SIMD kernels' state tiles */
        float acc = 0.0f, acc2 = 0.0f;
        const bool whole = n0 + 8 <= N; /* whole tiles sum states 0-3 and 4-7 in two chains */
        for (int64_t n = n0; n < n0 + 8 && n < N; n++) {
          float *s = &p->S[n * P + pp];
          *s = fmaf(a, *s, xd * br[n]);
          if (whole && n >= n0 + 4)
            acc2 = n == n0 + 4 ? *s * cr[n] : fmaf(*s, cr[n], acc2);
          else
            acc = n == n0 ? *s * cr[n] : fmaf(*s, cr[n], acc);
        }
        y = y + (whole ? acc + acc2 : acc);
      }
      yr[pp] = p->d_skip ? fmaf(p->d_skip[pp], xr[pp], y) : y;
    }
  }
}

void subq_f32_ssd_gemm_ukernel__scalar(int64_t M, int64_t Nc, int64_t K, const float *A, int64_t a_rs, int64_t a_cs,
                                       const float *B, int64_t ldb, float *C, int64_t ldc, const float *row_scale,
                                       float beta, int64_t k_tri) {
  for (int64_t i = 0; i < M; i++) {
    const int64_t kl = k_tri >= 0 && k_tri + i + 1 < K ? k_tri + i + 1 : K;
    for (int64_t j = 0; j < Nc; j++) {
      float acc = kl > 0 ? A[i * a_rs] * B[j] : 0.0f;
      for (int64_t k = 1; k < kl; k++) acc = fmaf(A[i * a_rs + k * a_cs], B[k * ldb + j], acc);
      if (row_scale) acc = acc * row_scale[i];
      if (beta != 0.0f) acc = fmaf(beta, C[i * ldc + j], acc);
      C[i * ldc + j] = acc;
    }
  }
}

void subq_f32_gated_rmsnorm_ukernel__scalar(int64_t width, int64_t gs, float eps, bool norm_before_gate,
                                            const float *y, const float *z, const float *weight, float *out) {
  for (int64_t g0 = 0; g0 < width; g0 += gs) {
    float ss = 0.0f;
    const bool gate_first = z && !norm_before_gate;
    for (int64_t i = g0; i < g0 + gs; i++) { /* reads y[i] before writing out[i]: out may equal y */
      const float v = gate_first ? y[i] * subq_silu_scalar(z[i]) : y[i];
      if (gate_first) out[i] = v; /* the gated value, read back below */
      ss = fmaf(v, v, ss);
    }
    const float r = 1.0f / sqrtf(ss / (float)gs + eps);
    for (int64_t i = g0; i < g0 + gs; i++) {
      float v = (gate_first ? out[i] : y[i]) * r;
      if (weight) v = weight[i] * v;
      if (z && norm_before_gate) v = v * subq_silu_scalar(z[i]);
      out[i] = v;
    }
  }
}
