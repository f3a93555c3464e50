/*
 * subq_monarch_backward.c — gradients of the Monarch / block-diagonal layer
 * (spec §7) with the forward's bdmm micro-kernels: every product is a block
 * GEMM read through strides or small packed panels, B packed once per weights.
 *
 * Tokens go in chunks of SUBQ_MBWD_KC (256, spec §6.5); per chunk, phases
 * (items from the shape only):
 *   1. U = stage 1 of x (only when grad_w2 is asked and the forward's
 *      stage 1 was not passed in)                           items (block i, tile)
 *   2. per token tile: V = P1 U, dZ = P2^T g (to the chunk buffers), dV_j =
 *      dZ_j . W2[j] (L2-resident scratch), dU = P1^T dV (chunk buffer),
 *      dX_i = dU_i . W1[i]                                   items tiles
 *   3. dW1[i] += dU_i^T X_i; dW2[j] += dZ_j^T V_j; dbias += items blocks / columns
 * The chunk buffers (U, V, dZ, dU: at most 256 (3 N + m) floats whatever T is)
 * live in the context's shared workspace, reused by later calls, so a call
 * takes no page faults once the context has seen its size. The weight
 * gradients are one FMA chain per element and chunk, chunk results added in
 * token order, so thread counts never change bits. Block-diagonal: dU = g,
 * no buffers.
 */
#include <stddef.h>
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
  int64_t T, tt, N, m;
  const float *x, *g;
  int64_t ldx, ldg;
  float *gx, *gw1, *gw2, *gb;
  int64_t ldgx;
  const float *w1n, *w2n;      /* backward panels: W1[i] as (q x p), W2[j] as (s x r) B operands */
  const float *saved_u;        /* the forward's stage 1 [T][N] (row stride ld_saved_u), or NULL: recompute */
  int64_t ld_saved_u;
  bool want_v, want_du, want_dz;
  void *ws;                    /* the shared workspace, set by the runtime for the run */
  int64_t ldn, ldm;            /* row strides of the chunk buffers (padded off 4 KiB multiples) */
  size_t off_u, off_v, off_dz, off_du; /* byte offsets in ws of the chunk buffers U, V, dZ, dU */
} subq_mbwd;

/* One chunk of tokens [t0, t0 + tn): the arg of each of its phases. */
typedef struct subq_mbwd_chunk {
  const subq_mbwd *b;
  int64_t t0, tn, n_tiles, index;
  int64_t n_dw1, n_dw2, n_db;
} subq_mbwd_chunk;

#define SUBQ_MBWD_BIAS_COLS 256
/* Tokens per chunk = the K of one weight-gradient chain (spec §6.5: fixed
 * 256-token chunks, reduced in chunk order). */
#define SUBQ_MBWD_KC 256
/* Chunks per parallel run (bounds the phase list for any T). */
#define SUBQ_MBWD_BATCH 64
#define SUBQ_MBWD_PF 16

/* Row stride of a chunk buffer: 64-byte rows, never a multiple of 4 KiB (rows
 * a 4 KiB multiple apart share L1 sets: a column walk would thrash one set). */
static int64_t subq_mbwd_ld(int64_t w) {
  const int64_t ld = subq_rup(w, 16);
  return ld % 1024 ? ld : ld + 16;
}

static float *subq_mbwd_buf(const subq_mbwd *b, size_t off) { return (float *)(void *)((char *)b->ws + off); }

static subq_status subq_mbwd_panels(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_mbwd *b = arg;
  const subq_monarch_weights *w = b->w;
  const subq_monarch_desc *d = &w->desc;
  const int64_t nr = w->impl->nr, k = d->k, q = d->q, p = d->p, s = d->s, r = d->r;
  const int64_t ppad = subq_rup(p, nr), rpad = subq_rup(r, nr);
  float *w1n = (float *)(uintptr_t)b->w1n, *w2n = (float *)(uintptr_t)b->w2n;
  for (int64_t it = begin; it < end; it++) {
    if (it < k) {
      const int64_t i = it;
      for (int64_t e0 = 0; e0 < ppad; e0 += nr)
        for (int64_t aa = 0; aa < q; aa++)
          for (int64_t ee = 0; ee < nr; ee++)
            w1n[i * q * ppad + e0 * q + aa * nr + ee] = e0 + ee < p ? subq_w1_at(w, i, aa, e0 + ee) : 0.0f;
    } else {
      const int64_t j = it - k;
      for (int64_t t0 = 0; t0 < rpad; t0 += nr)
        for (int64_t c = 0; c < s; c++)
          for (int64_t tt = 0; tt < nr; tt++)
            w2n[j * s * rpad + t0 * s + c * nr + tt] = t0 + tt < r ? subq_w2_at(w, j, c, t0 + tt) : 0.0f;
    }
  }
  return SUBQ_OK;
}

