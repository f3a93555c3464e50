/*
 * test_byte_range.c — internal/subq_byte_range.h, the byte-range arithmetic
 * behind every family's overflow and aliasing checks: extents of strided rows,
 * empty operands, int64 and address-space overflow, and when two ranges share
 * a byte (adjacent ones do not, empty ones never do).
 */
#include <stddef.h>

#include "internal/subq_byte_range.h"
#include "support/subq_test.h"

static const void *at(uintptr_t a) { return (const void *)a; }

int main(void) {
  subq_byte_range r;
  static float buf[64];

  /* rows x cols with a row stride: first element to the end of the last row */
  CHECK(subq_byte_range_rows(buf, 3, 4, 10, sizeof(float), &r));
  CHECK(r.lo == (uintptr_t)buf && r.hi == (uintptr_t)buf + (2 * 10 + 4) * sizeof(float));
  CHECK(subq_byte_range_rows(buf, 1, 5, 0, 2, &r) && r.hi - r.lo == 10); /* one row: the stride does not count */

  /* empty operands: the empty range at p, never an error */
  const int64_t empty[][2] = {{0, 4}, {3, 0}, {-1, 4}, {3, -7}};
  for (int i = 0; i < 4; i++) {
    r.lo = 1, r.hi = 2;
    CHECK(subq_byte_range_rows(buf, empty[i][0], empty[i][1], 8, 4, &r));
    CHECK(r.lo == (uintptr_t)buf && r.hi == r.lo);
  }

  /* overflow: of the int64 offset, past the end of the address space; negative sizes */
  CHECK(!subq_byte_range_rows(buf, INT64_MAX / 2, 4, 4, 4, &r));
  CHECK(!subq_byte_range_rows(buf, 2, 1, INT64_MAX, 1, &r));
  CHECK(!subq_byte_range_rows(buf, 1, INT64_MAX / 4 + 1, 0, 4, &r));
  CHECK(!subq_byte_range_at(at(UINTPTR_MAX - 10), 16, &r));
  CHECK(subq_byte_range_at(at(UINTPTR_MAX - 16), 16, &r) && r.hi == UINTPTR_MAX);
  CHECK(!subq_byte_range_at(buf, -1, &r));
  CHECK(subq_byte_range_at(buf, 0, &r) && r.lo == r.hi);

  /* overlap: shared bytes only */
  const subq_byte_range a = {100, 108}, adjacent = {108, 116}, one_byte = {107, 116}, inside = {102, 104},
                        empty_inside = {104, 104}, before = {90, 100};
  CHECK(!subq_byte_ranges_overlap(a, adjacent) && !subq_byte_ranges_overlap(adjacent, a));
  CHECK(subq_byte_ranges_overlap(a, one_byte) && subq_byte_ranges_overlap(one_byte, a));
  CHECK(subq_byte_ranges_overlap(a, inside) && subq_byte_ranges_overlap(inside, a));
  CHECK(subq_byte_ranges_overlap(a, a));
  CHECK(!subq_byte_ranges_overlap(a, empty_inside) && !subq_byte_ranges_overlap(empty_inside, a));
  CHECK(!subq_byte_ranges_overlap(empty_inside, empty_inside));
  CHECK(!subq_byte_ranges_overlap(a, before) && !subq_byte_ranges_overlap(before, a));

  return subq_test_finish("test_byte_range");
}
