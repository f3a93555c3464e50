/*
 * subq_partition.c — pure mapping of participants onto NUMA nodes and PUs.
 * See internal/subq_partition.h for the rules.
 */
#include "internal/subq_partition.h"

#include <stdlib.h>
#include <string.h>

void subq_partition_free(subq_partition *p) {
  if (!p) return;
  free(p->group_of), free(p->group_node), free(p->group_size);
  free(p->node_of), free(p->pu_of), free(p->nodes_used);
  memset(p, 0, sizeof *p);
}

void subq_partition_item_ranges(const subq_partition *p, int64_t n_items, int64_t *begin, int64_t *end) {
  int64_t b = 0;
  int32_t before = 0;
  for (int32_t g = 0; g < p->n_groups; g++) {
    before += p->group_size[g];
    int64_t e = n_items * before / p->n_participants; /* same rule as the pool */
    begin[g] = b;
    end[g] = e;
    b = e;
  }
}

typedef struct subq_slots {
  int32_t *pu;      /* slot -> topology PU index, grouped by node */
  int32_t *first;   /* [n_nodes + 1] slot range of each node */
  int32_t total;
} subq_slots;

static subq_status subq_build_slots(const subq_topology *t, const subq_partition_request *req, const char *fn,
                                    subq_slots *s) {
  s->pu = calloc((size_t)SUBQ_MAX(t->n_pus, 1), sizeof(int32_t));
  s->first = calloc((size_t)t->n_nodes + 1, sizeof(int32_t));
  bool *core_seen = calloc((size_t)SUBQ_MAX(t->n_cores, 1), sizeof(bool));
  int32_t *count = calloc((size_t)t->n_nodes, sizeof(int32_t));
  if (!s->pu || !s->first || !core_seen || !count) {
    free(core_seen), free(count);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  /* Count per node, then place (PUs are ordered by node in a snapshot, but
   * do not rely on it). */
  for (int pass = 0; pass < 2; pass++) {
    memset(core_seen, 0, (size_t)SUBQ_MAX(t->n_cores, 1) * sizeof(bool));
    if (pass == 1) {
      for (int32_t nd = 0; nd < t->n_nodes; nd++) s->first[nd + 1] = s->first[nd] + count[nd];
      memset(count, 0, (size_t)t->n_nodes * sizeof(int32_t));
    }
    for (int32_t i = 0; i < t->n_pus; i++) {
      const subq_topo_pu *pu = &t->pus[i];
      if (!pu->allowed || (req->pu_usable && !req->pu_usable[i])) continue;
      if (pu->node < 0 || pu->node >= t->n_nodes) continue;
      if (!req->use_smt) {
        if (pu->core >= 0 && pu->core < t->n_cores) {
          if (core_seen[pu->core]) continue;
          core_seen[pu->core] = true;
        }
      }
      if (pass == 1) s->pu[s->first[pu->node] + count[pu->node]] = i;
      count[pu->node]++;
    }
  }
  s->total = s->first[t->n_nodes];
  free(core_seen), free(count);
  return SUBQ_OK;
}

subq_status subq_partition_compute(const subq_topology *t, const subq_partition_request *req, const char *fn,
                                   subq_partition *out) {
  if (!out || !req) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: partition request or output is NULL", fn);
  memset(out, 0, sizeof *out);
  if (!t) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: topology is NULL", fn);
  if (req->n_threads < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_threads (%d) is negative", fn, (int)req->n_threads);
  if ((int)req->numa < SUBQ_NUMA_OFF || (int)req->numa > SUBQ_NUMA_MIRROR)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: numa (%d) is not a subq_numa_mode", fn, (int)req->numa);
  if ((int)req->bind < SUBQ_BIND_NONE || (int)req->bind > SUBQ_BIND_CORE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: bind (%d) is not a subq_bind", fn, (int)req->bind);
  if (req->numa_node < -1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: numa_node (%d) must be -1 or a node index", fn,
                      (int)req->numa_node);
  if (t->n_nodes < 1 || t->n_pus < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: topology is empty", fn);

  subq_slots s = {NULL, NULL, 0};
  int32_t *order = NULL, *counts = NULL;
  subq_status st = subq_build_slots(t, req, fn, &s);
  if (st != SUBQ_OK) goto fail;

  const subq_numa_mode mode = req->numa;
  const bool spread_needed = mode != SUBQ_NUMA_OFF || req->bind != SUBQ_BIND_NONE;
  int32_t caller_node = -1, caller_core = -1;
  if (req->caller_pu >= 0 && req->caller_pu < t->n_pus) {
    caller_node = t->pus[req->caller_pu].node;
    caller_core = t->pus[req->caller_pu].core;
  }
  const int32_t node_slots_of_caller =
      caller_node >= 0 && caller_node < t->n_nodes ? s.first[caller_node + 1] - s.first[caller_node] : 0;

  /* Candidate nodes in use order. */
  order = calloc((size_t)t->n_nodes, sizeof(int32_t));
  counts = calloc((size_t)t->n_nodes, sizeof(int32_t));
  if (!order || !counts) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    goto fail;
  }
  int32_t n_cand = 0;
  if (mode == SUBQ_NUMA_ISOLATE) {
    int32_t target;
    if (req->numa_node >= 0) {
      target = subq_topology_node_of_os(t, req->numa_node);
      if (target < 0) {
        st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: numa_node (%d) is not a NUMA node of the topology (%d nodes)",
                        fn, (int)req->numa_node, (int)t->n_nodes);
        goto fail;
      }
      if (s.first[target + 1] == s.first[target]) {
        st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: numa_node (%d) has no allowed CPU", fn, (int)req->numa_node);
        goto fail;
      }
    } else {
      target = node_slots_of_caller > 0 ? caller_node : -1;
      for (int32_t nd = 0; nd < t->n_nodes && target < 0; nd++)
        if (s.first[nd + 1] > s.first[nd]) target = nd;
      if (target < 0) {
        st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: no allowed CPU in the topology for numa_node (-1)", fn);
        goto fail;
      }
    }
    order[n_cand++] = target;
  } else {
    const int32_t start = node_slots_of_caller > 0 ? caller_node : 0;
    for (int32_t k = 0; k < t->n_nodes; k++) {
      int32_t nd = (start + k) % t->n_nodes;
      if (s.first[nd + 1] > s.first[nd]) order[n_cand++] = nd;
    }
    if (n_cand == 0) {
      if (spread_needed) {
        st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the topology has no allowed CPU for numa/bind placement", fn);
        goto fail;
      }
      /* OFF without binding needs no PU: one group, nodes unknown. */
    }
  }

  /* Default count: the slots placement may use (the ISOLATE node's only). */
  int32_t n = req->n_threads;
  if (n == 0) {
    n = mode == SUBQ_NUMA_ISOLATE ? s.first[order[0] + 1] - s.first[order[0]] : s.total;
    if (req->cpu_quota > 0 && req->cpu_quota < n) n = req->cpu_quota;
    if (n < 1) n = 1;
  }

  /* Participants per used node. */
  int32_t n_use = n_cand == 0 ? 0 : SUBQ_MIN(n, n_cand);
  if (n_use > 0) {
    int64_t total_slots = 0;
    for (int32_t k = 0; k < n_use; k++) total_slots += s.first[order[k] + 1] - s.first[order[k]];
    const int64_t rest = (int64_t)n - n_use;
    int64_t cum = 0, prev = 0;
    for (int32_t k = 0; k < n_use; k++) {
      cum += s.first[order[k] + 1] - s.first[order[k]];
      /* cumulative rounding to nearest: exact shares stay exact, ties favour
       * earlier nodes (the caller's first) */
      int64_t upto = (rest * cum + total_slots / 2) / total_slots;
      counts[k] = 1 + (int32_t)(upto - prev);
      prev = upto;
    }
  }

  out->n_participants = n;
  out->group_of = calloc((size_t)n, sizeof(int32_t));
  out->node_of = calloc((size_t)n, sizeof(int32_t));
  out->pu_of = calloc((size_t)n, sizeof(int32_t));
  out->nodes_used = calloc((size_t)SUBQ_MAX(n_use, 1), sizeof(int32_t));
  const bool one_group = mode == SUBQ_NUMA_OFF || mode == SUBQ_NUMA_ISOLATE || n_use == 0;
  out->n_groups = one_group ? 1 : n_use;
  out->group_node = calloc((size_t)out->n_groups, sizeof(int32_t));
  out->group_size = calloc((size_t)out->n_groups, sizeof(int32_t));
  if (!out->group_of || !out->node_of || !out->pu_of || !out->nodes_used || !out->group_node || !out->group_size) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    goto fail;
  }
  if (req->bind == SUBQ_BIND_CORE)
    out->bind = SUBQ_BINDK_CORE;
  else if (req->bind == SUBQ_BIND_NODE ||
           mode == SUBQ_NUMA_ISOLATE || mode == SUBQ_NUMA_DISTRIBUTE || mode == SUBQ_NUMA_MIRROR)
    out->bind = SUBQ_BINDK_NODE;
  else
    out->bind = SUBQ_BINDK_NONE;

  out->n_nodes_used = n_use;
  if (n_use == 0) {
    for (int32_t p = 0; p < n; p++) out->node_of[p] = -1, out->pu_of[p] = -1;
    out->group_node[0] = -1;
    out->group_size[0] = n;
  } else {
    int32_t p = 0;
    for (int32_t k = 0; k < n_use; k++) {
      const int32_t nd = order[k];
      out->nodes_used[k] = nd;
      const int32_t sb = s.first[nd], ns = s.first[nd + 1] - sb;
      int32_t offset = 0;
      if (nd == caller_node && caller_core >= 0) /* the caller keeps its own core: rank 0 */
        for (int32_t j = 0; j < ns; j++)
          if (t->pus[s.pu[sb + j]].core == caller_core) {
            offset = j;
            break;
          }
      for (int32_t r = 0; r < counts[k]; r++, p++) {
        out->node_of[p] = nd;
        out->group_of[p] = one_group ? 0 : k;
        out->pu_of[p] = out->bind == SUBQ_BINDK_CORE ? s.pu[sb + (offset + r) % ns] : -1;
      }
      if (!one_group) {
        out->group_node[k] = nd;
        out->group_size[k] = counts[k];
      }
    }
    if (one_group) {
      out->group_node[0] = n_use == 1 ? order[0] : -1;
      out->group_size[0] = n;
    }
  }
  free(s.pu), free(s.first), free(order), free(counts);
  return SUBQ_OK;

fail:
  free(s.pu), free(s.first), free(order), free(counts);
  subq_partition_free(out);
  return st;
}
