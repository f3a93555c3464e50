/*
 * test_placement.c — NUMA placement end to end.
 *  - Synthetic/XML topologies (params.topology): real pools in every NUMA mode
 *    and bind setting; the recording backend's log says which worker was
 *    bound where and which arenas were bound to which node; items run on the
 *    node owning their range; results are bitwise equal to ctx == NULL.
 *  - This machine: BIND_CORE / BIND_NODE / ISOLATE really pin workers (checked
 *    with pthread_getaffinity_np inside tasks), the caller's mask never changes,
 *    arena and scratch pages report the expected node.
 *  - SUBQ_TOPOLOGY=synthetic:... (a child process of this test).
 *  - Invalid input.
 */
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/subq_arena.h"
#include "internal/subq_placement.h"
#include "support/subq_test.h"

extern char **environ;

/* Set by ctest when a cross build runs under qemu-user (Tests/C/tests.cmake).
 * qemu-user implements neither move_pages nor get_mempolicy (page nodes read
 * -1) and cannot exec a foreign-architecture child without binfmt_misc. */
static bool under_emulator(void) { return getenv("SUBQ_TEST_EMULATOR") != NULL; }

static void fixture_path(const char *name, char *buf, size_t cap) {
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  size_t dir = slash ? (size_t)(slash - file) : 0;
  snprintf(buf, cap, "%.*s/../topologies/%s", (int)dir, slash ? file : ".", name);
}

/* ---- a two-phase computation with item-dependent floats ------------------------- */
typedef struct comp_arg {
  float *a, *b;
  int64_t n;
  const subq_context *ctx;    /* NULL for the reference run */
  int64_t range_b[64], range_e[64];
  atomic_int wrong_node;
  atomic_int *hits;
} comp_arg;

static float item_value(int64_t i, float *scratch) {
  float x = (float)i * 0.001f + 1.0f;
  for (int k = 0; k < 24; k++) {
    x = x * 1.0001f + (float)k * 0.37f / (x + 3.0f);
    if (scratch) scratch[k % 16] = x;
  }
  return x;
}

static subq_status phase_one(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  comp_arg *c = varg;
  float *s = info->scratch_size >= 16 * sizeof(float) ? info->scratch : NULL;
  for (int64_t i = b; i < e; i++) {
    c->a[i] = item_value(i, s);
    if (c->hits) atomic_fetch_add(&c->hits[i], 1);
    if (c->ctx) {
      int32_t g = info->node;
      if (g != c->ctx->node_of[info->participant] || i < c->range_b[g] || i >= c->range_e[g])
        atomic_fetch_add(&c->wrong_node, 1);
    }
  }
  return SUBQ_OK;
}

static subq_status phase_two(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)info;
  comp_arg *c = varg;
  for (int64_t i = b; i < e; i++) c->b[i] = c->a[c->n - 1 - i] * 0.5f + c->a[i];
  return SUBQ_OK;
}

#define N_ITEMS 4099

static void compute(subq_context *ctx, float *out, const char *what) {
  comp_arg *c = calloc(1, sizeof *c);
  c->a = calloc(N_ITEMS, sizeof(float));
  c->b = out;
  c->n = N_ITEMS;
  c->ctx = ctx;
  c->hits = calloc(N_ITEMS, sizeof(atomic_int));
  if (ctx) {
    const subq_partition *p = subq_placement_partition(ctx);
    if (p && p->n_groups <= 64) subq_partition_item_ranges(p, N_ITEMS, c->range_b, c->range_e);
    else c->range_b[0] = 0, c->range_e[0] = N_ITEMS;
  }
  subq_phase ph[2] = {{phase_one, c, N_ITEMS, 0}, {phase_two, c, N_ITEMS, 7}};
  CHECK_MSG(subq_parallel_run(ctx, ph, 2, 256) == SUBQ_OK, "%s: %s", what, subq_last_error_message());
  int bad = 0;
  for (int64_t i = 0; i < N_ITEMS; i++) bad += atomic_load(&c->hits[i]) != 1;
  CHECK_MSG(bad == 0, "%s: %d items not run exactly once", what, bad);
  CHECK_MSG(atomic_load(&c->wrong_node) == 0, "%s: %d items ran outside their node's range", what,
            atomic_load(&c->wrong_node));
  free(c->a);
  free(c->hits);
  free(c);
}

