/*
 * test_log.c — the log callback and a context's `verbose` field: a verbose
 * context reports its threads, ISA and topology; a silent one says nothing.
 * Also checks that status strings and the last-error message behave.
 */
#include <stdlib.h>

#include "support/subq_test.h"

static char g_last[2048];
static int g_count;

static void on_log(void *user, subq_log_level level, const char *msg) {
  (void)level;
  (*(int *)user)++;
  snprintf(g_last, sizeof g_last, "%s", msg);
}

int main(void) {
  unsetenv("SUBQ_VERBOSE"); /* read once per process; this test decides its own level */
  subq_set_log_callback(on_log, &g_count);

  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = 2;
  p.verbose = 0;
  subq_context *ctx = NULL;
  CHECK_OK(subq_context_create(&p, &ctx));
  CHECK_MSG(g_count == 0, "a silent context logged %d message(s): %s", g_count, g_last);
  subq_context_destroy(ctx);

  p.verbose = 1;
  p.max_isa = SUBQ_ISA_SCALAR;
  CHECK_OK(subq_context_create(&p, &ctx));
  CHECK(g_count == 1);
  CHECK_MSG(strstr(g_last, "threads=2") && strstr(g_last, "isa=scalar") && strstr(g_last, "topology:") &&
                strstr(g_last, "cores="),
            "context line: %s", g_last);
  /* a kernel call on a verbose context logs its plan */
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4];
  int before = g_count;
  CHECK_OK(subq_sgemm(ctx, false, false, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2));
  CHECK_MSG(g_count > before && strstr(g_last, "subq_sgemm: m=2 n=2 k=3") && strstr(g_last, "mode="),
            "plan line: %s", g_last);
  subq_context_destroy(ctx);

  p.verbose = 4;
  CHECK_STATUS(subq_context_create(&p, &ctx), SUBQ_ERR_INVALID_ARGUMENT, "verbose (4)");

  subq_set_log_callback(NULL, NULL);

  /* status strings and the last error */
  CHECK(strcmp(subq_status_string(SUBQ_OK), "ok") == 0);
  CHECK(strcmp(subq_status_string((subq_status)999), "unknown status") == 0);
  subq_clear_last_error();
  CHECK(subq_last_error_message()[0] == 0);
  CHECK_STATUS(subq_context_create(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(subq_context_create(NULL, &ctx)); /* success leaves the message */
  CHECK(strstr(subq_last_error_message(), "out is NULL") != NULL);
  subq_context_destroy(ctx);
  CHECK(subq_version() == SUBQ_VERSION);
  CHECK(strstr(subq_build_info(), subq_version_string()) != NULL);
  return subq_test_finish("test_log");
}
