/*
 * subq_kvcache.h — the KV cache object (internal layout; public API in
 * subq/subq_fattn.h). Shared by subq_kvcache.c (lifecycle, append) and the
 * attention driver (subq_fattn.c), which reads it in place.
 */
#ifndef SUBQ_KVCACHE_H
#define SUBQ_KVCACHE_H

#include "internal/subq_internal.h"
#include "subq/subq_fattn.h"

struct subq_kv_cache {
  subq_dtype dtype;
  int32_t mode;            /* SUBQ_KV_LINEAR or SUBQ_KV_RING */
  int64_t batch, hkv, dk, dv, capacity;
  size_t es;               /* bytes per element */
  void *k, *v;             /* [B][Hkv][capacity][dk] and [..][dv], zero-filled */
  int64_t *first, *end;    /* per sequence: positions [first, end) are held */
};

/* Slot of absolute position p. */
static inline int64_t subq_kv_slot(const subq_kv_cache *c, int64_t p) {
  return c->mode == SUBQ_KV_RING ? p % c->capacity : p;
}

#endif
