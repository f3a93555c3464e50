/*
 * subq_gemm.h — dense GEMM: C = alpha * A * B + beta * C.
 *
 * Matrices are described by a base pointer and two element strides, so one
 * call covers row-major, column-major, transposed views and padded rows:
 *   A is m x k, element (i, p) at a[i * a_rs + p * a_cs]
 *   B is k x n, element (p, j) at b[p * b_rs + j * b_cs]
 *   C is m x n, element (i, j) at c[i * c_rs + j * c_cs]
 * "op(A) = A^T" of BLAS is expressed by swapping A's strides: a row-major
 * K x M array used transposed has a_rs = 1, a_cs = M. subq_sgemm below is the
 * familiar row-major, transpose-flag form of the same operation.
 *
 * Types: A and B are each f32 or bf16 (uint16_t storage, the upper half of an
 * IEEE f32); C is f32; accumulation is f32. With bf16 inputs the bf16 values
 * are used exactly (converted to f32 without rounding).
 *
 * beta == 0 means C is written without being read (NaN/Inf in C do not
 * propagate), as in BLAS. alpha == 0 or k == 0 scales C by beta (A and B are
 * then not read).
 *
 * Accuracy: every element of C is one f32 FMA chain over k in increasing
 * order, cut into blocks of a few hundred k (alpha applied per block), so
 * |error| <= about (k + 8) * 2^-24 * (|alpha| sum_p |a_ip b_pj| + |beta c_ij|).
 *
 * Threads: work is split over tiles of C, never over k, so results are bitwise
 * identical for any thread count. ctx == NULL runs on the calling thread with
 * the best ISA the host supports (capped by SUBQ_MAX_ISA).
 *
 * Errors (status + subq_last_error_message naming the argument):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL args/pointers, m, n, k or batch < 0,
 *     a stride < 1 for a dimension larger than one, a batch stride < 0 (or
 *     c_bs < 1 with batch_count > 1), C strides under which two elements of C
 *     (over the whole batch) share an address (checked exactly: interleaved
 *     layouts such as C[m][batch][n] are fine), the byte range of C
 *     overlapping that of A or B, dtypes other than f32/bf16, index
 *     arithmetic that overflows int64. A, B may be NULL when k == 0;
 *   SUBQ_ERR_UNSUPPORTED — struct_size larger than this library knows with a
 *     non-zero unknown tail; SUBQ_ERR_OUT_OF_MEMORY — scratch allocation.
 * Empty problems (m == 0 or n == 0 or batch == 0) succeed and touch nothing.
 */
#ifndef SUBQ_GEMM_H
#define SUBQ_GEMM_H

#include "subq_base.h"
#include "subq_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

typedef struct subq_gemm_args {
  size_t struct_size;          /* written by subq_gemm_args_default */
  int64_t m, n, k;
  float alpha, beta;           /* defaults 1 and 0 */
  subq_dtype a_dtype;          /* SUBQ_DTYPE_F32 (default) or SUBQ_DTYPE_BF16 */
  subq_dtype b_dtype;          /* SUBQ_DTYPE_F32 (default) or SUBQ_DTYPE_BF16 */
  const void *SUBQ_NULLABLE a; int64_t a_rs, a_cs;
  const void *SUBQ_NULLABLE b; int64_t b_rs, b_cs;
  float *SUBQ_NULLABLE c;      int64_t c_rs, c_cs;
  /* Strided batch: batch_count independent products; matrix t of A starts at
   * a + t * a_bs (elements), likewise B and C. Default batch_count 1. A batch
   * stride of 0 shares that operand across the batch (not allowed for C). */
  int64_t batch_count;
  int64_t a_bs, b_bs, c_bs;
} subq_gemm_args;

/* Zeroes the first struct_size bytes of p, then sets struct_size, alpha = 1,
 * beta = 0, f32 dtypes and batch_count = 1. */
SUBQ_API void subq_gemm_args_default(subq_gemm_args *p, size_t struct_size);

