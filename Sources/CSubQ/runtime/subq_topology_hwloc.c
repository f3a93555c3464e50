/*
 * subq_topology_hwloc.c — topology discovery through hwloc 2.x: this machine,
 * an hwloc synthetic description, or an hwloc XML file, snapshotted into
 * SubQ's own arrays; the hwloc topology is destroyed right after.
 *
 * Polite-guest rules (spec §1.9): discovery never changes the calling thread's
 * binding (HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING), only the object types
 * SubQ uses are kept (PACKAGE, L3, CORE; GROUP and DIE where they carry NUMA
 * nodes; PU and NUMANODE cannot be filtered),
 * and nothing here binds anything.
 */
#include "internal/subq_topology_internal.h"

#if defined(SUBQ_HAVE_HWLOC)

#include <errno.h>
#include <hwloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HWLOC_API_VERSION < 0x00020000
#error "SubQ needs hwloc >= 2.0 (hwloc 1.x has another object model)"
#endif

/* Major API versions must match: 1.x and 2.x differ in the object model, 3.x
 * may again. */
static bool subq_hwloc_runtime_ok(unsigned *runtime) {
  *runtime = hwloc_get_api_version();
  return (*runtime >> 16) == (HWLOC_API_VERSION >> 16);
}

static subq_status subq_hwloc_configure(hwloc_topology_t topo, subq_topo_source kind, const char *fn) {
  unsigned long flags = HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED;
#if HWLOC_API_VERSION >= 0x00020100
  flags |= HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING;
#endif
#if HWLOC_API_VERSION >= 0x00020800
  flags |= HWLOC_TOPOLOGY_FLAG_NO_DISTANCES | HWLOC_TOPOLOGY_FLAG_NO_MEMATTRS | HWLOC_TOPOLOGY_FLAG_NO_CPUKINDS;
#endif
  (void)kind;
  if (hwloc_topology_set_flags(topo, flags) != 0)
    return subq_error(SUBQ_ERR_SYSTEM, "%s: hwloc_topology_set_flags failed: %s", fn, strerror(errno));
  if (hwloc_topology_set_all_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE) != 0 ||
      hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PACKAGE, HWLOC_TYPE_FILTER_KEEP_ALL) != 0 ||
      hwloc_topology_set_type_filter(topo, HWLOC_OBJ_L3CACHE, HWLOC_TYPE_FILTER_KEEP_ALL) != 0 ||
      hwloc_topology_set_type_filter(topo, HWLOC_OBJ_CORE, HWLOC_TYPE_FILTER_KEEP_ALL) != 0 ||
      /* NUMA nodes hang below Groups (SNC/NPS, synthetic "numa:N" levels) or
       * Dies: without them hwloc re-attaches every node to the Machine and
       * node cpusets lose their locality. Keep them where they add structure. */
      hwloc_topology_set_type_filter(topo, HWLOC_OBJ_GROUP, HWLOC_TYPE_FILTER_KEEP_STRUCTURE) != 0 ||
      hwloc_topology_set_type_filter(topo, HWLOC_OBJ_DIE, HWLOC_TYPE_FILTER_KEEP_STRUCTURE) != 0)
    return subq_error(SUBQ_ERR_SYSTEM, "%s: hwloc type filters refused: %s", fn, strerror(errno));
  return SUBQ_OK;
}

/* The NUMA node of a PU: the node with the smallest cpuset containing it (a
 * memory-only node attached high in the tree covers many PUs but is never the
 * most local one); ties go to the first in logical order. -1 if none. */
static int32_t subq_hwloc_node_of_pu(hwloc_topology_t topo, hwloc_obj_t pu, int n_nodes) {
  int32_t best = -1;
  int best_w = 0;
  for (int i = 0; i < n_nodes; i++) {
    hwloc_obj_t nd = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (!nd || !nd->cpuset || !hwloc_bitmap_isset(nd->cpuset, pu->os_index)) continue;
    int w = hwloc_bitmap_weight(nd->cpuset);
    if (best < 0 || (w >= 0 && w < best_w)) best = i, best_w = w;
  }
  return best;
}

