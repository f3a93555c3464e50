/*
 * subq_placement.c — participants over NUMA nodes, worker binding and
 * node-local scratch for a context (spec §1.6–§1.8, §1.10).
 *
 * The layout comes from the pure mapping (subq_partition.c). Workers bind
 * themselves from their own thread through a backend: "real" on this system
 * (pthread_setaffinity_np on pthread_self(), intersected with the mask the
 * worker inherited: never widened, never the caller), "recording" for
 * synthetic/XML topologies (logs the intended calls, issues none).
 */
#include "internal/subq_placement.h"

#include "internal/subq_arena.h"
#include "internal/subq_weights.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(SUBQ_HAVE_NUMA)
#include <numa.h>
#endif

typedef struct subq_placement_state {
  const subq_place_backend *backend;
  subq_topology *topo;        /* retained; NULL when no placement was needed */
  subq_partition part;
  bool has_part;
  bool *usable;               /* [topo->n_pus] PUs in the creator's mask (this system) */
  bool bind_memory;           /* arenas bound to their node (ISOLATE/DISTRIBUTE/MIRROR) */
  pthread_mutex_t log_lock;
  subq_place_record *log;
  size_t n_log, cap_log;
} subq_placement_state;

/* ---- the log (both backends record what they were asked) ------------------------ */
static void subq_place_record_add(subq_placement_state *pl, const subq_place_record *r) {
  pthread_mutex_lock(&pl->log_lock);
  if (pl->n_log == pl->cap_log) {
    size_t cap = pl->cap_log ? 2 * pl->cap_log : 16;
    subq_place_record *nl = realloc(pl->log, cap * sizeof *nl);
    if (nl) pl->log = nl, pl->cap_log = cap;
  }
  if (pl->n_log < pl->cap_log) pl->log[pl->n_log++] = *r;
  pthread_mutex_unlock(&pl->log_lock);
}

static int32_t subq_node_usable_pus(const subq_placement_state *pl, int32_t node) {
  int32_t n = 0;
  for (int32_t i = 0; i < pl->topo->n_pus; i++)
    if (pl->topo->pus[i].node == node && pl->topo->pus[i].allowed && (!pl->usable || pl->usable[i])) n++;
  return n;
}

static void subq_record_thread(subq_placement_state *pl, int32_t participant, int32_t node, int32_t pu) {
  subq_place_record r;
  memset(&r, 0, sizeof r);
  r.kind = pu >= 0 ? SUBQ_PLACE_BIND_CORE : SUBQ_PLACE_BIND_NODE;
  r.participant = participant;
  r.node = node;
  r.node_os = node >= 0 && node < pl->topo->n_nodes ? pl->topo->node_os_index[node] : -1;
  r.pu = pu;
  r.pu_os = pu >= 0 ? pl->topo->pus[pu].os_index : -1;
  r.n_pus = pu >= 0 ? 1 : subq_node_usable_pus(pl, node);
  subq_place_record_add(pl, &r);
}

static void subq_record_area(subq_placement_state *pl, size_t len, int32_t node) {
  subq_place_record r;
  memset(&r, 0, sizeof r);
  r.kind = SUBQ_PLACE_AREA;
  r.participant = -1;
  r.node = node;
  r.node_os = node >= 0 && node < pl->topo->n_nodes ? pl->topo->node_os_index[node] : -1;
  r.pu = -1;
  r.pu_os = -1;
  r.bytes = len;
  subq_place_record_add(pl, &r);
}

/* ---- recording backend ------------------------------------------------------------- */
static subq_status subq_rec_bind_thread(void *vpl, int32_t participant, int32_t node, int32_t pu) {
  subq_record_thread(vpl, participant, node, pu);
  return SUBQ_OK;
}
static subq_status subq_rec_bind_area(void *vpl, void *addr, size_t len, int32_t node) {
  (void)addr;
  subq_record_area(vpl, len, node);
  return SUBQ_OK;
}
static const subq_place_backend subq_recording_backend = {"recording", subq_rec_bind_thread, subq_rec_bind_area};

/* ---- real backend --------------------------------------------------------------------- */
#if defined(__linux__)
/* The calling thread's own mask (a worker: what it inherited from the creator). */
static cpu_set_t *subq_thread_mask(int *ncpu_out, size_t *size_out) {
  for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu);
    if (!set) return NULL;
    size_t sz = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(sz, set);
    if (pthread_getaffinity_np(pthread_self(), sz, set) == 0) {
      *ncpu_out = ncpu;
      *size_out = sz;
      return set;
    }
    CPU_FREE(set);
  }
  return NULL;
}

