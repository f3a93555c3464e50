/*
 * subq_byte_range.h — the bytes an operand addresses, for the overflow and
 * aliasing checks of every family's argument validation (one definition of
 * "overflows" and "overlaps" for the whole library). Internal.
 * Sources/CSubQ/runtime/subq_byte_range.c holds the one out-of-line check.
 */
#ifndef SUBQ_BYTE_RANGE_H
#define SUBQ_BYTE_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/subq_internal.h"

/* [lo, hi) bytes; lo == hi is empty. */
typedef struct subq_byte_range {
  uintptr_t lo, hi;
} subq_byte_range;

/* `bytes` (>= 0) from p; false when they pass PTRDIFF_MAX or the end of the
 * address space. */
static inline bool subq_byte_range_at(const void *p, int64_t bytes, subq_byte_range *r) {
  if (bytes < 0 || (uint64_t)bytes > (uint64_t)PTRDIFF_MAX || (uintptr_t)p > UINTPTR_MAX - (uintptr_t)bytes)
    return false;
  r->lo = (uintptr_t)p, r->hi = (uintptr_t)p + (uintptr_t)bytes;
  return true;
}

/* rows x cols elements of esize bytes, row i at p + i * ld elements (ld >= 0;
 * callers check ld >= cols with their own message): from the first element
 * to the end of the last row's last. rows or cols <= 0: the empty range at p.
 * false when the offset arithmetic overflows int64 or the range does not fit
 * (subq_byte_range_at). */
static inline bool subq_byte_range_rows(const void *p, int64_t rows, int64_t cols, int64_t ld, int64_t esize,
                                        subq_byte_range *r) {
  r->lo = r->hi = (uintptr_t)p;
  if (rows <= 0 || cols <= 0) return true;
  int64_t last, bytes;
  if (!subq_mul_i64(rows - 1, ld, &last) || !subq_add_i64(last, cols, &last) || !subq_mul_i64(last, esize, &bytes))
    return false;
  return subq_byte_range_at(p, bytes, r);
}

/* Whether a and b share a byte (an empty range shares none). */
static inline bool subq_byte_ranges_overlap(subq_byte_range a, subq_byte_range b) {
  return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi;
}

/* The aliasing rule of a call that writes an output `out` and a state output
 * `state` (either may be empty) from n inputs ins[] (named names[]): neither
 * output overlaps an input or the other output, except that the state output
 * may be the input in_place_of itself (a state updated in place; -1: none).
 * Returns SUBQ_OK, or SUBQ_ERR_INVALID_ARGUMENT with a message naming both
 * operands ("<fn>: <out_name> overlaps <input>"). subq_byte_range.c. */
SUBQ_INTERNAL subq_status subq_byte_ranges_outputs_apart(const char *fn, const char *out_name, subq_byte_range out,
                                                         const char *state_name, subq_byte_range state,
                                                         const subq_byte_range *ins, const char *const *names, int n,
                                                         int in_place_of);

/* The nesting rule of a strided tensor, in elements: its n (<= 4) dimensions
 * of extent ext[i] > 1, sorted by stride str[i] >= 0, must each stride past
 * the span of the ones inside it, the innermost past `inner` contiguous
 * elements; then no two elements share an address. Dimensions of extent <= 1
 * are ignored (pass 1 for one that may alias, a broadcast). Returns -1 when
 * they nest, or when the span arithmetic overflows int64 (the caller's extent
 * check reports that); else the index of the first dimension whose stride is
 * below the span *need it has to cover. subq_byte_range.c. */
SUBQ_INTERNAL int subq_strides_nest(int n, const int64_t *ext, const int64_t *str, int64_t inner, int64_t *need);

#endif /* SUBQ_BYTE_RANGE_H */
