/*
 * subq_fattn.c — fused attention driver: validation, tiling, online softmax,
 * split-K and merge phases.
 *
 * Written once for every ISA; only the micro-kernels of subq_fattn_impls.inc
 * are per ISA. Work items are (batch, kv head, query tile[, KV split]): the G
 * query heads of one kv head are stacked in the tile's rows (row r = token
 * (r / G), head (r % G)), so each K/V tile is read once per group. Inside an
 * item, KV tiles of SUBQ_FATTN_BK keys run in increasing order over the key
 * range the mask allows (tiles outside it are never visited: a window of W
 * keys costs O(Sq * W)); tiles entirely inside the mask skip per-element
 * masking. Everything that decides what is summed (tile rows, KV tiles,
 * splits) comes from the shape and args only, so results are bitwise
 * identical for any thread count or executor.
 * Tiles of >= SUBQ_FATTN_MANY_ROWS rows (prefill) are computed transposed,
 * the tile's rows as columns (subq_fattn_tiles_t: Q^T packed once per item,
 * K/V rows contiguous f32, a column-wise online softmax). With >= 2 query
 * tiles per kv head, K/V are packed (16-bit: widened) once per call, in waves
 * of kv heads, by a phase before the items (subq_fattn_wave); otherwise each
 * tile copies its rows.
 * Tiles of fewer rows (decode: G heads x 1-2 tokens) take the direct path:
 * K/V read in place (16-bit widened in registers), QK of one tile
 * interleaved with PV of the previous one, K and V prefetched a few KiB ahead
 * in small doses (subq_fattn_tiles_direct). Tiny problems (see
 * SUBQ_FATTN_TINY_FMAS) run on the calling thread.
 */
#include <float.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/fattn/subq_fattn_ukernel.h"
#include "families/fattn/subq_kvcache.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "subq/subq_fattn.h"

/* ---- the micro-kernel list ------------------------------------------------------ */

typedef struct subq_fattn_impl {
  subq_isa isa;
  const char *name;
  subq_fattn_qk_fn qk;
  int qk_keys; /* keys per block of qk / qkh (a sub-call of a multiple of it wastes none) */
  subq_fattn_pv_fn pv;
  subq_fattn_expsub_fn expsub;
  subq_fattn_exp_fn exp;
  subq_fattn_rowmax_fn rowmax;
  subq_fattn_scale_fn scale;
  subq_fattn_widen_fn widen;
  subq_fattn_qkh_fn qkh;
  subq_fattn_pvh_fn pvh;
  subq_fattn_mm_fn mm;
  subq_fattn_colsoftmax_fn colsoftmax;
} subq_fattn_impl;

