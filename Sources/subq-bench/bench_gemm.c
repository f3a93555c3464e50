/*
 * bench_gemm.c — subq_gemm / subq_gemm_packed at given or standard shapes.
 *
 * Problem strings (CLI positional arguments, --batch files, the "params"
 * field of the output): "[b<batch>]m<M>n<N>k<K>" followed by optional tokens
 * separated by ':' or blanks: a dtype "f32" | "bf16" (A and B; C is f32), a
 * layout "nn" | "nt" | "tn" | "tt" (A then B; "t" = stored transposed: B of
 * "nt" is a PyTorch Linear weight W[n][k], b_rs = 1, b_cs = k) and "packed"
 * (B prepacked once with subq_gemm_pack_b, outside the timed region, shared
 * by the whole batch). Example: "b1m1n4096k4096:bf16:nt:packed".
 *
 * Every case checks a sample of C against a float64 dot product after
 * timing: a wrong result is reported as a failed case, never as a speed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct gemm_problem {
  int64_t m, n, k, batch;
  subq_dtype dtype;
  char layout[3];
  bool packed;
} gemm_problem;

static void problem_string(const gemm_problem *p, char *buf, size_t cap) {
  snprintf(buf, cap, "b%lldm%lldn%lldk%lld:%s:%s%s", (long long)p->batch, (long long)p->m, (long long)p->n,
           (long long)p->k, p->dtype == SUBQ_DTYPE_BF16 ? "bf16" : "f32", p->layout, p->packed ? ":packed" : "");
}

static void problem_default(gemm_problem *p) {
  memset(p, 0, sizeof *p);
  p->batch = 1;
  p->dtype = SUBQ_DTYPE_F32;
  strcpy(p->layout, "nn");
}

#define DIM_MAX ((int64_t)1 << 24)
#define SMALL_M 16 /* up to this M, also report the B stream in GB/s */

/* Parses "b2m4n8k16"; returns false with a reason. */
static bool parse_dims(const char *s, gemm_problem *p, char *why, size_t cap) {
  bool have_m = false, have_n = false, have_k = false;
  while (*s) {
    char c = *s++;
    if (c != 'b' && c != 'm' && c != 'n' && c != 'k') {
      snprintf(why, cap, "unexpected '%c' (expected b, m, n or k followed by a number)", c);
      return false;
    }
    if (*s < '0' || *s > '9') {
      snprintf(why, cap, "'%c' must be followed by a number", c);
      return false;
    }
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
      v = v * 10 + (*s++ - '0');
      if (v > DIM_MAX) {
        snprintf(why, cap, "'%c' is larger than %lld", c, (long long)DIM_MAX);
        return false;
      }
    }
    if (v < 1) {
      snprintf(why, cap, "'%c' must be at least 1", c);
      return false;
    }
    if (c == 'b') p->batch = v;
    if (c == 'm') p->m = v, have_m = true;
    if (c == 'n') p->n = v, have_n = true;
    if (c == 'k') p->k = v, have_k = true;
  }
  if (!have_m || !have_n || !have_k) {
    snprintf(why, cap, "m, n and k are all required");
    return false;
  }
  return true;
}

static bool parse_token(const char *t, gemm_problem *p, char *why, size_t cap) {
  if (!strcmp(t, "f32")) p->dtype = SUBQ_DTYPE_F32;
  else if (!strcmp(t, "bf16")) p->dtype = SUBQ_DTYPE_BF16;
  else if (!strcmp(t, "nn") || !strcmp(t, "nt") || !strcmp(t, "tn") || !strcmp(t, "tt")) strcpy(p->layout, t);
  else if (!strcmp(t, "packed")) p->packed = true;
  else if (!strcmp(t, "unpacked")) p->packed = false;
  else {
    snprintf(why, cap, "unknown token '%s' (expected f32, bf16, nn, nt, tn, tt, packed)", t);
    return false;
  }
  return true;
}

