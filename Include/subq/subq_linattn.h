/*
 * subq_linattn.h — causal (and non-causal) linear attention, f32: BASED's
 * Taylor feature map, identity and elu+1 maps, the normalising denominator
 * or a per-head RMSNorm, scalar (simple GLA / RetNet) and per-key-dimension
 * (GLA) gates; chunked prefill with state in and out, the single-token
 * decode step and the non-causal form.
 *
 * Math (linear_attention spec §1), per sequence b, head h, token t:
 *   kappa(q, k) = phi_q(q) . phi_k(k)
 *   y_t = sum_{j<=t} w_{t,j} kappa(q_t, k_j) v_j       (current token included)
 *   z_t = sum_{j<=t} w_{t,j} kappa(q_t, k_j)
 *   out_t = y_t                                   normalize NONE
 *         = y_t / (z_t + eps)                     normalize DENOM
 *         = rmsnorm(y_t) * norm_weight            normalize RMSNORM (ThunderKittens-BASED
 *           flavour: no denominator, per head over dv, eps norm_eps)
 *   w_{t,j} = 1 (gate NONE) or prod_{s=j+1..t} exp(g_s) (gates, below).
 * The state continues across calls: with state_in the sums also run over every
 * token of earlier calls (S_in, s_in below), so prefill(A) then prefill(B)
 * (or decode steps) equals prefill(A + B) within f32 rounding (tests bound it
 * at 1e-5 relative RMS; it is not bitwise: chunk boundaries move).
 *
 * Feature maps (dk = dim_qk, scale = args->scale or dk^-1/2 when 0):
 *   IDENTITY  phi_q(x) = scale * x, phi_k(x) = x (fla linear_attn), D = dk.
 *   ELU1      phi(x) = elu(x) + 1 for q and k (Katharopoulos; scale is not
 *             used), D = dk.
 *   TAYLOR2   BASED / fla TaylorFeatureMap, x~ = sqrt(scale) * x,
 *             phi(x) = [1, x~_0..x~_{dk-1}, x~_i^2 / sqrt2 (i ascending),
 *             x~_i x~_j (i < j, row-major upper triangle)], D = 1 + dk + dk(dk+1)/2
 *             (153 for dk 16); kappa = 1 + s + s^2 / 2 with s = scale * q.k,
 *             value-equal to the 273-term outer-product map of the BASED repo.
 *             dk <= SUBQ_LINATTN_MAX_TAYLOR_DK.
 * subq_linattn_feature_map_f32 evaluates phi for inspection and state
 * conversion; the kernels never expand phi inside a chunk: intra-chunk
 * weights come from dk-dim dots (Taylor: 1 + s + s^2/2 elementwise).
 * IDENTITY with DENOM is accepted but unsafe (z can cross 0): the caller owns
 * that risk (no eps heuristics). Taylor kernels are >= 1/2 so z >= (t+1)/2.
 *
 * Gates (natural log, every value <= 0; a = exp(g)):
 *   SCALAR   g (b, t, h): S_t = a_t S_{t-1} + phi(k_t) v_t^T (simple GLA; a fixed
 *            g = ln(gamma_h) per head is RetNet). Any feature map.
 *   PER_KEY  g (b, t, h, dk): S_t = diag(a_t) S_{t-1} + phi(k_t) v_t^T (GLA);
 *            maps with D == dk only (IDENTITY, ELU1).
 *   The denominator state decays the same way: s_t = a_t s_{t-1} + phi(k_t).
 *   Kernels form exp of non-positive numbers only, except per-key factors
 *   inside a 16-token block whose log decay spans at most 30 (e^30 ~ 1e13;
 *   stronger blocks use exact per-pair exponents): no overflow however strong
 *   the decay. Gates need causal = 1.
 *
 * State (per sequence, f32, the spec layout): S [H][D][dv] (dv contiguous)
 * followed, with normalize DENOM only, by s [H][D]; subq_linattn_state_floats
 * gives the count. state_in NULL = zeros; state_out NULL = not written;
 * state_out may equal state_in (in place); a sequence's block starts at
 * state + b * state_bs (state_bs 0 = the count).
 *
 * Tensors: element (b, t, h, d) of q at q[b * q_bs + t * q_ss + h * q_hs + d]
 * (the head dim is contiguous), likewise k, v, out and log_gate (its d is the
 * key dim for PER_KEY, absent for SCALAR). A tensor whose three strides are
 * all 0 is taken as dense [B][T][H][*] (subq_linattn_args_dense writes the
 * same strides). Input strides may be 0 (broadcast); out's must separate rows:
 * its dimensions of extent > 1, sorted by stride, nest (each stride at least
 * the span of the smaller ones, a row spanning dv), so no two elements of out
 * share an address.
 *
 * Algorithm: per (sequence, head) item the tokens run in chunks of `chunk`
 * (default 64): intra-chunk weights as a C x C product of dk-dim rows and
 * C x C x dv GEMM, inter-chunk as Phi(Q) S and the state update Phi(K)^T V
 * (GEMMs on the ISA micro-kernel); per-key gates use 16-row sub-blocks with a
 * shared reference row for off-diagonal blocks and exact per-dimension
 * exponents on the diagonal (spec §5). Decode is one fused pass over S per
 * head (S read and written once); the (sequence, head) items are split
 * statically into contiguous ranges per participant, the same ranges every
 * step, so on a pool each head's state stays in one worker's L2 across tokens
 * (BASED-360M: 16 heads x 39 KiB). Items never depend on the thread count:
 * results are bitwise identical for any thread count and executor on one ISA
 * path.
 * BASED's gated short convolution (BaseConv) is the existing causal conv1d:
 * subq_conv1d_f32 with width 3, SUBQ_CONV1D_SILU and no bias on the first 2d
 * projected channels, multiplied by the other 2d (subq-bench linattn-hybrid).
 *
 * Thread-safety: reentrant; concurrent calls must not write the same outputs
 * or states.
 *
 * Errors (status + subq_last_error_message naming the function and argument):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL args or a required pointer NULL, batch or
 *     seqlen < 0, n_heads, dim_qk or dim_v < 1 (or above their maxima), unknown
 *     feature_map / normalize / gate, Taylor dim_qk > 32, PER_KEY with a map
 *     whose D != dk, a gate with causal == 0, a log gate > 0 or NaN, scale or
 *     eps not finite or negative, chunk not in 0..1024, strides too small or
 *     negative, decode with seqlen != 1 or without state_out, overlapping
 *     outputs and inputs (other than state_out == state_in), index arithmetic
 *     that overflows int64;
 *   SUBQ_ERR_UNSUPPORTED — struct_size larger than known with a non-zero tail.
 * batch == 0 or seqlen == 0 succeeds and touches nothing (states included).
 */
