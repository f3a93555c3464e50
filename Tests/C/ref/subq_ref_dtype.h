/*
 * subq_ref_dtype.h — bf16 and IEEE half written from the formats' definitions
 * (independent of the library's converters), for every test that needs them.
 */
#ifndef SUBQ_REF_DTYPE_H
#define SUBQ_REF_DTYPE_H

#include <stdint.h>

/* The value of a bf16 / f16 bit pattern (subnormals, infinities; NaN for a NaN). */
double subq_ref_bf16_value(uint16_t h);
double subq_ref_f16_value(uint16_t h);

/* Round-to-nearest-even f32 -> bf16 computed through float64 distances
 * (independent of the library's bit trick). NaN maps to a NaN. */
uint16_t subq_ref_f32_to_bf16(float x);
/* Round-to-nearest-even f32 -> f16 through frexp / nearbyint (finite x;
 * overflow to infinity, subnormals exact). */
uint16_t subq_ref_f32_to_f16(float x);

#endif
