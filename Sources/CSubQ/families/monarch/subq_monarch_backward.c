/*
 * subq_monarch_backward.c — gradients of the Monarch / block-diagonal layer
 * (spec §7) with the forward's bdmm micro-kernels: every product is a block
 * GEMM whose A operand is read through strides (P2^T and the token-major
 * transposes fold into them) and whose B operand is packed per call.
 *
 * Phases (items from the shape only):
 *   0. backward weight panels (W1[i] as q x p, W2[j] as s x r)  items blocks
 *   1. U = stage 1 of x (only when grad_w2 is asked)        items (block i, tile)
 *   2. per token: dZ = P2^T g (block-major), V = P1 U        items tokens
 *   3. dV_j = dZ_j . W2[j]                                   items (block j, tile)
 *   4. dU[t*l + j] = dV_j[t] (P1^T, per token)              items tokens
 *   5. dX_i = dU_i . W1[i]; dW1[i] = dU_i^T X_i; dW2[j] = dZ_j^T V_j; dbias
 *                                                           items of all four kinds
 * The weight gradients reduce over tokens, so their operands are made
 * block-major first (phase 2): a strided gather of g or U per block would read
 * one cache line per element from memory.
 * Block-diagonal: dU = g, phases 1-3 vanish. The weight gradients sum over all
 * tokens in order inside one FMA chain, so thread counts never change bits.
 */
#include <stdlib.h>
#include <string.h>

#include "families/monarch/subq_monarch_internal.h"
#include "internal/subq_parallel.h"

static int64_t subq_rup(int64_t a, int64_t b) { return subq_monarch_ceil_div(a, b) * b; }

/* W1[i][a][e] and W2[j][c][t] read back from the packed layouts. */
static float subq_w1_at(const subq_monarch_weights *w, int64_t i, int64_t a, int64_t e) {
  const int64_t nr = w->impl->nr, p = w->desc.p, qpad = subq_rup(w->desc.q, nr);
  return w->w1p[i * p * qpad + (a - a % nr) * p + e * nr + a % nr];
}
static float subq_w2_at(const subq_monarch_weights *w, int64_t j, int64_t c, int64_t t) {
  const int64_t s = w->desc.s, r = w->desc.r;
  if (w->lanes) {
    const int64_t lw = w->lanes->lw, mc = w->lanes->mc, g = j / lw, lam = j % lw;
    return w->w2p[g * subq_rup(s, mc) * r * lw + (((c / mc) * r + t) * mc + c % mc) * lw + lam];
  }
  const int64_t nr = w->impl->nr, spad = subq_rup(s, nr);
  return w->w2p[j * r * spad + (c - c % nr) * r + t * nr + c % nr];
}

typedef struct subq_mbwd {
  const subq_monarch_weights *w;
  int64_t T, tt, n_tiles, N;
  const float *x, *g;
  int64_t ldx, ldg;
  float *gx, *gw1, *gw2, *gb;
  int64_t ldgx;
  float *u, *dv, *du, *v;      /* [T][N] each (MONARCH) */
  float *dz;                   /* [T][m] block-major g (MONARCH) */
  const float *dua;            /* dU as read by phase 4: du, or g for BLOCKDIAG */
  int64_t ldu;
  float *w1n, *w2n;            /* backward panels: W1[i] as (q x p), W2[j] as (s x r) B operands */
  int64_t n_dx, n_dw1, n_dw2, n_db;
} subq_mbwd;

#define SUBQ_MBWD_BIAS_COLS 256
/* Token blocks of the weight-gradient reductions: a 256 x NR B block stays in L1
 * across the row groups (one chain per block, blocks added in token order). */
#define SUBQ_MBWD_KC 256

/* C (rows x wd) = sum over token blocks of A(row, tok) B(tok, e); B packed from
 * src (T x wd, row stride ld) one block at a time into panel. */
static void subq_mbwd_wgrad(const subq_monarch_impl *u, int64_t rows, int64_t T, int64_t wd, const float *a,
                            int64_t a_rs, int64_t a_cs, const float *src, int64_t ld, float *panel, float *c,
                            int64_t c_rs);

