/*
 * subq_ssm.c — SSM family driver: causal depthwise conv1d and the Mamba-1
 * selective scan. Validation, state set-up, the ordered impl list and the
 * phase over (sequence, channel block) items; only the micro-kernels of
 * subq_ssm_impls.inc are per ISA. Items come from the shape only and time is
 * sequential inside an item, so results do not depend on the thread count.
 */
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/ssm/subq_ssm_internal.h"
#include "families/ssm/subq_ssm_ukernel.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "subq/subq_ssm.h"

typedef struct subq_ssm_impl {
  subq_isa isa;
  const char *scan_name, *conv_name;
  subq_f32_s6scan_fn scan;
  subq_f32_conv1d_fn conv;
} subq_ssm_impl;

static const subq_ssm_impl subq_ssm_impls[] = {
#define SUBQ_SSM_UKERNEL(isa, scan, conv) {isa, #scan, #conv, scan, conv},
#include "families/ssm/subq_ssm_impls.inc"
#undef SUBQ_SSM_UKERNEL
};

static const subq_ssm_impl *subq_ssm_pick(subq_isa chosen) {
  return SUBQ_ISA_PICK(chosen, subq_ssm_impls, subq_ssm_impl);
}

/* ---- shared validation -------------------------------------------------------------- */

/* Token-major tensor of batch x rows x cols: defaults ld/bs, checks them and
 * computes the byte range. */
subq_status subq_ssm_tensor(const char *fn, const char *name, const float *p, bool required, int64_t batch,
                            int64_t rows, int64_t cols, int64_t *ld, int64_t *bs, subq_byte_range *r) {
  r->lo = r->hi = 0;
  if (!p) {
    if (required) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
    return SUBQ_OK;
  }
  if (*ld == 0) *ld = cols;
  if (*ld < cols)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_ld (%lld) < row length %lld", fn, name, (long long)*ld,
                      (long long)cols);
  if (*bs < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_bs (%lld) < 0", fn, name, (long long)*bs);
  if (*bs == 0 && !subq_mul_i64(rows, *ld, bs))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  int64_t o1, o2, off, bytes;
  if (!subq_mul_i64(batch - 1, *bs, &o1) || !subq_mul_i64(rows - 1, *ld, &o2) || !subq_add_i64(o1, o2, &off) ||
      !subq_add_i64(off, cols, &off) || !subq_mul_i64(off, (int64_t)sizeof(float), &bytes) ||
      !subq_byte_range_at(p, bytes, r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

/* The sequences of an output tensor checked by subq_ssm_tensor (ld, bs
 * defaulted) are pairwise disjoint: the (batch, rows) strides nest
 * (subq_strides_nest) — stacked (bs >= the span of one sequence,
 * (rows - 1) * ld + cols) or interleaved token by token (bs >= cols and
 * (batch - 1) * bs + cols <= ld). No arithmetic can overflow here:
 * subq_ssm_tensor has computed the whole extent. */
subq_status subq_ssm_out_seqs_apart(const char *fn, const char *name, int64_t batch, int64_t rows, int64_t cols,
                                    int64_t ld, int64_t bs) {
  if (batch <= 1 || rows <= 0 || cols <= 0) return SUBQ_OK;
  const int64_t ext[2] = {batch, rows}, str[2] = {bs, ld};
  int64_t need;
  if (subq_strides_nest(2, ext, str, cols, &need) < 0) return SUBQ_OK;
  const int64_t span = (rows - 1) * ld + cols;
  return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                    "%s: %s_bs (%lld) lets the sequences of %s overlap (needs >= %lld, the span of one sequence, or "
                    ">= %lld with %s_ld >= (batch - 1) * %s_bs + %lld)",
                    fn, name, (long long)bs, name, (long long)span, (long long)cols, name, name, (long long)cols);
}

/* A flat vector of n floats. */
subq_status subq_ssm_vec(const char *fn, const char *name, const float *p, bool required, int64_t n,
                         subq_byte_range *r) {
  int64_t ld = 0, bs = 0;
  return subq_ssm_tensor(fn, name, p, required, 1, 1, n, &ld, &bs, r);
}

subq_status subq_ssm_seqs_check(const char *fn, int64_t batch, int64_t seqlen, const int32_t *cu, bool step,
                                int64_t *tb, int64_t *tr, int64_t *max_len) {
  if (!cu) {
    if (step && seqlen != 1)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) must be 1 for a decode step", fn,
                        (long long)seqlen);
    *tb = batch, *tr = seqlen, *max_len = batch > 0 ? seqlen : 0;
    return SUBQ_OK;
  }
  if (cu[0] < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cu_seqlens[0] (%d) < 0", fn, (int)cu[0]);
  int64_t mx = 0;
  for (int64_t s = 0; s < batch; s++) {
    const int64_t len = (int64_t)cu[s + 1] - cu[s];
    if (len < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cu_seqlens decreases at %lld", fn, (long long)s + 1);
    if (step && len > 1)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: sequence %lld has %lld tokens; a decode step takes <= 1", fn,
                        (long long)s, (long long)len);
    mx = SUBQ_MAX(mx, len);
  }
  *tb = 1, *tr = cu[batch], *max_len = mx;
  return SUBQ_OK;
}

subq_status subq_ssm_slots_check(const char *fn, int64_t batch, const int32_t *slots, int64_t n_slots, bool writes) {
  if (!slots) {
    if (batch > n_slots)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) > n_slots (%lld) without state_slots", fn,
                        (long long)batch, (long long)n_slots);
    return SUBQ_OK;
  }
  unsigned char *seen = writes ? calloc((size_t)(n_slots + 7) / 8, 1) : NULL;
  if (writes && !seen) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the slot check", fn);
  subq_status st = SUBQ_OK;
  for (int64_t s = 0; s < batch && st == SUBQ_OK; s++) {
    const int64_t sl = slots[s];
    if (sl < 0 || sl >= n_slots)
      st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_slots[%lld] (%lld) is not in [0, %lld)", fn, (long long)s,
                      (long long)sl, (long long)n_slots);
    else if (seen && (seen[sl / 8] & (1u << (sl % 8))))
      st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_slots[%lld] (%lld) is used twice", fn, (long long)s,
                      (long long)sl);
    else if (seen)
      seen[sl / 8] |= (unsigned char)(1u << (sl % 8));
  }
  free(seen);
  return st;
}

