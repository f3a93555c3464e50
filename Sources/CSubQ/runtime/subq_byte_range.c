/*
 * subq_byte_range.c — the outputs-apart rule of internal/subq_byte_range.h,
 * shared by the SSM scans, conv1d and linear attention.
 */
#include "internal/subq_byte_range.h"

subq_status subq_byte_ranges_outputs_apart(const char *fn, const char *out_name, subq_byte_range out,
                                           const char *state_name, subq_byte_range state,
                                           const subq_byte_range *ins, const char *const *names, int n,
                                           int in_place_of) {
  for (int i = 0; i < n; i++) {
    if (subq_byte_ranges_overlap(out, ins[i]))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, out_name, names[i]);
    if (i != in_place_of && subq_byte_ranges_overlap(state, ins[i]))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, state_name, names[i]);
  }
  if (subq_byte_ranges_overlap(out, state))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, out_name, state_name);
  return SUBQ_OK;
}
