/*
 * subq_ref_nn.c — float64 oracles of the nn family.
 */
#include "ref/subq_ref_nn.h"

#include <math.h>
#include <string.h>

double subq_ref_silu(double x) { return x / (1.0 + exp(-x)); }

void subq_ref_rmsnorm_row(int64_t cols, int64_t group, double eps, const float *x, const float *res,
                          const float *gate, const double *w, double *y) {
  for (int64_t g0 = 0; g0 < cols; g0 += group) {
    double ss = 0.0;
    for (int64_t i = g0; i < g0 + group; i++) {
      double v = (double)x[i] + (res ? (double)res[i] : 0.0);
      if (gate) v *= subq_ref_silu((double)gate[i]);
      y[i] = v;
      ss += v * v;
    }
    const double inv = 1.0 / sqrt(ss / (double)group + eps);
    for (int64_t i = g0; i < g0 + group; i++) y[i] = (w ? w[i] : 1.0) * (y[i] * inv);
  }
}

void subq_ref_rope_inv_freq(int64_t rot_dim, double theta, int type, double factor, double lo, double hi, double L0,
                            double *inv) {
  const double pi = 3.14159265358979323846;
  for (int64_t i = 0; i < rot_dim / 2; i++) {
    double f = pow(theta, -(double)(2 * i) / (double)rot_dim);
    if (type == 1) f /= factor;
    if (type == 2) {
      const double wavelen = 2.0 * pi / f;
      if (wavelen > L0 / lo) {
        f /= factor;
      } else if (wavelen >= L0 / hi) {
        const double s = (L0 / wavelen - lo) / (hi - lo);
        f = (1.0 - s) * f / factor + s * f;
      }
    }
    inv[i] = f;
  }
}

void subq_ref_rope_yarn_inv_freq(int64_t rot_dim, double theta, double factor, double L0, double beta_fast,
                                 double beta_slow, int truncate, double *inv) {
  const double pi = 3.14159265358979323846, d = (double)rot_dim;
  /* The YaRN paper's correction dims: the dim whose wavelength makes `beta` turns over L0. */
  double low = d * log(L0 / (2.0 * pi * beta_fast)) / (2.0 * log(theta));
  double high = d * log(L0 / (2.0 * pi * beta_slow)) / (2.0 * log(theta));
  if (truncate) low = floor(low), high = ceil(high);
  low = fmax(low, 0.0), high = fmin(high, d - 1.0);
  if (low == high) high += 0.001;
  for (int64_t i = 0; i < rot_dim / 2; i++) {
    const double f = pow(theta, -(double)(2 * i) / d);
    const double ramp = fmin(fmax(((double)i - low) / (high - low), 0.0), 1.0);
    inv[i] = f / factor * ramp + f * (1.0 - ramp); /* ramp 0: extrapolate (keep), 1: interpolate */
  }
}

void subq_ref_rope_row(int64_t head_dim, int64_t rot_dim, const float *x, const double *angles, double scale,
                       double *y) {
  const int64_t h = rot_dim / 2;
  for (int64_t i = 0; i < h; i++) {
    const double c = cos(angles[i]) * scale, s = sin(angles[i]) * scale;
    y[i] = (double)x[i] * c - (double)x[i + h] * s;
    y[i + h] = (double)x[i + h] * c + (double)x[i] * s;
  }
  for (int64_t i = rot_dim; i < head_dim; i++) y[i] = x[i];
}

/* Encodes |x| (finite, not NaN) with `mbits` mantissa bits, exponent bias
 * `bias`, smallest normal exponent 1 - bias, nearest even via rint in double
 * (exact: every value here has < 53 significant bits). */
static uint32_t ref_encode(double a, int mbits, int bias, int max_exp_field) {
  if (a == 0.0) return 0;
  int e;
  (void)frexp(a, &e); /* a = m 2^e, m in [0.5, 1): unbiased exponent e - 1 */
  int ue = e - 1;
  if (ue < 1 - bias) ue = 1 - bias;                    /* subnormal range: fixed quantum */
  const double q = rint(ldexp(a, mbits - ue));         /* units of 2^(ue - mbits) */
  double scaled = q;
  if (scaled >= ldexp(1.0, mbits + 1)) {               /* rounded up to the next binade */
    ue += 1;
    scaled = ldexp(scaled, -1);
  }
  if (ue + bias >= max_exp_field) return (uint32_t)max_exp_field << mbits; /* Inf */
  const uint32_t m = (uint32_t)scaled;
  if (m < (1u << mbits)) return m; /* subnormal (or 0), exponent field 0 */
  return ((uint32_t)(ue + bias) << mbits) | (m - (1u << mbits));
}

uint16_t subq_ref_nn_f32_to_f16(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  if (isnan(x)) return (uint16_t)(sign | 0x7c00u | 0x200u | ((u >> 13) & 0x3ffu));
  if (isinf(x)) return (uint16_t)(sign | 0x7c00u);
  return (uint16_t)(sign | ref_encode(fabs((double)x), 10, 15, 31));
}

double subq_ref_nn_f16_to_f64(uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 31) return m ? NAN : s * INFINITY;
  if (e == 0) return s * ldexp((double)m, -24);
  return s * ldexp(1024.0 + m, e - 25);
}

uint16_t subq_ref_nn_f32_to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  if (isnan(x)) return (uint16_t)((u >> 16) | 0x40u);
  if (isinf(x)) return (uint16_t)(sign | 0x7f80u);
  return (uint16_t)(sign | ref_encode(fabs((double)x), 7, 127, 255));
}
