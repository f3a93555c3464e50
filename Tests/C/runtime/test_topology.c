/*
 * test_topology.c — topology discovery: this machine (hwloc or sysfs), the
 * synthetic fixtures of spec §1.10, the asymmetric XML fixture, refcounts,
 * describe, and invalid input. Synthetic/XML parts are skipped (with a line
 * saying so) when built without hwloc.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal/subq_topology_internal.h"
#include "support/subq_test.h"

/* NULL through a volatile, so clang's -Wnonnull does not flag deliberate misuse. */
static void *volatile null_ptr;
#define NULLP ((void *)null_ptr)

static void fixture_path(const char *name, char *buf, size_t cap) {
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  size_t dir = slash ? (size_t)(slash - file) : 0;
  snprintf(buf, cap, "%.*s/../topologies/%s", (int)dir, slash ? file : ".", name);
}

typedef struct fixture {
  const char *desc;
  int packages, nodes, cores, pus;
} fixture;

static const fixture fixtures[] = {
    {"pack:2 [numa] core:8 pu:2", 2, 2, 16, 32},   {"pack:2 numa:2 core:4 pu:1", 2, 4, 16, 16},
    {"pack:1 numa:4 core:8 pu:2", 1, 4, 32, 64},   {"pack:2 [numa] l3:4 core:4 pu:2", 2, 2, 32, 64},
    {"pack:4 [numa] core:16 pu:2", 4, 4, 64, 128},
};

/* Structural invariants of any snapshot. */
static void check_structure(const subq_topology *t, const char *what) {
  int bad_order = 0, bad_core = 0, bad_node = 0, dup_os = 0;
  for (int32_t i = 0; i < t->n_pus; i++) {
    const subq_topo_pu *p = &t->pus[i];
    if (p->node < 0 || p->node >= t->n_nodes || p->core < 0 || p->core >= t->n_cores) bad_node++;
    if (i > 0 && p->node < t->pus[i - 1].node) bad_order++;
    for (int32_t j = 0; j < i; j++) {
      if (t->pus[j].core == p->core && (t->pus[j].node != p->node || t->pus[j].package != p->package)) bad_core++;
      if (t->pus[j].os_index == p->os_index) dup_os++;
    }
  }
  CHECK_MSG(bad_node == 0, "%s: %d PUs with an out-of-range node/core", what, bad_node);
  CHECK_MSG(bad_order == 0, "%s: PUs not ordered by node", what);
  CHECK_MSG(bad_core == 0, "%s: a core spans nodes or packages", what);
  CHECK_MSG(dup_os == 0, "%s: duplicate PU OS indices", what);
  int dup_node = 0;
  for (int32_t i = 0; i < t->n_nodes; i++)
    for (int32_t j = 0; j < i; j++) dup_node += t->node_os_index[i] == t->node_os_index[j];
  CHECK_MSG(dup_node == 0, "%s: duplicate node OS indices", what);
}

