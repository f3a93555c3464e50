/*
 * subq_context.c — the execution context: parameters (with environment
 * defaults), the worker pool or host executor, per-participant scratch, and
 * subq_parallel_run, the one entry every kernel uses to run its phases.
 */
#include "internal/subq_context_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_placement.h"
#include "internal/subq_topology_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(subq_numa_mode) == 4, "enum fields of public structs are 4 bytes");
_Static_assert(sizeof(subq_bind) == 4, "enum fields of public structs are 4 bytes");
_Static_assert(sizeof(subq_isa) == 4, "enum fields of public structs are 4 bytes");
_Static_assert(sizeof(subq_status) == 4, "status is 4 bytes");

/* The first layout of subq_context_params ever published: everything up to
 * and including `topology`. Older callers may pass no less. */
#define SUBQ_CONTEXT_PARAMS_MIN_SIZE (offsetof(subq_context_params, topology) + sizeof(void *))

static int subq_env_choice(const char *name, const char *const *choices, int n, int fallback) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  for (int i = 0; i < n; i++)
    if (!strcasecmp(v, choices[i])) return i;
  subq_log(SUBQ_LOG_WARN, "%s='%s' is not one of the accepted values; ignored", name, v);
  return fallback;
}

static int64_t subq_env_int(const char *name, int64_t fallback, int64_t lo, int64_t hi) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  char *end = NULL;
  long long x = strtoll(v, &end, 10);
  if (!end || *end || x < lo || x > hi) {
    subq_log(SUBQ_LOG_WARN, "%s='%s' is not an integer in [%lld, %lld]; ignored", name, v, (long long)lo,
             (long long)hi);
    return fallback;
  }
  return (int64_t)x;
}

void subq_context_params_default(subq_context_params *p, size_t struct_size) {
  if (!p || struct_size < sizeof(size_t)) return;
  subq_context_params d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  static const char *const numa_names[] = {"off", "isolate", "distribute", "inherit", "mirror"};
  static const char *const bind_names[] = {"none", "node", "core"};
  d.n_threads = (int32_t)subq_env_int("SUBQ_NUM_THREADS", 0, 0, 1 << 16);
  d.numa = (subq_numa_mode)subq_env_choice("SUBQ_NUMA", numa_names, 5, SUBQ_NUMA_OFF);
  d.numa_node = -1;
  d.bind = (subq_bind)subq_env_choice("SUBQ_BIND", bind_names, 3, SUBQ_BIND_NONE);
  d.spin_us = (uint32_t)subq_env_int("SUBQ_SPIN_US", 200, 0, 1000000);
  d.flags = 0;
  d.max_isa = SUBQ_ISA_AUTO; /* SUBQ_MAX_ISA is a process-wide cap applied at resolution */
  d.verbose = subq_env_verbose();
  d.topology = NULL;
  size_t n = SUBQ_MIN(struct_size, sizeof d);
  memset(p, 0, struct_size);
  memcpy(p, &d, n);
  p->struct_size = struct_size;
}

static subq_status subq_context_validate(const subq_context_params *p) {
  if (p->n_threads < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: n_threads (%d) is negative", (int)p->n_threads);
  if ((int)p->numa < SUBQ_NUMA_OFF || (int)p->numa > SUBQ_NUMA_MIRROR)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: numa (%d) is not a subq_numa_mode", (int)p->numa);
  if ((int)p->bind < SUBQ_BIND_NONE || (int)p->bind > SUBQ_BIND_CORE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: bind (%d) is not a subq_bind", (int)p->bind);
  if (p->numa_node < -1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: numa_node (%d) must be -1 or a node index",
                      (int)p->numa_node);
  const uint32_t known_flags = SUBQ_CONTEXT_FLAT | SUBQ_CONTEXT_USE_SMT | SUBQ_CONTEXT_START_PAUSED |
                               SUBQ_CONTEXT_FLUSH_DENORMALS | SUBQ_CONTEXT_NO_SPIN;
  if (p->flags & ~known_flags)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: flags 0x%x has unknown bits 0x%x",
                      (unsigned)p->flags, (unsigned)(p->flags & ~known_flags));
  if (p->max_isa != SUBQ_ISA_AUTO && subq_isa_rank(p->max_isa) < 0) {
    if (!strcmp(subq_isa_name(p->max_isa), "unknown"))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: max_isa (%d) is not a subq_isa",
                        (int)p->max_isa);
    return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_context_create: max_isa '%s' is not an ISA of this architecture",
                      subq_isa_name(p->max_isa));
  }
  if (p->verbose < 0 || p->verbose > 3)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: verbose (%d) is outside 0..3", (int)p->verbose);
  return SUBQ_OK;
}