subq_status subq_ssm_state_pool(const char *fn, int64_t batch, const int32_t *slots, int64_t n_slots, int64_t sf,
                                int64_t *h_bs, const float *h_in, const float *h_out, subq_byte_range *rhi,
                                subq_byte_range *rho) {
  if (*h_bs < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: h_bs (%lld) < 0", fn, (long long)*h_bs);
  if (*h_bs == 0) *h_bs = sf;
  if (*h_bs < sf && n_slots > 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: h_bs (%lld) < state floats %lld", fn, (long long)*h_bs,
                      (long long)sf);
  int64_t ld = sf, bs = *h_bs, ld2 = sf, bs2 = *h_bs;
  subq_status st;
  if ((st = subq_ssm_tensor(fn, "h_in", h_in, false, n_slots, 1, sf, &ld, &bs, rhi)) ||
      (st = subq_ssm_tensor(fn, "h_out", h_out, false, n_slots, 1, sf, &ld2, &bs2, rho)))
    return st;
  return subq_ssm_slots_check(fn, batch, slots, n_slots, h_out != NULL);
}

/* ---- conv1d ------------------------------------------------------------------------ */

void subq_conv1d_args_default(subq_conv1d_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_conv1d_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.width = 4;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

typedef struct subq_conv_job {
  subq_conv1d_args g;
  int64_t n_blocks, n_tblocks; /* channel blocks, token blocks (of the longest sequence) */
  subq_f32_conv1d_fn conv;
} subq_conv_job;

/* Sequence b's length and the offsets of its first x and y rows. */
static int64_t subq_conv_seq(const subq_conv1d_args *g, int64_t b, int64_t *xo, int64_t *yo) {
  *xo = g->cu_seqlens ? (int64_t)g->cu_seqlens[b] * g->x_ld : b * g->x_bs;
  *yo = g->cu_seqlens ? (int64_t)g->cu_seqlens[b] * g->y_ld : b * g->y_bs;
  return g->cu_seqlens ? (int64_t)g->cu_seqlens[b + 1] - g->cu_seqlens[b] : g->seqlen;
}

/* Items (sequence, channel block, token block). A sequence of one token
 * block reads state_in and writes state_out in its kernel call. A longer one
 * is split: its later blocks take their W - 1 halo rows from x (state rows
 * x_ld apart), and state_out, which may be state_in itself, is written by
 * subq_conv_state_run after every block has read state_in. */
static subq_status subq_conv_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_conv_job *j = arg;
  const subq_conv1d_args *g = &j->g;
  for (int64_t it = begin; it < end; it++) {
    const int64_t tk = it % j->n_tblocks, bc = it / j->n_tblocks;
    const int64_t b = bc / j->n_blocks, c0 = (bc % j->n_blocks) * SUBQ_CONV_BLOCK;
    const int64_t nc = SUBQ_MIN((int64_t)SUBQ_CONV_BLOCK, g->channels - c0);
    int64_t xo, yo;
    const int64_t T = subq_conv_seq(g, b, &xo, &yo), t0 = tk * SUBQ_CONV_TOKENS;
    if (t0 >= T) continue; /* past this sequence (an empty one touches nothing) */
    const int64_t tl = SUBQ_MIN((int64_t)SUBQ_CONV_TOKENS, T - t0);
    const int64_t sl = g->state_slots ? g->state_slots[b] : b;
    const bool use_in = g->state_in && (!g->has_initial_state || g->has_initial_state[b]);
    const float *s_in = use_in ? g->state_in + sl * g->state_bs + c0 : NULL;
    float *s_out = T <= SUBQ_CONV_TOKENS && g->state_out ? g->state_out + sl * g->state_bs + c0 : NULL;
    int64_t s_ld = g->channels;
    if (t0 > 0) s_in = g->x + xo + (t0 - (g->width - 1)) * g->x_ld + c0, s_ld = g->x_ld;
    j->conv(tl, nc, g->width, g->x + xo + t0 * g->x_ld + c0, g->x_ld, g->weight + c0 * g->width,
            g->bias ? g->bias + c0 : NULL, s_in, s_out, s_ld, g->y + yo + t0 * g->y_ld + c0, g->y_ld,
            (g->flags & SUBQ_CONV1D_SILU) != 0, info->scratch);
  }
  return SUBQ_OK;
}

/* state_out of the split sequences: their last W - 1 rows of x. Items
 * (sequence, channel block). */
static subq_status subq_conv_state_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_conv_job *j = arg;
  const subq_conv1d_args *g = &j->g;
  for (int64_t it = begin; it < end; it++) {
    const int64_t b = it / j->n_blocks, c0 = (it % j->n_blocks) * SUBQ_CONV_BLOCK;
    const int64_t nc = SUBQ_MIN((int64_t)SUBQ_CONV_BLOCK, g->channels - c0);
    int64_t xo, yo;
    const int64_t T = subq_conv_seq(g, b, &xo, &yo);
    if (T <= SUBQ_CONV_TOKENS) continue; /* written by its kernel call */
    float *so = g->state_out + (g->state_slots ? g->state_slots[b] : b) * g->state_bs + c0;
    for (int64_t k = 0; k < g->width - 1; k++)
      memcpy(so + k * g->channels, g->x + xo + (T - (g->width - 1) + k) * g->x_ld + c0, (size_t)nc * sizeof(float));
  }
  return SUBQ_OK;
}

