/* subq_context_internal.h — the context object (internal). */
#ifndef SUBQ_CONTEXT_INTERNAL_H
#define SUBQ_CONTEXT_INTERNAL_H

#include <pthread.h>

#include "subq_pool.h"

struct subq_context {
  subq_context_params params;   /* resolved copy */
  subq_isa isa;                 /* resolved ISA path */
  int32_t n_threads;            /* participants */
  int32_t n_nodes;
  int32_t *node_of;             /* [n_threads] */
  subq_pool *pool;              /* NULL with an executor or n_threads == 1 */
  bool has_executor;
  subq_executor executor;
  subq_topology *topology;      /* retained; may be NULL when never needed */
  void *placement;              /* NUMA placement state (subq_placement.c) */
  pthread_mutex_t call_lock;    /* one kernel call at a time */
  void **scratch;               /* [n_scratch], carved from node-local arenas */
  void *scratch_arena;          /* owner of the scratch memory (subq_scratch_arenas_create) */
  size_t scratch_size;          /* bytes each */
  int32_t n_scratch;
  void *shared;                 /* workspace shared by a call's participants (subq_parallel_run_shared) */
  size_t shared_size;           /* bytes; grows, kept until the context is destroyed */
};

/* Allowed CPUs of the calling thread, counted as physical cores (SMT siblings
 * merged unless use_smt) and capped by the cgroup CPU quota. >= 1. */
int32_t subq_default_thread_count(bool use_smt);
/* Number of CPUs in the calling thread's affinity mask (>= 1). */
int32_t subq_allowed_cpu_count(void);

/* Layout of participants over NUMA nodes and the worker binding for a
 * context (subq_placement.c). Fills ctx->n_nodes, ctx->node_of, ctx->placement
 * and the pool layout's bind hook. */
subq_status subq_placement_setup(subq_context *ctx, subq_pool_layout *layout);
void subq_placement_teardown(subq_context *ctx);
size_t subq_placement_describe(const subq_context *ctx, char *buf, size_t cap);

#endif
