/*
 * subq_monarch.c — Monarch / block-diagonal driver: descriptors, weight
 * packing, forward phases. Written once for every ISA; only the bdmm
 * micro-kernels of subq_monarch_impls.inc are per ISA.
 *
 * Forward, per token tile (Tt tokens, a multiple of MR):
 *   stage 1: for block i, panel of q: U[tile][i*q + a]   = X[tile][i*p ..] . W1[i]^T
 *   P1:      V[tile][j*r + t] = U[tile][t*l + j] (register-tile transposes, where the
 *            ISA has a perm ukernel; otherwise folded into stage 2's A strides,
 *            a_rs = N, a_cs = l, or the lanes kernel)
 *   stage 2: for block j, panel of s: Z[tile][j*s + c]   = V[tile][j*r + t] . W2[j]^T
 *   P2:      y[c*l + j] = Z[j*s + c] + bias, per token (blocked transpose).
 * Many tokens: one item = one tile through all steps, U and Z in the
 * participant's scratch (L2-sized). Few tokens (decode): three phases —
 * (block, tile) of stage 1, (block, tile) of stage 2, tiles of P2 — so every
 * participant streams a share of the weights. Both modes call the same
 * ukernels on the same operands, so they give the same bits.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "families/monarch/subq_monarch_ukernel.h"
#include "internal/subq_half.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "internal/subq_topology_internal.h"
#include "families/monarch/subq_monarch_internal.h"

/* ---- the micro-kernel list ------------------------------------------------------ */

static const subq_monarch_impl subq_monarch_impls[] = {
#define SUBQ_MONARCH_UKERNEL(isa, bdmm, mr, nr) {isa, #bdmm, mr, nr, bdmm},
#define SUBQ_MONARCH_LANES(isa, fn, mt, mc, lw)
#define SUBQ_MONARCH_PERM(isa, fn)
#include "families/monarch/subq_monarch_impls.inc"
#undef SUBQ_MONARCH_UKERNEL
#undef SUBQ_MONARCH_LANES
#undef SUBQ_MONARCH_PERM
};

typedef struct subq_monarch_perm_impl {
  subq_isa isa;
  subq_f32_monarch_perm_fn fn;
} subq_monarch_perm_impl;

static const subq_monarch_perm_impl subq_monarch_perm_list[] = {
#define SUBQ_MONARCH_UKERNEL(isa, bdmm, mr, nr)
#define SUBQ_MONARCH_LANES(isa, fn, mt, mc, lw)
#define SUBQ_MONARCH_PERM(isa, fn) {isa, fn},
#include "families/monarch/subq_monarch_impls.inc"
#undef SUBQ_MONARCH_UKERNEL
#undef SUBQ_MONARCH_LANES
#undef SUBQ_MONARCH_PERM
    {SUBQ_ISA_SCALAR, NULL}};

static subq_f32_monarch_perm_fn subq_monarch_pick_perm(const subq_monarch_impl *u) {
  for (int i = 0; subq_monarch_perm_list[i].fn; i++)
    if (subq_monarch_perm_list[i].isa == u->isa) return subq_monarch_perm_list[i].fn;
  return NULL;
}

static const subq_monarch_lanes_impl subq_monarch_lanes_list[] = {
#define SUBQ_MONARCH_UKERNEL(isa, bdmm, mr, nr)
#define SUBQ_MONARCH_LANES(isa, fn, mt, mc, lw) {isa, fn, mt, mc, lw},
#define SUBQ_MONARCH_PERM(isa, fn)
#include "families/monarch/subq_monarch_impls.inc"
#undef SUBQ_MONARCH_UKERNEL
#undef SUBQ_MONARCH_LANES
#undef SUBQ_MONARCH_PERM
    {SUBQ_ISA_SCALAR, NULL, 0, 0, 0}};

/* The lanes kernel of exactly this bdmm's ISA, if any. */
static const subq_monarch_lanes_impl *subq_monarch_pick_lanes(const subq_monarch_impl *u) {
  for (int i = 0; subq_monarch_lanes_list[i].fn; i++)
    if (subq_monarch_lanes_list[i].isa == u->isa) return &subq_monarch_lanes_list[i];
  return NULL;
}

const subq_monarch_impl *subq_monarch_pick(subq_isa chosen) {
  return SUBQ_ISA_PICK(chosen, subq_monarch_impls, subq_monarch_impl);
}

int64_t subq_monarch_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t subq_monarch_round_up(int64_t a, int64_t b) { return subq_monarch_ceil_div(a, b) * b; }

/* ---- descriptors ------------------------------------------------------------------- */

#define SUBQ_MONARCH_DESC_MIN_SIZE sizeof(subq_monarch_desc)
/* the forward args before stage1 was added: shorter structs still read */
#define SUBQ_MONARCH_ARGS_MIN_SIZE offsetof(subq_monarch_args, stage1)

static void subq_monarch_desc_fill(subq_monarch_desc *d) {
  memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
  d->dtype = SUBQ_DTYPE_F32;
  d->kind = SUBQ_MONARCH_KIND_MONARCH;
}

