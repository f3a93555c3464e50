/*
 * subq_ssm.h — Mamba kernels: causal depthwise conv1d, the Mamba-1
 * selective scan (S6), the Mamba-2 SSD scan and its grouped gated RMSNorm,
 * f32, prefill (any number of tokens, state in and out) and the
 * single-token decode step. The Mamba-2 section below has its own notes.
 *
 * Layouts (elements, not bytes; every row is contiguous):
 *   Activations are token-major: for sequence b and token t, the row of one
 *     tensor starts at p[b * bs + t * ld]; a row of u, dt, z, y, x holds the
 *     channels, a row of B and C holds n_groups * d_state values (group g at
 *     columns [g * d_state, (g + 1) * d_state)). ld == 0 and bs == 0 select
 *     the packed defaults (ld = row length, bs = seqlen * ld); otherwise
 *     ld >= row length and bs >= 0 (bs is only read when batch > 1).
 *     Inputs may overlap each other (they are only read). The sequences of
 *     the output y must not overlap each other: with batch > 1, either
 *     y_bs >= (seqlen - 1) * y_ld + row length (sequences one after the
 *     other) or y_bs >= row length and y_ld >= (batch - 1) * y_bs + row
 *     length (sequences interleaved token by token, a (seqlen, batch, row)
 *     array); anything else is refused naming y_bs.
 *   conv1d weight: (channels, width) row-major = PyTorch conv1d.weight
 *     (C, 1, W) squeezed; tap width-1 multiplies the current token.
 *   Conv state: per sequence (width - 1) rows of `channels` floats, oldest
 *     first, holding the last width-1 *pre-conv* inputs (cs[b][k][c], at
 *     state + b * state_bs + k * channels + c; state_bs 0 = (width-1)*channels;
 *     with a state_out and more than one slot (n_slots, 0 = batch) state_bs
 *     must be >= (width-1)*channels, so written slots do not overlap, as h_bs
 *     of the scans; slots only read may overlap).
 *   Mamba-1 SSM state: per sequence h[cb][n][16] with cb = channel / 16 (the
 *     channel count padded to a multiple of 16), i.e. element (d, n) at
 *     h + b * h_bs + (d / 16) * 16 * d_state + n * 16 + d % 16; h_bs 0 =
 *     subq_ssm1_state_floats(channels, d_state). Padding lanes are written as
 *     zero. subq_ssm1_state_import / _export convert from / to the HF and
 *     mamba_ssm layout (batch, channels, d_state).
 *
 * Math (conv1d):  win = [state_in rows ; x rows] (zeros when state_in is
 *   NULL), y[t][c] = act(bias[c] + sum_k w[c][k] * win[t + k][c]),
 *   state_out = the last width-1 rows of win (older state rows are kept when
 *   seqlen < width-1).
 * Math (selective scan), channel d in group g = d / (channels / n_groups):
 *   dt = dt[t,d] + dt_bias[d];  dt = softplus(dt) if SUBQ_SSM1_DT_SOFTPLUS
 *   h[d,n] = exp(dt * A[d,n]) * h[d,n] + (dt * u[t,d]) * B[t,g,n]
 *   y[t,d] = sum_n C[t,g,n] * h[d,n] + Dskip[d] * u[t,d];  y *= silu(z[t,d])
 *   A is (channels, d_state) row-major, given as A or (flag SUBQ_SSM1_A_LOG)
 *   as A_log with A = -exp(A_log) computed in f32. softplus(x) =
 *   max(x, 0) + log1p(exp(-|x|)) (never overflows); silu(x) = x * sigmoid(x).
 *
 * Prefill / decode: a NULL state_in / h_in means a zero state; a NULL
 * state_out / h_out writes no state; state_out may equal state_in and h_out
 * may equal h_in (in place); any other overlap between outputs and inputs is
 * an error. Feeding each chunk's output state into the next chunk gives
 * bitwise the same y and states as one call, and a decode step
 * (seqlen 1) runs the same arithmetic as prefill, so prefill(k) followed by
 * m steps equals prefill(k + m) bitwise (for one ISA path).
 *
 * Variable length (spec §6; conv1d, Mamba-1 and Mamba-2 alike): with
 * cu_seqlens (batch + 1 int32 offsets, cu_seqlens[0] >= 0, non-decreasing)
 * sequence s is rows cu_seqlens[s] .. cu_seqlens[s+1]-1 of every activation
 * tensor (their *_bs are ignored, seqlen is ignored); state_slots (NULL =
 * identity) picks each sequence's row of the state pools (n_slots rows, 0 =
 * batch; slots in [0, n_slots), distinct when states are written);
 * has_initial_state[s] == 0 starts s from a zero state even when the pool
 * holds one. A sequence of length 0 touches nothing, its state included.
 * Nothing crosses a boundary: a packed call equals one call per sequence,
 * bitwise. Decode steps / updates take lengths <= 1.
 *
 * Accuracy (f32 everywhere, explicit FMAs): the vector exp used by the SIMD
 * paths has a measured maximum error of 0.99 ulp on [-87.3, 88.7] (tests
 * fail above 2 ulp; 0 below -87.3, no
 * denormals). The Mamba-1 decay is computed as 2^(dt * (A log2 e)) with
 * A log2(e) rounded to f32 once per call (as the reference CUDA kernel
 * does), by a 2^x of 1.18 ulp measured maximum error, 0 below 2^-126, the
 * same bits on every path; results match a float64 evaluation within
 * 1e-4 * |ref| + 1e-5 * max|ref| on the test distributions of the spec.
 *
 * Threads: work items are (sequence, block of channels), time is sequential
 * inside an item (conv1d: also blocks of tokens, each output computed from
 * the same taps in the same order wherever its window starts), so results
 * are bitwise identical for any thread count and executor. ctx == NULL runs on the calling thread with the host's best ISA.
 * Thread-safety: calls are reentrant; concurrent calls must not write the
 * same outputs or states.
 *
 * Errors (status + subq_last_error_message naming the argument):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL args or a required pointer NULL, sizes
 *     < 0 (for the scan also channels or d_state < 1 when batch * seqlen >
 *     0; a conv1d with 0 channels is a no-op), width outside
 *     1..8, d_state > 256, n_groups < 1 or not dividing channels, unknown
 *     flags, ld smaller than the row length, bs < 0, h_bs below the state
 *     floats with several slots, state_bs below (width-1)*channels with a
 *     state_out and several slots, a y_bs that lets the
 *     sequences of y overlap (see Layouts), seqlen != 1 for a step
 *     call, overlapping outputs and inputs (other than the allowed in-place
 *     states), index arithmetic that overflows int64;
 *   SUBQ_ERR_UNSUPPORTED — struct_size larger than this library knows with a
 *     non-zero unknown tail; SUBQ_ERR_OUT_OF_MEMORY — scratch allocation.
 * batch == 0 or seqlen == 0 succeeds and touches nothing (states included).
 */