static subq_status subq_conv1d_impl(subq_context *ctx, const subq_conv1d_args *args, bool step, const char *fn) {
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_conv1d_args g;
  subq_conv1d_args_default(&g, sizeof g);
  /* 0.1 callers end at y_bs: the varlen fields appended later take their defaults. */
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, offsetof(subq_conv1d_args, cu_seqlens), fn);
  if (st != SUBQ_OK) return st;
  if (g.batch < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) < 0", fn, (long long)g.batch);
  if (g.seqlen < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) < 0", fn, (long long)g.seqlen);
  if (g.channels < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels (%lld) < 0", fn, (long long)g.channels);
  if (g.width < 1 || g.width > 8)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: width (%d) is not in 1..8", fn, (int)g.width);
  if (g.flags & ~SUBQ_CONV1D_SILU)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: flags (0x%x) has unknown bits", fn, (unsigned)g.flags);
  if (step && g.seqlen != 1 && !g.cu_seqlens)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) must be 1 for a decode update", fn,
                      (long long)g.seqlen);
  if (step && !g.state_out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_out is NULL", fn);
  if (g.n_slots < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_slots (%lld) < 0", fn, (long long)g.n_slots);
  if (g.batch == 0 || g.channels == 0) return SUBQ_OK;
  int64_t tb, tr, max_len;
  if ((st = subq_ssm_seqs_check(fn, g.batch, g.seqlen, g.cu_seqlens, step, &tb, &tr, &max_len))) return st;
  if (max_len == 0) return SUBQ_OK;
  if (g.cu_seqlens) g.x_bs = g.y_bs = 0;
  const int64_t n_slots = g.n_slots ? g.n_slots : g.batch;
  subq_byte_range rx, rw, rb, rsi, rso, ry;
  int64_t wn, srows = g.width - 1;
  if (!subq_mul_i64(g.channels, g.width, &wn))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of weight overflows int64", fn);
  if ((st = subq_ssm_tensor(fn, "x", g.x, true, tb, tr, g.channels, &g.x_ld, &g.x_bs, &rx)) ||
      (st = subq_ssm_vec(fn, "weight", g.weight, true, wn, &rw)) ||
      (st = subq_ssm_vec(fn, "bias", g.bias, false, g.channels, &rb)) ||
      (st = subq_ssm_tensor(fn, "y", g.y, true, tb, tr, g.channels, &g.y_ld, &g.y_bs, &ry)) ||
      (st = subq_ssm_out_seqs_apart(fn, "y", tb, tr, g.channels, g.y_ld, g.y_bs)))
    return st;
  if (srows > 0) {
    if (g.state_bs < 0)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_bs (%lld) < 0", fn, (long long)g.state_bs);
    int64_t sfl; /* floats of one slot */
    if (!subq_mul_i64(srows, g.channels, &sfl))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of the state overflows int64", fn);
    if (g.state_bs == 0) g.state_bs = sfl;
    if (g.state_out && n_slots > 1 && g.state_bs < sfl) /* written slots must not overlap */
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_bs (%lld) < state floats %lld", fn,
                        (long long)g.state_bs, (long long)sfl);
    int64_t sbs = g.state_bs, sbs2 = g.state_bs, ld = g.channels, ld2 = g.channels;
    if ((st = subq_ssm_tensor(fn, "state_in", g.state_in, false, n_slots, srows, g.channels, &ld, &sbs, &rsi)) ||
        (st = subq_ssm_tensor(fn, "state_out", g.state_out, false, n_slots, srows, g.channels, &ld2, &sbs2, &rso)))
      return st;
    if ((st = subq_ssm_slots_check(fn, g.batch, g.state_slots, n_slots, g.state_out != NULL))) return st;
  } else {
    g.state_in = NULL, g.state_out = NULL; /* width 1 keeps no state */
    rsi.lo = rsi.hi = rso.lo = rso.hi = 0;
  }
  const subq_byte_range ins[] = {rx, rw, rb, rsi};
  const char *const in_names[] = {"x", "weight", "bias", "state_in"};
  if ((st = subq_byte_ranges_outputs_apart(fn, "y", ry, "state_out", rso, ins, in_names, 4,
                                           g.state_out == g.state_in ? 3 : -1)))
    return st;

  subq_conv_job job;
  job.g = g;
  job.n_blocks = (g.channels + SUBQ_CONV_BLOCK - 1) / SUBQ_CONV_BLOCK;
  job.n_tblocks = (max_len + SUBQ_CONV_TOKENS - 1) / SUBQ_CONV_TOKENS;
  job.conv = subq_ssm_pick(subq_context_isa_or_default(ctx))->conv;
  int64_t seq_blocks, items;
  if (!subq_mul_i64(g.batch, job.n_blocks, &seq_blocks) || !subq_mul_i64(seq_blocks, job.n_tblocks, &items))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * channel blocks * token blocks overflows int64", fn);
  const subq_phase ph[2] = {{subq_conv_run, &job, items, 1}, {subq_conv_state_run, &job, seq_blocks, 0}};
  const int n_ph = job.n_tblocks > 1 && g.state_out ? 2 : 1;
  return subq_parallel_run(ctx, ph, n_ph, SUBQ_CONV_WORK_FLOATS * sizeof(float));
}