void subq_monarch_desc_default(subq_monarch_desc *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_monarch_desc d;
  subq_monarch_desc_fill(&d);
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

subq_status subq_monarch_desc_read(const char *fn, const subq_monarch_desc *desc, subq_monarch_desc *d,
                                   subq_monarch_dims *dims) {
  if (!desc) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: desc is NULL", fn);
  subq_monarch_desc_fill(d);
  subq_status st = subq_read_struct(d, sizeof *d, desc, desc->struct_size, SUBQ_MONARCH_DESC_MIN_SIZE, fn);
  if (st != SUBQ_OK) return st;
  if (d->kind != SUBQ_MONARCH_KIND_MONARCH && d->kind != SUBQ_MONARCH_KIND_BLOCKDIAG)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: desc->kind (%d) is unknown", fn, (int)d->kind);
  if (d->dtype != SUBQ_DTYPE_F32 && d->dtype != SUBQ_DTYPE_BF16)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: desc->dtype (%d) is not f32 or bf16", fn, (int)d->dtype);
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t v[6] = {d->k, d->q, d->p, d->l, d->s, d->r};
  static const char *const names[6] = {"k", "q", "p", "l", "s", "r"};
  for (int i = 0; i < (bd ? 3 : 6); i++)
    if (v[i] <= 0)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: desc->%s (%lld) must be > 0", fn, names[i], (long long)v[i]);
  subq_monarch_dims m;
  memset(&m, 0, sizeof m);
  int64_t p1, p2 = 0;
  if (!subq_mul_i64(d->k, d->p, &m.n) || !subq_mul_i64(d->k, d->q, &m.nn) || !subq_mul_i64(m.nn, d->p, &p1) ||
      (!bd && (!subq_mul_i64(d->l, d->r, &m.nl) || !subq_mul_i64(d->l, d->s, &m.m) ||
               !subq_mul_i64(m.m, d->r, &p2))) ||
      p1 > INT64_MAX / 8 || p2 > INT64_MAX / 8)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the sizes of desc overflow int64", fn);
  if (bd) {
    d->l = d->s = d->r = 0;
    m.m = m.nn;
  } else if (m.nn != m.nl) {
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k*q (%lld) != l*r (%lld): the intermediate widths differ", fn,
                      (long long)m.nn, (long long)m.nl);
  }
  m.w1_elems = p1;
  m.w2_elems = p2;
  if (dims) *dims = m;
  return SUBQ_OK;
}

subq_status subq_monarch_desc_check(const subq_monarch_desc *desc, int64_t *n, int64_t *m) {
  subq_monarch_desc d;
  subq_monarch_dims dm = {0, 0, 0, 0, 0, 0};
  subq_status st = subq_monarch_desc_read("subq_monarch_desc_check", desc, &d, &dm);
  if (st != SUBQ_OK) return st;
  if (n) *n = dm.n;
  if (m) *m = dm.m;
  return SUBQ_OK;
}