#ifndef SUBQ_SSM_H
#define SUBQ_SSM_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* ---- causal depthwise conv1d ------------------------------------------------ */

#define SUBQ_CONV1D_SILU 0x1u /* y = silu(conv + bias) */

typedef struct subq_conv1d_args {
  size_t struct_size;            /* written by subq_conv1d_args_default */
  int64_t batch, seqlen, channels;
  int32_t width;                 /* 1..8, default 4 */
  uint32_t flags;                /* SUBQ_CONV1D_*; default 0 */
  const float *SUBQ_NULLABLE x;  int64_t x_ld, x_bs;   /* (seqlen, channels) per sequence */
  const float *SUBQ_NULLABLE weight;                   /* (channels, width) */
  const float *SUBQ_NULLABLE bias;                     /* (channels) or NULL */
  const float *SUBQ_NULLABLE state_in;                 /* conv state or NULL (zeros) */
  float *SUBQ_NULLABLE state_out;                      /* conv state or NULL; may equal state_in */
  int64_t state_bs;                                    /* 0 = (width - 1) * channels; >= that with state_out and > 1 slot */
  float *SUBQ_NULLABLE y;        int64_t y_ld, y_bs;   /* (seqlen, channels) per sequence */
  /* packed variable-length batches (see "Variable length" below) */
  const int32_t *SUBQ_NULLABLE cu_seqlens;             /* (batch + 1) or NULL */
  const int32_t *SUBQ_NULLABLE state_slots;            /* (batch) or NULL = identity */
  const uint8_t *SUBQ_NULLABLE has_initial_state;      /* (batch) or NULL = all 1 */
  int64_t n_slots;                                     /* rows of the state pools; 0 = batch */
} subq_conv1d_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size and width = 4. */
SUBQ_API void subq_conv1d_args_default(subq_conv1d_args *p, size_t struct_size);

