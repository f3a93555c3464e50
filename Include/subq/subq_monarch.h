/*
 * subq_monarch.h — Monarch structured matrices and block-diagonal linear layers.
 *
 * ---- the operator (one convention only) -------------------------------------------
 * A Monarch matrix M (m x n) is y = P2 . L . P1 . R . x with two block-diagonal
 * factors, stored exactly like contiguous PyTorch tensors (row-major):
 *   W1 ("R", applied first): k blocks of q x p, W1[i][a][e] at w1[(i*q + a)*p + e]
 *   W2 ("L", applied second): l blocks of s x r, W2[j][c][t] at w2[(j*s + c)*r + t]
 * with n = k*p (input), N = k*q = l*r (intermediate), m = l*s (output). Per token:
 *   u[i*q + a] = sum_e W1[i][a][e] x[i*p + e]          (stage 1, R)
 *   v[j*r + t] = u[t*l + j]                              (P1: u viewed r x l, transposed)
 *   z[j*s + c] = sum_t W2[j][c][t] v[j*r + t]          (stage 2, L)
 *   y[c*l + j] = z[j*s + c] (+ bias[c*l + j])            (P2: z viewed l x s, transposed)
 * This is the convention of HazyResearch/fly `blockdiag_butterfly_multiply` (its
 * bmm path and MonarchLinear: w1_bfly = W1, w2_bfly = W2, same memory), so fly /
 * Monarch-Mixer state dicts import by a plain copy. k != l, q != p, r != s are all
 * legal; P1 (r x l) and P2 (l x s) are different permutations unless the shape is
 * the square sqrt(n) case (k=q=p=l=s=r=b, n=b^2), where P1 = P2 = P is the b x b
 * transpose and M = P L P^T R as in the Monarch paper.
 * The other convention in use — fly's square `blockdiag_butterfly_project` (its own
 * factor pair n = s0*s1) and the (b1, b2) einsum variant with b2 > 1, which write
 * output (l, j, z) to (l*J + j)*b2 + z instead of (l*b2 + z)*J + j — is NOT
 * supported: factors from it give silently wrong results here (fly issue #10).
 * fly's `blockdiag_butterfly_multiply_einsum_rank` with w1 (k_f, r_f*j_f, i_f),
 * w2 (j_f, l_f, k_f*r_f) is this operator with k=k_f, q=r_f*j_f, p=i_f, l=j_f,
 * s=l_f, r=k_f*r_f. subq_monarch_project_f64 below is the projection that belongs
 * to THIS convention (round trip exact).
 *
 * The dense matrix: M[c*l + j][i*p + e] = sum_{t in T(i,j)} W2[j][c][t] W1[i][t*l+j-i*q][e]
 * with T(i,j) = { t < r : i*q <= t*l + j < (i+1)*q }; the s x p sub-block (rows
 * c*l + j, columns of block i) has rank <= |T(i,j)|.
 *
 * Block-diagonal layer (Monarch Mixer / M2-BERT BlockdiagLinear): one weight W
 * (nblocks, out_blk, in_blk); y[i*out_blk + o] = sum_e W[i][o][e] x[i*in_blk + e]
 * (+ bias). Described by kind = SUBQ_MONARCH_KIND_BLOCKDIAG and k = nblocks,
 * q = out_blk, p = in_blk (l, s, r unused).
 *
 * ---- execution ---------------------------------------------------------------------
 * Weights are packed once (subq_monarch_weights_create) into the micro-kernel
 * layout of the context's ISA path; bf16 weights are widened exactly to f32 at
 * pack time. Activations are f32, accumulation f32. Every output element is one
 * f32 FMA chain over p (stage 1) and one over r (stage 2) in increasing order,
 * with u rounded to f32 in between; work is split over (block, token tile) or
 * token tiles, never over p or r, so results are bitwise identical for any
 * thread count or executor. P1 is folded into the stage-2 operand strides, P2
 * into a final per-token pass that also adds the bias.
 * The kernel never pads (fly's MonarchLinear pads to ceil(in/nblocks));
 * subq_monarch_linear_shapes gives the padded shape for importers.
 */
#ifndef SUBQ_MONARCH_H
#define SUBQ_MONARCH_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