/* A whole problem line: dims first, then tokens. */
static bool parse_problem(const char *line, gemm_problem *p, char *why, size_t cap) {
  char buf[256];
  if (strlen(line) >= sizeof buf) {
    snprintf(why, cap, "problem string too long");
    return false;
  }
  strcpy(buf, line);
  problem_default(p);
  char *save = NULL;
  char *tok = strtok_r(buf, ": \t\r\n", &save);
  if (!tok) {
    snprintf(why, cap, "empty problem");
    return false;
  }
  if (!parse_dims(tok, p, why, cap)) return false;
  while ((tok = strtok_r(NULL, ": \t\r\n", &save)))
    if (!parse_token(tok, p, why, cap)) return false;
  /* Keep every buffer's element count within what size_t and int64 address. */
  double elems = (double)p->batch * (double)(p->m * p->k + p->k * p->n + p->m * p->n);
  if (elems > (double)((int64_t)1 << 33)) {
    snprintf(why, cap, "problem needs more than 2^33 elements of memory");
    return false;
  }
  return true;
}

/* ---- data ---------------------------------------------------------------------------- */
static uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static double bf16_to_f64(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void fill(void *buf, subq_dtype dt, size_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    float v = (float)((int32_t)(s >> 8) - (1 << 23)) * (1.0f / (float)(1 << 23)); /* [-1, 1) */
    if (dt == SUBQ_DTYPE_BF16)
      ((uint16_t *)buf)[i] = f32_to_bf16(v);
    else
      ((float *)buf)[i] = v;
  }
}

static double elem(const void *buf, subq_dtype dt, int64_t idx) {
  return dt == SUBQ_DTYPE_BF16 ? bf16_to_f64(((const uint16_t *)buf)[idx]) : (double)((const float *)buf)[idx];
}

typedef struct gemm_case {
  gemm_problem p;
  subq_context *ctx;
  subq_gemm_args args;
  const subq_gemm_packed_b *packed;
} gemm_case;

static subq_status gemm_body(void *varg, char *msg, size_t cap) {
  gemm_case *g = varg;
  subq_status st = g->packed ? subq_gemm_packed(g->ctx, &g->args, g->packed) : subq_gemm(g->ctx, &g->args);
  if (st != SUBQ_OK) {
    snprintf(msg, cap, "%s", subq_last_error_message());
    return st;
  }
  bench_sink += g->args.c[0];
  return SUBQ_OK;
}

/* Compares 24 sampled elements of C with float64 references. */
static bool gemm_check(const gemm_case *g, char *msg, size_t cap) {
  const subq_gemm_args *a = &g->args;
  const gemm_problem *p = &g->p;
  uint32_t s = 12345;
  for (int sample = 0; sample < 24; sample++) {
    s = s * 1664525u + 1013904223u;
    int64_t t = (int64_t)(s >> 8) % p->batch;
    s = s * 1664525u + 1013904223u;
    int64_t i = sample == 0 ? 0 : (int64_t)(s >> 8) % p->m;
    s = s * 1664525u + 1013904223u;
    int64_t j = sample == 0 ? 0 : (int64_t)(s >> 8) % p->n;
    double ref = 0, mag = 0;
    for (int64_t q = 0; q < p->k; q++) {
      double x = elem(a->a, a->a_dtype, t * a->a_bs + i * a->a_rs + q * a->a_cs);
      double y = elem(a->b, a->b_dtype, t * a->b_bs + q * a->b_rs + j * a->b_cs);
      ref += x * y;
      mag += fabs(x * y);
    }
    double got = a->c[t * a->c_bs + i * a->c_rs + j * a->c_cs];
    if (!(fabs(got - ref) <= 1e-3 * mag + 1e-5)) {
      snprintf(msg, cap, "result check failed at batch %lld (%lld, %lld): got %.6g, float64 reference %.6g",
               (long long)t, (long long)i, (long long)j, got, ref);
      return false;
    }
  }
  return true;
}

