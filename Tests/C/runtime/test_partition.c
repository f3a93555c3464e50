/*
 * test_partition.c — the pure participant→node/PU mapping, table-driven over
 * the synthetic fixtures of spec §1.10 and the asymmetric XML fixture
 * (unequal nodes, a memory-only node, disallowed CPUs). Invariants: items
 * assigned once, contiguous node ranges and per-node blocks, no disallowed
 * PU, SMT siblings skipped by default, ISOLATE honours the node, DISTRIBUTE
 * on one node equals OFF, 2 threads on 4 nodes use 2 nodes.
 * Skips (and says so) when built without hwloc.
 */
#include <string.h>

#include "internal/subq_partition.h"
#include "support/subq_test.h"

static const char *const fixtures[] = {
    "pack:2 [numa] core:8 pu:2", "pack:2 numa:2 core:4 pu:1", "pack:1 numa:4 core:8 pu:2",
    "pack:2 [numa] l3:4 core:4 pu:2", "pack:4 [numa] core:16 pu:2",
};
#define N_FIXTURES ((int)(sizeof fixtures / sizeof fixtures[0]))

static void fixture_path(const char *name, char *buf, size_t cap) {
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  size_t dir = slash ? (size_t)(slash - file) : 0;
  snprintf(buf, cap, "%.*s/../topologies/%s", (int)dir, slash ? file : ".", name);
}

/* Node indices with at least one usable PU. */
static int nodes_with_cpus(const subq_topology *t) {
  int n = 0;
  for (int32_t nd = 0; nd < t->n_nodes; nd++) {
    bool any = false;
    for (int32_t i = 0; i < t->n_pus; i++) any |= t->pus[i].node == nd && t->pus[i].allowed;
    n += any;
  }
  return n;
}

/* Slots of a node: allowed cores (first allowed PU each) or allowed PUs. */
static int node_slots(const subq_topology *t, int32_t nd, bool smt) {
  int n = 0;
  for (int32_t i = 0; i < t->n_pus; i++) {
    if (t->pus[i].node != nd || !t->pus[i].allowed) continue;
    bool first = true;
    for (int32_t j = 0; j < i && !smt; j++) first &= !(t->pus[j].allowed && t->pus[j].core == t->pus[i].core);
    n += first;
  }
  return n;
}