typedef SUBQ_ENUM(subq_monarch_kind) {
  SUBQ_MONARCH_KIND_MONARCH SUBQ_SWIFT_NAME(monarch) = 0,   /* W1 then P1, W2, P2 */
  SUBQ_MONARCH_KIND_BLOCKDIAG SUBQ_SWIFT_NAME(blockdiag) = 1 /* W1 only (k = nblocks, q = out_blk, p = in_blk) */
} subq_monarch_kind;

typedef struct subq_monarch_desc {
  size_t struct_size;          /* written by subq_monarch_desc_default */
  int64_t k, q, p;             /* W1: k blocks of q x p */
  int64_t l, s, r;             /* W2: l blocks of s x r (MONARCH only) */
  subq_dtype dtype;            /* weight dtype: SUBQ_DTYPE_F32 (default) or SUBQ_DTYPE_BF16 */
  subq_monarch_kind kind;      /* default SUBQ_MONARCH_KIND_MONARCH */
} subq_monarch_desc;

/* Zeroes the first struct_size bytes of d, then sets struct_size, dtype f32 and
 * kind MONARCH (all sizes 0: the caller fills them). */
SUBQ_API void subq_monarch_desc_default(subq_monarch_desc *d, size_t struct_size);

/* Checks a descriptor: every size > 0, k*p, k*q, l*r, l*s and the parameter
 * counts without int64 overflow, k*q == l*r (MONARCH), dtype f32/bf16, known
 * kind. Writes n (input width) and m (output width) when non-NULL.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT naming the field ("k*q (12) != l*r (10)"). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_desc_check(const subq_monarch_desc *desc,
                                                              int64_t *SUBQ_NULLABLE n, int64_t *SUBQ_NULLABLE m);

/* The block-diagonal descriptor of a layer in -> out with nblocks blocks.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT when nblocks <= 0, in or out <= 0, or
 * nblocks does not divide in or out ("in (1000) is not a multiple of nblocks (3)"). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_blockdiag_desc(int64_t in, int64_t out, int64_t nblocks,
                                                         subq_monarch_desc *desc);

/* fly MonarchLinear's shape rule for importers: in_blk = ceil(in/nblocks),
 * out_blk = ceil(out/nblocks), in_ext = nblocks*in_blk, out_ext = nblocks*out_blk;
 * k = l = nblocks, r = q; if in_ext < out_ext: W1 (nblocks, in_blk, in_blk),
 * W2 (nblocks, out_blk, in_blk); else W1 (nblocks, out_blk, in_blk), W2 (nblocks,
 * out_blk, out_blk). Callers pass x zero-padded to in_ext and read y[0..out).
 * Errors: SUBQ_ERR_INVALID_ARGUMENT for sizes <= 0 or overflow. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_linear_shapes(int64_t in, int64_t out, int64_t nblocks,
                                                                subq_monarch_desc *desc, int64_t *in_ext,
                                                                int64_t *out_ext);

/* ---- packed weights ------------------------------------------------------------------ */
typedef struct subq_monarch_weights subq_monarch_weights;

/* Packs W1 (k*q*p elements) and W2 (l*s*r elements; NULL for BLOCKDIAG) of
 * dtype desc->dtype (float or uint16_t bf16 storage, layout above) for ctx's ISA
 * path (host best under SUBQ_MAX_ISA when ctx is NULL). The source arrays are
 * not referenced afterwards. The object is immutable: share it between threads
 * and contexts whose ISA path allows the one it was packed for. The packed
 * factors are placed by ctx's NUMA mode and written by ctx's workers:
 * ISOLATE on its node, DISTRIBUTE each node's blocks (the one-token work split)
 * on that node, MIRROR a copy per node read by that node's participants
 * (subq_monarch_weights_size counts every copy); results never change.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT (desc as subq_monarch_desc_check, NULL
 * w1/w2, out NULL); SUBQ_ERR_OUT_OF_MEMORY; a binding failure (SUBQ_ERR_SYSTEM). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_weights_create(subq_context *SUBQ_NULLABLE ctx,
                                                                 const subq_monarch_desc *desc, const void *w1,
                                                                 const void *SUBQ_NULLABLE w2,
                                                                 subq_monarch_weights *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Frees packed weights; NULL is a no-op. */
