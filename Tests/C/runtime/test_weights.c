/*
 * test_weights.c — read-only weights placed by the context's NUMA mode
 * (internal/subq_weights.h, runtime/subq_placement.c), on synthetic
 * multi-node topologies (the recording backend logs the area bindings):
 *  - subq_weights_alloc: copies and bound ranges per mode; DISTRIBUTE range
 *    edges follow the pool's static split of the units; MIRROR replicas are
 *    filled by their own node's participants (subq_parallel_run_per_node) and
 *    participants read their node's replica;
 *  - subq_gemm_pack_b / subq_gemm_packed in every mode: bitwise equal to the
 *    unplaced result, one- and many-row products, the size counts replicas;
 *  - subq_ternary_place, int8 weights (subq_q8_weights_create) and Monarch
 *    factors: the same bits from placed and mirrored weights;
 *  - subq_context_places_weights.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/subq_arena.h"
#include "internal/subq_placement.h"
#include "internal/subq_weights.h"
#include "support/subq_test.h"

static subq_context *make_ctx(const subq_topology *t, int n, subq_numa_mode m) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = n;
  p.numa = m;
  p.flags = SUBQ_CONTEXT_NO_SPIN; /* oversubscribed on small boxes */
  p.topology = t;
  subq_context *ctx = NULL;
  CHECK_MSG(subq_context_create(&p, &ctx) == SUBQ_OK, "create numa=%d n=%d: %s", (int)m, n, subq_last_error_message());
  return ctx;
}

static size_t area_records(const subq_context *ctx, size_t from, subq_place_record *out, size_t cap) {
  subq_place_record rec[512];
  size_t n = subq_placement_log(ctx, rec, 512), k = 0;
  for (size_t r = from; r < n && r < 512; r++)
    if (rec[r].kind == SUBQ_PLACE_AREA && k < cap) out[k++] = rec[r];
  return k;
}

/* ---- per-node fill, then reads of the own replica ----------------------------------- */
typedef struct fill_arg {
  const subq_weights_mem *w;
  const subq_context *ctx;
  int64_t n;
  atomic_int foreign; /* a participant wrote another node's replica */
  int32_t *seen;      /* [n] replica value an item read */
} fill_arg;

static subq_status fill_items(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  fill_arg *a = varg;
  int32_t *dst = subq_weights_copy_for(a->w, info);
  if (a->w->n_copies > 1 && a->ctx->node_of[info->participant] != info->node) atomic_fetch_add(&a->foreign, 1);
  for (int64_t i = b; i < e; i++) dst[i] = info->node * 1000003 + (int32_t)i;
  return SUBQ_OK;
}

static subq_status read_items(void *varg, int64_t b, int64_t e, const subq_task_info *info) {
  fill_arg *a = varg;
  const int32_t *src = subq_weights_copy_for(a->w, info);
  for (int64_t i = b; i < e; i++) a->seen[i] = src[i] - (int32_t)i; /* = 1000003 x the replica's node */
  return SUBQ_OK;
}

