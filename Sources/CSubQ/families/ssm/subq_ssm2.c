/*
 * subq_ssm2.c — Mamba-2 driver of the SSM family: the SSD scan (recurrent
 * and chunked algorithms, uniform and packed variable-length batches), its
 * decode step, the state layout conversion and the grouped gated RMSNorm.
 *
 * Work items come from the shape only: (sequence, head) for both
 * algorithms, plus a first phase over (chunk, group) that computes the
 * chunks' C·B^T once per group for the chunked one. Time is sequential
 * inside an item, so results do not depend on the thread count. dt, the
 * softplus, the clamp and the per-token decay exp(dt·A) are computed here in
 * portable f32 (one expf per token and head: negligible next to the N·P
 * state work), so every path and ISA shares them.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/ssm/subq_ssm2_ukernel.h"
#include "families/ssm/subq_ssm_internal.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "subq/subq_ssm.h"

typedef struct subq_ssm2_impl {
  subq_isa isa;
  subq_f32_ssd_rec_fn rec;
  subq_f32_ssd_gemm_fn gemm;
  subq_f32_gated_rmsnorm_fn norm;
} subq_ssm2_impl;

static const subq_ssm2_impl subq_ssm2_impls[] = {
#define SUBQ_SSM2_UKERNEL(isa, rec, gemm, norm) {isa, rec, gemm, norm},
#include "families/ssm/subq_ssm2_impls.inc"
#undef SUBQ_SSM2_UKERNEL
};

static const subq_ssm2_impl *subq_ssm2_pick(subq_isa chosen) {
  return SUBQ_ISA_PICK(chosen, subq_ssm2_impls, subq_ssm2_impl);
}

#define SUBQ_SSD_DEFAULT_CHUNK 32
#define SUBQ_SSD_EXP_FLUSH (-87.3f) /* exp below this is 0 (no denormals), as the Mamba-1 scan */

static int64_t subq_round16(int64_t n) { return (n + 15) / 16 * 16; }

int64_t subq_ssm2_state_floats(int64_t n_heads, int64_t head_dim, int64_t d_state) {
  int64_t r;
  if (n_heads < 1 || head_dim < 1 || d_state < 1) return 0;
  if (!subq_mul_i64(n_heads, head_dim, &r) || !subq_mul_i64(r, d_state, &r)) return 0;
  return r;
}

void subq_ssm2_args_default(subq_ssm2_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_ssm2_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.n_groups = 1;
  d.flags = SUBQ_SSM2_DT_SOFTPLUS;
  d.dt_min = 0.0f;
  d.dt_max = INFINITY;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

/* ---- the scan ----------------------------------------------------------------------- */

typedef struct subq_ssd_job {
  subq_ssm2_args g;
  const subq_ssm2_impl *impl;
  int64_t H, P, N, G, hpg, Q, sf;
  bool softplus, a_log, d_per_channel;
  bool force_rec;        /* step: always the recurrence */
  int64_t *cb_off;       /* per sequence: first global chunk index (chunked sequences) */
  int64_t *chunk_seq;    /* per global chunk: sequence */
  float *cb;             /* per global chunk and group: C·B^T, Q x Q */
  int64_t rec_scratch_off[4], chk_scratch_off[8];
} subq_ssd_job;

static void subq_ssd_seq(const subq_ssd_job *j, int64_t s, int64_t *row0, int64_t *T) {
  if (j->g.cu_seqlens) {
    *row0 = j->g.cu_seqlens[s];
    *T = (int64_t)j->g.cu_seqlens[s + 1] - j->g.cu_seqlens[s];
  } else {
    *row0 = 0;
    *T = j->g.seqlen;
  }
}

/* Offset of row t of sequence s in a token-major tensor. */
static int64_t subq_ssd_row(const subq_ssd_job *j, int64_t s, int64_t t, int64_t ld, int64_t bs) {
  return j->g.cu_seqlens ? ((int64_t)j->g.cu_seqlens[s] + t) * ld : s * bs + t * ld;
}

static bool subq_ssd_chunked(const subq_ssd_job *j, int64_t T) {
  if (j->force_rec || T == 0) return false;
  if (j->g.algo == SUBQ_SSM2_ALGO_CHUNKED) return true;
  if (j->g.algo == SUBQ_SSM2_ALGO_RECURRENT) return false;
  return j->impl->isa != SUBQ_ISA_SCALAR && T >= SUBQ_SSM2_AUTO_MIN_CHUNKED_LEN;
}

/* dt (bias, softplus, clamp) and the decay exp(dt·A) of T tokens of one head. */
static void subq_ssd_dt(const subq_ssd_job *j, const float *dt, int64_t T, int64_t h, float A, float *dtv,
                        float *decay) {
  const float bias = j->g.dt_bias ? j->g.dt_bias[h] : 0.0f, lo = j->g.dt_min, hi = j->g.dt_max;
  for (int64_t t = 0; t < T; t++) {
    float v = dt[t * j->g.dt_ld] + bias;
    if (j->softplus) v = fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v)));
    v = v < lo ? lo : v > hi ? hi : v; /* NaN stays NaN */
    dtv[t] = v;
    const float e = v * A;
    decay[t] = e < SUBQ_SSD_EXP_FLUSH ? 0.0f : expf(e);
  }
}