static subq_context *make_ctx(const subq_topology *t, int n, subq_numa_mode m, int node, subq_bind b, uint32_t flags) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = n;
  p.numa = m;
  p.numa_node = node;
  p.bind = b;
  p.flags = flags | SUBQ_CONTEXT_NO_SPIN; /* oversubscribed on small boxes */
  p.topology = t;
  subq_context *ctx = NULL;
  subq_status st = subq_context_create(&p, &ctx);
  CHECK_MSG(st == SUBQ_OK, "create numa=%d bind=%d n=%d: %s", (int)m, (int)b, n, subq_last_error_message());
  return ctx;
}

static bool places_memory(subq_numa_mode m) {
  return m == SUBQ_NUMA_ISOLATE || m == SUBQ_NUMA_DISTRIBUTE || m == SUBQ_NUMA_MIRROR;
}

/* ---- synthetic / XML end to end ---------------------------------------------------- */
static void check_recording(const subq_topology *t, const char *name, const float *ref) {
  const int threads[] = {1, 3, 6};
  float *out = malloc(N_ITEMS * sizeof(float));
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++)
    for (int b = SUBQ_BIND_NONE; b <= SUBQ_BIND_CORE; b++)
      for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        const int n = threads[k];
        char what[200];
        snprintf(what, sizeof what, "%s numa=%d bind=%d n=%d", name, m, b, n);
        subq_context *ctx = make_ctx(t, n, (subq_numa_mode)m, -1, (subq_bind)b, 0);
        if (!ctx) continue;
        CHECK_MSG(!strcmp(subq_placement_backend_name(ctx), "recording"), "%s: backend %s", what,
                  subq_placement_backend_name(ctx));
        const subq_partition *p = subq_placement_partition(ctx);
        CHECK(p != NULL && p->n_participants == n && subq_context_num_threads(ctx) == n);
        memset(out, 0xff, N_ITEMS * sizeof(float));
        compute(ctx, out, what);
        CHECK_MSG(!memcmp(out, ref, N_ITEMS * sizeof(float)), "%s: results differ from ctx == NULL", what);
        /* the log: every worker bound once as expected, never the caller */
        subq_place_kind want = b == SUBQ_BIND_CORE   ? SUBQ_PLACE_BIND_CORE
                               : b == SUBQ_BIND_NODE ? SUBQ_PLACE_BIND_NODE
                               : places_memory((subq_numa_mode)m) ? SUBQ_PLACE_BIND_NODE
                                                                   : (subq_place_kind)0;
        subq_place_record rec[256];
        size_t nrec = subq_placement_log(ctx, rec, 256);
        CHECK(nrec <= 256);
        int per[64] = {0}, bad = 0, areas = 0, bad_area = 0;
        for (size_t r = 0; r < nrec && r < 256; r++) {
          if (rec[r].kind == SUBQ_PLACE_AREA) {
            areas++;
            bool used = false;
            for (int32_t u = 0; u < p->n_nodes_used; u++) used |= p->nodes_used[u] == rec[r].node;
            if (!used || rec[r].bytes == 0 || rec[r].bytes % SUBQ_ARENA_ALIGN != 0 ||
                rec[r].node_os != t->node_os_index[rec[r].node])
              bad_area++;
            continue;
          }
          int32_t q = rec[r].participant;
          if (q <= 0 || q >= n || rec[r].kind != want) {
            bad++;
            continue;
          }
          per[q]++;
          if (rec[r].node != p->node_of[q]) bad++;
          if (want == SUBQ_PLACE_BIND_CORE &&
              (rec[r].pu != p->pu_of[q] || rec[r].pu_os != t->pus[rec[r].pu].os_index || rec[r].n_pus != 1 ||
               !t->pus[rec[r].pu].allowed))
            bad++;
          if (want == SUBQ_PLACE_BIND_NODE && rec[r].n_pus < 1) bad++;
        }
        for (int q = 1; q < n; q++) bad += per[q] != (want ? 1 : 0);
        CHECK_MSG(bad == 0, "%s: %d unexpected bind records (of %zu)", what, bad, nrec);
        CHECK_MSG(bad_area == 0, "%s: %d arena records on a wrong node", what, bad_area);
        if (places_memory((subq_numa_mode)m))
          CHECK_MSG(areas >= 1 && areas <= p->n_nodes_used, "%s: %d arena bindings for %d nodes", what, areas,
                    (int)p->n_nodes_used);
        else
          CHECK_MSG(areas == 0, "%s: %d arena bindings although memory is not placed", what, areas);
        char d[512];
        subq_context_describe(ctx, d, sizeof d);
        CHECK_MSG(strstr(d, "placement=recording") && strstr(d, "topology="), "%s: describe '%s'", what, d);
        subq_context_destroy(ctx);
      }
  free(out);
}