subq_status subq_blockdiag_desc(int64_t in, int64_t out, int64_t nblocks, subq_monarch_desc *desc) {
  const char *fn = "subq_blockdiag_desc";
  if (!desc) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: desc is NULL", fn);
  if (nblocks <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: nblocks (%lld) must be > 0", fn, (long long)nblocks);
  if (in <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: in (%lld) must be > 0", fn, (long long)in);
  if (out <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out (%lld) must be > 0", fn, (long long)out);
  if (in % nblocks)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: in (%lld) is not a multiple of nblocks (%lld)", fn,
                      (long long)in, (long long)nblocks);
  if (out % nblocks)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out (%lld) is not a multiple of nblocks (%lld)", fn,
                      (long long)out, (long long)nblocks);
  subq_monarch_desc_default(desc, sizeof *desc);
  desc->kind = SUBQ_MONARCH_KIND_BLOCKDIAG;
  desc->k = nblocks, desc->q = out / nblocks, desc->p = in / nblocks;
  return SUBQ_OK;
}

subq_status subq_monarch_linear_shapes(int64_t in, int64_t out, int64_t nblocks, subq_monarch_desc *desc,
                                       int64_t *in_ext, int64_t *out_ext) {
  const char *fn = "subq_monarch_linear_shapes";
  if (!desc || !in_ext || !out_ext) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: an output pointer is NULL", fn);
  if (nblocks <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: nblocks (%lld) must be > 0", fn, (long long)nblocks);
  if (in <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: in (%lld) must be > 0", fn, (long long)in);
  if (out <= 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out (%lld) must be > 0", fn, (long long)out);
  const int64_t ib = subq_monarch_ceil_div(in, nblocks), ob = subq_monarch_ceil_div(out, nblocks);
  int64_t ie, oe, t;
  if (!subq_mul_i64(ib, nblocks, &ie) || !subq_mul_i64(ob, nblocks, &oe) || !subq_mul_i64(ie, oe, &t))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the padded sizes overflow int64", fn);
  subq_monarch_desc_default(desc, sizeof *desc);
  desc->k = desc->l = nblocks;
  desc->p = ib;
  if (ie < oe) desc->q = ib, desc->s = ob, desc->r = ib;
  else desc->q = ob, desc->s = ob, desc->r = ob;
  *in_ext = ie;
  *out_ext = oe;
  return SUBQ_OK;
}

/* ---- packed weights ------------------------------------------------------------------ */

#define SUBQ_MONARCH_MAGIC 0x53514d57u /* "SQMW" */

static float subq_monarch_widen(const void *src, subq_dtype dt, int64_t idx) {
  if (dt == SUBQ_DTYPE_BF16) {
    return subq_bf16_to_f32_1(((const uint16_t *)src)[idx]);
  }
  return ((const float *)src)[idx];
}

/* Packs blocks of (rows x cols) row-major src, src block b at b*rows*cols, into
 * B panels: transposed (B(p, j) = blk[j][p], K = cols, N = rows) or not
 * (B(p, j) = blk[p][j], K = rows, N = cols). Panel jp of block b at
 * dst + b * K * Npad + jp * K * NR. */
void subq_monarch_pack_block(const void *src, subq_dtype dt, int64_t b, int64_t rows, int64_t cols, bool transposed,
                             int64_t nr, float *dst) {
  const int64_t K = transposed ? cols : rows, N = transposed ? rows : cols, npad = subq_monarch_round_up(N, nr);
  const int64_t base = b * rows * cols;
  float *out = dst + b * K * npad;
  for (int64_t jp = 0; jp < npad; jp += nr) {
    float *pan = out + jp * K;
    for (int64_t p = 0; p < K; p++)
      for (int64_t jj = 0; jj < nr; jj++) {
        const int64_t j = jp + jj;
        float v = 0.0f;
        if (j < N) v = subq_monarch_widen(src, dt, base + (transposed ? j * cols + p : p * cols + j));
        pan[p * nr + jj] = v;
      }
  }
}

/* W2 block j into its lane group g = j / lw, lanes interleaved and MC columns c
 * side by side per t: w[g][c / mc][t][c % mc][lam] = W2[g*lw + lam][c][t]. The
 * last block zeroes the lanes past l and the c past s of its group (disjoint
 * elements, so blocks pack in parallel). */
static void subq_monarch_pack_lanes(const void *src, const subq_monarch_desc *d, int64_t j, int64_t lw, int64_t mc,
                                    float *dst) {
  const int64_t g = j / lw, lam = j % lw, s = d->s, r = d->r, spad = subq_monarch_round_up(s, mc);
  const bool last = j == d->l - 1;
  float *out = dst + g * spad * r * lw;
  for (int64_t c = 0; c < spad; c++)
    for (int64_t t = 0; t < r; t++) {
      float *o = out + (((c / mc) * r + t) * mc + c % mc) * lw;
      o[lam] = c < s ? subq_monarch_widen(src, d->dtype, (j * s + c) * r + t) : 0.0f;
      if (last)
        for (int64_t z = lam + 1; z < lw; z++) o[z] = 0.0f;
    }
}

typedef struct subq_monarch_pack_job {
  subq_monarch_weights *w;
  const void *w1, *w2;
} subq_monarch_pack_job;

/* Packs into the participant's node copies (the per-node pass of a MIRROR context fills each replica). */
static subq_status subq_monarch_pack_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_monarch_pack_job *j = arg;
  const subq_monarch_weights *w = j->w;
  const subq_monarch_desc *d = &w->desc;
  float *w1 = subq_weights_copy_for(&w->m1, info), *w2 = w->m2.copy ? subq_weights_copy_for(&w->m2, info) : NULL;
  for (int64_t it = begin; it < end; it++) {
    if (it < d->k) subq_monarch_pack_block(j->w1, d->dtype, it, d->q, d->p, true, w->impl->nr, w1);
    else if (w->lanes) subq_monarch_pack_lanes(j->w2, d, it - d->k, w->lanes->lw, w->lanes->mc, w2);
    else subq_monarch_pack_block(j->w2, d->dtype, it - d->k, d->s, d->r, true, w->impl->nr, w2);
  }
  return SUBQ_OK;
}

subq_status subq_monarch_weights_create(subq_context *ctx, const subq_monarch_desc *desc, const void *w1,
                                        const void *w2, subq_monarch_weights **out) {
  const char *fn = "subq_monarch_weights_create";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  subq_monarch_desc d;
  subq_monarch_dims dm = {0, 0, 0, 0, 0, 0};
  subq_status st = subq_monarch_desc_read(fn, desc, &d, &dm);
  if (st != SUBQ_OK) return st;
  const bool bd = d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  if (!w1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w1 is NULL", fn);
  if (!bd && !w2) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w2 is NULL", fn);
  const subq_monarch_impl *u = subq_monarch_pick(subq_context_isa_or_default(ctx));
  /* packed sizes: k * p * roundup(q, NR) and l * r * roundup(s, NR) floats */
  int64_t e1, e2 = 0;
  size_t b1, b2 = 0;
  const subq_f32_monarch_perm_fn perm = subq_monarch_pick_perm(u);
  const subq_monarch_lanes_impl *lanes = bd ? NULL : subq_monarch_pick_lanes(u);
  if (lanes && d.l < lanes->lw) lanes = NULL;
  if (!subq_mul_i64(d.k * d.p, subq_monarch_round_up(d.q, u->nr), &e1) ||
      (!bd && !lanes && !subq_mul_i64(d.l * d.r, subq_monarch_round_up(d.s, u->nr), &e2)) ||
      (!bd && lanes && !subq_mul_i64(subq_monarch_round_up(d.l, lanes->lw) * d.r, subq_monarch_round_up(d.s, lanes->mc), &e2)) ||
      !subq_mul_size((size_t)e1, sizeof(float), &b1) || !subq_mul_size((size_t)e2, sizeof(float), &b2) ||
      b1 > (size_t)PTRDIFF_MAX / 2 || b2 > (size_t)PTRDIFF_MAX / 2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the packed weights overflow the address range", fn);
  subq_monarch_weights *w = calloc(1, sizeof *w);
  if (!w) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  w->magic = SUBQ_MONARCH_MAGIC;
  w->desc = d;
  w->dims = dm;
  w->impl = u;
  w->lanes = lanes;
  w->perm = perm;
  atomic_init(&w->bwd_panels, NULL);
  atomic_init(&w->fwd_w2, NULL);
  /* Units = a decode item's weights (stage 1: one block; stage 2: one block or lane group), so
   * DISTRIBUTE binds each node's blocks to it. */
  const size_t unit1 = (size_t)(d.p * subq_monarch_round_up(d.q, u->nr)) * sizeof(float);
  const size_t unit2 = lanes ? (size_t)(subq_monarch_round_up(d.s, lanes->mc) * d.r * lanes->lw) * sizeof(float)
                             : (size_t)(d.r * subq_monarch_round_up(d.s, u->nr)) * sizeof(float);
  if ((st = subq_weights_alloc(ctx, fn, b1, unit1, &w->m1)) != SUBQ_OK ||
      (!bd && (st = subq_weights_alloc(ctx, fn, b2, unit2, &w->m2)) != SUBQ_OK)) {
    subq_monarch_weights_destroy(w);
    return st;
  }
  w->w1p = w->m1.copy[0];
  w->w2p = bd ? NULL : w->m2.copy[0];
  w->bytes = b1 * (size_t)w->m1.n_copies + (bd ? 0 : b2 * (size_t)w->m2.n_copies) + sizeof *w;
  subq_monarch_pack_job job = {w, w1, w2};
  subq_phase ph = {subq_monarch_pack_items, &job, d.k + (bd ? 0 : d.l), 1};
  st = w->m1.n_copies > 1 ? subq_parallel_run_per_node(ctx, &ph) : subq_parallel_run(ctx, &ph, 1, 0);
  if (st != SUBQ_OK) {
    subq_monarch_weights_destroy(w);
    return st;
  }
  *out = w;
  return SUBQ_OK;
}

void subq_monarch_weights_destroy(subq_monarch_weights *w) {
  if (!w) return;
  w->magic = 0;
  subq_free(atomic_load_explicit(&w->bwd_panels, memory_order_acquire));
  subq_free(atomic_load_explicit(&w->fwd_w2, memory_order_acquire));
  subq_weights_free(&w->m1);
  subq_weights_free(&w->m2);
  free(w);
}

void subq_monarch_weights_get_desc(const subq_monarch_weights *w, subq_monarch_desc *desc) {
  if (!w || !desc || desc->struct_size == 0) return;
  const size_t sz = desc->struct_size;
  memcpy(desc, &w->desc, SUBQ_MIN(sz, sizeof w->desc));
  memcpy(desc, &sz, sizeof sz);
}

size_t subq_monarch_weights_size(const subq_monarch_weights *w) { return w ? w->bytes : 0; }

const char *subq_monarch_weights_ukernel(const subq_monarch_weights *w) { return w ? w->impl->name : ""; }

subq_status subq_monarch_weights_check(const char *fn, subq_context *ctx, const subq_monarch_weights *w) {
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (w->magic != SUBQ_MONARCH_MAGIC)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is not a live subq_monarch_weights", fn);
  if (!subq_isa_allows(subq_context_isa_or_default(ctx), w->impl->isa))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w was packed for %s, which ctx does not allow", fn,
                      w->impl->name);
  return SUBQ_OK;
}

/* ---- geometry ------------------------------------------------------------------------ */

/* The phased forward's and the block-diagonal layer's tile: the X, U and Y
 * rows of a tile fill about L2 (measured size, spec §6.3), rounded to the
 * nearest multiple of MR, between MR and 16 MR. Their items are (block, tile),
 * each reading its block once per tile, and there is no u / v / z tile to keep
 * small (8-32 tokens at n 4096 / 64 blocks: MR tokens there measured 2-7%
 * slower). */
static int64_t subq_monarch_wide_tile(const subq_monarch_weights *w) {
  const subq_topology *t = subq_host_topology();
  size_t l2 = t ? subq_topology_cache_size(t, 2) : 0;
  if (l2 < 65536 || l2 > ((size_t)1 << 26)) l2 = (size_t)512 << 10;
  const int64_t mr = w->impl->mr;
  const int64_t row_bytes = (w->dims.n + w->dims.nn + w->dims.m) * (int64_t)sizeof(float);
  const int64_t rows = (int64_t)l2 / SUBQ_MAX(row_bytes, 1);
  const int64_t tt = (rows + mr / 2) / mr * mr;
  return SUBQ_MAX(mr, SUBQ_MIN(tt, 16 * mr));
}

/* Tokens per tile of the many-token forward and of the backward. A tile reads
 * every block of W1 and W2 once, i.e. 2 / tt bytes of weights per FLOP whatever
 * the shape, so the tile trades its activations' cache footprint against how
 * often W streams:
 *  - packed W within half this core's share of the L3: W comes from cache at
 *    any tile, and one micro-kernel row (mr tokens) keeps the tile's u, v and z
 *    in L1/L2. Against the former L2-filling tile, medians of 5 alternated runs
 *    on 1 / 2 Zen 3 cores (2026-11-24): n 4096 / 64 blocks 14.7 / 7.34 ms (12
 *    tokens: 15.2 / 7.61), n 1024 / 32 blocks 2.24 / 1.08 ms (42 tokens: 3.7 /
 *    1.9), n 4096 / 16 blocks (8 MB) 48.9 / 24.3 ms (12 tokens: 50.0 / 24.7);
 *  - larger W: 16 mr tokens, W streams at 1 / (8 mr) bytes per FLOP (n 4096 /
 *    8 blocks, 16 MB: 101.8 ms at 1 thread against 126.2 at 12 tokens and 169.9
 *    at 6). Results never depend on the tile (one FMA chain per element). */
int64_t subq_monarch_token_tile(const subq_monarch_weights *w) {
  const subq_topology *t = subq_host_topology();
  size_t l3 = t ? subq_topology_cache_size(t, 3) : 0;
  if (l3 < ((size_t)1 << 20) || l3 > ((size_t)1 << 31)) l3 = (size_t)8 << 20;
  const int32_t cores = t ? subq_topology_num_cores(t) : 1;
  const double share = (double)l3 / (double)SUBQ_MAX(cores, 1);
  const double w_bytes = (double)(w->dims.w1_elems + w->dims.w2_elems) * (double)sizeof(float);
  const int64_t mr = w->impl->mr;
  return w_bytes <= share / 2 ? mr : 16 * mr;
}

/* ---- the stages (shared with the backward pass) ----------------------------------------- */

/* out[tok][col0 + jp*NR ..] = A . B for one packed block (K x N, panels of NR),
 * tok in [0, tn): A(tok, p) = a[tok*a_rs + p*a_cs]. */
void subq_monarch_block_gemm(const subq_monarch_impl *u, int64_t tn, int64_t K, int64_t N, const float *a,
                             int64_t a_rs, int64_t a_cs, const float *bpk, float *c, int64_t c_rs, bool accumulate) {
  const int64_t mr = u->mr, nr = u->nr;
  for (int64_t jp = 0; jp < N; jp += nr) {
    const float *pan = bpk + jp * K;
    const int64_t nw = SUBQ_MIN(nr, N - jp);
    for (int64_t g = 0; g < tn; g += mr)
      u->bdmm(K, a + g * a_rs, a_rs, a_cs, pan, c + g * c_rs + jp, c_rs, SUBQ_MIN(mr, tn - g), nw, accumulate);
  }
}

void subq_monarch_stage1(const subq_monarch_weights *w, const subq_task_info *info, int64_t i, int64_t tn,
                         const float *x, int64_t ldx, float *u, int64_t ldu) {
  const subq_monarch_desc *d = &w->desc;
  const float *pk = (const float *)subq_weights_copy_for(&w->m1, info) + i * d->p * subq_monarch_round_up(d->q, w->impl->nr);
  subq_monarch_block_gemm(w->impl, tn, d->p, d->q, x + i * d->p, ldx, 1, pk, u + i * d->q, ldu, false);
}

void subq_monarch_stage2(const subq_monarch_weights *w, const subq_task_info *info, int64_t j, int64_t tn,
                         const float *u, int64_t ldu, float *z, int64_t ldz) {
  const subq_monarch_desc *d = &w->desc;
  const float *pk = (const float *)subq_weights_copy_for(&w->m2, info) + j * d->r * subq_monarch_round_up(d->s, w->impl->nr);
  subq_monarch_block_gemm(w->impl, tn, d->r, d->s, u + j, ldu, d->l, pk, z + j * d->s, ldz, false);
}

/* Stage 2 and P2 in one pass for lane groups [g0, g1): y rows of tn tokens. */
void subq_monarch_stage2_lanes(const subq_monarch_weights *w, const subq_task_info *info, int64_t g0, int64_t g1,
                               int64_t tn, const float *u, int64_t ldu, float *y, int64_t ldy, const float *bias) {
  const subq_monarch_lanes_impl *li = w->lanes;
  const int64_t lw = li->lw, s = w->desc.s, r = w->desc.r, l = w->desc.l;
  const float *w2 = subq_weights_copy_for(&w->m2, info);
  for (int64_t g = g0; g < g1; g++) {
    const int64_t j0 = g * lw, jw = SUBQ_MIN(lw, l - j0);
    const float *wg = w2 + g * subq_monarch_round_up(s, li->mc) * r * lw;
    for (int64_t c0 = 0; c0 < s; c0 += li->mc)
      for (int64_t t0 = 0; t0 < tn; t0 += li->mt)
        li->fn(r, l, u + t0 * ldu + j0, ldu, wg + c0 * r * lw, y + t0 * ldy + c0 * l + j0, ldy,
               SUBQ_MIN(li->mt, tn - t0), SUBQ_MIN(li->mc, s - c0), jw, bias ? bias + c0 * l + j0 : NULL);
  }
}

/* y[tok][c*l + j] = z[tok][j*s + c] (+ bias[c*l + j]): the (l x s) -> (s x l)
 * transpose per token, by the ISA's perm ukernel when there is one, else in
 * 8 x 8 blocks so both sides stay in few lines; the bias is one add either way. */
void subq_monarch_p2(subq_f32_monarch_perm_fn perm, int64_t tn, int64_t l, int64_t s, const float *z, int64_t ldz,
                     float *y, int64_t ldy, const float *bias) {
  for (int64_t tok = 0; tok < tn; tok++) {
    const float *zr = z + tok * ldz;
    float *yr = y + tok * ldy;
    if (perm) {
      perm(l, s, zr, s, yr, l);
      if (bias)
        for (int64_t o = 0; o < l * s; o++) yr[o] += bias[o];
      continue;
    }
    for (int64_t c0 = 0; c0 < s; c0 += 8)
      for (int64_t j0 = 0; j0 < l; j0 += 8) {
        const int64_t c1 = SUBQ_MIN(s, c0 + 8), j1 = SUBQ_MIN(l, j0 + 8);
        for (int64_t c = c0; c < c1; c++) {
          float *yo = yr + c * l;
          if (bias)
            for (int64_t j = j0; j < j1; j++) yo[j] = zr[j * s + c] + bias[c * l + j];
          else
            for (int64_t j = j0; j < j1; j++) yo[j] = zr[j * s + c];
        }
      }
  }
}

/* ---- forward ---------------------------------------------------------------------------- */

void subq_monarch_args_default(subq_monarch_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_write_defaults(p, struct_size, NULL, 0);
}

typedef struct subq_monarch_fwd {
  const subq_monarch_weights *w;
  int64_t T, tt, n_tiles;
  const float *x;
  int64_t ldx;
  float *y;
  int64_t ldy;
  const float *bias;
  float *u, *z;       /* phased mode: [T][N] (row stride ldu), [T][m] */
  int64_t ldu;
  float *s1;          /* the caller's stage-1 output (args.stage1) or NULL */
  int64_t lds1;
  const float *w2b;   /* fused mode with lanes weights: W2 as bdmm B panels (subq_monarch_fwd_w2), else NULL */
} subq_monarch_fwd;

/* Block j of W2 from the lanes layout into bdmm panels: b[j][r][roundup(s, NR)]. */
static subq_status subq_monarch_fwd_w2_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_monarch_fwd *f = arg;
  const subq_monarch_weights *w = f->w;
  const subq_monarch_desc *d = &w->desc;
  const int64_t s = d->s, r = d->r, nr = w->impl->nr, spad = subq_monarch_round_up(s, nr);
  const int64_t lw = w->lanes->lw, mc = w->lanes->mc, gstride = subq_monarch_round_up(s, mc) * r * lw;
  float *dst = (float *)(uintptr_t)f->w2b;
  for (int64_t j = begin; j < end; j++)
    for (int64_t c = 0; c < spad; c++)
      for (int64_t t = 0; t < r; t++)
        dst[j * r * spad + (c - c % nr) * r + t * nr + c % nr] =
            c < s ? w->w2p[(j / lw) * gstride + (((c / mc) * r + t) * mc + c % mc) * lw + j % lw] : 0.0f;
  return SUBQ_OK;
}

/* The bdmm-packed W2 of lanes weights, made by the first forward that wants it
 * and published with a compare-exchange (a losing racer frees its copy). */
static subq_status subq_monarch_fwd_w2(subq_context *ctx, subq_monarch_fwd *f) {
  subq_monarch_weights *wm = (subq_monarch_weights *)(uintptr_t)f->w;
  float *have = atomic_load_explicit(&wm->fwd_w2, memory_order_acquire);
  if (!have) {
    const subq_monarch_desc *d = &wm->desc;
    int64_t e;
    size_t bytes;
    if (!subq_mul_i64(d->l * d->r, subq_monarch_round_up(d->s, wm->impl->nr), &e) ||
        !subq_mul_size((size_t)e, sizeof(float), &bytes))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_monarch_forward: the W2 panels overflow the address range");
    float *mine = subq_alloc(bytes);
    if (!mine) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "subq_monarch_forward: cannot allocate %zu bytes", bytes);
    f->w2b = mine;
    subq_phase ph = {subq_monarch_fwd_w2_items, f, d->l, 1};
    subq_status st = subq_parallel_run(ctx, &ph, 1, 0);
    if (st != SUBQ_OK) {
      subq_free(mine);
      f->w2b = NULL;
      return st;
    }
    have = subq_monarch_publish(&wm->fwd_w2, mine);
  }
  f->w2b = have;
  return SUBQ_OK;
}

/* Fused: one token tile through stage 1, stage 2 and P2 in the participant's scratch. */
static subq_status subq_monarch_fused_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_monarch_fwd *f = arg;
  const subq_monarch_weights *w = f->w;
  const subq_monarch_desc *d = &w->desc;
  const int64_t N = w->dims.nn, m = w->dims.m;
  float *z = (float *)info->scratch + f->tt * N;
  for (int64_t it = begin; it < end; it++) {
    const int64_t t0 = it * f->tt, tn = SUBQ_MIN(f->tt, f->T - t0);
    const float *x = f->x + t0 * f->ldx;
    /* u in the scratch, or straight in the caller's stage-1 output (same chains) */
    float *u = f->s1 ? f->s1 + t0 * f->lds1 : info->scratch;
    const int64_t ldu = f->s1 ? f->lds1 : N;
    for (int64_t i = 0; i < d->k; i++) subq_monarch_stage1(w, info, i, tn, x, f->ldx, u, ldu);
    if (f->w2b) { /* P1 by register-tile transposes into v[tok][j*r + t], then contiguous A rows */
      float *v = z + f->tt * m;
      const int64_t spad = subq_monarch_round_up(d->s, w->impl->nr);
      subq_monarch_p2(w->perm, tn, d->r, d->l, u, ldu, v, N, NULL);
      for (int64_t j = 0; j < d->l; j++)
        subq_monarch_block_gemm(w->impl, tn, d->r, d->s, v + j * d->r, N, 1, f->w2b + j * d->r * spad, z + j * d->s, m,
                                false);
    } else if (w->lanes) {
      subq_monarch_stage2_lanes(w, info, 0, subq_monarch_ceil_div(d->l, w->lanes->lw), tn, u, ldu, f->y + t0 * f->ldy,
                                f->ldy, f->bias);
      continue;
    } else {
      for (int64_t j = 0; j < d->l; j++) subq_monarch_stage2(w, info, j, tn, u, ldu, z, m);
    }
    subq_monarch_p2(w->perm, tn, d->l, d->s, z, m, f->y + t0 * f->ldy, f->ldy, f->bias);
  }
  return SUBQ_OK;
}

/* Phased: items (block, tile). Stage 1 writes u (or, block-diagonal, y directly). */
static subq_status subq_monarch_s1_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_monarch_fwd *f = arg;
  const subq_monarch_weights *w = f->w;
  const subq_monarch_desc *d = &w->desc;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  for (int64_t it = begin; it < end; it++) {
    const int64_t i = it % d->k, tile = it / d->k;
    const int64_t t0 = tile * f->tt, tn = SUBQ_MIN(f->tt, f->T - t0);
    if (bd) {
      float *y = f->y + t0 * f->ldy;
      subq_monarch_stage1(w, info, i, tn, f->x + t0 * f->ldx, f->ldx, y, f->ldy);
      if (f->bias)
        for (int64_t tok = 0; tok < tn; tok++)
          for (int64_t a = 0; a < d->q; a++) y[tok * f->ldy + i * d->q + a] += f->bias[i * d->q + a];
    } else {
      subq_monarch_stage1(w, info, i, tn, f->x + t0 * f->ldx, f->ldx, f->u + t0 * f->ldu, f->ldu);
    }
  }
  return SUBQ_OK;
}