static void run_problem(const bench_opts *opts, const gemm_problem *p) {
  char vars[96];
  problem_string(p, vars, sizeof vars);
  size_t ds = p->dtype == SUBQ_DTYPE_BF16 ? 2 : 4;
  int64_t b_mats = p->packed ? 1 : p->batch;
  size_t na = (size_t)(p->batch * p->m * p->k), nb = (size_t)(b_mats * p->k * p->n), nc = (size_t)(p->batch * p->m * p->n);
  void *A = bench_alloc(na * ds), *B = bench_alloc(nb * ds);
  float *C = bench_alloc(nc * sizeof(float));
  subq_gemm_packed_b *packed = NULL;
  bool pack_failed = false;
  char pack_msg[BENCH_MSG] = "";
  subq_status pack_st = SUBQ_OK;
  if (A && B && C) {
    fill(A, p->dtype, na, 1);
    fill(B, p->dtype, nb, 2);
    memset(C, 0, nc * sizeof(float));
  }
  for (int ti = 0; ti < opts->n_threads; ti++) {
    int32_t threads = opts->threads[ti];
    bench_result r;
    bench_result_init(&r, "gemm", vars, threads, "");
    snprintf(r.params_json, sizeof r.params_json,
             "{\"m\": %lld, \"n\": %lld, \"k\": %lld, \"batch\": %lld, \"dtype\": \"%s\", \"layout\": \"%s\", "
             "\"packed\": %s}",
             (long long)p->m, (long long)p->n, (long long)p->k, (long long)p->batch,
             p->dtype == SUBQ_DTYPE_BF16 ? "bf16" : "f32", p->layout, p->packed ? "true" : "false");
    if (!A || !B || !C) {
      r.status = SUBQ_ERR_OUT_OF_MEMORY;
      snprintf(r.message, sizeof r.message, "cannot allocate the operands (%.1f MiB)",
               (double)(na * ds + nb * ds + nc * 4) / (1 << 20));
      bench_output_result(opts, &r);
      continue;
    }
    gemm_case g;
    memset(&g, 0, sizeof g);
    g.p = *p;
    g.ctx = bench_context(opts, threads, 0, &r);
    if (!g.ctx) {
      bench_output_result(opts, &r);
      continue;
    }
    subq_gemm_args *a = &g.args;
    subq_gemm_args_default(a, sizeof *a);
    a->m = p->m, a->n = p->n, a->k = p->k;
    a->a_dtype = a->b_dtype = p->dtype;
    a->a = A, a->b = B, a->c = C;
    if (p->layout[0] == 'n') a->a_rs = p->k, a->a_cs = 1;
    else a->a_rs = 1, a->a_cs = p->m;
    if (p->layout[1] == 'n') a->b_rs = p->n, a->b_cs = 1;
    else a->b_rs = 1, a->b_cs = p->k;
    a->c_rs = p->n, a->c_cs = 1;
    a->batch_count = p->batch;
    a->a_bs = p->m * p->k;
    a->b_bs = p->packed ? 0 : p->k * p->n;
    a->c_bs = p->m * p->n;
    if (p->packed && !packed && !pack_failed) {
      /* Packed once (outside timing) with the first context; every context of
       * this run has the same ISA path. */
      pack_st = subq_gemm_pack_b(g.ctx, p->k, p->n, p->dtype, B, a->b_rs, a->b_cs, &packed);
      if (pack_st != SUBQ_OK) {
        pack_failed = true;
        packed = NULL;
        snprintf(pack_msg, sizeof pack_msg, "subq_gemm_pack_b: %s", subq_last_error_message());
      }
    }
    if (p->packed && pack_failed) {
      r.status = pack_st;
      snprintf(r.message, sizeof r.message, "%s", pack_msg);
    } else {
      g.packed = packed;
      double work = 2.0 * (double)p->m * (double)p->n * (double)p->k * (double)p->batch;
      bench_time(opts, gemm_body, &g, 3, &r);
      if (r.status == SUBQ_OK && !gemm_check(&g, r.message, sizeof r.message)) r.status = SUBQ_ERR_INTERNAL;
      if (r.status == SUBQ_OK) {
        double sec = r.ms_median * 1e-3;
        r.gflops = work / sec * 1e-9;
        if (!opts->no_peak) {
          double peak = bench_peak_gflops(opts, threads, false);
          if (peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
        }
        if (p->m <= SMALL_M) {
          /* Small M is bound by reading B: report the B stream. */
          double bbytes = p->packed ? (double)subq_gemm_packed_b_size(packed) : (double)(nb * ds);
          r.gbps = bbytes / sec * 1e-9;
          if (!opts->no_peak) {
            double bw = bench_peak_gbps(opts, threads, false);
            if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
          }
        }
      }
    }
    bench_output_result(opts, &r);
    subq_context_destroy(g.ctx);
  }
  subq_gemm_packed_b_destroy(packed);
  bench_free(A);
  bench_free(B);
  bench_free(C);
}

/* ---- the standard suite ------------------------------------------------------------------- */
static const char *const k_suite[] = {
    /* square f32 and bf16 */
    "m1024n1024k1024:f32:nn", "m2048n2048k2048:f32:nn", "m4096n4096k4096:f32:nn", "m2048n2048k2048:bf16:nn",
    /* Linear layers y = x W^T (W is n x k): decode (M = 1), small and medium batches */
    "m1n4096k4096:f32:nt", "m1n4096k4096:f32:nt:packed", "m1n4096k4096:bf16:nt", "m1n4096k4096:bf16:nt:packed",
    "m16n4096k4096:f32:nt", "m16n4096k4096:f32:nt:packed", "m16n4096k4096:bf16:nt", "m16n4096k4096:bf16:nt:packed",
    "m128n4096k4096:f32:nt", "m128n4096k4096:f32:nt:packed", "m128n4096k4096:bf16:nt", "m128n4096k4096:bf16:nt:packed",
    "m1n14336k4096:f32:nt", "m1n14336k4096:f32:nt:packed", "m1n14336k4096:bf16:nt", "m1n14336k4096:bf16:nt:packed",
    /* batched small products */
    "b64m64n1024k64:f32:nn",
};

void bench_gemm_list(void) {
  printf("gemm standard shapes (problem strings):\n");
  for (size_t i = 0; i < sizeof k_suite / sizeof k_suite[0]; i++) printf("  %s\n", k_suite[i]);
}

int bench_gemm_suite(const bench_opts *opts) {
  bench_peak_prepare(opts, true);
  bench_output_section(opts, "gemm (standard shapes)");
  for (size_t i = 0; i < sizeof k_suite / sizeof k_suite[0]; i++) {
    gemm_problem p;
    char why[160];
    if (!parse_problem(k_suite[i], &p, why, sizeof why)) {
      fprintf(stderr, "subq-bench: internal suite entry '%s': %s\n", k_suite[i], why);
      return 1;
    }
    run_problem(opts, &p);
  }
  return 0;
}

/* ---- the gemm subcommand ------------------------------------------------------------------ */
#define MAX_PROBLEMS 512

static void read_batch_file(const char *path, gemm_problem *list, int *n) {
  FILE *f = fopen(path, "r");
  if (!f) bench_usage_error("cannot open batch file '%s'", path);
  char line[512];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *h = strchr(line, '#');
    if (h) *h = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    if (!*s) continue;
    char why[160];
    if (*n >= MAX_PROBLEMS) bench_usage_error("%s: more than %d problems", path, MAX_PROBLEMS);
    if (!parse_problem(s, &list[*n], why, sizeof why)) {
      fclose(f);
      bench_usage_error("%s:%d: %s", path, lineno, why);
    }
    (*n)++;
  }
  fclose(f);
}