/* The head's state: h_out's slot if any, else scratch; loaded from h_in
 * (or zeros). */
static float *subq_ssd_state(const subq_ssd_job *j, int64_t s, int64_t h, float *scratch_state) {
  const subq_ssm2_args *g = &j->g;
  const int64_t slot = g->state_slots ? g->state_slots[s] : s, hs = h * j->N * j->P;
  float *S = g->h_out ? g->h_out + slot * g->h_bs + hs : scratch_state;
  const bool use_in = g->h_in && (!g->has_initial_state || g->has_initial_state[s]);
  const float *in = use_in ? g->h_in + slot * g->h_bs + hs : NULL;
  if (!in)
    memset(S, 0, (size_t)(j->N * j->P) * sizeof(float));
  else if (in != S)
    memcpy(S, in, (size_t)(j->N * j->P) * sizeof(float));
  return S;
}

static float subq_ssd_a(const subq_ssd_job *j, int64_t h) { return j->a_log ? -expf(j->g.a[h]) : j->g.a[h]; }

static const float *subq_ssd_dskip(const subq_ssd_job *j, int64_t h, float *buf) {
  if (!j->g.d_skip) return NULL;
  if (j->d_per_channel) return j->g.d_skip + h * j->P;
  for (int64_t p = 0; p < j->P; p++) buf[p] = j->g.d_skip[h];
  return buf;
}

static void subq_ssd_item_rec(const subq_ssd_job *j, int64_t s, int64_t h, int64_t T, float *scratch) {
  const subq_ssm2_args *g = &j->g;
  float *work = scratch + j->rec_scratch_off[0], *dtv = scratch + j->rec_scratch_off[1];
  float *decay = dtv + SUBQ_SSD_TC, *dsk = scratch + j->rec_scratch_off[2], *Sbuf = scratch + j->rec_scratch_off[3];
  float *S = subq_ssd_state(j, s, h, Sbuf);
  const float A = subq_ssd_a(j, h);
  const int64_t grp = h / j->hpg;
  subq_ssd_rec_params p;
  p.N = j->N, p.P = j->P, p.dtv = dtv, p.decay = decay;
  p.x_ld = g->x_ld, p.b_ld = g->b_ld, p.c_ld = g->c_ld, p.y_ld = g->y_ld;
  p.d_skip = subq_ssd_dskip(j, h, dsk);
  p.S = S, p.work = work;
  for (int64_t t0 = 0; t0 < T; t0 += SUBQ_SSD_TC) {
    const int64_t tc = SUBQ_MIN((int64_t)SUBQ_SSD_TC, T - t0);
    subq_ssd_dt(j, g->dt + subq_ssd_row(j, s, t0, g->dt_ld, g->dt_bs) + h, tc, h, A, dtv, decay);
    p.T = tc;
    p.x = g->x + subq_ssd_row(j, s, t0, g->x_ld, g->x_bs) + h * j->P;
    p.b = g->b + subq_ssd_row(j, s, t0, g->b_ld, g->b_bs) + grp * j->N;
    p.c = g->c + subq_ssd_row(j, s, t0, g->c_ld, g->c_bs) + grp * j->N;
    p.y = g->y + subq_ssd_row(j, s, t0, g->y_ld, g->y_bs) + h * j->P;
    j->impl->rec(&p);
  }
}