subq_status subq_conv1d_f32(subq_context *ctx, const subq_conv1d_args *args) {
  return subq_conv1d_impl(ctx, args, false, "subq_conv1d_f32");
}
subq_status subq_conv1d_update_f32(subq_context *ctx, const subq_conv1d_args *args) {
  return subq_conv1d_impl(ctx, args, true, "subq_conv1d_update_f32");
}

/* ---- Mamba-1 selective scan ---------------------------------------------------------- */

int64_t subq_ssm1_state_floats(int64_t channels, int64_t d_state) {
  int64_t r;
  if (channels < 1 || d_state < 1 || channels > INT64_MAX - 15) return 0;
  if (!subq_mul_i64((channels + 15) / 16 * 16, d_state, &r)) return 0;
  return r;
}

void subq_ssm1_args_default(subq_ssm1_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_ssm1_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.n_groups = 1;
  d.flags = SUBQ_SSM1_DT_SOFTPLUS;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

/* The kernels take A log2(e) (their decay is 2^(dt * A log2(e))), packed
 * [n][16] per block of 16 channels; a = the block's first channel row,
 * channel-major reads, padding lanes 0. */
static void subq_ssm1_pack_block(const float *a, int64_t N, int64_t nc, bool a_log, float *out) {
  if (nc < SUBQ_SSM_BLOCK) memset(out, 0, (size_t)(SUBQ_SSM_BLOCK * N) * sizeof(float));
  for (int64_t l = 0; l < nc; l++) {
    const float *ar = a + l * N;
    if (a_log)
      for (int64_t n = 0; n < N; n++) out[n * SUBQ_SSM_BLOCK + l] = -expf(ar[n]) * SUBQ_VEXP_LOG2E;
    else
      for (int64_t n = 0; n < N; n++) out[n * SUBQ_SSM_BLOCK + l] = ar[n] * SUBQ_VEXP_LOG2E;
  }
}

subq_status subq_ssm1_pack_a(int64_t channels, int64_t d_state, const float *a, bool a_is_log, float *dst) {
  static const char fn[] = "subq_ssm1_pack_a";
  if (channels < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels (%lld) < 1", fn, (long long)channels);
  if (d_state < 1 || d_state > SUBQ_SSM1_MAX_D_STATE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: d_state (%lld) is not in 1..%d", fn, (long long)d_state,
                      SUBQ_SSM1_MAX_D_STATE);
  const int64_t sf = subq_ssm1_state_floats(channels, d_state);
  int64_t en;
  if (sf == 0 || !subq_mul_i64(channels, d_state, &en))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels * d_state overflows int64", fn);
  subq_byte_range ra, rd;
  subq_status st;
  if ((st = subq_ssm_vec(fn, "a", a, true, en, &ra)) || (st = subq_ssm_vec(fn, "dst", dst, true, sf, &rd))) return st;
  if (subq_byte_ranges_overlap(ra, rd)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps a", fn);
  const int64_t blk = SUBQ_SSM_BLOCK * d_state;
  for (int64_t c0 = 0; c0 < channels; c0 += SUBQ_SSM_BLOCK)
    subq_ssm1_pack_block(a + c0 * d_state, d_state, SUBQ_MIN((int64_t)SUBQ_SSM_BLOCK, channels - c0), a_is_log,
                         dst + (c0 / SUBQ_SSM_BLOCK) * blk);
  return SUBQ_OK;
}

typedef struct subq_scan_job {
  subq_ssm1_args g;
  int64_t n_blocks, gsize, state_floats;
  const subq_ssm_impl *impl;
} subq_scan_job;

/* The state of sequence bq's channel block cb, set up for the kernel: h_out's
 * block (or the participant's hs when there is no h_out), from h_in or zeros,
 * padding lanes zero. */
static float *subq_scan_state(const subq_scan_job *j, int64_t bq, int64_t cb, int64_t nc, float *hs) {
  const subq_ssm1_args *g = &j->g;
  const int64_t N = g->d_state, blk = SUBQ_SSM_BLOCK * N;
  const int64_t sl = g->state_slots ? g->state_slots[bq] : bq;
  const bool use_in = g->h_in && (!g->has_initial_state || g->has_initial_state[bq]);
  float *h = g->h_out ? g->h_out + sl * g->h_bs + cb * blk : hs;
  const float *hin = use_in ? g->h_in + sl * g->h_bs + cb * blk : NULL;
  if (!hin)
    memset(h, 0, (size_t)blk * sizeof(float));
  else if (hin != h)
    memcpy(h, hin, (size_t)blk * sizeof(float));
  for (int64_t n = 0; n < N; n++) /* padding lanes are zero */
    for (int64_t l = nc; l < SUBQ_SSM_BLOCK; l++) h[n * SUBQ_SSM_BLOCK + l] = 0.0f;
  return h;
}

static subq_status subq_scan_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_scan_job *j = arg;
  const subq_ssm1_args *g = &j->g;
  const int64_t N = g->d_state, blk = SUBQ_SSM_BLOCK * N;
  float *work = info->scratch, *apack = work + SUBQ_S6_WORK_FLOATS, *hs = apack + blk; /* + 2 * 16 * N floats */
  const bool a_packed = (g->flags & SUBQ_SSM1_A_PACKED) != 0;
  for (int64_t it = begin; it < end;) {
    const int64_t bq = it / j->n_blocks, cb = it % j->n_blocks, c0 = cb * SUBQ_SSM_BLOCK;
    const int64_t nc = SUBQ_MIN((int64_t)SUBQ_SSM_BLOCK, g->channels - c0);
    const int64_t T = g->cu_seqlens ? (int64_t)g->cu_seqlens[bq + 1] - g->cu_seqlens[bq] : g->seqlen;
    if (T == 0) { /* an empty sequence touches nothing */
      it++;
      continue;
    }
    float *h = subq_scan_state(j, bq, cb, nc, hs);
    /* One token on whole blocks of one group, A packed, states in h_out: the
     * following blocks of this sequence and group go in the same call. */
    int64_t nblk = 1;
    if (T == 1 && a_packed && g->h_out && nc == SUBQ_SSM_BLOCK && j->gsize % SUBQ_SSM_BLOCK == 0)
      while (it + nblk < end && cb + nblk < j->n_blocks && c0 + (nblk + 1) * SUBQ_SSM_BLOCK <= g->channels &&
             (c0 + nblk * SUBQ_SSM_BLOCK) / j->gsize == c0 / j->gsize) {
        subq_scan_state(j, bq, cb + nblk, SUBQ_SSM_BLOCK, hs);
        nblk++;
      }
    const float *ablk = apack;
    if (a_packed)
      ablk = g->a + cb * blk;
    else
      subq_ssm1_pack_block(g->a + c0 * N, N, nc, (g->flags & SUBQ_SSM1_A_LOG) != 0, apack);
    /* one call per B/C group inside the block */
    for (int64_t l0 = 0; l0 < nc;) {
      const int64_t grp = (c0 + l0) / j->gsize;
      const int64_t l1 = SUBQ_MIN(nc, (grp + 1) * j->gsize - c0);
      subq_s6scan_params p;
#define SUBQ_ROW(ld, bs) (g->cu_seqlens ? (int64_t)g->cu_seqlens[bq] * (ld) : bq * (bs))
      p.T = T, p.N = N, p.lane0 = (int32_t)l0, p.nl = (int32_t)(l1 - l0), p.nblk = nblk;
      p.softplus = (g->flags & SUBQ_SSM1_DT_SOFTPLUS) != 0;
      p.u = g->u + SUBQ_ROW(g->u_ld, g->u_bs) + c0, p.u_ld = g->u_ld;
      p.dt = g->dt + SUBQ_ROW(g->dt_ld, g->dt_bs) + c0, p.dt_ld = g->dt_ld;
      p.z = g->z ? g->z + SUBQ_ROW(g->z_ld, g->z_bs) + c0 : NULL, p.z_ld = g->z_ld;
      p.b = g->b + SUBQ_ROW(g->b_ld, g->b_bs) + grp * N, p.b_ld = g->b_ld;
      p.c = g->c + SUBQ_ROW(g->c_ld, g->c_bs) + grp * N, p.c_ld = g->c_ld;
      p.a = ablk;
      p.dt_bias = g->dt_bias ? g->dt_bias + c0 : NULL;
      p.d_skip = g->d_skip ? g->d_skip + c0 : NULL;
      p.h = h;
      p.y = g->y + SUBQ_ROW(g->y_ld, g->y_bs) + c0, p.y_ld = g->y_ld;
#undef SUBQ_ROW
      p.work = work;
      j->impl->scan(&p);
      l0 = l1;
    }
    it += nblk;
  }
  return SUBQ_OK;
}

static subq_status subq_ssm1_impl(subq_context *ctx, const subq_ssm1_args *args, bool step, const char *fn) {
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_ssm1_args g;
  subq_ssm1_args_default(&g, sizeof g);
  /* 0.1 callers end at y_bs: the varlen fields appended later take their defaults. */
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, offsetof(subq_ssm1_args, cu_seqlens), fn);
  if (st != SUBQ_OK) return st;
  if (g.batch < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch (%lld) < 0", fn, (long long)g.batch);
  if (g.seqlen < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) < 0", fn, (long long)g.seqlen);
  if (g.channels < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels (%lld) < 0", fn, (long long)g.channels);
  if (g.d_state < 0 || g.d_state > SUBQ_SSM1_MAX_D_STATE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: d_state (%lld) is not in 1..%d", fn, (long long)g.d_state,
                      SUBQ_SSM1_MAX_D_STATE);
  if (g.flags & ~(SUBQ_SSM1_DT_SOFTPLUS | SUBQ_SSM1_A_LOG | SUBQ_SSM1_A_PACKED))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: flags (0x%x) has unknown bits", fn, (unsigned)g.flags);
  if ((g.flags & SUBQ_SSM1_A_LOG) && (g.flags & SUBQ_SSM1_A_PACKED))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                      "%s: flags: SUBQ_SSM1_A_LOG and SUBQ_SSM1_A_PACKED exclude each other (pack A_log with "
                      "subq_ssm1_pack_a(..., a_is_log = true, ...))", fn);
  if (step && g.seqlen != 1 && !g.cu_seqlens)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: seqlen (%lld) must be 1 for a decode step", fn,
                      (long long)g.seqlen);
  if (step && !g.h_out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: h_out is NULL", fn);
  if (g.n_slots < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_slots (%lld) < 0", fn, (long long)g.n_slots);
  if (g.batch == 0) return SUBQ_OK;
  int64_t tb, tr, max_len;
  if ((st = subq_ssm_seqs_check(fn, g.batch, g.seqlen, g.cu_seqlens, step, &tb, &tr, &max_len))) return st;
  if (max_len == 0) return SUBQ_OK;
  if (g.cu_seqlens) g.u_bs = g.dt_bs = g.b_bs = g.c_bs = g.z_bs = g.y_bs = 0;
  const int64_t n_slots = g.n_slots ? g.n_slots : g.batch;
  if (g.channels < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels (%lld) < 1", fn, (long long)g.channels);
  if (g.d_state < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: d_state (%lld) is not in 1..%d", fn,
                                       (long long)g.d_state, SUBQ_SSM1_MAX_D_STATE);
  if (g.n_groups < 1 || g.channels % g.n_groups != 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_groups (%lld) must be >= 1 and divide channels (%lld)", fn,
                      (long long)g.n_groups, (long long)g.channels);
  const int64_t E = g.channels, N = g.d_state, sf = subq_ssm1_state_floats(E, N);
  int64_t gn, en;
  if (sf == 0 || !subq_mul_i64(g.n_groups, N, &gn) || !subq_mul_i64(E, N, &en))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of the state overflows int64", fn);
  subq_byte_range ru, rdt, rb, rc, rz, ra, rdb, rd, rhi, rho, ry;
  if ((st = subq_ssm_tensor(fn, "u", g.u, true, tb, tr, E, &g.u_ld, &g.u_bs, &ru)) ||
      (st = subq_ssm_tensor(fn, "dt", g.dt, true, tb, tr, E, &g.dt_ld, &g.dt_bs, &rdt)) ||
      (st = subq_ssm_tensor(fn, "b", g.b, true, tb, tr, gn, &g.b_ld, &g.b_bs, &rb)) ||
      (st = subq_ssm_tensor(fn, "c", g.c, true, tb, tr, gn, &g.c_ld, &g.c_bs, &rc)) ||
      (st = subq_ssm_tensor(fn, "z", g.z, false, tb, tr, E, &g.z_ld, &g.z_bs, &rz)) ||
      (st = subq_ssm_vec(fn, "a", g.a, true, (g.flags & SUBQ_SSM1_A_PACKED) ? sf : en, &ra)) ||
      (st = subq_ssm_vec(fn, "dt_bias", g.dt_bias, false, E, &rdb)) ||
      (st = subq_ssm_vec(fn, "d_skip", g.d_skip, false, E, &rd)) ||
      (st = subq_ssm_tensor(fn, "y", g.y, true, tb, tr, E, &g.y_ld, &g.y_bs, &ry)) ||
      (st = subq_ssm_out_seqs_apart(fn, "y", tb, tr, E, g.y_ld, g.y_bs)))
    return st;
  if ((st = subq_ssm_state_pool(fn, g.batch, g.state_slots, n_slots, sf, &g.h_bs, g.h_in, g.h_out, &rhi, &rho)))
    return st;
  const subq_byte_range ins[] = {ru, rdt, rb, rc, rz, ra, rdb, rd, rhi};
  const char *const in_names[] = {"u", "dt", "b", "c", "z", "a", "dt_bias", "d_skip", "h_in"};
  if ((st = subq_byte_ranges_outputs_apart(fn, "y", ry, "h_out", rho, ins, in_names, 9, g.h_out == g.h_in ? 8 : -1)))
    return st;

  subq_scan_job job;
  job.g = g;
  job.n_blocks = (E + SUBQ_SSM_BLOCK - 1) / SUBQ_SSM_BLOCK;
  job.gsize = E / g.n_groups;
  job.state_floats = sf;
  job.impl = subq_ssm_pick(subq_context_isa_or_default(ctx));
  int64_t items;
  if (!subq_mul_i64(g.batch, job.n_blocks, &items))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch * channel blocks overflows int64", fn);
  /* A prefill item is a whole sequence of a block: one per claim. A step item
   * is ~100 ns: the runtime's grain, so a claim is a run of blocks. */
  const subq_phase ph = {subq_scan_run, &job, items, max_len == 1 ? 0 : 1};
  return subq_parallel_run(ctx, &ph, 1, (size_t)(SUBQ_S6_WORK_FLOATS + 2 * SUBQ_SSM_BLOCK * N) * sizeof(float));
}

subq_status subq_ssm1_scan_f32(subq_context *ctx, const subq_ssm1_args *args) {
  return subq_ssm1_impl(ctx, args, false, "subq_ssm1_scan_f32");
}
subq_status subq_ssm1_step_f32(subq_context *ctx, const subq_ssm1_args *args) {
  return subq_ssm1_impl(ctx, args, true, "subq_ssm1_step_f32");
}

/* ---- state layout conversion ----------------------------------------------------------- */

static subq_status subq_ssm1_convert(int64_t batch, int64_t E, int64_t N, const float *src, float *dst, bool import,
                                     const char *fn) {
  if (batch < 0 || E < 0 || N < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch, channels and d_state must be >= 0", fn);
  if (batch == 0 || E == 0 || N == 0) return SUBQ_OK;
  if (!src) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  if (!dst) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst is NULL", fn);
  const int64_t sf = subq_ssm1_state_floats(E, N);
  int64_t hf, sub, ld = 0, bs = 0, ld2 = 0, bs2 = 0;
  if (sf == 0 || !subq_mul_i64(E, N, &hf) || !subq_mul_i64(sf, batch, &sub))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic overflows int64", fn);
  subq_byte_range rs, rd;
  subq_status st;
  if ((st = subq_ssm_tensor(fn, "src", src, true, batch, 1, import ? hf : sf, &ld, &bs, &rs)) ||
      (st = subq_ssm_tensor(fn, "dst", dst, true, batch, 1, import ? sf : hf, &ld2, &bs2, &rd)))
    return st;
  if (subq_byte_ranges_overlap(rs, rd)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps src", fn);
  for (int64_t b = 0; b < batch; b++) {
    const int64_t Ep = sf / N;
    for (int64_t d = 0; d < Ep; d++)
      for (int64_t n = 0; n < N; n++) {
        const int64_t ho = b * hf + d * N + n, so = b * sf + (d / 16) * 16 * N + n * 16 + d % 16;
        if (import)
          dst[so] = d < E ? src[ho] : 0.0f;
        else if (d < E)
          dst[ho] = src[so];
      }
  }
  return SUBQ_OK;
}

subq_status subq_ssm1_state_import(int64_t batch, int64_t channels, int64_t d_state, const float *src, float *dst) {
  return subq_ssm1_convert(batch, channels, d_state, src, dst, true, "subq_ssm1_state_import");
}
subq_status subq_ssm1_state_export(int64_t batch, int64_t channels, int64_t d_state, const float *src, float *dst) {
  return subq_ssm1_convert(batch, channels, d_state, src, dst, false, "subq_ssm1_state_export");
}