static subq_status subq_real_bind_thread(void *vpl, int32_t participant, int32_t node, int32_t pu) {
  subq_placement_state *pl = vpl;
  subq_record_thread(pl, participant, node, pu);
  int ncpu = 0;
  size_t sz = 0;
  cpu_set_t *inherited = subq_thread_mask(&ncpu, &sz);
  if (!inherited) return subq_error(SUBQ_ERR_SYSTEM, "worker %d: cannot read its CPU mask", (int)participant);
  cpu_set_t *want = CPU_ALLOC(ncpu);
  if (!want) {
    CPU_FREE(inherited);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "worker %d: out of memory", (int)participant);
  }
  CPU_ZERO_S(sz, want);
  const subq_topology *t = pl->topo;
  for (int32_t i = 0; i < t->n_pus; i++) {
    if (pu >= 0 ? i != pu : (t->pus[i].node != node || !t->pus[i].allowed || (pl->usable && !pl->usable[i])))
      continue;
    int os = t->pus[i].os_index;
    /* Intersect with what was inherited: never widen. */
    if (os >= 0 && os < ncpu && CPU_ISSET_S(os, sz, inherited)) CPU_SET_S(os, sz, want);
  }
  subq_status st = SUBQ_OK;
  if (CPU_COUNT_S(sz, want) == 0) {
    subq_log(SUBQ_LOG_INFO, "worker %d: requested CPUs are outside its inherited mask; left unbound", (int)participant);
  } else {
    int rc = pthread_setaffinity_np(pthread_self(), sz, want);
    if (rc != 0)
      st = subq_error(SUBQ_ERR_SYSTEM, "worker %d: pthread_setaffinity_np failed: %s", (int)participant, strerror(rc));
  }
  CPU_FREE(want);
  CPU_FREE(inherited);
  return st;
}

#else
/* No thread affinity API: record only (workers stay OS-scheduled). */
static subq_status subq_real_bind_thread(void *vpl, int32_t participant, int32_t node, int32_t pu) {
  subq_record_thread(vpl, participant, node, pu);
  return SUBQ_OK;
}
#endif

static subq_status subq_real_bind_area(void *vpl, void *addr, size_t len, int32_t node) {
  subq_placement_state *pl = vpl;
  subq_record_area(pl, len, node);
  if (!addr || node < 0 || node >= pl->topo->n_nodes) return SUBQ_OK; /* heap mode: first touch only */
  const int os = pl->topo->node_os_index[node];
#if defined(SUBQ_HAVE_NUMA)
  if (numa_available() >= 0 && os <= numa_max_node()) {
    numa_tonode_memory(addr, len, os);
    return SUBQ_OK;
  }
#endif
#if defined(__linux__) && defined(SYS_mbind)
  if (os >= 0 && os < 1024) {
    unsigned long mask[1024 / (8 * sizeof(unsigned long))];
    memset(mask, 0, sizeof mask);
    mask[(unsigned)os / (8 * sizeof(unsigned long))] |= 1UL << ((unsigned)os % (8 * sizeof(unsigned long)));
    /* MPOL_BIND = 2; failure degrades to first touch (the owners are pinned). */
    if (syscall(SYS_mbind, addr, len, 2L, mask, (unsigned long)(8 * sizeof mask), 0UL) != 0)
      subq_log(SUBQ_LOG_DEBUG, "arena: mbind to node %d failed: %s", os, strerror(errno));
  }
#endif
  return SUBQ_OK;
}
static const subq_place_backend subq_real_backend = {"real", subq_real_bind_thread, subq_real_bind_area};

/* ---- environment: SUBQ_TOPOLOGY ------------------------------------------------------ */
static subq_topology *subq_env_topo;
static pthread_once_t subq_env_topo_once = PTHREAD_ONCE_INIT;
static void subq_env_topology_init(void) {
  const char *v = getenv("SUBQ_TOPOLOGY");
  if (!v || !*v) return;
  char saved[512];
  snprintf(saved, sizeof saved, "%s", subq_last_error_message());
  subq_status st;
  if (!strncmp(v, "synthetic:", 10))
    st = subq_topology_create_synthetic(v + 10, &subq_env_topo);
  else if (!strncmp(v, "xml:", 4))
    st = subq_topology_create_xml(v + 4, &subq_env_topo);
  else
    st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "expected synthetic:<description> or xml:<path>");
  if (st != SUBQ_OK) {
    subq_log(SUBQ_LOG_WARN, "SUBQ_TOPOLOGY='%s' ignored: %s", v, subq_last_error_message());
    subq_env_topo = NULL;
  }
  subq_set_error_text(saved);
}
const subq_topology *subq_env_topology(void) {
  pthread_once(&subq_env_topo_once, subq_env_topology_init);
  return subq_env_topo;
}

