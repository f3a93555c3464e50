/*
 * subq_pool.c — persistent worker pool: the caller is participant 0, workers
 * spin for a time budget then sleep on a futex, phases are separated by a
 * sense-reversing barrier, items are claimed from per-node cursors.
 */
#include "internal/subq_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- futex / condvar fallback ------------------------------------------------ */
#if defined(__linux__)
static void subq_futex_wait(atomic_uint *word, unsigned expected) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
static void subq_futex_wake_all(atomic_uint *word) {
  syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}
#else
/* Portable fallback: one process-wide condvar; correctness over speed. */
static pthread_mutex_t subq_wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t subq_wait_cv = PTHREAD_COND_INITIALIZER;
static void subq_futex_wait(atomic_uint *word, unsigned expected) {
  pthread_mutex_lock(&subq_wait_mu);
  while (atomic_load(word) == expected) pthread_cond_wait(&subq_wait_cv, &subq_wait_mu);
  pthread_mutex_unlock(&subq_wait_mu);
}
static void subq_futex_wake_all(atomic_uint *word) {
  (void)word;
  pthread_mutex_lock(&subq_wait_mu);
  pthread_cond_broadcast(&subq_wait_cv);
  pthread_mutex_unlock(&subq_wait_mu);
}
#endif

static inline void subq_cpu_relax(void) {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* ---- fork safety ------------------------------------------------------------------ */
static atomic_uint subq_fork_generation;
static pthread_once_t subq_atfork_once = PTHREAD_ONCE_INIT;
static void subq_atfork_child(void) { atomic_fetch_add(&subq_fork_generation, 1); }
static void subq_register_atfork(void) { pthread_atfork(NULL, NULL, subq_atfork_child); }

/* ---- FP environment ---------------------------------------------------------------- */
typedef struct subq_fpenv { uint64_t bits; } subq_fpenv;
static subq_fpenv subq_fpenv_get(void) {
  subq_fpenv e = {0};
#if defined(__x86_64__)
  e.bits = _mm_getcsr();
#elif defined(__aarch64__)
  uint64_t fpcr;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
  e.bits = fpcr;
#endif
  return e;
}
static void subq_fpenv_set(subq_fpenv e) {
#if defined(__x86_64__)
  _mm_setcsr((unsigned)e.bits);
#elif defined(__aarch64__)
  __asm__ __volatile__("msr fpcr, %0" : : "r"(e.bits));
#else
  (void)e;
#endif
}
static subq_fpenv subq_fpenv_flush(subq_fpenv e) {
#if defined(__x86_64__)
  e.bits |= 0x8040u; /* FTZ | DAZ */
#elif defined(__aarch64__)
  e.bits |= (1u << 24); /* FZ */
#endif
  return e;
}

/* ---- pool state ---------------------------------------------------------------------- */
typedef struct subq_slot {
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_llong value;
  char pad[SUBQ_ATOMIC_SLOT - sizeof(atomic_llong)];
} subq_slot;

typedef struct subq_job {
  const subq_phase *phases;
  int n_phases;
  void *const *scratch;
  size_t scratch_size;
  subq_fpenv fpenv;
  /* Per (phase, node): the item range of the node and its claim cursor. */
  int64_t *node_begin; /* [n_phases * n_nodes] */
  int64_t *node_end;
  int64_t *grain;      /* [n_phases * n_nodes] */
  bool *dynamic;       /* [n_phases * n_nodes] */
  subq_slot *cursor;   /* [n_phases * n_nodes] */
  atomic_int status;   /* first failure wins */
  char message[512];
} subq_job;

struct subq_pool {
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint epoch;       /* bumped to start a job or to stop */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint epoch_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_int bar_count;    /* barrier: groups (nodes, or participants when flat) left */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint bar_gen;     /* barrier generation */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint bar_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_int remaining;    /* workers still in the job */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint done_gen;    /* bumped by the last worker */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint done_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_int stop;
  atomic_int paused;

  subq_job *job;            /* written before the epoch release */
  int32_t n;                /* participants */
  int32_t n_nodes;
  int32_t *node_of;         /* [n] */
  int32_t *node_rank;       /* [n] rank of a participant inside its node */
  int32_t *node_size;       /* [n_nodes] */
  uint64_t spin_ns;
  bool flush_denormals;
  /* Hierarchical barrier (>= 2 nodes, not flat): each node's participants
   * arrive on their node's counter; the node's last arrival joins bar_count. */
  bool hierarchical;
  int32_t bar_groups;       /* what bar_count is reset to */
  subq_slot *node_count;    /* [n_nodes] arrivals left per node */
  unsigned fork_gen;
  pthread_t *threads;       /* [n], [0] unused */
  int32_t n_started;
  subq_status (*bind_worker)(void *, int32_t);
  void *bind_ctx;
  atomic_int bind_status;   /* first binding failure, reported at the next run */
  char bind_message[512];

  /* job storage, grown on demand (only touched by the caller between jobs) */
  subq_job job_storage;
  int job_cap;              /* phases the arrays hold */
};

typedef struct subq_worker_arg {
  subq_pool *pool;
  int32_t participant;
} subq_worker_arg;

static _Thread_local const subq_pool *subq_current_pool;

bool subq_pool_is_current(const subq_pool *pool) { return pool != NULL && subq_current_pool == pool; }
bool subq_pool_is_stale(const subq_pool *pool) {
  return pool->fork_gen != atomic_load(&subq_fork_generation);
}

int64_t subq_pool_pick_grain(int64_t n_items, int64_t grain_hint, int32_t n_participants) {
  if (grain_hint > 0) return grain_hint;
  /* Aim for ~8 chunks per participant. */
  int64_t g = n_items / ((int64_t)n_participants * 8);
  return g < 1 ? 1 : g;
}

/* Wait until *word != expected: spin for budget_ns, then sleep. */
static void subq_wait_change(const subq_pool *pool, atomic_uint *word, atomic_uint *sleepers, unsigned expected,
                             uint64_t budget_ns) {
  if (budget_ns && !atomic_load_explicit(&pool->paused, memory_order_relaxed)) {
    uint64_t start = subq_now_ns();
    for (unsigned i = 1;; i++) {
      if (atomic_load_explicit(word, memory_order_acquire) != expected) return;
      subq_cpu_relax();
      if ((i & 255u) == 0 && subq_now_ns() - start > budget_ns) break;
    }
  }
  while (atomic_load_explicit(word, memory_order_acquire) == expected) {
    atomic_fetch_add(sleepers, 1); /* seq_cst: pairs with the waker's load of sleepers */
    if (atomic_load(word) == expected) subq_futex_wait(word, expected);
    atomic_fetch_sub(sleepers, 1);
  }
}

static void subq_bump_and_wake(atomic_uint *word, atomic_uint *sleepers) {
  atomic_fetch_add(word, 1); /* seq_cst */
  if (atomic_load(sleepers) != 0) subq_futex_wake_all(word);
}

static void subq_barrier(subq_pool *pool, int32_t p) {
  unsigned gen = atomic_load_explicit(&pool->bar_gen, memory_order_acquire);
  if (pool->hierarchical) {
    /* Arrive on the node's own counter: only one participant per node touches
     * the global one, so arrival traffic stays node-local. */
    const int32_t nd = pool->node_of[p];
    atomic_llong *nc = &pool->node_count[nd].value;
    if (atomic_fetch_sub_explicit(nc, 1, memory_order_acq_rel) != 1) {
      subq_wait_change(pool, &pool->bar_gen, &pool->bar_sleepers, gen, pool->spin_ns);
      return;
    }
    atomic_store_explicit(nc, pool->node_size[nd], memory_order_relaxed);
  }
  if (atomic_fetch_sub_explicit(&pool->bar_count, 1, memory_order_acq_rel) == 1) {
    atomic_store_explicit(&pool->bar_count, pool->bar_groups, memory_order_relaxed);
    subq_bump_and_wake(&pool->bar_gen, &pool->bar_sleepers);
  } else {
    subq_wait_change(pool, &pool->bar_gen, &pool->bar_sleepers, gen, pool->spin_ns);
  }
}

static void subq_job_fail(subq_job *job, subq_status st) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&job->status, &expected, (int)st)) {
    snprintf(job->message, sizeof job->message, "%s", subq_last_error_message());
  }
}

