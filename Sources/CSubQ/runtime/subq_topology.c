/*
 * subq_topology.c — the topology object and its sysfs discovery.
 */
#include "internal/subq_topology_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

subq_topology *subq_topology_alloc(int32_t n_pus, int32_t n_nodes) {
  subq_topology *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->pus = calloc((size_t)SUBQ_MAX(n_pus, 1), sizeof *t->pus);
  t->node_os_index = calloc((size_t)SUBQ_MAX(n_nodes, 1), sizeof(int32_t));
  if (!t->pus || !t->node_os_index) {
    free(t->pus), free(t->node_os_index), free(t);
    return NULL;
  }
  t->n_pus = n_pus;
  t->n_nodes = n_nodes;
  atomic_init(&t->refs, 1);
  return t;
}

void subq_topology_finish(subq_topology *t) {
  int32_t max_core = -1, max_pkg = -1;
  for (int32_t i = 0; i < t->n_pus; i++) {
    if (t->pus[i].core > max_core) max_core = t->pus[i].core;
    if (t->pus[i].package > max_pkg) max_pkg = t->pus[i].package;
  }
  t->n_cores = max_core + 1;
  t->n_packages = max_pkg + 1;
}

/* "32K", "1024K", "32M" -> bytes */
static size_t subq_sysfs_size(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long v = 0;
  char unit = 0;
  int got = fscanf(f, "%lu%c", &v, &unit);
  fclose(f);
  if (got < 1) return 0;
  if (unit == 'K') v *= 1024ul;
  else if (unit == 'M') v *= 1024ul * 1024ul;
  return (size_t)v;
}

void subq_topology_sysfs_caches(subq_topology *t, int cpu) {
  for (int idx = 0; idx < 8; idx++) {
    char path[160], type[32] = "";
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/level", cpu, idx);
    long level = subq_sysfs_long(path);
    if (level < 0) break;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/type", cpu, idx);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fscanf(f, "%31s", type) != 1) type[0] = 0;
      fclose(f);
    }
    if (!strcmp(type, "Instruction")) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size", cpu, idx);
    if (level >= 1 && level <= 3) t->cache[level] = subq_sysfs_size(path);
  }
}

subq_status subq_topology_discover_sysfs(subq_topology **out) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_ZERO(&set);
  int n_cpu = 0, max_cpu = -1;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
    if (subq_sysfs_long(path) < 0 && !CPU_ISSET(c, &set)) continue;
    n_cpu++;
    max_cpu = c;
  }
  if (n_cpu == 0) {
    n_cpu = 1;
    max_cpu = 0;
  }
  /* nodes: /sys/devices/system/node/nodeN with cpuN links */
  int32_t node_of_cpu[CPU_SETSIZE];
  int32_t n_nodes = 0, node_ids[64];
  for (int c = 0; c <= max_cpu; c++) node_of_cpu[c] = 0;
  for (int nd = 0; nd < 1024 && n_nodes < 64; nd++) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", nd);
    FILE *probe = fopen(path, "r");
    if (!probe) continue;
    char list[4096] = "";
    if (!fgets(list, sizeof list, probe)) list[0] = 0;
    fclose(probe);
    for (char *s = list; *s && *s != '\n';) {
      long a = strtol(s, &s, 10), b = a;
      if (*s == '-') b = strtol(s + 1, &s, 10);
      for (long c = a; c <= b && c <= max_cpu; c++)
        if (c >= 0) node_of_cpu[c] = n_nodes;
      if (*s == ',') s++;
      else if (*s && *s != '\n') break;
    }
    node_ids[n_nodes++] = nd;
  }
  if (n_nodes == 0) node_ids[n_nodes++] = 0;
  subq_topology *t = subq_topology_alloc(max_cpu + 1, n_nodes);
  if (!t) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_topology_create: out of memory");
  for (int32_t i = 0; i < n_nodes; i++) t->node_os_index[i] = node_ids[i];
  /* Dense core numbering over (package, core_id). */
  long (*keys)[2] = calloc((size_t)max_cpu + 1, sizeof *keys);
  int32_t n_keys = 0, n_pu = 0;
  for (int c = 0; c <= max_cpu && keys; c++) {
    char path[128];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
    long core = subq_sysfs_long(path);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", c);
    long pkg = subq_sysfs_long(path);
    if (core < 0) core = c;
    if (pkg < 0) pkg = 0;
    int32_t k = 0;
    while (k < n_keys && !(keys[k][0] == pkg && keys[k][1] == core)) k++;
    if (k == n_keys) keys[n_keys][0] = pkg, keys[n_keys][1] = core, n_keys++;
    subq_topo_pu *pu = &t->pus[n_pu++];
    pu->os_index = c;
    pu->core = k;
    pu->node = node_of_cpu[c];
    pu->package = (int32_t)pkg;
    pu->allowed = CPU_ISSET(c, &set) != 0;
  }
  free(keys);
  t->n_pus = n_pu;
  subq_topology_finish(t);
  subq_topology_sysfs_caches(t, 0);
  t->is_this_system = true;
  snprintf(t->source, sizeof t->source, "sysfs");
  *out = t;
  return SUBQ_OK;
}

