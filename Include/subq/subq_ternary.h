/*
 * subq_ternary.h — ternary (1.58-bit) weights: quantization, the SQ2 packed
 * format, per-token int8 activation quantization fused with RMSNorm, the
 * int8 x ternary matmul (decode GEMV and prefill GEMM) with its BitLinear
 * epilogue, and the MatMul-free LM (HGRN-Bit) token mixer recurrence.
 *
 * ---- Math (normative: ternary spec §1, §6) --------------------------------
 * Weights W[n][k] (n < N output rows, k < K inputs, a PyTorch Linear weight).
 *   absmean quantization: gamma = max(mean |W|, 1e-5) with the mean taken in
 *   float64 over the tensor (SUBQ_TERNARY_SCALE_TENSOR) or over each row
 *   (SUBQ_TERNARY_SCALE_ROW), rounded to f32; inv = 1 / gamma (f32);
 *   t = clamp(rint(W * inv), -1, 1) (f32 product, ties to even). The
 *   dequantized weight is t * gamma. gamma is stored exactly; re-quantizing
 *   gamma * t with absmean would shrink it (spec §1.1), so already-ternary
 *   weights are imported with subq_ternary_from_codes / _from_ternarized.
 * Activations, per token row x (K floats):
 *   optional RMSNorm (flag SUBQ_TERNARY_RMSNORM): ss = sum x_k^2 as 16
 *     partial sums p_j over k = j mod 16, each an fmaf chain in k order, folded
 *     p_j += p_{j+8}, p_j += p_{j+4}, p_j += p_{j+2}, p_0 += p_1;
 *     r = 1 / sqrtf(ss / K + eps); y_k = (x_k * r) * w_k (w NULL: x_k * r).
 *     Without the flag y = x.
 *   a = max(max_k |y_k|, 1e-5); s = 127 / a; q_k = clamp(round(y_k * s),
 *   -127, 127) with round per subq_round; S = sum_k q_k.
 *   Every ISA path gives the same q, S and a bit for bit.
 * Matmul: D[t][n] = sum_k t[n][k] * q[t][k] in exact int32 (the SIMD paths
 *   accumulate codes c = t + 1 in {0,1,2} and subtract S; no int16 partial can
 *   overflow for any q in [-127, 127]). Epilogue, one rounding per step:
 *   comb = gamma_n * (a / 127); out = (float)D * comb (+ residual). The
 *   result is bitwise identical on every ISA and thread count.
 *
 * ---- SQ2 packed format (layout P16, spec §3) ---------------------------------
 * A subq_ternary object is one contiguous, 64-byte aligned blob:
 *   header, 128 bytes, little-endian, unused bytes zero:
 *     0 "SQT2"  4 u16 version (1)  6 u16 layout (1 = P16)  8 i64 N  16 i64 K
 *     24 i64 N_pad  32 i64 K_pad  40 u32 scale_mode  44 u32 flags (0)
 *     48 f32 gamma (per-tensor mode; 0 in row mode)  52 u32 reserved
 *     56 u64 codes_offset  64 u64 scales_offset (both 64-byte aligned)
 *   codes: N_pad = round_up(N, 16), K_pad = round_up(K, 64); panel P (16
 *     rows) and K-block B (16 columns) form the 64-byte unit at
 *     codes_offset + (P * (K_pad / 16) + B) * 64; in it byte c, bits
 *     (2m+1 : 2m), m = 0..3, hold the code t + 1 of row 16P + c / 4, column
 *     16B + 4m + c % 4. Padding rows and columns hold code 1 (weight 0); code
 *     3 never occurs. After x_m = (unit >> 2m) & 3 every 32-bit lane holds one
 *     row's codes of four consecutive columns: the unsigned operand of
 *     vpdpbusd / vpmaddubsw (8 rows per 32 bytes) and of NEON sdot (4 rows
 *     per 16 bytes), unpacked by shift and mask only.
 *   scales: f32 gamma (per tensor: 1 value; per row: N_pad values, padding 0).
 * subq_ternary_blob returns the blob; subq_ternary_from_blob validates one.
 *
 * ---- Threads, errors --------------------------------------------------------
 * A subq_ternary is immutable after creation and may be shared by threads and
 * contexts. Kernel work items are (16-row panel group, token block); K is
 * never split, so results are bitwise identical for any thread count and
 * executor; ctx == NULL runs on the calling thread with the host's best ISA.
 * The int8 activations of a matmul or BitLinear call (about 2 * tokens *
 * K_pad bytes from 16 tokens on, tokens * K_pad below) live in the context's
 * call workspace, which keeps the largest size used until the context is
 * destroyed; calls on one context are serialised, so it is never shared.
 * Errors (status + subq_last_error_message naming the function and argument):
 * SUBQ_ERR_INVALID_ARGUMENT for NULL pointers, sizes < 1 (tokens/rows may be
 * 0: nothing is touched), K > SUBQ_TERNARY_MAX_K, strides below the row
 * length, unknown flags / enum values, codes outside {-1,0,1} (HF byte pairs
 * 3), non-finite or non-positive scales, outputs overlapping inputs, size
 * products that overflow; SUBQ_ERR_UNSUPPORTED for a struct_size newer than
 * the library with a non-zero tail or an HF shape with N % 4 != 0;
 * SUBQ_ERR_OUT_OF_MEMORY.
 */