SUBQ_API void subq_monarch_weights_destroy(subq_monarch_weights *SUBQ_NULLABLE w);
/* Copies the descriptor the weights were packed with (struct_size of *desc is kept). */
SUBQ_API void subq_monarch_weights_get_desc(const subq_monarch_weights *w, subq_monarch_desc *desc);
/* Bytes held by the packed copies (every MIRROR replica, and the object). */
SUBQ_API size_t subq_monarch_weights_size(const subq_monarch_weights *w);
/* Name of the micro-kernel the weights were packed for, e.g.
 * "subq_f32_monarch_bdmm_ukernel_6x16__avx2". Static storage. */
SUBQ_API const char *subq_monarch_weights_ukernel(const subq_monarch_weights *w);

/* ---- forward --------------------------------------------------------------------------- */
typedef struct subq_monarch_args {
  size_t struct_size;          /* written by subq_monarch_args_default */
  int64_t tokens;              /* T >= 0; T == 0 succeeds and touches nothing */
  const float *SUBQ_NULLABLE x; int64_t ldx;   /* [T][n], row stride ldx >= n */
  float *SUBQ_NULLABLE y;       int64_t ldy;   /* [T][m], row stride ldy >= m */
  const float *SUBQ_NULLABLE bias;             /* [m] in output order, or NULL */
  /* Optional (a caller built against a shorter struct_size leaves it NULL):
   * the stage-1 result u (before P1) for every token, [T][N] with N = k*q, row
   * stride ldstage1 >= N, written beside y with the same bits the product uses.
   * Pass it to subq_monarch_backward (its stage1) so the backward does not
   * recompute stage 1. Must be NULL for BLOCKDIAG (there u is y). */
  float *SUBQ_NULLABLE stage1;  int64_t ldstage1;
} subq_monarch_args;

/* Zeroes the first struct_size bytes of p and sets struct_size. */
SUBQ_API void subq_monarch_args_default(subq_monarch_args *p, size_t struct_size);

/* y = M x (+ bias) for every token. Thread-safety: concurrent calls with
 * different outputs may share w; calls on one ctx are serialised. Where the
 * weights use the stage-2 lanes kernel (AVX2, l >= 8), the first call with many
 * tokens (>= 8 token tiles) also packs W2 once more for the many-token stage 2
 * and keeps that copy (l r s floats, not counted by subq_monarch_weights_size)
 * in w until it is destroyed (race-free like the backward's copy); results are
 * the same bits either way.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT — NULL w/args/x/y (T > 0), T < 0, ldx < n,
 * ldy < m, index arithmetic overflowing int64, y overlapping x or bias, w packed
 * for an ISA path ctx does not allow, stage1 for BLOCKDIAG, ldstage1 < N, stage1
 * overlapping x, y or bias; SUBQ_ERR_UNSUPPORTED — unknown non-zero
 * struct tail; SUBQ_ERR_OUT_OF_MEMORY — workspace. Nothing is written on error. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_forward(subq_context *SUBQ_NULLABLE ctx,
                                                          const subq_monarch_weights *w,
                                                          const subq_monarch_args *args);

/* ---- backward -------------------------------------------------------------------------- */
typedef struct subq_monarch_backward_args {
  size_t struct_size;          /* written by subq_monarch_backward_args_default */
  int64_t tokens;              /* T >= 0 */
  const float *SUBQ_NULLABLE x;      int64_t ldx;   /* forward input [T][n] (needed for grad_w1, grad_w2) */
  const float *SUBQ_NULLABLE grad_y; int64_t ldgy;  /* dL/dy [T][m] */
  float *SUBQ_NULLABLE grad_x;       int64_t ldgx;  /* dL/dx [T][n], or NULL */
  float *SUBQ_NULLABLE grad_w1;      /* dL/dW1 [k][q][p] (f32 whatever the weight dtype), or NULL */
  float *SUBQ_NULLABLE grad_w2;      /* dL/dW2 [l][s][r], or NULL (must be NULL for BLOCKDIAG) */
  float *SUBQ_NULLABLE grad_bias;    /* dL/dbias [m] = sum over tokens of grad_y, or NULL */
  /* Optional (a shorter struct_size leaves it NULL): the forward's
   * stage-1 result for these tokens, [T][N] (N = k*q), row stride ldstage1 >= N,
   * as subq_monarch_forward writes it into its args' stage1. Read only when
   * grad_w2 is asked (it is what V comes from); then stage 1 is not recomputed.
   * Must be NULL for BLOCKDIAG. Values other than the forward's give the
   * gradients of that other V (garbage in, garbage out; never out of bounds). */
  const float *SUBQ_NULLABLE stage1; int64_t ldstage1;
} subq_monarch_backward_args;