static subq_status subq_monarch_s2_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_monarch_fwd *f = arg;
  const subq_monarch_weights *w = f->w;
  const int64_t ldu = f->ldu, m = w->dims.m;
  const int64_t nb = w->lanes ? subq_monarch_ceil_div(w->desc.l, w->lanes->lw) : w->desc.l;
  for (int64_t it = begin; it < end; it++) {
    const int64_t j = it % nb, tile = it / nb;
    const int64_t t0 = tile * f->tt, tn = SUBQ_MIN(f->tt, f->T - t0);
    if (w->lanes)
      subq_monarch_stage2_lanes(w, info, j, j + 1, tn, f->u + t0 * ldu, ldu, f->y + t0 * f->ldy, f->ldy, f->bias);
    else
      subq_monarch_stage2(w, info, j, tn, f->u + t0 * ldu, ldu, f->z + t0 * m, m);
  }
  return SUBQ_OK;
}

static subq_status subq_monarch_p2_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_monarch_fwd *f = arg;
  const subq_monarch_weights *w = f->w;
  const int64_t m = w->dims.m;
  for (int64_t tok = begin; tok < end; tok++)
    subq_monarch_p2(w->perm, 1, w->desc.l, w->desc.s, f->z + tok * m, m, f->y + tok * f->ldy, f->ldy, f->bias);
  return SUBQ_OK;
}

