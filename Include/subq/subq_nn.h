/*
 * subq_nn.h — the small memory-bound layer ops between GEMMs, attention and
 * scans in Llama/Mistral/Mamba blocks: RMSNorm (optionally fused with the
 * residual add, a SiLU gate and groups), rotary position embedding (RoPE) with
 * HF's frequency schedules, SwiGLU, SiLU, elementwise add, the embedding
 * gather and dtype conversions (f32 <-> bf16, f32 <-> f16).
 *
 * Conventions shared by every function here:
 *   Activations are f32, row-major: element (r, c) of a tensor with row
 *     stride ld (in elements, ld >= cols) is p[r * ld + c]. ld == 0 selects
 *     the packed default (ld = cols).
 *   bf16 and f16 values are uint16_t bit patterns (bf16 = the upper half of
 *     an IEEE binary32; f16 = IEEE binary16).
 *   In place: an output may be *identical* to an input (same pointer and same
 *     row stride); otherwise the elements an output writes must not be
 *     elements of any input or other output. Tensors with equal row strides
 *     are checked element-exactly row by row (so interleaved views such as
 *     [gate|up] halves of one row, or the q and k parts of a fused qkv row,
 *     are accepted); tensors with different strides must not share any byte
 *     of their address ranges.
 *   ctx: NULL runs on the calling thread with the host's best ISA; otherwise
 *     ctx's ISA cap applies and problems above ~64 KiB of traffic run on its
 *     threads. Work is split by rows (tokens), each computed by one fixed
 *     sequence of operations, so results are bitwise identical for any
 *     thread count, executor or ctx == NULL with the same ISA path.
 *   Thread-safety: every call is reentrant; concurrent calls must not write
 *     the same outputs. A subq_rope_table is immutable after creation and may
 *     be shared by concurrent calls.
 *   Errors (status + subq_last_error_message naming the function and the
 *     argument): SUBQ_ERR_INVALID_ARGUMENT for NULL args or required
 *     pointers, negative sizes, strides below the row length, unknown dtypes
 *     or enum values, overlaps other than the allowed in-place forms, index
 *     arithmetic that overflows int64 (or the address space); SUBQ_ERR_UNSUPPORTED
 *     for a struct_size larger than this library knows with a non-zero unknown
 *     tail; SUBQ_ERR_OUT_OF_MEMORY when scratch cannot be allocated. A call
 *     with zero rows (tokens, elements) succeeds and touches nothing. On error
 *     no output has been written (all checks precede the work).
 *
 * Accuracy and bit-compatibility with Hugging Face transformers (fp32 models):
 *   RMSNorm, SwiGLU, SiLU and RoPE follow the operation order and rounding
 *   points of HF's PyTorch code (attention spec §8, mamba spec §11) with f32
 *   intermediates and no fused multiply-adds where HF has none; only
 *   reductions (the sum of squares) and exp differ in the last bits. The exp
 *   is subq's u2 exp (< 2 ulp, the same bits on every ISA path), so SwiGLU,
 *   SiLU, add, RoPE, the gather and the conversions give the same bits on
 *   every ISA path; RMSNorm differs across ISA paths only through the order
 *   of its f32 sum of squares.
 */
#ifndef SUBQ_NN_H
#define SUBQ_NN_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* ---- RMSNorm ------------------------------------------------------------------ */

/* For each row r and each group of group_size consecutive columns:
 *   s   = x[r] + residual[r]          (residual NULL: s = x[r]); s -> sum_out[r] if sum_out
 *   v   = s * silu(gate[r])           (gate NULL: v = s); silu(g) = g / (1 + exp(-g))
 *   ms  = (sum over the group of v^2) / group_size     (f32)
 *   inv = 1 / sqrt(ms + eps)          (f32, correctly rounded sqrt and division)
 *   y   = w * (v * inv)               (w = weight widened to f32; NULL: y = v * inv)
 * This is HF's LlamaRMSNorm / MistralRMSNorm / MambaRMSNorm for f32 inputs
 * (variance in f32, x * rsqrt(var + eps) first, then the weight), the pre-norm
 * "x = x + sublayer; h = norm(x)" pair fused (sum_out = the new residual
 * stream), and, with a gate and group_size = E / n_groups, Mamba-2's grouped
 * gated norm (MambaRMSNormGated, norm_before_gate = false).
 * sum_out may be identical to x or residual; y may be identical to x,
 * residual or gate; y and sum_out must not overlap.
 * Accuracy: the sum of squares is f32 with 8 (scalar), 16 (NEON) or 32
 * (AVX2) partial sums; the tests bound |y - y_exact| by 1.5e-6 |y_exact| +
 * 1e-7 |w| against float64 up to 4096 columns (measured max 3.2e-7 relative). */