/* Zeroes the first struct_size bytes of p and sets struct_size. */
SUBQ_API void subq_monarch_backward_args_default(subq_monarch_backward_args *p, size_t struct_size);

/* Gradients of y = M x + bias (spec §7): with dZ_j[c] = g[c*l + j] (P2^T),
 * dW2[j] = dZ_j^T V_j, dV_j = dZ_j W2[j], dU[t*l + j] = dV_j[t] (P1^T),
 * dW1[i] = dU_i^T X_i, dX_i = dU_i W1[i], dbias = sum_tok g. V comes from the
 * forward's saved stage1 when given, else it is recomputed from x (stage 1 of
 * the forward, same bits, about an eighth of the time): results are identical. Each output element is one f32 FMA chain
 * (weight gradients: one chain per block of 256 tokens, blocks added in token
 * order), outputs are overwritten, so results are bitwise identical for any
 * thread count. Tokens go in chunks of 256; a chunk's intermediates (about
 * 256 (3 k q + m) floats, whatever T is) live in a workspace that ctx keeps and
 * reuses for later calls (it grows to the largest request and is freed with ctx;
 * NULL ctx: allocated per call), so repeated calls take no page faults. The first call also packs the
 * weights once more for the backward products and keeps that copy (same size as
 * the forward one) in w until it is destroyed (made race-free: concurrent first
 * calls publish one copy). Thread-safety as forward: calls on one ctx (forward or
 * backward, from any threads) are serialised, so they never share the workspace;
 * w may be used by concurrent calls on different contexts.
 * Errors: as subq_monarch_forward for each non-NULL operand (NULL x when grad_w1
 * or grad_w2 is asked, ld* smaller than the row, outputs overlapping inputs or
 * each other, stage1 included), grad_w2 or stage1 for BLOCKDIAG;
 * SUBQ_ERR_OUT_OF_MEMORY. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_backward(subq_context *SUBQ_NULLABLE ctx,
                                                           const subq_monarch_weights *w,
                                                           const subq_monarch_backward_args *args);

/* ---- dense <-> Monarch (fp64) --------------------------------------------------------- */
/* Projects the dense m x n matrix M (row-major, row stride ldm elements; complex:
 * interleaved re/im doubles, 2 per element, strides in elements) onto the Monarch
 * matrices of desc (dtype is ignored): W1 (k*q*p elements), W2 (l*s*r) minimise
 * |M - dense(W1, W2)|_F. Per (i, j) the s x p sub-block (rows c*l + j, columns
 * i*p..) gets its best rank-rho(i,j) approximation, rho = |T(i,j)| (truncated SVD,
 * balanced split sqrt(sigma) into W2 columns and W1 rows; factors are unique only
 * up to sign/phase per singular triple). Power iteration for rho = 1; else, real
 * data: right vectors from the Gram matrix's eigenvectors (Householder + QL),
 * sigma u = B v from B itself; complex data: one-sided Jacobi; all fp64, no
 * LAPACK. BLOCKDIAG copies the diagonal blocks.
 * resid_fro2 (optional) receives |M - dense(W1, W2)|_F^2, summed from the
 * per-block residuals computed directly (no cancellation). Single-threaded;
 * reentrant. Cost O(m n min(s, p)) per power step / Gram matrix / Jacobi sweep
 * (real 5632 x 2048 at 4 blocks: about 10 s of one Zen 3 core).
 * Errors: SUBQ_ERR_INVALID_ARGUMENT — desc as subq_monarch_desc_check, m != l*s,
 * n != k*p, ldm < n, NULL M/w1/w2, overflow; SUBQ_ERR_OUT_OF_MEMORY. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_project_f64(const double *M, int64_t m, int64_t n, int64_t ldm,
                                                              const subq_monarch_desc *desc, bool is_complex,
                                                              double *w1, double *SUBQ_NULLABLE w2,
                                                              double *SUBQ_NULLABLE resid_fro2);
/* The dense m x n matrix of (W1, W2) (layouts as above) into M with row stride
 * ldm >= n (elements; complex interleaved). Errors as subq_monarch_project_f64. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_monarch_to_dense_f64(const subq_monarch_desc *desc, bool is_complex,
                                                               const double *w1, const double *SUBQ_NULLABLE w2,
                                                               double *M, int64_t ldm);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_MONARCH_H */