static subq_status subq_context_begin(const subq_context_params *params, subq_context **out, subq_context **made) {
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create: out is NULL");
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  if (params) {
    subq_status st = subq_read_struct(&p, sizeof p, params, params->struct_size, SUBQ_CONTEXT_PARAMS_MIN_SIZE,
                                      "subq_context_params");
    if (st != SUBQ_OK) return st;
  }
  subq_status st = subq_context_validate(&p);
  if (st != SUBQ_OK) return st;
  subq_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
  ctx->params = p;
  ctx->isa = subq_isa_resolve(p.max_isa);
  pthread_mutex_init(&ctx->call_lock, NULL);
  if (p.topology) ctx->topology = subq_topology_retain((subq_topology *)p.topology);
  *made = ctx;
  return SUBQ_OK;
}

static void subq_context_log_created(const subq_context *ctx) {
  if (ctx->params.verbose < 1 && subq_env_verbose() < 1) return;
  char buf[512], topo[256] = "";
  subq_context_describe(ctx, buf, sizeof buf);
  const subq_topology *t = ctx->topology ? ctx->topology : subq_host_topology();
  if (t) subq_topology_describe(t, topo, sizeof topo);
  subq_log_at(ctx->params.verbose, SUBQ_LOG_INFO, "context: %s; topology: %s", buf, t ? topo : "unknown");
}

subq_status subq_context_create(const subq_context_params *params, subq_context **out) {
  subq_context *ctx = NULL;
  subq_status st = subq_context_begin(params, out, &ctx);
  if (st != SUBQ_OK) return st;
  const subq_context_params *p = &ctx->params;
  ctx->n_threads = p->n_threads > 0 ? p->n_threads : subq_default_thread_count((p->flags & SUBQ_CONTEXT_USE_SMT) != 0);
  subq_pool_layout layout;
  memset(&layout, 0, sizeof layout);
  st = subq_placement_setup(ctx, &layout);
  if (st != SUBQ_OK) {
    subq_context_destroy(ctx);
    return st;
  }
  if (ctx->n_threads > 1) {
    subq_pool_config cfg = {0};
    /* Oversubscribed pools (more participants than allowed CPUs) never spin:
     * a spinning worker would steal the CPU the straggler needs. */
    bool no_spin = (p->flags & SUBQ_CONTEXT_NO_SPIN) || ctx->n_threads > subq_allowed_cpu_count();
    cfg.spin_us = no_spin ? 0 : p->spin_us;
    cfg.start_paused = (p->flags & SUBQ_CONTEXT_START_PAUSED) != 0;
    cfg.flush_denormals = (p->flags & SUBQ_CONTEXT_FLUSH_DENORMALS) != 0;
    cfg.flat_barrier = (p->flags & SUBQ_CONTEXT_FLAT) != 0;
    st = subq_pool_create(&layout, &cfg, &ctx->pool);
    if (st != SUBQ_OK) {
      subq_context_destroy(ctx);
      return st;
    }
  }
  subq_context_log_created(ctx);
  *out = ctx;
  return SUBQ_OK;
}

subq_status subq_context_create_with_executor(const subq_context_params *params, const subq_executor *ex,
                                              subq_context **out) {
  if (!ex) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_create_with_executor: ex is NULL");
  if (ex->struct_size < sizeof(subq_executor))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "subq_context_create_with_executor: ex->struct_size (%zu) is smaller than sizeof(subq_executor)",
                      ex->struct_size);
  if (!ex->max_concurrency || !ex->parallel_for)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "subq_context_create_with_executor: ex->max_concurrency and ex->parallel_for must be set");
  subq_context *ctx = NULL;
  subq_status st = subq_context_begin(params, out, &ctx);
  if (st != SUBQ_OK) return st;
  if (ctx->params.numa != SUBQ_NUMA_OFF || ctx->params.bind != SUBQ_BIND_NONE) {
    subq_context_destroy(ctx);
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "subq_context_create_with_executor: numa and bind must be off with a host executor (its thread "
                      "placement is unknown)");
  }
  int32_t conc = ex->max_concurrency(ex->ctx);
  if (conc < 1) {
    subq_context_destroy(ctx);
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "subq_context_create_with_executor: max_concurrency returned %d (must be >= 1)", (int)conc);
  }
  ctx->has_executor = true;
  ctx->executor = *ex;
  ctx->executor.struct_size = sizeof(subq_executor);
  ctx->n_threads = conc;
  ctx->n_nodes = 1;
  subq_context_log_created(ctx);
  *out = ctx;
  return SUBQ_OK;
}

