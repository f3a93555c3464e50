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
 * softcap > 0, s = softcap * tanh(s / softcap); plus the optional additive
 * mask tensor (args->mask); then the window mask. Query row i sits
 * at key coordinate p_i = i + off, off = Sk - Sq (BOTTOM_RIGHT, the default:
 * the queries are the newest tokens) or 0 (TOP_LEFT). Key j is allowed iff
 *   0 <= j < Sk and (wl < 0 or j >= p_i - wl) and (wr < 0 or j <= p_i + wr)
 * with wl = window_left, wr = window_right (-1 = unbounded). No mask is
 * (-1, -1) (the default); plain causal is (-1, 0); a Mistral / HF
 * sliding_window W is (W - 1, 0); flash-attn window_size (a, b) is (a, b).
 * A row with no allowed key outputs exactly 0 (and lse = -inf), never NaN.
 *
 * Accuracy: f32 products, f32 softmax state, exp within 2 ulp (subq_fattn_expf;
 * softmax terms below 1.2e-38 flush to 0).
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
 * Workspace: calls with >= 2 query tiles per kv head (prefill: 64 rows of G
 * heads x tokens a tile) first copy the K and V rows any query may see into
 * one contiguous f32 buffer, in waves of kv heads of about 8 MiB (32 MiB at
 * most; larger waves copy per tile instead). The buffer belongs to ctx and is
 * reused by later calls on it (a NULL ctx allocates and frees it per call).
 * Split partials (B Hq Sq x splits x (DV + 2) floats) are allocated per call.
 * With verbose >= 1 (context or SUBQ_VERBOSE) each call logs one line naming
 * its plan: path, tile rows, query tiles, splits, K/V packing and waves.
 *
 * Inputs and out may also be bf16 / f16 (q_dtype, kv_dtype, out_dtype);
 * decode over a persistent KV cache (linear or ring buffer) is subq_fattn_kv.
 *
 * Errors (status + subq_last_error_message naming the argument):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL args, ctx-independent shape errors
 *     (batch, sq, sk < 0; hq, hkv < 1; a dtype other than F32/BF16/F16; hq not a multiple of hkv; dk, dv not in
 *     1..256), window_left/right < -1, unknown align, softcap < 0 or NaN,
 *     scale not finite, kv_split < -1, NULL q/k/v/out when the problem is not
 *     empty, a stride < 0 (or < 1 where its extent exceeds one; 0 is
 *     allowed for the batch stride of q, k and v), strides of a tensor whose
 *     dimensions do not nest (sorted by stride, each stride must be at least
 *     the span of the smaller ones, the head dim spanning dk or dv: no two
 *     elements share an address), index arithmetic that overflows int64, out
 *     overlapping q, k, v, lse or mask, lse overlapping q, k, v or mask;
 *   SUBQ_ERR_UNSUPPORTED — struct_size larger than this library knows with a
 *     non-zero unknown tail; SUBQ_ERR_OUT_OF_MEMORY — workspace allocation.
 * Empty problems (batch or sq == 0) succeed and touch nothing; sk == 0
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
  /* KV split length in keys for split-K: 0 (default) = automatic (when the
   * shape has fewer than 64 work items, batch x hkv x query tiles, each KV
   * range is cut into equal splits, as few as make about 64 items but none
   * shorter than 512 keys; from the shape only), -1 = never split,
   * n > 0 = always cut the KV range into splits of n keys. Part of the plan:
   * changing it may change the last bits of the result. */
  int64_t kv_split;
  /* ---- appended after the first layout (a caller's shorter struct reads as f32) ---- */
  /* Element types. F32 (and 0) = float; BF16 / F16 = uint16_t storage: the
   * pointer of that tensor (q; k and v; out) then points to uint16_t elements
   * (cast to the field's type) and its strides count 16-bit elements. Inputs
   * are widened exactly; all arithmetic (products, softmax state, sums) stays
   * f32; a 16-bit out is rounded to nearest even once at the end. kv_dtype is
   * ignored by subq_fattn_kv (the cache has its own). */
  subq_dtype q_dtype;
  subq_dtype kv_dtype;
  subq_dtype out_dtype;
  /* Optional additive f32 bias ("attention mask"), NULL = none: element
   * (b, h, i, j) for query head h, query row i, key j at
   * mask[b * mask_bs + h * mask_hs + i * mask_ss + j] (keys contiguous), added
   * after scale and soft-cap and before the window mask; -inf excludes a key.
   * A key that -inf excludes for every query row of every head of a KV group
   * (padding) never reaches the output, whatever its K and V hold (NaN too).
   * A stride of 0 broadcasts that dimension ((B or 1, Hq or 1, Sq or 1, Sk)).
   * Not supported by subq_fattn_kv (error). */
  const float *SUBQ_NULLABLE mask;
  int64_t mask_bs, mask_hs, mask_ss;
} subq_fattn_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size, align =
 * BOTTOM_RIGHT, window_left = window_right = -1 (no mask), scale = 0 (1/sqrt(dk)),
 * softcap = 0, kv_split = 0 (automatic), dtypes = F32. */
