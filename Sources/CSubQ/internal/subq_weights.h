/*
 * subq_weights.h — memory for read-only weights (packed B, ...) placed by the
 * context's NUMA mode (spec §1.8; implemented in runtime/subq_placement.c):
 *
 *  - OFF, INHERIT, no context, or a memory policy set by the user: one plain
 *    allocation (first touch decides);
 *  - ISOLATE, or a context on one node: one arena bound to that node;
 *  - DISTRIBUTE: one arena whose ranges are bound to the nodes that own them
 *    under the pool's static split of its units (unit u = bytes
 *    [u*unit_bytes, (u+1)*unit_bytes), the last one possibly short; with
 *    n_units of them, participants of node g run units
 *    [n_units*before_g/n, n_units*(before_g + np_g)/n)): a kernel whose items
 *    are these units reads local memory. Range edges are rounded to 2 MiB so
 *    two nodes never share a (huge) page;
 *  - MIRROR on more than one node: one full replica per node of the context,
 *    each bound to its node; participants read the replica of their node.
 *
 * The layout inside every copy is the same. Nothing here touches the memory:
 * fill it from a pool job (subq_parallel_run, or subq_parallel_run_per_node
 * for the replicas) so each page is first written by its owners.
 */
#ifndef SUBQ_WEIGHTS_H
#define SUBQ_WEIGHTS_H

#include "subq_context_internal.h"

typedef struct subq_weights_mem {
  int32_t n_copies; /* 1, or one replica per node of the context */
  void **copy;      /* [n_copies], 64-byte aligned, `bytes` each, untouched */
  size_t bytes;     /* of each copy */
  void *owner;      /* arenas or the plain block */
  bool plain;       /* owner is a subq_alloc block */
} subq_weights_mem;

/* Reserves `bytes` (> 0; units of unit_bytes > 0) for ctx (NULL: plain
 * memory). fn names the caller in messages. Errors: SUBQ_ERR_INVALID_ARGUMENT (size overflow),
 * SUBQ_ERR_OUT_OF_MEMORY, a binding failure's status. *w is zeroed first and
 * filled only on success. */
subq_status subq_weights_alloc(subq_context *ctx, const char *fn, size_t bytes, size_t unit_bytes,
                               subq_weights_mem *w);
/* Frees what subq_weights_alloc reserved; a zeroed struct is a no-op. */
void subq_weights_free(subq_weights_mem *w);

/* The copy the participant described by info reads (info NULL: copy 0, which
 * lives on the caller's node). */
static inline void *subq_weights_copy_for(const subq_weights_mem *w, const subq_task_info *info) {
  const int32_t node = info && w->n_copies > 1 ? info->node : 0;
  return w->copy[node >= 0 && node < w->n_copies ? node : 0];
}

#endif /* SUBQ_WEIGHTS_H */