/* Validates a [rows][cols] operand with row stride ld (name, ld name). */
subq_status subq_monarch_check_operand(const char *fn, const char *name, const char *ldname, const void *p,
                                       int64_t rows, int64_t cols, int64_t ld, subq_byte_range *r) {
  r->lo = r->hi = (uintptr_t)p;
  if (rows == 0) return SUBQ_OK;
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (ld < cols)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s (%lld) is smaller than the row length (%lld)", fn, ldname,
                      (long long)ld, (long long)cols);
  if (!subq_byte_range_rows(p, rows, cols, ld, sizeof(float), r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

subq_status subq_monarch_forward(subq_context *ctx, const subq_monarch_weights *w, const subq_monarch_args *args) {
  const char *fn = "subq_monarch_forward";
  subq_status st = subq_monarch_weights_check(fn, ctx, w);
  if (st != SUBQ_OK) return st;
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  st = subq_read_struct(&a, sizeof a, args, args->struct_size, SUBQ_MONARCH_ARGS_MIN_SIZE, fn);
  if (st != SUBQ_OK) return st;
  if (a.tokens < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)a.tokens);
  const int64_t n = w->dims.n, m = w->dims.m, N = w->dims.nn, T = a.tokens;
  const bool bd = w->desc.kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  subq_byte_range rx, ry, rb = {0, 0}, ru = {0, 0};
  if ((st = subq_monarch_check_operand(fn, "x", "ldx", a.x, T, n, a.ldx, &rx)) != SUBQ_OK) return st;
  if ((st = subq_monarch_check_operand(fn, "y", "ldy", a.y, T, m, a.ldy, &ry)) != SUBQ_OK) return st;
  if (a.bias && !subq_byte_range_rows(a.bias, 1, m, m, sizeof(float), &rb))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: bias overflows the address range", fn);
  if (a.stage1 && bd)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: stage1 must be NULL for a block-diagonal layer", fn);
  if (a.stage1 && (st = subq_monarch_check_operand(fn, "stage1", "ldstage1", a.stage1, T, N, a.ldstage1, &ru)) != SUBQ_OK)
    return st;
  /* the outputs y and stage1 overlap neither input nor each other */
  const subq_byte_range ins[2] = {rx, rb};
  static const char *const in_names[2] = {"x", "bias"};
  if ((st = subq_byte_ranges_outputs_apart(fn, "y", ry, "stage1", ru, ins, in_names, 2, -1)) != SUBQ_OK) return st;
  if (T == 0) return SUBQ_OK;

  subq_monarch_fwd f;
  memset(&f, 0, sizeof f);
  f.w = w, f.T = T, f.x = a.x, f.ldx = a.ldx, f.y = a.y, f.ldy = a.ldy, f.bias = a.bias;
  f.s1 = a.stage1, f.lds1 = a.ldstage1;
  f.tt = bd ? subq_monarch_wide_tile(w) : subq_monarch_token_tile(w);
  f.n_tiles = subq_monarch_ceil_div(T, f.tt);
  const int v = subq_context_verbosity(ctx);
  if (bd) {
    subq_phase ph = {subq_monarch_s1_items, &f, w->desc.k * f.n_tiles, 0};
    if (v >= 1)
      subq_log_at(v, SUBQ_LOG_INFO, "%s: blockdiag nb=%lld %lldx%lld T=%lld tile=%lld impl=%s", fn,
                  (long long)w->desc.k, (long long)w->desc.q, (long long)w->desc.p, (long long)T, (long long)f.tt,
                  w->impl->name);
    return subq_parallel_run(ctx, &ph, 1, 0);
  }
  /* Fused tiles once there are enough of them to share (items come from the
   * shape only; the mode never changes the bits). */
  /* Tiny products (under ~1M MACs, e.g. n 1024 / 32 blocks decode: 4.5 us) run as
   * one fused item: two barriers would cost more than the second core saves. */
  const double macs = (double)T * (double)(w->dims.w1_elems + w->dims.w2_elems);
  const bool fused = f.n_tiles >= 8 || macs < (double)(1 << 20);
  if (!fused) f.tt = subq_monarch_wide_tile(w), f.n_tiles = subq_monarch_ceil_div(T, f.tt);
  if (v >= 1)
    subq_log_at(v, SUBQ_LOG_INFO, "%s: k=%lld q=%lld p=%lld l=%lld s=%lld r=%lld T=%lld tile=%lld mode=%s impl=%s", fn,
                (long long)w->desc.k, (long long)w->desc.q, (long long)w->desc.p, (long long)w->desc.l,
                (long long)w->desc.s, (long long)w->desc.r, (long long)T, (long long)f.tt,
                fused ? "fused" : "phased", w->impl->name);
  if (fused) {
    /* Many tiles with lanes weights: stage 2 as an explicit P1 transpose of the
     * L2-resident tile plus the contiguous bdmm (same FMA chains, same bits),
     * faster than the lanes kernel there (n 4096 / 64 blocks / 1024 tokens,
     * 1 Zen 3 core, alternated: 15.2-15.7 vs 16.5-17.3 ms minimum; the lanes
     * kernel uses one 32-byte half of each u line it loads, bound by L2). Decode
     * keeps the lanes kernel (4.9 vs 3.9 us at n 1024 / 32 blocks / 1 token). */
    if (w->lanes && w->perm && f.n_tiles >= 8 && (st = subq_monarch_fwd_w2(ctx, &f)) != SUBQ_OK) return st;
    const size_t scratch = (size_t)f.tt * (size_t)((f.w2b ? 2 : 1) * N + m) * sizeof(float) + 64;
    subq_phase ph = {subq_monarch_fused_items, &f, f.n_tiles, 1};
    return subq_parallel_run(ctx, &ph, 1, scratch);
  }
  size_t ub, zb;
  if (!subq_mul_size((size_t)T, (size_t)N * sizeof(float), &ub) || !subq_mul_size((size_t)T, (size_t)m * sizeof(float), &zb))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: workspace size overflows", fn);
  /* u: the caller's stage-1 output when given, else a workspace */
  float *u_ws = f.s1 ? NULL : subq_alloc(ub);
  f.u = f.s1 ? f.s1 : u_ws, f.ldu = f.s1 ? f.lds1 : N;
  f.z = w->lanes ? NULL : subq_alloc(zb);
  if (!f.u || (!w->lanes && !f.z)) {
    subq_free(u_ws);
    subq_free(f.z);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of workspace", fn, ub + zb);
  }
  const int64_t n_s2 = w->lanes ? subq_monarch_ceil_div(w->desc.l, w->lanes->lw) : w->desc.l;
  subq_phase ph[3] = {{subq_monarch_s1_items, &f, w->desc.k * f.n_tiles, 0},
                      {subq_monarch_s2_items, &f, n_s2 * f.n_tiles, 0},
                      {subq_monarch_p2_items, &f, T, 0}};
  st = subq_parallel_run(ctx, ph, w->lanes ? 2 : 3, 0);
  subq_free(u_ws);
  subq_free(f.z);
  return st;
}