static void check_invariants(const subq_topology *t, const subq_partition_request *rq, const subq_partition *p,
                             const char *what) {
  const int32_t n = p->n_participants;
  CHECK_MSG(n >= 1, "%s: no participant", what);
  if (rq->n_threads > 0) CHECK_MSG(n == rq->n_threads, "%s: %d participants", what, (int)n);
  /* contiguous group blocks starting at group 0 */
  int bad = 0;
  for (int32_t i = 0; i < n; i++) {
    if (p->group_of[i] < 0 || p->group_of[i] >= p->n_groups) bad++;
    if (i > 0 && p->group_of[i] != p->group_of[i - 1] && p->group_of[i] != p->group_of[i - 1] + 1) bad++;
  }
  CHECK_MSG(bad == 0 && p->group_of[0] == 0 && p->group_of[n - 1] == p->n_groups - 1, "%s: groups not contiguous",
            what);
  int32_t sum = 0;
  for (int32_t g = 0; g < p->n_groups; g++) {
    int32_t c = 0;
    for (int32_t i = 0; i < n; i++) c += p->group_of[i] == g;
    CHECK_MSG(c == p->group_size[g] && c > 0, "%s: group %d has %d participants, size says %d", what, (int)g, (int)c,
              (int)p->group_size[g]);
    sum += p->group_size[g];
  }
  CHECK_MSG(sum == n, "%s: group sizes add to %d of %d", what, (int)sum, (int)n);
  /* contiguous per-node blocks: a node never comes back */
  bad = 0;
  for (int32_t i = 1; i < n; i++)
    if (p->node_of[i] != p->node_of[i - 1])
      for (int32_t j = 0; j < i; j++) bad += p->node_of[j] == p->node_of[i];
  CHECK_MSG(bad == 0, "%s: a node's participants are not one block", what);
  CHECK_MSG(p->n_nodes_used >= 1 && p->nodes_used[0] == p->node_of[0], "%s: participant 0 not on the first node",
            what);
  /* PUs */
  if (p->bind == SUBQ_BINDK_CORE) {
    bad = 0;
    int not_first = 0, dup = 0;
    for (int32_t i = 0; i < n; i++) {
      int32_t pu = p->pu_of[i];
      if (pu < 0 || pu >= t->n_pus || !t->pus[pu].allowed || t->pus[pu].node != p->node_of[i]) {
        bad++;
        continue;
      }
      if (rq->pu_usable && !rq->pu_usable[pu]) bad++;
      if (!rq->use_smt)
        for (int32_t j = 0; j < pu; j++)
          not_first += t->pus[j].allowed && (!rq->pu_usable || rq->pu_usable[j]) && t->pus[j].core == t->pus[pu].core;
      /* within a node with enough slots, never two participants on one slot/core */
      int32_t cnt = 0;
      for (int32_t j = 0; j < n; j++) cnt += p->node_of[j] == p->node_of[i];
      if (!rq->pu_usable && cnt <= node_slots(t, p->node_of[i], rq->use_smt))
        for (int32_t j = 0; j < i; j++)
          if (p->node_of[j] == p->node_of[i] &&
              (rq->use_smt ? p->pu_of[j] == pu : t->pus[p->pu_of[j]].core == t->pus[pu].core))
            dup++;
    }
    CHECK_MSG(bad == 0, "%s: %d participants on a disallowed / foreign PU", what, bad);
    CHECK_MSG(not_first == 0, "%s: %d participants on an SMT sibling instead of the core's first PU", what, not_first);
    CHECK_MSG(dup == 0, "%s: %d participants share a core although the node has enough", what, dup);
  } else {
    bad = 0;
    for (int32_t i = 0; i < n; i++) bad += p->pu_of[i] != -1;
    CHECK_MSG(bad == 0, "%s: PUs assigned without BIND_CORE", what);
  }
  /* items: every item once, contiguous ranges per group, proportional */
  const int64_t item_counts[] = {0, 1, 7, 100, 1001};
  for (size_t k = 0; k < sizeof item_counts / sizeof item_counts[0]; k++) {
    int64_t b[256], e[256];
    if (p->n_groups > 256) break;
    subq_partition_item_ranges(p, item_counts[k], b, e);
    bad = 0;
    int64_t at = 0;
    for (int32_t g = 0; g < p->n_groups; g++) {
      if (b[g] != at || e[g] < b[g]) bad++;
      int64_t want_lo = item_counts[k] * (int64_t)p->group_size[g] / n - 1;
      if (e[g] - b[g] < want_lo) bad++;
      at = e[g];
    }
    CHECK_MSG(bad == 0 && at == item_counts[k], "%s: item ranges of %lld items broken", what, (long long)item_counts[k]);
  }
  /* modes */
  const int cand = nodes_with_cpus(t);
  if (rq->numa == SUBQ_NUMA_ISOLATE) {
    CHECK_MSG(p->n_groups == 1 && p->n_nodes_used == 1, "%s: ISOLATE uses %d nodes", what, (int)p->n_nodes_used);
    if (rq->numa_node >= 0)
      CHECK_MSG(t->node_os_index[p->nodes_used[0]] == rq->numa_node, "%s: ISOLATE on node %d, asked %d", what,
                (int)t->node_os_index[p->nodes_used[0]], (int)rq->numa_node);
    CHECK_MSG(p->bind != SUBQ_BINDK_NONE, "%s: ISOLATE without binding", what);
  } else if (!rq->pu_usable) {
    int want = SUBQ_MIN((int)n, cand);
    CHECK_MSG(p->n_nodes_used == want, "%s: %d nodes used, want %d", what, (int)p->n_nodes_used, want);
    if (rq->numa == SUBQ_NUMA_OFF) CHECK_MSG(p->n_groups == 1, "%s: OFF has %d groups", what, (int)p->n_groups);
    else CHECK_MSG(p->n_groups == want, "%s: %d groups, want %d", what, (int)p->n_groups, want);
  }
  if (rq->numa == SUBQ_NUMA_OFF || rq->numa == SUBQ_NUMA_INHERIT)
    CHECK_MSG(p->bind == (subq_bind_kind)rq->bind, "%s: binding %d without a request", what, (int)p->bind);
}