/* Causal depthwise conv1d over `seqlen` tokens of `batch` sequences (prefill). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_conv1d_f32(subq_context *SUBQ_NULLABLE ctx, const subq_conv1d_args *args);

/* Decode update: as subq_conv1d_f32 with seqlen == 1 (required) and state_out
 * non-NULL (usually == state_in). Bitwise equal to the prefill arithmetic. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_conv1d_update_f32(subq_context *SUBQ_NULLABLE ctx,
                                                            const subq_conv1d_args *args);

/* ---- Mamba-1 selective scan ----------------------------------------------- */

#define SUBQ_SSM1_DT_SOFTPLUS 0x1u /* dt = softplus(dt + dt_bias) (default on) */
#define SUBQ_SSM1_A_LOG 0x2u       /* `a` holds A_log; A = -exp(A_log), recomputed
                                    * (one expf per element) on every call: for
                                    * decode steps pack it once (SUBQ_SSM1_A_PACKED) */
#define SUBQ_SSM1_A_PACKED 0x4u    /* `a` holds subq_ssm1_pack_a's output: no
                                    * per-call packing (decode steps); excludes
                                    * SUBQ_SSM1_A_LOG */
#define SUBQ_SSM1_MAX_D_STATE 256

typedef struct subq_ssm1_args {
  size_t struct_size;            /* written by subq_ssm1_args_default */
  int64_t batch, seqlen;
  int64_t channels;              /* E */
  int64_t d_state;               /* N, 1..256 */
  int64_t n_groups;              /* G, divides channels; default 1 */
  uint32_t flags;                /* SUBQ_SSM1_*; default SUBQ_SSM1_DT_SOFTPLUS */
  const float *SUBQ_NULLABLE u;  int64_t u_ld, u_bs;   /* (seqlen, channels) */
  const float *SUBQ_NULLABLE dt; int64_t dt_ld, dt_bs; /* (seqlen, channels), raw time step */
  const float *SUBQ_NULLABLE b;  int64_t b_ld, b_bs;   /* (seqlen, n_groups * d_state) */
  const float *SUBQ_NULLABLE c;  int64_t c_ld, c_bs;   /* (seqlen, n_groups * d_state) */
  const float *SUBQ_NULLABLE z;  int64_t z_ld, z_bs;   /* (seqlen, channels) gate or NULL */
  const float *SUBQ_NULLABLE a;                        /* (channels, d_state): A or A_log; or packed (A_PACKED) */
  const float *SUBQ_NULLABLE dt_bias;                  /* (channels) or NULL */
  const float *SUBQ_NULLABLE d_skip;                   /* (channels) or NULL */
  const float *SUBQ_NULLABLE h_in;                     /* SSM state or NULL (zeros) */
  float *SUBQ_NULLABLE h_out;                          /* SSM state or NULL; may equal h_in */
  int64_t h_bs;                                        /* 0 = subq_ssm1_state_floats(channels, d_state) */
  float *SUBQ_NULLABLE y;        int64_t y_ld, y_bs;   /* (seqlen, channels) */
  /* packed variable-length batches (see "Variable length" below) */
  const int32_t *SUBQ_NULLABLE cu_seqlens;             /* (batch + 1) or NULL */
  const int32_t *SUBQ_NULLABLE state_slots;            /* (batch) or NULL = identity */
  const uint8_t *SUBQ_NULLABLE has_initial_state;      /* (batch) or NULL = all 1 */
  int64_t n_slots;                                     /* rows of the state pools; 0 = batch */
} subq_ssm1_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size,
 * n_groups = 1 and flags = SUBQ_SSM1_DT_SOFTPLUS. */
SUBQ_API void subq_ssm1_args_default(subq_ssm1_args *p, size_t struct_size);

