/*
 * subq_ssm_internal.h — argument validation shared by the SSM family's
 * drivers (subq_ssm.c: conv1d and Mamba-1; subq_ssm2.c: Mamba-2 and the
 * gated RMSNorm). Internal.
 */
#ifndef SUBQ_SSM_INTERNAL_H
#define SUBQ_SSM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"

/* Token-major tensor of batch x rows x cols: defaults ld (0 = cols) and bs
 * (0 = rows * ld), checks them and computes the byte range. */
SUBQ_INTERNAL subq_status subq_ssm_tensor(const char *fn, const char *name, const float *p, bool required,
                                          int64_t batch, int64_t rows, int64_t cols, int64_t *ld, int64_t *bs,
                                          subq_byte_range *r);
/* The rule for a written token-major tensor (after subq_ssm_tensor): with
 * batch > 1 its sequences are disjoint, stacked (bs >= (rows - 1) * ld +
 * cols) or interleaved token by token (bs >= cols and (batch - 1) * bs +
 * cols <= ld); otherwise an error naming <name>_bs. */
SUBQ_INTERNAL subq_status subq_ssm_out_seqs_apart(const char *fn, const char *name, int64_t batch, int64_t rows,
                                                  int64_t cols, int64_t ld, int64_t bs);
/* A flat vector of n floats. */
SUBQ_INTERNAL subq_status subq_ssm_vec(const char *fn, const char *name, const float *p, bool required, int64_t n,
                                       subq_byte_range *r);

/* The sequences of a call (mamba spec §6). Without cu: batch x seqlen
 * (step: seqlen must be 1). With cu (batch + 1 int32 offsets): cu[0] >= 0,
 * non-decreasing (step: lengths <= 1). Returns the rows of the activation
 * tensors as (tb tensors of tr rows): (batch, seqlen) or (1, cu[batch]) and
 * the longest sequence. */
SUBQ_INTERNAL subq_status subq_ssm_seqs_check(const char *fn, int64_t batch, int64_t seqlen, const int32_t *cu,
                                              bool step, int64_t *tb, int64_t *tr, int64_t *max_len);
/* state_slots (NULL = identity, then batch <= n_slots) in [0, n_slots),
 * distinct when the call writes states. */
SUBQ_INTERNAL subq_status subq_ssm_slots_check(const char *fn, int64_t batch, const int32_t *slots, int64_t n_slots,
                                               bool writes);
/* The state pool of a scan: *h_bs (0 = sf; more pads the slots, less is only
 * allowed for one slot), h_in and h_out as n_slots states of sf floats (their
 * byte ranges out), then the slots check. */
SUBQ_INTERNAL subq_status subq_ssm_state_pool(const char *fn, int64_t batch, const int32_t *slots, int64_t n_slots,
                                              int64_t sf, int64_t *h_bs, const float *h_in, const float *h_out,
                                              subq_byte_range *rhi, subq_byte_range *rho);
#endif