static subq_status subq_hwloc_snapshot(hwloc_topology_t topo, subq_topo_source kind, const char *fn,
                                       subq_topology **out) {
  const int n_nodes_hw = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  const int n_pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  const int n_core_objs = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  if (n_pus <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the topology has no PU", fn);
  const int32_t n_nodes = n_nodes_hw > 0 ? n_nodes_hw : 1;
  subq_topology *t = subq_topology_alloc(n_pus, n_nodes);
  subq_topo_pu *tmp = calloc((size_t)n_pus, sizeof *tmp);
  if (!t || !tmp) {
    subq_topology_release(t);
    free(tmp);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  for (int i = 0; i < n_nodes_hw; i++) {
    hwloc_obj_t nd = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    t->node_os_index[i] = nd ? (int32_t)nd->os_index : i;
  }
  /* Allowed: in hwloc's allowed cpuset (cgroup cpuset), and on this system
   * also in the calling thread's affinity mask (what its workers inherit). */
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo);
  cpu_set_t *aff = NULL;
  size_t aff_size = 0;
  int aff_ncpu = 0;
  if (kind == SUBQ_TOPO_SRC_SYSTEM && hwloc_topology_is_thissystem(topo)) {
    for (int ncpu = 1024; ncpu <= (1 << 16) && !aff; ncpu *= 2) {
      aff = CPU_ALLOC(ncpu);
      if (!aff) break;
      aff_size = CPU_ALLOC_SIZE(ncpu);
      CPU_ZERO_S(aff_size, aff);
      if (sched_getaffinity(0, aff_size, aff) == 0) {
        aff_ncpu = ncpu;
      } else {
        CPU_FREE(aff);
        aff = NULL;
      }
    }
  }
  int32_t *per_node = calloc((size_t)n_nodes + 1, sizeof(int32_t));
  if (!per_node) {
    if (aff) CPU_FREE(aff);
    subq_topology_release(t);
    free(tmp);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  int32_t extra_core = n_core_objs > 0 ? n_core_objs : 0;
  for (int i = 0; i < n_pus; i++) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)i);
    subq_topo_pu *p = &tmp[i];
    p->os_index = (int32_t)pu->os_index;
    int32_t nd = n_nodes_hw > 0 ? subq_hwloc_node_of_pu(topo, pu, n_nodes_hw) : 0;
    p->node = nd < 0 ? 0 : nd;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    p->core = core ? (int32_t)core->logical_index : extra_core++;
    hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
    p->package = pkg ? (int32_t)pkg->logical_index : 0;
    p->allowed = allowed ? hwloc_bitmap_isset(allowed, pu->os_index) != 0 : true;
    if (aff)
      p->allowed = p->allowed && (int)pu->os_index < aff_ncpu && CPU_ISSET_S(pu->os_index, aff_size, aff);
    per_node[p->node + 1]++;
  }
  if (aff) CPU_FREE(aff);
  /* Order by node (stable: logical PU order keeps a core's PUs together). */
  for (int32_t nd = 0; nd < n_nodes; nd++) per_node[nd + 1] += per_node[nd];
  for (int i = 0; i < n_pus; i++) t->pus[per_node[tmp[i].node]++] = tmp[i];
  free(per_node);
  free(tmp);
  subq_topology_finish(t);
  hwloc_obj_t l3 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L3CACHE, 0);
  if (l3 && l3->attr) t->cache[3] = (size_t)l3->attr->cache.size;
  /* HWLOC_SYNTHETIC PUs are never real CPUs, whatever HWLOC_THISSYSTEM says. */
  const char *env_synthetic = getenv("HWLOC_SYNTHETIC");
  t->is_this_system = kind == SUBQ_TOPO_SRC_SYSTEM && hwloc_topology_is_thissystem(topo) &&
                      !(env_synthetic && *env_synthetic);
  if (t->is_this_system) {
    /* L1d/L2 are filtered out of the hwloc load (cost); sysfs has them. */
    size_t l3_size = t->cache[3];
    int cpu = 0;
    for (int32_t i = 0; i < t->n_pus; i++)
      if (t->pus[i].allowed) {
        cpu = t->pus[i].os_index;
        break;
      }
    subq_topology_sysfs_caches(t, cpu);
    if (l3_size) t->cache[3] = l3_size;
  }
  *out = t;
  return SUBQ_OK;
}

subq_status subq_topology_load_hwloc(subq_topo_source kind, const char *arg, const char *fn, subq_topology **out) {
  unsigned runtime = 0;
  if (!subq_hwloc_runtime_ok(&runtime))
    return subq_error(SUBQ_ERR_UNSUPPORTED, "%s: hwloc runtime API 0x%x does not match the compiled API 0x%x", fn,
                      runtime, (unsigned)HWLOC_API_VERSION);
  if (kind == SUBQ_TOPO_SRC_XML) {
    FILE *f = fopen(arg, "r");
    if (!f)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: path '%s' cannot be read: %s", fn, arg, strerror(errno));
    fclose(f);
  }
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0)
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: hwloc_topology_init failed", fn);
  subq_status st = subq_hwloc_configure(topo, kind, fn);
  if (st == SUBQ_OK && kind == SUBQ_TOPO_SRC_SYNTHETIC && hwloc_topology_set_synthetic(topo, arg) != 0)
    st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: description '%s' is not a valid hwloc synthetic topology", fn, arg);
  if (st == SUBQ_OK && kind == SUBQ_TOPO_SRC_XML && hwloc_topology_set_xml(topo, arg) != 0)
    st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: path '%s' is not a readable hwloc XML topology", fn, arg);
  if (st == SUBQ_OK && hwloc_topology_load(topo) != 0) {
    if (kind == SUBQ_TOPO_SRC_SYSTEM)
      st = subq_error(SUBQ_ERR_SYSTEM, "%s: hwloc_topology_load failed: %s", fn, strerror(errno));
    else
      st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s '%s' could not be loaded by hwloc", fn,
                      kind == SUBQ_TOPO_SRC_XML ? "path" : "description", arg);
  }
  if (st == SUBQ_OK) st = subq_hwloc_snapshot(topo, kind, fn, out);
  hwloc_topology_destroy(topo);
  if (st != SUBQ_OK) return st;
  subq_topology *t = *out;
  if (kind == SUBQ_TOPO_SRC_SYNTHETIC)
    snprintf(t->source, sizeof t->source, "synthetic:%s", arg);
  else if (kind == SUBQ_TOPO_SRC_XML)
    snprintf(t->source, sizeof t->source, "xml:%s", arg);
  else
    snprintf(t->source, sizeof t->source, "%s", t->is_this_system ? "hwloc" : "hwloc-env");
  return SUBQ_OK;
}

#else
/* Without hwloc this translation unit is empty (ISO C forbids that). */
typedef int subq_topology_hwloc_unused;
#endif
