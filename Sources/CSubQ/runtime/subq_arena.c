/*
 * subq_arena.c — node-local arenas: reserve (mmap, 2 MiB aligned), bind,
 * sub-allocate; the owners touch. See internal/subq_arena.h.
 */
#include "internal/subq_arena.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SUBQ_ARENA_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SUBQ_ARENA_HEAP 1
#endif
#endif
#ifndef SUBQ_ARENA_HEAP
#define SUBQ_ARENA_HEAP 0
#endif

struct subq_arena {
  unsigned char *base;   /* 2 MiB aligned start (mmap mode) */
  size_t capacity;       /* usable bytes */
  size_t used;
  int32_t node;
  const char *purpose;
  /* heap mode: every block, for destroy */
  void **blocks;
  size_t n_blocks, cap_blocks;
};

bool subq_arena_uses_heap(void) { return SUBQ_ARENA_HEAP != 0; }

subq_status subq_arena_create(size_t capacity, int32_t node, uint32_t flags, subq_arena_bind_fn bind,
                              void *bind_ctx, const char *purpose, subq_arena **out) {
  const char *what = purpose ? purpose : "arena";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s arena: out is NULL", what);
  if (capacity == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s arena: capacity is 0", what);
  size_t rounded;
  if (!subq_add_size(capacity, SUBQ_ARENA_ALIGN - 1, &rounded))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s arena: capacity (%zu bytes) overflows", what, capacity);
  rounded &= ~(SUBQ_ARENA_ALIGN - 1);
  subq_arena *a = calloc(1, sizeof *a);
  if (!a) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s arena: out of memory", what);
  a->capacity = rounded;
  a->node = node;
  a->purpose = what;
  if (!SUBQ_ARENA_HEAP) {
    size_t span;
    if (!subq_add_size(rounded, SUBQ_ARENA_ALIGN, &span)) {
      free(a);
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s arena: capacity (%zu bytes) overflows", what, capacity);
    }
    /* Over-reserve by 2 MiB, then trim head and tail to an aligned window. */
    void *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      int e = errno;
      free(a);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s arena: mmap of %zu bytes failed: %s", what, span, strerror(e));
    }
    uintptr_t start = ((uintptr_t)raw + SUBQ_ARENA_ALIGN - 1) & ~(uintptr_t)(SUBQ_ARENA_ALIGN - 1);
    size_t head = (size_t)(start - (uintptr_t)raw), tail = span - head - rounded;
    if (head) munmap(raw, head);
    if (tail) munmap((unsigned char *)start + rounded, tail);
    a->base = (unsigned char *)start;
#if defined(MADV_HUGEPAGE)
    if (flags & SUBQ_ARENA_HUGEPAGE) (void)madvise(a->base, rounded, MADV_HUGEPAGE); /* advice only */
#else
    (void)flags;
#endif
    if (bind && node >= 0) {
      subq_status st = bind(bind_ctx, a->base, rounded, node);
      if (st != SUBQ_OK) {
        munmap(a->base, rounded);
        free(a);
        return st;
      }
    }
  } else {
    (void)flags;
    /* Heap mode still reports the intended binding (recording backends log it). */
    if (bind && node >= 0) {
      subq_status st = bind(bind_ctx, NULL, rounded, node);
      if (st != SUBQ_OK) {
        free(a);
        return st;
      }
    }
  }
  *out = a;
  return SUBQ_OK;
}

void *subq_arena_alloc(subq_arena *a, size_t bytes) {
  if (!a || bytes == 0) return NULL;
  size_t need;
  if (!subq_add_size(bytes, SUBQ_CACHELINE - 1, &need)) return NULL;
  need &= ~(size_t)(SUBQ_CACHELINE - 1);
  if (need > a->capacity - a->used) return NULL;
  if (SUBQ_ARENA_HEAP) {
    if (a->n_blocks == a->cap_blocks) {
      size_t cap = a->cap_blocks ? 2 * a->cap_blocks : 8;
      void **nb = realloc(a->blocks, cap * sizeof *nb);
      if (!nb) return NULL;
      a->blocks = nb;
      a->cap_blocks = cap;
    }
    void *p = aligned_alloc(SUBQ_CACHELINE, need);
    if (!p) return NULL;
    a->blocks[a->n_blocks++] = p;
    a->used += need;
    return p;
  }
  void *p = a->base + a->used;
  a->used += need;
  return p;
}

void subq_arena_destroy(subq_arena *a) {
  if (!a) return;
  if (a->base) munmap(a->base, a->capacity);
  for (size_t i = 0; i < a->n_blocks; i++) free(a->blocks[i]);
  free(a->blocks);
  free(a);
}

int32_t subq_arena_node(const subq_arena *a) { return a ? a->node : -1; }
size_t subq_arena_capacity(const subq_arena *a) { return a ? a->capacity : 0; }

int32_t subq_memory_node_of(const void *addr) {
#if defined(__linux__) && defined(SYS_move_pages)
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  void *pg = (void *)((uintptr_t)addr & ~((uintptr_t)page - 1));
  int status = -1;
  if (syscall(SYS_move_pages, 0, 1UL, &pg, NULL, &status, 0) == 0 && status >= 0) return status;
#if defined(SYS_get_mempolicy)
  int node = -1;
  /* MPOL_F_NODE | MPOL_F_ADDR: the node of the page at addr */
  if (syscall(SYS_get_mempolicy, &node, NULL, 0UL, addr, 3UL) == 0 && node >= 0) return node;
#endif
  return -1;
#else
  (void)addr;
  return -1;
#endif
}