static subq_status subq_mbwd_s1(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_mbwd_chunk *ch = arg;
  const subq_mbwd *b = ch->b;
  const int64_t k = b->w->desc.k;
  float *u = subq_mbwd_buf(b, b->off_u);
  for (int64_t it = begin; it < end; it++) {
    const int64_t i = it % k, r0 = (it / k) * b->tt, tn = SUBQ_MIN(b->tt, ch->tn - r0);
    subq_monarch_stage1(b->w, info, i, tn, b->x + (ch->t0 + r0) * b->ldx, b->ldx, u + r0 * b->ldn, b->ldn);
  }
  return SUBQ_OK;
}

/* One token tile of the chunk through everything that is per token:
 * V = P1 U and dZ = P2^T g (token-major, block-major columns: dz[tok][j*s + c]
 * = g[tok][c*l + j], v[tok][j*r + t] = u[tok][t*l + j]), dV_j = dZ_j W2[j] into
 * the participant's scratch (L2-sized), dU = P1^T dV (dU[t*l + j] = dV[j*r + t]),
 * dX_i = dU_i W1[i]. dZ, V and dU go to the chunk buffers for the weight
 * gradients; dV never leaves the cache. */
static subq_status subq_mbwd_tiles(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_mbwd_chunk *ch = arg;
  const subq_mbwd *b = ch->b;
  const subq_monarch_desc *d = &b->w->desc;
  const subq_monarch_impl *u = b->w->impl;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t k = d->k, q = d->q, p = d->p, l = d->l, s = d->s, r = d->r, nr = u->nr;
  const int64_t ppad = subq_rup(p, nr), rpad = subq_rup(r, nr), ldn = b->ldn, ldm = b->ldm;
  float *dz = b->want_dz ? subq_mbwd_buf(b, b->off_dz) : NULL, *du = b->want_du ? subq_mbwd_buf(b, b->off_du) : NULL;
  float *dvt = info->scratch;
  for (int64_t it = begin; it < end; it++) {
    const int64_t r0 = it * b->tt, tn = SUBQ_MIN(b->tt, ch->tn - r0), tok0 = ch->t0 + r0;
    if (b->want_v) {
      const float *uu = b->saved_u ? b->saved_u + tok0 * b->ld_saved_u : subq_mbwd_buf(b, b->off_u) + r0 * ldn;
      subq_monarch_p2(b->w->perm, tn, r, l, uu, b->saved_u ? b->ld_saved_u : ldn, subq_mbwd_buf(b, b->off_v) + r0 * ldn,
                      ldn, NULL);
    }
    if (dz) subq_monarch_p2(b->w->perm, tn, s, l, b->g + tok0 * b->ldg, b->ldg, dz + r0 * ldm, ldm, NULL);
    if (du) {
      for (int64_t j = 0; j < l; j++) /* A(tok, c) = dz[tok][j*s + c] */
        subq_monarch_block_gemm(u, tn, s, r, dz + r0 * ldm + j * s, ldm, 1, b->w2n + j * s * rpad, dvt + j * r, ldn,
                                false);
      subq_monarch_p2(b->w->perm, tn, l, r, dvt, ldn, du + r0 * ldn, ldn, NULL);
    }
    if (b->gx) { /* dX_i: A = dU_i (g itself for BLOCKDIAG), B = W1[i] (q x p) */
      const float *a = bd ? b->g + tok0 * b->ldg : du + r0 * ldn;
      const int64_t lda = bd ? b->ldg : ldn;
      for (int64_t i = 0; i < k; i++)
        subq_monarch_block_gemm(u, tn, q, p, a + i * q, lda, 1, b->w1n + i * q * ppad, b->gx + tok0 * b->ldgx + i * p,
                                b->ldgx, false);
    }
  }
  return SUBQ_OK;
}

/* C (rows x wd) (+)= sum over the kc tokens of A(row, tok) B(tok, e), one chain per
 * element: A(row, tok) = a[row + tok*lda] is broadcast in place (lda is padded
 * off 4 KiB multiples), B(tok, e) = src[tok*ld + e] is packed into NR-column
 * panels token row by token row, prefetching ahead (rows are pages apart, which
 * the hardware prefetcher does not follow). Packing A as well measured no faster. */
