/*
 * subq_monarch_internal.h — what the Monarch driver, its backward pass and
 * its projection share (internal).
 */
#ifndef SUBQ_MONARCH_INTERNAL_H
#define SUBQ_MONARCH_INTERNAL_H

#include <stdatomic.h>

#include "families/monarch/subq_monarch_ukernel.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"
#include "internal/subq_weights.h"

typedef struct subq_monarch_impl {
  subq_isa isa;
  const char *name;
  int64_t mr, nr;
  subq_f32_monarch_bdmm_fn bdmm;
} subq_monarch_impl;

typedef struct subq_monarch_lanes_impl {
  subq_isa isa;
  subq_f32_monarch_lanes_fn fn;      /* NULL in the sentinel */
  int64_t mt, mc, lw;
} subq_monarch_lanes_impl;

/* Derived sizes of a checked descriptor. */
typedef struct subq_monarch_dims {
  int64_t n, m;        /* input and output widths */
  int64_t nn, nl;      /* k*q and l*r (equal for MONARCH) */
  int64_t w1_elems, w2_elems;
} subq_monarch_dims;

struct subq_monarch_weights {
  uint32_t magic;
  subq_monarch_desc desc;
  subq_monarch_dims dims;
  const subq_monarch_impl *impl;
  size_t bytes;
  float *w1p;          /* block i: p x roundup(q, NR) in NR-wide panels (W1[i]^T); copy 0 of m1 */
  float *w2p;          /* block j: r x roundup(s, NR) (W2[j]^T); NULL for BLOCKDIAG; copy 0 of m2 */
  subq_weights_mem m1, m2; /* w1p / w2p placed by the creating context's NUMA mode (MIRROR: a copy per node) */
  /* non-NULL: stage 2 through lanes->fn (l >= lanes->lw); w2p then holds, per group
   * g of lw blocks, w[g][c / mc][t][c % mc][lam] = W2[g*lw + lam][c][t] (c padded to mc) */
  const subq_monarch_lanes_impl *lanes;
  /* Backward panels (W1[i] as q x p, then W2[j] as s x r B operands), made by the
   * first subq_monarch_backward and published with a compare-exchange (a losing
   * racer frees its copy); freed with the weights. Forward-only users never pay. */
  _Atomic(float *) bwd_panels;
  /* Lanes weights only: W2 once more as bdmm B panels (block j: r x roundup(s, NR)),
   * made by the first forward of >= 8 token tiles (same compare-exchange), for the
   * transpose-then-bdmm stage 2 of many-token calls. */
  _Atomic(float *) fwd_w2;
  subq_f32_monarch_perm_fn perm;      /* NULL: portable transposes */
};

const subq_monarch_impl *subq_monarch_pick(subq_isa chosen);
int64_t subq_monarch_ceil_div(int64_t a, int64_t b);
subq_status subq_monarch_desc_read(const char *fn, const subq_monarch_desc *desc, subq_monarch_desc *d,
                                   subq_monarch_dims *dims);
subq_status subq_monarch_weights_check(const char *fn, subq_context *ctx, const subq_monarch_weights *w);
int64_t subq_monarch_token_tile(const subq_monarch_weights *w);
/* Validates a [rows][cols] f32 operand with row stride ld (its name and ld's
 * name for messages) and gives its byte range (empty when rows is 0). */
subq_status subq_monarch_check_operand(const char *fn, const char *name, const char *ldname, const void *p,
                                       int64_t rows, int64_t cols, int64_t ld, subq_byte_range *r);
void subq_monarch_pack_block(const void *src, subq_dtype dt, int64_t b, int64_t rows, int64_t cols, bool transposed,
                             int64_t nr, float *dst);
void subq_monarch_block_gemm(const subq_monarch_impl *u, int64_t tn, int64_t K, int64_t N, const float *a,
                             int64_t a_rs, int64_t a_cs, const float *bpk, float *c, int64_t c_rs, bool accumulate);
/* The stages read the packed factors of participant `info`'s node (NULL: copy 0). */
void subq_monarch_stage1(const subq_monarch_weights *w, const subq_task_info *info, int64_t i, int64_t tn,
                         const float *x, int64_t ldx, float *u, int64_t ldu);
void subq_monarch_stage2_lanes(const subq_monarch_weights *w, const subq_task_info *info, int64_t g0, int64_t g1,
                               int64_t tn, const float *u, int64_t ldu, float *y, int64_t ldy, const float *bias);
void subq_monarch_stage2(const subq_monarch_weights *w, const subq_task_info *info, int64_t j, int64_t tn,
                         const float *u, int64_t ldu, float *z, int64_t ldz);
void subq_monarch_p2(subq_f32_monarch_perm_fn perm, int64_t tn, int64_t l, int64_t s, const float *z, int64_t ldz,
                     float *y, int64_t ldy,
                     const float *bias);

/* Publishes a lazily built buffer: `mine` goes into *slot unless another
 * thread's got there first, in which case `mine` is freed. Returns the buffer
 * that stays (readers then see it fully built: acq_rel / acquire). */
static inline float *subq_monarch_publish(_Atomic(float *) *slot, float *mine) {
  float *expected = NULL;
  if (atomic_compare_exchange_strong_explicit(slot, &expected, mine, memory_order_acq_rel, memory_order_acquire))
    return mine;
  subq_free(mine);
  return expected;
}

#endif