static subq_status subq_mbwd_s1(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_mbwd *b = arg;
  const int64_t k = b->w->desc.k;
  for (int64_t it = begin; it < end; it++) {
    const int64_t i = it % k, t0 = (it / k) * b->tt, tn = SUBQ_MIN(b->tt, b->T - t0);
    subq_monarch_stage1(b->w, info, i, tn, b->x + t0 * b->ldx, b->ldx, b->u + t0 * b->N, b->N);
  }
  return SUBQ_OK;
}

static subq_status subq_mbwd_panels(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_mbwd *b = arg;
  const subq_monarch_weights *w = b->w;
  const subq_monarch_desc *d = &w->desc;
  const int64_t nr = w->impl->nr, k = d->k, q = d->q, p = d->p, s = d->s, r = d->r;
  const int64_t ppad = subq_rup(p, nr), rpad = subq_rup(r, nr);
  for (int64_t it = begin; it < end; it++) {
    if (it < k) {
      const int64_t i = it;
      for (int64_t e0 = 0; e0 < ppad; e0 += nr)
        for (int64_t aa = 0; aa < q; aa++)
          for (int64_t ee = 0; ee < nr; ee++)
            b->w1n[i * q * ppad + e0 * q + aa * nr + ee] = e0 + ee < p ? subq_w1_at(w, i, aa, e0 + ee) : 0.0f;
    } else {
      const int64_t j = it - k;
      for (int64_t t0 = 0; t0 < rpad; t0 += nr)
        for (int64_t c = 0; c < s; c++)
          for (int64_t tt = 0; tt < nr; tt++)
            b->w2n[j * s * rpad + t0 * s + c * nr + tt] = t0 + tt < r ? subq_w2_at(w, j, c, t0 + tt) : 0.0f;
    }
  }
  return SUBQ_OK;
}

/* dz[tok][j*s + c] = g[tok][c*l + j]; v[tok][j*r + t] = u[tok][t*l + j]. */
static subq_status subq_mbwd_blockmajor(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_mbwd *b = arg;
  const subq_monarch_desc *d = &b->w->desc;
  const int64_t m = b->w->dims.m, tn = end - begin;
  subq_monarch_p2(b->w->perm, tn, d->s, d->l, b->g + begin * b->ldg, b->ldg, b->dz + begin * m, m, NULL);
  if (b->v)
    subq_monarch_p2(b->w->perm, tn, d->r, d->l, b->u + begin * b->N, b->N, b->v + begin * b->N, b->N, NULL);
  return SUBQ_OK;
}

static subq_status subq_mbwd_dv(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_mbwd *b = arg;
  const subq_monarch_desc *d = &b->w->desc;
  const int64_t l = d->l, s = d->s, r = d->r, m = b->w->dims.m, rpad = subq_rup(r, b->w->impl->nr);
  for (int64_t it = begin; it < end; it++) {
    const int64_t j = it % l, t0 = (it / l) * b->tt, tn = SUBQ_MIN(b->tt, b->T - t0);
    /* A(tok, c) = dz[tok][j*s + c] */
    subq_monarch_block_gemm(b->w->impl, tn, s, r, b->dz + t0 * m + j * s, m, 1, b->w2n + j * s * rpad,
                            b->dv + t0 * b->N + j * r, b->N, false);
  }
  return SUBQ_OK;
}

static subq_status subq_mbwd_p1t(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_mbwd *b = arg;
  /* dU[t*l + j] = dV[j*r + t]: the P2 transpose with (l, r) */
  subq_monarch_p2(b->w->perm, end - begin, b->w->desc.l, b->w->desc.r, b->dv + begin * b->N, b->N,
                  b->du + begin * b->N, b->N,
                  NULL);
  return SUBQ_OK;
}