/* ---- this machine ---------------------------------------------------------------------- */
typedef struct mask_arg {
  cpu_set_t masks[16];
  atomic_int seen[16];
  int32_t scratch_node[16];
  int scratch_dirty[16];
} mask_arg;

static subq_status record_mask(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)b, (void)e;
  mask_arg *m = varg;
  int p = info->participant;
  if (p < 0 || p >= 16) return SUBQ_OK;
  if (atomic_fetch_add(&m->seen[p], 1) == 0) {
    CPU_ZERO(&m->masks[p]);
    sched_getaffinity(0, sizeof(cpu_set_t), &m->masks[p]); /* this thread's mask */
    m->scratch_node[p] = info->scratch ? subq_memory_node_of(info->scratch) : -2;
    /* fresh scratch was zeroed by the owners' touch job */
    const unsigned char *sc = info->scratch;
    for (size_t i = 0; sc && i < info->scratch_size; i++) m->scratch_dirty[p] += sc[i] != 0;
  }
  return SUBQ_OK;
}

static void check_real(void) {
  const subq_topology *t = subq_host_topology();
  if (!t || !t->is_this_system) {
    printf("test_placement: the process topology is not this system (HWLOC_SYNTHETIC?): real binding skipped\n");
    return;
  }
  cpu_set_t caller;
  CPU_ZERO(&caller);
  CHECK(sched_getaffinity(0, sizeof caller, &caller) == 0);
  struct {
    subq_numa_mode m;
    subq_bind b;
    int n;
  } cases[] = {{SUBQ_NUMA_OFF, SUBQ_BIND_CORE, 2},      {SUBQ_NUMA_OFF, SUBQ_BIND_NODE, 2},
               {SUBQ_NUMA_ISOLATE, SUBQ_BIND_NONE, 2},  {SUBQ_NUMA_DISTRIBUTE, SUBQ_BIND_CORE, 3},
               {SUBQ_NUMA_MIRROR, SUBQ_BIND_NODE, 2},   {SUBQ_NUMA_INHERIT, SUBQ_BIND_NONE, 2},
               {SUBQ_NUMA_OFF, SUBQ_BIND_NONE, 2}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char what[96];
    snprintf(what, sizeof what, "real numa=%d bind=%d n=%d", (int)cases[c].m, (int)cases[c].b, cases[c].n);
    subq_context *ctx = make_ctx(NULL, cases[c].n, cases[c].m, -1, cases[c].b, 0);
    if (!ctx) continue;
    CHECK_MSG(!strcmp(subq_placement_backend_name(ctx), "real") || (cases[c].m == SUBQ_NUMA_OFF &&
                                                                     cases[c].b == SUBQ_BIND_NONE),
              "%s: backend %s", what, subq_placement_backend_name(ctx));
    const subq_partition *p = subq_placement_partition(ctx);
    mask_arg *ma = calloc(1, sizeof *ma);
    subq_phase ph = {record_mask, ma, cases[c].n, 1};
    CHECK_OK(subq_parallel_run(ctx, &ph, 1, 4096));
    cpu_set_t now;
    CPU_ZERO(&now);
    sched_getaffinity(0, sizeof now, &now);
    CHECK_MSG(CPU_EQUAL(&now, &caller), "%s: the caller's mask changed", what);
    for (int q = 0; q < cases[c].n && q < 16; q++) {
      if (!atomic_load(&ma->seen[q])) continue; /* a participant without items */
      cpu_set_t want;
      CPU_ZERO(&want);
      if (q == 0 || !p || p->bind == SUBQ_BINDK_NONE) {
        want = caller; /* never pinned / inherited */
      } else if (p->bind == SUBQ_BINDK_CORE) {
        CPU_SET(t->pus[p->pu_of[q]].os_index, &want);
      } else {
        for (int32_t i = 0; i < t->n_pus; i++)
          if (t->pus[i].node == p->node_of[q] && t->pus[i].allowed && CPU_ISSET(t->pus[i].os_index, &caller))
            CPU_SET(t->pus[i].os_index, &want);
      }
      CHECK_MSG(CPU_EQUAL(&ma->masks[q], &want), "%s: participant %d has %d CPUs, want %d", what, q,
                CPU_COUNT(&ma->masks[q]), CPU_COUNT(&want));
      CHECK_MSG(ma->scratch_dirty[q] == 0, "%s: participant %d got %d non-zero scratch bytes", what, q,
                ma->scratch_dirty[q]);
      /* each participant's scratch lives on its node (first touched by it) */
      int32_t want_node = p && p->node_of[q] >= 0 ? t->node_os_index[p->node_of[q]]
                                                  : (t->n_nodes == 1 ? t->node_os_index[0] : -1);
      if (want_node >= 0 && !under_emulator())
        CHECK_MSG(ma->scratch_node[q] == want_node, "%s: participant %d scratch on node %d, want %d", what, q,
                  (int)ma->scratch_node[q], (int)want_node);
    }
    if (places_memory(cases[c].m)) {
      subq_place_record rec[64];
      size_t nrec = subq_placement_log(ctx, rec, 64);
      int areas = 0;
      for (size_t r = 0; r < nrec && r < 64; r++) areas += rec[r].kind == SUBQ_PLACE_AREA;
      CHECK_MSG(areas >= 1, "%s: scratch arena not bound", what);
    }
    char d[512];
    subq_context_describe(ctx, d, sizeof d);
    if (cases[c].m != SUBQ_NUMA_OFF || cases[c].b != SUBQ_BIND_NONE)
      CHECK_MSG(strstr(d, "placement=real") != NULL, "%s: describe '%s'", what, d);
    subq_context_destroy(ctx);
    free(ma);
    CPU_ZERO(&now);
    sched_getaffinity(0, sizeof now, &now);
    CHECK_MSG(CPU_EQUAL(&now, &caller), "%s: the caller's mask changed after destroy", what);
  }

  /* an arena touched here reports this machine's node */
  subq_arena *a = NULL;
  CHECK_OK(subq_arena_create(3 << 20, -1, SUBQ_ARENA_HUGEPAGE, NULL, NULL, "test", &a));
  if (a) {
    CHECK(subq_arena_capacity(a) == (size_t)4 << 20);
    unsigned char *x = subq_arena_alloc(a, 100), *y = subq_arena_alloc(a, 5000);
    CHECK(x && y && ((uintptr_t)x % 64) == 0 && ((uintptr_t)y % 64) == 0 && y >= x + 100);
    if (!subq_arena_uses_heap()) CHECK(((uintptr_t)x % SUBQ_ARENA_ALIGN) == 0);
    CHECK(subq_arena_alloc(a, (size_t)8 << 20) == NULL); /* full */
    CHECK(subq_arena_alloc(a, SIZE_MAX) == NULL);         /* overflow */
    memset(x, 1, 100);
    memset(y, 2, 5000);
    int32_t nd = subq_memory_node_of(y + 4000);
    if (under_emulator()) (void)nd;
    else if (t->n_nodes == 1) CHECK_MSG(nd == t->node_os_index[0], "arena page on node %d", (int)nd);
    else CHECK(nd >= 0);
    subq_arena_destroy(a);
  }
  subq_arena_destroy(NULL);
  CHECK_STATUS(subq_arena_create(0, -1, 0, NULL, NULL, "test", &a), SUBQ_ERR_INVALID_ARGUMENT, "capacity is 0");
  CHECK_STATUS(subq_arena_create(SIZE_MAX - 5, -1, 0, NULL, NULL, "test", &a), SUBQ_ERR_INVALID_ARGUMENT,
               "overflows");

  /* numa_node that this machine lacks */
  subq_context_params prm;
  subq_context_params_default(&prm, sizeof prm);
  prm.n_threads = 2;
  prm.numa = SUBQ_NUMA_ISOLATE;
  prm.numa_node = 4000;
  subq_context *ctx = NULL;
  CHECK_STATUS(subq_context_create(&prm, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "numa_node (4000)");
  CHECK(ctx == NULL);
}

/* ---- the numa_balancing warning: once per process, verbose >= 1, never a change ---- */
static atomic_int balancing_warnings;
static void count_balancing(void *user, subq_log_level level, const char *msg) {
  (void)user;
  if (level == SUBQ_LOG_WARN && strstr(msg, "numa_balancing")) atomic_fetch_add(&balancing_warnings, 1);
}

static int read_balancing(void) {
  FILE *f = fopen("/proc/sys/kernel/numa_balancing", "r");
  int v = -1;
  if (f) {
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
  }
  return v;
}

static void check_balancing_warning(void) {
  const subq_topology *t = subq_host_topology();
  if (!t || !t->is_this_system) return;
  const int before = read_balancing();
  subq_set_log_callback(count_balancing, NULL);
  for (int i = 0; i < 3; i++) {
    subq_context_params p;
    subq_context_params_default(&p, sizeof p);
    p.n_threads = 2;
    p.numa = i == 0 ? SUBQ_NUMA_OFF : SUBQ_NUMA_ISOLATE;
    p.verbose = 1;
    subq_context *ctx = NULL;
    CHECK_OK(subq_context_create(&p, &ctx));
    subq_context_destroy(ctx);
  }
  subq_set_log_callback(NULL, NULL);
  CHECK_MSG(atomic_load(&balancing_warnings) == (before == 1 ? 1 : 0), "numa_balancing=%d: %d warnings", before,
            atomic_load(&balancing_warnings));
  CHECK(read_balancing() == before); /* never changed */
}

/* ---- SUBQ_TOPOLOGY, in a child process (the variable is read once per process) ---- */
static int env_child(void) {
  subq_topology *probe = NULL;
  subq_status st = subq_topology_create_synthetic("pack:1 core:1 pu:1", &probe);
  subq_topology_release(probe);
  const char *v = getenv("SUBQ_TOPOLOGY");
  const bool valid = v && !strncmp(v, "synthetic:", 10);
  const bool xml = v && !strncmp(v, "xml:", 4);
  subq_context *ctx = make_ctx(NULL, 4, SUBQ_NUMA_DISTRIBUTE, -1, SUBQ_BIND_NONE, 0);
  if (!ctx) return subq_test_finish("test_placement(env child)");
  char d[512];
  subq_context_describe(ctx, d, sizeof d);
  if (valid && st == SUBQ_OK) {
    CHECK_MSG(strstr(d, "topology=synthetic:pack:2 [numa] core:2 pu:1") && strstr(d, "placement=recording") &&
                  strstr(d, "nodes=2") && strstr(d, "per_node=2,2"),
              "describe '%s'", d);
  } else if (xml && st == SUBQ_OK) {
    CHECK_MSG(strstr(d, "topology=xml:") && strstr(d, "placement=recording") && strstr(d, "nodes=2") &&
                  strstr(d, "node_os=0,2"),
              "describe '%s'", d);
  } else {
    /* invalid or unusable: ignored, the process topology is used */
    CHECK_MSG(strstr(d, "topology=synthetic") == NULL, "describe '%s'", d);
  }
  float *ref = malloc(N_ITEMS * sizeof(float)), *out = malloc(N_ITEMS * sizeof(float));
  compute(NULL, ref, "env reference");
  compute(ctx, out, "env");
  CHECK(!memcmp(ref, out, N_ITEMS * sizeof(float)));
  free(ref), free(out);
  subq_context_destroy(ctx);
  return subq_test_finish("test_placement(env child)");
}

static void spawn_env_child(const char *self, const char *value) {
  if (under_emulator()) {
    printf("test_placement: under an emulator: child with SUBQ_TOPOLOGY=%s skipped\n", value);
    return;
  }
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 2, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "SUBQ_TOPOLOGY=", 14)) env[k++] = environ[i];
  char assign[256];
  snprintf(assign, sizeof assign, "SUBQ_TOPOLOGY=%s", value);
  env[k++] = assign;
  env[k] = NULL;
  char *argv[] = {(char *)self, (char *)"--env-child", NULL};
  pid_t pid = 0;
  fflush(NULL);
  int rc = posix_spawn(&pid, self, NULL, NULL, argv, env);
  CHECK_MSG(rc == 0, "posix_spawn %s: %s", self, strerror(rc));
  if (rc == 0) {
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECK_MSG(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "child with SUBQ_TOPOLOGY=%s failed (status %d)", value, wst);
  }
  free(env);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--env-child")) return env_child();

  float *ref = malloc(N_ITEMS * sizeof(float));
  compute(NULL, ref, "reference");

  subq_topology *probe = NULL;
  subq_status pst = subq_topology_create_synthetic("pack:1 core:1 pu:1", &probe);
  subq_topology_release(probe);
  if (pst == SUBQ_ERR_UNSUPPORTED) {
    printf("test_placement: built without hwloc: synthetic/XML placement skipped\n");
  } else {
    const char *fx[] = {"pack:2 [numa] core:8 pu:2", "pack:2 numa:2 core:4 pu:1", "pack:1 numa:4 core:8 pu:2"};
    for (size_t f = 0; f < sizeof fx / sizeof fx[0]; f++) {
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_synthetic(fx[f], &t));
      if (t) check_recording(t, fx[f], ref);
      /* ISOLATE on each node by OS index; out of range is refused */
      for (int32_t nd = 0; t && nd < t->n_nodes; nd++) {
        subq_context *ctx = make_ctx(t, 3, SUBQ_NUMA_ISOLATE, t->node_os_index[nd], SUBQ_BIND_CORE, 0);
        const subq_partition *p = subq_placement_partition(ctx);
        CHECK(p && p->n_nodes_used == 1 && p->nodes_used[0] == nd);
        subq_context_destroy(ctx);
      }
      if (t) {
        subq_context_params prm;
        subq_context_params_default(&prm, sizeof prm);
        prm.numa = SUBQ_NUMA_ISOLATE;
        prm.numa_node = 9;
        prm.n_threads = 2;
        prm.topology = t;
        subq_context *ctx = NULL;
        CHECK_STATUS(subq_context_create(&prm, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "numa_node (9)");
        CHECK(ctx == NULL);
        /* n_threads = 0 on a synthetic topology: its physical cores */
        subq_context *c0 = make_ctx(t, 0, SUBQ_NUMA_DISTRIBUTE, -1, SUBQ_BIND_NONE, 0);
        CHECK(c0 && subq_context_num_threads(c0) == subq_topology_num_cores(t));
        subq_context_destroy(c0);
        /* ... and under ISOLATE the cores of the isolated node only */
        c0 = make_ctx(t, 0, SUBQ_NUMA_ISOLATE, t->node_os_index[t->n_nodes - 1], SUBQ_BIND_NONE, 0);
        CHECK(c0 && subq_context_num_threads(c0) == subq_topology_num_cores(t) / subq_topology_num_nodes(t));
        subq_context_destroy(c0);
      }
      subq_topology_release(t);
    }
    char path[1024];
    fixture_path("asym_memonly_disallowed.xml", path, sizeof path);
    subq_topology *t = NULL;
    CHECK_OK(subq_topology_create_xml(path, &t));
    if (t) {
      check_recording(t, "asym.xml", ref);
      subq_context_params prm;
      subq_context_params_default(&prm, sizeof prm);
      prm.numa = SUBQ_NUMA_ISOLATE;
      prm.numa_node = 5;
      prm.n_threads = 2;
      prm.topology = t;
      subq_context *ctx = NULL;
      CHECK_STATUS(subq_context_create(&prm, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "numa_node (5) has no allowed CPU");
    }
    subq_topology_release(t);
    spawn_env_child(argv[0], "synthetic:pack:2 [numa] core:2 pu:1");
    char xml_env[1100];
    snprintf(xml_env, sizeof xml_env, "xml:%s", path);
    spawn_env_child(argv[0], xml_env);
  }
  spawn_env_child(argv[0], "bogus");

  check_real();
  check_balancing_warning();

  /* NULL / executor contexts have no placement */
  CHECK(subq_placement_log(NULL, NULL, 0) == 0);
  CHECK(subq_placement_partition(NULL) == NULL);
  CHECK(!strcmp(subq_placement_backend_name(NULL), "none"));
  free(ref);
  return subq_test_finish("test_placement");
}