#ifndef SUBQ_LINATTN_H
#define SUBQ_LINATTN_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* Feature maps (subq_linattn_args.feature_map). */
#define SUBQ_LINATTN_FMAP_IDENTITY 0
#define SUBQ_LINATTN_FMAP_ELU1 1
#define SUBQ_LINATTN_FMAP_TAYLOR2 2
/* Output flavours (normalize). */
#define SUBQ_LINATTN_NORM_NONE 0
#define SUBQ_LINATTN_NORM_DENOM 1
#define SUBQ_LINATTN_NORM_RMSNORM 2
/* Gates (gate). */
#define SUBQ_LINATTN_GATE_NONE 0
#define SUBQ_LINATTN_GATE_SCALAR 1
#define SUBQ_LINATTN_GATE_PER_KEY 2

#define SUBQ_LINATTN_MAX_DK 256
#define SUBQ_LINATTN_MAX_DV 1024
#define SUBQ_LINATTN_MAX_TAYLOR_DK 32
#define SUBQ_LINATTN_MAX_CHUNK 1024
#define SUBQ_LINATTN_DEFAULT_CHUNK 64

typedef struct subq_linattn_args {
  size_t struct_size;             /* written by subq_linattn_args_default */
  int64_t batch, seqlen, n_heads;
  int64_t dim_qk, dim_v;          /* dk (BASED: 16), dv */
  int32_t feature_map;            /* SUBQ_LINATTN_FMAP_*; default TAYLOR2 */
  int32_t normalize;              /* SUBQ_LINATTN_NORM_*; default DENOM */
  int32_t gate;                   /* SUBQ_LINATTN_GATE_*; default NONE */
  int32_t causal;                 /* 1 (default) causal; 0 every token sees every token of the call */
  float scale;                    /* 0 (default) = dim_qk^-1/2 */
  float eps;                      /* DENOM eps, default 1e-6 */
  float norm_eps;                 /* RMSNORM eps, default 1e-5 */
  int64_t chunk;                  /* chunk length, 0 = SUBQ_LINATTN_DEFAULT_CHUNK */
  const float *SUBQ_NULLABLE q; int64_t q_bs, q_ss, q_hs;   /* (B, T, H, dk) */
  const float *SUBQ_NULLABLE k; int64_t k_bs, k_ss, k_hs;   /* (B, T, H, dk) */
  const float *SUBQ_NULLABLE v; int64_t v_bs, v_ss, v_hs;   /* (B, T, H, dv) */
  const float *SUBQ_NULLABLE log_gate; int64_t g_bs, g_ss, g_hs; /* (B, T, H) or (B, T, H, dk) */
  const float *SUBQ_NULLABLE norm_weight;                   /* (dv) or NULL (1), RMSNORM only */
  const float *SUBQ_NULLABLE state_in;                      /* or NULL (zeros) */
  float *SUBQ_NULLABLE state_out;                           /* or NULL; may equal state_in */
  int64_t state_bs;                                         /* 0 = subq_linattn_state_floats */
  float *SUBQ_NULLABLE out; int64_t o_bs, o_ss, o_hs;       /* (B, T, H, dv) */
} subq_linattn_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size,
 * feature_map = TAYLOR2, normalize = DENOM, causal = 1, eps = 1e-6,
 * norm_eps = 1e-5 (everything else 0: scale dk^-1/2, chunk 64). */