void subq_context_destroy(subq_context *ctx) {
  if (!ctx) return;
  subq_pool_destroy(ctx->pool);
  subq_scratch_arenas_destroy(ctx->scratch_arena);
  free(ctx->scratch);
  subq_free(ctx->shared);
  subq_placement_teardown(ctx);
  subq_topology_release(ctx->topology);
  pthread_mutex_destroy(&ctx->call_lock);
  free(ctx);
}

int32_t subq_context_num_threads(const subq_context *ctx) { return ctx ? ctx->n_threads : 0; }
subq_isa subq_context_isa(const subq_context *ctx) { return ctx ? ctx->isa : subq_isa_resolve(SUBQ_ISA_AUTO); }
subq_isa subq_context_isa_or_default(const subq_context *ctx) { return ctx ? ctx->isa : subq_isa_resolve(SUBQ_ISA_AUTO); }
int32_t subq_parallel_width(const subq_context *ctx) { return ctx ? ctx->n_threads : 1; }
int subq_context_verbosity(const subq_context *ctx) {
  const int env = subq_env_verbose();
  return ctx && ctx->params.verbose > env ? ctx->params.verbose : env;
}

subq_status subq_context_pause(subq_context *ctx) {
  if (!ctx) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_pause: ctx is NULL");
  if (ctx->pool) subq_pool_pause(ctx->pool);
  return SUBQ_OK;
}
subq_status subq_context_resume(subq_context *ctx) {
  if (!ctx) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_context_resume: ctx is NULL");
  if (ctx->pool) subq_pool_resume(ctx->pool);
  return SUBQ_OK;
}

static const char *subq_numa_name(subq_numa_mode m) {
  static const char *const names[] = {"off", "isolate", "distribute", "inherit", "mirror"};
  return (int)m >= 0 && (int)m < 5 ? names[m] : "?";
}

size_t subq_context_describe(const subq_context *ctx, char *buf, size_t cap) {
  if (!ctx) return 0;
  char place[256] = "";
  if (!ctx->has_executor) subq_placement_describe(ctx, place, sizeof place);
  int n = snprintf(buf, buf ? cap : 0, "threads=%d isa=%s numa=%s runner=%s%s spin_us=%u%s%s", (int)ctx->n_threads,
                   subq_isa_name(ctx->isa), subq_numa_name(ctx->params.numa),
                   ctx->has_executor ? "host-executor" : (ctx->pool ? "pool" : "caller"),
                   ctx->pool ? (subq_pool_is_hierarchical(ctx->pool) ? " barrier=hierarchical" : " barrier=flat") : "",
                   (unsigned)ctx->params.spin_us, place[0] ? " " : "", place);
  return n < 0 ? 0 : (size_t)n;
}

/* ---- running phases ------------------------------------------------------------- */

/* First touch of fresh scratch: slot i is zeroed by participant i (pool:
 * n items over n participants is one static item each, so every participant
 * writes its own slot on its own node), never memset by the caller alone. */
typedef struct subq_scratch_touch {
  void **slots;
  size_t bytes;
} subq_scratch_touch;

static subq_status subq_scratch_zero(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)info;
  subq_scratch_touch *z = varg;
  for (int64_t i = b; i < e; i++) memset(z->slots[i], 0, z->bytes);
  return SUBQ_OK;
}

static void subq_scratch_zero_task(void *varg, int64_t t) {
  subq_scratch_touch *z = varg;
  memset(z->slots[t], 0, z->bytes);
}

