/*
 * bench_util.c — timer (CLOCK_MONOTONIC, warm-up, median and min of reps),
 * result output as a table, JSON array or CSV, and small helpers.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

volatile double bench_sink;

static int g_failures;
static int g_json_count;

double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
  if (n <= 0) return -1.0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return (n & 1) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_min(const double *v, int n) {
  double m = n > 0 ? v[0] : -1.0;
  for (int i = 1; i < n; i++)
    if (v[i] < m) m = v[i];
  return m;
}

void bench_result_init(bench_result *r, const char *kernel, const char *vars, int32_t threads, const char *isa) {
  memset(r, 0, sizeof *r);
  snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
  snprintf(r->vars, sizeof r->vars, "%s", vars ? vars : "");
  snprintf(r->isa, sizeof r->isa, "%s", isa ? isa : "");
  snprintf(r->params_json, sizeof r->params_json, "{}");
  r->threads = threads;
  r->status = SUBQ_OK;
  r->ms_min = r->ms_median = -1.0;
  r->gflops = r->gbps = r->pct_peak = r->pct_bw = r->ns_per_op = -1.0;
}

#define BENCH_MAX_REPS 200

/* Cache eviction for --flush: touches every line of a buffer twice the L3
 * size (at least 16 MiB), outside the timed region. */
static unsigned char *g_flush_buf;
static size_t g_flush_size;

static void flush_caches(void) {
  if (!g_flush_buf) {
    size_t l3 = 0;
    subq_topology *t = NULL;
    if (subq_topology_create(&t) == SUBQ_OK && t) {
      l3 = subq_topology_cache_size(t, 3);
      subq_topology_release(t);
    }
    g_flush_size = l3 * 2 > ((size_t)16 << 20) ? l3 * 2 : ((size_t)16 << 20);
    g_flush_buf = bench_alloc(g_flush_size);
    if (!g_flush_buf) return;
    memset(g_flush_buf, 1, g_flush_size);
  }
  unsigned acc = 0;
  for (size_t i = 0; i < g_flush_size; i += 64) {
    g_flush_buf[i] = (unsigned char)(g_flush_buf[i] + 1);
    acc += g_flush_buf[i];
  }
  bench_sink += acc;
}

void bench_time(const bench_opts *opts, bench_body_fn body, void *arg, int min_reps, bench_result *r) {
  double t[BENCH_MAX_REPS];
  char msg[BENCH_MSG] = "";
  double first = 0.0;
  for (int w = 0; w < (opts->warmup > 0 ? opts->warmup : 1); w++) {
    /* At least one untimed call: it also checks that the case runs at all and
     * sizes the adaptive repetition count. */
    double t0 = bench_now_s();
    subq_status st = body(arg, msg, sizeof msg);
    first = bench_now_s() - t0;
    if (st != SUBQ_OK) {
      r->status = st;
      snprintf(r->message, sizeof r->message, "%s", msg[0] ? msg : subq_status_string(st));
      return;
    }
  }
  int reps = opts->reps;
  if (reps <= 0) {
    double per = first > 1e-7 ? first : 1e-7;
    double want = opts->budget_s / per;
    reps = want > BENCH_MAX_REPS ? BENCH_MAX_REPS : (int)want;
    if (reps < min_reps) reps = min_reps;
  }
  if (reps > BENCH_MAX_REPS) reps = BENCH_MAX_REPS;
  if (reps < 1) reps = 1;
  for (int i = 0; i < reps; i++) {
    if (opts->flush) flush_caches();
    double t0 = bench_now_s();
    subq_status st = body(arg, msg, sizeof msg);
    t[i] = bench_now_s() - t0;
    if (st != SUBQ_OK) {
      r->status = st;
      snprintf(r->message, sizeof r->message, "%s", msg[0] ? msg : subq_status_string(st));
      return;
    }
  }
  r->reps = reps;
  r->ms_min = bench_min(t, reps) * 1e3;
  r->ms_median = bench_median(t, reps) * 1e3;
}

/* ---- output ---------------------------------------------------------------------- */
static void fmt_num(char *buf, size_t cap, double v, int prec) {
  if (v < 0 || !isfinite(v))
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%.*f", prec, v);
}

/* A time given in ms, in a readable unit. */
static void fmt_time(char *buf, size_t cap, double ms) {
  if (ms < 0 || !isfinite(ms))
    snprintf(buf, cap, "-");
  else if (ms < 1e-3)
    snprintf(buf, cap, "%.1f ns", ms * 1e6);
  else if (ms < 1.0)
    snprintf(buf, cap, "%.2f us", ms * 1e3);
  else if (ms < 1e4)
    snprintf(buf, cap, "%.3f ms", ms);
  else
    snprintf(buf, cap, "%.2f s", ms * 1e-3);
}

