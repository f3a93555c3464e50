/*
 * subq_kvcache.c — KV cache lifecycle, append (with f32 -> bf16/f16 RNE
 * conversion), truncation and queries. Attention over a cache is
 * subq_fattn_kv in subq_fattn.c, which reads the storage in place.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "families/fattn/subq_fattn_ukernel.h"
#include "families/fattn/subq_kvcache.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_parallel.h"

static void subq_kv_cache_fill_defaults(subq_kv_cache_args *d) {
  memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
  d->dtype = SUBQ_DTYPE_F32;
  d->mode = SUBQ_KV_LINEAR;
}

void subq_kv_cache_args_default(subq_kv_cache_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_kv_cache_args d;
  subq_kv_cache_fill_defaults(&d);
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

/* K/V storage. Every decode call streams a cache end to end: from 2 MiB up it
 * is 2 MiB aligned and advised onto transparent huge pages (where the kernel
 * allows them), so the stream does not take a TLB miss every 4 KiB. */
static void *subq_kv_storage(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  if (bytes < huge) return subq_alloc(bytes);
  void *p = subq_alloc_aligned(bytes, huge); /* rounded up to a multiple of 2 MiB */
#if defined(MADV_HUGEPAGE)
  if (p) (void)madvise(p, (bytes + huge - 1) & ~(huge - 1), MADV_HUGEPAGE); /* advice only */
#endif
  return p;
}