/* Grows the context's per-participant scratch to `bytes` each. */
static subq_status subq_scratch_reserve(subq_context *ctx, int32_t count, size_t bytes) {
  if (count <= ctx->n_scratch && bytes <= ctx->scratch_size) return SUBQ_OK;
  int32_t n = SUBQ_MAX(count, ctx->n_scratch);
  size_t sz = SUBQ_MAX(bytes, ctx->scratch_size);
  void **arr = calloc((size_t)n, sizeof(void *));
  if (!arr) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "scratch: out of memory");
  void *arena = NULL;
  subq_status st = subq_scratch_arenas_create(ctx, n, sz, arr, &arena);
  if (st != SUBQ_OK) {
    free(arr);
    return st;
  }
  if (sz) {
    subq_scratch_touch z = {arr, sz};
    if (ctx->pool && n == ctx->n_threads) {
      subq_phase touch = {subq_scratch_zero, &z, n, 1};
      st = subq_pool_run(ctx->pool, &touch, 1, NULL, 0, false);
    } else if (ctx->has_executor) {
      ctx->executor.parallel_for(ctx->executor.ctx, n, subq_scratch_zero_task, &z);
    } else {
      subq_scratch_zero(&z, 0, n, NULL);
    }
    if (st != SUBQ_OK) {
      subq_scratch_arenas_destroy(arena);
      free(arr);
      return st;
    }
  }
  subq_scratch_arenas_destroy(ctx->scratch_arena);
  free(ctx->scratch);
  ctx->scratch = arr;
  ctx->scratch_arena = arena;
  ctx->n_scratch = n;
  ctx->scratch_size = sz;
  return SUBQ_OK;
}

/* Every phase on the calling thread, items in order; `passes` > 1 repeats each
 * phase once per node (info.node = the pass) for per-node runs. */
static subq_status subq_run_inline(const subq_phase *phases, int n_phases, void *scratch, size_t scratch_size,
                                   int32_t passes) {
  subq_task_info info = {0, 1, 0, scratch, scratch_size};
  for (int ph = 0; ph < n_phases; ph++) {
    if (phases[ph].n_items <= 0) continue;
    for (info.node = 0; info.node < passes; info.node++) {
      subq_status st = phases[ph].run(phases[ph].arg, 0, phases[ph].n_items, &info);
      if (st != SUBQ_OK) return st;
    }
  }
  return SUBQ_OK;
}

/* Host executor: one parallel_for per phase; task t runs a contiguous slice. */
typedef struct subq_exec_phase {
  const subq_phase *phase;
  int64_t n_tasks;
  void *const *scratch;
  size_t scratch_size;
  atomic_int status;
  char message[512];
} subq_exec_phase;

static void subq_exec_task(void *vctx, int64_t t) {
  subq_exec_phase *ep = vctx;
  if (t < 0 || t >= ep->n_tasks || atomic_load(&ep->status) != 0) return;
  const int64_t items = ep->phase->n_items;
  int64_t b = items * t / ep->n_tasks, e = items * (t + 1) / ep->n_tasks;
  if (e <= b) return;
  subq_task_info info = {(int32_t)t, (int32_t)ep->n_tasks, 0, ep->scratch[t], ep->scratch_size};
  subq_status st = ep->phase->run(ep->phase->arg, b, e, &info);
  if (st != SUBQ_OK) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&ep->status, &expected, (int)st))
      snprintf(ep->message, sizeof ep->message, "%s", subq_last_error_message());
  }
}

static int64_t subq_exec_tasks(const subq_context *ctx, const subq_phase *phase) {
  int64_t g = subq_pool_pick_grain(phase->n_items, phase->grain, ctx->n_threads);
  int64_t chunks = (phase->n_items + g - 1) / g;
  return SUBQ_MIN(chunks, 4 * (int64_t)ctx->n_threads);
}

static subq_status subq_run_executor(subq_context *ctx, const subq_phase *phases, int n_phases, size_t scratch) {
  int64_t max_tasks = 1;
  for (int ph = 0; ph < n_phases; ph++) max_tasks = SUBQ_MAX(max_tasks, subq_exec_tasks(ctx, &phases[ph]));
  subq_status st = subq_scratch_reserve(ctx, (int32_t)max_tasks, scratch);
  if (st != SUBQ_OK) return st;
  for (int ph = 0; ph < n_phases; ph++) {
    if (phases[ph].n_items <= 0) continue;
    subq_exec_phase ep;
    ep.phase = &phases[ph];
    ep.n_tasks = subq_exec_tasks(ctx, &phases[ph]);
    ep.scratch = ctx->scratch;
    ep.scratch_size = scratch;
    atomic_init(&ep.status, 0);
    ep.message[0] = 0;
    ctx->executor.parallel_for(ctx->executor.ctx, ep.n_tasks, subq_exec_task, &ep);
    if (atomic_load(&ep.status) != 0) {
      subq_set_error_text(ep.message);
      return (subq_status)atomic_load(&ep.status);
    }
  }
  return SUBQ_OK;
}

