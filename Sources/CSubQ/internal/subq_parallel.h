/*
 * subq_parallel.h — how kernels run in parallel without seeing threads.
 *
 * A kernel call compiles to an ordered list of phases. A phase is n_items
 * independent work items, a claim size (grain) and run(arg, begin, end, info).
 * Items of one phase may run in any order on any participant of the node that
 * owns them (one that is done takes over items assigned to a late one); phases are
 * separated by a barrier. Item boundaries come from the shape only, so outputs
 * do not depend on the thread count.
 */
#ifndef SUBQ_PARALLEL_H
#define SUBQ_PARALLEL_H

#include "subq_internal.h"

typedef struct subq_task_info {
  int32_t participant;     /* 0 = the calling thread */
  int32_t n_participants;
  int32_t node;            /* node index (within the context's layout) of this participant */
  void *scratch;           /* this participant's scratch, scratch_size bytes, 64-byte aligned */
  size_t scratch_size;
} subq_task_info;

/* Runs items [begin, end). Returns SUBQ_OK or a status after subq_error(). */
typedef subq_status (*subq_phase_fn)(void *arg, int64_t begin, int64_t end, const subq_task_info *info);

typedef struct subq_phase {
  subq_phase_fn run;
  void *arg;
  int64_t n_items;
  int64_t grain;           /* items per claim; <= 0 lets the runtime choose */
} subq_phase;

/* Runs the phases on ctx (NULL: on the calling thread). scratch_per_participant
 * bytes of private scratch are handed to every participant. Serialised per
 * context; a call from inside one of ctx's own tasks runs inline. Returns the
 * first failing item's status and copies its message to this thread. */
subq_status subq_parallel_run(subq_context *ctx, const subq_phase *phases, int n_phases,
                              size_t scratch_per_participant);

/* subq_parallel_run plus `shared_bytes` (> 0) of workspace that every
 * participant of this call sees (64-byte aligned, contents undefined): *shared
 * is set before the first phase runs, so phases reach it through their arg. The
 * buffer belongs to ctx, is reused by later calls (no page faults once touched)
 * and grows to the largest request; it is only valid until this returns. Safe
 * under concurrent calls on one ctx (they are serialised). NULL ctx or a nested
 * call: allocated and freed here. */
subq_status subq_parallel_run_shared(subq_context *ctx, const subq_phase *phases, int n_phases,
                                     size_t scratch_per_participant, size_t shared_bytes, void **shared);

/* Runs all items of one phase once on every node of ctx, each node's pass
 * split over that node's participants (info->node says which pass): filling
 * per-node replicas with the node's own workers. One pass for NULL, executor
 * and one-node contexts. */
subq_status subq_parallel_run_per_node(subq_context *ctx, const subq_phase *phase);

/* Number of participants a call on ctx will use (1 for NULL). */
int32_t subq_parallel_width(const subq_context *ctx);
/* Logging level for ctx's calls: the larger of its `verbose` and SUBQ_VERBOSE. */
int subq_context_verbosity(const subq_context *ctx);
/* The ISA path of ctx (NULL: host best under the global cap). */
subq_isa subq_context_isa_or_default(const subq_context *ctx);
/* ctx when `work` (a family's cost unit: bytes, FMAs) reaches `threshold`, else
 * NULL: small problems run on the calling thread, where waking the pool costs more
 * than the work. Never changes results (items never change the arithmetic). */
static inline subq_context *subq_ctx_for_work(subq_context *ctx, double work, double threshold) {
  return work >= threshold ? ctx : NULL;
}

#endif /* SUBQ_PARALLEL_H */
