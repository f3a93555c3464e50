/*
 * subq_ref_ternary.c — see subq_ref_ternary.h. Plain loops, no SIMD.
 */
#include "ref/subq_ref_ternary.h"

#include <math.h>
#include <stdlib.h>

void subq_ref_ternary_absmean(int64_t n, int64_t k, const float *w, bool per_row, int8_t *t, float *gamma) {
  double total = 0.0;
  for (int64_t r = 0; r < n; r++) {
    double s = 0.0;
    for (int64_t c = 0; c < k; c++) s += fabs((double)w[r * k + c]);
    if (per_row) {
      float g = (float)(s / (double)k);
      gamma[r] = g > 1e-5f ? g : 1e-5f;
    }
    total += s;
  }
  if (!per_row) {
    float g = (float)(total / ((double)n * (double)k));
    gamma[0] = g > 1e-5f ? g : 1e-5f;
  }
  for (int64_t r = 0; r < n; r++) {
    const float inv = 1.0f / gamma[per_row ? r : 0];
    for (int64_t c = 0; c < k; c++) {
      const float v = rintf(w[r * k + c] * inv);
      t[r * k + c] = (int8_t)(v > 1.0f ? 1 : v < -1.0f ? -1 : (int)v);
    }
  }
}

static float ref_round(float v, int rounding) {
  if (rounding == 0) return rintf(v);
  const double a = floor(fabs((double)v) + 0.5); /* exact in double */
  return copysignf((float)a, v);
}

void subq_ref_ternary_actq(const float *x, const float *w, int64_t k, bool norm, float eps, int rounding, int8_t *q,
                           int32_t *S, float *a) {
  float r = 1.0f;
  if (norm) {
    float p[16] = {0};
    for (int64_t i = 0; i < k; i++) p[i % 16] = fmaf(x[i], x[i], p[i % 16]);
    for (int w2 = 8; w2 >= 1; w2 /= 2)
      for (int j = 0; j < w2; j++) p[j] = p[j] + p[j + w2];
    r = 1.0f / sqrtf(p[0] / (float)k + eps);
  }
  float *y = malloc((size_t)k * sizeof(float));
  float m = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    y[i] = norm ? (w ? (x[i] * r) * w[i] : x[i] * r) : x[i];
    if (fabsf(y[i]) > m) m = fabsf(y[i]);
  }
  *a = m > 1e-5f ? m : 1e-5f;
  const float s = 127.0f / *a;
  int32_t sum = 0;
  for (int64_t i = 0; i < k; i++) {
    float v = ref_round(y[i] * s, rounding);
    if (v > 127.0f) v = 127.0f;
    if (v < -127.0f) v = -127.0f;
    q[i] = (int8_t)v;
    sum += q[i];
  }
  *S = sum;
  free(y);
}

void subq_ref_ternary_dot(int64_t T, int64_t n, int64_t k, const int8_t *t, const int8_t *q, int64_t *d) {
  for (int64_t tt = 0; tt < T; tt++)
    for (int64_t r = 0; r < n; r++) {
      int64_t s = 0;
      for (int64_t c = 0; c < k; c++) s += (int64_t)t[r * k + c] * q[tt * k + c];
      d[tt * n + r] = s;
    }
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

void subq_ref_hgrn(int64_t T, int64_t C, const float *i, const float *f, const float *lb, double *state,
                   const float *gate, const float *gw, double eps, double *out) {
  double *s = calloc((size_t)C, sizeof(double));
  if (state)
    for (int64_t c = 0; c < C; c++) s[c] = state[c];
  for (int64_t t = 0; t < T; t++) {
    for (int64_t c = 0; c < C; c++) {
      double fv = ref_sigmoid(f[t * C + c]);
      if (lb) fv = lb[c] + (1.0 - lb[c]) * fv;
      const double iv = i[t * C + c];
      s[c] = fv * s[c] + iv * ref_sigmoid(iv) * (1.0 - fv);
      out[t * C + c] = s[c];
    }
    if (gate) {
      double ss = 0.0;
      for (int64_t c = 0; c < C; c++) ss += (double)gate[t * C + c] * gate[t * C + c];
      const double r = 1.0 / sqrt(ss / (double)C + eps);
      for (int64_t c = 0; c < C; c++) {
        const double sv = out[t * C + c];
        out[t * C + c] = gate[t * C + c] * r * (gw ? gw[c] : 1.0) * sv * ref_sigmoid(sv);
      }
    }
  }
  if (state)
    for (int64_t c = 0; c < C; c++) state[c] = s[c];
  free(s);
}