typedef struct subq_rmsnorm_args {
  size_t struct_size;               /* written by subq_rmsnorm_args_default */
  int64_t rows, cols;               /* rows >= 0; cols >= 1 when rows > 0 */
  int64_t group_size;               /* 0 (default) = cols; otherwise >= 1 and divides cols */
  float eps;                        /* finite, >= 0; default 1e-6 (HF class default): pass the config's */
  subq_dtype weight_dtype;          /* SUBQ_DTYPE_F32 (default), _BF16 or _F16 */
  const void *SUBQ_NULLABLE weight; /* (cols) of weight_dtype, or NULL = no weight */
  const float *SUBQ_NULLABLE x;        int64_t x_ld;        /* (rows, cols), required */
  const float *SUBQ_NULLABLE residual; int64_t residual_ld; /* (rows, cols) or NULL */
  const float *SUBQ_NULLABLE gate;     int64_t gate_ld;     /* (rows, cols) or NULL */
  float *SUBQ_NULLABLE sum_out;        int64_t sum_ld;      /* (rows, cols) or NULL */
  float *SUBQ_NULLABLE y;              int64_t y_ld;        /* (rows, cols), required */
} subq_rmsnorm_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size, eps = 1e-6
 * and weight_dtype = SUBQ_DTYPE_F32. */
SUBQ_API void subq_rmsnorm_args_default(subq_rmsnorm_args *p, size_t struct_size);

/* Errors beyond the shared ones: eps negative or not finite, group_size < 0 or
 * not dividing cols, weight_dtype not F32/BF16/F16. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_rmsnorm(subq_context *SUBQ_NULLABLE ctx, const subq_rmsnorm_args *args);

/* ---- RoPE ------------------------------------------------------------------------ */

/* Frequency schedules (HF rope_type). */
typedef SUBQ_ENUM(subq_rope_type) {
  SUBQ_ROPE_DEFAULT SUBQ_SWIFT_NAME(default) = 0, /* inv_freq[i] = 1 / theta^(2i / rot_dim) */
  SUBQ_ROPE_LINEAR SUBQ_SWIFT_NAME(linear) = 1,   /* default / factor */
  SUBQ_ROPE_LLAMA3 SUBQ_SWIFT_NAME(llama3) = 2,   /* Llama 3.1 wavelength-banded scaling */
  SUBQ_ROPE_YARN SUBQ_SWIFT_NAME(yarn) = 3,       /* YaRN ramp between default and default / factor */
  SUBQ_ROPE_DYNAMIC SUBQ_SWIFT_NAME(dynamic) = 4, /* dynamic NTK: default with a base grown for dynamic_seq_len */
  SUBQ_ROPE_LONGROPE SUBQ_SWIFT_NAME(longrope) = 5 /* LongRoPE: default / longrope_factors[i] per dimension */
} subq_rope_type;

