/*
 * main.c — C consumer of an installed SubQ (Tests/C/consumer/run.sh builds it
 * with find_package(SubQ CONFIG) and with pkg-config, shared and static).
 * Uses only the public headers. Exit status 0 only when every check passed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <subq.h>

static int failures = 0;

#define EXPECT(cond, ...)                                      \
  do {                                                         \
    if (!(cond)) {                                             \
      failures++;                                              \
      fprintf(stderr, "consumer_c: FAIL %s: ", #cond);         \
      fprintf(stderr, __VA_ARGS__);                            \
      fputc('\n', stderr);                                     \
    }                                                          \
  } while (0)

#define STR2(x) #x
#define STR(x) STR2(x)

/* C = alpha * A * B + beta * C0 in double, row-major. */
static void naive_gemm(int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                       const float *c0, double *out) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0.0;
      for (int p = 0; p < k; p++) s += (double)a[i * k + p] * (double)b[p * n + j];
      out[i * n + j] = (double)alpha * s + (double)beta * (double)c0[i * n + j];
    }
}

static void check_gemm(subq_context *ctx, const char *what) {
  enum { M = 5, N = 7, K = 9 };
  float a[M * K], b[K * N], c[M * N], c0[M * N];
  double ref[M * N];
  for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 11) * 0.25f - 1.0f;
  for (int i = 0; i < K * N; i++) b[i] = (float)((i * 5) % 13) * 0.125f - 0.75f;
  for (int i = 0; i < M * N; i++) c0[i] = c[i] = (float)(i % 3) - 1.0f;

  subq_gemm_args args;
  subq_gemm_args_default(&args, sizeof args);
  args.m = M, args.n = N, args.k = K;
  args.alpha = 1.5f, args.beta = 0.5f;
  args.a = a, args.a_rs = K, args.a_cs = 1;
  args.b = b, args.b_rs = N, args.b_cs = 1;
  args.c = c, args.c_rs = N, args.c_cs = 1;
  subq_status st = subq_gemm(ctx, &args);
  EXPECT(st == SUBQ_OK, "%s: subq_gemm returned %s: %s", what, subq_status_string(st), subq_last_error_message());
  if (st != SUBQ_OK) return;
  naive_gemm(M, N, K, 1.5f, a, b, 0.5f, c0, ref);
  double worst = 0.0;
  for (int i = 0; i < M * N; i++) {
    double err = fabs((double)c[i] - ref[i]) / (1.0 + fabs(ref[i]));
    if (err > worst) worst = err;
  }
  EXPECT(worst < 1e-5, "%s: subq_gemm differs from the naive loop (max relative error %g)", what, worst);

  /* a bad argument is reported, not fatal */
  args.m = -1;
  subq_clear_last_error();
  st = subq_gemm(ctx, &args);
  EXPECT(st == SUBQ_ERR_INVALID_ARGUMENT, "%s: m = -1 gave %s", what, subq_status_string(st));
  EXPECT(subq_last_error_message()[0] != '\0', "%s: no error message for m = -1", what);
}

int main(void) {
  EXPECT(subq_version() == SUBQ_VERSION, "runtime version 0x%06x, header 0x%06x", (unsigned)subq_version(),
         (unsigned)SUBQ_VERSION);
  const char *want = STR(SUBQ_VERSION_MAJOR) "." STR(SUBQ_VERSION_MINOR) "." STR(SUBQ_VERSION_PATCH);
  EXPECT(strcmp(subq_version_string(), want) == 0, "version string '%s', header macros say '%s'",
         subq_version_string(), want);
  printf("build_info: %s\n", subq_build_info());

  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = 2;
  subq_context *ctx = NULL;
  subq_status st = subq_context_create(&p, &ctx);
  EXPECT(st == SUBQ_OK && ctx != NULL, "subq_context_create: %s: %s", subq_status_string(st),
         subq_last_error_message());
  if (ctx) {
    EXPECT(subq_context_num_threads(ctx) == 2, "context has %d threads, asked for 2",
           (int)subq_context_num_threads(ctx));
    check_gemm(ctx, "2-thread context");
    subq_context_destroy(ctx);
  }
  check_gemm(NULL, "ctx NULL");

  if (failures) {
    fprintf(stderr, "consumer_c: %d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer_c: OK (SubQ %s)\n", subq_version_string());
  return 0;
}