subq_status subq_topology_create(subq_topology **out) {
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_topology_create: out is NULL");
#if defined(SUBQ_HAVE_HWLOC)
  subq_status st = subq_topology_load_hwloc(SUBQ_TOPO_SRC_SYSTEM, NULL, "subq_topology_create", out);
  if (st == SUBQ_OK || st == SUBQ_ERR_OUT_OF_MEMORY) return st;
  /* hwloc refused (version mismatch, load failure): sysfs still works. */
  subq_log(SUBQ_LOG_INFO, "%s; falling back to sysfs discovery", subq_last_error_message());
#endif
  return subq_topology_discover_sysfs(out);
}

subq_status subq_topology_create_synthetic(const char *description, subq_topology **out) {
  if (!description) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_topology_create_synthetic: description is NULL");
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_topology_create_synthetic: out is NULL");
#if defined(SUBQ_HAVE_HWLOC)
  return subq_topology_load_hwloc(SUBQ_TOPO_SRC_SYNTHETIC, description, "subq_topology_create_synthetic", out);
#else
  return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_topology_create_synthetic: this build has no hwloc");
#endif
}

subq_status subq_topology_create_xml(const char *path, subq_topology **out) {
  if (!path) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_topology_create_xml: path is NULL");
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_topology_create_xml: out is NULL");
#if defined(SUBQ_HAVE_HWLOC)
  return subq_topology_load_hwloc(SUBQ_TOPO_SRC_XML, path, "subq_topology_create_xml", out);
#else
  return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_topology_create_xml: this build has no hwloc");
#endif
}

int32_t subq_topology_pu_of_os(const subq_topology *t, int32_t cpu) {
  if (!t || cpu < 0) return -1;
  for (int32_t i = 0; i < t->n_pus; i++)
    if (t->pus[i].os_index == cpu) return i;
  return -1;
}

int32_t subq_topology_node_of_os(const subq_topology *t, int32_t os) {
  if (!t || os < 0) return -1;
  for (int32_t i = 0; i < t->n_nodes; i++)
    if (t->node_os_index[i] == os) return i;
  return -1;
}

subq_topology *subq_topology_retain(subq_topology *t) {
  if (t) atomic_fetch_add(&t->refs, 1);
  return t;
}

void subq_topology_release(subq_topology *t) {
  if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
  free(t->pus);
  free(t->node_os_index);
  free(t);
}

static int32_t subq_count_allowed(const subq_topology *t, int what) {
  int32_t n = 0;
  for (int32_t i = 0; i < t->n_pus; i++) {
    if (!t->pus[i].allowed) continue;
    bool first = true;
    for (int32_t j = 0; j < i && first; j++) {
      if (!t->pus[j].allowed) continue;
      if (what == 0 && t->pus[j].node == t->pus[i].node) first = false;
      if (what == 1 && t->pus[j].core == t->pus[i].core) first = false;
    }
    if (what == 2 || first) n++;
  }
  return n;
}

int32_t subq_topology_num_nodes(const subq_topology *t) { return t ? subq_count_allowed(t, 0) : 0; }
int32_t subq_topology_num_cores(const subq_topology *t) { return t ? subq_count_allowed(t, 1) : 0; }
int32_t subq_topology_num_pus(const subq_topology *t) { return t ? subq_count_allowed(t, 2) : 0; }

size_t subq_topology_cache_size(const subq_topology *t, int32_t level) {
  if (!t || level < 1 || level > 3) return 0;
  return t->cache[level];
}

size_t subq_topology_describe(const subq_topology *t, char *buf, size_t cap) {
  if (!t) return 0;
  int n = snprintf(buf, buf ? cap : 0, "source=%s packages=%d nodes=%d cores=%d pus=%d l1d=%zuK l2=%zuK l3=%zuK",
                   t->source, (int)t->n_packages, (int)subq_topology_num_nodes(t), (int)subq_topology_num_cores(t),
                   (int)subq_topology_num_pus(t), t->cache[1] >> 10, t->cache[2] >> 10, t->cache[3] >> 10);
  return n < 0 ? 0 : (size_t)n;
}

/* ---- the process topology, discovered once (cache sizes for blocking) ---- */
static subq_topology *subq_host_topo;
static pthread_once_t subq_host_topo_once = PTHREAD_ONCE_INIT;
static void subq_host_topology_init(void) {
  if (subq_topology_create(&subq_host_topo) != SUBQ_OK) subq_host_topo = NULL;
  subq_clear_last_error();
}
const subq_topology *subq_host_topology(void) {
  pthread_once(&subq_host_topo_once, subq_host_topology_init);
  return subq_host_topo;
}