/* Packs the T x w operand B(tok, e) = src[tok*ld + e*cs] into NR panels. */
static void subq_mbwd_pack_tokens(const float *src, int64_t ld, int64_t cs, int64_t T, int64_t wd, int64_t nr,
                                  float *dst) {
  for (int64_t jp = 0; jp < wd; jp += nr) {
    float *pan = dst + jp * T;
    const int64_t nw = SUBQ_MIN(nr, wd - jp);
    if (cs == 1 && nw == nr) { /* the common case: whole contiguous rows */
      for (int64_t tok = 0; tok < T; tok++) memcpy(pan + tok * nr, src + tok * ld + jp, (size_t)nr * sizeof(float));
      continue;
    }
    for (int64_t tok = 0; tok < T; tok++) {
      const float *sr = src + tok * ld + jp * cs;
      for (int64_t e = 0; e < nr; e++) pan[tok * nr + e] = e < nw ? sr[e * cs] : 0.0f;
    }
  }
}

static void subq_mbwd_wgrad(const subq_monarch_impl *u, int64_t rows, int64_t T, int64_t wd, const float *a,
                            int64_t a_rs, int64_t a_cs, const float *src, int64_t ld, float *panel, float *c,
                            int64_t c_rs) {
  for (int64_t k0 = 0; k0 < T; k0 += SUBQ_MBWD_KC) {
    const int64_t kc = SUBQ_MIN(SUBQ_MBWD_KC, T - k0);
    subq_mbwd_pack_tokens(src + k0 * ld, ld, 1, kc, wd, u->nr, panel);
    for (int64_t jp = 0; jp < wd; jp += u->nr) {
      const int64_t nw = SUBQ_MIN(u->nr, wd - jp);
      for (int64_t g = 0; g < rows; g += u->mr)
        u->bdmm(kc, a + g * a_rs + k0 * a_cs, a_rs, a_cs, panel + jp * kc, c + g * c_rs + jp, c_rs,
                SUBQ_MIN(u->mr, rows - g), nw, k0 > 0);
    }
  }
}

static subq_status subq_mbwd_last(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_mbwd *b = arg;
  const subq_monarch_desc *d = &b->w->desc;
  const subq_monarch_impl *u = b->w->impl;
  const int64_t k = d->k, q = d->q, p = d->p, nr = u->nr, T = b->T, ppad = subq_rup(p, nr);
  float *panel = info->scratch;
  for (int64_t it = begin; it < end; it++) {
    int64_t x = it;
    if (x < b->n_dx) { /* dX_i for one tile: A = dU_i, B = W1[i] (q x p) */
      const int64_t i = x % k, t0 = (x / k) * b->tt, tn = SUBQ_MIN(b->tt, T - t0);
      subq_monarch_block_gemm(u, tn, q, p, b->dua + t0 * b->ldu + i * q, b->ldu, 1, b->w1n + i * q * ppad,
                              b->gx + t0 * b->ldgx + i * p, b->ldgx, false);
      continue;
    }
    x -= b->n_dx;
    if (x < b->n_dw1) { /* dW1[i] (q x p) = sum_tok dU[tok][i*q + a] X[tok][i*p + e] */
      const int64_t i = x;
      subq_mbwd_wgrad(u, q, T, p, b->dua + i * q, 1, b->ldu, b->x + i * p, b->ldx, panel, b->gw1 + i * q * p, p);
      continue;
    }
    x -= b->n_dw1;
    if (x < b->n_dw2) { /* dW2[j] (s x r) = sum_tok dz[tok][j*s + c] v[tok][j*r + t] */
      const int64_t j = x, s = d->s, r = d->r, m = b->w->dims.m;
      subq_mbwd_wgrad(u, s, T, r, b->dz + j * s, 1, m, b->v + j * r, b->N, panel, b->gw2 + j * s * r, r);
      continue;
    }
    x -= b->n_dw2;
    { /* dbias for a column chunk, tokens in order */
      const int64_t m = b->w->dims.m, c0 = x * SUBQ_MBWD_BIAS_COLS, c1 = SUBQ_MIN(m, c0 + SUBQ_MBWD_BIAS_COLS);
      for (int64_t c = c0; c < c1; c++) b->gb[c] = 0.0f;
      for (int64_t tok = 0; tok < T; tok++)
        for (int64_t c = c0; c < c1; c++) b->gb[c] += b->g[tok * b->ldg + c];
    }
  }
  return SUBQ_OK;
}