SUBQ_API void subq_linattn_args_default(subq_linattn_args *p, size_t struct_size);

/* Strides of dense [B][T][H][*] q, k, v, out and log_gate from the shape
 * fields already set in p (log_gate: H or H * dk per token by p->gate). A
 * stride whose product overflows int64 is stored as INT64_MAX (the kernels
 * then report the overflow, unless that dimension has extent 1). */
SUBQ_API void subq_linattn_args_dense(subq_linattn_args *p);

/* D of a feature map for dk (TAYLOR2: 1 + dk + dk(dk+1)/2); 0 for an unknown
 * map or dk outside its range. */
SUBQ_API int64_t subq_linattn_feature_dim(int32_t feature_map, int64_t dim_qk);

/* Floats of one sequence's state: H * D * dv (+ H * D with DENOM); 0 on
 * invalid fields or overflow. Reads the same fields as the kernels. */
SUBQ_API int64_t subq_linattn_state_floats(const subq_linattn_args *args);

/* phi of `rows` vectors of dk floats (row r at x + r * x_ld) into
 * out + r * out_ld (D floats each, out_ld >= D), as the q side (is_query = true:
 * IDENTITY multiplies by scale) or the k side. scale 0 = dk^-1/2.
 * Errors: unknown map, dk out of range, rows < 0, NULL pointers, ld too
 * small, scale negative or not finite, overlap of out and x. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_linattn_feature_map_f32(int32_t feature_map, int64_t dim_qk, float scale,
                                                                  bool is_query, int64_t rows, const float *x,
                                                                  int64_t x_ld, float *out, int64_t out_ld);

/* Prefill over `seqlen` tokens of `batch` sequences (causal chunked form, or
 * the non-causal form with causal == 0). ctx NULL runs on the calling thread
 * with the host's best ISA. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_linattn_prefill_f32(subq_context *SUBQ_NULLABLE ctx,
                                                              const subq_linattn_args *args);

/* Decode step: seqlen == 1 (required), state_out non-NULL (usually ==
 * state_in): S = a S + phi(k) v^T, s = a s + phi(k), out from the updated
 * state (the token sees itself). One fused pass over each head's S: the cost
 * does not depend on the position. Causal only. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_linattn_decode_f32(subq_context *SUBQ_NULLABLE ctx,
                                                             const subq_linattn_args *args);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_LINATTN_H */