static const subq_fattn_impl subq_fattn_impls[] = {
#define SUBQ_FATTN_UKERNEL(isa, qk, qk_keys, pv, expsub, exp, rowmax, scale, widen, qkh, pvh, mm, colsoftmax) \
  {isa, #qk, qk, qk_keys, pv, expsub, exp, rowmax, scale, widen, qkh, pvh, mm, colsoftmax},
#include "families/fattn/subq_fattn_impls.inc"
#undef SUBQ_FATTN_UKERNEL
};

static const subq_fattn_impl *subq_fattn_pick(subq_isa chosen) {
  return SUBQ_ISA_PICK(chosen, subq_fattn_impls, subq_fattn_impl);
}

/* ---- tiling constants (from the shape only) ------------------------------------- */

#ifndef SUBQ_FATTN_BK
#define SUBQ_FATTN_BK 64              /* keys per KV tile: S/P tile rows x 64 floats stays in L1 */
#endif
#ifndef SUBQ_FATTN_ROWS
#define SUBQ_FATTN_ROWS 64            /* target rows (G heads x tokens) per query tile */
#endif
#ifndef SUBQ_FATTN_TBK
#define SUBQ_FATTN_TBK 64             /* keys per KV tile of the transposed (prefill) path */
#endif
#define SUBQ_FATTN_AUTO_SPLIT 512     /* shortest automatic KV split */
#define SUBQ_FATTN_SPLIT_ITEMS 64     /* automatic splits: about this many work items in all */

/* ---- args ------------------------------------------------------------------------- */

static void subq_fattn_fill_defaults(subq_fattn_args *d) {
  memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
  d->align = SUBQ_FATTN_ALIGN_BOTTOM_RIGHT;
  d->window_left = -1;
  d->window_right = -1;
  d->q_dtype = d->kv_dtype = d->out_dtype = SUBQ_DTYPE_F32;
}

void subq_fattn_args_default(subq_fattn_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_fattn_args d;
  subq_fattn_fill_defaults(&d);
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

void subq_fattn_args_dense_bshd(subq_fattn_args *p) {
  if (!p) return;
  p->q_hs = p->dk, p->q_ss = subq_sat_mul_i64(p->hq, p->dk), p->q_bs = subq_sat_mul_i64(p->sq, p->q_ss);
  p->k_hs = p->dk, p->k_ss = subq_sat_mul_i64(p->hkv, p->dk), p->k_bs = subq_sat_mul_i64(p->sk, p->k_ss);
  p->v_hs = p->dv, p->v_ss = subq_sat_mul_i64(p->hkv, p->dv), p->v_bs = subq_sat_mul_i64(p->sk, p->v_ss);
  p->o_hs = p->dv, p->o_ss = subq_sat_mul_i64(p->hq, p->dv), p->o_bs = subq_sat_mul_i64(p->sq, p->o_ss);
}

/* The validated problem plus the plan derived from it. */
typedef struct subq_fattn_prob {
  const char *fn;
  subq_fattn_args a;
  const subq_fattn_impl *impl;
  const subq_kv_cache *cache; /* NULL: K/V are args->k / args->v */
  int qh, kvh, oh;            /* 16-bit type (SUBQ_FATTN_H_*) of q, k/v, out; -1 = f32 */
  size_t qes, kes, oes;       /* bytes per element */
  const unsigned char *k, *v; /* K/V base and element strides (cache storage or args) */
  int64_t k_bs, k_ss, k_hs, v_bs, v_ss, v_hs;
  int64_t g;          /* Hq / Hkv */
  int64_t span;       /* longest key range of a sequence */
  float qscale;       /* applied while packing Q: scale, or scale / softcap */
  int64_t bt;         /* tokens per query tile */
  int64_t n_qt;       /* query tiles per (b, kv head) */
  int64_t split_len;  /* keys per split (the whole range when unsplit) */
  int64_t n_split;
  int64_t rows;       /* max rows per tile = g * bt */
  int64_t ldacc;      /* dv rounded up to 8 */
  float *part;        /* split partials: per (b, h, i, split): m, l, acc[dv] */
  int64_t pk_lo, pk_n; /* packed K/V: keys [pk_lo, pk_lo + pk_n) of each (b, kv head) (subq_fattn_run) */
} subq_fattn_prob;

/* 16-bit code of a dtype for the kernels (-1 = f32); -2 = not supported. */
static int subq_fattn_hcode(subq_dtype dt) {
  if (dt == SUBQ_DTYPE_F32 || dt == 0) return -1;
  if (dt == SUBQ_DTYPE_BF16) return SUBQ_FATTN_H_BF16;
  if (dt == SUBQ_DTYPE_F16) return SUBQ_FATTN_H_F16;
  return -2;
}

/* Keys of sequence b: positions [base, end) may be visited (base = the first
 * key any query can see; with a cache, also >= the oldest held position). */
static inline void subq_fattn_seq(const subq_fattn_prob *pr, int64_t b, int64_t *base, int64_t *end) {
  if (!pr->cache) {
    *base = 0, *end = pr->a.sk;
    return;
  }
  const int64_t e = pr->cache->end[b], wl = pr->a.window_left;
  *end = e;
  *base = wl >= 0 ? SUBQ_MAX(0, e - pr->a.sq - wl) : 0;
}

/* Checks the strides of one [B][S][H][D] tensor of es-byte elements: each >= 0
 * (and >= 1 where the extent exceeds one, except the batch stride of an input,
 * which may be 0 to share one tensor across the batch); dimensions of extent
 * > 1 must nest without overlap (no two elements share an address); computes
 * its byte range. */
static subq_status subq_fattn_check_tensor(const char *fn, const char *name, const void *p, int64_t nb, int64_t *bs,
                                           int64_t ns, int64_t *ss, int64_t nh, int64_t *hs, int64_t d, size_t es,
                                           bool input, subq_byte_range *r) {
  static const char *suffix[3] = {"bs", "ss", "hs"};
  int64_t *st[3] = {bs, ss, hs};
  const int64_t ext[3] = {nb, ns, nh};
  for (int i = 0; i < 3; i++) {
    if (*st[i] < 0)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_%s (%lld) < 0", fn, name, suffix[i], (long long)*st[i]);
    if (ext[i] <= 1) *st[i] = 0;
  }
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  /* nesting (subq_strides_nest; the head dim spans d); a broadcast batch is left out */
  int64_t nest_ext[3] = {nb, ns, nh};
  for (int i = 0; i < 3; i++) {
    if (ext[i] <= 1 || *st[i] != 0) continue;
    if (input && i == 0) {
      nest_ext[0] = 1; /* broadcast batch */
      continue;
    }
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_%s is 0 but its extent (%lld) is > 1", fn, name, suffix[i],
                      (long long)ext[i]);
  }
  const int64_t nest_st[3] = {*bs, *ss, *hs};
  int64_t span;
  const int dim = subq_strides_nest(3, nest_ext, nest_st, d, &span);
  if (dim >= 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "%s: %s_%s (%lld) makes elements of %s overlap (inner extent spans %lld elements)", fn, name,
                      suffix[dim], (long long)*st[dim], name, (long long)span);
  /* byte range (broadcast batch included) */
  int64_t last = d - 1, t, bytes;
  for (int i = 0; i < 3; i++)
    if (!subq_mul_i64(ext[i] - 1, *st[i], &t) || !subq_add_i64(last, t, &last))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  if (!subq_add_i64(last, 1, &t) || !subq_mul_i64(t, (int64_t)es, &bytes) || !subq_byte_range_at(p, bytes, r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

static subq_status subq_fattn_validate(const char *fn, subq_context *ctx, const subq_fattn_args *args,
                                       const subq_kv_cache *cache, subq_fattn_prob *pr, bool *empty) {
  *empty = false;
  memset(pr, 0, sizeof *pr);
  pr->fn = fn;
  pr->cache = cache;
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_fattn_args *g = &pr->a;
  subq_fattn_fill_defaults(g);
  /* callers built before the dtype fields were appended pass the shorter 0.1 layout */
  subq_status st = subq_read_struct(g, sizeof *g, args, args->struct_size, offsetof(subq_fattn_args, q_dtype), fn);
  if (st != SUBQ_OK) return st;
  if (cache) { /* K/V come from the cache: the args' K/V fields are not read */
    g->sk = 0, g->k = g->v = NULL, g->kv_dtype = cache->dtype;
    g->k_bs = g->k_ss = g->k_hs = g->v_bs = g->v_ss = g->v_hs = 0;
  }
#define SUBQ_NEG(f)                                                                                     \
  if (g->f < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: " #f " (%lld) < 0", fn, (long long)g->f)
  SUBQ_NEG(batch);
  SUBQ_NEG(sq);
  SUBQ_NEG(sk);
#undef SUBQ_NEG
  if (g->hq < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: hq (%lld) < 1", fn, (long long)g->hq);
  if (g->hkv < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: hkv (%lld) < 1", fn, (long long)g->hkv);
  if (g->hq % g->hkv)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: hq (%lld) is not a multiple of hkv (%lld)", fn,
                      (long long)g->hq, (long long)g->hkv);
  if (g->dk < 1 || g->dk > SUBQ_FATTN_MAX_HEAD_DIM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dk (%lld) is not in 1..%d", fn, (long long)g->dk,
                      SUBQ_FATTN_MAX_HEAD_DIM);
  if (g->dv < 1 || g->dv > SUBQ_FATTN_MAX_HEAD_DIM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dv (%lld) is not in 1..%d", fn, (long long)g->dv,
                      SUBQ_FATTN_MAX_HEAD_DIM);
  if (g->window_left < -1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: window_left (%lld) < -1", fn, (long long)g->window_left);
  if (g->window_right < -1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: window_right (%lld) < -1", fn, (long long)g->window_right);
  if (g->align != SUBQ_FATTN_ALIGN_BOTTOM_RIGHT && g->align != SUBQ_FATTN_ALIGN_TOP_LEFT)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: align (%d) is not a SUBQ_FATTN_ALIGN_* value", fn,
                      (int)g->align);
  if (!isfinite(g->scale))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: scale (%g) is not finite", fn, (double)g->scale);
  if (!(g->softcap >= 0.0f) || isinf(g->softcap))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: softcap (%g) is not a finite value >= 0", fn,
                      (double)g->softcap);
  if (g->kv_split < -1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: kv_split (%lld) < -1", fn, (long long)g->kv_split);
  if (cache && g->mask)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: mask is not supported over a cache (use the window)", fn);
  if (g->mask && (g->mask_bs < 0 || g->mask_hs < 0 || g->mask_ss < 0))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a mask stride (mask_bs %lld, mask_hs %lld, mask_ss %lld) is < 0",
                      fn, (long long)g->mask_bs, (long long)g->mask_hs, (long long)g->mask_ss);
  pr->qh = subq_fattn_hcode(g->q_dtype), pr->kvh = subq_fattn_hcode(g->kv_dtype), pr->oh = subq_fattn_hcode(g->out_dtype);
  if (pr->qh == -2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: q_dtype (%d) is not F32, BF16 or F16", fn, (int)g->q_dtype);
  if (pr->kvh == -2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: kv_dtype (%d) is not F32, BF16 or F16", fn, (int)g->kv_dtype);
  if (pr->oh == -2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out_dtype (%d) is not F32, BF16 or F16", fn,
                      (int)g->out_dtype);
  pr->qes = pr->qh < 0 ? sizeof(float) : sizeof(uint16_t);
  pr->kes = pr->kvh < 0 ? sizeof(float) : sizeof(uint16_t);
  pr->oes = pr->oh < 0 ? sizeof(float) : sizeof(uint16_t);
  int64_t t;
  if (!subq_mul_i64(g->batch, g->hq, &t) || !subq_mul_i64(t, g->sq, &t) ||
      !subq_mul_i64(g->sk, g->hkv, &t) || !subq_mul_i64(t, g->batch, &t))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * heads * sequence overflows int64", fn);
  if (cache) {
    if (g->batch != cache->batch || g->hkv != cache->hkv || g->dk != cache->dk || g->dv != cache->dv)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                        "%s: args (batch %lld, hkv %lld, dk %lld, dv %lld) do not match the cache (batch %lld, hkv "
                        "%lld, dk %lld, dv %lld)",
                        fn, (long long)g->batch, (long long)g->hkv, (long long)g->dk, (long long)g->dv,
                        (long long)cache->batch, (long long)cache->hkv, (long long)cache->dk, (long long)cache->dv);
    if (g->align != SUBQ_FATTN_ALIGN_BOTTOM_RIGHT)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                        "%s: align must be BOTTOM_RIGHT over a cache (queries are the newest positions)", fn);
    for (int64_t b = 0; b < g->batch; b++) {
      const int64_t e = cache->end[b], f = cache->first[b];
      if (e < g->sq)
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                          "%s: sequence %lld holds %lld positions, fewer than sq (%lld): append the new K/V first", fn,
                          (long long)b, (long long)e, (long long)g->sq);
      const int64_t need = g->window_left >= 0 ? SUBQ_MAX(0, e - g->sq - g->window_left) : 0;
      if (need < f)
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                          "%s: the ring cache of sequence %lld no longer holds position %lld that its queries may see "
                          "(oldest held %lld; window_left %lld, sq %lld)",
                          fn, (long long)b, (long long)need, (long long)f, (long long)g->window_left,
                          (long long)g->sq);
    }
  }
  if (g->batch == 0 || g->sq == 0) {
    *empty = true;
    return SUBQ_OK;
  }
  subq_byte_range rq, rk = {0, 0}, rv = {0, 0}, ro;
  if ((st = subq_fattn_check_tensor(fn, "q", g->q, g->batch, &g->q_bs, g->sq, &g->q_ss, g->hq, &g->q_hs, g->dk,
                                    pr->qes, true, &rq)) != SUBQ_OK)
    return st;
  if (g->sk > 0) {
    if ((st = subq_fattn_check_tensor(fn, "k", g->k, g->batch, &g->k_bs, g->sk, &g->k_ss, g->hkv, &g->k_hs, g->dk,
                                      pr->kes, true, &rk)) != SUBQ_OK)
      return st;
    if ((st = subq_fattn_check_tensor(fn, "v", g->v, g->batch, &g->v_bs, g->sk, &g->v_ss, g->hkv, &g->v_hs, g->dv,
                                      pr->kes, true, &rv)) != SUBQ_OK)
      return st;
  }
  /* the out tensor's error names use "o" strides but the pointer is "out" */
  if (!g->out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if ((st = subq_fattn_check_tensor(fn, "o", g->out, g->batch, &g->o_bs, g->sq, &g->o_ss, g->hq, &g->o_hs, g->dv,
                                    pr->oes, false, &ro)) != SUBQ_OK)
    return st;
  /* rk and rv stay empty without keys */
  if (subq_byte_ranges_overlap(ro, rq)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps q", fn);
  if (subq_byte_ranges_overlap(ro, rk)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps k", fn);
  if (subq_byte_ranges_overlap(ro, rv)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps v", fn);
  subq_byte_range rm = {0, 0}; /* stays empty without a mask or keys */
  if (g->mask && g->sk > 0) { /* addressed range of the bias: index arithmetic and overlap with out */
    int64_t last = g->sk - 1, t2, bytes;
    const int64_t ext[3] = {g->batch, g->hq, g->sq}, st3[3] = {g->mask_bs, g->mask_hs, g->mask_ss};
    for (int i = 0; i < 3; i++)
      if (!subq_mul_i64(ext[i] - 1, st3[i], &t2) || !subq_add_i64(last, t2, &last))
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of mask overflows int64", fn);
    if (!subq_add_i64(last, 1, &t2) || !subq_mul_i64(t2, (int64_t)sizeof(float), &bytes) ||
        !subq_byte_range_at(g->mask, bytes, &rm))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of mask overflows int64", fn);
    if (subq_byte_ranges_overlap(ro, rm)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps mask", fn);
  }
  if (g->lse) {
    int64_t n, bytes;
    subq_byte_range rl;
    if (!subq_mul_i64(g->batch * g->hq, g->sq, &n) || !subq_mul_i64(n, (int64_t)sizeof(float), &bytes) ||
        !subq_byte_range_at(g->lse, bytes, &rl))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of lse overflows int64", fn);
    if (subq_byte_ranges_overlap(ro, rl)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps lse", fn);
    if (subq_byte_ranges_overlap(rl, rq)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: lse overlaps q", fn);
    if (subq_byte_ranges_overlap(rl, rk)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: lse overlaps k", fn);
    if (subq_byte_ranges_overlap(rl, rv)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: lse overlaps v", fn);
    if (subq_byte_ranges_overlap(rl, rm)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: lse overlaps mask", fn);
  }

  /* K/V source */
  if (cache) {
    pr->k = cache->k, pr->v = cache->v;
    pr->k_ss = cache->dk, pr->k_hs = cache->capacity * cache->dk, pr->k_bs = cache->hkv * pr->k_hs;
    pr->v_ss = cache->dv, pr->v_hs = cache->capacity * cache->dv, pr->v_bs = cache->hkv * pr->v_hs;
  } else {
    pr->k = (const unsigned char *)g->k, pr->v = (const unsigned char *)g->v;
    pr->k_bs = g->k_bs, pr->k_ss = g->k_ss, pr->k_hs = g->k_hs;
    pr->v_bs = g->v_bs, pr->v_ss = g->v_ss, pr->v_hs = g->v_hs;
  }

  /* plan (shape, args and cache positions only) */
  int64_t span = g->sk, pmax = g->sk; /* longest key range of a sequence; largest key position */
  if (cache) {
    span = 0, pmax = 0;
    for (int64_t b = 0; b < g->batch; b++) {
      int64_t lo, hi;
      subq_fattn_seq(pr, b, &lo, &hi);
      span = SUBQ_MAX(span, hi - lo), pmax = SUBQ_MAX(pmax, hi);
    }
  }
  pr->span = span;
  pr->impl = subq_fattn_pick(subq_context_isa_or_default(ctx));
  pr->g = g->hq / g->hkv;
  /* windows beyond pmax + sq allow every key already (|p_i| <= pmax + sq):
   * clamp so position arithmetic cannot overflow */
  if (g->window_left > pmax + g->sq) g->window_left = pmax + g->sq;
  if (g->window_right > pmax + g->sq) g->window_right = pmax + g->sq;
  const float scale = g->scale != 0.0f ? g->scale : 1.0f / sqrtf((float)g->dk);
  pr->qscale = g->softcap > 0.0f ? scale / g->softcap : scale;
  pr->bt = SUBQ_MIN(g->sq, SUBQ_MAX(1, SUBQ_FATTN_ROWS / pr->g));
  pr->n_qt = (g->sq + pr->bt - 1) / pr->bt;
  pr->rows = pr->g * pr->bt;
  pr->ldacc = (g->dv + 7) / 8 * 8;
  const int64_t items = g->batch * g->hkv * pr->n_qt;
  int64_t len = span;
  if (g->kv_split > 0)
    len = g->kv_split;
  else if (g->kv_split == 0 && items < SUBQ_FATTN_SPLIT_ITEMS && span > SUBQ_FATTN_AUTO_SPLIT) {
    /* as few splits as give ~SUBQ_FATTN_SPLIT_ITEMS items (from the shape,
     * not the thread count, so the bits do not depend on it), none shorter
     * than SUBQ_FATTN_AUTO_SPLIT: each split restarts the K/V prefetch
     * streams and the QK/PV pipeline and adds a partial to merge (decode
     * 32/8 heads, D 128, 32768 f16 keys on 2 Zen 3 cores: 4096-key splits
     * 1.13-1.15x fixed 512-key ones) */
    const int64_t want = (SUBQ_FATTN_SPLIT_ITEMS + items - 1) / items;
    len = SUBQ_MAX(SUBQ_FATTN_AUTO_SPLIT, (span + want - 1) / want);
  }
  pr->split_len = SUBQ_MAX(1, len);
  pr->n_split = span > 0 ? (span + pr->split_len - 1) / pr->split_len : 1;
  if (!subq_mul_i64(items, pr->n_split, &t))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: kv_split (%lld) gives too many splits", fn,
                      (long long)g->kv_split);
  return SUBQ_OK;
}

/* Writes one output row: acc / l (0 when l == 0) in out's dtype. */
static void subq_fattn_store(const subq_fattn_prob *pr, int64_t b, int64_t tok, int64_t h, const float *acc, float l) {
  const subq_fattn_args *a = &pr->a;
  const int64_t dv = a->dv, at = b * a->o_bs + tok * a->o_ss + h * a->o_hs;
  if (pr->oh < 0) {
    float *o = a->out + at;
    if (l > 0.0f)
      for (int64_t d = 0; d < dv; d++) o[d] = acc[d] / l;
    else
      memset(o, 0, (size_t)dv * sizeof(float));
    return;
  }
  uint16_t *o = (uint16_t *)(void *)a->out + at;
  for (int64_t d = 0; d < dv; d++) {
    const float x = l > 0.0f ? acc[d] / l : 0.0f;
    o[d] = pr->oh == SUBQ_FATTN_H_F16 ? subq_f32_to_f16_1(x) : subq_f32_to_bf16_1(x);
  }
}

/* ---- phase 1: one (b, kv head, query tile, split) item ---------------------------- */

/* One item's tile context. */
typedef struct subq_fattn_item {
  const subq_fattn_prob *pr;
  int64_t nr, t0, b, kh, off, p0, p1, ring;
  const unsigned char *kbase, *vbase; /* K/V of (b, kh) at slot 0 */
  float *qp, *s0, *s1, *acc, *mrow, *lrow, *vt, *kw; /* s0, s1: two R x BK S / P tiles */
  float *qt, *ot, *alpha; /* transposed path: Q^T (dk x ldr), O^T (dv x ldr), rescale per column; s0: S^T */
  int64_t ldr;            /* rows rounded up to 16: the column count of the transposed tiles */
  const float *kpack, *vpack; /* transposed path: this (b, kv head)'s packed K / V rows, or NULL */
} subq_fattn_item;

static inline int64_t subq_fattn_slot(const subq_fattn_item *it, int64_t pos) {
  return it->ring ? pos % it->ring : pos;
}

/* Soft-cap, bias, window mask and the online-softmax step of one S tile
 * (keys [j0, j0 + nk)): S becomes P, acc is rescaled, m and l updated. */
static void subq_fattn_softmax_tile(const subq_fattn_item *it, float *sp, int64_t j0, int64_t nk, bool full) {
  const subq_fattn_prob *pr = it->pr;
  const subq_fattn_args *a = &pr->a;
  const subq_fattn_impl *u = pr->impl;
  const int64_t G = pr->g, wl = a->window_left, wr = a->window_right;
  for (int64_t r = 0; r < it->nr; r++) {
    float *sr = sp + r * SUBQ_FATTN_BK;
    if (a->softcap > 0.0f)
      for (int64_t j = 0; j < nk; j++) sr[j] = a->softcap * tanhf(sr[j]);
    if (a->mask) { /* additive bias, after soft-cap, before the window mask */
      const float *mr =
          a->mask + it->b * a->mask_bs + (it->kh * G + r % G) * a->mask_hs + (it->t0 + r / G) * a->mask_ss + j0;
      for (int64_t j = 0; j < nk; j++) sr[j] = mr[j] == -INFINITY ? -INFINITY : sr[j] + mr[j]; /* K unused there */
    }
    if (!full) { /* allowed keys of this row: [pi - wl, pi + wr], clipped to the tile */
      const int64_t pi = it->t0 + r / G + it->off;
      const int64_t lo = wl >= 0 ? SUBQ_MIN(nk, SUBQ_MAX(0, pi - wl - j0)) : 0;
      const int64_t hi = wr >= 0 ? SUBQ_MAX(lo, SUBQ_MIN(nk, pi + wr + 1 - j0)) : nk;
      for (int64_t j = 0; j < lo; j++) sr[j] = -INFINITY;
      for (int64_t j = hi; j < nk; j++) sr[j] = -INFINITY;
    }
    float *mrow = it->mrow + r, *lrow = it->lrow + r;
    const float mx = u->rowmax(sr, nk, *mrow);
    if (mx == -INFINITY) { /* nothing allowed yet: this tile adds nothing */
      memset(sr, 0, (size_t)nk * sizeof(float));
      continue;
    }
    const float alpha = *mrow == -INFINITY ? 0.0f : subq_expf_u2(*mrow - mx);
    const float sum = u->expsub(sr, nk, mx);
    if (alpha != 1.0f) u->scale(it->acc + r * pr->ldacc, a->dv, alpha);
    *lrow = fmaf(alpha, *lrow, sum);
    *mrow = mx;
  }
}

/* End of the tile that starts at position j0 (tiles of a ring cache never wrap). */
static inline int64_t subq_fattn_tile_end(const subq_fattn_item *it, int64_t j0, int64_t jhi) {
  int64_t j1 = SUBQ_MIN(jhi, j0 + SUBQ_FATTN_BK);
  if (it->ring) j1 = SUBQ_MIN(j1, (j0 / it->ring + 1) * it->ring); /* its slots are contiguous */
  return j1;
}

static inline bool subq_fattn_tile_full(const subq_fattn_item *it, int64_t j0, int64_t j1) {
  const int64_t wl = it->pr->a.window_left, wr = it->pr->a.window_right;
  return (wr < 0 || j1 - 1 <= it->p0 + wr) && (wl < 0 || j0 >= it->p1 - wl);
}

/* ---- the direct path (tiles of few rows: decode) ---------------------------------- */

/* Direct-path granularity, in bytes of one K / V row stream (measured on 2
 * Zen 3 cores, D 128, f32: pipelined this way 1.1-1.4x the unpipelined tile
 * loop; QK sub-calls of 8 keys 1.16x; other distances within the noise): a
 * QK sub-call covers ~1 KiB of K (2 f32 keys of D 128), a step 4 sub-calls;
 * K is prefetched ~8 KiB ahead of its reads, V ~12 KiB. */
#define SUBQ_FATTN_QK_BYTES 1024
#define SUBQ_FATTN_PF_K_BYTES 8192
#define SUBQ_FATTN_PF_V_BYTES 12288

/* A prefetch stream over the rows of K or V: the next line to request is
 * line `o` of position `p` (rows of lpr lines; slots wrap in a ring). */
typedef struct subq_fattn_pf {
  const unsigned char *base;
  size_t stride;
  int64_t lpr, p, o;
  const char *row; /* row of position p */
} subq_fattn_pf;

static inline void subq_fattn_pf_init(subq_fattn_pf *f, const subq_fattn_item *it, const unsigned char *base,
                                      size_t stride, int64_t lpr, int64_t p) {
  f->base = base, f->stride = stride, f->lpr = lpr, f->p = p, f->o = 0;
  f->row = (const char *)base + (size_t)subq_fattn_slot(it, p) * stride;
}

/* Lines still to request before position `to`. */
static inline int64_t subq_fattn_pf_left(const subq_fattn_pf *f, int64_t to) {
  return to > f->p ? (to - f->p) * f->lpr - f->o : 0;
}

/* Requests the next n lines. */
static inline void subq_fattn_pf_issue(subq_fattn_pf *f, const subq_fattn_item *it, int64_t n) {
  for (; n > 0; n--) {
    __builtin_prefetch(f->row + f->o * 64, 0, 3);
    if (++f->o == f->lpr) f->o = 0, f->p++, f->row = (const char *)f->base + (size_t)subq_fattn_slot(it, f->p) * f->stride;
  }
}

/* K/V read in place (16-bit widened in registers), software-pipelined by one
 * tile: Q K^T of tile i runs in steps of `step` keys, each followed by the
 * P V step at the same offset of tile i - 1, so the K and V streams are both
 * in flight all the time (one tile's V stream after another's K stream left
 * the miss buffers idle while the other ran). QK runs in sub-calls of qkw
 * keys, each preceded by a share of the step's prefetches (bursts stall on
 * the miss buffers with the FMAs queued behind them): K up to pfk keys past
 * its reads, V up to pfv past its reads. The arithmetic is the unpipelined
 * order's: tile i's softmax (which rescales acc) runs after tile i - 1's PV,
 * and PV adds each element's keys in increasing order. A range of one tile
 * or less (tiny calls) runs as one QK and one PV call, without prefetches. */
static void subq_fattn_tiles_direct(const subq_fattn_item *it, int64_t jlo, int64_t jhi) {
  const subq_fattn_prob *pr = it->pr;
  const subq_fattn_impl *u = pr->impl;
  const int64_t nr = it->nr, dk = pr->a.dk, dv = pr->a.dv, ldacc = pr->ldacc;
  const int kvh = pr->kvh;
  const size_t kst = (size_t)pr->k_ss * pr->kes, vst = (size_t)pr->v_ss * pr->kes;
  const int64_t krow = (int64_t)pr->kes * dk, vrow = (int64_t)pr->kes * dv;
  const bool stream = jhi - jlo > SUBQ_FATTN_BK;
  /* keys per QK sub-call: ~1 KiB of K, rounded down to a multiple of the
   * kernel's key block, else a pair (f32 D 128: 2 keys; f16 D 128: 3 on AVX2;
   * measured 1 thread, 32/8 heads, 32768 keys: f32 with 3 keys 0.78x, with
   * 6 0.65x; f16 with 6 0.97x, 9 0.91x, 12 0.80x), keys per step (<= BK),
   * prefetch distances in keys */
  const int64_t kb = u->qk_keys, near = SUBQ_MIN(16, SUBQ_FATTN_QK_BYTES / krow);
  const int64_t qkw = !stream ? SUBQ_FATTN_BK : near >= kb ? near / kb * kb : SUBQ_MAX(2, near) & ~(int64_t)1;
  /* f32 K/V is memory-bound: PV of the previous tile in steps of 4 QK
   * sub-calls keeps both streams busy; 16-bit K/V moves half the bytes for
   * the same FMAs, and per-step PV calls (acc reloaded each time) cost more
   * than they hide: one PV call per tile after its QK (measured against the
   * unpipelined loop, 2 Zen 3 cores, D 128: f16 0.90-0.98x with steps of 16
   * keys, 0.94-1.05x with whole tiles; f32 1.1-1.4x with steps of 8 keys,
   * 1.13-1.16x with whole tiles) */
  const int64_t step = stream && pr->kvh < 0 ? 4 * qkw : SUBQ_FATTN_BK;
  const int64_t pfk = SUBQ_MAX(2, SUBQ_FATTN_PF_K_BYTES / krow), pfv = SUBQ_MAX(2, SUBQ_FATTN_PF_V_BYTES / vrow);
  subq_fattn_pf kpf, vpf;
  subq_fattn_pf_init(&kpf, it, it->kbase, kst, (krow + 63) / 64, jlo);
  subq_fattn_pf_init(&vpf, it, it->vbase, vst, (vrow + 63) / 64, jlo);
  float *cur = it->s0, *prev = it->s1;
  int64_t pnk = 0;
  const unsigned char *pvt = NULL; /* V of the previous tile */
  for (int64_t j0 = jlo;;) {
    const int64_t j1 = j0 < jhi ? subq_fattn_tile_end(it, j0, jhi) : j0, nk = j1 - j0;
    if (nk == 0 && pnk == 0) break;
    const unsigned char *kt = it->kbase + (size_t)subq_fattn_slot(it, j0) * kst;
    for (int64_t c = 0; c < nk || c < pnk; c += step) {
      const int64_t nq = c < nk ? SUBQ_MIN(step, nk - c) : 0; /* QK keys of tile i */
      const int64_t n = c < pnk ? SUBQ_MIN(step, pnk - c) : 0; /* PV keys of tile i - 1 */
      /* this step reads K up to position j0 + c + nq, V up to j0 - pnk + c + n;
       * its prefetches are shared out over the QK sub-calls and the PV call */
      const int64_t calls = (nq + qkw - 1) / qkw + 1;
      int64_t kn = 0, vn = 0;
      if (stream) {
        kn = (subq_fattn_pf_left(&kpf, SUBQ_MIN(jhi, j0 + c + nq + pfk)) + calls - 1) / calls;
        vn = (subq_fattn_pf_left(&vpf, SUBQ_MIN(jhi, j0 - pnk + c + n + pfv)) + calls - 1) / calls;
      }
      for (int64_t i = 0; i < nq; i += qkw) {
        subq_fattn_pf_issue(&kpf, it, kn);
        subq_fattn_pf_issue(&vpf, it, vn);
        const int64_t m = SUBQ_MIN(qkw, nq - i);
        const void *kc = kt + (size_t)(c + i) * kst;
        if (kvh < 0) {
          u->qk(nr, m, dk, it->qp, dk, kc, pr->k_ss, cur + c + i, SUBQ_FATTN_BK);
        } else if (u->qkh) {
          u->qkh(kvh, nr, m, dk, it->qp, dk, kc, pr->k_ss, cur + c + i, SUBQ_FATTN_BK);
        } else {
          u->widen(kvh, m, dk, kc, pr->k_ss, it->kw, dk);
          u->qk(nr, m, dk, it->qp, dk, it->kw, dk, cur + c + i, SUBQ_FATTN_BK);
        }
      }
      subq_fattn_pf_issue(&kpf, it, kn);
      subq_fattn_pf_issue(&vpf, it, vn);
      if (n > 0) {
        const void *vc = pvt + (size_t)c * vst;
        if (kvh < 0) {
          u->pv(nr, n, dv, prev + c, SUBQ_FATTN_BK, vc, pr->v_ss, it->acc, ldacc);
        } else if (u->pvh) {
          u->pvh(kvh, nr, n, dv, prev + c, SUBQ_FATTN_BK, vc, pr->v_ss, it->acc, ldacc);
        } else {
          u->widen(kvh, n, dv, vc, pr->v_ss, it->vt, ldacc);
          u->pv(nr, n, dv, prev + c, SUBQ_FATTN_BK, it->vt, ldacc, it->acc, ldacc);
        }
      }
    }
    if (nk == 0) break;
    subq_fattn_softmax_tile(it, cur, j0, nk, subq_fattn_tile_full(it, j0, j1));
    float *t = cur;
    cur = prev, prev = t;
    pnk = nk, pvt = it->vbase + (size_t)subq_fattn_slot(it, j0) * vst;
    j0 = j1;
  }
}

/* ---- the transposed path (tiles of many rows: prefill) ------------------------------ */

/* First row of token t (rows are G per token), clamped to [0, nr]. */
static inline int64_t subq_fattn_tok_row(int64_t t, int64_t G, int64_t nr) {
  return t <= 0 ? 0 : t >= nr ? nr : SUBQ_MIN(nr, t * G);
}

/* Soft-cap, bias and window mask of a transposed S tile (st[j * ldr + r]:
 * key j0 + j, row r); keys that no row may see get no live bit. A key's
 * allowed rows are one run: row r is token t0 + r / G at position p0 + r / G,
 * and key kj is allowed where kj - wr <= p0 + r / G <= kj + wl. */
static void subq_fattn_mask_t(const subq_fattn_item *it, float *st, int64_t j0, int64_t nk, bool full,
                              uint64_t *live) {
  const subq_fattn_prob *pr = it->pr;
  const subq_fattn_args *a = &pr->a;
  const int64_t G = pr->g, nr = it->nr, ldr = it->ldr, wl = a->window_left, wr = a->window_right;
  if (a->softcap > 0.0f)
    for (int64_t j = 0; j < nk; j++)
      for (int64_t r = 0; r < nr; r++) st[j * ldr + r] = a->softcap * tanhf(st[j * ldr + r]);
  if (a->mask) /* additive bias, after soft-cap, before the window mask */
    for (int64_t r = 0; r < nr; r++) {
      const float *mr =
          a->mask + it->b * a->mask_bs + (it->kh * G + r % G) * a->mask_hs + (it->t0 + r / G) * a->mask_ss + j0;
      for (int64_t j = 0; j < nk; j++) st[j * ldr + r] = mr[j] == -INFINITY ? -INFINITY : st[j * ldr + r] + mr[j];
    }
  if (full && !a->mask) return;
  for (int64_t w = 0; w <= (nk - 1) / 64; w++) live[w] = 0;
  for (int64_t j = 0; j < nk; j++) {
    float *sj = st + j * ldr;
    int64_t rlo = 0, rhi = nr;
    if (!full) { /* allowed tokens [kj - wr - p0, kj + wl - p0] as rows (clamped before * G: no overflow) */
      const int64_t kj = j0 + j;
      if (wr >= 0) rlo = subq_fattn_tok_row(kj - wr - it->p0, G, nr);
      if (wl >= 0) rhi = SUBQ_MAX(rlo, subq_fattn_tok_row(kj + wl - it->p0 + 1, G, nr));
      for (int64_t r = 0; r < rlo; r++) sj[r] = -INFINITY;
      for (int64_t r = rhi; r < nr; r++) sj[r] = -INFINITY;
    }
    bool any = false;
    for (int64_t r = rlo; r < rhi; r++) any |= sj[r] != -INFINITY;
    live[j >> 6] |= (uint64_t)any << (j & 63);
  }
}

/* Requests the cache lines of [p, p + n) (n >= 1): for writing into L1 when
 * `write`, else for reading into L2. */
static inline void subq_fattn_prefetch_bytes(const unsigned char *p, size_t n, bool write) {
  const uintptr_t last = (uintptr_t)p + n - 1;
  for (uintptr_t x = (uintptr_t)p & ~(uintptr_t)63; x <= last; x += 64) {
    if (write)
      __builtin_prefetch((const void *)x, 1, 3);
    else
      __builtin_prefetch((const void *)x, 0, 2);
  }
}

/* u->mm, with packed rows [j0, j0 + n) of K or V (d floats each) requested
 * into L2 in shares before each block of SUBQ_FATTN_PF_ROWS rows of c (no
 * packing or n <= 0: no requests). The packed copy is read from the L3:
 * unrequested, the tile products wait on it (Zen 3, 1 thread, H16 N2048 D64
 * BSHD: 138 ms against 132-134 requested); in shares, H32 N2048 D128 ran
 * 523 ms against 543 in one burst (D64: equal). */
#define SUBQ_FATTN_PF_ROWS 12
static void subq_fattn_mm_pf(const subq_fattn_item *it, const float *pack, int64_t j0, int64_t n, int64_t d,
                             int64_t m, int64_t nc, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                             const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                             const uint64_t *live) {
  const subq_fattn_mm_fn mm = it->pr->impl->mm;
  if (!pack || n <= 0) {
    mm(m, nc, k, a, a_rs, a_ks, b, ldb, c, ldc, accumulate, scale, live);
    return;
  }
  const unsigned char *pf = (const unsigned char *)(pack + (j0 - it->pr->pk_lo) * d); /* packed rows: 64-byte aligned */
  const size_t bytes = (size_t)(n * d) * sizeof(float);
  const size_t blocks = (size_t)((m + SUBQ_FATTN_PF_ROWS - 1) / SUBQ_FATTN_PF_ROWS);
  const size_t share = ((bytes + 63) / 64 + blocks - 1) / blocks * 64;
  size_t done = 0;
  for (int64_t i = 0; i < m; i += SUBQ_FATTN_PF_ROWS) {
    if (done < bytes) subq_fattn_prefetch_bytes(pf + done, SUBQ_MIN(share, bytes - done), false);
    done += share;
    mm(SUBQ_MIN(SUBQ_FATTN_PF_ROWS, m - i), nc, k, a + i * a_rs, a_rs, a_ks, b, ldb, c + i * ldc, ldc, accumulate,
       scale, live);
  }
}

#define SUBQ_FATTN_COPY_AHEAD 8 /* rows subq_fattn_copy_rows requests ahead of its f32 copies */

/* n rows of K or V (d elements each, ss elements apart, from src) as
 * contiguous f32 at dst: 16-bit widened, f32 copied with the rows
 * SUBQ_FATTN_COPY_AHEAD ahead requested first (strided rows, BSHD: a page per
 * token, are otherwise a chain of misses one row at a time). */
static void subq_fattn_copy_rows(const subq_fattn_prob *pr, const unsigned char *src, int64_t ss, int64_t n,
                                 int64_t d, float *dst) {
  if (pr->kvh >= 0) {
    pr->impl->widen(pr->kvh, n, d, (const uint16_t *)(const void *)src, ss, dst, d);
    return;
  }
  const size_t row = (size_t)ss * sizeof(float), bytes = (size_t)d * sizeof(float);
  for (int64_t j = 0; j < n; j++) {
    if (j + SUBQ_FATTN_COPY_AHEAD < n)
      subq_fattn_prefetch_bytes(src + (size_t)(j + SUBQ_FATTN_COPY_AHEAD) * row, bytes, false);
    memcpy(dst + j * d, src + (size_t)j * row, bytes);
  }
}

/* Rows [j0, j0 + nk) of K or V (d elements each, `tile` = row j0, ss
 * elements apart) as contiguous f32: the call's packed copy (subq_fattn_pack),
 * else copied or widened into dst. Read in place, token strides that are
 * multiples of 4 KiB alias in L1 (measured on Zen 3, H16 D64 BSHD: 1.18x
 * faster with the copy). */
static const float *subq_fattn_rows_t(const subq_fattn_item *it, const float *pack, const unsigned char *tile,
                                      int64_t ss, int64_t j0, int64_t nk, int64_t d, float *dst) {
  if (pack) return pack + (j0 - it->pr->pk_lo) * d;
  subq_fattn_copy_rows(it->pr, tile, ss, nk, d, dst);
  return dst;
}

/* Every tile computed transposed, columns = the item's rows: S^T = K Q^T, a
 * column-wise online softmax (no horizontal reductions), then
 * O^T = O^T * alpha + V^T P^T. Q^T is packed once per item; each K and V
 * tile comes from the call's packed copy or is copied (16-bit: widened) into
 * contiguous scratch (subq_fattn_rows_t), never transposed.
 * Keys no row may see (masked tiles, bias) are skipped in P V, so their V
 * values never reach the output. Per element the sums run over d, then over
 * keys, in increasing order. */
static void subq_fattn_tiles_t(const subq_fattn_item *it, int64_t jlo, int64_t jhi) {
  const subq_fattn_prob *pr = it->pr;
  const subq_fattn_impl *u = pr->impl;
  const int64_t dk = pr->a.dk, dv = pr->a.dv, ldr = it->ldr;
  const size_t kst = (size_t)pr->k_ss * pr->kes, vst = (size_t)pr->v_ss * pr->kes;
  float *st = it->s0;
  uint64_t live[(SUBQ_FATTN_TBK + 63) / 64];
  for (int64_t j0 = jlo; j0 < jhi;) {
    int64_t j1 = SUBQ_MIN(jhi, j0 + SUBQ_FATTN_TBK);
    if (it->ring) j1 = SUBQ_MIN(j1, (j0 / it->ring + 1) * it->ring); /* slots of a tile are contiguous */
    const int64_t nk = j1 - j0, slot = subq_fattn_slot(it, j0);
    const unsigned char *ktile = it->kbase + (size_t)slot * kst, *vtile = it->vbase + (size_t)slot * vst;
    const float *kt = subq_fattn_rows_t(it, it->kpack, ktile, pr->k_ss, j0, nk, dk, it->kw);
    subq_fattn_mm_pf(it, it->vpack, j0, nk, dv, /* this tile's V, during QK */
                     nk, ldr, dk, kt, dk, 1, it->qt, ldr, st, ldr, false, NULL, NULL);
    const bool full = subq_fattn_tile_full(it, j0, j1);
    subq_fattn_mask_t(it, st, j0, nk, full, live);
    u->colsoftmax(nk, ldr, st, ldr, it->mrow, it->lrow, it->alpha);
    const float *vt = subq_fattn_rows_t(it, it->vpack, vtile, pr->v_ss, j0, nk, dv, it->vt);
    subq_fattn_mm_pf(it, it->kpack, j1, SUBQ_MIN(jhi - j1, SUBQ_FATTN_TBK), dk, /* the next K, during PV */
                     dv, ldr, nk, vt, 1, dv, st, ldr, it->ot, ldr, true, it->alpha, full && !pr->a.mask ? NULL : live);
    j0 = j1;
  }
}

/* K/V packed once per call (subq_fattn_run): the transposed path's tiles
 * otherwise copy (or widen) their K/V rows again for every query tile, and
 * strided rows (BSHD: one 4 KiB page per token at H16 D64) make each tile's
 * copy a run of TLB and cache misses. The (b, kv head) pairs run in waves
 * whose packed rows fit SUBQ_FATTN_PACK_BYTES (so they are still in the L3
 * when the wave's items read them): a pack phase, then the wave's items. */
typedef struct subq_fattn_wave {
  const subq_fattn_prob *pr;
  void *const *buf;   /* the call's shared workspace (set before the first phase) */
  int64_t bh0;        /* first (b, kv head) pair, b * hkv + kh */
  int64_t chunks;     /* pack items per pair */
} subq_fattn_wave;

#define SUBQ_FATTN_PACK_TOKENS 128 /* tokens per pack item */

/* Floats of one (b, kv head) pair's packed K then V. */
static inline int64_t subq_fattn_pack_floats(const subq_fattn_prob *pr) {
  return pr->pk_n * (pr->a.dk + pr->a.dv);
}

/* Pack item i: tokens [c * T, c * T + T) of the packed range of pair
 * bh0 + p (i = p * chunks + c), K then V, widened to f32. */
static subq_status subq_fattn_pack(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_fattn_wave *w = arg;
  const subq_fattn_prob *pr = w->pr;
  const int64_t dk = pr->a.dk, dv = pr->a.dv;
  for (int64_t i = begin; i < end; i++) {
    const int64_t p = i / w->chunks, bh = w->bh0 + p, b = bh / pr->a.hkv, kh = bh % pr->a.hkv;
    const int64_t j0 = (i % w->chunks) * SUBQ_FATTN_PACK_TOKENS;
    const int64_t n = SUBQ_MIN(SUBQ_FATTN_PACK_TOKENS, pr->pk_n - j0), pos = pr->pk_lo + j0;
    float *pair = (float *)*w->buf + p * subq_fattn_pack_floats(pr);
    float *kd = pair + j0 * dk, *vd = pair + pr->pk_n * dk + j0 * dv;
    const unsigned char *ks = pr->k + (size_t)(b * pr->k_bs + kh * pr->k_hs + pos * pr->k_ss) * pr->kes;
    const unsigned char *vs = pr->v + (size_t)(b * pr->v_bs + kh * pr->v_hs + pos * pr->v_ss) * pr->kes;
    subq_fattn_copy_rows(pr, ks, pr->k_ss, n, dk, kd);
    subq_fattn_copy_rows(pr, vs, pr->v_ss, n, dv, vd);
  }
  return SUBQ_OK;
}

/* Items [begin, end); w: the wave whose packed K/V they read (items numbered
 * from the wave's first pair), or NULL (no packing). */
static subq_status subq_fattn_items_at(const subq_fattn_prob *pr, const subq_fattn_wave *w, int64_t begin,
                                       int64_t end, const subq_task_info *info) {
  const subq_fattn_args *a = &pr->a;
  const subq_fattn_impl *u = pr->impl;
  const int64_t G = pr->g, dk = a->dk, dv = a->dv, ldacc = pr->ldacc, R = pr->rows;
  const int64_t wl = a->window_left, wr = a->window_right;
  subq_fattn_item ib = {0};
  subq_fattn_item *itm = &ib;
  ib.pr = pr;
  ib.ring = pr->cache && pr->cache->mode == SUBQ_KV_RING ? pr->cache->capacity : 0;
  ib.qp = info->scratch;                    /* R x dk */
  ib.s0 = ib.qp + R * dk;                   /* R x BK */
  ib.s1 = ib.s0 + R * SUBQ_FATTN_BK;        /* R x BK */
  ib.acc = ib.s1 + R * SUBQ_FATTN_BK;       /* R x ldacc */
  ib.mrow = ib.acc + R * ldacc, ib.lrow = ib.mrow + R;
  ib.vt = ib.lrow + R;                      /* BK x ldacc, 16-bit V tile widened (when not read directly) */
  ib.kw = ib.vt + ldacc * SUBQ_FATTN_BK;    /* BK x dk, 16-bit K tile widened (when not read directly) */
  /* the transposed path (tiles of >= SUBQ_FATTN_MANY_ROWS rows) carves the same scratch its own way */
  const bool tpath = u->mm && R >= SUBQ_FATTN_MANY_ROWS;
  if (tpath) {
    const int64_t ldr = (R + 15) / 16 * 16;
    ib.ldr = ldr;
    ib.qt = info->scratch;                        /* dk x ldr */
    ib.s0 = ib.qt + dk * ldr;                     /* TBK x ldr: S^T, then P^T */
    ib.ot = ib.s0 + SUBQ_FATTN_TBK * ldr;         /* dv x ldr */
    ib.mrow = ib.ot + dv * ldr, ib.lrow = ib.mrow + ldr, ib.alpha = ib.lrow + ldr;
    ib.acc = ib.alpha + ldr;                      /* R x ldacc: O^T transposed back for the write-out */
    ib.kw = ib.acc + R * ldacc;                   /* TBK x dk, 16-bit K tile widened */
    ib.vt = ib.kw + SUBQ_FATTN_TBK * dk;          /* TBK x dv, 16-bit V tile widened */
    ib.qp = ib.s1 = NULL;
  }
  float *qp = ib.qp, *acc = ib.acc, *mrow = ib.mrow, *lrow = ib.lrow;
  const int64_t first = w ? w->bh0 * pr->n_qt * pr->n_split : 0;
  for (int64_t it = begin + first; it < end + first; it++) {
    int64_t rest = it;
    const int64_t s = rest % pr->n_split;
    rest /= pr->n_split;
    const int64_t qt = pr->n_qt - 1 - rest % pr->n_qt; /* last (longest under causal) tiles first */
    rest /= pr->n_qt;
    const int64_t kh = rest % a->hkv, b = rest / a->hkv;
    const int64_t t0 = qt * pr->bt, t1 = SUBQ_MIN(a->sq, t0 + pr->bt), nr = (t1 - t0) * G;
    int64_t base, kend;
    subq_fattn_seq(pr, b, &base, &kend);
    const int64_t off = a->align == SUBQ_FATTN_ALIGN_BOTTOM_RIGHT ? kend - a->sq : 0;
    ib.nr = nr, ib.t0 = t0, ib.b = b, ib.kh = kh, ib.off = off;
    ib.p0 = t0 + off, ib.p1 = t1 - 1 + off; /* key coordinates of first/last token */

    if (tpath) { /* Q^T (scaled; columns past nr zero), O^T = 0, m = -inf, l = 0 */
      const int64_t ldr = ib.ldr;
      /* every row's Q and out lines requested first: row by row, the rows of
       * a strided layout (BSHD: a page per token) are a chain of misses */
      for (int64_t r = 0; r < nr; r++) {
        const int64_t tok = t0 + r / G, h = kh * G + r % G;
        const size_t qat = (size_t)(b * a->q_bs + tok * a->q_ss + h * a->q_hs) * pr->qes;
        const size_t oat = (size_t)(b * a->o_bs + tok * a->o_ss + h * a->o_hs) * pr->oes;
        subq_fattn_prefetch_bytes((const unsigned char *)a->q + qat, (size_t)dk * pr->qes, false);
        subq_fattn_prefetch_bytes((const unsigned char *)a->out + oat, (size_t)dv * pr->oes, true);
      }
      for (int64_t r = 0; r < ldr; r++) {
        mrow[r] = -INFINITY, lrow[r] = 0.0f;
        if (r >= nr) {
          for (int64_t d = 0; d < dk; d++) ib.qt[d * ldr + r] = 0.0f;
          continue;
        }
        const int64_t at = b * a->q_bs + (t0 + r / G) * a->q_ss + (kh * G + r % G) * a->q_hs;
        if (pr->qh < 0) {
          const float *src = a->q + at;
          for (int64_t d = 0; d < dk; d++) ib.qt[d * ldr + r] = src[d] * pr->qscale;
        } else {
          const uint16_t *src = (const uint16_t *)(const void *)a->q + at;
          for (int64_t d = 0; d < dk; d++) ib.qt[d * ldr + r] = subq_fattn_h_to_f32(pr->qh, src[d]) * pr->qscale;
        }
      }
      memset(ib.ot, 0, (size_t)(dv * ldr) * sizeof(float));
    }
    /* pack Q (scaled), row r = token (r / G), head kh * G + r % G */
    for (int64_t r = 0; r < nr && !tpath; r++) {
      const int64_t at = b * a->q_bs + (t0 + r / G) * a->q_ss + (kh * G + r % G) * a->q_hs;
      if (pr->qh < 0) {
        const float *src = a->q + at;
        for (int64_t d = 0; d < dk; d++) qp[r * dk + d] = src[d] * pr->qscale;
      } else {
        const uint16_t *src = (const uint16_t *)(const void *)a->q + at;
        for (int64_t d = 0; d < dk; d++) qp[r * dk + d] = subq_fattn_h_to_f32(pr->qh, src[d]) * pr->qscale;
      }
      mrow[r] = -INFINITY;
      lrow[r] = 0.0f;
      memset(acc + r * ldacc, 0, (size_t)ldacc * sizeof(float));
    }
    /* key range: this split, clipped to what the mask allows for any row */
    int64_t jlo = base + s * pr->split_len, jhi = SUBQ_MIN(kend, jlo + pr->split_len);
    if (wl >= 0) jlo = SUBQ_MAX(jlo, ib.p0 - wl);
    if (wr >= 0) jhi = SUBQ_MIN(jhi, ib.p1 + wr + 1);
    ib.kbase = pr->k + (size_t)(b * pr->k_bs + kh * pr->k_hs) * pr->kes;
    ib.vbase = pr->v + (size_t)(b * pr->v_bs + kh * pr->v_hs) * pr->kes;
    if (w) {
      ib.kpack = (const float *)*w->buf + (b * a->hkv + kh - w->bh0) * subq_fattn_pack_floats(pr);
      ib.vpack = ib.kpack + pr->pk_n * dk;
    }
    if (tpath) {
      subq_fattn_tiles_t(itm, jlo, jhi);
      for (int64_t r = 0; r < nr; r++)
        for (int64_t d = 0; d < dv; d++) acc[r * ldacc + d] = ib.ot[d * ib.ldr + r];
    } else {
      subq_fattn_tiles_direct(itm, jlo, jhi);
    }
    /* write out, or the split's partial state */
    for (int64_t r = 0; r < nr; r++) {
      const int64_t tok = t0 + r / G, h = kh * G + r % G;
      const float *ar = acc + r * ldacc;
      if (pr->part) {
        float *dst = pr->part + (((b * a->hq + h) * a->sq + tok) * pr->n_split + s) * (dv + 2);
        dst[0] = mrow[r];
        dst[1] = lrow[r];
        memcpy(dst + 2, ar, (size_t)dv * sizeof(float));
        continue;
      }
      const float l = lrow[r];
      subq_fattn_store(pr, b, tok, h, ar, l);
      if (a->lse) a->lse[(b * a->hq + h) * a->sq + tok] = l > 0.0f ? mrow[r] + logf(l) : -INFINITY;
    }
  }
  return SUBQ_OK;
}

static subq_status subq_fattn_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  return subq_fattn_items_at(arg, NULL, begin, end, info);
}

static subq_status subq_fattn_items_wave(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_fattn_wave *w = arg;
  return subq_fattn_items_at(w->pr, w, begin, end, info);
}

/* ---- phase 2: merge split partials in split order, one item per (b, h, token) ------- */

static subq_status subq_fattn_merge(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_fattn_prob *pr = arg;
  const subq_fattn_args *a = &pr->a;
  const int64_t dv = a->dv, ns = pr->n_split;
  float o[SUBQ_FATTN_MAX_HEAD_DIM];
  for (int64_t it = begin; it < end; it++) {
    const int64_t tok = it % a->sq, bh = it / a->sq, h = bh % a->hq, b = bh / a->hq;
    const float *pp = pr->part + it * ns * (dv + 2);
    float m = -INFINITY;
    for (int64_t s = 0; s < ns; s++) m = pp[s * (dv + 2)] > m ? pp[s * (dv + 2)] : m;
    float l = 0.0f;
    if (m != -INFINITY) {
      for (int64_t d = 0; d < dv; d++) o[d] = 0.0f;
      for (int64_t s = 0; s < ns; s++) {
        const float *ps = pp + s * (dv + 2);
        if (ps[0] == -INFINITY) continue; /* the split saw no allowed key */
        const float w = subq_expf_u2(ps[0] - m);
        l = fmaf(w, ps[1], l);
        for (int64_t d = 0; d < dv; d++) o[d] = fmaf(w, ps[2 + d], o[d]);
      }
    }
    subq_fattn_store(pr, b, tok, h, o, l);
    if (a->lse) a->lse[it] = l > 0.0f ? m + logf(l) : -INFINITY;
  }
  return SUBQ_OK;
}

static subq_status subq_fattn_zero_rows(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_fattn_prob *pr = arg;
  const subq_fattn_args *a = &pr->a;
  for (int64_t it = begin; it < end; it++) {
    const int64_t tok = it % a->sq, bh = it / a->sq, h = bh % a->hq, b = bh / a->hq;
    memset((unsigned char *)a->out + (size_t)(b * a->o_bs + tok * a->o_ss + h * a->o_hs) * pr->oes, 0,
           (size_t)a->dv * pr->oes);
    if (a->lse) a->lse[it] = -INFINITY;
  }
  return SUBQ_OK;
}

/* Tiny problems: below SUBQ_FATTN_TINY_FMAS multiply-adds (B Hq Sq x the
 * longest key range x (dk + dv), masks ignored) a call runs on the calling
 * thread, like any call with a NULL context: waking the pool costs more than
 * the work (measured on 2 Zen 3 cores, `subq-bench fattn`: 1 x 1 x 16 is 0.27 us
 * inline vs 2.5 us dispatched; decode 8/2 heads, 64 keys, D 64 (2^16) 3.9 vs
 * 5.1 us; 8 heads of Sq = Sk = 16, D 64 (2^18) already 1.3x faster on 2 threads).
 * Tiles of <= 8 rows that read K/V in place need no packing scratch, so
 * those run on a stack buffer with no workspace at all. The items, tiles and
 * sums are the tiled path's own: results are bitwise identical. */
#define SUBQ_FATTN_TINY_FMAS ((double)(1 << 17))
#define SUBQ_FATTN_TINY_STACK 6144 /* floats (24 KiB) */
#ifndef SUBQ_FATTN_PACK_BYTES
#define SUBQ_FATTN_PACK_BYTES ((size_t)8 << 20) /* packed K/V of one wave */
#endif
#define SUBQ_FATTN_MAX_WAVES 4096

size_t subq_fattn_pack_bytes = SUBQ_FATTN_PACK_BYTES;

/* (b, kv head) pairs per packing wave, or 0 for no packing. Packing pays
 * where the transposed path reads each K/V tile for >= 2 query tiles and K/V
 * come from the args (a cache is head-major, its rows contiguous already).
 * Sets pr->pk_lo, pr->pk_n: the keys any query of a pair may see. */
static int64_t subq_fattn_pack_plan(subq_fattn_prob *pr, int32_t width) {
  const subq_fattn_args *a = &pr->a;
  if (pr->cache || !pr->impl->mm || pr->rows < SUBQ_FATTN_MANY_ROWS || pr->n_qt < 2) return 0;
  const int64_t off = a->align == SUBQ_FATTN_ALIGN_BOTTOM_RIGHT ? a->sk - a->sq : 0; /* key position of token 0 */
  int64_t lo = 0, hi = a->sk;
  if (a->window_left >= 0) lo = SUBQ_MAX(0, off - a->window_left);
  if (a->window_right >= 0) hi = SUBQ_MIN(hi, SUBQ_MAX(0, a->sq + off + a->window_right)); /* windows clamped */
  if (hi <= lo) return 0;
  pr->pk_lo = lo, pr->pk_n = hi - lo;
  const size_t pair = (size_t)subq_fattn_pack_floats(pr) * sizeof(float); /* <= the K and V tensors' bytes */
  const int64_t pairs = a->batch * a->hkv, items = pr->n_qt * pr->n_split;
  int64_t per = (int64_t)SUBQ_MAX((size_t)1, subq_fattn_pack_bytes / pair);
  per = SUBQ_MAX(per, (4 * (int64_t)width + items - 1) / items); /* enough items for every participant */
  per = SUBQ_MIN(per, pairs);
  /* too large a workspace, or too many waves: copy per tile */
  if ((size_t)per > 4 * subq_fattn_pack_bytes / pair || (pairs + per - 1) / per > SUBQ_FATTN_MAX_WAVES) return 0;
  return per;
}

/* The phases of subq_fattn_run with K/V packed in waves of `per` pairs
 * (subq_fattn_wave): pack, items, pack, items, ..., then the merge of split
 * partials (pr->part allocated by the caller). */
static subq_status subq_fattn_run_packed(subq_context *ctx, const subq_fattn_prob *pr, int64_t per, size_t scratch) {
  const subq_fattn_args *a = &pr->a;
  const int64_t pairs = a->batch * a->hkv, n_waves = (pairs + per - 1) / per;
  const int64_t chunks = (pr->pk_n + SUBQ_FATTN_PACK_TOKENS - 1) / SUBQ_FATTN_PACK_TOKENS;
  const int n_ph = (int)(2 * n_waves + (pr->n_split > 1)); /* n_waves <= SUBQ_FATTN_MAX_WAVES */
  subq_fattn_wave *waves = subq_alloc((size_t)n_waves * sizeof *waves);
  subq_phase *ph = subq_alloc((size_t)n_ph * sizeof *ph);
  subq_status st;
  if (!waves || !ph) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the plan of %lld K/V packing waves", pr->fn,
                    (long long)n_waves);
  } else {
    void *buf = NULL; /* set by subq_parallel_run_shared before the first phase */
    for (int64_t w = 0; w < n_waves; w++) {
      const int64_t np = SUBQ_MIN(per, pairs - w * per);
      waves[w] = (subq_fattn_wave){pr, &buf, w * per, chunks};
      ph[2 * w] = (subq_phase){subq_fattn_pack, &waves[w], np * chunks, 1};
      ph[2 * w + 1] = (subq_phase){subq_fattn_items_wave, &waves[w], np * pr->n_qt * pr->n_split, 1};
    }
    if (pr->n_split > 1) ph[n_ph - 1] = (subq_phase){subq_fattn_merge, (void *)pr, a->batch * a->hq * a->sq, 16};
    const size_t bytes = (size_t)per * (size_t)subq_fattn_pack_floats(pr) * sizeof(float); /* plan-checked */
    st = subq_parallel_run_shared(ctx, ph, n_ph, scratch, bytes, &buf);
  }
  subq_free(ph);
  subq_free(waves);
  return st;
}

/* SUBQ_VERBOSE >= 1 (or the context's verbose): one line per call naming the plan. */
static void subq_fattn_log_plan(subq_context *ctx, const subq_fattn_prob *pr, bool tiny, int64_t per, int32_t width) {
  const int v = subq_context_verbosity(ctx);
  if (v < 1) return;
  const subq_fattn_args *a = &pr->a;
  static const char *kv_name[] = {"f32", "bf16", "f16"};
  const int64_t pairs = a->batch * a->hkv;
  subq_log_at(v, SUBQ_LOG_INFO,
              "%s: b=%lld hq=%lld hkv=%lld sq=%lld keys=%lld dk=%lld dv=%lld kv=%s path=%s rows=%lld "
              "query_tiles=%lld splits=%lld packed_kv=%s waves=%lld pairs_per_wave=%lld threads=%d%s",
              pr->fn, (long long)a->batch, (long long)a->hq, (long long)a->hkv, (long long)a->sq, (long long)pr->span,
              (long long)a->dk, (long long)a->dv, kv_name[pr->kvh + 1],
              pr->impl->mm && pr->rows >= SUBQ_FATTN_MANY_ROWS ? "transposed" : "direct", (long long)pr->rows,
              (long long)pr->n_qt, (long long)pr->n_split, per > 0 ? "yes" : "no",
              per > 0 ? (long long)((pairs + per - 1) / per) : 0LL, (long long)per, (int)width,
              tiny ? " (tiny: inline)" : "");
}

static subq_status subq_fattn_run(subq_context *ctx, subq_fattn_prob *pr) {
  const subq_fattn_args *a = &pr->a;
  const int64_t n_rows = a->batch * a->hq * a->sq;
  const double fmas = (double)n_rows * (double)pr->span * (double)(a->dk + a->dv);
  const bool tiny = fmas < SUBQ_FATTN_TINY_FMAS;
  subq_context *const caller_ctx = ctx;
  if (tiny) ctx = NULL; /* subq_parallel_run: inline on this thread */
  if (!pr->cache && a->sk == 0) {
    subq_phase ph = {subq_fattn_zero_rows, pr, n_rows, 0};
    return subq_parallel_run(ctx, &ph, 1, 0);
  }
  const size_t lean = (size_t)pr->rows * (size_t)(a->dk + 2 * SUBQ_FATTN_BK + pr->ldacc + 2); /* q, 2 s, acc, m, l */
  size_t scratch = (lean + (size_t)(a->dk + pr->ldacc) * SUBQ_FATTN_BK) * sizeof(float) + SUBQ_CACHELINE;
  const subq_fattn_impl *u = pr->impl;
  if (u->mm && pr->rows >= SUBQ_FATTN_MANY_ROWS) { /* the transposed path's carve (subq_fattn_items) */
    const size_t ldr = (size_t)(pr->rows + 15) / 16 * 16;
    scratch = (ldr * (size_t)(a->dk + SUBQ_FATTN_TBK + a->dv + 3) + (size_t)pr->rows * (size_t)pr->ldacc +
               (size_t)SUBQ_FATTN_TBK * (size_t)(a->dk + a->dv)) *
                  sizeof(float) +
              SUBQ_CACHELINE;
  }
  const int64_t n_items = a->batch * a->hkv * pr->n_qt * pr->n_split;
  const int32_t width = subq_parallel_width(ctx);
  const int64_t per = tiny ? 0 : subq_fattn_pack_plan(pr, width);
  subq_fattn_log_plan(caller_ctx, pr, tiny, per, width);
  if (tiny && pr->n_split == 1 && lean <= SUBQ_FATTN_TINY_STACK &&
      (pr->rows < SUBQ_FATTN_MANY_ROWS || !u->mm) && (pr->kvh < 0 || (u->qkh && u->pvh))) {
    /* never widened: vt / kw (after l) are not touched */
    _Alignas(64) float buf[SUBQ_FATTN_TINY_STACK];
    const subq_task_info info = {0, 1, 0, buf, sizeof buf};
    return subq_fattn_items(pr, 0, n_items, &info);
  }
  if (pr->n_split > 1) {
    size_t bytes;
    if (!subq_mul_size((size_t)n_rows, (size_t)pr->n_split, &bytes) ||
        !subq_mul_size(bytes, (size_t)(a->dv + 2) * sizeof(float), &bytes) || bytes > (size_t)PTRDIFF_MAX)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: split workspace of kv_split (%lld) overflows", pr->fn,
                        (long long)a->kv_split);
    pr->part = subq_alloc(bytes);
    if (!pr->part)
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of split partials", pr->fn, bytes);
  }
  subq_status st;
  if (per > 0) {
    st = subq_fattn_run_packed(ctx, pr, per, scratch);
  } else {
    const subq_phase ph[2] = {{subq_fattn_items, pr, n_items, 1}, {subq_fattn_merge, pr, n_rows, 16}};
    st = subq_parallel_run(ctx, ph, pr->n_split > 1 ? 2 : 1, scratch);
  }
  subq_free(pr->part);
  pr->part = NULL;
  return st;
}

subq_status subq_fattn(subq_context *ctx, const subq_fattn_args *args) {
  subq_fattn_prob pr;
  bool empty;
  subq_status st = subq_fattn_validate("subq_fattn", ctx, args, NULL, &pr, &empty);
  if (st != SUBQ_OK || empty) return st;
  return subq_fattn_run(ctx, &pr);
}

subq_status subq_fattn_kv(subq_context *ctx, const subq_fattn_args *args, const subq_kv_cache *cache) {
  if (!cache) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_fattn_kv: cache is NULL");
  subq_fattn_prob pr;
  bool empty;
  subq_status st = subq_fattn_validate("subq_fattn_kv", ctx, args, cache, &pr, &empty);
  if (st != SUBQ_OK || empty) return st;
  return subq_fattn_run(ctx, &pr);
}

/* ---- exp, exposed for tests ------------------------------------------------------- */

subq_status subq_fattn_expf(subq_context *ctx, const float *src, float *dst, int64_t n) {
  const char *fn = "subq_fattn_expf";
  if (n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)n);
  if (n == 0) return SUBQ_OK;
  if (!src) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  if (!dst) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst is NULL", fn);
  subq_byte_range rs, rd;
  if (!subq_byte_range_rows(src, 1, n, n, (int64_t)sizeof(float), &rs) ||
      !subq_byte_range_rows(dst, 1, n, n, (int64_t)sizeof(float), &rd))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) overflows the address range", fn, (long long)n);
  if (src != dst && subq_byte_ranges_overlap(rs, rd))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps src (only dst == src is allowed)", fn);
  subq_fattn_pick(subq_context_isa_or_default(ctx))->exp(src, dst, n);
  return SUBQ_OK;
}