/* Runs participant p's share of one phase. */
static void subq_run_phase(subq_pool *pool, subq_job *job, int ph, int32_t p) {
  const subq_phase *phase = &job->phases[ph];
  const int32_t node = pool->node_of[p];
  const int idx = ph * pool->n_nodes + node;
  const int64_t nb = job->node_begin[idx], ne = job->node_end[idx];
  if (ne <= nb) return;
  const int32_t np = pool->node_size[node], lp = pool->node_rank[p];
  subq_task_info info = {p, pool->n, node, job->scratch ? job->scratch[p] : NULL, job->scratch_size};
  if (!job->dynamic[idx]) {
    int64_t len = ne - nb;
    int64_t b = nb + len * lp / np, e = nb + len * (lp + 1) / np;
    if (e > b && atomic_load_explicit(&job->status, memory_order_relaxed) == 0) {
      subq_status st = phase->run(phase->arg, b, e, &info);
      if (st != SUBQ_OK) subq_job_fail(job, st);
    }
    return;
  }
  const int64_t g = job->grain[idx];
  /* Own initial chunk first, then claim from the node's cursor. */
  int64_t b = nb + (int64_t)lp * g;
  while (b < ne) {
    if (atomic_load_explicit(&job->status, memory_order_relaxed) != 0) return;
    int64_t e = SUBQ_MIN(ne, b + g);
    subq_status st = phase->run(phase->arg, b, e, &info);
    if (st != SUBQ_OK) {
      subq_job_fail(job, st);
      return;
    }
    b = atomic_fetch_add_explicit(&job->cursor[idx].value, g, memory_order_relaxed);
  }
}