/* Mamba-1 selective scan (prefill). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm1_scan_f32(subq_context *SUBQ_NULLABLE ctx, const subq_ssm1_args *args);

/* Decode step: as subq_ssm1_scan_f32 with seqlen == 1 (required) and h_out
 * non-NULL (usually == h_in). Bitwise equal to the prefill arithmetic. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm1_step_f32(subq_context *SUBQ_NULLABLE ctx, const subq_ssm1_args *args);

/* Floats of one sequence's Mamba-1 state: ceil(channels / 16) * 16 * d_state
 * (0 when an argument is < 1 or the product overflows). */
SUBQ_API int64_t subq_ssm1_state_floats(int64_t channels, int64_t d_state);

/* Packs A once for SUBQ_SSM1_A_PACKED: dst (subq_ssm1_state_floats(channels,
 * d_state) floats, the state's layout [channels / 16][d_state][16], padding
 * lanes 0) receives A * log2(e) in f32, with A = a, or A = -exp(a) when
 * a_is_log (a = A_log, (channels, d_state) row-major). A scan or step given
 * the packed A (flag SUBQ_SSM1_A_PACKED) gives bitwise the results of one
 * given `a` itself (dst needs only float alignment), without repacking A on every call (a decode step of
 * mamba-130m's 1536 x 16 A spends about a third of its time packing).
 * Errors: NULL pointers, sizes < 1, d_state > 256, overflow, overlap. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm1_pack_a(int64_t channels, int64_t d_state, const float *a,
                                                      bool a_is_log, float *dst);

/* Converts `batch` states from the HF / mamba_ssm layout (batch, channels,
 * d_state), contiguous, into SubQ's layout (packed, h_bs = state floats),
 * padding lanes zero. Errors: NULL pointers, sizes < 0, overflow, overlap. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm1_state_import(int64_t batch, int64_t channels, int64_t d_state,
                                                            const float *src, float *dst);
/* The inverse of subq_ssm1_state_import. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm1_state_export(int64_t batch, int64_t channels, int64_t d_state,
                                                            const float *src, float *dst);

/* ---- Mamba-2 state-space duality (SSD) scan ------------------------------------- */
/*
 * Shapes per sequence: x, y (seqlen, n_heads * head_dim) with channel
 * h * head_dim + p; dt (seqlen, n_heads); B, C (seqlen, n_groups * d_state),
 * head h uses group h / (n_heads / n_groups). a, dt_bias: (n_heads); d_skip:
 * (n_heads), or (n_heads * head_dim) with SUBQ_SSM2_D_PER_CHANNEL.
 * State (spec layout, p innermost): per sequence S[h][n][p], element
 * (h, p, n) at h_in + slot * h_bs + (h * d_state + n) * head_dim + p;
 * h_bs 0 = n_heads * d_state * head_dim. subq_ssm2_state_import / _export
 * convert from / to the HF / mamba_ssm layout (batch, n_heads, head_dim,
 * d_state).
 * Math (mamba spec §3.2), per token t and head h:
 *   dt = dt[t,h] + dt_bias[h];  dt = softplus(dt) if SUBQ_SSM2_DT_SOFTPLUS;
 *   dt = min(max(dt, dt_min), dt_max);  a = exp(dt * A[h])
 *   S[h,n,p] = a * S[h,n,p] + (dt * x[t,h,p]) * B[t,g,n]
 *   y[t,h,p] = sum_n C[t,g,n] * S[h,n,p] + Dskip * x[t,h,p]
 * A is given as A or (SUBQ_SSM2_A_LOG) as A_log with A = -exp(A_log) in f32.
 * The gate silu(z) of Mamba-2 lives in the grouped RMSNorm
 * (subq_gated_rmsnorm_f32), not in the scan.
 *
 * Algorithms (`algo`): RECURRENT runs the recurrence above token by token
 * (state tile in registers, vectorised over head_dim); it is the exact path:
 * chunked prefill == one call and prefill(k) + steps == prefill(k + m),
 * bitwise. CHUNKED is the SSD block form (spec §3.3: per chunk of `chunk`
 * tokens a masked C·B^T "attention" plus inter-chunk state passing, as small
 * GEMMs, C·B^T shared by the heads of a group); it matches the recurrence
 * within 1e-3 relative (tolerance-tested), not bitwise. AUTO picks CHUNKED
 * for a sequence of >= SUBQ_SSM2_AUTO_MIN_CHUNKED_LEN tokens on a SIMD path,
 * RECURRENT otherwise (the scalar path always recurs); the choice depends on
 * the shape and ISA only, never on the thread count. Measured (AVX2, Zen 3,
 * 48 heads x P 64 x N 128, one thread, preliminary): equal at 8 tokens,
 * chunked 1.35x faster at 16, 1.5-1.6x at 32..512 (Q = 32 best; 64 and 128
 * within 5-15 %). Callers that need prefill(k) + steps == prefill(k + m)
 * bitwise ask for RECURRENT.
 *
 * Variable length: cu_seqlens, state_slots, has_initial_state and n_slots
 * as described at the top of this header (x, dt, B, C, y are the packed
 * tensors; h_in / h_out the state pools).
 *
 * Threads: items are (sequence, head) (plus (sequence, group, chunk) for the
 * C·B^T phase of CHUNKED), time is sequential inside an item: results are
 * bitwise identical for any thread count and executor.
 * Errors as for the Mamba-1 scan (NULL pointers, sizes, d_state > 256,
 * n_groups not dividing n_heads, unknown flags or algo, chunk outside
 * 0..1024, dt_min > dt_max or NaN, bad strides (y_bs letting the sequences
 * of y overlap included, see Layouts), overlapping outputs and
 * inputs, cu_seqlens decreasing or negative, slots out of range or
 * repeated, overflowing index arithmetic); SUBQ_ERR_OUT_OF_MEMORY for the
 * CHUNKED workspace.
 */