/* ---- setup ------------------------------------------------------------------------------ */
static void subq_warn_numa_balancing(int verbose) {
  static atomic_int warned;
  if (verbose < 1 && subq_env_verbose() < 1) return;
  FILE *f = fopen("/proc/sys/kernel/numa_balancing", "r");
  if (!f) return;
  int v = 0;
  if (fscanf(f, "%d", &v) != 1) v = 0;
  fclose(f);
  if (v == 1 && atomic_exchange(&warned, 1) == 0)
    subq_log(SUBQ_LOG_WARN,
             "/proc/sys/kernel/numa_balancing is 1: the kernel may migrate pages away from their owners; SubQ leaves "
             "it unchanged (set it to 0 for pinned NUMA runs)");
}

/* Whether the process or thread has an explicit memory policy (kept as is). */
static bool subq_user_mempolicy(void) {
#if defined(__linux__) && defined(SYS_get_mempolicy)
  int mode = 0;
  if (syscall(SYS_get_mempolicy, &mode, NULL, 0UL, NULL, 0UL) == 0) return mode != 0; /* MPOL_DEFAULT */
#endif
  return false;
}

static subq_status subq_placement_trivial(subq_context *ctx, subq_pool_layout *layout) {
  ctx->n_nodes = 1;
  ctx->node_of = calloc((size_t)ctx->n_threads, sizeof(int32_t));
  if (!ctx->node_of) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
  layout->n_participants = ctx->n_threads;
  layout->n_nodes = 1;
  layout->node_of = ctx->node_of;
  layout->bind_worker = NULL;
  layout->bind_ctx = NULL;
  return SUBQ_OK;
}

static subq_status subq_placement_bind_worker(void *vpl, int32_t participant) {
  subq_placement_state *pl = vpl;
  if (participant <= 0 || participant >= pl->part.n_participants) return SUBQ_OK; /* never the caller */
  const int32_t node = pl->part.node_of[participant];
  if (pl->part.bind == SUBQ_BINDK_CORE && pl->part.pu_of[participant] >= 0)
    return pl->backend->bind_thread(pl, participant, node, pl->part.pu_of[participant]);
  if (pl->part.bind == SUBQ_BINDK_NODE && node >= 0) return pl->backend->bind_thread(pl, participant, node, -1);
  return SUBQ_OK;
}