static void subq_mbwd_wgrad(const subq_monarch_impl *u, int64_t rows, int64_t kc, int64_t wd, const float *a,
                            int64_t lda, const float *src, int64_t ld, float *panel, float *c, int64_t c_rs,
                            bool accumulate) {
  const int64_t mr = u->mr, nr = u->nr;
  for (int64_t tok = 0; tok < kc; tok++) { /* panel jp holds B(tok, jp .. jp + nr) at [tok][nr] */
    const float *sr = src + tok * ld;
    if (tok + SUBQ_MBWD_PF < kc)
      for (int64_t e = 0; e < wd; e += 16) __builtin_prefetch(sr + SUBQ_MBWD_PF * ld + e);
    int64_t jp = 0;
    if (nr == 16)
      for (; jp + 16 <= wd; jp += 16) memcpy(panel + jp * kc + tok * 16, sr + jp, 16 * sizeof(float));
    for (; jp < wd; jp += nr) {
      float *dr = panel + jp * kc + tok * nr;
      for (int64_t e = 0; e < nr; e++) dr[e] = jp + e < wd ? sr[jp + e] : 0.0f;
    }
  }
  for (int64_t jp = 0; jp < wd; jp += nr)
    for (int64_t g = 0; g < rows; g += mr)
      u->bdmm(kc, a + g, 1, lda, panel + jp * kc, c + g * c_rs + jp, c_rs, SUBQ_MIN(mr, rows - g),
              SUBQ_MIN(nr, wd - jp), accumulate);
}