static void json_num(double v, int prec) {
  if (v < 0 || !isfinite(v))
    fputs("null", stdout);
  else
    printf("%.*f", prec, v);
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void csv_str(const char *s) {
  bool quote = strpbrk(s, ",\"\n") != NULL;
  if (!quote) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

void bench_output_begin(const bench_opts *opts) {
  if (opts->format == BENCH_JSON) {
    printf("[\n");
    g_json_count = 0;
  } else if (opts->format == BENCH_CSV) {
    printf("kernel,vars,threads,isa,status,reps,ms_min,ms_median,gflops,gbps,pct_peak,pct_bw,ns_per_op,message\n");
  }
  fflush(stdout);
}

void bench_output_section(const bench_opts *opts, const char *title) {
  if (opts->format != BENCH_TABLE) return;
  printf("\n== %s ==\n", title);
  printf("%-14s %-32s %3s %-6s %5s %11s %11s %9s %6s %8s %6s %9s\n", "kernel", "problem", "thr", "isa", "reps", "min",
         "median", "GFLOP/s", "%peak", "GB/s", "%bw", "ns/op");
  fflush(stdout);
}

void bench_output_result(const bench_opts *opts, const bench_result *r) {
  if (r->status != SUBQ_OK) g_failures++;
  if (opts->format == BENCH_JSON) {
    printf("%s  {\"kernel\": ", g_json_count++ ? ",\n" : "");
    json_str(r->kernel);
    printf(", \"problem\": ");
    json_str(r->vars);
    printf(", \"parameters\": %s", r->params_json);
    printf(", \"threads\": %d, \"isa\": ", (int)r->threads);
    json_str(r->isa);
    printf(", \"status\": ");
    json_str(r->status == SUBQ_OK ? "ok" : subq_status_string(r->status));
    printf(", \"message\": ");
    json_str(r->message);
    printf(", \"reps\": %d, \"ms_min\": ", r->reps);
    json_num(r->ms_min, 6);
    printf(", \"ms_median\": ");
    json_num(r->ms_median, 6);
    printf(", \"gflops\": ");
    json_num(r->gflops, 3);
    printf(", \"gbps\": ");
    json_num(r->gbps, 3);
    printf(", \"pct_peak\": ");
    json_num(r->pct_peak, 2);
    printf(", \"pct_bw\": ");
    json_num(r->pct_bw, 2);
    printf(", \"ns_per_op\": ");
    json_num(r->ns_per_op, 4);
    printf("}");
  } else if (opts->format == BENCH_CSV) {
    csv_str(r->kernel);
    putchar(',');
    csv_str(r->vars);
    printf(",%d,", (int)r->threads);
    csv_str(r->isa);
    printf(",%s,%d,", r->status == SUBQ_OK ? "ok" : subq_status_string(r->status), r->reps);
    double v[7] = {r->ms_min, r->ms_median, r->gflops, r->gbps, r->pct_peak, r->pct_bw, r->ns_per_op};
    int p[7] = {6, 6, 3, 3, 2, 2, 1};
    for (int i = 0; i < 7; i++) {
      if (v[i] >= 0 && isfinite(v[i])) printf("%.*f", p[i], v[i]);
      putchar(',');
    }
    csv_str(r->message);
    putchar('\n');
  } else {
    if (r->status != SUBQ_OK) {
      printf("%-14s %-32s %3d %-6s FAILED: %s: %s\n", r->kernel, r->vars, (int)r->threads, r->isa,
             subq_status_string(r->status), r->message);
    } else {
      char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
      fmt_time(a, sizeof a, r->ms_min);
      fmt_time(b, sizeof b, r->ms_median);
      fmt_num(c, sizeof c, r->gflops, 2);
      fmt_num(d, sizeof d, r->pct_peak, 1);
      fmt_num(e, sizeof e, r->gbps, 2);
      fmt_num(f, sizeof f, r->pct_bw, 1);
      fmt_num(g, sizeof g, r->ns_per_op, r->ns_per_op >= 0 && r->ns_per_op < 10 ? 3 : 0);
      printf("%-14s %-32s %3d %-6s %5d %11s %11s %9s %6s %8s %6s %9s%s%s\n", r->kernel, r->vars, (int)r->threads, r->isa,
             r->reps, a, b, c, d, e, f, g, r->message[0] ? "  note: " : "", r->message);
    }
  }
  fflush(stdout);
}

void bench_output_end(const bench_opts *opts) {
  if (opts->format == BENCH_JSON) printf("\n]\n");
  fflush(stdout);
}

int bench_failures(void) { return g_failures; }

/* ---- helpers ---------------------------------------------------------------------- */
subq_context *bench_context(const bench_opts *opts, int32_t threads, uint32_t flags, bench_result *r) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = threads;
  p.max_isa = opts->isa;
  p.flags |= flags;
  subq_context *ctx = NULL;
  subq_status st = subq_context_create(&p, &ctx);
  if (st != SUBQ_OK) {
    r->status = st;
    snprintf(r->message, sizeof r->message, "subq_context_create(n_threads=%d): %s", (int)threads,
             subq_last_error_message());
    return NULL;
  }
  snprintf(r->isa, sizeof r->isa, "%s", subq_isa_name(subq_context_isa(ctx)));
  return ctx;
}

void *bench_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded < bytes || rounded == 0) return NULL;
  return aligned_alloc(64, rounded);
}

void bench_free(void *p) { free(p); }

bool bench_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  if (!s || !*s) return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  if (v < lo || v > hi) return false;
  *out = (int64_t)v;
  return true;
}

void bench_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("subq-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(run 'subq-bench --help' for usage)\n", stderr);
  exit(2);
}

int32_t bench_host_cores(void) {
  static int32_t cores = 0;
  if (cores > 0) return cores;
  subq_topology *t = NULL;
  if (subq_topology_create(&t) == SUBQ_OK && t) {
    cores = subq_topology_num_cores(t);
    subq_topology_release(t);
  }
  if (cores < 1) cores = 1;
  return cores;
}