static void subq_run_job(subq_pool *pool, subq_job *job, int32_t p) {
  for (int ph = 0; ph < job->n_phases; ph++) {
    if (ph > 0) subq_barrier(pool, p);
    subq_run_phase(pool, job, ph, p);
  }
}

static void *subq_worker_main(void *varg) {
  subq_worker_arg wa = *(subq_worker_arg *)varg;
  free(varg);
  subq_pool *pool = wa.pool;
  const int32_t p = wa.participant;
#if defined(__linux__)
  char name[16];
  snprintf(name, sizeof name, "subq-w%d", (int)p);
  pthread_setname_np(pthread_self(), name);
#endif
  if (pool->bind_worker) {
    subq_status st = pool->bind_worker(pool->bind_ctx, p);
    if (st != SUBQ_OK) {
      int expected = 0;
      if (atomic_compare_exchange_strong(&pool->bind_status, &expected, (int)st))
        snprintf(pool->bind_message, sizeof pool->bind_message, "%s", subq_last_error_message());
    }
  }
  subq_current_pool = pool;
  unsigned seen = 0;
  for (;;) {
    subq_wait_change(pool, &pool->epoch, &pool->epoch_sleepers, seen, pool->spin_ns);
    seen = atomic_load_explicit(&pool->epoch, memory_order_acquire);
    if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
    subq_job *job = pool->job;
    subq_fpenv saved = subq_fpenv_get();
    subq_fpenv_set(job->fpenv);
    subq_run_job(pool, job, p);
    subq_fpenv_set(saved);
    if (atomic_fetch_sub_explicit(&pool->remaining, 1, memory_order_acq_rel) == 1)
      subq_bump_and_wake(&pool->done_gen, &pool->done_sleepers);
  }
  return NULL;
}

static subq_status subq_job_reserve(subq_pool *pool, int n_phases) {
  if (n_phases <= pool->job_cap) return SUBQ_OK;
  int cap = SUBQ_MAX(n_phases, 2 * pool->job_cap);
  size_t n = (size_t)cap * (size_t)pool->n_nodes;
  subq_job *j = &pool->job_storage;
  int64_t *nb = subq_alloc(n * sizeof(int64_t)), *ne = subq_alloc(n * sizeof(int64_t));
  int64_t *gr = subq_alloc(n * sizeof(int64_t));
  bool *dy = subq_alloc(n * sizeof(bool));
  subq_slot *cu = subq_alloc_aligned(n * sizeof(subq_slot), SUBQ_ATOMIC_SLOT);
  if (!nb || !ne || !gr || !dy || !cu) {
    subq_free(nb), subq_free(ne), subq_free(gr), subq_free(dy), subq_free(cu);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "thread pool: cannot allocate job state for %d phases", n_phases);
  }
  subq_free(j->node_begin), subq_free(j->node_end), subq_free(j->grain), subq_free(j->dynamic), subq_free(j->cursor);
  j->node_begin = nb, j->node_end = ne, j->grain = gr, j->dynamic = dy, j->cursor = cu;
  pool->job_cap = cap;
  return SUBQ_OK;
}