subq_status subq_placement_setup(subq_context *ctx, subq_pool_layout *layout) {
  const subq_context_params *p = &ctx->params;
  subq_placement_state *pl = calloc(1, sizeof *pl);
  if (!pl) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
  pthread_mutex_init(&pl->log_lock, NULL);
  ctx->placement = pl;

  const subq_topology *topo = p->topology ? p->topology : subq_env_topology();
  if (!topo && (p->numa != SUBQ_NUMA_OFF || p->bind != SUBQ_BIND_NONE)) {
    topo = subq_host_topology();
    if (!topo)
      return subq_error(SUBQ_ERR_SYSTEM, "subq_context_create: numa/bind placement needs the machine topology, whose "
                                         "discovery failed");
  }
  if (!topo) return subq_placement_trivial(ctx, layout);
  pl->topo = subq_topology_retain((subq_topology *)topo);
  pl->backend = topo->is_this_system ? &subq_real_backend : &subq_recording_backend;

  subq_partition_request req;
  memset(&req, 0, sizeof req);
  req.numa = p->numa;
  req.numa_node = p->numa_node;
  req.bind = p->bind;
  req.use_smt = (p->flags & SUBQ_CONTEXT_USE_SMT) != 0;
  req.caller_pu = -1;
  req.n_threads = p->n_threads;
  if (topo->is_this_system) {
#if defined(__linux__)
    /* The creator's mask is what workers inherit: place nothing outside it. */
    pl->usable = calloc((size_t)topo->n_pus, sizeof(bool));
    int ncpu = 0;
    size_t sz = 0;
    cpu_set_t *mask = subq_thread_mask(&ncpu, &sz);
    if (!pl->usable || !mask) {
      if (mask) CPU_FREE(mask);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
    }
    for (int32_t i = 0; i < topo->n_pus; i++) {
      int os = topo->pus[i].os_index;
      pl->usable[i] = os >= 0 && os < ncpu && CPU_ISSET_S(os, sz, mask);
    }
    CPU_FREE(mask);
    req.pu_usable = pl->usable;
    int cpu = sched_getcpu();
    req.caller_pu = cpu >= 0 ? subq_topology_pu_of_os(topo, cpu) : -1;
#endif
    req.cpu_quota = subq_cgroup_cpu_limit();
  }
  subq_status st = subq_partition_compute(topo, &req, "subq_context_create", &pl->part);
  if (st != SUBQ_OK) return st;
  pl->has_part = true;
  ctx->n_threads = pl->part.n_participants;
  ctx->n_nodes = pl->part.n_groups;
  ctx->node_of = malloc((size_t)ctx->n_threads * sizeof(int32_t));
  if (!ctx->node_of) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
  memcpy(ctx->node_of, pl->part.group_of, (size_t)ctx->n_threads * sizeof(int32_t));
  layout->n_participants = ctx->n_threads;
  layout->n_nodes = ctx->n_nodes;
  layout->node_of = ctx->node_of;
  layout->bind_worker = pl->part.bind != SUBQ_BINDK_NONE ? subq_placement_bind_worker : NULL;
  layout->bind_ctx = pl;

  const bool placing = p->numa == SUBQ_NUMA_ISOLATE || p->numa == SUBQ_NUMA_DISTRIBUTE || p->numa == SUBQ_NUMA_MIRROR;
  pl->bind_memory = placing;
  if (placing && topo->is_this_system) {
    if (subq_user_mempolicy()) {
      pl->bind_memory = false; /* an explicit numactl/set_mempolicy policy wins */
      subq_log(SUBQ_LOG_INFO, "context: an explicit memory policy is set; arenas follow it (first touch only)");
    }
    subq_warn_numa_balancing(p->verbose);
  }
  return SUBQ_OK;
}

void subq_placement_teardown(subq_context *ctx) {
  free(ctx->node_of);
  ctx->node_of = NULL;
  subq_placement_state *pl = ctx->placement;
  if (!pl) return;
  subq_partition_free(&pl->part);
  free(pl->usable);
  free(pl->log);
  pthread_mutex_destroy(&pl->log_lock);
  subq_topology_release(pl->topo);
  free(pl);
  ctx->placement = NULL;
}

static const char *subq_bind_kind_name(subq_bind_kind k) {
  return k == SUBQ_BINDK_CORE ? "core" : (k == SUBQ_BINDK_NODE ? "node" : "none");
}

size_t subq_placement_describe(const subq_context *ctx, char *buf, size_t cap) {
  const subq_placement_state *pl = ctx->placement;
  char text[1024];
  size_t len = 0;
#define SUBQ_APPEND(...)                                                        \
  do {                                                                          \
    int n_ = snprintf(text + len, sizeof text - len, __VA_ARGS__);              \
    if (n_ > 0) len = SUBQ_MIN(sizeof text - 1, len + (size_t)n_);              \
  } while (0)
  SUBQ_APPEND("nodes=%d", (int)ctx->n_nodes);
  if (pl && pl->has_part) {
    const subq_partition *pt = &pl->part;
    SUBQ_APPEND(" node_os=");
    for (int32_t g = 0; g < pt->n_nodes_used; g++)
      SUBQ_APPEND("%s%d", g ? "," : "", (int)pl->topo->node_os_index[pt->nodes_used[g]]);
    if (pt->n_nodes_used == 0) SUBQ_APPEND("?");
    SUBQ_APPEND(" per_node=");
    int32_t p = 0;
    for (int32_t g = 0; g < pt->n_nodes_used; g++) {
      int32_t c = 0;
      while (p < pt->n_participants && pt->node_of[p] == pt->nodes_used[g]) p++, c++;
      SUBQ_APPEND("%s%d", g ? "," : "", (int)c);
    }
    if (pt->n_nodes_used == 0) SUBQ_APPEND("%d", (int)pt->n_participants);
    SUBQ_APPEND(" bind=%s placement=%s topology=%s", subq_bind_kind_name(pt->bind), pl->backend->name,
                pl->topo->source);
  }
#undef SUBQ_APPEND
  if (buf && cap > 0) snprintf(buf, cap, "%s", text);
  return len;
}