/* Chunked SSD (spec §3.3) for one (sequence, head). Per chunk of q tokens
 * with decays e_i and c_i = prod_{k<=i} e_k (= exp of the cumulative dt·A):
 *   y = Dskip·x;  y += c_i·(C_i · S)   (state entering the chunk);
 *   y += M · (dt·x)  with M[i][j] = CB[i][j]·prod_{k=j+1..i} e_k (j <= i);
 *   S = c_{q-1}·S + B^T · (w ⊙ dt·x)  with w_j = prod_{k=j+1..q-1} e_k;
 * three small GEMMs on the ISA kernel. The decay products are running
 * products of factors <= 1 (no cancellation, no exp of differences), flushed
 * to 0 below FLT_MIN. */
static void subq_ssd_item_chunked(const subq_ssd_job *j, int64_t s, int64_t h, int64_t T, float *scratch) {
  const subq_ssm2_args *g = &j->g;
  const int64_t N = j->N, P = j->P, Q = j->Q, grp = h / j->hpg;
  const int64_t *o = j->chk_scratch_off;
  float *dtv = scratch + o[0], *decay = dtv + Q, *cp = decay + Q, *w = cp + Q, *lrow = w + Q;
  float *dsk = scratch + o[1], *M = scratch + o[2], *S = scratch + o[3], *xd = scratch + o[4], *xdw = scratch + o[5];
  const float *dskip = subq_ssd_dskip(j, h, dsk);
  const float A = subq_ssd_a(j, h);
  const int64_t slot = g->state_slots ? g->state_slots[s] : s;
  bool state_zero = !(g->h_in && (!g->has_initial_state || g->has_initial_state[s]));
  if (!state_zero) memcpy(S, g->h_in + slot * g->h_bs + h * N * P, (size_t)(N * P) * sizeof(float));
  const int64_t nch = (T + Q - 1) / Q;
  for (int64_t c = 0; c < nch; c++) {
    const int64_t t0 = c * Q, q = SUBQ_MIN(Q, T - t0);
    subq_ssd_dt(j, g->dt + subq_ssd_row(j, s, t0, g->dt_ld, g->dt_bs) + h, q, h, A, dtv, decay);
    float run = 1.0f;
    for (int64_t i = 0; i < q; i++) {
      run = run * decay[i];
      if (run < FLT_MIN) run = 0.0f;
      cp[i] = run;
    }
    w[q - 1] = 1.0f;
    for (int64_t i = q - 2; i >= 0; i--) {
      const float v = w[i + 1] * decay[i + 1];
      w[i] = v < FLT_MIN ? 0.0f : v;
    }
    const float *cb = j->cb + ((j->cb_off[s] + c) * j->G + grp) * Q * Q;
    const float *cm = g->c + subq_ssd_row(j, s, t0, g->c_ld, g->c_bs) + grp * N;
    const float *bm = g->b + subq_ssd_row(j, s, t0, g->b_ld, g->b_bs) + grp * N;
    const float *xm = g->x + subq_ssd_row(j, s, t0, g->x_ld, g->x_bs) + h * P;
    float *ym = g->y + subq_ssd_row(j, s, t0, g->y_ld, g->y_bs) + h * P;
    if (c + 1 < nch) { /* the next chunk's rows of x and y: strided rows the hardware prefetchers miss */
      const int64_t qn = SUBQ_MIN(Q, T - t0 - Q);
      const float *xn = xm + Q * g->x_ld;
      float *yn = ym + Q * g->y_ld;
      for (int64_t i = 0; i < qn; i++)
        for (int64_t p = 0; p < P; p += 16) {
          __builtin_prefetch(xn + i * g->x_ld + p, 0, 3);
          __builtin_prefetch(yn + i * g->y_ld + p, 1, 3);
        }
    }
    for (int64_t i = 0; i < q; i++) {
      /* lrow[j] = prod_{k=j+1..i} e_k: the previous row times e_i, then 1 on the diagonal */
      for (int64_t jj = 0; jj < i; jj++) {
        const float v = lrow[jj] * decay[i];
        lrow[jj] = v < FLT_MIN ? 0.0f : v;
      }
      lrow[i] = 1.0f;
      float *mr = M + i * Q;
      for (int64_t jj = 0; jj <= i; jj++) mr[jj] = cb[i * Q + jj] * lrow[jj];
      for (int64_t jj = i + 1; jj < q; jj++) mr[jj] = 0.0f; /* the kernel may read past the diagonal */
    }
    for (int64_t i = 0; i < q; i++)
      for (int64_t p = 0; p < P; p++) {
        const float v = dtv[i] * xm[i * g->x_ld + p];
        xd[i * P + p] = v;
        xdw[i * P + p] = w[i] * v;
      }
    float beta = 0.0f;
    if (dskip) {
      for (int64_t i = 0; i < q; i++)
        for (int64_t p = 0; p < P; p++) ym[i * g->y_ld + p] = dskip[p] * xm[i * g->x_ld + p];
      beta = 1.0f;
    }
    if (!state_zero) {
      j->impl->gemm(q, P, N, cm, g->c_ld, 1, S, P, ym, g->y_ld, cp, beta, -1);
      beta = 1.0f;
    }
    j->impl->gemm(q, P, q, M, Q, 1, xd, P, ym, g->y_ld, NULL, beta, 0);
    j->impl->gemm(N, P, q, bm, 1, g->b_ld, xdw, P, S, P, NULL, state_zero ? 0.0f : cp[q - 1], -1);
    state_zero = false;
  }
  if (g->h_out) memcpy(g->h_out + slot * g->h_bs + h * N * P, S, (size_t)(N * P) * sizeof(float));
}

