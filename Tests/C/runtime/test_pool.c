/*
 * test_pool.c — the worker pool and executor paths: every item runs exactly
 * once, phases are ordered by barriers, errors propagate with their message,
 * nested calls run inline, many small jobs, oversubscription, a late worker, repeated
 * create/destroy, host executors (including a shuffled sequential one) and
 * fork safety. Run under TSan by the README's test command.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/subq_context_internal.h"
#include "internal/subq_parallel.h"
#include "support/subq_test.h"

#if defined(__SANITIZE_THREAD__)
#define SUBQ_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SUBQ_TEST_TSAN 1
#endif
#endif
#ifndef SUBQ_TEST_TSAN
#define SUBQ_TEST_TSAN 0
#endif

typedef struct count_arg {
  atomic_int *hits;      /* per item */
  int64_t n;
  atomic_int *phase_done; /* items of the previous phase finished */
  int64_t prev_n;
  atomic_int order_violations;
  atomic_int bad_scratch;
} count_arg;

static subq_status count_items(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  count_arg *a = varg;
  if (info->scratch_size >= 64) {
    /* scratch must be private: write a pattern and read it back */
    unsigned char *s = info->scratch;
    for (int i = 0; i < 64; i++) s[i] = (unsigned char)(b + i);
    for (int i = 0; i < 64; i++)
      if (s[i] != (unsigned char)(b + i)) atomic_fetch_add(&a->bad_scratch, 1);
  }
  for (int64_t i = b; i < e; i++) {
    if (a->phase_done && atomic_load(a->phase_done) != a->prev_n) atomic_fetch_add(&a->order_violations, 1);
    atomic_fetch_add(&a->hits[i], 1);
  }
  return SUBQ_OK;
}

static subq_status count_done(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)info;
  atomic_int *done = varg;
  atomic_fetch_add(done, (int)(e - b));
  return SUBQ_OK;
}

static void check_run(subq_context *ctx, int64_t n, int64_t grain, const char *what) {
  atomic_int *hits = calloc((size_t)n + 1, sizeof(atomic_int));
  atomic_int done = 0;
  count_arg a = {hits, n, &done, n, 0, 0};
  subq_phase ph[3] = {
      {count_done, &done, n, grain},
      {count_items, &a, n, grain},
      {count_items, &a, n, 1},
  };
  CHECK_OK(subq_parallel_run(ctx, ph, 3, 256));
  int bad = 0;
  for (int64_t i = 0; i < n; i++) bad += atomic_load(&hits[i]) != 2;
  CHECK_MSG(bad == 0, "%s: %d of %lld items not run exactly once per phase", what, bad, (long long)n);
  CHECK_MSG(atomic_load(&a.order_violations) == 0, "%s: phase 2 started before phase 1 ended", what);
  CHECK_MSG(atomic_load(&a.bad_scratch) == 0, "%s: scratch shared between participants", what);
  free(hits);
}

static subq_status fail_at_7(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)varg, (void)info;
  for (int64_t i = b; i < e; i++)
    if (i == 7) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "item %lld refused", (long long)i);
  return SUBQ_OK;
}

typedef struct nest_arg {
  subq_context *ctx;
  atomic_int inner_items;
  atomic_int failures;
} nest_arg;

static subq_status nested(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  (void)info;
  nest_arg *a = varg;
  for (int64_t i = b; i < e; i++) {
    subq_phase inner = {count_done, &a->inner_items, 10, 1};
    if (subq_parallel_run(a->ctx, &inner, 1, 32) != SUBQ_OK) atomic_fetch_add(&a->failures, 1);
  }
  return SUBQ_OK;
}

/* Items per participant. */
static subq_status count_by_participant(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  atomic_int *per = varg;
  atomic_fetch_add(&per[info->participant < 16 ? info->participant : 15], (int)(e - b));
  return SUBQ_OK;
}

/* A context of n threads whose workers spin 50 us (NULL after a failed CHECK). */
static subq_context *spinning_ctx(int n_threads) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = n_threads;
  p.spin_us = 50;
  subq_context *ctx = NULL;
  CHECK_OK(subq_context_create(&p, &ctx));
  return ctx;
}

