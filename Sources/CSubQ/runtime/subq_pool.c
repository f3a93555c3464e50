/*
 * subq_pool.c — persistent worker pool. The caller is participant 0; workers
 * spin for a time budget, then sleep on a futex.
 *
 * Built to stay fast when a participant is late: a descheduled worker on a
 * busy machine, a worker still waking from its futex. Each phase is cut into
 * chunks of `grain` items, pre-assigned as one contiguous run per participant
 * (its node's share of the items); a participant that has finished its own run
 * claims the unclaimed chunks of the others on its node. A phase ends
 * when all its chunks are done, counted by chunks rather than by participant
 * arrivals, so nobody waits for a worker that never showed up: when it does
 * arrive, it finds nothing left and goes back to waiting.
 *
 * The job descriptor lives in the pool and is rewritten for every job, so a
 * worker reads it only after announcing itself (`active`) and checking that the
 * job it was woken for is still open; the caller closes a finished job and waits
 * only for announced workers before it returns (a worker between announcing and
 * leaving holds no chunk, so that wait is a few instructions long).
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

/* Phases per round: a longer list runs as consecutive rounds (a phase boundary is
 * a boundary either way), so the per-phase state has a fixed size and is never
 * reallocated while a late worker might look at it. */
#define SUBQ_POOL_MAX_PHASES 16
#define SUBQ_STAGE_PHASE_BITS 4
#define SUBQ_STAGE_JOB_MASK 0x0FFFFFFFu /* job numbers are 28 bits: (job << 4 | phase) fits 32 */

/* A participant's claim word: (stage << 32) | the next chunk of its run in that
 * stage's phase. Tagging by stage means nobody resets it between phases: the
 * first claim of a phase finds an older tag and starts the run at its beginning.
 * A tag can be later than the claimer's only within its own job (a job closes
 * before the next opens), so "later" is 1..MAX_PHASES-1 stages ahead and anything
 * else is older; the caller re-tags every word as old every 2^20 jobs, long before
 * the 32-bit stage could wrap onto an untouched word. */
typedef struct subq_claim {
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_ullong word;
} subq_claim;

/* A node's items of one phase: [begin, end) in `chunks` chunks of `grain` items;
 * the node's participant of rank r owns chunks [chunks*r/np, chunks*(r+1)/np). */
typedef struct subq_span {
  int64_t begin, end, grain, chunks;
} subq_span;

typedef struct subq_job {
  subq_phase phases[SUBQ_POOL_MAX_PHASES]; /* this round's non-empty phases, copied in order */
  int n_phases;
  void *const *scratch;
  size_t scratch_size;
  subq_fpenv fpenv;
  subq_span *span;         /* [MAX_PHASES * n_nodes] */
  subq_claim *claim;       /* [n] */
  subq_slot *left;         /* [MAX_PHASES * n_groups] chunks not yet done per completion group */
  subq_slot *groups_left;  /* [MAX_PHASES] completion groups with chunks not yet done (used when > 1 group) */
  atomic_int status;       /* first failure wins */
  char message[512];
} subq_job;

struct subq_pool {
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint stage;        /* (job << 4) | phase workers should run; futex word */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint stage_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint open_job;     /* job + 1 while its descriptor may be read, else 0 */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint active;       /* workers announced in a job */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint idle_gen;     /* bumped when `active` drops to 0 with no job open */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint idle_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint finished;     /* bumped when the last phase of a job completes */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint finished_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint ready;        /* workers started and bound */
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_uint ready_sleepers;
  _Alignas(SUBQ_ATOMIC_SLOT) atomic_int stop;
  atomic_int paused;
  atomic_int test_hold;     /* participant parked before it announces itself (tests), -1 none */
  atomic_int test_parked;