typedef struct subq_rope_params {
  size_t struct_size;            /* written by subq_rope_params_default */
  int64_t rot_dim;               /* D' = int(head_dim * partial_rotary_factor): even, 2..65536 */
  double theta;                  /* rope_theta, > 0; default 10000 */
  subq_rope_type type;           /* default SUBQ_ROPE_DEFAULT */
  double factor;                 /* LINEAR, LLAMA3, YARN: > 0 (default 1) */
  double low_freq_factor;        /* LLAMA3: default 1 */
  double high_freq_factor;       /* LLAMA3: default 4, > low_freq_factor */
  double original_max_position_embeddings; /* LLAMA3, YARN: default 8192, > 0 */
  double attention_scaling;      /* multiplies cos and sin (HF attention_scaling); default 1.
                                  * YARN does not set it: pass HF's attention_factor, or
                                  * subq_rope_yarn_attention_factor when the config infers it. */
  int64_t cached_positions;      /* cos/sin tabulated for positions [0, n) at creation
                                  * (n * rot_dim floats); later positions are computed
                                  * per call, with the same bits. Default 0. */
  /* ---- appended after the first layout (a caller's shorter struct gets the defaults) ---- */
  double beta_fast;              /* YARN: rotations bounding the extrapolated (kept) band; default 32 */
  double beta_slow;              /* YARN: rotations bounding the interpolated (divided) band; default 1 */
  int32_t yarn_truncate;         /* YARN: nonzero (default 1) rounds the correction range
                                  * outwards to whole dims (HF truncate) */
  /* ---- appended after YaRN's fields (a caller's shorter struct gets the defaults) ---- */
  int64_t dynamic_seq_len;       /* DYNAMIC: the sequence length S the NTK base is grown for
                                  * (HF seq_len); S <= original_max_position_embeddings (which
                                  * holds HF's max_position_embeddings here) gives the default
                                  * schedule. >= 0, default 0. A table is fixed to one S: callers
                                  * that follow a growing S build a new table. */
  const float *SUBQ_NULLABLE longrope_factors; /* LONGROPE: rot_dim / 2 per-dimension divisors
                                  * (HF short_factor or long_factor as float32), each finite
                                  * and > 0; required for LONGROPE, ignored otherwise. Read at
                                  * creation only (not retained). Default NULL. */
} subq_rope_params;

/* Defaults: theta 10000, DEFAULT type, factor 1, low 1, high 4, original 8192,
 * attention_scaling 1, rot_dim 0 (must be set), cached_positions 0,
 * beta_fast 32, beta_slow 1, yarn_truncate 1, dynamic_seq_len 0, longrope_factors NULL. */
SUBQ_API void subq_rope_params_default(subq_rope_params *p, size_t struct_size);

/* Writes the rot_dim / 2 inverse frequencies of p into inv_freq, computed as
 * HF computes them in float32: e = (float)(2i) / (float)rot_dim,
 * inv = 1 / (float)theta^e (the power correctly rounded to f32), then for
 * LINEAR inv / (float)factor; for LLAMA3, with f32 arithmetic in HF's order:
 * wavelen = (float)(2 pi) / inv; wavelen > L0/lo: inv / f; wavelen < L0/hi:
 * inv; otherwise s = ((float)L0 / wavelen - lo) / (hi - lo) and
 * inv = (1 - s) * inv / f + s * inv. For YARN (HF _compute_yarn_parameters),
 * with pw = (float)theta^e as above and h = rot_dim / 2:
 *   extrap = 1 / pw, interp = 1 / ((float)factor * pw)             (f32)
 *   c(b) = rot_dim * log(L0 / (b * 2 * pi)) / (2 * log(theta))      (double)
 *   low = c(beta_fast), high = c(beta_slow), floor / ceil when yarn_truncate;
 *   low = max(low, 0), high = min(high, rot_dim - 1); high += 0.001 if equal
 *   ramp = clamp((float)i - (float)low) / (float)(high - low), 0, 1)  (f32)
 *   ef = 1 - ramp; inv = interp * (1 - ef) + extrap * ef             (f32,
 * one rounding per operation), so dims below low keep the default frequency,
 * dims above high are divided by factor. For DYNAMIC (HF _compute_dynamic_ntk_parameters
 * with a tensor seq_len, so in f32), with L = original_max_position_embeddings and
 * S = max(dynamic_seq_len, L): b = (float)factor * (float)S / (float)L - (float)(factor - 1),
 * base = (float)theta * (float)pow(b, rot_dim / (rot_dim - 2.0)) (double exponent, the power
 * correctly rounded to f32),
 * then the default schedule of base; S <= L keeps theta unchanged. For LONGROPE (HF
 * _compute_longrope_parameters): inv = 1 / (longrope_factors[i] * pw) in f32.
 * Errors: NULL pointers, invalid params
 * (as subq_rope_table_create). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_rope_inv_freq(const subq_rope_params *p, float *inv_freq);

/* HF's inferred YaRN attention_factor (used when a config gives none), in
 * double: with m(s, k) = s <= 1 ? 1 : 0.1 * k * ln(s) + 1, returns
 * m(factor, mscale) / m(factor, mscale_all_dim) when both mscale and
 * mscale_all_dim are nonzero, else m(factor, 1). 0 means "not given" (HF's
 * truthiness test). Pass the result as attention_scaling. Pure; returns NaN
 * when factor is not finite and > 0 or an mscale is not finite. */
