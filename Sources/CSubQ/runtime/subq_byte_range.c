/*
 * subq_byte_range.c — the outputs-apart rule of internal/subq_byte_range.h,
 * shared by the SSM scans, conv1d and linear attention, and the stride
 * nesting rule of fused attention, linear attention and the SSM outputs.
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

int subq_strides_nest(int n, const int64_t *ext, const int64_t *str, int64_t inner, int64_t *need) {
  int idx[4], m = 0;
  for (int i = 0; i < n && i < 4; i++) {
    if (ext[i] <= 1) continue;
    int j = m++;
    for (; j > 0 && str[idx[j - 1]] > str[i]; j--) idx[j] = idx[j - 1]; /* stable: equal strides keep their order */
    idx[j] = i;
  }
  int64_t span = inner, t;
  for (int k = 0; k < m; k++) {
    const int d = idx[k];
    if (str[d] < span) {
      *need = span;
      return d;
    }
    if (!subq_mul_i64(ext[d] - 1, str[d], &t) || !subq_add_i64(t, span, &span)) return -1;
  }
  return -1;
}