  subq_job job;             /* written by the caller only while no job is open */
  unsigned job_seq;         /* caller only */
  unsigned jobs_since_retag; /* caller only: see subq_claim */
  unsigned retag_every;     /* 2^20 (tests lower it) */
  int32_t n;                /* participants */
  int32_t n_nodes;
  int32_t *node_of;         /* [n] */
  int32_t *node_rank;       /* [n] rank of a participant inside its node */
  int32_t *node_size;       /* [n_nodes] */
  int32_t *node_first;      /* [n_nodes] first index into members */
  int32_t *members;         /* [n] participants grouped by node, in rank order */
  uint64_t spin_ns;
  bool flush_denormals;
  /* Hierarchical completion (>= 2 nodes, not flat): chunks are counted per node,
   * and only a node's last chunk touches the shared counter, so the traffic of
   * phase boundaries stays node-local. */
  bool hierarchical;
  int32_t n_groups;         /* completion groups: n_nodes when hierarchical, else 1 */
  unsigned fork_gen;
  pthread_t *threads;       /* [n], [0] unused */
  int32_t n_started;
  subq_status (*bind_worker)(void *, int32_t);
  void *bind_ctx;
  atomic_int bind_status;   /* first binding failure, reported at the next run */
  char bind_message[512];
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

static void subq_wake(atomic_uint *word, atomic_uint *sleepers) {
  if (atomic_load(sleepers) != 0) subq_futex_wake_all(word);
}

static void subq_bump_and_wake(atomic_uint *word, atomic_uint *sleepers) {
  atomic_fetch_add(word, 1); /* seq_cst */
  subq_wake(word, sleepers);
}

static void subq_job_fail(subq_job *job, subq_status st) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&job->status, &expected, (int)st)) {
    snprintf(job->message, sizeof job->message, "%s", subq_last_error_message());
  }
}

/* `done` chunks of `node`'s span of phase ph are finished. The one finishing the
 * phase starts the next (bumps the stage) or, after the last, finishes the job.
 * acq_rel on the counters: the finisher sees every chunk's writes, and whoever
 * acquires the bump sees them too. */
static void subq_chunks_done(subq_pool *pool, subq_job *job, int ph, int32_t node, int64_t done) {
  const int32_t g = pool->hierarchical ? node : 0;
  if (atomic_fetch_sub_explicit(&job->left[ph * pool->n_groups + g].value, done, memory_order_acq_rel) != done) return;
  if (pool->n_groups > 1 && atomic_fetch_sub_explicit(&job->groups_left[ph].value, 1, memory_order_acq_rel) != 1)
    return;
  if (ph + 1 < job->n_phases)
    subq_bump_and_wake(&pool->stage, &pool->stage_sleepers);
  else
    subq_bump_and_wake(&pool->finished, &pool->finished_sleepers);
}

/* Claims the next chunk of a run [begin, end) for stage `tag`; false when the
 * run is used up or the word carries a later stage (ours has ended). Relaxed:
 * only uniqueness matters here; the chunks' data is ordered by the completion
 * counters and the stage word. */