SUBQ_API double subq_rope_yarn_attention_factor(double factor, double mscale, double mscale_all_dim);

/* An immutable table of the schedule (inv_freq, attention scaling) and the
 * cached cos/sin rows. */
typedef struct subq_rope_table subq_rope_table;

/* Builds a table (on ctx's threads when cached_positions is large). Errors:
 * rot_dim odd or outside 2..65536, theta / factor / original_max_position_embeddings
 * not finite and > 0, high_freq_factor <= low_freq_factor (LLAMA3), beta_fast /
 * beta_slow not finite and > 0 (YARN; beta_fast < beta_slow is accepted, as HF
 * only warns), original_max_position_embeddings / (2 pi beta) not giving a
 * finite log (YARN), rot_dim 2 or dynamic_seq_len < 0 or a grown base that is
 * not finite (DYNAMIC), longrope_factors NULL or an entry not finite and > 0
 * (LONGROPE, naming the index), attention_scaling not finite, cached_positions < 0 or its table above 2^40
 * bytes, unknown type; SUBQ_ERR_OUT_OF_MEMORY. *out is NULL on error. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_rope_table_create(subq_context *SUBQ_NULLABLE ctx,
                                                            const subq_rope_params *p,
                                                            subq_rope_table *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* NULL is a no-op. */
SUBQ_API void subq_rope_table_destroy(subq_rope_table *SUBQ_NULLABLE table);
/* rot_dim of the table (0 for NULL). */
SUBQ_API int64_t subq_rope_table_rot_dim(const subq_rope_table *SUBQ_NULLABLE table);

/* cos and sin (rot_dim / 2 floats each) at one position, exactly the values
 * subq_rope applies: a = (float)position * inv_freq[i] rounded to f32, cos and
 * sin of that f32 angle correctly rounded (evaluated in double), times
 * attention_scaling. HF computes the same f32 angle and takes a <= 1 ulp
 * cosf/sinf. Errors: NULL pointers, position < 0. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_rope_table_cos_sin(const subq_rope_table *table, int64_t position,
                                                             float *cos_out, float *sin_out);

/* Rotates q and k in place (HF apply_rotary_pos_emb, "rotate_half" / GPT-NeoX
 * layout: dimension i pairs with i + rot_dim/2). For every token t, head h
 * and i < rot_dim / 2, with c, s = cos/sin at positions[t] and
 * x = q + t * q_token_stride + h * q_head_stride (likewise k):
 *   x'[i]             = x[i] * c[i] - x[i + rot_dim/2] * s[i]
 *   x'[i + rot_dim/2] = x[i + rot_dim/2] * c[i] + x[i] * s[i]
 * (f32 products rounded, then the sum: HF's q * cos + rotate_half(q) * sin);
 * dimensions rot_dim..head_dim-1 are left unchanged (partial rotary).
 * q or k may be NULL with 0 heads. Strides are in elements; a head's
 * head_dim values are contiguous. q and k must not share elements (a fused
 * qkv row with q and k parts side by side is fine). */
typedef struct subq_rope_args {
  size_t struct_size;                   /* written by subq_rope_args_default */
  int64_t tokens;                       /* >= 0 */
  int64_t head_dim;                     /* >= rot_dim of the table */
  const subq_rope_table *SUBQ_NULLABLE table;   /* required */
  const int64_t *SUBQ_NULLABLE positions;       /* (tokens), each >= 0; required when tokens > 0 */
  float *SUBQ_NULLABLE q; int64_t q_heads, q_token_stride, q_head_stride; /* strides 0 = packed */
  float *SUBQ_NULLABLE k; int64_t k_heads, k_token_stride, k_head_stride; /* strides 0 = packed */
} subq_rope_args;

/* Zeroes the first struct_size bytes of p and sets struct_size (strides 0 =
 * packed: head stride head_dim; token stride the heads' span
 * (heads - 1) * head_stride + head_dim, which is heads * head_dim when the
 * head stride is packed too). */
SUBQ_API void subq_rope_args_default(subq_rope_args *p, size_t struct_size);

/* Errors beyond the shared ones: table NULL, head_dim < rot_dim, heads < 0,
 * a head stride below head_dim or a token stride below the heads' span
 * ((heads - 1) * head_stride + head_dim) when heads > 1, a negative position
 * (naming its index and value), q and k sharing elements. positions are
 * checked whenever tokens > 0, also with no heads (nothing rotated). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_rope(subq_context *SUBQ_NULLABLE ctx, const subq_rope_args *args);

/* ---- elementwise ------------------------------------------------------------------ */