static subq_partition_request base_req(int n, subq_numa_mode m, subq_bind b) {
  subq_partition_request r;
  memset(&r, 0, sizeof r);
  r.n_threads = n;
  r.numa = m;
  r.numa_node = -1;
  r.bind = b;
  r.caller_pu = -1;
  return r;
}

static void run_table(const subq_topology *t, const char *name) {
  const int threads[] = {1, 2, 3, 5, 8, 16, 0};
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++)
    for (int b = SUBQ_BIND_NONE; b <= SUBQ_BIND_CORE; b++)
      for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++)
        for (int smt = 0; smt < 2; smt++) {
          subq_partition_request rq = base_req(threads[k], (subq_numa_mode)m, (subq_bind)b);
          rq.use_smt = smt;
          subq_partition p;
          char what[160];
          snprintf(what, sizeof what, "%s numa=%d bind=%d n=%d smt=%d", name, m, b, threads[k], smt);
          subq_status st = subq_partition_compute(t, &rq, "test", &p);
          CHECK_MSG(st == SUBQ_OK, "%s: %s", what, subq_last_error_message());
          if (st != SUBQ_OK) continue;
          check_invariants(t, &rq, &p, what);
          if (threads[k] == 0) {
            int slots = 0;
            for (int32_t nd = 0; nd < t->n_nodes; nd++)
              if (m != SUBQ_NUMA_ISOLATE || nd == p.nodes_used[0]) slots += node_slots(t, nd, smt);
            CHECK_MSG(p.n_participants == slots, "%s: default count %d, want %d", what, (int)p.n_participants, slots);
          }
          subq_partition_free(&p);
        }
}

/* Every node by OS index under ISOLATE; the caller's node wins for -1. */
static void check_isolate_each_node(const subq_topology *t, const char *name) {
  for (int32_t nd = 0; nd < t->n_nodes; nd++) {
    if (node_slots(t, nd, false) == 0) continue;
    subq_partition_request rq = base_req(4, SUBQ_NUMA_ISOLATE, SUBQ_BIND_CORE);
    rq.numa_node = t->node_os_index[nd];
    subq_partition p;
    char what[160];
    snprintf(what, sizeof what, "%s isolate node %d", name, (int)rq.numa_node);
    CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
    check_invariants(t, &rq, &p, what);
    subq_partition_free(&p);
    /* caller on the last PU of this node: numa_node -1 picks its node, the
     * caller keeps its core, DISTRIBUTE starts there */
    int32_t last = -1;
    for (int32_t i = 0; i < t->n_pus; i++)
      if (t->pus[i].node == nd && t->pus[i].allowed) last = i;
    rq.numa_node = -1;
    rq.caller_pu = last;
    CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
    CHECK_MSG(p.nodes_used[0] == nd, "%s: caller's node not chosen", what);
    CHECK_MSG(t->pus[p.pu_of[0]].core == t->pus[last].core, "%s: caller does not keep its core", what);
    subq_partition_free(&p);
    rq.numa = SUBQ_NUMA_DISTRIBUTE;
    CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
    CHECK_MSG(p.group_node[0] == nd && p.node_of[0] == nd, "%s: DISTRIBUTE does not start on the caller's node", what);
    check_invariants(t, &rq, &p, what);
    subq_partition_free(&p);
  }
}

