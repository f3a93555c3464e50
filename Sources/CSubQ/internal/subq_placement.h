/*
 * subq_placement.h — NUMA placement of a context (internal): the partition
 * in force, the binding backend and its recording log, node-local scratch.
 *
 * Backends (a vtable): "real" issues pthread_setaffinity_np on the worker
 * thread itself (never the caller, always intersected with the inherited
 * mask) and binds arena ranges with numa_tonode_memory / mbind; "recording"
 * is used whenever the topology is not this system (synthetic, XML,
 * HWLOC_SYNTHETIC): it logs the intended calls and issues none, so synthetic
 * PU numbers never reach the kernel.
 */
#ifndef SUBQ_PLACEMENT_H
#define SUBQ_PLACEMENT_H

#include "subq_context_internal.h"
#include "subq_partition.h"

typedef enum subq_place_kind {
  SUBQ_PLACE_BIND_NODE = 1, /* a worker bound to its node's usable PUs */
  SUBQ_PLACE_BIND_CORE = 2, /* a worker bound to one PU */
  SUBQ_PLACE_AREA = 3       /* a memory range bound to a node */
} subq_place_kind;

typedef struct subq_place_record {
  subq_place_kind kind;
  int32_t participant;      /* BIND_*: the worker; AREA: -1 */
  int32_t node;             /* topology node index */
  int32_t node_os;          /* its OS index */
  int32_t pu;               /* BIND_CORE: topology PU index; else -1 */
  int32_t pu_os;            /* BIND_CORE: the PU's OS index; else -1 */
  int32_t n_pus;            /* PUs in the requested set */
  size_t bytes;             /* AREA: length */
} subq_place_record;

typedef struct subq_place_backend {
  const char *name;         /* "real" or "recording" */
  /* Called on the worker thread itself. pu < 0: the node's usable PUs. */
  subq_status (*bind_thread)(void *placement, int32_t participant, int32_t node, int32_t pu);
  subq_status (*bind_area)(void *placement, void *addr, size_t len, int32_t node);
} subq_place_backend;

/* The partition a context runs with (NULL for executor contexts). */
const subq_partition *subq_placement_partition(const subq_context *ctx);
/* The topology placement used (NULL when none was needed: OFF, no bind). */
const subq_topology *subq_placement_topology(const subq_context *ctx);
/* "real", "recording" or "none". */
const char *subq_placement_backend_name(const subq_context *ctx);
/* Copies up to cap records of the recording log (in call order; worker binds
 * of different workers interleave arbitrarily) and returns the total count.
 * The real backend records too, so tests can see what was asked. */
size_t subq_placement_log(const subq_context *ctx, subq_place_record *out, size_t cap);

/* Node-local scratch for `count` participants (or executor tasks) of `bytes`
 * each: one arena per node holding participants, bound to it in
 * ISOLATE/DISTRIBUTE/MIRROR, untouched. arr[i] receives slot i; *handle owns
 * the memory (free with subq_scratch_arenas_destroy). */
subq_status subq_scratch_arenas_create(subq_context *ctx, int32_t count, size_t bytes, void **arr, void **handle);
void subq_scratch_arenas_destroy(void *handle);

/* SUBQ_TOPOLOGY=synthetic:<desc>|xml:<path> (tests): the process-wide default
 * topology it names, created once; NULL when unset or invalid (warned). */
const subq_topology *subq_env_topology(void);

#endif /* SUBQ_PLACEMENT_H */
