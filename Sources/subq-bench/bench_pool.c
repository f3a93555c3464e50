/*
 * bench_pool.c — cost of the runtime's parallel machinery (runtime.md §1.3):
 * ns per kickoff (one subq_parallel_run of one empty phase with one item per
 * participant, start to completion) and ns per barrier (extra cost of each
 * further empty phase: (T(64 phases) - T(1 phase)) / 63), at each thread
 * count, with the default spin budget and with SUBQ_CONTEXT_NO_SPIN.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "internal/subq_parallel.h"

#define POOL_CALLS 2000   /* calls per timed rep */
#define POOL_PHASES 64

static subq_status empty_phase(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)arg, (void)begin, (void)end, (void)info;
  return SUBQ_OK;
}

typedef struct pool_case {
  subq_context *ctx;
  subq_phase phases[POOL_PHASES];
  int n_phases;
} pool_case;

static subq_status pool_body(void *varg, char *msg, size_t cap) {
  pool_case *c = varg;
  for (int i = 0; i < POOL_CALLS; i++) {
    subq_status st = subq_parallel_run(c->ctx, c->phases, c->n_phases, 0);
    if (st != SUBQ_OK) {
      snprintf(msg, cap, "subq_parallel_run: %s", subq_last_error_message());
      return st;
    }
  }
  return SUBQ_OK;
}

static void pool_case_run(const bench_opts *opts, int32_t threads, bool spin) {
  const char *mode = spin ? "spin" : "nospin";
  bench_result rk, rb;
  bench_result_init(&rk, "pool_kickoff", "", threads, "");
  bench_result_init(&rb, "pool_barrier", "", threads, "");
  snprintf(rk.vars, sizeof rk.vars, "%s:1 phase", mode);
  snprintf(rb.vars, sizeof rb.vars, "%s:%d phases", mode, POOL_PHASES);
  snprintf(rk.params_json, sizeof rk.params_json, "{\"spin\": %s, \"phases\": 1, \"calls_per_rep\": %d}",
           spin ? "true" : "false", POOL_CALLS);
  snprintf(rb.params_json, sizeof rb.params_json, "{\"spin\": %s, \"phases\": %d, \"calls_per_rep\": %d}",
           spin ? "true" : "false", POOL_PHASES, POOL_CALLS);
  subq_context *ctx = bench_context(opts, threads, spin ? 0u : SUBQ_CONTEXT_NO_SPIN, &rk);
  if (!ctx) {
    rb.status = rk.status;
    snprintf(rb.message, sizeof rb.message, "%s", rk.message);
    bench_output_result(opts, &rk);
    bench_output_result(opts, &rb);
    return;
  }
  snprintf(rb.isa, sizeof rb.isa, "%s", rk.isa);
  pool_case c;
  memset(&c, 0, sizeof c);
  c.ctx = ctx;
  int32_t width = subq_parallel_width(ctx);
  for (int i = 0; i < POOL_PHASES; i++) {
    c.phases[i].run = empty_phase;
    c.phases[i].n_items = width;
    c.phases[i].grain = 1;
  }
  c.n_phases = 1;
  bench_time(opts, pool_body, &c, 5, &rk);
  c.n_phases = POOL_PHASES;
  bench_time(opts, pool_body, &c, 5, &rb);
  /* Per call: the timed body made POOL_CALLS calls. */
  if (rk.status == SUBQ_OK) {
    rk.ms_min /= POOL_CALLS;
    rk.ms_median /= POOL_CALLS;
    rk.ns_per_op = rk.ms_median * 1e6;
  }
  if (rb.status == SUBQ_OK) {
    rb.ms_min /= POOL_CALLS;
    rb.ms_median /= POOL_CALLS;
    if (rk.status == SUBQ_OK) {
      double per = (rb.ms_median - rk.ms_median) * 1e6 / (POOL_PHASES - 1);
      if (per > 0)
        rb.ns_per_op = per;
      else
        snprintf(rb.message, sizeof rb.message, "T(%d phases) <= T(1 phase): too noisy to derive ns per barrier",
                 POOL_PHASES);
    } else {
      rb.status = rk.status;
      snprintf(rb.message, sizeof rb.message, "kickoff case failed: %.200s", rk.message);
    }
  }
  bench_output_result(opts, &rk);
  bench_output_result(opts, &rb);
  subq_context_destroy(ctx);
}

static bool g_spin = true, g_nospin = true;

void bench_pool_parse(int argc, char **argv) {
  bool spin = true, nospin = true;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = NULL;
    if (!strncmp(a, "--spin=", 7)) v = a + 7;
    else if (!strcmp(a, "--spin")) {
      if (i + 1 >= argc) bench_usage_error("--spin needs a value: on, off or both");
      v = argv[++i];
    } else
      bench_usage_error("pool: unknown argument '%s' (pool takes --spin on|off|both)", a);
    if (!strcmp(v, "on")) spin = true, nospin = false;
    else if (!strcmp(v, "off")) spin = false, nospin = true;
    else if (!strcmp(v, "both")) spin = nospin = true;
    else bench_usage_error("--spin: '%s' is not on, off or both", v);
  }
  g_spin = spin;
  g_nospin = nospin;
}

int bench_pool_main(const bench_opts *opts) {
  bool spin = g_spin, nospin = g_nospin;
  bench_output_section(opts, "pool: ns per kickoff (empty job) and per barrier (empty phases)");
  for (int i = 0; i < opts->n_threads; i++) {
    if (spin) pool_case_run(opts, opts->threads[i], true);
    if (nospin) pool_case_run(opts, opts->threads[i], false);
  }
  return 0;
}