SUBQ_API void subq_fattn_args_default(subq_fattn_args *p, size_t struct_size);

/* Fills the strides of q, k, v and out for dense [B][S][H][D] (BSHD) tensors
 * from the shape fields already set in p. A stride whose product overflows
 * int64 is stored as INT64_MAX (subq_fattn then reports the overflow, unless
 * that dimension has extent 1). */
SUBQ_API void subq_fattn_args_dense_bshd(subq_fattn_args *p);

/* out = softmax(scale * Q K^T + mask) V. See above. ctx == NULL runs on the
 * calling thread with the best ISA the host supports (capped by SUBQ_MAX_ISA). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_fattn(subq_context *SUBQ_NULLABLE ctx, const subq_fattn_args *args);

/* ---- KV cache ------------------------------------------------------------
 *
 * One layer's K/V of `batch` sequences, stored per sequence and kv head as
 * token rows: K element (b, h, slot, d) at k[((b * hkv + h) * capacity + slot)
 * * dk + d], V likewise with dv. Storage f32, bf16 or f16 (appends convert f32
 * with round-to-nearest-even; attention widens exactly in registers and
 * computes in f32). Zero-filled at creation.
 *
 * Every sequence b holds the absolute positions [first_b, end_b): end_b is the
 * number of tokens appended so far (minus truncation), position p lives in slot
 * p (LINEAR) or p mod capacity (RING). A LINEAR cache keeps everything
 * (first_b = 0) and refuses appends past capacity. A RING cache keeps the last
 * `capacity` positions (first_b = max(first_b, end_b - capacity)) for sliding-
 * window layers: with window_left wl and at most n new tokens per attention
 * call, capacity >= wl + n keeps every key those queries may see. Because
 * positions are absolute, causal and window masks stay exact after the ring
 * wraps. K is stored as given (already rotated by RoPE at its position).
 *
 * Thread-safety: appends, truncation and reset modify the cache and must not
 * run concurrently with anything else on the same cache; any number of
 * subq_fattn_kv calls may read one cache concurrently.
 */
typedef struct subq_kv_cache subq_kv_cache;

/* Values of subq_kv_cache_args.mode. */
#define SUBQ_KV_LINEAR 0
#define SUBQ_KV_RING 1

typedef struct subq_kv_cache_args {
  size_t struct_size;    /* written by subq_kv_cache_args_default */
  subq_dtype dtype;      /* storage: SUBQ_DTYPE_F32 (default), _BF16 or _F16 */
  int32_t mode;          /* SUBQ_KV_LINEAR (default) or SUBQ_KV_RING */
  int64_t batch;         /* sequences, >= 1 */
  int64_t hkv;           /* kv heads, >= 1 */
  int64_t dk, dv;        /* head dims, 1..SUBQ_FATTN_MAX_HEAD_DIM */
  int64_t capacity;      /* positions per sequence (LINEAR) or ring slots (RING), >= 1 */
} subq_kv_cache_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size, dtype = F32,
 * mode = LINEAR. */
SUBQ_API void subq_kv_cache_args_default(subq_kv_cache_args *p, size_t struct_size);

/* Allocates a zero-filled cache (all sequences empty) into *out.
 * Errors: NULL args/out, dtype not F32/BF16/F16, unknown mode, batch, hkv or
 * capacity < 1, dk/dv not in 1..256, a byte size that overflows
 * (INVALID_ARGUMENT); allocation failure (OUT_OF_MEMORY); a larger
 * struct_size with a non-zero unknown tail (UNSUPPORTED). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_kv_cache_create(const subq_kv_cache_args *args,
                                                           subq_kv_cache *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Frees the cache. NULL is a no-op. */
SUBQ_API void subq_kv_cache_destroy(subq_kv_cache *SUBQ_NULLABLE cache);