/* C = alpha * A * B + beta * C (batched when batch_count > 1). See above. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_gemm(subq_context *SUBQ_NULLABLE ctx, const subq_gemm_args *args);

/* Row-major convenience, as cblas_sgemm(CblasRowMajor, ...): A is m x k
 * (k x m when trans_a) with leading dimension lda, B is k x n (n x k when
 * trans_b) with ldb, C is m x n with ldc. Same errors as subq_gemm, plus
 * lda/ldb/ldc smaller than the row length. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_sgemm(subq_context *SUBQ_NULLABLE ctx, bool trans_a, bool trans_b,
                                                int64_t m, int64_t n, int64_t k, float alpha,
                                                const float *SUBQ_NULLABLE a, int64_t lda,
                                                const float *SUBQ_NULLABLE b, int64_t ldb, float beta,
                                                float *SUBQ_NULLABLE c, int64_t ldc);

/* ---- prepacked B (weights reused across calls) ---------------------------- */
typedef struct subq_gemm_packed_b subq_gemm_packed_b;

/* Packs the k x n matrix B (element (p, j) at b[p * b_rs + j * b_cs], dtype f32
 * or bf16) into the micro-kernel layout of ctx's ISA path (or the host's best
 * when ctx is NULL). A PyTorch Linear weight W[out][in] used as y = x W^T is
 * B with k = in, n = out, b_rs = 1, b_cs = in. The copy keeps the element
 * type: bf16 B is packed as bf16 (2 bytes an element; every micro-kernel widens
 * it exactly in registers), f32 as f32. Products with a bf16 pack have the bits
 * of products with the pack of the same B widened to f32, and read half the
 * bytes (decode GEMVs over large weights are bound by those bytes).
 * The packed object is immutable and may be shared by threads and contexts
 * whose ISA path equals the one it was packed for.
 * Placement follows ctx's NUMA mode (ctx's workers do the packing, so they
 * touch the pages first): OFF/INHERIT or NULL ctx: plain memory; ISOLATE: on
 * the context's node; DISTRIBUTE: the columns each node's workers compute in
 * a one-row product (decode) on that node; MIRROR on several nodes: one copy
 * per node, each participant reading its node's copy (subq_gemm_packed_b_size
 * counts them all). Used from another context, results are the same; only
 * locality may differ.
 * Errors: as subq_gemm for the B arguments; SUBQ_ERR_OUT_OF_MEMORY; a memory
 * binding failure (SUBQ_ERR_SYSTEM). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_gemm_pack_b(subq_context *SUBQ_NULLABLE ctx, int64_t k, int64_t n,
                                                      subq_dtype b_dtype, const void *b, int64_t b_rs, int64_t b_cs,
                                                      subq_gemm_packed_b *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Frees a packed B; NULL is a no-op. */
SUBQ_API void subq_gemm_packed_b_destroy(subq_gemm_packed_b *SUBQ_NULLABLE packed);
/* Bytes held by the packed copy (every replica under MIRROR); 0 for NULL. */
SUBQ_API size_t subq_gemm_packed_b_size(const subq_gemm_packed_b *packed);
/* C = alpha * A * B + beta * C with B prepacked. args->b, b_rs, b_cs,
 * b_dtype and b_bs are ignored; args->k and args->n must equal the packed
 * shape (B is shared across a batch). Errors: as subq_gemm;
 * SUBQ_ERR_INVALID_ARGUMENT when the shape differs from the packed one or the
 * packed ISA path is not allowed by ctx. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_gemm_packed(subq_context *SUBQ_NULLABLE ctx, const subq_gemm_args *args,
                                                      const subq_gemm_packed_b *packed);

/* ---- int8 weights (weight-only quantization) -------------------------------- */
/* A linear layer's weight W [n][k] (n outputs, k inputs, as PyTorch stores
 * it) quantized once to int8 for memory-bound products (decode, LM heads):
 * 1.0625 bytes a weight instead of 2 (bf16) or 4 (f32). Activations and
 * accumulation stay f32.
 * Quantization, per row and per block of SUBQ_Q8_BLOCK = 32 columns (the last
 * block of a row padded with zeros): scale s = max |w| / 127 (f32 division)
 * rounded up to the next bf16 value (stored in 2 bytes; exact when it is one),
 * code c = round-half-even(w / s) clamped to [-127, 127] (s = 0 and codes 0
 * for an all-zero block); the weight used is fl(c * s). So |w - fl(c * s)| <=
 * s / 2 + one f32 rounding, s <= (1 + 2^-7) max |w| / 127: at most 0.4% of
 * the block's largest magnitude.
 * This changes a model's numerics: it is an opt-in, not a lossless packing.
 *
 * subq_q8_weights_create: W in f32, bf16 or f16 (uint16_t storage), row r at
 * w + r * w_rs elements (w_rs 0 means k), columns contiguous. ctx (NULL: the
 * calling thread, plain memory) quantizes on its workers and places the copy
 * by its NUMA mode, as subq_gemm_pack_b does (DISTRIBUTE: each node holds the
 * rows its workers compute; MIRROR: one copy per node). The object is
 * immutable: any number of threads and contexts may use it at once.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT — NULL out or w, n or k < 1, another
 * dtype, w_rs < k, sizes whose byte ranges overflow, a NaN or infinite weight
 * (the message names its row and column; nothing is created);
 * SUBQ_ERR_OUT_OF_MEMORY; a memory binding failure (SUBQ_ERR_SYSTEM). */
