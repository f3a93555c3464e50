/*
 * subq_placement.c — participants over NUMA nodes and worker binding.
 * One node, no binding: every participant on node 0.
 */
#include "internal/subq_context_internal.h"

#include <stdio.h>
#include <stdlib.h>

subq_status subq_placement_setup(subq_context *ctx, subq_pool_layout *layout) {
  const subq_context_params *p = &ctx->params;
  if (p->numa != SUBQ_NUMA_OFF && p->numa != SUBQ_NUMA_INHERIT)
    return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_context_create: numa mode %d needs the NUMA placement layer, which this build lacks",
                      (int)p->numa);
  if (p->bind != SUBQ_BIND_NONE)
    return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_context_create: bind %d needs the NUMA placement layer, which this build lacks",
                      (int)p->bind);
  ctx->n_nodes = 1;
  ctx->node_of = calloc((size_t)ctx->n_threads, sizeof(int32_t));
  if (!ctx->node_of) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_context_create: out of memory");
  layout->n_participants = ctx->n_threads;
  layout->n_nodes = 1;
  layout->node_of = ctx->node_of;
  layout->bind_worker = NULL;
  layout->bind_ctx = NULL;
  return SUBQ_OK;
}

void subq_placement_teardown(subq_context *ctx) {
  free(ctx->node_of);
  ctx->node_of = NULL;
}

size_t subq_placement_describe(const subq_context *ctx, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "nodes=%d", (int)ctx->n_nodes);
  return n < 0 ? 0 : (size_t)n;
}
