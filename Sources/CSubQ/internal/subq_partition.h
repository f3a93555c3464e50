/*
 * subq_partition.h — the pure mapping from (topology, pool parameters, the
 * caller's position) to participants over NUMA nodes and PUs (spec §1.4,
 * §1.6, §1.7, §1.10). No system calls: testable on synthetic topologies.
 *
 * Rules:
 *  - Participants form contiguous per-group blocks; participant 0 (the caller)
 *    is in group 0, which is the caller's node when it is used.
 *  - Usable PUs: t->pus[i].allowed, and pu_usable[i] when given (the creating
 *    thread's inherited mask). Nothing is ever placed on another PU.
 *  - "Slots" of a node: the first usable PU of each core with a usable PU
 *    (SMT siblings skipped), or every usable PU with use_smt.
 *  - ISOLATE: one group on numa_node (OS index; -1 = caller's node, or the
 *    first node with a usable PU when the caller's is unknown or unusable).
 *  - DISTRIBUTE / MIRROR / INHERIT: groups = the nodes with usable PUs,
 *    caller's node first, then the others in topology order (wrapping); with
 *    fewer participants than nodes only the first n_threads nodes are used.
 *    Each used node gets one participant, the rest split proportionally to
 *    the nodes' slot counts (cumulative rounding to nearest, deterministic).
 *  - OFF: one group; participants are still spread over nodes as above for
 *    binding purposes when `bind` asks.
 *  - Binding: NODE when bind == NODE, or bind == NONE under ISOLATE /
 *    DISTRIBUTE / MIRROR; CORE when bind == CORE (one slot per participant,
 *    wrapping when a node has fewer slots than participants).
 *  - n_threads == 0: slots over all usable PUs (physical cores unless
 *    use_smt; under ISOLATE those of the chosen node), capped by cpu_quota
 *    when > 0.
 */
#ifndef SUBQ_PARTITION_H
#define SUBQ_PARTITION_H

#include "subq_topology_internal.h"

typedef struct subq_partition_request {
  int32_t n_threads;        /* participants incl. the caller; 0 = default count */
  subq_numa_mode numa;
  int32_t numa_node;        /* OS index of the ISOLATE node; -1 = the caller's */
  subq_bind bind;
  bool use_smt;
  int32_t caller_pu;        /* topology PU index the caller runs on, -1 unknown */
  const bool *pu_usable;    /* [t->n_pus] or NULL (only t->pus[i].allowed) */
  int32_t cpu_quota;        /* cgroup CPU limit for the default count; 0 = none */
} subq_partition_request;

typedef enum subq_bind_kind { SUBQ_BINDK_NONE = 0, SUBQ_BINDK_NODE = 1, SUBQ_BINDK_CORE = 2 } subq_bind_kind;

typedef struct subq_partition {
  int32_t n_participants;
  int32_t n_groups;         /* pool groups (1 for OFF and ISOLATE) */
  int32_t *group_of;        /* [n_participants] pool group index, contiguous blocks */
  int32_t *group_node;      /* [n_groups] topology node index; -1 for an OFF group spanning nodes */
  int32_t *group_size;      /* [n_groups] participants per group */
  int32_t *node_of;         /* [n_participants] topology node index of each participant */
  int32_t *pu_of;           /* [n_participants] topology PU index (BIND_CORE), else -1 */
  int32_t n_nodes_used;     /* distinct topology nodes holding participants */
  int32_t *nodes_used;      /* [n_nodes_used] topology node indices, in participant order */
  subq_bind_kind bind;      /* what workers (participants >= 1) are bound to */
} subq_partition;

/* Computes the mapping. Errors (message names the argument, prefixed by fn):
 * SUBQ_ERR_INVALID_ARGUMENT for a NULL topology, n_threads < 0, unknown
 * modes, numa_node not a node of the topology or without a usable CPU, no
 * usable PU at all; SUBQ_ERR_OUT_OF_MEMORY. */
subq_status subq_partition_compute(const subq_topology *t, const subq_partition_request *req, const char *fn,
                                   subq_partition *out);
void subq_partition_free(subq_partition *p);

/* The pool's static split of n_items over the groups (proportional to group
 * sizes, contiguous, in group order): group g owns [begin[g], end[g]). */
void subq_partition_item_ranges(const subq_partition *p, int64_t n_items, int64_t *begin, int64_t *end);

/* ceil(quota / period) of the cgroup v2 cpu.max; 0 when unlimited (subq_cpuset.c). */
int32_t subq_cgroup_cpu_limit(void);

#endif /* SUBQ_PARTITION_H */