/* ---- queries for tests -------------------------------------------------------------------- */
const subq_partition *subq_placement_partition(const subq_context *ctx) {
  const subq_placement_state *pl = ctx ? ctx->placement : NULL;
  return pl && pl->has_part ? &pl->part : NULL;
}
const subq_topology *subq_placement_topology(const subq_context *ctx) {
  const subq_placement_state *pl = ctx ? ctx->placement : NULL;
  return pl ? pl->topo : NULL;
}
const char *subq_placement_backend_name(const subq_context *ctx) {
  const subq_placement_state *pl = ctx ? ctx->placement : NULL;
  return pl && pl->backend ? pl->backend->name : "none";
}
size_t subq_placement_log(const subq_context *ctx, subq_place_record *out, size_t cap) {
  subq_placement_state *pl = ctx ? ctx->placement : NULL;
  if (!pl) return 0;
  pthread_mutex_lock(&pl->log_lock);
  size_t n = pl->n_log;
  if (out)
    for (size_t i = 0; i < n && i < cap; i++) out[i] = pl->log[i];
  pthread_mutex_unlock(&pl->log_lock);
  return n;
}

/* ---- node-local scratch ----------------------------------------------------------------------- */
typedef struct subq_scratch_set {
  int32_t n;
  subq_arena **arenas;
} subq_scratch_set;

static subq_status subq_arena_bind_adapter(void *vpl, void *addr, size_t len, int32_t node) {
  subq_placement_state *pl = vpl;
  return pl->backend->bind_area(pl, addr, len, node);
}

void subq_scratch_arenas_destroy(void *handle) {
  subq_scratch_set *s = handle;
  if (!s) return;
  for (int32_t i = 0; i < s->n; i++) subq_arena_destroy(s->arenas[i]);
  free(s->arenas);
  free(s);
}

subq_status subq_scratch_arenas_create(subq_context *ctx, int32_t count, size_t bytes, void **arr, void **handle) {
  *handle = NULL;
  for (int32_t i = 0; i < count; i++) arr[i] = NULL;
  if (bytes == 0 || count <= 0) return SUBQ_OK;
  size_t slice;
  if (!subq_add_size(bytes, SUBQ_CACHELINE - 1, &slice))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "scratch: %zu bytes per participant overflows", bytes);
  slice &= ~(size_t)(SUBQ_CACHELINE - 1);
  subq_placement_state *pl = ctx->placement;
  const subq_partition *pt = pl && pl->has_part ? &pl->part : NULL;
  subq_scratch_set *s = calloc(1, sizeof *s);
  if (s) s->arenas = calloc((size_t)count, sizeof(subq_arena *));
  if (!s || !s->arenas) {
    free(s);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "scratch: out of memory");
  }
  /* One arena per run of consecutive participants on the same node. */
  int32_t i = 0;
  while (i < count) {
    const int32_t node = pt && i < pt->n_participants ? pt->node_of[i] : -1;
    int32_t j = i + 1;
    while (j < count && (pt && j < pt->n_participants ? pt->node_of[j] : -1) == node) j++;
    size_t cap;
    if (!subq_mul_size(slice, (size_t)(j - i), &cap)) {
      subq_scratch_arenas_destroy(s);
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "scratch: %d x %zu bytes overflows", (int)(j - i), slice);
    }
    const bool bind = pl && pl->bind_memory && node >= 0;
    subq_arena *a = NULL;
    subq_status st = subq_arena_create(cap, node, cap >= SUBQ_ARENA_ALIGN ? SUBQ_ARENA_HUGEPAGE : 0,
                                       bind ? subq_arena_bind_adapter : NULL, pl, "scratch", &a);
    if (st != SUBQ_OK) {
      subq_scratch_arenas_destroy(s);
      return st;
    }
    s->arenas[s->n++] = a;
    for (int32_t k = i; k < j; k++) arr[k] = subq_arena_alloc(a, slice);
    i = j;
  }
  for (int32_t k = 0; k < count; k++)
    if (!arr[k]) {
      subq_scratch_arenas_destroy(s);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "scratch: cannot allocate %d x %zu bytes", (int)count, slice);
    }
  *handle = s;
  return SUBQ_OK;
}

/* ---- read-only weights (internal/subq_weights.h) ---------------------------------------- */
typedef struct subq_weights_set {
  int32_t n;
  subq_arena **arenas;
} subq_weights_set;