static subq_status subq_ssd_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_ssd_job *j = arg;
  for (int64_t it = begin; it < end; it++) {
    const int64_t s = it / j->H, h = it % j->H;
    int64_t row0, T;
    subq_ssd_seq(j, s, &row0, &T);
    (void)row0;
    if (T == 0) continue; /* an empty sequence leaves its state untouched */
    if (subq_ssd_chunked(j, T))
      subq_ssd_item_chunked(j, s, h, T, info->scratch);
    else
      subq_ssd_item_rec(j, s, h, T, info->scratch);
  }
  return SUBQ_OK;
}

/* Phase 1 of the chunked algorithm: C·B^T of every (chunk, group). */
static subq_status subq_ssd_cb_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_ssd_job *j = arg;
  const subq_ssm2_args *g = &j->g;
  const int64_t N = j->N, Q = j->Q;
  float *bt = info->scratch; /* N x Q */
  for (int64_t it = begin; it < end; it++) {
    const int64_t gc = it / j->G, grp = it % j->G, s = j->chunk_seq[gc], c = gc - j->cb_off[s];
    int64_t row0, T;
    subq_ssd_seq(j, s, &row0, &T);
    (void)row0;
    const int64_t t0 = c * Q, q = SUBQ_MIN(Q, T - t0);
    const float *bm = g->b + subq_ssd_row(j, s, t0, g->b_ld, g->b_bs) + grp * N;
    const float *cm = g->c + subq_ssd_row(j, s, t0, g->c_ld, g->c_bs) + grp * N;
    for (int64_t i = 0; i < q; i++)
      for (int64_t n = 0; n < N; n++) bt[n * Q + i] = bm[i * g->b_ld + n];
    j->impl->gemm(q, q, N, cm, g->c_ld, 1, bt, Q, j->cb + it * Q * Q, Q, NULL, 0.0f, -1);
  }
  return SUBQ_OK;
}