static const char *flag_value(int argc, char **argv, int *i, const char *name) {
  /* "--name=value" or "--name value" */
  const char *a = argv[*i];
  size_t len = strlen(name);
  if (a[len] == '=') return a + len + 1;
  if (*i + 1 >= argc) bench_usage_error("%s needs a value", name);
  return argv[++*i];
}

static bool flag_is(const char *a, const char *name) {
  size_t len = strlen(name);
  return !strncmp(a, name, len) && (a[len] == '\0' || a[len] == '=');
}

static gemm_problem g_list[MAX_PROBLEMS];
static int g_n = -1; /* problems parsed by bench_gemm_parse; 0 = the standard shapes */

void bench_gemm_parse(int argc, char **argv) {
  gemm_problem *list = g_list;
  int n = 0;
  gemm_problem flags;
  problem_default(&flags);
  bool have_m = false, have_n = false, have_k = false, any_flag = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int64_t v;
    char why[160];
    if (flag_is(a, "--m") || flag_is(a, "--n") || flag_is(a, "--k") || flag_is(a, "--batch-count")) {
      const char *name = a[2] == 'm' ? "--m" : a[2] == 'n' ? "--n" : a[2] == 'k' ? "--k" : "--batch-count";
      const char *val = flag_value(argc, argv, &i, name);
      if (!bench_parse_i64(val, 1, DIM_MAX, &v)) bench_usage_error("%s: '%s' is not an integer in 1..%lld", name, val, (long long)DIM_MAX);
      if (name[2] == 'm') flags.m = v, have_m = true;
      else if (name[2] == 'n') flags.n = v, have_n = true;
      else if (name[2] == 'k') flags.k = v, have_k = true;
      else flags.batch = v;
      any_flag = true;
    } else if (flag_is(a, "--batch")) {
      /* A number is the batch count; anything else is a batch file. */
      const char *val = flag_value(argc, argv, &i, "--batch");
      if (val[0] >= '0' && val[0] <= '9' && bench_parse_i64(val, 1, DIM_MAX, &v)) {
        flags.batch = v;
        any_flag = true;
      } else if (val[0] >= '0' && val[0] <= '9' && strspn(val, "0123456789") == strlen(val)) {
        bench_usage_error("--batch: '%s' is not a batch count in 1..%lld", val, (long long)DIM_MAX);
      } else {
        read_batch_file(val, list, &n);
      }
    } else if (flag_is(a, "--batch-file")) {
      read_batch_file(flag_value(argc, argv, &i, "--batch-file"), list, &n);
    } else if (flag_is(a, "--dtype")) {
      const char *val = flag_value(argc, argv, &i, "--dtype");
      if (strcmp(val, "f32") && strcmp(val, "bf16")) bench_usage_error("--dtype: '%s' is not f32 or bf16", val);
      (void)parse_token(val, &flags, why, sizeof why);
      any_flag = true;
    } else if (flag_is(a, "--layout")) {
      const char *val = flag_value(argc, argv, &i, "--layout");
      if (strcmp(val, "nn") && strcmp(val, "nt") && strcmp(val, "tn") && strcmp(val, "tt"))
        bench_usage_error("--layout: '%s' is not nn, nt, tn or tt", val);
      strcpy(flags.layout, val);
      any_flag = true;
    } else if (!strcmp(a, "--packed")) {
      flags.packed = true;
      any_flag = true;
    } else if (a[0] == '-') {
      bench_usage_error("gemm: unknown option '%s'", a);
    } else {
      if (n >= MAX_PROBLEMS) bench_usage_error("more than %d problems", MAX_PROBLEMS);
      if (!parse_problem(a, &list[n], why, sizeof why)) bench_usage_error("gemm: problem '%s': %s", a, why);
      n++;
    }
  }
  if (any_flag || n == 0) {
    if (!have_m && !have_n && !have_k && n == 0 && !any_flag) {
      g_n = 0; /* bare "gemm": the standard shapes */
      return;
    }
    if (!have_m || !have_n || !have_k) bench_usage_error("gemm: --m, --n and --k are all required (or give problem strings)");
    if (n >= MAX_PROBLEMS) bench_usage_error("more than %d problems", MAX_PROBLEMS);
    double elems = (double)flags.batch * ((double)flags.m * flags.k + (double)flags.k * flags.n + (double)flags.m * flags.n);
    if (elems > (double)((int64_t)1 << 33)) bench_usage_error("gemm: problem needs more than 2^33 elements of memory");
    list[n++] = flags;
  }
  g_n = n;
}

int bench_gemm_main(const bench_opts *opts) {
  if (g_n <= 0) return bench_gemm_suite(opts);
  gemm_problem *list = g_list;
  int n = g_n;
  bool need_bw = false;
  for (int i = 0; i < n; i++) need_bw |= list[i].m <= SMALL_M;
  bench_peak_prepare(opts, need_bw);
  bench_output_section(opts, "gemm");
  for (int i = 0; i < n; i++) run_problem(opts, &list[i]);
  return 0;
}