static subq_status subq_mbwd_last(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_mbwd_chunk *ch = arg;
  const subq_mbwd *b = ch->b;
  const subq_monarch_desc *d = &b->w->desc;
  const subq_monarch_impl *u = b->w->impl;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG, acc = ch->index > 0;
  const int64_t q = d->q, p = d->p, t0 = ch->t0, tn = ch->tn;
  /* dU as read here: the chunk's du, or g itself for BLOCKDIAG */
  const float *du = bd ? b->g + t0 * b->ldg : subq_mbwd_buf(b, b->off_du);
  const int64_t ldu = bd ? b->ldg : b->ldn;
  float *panel = info->scratch;
  for (int64_t it = begin; it < end; it++) {
    int64_t x = it;
    if (x < ch->n_dw1) { /* dW1[i] (q x p) (+)= sum_tok dU[tok][i*q + a] X[tok][i*p + e] */
      const int64_t i = x;
      subq_mbwd_wgrad(u, q, tn, p, du + i * q, ldu, b->x + t0 * b->ldx + i * p, b->ldx, panel, b->gw1 + i * q * p, p,
                      acc);
      continue;
    }
    x -= ch->n_dw1;
    if (x < ch->n_dw2) { /* dW2[j] (s x r) (+)= sum_tok dz[tok][j*s + c] v[tok][j*r + t] */
      const int64_t j = x, s = d->s, r = d->r;
      subq_mbwd_wgrad(u, s, tn, r, subq_mbwd_buf(b, b->off_dz) + j * s, b->ldm, subq_mbwd_buf(b, b->off_v) + j * r,
                      b->ldn, panel, b->gw2 + j * s * r, r, acc);
      continue;
    }
    x -= ch->n_dw2;
    { /* dbias for a column chunk, tokens in order (one sum per column over all chunks) */
      const int64_t m = b->m, c0 = x * SUBQ_MBWD_BIAS_COLS, cn = SUBQ_MIN(m - c0, SUBQ_MBWD_BIAS_COLS);
      float sum[SUBQ_MBWD_BIAS_COLS]; /* a local row, so the adds vectorise (gb may alias nothing, g is const) */
      for (int64_t c = 0; c < cn; c++) sum[c] = acc ? b->gb[c0 + c] : 0.0f;
      for (int64_t tok = t0; tok < t0 + tn; tok++) {
        const float *gr = b->g + tok * b->ldg + c0;
        if (tok + 4 < t0 + tn) /* rows are pages apart */
          for (int64_t c = 0; c < cn; c += 16) __builtin_prefetch(gr + 4 * b->ldg + c);
        for (int64_t c = 0; c < cn; c++) sum[c] += gr[c];
      }
      memcpy(b->gb + c0, sum, (size_t)cn * sizeof(float));
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
  /* structs from before stage1 was added still read */
  st = subq_read_struct(&a, sizeof a, args, args->struct_size, offsetof(subq_monarch_backward_args, stage1), fn);
  if (st != SUBQ_OK) return st;
  const subq_monarch_desc *d = &w->desc;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t n = w->dims.n, m = w->dims.m, N = w->dims.nn, T = a.tokens;
  if (T < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)T);
  if (bd && a.grad_w2) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: grad_w2 must be NULL for a block-diagonal layer", fn);
  if (bd && a.stage1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: stage1 must be NULL for a block-diagonal layer", fn);
  /* x feeds dW1 and, unless the forward's stage 1 is given, the recomputed V of dW2 */
  const bool use_saved = a.grad_w2 && a.stage1;
  const bool need_x = a.grad_w1 || (a.grad_w2 && !use_saved);
  /* byte ranges: inputs g, x, stage1; outputs gx, gw1, gw2, gb — outputs overlap nothing */
  subq_byte_range rg[7] = {{0, 0}};
  static const char *const names[7] = {"grad_y", "x", "stage1", "grad_x", "grad_w1", "grad_w2", "grad_bias"};
  if ((st = subq_monarch_check_operand(fn, "grad_y", "ldgy", a.grad_y, T, m, a.ldgy, &rg[0])) != SUBQ_OK) return st;
  if (need_x && (st = subq_monarch_check_operand(fn, "x", "ldx", a.x, T, n, a.ldx, &rg[1])) != SUBQ_OK) return st;
  if (a.stage1 && (st = subq_monarch_check_operand(fn, "stage1", "ldstage1", a.stage1, T, N, a.ldstage1, &rg[2])) != SUBQ_OK)
    return st;
  if (a.grad_x && (st = subq_monarch_check_operand(fn, "grad_x", "ldgx", a.grad_x, T, n, a.ldgx, &rg[3])) != SUBQ_OK)
    return st;
  const void *const flat[3] = {a.grad_w1, a.grad_w2, a.grad_bias};
  const int64_t flat_n[3] = {w->dims.w1_elems, w->dims.w2_elems, m};
  for (int i = 0; i < 3; i++)
    if (flat[i] && !subq_byte_range_rows(flat[i], 1, flat_n[i], flat_n[i], sizeof(float), &rg[4 + i]))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overflows the address range", fn, names[4 + i]);
  for (int o = 3; o < 7; o++)
    for (int q = 0; q < 7; q++)
      if (q != o && subq_byte_ranges_overlap(rg[o], rg[q]))
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, names[o], names[q]);
  if (T == 0) { /* empty batch: weight and bias gradients are zero */
    if (a.grad_w1) memset(a.grad_w1, 0, (size_t)w->dims.w1_elems * sizeof(float));
    if (a.grad_w2) memset(a.grad_w2, 0, (size_t)w->dims.w2_elems * sizeof(float));
    if (a.grad_bias) memset(a.grad_bias, 0, (size_t)m * sizeof(float));
    return SUBQ_OK;
  }

  subq_mbwd b;
  memset(&b, 0, sizeof b);
  b.w = w, b.T = T, b.N = N, b.m = m, b.x = a.x, b.ldx = a.ldx, b.g = a.grad_y, b.ldg = a.ldgy;
  b.gx = a.grad_x, b.ldgx = a.ldgx, b.gw1 = a.grad_w1, b.gw2 = a.grad_w2, b.gb = a.grad_bias;
  b.saved_u = use_saved ? a.stage1 : NULL, b.ld_saved_u = a.ldstage1;
  b.tt = subq_monarch_token_tile(w);
  const int64_t nr = w->impl->nr, k = d->k, q = d->q, p = d->p, l = d->l, s = d->s, r = d->r;
  const int64_t C = SUBQ_MIN(T, (int64_t)SUBQ_MBWD_KC), n_chunks = subq_monarch_ceil_div(T, SUBQ_MBWD_KC);
  b.want_du = !bd && (a.grad_x || a.grad_w1);
  b.want_v = !bd && a.grad_w2;
  b.want_dz = b.want_du || b.want_v;
  /* chunk buffers, rows padded so that no row stride is a multiple of 4 KiB (L1 set aliasing) */
  b.ldn = subq_mbwd_ld(N);
  b.ldm = subq_mbwd_ld(m);
  size_t w1b, w2b = 0, nb = 0, mb = 0, wsb = 0;
  bool ok = subq_mul_size((size_t)(k * q), (size_t)subq_rup(p, nr) * sizeof(float), &w1b);
  if (!bd) ok = ok && subq_mul_size((size_t)(l * s), (size_t)subq_rup(r, nr) * sizeof(float), &w2b) &&
                subq_mul_size((size_t)C, (size_t)b.ldn * sizeof(float), &nb) &&
                subq_mul_size((size_t)C, (size_t)b.ldm * sizeof(float), &mb) && nb < SIZE_MAX / 8 && mb < SIZE_MAX / 8;
  /* participant scratch: one weight-gradient chunk's B panels, or one tile's dV */
  size_t pb, tvb = 0, scratch = 0;
  ok = ok && subq_mul_size((size_t)C, (size_t)SUBQ_MAX(subq_rup(p, nr), bd ? 1 : subq_rup(r, nr)) * sizeof(float), &pb) &&
       (bd || subq_mul_size((size_t)b.tt, (size_t)b.ldn * sizeof(float), &tvb)) &&
       subq_add_size(SUBQ_MAX(pb, tvb), 64, &scratch);
  if (!ok) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: workspace size overflows", fn);
#define SUBQ_TAKE(off, bytes) (off = wsb, wsb += ((bytes) + 63) & ~(size_t)63)
  if (b.want_v && !b.saved_u) SUBQ_TAKE(b.off_u, nb);
  if (b.want_v) SUBQ_TAKE(b.off_v, nb);
  if (b.want_dz) SUBQ_TAKE(b.off_dz, mb);
  if (b.want_du) SUBQ_TAKE(b.off_du, nb);
#undef SUBQ_TAKE
  /* backward panels: B(a, e) = W1[i][a][e] (K = q, N = p); B(c, t) = W2[j][c][t];
   * made once per weights object (w is logically const: the cache is atomic) */
  subq_monarch_weights *wm = (subq_monarch_weights *)(uintptr_t)w;
  float *panels = atomic_load_explicit(&wm->bwd_panels, memory_order_acquire);
  if (!panels && (a.grad_x || b.want_du)) {
    float *mine = subq_alloc(w1b + w2b + 64);
    if (!mine) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of backward panels", fn, w1b + w2b);
    b.w1n = mine;
    b.w2n = bd ? NULL : mine + w1b / sizeof(float);
    subq_phase pp = {subq_mbwd_panels, &b, k + (bd ? 0 : l), 1};
    st = subq_parallel_run(ctx, &pp, 1, 0);
    if (st != SUBQ_OK) {
      subq_free(mine);
      return st;
    }
    panels = subq_monarch_publish(&wm->bwd_panels, mine);
  }
  if (panels) {
    b.w1n = panels;
    b.w2n = bd ? NULL : panels + w1b / sizeof(float);
  }
  /* up to five phases per chunk; batches of chunks per run (one lock, one workspace;
   * no chunk reads another's intermediates, so batches may meet any other call) */
  const int64_t batch = SUBQ_MIN(n_chunks, (int64_t)SUBQ_MBWD_BATCH);
  subq_mbwd_chunk *chunks = calloc((size_t)batch, sizeof *chunks);
  subq_phase *ph = calloc((size_t)batch * 5, sizeof *ph);
  if (!chunks || !ph) {
    free(chunks);
    free(ph);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  const int v = subq_context_verbosity(ctx);
  if (v >= 1)
    subq_log_at(v, SUBQ_LOG_INFO, "%s: T=%lld chunks=%lld tile=%lld workspace=%zu B scratch=%zu B impl=%s", fn,
                (long long)T, (long long)n_chunks, (long long)b.tt, wsb, scratch, w->impl->name);
  st = SUBQ_OK;
  for (int64_t c0 = 0; c0 < n_chunks && st == SUBQ_OK; c0 += batch) {
    int nph = 0;
    for (int64_t c = c0; c < SUBQ_MIN(n_chunks, c0 + batch); c++) {
      subq_mbwd_chunk *ch = &chunks[c - c0];
      ch->b = &b, ch->index = c, ch->t0 = c * SUBQ_MBWD_KC, ch->tn = SUBQ_MIN((int64_t)SUBQ_MBWD_KC, T - ch->t0);
      ch->n_tiles = subq_monarch_ceil_div(ch->tn, b.tt);
      ch->n_dw1 = a.grad_w1 ? k : 0;
      ch->n_dw2 = a.grad_w2 ? l : 0;
      ch->n_db = a.grad_bias ? subq_monarch_ceil_div(m, SUBQ_MBWD_BIAS_COLS) : 0;
      if (b.want_v && !b.saved_u) ph[nph++] = (subq_phase){subq_mbwd_s1, ch, k * ch->n_tiles, 0};
      if (b.want_dz || a.grad_x) ph[nph++] = (subq_phase){subq_mbwd_tiles, ch, ch->n_tiles, 1};
      ph[nph++] = (subq_phase){subq_mbwd_last, ch, ch->n_dw1 + ch->n_dw2 + ch->n_db, 1};
    }
    st = wsb ? subq_parallel_run_shared(ctx, ph, nph, scratch, wsb, &b.ws) : subq_parallel_run(ctx, ph, nph, scratch);
  }
  free(chunks);
  free(ph);
  return st;
}
