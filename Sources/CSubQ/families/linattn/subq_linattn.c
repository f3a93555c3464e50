/*
 * subq_linattn.c — driver of the linear-attention family: validation,
 * feature maps, the chunked causal prefill, the non-causal form and the
 * decode step (linear_attention spec §1-§5, §8).
 *
 * Work items are (sequence, head); each runs its tokens in chunks with the
 * head's state S [D][dv] (and s [D]) kept hot in L1/L2 (prefill: an aligned
 * scratch copy, written back to state_out at the end; decode: in state_out).
 * Up to `group` items of a claim advance chunk by chunk in lock-step. Per
 * chunk of c tokens:
 *   A = tril(kappa(Q, K) ⊙ decay)      c x c from dk-dim dots (GEMM), then
 *                                      the Taylor polynomial 1 + s + s^2/2
 *                                      and the gate weights elementwise;
 *   O = A V  (GEMM, causal trim),  z = rowsum A;
 *   O += Phi~(Q) S,  z += Phi~(Q) . s   (Phi~ = Phi ⊙ exp(G) with gates);
 *   S = exp(Gamma) S + Phi~(K)^T V,  s likewise  (Phi~(K) = Phi(K) ⊙ exp(Gamma - G)).
 * Only the c real rows enter any product (no padded rows: phi(0) != 0).
 * Gate cumulative sums are kept in double so that exp(G_i - G_j) is exact to
 * f32 rounding however long the chunk; every exponent formed is <= 0, except
 * the per-key in-block k factors, bounded by SUBQ_LA_SPAN_MAX (see
 * subq_la_intra).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "subq/subq_linattn.h"

typedef struct subq_la_impl {
  subq_isa isa;
  subq_f32_linattn_gemm_fn gemm;
  subq_f32_linattn_step_fn step;
  subq_f32_linattn_tload_fn tload;
  subq_f32_linattn_taylor_fn taylor;
  subq_f32_linattn_qpanel_fn qpanel;
  subq_f32_linattn_intra_fn intra;
  subq_f32_linattn_zstate_fn zstate;
  subq_f32_linattn_rowsum_fn rowsum;
  subq_f32_linattn_outrows_fn outrows;
} subq_la_impl;

static const subq_la_impl subq_la_impls[] = {
#define SUBQ_LINATTN_UKERNEL(isa, gemm, step, tload, taylor, qpanel, intra, zstate, rowsum, outrows) \
  {isa, gemm, step, tload, taylor, qpanel, intra, zstate, rowsum, outrows},
#include "families/linattn/subq_linattn_impls.inc"
#undef SUBQ_LINATTN_UKERNEL
};

static const subq_la_impl *subq_la_pick(subq_isa chosen) {
  return SUBQ_ISA_PICK(chosen, subq_la_impls, subq_la_impl);
}

#define SUBQ_LA_SUB 16 /* per-key gates: sub-block rows (spec §5, fla chunk_gla BC) */
#define SUBQ_LA_SPAN_MAX 30.0 /* per-key gates: largest in-block log decay folded into the GEMM (e^30 ~ 1e13) */
#define SUBQ_LA_MAX_GROUP 8 /* prefill items advanced in lock-step per participant */
/* Their states together stay in L2 (eight 153 x 64 BASED heads, 318 KiB, next
 * to ~80 KiB of chunk scratch in a 512 KiB L2: 2% faster than four at T 8192). */
#define SUBQ_LA_GROUP_BYTES (384 * 1024)
/* Prefill outputs larger than this are written with non-temporal stores: they
 * cannot stay cached for the next layer anyway, and skipping the read for
 * ownership removes a third of a long prefill's DRAM traffic. */
#define SUBQ_LA_STREAM_BYTES ((int64_t)16 << 20)

static int64_t subq_la_r16(int64_t n) { return (n + 15) / 16 * 16; }

/* ---- feature maps ------------------------------------------------------------------- */

int64_t subq_linattn_feature_dim(int32_t fmap, int64_t dk) {
  if (dk < 1) return 0;
  switch (fmap) {
    case SUBQ_LINATTN_FMAP_IDENTITY:
    case SUBQ_LINATTN_FMAP_ELU1: return dk <= SUBQ_LINATTN_MAX_DK ? dk : 0;
    case SUBQ_LINATTN_FMAP_TAYLOR2: return dk <= SUBQ_LINATTN_MAX_TAYLOR_DK ? 1 + dk + dk * (dk + 1) / 2 : 0;
    default: return 0;
  }
}

static float subq_la_elu1(float x) { return x > 0.0f ? x + 1.0f : expf(x); }

/* The dk-dim "dot row" of one token: Taylor sqrt(scale) x, IDENTITY scale x
 * (query) or x (key), ELU1 elu(x) + 1. */
static void subq_la_dotrow(int32_t fmap, int64_t dk, float scale, float sq, bool query, const float *x, float *o) {
  switch (fmap) {
    case SUBQ_LINATTN_FMAP_TAYLOR2:
      for (int64_t d = 0; d < dk; d++) o[d] = sq * x[d];
      break;
    case SUBQ_LINATTN_FMAP_IDENTITY:
      if (query)
        for (int64_t d = 0; d < dk; d++) o[d] = scale * x[d];
      else
        memcpy(o, x, (size_t)dk * sizeof(float));
      break;
    default:
      for (int64_t d = 0; d < dk; d++) o[d] = subq_la_elu1(x[d]);
      break;
  }
}

/* Taylor expansion of a scaled row x~ (dk) into phi (D) with element stride
 * `st`: [1, x~, x~_i^2 / sqrt2, x~_i x~_j (i < j)]. */
static void subq_la_taylor(int64_t dk, const float *x, float *phi, int64_t st) {
  const float r2 = 0.70710678118654752f;
  int64_t n = 0;
  phi[0] = 1.0f, n = 1;
  for (int64_t i = 0; i < dk; i++) phi[(n++) * st] = x[i];
  for (int64_t i = 0; i < dk; i++) phi[(n++) * st] = (x[i] * x[i]) * r2;
  for (int64_t i = 0; i < dk; i++)
    for (int64_t j = i + 1; j < dk; j++) phi[(n++) * st] = x[i] * x[j];
}

static float subq_la_default_scale(int64_t dk) { return (float)(1.0 / sqrt((double)dk)); }