static bool wait_parked(subq_pool *pool, bool want) {
  for (int i = 0; i < 20000; i++) { /* 10 s at most: a hang would be the bug we look for */
    if (subq_pool_test_parked(pool) == want) return true;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
  return false;
}

/* A late worker: participant `late` is parked right after it is woken for a job,
 * before it joins. Jobs must finish without it (its chunks taken over by the
 * others) and without waiting for it; when it arrives, many jobs later, the job
 * it was woken for is gone: it must touch nothing of it (the phases and their
 * arguments were on the caller's stack: ASan and TSan builds check that) and
 * join the next jobs normally. */
static void check_late_worker(int n_threads, int32_t late) {
  subq_context *ctx = spinning_ctx(n_threads);
  if (!ctx) return;
  subq_pool_test_hold(ctx->pool, late);
  check_run(ctx, 1000, 0, "late worker: first job");
  CHECK_MSG(wait_parked(ctx->pool, true), "late worker %d never reached its parking point", (int)late);
  atomic_int per[16];
  for (int i = 0; i < 16; i++) atomic_init(&per[i], 0);
  for (int j = 0; j < 200; j++) {
    if (j % 50 == 0) check_run(ctx, 997, j % 3, "late worker parked");
    subq_phase ph = {count_by_participant, per, 64, 1};
    CHECK_OK(subq_parallel_run(ctx, &ph, 1, 0));
  }
  int total = 0;
  for (int i = 0; i < 16; i++) total += atomic_load(&per[i]);
  CHECK_MSG(total == 200 * 64, "late worker: %d items of %d", total, 200 * 64);
  CHECK_MSG(atomic_load(&per[late]) == 0, "the parked worker ran %d items", atomic_load(&per[late]));
  subq_pool_test_hold(ctx->pool, -1);
  CHECK_MSG(wait_parked(ctx->pool, false), "late worker %d never left its parking point", (int)late);
  for (int j = 0; j < 50; j++) check_run(ctx, 333, 1, "after the late worker came back");
  subq_context_destroy(ctx);
}

/* Host executors: shuffled sequential (support) and a real threaded one. */

typedef struct thr_exec {
  subq_task_fn fn;
  void *task_ctx;
  atomic_llong next;
  int64_t n;
} thr_exec;
static void *thr_exec_main(void *v) {
  thr_exec *t = v;
  for (int64_t i; (i = atomic_fetch_add(&t->next, 1)) < t->n;) t->fn(t->task_ctx, i);
  return NULL;
}
static void threaded_for(void *c, int64_t n, subq_task_fn fn, void *task_ctx) {
  (void)c;
  thr_exec t = {fn, task_ctx, 0, n};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thr_exec_main, &t);
  thr_exec_main(&t);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
}