static bool subq_claim_chunk(atomic_ullong *word, uint32_t tag, int64_t begin, int64_t end, int64_t *chunk) {
  unsigned long long v = atomic_load_explicit(word, memory_order_relaxed);
  for (;;) {
    const uint32_t vt = (uint32_t)(v >> 32);
    int64_t next;
    if (vt == tag)
      next = (int64_t)(uint32_t)v;
    else if (vt - tag - 1u >= SUBQ_POOL_MAX_PHASES - 1u)
      next = begin; /* an older phase's word: this phase's first claim */
    else
      return false;
    if (next >= end) return false;
    const unsigned long long nv = ((unsigned long long)tag << 32) | (uint32_t)(next + 1);
    if (atomic_compare_exchange_weak_explicit(word, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
      *chunk = next;
      return true;
    }
  }
}

/* items * k / n without overflowing int64 (0 <= k <= n). */
static int64_t subq_share(int64_t items, int32_t k, int32_t n) {
  return (items / n) * k + (items % n) * k / n;
}

/* Participant p claims and runs the chunks left in participant q's run of the
 * phase of stage `tag` (q is on p's node). Returns how many it ran. */
static int64_t subq_drain(subq_pool *pool, subq_job *job, int ph, uint32_t tag, int32_t q, int32_t p) {
  const int32_t node = pool->node_of[q], np = pool->node_size[node], r = pool->node_rank[q];
  const subq_span *sp = &job->span[ph * pool->n_nodes + node];
  const int64_t begin = subq_share(sp->chunks, r, np), end = subq_share(sp->chunks, r + 1, np);
  if (end <= begin) return 0;
  atomic_ullong *word = &job->claim[q].word;
  const subq_phase *phase = &job->phases[ph];
  subq_task_info info = {p, pool->n, node, job->scratch ? job->scratch[p] : NULL, job->scratch_size};
  int64_t done = 0, c;
  while (subq_claim_chunk(word, tag, begin, end, &c)) {
    /* After a failure the remaining chunks are only counted, so the phase still ends. */
    if (atomic_load_explicit(&job->status, memory_order_relaxed) == 0) {
      const int64_t b = sp->begin + c * sp->grain, e = SUBQ_MIN(sp->end, b + sp->grain);
      subq_status st = phase->run(phase->arg, b, e, &info);
      if (st != SUBQ_OK) subq_job_fail(job, st);
    }
    done++;
    if (c + 1 == end) break; /* that was the last: spare the claim that would find nothing */
  }
  return done;
}

/* Own run first, then the other runs of p's node, from p's rank on. Never those
 * of other nodes: a node's items stay on the node that holds their memory.
 * Returns when nothing of phase ph is left that p may claim. */
static void subq_work_phase(subq_pool *pool, subq_job *job, uint32_t stage, int32_t p) {
  const int ph = (int)(stage & ((1u << SUBQ_STAGE_PHASE_BITS) - 1));
  const int32_t nd = pool->node_of[p], rank = pool->node_rank[p], size = pool->node_size[nd];
  const int32_t *members = pool->members + pool->node_first[nd];
  int64_t done = 0;
  for (int32_t k = 0; k < size; k++) done += subq_drain(pool, job, ph, stage, members[(rank + k) % size], p);
  /* Reported once: the phase cannot end before the last of them anyway. */
  if (done) subq_chunks_done(pool, job, ph, nd, done);
}

/* Test hook: the held participant stops right after it was woken for a job and
 * before it announces itself: the most exposed point of a late worker. */
static void subq_test_park(subq_pool *pool, int32_t p) {
  if (atomic_load_explicit(&pool->test_hold, memory_order_relaxed) != p) return;
  atomic_store(&pool->test_parked, 1);
  while (atomic_load(&pool->test_hold) == p) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&pool->test_parked, 0);
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
  subq_bump_and_wake(&pool->ready, &pool->ready_sleepers);
  subq_current_pool = pool;
  unsigned seen = 0; /* the stage before the first job */
  for (;;) {
    subq_wait_change(pool, &pool->stage, &pool->stage_sleepers, seen, pool->spin_ns);
    seen = atomic_load_explicit(&pool->stage, memory_order_acquire);
    if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
    subq_test_park(pool, p);
    /* Announce, then check the job is still open (both seq_cst: pairs with the
     * caller's close-then-count, so either it waits for us or we see it closed). */
    atomic_fetch_add(&pool->active, 1);
    if (atomic_load(&pool->open_job) == (seen >> SUBQ_STAGE_PHASE_BITS) + 1) {
      subq_job *job = &pool->job;
      const subq_fpenv saved = subq_fpenv_get();
      if (saved.bits != job->fpenv.bits) subq_fpenv_set(job->fpenv); /* writing it is slow: only on change */
      subq_work_phase(pool, job, seen, p);
      if (saved.bits != job->fpenv.bits) subq_fpenv_set(saved);
    }
    /* Leave. Only a closing caller waits for `active` to reach 0; it closes before it
     * reads `active` (seq_cst), so if it missed this decrement we see it closed. */
    if (atomic_fetch_sub(&pool->active, 1) == 1 && atomic_load(&pool->open_job) == 0)
      subq_bump_and_wake(&pool->idle_gen, &pool->idle_sleepers);
  }
  return NULL;
}