static subq_status subq_ssm2_impl_call(subq_context *ctx, const subq_ssm2_args *args, bool step, const char *fn) {
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_ssm2_args g;
  subq_ssm2_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st != SUBQ_OK) return st;
  if (g.batch < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) < 0", fn, (long long)g.batch);
  if (g.batch > INT32_MAX) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) > INT32_MAX", fn, (long long)g.batch);
  if (g.seqlen < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) < 0", fn, (long long)g.seqlen);
  if (g.n_heads < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_heads (%lld) < 1", fn, (long long)g.n_heads);
  if (g.head_dim < 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: head_dim (%lld) < 1", fn, (long long)g.head_dim);
  if (g.d_state < 1 || g.d_state > SUBQ_SSM2_MAX_D_STATE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: d_state (%lld) is not in 1..%d", fn, (long long)g.d_state,
                      SUBQ_SSM2_MAX_D_STATE);
  if (g.n_groups < 1 || g.n_heads % g.n_groups != 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_groups (%lld) must be >= 1 and divide n_heads (%lld)", fn,
                      (long long)g.n_groups, (long long)g.n_heads);
  if (g.flags & ~(SUBQ_SSM2_DT_SOFTPLUS | SUBQ_SSM2_A_LOG | SUBQ_SSM2_D_PER_CHANNEL))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: flags (0x%x) has unknown bits", fn, (unsigned)g.flags);
  if (g.algo < SUBQ_SSM2_ALGO_AUTO || g.algo > SUBQ_SSM2_ALGO_CHUNKED)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: algo (%d) is not a subq_ssm2_algo", fn, (int)g.algo);
  if (g.chunk < 0 || g.chunk > SUBQ_SSM2_MAX_CHUNK)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: chunk (%lld) is not in 0..%d", fn, (long long)g.chunk,
                      SUBQ_SSM2_MAX_CHUNK);
  if (!(g.dt_min <= g.dt_max))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dt_min (%g) > dt_max (%g) or NaN", fn, (double)g.dt_min,
                      (double)g.dt_max);
  if (g.n_slots < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_slots (%lld) < 0", fn, (long long)g.n_slots);
  if (step && !g.h_out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: h_out is NULL", fn);
  if (g.batch == 0) return SUBQ_OK;
  int64_t tb, tr, max_len;
  if ((st = subq_ssm_seqs_check(fn, g.batch, g.seqlen, g.cu_seqlens, step, &tb, &tr, &max_len))) return st;
  if (max_len == 0) return SUBQ_OK;
  const int64_t H = g.n_heads, P = g.head_dim, N = g.d_state, G = g.n_groups;
  const int64_t sf = subq_ssm2_state_floats(H, P, N);
  int64_t E, gn;
  if (sf == 0 || !subq_mul_i64(H, P, &E) || !subq_mul_i64(G, N, &gn))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of the state overflows int64", fn);
  /* activations: uniform (batch, seqlen) or packed (1, total rows) */
  subq_byte_range rx, rdt, rb, rc, ra, rdb, rd, rhi, rho, ry;
  if (g.cu_seqlens) g.x_bs = g.dt_bs = g.b_bs = g.c_bs = g.y_bs = 0;
  if ((st = subq_ssm_tensor(fn, "x", g.x, true, tb, tr, E, &g.x_ld, &g.x_bs, &rx)) ||
      (st = subq_ssm_tensor(fn, "dt", g.dt, true, tb, tr, H, &g.dt_ld, &g.dt_bs, &rdt)) ||
      (st = subq_ssm_tensor(fn, "b", g.b, true, tb, tr, gn, &g.b_ld, &g.b_bs, &rb)) ||
      (st = subq_ssm_tensor(fn, "c", g.c, true, tb, tr, gn, &g.c_ld, &g.c_bs, &rc)) ||
      (st = subq_ssm_vec(fn, "a", g.a, true, H, &ra)) ||
      (st = subq_ssm_vec(fn, "dt_bias", g.dt_bias, false, H, &rdb)) ||
      (st = subq_ssm_vec(fn, "d_skip", g.d_skip, false, (g.flags & SUBQ_SSM2_D_PER_CHANNEL) ? E : H, &rd)) ||
      (st = subq_ssm_tensor(fn, "y", g.y, true, tb, tr, E, &g.y_ld, &g.y_bs, &ry)) ||
      (st = subq_ssm_out_seqs_apart(fn, "y", tb, tr, E, g.y_ld, g.y_bs)))
    return st;
  /* state pools */
  const int64_t n_slots = g.n_slots ? g.n_slots : g.batch;
  if ((st = subq_ssm_state_pool(fn, g.batch, g.state_slots, n_slots, sf, &g.h_bs, g.h_in, g.h_out, &rhi, &rho)))
    return st;
  const subq_byte_range ins[] = {rx, rdt, rb, rc, ra, rdb, rd, rhi};
  const char *const in_names[] = {"x", "dt", "b", "c", "a", "dt_bias", "d_skip", "h_in"};
  if ((st = subq_byte_ranges_outputs_apart(fn, "y", ry, "h_out", rho, ins, in_names, 8, g.h_out == g.h_in ? 7 : -1)))
    return st;

  subq_ssd_job job;
  memset(&job, 0, sizeof job);
  job.g = g;
  job.impl = subq_ssm2_pick(subq_context_isa_or_default(ctx));
  job.H = H, job.P = P, job.N = N, job.G = G, job.hpg = H / G, job.sf = sf;
  job.Q = g.chunk ? g.chunk : SUBQ_SSD_DEFAULT_CHUNK;
  job.softplus = (g.flags & SUBQ_SSM2_DT_SOFTPLUS) != 0;
  job.a_log = (g.flags & SUBQ_SSM2_A_LOG) != 0;
  job.d_per_channel = (g.flags & SUBQ_SSM2_D_PER_CHANNEL) != 0;
  job.force_rec = step;
  const int64_t Q = job.Q;
  {
    int64_t bound; /* every scratch size below is at most P * (N + 2Q + 2TC + 64) + Q * (Q + 5) floats */
    if (!subq_mul_i64(P, N + 2 * Q + 2 * SUBQ_SSD_TC + 64, &bound) || !subq_add_i64(bound, Q * (Q + 5) + 256, &bound) ||
        !subq_mul_i64(bound, (int64_t)sizeof(float), &bound))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the scratch size for head_dim %lld overflows int64", fn,
                        (long long)P);
  }
  /* scratch: recurrence and chunked layouts (float offsets, 16-float aligned) */
  int64_t o = 0;
  job.rec_scratch_off[0] = o, o += subq_round16(SUBQ_SSD_REC_WORK_FLOATS(P));
  job.rec_scratch_off[1] = o, o += subq_round16(2 * SUBQ_SSD_TC);
  job.rec_scratch_off[2] = o, o += subq_round16(P);
  job.rec_scratch_off[3] = o, o += subq_round16(N * P);
  int64_t scratch_floats = o;
  /* chunked sequences and their chunks */
  int64_t n_chunks = 0;
  bool any_chunked = false;
  for (int64_t s = 0; s < g.batch; s++) {
    int64_t row0, T;
    subq_ssd_seq(&job, s, &row0, &T);
    if (subq_ssd_chunked(&job, T)) any_chunked = true, n_chunks += (T + Q - 1) / Q;
  }
  subq_phase ph[2];
  int n_ph = 0;
  void *ws = NULL;
  if (any_chunked) {
    o = 0;
    job.chk_scratch_off[0] = o, o += subq_round16(5 * Q);
    job.chk_scratch_off[1] = o, o += subq_round16(P);
    job.chk_scratch_off[2] = o, o += subq_round16(Q * Q);
    job.chk_scratch_off[3] = o, o += subq_round16(N * P);
    job.chk_scratch_off[4] = o, o += subq_round16(Q * P);
    job.chk_scratch_off[5] = o, o += subq_round16(Q * P);
    scratch_floats = SUBQ_MAX(scratch_floats, SUBQ_MAX(o, N * Q));
    int64_t cbf, bytes;
    if (!subq_mul_i64(n_chunks, G, &cbf) || !subq_mul_i64(cbf, Q * Q, &cbf) || !subq_mul_i64(cbf, 4, &bytes) ||
        !subq_add_i64(bytes, 8 * (n_chunks + g.batch), &bytes))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: the chunked workspace size overflows int64", fn);
    ws = subq_alloc((size_t)bytes);
    if (!ws) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld bytes of workspace", fn, (long long)bytes);
    job.cb_off = ws;
    job.chunk_seq = job.cb_off + g.batch;
    job.cb = (float *)(void *)(job.chunk_seq + n_chunks);
    int64_t gc = 0;
    for (int64_t s = 0; s < g.batch; s++) {
      int64_t row0, T;
      subq_ssd_seq(&job, s, &row0, &T);
      job.cb_off[s] = gc;
      if (subq_ssd_chunked(&job, T))
        for (int64_t c = 0; c < (T + Q - 1) / Q; c++) job.chunk_seq[gc++] = s;
    }
    ph[n_ph++] = (subq_phase){subq_ssd_cb_run, &job, n_chunks * G, 1};
  }
  int64_t items;
  if (!subq_mul_i64(g.batch, H, &items))
    return subq_free(ws), subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * n_heads overflows int64", fn);
  ph[n_ph++] = (subq_phase){subq_ssd_run, &job, items, 1};
  int64_t sbytes;
  if (!subq_mul_i64(scratch_floats, (int64_t)sizeof(float), &sbytes))
    return subq_free(ws), subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: scratch size overflows int64", fn);
  st = subq_parallel_run(ctx, ph, n_ph, (size_t)sbytes);
  subq_free(ws);
  return st;
}