#define SUBQ_SSM2_DT_SOFTPLUS 0x1u    /* dt = softplus(dt + dt_bias) (default on) */
#define SUBQ_SSM2_A_LOG 0x2u          /* `a` holds A_log; A = -exp(A_log) */
#define SUBQ_SSM2_D_PER_CHANNEL 0x4u  /* d_skip has n_heads * head_dim entries */
#define SUBQ_SSM2_MAX_D_STATE 256
#define SUBQ_SSM2_MAX_CHUNK 1024
#define SUBQ_SSM2_AUTO_MIN_CHUNKED_LEN 16

typedef enum subq_ssm2_algo {
  SUBQ_SSM2_ALGO_AUTO = 0,
  SUBQ_SSM2_ALGO_RECURRENT = 1,
  SUBQ_SSM2_ALGO_CHUNKED = 2
} subq_ssm2_algo;

typedef struct subq_ssm2_args {
  size_t struct_size;             /* written by subq_ssm2_args_default */
  int64_t batch, seqlen;          /* seqlen ignored with cu_seqlens */
  int64_t n_heads, head_dim;      /* H, P */
  int64_t d_state;                /* N, 1..256 */
  int64_t n_groups;               /* G, divides n_heads; default 1 */
  uint32_t flags;                 /* SUBQ_SSM2_*; default SUBQ_SSM2_DT_SOFTPLUS */
  int32_t algo;                   /* subq_ssm2_algo; default AUTO */
  int64_t chunk;                  /* CHUNKED block length, 0 = default (32) */
  float dt_min, dt_max;           /* clamp after softplus; default 0, +inf */
  const float *SUBQ_NULLABLE x;  int64_t x_ld, x_bs;    /* (seqlen, H * P) */
  const float *SUBQ_NULLABLE dt; int64_t dt_ld, dt_bs;  /* (seqlen, H) raw time step */
  const float *SUBQ_NULLABLE b;  int64_t b_ld, b_bs;    /* (seqlen, G * N) */
  const float *SUBQ_NULLABLE c;  int64_t c_ld, c_bs;    /* (seqlen, G * N) */
  const float *SUBQ_NULLABLE a;                         /* (H): A or A_log */
  const float *SUBQ_NULLABLE dt_bias;                   /* (H) or NULL */
  const float *SUBQ_NULLABLE d_skip;                    /* (H), (H * P), or NULL */
  const float *SUBQ_NULLABLE h_in;                      /* state pool or NULL (zeros) */
  float *SUBQ_NULLABLE h_out;                           /* state pool or NULL; may equal h_in */
  int64_t h_bs;                                         /* 0 = H * N * P */
  float *SUBQ_NULLABLE y;        int64_t y_ld, y_bs;    /* (seqlen, H * P) */
  const int32_t *SUBQ_NULLABLE cu_seqlens;              /* (batch + 1) or NULL */
  const int32_t *SUBQ_NULLABLE state_slots;             /* (batch) or NULL = identity */
  const uint8_t *SUBQ_NULLABLE has_initial_state;       /* (batch) or NULL = all 1 */
  int64_t n_slots;                                      /* rows of the state pools; 0 = batch */
} subq_ssm2_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size,
 * n_groups = 1, flags = SUBQ_SSM2_DT_SOFTPLUS, dt_min = 0, dt_max = +inf. */