static void check_weights(const subq_topology *t, const char *name) {
  const int64_t n = (int64_t)(5 * SUBQ_ARENA_ALIGN / sizeof(int32_t)) + 77; /* > 5 huge pages */
  const size_t bytes = (size_t)n * sizeof(int32_t), unit = 4096 * sizeof(int32_t);
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++) {
    char what[160];
    snprintf(what, sizeof what, "%s numa=%d", name, m);
    subq_context *ctx = make_ctx(t, 5, (subq_numa_mode)m);
    if (!ctx) continue;
    const subq_partition *p = subq_placement_partition(ctx);
    const bool placing = m == SUBQ_NUMA_ISOLATE || m == SUBQ_NUMA_DISTRIBUTE || m == SUBQ_NUMA_MIRROR;
    CHECK_MSG(subq_context_places_weights(ctx) == (placing && t->n_nodes > 1), "%s: places_weights", what);
    size_t log0 = subq_placement_log(ctx, NULL, 0);
    subq_weights_mem w;
    CHECK_OK(subq_weights_alloc(ctx, "test", bytes, unit, &w));
    const int32_t want_copies = m == SUBQ_NUMA_MIRROR ? p->n_groups : 1;
    CHECK_MSG(w.n_copies == want_copies && w.bytes == bytes, "%s: %d copies of %zu bytes", what, (int)w.n_copies,
              w.bytes);
    subq_place_record rec[64];
    size_t na = area_records(ctx, log0, rec, 64);
    if (!placing) {
      CHECK_MSG(na == 0, "%s: %zu areas bound without placement", what, na);
    } else if (m == SUBQ_NUMA_DISTRIBUTE && p->n_groups > 1) {
      /* each bound range: whole huge pages, on the node whose units it mostly holds */
      int64_t ub[64], ue[64];
      subq_partition_item_ranges(p, (int64_t)((bytes + unit - 1) / unit), ub, ue);
      size_t total = 0, off = 0;
      int bad = 0;
      for (size_t r = 0; r < na; r++) {
        if (rec[r].bytes % SUBQ_ARENA_ALIGN) bad++;
        const size_t mid = (off + rec[r].bytes / 2) / unit; /* the unit at the range's middle */
        int32_t g = 0;
        while (g < p->n_groups - 1 && (int64_t)mid >= ue[g]) g++;
        if (rec[r].node != p->group_node[g]) bad++;
        off += rec[r].bytes;
        total += rec[r].bytes;
      }
      CHECK_MSG(na >= 2 && bad == 0 && total >= bytes && total - bytes < SUBQ_ARENA_ALIGN,
                "%s: %zu ranges, %d bad, %zu bytes bound for %zu", what, na, bad, total, bytes);
    } else {
      int bad = 0;
      for (size_t r = 0; r < na; r++)
        bad += rec[r].bytes < bytes || rec[r].node != p->group_node[(int32_t)r < p->n_groups ? (int32_t)r : 0];
      CHECK_MSG(na == (size_t)want_copies && bad == 0, "%s: %zu areas (want %d), %d bad", what, na, (int)want_copies,
                bad);
    }
    /* fill every replica from its own node, then read: each participant sees its node's copy */
    fill_arg a;
    memset(&a, 0, sizeof a);
    a.w = &w, a.ctx = ctx, a.n = n;
    a.seen = malloc((size_t)n * sizeof(int32_t));
    subq_phase fill = {fill_items, &a, n, 0}, read = {read_items, &a, n, 0};
    CHECK_OK(w.n_copies > 1 ? subq_parallel_run_per_node(ctx, &fill) : subq_parallel_run(ctx, &fill, 1, 0));
    CHECK_MSG(atomic_load(&a.foreign) == 0, "%s: a replica written by another node", what);
    int wrong = 0;
    for (int32_t c = 0; c < w.n_copies; c++)
      for (int64_t i = 0; i < n; i += 997) {
        const int32_t node = (((int32_t *)w.copy[c])[i] - (int32_t)i) / 1000003;
        wrong += ((int32_t *)w.copy[c])[i] != node * 1000003 + (int32_t)i || (w.n_copies > 1 && node != c);
      }
    CHECK_MSG(wrong == 0, "%s: %d replica elements not from their node", what, wrong);
    CHECK_OK(subq_parallel_run(ctx, &read, 1, 0));
    if (w.n_copies > 1) {
      int64_t ib[64], ie[64];
      subq_partition_item_ranges(p, n, ib, ie);
      int bad = 0;
      for (int32_t g = 0; g < p->n_groups; g++)
        for (int64_t i = ib[g]; i < ie[g]; i++) bad += a.seen[i] != g * 1000003;
      CHECK_MSG(bad == 0, "%s: %d items read another node's replica", what, bad);
    }
    /* a nested (inline) per-node run still fills every replica */
    if (w.n_copies > 1) {
      memset(w.copy[w.n_copies - 1], 0, bytes);
      CHECK_OK(subq_parallel_run_per_node(NULL, &fill)); /* NULL: one pass, copy 0 */
      CHECK(((int32_t *)w.copy[w.n_copies - 1])[n - 1] == 0);
    }
    free(a.seen);
    subq_weights_free(&w);
    CHECK(w.n_copies == 0 && w.copy == NULL);
    subq_context_destroy(ctx);
  }
}

/* A size report that counts every replica: size = one unplaced object's size + (copies - 1) x its
 * data, the data being the object's size less a header of under 1 KiB. */
static bool counts_copies(size_t size, size_t one, size_t copies) {
  if (size < one) return false;
  const size_t extra = size - one;
  if (copies == 1) return extra == 0;
  return extra % (copies - 1) == 0 && extra / (copies - 1) + 1024 > one && extra / (copies - 1) < one;
}

