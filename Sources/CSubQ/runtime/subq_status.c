/* subq_status.c — status strings, the thread-local error message, small utilities. */
#include "internal/subq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char subq_tls_error[512];

const char *subq_status_string(subq_status status) {
  switch (status) {
    case SUBQ_OK: return "ok";
    case SUBQ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SUBQ_ERR_OUT_OF_MEMORY: return "out of memory";
    case SUBQ_ERR_UNSUPPORTED: return "unsupported";
    case SUBQ_ERR_INVALID_STATE: return "invalid state";
    case SUBQ_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case SUBQ_ERR_ABORTED: return "aborted";
    case SUBQ_ERR_SYSTEM: return "system error";
    case SUBQ_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char *subq_last_error_message(void) { return subq_tls_error; }
void subq_clear_last_error(void) { subq_tls_error[0] = 0; }
char *subq_error_buffer(void) { return subq_tls_error; }
void subq_set_error_text(const char *text) { snprintf(subq_tls_error, sizeof subq_tls_error, "%s", text); }

subq_status subq_error(subq_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(subq_tls_error, sizeof subq_tls_error, fmt, ap);
  va_end(ap);
  if (subq_env_verbose() >= 1) subq_log(SUBQ_LOG_ERROR, "%s (%s)", subq_tls_error, subq_status_string(status));
  return status;
}

size_t subq_dtype_size(subq_dtype dtype) {
  switch (dtype) {
    case SUBQ_DTYPE_F32: return 4;
    case SUBQ_DTYPE_BF16: return 2;
    case SUBQ_DTYPE_F16: return 2;
    case SUBQ_DTYPE_I8: return 1;
    case SUBQ_DTYPE_I32: return 4;
  }
  return 0;
}

void *subq_alloc_aligned(size_t bytes, size_t align) {
  size_t rounded;
  if (align < sizeof(void *) || (align & (align - 1))) return NULL;
  if (!subq_add_size(bytes, align - 1, &rounded)) return NULL;
  rounded &= ~(align - 1); /* aligned_alloc wants a multiple of the alignment */
  if (rounded == 0) rounded = align;
  return aligned_alloc(align, rounded);
}

void *subq_alloc(size_t bytes) { return subq_alloc_aligned(bytes, SUBQ_CACHELINE); }
void subq_free(void *p) { free(p); }

uint64_t subq_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

subq_status subq_read_struct(void *dst, size_t known, const void *src, size_t struct_size, size_t min_size,
                             const char *what) {
  if (struct_size < min_size)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "%s: struct_size %zu is smaller than the oldest layout (%zu); initialise it with the defaults getter",
                      what, struct_size, min_size);
  if (struct_size > known) {
    const unsigned char *tail = (const unsigned char *)src + known;
    for (size_t i = 0; i < struct_size - known; i++)
      if (tail[i])
        return subq_error(SUBQ_ERR_UNSUPPORTED,
                          "%s: struct_size %zu is newer than this library (%zu) and sets fields it does not know", what,
                          struct_size, known);
  }
  memcpy(dst, src, SUBQ_MIN(struct_size, known));
  /* keep the library's own size so later reads see the whole struct */
  memcpy(dst, &known, sizeof known);
  return SUBQ_OK;
}

void subq_write_defaults(void *p, size_t struct_size, const void *d, size_t known) {
  memset(p, 0, struct_size);
  if (d) memcpy(p, d, SUBQ_MIN(struct_size, known));
  if (struct_size >= sizeof(size_t)) memcpy(p, &struct_size, sizeof struct_size);
}