void subq_monarch_backward_args_default(subq_monarch_backward_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_write_defaults(p, struct_size, NULL, 0);
}

subq_status subq_monarch_backward(subq_context *ctx, const subq_monarch_weights *w,
                                  const subq_monarch_backward_args *args) {
  const char *fn = "subq_monarch_backward";
  subq_status st = subq_monarch_weights_check(fn, ctx, w);
  if (st != SUBQ_OK) return st;
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  st = subq_read_struct(&a, sizeof a, args, args->struct_size, sizeof a, fn);
  if (st != SUBQ_OK) return st;
  const subq_monarch_desc *d = &w->desc;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t n = w->dims.n, m = w->dims.m, N = w->dims.nn, T = a.tokens;
  if (T < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)T);
  if (bd && a.grad_w2) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: grad_w2 must be NULL for a block-diagonal layer", fn);
  const bool need_x = a.grad_w1 || a.grad_w2;
  /* byte ranges: inputs x, g; outputs gx, gw1, gw2, gb — outputs overlap nothing */
  uintptr_t lo[6] = {0}, hi[6] = {0};
  if ((st = subq_monarch_check_operand(fn, "grad_y", "ldgy", a.grad_y, T, m, a.ldgy, &lo[0], &hi[0])) != SUBQ_OK) return st;
  if (need_x && (st = subq_monarch_check_operand(fn, "x", "ldx", a.x, T, n, a.ldx, &lo[1], &hi[1])) != SUBQ_OK) return st;
  if (a.grad_x && (st = subq_monarch_check_operand(fn, "grad_x", "ldgx", a.grad_x, T, n, a.ldgx, &lo[2], &hi[2])) != SUBQ_OK)
    return st;
  if (a.grad_w1) subq_monarch_extent(a.grad_w1, 1, w->dims.w1_elems, w->dims.w1_elems, &lo[3], &hi[3]);
  if (a.grad_w2) subq_monarch_extent(a.grad_w2, 1, w->dims.w2_elems, w->dims.w2_elems, &lo[4], &hi[4]);
  if (a.grad_bias) subq_monarch_extent(a.grad_bias, 1, m, m, &lo[5], &hi[5]);
  static const char *const names[6] = {"grad_y", "x", "grad_x", "grad_w1", "grad_w2", "grad_bias"};
  for (int o = 2; o < 6; o++)
    for (int q = 0; q < 6; q++)
      if (q != o && subq_monarch_overlap(lo[o], hi[o], lo[q], hi[q]))
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, names[o], names[q]);
  if (T == 0) { /* empty batch: weight and bias gradients are zero */
    if (a.grad_w1) memset(a.grad_w1, 0, (size_t)w->dims.w1_elems * sizeof(float));
    if (a.grad_w2) memset(a.grad_w2, 0, (size_t)w->dims.w2_elems * sizeof(float));
    if (a.grad_bias) memset(a.grad_bias, 0, (size_t)m * sizeof(float));
    return SUBQ_OK;
  }

  subq_mbwd b;
  memset(&b, 0, sizeof b);
  b.w = w, b.T = T, b.N = N, b.x = a.x, b.ldx = a.ldx, b.g = a.grad_y, b.ldg = a.ldgy;
  b.gx = a.grad_x, b.ldgx = a.ldgx, b.gw1 = a.grad_w1, b.gw2 = a.grad_w2, b.gb = a.grad_bias;
  b.tt = subq_monarch_token_tile(w);
  b.n_tiles = subq_monarch_ceil_div(T, b.tt);
  const int64_t nr = w->impl->nr, k = d->k, q = d->q, p = d->p, l = d->l, s = d->s, r = d->r;
  const bool need_du = !bd && (a.grad_x || a.grad_w1);
  /* workspace: backward weight panels, U, dV, dU */
  size_t w1b, w2b = 0, tb = 0, zb = 0, tot;
  bool ok = subq_mul_size((size_t)(k * q), (size_t)subq_rup(p, nr) * sizeof(float), &w1b);
  if (!bd) ok = ok && subq_mul_size((size_t)(l * s), (size_t)subq_rup(r, nr) * sizeof(float), &w2b) &&
                subq_mul_size((size_t)T, (size_t)N * sizeof(float), &tb) &&
                subq_mul_size((size_t)T, (size_t)m * sizeof(float), &zb) && tb < SIZE_MAX / 8 && zb < SIZE_MAX / 8;
  ok = ok && subq_add_size(4 * (tb + 64), zb + 64, &tot);
  if (!ok) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: workspace size overflows", fn);
  char *ws = subq_alloc(tot + 256);
  if (!ws) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of workspace", fn, tot);
  char *cur = ws;