subq_status subq_pool_create(const subq_pool_layout *layout, const subq_pool_config *cfg, subq_pool **out) {
  pthread_once(&subq_atfork_once, subq_register_atfork);
  const int32_t n = layout->n_participants, nn = layout->n_nodes;
  if (n < 1 || nn < 1) return subq_error(SUBQ_ERR_INTERNAL, "thread pool: empty layout");
  subq_pool *pool = subq_alloc_aligned(sizeof *pool, SUBQ_ATOMIC_SLOT);
  if (!pool) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
  memset(pool, 0, sizeof *pool);
  pool->n = n;
  pool->n_nodes = nn;
  pool->spin_ns = (uint64_t)cfg->spin_us * 1000u;
  pool->flush_denormals = cfg->flush_denormals;
  pool->fork_gen = atomic_load(&subq_fork_generation);
  pool->bind_worker = layout->bind_worker;
  pool->bind_ctx = layout->bind_ctx;
  atomic_store(&pool->paused, cfg->start_paused ? 1 : 0);
  pool->node_of = calloc((size_t)n, sizeof(int32_t));
  pool->node_rank = calloc((size_t)n, sizeof(int32_t));
  pool->node_size = calloc((size_t)nn, sizeof(int32_t));
  pool->threads = calloc((size_t)n, sizeof(pthread_t));
  if (!pool->node_of || !pool->node_rank || !pool->node_size || !pool->threads) {
    subq_pool_destroy(pool);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
  }
  for (int32_t p = 0; p < n; p++) {
    int32_t nd = layout->node_of ? layout->node_of[p] : 0;
    if (nd < 0 || nd >= nn) {
      subq_pool_destroy(pool);
      return subq_error(SUBQ_ERR_INTERNAL, "thread pool: participant %d has node %d of %d", (int)p, (int)nd, (int)nn);
    }
    pool->node_of[p] = nd;
    pool->node_rank[p] = pool->node_size[nd]++;
  }
  int32_t used_nodes = 0;
  for (int32_t nd = 0; nd < nn; nd++) used_nodes += pool->node_size[nd] > 0;
  pool->hierarchical = !cfg->flat_barrier && used_nodes >= 2;
  pool->bar_groups = pool->hierarchical ? used_nodes : n;
  atomic_store(&pool->bar_count, pool->bar_groups);
  if (pool->hierarchical) {
    pool->node_count = subq_alloc_aligned((size_t)nn * sizeof(subq_slot), SUBQ_ATOMIC_SLOT);
    if (!pool->node_count) {
      subq_pool_destroy(pool);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
    }
    for (int32_t nd = 0; nd < nn; nd++) atomic_init(&pool->node_count[nd].value, pool->node_size[nd]);
  }
  subq_status st = subq_job_reserve(pool, 4);
  if (st != SUBQ_OK) {
    subq_pool_destroy(pool);
    return st;
  }
  /* Workers: 1 MiB stacks, every signal blocked (they inherit the mask). */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, (size_t)1 << 20);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int32_t p = 1; p < n; p++) {
    subq_worker_arg *wa = malloc(sizeof *wa);
    int rc = wa ? 0 : ENOMEM;
    if (wa) {
      wa->pool = pool;
      wa->participant = p;
      rc = pthread_create(&pool->threads[p], &attr, subq_worker_main, wa);
      if (rc) free(wa);
    }
    if (rc) {
      pthread_sigmask(SIG_SETMASK, &old, NULL);
      pthread_attr_destroy(&attr);
      subq_pool_destroy(pool);
      return subq_error(SUBQ_ERR_SYSTEM, "thread pool: cannot start worker %d of %d: %s", (int)p, (int)(n - 1),
                        strerror(rc));
    }
    pool->n_started = p;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  *out = pool;
  return SUBQ_OK;
}

