#include "support/subq_test.h"

int subq_test_passed, subq_test_failed;

int subq_test_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, subq_test_passed, subq_test_failed);
  return subq_test_failed ? 1 : 0;
}

unsigned long long subq_rng_next(subq_rng *r) {
  unsigned long long z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float subq_rng_float(subq_rng *r) { return (float)((double)(subq_rng_next(r) >> 40) / (double)(1ull << 23) - 1.0); }

void subq_fill_random(float *x, long long n, unsigned long long seed) {
  subq_rng r = {seed};
  for (long long i = 0; i < n; i++) x[i] = subq_rng_float(&r);
}

int subq_test_isas(subq_isa *out) {
  static const subq_isa all[] = {SUBQ_ISA_SCALAR, SUBQ_ISA_AVX2, SUBQ_ISA_AVX512, SUBQ_ISA_AVX512_VNNI,
                                 SUBQ_ISA_AVX512_BF16, SUBQ_ISA_NEON, SUBQ_ISA_NEON_DOT};
  int n = 0;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (subq_host_supports_isa(all[i])) out[n++] = all[i];
  return n;
}

subq_context *subq_test_context(subq_isa isa, int n_threads) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.max_isa = isa;
  p.n_threads = n_threads;
  subq_context *ctx = NULL;
  CHECK_OK(subq_context_create(&p, &ctx));
  return ctx;
}

static int32_t subq_test_shuffled_concurrency(void *c) {
  (void)c;
  return 3;
}

static void subq_test_shuffled_for(void *c, int64_t n, subq_task_fn fn, void *task_ctx) {
  (void)c;
  int64_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
  if (!order) {
    for (int64_t i = 0; i < n; i++) fn(task_ctx, i);
    return;
  }
  for (int64_t i = 0; i < n; i++) order[i] = i;
  subq_rng r = {(unsigned long long)n * 7919u};
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(subq_rng_next(&r) % (unsigned long long)(i + 1)), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  for (int64_t i = 0; i < n; i++) fn(task_ctx, order[i]);
  free(order);
}

subq_executor subq_test_shuffled_executor(void) {
  subq_executor ex = {sizeof(subq_executor), NULL, subq_test_shuffled_concurrency, subq_test_shuffled_for};
  return ex;
}