/* ---- packed B in every mode -------------------------------------------------------------- */
static void gemm_rows(subq_context *ctx, const subq_gemm_packed_b *pb, const float *a, int64_t m, int64_t k,
                      int64_t n, float *c) {
  subq_gemm_args g;
  subq_gemm_args_default(&g, sizeof g);
  g.m = m, g.n = n, g.k = k;
  g.a = a, g.a_rs = k, g.a_cs = 1;
  g.c = c, g.c_rs = n, g.c_cs = 1;
  CHECK_MSG(subq_gemm_packed(ctx, &g, pb) == SUBQ_OK, "gemm m=%lld: %s", (long long)m, subq_last_error_message());
}

static void check_packed_b(const subq_topology *t, const char *name) {
  const int64_t k = 515, n = 2085; /* 4.3 MB packed: ranges of more than one huge page */
  float *b = malloc((size_t)(k * n) * sizeof(float)), *a = malloc((size_t)(7 * k) * sizeof(float));
  for (int64_t i = 0; i < k * n; i++) b[i] = (float)((i * 7919) % 2003) / 1001.0f - 1.0f;
  for (int64_t i = 0; i < 7 * k; i++) a[i] = (float)((i * 104729) % 1009) / 504.0f - 1.0f;
  float *ref1 = malloc((size_t)n * sizeof(float)), *ref7 = malloc((size_t)(7 * n) * sizeof(float));
  float *c1 = malloc((size_t)n * sizeof(float)), *c7 = malloc((size_t)(7 * n) * sizeof(float));
  subq_gemm_packed_b *ref = NULL;
  CHECK_OK(subq_gemm_pack_b(NULL, k, n, SUBQ_DTYPE_F32, b, n, 1, &ref));
  if (!ref) return;
  gemm_rows(NULL, ref, a, 1, k, n, ref1);
  gemm_rows(NULL, ref, a, 7, k, n, ref7);
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++) {
    subq_context *ctx = make_ctx(t, 6, (subq_numa_mode)m);
    if (!ctx) continue;
    const subq_partition *p = subq_placement_partition(ctx);
    size_t log0 = subq_placement_log(ctx, NULL, 0);
    subq_gemm_packed_b *pb = NULL;
    CHECK_MSG(subq_gemm_pack_b(ctx, k, n, SUBQ_DTYPE_F32, b, n, 1, &pb) == SUBQ_OK, "%s numa=%d: %s", name, m,
              subq_last_error_message());
    if (!pb) {
      subq_context_destroy(ctx);
      continue;
    }
    subq_place_record rec[64];
    const size_t na = area_records(ctx, log0, rec, 64);
    const bool placing = m == SUBQ_NUMA_ISOLATE || m == SUBQ_NUMA_DISTRIBUTE || m == SUBQ_NUMA_MIRROR;
    const size_t want_areas = !placing                                       ? 0
                              : m == SUBQ_NUMA_ISOLATE || p->n_groups == 1 ? 1
                                                                             : (size_t)p->n_groups;
    /* DISTRIBUTE: ranges are whole huge pages, so a node owning less than about one gets none */
    CHECK_MSG(m == SUBQ_NUMA_DISTRIBUTE && p->n_groups > 1 ? na >= 2 && na <= want_areas : na == want_areas,
              "%s numa=%d: %zu areas bound, want %zu", name, m, na, want_areas);
    const size_t one = subq_gemm_packed_b_size(ref);
    const size_t copies = m == SUBQ_NUMA_MIRROR ? (size_t)p->n_groups : 1;
    CHECK_MSG(counts_copies(subq_gemm_packed_b_size(pb), one, copies), "%s numa=%d: size %zu for %zu copies of %zu",
              name, m, subq_gemm_packed_b_size(pb), copies, one);
    memset(c1, 0xff, (size_t)n * sizeof(float));
    memset(c7, 0xff, (size_t)(7 * n) * sizeof(float));
    gemm_rows(ctx, pb, a, 1, k, n, c1);
    gemm_rows(ctx, pb, a, 7, k, n, c7);
    CHECK_MSG(!memcmp(c1, ref1, (size_t)n * sizeof(float)), "%s numa=%d: one-row product differs", name, m);
    CHECK_MSG(!memcmp(c7, ref7, (size_t)(7 * n) * sizeof(float)), "%s numa=%d: 7-row product differs", name, m);
    /* used from a context without placement: same bits */
    memset(c1, 0xff, (size_t)n * sizeof(float));
    gemm_rows(NULL, pb, a, 1, k, n, c1);
    CHECK_MSG(!memcmp(c1, ref1, (size_t)n * sizeof(float)), "%s numa=%d: product without ctx differs", name, m);
    subq_gemm_packed_b_destroy(pb);
    subq_context_destroy(ctx);
  }
  subq_gemm_packed_b_destroy(ref);
  free(a), free(b), free(ref1), free(ref7), free(c1), free(c7);
}

