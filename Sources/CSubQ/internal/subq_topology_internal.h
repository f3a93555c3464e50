/* subq_topology_internal.h — the topology snapshot (internal). */
#ifndef SUBQ_TOPOLOGY_INTERNAL_H
#define SUBQ_TOPOLOGY_INTERNAL_H

#include <stdatomic.h>

#include "subq_internal.h"

typedef struct subq_topo_pu {
  int32_t os_index;   /* OS CPU number (meaningless for synthetic topologies) */
  int32_t core;       /* index into the core list */
  int32_t node;       /* index into the node list */
  int32_t package;
  bool allowed;       /* in the process's cpuset */
} subq_topo_pu;

struct subq_topology {
  atomic_int refs;
  bool is_this_system;  /* false for synthetic / XML: never bind for real */
  int32_t n_packages, n_nodes, n_cores, n_pus;
  int32_t *node_os_index;  /* [n_nodes] */
  subq_topo_pu *pus;       /* [n_pus], ordered by node, then core */
  size_t cache[4];         /* [1..3] bytes: L1d, L2 per core; L3 per domain */
  char source[96];         /* "sysfs", "hwloc", "synthetic:<desc>", "xml:<path>" */
};

/* Allocates an empty topology with refs = 1. */
subq_topology *subq_topology_alloc(int32_t n_pus, int32_t n_nodes);
/* Recomputes n_cores / n_packages from the PU list. */
void subq_topology_finish(subq_topology *t);
/* The discovery the default path uses (hwloc when built with it, else sysfs). */
subq_status subq_topology_discover_sysfs(subq_topology **out);
/* L1d/L2/L3 sizes of one OS CPU from sysfs into t->cache (0 where unknown). */
void subq_topology_sysfs_caches(subq_topology *t, int cpu);

/* hwloc discovery (subq_topology_hwloc.c; only with SUBQ_HAVE_HWLOC).
 * kind: SUBQ_TOPO_SRC_SYSTEM (this machine; hwloc's own HWLOC_SYNTHETIC /
 * HWLOC_XMLFILE environment still applies), _SYNTHETIC (arg = description),
 * _XML (arg = path). Synthetic and XML topologies never claim to be this
 * system. `fn` names the public function in error messages. */
typedef enum subq_topo_source {
  SUBQ_TOPO_SRC_SYSTEM = 0,
  SUBQ_TOPO_SRC_SYNTHETIC = 1,
  SUBQ_TOPO_SRC_XML = 2
} subq_topo_source;
#if defined(SUBQ_HAVE_HWLOC)
subq_status subq_topology_load_hwloc(subq_topo_source kind, const char *arg, const char *fn, subq_topology **out);
#endif

/* Topology index of the PU with OS index `cpu`, or -1. */
int32_t subq_topology_pu_of_os(const subq_topology *t, int32_t cpu);
/* Topology index of the node with OS index `os`, or -1. */
int32_t subq_topology_node_of_os(const subq_topology *t, int32_t os);

/* This process's topology, discovered once and never freed; NULL if
 * discovery failed. Use for cache sizes and core counts. */
const subq_topology *subq_host_topology(void);

#endif