int main(void) {
  /* ctx == NULL and every thread count, oversubscribed too (2-core box). */
  check_run(NULL, 1000, 0, "NULL ctx");
  const int counts[] = {1, 2, 3, 5, 8, 16};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    subq_context_params p;
    subq_context_params_default(&p, sizeof p);
    p.n_threads = counts[i];
    p.spin_us = 50;
    subq_context *ctx = NULL;
    CHECK_OK(subq_context_create(&p, &ctx));
    if (!ctx) continue;
    CHECK(subq_context_num_threads(ctx) == counts[i]);
    char what[64];
    snprintf(what, sizeof what, "%d threads", counts[i]);
    check_run(ctx, 1, 0, what);
    check_run(ctx, 7, 0, what);
    check_run(ctx, 1000, 0, what);
    check_run(ctx, 1000, 3, what);
    check_run(ctx, 100003, 0, what);
    /* many small jobs back to back */
    atomic_int done = 0;
    subq_phase small = {count_done, &done, 4, 1};
    int fails = 0;
    for (int j = 0; j < 2000; j++) fails += subq_parallel_run(ctx, &small, 1, 0) != SUBQ_OK;
    CHECK(fails == 0);
    CHECK(atomic_load(&done) == 8000);
    /* the first failure is reported with its message, and the pool survives */
    subq_phase bad = {fail_at_7, NULL, 100, 1};
    CHECK_STATUS(subq_parallel_run(ctx, &bad, 1, 0), SUBQ_ERR_INVALID_ARGUMENT, "item 7 refused");
    check_run(ctx, 1000, 0, "after a failure");
    /* nested call from a task runs inline */
    nest_arg na = {ctx, 0, 0};
    subq_phase outer = {nested, &na, 20, 1};
    CHECK_OK(subq_parallel_run(ctx, &outer, 1, 0));
    CHECK(atomic_load(&na.inner_items) == 200);
    CHECK(atomic_load(&na.failures) == 0);
    /* pause / resume */
    CHECK_OK(subq_context_pause(ctx));
    check_run(ctx, 100, 0, "after pause");
    CHECK_OK(subq_context_resume(ctx));
    subq_context_destroy(ctx);
  }

  check_late_worker(2, 1);
  check_late_worker(4, 2);

  /* claim words re-tagged as old every few jobs (normally every 2^20): every
   * phase still finds its runs, one job or many phases after the re-tag */
  for (int threads = 2; threads <= 4; threads += 2) {
    subq_context *ctx = spinning_ctx(threads);
    if (!ctx) continue;
    subq_pool_test_retag_every(ctx->pool, 3);
    for (int j = 0; j < 60; j++) check_run(ctx, 1 + j * 37 % 500, j % 4, "claim words re-tagged");
    subq_context_destroy(ctx);
  }

  /* Hierarchical barrier: several nodes (a synthetic topology), many phases;
   * SUBQ_CONTEXT_FLAT keeps one counter. Both must order phases exactly. */
  {
    subq_topology *topo = NULL;
    subq_status tst = subq_topology_create_synthetic("pack:2 numa:2 core:2 pu:1", &topo);
    if (tst == SUBQ_ERR_UNSUPPORTED) {
      printf("test_pool: hierarchical barrier skipped (built without hwloc)\n");
    } else {
      CHECK_OK(tst);
      for (int flat = 0; flat < 2 && topo; flat++) {
        subq_context_params p;
        subq_context_params_default(&p, sizeof p);
        p.n_threads = 6;
        p.numa = SUBQ_NUMA_DISTRIBUTE;
        p.topology = topo;
        p.flags = flat ? SUBQ_CONTEXT_FLAT : 0;
        subq_context *ctx = NULL;
        CHECK_OK(subq_context_create(&p, &ctx));
        if (!ctx) continue;
        char desc[512];
        subq_context_describe(ctx, desc, sizeof desc);
        CHECK_MSG(strstr(desc, flat ? "barrier=flat" : "barrier=hierarchical") != NULL, "describe: %s", desc);
        for (int rep = 0; rep < 20; rep++) check_run(ctx, 997, rep % 3, flat ? "flat barrier" : "hierarchical barrier");
        /* 64 phases back to back: a counter of phases completed before each */
        enum { NPH = 64 };
        atomic_int done[NPH];
        count_arg args[NPH];
        subq_phase ph[2 * NPH];
        atomic_int *hits = calloc(NPH * 50, sizeof(atomic_int));
        for (int i = 0; i < NPH; i++) {
          atomic_init(&done[i], 0);
          args[i] = (count_arg){hits + i * 50, 50, i ? &done[i - 1] : NULL, 50, 0, 0};
          ph[2 * i] = (subq_phase){count_items, &args[i], 50, 1};
          ph[2 * i + 1] = (subq_phase){count_done, &done[i], 50, 7};
        }
        CHECK_OK(subq_parallel_run(ctx, ph, 2 * NPH, 0));
        int viol = 0, wrong = 0;
        for (int i = 0; i < NPH; i++) viol += atomic_load(&args[i].order_violations);
        for (int i = 0; i < NPH * 50; i++) wrong += atomic_load(&hits[i]) != 1;
        CHECK_MSG(viol == 0 && wrong == 0, "%s: %d ordering violations, %d items not run once",
                  flat ? "flat" : "hierarchical", viol, wrong);
        free(hits);
        subq_context_destroy(ctx);
      }
      subq_topology_release(topo);
    }
  }

  /* repeated create/destroy, also paused and no-spin */
  for (int i = 0; i < 50; i++) {
    subq_context_params p;
    subq_context_params_default(&p, sizeof p);
    p.n_threads = 1 + i % 4;
    p.flags = (i & 1) ? SUBQ_CONTEXT_START_PAUSED : SUBQ_CONTEXT_NO_SPIN;
    subq_context *ctx = NULL;
    CHECK_OK(subq_context_create(&p, &ctx));
    if (i % 3 == 0) check_run(ctx, 50, 0, "create/destroy");
    subq_context_destroy(ctx);
  }

  /* host executors */
  subq_executor ex = subq_test_shuffled_executor();
  subq_context *ectx = NULL;
  CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ectx));
  check_run(ectx, 1000, 0, "shuffled executor");
  subq_phase bad = {fail_at_7, NULL, 100, 1};
  CHECK_STATUS(subq_parallel_run(ectx, &bad, 1, 0), SUBQ_ERR_INVALID_ARGUMENT, "item 7 refused");
  subq_context_destroy(ectx);
  ex.parallel_for = threaded_for;
  CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ectx));
  check_run(ectx, 10000, 0, "threaded executor");
  subq_context_destroy(ectx);

  /* bad input */
  subq_context *ctx = NULL;
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  CHECK_STATUS(subq_context_create(&p, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  p.n_threads = -1;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "n_threads (-1)");
  CHECK(ctx == NULL);
  subq_context_params_default(&p, sizeof p);
  p.numa = (subq_numa_mode)42;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "numa (42)");
  subq_context_params_default(&p, sizeof p);
  p.flags = 0x8000;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "unknown bits");
  subq_context_params_default(&p, sizeof p);
  p.max_isa = (subq_isa)77;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "max_isa (77)");
  subq_context_params_default(&p, sizeof p);
  p.struct_size = 8;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "struct_size 8");
  /* a newer caller's struct with a non-zero unknown tail */
  struct {
    subq_context_params p;
    uint64_t future;
  } big;
  subq_context_params_default(&big.p, sizeof big);
  big.future = 1;
  CHECK_STATUS(subq_context_create(&big.p, &ctx), SUBQ_ERR_UNSUPPORTED, "newer than this library");
  big.future = 0;
  CHECK_OK(subq_context_create(&big.p, &ctx));
  subq_context_destroy(ctx);
  ctx = NULL;
  CHECK_STATUS(subq_context_create_with_executor(NULL, NULL, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "ex is NULL");
  subq_context_destroy(NULL);

  /* fork: a context made before fork refuses work in the child */
  p.n_threads = 2;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = 2;
  CHECK_OK(subq_context_create(&p, &ctx));
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    atomic_int done = 0;
    subq_phase ph = {count_done, &done, 10, 1};
    subq_status st = subq_parallel_run(ctx, &ph, 1, 0);
    int ok = st == SUBQ_ERR_INVALID_STATE && strstr(subq_last_error_message(), "fork") != NULL;
    subq_context_destroy(ctx); /* frees without joining */
    subq_context *fresh = NULL;
    subq_context_params q;
    subq_context_params_default(&q, sizeof q);
    /* TSan, and qemu-user before 8.1 (cross-arch ctest sets SUBQ_TEST_EMULATOR), cannot start threads
     * after a multi-threaded fork */
    q.n_threads = (SUBQ_TEST_TSAN || getenv("SUBQ_TEST_EMULATOR") != NULL) ? 1 : 2;
    ok = ok && subq_context_create(&q, &fresh) == SUBQ_OK && subq_parallel_run(fresh, &ph, 1, 0) == SUBQ_OK;
    subq_context_destroy(fresh);
    _exit(ok ? 0 : 3);
  }
  int wst = 0;
  waitpid(pid, &wst, 0);
  CHECK_MSG(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "child after fork: status %d", wst);
  check_run(ctx, 100, 0, "parent after fork");
  subq_context_destroy(ctx);

  return subq_test_finish("test_pool");
}