/* ---- int8 weights (subq_q8_weights_create) in every mode ----------------------------------- */
static void check_q8(const subq_topology *t, const char *name) {
  const int64_t k = 515, n = 4100; /* 2.4 MB: more than one huge page; k % 32 != 0: the padded x path */
  float *w = malloc((size_t)(k * n) * sizeof(float)), *a = malloc((size_t)(5 * k) * sizeof(float));
  for (int64_t i = 0; i < k * n; i++) w[i] = (float)((i * 7919) % 2003) / 1001.0f - 1.0f;
  for (int64_t i = 0; i < 5 * k; i++) a[i] = (float)((i * 104729) % 1009) / 504.0f - 1.0f;
  float *ref = malloc((size_t)(5 * n) * sizeof(float)), *c = malloc((size_t)(5 * n) * sizeof(float));
  subq_q8_weights *q0 = NULL;
  CHECK_OK(subq_q8_weights_create(NULL, n, k, SUBQ_DTYPE_F32, w, 0, &q0));
  if (!q0) return;
  CHECK_OK(subq_q8_linear(NULL, 1, a, 0, q0, ref, 0));
  CHECK_OK(subq_q8_linear(NULL, 4, a + k, 0, q0, ref + n, 0));
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++) {
    subq_context *ctx = make_ctx(t, 6, (subq_numa_mode)m);
    if (!ctx) continue;
    const subq_partition *p = subq_placement_partition(ctx);
    const size_t log0 = subq_placement_log(ctx, NULL, 0);
    subq_q8_weights *q = NULL;
    CHECK_MSG(subq_q8_weights_create(ctx, n, k, SUBQ_DTYPE_F32, w, 0, &q) == SUBQ_OK, "%s numa=%d: %s", name, m,
              subq_last_error_message());
    if (!q) {
      subq_context_destroy(ctx);
      continue;
    }
    subq_place_record rec[64];
    const size_t na = area_records(ctx, log0, rec, 64);
    const bool placing = m == SUBQ_NUMA_ISOLATE || m == SUBQ_NUMA_DISTRIBUTE || m == SUBQ_NUMA_MIRROR;
    CHECK_MSG(placing ? na >= 1 : na == 0, "%s numa=%d: %zu areas for int8 weights", name, m, na);
    const size_t copies = m == SUBQ_NUMA_MIRROR ? (size_t)p->n_groups : 1;
    CHECK_MSG(counts_copies(subq_q8_weights_size(q), subq_q8_weights_size(q0), copies),
              "%s numa=%d: size %zu for %zu copies", name, m, subq_q8_weights_size(q), copies);
    memset(c, 0xff, (size_t)(5 * n) * sizeof(float));
    CHECK_OK(subq_q8_linear(ctx, 1, a, 0, q, c, 0));
    CHECK_OK(subq_q8_linear(ctx, 4, a + k, 0, q, c + n, 0));
    CHECK_MSG(!memcmp(c, ref, (size_t)(5 * n) * sizeof(float)), "%s numa=%d: int8 products differ", name, m);
    subq_q8_weights_destroy(q);
    subq_context_destroy(ctx);
  }
  subq_q8_weights_destroy(q0);
  free(w), free(a), free(ref), free(c);
}

