#include "ref/subq_ref_gemm.h"

#include <math.h>
#include <string.h>

void subq_ref_gemm(int64_t m, int64_t n, int64_t k, double alpha, const double *a, const double *b, double beta,
                   const double *c0, double *out, double *mag) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0.0, sa = 0.0;
      for (int64_t p = 0; p < k; p++) {
        const double t = a[i * k + p] * b[p * n + j];
        s += t;
        sa += fabs(t);
      }
      double v = alpha * s, mg = fabs(alpha) * sa;
      if (beta != 0.0) {
        v += beta * c0[i * n + j];
        mg += fabs(beta * c0[i * n + j]);
      }
      out[i * n + j] = v;
      if (mag) mag[i * n + j] = mg;
    }
}

static double subq_ref_bf16_value(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return (double)f;
}

uint16_t subq_ref_f32_to_bf16(float x) {
  if (isnan(x)) return 0x7fc0;
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t lo = (uint16_t)(u >> 16); /* truncation: toward zero */
  if ((u & 0xffffu) == 0) return lo;
  const uint16_t hi = (uint16_t)(lo + 1); /* next away from zero (may be Inf) */
  const double dl = fabs((double)x - subq_ref_bf16_value(lo));
  /* the value above the largest finite bf16 magnitude rounds like a 2^128 step */
  const double vh = (hi & 0x7fff) == 0x7f80 ? copysign(ldexp(1.0, 128), (double)x) : subq_ref_bf16_value(hi);
  const double dh = fabs((double)x - vh);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}