static void check_host(void) {
  cpu_set_t before, after;
  CPU_ZERO(&before);
  CPU_ZERO(&after);
  CHECK(sched_getaffinity(0, sizeof before, &before) == 0);
  subq_topology *t = NULL;
  CHECK_OK(subq_topology_create(&t));
  CHECK(sched_getaffinity(0, sizeof after, &after) == 0);
  CHECK_MSG(CPU_EQUAL(&before, &after), "topology discovery changed the caller's affinity");
  if (!t) return;
  check_structure(t, "host");
  CHECK(subq_topology_num_nodes(t) >= 1);
  CHECK(subq_topology_num_cores(t) >= 1);
  CHECK(subq_topology_num_pus(t) >= subq_topology_num_cores(t));
  const bool env_route = getenv("HWLOC_SYNTHETIC") || getenv("HWLOC_XMLFILE");
  if (!env_route) {
    CHECK_MSG(t->is_this_system, "host topology (%s) is not this system", t->source);
    CHECK_MSG(!strcmp(t->source, "hwloc") || !strcmp(t->source, "sysfs"), "source %s", t->source);
    /* allowed PUs = the CPUs of our affinity mask */
    int allowed = 0, in_mask = 0;
    for (int32_t i = 0; i < t->n_pus; i++) {
      allowed += t->pus[i].allowed;
      in_mask += t->pus[i].allowed && t->pus[i].os_index < CPU_SETSIZE && CPU_ISSET(t->pus[i].os_index, &before);
    }
    CHECK_MSG(allowed == CPU_COUNT(&before) && in_mask == allowed, "allowed PUs %d, affinity mask %d", allowed,
              CPU_COUNT(&before));
  } else {
    CHECK_MSG(!t->is_this_system, "HWLOC_SYNTHETIC/HWLOC_XMLFILE topology claims to be this system");
  }
  char buf[256];
  size_t need = subq_topology_describe(t, NULL, 0);
  CHECK(need > 0 && subq_topology_describe(t, buf, sizeof buf) == need);
  CHECK(strstr(buf, "source=") != NULL);
  char small[8];
  CHECK(subq_topology_describe(t, small, sizeof small) == need && strlen(small) == sizeof small - 1);
  /* refcount */
  CHECK(subq_topology_retain(t) == t);
  subq_topology_release(t);
  CHECK(subq_topology_num_pus(t) >= 1); /* still alive */
  subq_topology_release(t);
  subq_topology_release(NULL);
  CHECK(subq_topology_num_nodes(NULLP) == 0 && subq_topology_num_cores(NULLP) == 0 && subq_topology_num_pus(NULLP) == 0);
  CHECK(subq_topology_cache_size(NULLP, 1) == 0);
  CHECK(subq_topology_describe(NULLP, buf, sizeof buf) == 0);
  /* the process-wide cached topology */
  const subq_topology *h = subq_host_topology();
  CHECK(h != NULL && h == subq_host_topology());
}