/* The per-phase state: fixed size (SUBQ_POOL_MAX_PHASES), allocated once. */
static subq_status subq_job_alloc(subq_pool *pool) {
  subq_job *j = &pool->job;
  const size_t ph = SUBQ_POOL_MAX_PHASES;
  j->span = subq_alloc(ph * (size_t)pool->n_nodes * sizeof(subq_span));
  j->claim = subq_alloc_aligned((size_t)pool->n * sizeof(subq_claim), SUBQ_ATOMIC_SLOT);
  j->left = subq_alloc_aligned(ph * (size_t)pool->n_groups * sizeof(subq_slot), SUBQ_ATOMIC_SLOT);
  j->groups_left = subq_alloc_aligned(ph * sizeof(subq_slot), SUBQ_ATOMIC_SLOT);
  if (!j->span || !j->claim || !j->left || !j->groups_left)
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "thread pool: cannot allocate job state for %d participants", (int)pool->n);
  for (int32_t i = 0; i < pool->n; i++) atomic_init(&j->claim[i].word, 0); /* stage 0: before every job */
  for (size_t i = 0; i < ph * (size_t)pool->n_groups; i++) atomic_init(&j->left[i].value, 0);
  for (size_t i = 0; i < ph; i++) atomic_init(&j->groups_left[i].value, 0);
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
  atomic_store(&pool->test_hold, -1);
  pool->retag_every = 1u << 20;
  pool->node_of = calloc((size_t)n, sizeof(int32_t));
  pool->node_rank = calloc((size_t)n, sizeof(int32_t));
  pool->node_size = calloc((size_t)nn, sizeof(int32_t));
  pool->node_first = calloc((size_t)nn, sizeof(int32_t));
  pool->members = calloc((size_t)n, sizeof(int32_t));
  pool->threads = calloc((size_t)n, sizeof(pthread_t));
  if (!pool->node_of || !pool->node_rank || !pool->node_size || !pool->node_first || !pool->members ||
      !pool->threads) {
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
  for (int32_t nd = 0, first = 0; nd < nn; nd++) {
    used_nodes += pool->node_size[nd] > 0;
    pool->node_first[nd] = first;
    first += pool->node_size[nd];
  }
  for (int32_t p = 0; p < n; p++) pool->members[pool->node_first[pool->node_of[p]] + pool->node_rank[p]] = p;
  pool->hierarchical = !cfg->flat_barrier && used_nodes >= 2;
  pool->n_groups = pool->hierarchical ? nn : 1;
  subq_status st = subq_job_alloc(pool);
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
  /* Return with every worker started and bound: jobs never wait for a worker,
   * so nothing later would otherwise make sure they got that far. */
  for (unsigned r; (r = atomic_load(&pool->ready)) != (unsigned)(n - 1);)
    subq_wait_change(pool, &pool->ready, &pool->ready_sleepers, r, pool->spin_ns);
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
      atomic_store(&pool->test_hold, -1);
      subq_bump_and_wake(&pool->stage, &pool->stage_sleepers);
      for (int32_t p = 1; p <= pool->n_started; p++) pthread_join(pool->threads[p], NULL);
    }
  }
  subq_job *j = &pool->job;
  subq_free(j->span), subq_free(j->claim), subq_free(j->left), subq_free(j->groups_left);
  free(pool->node_of), free(pool->node_rank), free(pool->node_size), free(pool->node_first), free(pool->members);
  free(pool->threads);
  subq_free(pool);
}

void subq_pool_pause(subq_pool *pool) { atomic_store(&pool->paused, 1); }
void subq_pool_resume(subq_pool *pool) { atomic_store(&pool->paused, 0); }

/* Lays out up to SUBQ_POOL_MAX_PHASES non-empty phases starting at phases[*next];
 * advances *next past the phases it took (empty ones are skipped: they order nothing). */
static void subq_job_setup(subq_pool *pool, const subq_phase *phases, int n_phases, int *next, bool per_node) {
  subq_job *job = &pool->job;
  job->n_phases = 0;
  for (; *next < n_phases && job->n_phases < SUBQ_POOL_MAX_PHASES; (*next)++) {
    const subq_phase *src = &phases[*next];
    if (src->n_items <= 0) continue;
    const int ph = job->n_phases++;
    job->phases[ph] = *src;
    for (int32_t g = 0; g < pool->n_groups; g++) atomic_store_explicit(&job->left[ph * pool->n_groups + g].value, 0, memory_order_relaxed);
    int64_t groups = 0;
    int32_t before = 0;
    for (int32_t nd = 0; nd < pool->n_nodes; nd++) {
      /* The node's contiguous share of the items, proportional to its participants
       * (all of them for per-node runs): the unit of NUMA ownership. */
      const int32_t np = pool->node_size[nd];
      subq_span *sp = &job->span[ph * pool->n_nodes + nd];
      sp->begin = per_node ? 0 : subq_share(src->n_items, before, pool->n);
      sp->end = per_node ? src->n_items : subq_share(src->n_items, before + np, pool->n);
      before += np;
      const int64_t len = sp->end - sp->begin;
      sp->grain = subq_pool_pick_grain(len, src->grain, np > 0 ? np : 1);
      /* a claim word counts a run's chunks in 32 bits */
      if (np > 0 && len / sp->grain / np >= ((int64_t)1 << 30)) sp->grain = len / ((int64_t)np << 30) + 1;
      const int64_t chunks = np > 0 ? (len + sp->grain - 1) / sp->grain : 0;
      sp->chunks = chunks;
      atomic_llong *left = &job->left[ph * pool->n_groups + (pool->hierarchical ? nd : 0)].value;
      if (chunks > 0 && atomic_fetch_add_explicit(left, chunks, memory_order_relaxed) == 0) groups++;
    }
    atomic_store_explicit(&job->groups_left[ph].value, groups, memory_order_relaxed);
  }
}