/* ---- ternary weights placed (subq_ternary_place) -------------------------------------------- */
static void check_ternary(const subq_topology *t, const char *name) {
  const int64_t n = 1500, k = 2100; /* 0.8 MB of codes: several decode items per node */
  int8_t *codes = malloc((size_t)(n * k)), *q = malloc((size_t)(3 * k));
  for (int64_t i = 0; i < n * k; i++) codes[i] = (int8_t)((i * 7919 + i / 13) % 3 - 1);
  for (int64_t i = 0; i < 3 * k; i++) q[i] = (int8_t)((i * 104729) % 255 - 127);
  float gamma = 0.75f;
  int32_t *ref = malloc((size_t)(4 * n) * sizeof(int32_t)), *d = malloc((size_t)(4 * n) * sizeof(int32_t));
  subq_ternary *w0 = NULL;
  CHECK_OK(subq_ternary_from_codes(n, k, codes, k, SUBQ_TERNARY_SCALE_TENSOR, &gamma, &w0));
  if (!w0) return;
  CHECK_OK(subq_ternary_matmul_i32(NULL, w0, 1, q, k, ref, n));
  CHECK_OK(subq_ternary_matmul_i32(NULL, w0, 3, q, k, ref + n, n));
  size_t size0 = 0;
  const void *blob0 = subq_ternary_blob(w0, &size0);
  for (int m = SUBQ_NUMA_OFF; m <= SUBQ_NUMA_MIRROR; m++) {
    subq_context *ctx = make_ctx(t, 4, (subq_numa_mode)m);
    if (!ctx) continue;
    const size_t log0 = subq_placement_log(ctx, NULL, 0);
    subq_ternary *w = NULL;
    CHECK_OK(subq_ternary_from_codes(n, k, codes, k, SUBQ_TERNARY_SCALE_TENSOR, &gamma, &w));
    if (!w) {
      subq_context_destroy(ctx);
      continue;
    }
    const void *before = subq_ternary_blob(w, NULL);
    CHECK_OK(subq_ternary_place(ctx, w));
    CHECK_OK(subq_ternary_place(ctx, w)); /* placed once: a no-op */
    subq_place_record rec[64];
    const size_t na = area_records(ctx, log0, rec, 64);
    const bool places = subq_context_places_weights(ctx);
    CHECK_MSG(places ? na >= 1 : na == 0, "%s numa=%d: %zu areas for ternary weights", name, m, na);
    size_t size = 0;
    const void *blob = subq_ternary_blob(w, &size);
    CHECK_MSG(size == size0 && !memcmp(blob, blob0, size0), "%s numa=%d: blob changed", name, m);
    CHECK_MSG(places ? blob != before : blob == before, "%s numa=%d: blob %s", name, m, places ? "not moved" : "moved");
    memset(d, 0x5a, (size_t)(4 * n) * sizeof(int32_t));
    CHECK_OK(subq_ternary_matmul_i32(ctx, w, 1, q, k, d, n));
    CHECK_OK(subq_ternary_matmul_i32(ctx, w, 3, q, k, d + n, n));
    CHECK_MSG(!memcmp(d, ref, (size_t)(4 * n) * sizeof(int32_t)), "%s numa=%d: ternary products differ", name, m);
    subq_ternary_destroy(w);
    subq_context_destroy(ctx);
  }
  CHECK_STATUS(subq_ternary_place(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_ternary_place: w is NULL");
  CHECK_OK(subq_ternary_place(NULL, w0)); /* no context: nothing to place */
  CHECK(subq_ternary_blob(w0, NULL) == blob0);
  subq_ternary_destroy(w0);
  free(codes), free(q), free(ref), free(d);
}

/* ---- Monarch factors placed at creation ------------------------------------------------- */
static void check_monarch(const subq_topology *t, const char *name) {
  /* 16 blocks: several one-token items per node; 16 >= the lane width, so stage 2 may take the lanes path */
  subq_monarch_desc d;
  subq_monarch_desc_default(&d, sizeof d);
  d.k = 16, d.q = 48, d.p = 40, d.l = 16, d.s = 36, d.r = 48;
  const int64_t n = d.k * d.p, m = d.l * d.s, T = 5;
  float *w1 = malloc((size_t)(d.k * d.q * d.p) * sizeof(float)), *w2 = malloc((size_t)(d.l * d.s * d.r) * sizeof(float));
  float *x = malloc((size_t)(T * n) * sizeof(float)), *ref = malloc((size_t)(T * m) * sizeof(float));
  float *y = malloc((size_t)(T * m) * sizeof(float));
  for (int64_t i = 0; i < d.k * d.q * d.p; i++) w1[i] = (float)((i * 7919) % 1999) / 999.0f - 1.0f;
  for (int64_t i = 0; i < d.l * d.s * d.r; i++) w2[i] = (float)((i * 104729) % 1997) / 998.0f - 1.0f;
  for (int64_t i = 0; i < T * n; i++) x[i] = (float)((i * 31) % 101) / 50.0f - 1.0f;
  subq_monarch_weights *w0 = NULL;
  CHECK_OK(subq_monarch_weights_create(NULL, &d, w1, w2, &w0));
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  a.x = x, a.ldx = n, a.y = ref, a.ldy = m;
  a.tokens = 1;
  CHECK_OK(subq_monarch_forward(NULL, w0, &a));
  a.tokens = T;
  CHECK_OK(subq_monarch_forward(NULL, w0, &a));
  const size_t size0 = subq_monarch_weights_size(w0);
  for (int mode = SUBQ_NUMA_OFF; mode <= SUBQ_NUMA_MIRROR; mode++) {
    subq_context *ctx = make_ctx(t, 4, (subq_numa_mode)mode);
    if (!ctx) continue;
    const subq_partition *p = subq_placement_partition(ctx);
    const size_t log0 = subq_placement_log(ctx, NULL, 0);
    subq_monarch_weights *w = NULL;
    CHECK_OK(subq_monarch_weights_create(ctx, &d, w1, w2, &w));
    if (!w) {
      subq_context_destroy(ctx);
      continue;
    }
    subq_place_record rec[64];
    const size_t na = area_records(ctx, log0, rec, 64);
    const bool placing = mode == SUBQ_NUMA_ISOLATE || mode == SUBQ_NUMA_DISTRIBUTE || mode == SUBQ_NUMA_MIRROR;
    CHECK_MSG(placing ? na >= 2 : na == 0, "%s numa=%d: %zu areas for Monarch factors", name, mode, na);
    const size_t copies = mode == SUBQ_NUMA_MIRROR ? (size_t)p->n_groups : 1;
    CHECK_MSG(counts_copies(subq_monarch_weights_size(w), size0, copies), "%s numa=%d: size %zu for %zu copies of %zu",
              name, mode, subq_monarch_weights_size(w), copies, size0);
    memset(y, 0xff, (size_t)(T * m) * sizeof(float));
    a.y = y, a.tokens = 1;
    CHECK_OK(subq_monarch_forward(ctx, w, &a));
    CHECK_MSG(!memcmp(y, ref, (size_t)m * sizeof(float)), "%s numa=%d: one-token Monarch product differs", name, mode);
    a.tokens = T;
    CHECK_OK(subq_monarch_forward(ctx, w, &a));
    CHECK_MSG(!memcmp(y, ref, (size_t)(T * m) * sizeof(float)), "%s numa=%d: Monarch product differs", name, mode);
    a.y = ref;
    subq_monarch_weights_destroy(w);
    subq_context_destroy(ctx);
  }
  subq_monarch_weights_destroy(w0);
  free(w1), free(w2), free(x), free(ref), free(y);
}

int main(void) {
  CHECK(!subq_context_places_weights(NULL));
  subq_weights_mem w;
  CHECK_STATUS(subq_weights_alloc(NULL, "test", 0, 64, &w), SUBQ_ERR_INVALID_ARGUMENT, "test: weights of 0 bytes");
  CHECK_STATUS(subq_weights_alloc(NULL, "test", SIZE_MAX, 64, &w), SUBQ_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_OK(subq_weights_alloc(NULL, "test", 100, 64, &w));
  CHECK(w.n_copies == 1 && w.copy && w.copy[0] && ((uintptr_t)w.copy[0] % 64) == 0);
  subq_weights_free(&w);
  subq_weights_free(&w); /* zeroed: no-op */

  subq_topology *probe = NULL;
  subq_status pst = subq_topology_create_synthetic("pack:1 core:1 pu:1", &probe);
  subq_topology_release(probe);
  if (pst == SUBQ_ERR_UNSUPPORTED) {
    printf("test_weights: built without hwloc: synthetic placement skipped\n");
  } else {
    const char *fx[] = {"pack:2 numa:2 core:4 pu:1", "pack:1 numa:4 core:8 pu:2", "pack:1 core:4 pu:1"};
    for (size_t f = 0; f < sizeof fx / sizeof fx[0]; f++) {
      subq_topology *t = NULL;
      CHECK_OK(subq_topology_create_synthetic(fx[f], &t));
      if (!t) continue;
      check_weights(t, fx[f]);
      check_packed_b(t, fx[f]);
      check_ternary(t, fx[f]);
      check_q8(t, fx[f]);
      check_monarch(t, fx[f]);
      subq_topology_release(t);
    }
  }
  return subq_test_finish("test_weights");
}
