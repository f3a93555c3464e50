/*
 * subq_fattn.h — fused (FlashAttention-style) softmax attention, f32.
 *
 *   out = softmax(scale * Q K^T (+ soft-cap) + mask) V
 *
 * computed tile by tile with an online softmax, never materialising the
 * Sq x Sk score matrix.
 *
 * Shapes (logical): q [B][Sq][Hq][DK], k [B][Sk][Hkv][DK], v [B][Sk][Hkv][DV],
 * out [B][Sq][Hq][DV], lse [B][Hq][Sq]. Each tensor is a base pointer and three
 * int64 element strides (batch, sequence, head); the head-dim stride is 1.
 * BSHD, BHSD and views into a fused QKV projection all work without copies.
 * Query head h reads kv head h / (Hq / Hkv) (consecutive grouping as HF
 * repeat_kv; GQA and MQA read K/V once per group, never repeated).
 *
 * Score pipeline per query row i and key j: s = scale * <q_i, k_j>; if
 * softcap > 0, s = softcap * tanh(s / softcap); then the mask. Query row i sits
 * at key coordinate p_i = i + off, off = Sk - Sq (BOTTOM_RIGHT, the default:
 * the queries are the newest tokens) or 0 (TOP_LEFT). Key j is allowed iff
 *   0 <= j < Sk and (wl < 0 or j >= p_i - wl) and (wr < 0 or j <= p_i + wr)
 * with wl = window_left, wr = window_right (-1 = unbounded). No mask is
 * (-1, -1) (the default); plain causal is (-1, 0); a Mistral / HF
 * sliding_window W is (W - 1, 0); flash-attn window_size (a, b) is (a, b).
 * A row with no allowed key outputs exactly 0 (and lse = -inf), never NaN.
 *
 * Accuracy: f32 products, f32 softmax state, exp within 2 ulp (subq_fattn_expf).
 * Against a float64 oracle on the same inputs (N(0, 1)-like data, peaky and
 * soft-capped logits, up to 3000 keys) the tests see a relative RMS error of at
 * most 6e-7 and every element within 1e-5 + 1e-5 * |ref|.
 *
 * Work split (from the shape and args only, never the thread count):
 * items are (batch, kv head, query tile) with the G = Hq / Hkv query heads of
 * one kv head stacked in a tile, so every K/V tile is read once per group.
 * When there are few items (decode: small Sq against a long KV) each KV range
 * is also cut into splits of kv_split keys whose partial (max, sum, acc) are
 * merged in split order in a second phase, so one sequence uses every core.
 * Results are bitwise identical for any thread count and executor on one ISA
 * path; across ISA paths they agree within the tolerance above.
 *
 * Errors (status + subq_last_error_message naming the argument):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL args, ctx-independent shape errors
 *     (batch, sq, sk < 0; hq, hkv < 1; hq not a multiple of hkv; dk, dv not in
 *     1..256), window_left/right < -1, unknown align, softcap < 0 or NaN,
 *     scale not finite, kv_split < -1, NULL q/k/v/out when the problem is not
 *     empty, a stride < 0 (or < 1 where its extent exceeds one), index
 *     arithmetic that overflows int64, out overlapping q, k, v or lse, lse
 *     overlapping q, k or v;
 *   SUBQ_ERR_UNSUPPORTED — struct_size larger than this library knows with a
 *     non-zero unknown tail; SUBQ_ERR_OUT_OF_MEMORY — workspace allocation.
 * Empty problems (batch, sq or hq*dv == 0) succeed and touch nothing; sk == 0
 * writes zeros (every row fully masked).
 */
#ifndef SUBQ_FATTN_H
#define SUBQ_FATTN_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* Values of subq_fattn_args.align. */
#define SUBQ_FATTN_ALIGN_BOTTOM_RIGHT 0 /* p_i = i + Sk - Sq (KV-cache decode, chunked prefill) */
#define SUBQ_FATTN_ALIGN_TOP_LEFT 1     /* p_i = i (PyTorch SDPA is_causal) */

/* Largest head dimension (DK or DV). */
#define SUBQ_FATTN_MAX_HEAD_DIM 256

typedef struct subq_fattn_args {
  size_t struct_size;            /* written by subq_fattn_args_default */
  int64_t batch, hq, hkv, sq, sk, dk, dv;
  float scale;                   /* 0 (default) = 1 / sqrt(dk) */
  float softcap;                 /* 0 (default) = off; else s = softcap * tanh(s / softcap) */
  int32_t align;                 /* SUBQ_FATTN_ALIGN_*; default BOTTOM_RIGHT */
  int64_t window_left;           /* -1 (default) = unbounded */
  int64_t window_right;          /* -1 (default) = unbounded; 0 = causal */
  /* element (b, s, h, d) of q at q[b * q_bs + s * q_ss + h * q_hs + d]; likewise k, v, out */
  const float *SUBQ_NULLABLE q; int64_t q_bs, q_ss, q_hs;
  const float *SUBQ_NULLABLE k; int64_t k_bs, k_ss, k_hs;
  const float *SUBQ_NULLABLE v; int64_t v_bs, v_ss, v_hs;
  float *SUBQ_NULLABLE out;     int64_t o_bs, o_ss, o_hs;
  /* Optional log-sum-exp, natural log, element (b, h, i) at lse[(b * hq + h) * sq + i]; NULL = not written. */
  float *SUBQ_NULLABLE lse;
  /* KV split length in keys for split-K: 0 (default) = automatic (512-key
   * splits when the shape has fewer than 64 work items), -1 = never split,
   * n > 0 = always cut the KV range into splits of n keys. Part of the plan:
   * changing it may change the last bits of the result. */
  int64_t kv_split;
} subq_fattn_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size, align =
 * BOTTOM_RIGHT, window_left = window_right = -1 (no mask), scale = 0 (1/sqrt(dk)),
 * softcap = 0, kv_split = 0 (automatic). */
SUBQ_API void subq_fattn_args_default(subq_fattn_args *p, size_t struct_size);

/* Fills the strides of q, k, v and out for dense [B][S][H][D] (BSHD) tensors
 * from the shape fields already set in p. */
SUBQ_API void subq_fattn_args_dense_bshd(subq_fattn_args *p);

/* out = softmax(scale * Q K^T + mask) V. See above. ctx == NULL runs on the
 * calling thread with the best ISA the host supports (capped by SUBQ_MAX_ISA). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_fattn(subq_context *SUBQ_NULLABLE ctx, const subq_fattn_args *args);

/* Vector exp used by the attention kernels, exposed for testing: dst[i] =
 * e^src[i] for n floats on ctx's ISA path (NULL: host best). Accuracy: within
 * 2 ulp of the correctly rounded result for results >= 2^-126; results below
 * 2^-126 (x < -87.33) and x = -inf give +0; x > 88.72 gives +inf; NaN gives NaN.
 * Errors: n < 0, NULL src/dst with n > 0. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_fattn_expf(subq_context *SUBQ_NULLABLE ctx, const float *SUBQ_NULLABLE src,
                                                     float *SUBQ_NULLABLE dst, int64_t n);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_FATTN_H */