/* The context whose call the current thread is inside (caller side). */
static _Thread_local const subq_context *subq_tls_running;

/* Grows the context's shared call workspace to `bytes` (contents not kept). */
static subq_status subq_shared_reserve(subq_context *ctx, size_t bytes) {
  if (bytes <= ctx->shared_size) return SUBQ_OK;
  void *p = subq_alloc(bytes);
  if (!p) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "workspace: cannot allocate %zu bytes", bytes);
  subq_free(ctx->shared);
  ctx->shared = p;
  ctx->shared_size = bytes;
  return SUBQ_OK;
}

static subq_status subq_parallel_run_mode(subq_context *ctx, const subq_phase *phases, int n_phases, size_t scratch,
                                          bool per_node, size_t shared_bytes, void **shared) {
  if (!ctx || subq_tls_running == ctx || (ctx->pool && subq_pool_is_current(ctx->pool))) {
    /* No context, or a nested call from one of this context's tasks: run here
     * with private scratch (the outer task owns the participant's scratch). */
    if (ctx && ctx->pool && subq_pool_is_stale(ctx->pool))
      return subq_error(SUBQ_ERR_INVALID_STATE, "context was created before fork(); create a new one in this process");
    void *buf = scratch ? subq_alloc(scratch) : NULL;
    if (scratch && !buf) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "scratch: cannot allocate %zu bytes", scratch);
    void *sh = shared_bytes ? subq_alloc(shared_bytes) : NULL;
    if (shared_bytes && !sh) {
      subq_free(buf);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "workspace: cannot allocate %zu bytes", shared_bytes);
    }
    if (shared) *shared = sh;
    subq_status st = subq_run_inline(phases, n_phases, buf, scratch, per_node && ctx ? ctx->n_nodes : 1);
    if (shared) *shared = NULL;
    subq_free(sh);
    subq_free(buf);
    return st;
  }
  if (ctx->pool && subq_pool_is_stale(ctx->pool))
    return subq_error(SUBQ_ERR_INVALID_STATE, "context was created before fork(); create a new one in this process");
  pthread_mutex_lock(&ctx->call_lock);
  const subq_context *outer = subq_tls_running;
  subq_tls_running = ctx;
  uint64_t t0 = ctx->params.verbose >= 2 ? subq_now_ns() : 0;
  subq_status st = shared_bytes ? subq_shared_reserve(ctx, shared_bytes) : SUBQ_OK;
  if (shared) *shared = shared_bytes ? ctx->shared : NULL;
  if (st == SUBQ_OK && ctx->has_executor) {
    st = subq_run_executor(ctx, phases, n_phases, scratch);
  } else if (st == SUBQ_OK) {
    st = subq_scratch_reserve(ctx, ctx->n_threads, scratch);
    if (st == SUBQ_OK) {
      if (ctx->pool)
        st = subq_pool_run(ctx->pool, phases, n_phases, ctx->scratch, scratch, per_node);
      else
        st = subq_run_inline(phases, n_phases, ctx->scratch[0], scratch, per_node ? ctx->n_nodes : 1);
    }
  }
  if (ctx->params.verbose >= 2)
    subq_log_at(ctx->params.verbose, SUBQ_LOG_DEBUG, "execute: %d phases, threads=%d, %.1f us", n_phases, (int)ctx->n_threads,
             (double)(subq_now_ns() - t0) / 1e3);
  if (shared) *shared = NULL;
  subq_tls_running = outer;
  pthread_mutex_unlock(&ctx->call_lock);
  return st;
}

subq_status subq_parallel_run(subq_context *ctx, const subq_phase *phases, int n_phases, size_t scratch) {
  return subq_parallel_run_mode(ctx, phases, n_phases, scratch, false, 0, NULL);
}

subq_status subq_parallel_run_shared(subq_context *ctx, const subq_phase *phases, int n_phases, size_t scratch,
                                     size_t shared_bytes, void **shared) {
  return subq_parallel_run_mode(ctx, phases, n_phases, scratch, false, shared_bytes, shared);
}

/* Executor contexts and inline runs have one node: one pass is every node's pass. */
subq_status subq_parallel_run_per_node(subq_context *ctx, const subq_phase *phase) {
  return subq_parallel_run_mode(ctx, phase, 1, 0, true, 0, NULL);
}