#ifndef SUBQ_TERNARY_H
#define SUBQ_TERNARY_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* Largest K: keeps (float)D exact (127 * K < 2^24) and the int32 sums far
 * from overflow. */
#define SUBQ_TERNARY_MAX_K 131072

typedef SUBQ_ENUM(subq_round) {
  SUBQ_ROUND_HALF_EVEN SUBQ_SWIFT_NAME(halfEven) = 0, /* torch.round, HF BitNet, bitnet.cpp */
  SUBQ_ROUND_HALF_AWAY SUBQ_SWIFT_NAME(halfAway) = 1  /* mmfreelm's fused Triton kernel, lroundf */
} subq_round;

typedef SUBQ_ENUM(subq_ternary_scale) {
  SUBQ_TERNARY_SCALE_TENSOR SUBQ_SWIFT_NAME(tensor) = 0, /* one gamma */
  SUBQ_TERNARY_SCALE_ROW SUBQ_SWIFT_NAME(row) = 1        /* one gamma per output row */
} subq_ternary_scale;

/* How an HF packed checkpoint's `<proj>.weight_scale` relates to gamma
 * (spec §2.1, decided by config.quantization_config.linear_class). */
typedef SUBQ_ENUM(subq_ternary_hf_scale) {
  SUBQ_TERNARY_HF_DIVIDE SUBQ_SWIFT_NAME(divide) = 0,    /* "bitlinear" (default): y = F.linear(q, t) / (s * ws), gamma = 1 / ws */
  SUBQ_TERNARY_HF_MULTIPLY SUBQ_SWIFT_NAME(multiply) = 1 /* "autobitlinear" offline: y = F.linear(q / s, t) * ws, gamma = ws */
} subq_ternary_hf_scale;

/* ---- packed weights ---------------------------------------------------------- */
typedef struct subq_ternary subq_ternary;

/* absmean-quantizes dense weights W (n x k, row-major with row stride ld >= k
 * elements; dtype SUBQ_DTYPE_F32 or SUBQ_DTYPE_BF16) into SQ2. ctx is used for
 * parallel packing (NULL: calling thread); the result does not depend on it.
 * Errors: see the top of this header. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_quantize(subq_context *SUBQ_NULLABLE ctx, int64_t n, int64_t k,
                                                           subq_dtype dtype, const void *w, int64_t ld,
                                                           subq_ternary_scale scale_mode,
                                                           subq_ternary *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Imports ternary codes t[n][k] in {-1, 0, +1} (int8, row stride ld) with
 * their scales gamma (1 value for SUBQ_TERNARY_SCALE_TENSOR, n values for
 * _ROW; finite and > 0), without re-quantizing. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_from_codes(int64_t n, int64_t k, const int8_t *t, int64_t ld,
                                                             subq_ternary_scale scale_mode, const float *gamma,
                                                             subq_ternary *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Imports already-ternarized dense weights (every value 0 or +-gamma, per
 * tensor or per row; f32 or bf16) keeping gamma = the largest |W| exactly
 * (an all-zero tensor / row gets gamma 1). A value that is neither 0 nor
 * +-gamma is SUBQ_ERR_INVALID_ARGUMENT naming its position: such a tensor is
 * not ternary; use subq_ternary_quantize. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_from_ternarized(int64_t n, int64_t k, subq_dtype dtype,
                                                                  const void *w, int64_t ld,
                                                                  subq_ternary_scale scale_mode,
                                                                  subq_ternary *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Imports an HF transformers packed BitNet weight (integrations/bitnet.py):
 * packed is uint8 [n / 4][k] row-major; bits (2i+1:2i) of byte [j][kk] hold
 * t + 1 of row i * (n / 4) + j. n % 4 != 0 is SUBQ_ERR_UNSUPPORTED (HF's
 * buffer is (n // 4, k)); a byte pair 3 is SUBQ_ERR_INVALID_ARGUMENT.
 * weight_scale (the checkpoint's `.weight_scale`, widened to f32) becomes a
 * per-tensor gamma by `rule`. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_from_hf(int64_t n, int64_t k, const uint8_t *packed,
                                                          float weight_scale, subq_ternary_hf_scale rule,
                                                          subq_ternary *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Validates and copies an SQ2 blob (as written by subq_ternary_blob; src may
 * be unaligned). Errors: bad magic / version / layout / sizes / offsets, a
 * code 3, non-finite or non-positive scales of real rows. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_from_blob(const void *src, size_t size,
                                                            subq_ternary *SUBQ_NULLABLE *SUBQ_NONNULL out);

/* Moves w's storage into memory placed by ctx's NUMA mode, copied by ctx's
 * own workers (first touch): DISTRIBUTE puts the rows each node computes in a
 * one-token product on that node, MIRROR keeps one copy per node, each
 * participant reading its node's copy; ISOLATE uses the context's node. A
 * no-op (SUBQ_OK) when subq_context_places_weights(ctx) is false (NULL ctx,
 * one node, OFF/INHERIT) or w is already placed. Results never change; the
 * blob's bytes (subq_ternary_blob) stay the same, at a new address (an earlier
 * pointer is invalid). Not thread-safe: call it before w is shared. Errors: SUBQ_ERR_INVALID_ARGUMENT (w NULL);
 * SUBQ_ERR_OUT_OF_MEMORY; a binding failure (SUBQ_ERR_SYSTEM). On error w is
 * unchanged. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_place(subq_context *SUBQ_NULLABLE ctx, subq_ternary *w);

/* Frees packed weights; NULL is a no-op. */
SUBQ_API void subq_ternary_destroy(subq_ternary *SUBQ_NULLABLE w);