static void subq_weights_set_free(subq_weights_set *s) {
  if (!s) return;
  for (int32_t i = 0; i < s->n; i++) subq_arena_destroy(s->arenas[i]);
  free(s->arenas);
  free(s);
}

void subq_weights_free(subq_weights_mem *w) {
  if (!w) return;
  if (w->plain)
    subq_free(w->owner);
  else
    subq_weights_set_free(w->owner);
  free(w->copy);
  memset(w, 0, sizeof *w);
}

/* Rounds a byte offset to the nearest arena page edge (2 MiB). */
static size_t subq_weights_edge(size_t off, size_t cap) {
  size_t half = SUBQ_ARENA_ALIGN / 2, e = off > cap - half ? cap : (off + half) & ~(SUBQ_ARENA_ALIGN - 1);
  return e > cap ? cap : e;
}

subq_status subq_weights_alloc(subq_context *ctx, const char *fn, size_t bytes, size_t unit_bytes,
                               subq_weights_mem *w) {
  memset(w, 0, sizeof *w);
  if (bytes == 0 || unit_bytes == 0 || bytes > (size_t)PTRDIFF_MAX - SUBQ_ARENA_ALIGN)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: weights of %zu bytes (units of %zu) are out of range", fn, bytes,
                      unit_bytes);
  const int64_t n_units = (int64_t)((bytes - 1) / unit_bytes + 1);
  subq_placement_state *pl = ctx ? ctx->placement : NULL;
  const bool placing = pl && pl->has_part && pl->bind_memory;
  const int32_t groups = placing ? pl->part.n_groups : 1;
  const int32_t n_copies = placing && ctx->params.numa == SUBQ_NUMA_MIRROR ? groups : 1;
  void **copy = calloc((size_t)n_copies, sizeof *copy);
  if (!copy) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  if (!placing) {
    copy[0] = subq_alloc(bytes);
    if (!copy[0]) {
      free(copy);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of weights", fn, bytes);
    }
    *w = (subq_weights_mem){1, copy, bytes, copy[0], true};
    return SUBQ_OK;
  }
  subq_weights_set *s = calloc(1, sizeof *s);
  if (s) s->arenas = calloc((size_t)n_copies, sizeof(subq_arena *));
  if (!s || !s->arenas) {
    free(s);
    free(copy);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  subq_status st = SUBQ_OK;
  const bool split = groups > 1 && n_copies == 1; /* DISTRIBUTE over several nodes */
  for (int32_t c = 0; c < n_copies && st == SUBQ_OK; c++) {
    /* A replica (or the only copy) is bound whole to its node; the split copy range by range below. */
    const int32_t node = split ? -1 : pl->part.group_node[c];
    st = subq_arena_create(bytes, node, bytes >= SUBQ_ARENA_ALIGN ? SUBQ_ARENA_HUGEPAGE : 0,
                           node >= 0 ? subq_arena_bind_adapter : NULL, pl, "weights", &s->arenas[c]);
    if (st != SUBQ_OK) break;
    s->n++;
    copy[c] = subq_arena_alloc(s->arenas[c], bytes);
    if (!copy[c]) st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of weights", fn, bytes);
  }
  if (st == SUBQ_OK && split) {
    int64_t *ub = malloc(2 * (size_t)groups * sizeof(int64_t));
    if (!ub) st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    else subq_partition_item_ranges(&pl->part, n_units, ub, ub + groups); /* the pool's own split */
    const size_t cap = subq_arena_capacity(s->arenas[0]);
    size_t lo = 0;
    for (int32_t g = 0; g < groups && st == SUBQ_OK; g++) {
      const size_t hi = g == groups - 1 ? cap : subq_weights_edge(SUBQ_MIN((size_t)ub[groups + g] * unit_bytes, bytes), cap);
      if (hi > lo && pl->part.group_node[g] >= 0)
        st = pl->backend->bind_area(pl, subq_arena_uses_heap() ? NULL : (unsigned char *)copy[0] + lo, hi - lo,
                                    pl->part.group_node[g]);
      if (hi > lo) lo = hi;
    }
    free(ub);
  }
  if (st != SUBQ_OK) {
    subq_weights_set_free(s);
    free(copy);
    return st;
  }
  *w = (subq_weights_mem){n_copies, copy, bytes, s, false};
  return SUBQ_OK;
}

bool subq_context_places_weights(const subq_context *ctx) {
  const subq_placement_state *pl = ctx ? ctx->placement : NULL;
  return pl && pl->has_part && pl->bind_memory && pl->topo && pl->topo->n_nodes > 1;
}