subq_status subq_kv_cache_create(const subq_kv_cache_args *args, subq_kv_cache **out) {
  const char *fn = "subq_kv_cache_create";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_kv_cache_args a;
  subq_kv_cache_fill_defaults(&a);
  subq_status st = subq_read_struct(&a, sizeof a, args, args->struct_size, sizeof a, fn);
  if (st != SUBQ_OK) return st;
  if (a.dtype != SUBQ_DTYPE_F32 && a.dtype != SUBQ_DTYPE_BF16 && a.dtype != SUBQ_DTYPE_F16)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dtype (%d) is not F32, BF16 or F16", fn, (int)a.dtype);
  if (a.mode != SUBQ_KV_LINEAR && a.mode != SUBQ_KV_RING)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: mode (%d) is not SUBQ_KV_LINEAR or SUBQ_KV_RING", fn,
                      (int)a.mode);
  if (a.batch < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) < 1", fn, (long long)a.batch);
  if (a.hkv < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: hkv (%lld) < 1", fn, (long long)a.hkv);
  if (a.dk < 1 || a.dk > SUBQ_FATTN_MAX_HEAD_DIM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dk (%lld) is not in 1..%d", fn, (long long)a.dk,
                      SUBQ_FATTN_MAX_HEAD_DIM);
  if (a.dv < 1 || a.dv > SUBQ_FATTN_MAX_HEAD_DIM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dv (%lld) is not in 1..%d", fn, (long long)a.dv,
                      SUBQ_FATTN_MAX_HEAD_DIM);
  if (a.capacity < 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: capacity (%lld) < 1", fn, (long long)a.capacity);
  const size_t es = subq_dtype_size(a.dtype);
  size_t rows, kb, vb, pb;
  if (!subq_mul_size((size_t)a.batch, (size_t)a.hkv, &rows) || !subq_mul_size(rows, (size_t)a.capacity, &rows) ||
      !subq_mul_size(rows, (size_t)a.dk * es, &kb) || !subq_mul_size(rows, (size_t)a.dv * es, &vb) ||
      !subq_mul_size((size_t)a.batch, 2 * sizeof(int64_t), &pb) || kb > (size_t)PTRDIFF_MAX ||
      vb > (size_t)PTRDIFF_MAX || rows > (size_t)INT64_MAX / SUBQ_FATTN_MAX_HEAD_DIM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * hkv * capacity * head dim bytes overflows", fn);
  subq_kv_cache *c = calloc(1, sizeof *c);
  if (!c) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the cache header", fn);
  c->dtype = a.dtype, c->mode = a.mode, c->batch = a.batch, c->hkv = a.hkv, c->dk = a.dk, c->dv = a.dv;
  c->capacity = a.capacity, c->es = es;
  c->k = subq_kv_storage(kb);
  c->v = subq_kv_storage(vb);
  c->first = subq_alloc(pb);
  if (!c->k || !c->v || !c->first) {
    subq_kv_cache_destroy(c);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of K/V storage", fn, kb + vb);
  }
  /* zero-filled (spec: slots never written must not hold garbage) */
  memset(c->k, 0, kb);
  memset(c->v, 0, vb);
  memset(c->first, 0, pb);
  c->end = c->first + a.batch;
  *out = c;
  return SUBQ_OK;
}

void subq_kv_cache_destroy(subq_kv_cache *c) {
  if (!c) return;
  subq_free(c->k);
  subq_free(c->v);
  subq_free(c->first);
  free(c);
}

void subq_kv_cache_reset(subq_kv_cache *c) {
  if (!c) return;
  memset(c->first, 0, (size_t)c->batch * 2 * sizeof(int64_t));
}

/* One append: n_w tokens (source token offset t_src, position p0) of nb sequences. */
typedef struct subq_kv_append_job {
  subq_kv_cache *c;
  int64_t b0, n_w, t_src;
  const int64_t *p0; /* per sequence (index i < nb): position of the first written token */
  const float *k, *v;
  int64_t k_bs, k_ss, k_hs, v_bs, v_ss, v_hs;
} subq_kv_append_job;

static void subq_kv_store_row(subq_dtype dt, void *dst, const float *src, int64_t n) {
  if (dt == SUBQ_DTYPE_F32) {
    memcpy(dst, src, (size_t)n * sizeof(float));
  } else if (dt == SUBQ_DTYPE_BF16) {
    uint16_t *o = dst;
    for (int64_t d = 0; d < n; d++) o[d] = subq_f32_to_bf16_1(src[d]);
  } else {
    uint16_t *o = dst;
    for (int64_t d = 0; d < n; d++) o[d] = subq_f32_to_f16_1(src[d]);
  }
}

/* item = (sequence i, token t, head h) */
static subq_status subq_kv_append_rows(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_kv_append_job *j = arg;
  subq_kv_cache *c = j->c;
  for (int64_t it = begin; it < end; it++) {
    const int64_t h = it % c->hkv, t = (it / c->hkv) % j->n_w, i = it / c->hkv / j->n_w, b = j->b0 + i;
    const int64_t slot = subq_kv_slot(c, j->p0[i] + t), ts = j->t_src + t;
    const size_t row = (size_t)((b * c->hkv + h) * c->capacity + slot);
    subq_kv_store_row(c->dtype, (unsigned char *)c->k + row * (size_t)c->dk * c->es,
                      j->k + i * j->k_bs + ts * j->k_ss + h * j->k_hs, c->dk);
    subq_kv_store_row(c->dtype, (unsigned char *)c->v + row * (size_t)c->dv * c->es,
                      j->v + i * j->v_bs + ts * j->v_ss + h * j->v_hs, c->dv);
  }
  return SUBQ_OK;
}

/* Strides of one [nb][n][hkv][d] f32 source view: >= 0, and its bytes, from
 * the first element to the end of the last, a range of the library's one
 * definition (subq_byte_range_rows: int64 offsets, at most PTRDIFF_MAX
 * bytes, within the address space). */
static subq_status subq_kv_check_src(const char *fn, const char *name, const float *p, int64_t nb, int64_t bs,
                                     int64_t n, int64_t ss, int64_t nh, int64_t hs, int64_t d) {
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (bs < 0 || ss < 0 || hs < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a stride of %s (%lld, %lld, %lld) is < 0", fn, name,
                      (long long)bs, (long long)ss, (long long)hs);
  /* the offset of the last row (sequence nb-1, token n-1, head nh-1); the
   * first row and that one as two rows of d elements `last` apart: the range
   * from the first element to the end of the last */
  int64_t last, t;
  subq_byte_range r;
  if (!subq_mul_i64(nb - 1, bs, &last) || !subq_mul_i64(n - 1, ss, &t) || !subq_add_i64(last, t, &last) ||
      !subq_mul_i64(nh - 1, hs, &t) || !subq_add_i64(last, t, &last) ||
      !subq_byte_range_rows(p, 2, d, last, (int64_t)sizeof(float), &r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

subq_status subq_kv_cache_append(subq_context *ctx, subq_kv_cache *c, int64_t b0, int64_t nb, int64_t n_new,
                                 const float *k, int64_t k_bs, int64_t k_ss, int64_t k_hs, const float *v,
                                 int64_t v_bs, int64_t v_ss, int64_t v_hs) {
  const char *fn = "subq_kv_cache_append";
  if (!c) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cache is NULL", fn);
  if (b0 < 0 || nb < 0 || b0 > c->batch || nb > c->batch - b0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: sequences b0 (%lld) .. b0 + nb (%lld) exceed batch (%lld)", fn,
                      (long long)b0, (long long)nb, (long long)c->batch);
  if (n_new < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_new (%lld) < 0", fn, (long long)n_new);
  if (nb == 0 || n_new == 0) return SUBQ_OK;
  subq_status st = subq_kv_check_src(fn, "k", k, nb, k_bs, n_new, k_ss, c->hkv, k_hs, c->dk);
  if (st != SUBQ_OK) return st;
  if ((st = subq_kv_check_src(fn, "v", v, nb, v_bs, n_new, v_ss, c->hkv, v_hs, c->dv)) != SUBQ_OK) return st;
  for (int64_t i = 0; i < nb; i++) {
    const int64_t e = c->end[b0 + i];
    if (e > INT64_MAX / 2 - n_new)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: position of sequence %lld overflows", fn,
                        (long long)(b0 + i));
    if (c->mode == SUBQ_KV_LINEAR && n_new > c->capacity - e)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                        "%s: the cache is full: sequence %lld holds %lld of %lld positions, cannot append %lld", fn,
                        (long long)(b0 + i), (long long)e, (long long)c->capacity, (long long)n_new);
  }
  /* a ring keeps only the last `capacity` of the new tokens */
  const int64_t n_w = SUBQ_MIN(n_new, c->capacity), t_src = n_new - n_w;
  int64_t p0_small[16];
  int64_t *p0 = nb <= 16 ? p0_small : malloc((size_t)nb * sizeof(int64_t));
  if (!p0) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld positions", fn, (long long)nb);
  for (int64_t i = 0; i < nb; i++) p0[i] = c->end[b0 + i] + t_src;
  subq_kv_append_job job = {c, b0, n_w, t_src, p0, k, v, k_bs, k_ss, k_hs, v_bs, v_ss, v_hs};
  subq_phase ph = {subq_kv_append_rows, &job, nb * n_w * c->hkv, 64};
  st = subq_parallel_run(ctx, &ph, 1, 0);
  if (st == SUBQ_OK)
    for (int64_t i = 0; i < nb; i++) {
      const int64_t b = b0 + i;
      c->end[b] += n_new;
      if (c->mode == SUBQ_KV_RING) c->first[b] = SUBQ_MAX(c->first[b], c->end[b] - c->capacity);
    }
  if (p0 != p0_small) free(p0);
  return st;
}

subq_status subq_kv_cache_truncate(subq_kv_cache *c, int64_t b, int64_t end) {
  const char *fn = "subq_kv_cache_truncate";
  if (!c) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cache is NULL", fn);
  if (b < 0 || b >= c->batch)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b (%lld) is not in 0..%lld", fn, (long long)b,
                      (long long)(c->batch - 1));
  if (end < 0 || end > c->end[b])
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: end (%lld) is not in 0..%lld (the current end)", fn,
                      (long long)end, (long long)c->end[b]);
  c->end[b] = end;
  if (c->first[b] > end) c->first[b] = end; /* everything held is gone: empty, restarting at end */
  return SUBQ_OK;
}

subq_status subq_kv_cache_positions(const subq_kv_cache *c, int64_t b, int64_t *first, int64_t *end) {
  const char *fn = "subq_kv_cache_positions";
  if (!c) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cache is NULL", fn);
  if (b < 0 || b >= c->batch)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b (%lld) is not in 0..%lld", fn, (long long)b,
                      (long long)(c->batch - 1));
  if (first) *first = c->first[b];
  if (end) *end = c->end[b];
  return SUBQ_OK;
}

subq_status subq_kv_cache_get_info(const subq_kv_cache *c, subq_kv_cache_info *info) {
  const char *fn = "subq_kv_cache_get_info";
  if (!c) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cache is NULL", fn);
  if (!info) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: info is NULL", fn);
  const size_t n = info->struct_size;
  if (n < sizeof(size_t))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: info->struct_size (%zu) is too small", fn, n);
  subq_kv_cache_info x;
  memset(&x, 0, sizeof x);
  x.struct_size = SUBQ_MIN(n, sizeof x);
  x.dtype = c->dtype, x.mode = c->mode;
  x.batch = c->batch, x.hkv = c->hkv, x.dk = c->dk, x.dv = c->dv, x.capacity = c->capacity;
  x.k = c->k, x.k_ss = c->dk, x.k_hs = c->capacity * c->dk, x.k_bs = c->hkv * x.k_hs;
  x.v = c->v, x.v_ss = c->dv, x.v_hs = c->capacity * c->dv, x.v_bs = c->hkv * x.v_hs;
  memcpy(info, &x, SUBQ_MIN(n, sizeof x));
  return SUBQ_OK;
}