/* One round: publish the job, work on it as participant 0, wait for its last
 * chunk, close it and wait for the workers that announced themselves. */
static void subq_pool_round(subq_pool *pool) {
  subq_job *job = &pool->job;
  pool->job_seq = (pool->job_seq + 1) & SUBQ_STAGE_JOB_MASK;
  if (pool->job_seq == 0) pool->job_seq = 1; /* stage 0 is "before the first job" */
  const unsigned first = pool->job_seq << SUBQ_STAGE_PHASE_BITS;
  if (++pool->jobs_since_retag >= pool->retag_every) {
    pool->jobs_since_retag = 0;
    const unsigned long long old = (unsigned long long)(first - SUBQ_POOL_MAX_PHASES) << 32;
    for (int32_t q = 0; q < pool->n; q++) atomic_store_explicit(&job->claim[q].word, old, memory_order_relaxed);
  }
  const unsigned fin = atomic_load_explicit(&pool->finished, memory_order_relaxed);
  atomic_store_explicit(&pool->open_job, pool->job_seq + 1, memory_order_relaxed);
  atomic_store(&pool->paused, 0);
  atomic_store(&pool->stage, first); /* seq_cst, so release: the descriptor is visible to whoever sees it */
  subq_wake(&pool->stage, &pool->stage_sleepers);
  for (int ph = 0; ph < job->n_phases; ph++) {
    subq_work_phase(pool, job, first + (unsigned)ph, 0);
    if (ph + 1 < job->n_phases)
      subq_wait_change(pool, &pool->stage, &pool->stage_sleepers, first + (unsigned)ph, pool->spin_ns);
  }
  subq_wait_change(pool, &pool->finished, &pool->finished_sleepers, fin, pool->spin_ns);
  /* Close, then wait for announced workers (seq_cst: pairs with their announce-then-check). */
  atomic_store(&pool->open_job, 0);
  for (;;) {
    const unsigned idle = atomic_load(&pool->idle_gen);
    if (atomic_load(&pool->active) == 0) break;
    subq_wait_change(pool, &pool->idle_gen, &pool->idle_sleepers, idle, pool->spin_ns);
  }
}

subq_status subq_pool_run(subq_pool *pool, const subq_phase *phases, int n_phases, void *const *scratch,
                          size_t scratch_size, bool per_node) {
  if (subq_pool_is_stale(pool))
    return subq_error(SUBQ_ERR_INVALID_STATE, "context was created before fork(); create a new one in this process");
  if (atomic_load(&pool->bind_status) != 0) {
    subq_set_error_text(pool->bind_message);
    return (subq_status)atomic_load(&pool->bind_status);
  }
  subq_job *job = &pool->job;
  job->scratch = scratch;
  job->scratch_size = scratch_size;
  atomic_store_explicit(&job->status, 0, memory_order_relaxed);
  job->message[0] = 0;
  subq_fpenv caller_env = subq_fpenv_get();
  job->fpenv = pool->flush_denormals ? subq_fpenv_flush(caller_env) : caller_env;
  const subq_pool *outer = subq_current_pool;
  subq_current_pool = pool;
  if (pool->flush_denormals) subq_fpenv_set(job->fpenv);
  int next = 0;
  while (next < n_phases && atomic_load_explicit(&job->status, memory_order_relaxed) == 0) {
    subq_job_setup(pool, phases, n_phases, &next, per_node);
    if (job->n_phases > 0) subq_pool_round(pool);
  }
  if (pool->flush_denormals) subq_fpenv_set(caller_env);
  subq_current_pool = outer;
  subq_status st = (subq_status)atomic_load(&job->status);
  if (st != SUBQ_OK) subq_set_error_text(job->message);
  return st;
}

bool subq_pool_is_hierarchical(const subq_pool *pool) { return pool && pool->hierarchical; }

void subq_pool_test_hold(subq_pool *pool, int32_t participant) {
  atomic_store(&pool->test_hold, participant >= 1 && participant < pool->n ? participant : -1);
}

bool subq_pool_test_parked(subq_pool *pool) { return atomic_load(&pool->test_parked) != 0; }

void subq_pool_test_retag_every(subq_pool *pool, unsigned jobs) { pool->retag_every = jobs ? jobs : 1u << 20; }