void subq_pool_destroy(subq_pool *pool) {
  if (!pool) return;
  if (pool->n_started > 0) {
    if (subq_pool_is_stale(pool)) {
      /* Child after fork: the workers do not exist here; free without joining. */
    } else {
      atomic_store_explicit(&pool->stop, 1, memory_order_release);
      subq_bump_and_wake(&pool->epoch, &pool->epoch_sleepers);
      for (int32_t p = 1; p <= pool->n_started; p++) pthread_join(pool->threads[p], NULL);
    }
  }
  subq_job *j = &pool->job_storage;
  subq_free(j->node_begin), subq_free(j->node_end), subq_free(j->grain), subq_free(j->dynamic), subq_free(j->cursor);
  subq_free(pool->node_count);
  free(pool->node_of), free(pool->node_rank), free(pool->node_size), free(pool->threads);
  subq_free(pool);
}

void subq_pool_pause(subq_pool *pool) { atomic_store(&pool->paused, 1); }
void subq_pool_resume(subq_pool *pool) { atomic_store(&pool->paused, 0); }

subq_status subq_pool_run(subq_pool *pool, const subq_phase *phases, int n_phases, void *const *scratch,
                          size_t scratch_size, bool per_node) {
  if (subq_pool_is_stale(pool))
    return subq_error(SUBQ_ERR_INVALID_STATE, "context was created before fork(); create a new one in this process");
  if (atomic_load(&pool->bind_status) != 0) {
    subq_set_error_text(pool->bind_message);
    return (subq_status)atomic_load(&pool->bind_status);
  }
  subq_status st = subq_job_reserve(pool, n_phases);
  if (st != SUBQ_OK) return st;
  subq_job *job = &pool->job_storage;
  job->phases = phases;
  job->n_phases = n_phases;
  job->scratch = scratch;
  job->scratch_size = scratch_size;
  atomic_store_explicit(&job->status, 0, memory_order_relaxed);
  job->message[0] = 0;
  subq_fpenv caller_env = subq_fpenv_get();
  job->fpenv = pool->flush_denormals ? subq_fpenv_flush(caller_env) : caller_env;
  /* Static split of each phase's items across nodes, proportional to the
   * participants each node holds (contiguous ranges: the unit of ownership). */
  for (int ph = 0; ph < n_phases; ph++) {
    const int64_t items = phases[ph].n_items;
    int64_t begin = 0;
    int32_t before = 0;
    for (int32_t nd = 0; nd < pool->n_nodes; nd++) {
      const int idx = ph * pool->n_nodes + nd;
      const int32_t np = pool->node_size[nd];
      int64_t end = items * (before + np) / pool->n;
      before += np;
      if (per_node) begin = 0, end = items;
      job->node_begin[idx] = begin;
      job->node_end[idx] = end;
      int64_t g = subq_pool_pick_grain(end - begin, phases[ph].grain, np > 0 ? np : 1);
      int64_t chunks = (end - begin + g - 1) / g;
      job->dynamic[idx] = np > 0 && chunks >= 4 * (int64_t)np;
      job->grain[idx] = g;
      atomic_store_explicit(&job->cursor[idx].value, begin + (int64_t)np * g, memory_order_relaxed);
      begin = end;
    }
  }
  pool->job = job;
  atomic_store_explicit(&pool->remaining, pool->n - 1, memory_order_relaxed);
  unsigned done = atomic_load_explicit(&pool->done_gen, memory_order_acquire);
  atomic_store(&pool->paused, 0);
  subq_bump_and_wake(&pool->epoch, &pool->epoch_sleepers); /* release: job visible to workers */

  const subq_pool *outer = subq_current_pool;
  subq_current_pool = pool;
  if (pool->flush_denormals) subq_fpenv_set(job->fpenv);
  subq_run_job(pool, job, 0);
  if (pool->flush_denormals) subq_fpenv_set(caller_env);
  subq_current_pool = outer;
  if (pool->n > 1) {
    while (atomic_load_explicit(&pool->remaining, memory_order_acquire) != 0)
      subq_wait_change(pool, &pool->done_gen, &pool->done_sleepers, done, pool->spin_ns);
  }
  st = (subq_status)atomic_load(&job->status);
  if (st != SUBQ_OK) subq_set_error_text(job->message);
  return st;
}

bool subq_pool_is_hierarchical(const subq_pool *pool) { return pool && pool->hierarchical; }
