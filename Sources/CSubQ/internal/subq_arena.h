/*
 * subq_arena.h — node-local arenas (spec §1.8): one anonymous mmap per
 * (node, purpose), 2 MiB aligned, optionally MADV_HUGEPAGE, bound to its node
 * before anything touches it, sub-allocated by bumping a 64-byte aligned
 * offset. The memory is never written here: its owners touch (zero) it from
 * a pool job so each page lands on the owner's node.
 *
 * Under AddressSanitizer every sub-allocation is a separate aligned heap
 * block instead, so ASan sees overflows between neighbours.
 */
#ifndef SUBQ_ARENA_H
#define SUBQ_ARENA_H

#include "subq_internal.h"

typedef struct subq_arena subq_arena;

#define SUBQ_ARENA_ALIGN ((size_t)2 << 20) /* 2 MiB: ranges of two nodes never share a huge page */
#define SUBQ_ARENA_HUGEPAGE 0x1u           /* madvise(MADV_HUGEPAGE) where available */

/* Binds [addr, addr + len) to topology node `node` (a placement backend);
 * returns SUBQ_OK or a status after subq_error. */
typedef subq_status (*subq_arena_bind_fn)(void *bind_ctx, void *addr, size_t len, int32_t node);

/* Reserves `capacity` bytes (rounded up to 2 MiB) for `purpose` (static text,
 * e.g. "scratch"). node < 0 or bind == NULL: no binding (first touch decides).
 * Errors: SUBQ_ERR_INVALID_ARGUMENT (capacity 0 or overflowing),
 * SUBQ_ERR_OUT_OF_MEMORY (mmap failed), the bind function's status. */
subq_status subq_arena_create(size_t capacity, int32_t node, uint32_t flags, subq_arena_bind_fn bind,
                              void *bind_ctx, const char *purpose, subq_arena **out);
/* 64-byte aligned block of `bytes` (> 0), untouched; NULL when the arena is
 * full or on overflow. Not thread-safe: allocate from one thread. */
void *subq_arena_alloc(subq_arena *a, size_t bytes);
/* Unmaps (or frees) everything; NULL is a no-op. */
void subq_arena_destroy(subq_arena *a);
int32_t subq_arena_node(const subq_arena *a);
size_t subq_arena_capacity(const subq_arena *a);
/* Whether this build sub-allocates from the heap (AddressSanitizer). */
bool subq_arena_uses_heap(void);

/* OS NUMA node backing the page that holds addr (the page must have been
 * touched); -1 when unknown (page not present, no kernel support).
 * move_pages(2) with nodes = NULL, falling back to get_mempolicy(2). */
int32_t subq_memory_node_of(const void *addr);

#endif /* SUBQ_ARENA_H */
