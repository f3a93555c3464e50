/*
 * subq_cpuset.c — how many threads "all cores" means for this thread:
 * its affinity mask (never the online CPU count), SMT siblings merged into
 * cores, capped by the cgroup v2 CPU quota.
 */
#include "internal/subq_context_internal.h"
#include "internal/subq_partition.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cpu_set_t *subq_affinity(int *ncpu_out, size_t *size_out) {
  for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu);
    if (!set) return NULL;
    size_t sz = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(sz, set);
    if (sched_getaffinity(0, sz, set) == 0) {
      *ncpu_out = ncpu;
      *size_out = sz;
      return set;
    }
    CPU_FREE(set);
  }
  return NULL;
}

int32_t subq_allowed_cpu_count(void) {
  int ncpu;
  size_t sz;
  cpu_set_t *set = subq_affinity(&ncpu, &sz);
  if (!set) return 1;
  int n = CPU_COUNT_S(sz, set);
  CPU_FREE(set);
  return n > 0 ? n : 1;
}

/* Reads an integer from a sysfs file; -1 when absent. */
long subq_sysfs_long(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

/* cgroup v2 cpu.max "quota period" -> ceil(quota / period); 0 when unlimited. */
int32_t subq_cgroup_cpu_limit(void) {
  FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
  if (!f) return 0;
  char quota[32] = "";
  long period = 0;
  int got = fscanf(f, "%31s %ld", quota, &period);
  fclose(f);
  if (got != 2 || !strcmp(quota, "max") || period <= 0) return 0;
  long q = atol(quota);
  if (q <= 0) return 0;
  return (int32_t)((q + period - 1) / period);
}

int32_t subq_default_thread_count(bool use_smt) {
  int ncpu;
  size_t sz;
  cpu_set_t *set = subq_affinity(&ncpu, &sz);
  if (!set) return 1;
  int32_t count = 0;
  /* Count one CPU per (package, core) pair unless SMT siblings are wanted. */
  long *seen = calloc((size_t)ncpu, 2 * sizeof(long));
  int32_t n_seen = 0;
  for (int c = 0; c < ncpu; c++) {
    if (!CPU_ISSET_S(c, sz, set)) continue;
    if (use_smt || !seen) {
      count++;
      continue;
    }
    char path[128];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
    long core = subq_sysfs_long(path);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", c);
    long pkg = subq_sysfs_long(path);
    bool dup = false;
    if (core >= 0)
      for (int32_t i = 0; i < n_seen && !dup; i++) dup = seen[2 * i] == pkg && seen[2 * i + 1] == core;
    if (!dup) {
      seen[2 * n_seen] = pkg, seen[2 * n_seen + 1] = core;
      n_seen++;
      count++;
    }
  }
  free(seen);
  CPU_FREE(set);
  int32_t quota = subq_cgroup_cpu_limit();
  if (quota > 0 && quota < count) count = quota;
  return count > 0 ? count : 1;
}