#define SUBQ_TAKE(ptr, bytes) (ptr = (float *)(void *)cur, cur += ((bytes) + 63) & ~(size_t)63)
  if (!bd) {
    if (a.grad_w2) {
      SUBQ_TAKE(b.u, tb);
      SUBQ_TAKE(b.v, tb);
    }
    if (need_du || a.grad_w2) SUBQ_TAKE(b.dz, zb);
    if (need_du) {
      SUBQ_TAKE(b.dv, tb);
      SUBQ_TAKE(b.du, tb);
    }
  }
#undef SUBQ_TAKE
  const int64_t ppad = subq_rup(p, nr), rpad = subq_rup(r, nr);
  b.dua = bd ? a.grad_y : b.du;
  b.ldu = bd ? a.ldgy : N;
  b.n_dx = a.grad_x ? k * b.n_tiles : 0;
  b.n_dw1 = a.grad_w1 ? k : 0;
  b.n_dw2 = a.grad_w2 ? l : 0;
  b.n_db = a.grad_bias ? subq_monarch_ceil_div(m, SUBQ_MBWD_BIAS_COLS) : 0;
  /* backward panels: B(a, e) = W1[i][a][e] (K = q, N = p); B(c, t) = W2[j][c][t];
   * made once per weights object (w is logically const: the cache is atomic) */
  subq_monarch_weights *wm = (subq_monarch_weights *)(uintptr_t)w;
  float *panels = atomic_load_explicit(&wm->bwd_panels, memory_order_acquire);
  if (!panels && (a.grad_x || need_du)) {
    float *mine = subq_alloc(w1b + w2b + 64);
    if (!mine) {
      subq_free(ws);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of backward panels", fn, w1b + w2b);
    }
    b.w1n = mine;
    b.w2n = bd ? NULL : mine + w1b / sizeof(float);
    subq_phase pp = {subq_mbwd_panels, &b, k + (bd ? 0 : l), 1};
    st = subq_parallel_run(ctx, &pp, 1, 0);
    if (st != SUBQ_OK) {
      subq_free(mine);
      subq_free(ws);
      return st;
    }
    float *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&wm->bwd_panels, &expected, mine, memory_order_acq_rel,
                                                memory_order_acquire)) {
      panels = mine;
    } else {
      subq_free(mine);
      panels = expected;
    }
  }
  if (panels) {
    b.w1n = panels;
    b.w2n = bd ? NULL : panels + w1b / sizeof(float);
  }
  subq_phase ph[6];
  int nph = 0;
  if (b.u) ph[nph++] = (subq_phase){subq_mbwd_s1, &b, k * b.n_tiles, 0};
  if (b.dz) ph[nph++] = (subq_phase){subq_mbwd_blockmajor, &b, T, 0};
  if (need_du) {
    ph[nph++] = (subq_phase){subq_mbwd_dv, &b, l * b.n_tiles, 0};
    ph[nph++] = (subq_phase){subq_mbwd_p1t, &b, T, 0};
  }
  ph[nph++] = (subq_phase){subq_mbwd_last, &b, b.n_dx + b.n_dw1 + b.n_dw2 + b.n_db, 1};
  const size_t scratch = (size_t)SUBQ_MBWD_KC * (size_t)SUBQ_MAX(ppad, bd ? 1 : rpad) * sizeof(float) + 64;
  st = subq_parallel_run(ctx, ph, nph, scratch);
  subq_free(ws);
  return st;
}