SUBQ_API void subq_ssm2_args_default(subq_ssm2_args *p, size_t struct_size);

/* Mamba-2 SSD scan (prefill), algorithm per `algo`. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm2_scan_f32(subq_context *SUBQ_NULLABLE ctx, const subq_ssm2_args *args);

/* Decode step: as subq_ssm2_scan_f32 with the RECURRENT algorithm (algo is
 * ignored), one token per sequence (seqlen == 1, or cu_seqlens lengths <= 1)
 * and h_out non-NULL (usually == h_in). Bitwise equal to the recurrent
 * prefill arithmetic. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm2_step_f32(subq_context *SUBQ_NULLABLE ctx, const subq_ssm2_args *args);

/* Floats of one sequence's Mamba-2 state: n_heads * d_state * head_dim (0
 * when an argument is < 1 or the product overflows). */
SUBQ_API int64_t subq_ssm2_state_floats(int64_t n_heads, int64_t head_dim, int64_t d_state);

/* Converts `batch` contiguous states from the HF / mamba_ssm layout (batch,
 * n_heads, head_dim, d_state) into SubQ's (batch, n_heads, d_state,
 * head_dim), and back. Errors: NULL pointers, sizes < 0, overflow, overlap. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm2_state_import(int64_t batch, int64_t n_heads, int64_t head_dim,
                                                            int64_t d_state, const float *src, float *dst);
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_ssm2_state_export(int64_t batch, int64_t n_heads, int64_t head_dim,
                                                            int64_t d_state, const float *src, float *dst);

/* ---- grouped gated RMSNorm (Mamba-2 mixer norm, spec §3.4) ----------------------- */
/*
 * Per row r of `rows` and group k of `group_size` contiguous channels
 * (width % group_size == 0; group_size 0 = width):
 *   norm_before_gate = 0 (HF MambaRMSNormGated, every released checkpoint):
 *     v = y * silu(z);  out = weight * v / sqrt(mean_k(v^2) + eps)
 *   SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE:
 *     out = weight * y / sqrt(mean_k(y^2) + eps) * silu(z)
 *   z == NULL: plain grouped RMSNorm, out = weight * y / sqrt(mean_k(y^2) + eps).
 * Statistics in f32, summed in a fixed order. weight: (width) or NULL (1).
 * out may equal y (same ld) and nothing else may overlap. Rows are the work
 * items: bitwise identical for any thread count.
 * Errors: NULL args / y / out, rows or width < 0, group_size not dividing
 * width, eps < 0 or NaN, unknown flags, ld < width, overlaps, overflow.
 */
#define SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE 0x1u

typedef struct subq_gated_rmsnorm_args {
  size_t struct_size;             /* written by subq_gated_rmsnorm_args_default */
  int64_t rows, width, group_size;
  float eps;                      /* default 1e-5 */
  uint32_t flags;                 /* SUBQ_GATED_RMSNORM_*; default 0 */
  const float *SUBQ_NULLABLE y;   int64_t y_ld;     /* (rows, width) */
  const float *SUBQ_NULLABLE z;   int64_t z_ld;     /* (rows, width) or NULL */
  const float *SUBQ_NULLABLE weight;                /* (width) or NULL */
  float *SUBQ_NULLABLE out;       int64_t out_ld;   /* (rows, width); may equal y */
} subq_gated_rmsnorm_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size and eps = 1e-5. */
SUBQ_API void subq_gated_rmsnorm_args_default(subq_gated_rmsnorm_args *p, size_t struct_size);

SUBQ_API SUBQ_WARN_UNUSED subq_status subq_gated_rmsnorm_f32(subq_context *SUBQ_NULLABLE ctx,
                                                            const subq_gated_rmsnorm_args *args);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_SSM_H */