/* out = silu(gate) * up with silu(g) = g / (1 + exp(-g)) (HF's
 * act_fn(gate_proj(x)) * up_proj(x), PyTorch's f32 SiLU form; never NaN for
 * finite g). rows x cols, each with its row stride; for one fused [gate | up]
 * GEMM output of width 2 * cols pass gate = p, up = p + cols, both ld 2 * cols.
 * out may be identical to gate or up. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_swiglu(subq_context *SUBQ_NULLABLE ctx, int64_t rows, int64_t cols,
                                                 const float *SUBQ_NULLABLE gate, int64_t gate_ld,
                                                 const float *SUBQ_NULLABLE up, int64_t up_ld,
                                                 float *SUBQ_NULLABLE out, int64_t out_ld);

/* y = silu(x) = x / (1 + exp(-x)); y may be identical to x. For x < -88.72
 * exp(-x) overflows and the result is -0 (as in PyTorch; the exact value is
 * below 3e-37 in magnitude). Mamba blocks get their SiLUs fused into conv1d
 * and the scan gate; this is for other uses. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_silu(subq_context *SUBQ_NULLABLE ctx, int64_t rows, int64_t cols,
                                               const float *SUBQ_NULLABLE x, int64_t x_ld,
                                               float *SUBQ_NULLABLE y, int64_t y_ld);

/* out = a + b (the residual add); out may be identical to a or b. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_add(subq_context *SUBQ_NULLABLE ctx, int64_t rows, int64_t cols,
                                              const float *SUBQ_NULLABLE a, int64_t a_ld,
                                              const float *SUBQ_NULLABLE b, int64_t b_ld,
                                              float *SUBQ_NULLABLE out, int64_t out_ld);

/* ---- embedding gather ---------------------------------------------------------------- */

/* out[t] = table[ids[t]] widened to f32, for t < n_ids. table: vocab rows of
 * dim values of table_dtype (F32, BF16 or F16) with row stride table_ld
 * (0 = dim). Every id is checked before anything is written: an id outside
 * [0, vocab) is SUBQ_ERR_INVALID_ARGUMENT naming its index and value
 * ("ids[3] (50281) is outside [0, 50280)"). out must not overlap table or ids.
 * n_ids > 0 with dim == 0 gathers nothing but still checks ids (NULL, vocab 0,
 * every id in range); table and out are not used then. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_embedding(subq_context *SUBQ_NULLABLE ctx, subq_dtype table_dtype,
                                                    const void *SUBQ_NULLABLE table, int64_t vocab, int64_t dim,
                                                    int64_t table_ld, const int64_t *SUBQ_NULLABLE ids,
                                                    int64_t n_ids, float *SUBQ_NULLABLE out, int64_t out_ld);

/* ---- conversions ---------------------------------------------------------------------- */

/* Converts n values from src_dtype to dst_dtype, one of them F32 and the
 * other F32, BF16 or F16 (F32 -> F32 copies). f32 -> bf16 and f32 -> f16
 * round to nearest even; values beyond the largest finite value become Inf;
 * f16 subnormals are produced and read exactly; NaN stays NaN (quiet, sign
 * and the leading payload bits kept). bf16 -> f32 is exact (a shift, NaN
 * bits unchanged); f16 -> f32 is exact (a signalling NaN comes back quiet,
 * as F16C and FCVT do). The same bits on every ISA path (F16C on x86-64,
 * FCVT on AArch64, portable code otherwise). src and dst must not overlap. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_convert(subq_context *SUBQ_NULLABLE ctx, int64_t n, subq_dtype src_dtype,
                                                  const void *SUBQ_NULLABLE src, subq_dtype dst_dtype,
                                                  void *SUBQ_NULLABLE dst);

/* subq_convert(NULL, n, F32, src, F16, dst) and the reverse: the f16 twins of
 * subq_f32_to_bf16 / subq_bf16_to_f32 (subq_gemm.h). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_f32_to_f16(const float *src, uint16_t *dst, int64_t n);
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_f16_to_f32(const uint16_t *src, float *dst, int64_t n);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_NN_H */