/* The SQ2 blob (layout above) and its size in bytes; valid while w lives. */
SUBQ_API const void *subq_ternary_blob(const subq_ternary *w, size_t *SUBQ_NULLABLE size);
/* Shape and scale mode. */
SUBQ_API int64_t subq_ternary_rows(const subq_ternary *w);
SUBQ_API int64_t subq_ternary_cols(const subq_ternary *w);
SUBQ_API subq_ternary_scale subq_ternary_scale_mode(const subq_ternary *w);

/* Exports the codes t[n][k] (int8, row stride ld >= k) and the scales (1 or n
 * floats per the scale mode); either output may be NULL. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_to_codes(const subq_ternary *w, int8_t *SUBQ_NULLABLE t, int64_t ld,
                                                           float *SUBQ_NULLABLE gamma);

/* ---- activation quantization and BitLinear ------------------------------------ */

#define SUBQ_TERNARY_RMSNORM 0x1u /* RMSNorm (with norm_weight when non-NULL) before quantization */

typedef struct subq_ternary_act_args {
  size_t struct_size;              /* written by subq_ternary_act_args_default */
  int64_t rows, cols;              /* tokens, K */
  uint32_t flags;                  /* SUBQ_TERNARY_RMSNORM or 0 */
  float eps;                       /* RMSNorm eps; default 1e-6 */
  subq_round rounding;             /* default SUBQ_ROUND_HALF_EVEN */
  const float *SUBQ_NULLABLE x;    int64_t x_ld;   /* (rows, cols) */
  const float *SUBQ_NULLABLE norm_weight;          /* (cols) or NULL */
  int8_t *SUBQ_NULLABLE q;         int64_t q_ld;   /* (rows, cols) out */
  int32_t *SUBQ_NULLABLE sums;     /* (rows) out: S, or NULL */
  float *SUBQ_NULLABLE scales;     /* (rows) out: a = max(amax, 1e-5), or NULL */
} subq_ternary_act_args;

/* Zeroes the first struct_size bytes, then sets struct_size and eps = 1e-6. */
SUBQ_API void subq_ternary_act_args_default(subq_ternary_act_args *p, size_t struct_size);

/* Per-token int8 quantization (and RMSNorm) of `rows` rows; the BitLinear
 * prologue on its own (tests, sharing q between projections). ld 0 = cols. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_act_quant(subq_context *SUBQ_NULLABLE ctx,
                                                            const subq_ternary_act_args *args);

/* D[t][n] = sum_k t[n][k] * q[t][k] (int32) for tokens x K int8 activations
 * in [-127, 127] (row stride q_ld >= K; -128 is an error: the sign identity
 * the kernels use needs |q| <= 127). d: tokens x N, row stride d_ld >= N
 * (0 = N). The exact integer product, for tests and custom epilogues. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ternary_matmul_i32(subq_context *SUBQ_NULLABLE ctx, const subq_ternary *w,
                                                             int64_t tokens, const int8_t *SUBQ_NULLABLE q,
                                                             int64_t q_ld, int32_t *SUBQ_NULLABLE d, int64_t d_ld);

typedef struct subq_bitlinear_args {
  size_t struct_size;              /* written by subq_bitlinear_args_default */
  int64_t tokens;
  uint32_t flags;                  /* SUBQ_TERNARY_RMSNORM or 0 */
  float eps;                       /* default 1e-6 */
  subq_round rounding;             /* default SUBQ_ROUND_HALF_EVEN */
  const float *SUBQ_NULLABLE x;    int64_t x_ld;          /* (tokens, K) */
  const float *SUBQ_NULLABLE norm_weight;                 /* (K) or NULL */
  const float *SUBQ_NULLABLE residual; int64_t residual_ld; /* (tokens, N) or NULL */
  float *SUBQ_NULLABLE out;        int64_t out_ld;        /* (tokens, N) */
} subq_bitlinear_args;