int main(void) {
  check_host();
  CHECK_STATUS(subq_topology_create(NULLP), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  subq_topology *t = NULL;
  CHECK_STATUS(subq_topology_create_synthetic(NULLP, &t), SUBQ_ERR_INVALID_ARGUMENT, "description is NULL");
  CHECK_STATUS(subq_topology_create_synthetic("pack:2 core:2", NULLP), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_topology_create_xml(NULLP, &t), SUBQ_ERR_INVALID_ARGUMENT, "path is NULL");
  CHECK_STATUS(subq_topology_create_xml("x.xml", NULLP), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");

  subq_status probe = subq_topology_create_synthetic("pack:1 core:1 pu:1", &t);
  subq_topology_release(t);
  t = NULL;
  if (probe == SUBQ_ERR_UNSUPPORTED) {
    CHECK(strstr(subq_last_error_message(), "no hwloc") != NULL);
    CHECK_STATUS(subq_topology_create_xml("x.xml", &t), SUBQ_ERR_UNSUPPORTED, "no hwloc");
    printf("test_topology: built without hwloc: synthetic/XML topologies skipped\n");
    return subq_test_finish("test_topology");
  }

  for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
    const fixture *fx = &fixtures[f];
    t = NULL;
    CHECK_OK(subq_topology_create_synthetic(fx->desc, &t));
    if (!t) continue;
    check_structure(t, fx->desc);
    CHECK_MSG(!t->is_this_system, "%s claims to be this system", fx->desc);
    CHECK_MSG(t->n_packages == fx->packages && subq_topology_num_nodes(t) == fx->nodes &&
                  subq_topology_num_cores(t) == fx->cores && subq_topology_num_pus(t) == fx->pus,
              "%s: packages %d nodes %d cores %d pus %d", fx->desc, (int)t->n_packages,
              (int)subq_topology_num_nodes(t), (int)subq_topology_num_cores(t), (int)subq_topology_num_pus(t));
    /* symmetric fixtures: equal cores and PUs per node */
    for (int32_t nd = 0; nd < t->n_nodes; nd++) {
      int pus = 0;
      for (int32_t i = 0; i < t->n_pus; i++) pus += t->pus[i].node == nd;
      CHECK_MSG(pus == fx->pus / fx->nodes, "%s: node %d has %d PUs", fx->desc, (int)nd, pus);
      CHECK(t->node_os_index[nd] == nd);
    }
    char buf[256];
    subq_topology_describe(t, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "source=synthetic:") != NULL, "describe: %s", buf);
    if (strstr(fx->desc, "l3:")) CHECK(subq_topology_cache_size(t, 3) > 0);
    subq_topology_release(t);
  }

  /* the asymmetric XML fixture */
  char path[1024];
  fixture_path("asym_memonly_disallowed.xml", path, sizeof path);
  t = NULL;
  CHECK_OK(subq_topology_create_xml(path, &t));
  if (t) {
    check_structure(t, "asym.xml");
    CHECK(!t->is_this_system);
    CHECK(t->n_nodes == 3 && t->n_pus == 10 && t->n_packages == 2);
    CHECK(subq_topology_num_nodes(t) == 2); /* the memory-only node has no CPU */
    CHECK(subq_topology_num_cores(t) == 4); /* core 1 entirely disallowed */
    CHECK(subq_topology_num_pus(t) == 6);
    int32_t n0 = subq_topology_node_of_os(t, 0), n2 = subq_topology_node_of_os(t, 2), n5 = subq_topology_node_of_os(t, 5);
    CHECK(n0 >= 0 && n2 >= 0 && n5 >= 0 && subq_topology_node_of_os(t, 1) == -1);
    int on[3] = {0, 0, 0};
    for (int32_t i = 0; i < t->n_pus; i++) {
      int os = t->pus[i].os_index;
      bool want_allowed = !(os >= 1 && os <= 4);
      CHECK_MSG(t->pus[i].allowed == want_allowed, "asym: PU %d allowed=%d", os, (int)t->pus[i].allowed);
      CHECK_MSG(t->pus[i].node == (os <= 7 ? n0 : n2), "asym: PU %d on node %d", os, (int)t->pus[i].node);
      if (t->pus[i].node == n0) on[0]++;
      if (t->pus[i].node == n2) on[1]++;
      if (t->pus[i].node == n5) on[2]++;
    }
    CHECK(on[0] == 8 && on[1] == 2 && on[2] == 0);
    CHECK(subq_topology_pu_of_os(t, 9) >= 0 && subq_topology_pu_of_os(t, 10) == -1);
    char buf[512];
    subq_topology_describe(t, buf, sizeof buf);
    CHECK(strstr(buf, "source=xml:") != NULL);
    subq_topology_release(t);
  }

  /* invalid sources */
  const char *bad[] = {"", "pack:2 bogus:3", "pack:0 core:2", "core:2 pack:2 pu:1 extra", "pu:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = NULL;
    subq_clear_last_error();
    subq_status st = subq_topology_create_synthetic(bad[i], &t);
    CHECK_MSG(st == SUBQ_ERR_INVALID_ARGUMENT && t == NULL && strstr(subq_last_error_message(), "description"),
              "'%s': %s %s", bad[i], subq_status_string(st), subq_last_error_message());
    subq_topology_release(t);
  }
  t = NULL;
  CHECK_STATUS(subq_topology_create_xml("/nonexistent/subq.xml", &t), SUBQ_ERR_INVALID_ARGUMENT, "cannot be read");
  CHECK(t == NULL);
  CHECK_STATUS(subq_topology_create_xml(__FILE__, &t), SUBQ_ERR_INVALID_ARGUMENT, "path");
  CHECK(t == NULL);
  return subq_test_finish("test_topology");
}
