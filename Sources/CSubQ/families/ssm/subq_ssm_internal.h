/*
 * subq_ssm_internal.h — argument validation shared by the SSM family's
 * drivers (subq_ssm.c: conv1d and Mamba-1; subq_ssm2.c: Mamba-2 and the
 * gated RMSNorm). Internal.
 */
#ifndef SUBQ_SSM_INTERNAL_H
#define SUBQ_SSM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_internal.h"

typedef struct subq_range {
  uintptr_t lo, hi; /* [lo, hi) bytes; lo == hi: empty */
} subq_range;

SUBQ_INTERNAL bool subq_ranges_overlap(subq_range a, subq_range b);
/* Token-major tensor of batch x rows x cols: defaults ld (0 = cols) and bs
 * (0 = rows * ld), checks them and computes the byte range. */
SUBQ_INTERNAL subq_status subq_ssm_tensor(const char *fn, const char *name, const float *p, bool required,
                                          int64_t batch, int64_t rows, int64_t cols, int64_t *ld, int64_t *bs,
                                          subq_range *r);
/* A flat vector of n floats. */
SUBQ_INTERNAL subq_status subq_ssm_vec(const char *fn, const char *name, const float *p, bool required, int64_t n,
                                       subq_range *r);

#endif