/* Zeroes the first struct_size bytes, then sets struct_size and eps = 1e-6. */
SUBQ_API void subq_bitlinear_args_default(subq_bitlinear_args *p, size_t struct_size);

/* Fused BitLinear: (RMSNorm ->) per-token int8 quantization -> ternary matmul
 * -> out = (float)D * (gamma_n * (a / 127)) (+ residual). The activations
 * are read once per token (norm and quantization run on one cache-resident
 * row); tokens == 1 runs the decode GEMV, more tokens the blocked GEMM.
 * out may equal residual (same ld); no other overlap. ld 0 = row length. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_bitlinear(subq_context *SUBQ_NULLABLE ctx, const subq_ternary *w,
                                                    const subq_bitlinear_args *args);

/* ---- MatMul-free LM token mixer (HGRN-Bit / MLGRU, spec §7.3) -------------------- */
/*
 * Per token t and channel c (i, f: the i_proj / f_proj outputs; all f32):
 *   f = sigmoid(f_raw);  if lower_bound: f = lb + (1 - lb) * f
 *   c = silu(i) * (1 - f);  s = fmaf(f, s, c)   (s: state, zero or state_in)
 *   gate == NULL: out = s
 *   gate:         out = ((g * r) * w) * silu(s), r = 1 / sqrtf(mean_c g^2 + eps)
 *                 (RMSNorm of the g_proj row, w = gate_norm_weight or 1)
 * sigmoid(x) = 1 / (1 + exp(-x)), silu(x) = x / (1 + exp(-x)) with SubQ's exp
 * (< 2 ulp). state_out (may equal state_in) receives s after the last token.
 * Prefill and the decode step (tokens == 1) run the same arithmetic per
 * element: prefill(k) then steps == prefill(k + m), bitwise. The GLU channel
 * mixer m = silu(z[:, :I]) * z[:, I:] is subq_swiglu (subq_nn.h) with
 * gate = z, up = z + I, both ld 2I.
 * Threads: the scan splits channels, the gate splits tokens: bitwise identical
 * for any thread count. Errors: NULL args / i / f / out, tokens < 0,
 * channels < 1, ld below channels, eps < 0, overlapping outputs and inputs.
 */
typedef struct subq_hgrn_args {
  size_t struct_size;              /* written by subq_hgrn_args_default */
  int64_t tokens, channels;
  const float *SUBQ_NULLABLE i;    int64_t i_ld;     /* (tokens, channels) input branch */
  const float *SUBQ_NULLABLE f;    int64_t f_ld;     /* (tokens, channels) forget pre-activation */
  const float *SUBQ_NULLABLE lower_bound;            /* (channels) or NULL */
  const float *SUBQ_NULLABLE state_in;               /* (channels) or NULL = zeros */
  float *SUBQ_NULLABLE state_out;                    /* (channels) or NULL; may equal state_in */
  const float *SUBQ_NULLABLE gate; int64_t gate_ld;  /* (tokens, channels) g_proj output or NULL */
  const float *SUBQ_NULLABLE gate_norm_weight;       /* (channels) or NULL */
  float eps;                       /* gate RMSNorm eps; default 1e-6 */
  float *SUBQ_NULLABLE out;        int64_t out_ld;   /* (tokens, channels) */
} subq_hgrn_args;

/* Zeroes the first struct_size bytes, then sets struct_size and eps = 1e-6. */
SUBQ_API void subq_hgrn_args_default(subq_hgrn_args *p, size_t struct_size);

/* HGRN recurrence over `tokens` tokens (prefill, state in and out). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_hgrn_f32(subq_context *SUBQ_NULLABLE ctx, const subq_hgrn_args *args);
/* Decode step: subq_hgrn_f32 with tokens == 1 (required) and state_out
 * non-NULL. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_hgrn_step_f32(subq_context *SUBQ_NULLABLE ctx, const subq_hgrn_args *args);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_TERNARY_H */