subq_status subq_linattn_feature_map_f32(int32_t fmap, int64_t dk, float scale, bool is_query, int64_t rows,
                                         const float *x, int64_t x_ld, float *out, int64_t out_ld) {
  static const char fn[] = "subq_linattn_feature_map_f32";
  const int64_t D = subq_linattn_feature_dim(fmap, dk);
  if (fmap < SUBQ_LINATTN_FMAP_IDENTITY || fmap > SUBQ_LINATTN_FMAP_TAYLOR2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: feature_map (%d) is unknown", fn, (int)fmap);
  if (D == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dim_qk (%lld) out of range", fn, (long long)dk);
  if (rows < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows (%lld) < 0", fn, (long long)rows);
  if (!(scale >= 0.0f) || !isfinite(scale))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: scale (%g) is negative or not finite", fn, (double)scale);
  if (rows == 0) return SUBQ_OK;
  if (!x) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: x is NULL", fn);
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (x_ld < dk) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: x_ld (%lld) < dim_qk", fn, (long long)x_ld);
  if (out_ld < D)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out_ld (%lld) < feature dim %lld", fn, (long long)out_ld,
                      (long long)D);
  int64_t xe, oe;
  if (!subq_mul_i64(rows - 1, x_ld, &xe) || !subq_add_i64(xe, dk, &xe) || !subq_mul_i64(rows - 1, out_ld, &oe) ||
      !subq_add_i64(oe, D, &oe) || xe > INT64_MAX / 4 || oe > INT64_MAX / 4)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic overflows int64", fn);
  const uintptr_t xl = (uintptr_t)x, xh = xl + (uintptr_t)xe * 4, ol = (uintptr_t)out, oh = ol + (uintptr_t)oe * 4;
  if (xl < oh && ol < xh) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps x", fn);
  if (scale == 0.0f) scale = subq_la_default_scale(dk);
  const float sq = sqrtf(scale);
  float tmp[SUBQ_LINATTN_MAX_DK];
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * x_ld;
    float *o = out + r * out_ld;
    if (fmap == SUBQ_LINATTN_FMAP_TAYLOR2) {
      subq_la_dotrow(fmap, dk, scale, sq, is_query, xr, tmp);
      subq_la_taylor(dk, tmp, o, 1);
    } else {
      subq_la_dotrow(fmap, dk, scale, sq, is_query, xr, o);
    }
  }
  return SUBQ_OK;
}

/* ---- args ------------------------------------------------------------------------------ */

void subq_linattn_args_default(subq_linattn_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_linattn_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.feature_map = SUBQ_LINATTN_FMAP_TAYLOR2;
  d.normalize = SUBQ_LINATTN_NORM_DENOM;
  d.causal = 1;
  d.eps = 1e-6f;
  d.norm_eps = 1e-5f;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

void subq_linattn_args_dense(subq_linattn_args *p) {
  if (!p) return;
  const int64_t H = p->n_heads, T = p->seqlen, dk = p->dim_qk, dv = p->dim_v;
  p->q_hs = p->k_hs = dk, p->q_ss = p->k_ss = subq_sat_mul_i64(H, dk);
  p->q_bs = p->k_bs = subq_sat_mul_i64(T, p->q_ss);
  p->v_hs = p->o_hs = dv, p->v_ss = p->o_ss = subq_sat_mul_i64(H, dv);
  p->v_bs = p->o_bs = subq_sat_mul_i64(T, p->v_ss);
  const int64_t gw = p->gate == SUBQ_LINATTN_GATE_PER_KEY ? dk : 1;
  p->g_hs = gw, p->g_ss = subq_sat_mul_i64(H, gw), p->g_bs = subq_sat_mul_i64(T, p->g_ss);
}

int64_t subq_linattn_state_floats(const subq_linattn_args *a) {
  if (!a || a->n_heads < 1 || a->dim_v < 1 || a->dim_v > SUBQ_LINATTN_MAX_DV) return 0;
  const int64_t D = subq_linattn_feature_dim(a->feature_map, a->dim_qk);
  int64_t r;
  if (D == 0 || !subq_mul_i64(D, a->dim_v + (a->normalize == SUBQ_LINATTN_NORM_DENOM ? 1 : 0), &r) ||
      !subq_mul_i64(r, a->n_heads, &r))
    return 0;
  return r;
}

/* ---- validation helpers ---------------------------------------------------------------- */

/* A (B, T, H, w) tensor with strides (bs, ss, hs), all 0 = dense. Strides
 * must be >= 0; an output's rows of w must be apart (subq_strides_nest). */
static subq_status subq_la_tensor(const char *fn, const char *name, const void *p, bool output, int64_t B, int64_t T,
                                  int64_t H, int64_t w, int64_t *bs, int64_t *ss, int64_t *hs, subq_byte_range *r) {
  r->lo = r->hi = 0;
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (*bs == 0 && *ss == 0 && *hs == 0) {
    *hs = w;
    if (!subq_mul_i64(H, w, ss) || !subq_mul_i64(T, *ss, bs))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64 (dense strides)", fn,
                        name);
  }
  if (*bs < 0 || *ss < 0 || *hs < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a stride of %s is negative", fn, name);
  const int64_t ext[3] = {B, T, H}, str[3] = {*bs, *ss, *hs};
  int64_t need;
  if (output && subq_strides_nest(3, ext, str, w, &need) >= 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the strides of %s make rows overlap", fn, name);
  int64_t e = w, t;
  if (!subq_mul_i64(B - 1, *bs, &t) || !subq_add_i64(e, t, &e) || !subq_mul_i64(T - 1, *ss, &t) ||
      !subq_add_i64(e, t, &e) || !subq_mul_i64(H - 1, *hs, &t) || !subq_add_i64(e, t, &e) ||
      !subq_mul_i64(e, (int64_t)sizeof(float), &e) || !subq_byte_range_at(p, e, r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

/* ---- the job --------------------------------------------------------------------------- */

typedef struct subq_la_job {
  subq_linattn_args g;
  const subq_la_impl *impl;
  int64_t H, dk, dv, D, C, sf, S_floats, ldS, slot_floats, group; /* S_floats = H * D * dv (offset of s) */
  float scale, sq;
  bool denom, taylor, map_is_dot; /* map_is_dot: Phi == the dot rows (D == dk) */
  bool stream;                    /* output rows bypass the caches (see SUBQ_LA_STREAM_BYTES) */
  /* scratch offsets in floats */
  int64_t o_qd, o_kd, o_qdt, o_kdt, o_a, o_phq, o_phkt, o_o, o_z, o_g, o_qp, o_kpt, o_S, o_s, o_dec, o_v, o_ev, o_ks, o_pan, o_z8;
} subq_la_job;

static const float *subq_la_row(const float *p, int64_t bs, int64_t ss, int64_t hs, int64_t b, int64_t t,
                                 int64_t h) {
  return p + b * bs + t * ss + h * hs;
}

/* The head's state S (D x dv) and s (D or NULL) for decode: in state_out,
 * loaded from state_in or zeroed. */
static void subq_la_state(const subq_la_job *j, int64_t b, int64_t h, float **S, float **s) {
  const subq_linattn_args *g = &j->g;
  const int64_t D = j->D, dv = j->dv, so = h * D * dv, zo = j->S_floats + h * D;
  float *base = g->state_out + b * g->state_bs;
  *S = base + so;
  *s = j->denom ? base + zo : NULL;
  const float *in = g->state_in ? g->state_in + b * g->state_bs : NULL;
  if (!in) {
    memset(*S, 0, (size_t)(D * dv) * sizeof(float));
    if (*s) memset(*s, 0, (size_t)D * sizeof(float));
  } else {
    if (in + so != *S) memcpy(*S, in + so, (size_t)(D * dv) * sizeof(float));
    if (*s && in + zo != *s) memcpy(*s, in + zo, (size_t)D * sizeof(float));
  }
}

/* Prefill works on an aligned scratch copy of the state, rows padded to
 * ldS = round8(dv) floats (caller states may sit at any float offset:
 * unaligned GEMM panels cost ~30 %). */
static void subq_la_state_in(const subq_la_job *j, int64_t b, int64_t h, float *scr, int64_t slot, float **S,
                             float **s) {
  const subq_linattn_args *g = &j->g;
  const int64_t D = j->D, dv = j->dv, ld = j->ldS;
  *S = scr + j->o_S + slot * j->slot_floats;
  *s = j->denom ? *S + D * ld : NULL;
  const float *in = g->state_in ? g->state_in + b * g->state_bs : NULL;
  memset(*S, 0, (size_t)(D * ld) * sizeof(float));
  if (*s) memset(*s, 0, (size_t)D * sizeof(float));
  if (!in) return;
  for (int64_t d = 0; d < D; d++) memcpy(*S + d * ld, in + h * D * dv + d * dv, (size_t)dv * sizeof(float));
  if (*s) memcpy(*s, in + j->S_floats + h * D, (size_t)D * sizeof(float));
}

static void subq_la_state_out(const subq_la_job *j, int64_t b, int64_t h, const float *S, const float *s) {
  const subq_linattn_args *g = &j->g;
  if (!g->state_out) return;
  const int64_t D = j->D, dv = j->dv, ld = j->ldS;
  float *out = g->state_out + b * g->state_bs;
  for (int64_t d = 0; d < D; d++) memcpy(out + h * D * dv + d * dv, S + d * ld, (size_t)dv * sizeof(float));
  if (s) memcpy(out + j->S_floats + h * D, s, (size_t)D * sizeof(float));
}

/* Writes c output rows from O (c x dv) and z (c) per the normalisation. */
static void subq_la_write(const subq_la_job *j, int64_t b, int64_t h, int64_t t0, int64_t c, const float *O,
                          const float *z) {
  const subq_linattn_args *g = &j->g;
  const int64_t dv = j->dv;
  if (g->normalize != SUBQ_LINATTN_NORM_RMSNORM) {
    j->impl->outrows(c, dv, O, dv, g->normalize == SUBQ_LINATTN_NORM_DENOM ? z : NULL, g->eps,
                     g->out + b * g->o_bs + t0 * g->o_ss + h * g->o_hs, g->o_ss, j->stream);
    return;
  }
  for (int64_t i = 0; i < c; i++) {
    float *o = g->out + b * g->o_bs + (t0 + i) * g->o_ss + h * g->o_hs;
    const float *r = O + i * dv;
    float ss = 0.0f;
    for (int64_t d = 0; d < dv; d++) ss += r[d] * r[d];
    const float inv = 1.0f / sqrtf(ss / (float)dv + g->norm_eps);
    if (g->norm_weight)
      for (int64_t d = 0; d < dv; d++) o[d] = (r[d] * inv) * g->norm_weight[d];
    else
      for (int64_t d = 0; d < dv; d++) o[d] = r[d] * inv;
  }
}

/* Touches the cache lines of rows [t0, t0 + n) of one head's tensor so that
 * the next chunk's strided rows (one line per token, often one page per
 * token) are in flight while this chunk computes. */
static void subq_la_prefetch(const float *p, int64_t bs, int64_t ss, int64_t hs, int64_t b, int64_t t0, int64_t n,
                             int64_t h, int64_t w, bool write) {
  for (int64_t i = 0; i < n; i++) {
    const char *r = (const char *)subq_la_row(p, bs, ss, hs, b, t0 + i, h);
    for (int64_t o = 0; o < w * 4; o += 64) {
      if (write)
        __builtin_prefetch(r + o, 1, 3);
      else
        __builtin_prefetch(r + o, 0, 3);
    }
  }
}

/* Loads c tokens of one head: transposed dot rows QdT, KdT (dk x C), the
 * transposed features PhQT, PhKT (D x C; Taylor only, else they alias the
 * dot rows; Taylor only with expand) and V (c x dv, dense). Prefetches the
 * next chunk's rows. */
static void subq_la_load(const subq_la_job *j, int64_t b, int64_t h, int64_t t0, int64_t c, float *scr, bool need_q,
                         bool need_k, bool expand, bool pf) {
  const subq_linattn_args *g = &j->g;
  const int64_t dk = j->dk, dv = j->dv, C = j->C;
  float *QdT = scr + j->o_qdt, *KdT = scr + j->o_kdt, *tmp = scr + j->o_qd, *Vc = scr + j->o_v;
  const int64_t tn = t0 + c, nn = SUBQ_MIN(C, g->seqlen - tn);
  if (nn > 0 && pf) {
    if (need_q) {
      subq_la_prefetch(g->q, g->q_bs, g->q_ss, g->q_hs, b, tn, nn, h, dk, false);
      if (!need_k && !j->stream) subq_la_prefetch(g->out, g->o_bs, g->o_ss, g->o_hs, b, tn, nn, h, dv, true);
    }
    if (need_k) {
      subq_la_prefetch(g->k, g->k_bs, g->k_ss, g->k_hs, b, tn, nn, h, dk, false);
      if (!need_q) subq_la_prefetch(g->v, g->v_bs, g->v_ss, g->v_hs, b, tn, nn, h, dv, false);
    }
  }
  if (g->feature_map != SUBQ_LINATTN_FMAP_ELU1) { /* scaled copies: the transposing kernel */
    const float qs = j->taylor ? j->sq : j->scale, ks = j->taylor ? j->sq : 1.0f;
    if (need_q) j->impl->tload(c, dk, subq_la_row(g->q, g->q_bs, g->q_ss, g->q_hs, b, t0, h), g->q_ss, qs, QdT, C);
    if (need_k) j->impl->tload(c, dk, subq_la_row(g->k, g->k_bs, g->k_ss, g->k_hs, b, t0, h), g->k_ss, ks, KdT, C);
  }
  for (int64_t i = 0; i < c; i++) {
    if (need_q && g->feature_map == SUBQ_LINATTN_FMAP_ELU1) {
      subq_la_dotrow(g->feature_map, dk, j->scale, j->sq, true, subq_la_row(g->q, g->q_bs, g->q_ss, g->q_hs, b, t0 + i, h),
                     tmp);
      for (int64_t d = 0; d < dk; d++) QdT[d * C + i] = tmp[d];
    }
    if (need_k) {
      if (g->feature_map == SUBQ_LINATTN_FMAP_ELU1) {
        subq_la_dotrow(g->feature_map, dk, j->scale, j->sq, false,
                       subq_la_row(g->k, g->k_bs, g->k_ss, g->k_hs, b, t0 + i, h), tmp);
        for (int64_t d = 0; d < dk; d++) KdT[d * C + i] = tmp[d];
      }
      memcpy(Vc + i * dv, subq_la_row(g->v, g->v_bs, g->v_ss, g->v_hs, b, t0 + i, h), (size_t)dv * sizeof(float));
    }
  }
  if (j->taylor && expand) {
    if (need_q) j->impl->taylor(dk, c, QdT, C, 0, j->D, scr + j->o_phq, C, NULL);
    if (need_k) j->impl->taylor(dk, c, KdT, C, 0, j->D, scr + j->o_phkt, C, NULL);
  }
}

static float *subq_la_phqt(const subq_la_job *j, float *scr) { return scr + (j->taylor ? j->o_phq : j->o_qdt); }
static float *subq_la_phkt(const subq_la_job *j, float *scr) { return scr + (j->taylor ? j->o_phkt : j->o_kdt); }

/* Inclusive cumulative log gates of the chunk, in double: G[i] (scalar) or
 * G[i * dk + d] (per key). */
static void subq_la_gates(const subq_la_job *j, int64_t b, int64_t h, int64_t t0, int64_t c, double *G) {
  const subq_linattn_args *g = &j->g;
  if (g->gate == SUBQ_LINATTN_GATE_SCALAR) {
    double run = 0.0;
    for (int64_t i = 0; i < c; i++) G[i] = run += (double)*subq_la_row(g->log_gate, g->g_bs, g->g_ss, g->g_hs, b, t0 + i, h);
  } else {
    const int64_t dk = j->dk;
    for (int64_t i = 0; i < c; i++) {
      const float *gr = subq_la_row(g->log_gate, g->g_bs, g->g_ss, g->g_hs, b, t0 + i, h);
      for (int64_t d = 0; d < dk; d++) G[i * dk + d] = (i ? G[(i - 1) * dk + d] : 0.0) + (double)gr[d];
    }
  }
}

/* Intra-chunk weights A (c x c, ld C, zero above the diagonal) and, with z,
 * their row sums. */
static void subq_la_intra(const subq_la_job *j, int64_t c, float *scr, const double *G, float *z) {
  const int64_t dk = j->dk, C = j->C;
  const int32_t gate = j->g.gate;
  float *A = scr + j->o_a;
  const float *QdT = scr + j->o_qdt, *KdT = scr + j->o_kdt;
  if (gate != SUBQ_LINATTN_GATE_PER_KEY) {
    /* Q K^T on and below the diagonal only: column block [j0, j0 + 16) from row j0 */
    for (int64_t j0 = 0; j0 < c; j0 += 16)
      j->impl->gemm(c - j0, SUBQ_MIN((int64_t)16, c - j0), dk, QdT + j0, 1, C, KdT + j0, C, A + j0 * C + j0, C, false,
                    -1);
    if (gate == SUBQ_LINATTN_GATE_NONE) {
      j->impl->intra(c, A, C, j->taylor, z);
      return;
    }
    for (int64_t i = 0; i < c; i++) {
      float *ai = A + i * C;
      if (j->taylor)
        for (int64_t jj = 0; jj <= i; jj++) ai[jj] = 1.0f + ai[jj] + 0.5f * (ai[jj] * ai[jj]);
      if (gate == SUBQ_LINATTN_GATE_SCALAR)
        for (int64_t jj = 0; jj <= i; jj++) ai[jj] *= expf((float)(G[i] - G[jj]));
      for (int64_t jj = i + 1; jj < c; jj++) ai[jj] = 0.0f;
      if (z) z[i] = subq_la_sum8(ai, i + 1);
    }
    return;
  }
  /* per-key gates: 16-row sub-blocks with the reference row n (the block's
   * first): q' = q e^{G_i - G_n} (<= 1), k' = k e^{G_n - G_j}, A = q' k'^T by
   * GEMM. For earlier rows j < n the k factors are <= 1. The block's own rows
   * (j >= n) have factors up to e^{span}, span = max_d (G_n - G_{last}): when
   * span <= SUBQ_LA_SPAN_MAX the diagonal block joins the GEMM (no overflow,
   * no denormal q factor, and the product e^{G_i-G_n} e^{G_n-G_j} = e^{G_i-G_j}
   * <= 1); otherwise (strong decay) it uses the exact per-pair exponents. */
  float *Qp = scr + j->o_qp, *KpT = scr + j->o_kpt;
  for (int64_t n = 0; n < c; n += SUBQ_LA_SUB) {
    const int64_t rows = SUBQ_MIN((int64_t)SUBQ_LA_SUB, c - n), last = n + rows - 1;
    const double *Gn = G + n * dk;
    double span = 0.0;
    for (int64_t d = 0; d < dk; d++) span = fmax(span, Gn[d] - G[last * dk + d]);
    const bool fold = span <= SUBQ_LA_SPAN_MAX; /* NaN-free: gates were checked <= 0 */
    const int64_t ncols = fold ? n + rows : n;
    for (int64_t i = 0; i < rows; i++)
      for (int64_t d = 0; d < dk; d++)
        Qp[i * dk + d] = QdT[d * C + n + i] * expf((float)(G[(n + i) * dk + d] - Gn[d]));
    for (int64_t d = 0; d < dk; d++)
      for (int64_t jj = 0; jj < ncols; jj++) KpT[d * C + jj] = KdT[d * C + jj] * expf((float)(Gn[d] - G[jj * dk + d]));
    if (ncols > 0) j->impl->gemm(rows, ncols, dk, Qp, dk, 1, KpT, C, A + n * C, C, false, -1);
    for (int64_t i = n; i < n + rows; i++) {
      float *ai = A + i * C;
      if (!fold)
        for (int64_t jj = n; jj <= i; jj++) {
          float s = 0.0f;
          for (int64_t d = 0; d < dk; d++)
            s += (QdT[d * C + i] * KdT[d * C + jj]) * expf((float)(G[i * dk + d] - G[jj * dk + d]));
          ai[jj] = s;
        }
      for (int64_t jj = i + 1; jj < c; jj++) ai[jj] = 0.0f;
      if (z) z[i] = subq_la_sum8(ai, i + 1);
    }
  }
}

#define SUBQ_LA_KSTRIP 24 /* feature rows of Phi(K) expanded per state-update product */

/* One ungated Taylor chunk of c tokens. The 153-wide features never exist
 * for the whole chunk (78 KiB for Q and K at C = 64, beyond L1): the
 * read-out expands Phi(Q) one 24-token panel at a time (with its Phi(q) . s),
 * the update Phi(K) 24 feature rows at a time (with their row sums), each
 * right before the product that consumes it, from L1. */
static void subq_la_chunk_taylor(const subq_la_job *j, int64_t b, int64_t h, int64_t t0, int64_t c, float *scr, float *S,
                                 float *s, const int64_t *nx) {
  const subq_linattn_args *g = &j->g;
  const int64_t T = g->seqlen, C = j->C, D = j->D, dv = j->dv, dk = j->dk, ldS = j->ldS;
  float *O = scr + j->o_o, *z = scr + j->o_z, *P8 = scr + j->o_pan, *z8 = scr + j->o_z8, *Pk = scr + j->o_phkt;
  float *ks = scr + j->o_ks;
  const float *V = scr + j->o_v, *QdT = scr + j->o_qdt, *KdT = scr + j->o_kdt;
  subq_la_load(j, b, h, t0, c, scr, true, true, false, false);
  /* the rows of the chunk that runs next (the next item of the lock-step
   * group): a chunk's time ahead, and only one chunk's rows in flight */
  const int64_t nb = nx[0], nh = nx[1], tn = nx[2], nn = tn >= 0 ? SUBQ_MIN(C, T - tn) : 0;
  if (nn > 0) {
    subq_la_prefetch(g->q, g->q_bs, g->q_ss, g->q_hs, nb, tn, nn, nh, dk, false);
    subq_la_prefetch(g->k, g->k_bs, g->k_ss, g->k_hs, nb, tn, nn, nh, dk, false);
  }
  subq_la_intra(j, c, scr, NULL, s ? z : NULL);
  j->impl->gemm(c, dv, c, scr + j->o_a, C, 1, V, dv, O, dv, false, 0);
  if (nn > 0) subq_la_prefetch(g->v, g->v_bs, g->v_ss, g->v_hs, nb, tn, nn, nh, dv, false);
  for (int64_t i0 = 0; i0 < c; i0 += SUBQ_LA_QPANEL) {
    const int m = (int)SUBQ_MIN((int64_t)SUBQ_LA_QPANEL, c - i0);
    j->impl->qpanel(dk, QdT, C, i0, m, P8, s, z8);
    j->impl->gemm(m, dv, D, P8, 1, SUBQ_LA_QPANEL, S, ldS, O + i0 * dv, dv, true, -1);
    if (s)
      for (int r = 0; r < m; r++) z[i0 + r] += z8[r];
  }
  subq_la_write(j, b, h, t0, c, O, z);
  if (nn > 0 && !j->stream) subq_la_prefetch(g->out, g->o_bs, g->o_ss, g->o_hs, nb, tn, nn, nh, dv, true);
  for (int64_t d0 = 0; d0 < D; d0 += SUBQ_LA_KSTRIP) {
    const int64_t d1 = SUBQ_MIN(D, d0 + SUBQ_LA_KSTRIP);
    j->impl->taylor(dk, c, KdT, C, d0, d1, Pk, C, s ? ks + d0 : NULL);
    j->impl->gemm(d1 - d0, dv, c, Pk, C, 1, V, dv, S + d0 * ldS, ldS, true, -1);
  }
  if (s)
    for (int64_t d = 0; d < D; d++) s[d] += ks[d];
}

/* One chunk [t0, t0 + c) of one (sequence, head) with its state S, s. */
static void subq_la_chunk_causal(const subq_la_job *j, int64_t b, int64_t h, int64_t t0, float *scr, float *S,
                                 float *s, const int64_t *nx) {
  const subq_linattn_args *g = &j->g;
  const int64_t T = g->seqlen, C = j->C, D = j->D, dv = j->dv, dk = j->dk;
  const bool gated = g->gate != SUBQ_LINATTN_GATE_NONE, pk = g->gate == SUBQ_LINATTN_GATE_PER_KEY;
  const int64_t ldS = j->ldS;
  float *A = scr + j->o_a, *O = scr + j->o_o, *z = scr + j->o_z, *dec = scr + j->o_dec, *ev = scr + j->o_ev;
  const float *V = scr + j->o_v;
  double *G = (double *)(void *)(scr + j->o_g);
  {
    const int64_t c = SUBQ_MIN(C, T - t0);
    if (j->taylor && !gated) {
      subq_la_chunk_taylor(j, b, h, t0, c, scr, S, s, nx);
      return;
    }
    subq_la_load(j, b, h, t0, c, scr, true, true, true, true);
    if (gated) subq_la_gates(j, b, h, t0, c, G);
    /* intra */
    subq_la_intra(j, c, scr, G, s ? z : NULL);
    j->impl->gemm(c, dv, c, A, C, 1, V, dv, O, dv, false, 0);
    /* the next chunk's v and out rows, spread over the chunk (a burst of
     * hundreds of prefetches stalls on the miss buffers) */
    const int64_t tn = t0 + c, nn = SUBQ_MIN(C, T - tn);
    if (nn > 0) subq_la_prefetch(g->v, g->v_bs, g->v_ss, g->v_hs, b, tn, nn, h, dv, false);
    /* inter: Phi(Q) (scaled by e^{G_i}) times the entering state */
    float *PhQT = subq_la_phqt(j, scr);
    if (gated) {
      if (pk) {
        for (int64_t d = 0; d < D; d++)
          for (int64_t i = 0; i < c; i++) PhQT[d * C + i] *= expf((float)G[i * dk + d]);
      } else {
        for (int64_t i = 0; i < c; i++) ev[i] = expf((float)G[i]);
        for (int64_t d = 0; d < D; d++)
          for (int64_t i = 0; i < c; i++) PhQT[d * C + i] *= ev[i];
      }
    }
    j->impl->gemm(c, dv, D, PhQT, 1, C, S, ldS, O, dv, true, -1);
    if (s) j->impl->zstate(D, c, PhQT, C, s, z);
    subq_la_write(j, b, h, t0, c, O, z);
    if (nn > 0 && !j->stream) subq_la_prefetch(g->out, g->o_bs, g->o_ss, g->o_hs, b, tn, nn, h, dv, true);
    /* state update: decay, then Phi(K)^T V with Phi(K) ⊙ e^{Gamma - G_j} */
    float *PhKT = subq_la_phkt(j, scr);
    if (gated) {
      if (pk) {
        const double *Gl = G + (c - 1) * dk;
        for (int64_t d = 0; d < D; d++) {
          dec[d] = expf((float)Gl[d]);
          for (int64_t jj = 0; jj < c; jj++) PhKT[d * C + jj] *= expf((float)(Gl[d] - G[jj * dk + d]));
        }
      } else {
        const double Gl = G[c - 1];
        for (int64_t jj = 0; jj < c; jj++) ev[jj] = expf((float)(Gl - G[jj]));
        for (int64_t d = 0; d < D; d++) {
          dec[d] = expf((float)Gl);
          for (int64_t jj = 0; jj < c; jj++) PhKT[d * C + jj] *= ev[jj];
        }
      }
      for (int64_t d = 0; d < D; d++) {
        float *sd = S + d * ldS;
        for (int64_t e = 0; e < dv; e++) sd[e] *= dec[d];
        if (s) s[d] *= dec[d];
      }
    }
    j->impl->gemm(D, dv, c, PhKT, C, 1, V, dv, S, ldS, true, -1);
    if (s) j->impl->rowsum(D, c, PhKT, C, s);
  }
}

/* Non-causal: S_total = S_in + Phi(K)^T V over every token, then out_t from
 * Phi(q_t) S_total (and s_total). */
static void subq_la_item_full(const subq_la_job *j, int64_t b, int64_t h, float *scr) {
  const subq_linattn_args *g = &j->g;
  const int64_t T = g->seqlen, C = j->C, D = j->D, dv = j->dv, ldS = j->ldS;
  float *S, *s;
  subq_la_state_in(j, b, h, scr, 0, &S, &s);
  float *O = scr + j->o_o, *z = scr + j->o_z;
  for (int64_t t0 = 0; t0 < T; t0 += C) {
    const int64_t c = SUBQ_MIN(C, T - t0);
    subq_la_load(j, b, h, t0, c, scr, false, true, true, true);
    const float *PhKT = subq_la_phkt(j, scr);
    j->impl->gemm(D, dv, c, PhKT, C, 1, scr + j->o_v, dv, S, ldS, true, -1);
    if (s) j->impl->rowsum(D, c, PhKT, C, s);
  }
  for (int64_t t0 = 0; t0 < T; t0 += C) {
    const int64_t c = SUBQ_MIN(C, T - t0);
    subq_la_load(j, b, h, t0, c, scr, true, false, true, true);
    const float *PhQT = subq_la_phqt(j, scr);
    j->impl->gemm(c, dv, D, PhQT, 1, C, S, ldS, O, dv, false, -1);
    if (s) {
      for (int64_t i = 0; i < c; i++) z[i] = 0.0f;
      j->impl->zstate(D, c, PhQT, C, s, z);
    }
    subq_la_write(j, b, h, t0, c, O, z);
  }
  subq_la_state_out(j, b, h, S, s);
}

static void subq_la_item_decode(const subq_la_job *j, int64_t b, int64_t h, float *scr) {
  const subq_linattn_args *g = &j->g;
  const int64_t D = j->D, dk = j->dk;
  float *S, *s;
  subq_la_state(j, b, h, &S, &s);
  float *phq = scr + j->o_phq, *phk = scr + j->o_phkt, *dec = scr + j->o_dec, *y = scr + j->o_o, *z = scr + j->o_z;
  float *tq = scr + j->o_qd, *tk = scr + j->o_kd;
  subq_la_dotrow(g->feature_map, dk, j->scale, j->sq, true, subq_la_row(g->q, g->q_bs, g->q_ss, g->q_hs, b, 0, h), tq);
  subq_la_dotrow(g->feature_map, dk, j->scale, j->sq, false, subq_la_row(g->k, g->k_bs, g->k_ss, g->k_hs, b, 0, h), tk);
  if (j->taylor) {
    subq_la_taylor(dk, tq, phq, 1);
    subq_la_taylor(dk, tk, phk, 1);
  } else {
    memcpy(phq, tq, (size_t)D * sizeof(float));
    memcpy(phk, tk, (size_t)D * sizeof(float));
  }
  const float *decay = NULL;
  if (g->gate != SUBQ_LINATTN_GATE_NONE) {
    const float *gr = subq_la_row(g->log_gate, g->g_bs, g->g_ss, g->g_hs, b, 0, h);
    for (int64_t d = 0; d < D; d++) dec[d] = expf(g->gate == SUBQ_LINATTN_GATE_PER_KEY ? gr[d] : gr[0]);
    decay = dec;
  }
  j->impl->step(D, j->dv, phq, phk, subq_la_row(g->v, g->v_bs, g->v_ss, g->v_hs, b, 0, h), decay, S, y);
  if (s) {
    float zi = 0.0f;
    for (int64_t d = 0; d < D; d++) {
      s[d] = decay ? decay[d] * s[d] + phk[d] : s[d] + phk[d];
      zi += phq[d] * s[d];
    }
    z[0] = zi;
  }
  subq_la_write(j, b, h, 0, 1, y, z);
}

typedef struct subq_la_run_arg {
  const subq_la_job *j;
  int mode; /* 0 causal prefill, 1 non-causal, 2 decode */
} subq_la_run_arg;

static subq_status subq_la_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_la_run_arg *ra = arg;
  const subq_la_job *j = ra->j;
  float *scr = info->scratch;
  if (ra->mode == 0) {
    /* Causal prefill: up to `group` items of the range advance chunk by chunk
     * in lock-step, each with its own state slot. Neighbouring heads share the
     * cache lines and pages of their strided token rows, so one TLB walk and
     * one line fill serve several heads. Each item's arithmetic is the same
     * whatever its group: results do not depend on the split. */
    float *S[SUBQ_LA_MAX_GROUP], *s[SUBQ_LA_MAX_GROUP];
    for (int64_t i0 = begin; i0 < end; i0 += j->group) {
      const int64_t n = SUBQ_MIN(j->group, end - i0);
      for (int64_t k = 0; k < n; k++) subq_la_state_in(j, (i0 + k) / j->H, (i0 + k) % j->H, scr, k, &S[k], &s[k]);
      for (int64_t t0 = 0; t0 < j->g.seqlen; t0 += j->C)
        for (int64_t k = 0; k < n; k++) {
          /* the chunk after this one: the group's next item, or its first at t0 + C */
          const int64_t ni = k + 1 < n ? i0 + k + 1 : i0, nt = k + 1 < n ? t0 : t0 + j->C;
          const int64_t nx[3] = {ni / j->H, ni % j->H, nt < j->g.seqlen ? nt : -1};
          subq_la_chunk_causal(j, (i0 + k) / j->H, (i0 + k) % j->H, t0, scr, S[k], s[k], nx);
        }
      for (int64_t k = 0; k < n; k++) subq_la_state_out(j, (i0 + k) / j->H, (i0 + k) % j->H, S[k], s[k]);
    }
  } else {
    for (int64_t it = begin; it < end; it++) {
      const int64_t b = it / j->H, h = it % j->H;
      if (ra->mode == 1)
        subq_la_item_full(j, b, h, scr);
      else
        subq_la_item_decode(j, b, h, scr);
    }
  }
  if (j->stream) j->impl->outrows(0, j->dv, NULL, 0, NULL, 0.0f, j->g.out, 0, true); /* fence the streamed rows */
  return SUBQ_OK;
}

/* ---- entry points ---------------------------------------------------------------------- */

static subq_status subq_la_call(subq_context *ctx, const subq_linattn_args *args, bool decode, const char *fn) {
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_linattn_args g;
  subq_linattn_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st != SUBQ_OK) return st;
  if (g.batch < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) < 0", fn, (long long)g.batch);
  if (g.seqlen < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) < 0", fn, (long long)g.seqlen);
  if (g.n_heads < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_heads (%lld) < 1", fn, (long long)g.n_heads);
  if (g.feature_map < SUBQ_LINATTN_FMAP_IDENTITY || g.feature_map > SUBQ_LINATTN_FMAP_TAYLOR2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: feature_map (%d) is unknown", fn, (int)g.feature_map);
  if (g.dim_qk < 1 || g.dim_qk > SUBQ_LINATTN_MAX_DK ||
      (g.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2 && g.dim_qk > SUBQ_LINATTN_MAX_TAYLOR_DK))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dim_qk (%lld) is not in 1..%d for this feature_map", fn,
                      (long long)g.dim_qk,
                      g.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2 ? SUBQ_LINATTN_MAX_TAYLOR_DK : SUBQ_LINATTN_MAX_DK);
  if (g.dim_v < 1 || g.dim_v > SUBQ_LINATTN_MAX_DV)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dim_v (%lld) is not in 1..%d", fn, (long long)g.dim_v,
                      SUBQ_LINATTN_MAX_DV);
  if (g.normalize < SUBQ_LINATTN_NORM_NONE || g.normalize > SUBQ_LINATTN_NORM_RMSNORM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: normalize (%d) is unknown", fn, (int)g.normalize);
  if (g.gate < SUBQ_LINATTN_GATE_NONE || g.gate > SUBQ_LINATTN_GATE_PER_KEY)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: gate (%d) is unknown", fn, (int)g.gate);
  if (g.gate == SUBQ_LINATTN_GATE_PER_KEY && g.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: gate PER_KEY needs a feature_map with D == dim_qk (not TAYLOR2)",
                      fn);
  if (g.causal != 0 && g.causal != 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: causal (%d) is not 0 or 1", fn, (int)g.causal);
  if (!g.causal && g.gate != SUBQ_LINATTN_GATE_NONE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: gate needs causal == 1", fn);
  if (decode && !g.causal) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: causal must be 1 for decode", fn);
  if (!(g.scale >= 0.0f) || !isfinite(g.scale))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: scale (%g) is negative or not finite", fn, (double)g.scale);
  if (!(g.eps >= 0.0f) || !isfinite(g.eps))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: eps (%g) is negative or not finite", fn, (double)g.eps);
  if (!(g.norm_eps >= 0.0f) || !isfinite(g.norm_eps))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: norm_eps (%g) is negative or not finite", fn,
                      (double)g.norm_eps);
  if (g.chunk < 0 || g.chunk > SUBQ_LINATTN_MAX_CHUNK)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: chunk (%lld) is not in 0..%d", fn, (long long)g.chunk,
                      SUBQ_LINATTN_MAX_CHUNK);
  if (g.state_bs < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_bs (%lld) < 0", fn, (long long)g.state_bs);
  if (decode && g.seqlen != 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) must be 1", fn, (long long)g.seqlen);
  if (decode && !g.state_out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_out is NULL", fn);
  if (g.batch == 0 || g.seqlen == 0) return SUBQ_OK;

  const int64_t B = g.batch, T = g.seqlen, H = g.n_heads, dk = g.dim_qk, dv = g.dim_v;
  const int64_t D = subq_linattn_feature_dim(g.feature_map, dk), sf = subq_linattn_state_floats(&g);
  if (sf == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the state size overflows int64", fn);
  if (g.state_bs == 0) g.state_bs = sf;
  if (g.state_bs < sf && B > 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_bs (%lld) < state floats %lld", fn, (long long)g.state_bs,
                      (long long)sf);
  subq_byte_range rq, rk, rv, rg = {0, 0}, rw = {0, 0}, rsi = {0, 0}, rso = {0, 0}, ro;
  const int64_t gw = g.gate == SUBQ_LINATTN_GATE_PER_KEY ? dk : 1;
  if ((st = subq_la_tensor(fn, "q", g.q, false, B, T, H, dk, &g.q_bs, &g.q_ss, &g.q_hs, &rq)) ||
      (st = subq_la_tensor(fn, "k", g.k, false, B, T, H, dk, &g.k_bs, &g.k_ss, &g.k_hs, &rk)) ||
      (st = subq_la_tensor(fn, "v", g.v, false, B, T, H, dv, &g.v_bs, &g.v_ss, &g.v_hs, &rv)) ||
      (st = subq_la_tensor(fn, "out", g.out, true, B, T, H, dv, &g.o_bs, &g.o_ss, &g.o_hs, &ro)))
    return st;
  if (g.gate != SUBQ_LINATTN_GATE_NONE) {
    if ((st = subq_la_tensor(fn, "log_gate", g.log_gate, false, B, T, H, gw, &g.g_bs, &g.g_ss, &g.g_hs, &rg))) return st;
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
          const float *gr = g.log_gate + b * g.g_bs + t * g.g_ss + h * g.g_hs;
          for (int64_t d = 0; d < gw; d++)
            if (!(gr[d] <= 0.0f))
              return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                                "%s: log_gate (%g at batch %lld, token %lld, head %lld) is > 0 or NaN", fn,
                                (double)gr[d], (long long)b, (long long)t, (long long)h);
        }
  }
  if (g.normalize == SUBQ_LINATTN_NORM_RMSNORM && g.norm_weight &&
      !subq_byte_range_rows(g.norm_weight, 1, dv, dv, sizeof(float), &rw))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: norm_weight overflows the address range", fn);
  /* state pools: B slots of sf floats, state_bs apart */
  if ((g.state_in && !subq_byte_range_rows(g.state_in, B, sf, g.state_bs, sizeof(float), &rsi)) ||
      (g.state_out && !subq_byte_range_rows(g.state_out, B, sf, g.state_bs, sizeof(float), &rso)))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of the state overflows int64", fn);
  const subq_byte_range ins[] = {rq, rk, rv, rg, rw, rsi};
  const char *const names[] = {"q", "k", "v", "log_gate", "norm_weight", "state_in"};
  if ((st = subq_byte_ranges_outputs_apart(fn, "out", ro, "state_out", rso, ins, names, 6,
                                           g.state_in == g.state_out ? 5 : -1)))
    return st;

  subq_la_job job;
  memset(&job, 0, sizeof job);
  job.g = g;
  job.impl = subq_la_pick(subq_context_isa_or_default(ctx));
  job.H = H, job.dk = dk, job.dv = dv, job.D = D, job.sf = sf, job.S_floats = H * D * dv;
  job.C = decode ? 1 : (g.chunk ? g.chunk : SUBQ_LINATTN_DEFAULT_CHUNK);
  job.scale = g.scale > 0.0f ? g.scale : subq_la_default_scale(dk);
  job.sq = sqrtf(job.scale);
  job.denom = g.normalize == SUBQ_LINATTN_NORM_DENOM;
  job.taylor = g.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2;
  job.stream = !decode && (int64_t)(ro.hi - ro.lo) > SUBQ_LA_STREAM_BYTES;
  const int64_t C = job.C;
  /* scratch (floats, 16-aligned blocks); every term is bounded by
   * 1024 * 1024 * ... well inside int64 given the maxima checked above */
  int64_t o = 0;
  job.o_qd = o, o += subq_la_r16(C * dk);
  job.o_kd = o, o += subq_la_r16(C * dk);
  job.o_qdt = o, o += subq_la_r16(dk * C);
  job.o_kdt = o, o += subq_la_r16(dk * C);
  job.o_ev = o, o += subq_la_r16(C);
  job.o_a = o, o += subq_la_r16(C * C);
  job.o_phq = o, o += subq_la_r16(C * D);
  job.o_phkt = o, o += subq_la_r16(D * C);
  job.o_o = o, o += subq_la_r16(C * dv);
  job.o_v = o, o += subq_la_r16(C * dv);
  job.o_z = o, o += subq_la_r16(C);
  job.o_g = o, o += subq_la_r16(2 * C * dk); /* doubles */
  job.o_qp = o, o += subq_la_r16(SUBQ_LA_SUB * dk);
  job.o_kpt = o, o += subq_la_r16(dk * C);
  job.o_dec = o, o += subq_la_r16(D);
  job.o_ks = o, o += subq_la_r16(D);
  job.o_pan = o, o += subq_la_r16(D * SUBQ_LA_QPANEL);
  job.o_z8 = o, o += subq_la_r16(SUBQ_LA_QPANEL);
  job.ldS = (dv + 7) / 8 * 8;
  job.slot_floats = subq_la_r16(D * job.ldS + D);
  int64_t items;
  if (!subq_mul_i64(B, H, &items))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * n_heads overflows int64", fn);
  /* no larger than one participant's share, so that every participant gets a
   * claim (the grouping never changes an item's arithmetic) */
  const int64_t share = (items + subq_parallel_width(ctx) - 1) / subq_parallel_width(ctx);
  job.group = SUBQ_MAX((int64_t)1, SUBQ_MIN(SUBQ_MIN((int64_t)SUBQ_LA_MAX_GROUP, share),
                                            (int64_t)SUBQ_LA_GROUP_BYTES / (job.slot_floats * (int64_t)sizeof(float))));
  if (decode || !g.causal) job.group = 1;
  job.o_S = o, o += job.group * job.slot_floats;
  subq_la_run_arg ra = {&job, decode ? 2 : g.causal ? 0 : 1};
  /* Decode: one claim of all items = the pool's static split, contiguous (b, h)
   * ranges per participant, the same every step: each head's state stays with
   * one worker (and its L2) across tokens. Prefill: claims of `group` items,
   * which subq_la_run advances in lock-step. */
  const subq_phase ph = {subq_la_run, &ra, items, decode ? items : job.group};
  return subq_parallel_run(ctx, &ph, 1, (size_t)o * sizeof(float));
}

subq_status subq_linattn_prefill_f32(subq_context *ctx, const subq_linattn_args *args) {
  return subq_la_call(ctx, args, false, "subq_linattn_prefill_f32");
}

subq_status subq_linattn_decode_f32(subq_context *ctx, const subq_linattn_args *args) {
  return subq_la_call(ctx, args, true, "subq_linattn_decode_f32");
}