typedef struct subq_q8_weights subq_q8_weights;
#define SUBQ_Q8_BLOCK 32
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_q8_weights_create(subq_context *SUBQ_NULLABLE ctx, int64_t n, int64_t k,
                                                            subq_dtype dtype, const void *w, int64_t w_rs,
                                                            subq_q8_weights *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Frees the weights; NULL is a no-op. */
SUBQ_API void subq_q8_weights_destroy(subq_q8_weights *SUBQ_NULLABLE w);
/* Bytes held (every copy under MIRROR); 0 for NULL. */
SUBQ_API size_t subq_q8_weights_size(const subq_q8_weights *SUBQ_NULLABLE w);
/* The weights as the products use them, fl(c * s), of rows [row0, row0 +
 * rows) into dst (row i at dst + i * dst_rs floats; dst_rs 0 means k): to
 * measure the quantization error. Thread-safe. Errors: NULL w or dst (dst may
 * be NULL when rows is 0), rows outside [0, n), dst_rs < k, overflow. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_q8_weights_dequantize(const subq_q8_weights *w, int64_t row0,
                                                                int64_t rows, float *SUBQ_NULLABLE dst,
                                                                int64_t dst_rs);
/* y = x W^T: x is m x k f32 (row i at x + i * x_rs, x_rs 0 means k), y is
 * m x n f32 (row i at y + i * y_rs, y_rs 0 means n), written without being
 * read. Each y element is, in f32, per block the sum of x * c, scaled by the
 * block's s and accumulated over the blocks in order (the vector paths do
 * this per lane and add the lanes at the end), so |error| <= about
 * (k + 16) * 2^-24 * sum_p |x_p c_p s_p| against the dequantized weights.
 * Work is split over blocks of W's rows, never over k: bitwise identical
 * results for any thread count; the ISA path may change the last bits.
 * m == 0 succeeds and touches nothing.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT — NULL w, x or y (with m > 0), m < 0,
 * x_rs < k, y_rs < n, byte ranges that overflow, y overlapping x or the
 * weights; SUBQ_ERR_OUT_OF_MEMORY (k not a multiple of 32: x is copied into
 * zero-padded rows in ctx's workspace). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_q8_linear(subq_context *SUBQ_NULLABLE ctx, int64_t m, const float *SUBQ_NULLABLE x,
                                                    int64_t x_rs, const subq_q8_weights *w, float *SUBQ_NULLABLE y,
                                                    int64_t y_rs);

/* ---- bf16 helpers ---------------------------------------------------------- */
/* Converts n floats to bf16 with round-to-nearest-even (NaN stays NaN, quiet;
 * values past the largest bf16 round to Inf). Errors: n < 0, NULL src/dst
 * with n > 0, dst overlapping src. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_f32_to_bf16(const float *src, uint16_t *dst, int64_t n);
/* Widens n bf16 values to f32 exactly. Errors as subq_f32_to_bf16. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_bf16_to_f32(const uint16_t *src, float *dst, int64_t n);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_GEMM_H */