/* Appends n_new tokens to each of the sequences b0 .. b0 + nb - 1: their
 * positions end_b .. end_b + n_new - 1. Token t of sequence b0 + i, kv head h
 * is read from k[i * k_bs + t * k_ss + h * k_hs + d] (d < dk), likewise v with
 * dv ([B][S][H][D] views of a K/V projection work without copies; f32; the
 * head-dim stride is 1), and converted to the cache dtype (RNE). A RING cache
 * given more than `capacity` tokens stores only the last `capacity`. ctx may
 * be NULL (calling thread). Errors: NULL cache, b0/nb out of range, n_new < 0,
 * NULL k/v or negative strides when n_new > 0, a k or v view whose bytes
 * (first element to the end of the last, over all n_new tokens) overflow
 * int64 or pass PTRDIFF_MAX or the address space ("overflows"), a LINEAR cache
 * without room for n_new more positions ("full"), end position overflow. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_kv_cache_append(subq_context *SUBQ_NULLABLE ctx, subq_kv_cache *cache,
                                                           int64_t b0, int64_t nb, int64_t n_new,
                                                           const float *SUBQ_NULLABLE k, int64_t k_bs, int64_t k_ss,
                                                           int64_t k_hs, const float *SUBQ_NULLABLE v, int64_t v_bs,
                                                           int64_t v_ss, int64_t v_hs);

/* Drops the positions >= end of sequence b (end <= its current end; slots are
 * not cleared: they are never read). A ring keeps the positions it still
 * holds below end. Errors: NULL cache, b out of range, end < 0 or > current end. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_kv_cache_truncate(subq_kv_cache *cache, int64_t b, int64_t end);

/* Empties every sequence (positions restart at 0). NULL is a no-op. */
SUBQ_API void subq_kv_cache_reset(subq_kv_cache *SUBQ_NULLABLE cache);

/* Positions [*first, *end) held by sequence b (either pointer may be NULL).
 * Errors: NULL cache, b out of range. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_kv_cache_positions(const subq_kv_cache *cache, int64_t b,
                                                              int64_t *SUBQ_NULLABLE first, int64_t *SUBQ_NULLABLE end);

/* Read-only description of a cache's storage (for interop and inspection). */
typedef struct subq_kv_cache_info {
  size_t struct_size;
  subq_dtype dtype;
  int32_t mode;
  int64_t batch, hkv, dk, dv, capacity;
  /* element (b, h, slot, d) of K at k + b * k_bs + h * k_hs + slot * k_ss + d
   * (elements of dtype, 16-bit ones as uint16_t); likewise V */
  const void *k; int64_t k_bs, k_hs, k_ss;
  const void *v; int64_t v_bs, v_hs, v_ss;
} subq_kv_cache_info;

/* Fills the first info->struct_size bytes of *info (set struct_size first).
 * The pointers stay valid until the cache is destroyed. Errors: NULL cache/info,
 * struct_size too small. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_kv_cache_get_info(const subq_kv_cache *cache, subq_kv_cache_info *info);

/* Attention of new queries over a cache: like subq_fattn with the keys and
 * values of sequence b being the cache positions [first_b, end_b), and the sq
 * queries of sequence b being its newest positions end_b - sq .. end_b - 1
 * (append their K/V first). Masks use absolute positions: query i of sequence
 * b sits at p = end_b - sq + i and key position j is allowed iff
 * first_b <= j < end_b and (wl < 0 or j >= p - wl) and (wr < 0 or j <= p + wr).
 * Used fields of args: batch (== the cache's), hq, hkv, dk, dv (== the
 * cache's), sq, scale, softcap, window_left/right, align (must be
 * BOTTOM_RIGHT), q, out and lse (as in subq_fattn; q_dtype and out_dtype
 * honoured; mask must be NULL), kv_split (splits count from each sequence's first needed key).
 * sk, k, v, their strides and kv_dtype are ignored. 16-bit caches are read
 * directly by the micro-kernels (nothing is widened in bulk).
 * Errors: those of subq_fattn for the used fields, NULL cache, a mismatch of
 * batch/hkv/dk/dv with the cache, TOP_LEFT align, a sequence holding fewer
 * than sq positions, a key position the queries may see (first needed
 * max(0, end_b - sq - wl), or 0 without a left window) that a ring has already
 * overwritten (prefill such prompts with subq_fattn on the uncached K/V). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_fattn_kv(subq_context *SUBQ_NULLABLE ctx, const subq_fattn_args *args,
                                                    const subq_kv_cache *cache);

/* Vector exp used by the attention kernels, exposed for testing: dst[i] =
 * e^src[i] for n floats on ctx's ISA path (NULL: host best). Accuracy: within
 * 2 ulp of the correctly rounded result for results >= 2^-126; results below
 * 2^-126 (x < -87.33) and x = -inf give +0; x > 88.72 gives +inf; NaN gives NaN.
 * dst may equal src (in place); any other overlap is an error.
 * Errors: n < 0, NULL src/dst with n > 0, n floats overflowing the address
 * range, dst overlapping src other than dst == src. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_fattn_expf(subq_context *SUBQ_NULLABLE ctx, const float *SUBQ_NULLABLE src,
                                                     float *SUBQ_NULLABLE dst, int64_t n);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_FATTN_H */
