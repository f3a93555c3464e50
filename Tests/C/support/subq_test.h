/*
 * subq_test.h — minimal C test harness: CHECK macros that count, a closing
 * "N passed, N failed" line, and a non-zero exit status on any failure.
 */
#ifndef SUBQ_TEST_H
#define SUBQ_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subq.h"

extern int subq_test_passed, subq_test_failed;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (cond) {                                                                      \
      subq_test_passed++;                                                            \
    } else {                                                                         \
      subq_test_failed++;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
    }                                                                                \
  } while (0)

#define CHECK_MSG(cond, ...)                                                         \
  do {                                                                               \
    if (cond) {                                                                      \
      subq_test_passed++;                                                            \
    } else {                                                                         \
      subq_test_failed++;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fputc('\n', stderr);                                                           \
    }                                                                                \
  } while (0)

/* Expects a call to fail with `status` and a message that contains `needle`. */
#define CHECK_STATUS(call, status, needle)                                                         \
  do {                                                                                             \
    subq_clear_last_error();                                                                       \
    subq_status st_ = (call);                                                                      \
    const char *msg_ = subq_last_error_message();                                                  \
    CHECK_MSG(st_ == (status) && strstr(msg_, (needle)) != NULL, "got %s \"%s\", wanted %s \"%s\"", \
              subq_status_string(st_), msg_, subq_status_string(status), (needle));                \
  } while (0)

#define CHECK_OK(call)                                                                          \
  do {                                                                                          \
    subq_status st_ = (call);                                                                   \
    CHECK_MSG(st_ == SUBQ_OK, "%s: %s", subq_status_string(st_), subq_last_error_message()); \
  } while (0)

/* Prints the closing line and returns the process exit status. */
int subq_test_finish(const char *name);

/* Deterministic pseudo-random numbers (splitmix64). */
typedef struct subq_rng { unsigned long long s; } subq_rng;
unsigned long long subq_rng_next(subq_rng *r);
/* Uniform in [-1, 1). */
float subq_rng_float(subq_rng *r);
void subq_fill_random(float *x, long long n, unsigned long long seed);

/* ISA paths this host can run, lowest first; returns the count (<= 8). */
int subq_test_isas(subq_isa *out);
/* A context limited to `isa` with n_threads participants (fails the test on error). */
subq_context *subq_test_context(subq_isa isa, int n_threads);

/* A host executor that runs every task on the calling thread in a random
 * order (seeded by the task count) while reporting a concurrency of 3. Every
 * kernel must reproduce its pool bits exactly under it. */
subq_executor subq_test_shuffled_executor(void);

#endif
