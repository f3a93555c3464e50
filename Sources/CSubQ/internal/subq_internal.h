/*
 * subq_internal.h — shared by every library source: error reporting, checked
 * size arithmetic, FP-contraction policy. Never installed.
 */
#ifndef SUBQ_INTERNAL_H
#define SUBQ_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "subq.h"

/* Contraction of a*b+c into FMA would make clang (SwiftPM) and gcc (CMake,
 * -ffp-contract=off) builds differ in bits; FMAs are written explicitly. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SUBQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define SUBQ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SUBQ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SUBQ_INTERNAL __attribute__((visibility("hidden")))
#else
#define SUBQ_LIKELY(x) (x)
#define SUBQ_UNLIKELY(x) (x)
#define SUBQ_PRINTF(fmt, args)
#define SUBQ_INTERNAL
#endif

#define SUBQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SUBQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SUBQ_CACHELINE 64
/* Hot atomics get a 128-byte slot: adjacent-line prefetch pairs 64-byte lines. */
#define SUBQ_ATOMIC_SLOT 128

/* Records "fmt" as this thread's last error and returns status. Use as
 *   return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_gemm: m (%lld) < 0", m); */
subq_status subq_error(subq_status status, const char *fmt, ...) SUBQ_PRINTF(2, 3);
/* The thread-local message buffer (512 bytes), for copying worker errors. */
char *subq_error_buffer(void);
void subq_set_error_text(const char *text);

/* Logging (subq_log.c): honours the callback and SUBQ_VERBOSE. */
void subq_log(subq_log_level level, const char *fmt, ...) SUBQ_PRINTF(2, 3);
/* The same with an explicit verbosity (a context's `verbose`); the larger of it
 * and SUBQ_VERBOSE decides what reaches stderr. */
void subq_log_at(int verbose, subq_log_level level, const char *fmt, ...) SUBQ_PRINTF(3, 4);
int subq_env_verbose(void);

/* Checked arithmetic on sizes: return false on overflow. */
static inline bool subq_mul_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool subq_add_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline bool subq_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool subq_add_size(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
/* a * b, or INT64_MAX when it overflows: for dense-stride defaults, which then
 * fail validation's overflow check instead of holding a wrapped product. */
static inline int64_t subq_sat_mul_i64(int64_t a, int64_t b) {
  int64_t r;
  return subq_mul_i64(a, b, &r) ? r : INT64_MAX;
}

/* 64-byte aligned allocation (NULL on failure or overflow); free with subq_free. */
void *subq_alloc(size_t bytes);
/* The same with a larger power-of-two alignment (e.g. SUBQ_ATOMIC_SLOT for arrays
 * of padded atomics). */
void *subq_alloc_aligned(size_t bytes, size_t align);
void subq_free(void *p);

/* Reads an integer from a sysfs (or cgroup) file; -1 when absent or unreadable. */
long subq_sysfs_long(const char *path);

/* Monotonic clock in nanoseconds. */
uint64_t subq_now_ns(void);

/* Reads the common prefix of an extensible struct: copies min(struct_size,
 * known) bytes of src into dst (already holding defaults) and checks that an
 * unknown tail is zero. `what` names the struct in the error. */
subq_status subq_read_struct(void *dst, size_t known, const void *src, size_t struct_size, size_t min_size,
                             const char *what);

/* The body of every *_default getter: zeroes the caller's struct_size bytes
 * of p, copies the first min(struct_size, known) bytes of the defaults d (a
 * caller built against an older header gets its prefix), then stores
 * struct_size in the leading size_t when it fits. */
void subq_write_defaults(void *p, size_t struct_size, const void *d, size_t known);

#endif /* SUBQ_INTERNAL_H */