int main(void) {
  subq_topology *probe = NULL;
  subq_status pst = subq_topology_create_synthetic("pack:1 core:1 pu:1", &probe);
  subq_topology_release(probe);
  if (pst == SUBQ_ERR_UNSUPPORTED) {
    printf("test_partition: built without hwloc: synthetic/XML fixtures skipped\n");
  } else {
    for (int f = 0; f < N_FIXTURES; f++) {
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_synthetic(fixtures[f], &t));
      if (!t) continue;
      run_table(t, fixtures[f]);
      check_isolate_each_node(t, fixtures[f]);
      /* SMT siblings skipped by default: one participant per core */
      if (t->n_pus > t->n_cores) {
        subq_partition_request rq = base_req(t->n_cores, SUBQ_NUMA_OFF, SUBQ_BIND_CORE);
        subq_partition p;
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        int dup = 0;
        for (int32_t i = 0; i < p.n_participants; i++)
          for (int32_t j = 0; j < i; j++) dup += t->pus[p.pu_of[i]].core == t->pus[p.pu_of[j]].core;
        CHECK_MSG(dup == 0, "%s: %d SMT siblings used", fixtures[f], dup);
        subq_partition_free(&p);
      }
      subq_topology_release(t);
    }

    /* 2 threads on 4 nodes use 2 nodes */
    const char *four[] = {"pack:2 numa:2 core:4 pu:1", "pack:1 numa:4 core:8 pu:2", "pack:4 [numa] core:16 pu:2"};
    for (int f = 0; f < 3; f++) {
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_synthetic(four[f], &t));
      subq_partition_request rq = base_req(2, SUBQ_NUMA_DISTRIBUTE, SUBQ_BIND_NONE);
      subq_partition p;
      CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
      CHECK_MSG(p.n_nodes_used == 2 && p.n_groups == 2 && p.group_size[0] == 1 && p.group_size[1] == 1,
                "%s: 2 threads use %d nodes", four[f], (int)p.n_nodes_used);
      subq_partition_free(&p);
      /* 8 threads on 4 equal nodes: 2 each */
      rq.n_threads = 8;
      CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
      CHECK(p.n_groups == 4);
      for (int g = 0; g < p.n_groups; g++) CHECK(p.group_size[g] == 2);
      subq_partition_free(&p);
      subq_topology_release(t);
    }

    /* DISTRIBUTE on one node == OFF (groups and items) */
    {
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_synthetic("pack:1 core:4 pu:2", &t));
      for (int n = 1; n <= 9; n++) {
        subq_partition_request r1 = base_req(n, SUBQ_NUMA_DISTRIBUTE, SUBQ_BIND_NONE);
        subq_partition_request r0 = base_req(n, SUBQ_NUMA_OFF, SUBQ_BIND_NONE);
        subq_partition a, b;
        CHECK_OK(subq_partition_compute(t, &r1, "test", &a));
        CHECK_OK(subq_partition_compute(t, &r0, "test", &b));
        CHECK(a.n_groups == 1 && b.n_groups == 1);
        CHECK(!memcmp(a.group_of, b.group_of, (size_t)n * sizeof(int32_t)));
        CHECK(a.bind == SUBQ_BINDK_NODE && b.bind == SUBQ_BINDK_NONE); /* only the implied pinning differs */
        subq_partition_free(&a);
        subq_partition_free(&b);
      }
      subq_topology_release(t);
    }

    /* The asymmetric XML fixture */
    {
      char path[1024];
      fixture_path("asym_memonly_disallowed.xml", path, sizeof path);
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_xml(path, &t));
      if (t) {
        run_table(t, "asym.xml");
        check_isolate_each_node(t, "asym.xml");
        subq_partition p;
        /* proportional to slots 3:1 */
        subq_partition_request rq = base_req(8, SUBQ_NUMA_DISTRIBUTE, SUBQ_BIND_CORE);
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_groups == 2 && p.group_size[0] == 6 && p.group_size[1] == 2);
        CHECK(t->node_os_index[p.group_node[0]] == 0 && t->node_os_index[p.group_node[1]] == 2);
        /* core 2's first PU (OS 4) is disallowed: its slot is OS 5 */
        CHECK(t->pus[p.pu_of[0]].os_index == 0 && t->pus[p.pu_of[1]].os_index == 5 &&
              t->pus[p.pu_of[2]].os_index == 6 && t->pus[p.pu_of[3]].os_index == 0);
        subq_partition_free(&p);
        /* memory-only node and unknown nodes */
        rq = base_req(2, SUBQ_NUMA_ISOLATE, SUBQ_BIND_NONE);
        rq.numa_node = 5;
        CHECK_STATUS(subq_partition_compute(t, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                     "numa_node (5) has no allowed CPU");
        rq.numa_node = 7;
        CHECK_STATUS(subq_partition_compute(t, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                     "numa_node (7) is not a NUMA node");
        rq.numa_node = 2;
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_nodes_used == 1 && t->node_os_index[p.node_of[1]] == 2);
        subq_partition_free(&p);
        /* an inherited mask that excludes node OS 0: INHERIT uses node 2 only */
        bool usable[16] = {false};
        for (int32_t i = 0; i < t->n_pus && i < 16; i++) usable[i] = t->node_os_index[t->pus[i].node] == 2;
        rq = base_req(3, SUBQ_NUMA_INHERIT, SUBQ_BIND_CORE);
        rq.pu_usable = usable;
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_nodes_used == 1 && t->node_os_index[p.nodes_used[0]] == 2 && p.n_groups == 1);
        check_invariants(t, &rq, &p, "asym inherit mask");
        for (int32_t i = 0; i < p.n_participants; i++) CHECK(usable[p.pu_of[i]]);
        subq_partition_free(&p);
        /* default count: allowed cores (4), PUs with SMT (6), quota cap */
        rq = base_req(0, SUBQ_NUMA_OFF, SUBQ_BIND_NONE);
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_participants == 4);
        subq_partition_free(&p);
        rq.use_smt = true;
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_participants == 6);
        subq_partition_free(&p);
        rq.cpu_quota = 3;
        CHECK_OK(subq_partition_compute(t, &rq, "test", &p));
        CHECK(p.n_participants == 3);
        subq_partition_free(&p);
        subq_topology_release(t);
      }
    }
  }

  /* The real topology: one node on the dev boxes; every mode is OFF plus pinning. */
  subq_topology *host = NULL;
  CHECK_OK(subq_topology_create(&host));
  if (host) {
    run_table(host, host->source);
    subq_partition_free(NULL);
    subq_partition p;
    subq_partition_request rq = base_req(-1, SUBQ_NUMA_OFF, SUBQ_BIND_NONE);
    CHECK_STATUS(subq_partition_compute(host, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                 "n_threads (-1)");
    rq = base_req(1, (subq_numa_mode)9, SUBQ_BIND_NONE);
    CHECK_STATUS(subq_partition_compute(host, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT, "numa (9)");
    rq = base_req(1, SUBQ_NUMA_OFF, (subq_bind)5);
    CHECK_STATUS(subq_partition_compute(host, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT, "bind (5)");
    rq = base_req(1, SUBQ_NUMA_ISOLATE, SUBQ_BIND_NONE);
    rq.numa_node = -2;
    CHECK_STATUS(subq_partition_compute(host, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                 "numa_node (-2)");
    rq.numa_node = 4000;
    CHECK_STATUS(subq_partition_compute(host, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                 "numa_node (4000) is not a NUMA node");
    CHECK_STATUS(subq_partition_compute(NULL, &rq, "subq_context_create", &p), SUBQ_ERR_INVALID_ARGUMENT,
                 "topology is NULL");
    subq_topology_release(host);
  }
  return subq_test_finish("test_partition");
}
