/* subq_log.c — log callback and SUBQ_VERBOSE. Silent unless asked. */
#include "internal/subq_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static subq_log_fn subq_log_cb;
static void *subq_log_user;
static int subq_verbose_level;
static pthread_once_t subq_log_once = PTHREAD_ONCE_INIT;

static void subq_log_init(void) {
  const char *v = getenv("SUBQ_VERBOSE");
  if (v && *v) {
    int lvl = atoi(v);
    subq_verbose_level = lvl < 0 ? 0 : (lvl > 3 ? 3 : lvl);
  }
}

int subq_env_verbose(void) {
  pthread_once(&subq_log_once, subq_log_init);
  return subq_verbose_level;
}

void subq_set_log_callback(subq_log_fn fn, void *user) {
  subq_log_cb = fn;
  subq_log_user = user;
}

static void subq_log_va(int verbose, subq_log_level level, const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (subq_log_cb) {
    subq_log_cb(subq_log_user, level, buf);
    return;
  }
  /* Default sink: stderr when asked for; 1 shows errors..info, 2+ adds debug. */
  if (verbose > 0 && (int)level <= verbose + 1) fprintf(stderr, "subq: %s\n", buf);
}

void subq_log(subq_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  subq_log_va(subq_env_verbose(), level, fmt, ap);
  va_end(ap);
}

void subq_log_at(int verbose, subq_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int env = subq_env_verbose();
  subq_log_va(verbose > env ? verbose : env, level, fmt, ap);
  va_end(ap);
}
