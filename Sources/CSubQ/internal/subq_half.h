/*
 * subq_half.h — scalar conversions between f32 and the two 16-bit float
 * formats (bf16, IEEE f16). Internal; the one definition the whole library
 * uses (kernel tails, scalar references of the kernels, packing, the public
 * array converters). The rounding and NaN rules are those of the hardware
 * instructions the SIMD paths use (AVX-512 BF16 VCVTNEPS2BF16, F16C
 * VCVTPS2PH / VCVTPH2PS, AArch64 BFCVT / FCVT), so a scalar tail gives the
 * same bits as the vector body beside it:
 * - to 16 bits: round to nearest even; finite values past the largest finite
 *   16-bit value become Inf; f16 subnormals are exact; NaN stays NaN, quiet,
 *   sign and top payload bits kept;
 * - from 16 bits: exact; an f16 NaN comes back quiet with its payload.
 */
#ifndef SUBQ_HALF_H
#define SUBQ_HALF_H

#include <stdint.h>
#include <string.h>

static inline float subq_bf16_to_f32_1(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t subq_f32_to_bf16_1(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN, sign kept */
  u += 0x7fffu + ((u >> 16) & 1u);                                              /* nearest even; overflow -> Inf */
  return (uint16_t)(u >> 16);
}

static inline float subq_f16_to_f32_1(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t u;
  if (e == 0x1f) {
    u = sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0u); /* NaN comes back quiet */
  } else if (e == 0) {
    const float f = (float)m * 0x1p-24f; /* subnormal (or zero): exact */
    memcpy(&u, &f, sizeof u);
    u |= sign;
  } else {
    u = sign | ((e + 112u) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t subq_f32_to_f16_1(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t ax = u & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (half-way to 2^16): Inf */
  if (ax >= 0x38800000u) {                                   /* normal f16 (>= 2^-14) */
    const uint32_t t = (ax + 0xfffu + ((ax >> 13) & 1u)) >> 13;
    return (uint16_t)(sign | (t - (112u << 10)));          /* rebias 127 -> 15; a carry rounds up the exponent */
  }
  const uint32_t e = ax >> 23;
  if (e < 102) return sign; /* below 2^-25: rounds to zero (2^-25 itself ties to even 0, handled below too) */
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u, s = 126u - e; /* units of 2^-24: mant >> s, s in 14..24 */
  uint32_t q = mant >> s;
  const uint32_t rem = mant & ((1u << s) - 1u), half = 1u << (s - 1u);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return (uint16_t)(sign | q); /* q == 0x400 is the smallest normal: the encoding carries over */
}

#endif
