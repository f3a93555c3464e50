/*
 * subq_pool.h — the persistent worker pool behind a subq_context (internal).
 */
#ifndef SUBQ_POOL_H
#define SUBQ_POOL_H

#include "subq_parallel.h"

typedef struct subq_pool subq_pool;

/* Where participants live: contiguous per-node blocks, participant 0 first.
 * Produced by the partition code from the topology; one node when NUMA is off. */
typedef struct subq_pool_layout {
  int32_t n_participants;
  int32_t n_nodes;
  const int32_t *node_of;          /* [n_participants] node index of each participant */
  /* Optional per-worker binding: called on the worker thread itself before it
   * takes any job. NULL = no binding. Returns SUBQ_OK or a status after subq_error. */
  subq_status (*bind_worker)(void *bind_ctx, int32_t participant);
  void *bind_ctx;
} subq_pool_layout;

typedef struct subq_pool_config {
  uint32_t spin_us;
  bool start_paused;
  bool flush_denormals;
  bool flat_barrier;       /* one completion counter even with several nodes (SUBQ_CONTEXT_FLAT) */
} subq_pool_config;
/* Whether phase completion is counted per node first (>= 2 nodes, not flat). */
bool subq_pool_is_hierarchical(const subq_pool *pool);

subq_status subq_pool_create(const subq_pool_layout *layout, const subq_pool_config *cfg, subq_pool **out);
void subq_pool_destroy(subq_pool *pool);
/* Runs phases with participant 0 = the calling thread; returns when every item has
 * run and no worker is inside the job. Each node owns a contiguous share of a
 * phase's items (proportional to its participants), cut into chunks of `grain`
 * items that start out assigned to the node's participants; a participant that
 * has run its own chunks takes unclaimed ones of others on its node, so a late
 * or descheduled worker never holds the job up unless it is running a chunk (or
 * is the only participant of its node). Items never leave their node.
 * scratch[p] is given to participant p.
 * per_node: every node's share is all items of each phase (one pass per node,
 * e.g. filling a per-node replica) instead of its proportional share. */
subq_status subq_pool_run(subq_pool *pool, const subq_phase *phases, int n_phases, void *const *scratch,
                          size_t scratch_size, bool per_node);
void subq_pool_pause(subq_pool *pool);
void subq_pool_resume(subq_pool *pool);
/* Tests only: park worker `participant` (>= 1; anything else releases) right after
 * it is woken for a job and before it joins it, the most exposed point of a late
 * worker; subq_pool_test_parked says whether it has got there. */
void subq_pool_test_hold(subq_pool *pool, int32_t participant);
bool subq_pool_test_parked(subq_pool *pool);
/* Tests only: re-tag the claim words as old every `jobs` jobs (0: the default
 * 2^20), to exercise what otherwise happens once a second or so. Between calls. */
void subq_pool_test_retag_every(subq_pool *pool, unsigned jobs);
/* Whether the calling thread is currently executing a task of this pool. */
bool subq_pool_is_current(const subq_pool *pool);
/* Whether the pool was created in a process that has since forked (we are the child). */
bool subq_pool_is_stale(const subq_pool *pool);

/* Chunking rule shared by pool and executor paths: the grain hint, else about
 * 8 chunks per participant (at least 1 item each). */
int64_t subq_pool_pick_grain(int64_t n_items, int64_t grain_hint, int32_t n_participants);

#endif /* SUBQ_POOL_H */