subq_status subq_ssm2_scan_f32(subq_context *ctx, const subq_ssm2_args *args) {
  return subq_ssm2_impl_call(ctx, args, false, "subq_ssm2_scan_f32");
}
subq_status subq_ssm2_step_f32(subq_context *ctx, const subq_ssm2_args *args) {
  return subq_ssm2_impl_call(ctx, args, true, "subq_ssm2_step_f32");
}

/* ---- state layout conversion ----------------------------------------------------------- */

static subq_status subq_ssm2_convert(int64_t batch, int64_t H, int64_t P, int64_t N, const float *src, float *dst,
                                     bool import, const char *fn) {
  if (batch < 0 || H < 0 || P < 0 || N < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch, n_heads, head_dim and d_state must be >= 0", fn);
  if (batch == 0 || H == 0 || P == 0 || N == 0) return SUBQ_OK;
  if (!src) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  if (!dst) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst is NULL", fn);
  const int64_t sf = subq_ssm2_state_floats(H, P, N);
  int64_t ld = 0, bs = 0, ld2 = 0, bs2 = 0;
  if (sf == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic overflows int64", fn);
  subq_byte_range rs, rd;
  subq_status st;
  if ((st = subq_ssm_tensor(fn, "src", src, true, batch, 1, sf, &ld, &bs, &rs)) ||
      (st = subq_ssm_tensor(fn, "dst", dst, true, batch, 1, sf, &ld2, &bs2, &rd)))
    return st;
  if (subq_byte_ranges_overlap(rs, rd)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps src", fn);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t p = 0; p < P; p++)
        for (int64_t n = 0; n < N; n++) {
          const int64_t hf = b * sf + (h * P + p) * N + n, sq = b * sf + (h * N + n) * P + p;
          if (import)
            dst[sq] = src[hf];
          else
            dst[hf] = src[sq];
        }
  return SUBQ_OK;
}

subq_status subq_ssm2_state_import(int64_t batch, int64_t n_heads, int64_t head_dim, int64_t d_state,
                                   const float *src, float *dst) {
  return subq_ssm2_convert(batch, n_heads, head_dim, d_state, src, dst, true, "subq_ssm2_state_import");
}
subq_status subq_ssm2_state_export(int64_t batch, int64_t n_heads, int64_t head_dim, int64_t d_state,
                                   const float *src, float *dst) {
  return subq_ssm2_convert(batch, n_heads, head_dim, d_state, src, dst, false, "subq_ssm2_state_export");
}

/* ---- grouped gated RMSNorm -------------------------------------------------------------- */

void subq_gated_rmsnorm_args_default(subq_gated_rmsnorm_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_gated_rmsnorm_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.eps = 1e-5f;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

typedef struct subq_norm_job {
  subq_gated_rmsnorm_args g;
  subq_f32_gated_rmsnorm_fn norm;
} subq_norm_job;

static subq_status subq_norm_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_norm_job *j = arg;
  const subq_gated_rmsnorm_args *g = &j->g;
  (void)info;
  for (int64_t r = begin; r < end; r++)
    j->norm(g->width, g->group_size, g->eps, (g->flags & SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE) != 0,
            g->y + r * g->y_ld, g->z ? g->z + r * g->z_ld : NULL, g->weight, g->out + r * g->out_ld);
  return SUBQ_OK;
}

subq_status subq_gated_rmsnorm_f32(subq_context *ctx, const subq_gated_rmsnorm_args *args) {
  static const char fn[] = "subq_gated_rmsnorm_f32";
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_gated_rmsnorm_args g;
  subq_gated_rmsnorm_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st != SUBQ_OK) return st;
  if (g.rows < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows (%lld) < 0", fn, (long long)g.rows);
  if (g.width < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: width (%lld) < 0", fn, (long long)g.width);
  if (g.group_size < 0 || (g.group_size > 0 && g.width % g.group_size != 0))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: group_size (%lld) must be >= 0 and divide width (%lld)", fn,
                      (long long)g.group_size, (long long)g.width);
  if (!(g.eps >= 0.0f)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: eps (%g) < 0 or NaN", fn, (double)g.eps);
  if (g.flags & ~SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: flags (0x%x) has unknown bits", fn, (unsigned)g.flags);
  if (g.rows == 0 || g.width == 0) return SUBQ_OK;
  if (g.group_size == 0) g.group_size = g.width;
  subq_byte_range ry, rz, rw, ro;
  int64_t bs = 0, bs2 = 0, bs3 = 0;
  if ((st = subq_ssm_tensor(fn, "y", g.y, true, 1, g.rows, g.width, &g.y_ld, &bs, &ry)) ||
      (st = subq_ssm_tensor(fn, "z", g.z, false, 1, g.rows, g.width, &g.z_ld, &bs2, &rz)) ||
      (st = subq_ssm_vec(fn, "weight", g.weight, false, g.width, &rw)) ||
      (st = subq_ssm_tensor(fn, "out", g.out, true, 1, g.rows, g.width, &g.out_ld, &bs3, &ro)))
    return st;
  if (g.out == g.y) {
    if (g.out_ld != g.y_ld)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out == y needs out_ld == y_ld (%lld != %lld)", fn,
                        (long long)g.out_ld, (long long)g.y_ld);
  } else if (subq_byte_ranges_overlap(ro, ry)) {
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps y", fn);
  }
  if (subq_byte_ranges_overlap(ro, rz)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps z", fn);
  if (subq_byte_ranges_overlap(ro, rw)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out overlaps weight", fn);
  subq_norm_job job;
  job.g = g;
  job.norm = subq_ssm2_pick(subq_context_isa_or_default(ctx))->norm;
  const int64_t grain = SUBQ_MAX((int64_t)1, (int64_t)16384 / g.width);
  const subq_phase ph = {subq_norm_run, &job, g.rows, grain};
  return subq_parallel_run(ctx, &ph, 1, 0);
}
