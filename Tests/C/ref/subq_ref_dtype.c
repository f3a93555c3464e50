/*
 * subq_ref_dtype.c — bf16 and f16 from their definitions (see the header).
 */
#include "ref/subq_ref_dtype.h"

#include <math.h>
#include <string.h>

double subq_ref_bf16_value(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return (double)f;
}

double subq_ref_f16_value(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0) return s * ldexp(m, -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * ldexp(1024 + m, e - 25);
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

uint16_t subq_ref_f32_to_f16(float x) {
  const uint16_t sign = signbit(x) ? 0x8000u : 0;
  const double a = fabs((double)x);
  if (a >= 65520.0) return sign | 0x7c00u;
  if (a == 0.0) return sign;
  int e;
  frexp(a, &e);
  int E = e - 1 < -14 ? -14 : e - 1;
  double r = nearbyint(ldexp(a, 10 - E));
  if (r >= 2048.0) r /= 2, E++;
  if (E == -14 && r < 1024.0) return sign | (uint16_t)r;
  return (uint16_t)(sign | (uint16_t)((E + 15) << 10) | (uint16_t)((int)r - 1024));
}
