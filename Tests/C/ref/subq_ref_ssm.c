/*
 * subq_ref_ssm.c — float64 oracles for conv1d, the Mamba-1 scan, the Mamba-2
 * recurrence and the grouped gated RMSNorm.
 */
#include "ref/subq_ref_ssm.h"

#include <math.h>

static double ref_softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }

void subq_ref_conv1d(int64_t T, int64_t C, int W, const float *x, const float *w, const float *bias,
                     const float *state_in, bool silu, double *y, double *state_out) {
  /* win row i: i < W-1 -> state row i, else x row i-(W-1) */
#define WIN(i, ch) \
  ((i) < W - 1 ? (state_in ? (double)state_in[(i) * C + (ch)] : 0.0) : (double)x[((i) - (W - 1)) * C + (ch)])
  for (int64_t t = 0; t < T; t++)
    for (int64_t ch = 0; ch < C; ch++) {
      double acc = bias ? bias[ch] : 0.0;
      for (int k = 0; k < W; k++) acc += (double)w[ch * W + k] * WIN(t + k, ch);
      y[t * C + ch] = silu ? ref_silu(acc) : acc;
    }
  if (state_out)
    for (int k = 0; k < W - 1; k++)
      for (int64_t ch = 0; ch < C; ch++) state_out[k * C + ch] = WIN(T + k, ch);
#undef WIN
}

void subq_ref_ssm1(int64_t T, int64_t E, int64_t N, int64_t G, bool softplus, bool a_log, const float *u,
                   const float *dt, const float *b, const float *c, const float *z, const float *a,
                   const float *dt_bias, const float *d_skip, double *h, double *y) {
  const int64_t gs = E / G;
  for (int64_t t = 0; t < T; t++)
    for (int64_t d = 0; d < E; d++) {
      const int64_t g = d / gs;
      double dv = (double)dt[t * E + d] + (dt_bias ? (double)dt_bias[d] : 0.0);
      if (softplus) dv = ref_softplus(dv);
      double acc = 0.0;
      for (int64_t n = 0; n < N; n++) {
        double A = a[d * N + n];
        if (a_log) A = -exp(A);
        h[d * N + n] = exp(dv * A) * h[d * N + n] + dv * (double)b[t * G * N + g * N + n] * (double)u[t * E + d];
        acc += (double)c[t * G * N + g * N + n] * h[d * N + n];
      }
      if (d_skip) acc += (double)d_skip[d] * (double)u[t * E + d];
      if (z) acc *= ref_silu((double)z[t * E + d]);
      y[t * E + d] = acc;
    }
}

void subq_ref_ssm2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, bool softplus, bool a_log,
                   bool d_per_channel, double lo, double hi, const float *x, const float *dt, const float *b,
                   const float *c, const float *a, const float *dt_bias, const float *d_skip, double *S, double *y) {
  const int64_t E = H * P, GN = G * N, hpg = H / G;
  for (int64_t t = 0; t < T; t++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t g = h / hpg;
      double dv = (double)dt[t * H + h] + (dt_bias ? (double)dt_bias[h] : 0.0);
      if (softplus) dv = ref_softplus(dv);
      if (dv < lo) dv = lo;
      if (dv > hi) dv = hi;
      const double A = a_log ? -exp((double)a[h]) : (double)a[h];
      const double da = exp(dv * A);
      for (int64_t p = 0; p < P; p++) {
        const double xv = x[t * E + h * P + p];
        double acc = 0.0;
        for (int64_t n = 0; n < N; n++) {
          double *s = &S[(h * P + p) * N + n];
          *s = da * *s + dv * xv * (double)b[t * GN + g * N + n];
          acc += (double)c[t * GN + g * N + n] * *s;
        }
        if (d_skip) acc += (double)d_skip[d_per_channel ? h * P + p : h] * xv;
        y[t * E + h * P + p] = acc;
      }
    }
}

void subq_ref_gated_rmsnorm(int64_t rows, int64_t width, int64_t gs, double eps, bool norm_before_gate,
                            const float *y, const float *z, const float *weight, double *out) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t g0 = 0; g0 < width; g0 += gs) {
      double ss = 0.0;
      for (int64_t i = g0; i < g0 + gs; i++) {
        double v = y[r * width + i];
        if (z && !norm_before_gate) v *= ref_silu((double)z[r * width + i]);
        ss += v * v;
      }
      const double rs = 1.0 / sqrt(ss / (double)gs + eps);
      for (int64_t i = g0; i < g0 + gs; i++) {
        double v = y[r * width + i];
        if (z && !norm_before_gate) v *= ref_silu((double)z[r * width + i]);
        v *= rs * (weight ? (double)weight[i] : 1.0);
        if (z && norm_before_gate) v *= ref_silu((double)z[r * width + i]);
        out[r * width + i] = v;
      }
    }
}
