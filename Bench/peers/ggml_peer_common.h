/*
 * ggml_peer_common.h — what the ggml peer programs (ggml_ssm_peer.c, ggml_ternary_peer.c) share: the
 * inputs' xorshift fill (the same as subq-bench's), the common command-line options, and timing a ggml
 * graph as whole ggml_graph_compute calls on a persistent threadpool. Measurement only: nothing here
 * is part of SubQ. Header-only (static functions), so each peer still builds from one gcc command
 * (tools/build_llamacpp_peer.sh).
 */
#ifndef GGML_PEER_COMMON_H
#define GGML_PEER_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-cpu.h"
#include "ggml.h"

/* p[i] = offset + scale * (u - 0.5), u uniform in [0, 1) from a xorshift64 seeded by `seed`. */
static void peer_fill(float *p, int64_t n, unsigned seed, float scale, float offset) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = offset + scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

static double peer_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int peer_cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Whether `name` is one of the comma-separated names of `list`. */
static int peer_name_in(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == len && !strncmp(p, name, len)) return 1;
    p += l + (e ? 1 : 0);
  }
  return 0;
}

/* Options every peer takes: --threads T, --case a,b, --min-reps R, --seconds S. */
typedef struct peer_opts {
  int threads, min_reps;
  double seconds;
  const char *only; /* NULL: every case */
} peer_opts;

/* Consumes argv[*i] (and its value) when it is a common option; returns 0 when it is not. */
static int peer_common_arg(int argc, char **argv, int *i, peer_opts *o) {
  if (*i + 1 >= argc) return 0;
  const char *a = argv[*i];
  if (!strcmp(a, "--threads")) o->threads = atoi(argv[++*i]);
  else if (!strcmp(a, "--case")) o->only = argv[++*i];
  else if (!strcmp(a, "--min-reps")) o->min_reps = atoi(argv[++*i]);
  else if (!strcmp(a, "--seconds")) o->seconds = atof(argv[++*i]);
  else return 0;
  return 1;
}

typedef struct peer_timing {
  int reps;
  double ms_median, ms_min;
} peer_timing;

/* Plans gf for o->threads on tp, runs it `warmups` times, then times whole ggml_graph_compute calls
 * until both o->min_reps calls and o->seconds have passed (at most 100000). Returns 0, or 1 after
 * naming `name` on stderr when a warm-up compute fails. */
static int peer_time_graph(const char *name, struct ggml_cgraph *gf, const peer_opts *o, struct ggml_threadpool *tp,
                           int warmups, peer_timing *r) {
  struct ggml_cplan plan = ggml_graph_plan(gf, o->threads, tp);
  uint8_t *work = plan.work_size ? malloc(plan.work_size) : NULL;
  plan.work_data = work;
  for (int i = 0; i < warmups; i++)
    if (ggml_graph_compute(gf, &plan) != GGML_STATUS_SUCCESS) {
      fprintf(stderr, "%s: ggml_graph_compute failed\n", name);
      free(work);
      return 1;
    }
  int cap = 100000, n = 0;
  double *t = malloc(sizeof(double) * (size_t)cap), t_start = peer_now_ms();
  while (n < cap && (n < o->min_reps || peer_now_ms() - t_start < o->seconds * 1e3)) {
    const double t0 = peer_now_ms();
    ggml_graph_compute(gf, &plan);
    t[n++] = peer_now_ms() - t0;
  }
  qsort(t, (size_t)n, sizeof(double), peer_cmp_d);
  r->reps = n, r->ms_median = t[n / 2], r->ms_min = t[0];
  free(t);
  free(work);
  return 0;
}

#endif /* GGML_PEER_COMMON_H */
