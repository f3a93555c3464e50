/*
 * subq_nn.c — nn family driver: validation (sizes, strides, overlaps,
 * overflow), the RoPE frequency schedules and cos/sin tables, the ordered
 * impl list and phases over rows. Only the micro-kernels of
 * subq_nn_impls.inc are per ISA. Each row (token, element chunk) is computed
 * by one micro-kernel call whose arithmetic does not depend on the item
 * split, so results do not depend on the thread count; problems below
 * SUBQ_NN_PARALLEL_BYTES run on the calling thread (a pool kickoff costs more
 * than they do).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "families/nn/subq_nn_ukernel.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "subq/subq_nn.h"

#define SUBQ_NN_PARALLEL_BYTES (64 * 1024)
#define SUBQ_NN_CHUNK 16384 /* elements per item of the 1-D ops and of long rows */
#define SUBQ_NN_MAX_ROT_DIM 65536
#define SUBQ_ROPE_MAGIC 0x45504f52u /* "ROPE" */

typedef struct subq_nn_impl {
  subq_isa isa;
  subq_f32_nn_rmsnorm_fn rmsnorm;
  subq_f32_nn_rope_fn rope;
  subq_f32_nn_binary_fn swiglu, add;
  subq_f32_nn_unary_fn silu;
  subq_nn_to16_fn to_bf16, to_f16;
  subq_nn_from16_fn from_bf16, from_f16;
} subq_nn_impl;

static const subq_nn_impl subq_nn_impls[] = {
#define SUBQ_NN_UKERNEL(isa, sfx)                                                                               \
  {isa, subq_f32_nn_rmsnorm_ukernel__##sfx, subq_f32_nn_rope_ukernel__##sfx, subq_f32_nn_swiglu_ukernel__##sfx, \
   subq_f32_nn_add_ukernel__##sfx, subq_f32_nn_silu_ukernel__##sfx, subq_nn_cvt_f32_bf16_ukernel__##sfx,        \
   subq_nn_cvt_f32_f16_ukernel__##sfx, subq_nn_cvt_bf16_f32_ukernel__##sfx, subq_nn_cvt_f16_f32_ukernel__##sfx},
#include "families/nn/subq_nn_impls.inc"
#undef SUBQ_NN_UKERNEL
};

static const subq_nn_impl *subq_nn_pick(const subq_context *ctx) {
  return SUBQ_ISA_PICK(subq_context_isa_or_default(ctx), subq_nn_impls, subq_nn_impl);
}

/* ---- tensors and overlap -------------------------------------------------------------- */

/* rows x cols elements of esz bytes, row stride ld elements; [lo, hi) bytes. */
typedef struct subq_nn_tensor {
  uintptr_t p, lo, hi;
  int64_t rows, cols, ld;
  size_t esz;
} subq_nn_tensor;

static subq_status subq_nn_tensor_init(const char *fn, const char *name, const void *p, size_t esz, int64_t rows,
                                       int64_t cols, int64_t *ld, subq_nn_tensor *t) {
  memset(t, 0, sizeof *t);
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (*ld == 0) *ld = cols;
  if (*ld < cols)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_ld (%lld) < row length %lld", fn, name, (long long)*ld,
                      (long long)cols);
  int64_t off, bytes;
  if (!subq_mul_i64(rows - 1, *ld, &off) || !subq_add_i64(off, cols, &off) ||
      !subq_mul_i64(off, (int64_t)esz, &bytes) || (uint64_t)bytes > (uint64_t)PTRDIFF_MAX ||
      (uintptr_t)p > UINTPTR_MAX - (uintptr_t)bytes)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  t->p = t->lo = (uintptr_t)p;
  t->hi = t->lo + (uintptr_t)bytes;
  t->rows = rows, t->cols = cols, t->ld = *ld, t->esz = esz;
  return SUBQ_OK;
}

static int64_t subq_nn_floor_div(int64_t a, int64_t b) { /* b > 0 */
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Whether a and b share an element. Equal row strides and element sizes with
 * an element-aligned offset: exact (row-periodic) test; otherwise address
 * ranges. */
static bool subq_nn_overlap(const subq_nn_tensor *a, const subq_nn_tensor *b) {
  if (a->hi == a->lo || b->hi == b->lo) return false;
  if (!(a->lo < b->hi && b->lo < a->hi)) return false;
  if (a->ld != b->ld || a->esz != b->esz) return true;
  const intptr_t dbytes = (intptr_t)(b->p - a->p);
  if (dbytes % (intptr_t)a->esz != 0) return true;
  const int64_t d = (int64_t)(dbytes / (intptr_t)a->esz), ld = a->ld;
  /* b's row r' starts d + (r' - r) * ld elements after a's row r; they share
   * an element iff -(b.cols - 1) <= d + m * ld <= a.cols - 1, m = r' - r. */
  int64_t mlo = -subq_nn_floor_div(b->cols - 1 + d, ld); /* ceil((-(b.cols-1) - d) / ld) */
  int64_t mhi = subq_nn_floor_div(a->cols - 1 - d, ld);
  mlo = SUBQ_MAX(mlo, -(a->rows - 1));
  mhi = SUBQ_MIN(mhi, b->rows - 1);
  return mlo <= mhi;
}

static bool subq_nn_identical(const subq_nn_tensor *a, const subq_nn_tensor *b) {
  return a->p == b->p && a->ld == b->ld && a->esz == b->esz && a->cols == b->cols && a->rows == b->rows;
}

/* An output against an input: identical (if allowed) or disjoint. */
static subq_status subq_nn_check_pair(const char *fn, const char *out_name, const subq_nn_tensor *out,
                                      const char *in_name, const subq_nn_tensor *in, bool allow_identical) {
  if (allow_identical && subq_nn_identical(out, in)) return SUBQ_OK;
  if (subq_nn_overlap(out, in))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s%s", fn, out_name, in_name,
                      allow_identical ? " (only an identical pointer and stride is allowed)" : "");
  return SUBQ_OK;
}

static bool subq_nn_dtype_ok(subq_dtype d) {
  return d == SUBQ_DTYPE_F32 || d == SUBQ_DTYPE_BF16 || d == SUBQ_DTYPE_F16;
}

/* ---- RMSNorm -------------------------------------------------------------------------- */

void subq_rmsnorm_args_default(subq_rmsnorm_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_rmsnorm_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.eps = 1e-6f;
  d.weight_dtype = SUBQ_DTYPE_F32;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

typedef struct subq_rms_job {
  subq_rmsnorm_args g;
  subq_f32_nn_rmsnorm_fn fn;
} subq_rms_job;

static subq_status subq_rms_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_rms_job *j = arg;
  const subq_rmsnorm_args *g = &j->g;
  for (int64_t r = begin; r < end; r++)
    j->fn(g->x + r * g->x_ld, g->residual ? g->residual + r * g->residual_ld : NULL,
          g->gate ? g->gate + r * g->gate_ld : NULL, g->sum_out ? g->sum_out + r * g->sum_ld : NULL,
          g->y + r * g->y_ld, g->cols, g->group_size, g->eps, g->weight_dtype, g->weight);
  return SUBQ_OK;
}

subq_status subq_rmsnorm(subq_context *ctx, const subq_rmsnorm_args *args) {
  static const char fn[] = "subq_rmsnorm";
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_rmsnorm_args g;
  subq_rmsnorm_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st != SUBQ_OK) return st;
  if (g.rows < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows (%lld) < 0", fn, (long long)g.rows);
  if (g.cols < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cols (%lld) < 0", fn, (long long)g.cols);
  if (!(g.eps >= 0.0f) || isinf(g.eps))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: eps (%g) is not a finite value >= 0", fn, (double)g.eps);
  if (!subq_nn_dtype_ok(g.weight_dtype))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: weight_dtype (%d) is not f32, bf16 or f16", fn,
                      (int)g.weight_dtype);
  if (g.group_size < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: group_size (%lld) < 0", fn, (long long)g.group_size);
  if (g.rows == 0) return SUBQ_OK;
  if (g.cols == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cols is 0 with %lld rows", fn, (long long)g.rows);
  if (g.group_size == 0) g.group_size = g.cols;
  if (g.cols % g.group_size != 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: group_size (%lld) does not divide cols (%lld)", fn,
                      (long long)g.group_size, (long long)g.cols);
  subq_nn_tensor tx, tr, tg, ts, ty, tw;
  memset(&tr, 0, sizeof tr), memset(&tg, 0, sizeof tg), memset(&ts, 0, sizeof ts), memset(&tw, 0, sizeof tw);
  int64_t wld = 0;
  if ((st = subq_nn_tensor_init(fn, "x", g.x, 4, g.rows, g.cols, &g.x_ld, &tx)) ||
      (st = subq_nn_tensor_init(fn, "y", g.y, 4, g.rows, g.cols, &g.y_ld, &ty)) ||
      (g.residual && (st = subq_nn_tensor_init(fn, "residual", g.residual, 4, g.rows, g.cols, &g.residual_ld, &tr))) ||
      (g.gate && (st = subq_nn_tensor_init(fn, "gate", g.gate, 4, g.rows, g.cols, &g.gate_ld, &tg))) ||
      (g.sum_out && (st = subq_nn_tensor_init(fn, "sum_out", g.sum_out, 4, g.rows, g.cols, &g.sum_ld, &ts))) ||
      (g.weight &&
       (st = subq_nn_tensor_init(fn, "weight", g.weight, subq_dtype_size(g.weight_dtype), 1, g.cols, &wld, &tw))))
    return st;
  if ((st = subq_nn_check_pair(fn, "y", &ty, "x", &tx, true)) ||
      (st = subq_nn_check_pair(fn, "y", &ty, "residual", &tr, true)) ||
      (st = subq_nn_check_pair(fn, "y", &ty, "gate", &tg, true)) ||
      (st = subq_nn_check_pair(fn, "y", &ty, "weight", &tw, false)) ||
      (st = subq_nn_check_pair(fn, "y", &ty, "sum_out", &ts, false)) ||
      (st = subq_nn_check_pair(fn, "sum_out", &ts, "x", &tx, true)) ||
      (st = subq_nn_check_pair(fn, "sum_out", &ts, "residual", &tr, true)) ||
      (st = subq_nn_check_pair(fn, "sum_out", &ts, "gate", &tg, false)) ||
      (st = subq_nn_check_pair(fn, "sum_out", &ts, "weight", &tw, false)))
    return st;
  subq_rms_job job = {g, subq_nn_pick(ctx)->rmsnorm};
  const double bytes = (double)g.rows * (double)g.cols * 4.0 * (2 + (g.residual != NULL) + (g.gate != NULL) + (g.sum_out != NULL));
  const subq_phase ph = {subq_rms_run, &job, g.rows, 0};
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1, 0);
}

/* ---- elementwise --------------------------------------------------------------------- */

typedef struct subq_ew_job {
  const float *a, *b;
  float *o;
  int64_t a_ld, b_ld, o_ld, cols, chunks;
  subq_f32_nn_binary_fn bin;
  subq_f32_nn_unary_fn un;
} subq_ew_job;

static subq_status subq_ew_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_ew_job *j = arg;
  for (int64_t it = begin; it < end; it++) {
    const int64_t r = it / j->chunks, c0 = (it % j->chunks) * SUBQ_NN_CHUNK;
    const int64_t n = SUBQ_MIN((int64_t)SUBQ_NN_CHUNK, j->cols - c0);
    if (j->bin)
      j->bin(j->a + r * j->a_ld + c0, j->b + r * j->b_ld + c0, j->o + r * j->o_ld + c0, n);
    else
      j->un(j->a + r * j->a_ld + c0, j->o + r * j->o_ld + c0, n);
  }
  return SUBQ_OK;
}

/* rows x cols of out = f(a[, b]); b NULL for unary ops. */
static subq_status subq_ew(subq_context *ctx, const char *fn, const char *an, const char *bn, const char *on,
                           bool binary, int64_t rows, int64_t cols, const float *a, int64_t a_ld, const float *b,
                           int64_t b_ld, float *o, int64_t o_ld, subq_f32_nn_binary_fn bin, subq_f32_nn_unary_fn un) {
  if (rows < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows (%lld) < 0", fn, (long long)rows);
  if (cols < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cols (%lld) < 0", fn, (long long)cols);
  if (a_ld < 0 || b_ld < 0 || o_ld < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_ld (%lld) < 0", fn, a_ld < 0 ? an : b_ld < 0 ? bn : on,
                      (long long)(a_ld < 0 ? a_ld : b_ld < 0 ? b_ld : o_ld));
  if (rows == 0 || cols == 0) return SUBQ_OK;
  subq_nn_tensor ta, tb, to;
  memset(&tb, 0, sizeof tb);
  subq_status st;
  if ((st = subq_nn_tensor_init(fn, an, a, 4, rows, cols, &a_ld, &ta)) ||
      (binary && (st = subq_nn_tensor_init(fn, bn, b, 4, rows, cols, &b_ld, &tb))) ||
      (st = subq_nn_tensor_init(fn, on, o, 4, rows, cols, &o_ld, &to)) ||
      (st = subq_nn_check_pair(fn, on, &to, an, &ta, true)) ||
      (binary && (st = subq_nn_check_pair(fn, on, &to, bn, &tb, true))))
    return st;
  subq_ew_job job = {a, b, o, a_ld, b_ld, o_ld, cols, (cols + SUBQ_NN_CHUNK - 1) / SUBQ_NN_CHUNK, bin, un};
  int64_t items;
  if (!subq_mul_i64(rows, job.chunks, &items))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows * cols overflows int64", fn);
  const double bytes = (double)rows * (double)cols * 4.0 * (binary ? 3 : 2);
  const subq_phase ph = {subq_ew_run, &job, items, 0};
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1, 0);
}

subq_status subq_swiglu(subq_context *ctx, int64_t rows, int64_t cols, const float *gate, int64_t gate_ld,
                        const float *up, int64_t up_ld, float *out, int64_t out_ld) {
  return subq_ew(ctx, "subq_swiglu", "gate", "up", "out", true, rows, cols, gate, gate_ld, up, up_ld, out, out_ld,
                 subq_nn_pick(ctx)->swiglu, NULL);
}

subq_status subq_add(subq_context *ctx, int64_t rows, int64_t cols, const float *a, int64_t a_ld, const float *b,
                     int64_t b_ld, float *out, int64_t out_ld) {
  return subq_ew(ctx, "subq_add", "a", "b", "out", true, rows, cols, a, a_ld, b, b_ld, out, out_ld,
                 subq_nn_pick(ctx)->add, NULL);
}

subq_status subq_silu(subq_context *ctx, int64_t rows, int64_t cols, const float *x, int64_t x_ld, float *y,
                      int64_t y_ld) {
  return subq_ew(ctx, "subq_silu", "x", "", "y", false, rows, cols, x, x_ld, NULL, 0, y, y_ld, NULL,
                 subq_nn_pick(ctx)->silu);
}

/* ---- conversions ------------------------------------------------------------------- */

typedef struct subq_cvt_job {
  const void *src;
  void *dst;
  int64_t n;
  size_t ssz, dsz;
  subq_nn_to16_fn to16;
  subq_nn_from16_fn from16;
} subq_cvt_job;

static subq_status subq_cvt_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_cvt_job *j = arg;
  for (int64_t it = begin; it < end; it++) {
    const int64_t i0 = it * SUBQ_NN_CHUNK, n = SUBQ_MIN((int64_t)SUBQ_NN_CHUNK, j->n - i0);
    const char *s = (const char *)j->src + (size_t)i0 * j->ssz;
    char *d = (char *)j->dst + (size_t)i0 * j->dsz;
    if (j->to16)
      j->to16((const float *)(const void *)s, (uint16_t *)(void *)d, n);
    else if (j->from16)
      j->from16((const uint16_t *)(const void *)s, (float *)(void *)d, n);
    else
      memcpy(d, s, (size_t)n * j->dsz);
  }
  return SUBQ_OK;
}

static subq_status subq_convert_named(subq_context *ctx, const char *fn, int64_t n, subq_dtype sd, const void *src,
                                      subq_dtype dd, void *dst) {
  if (n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)n);
  if (!subq_nn_dtype_ok(sd))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src_dtype (%d) is not f32, bf16 or f16", fn, (int)sd);
  if (!subq_nn_dtype_ok(dd))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst_dtype (%d) is not f32, bf16 or f16", fn, (int)dd);
  if (sd != SUBQ_DTYPE_F32 && dd != SUBQ_DTYPE_F32)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: one of src_dtype and dst_dtype must be f32", fn);
  if (n == 0) return SUBQ_OK;
  subq_nn_tensor ts, td;
  int64_t l1 = 0, l2 = 0;
  subq_status st;
  if ((st = subq_nn_tensor_init(fn, "src", src, subq_dtype_size(sd), 1, n, &l1, &ts)) ||
      (st = subq_nn_tensor_init(fn, "dst", dst, subq_dtype_size(dd), 1, n, &l2, &td)))
    return st;
  if (ts.lo < td.hi && td.lo < ts.hi) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps src", fn);
  const subq_nn_impl *im = subq_nn_pick(ctx);
  subq_cvt_job job = {src, dst, n, subq_dtype_size(sd), subq_dtype_size(dd), NULL, NULL};
  if (dd == SUBQ_DTYPE_BF16) job.to16 = im->to_bf16;
  if (dd == SUBQ_DTYPE_F16) job.to16 = im->to_f16;
  if (sd == SUBQ_DTYPE_BF16) job.from16 = im->from_bf16;
  if (sd == SUBQ_DTYPE_F16) job.from16 = im->from_f16;
  const double bytes = (double)n * (double)(job.ssz + job.dsz);
  const subq_phase ph = {subq_cvt_run, &job, (n + SUBQ_NN_CHUNK - 1) / SUBQ_NN_CHUNK, 0};
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1, 0);
}

subq_status subq_convert(subq_context *ctx, int64_t n, subq_dtype src_dtype, const void *src, subq_dtype dst_dtype,
                         void *dst) {
  return subq_convert_named(ctx, "subq_convert", n, src_dtype, src, dst_dtype, dst);
}
subq_status subq_f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
  return subq_convert_named(NULL, "subq_f32_to_f16", n, SUBQ_DTYPE_F32, src, SUBQ_DTYPE_F16, dst);
}
subq_status subq_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
  return subq_convert_named(NULL, "subq_f16_to_f32", n, SUBQ_DTYPE_F16, src, SUBQ_DTYPE_F32, dst);
}

/* ---- embedding gather ----------------------------------------------------------------- */

typedef struct subq_emb_job {
  const char *table;
  size_t esz;
  int64_t table_ld, dim, out_ld;
  const int64_t *ids;
  float *out;
  subq_nn_from16_fn from16;
} subq_emb_job;

static subq_status subq_emb_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_emb_job *j = arg;
  for (int64_t t = begin; t < end; t++) {
    const char *row = j->table + (size_t)(j->ids[t] * j->table_ld) * j->esz;
    float *o = j->out + t * j->out_ld;
    if (j->from16)
      j->from16((const uint16_t *)(const void *)row, o, j->dim);
    else
      memcpy(o, row, (size_t)j->dim * sizeof(float));
  }
  return SUBQ_OK;
}

subq_status subq_embedding(subq_context *ctx, subq_dtype table_dtype, const void *table, int64_t vocab, int64_t dim,
                           int64_t table_ld, const int64_t *ids, int64_t n_ids, float *out, int64_t out_ld) {
  static const char fn[] = "subq_embedding";
  if (!subq_nn_dtype_ok(table_dtype))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: table_dtype (%d) is not f32, bf16 or f16", fn, (int)table_dtype);
  if (vocab < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: vocab (%lld) < 0", fn, (long long)vocab);
  if (dim < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dim (%lld) < 0", fn, (long long)dim);
  if (n_ids < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n_ids (%lld) < 0", fn, (long long)n_ids);
  if (table_ld < 0 || out_ld < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s (%lld) < 0", fn, table_ld < 0 ? "table_ld" : "out_ld",
                      (long long)(table_ld < 0 ? table_ld : out_ld));
  if (n_ids == 0) return SUBQ_OK;
  /* the ids are checked even when dim == 0 (nothing gathered) */
  if (!ids) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ids is NULL", fn);
  if (vocab == 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: vocab is 0 with %lld ids", fn, (long long)n_ids);
  subq_nn_tensor tt, ti, to;
  int64_t ild = 0;
  subq_status st;
  if ((st = subq_nn_tensor_init(fn, "ids", ids, sizeof(int64_t), 1, n_ids, &ild, &ti))) return st;
  for (int64_t t = 0; t < n_ids; t++)
    if (ids[t] < 0 || ids[t] >= vocab)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ids[%lld] (%lld) is outside [0, %lld)", fn, (long long)t,
                        (long long)ids[t], (long long)vocab);
  if (dim == 0) return SUBQ_OK;
  const size_t esz = subq_dtype_size(table_dtype);
  if ((st = subq_nn_tensor_init(fn, "table", table, esz, vocab, dim, &table_ld, &tt)) ||
      (st = subq_nn_tensor_init(fn, "out", out, 4, n_ids, dim, &out_ld, &to)) ||
      (st = subq_nn_check_pair(fn, "out", &to, "table", &tt, false)) ||
      (st = subq_nn_check_pair(fn, "out", &to, "ids", &ti, false)))
    return st;
  const subq_nn_impl *im = subq_nn_pick(ctx);
  subq_emb_job job = {table, esz, table_ld, dim, out_ld, ids, out, NULL};
  if (table_dtype == SUBQ_DTYPE_BF16) job.from16 = im->from_bf16;
  if (table_dtype == SUBQ_DTYPE_F16) job.from16 = im->from_f16;
  const double bytes = (double)n_ids * (double)dim * (double)(esz + 4);
  const subq_phase ph = {subq_emb_run, &job, n_ids, 0};
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1, 0);
}

/* ---- RoPE ------------------------------------------------------------------------------ */

struct subq_rope_table {
  uint32_t magic;
  subq_rope_params p;
  int64_t half;
  float scale;     /* (float)attention_scaling */
  float *inv_freq; /* half */
  float *cache;    /* cached_positions rows of [cos (half) | sin (half)] */
};

void subq_rope_params_default(subq_rope_params *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_rope_params d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.theta = 10000.0;
  d.type = SUBQ_ROPE_DEFAULT;
  d.factor = 1.0;
  d.low_freq_factor = 1.0;
  d.high_freq_factor = 4.0;
  d.original_max_position_embeddings = 8192.0;
  d.attention_scaling = 1.0;
  d.beta_fast = 32.0;
  d.beta_slow = 1.0;
  d.yarn_truncate = 1;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

static bool subq_nn_pos_finite(double v) { return isfinite(v) && v > 0.0; }

/* HF find_correction_dim, in double with Python's operation order:
 * (dim * log(L0 / (beta * 2 * pi))) / (2 * log(base)). */
static double subq_rope_yarn_correction_dim(const subq_rope_params *g, double beta) {
  const double pi = 3.14159265358979323846;
  return ((double)g->rot_dim * log(g->original_max_position_embeddings / (beta * 2.0 * pi))) / (2.0 * log(g->theta));
}

static double subq_rope_yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

double subq_rope_yarn_attention_factor(double factor, double mscale, double mscale_all_dim) {
  if (!subq_nn_pos_finite(factor) || !isfinite(mscale) || !isfinite(mscale_all_dim)) return NAN;
  if (mscale != 0.0 && mscale_all_dim != 0.0)
    return subq_rope_yarn_mscale(factor, mscale) / subq_rope_yarn_mscale(factor, mscale_all_dim);
  return subq_rope_yarn_mscale(factor, 1.0);
}

/* HF's grown NTK base for a tensor seq_len: every step a float32 torch op. */
static float subq_rope_dynamic_base(const subq_rope_params *g) {
  const double L = g->original_max_position_embeddings;
  if ((double)g->dynamic_seq_len <= L) return (float)g->theta;
  const float b = (float)g->factor * (float)g->dynamic_seq_len / (float)L - (float)(g->factor - 1.0);
  const double d = (double)g->rot_dim;
  return (float)g->theta * (float)pow((double)b, d / (d - 2.0)); /* torch keeps the scalar exponent double */
}

static subq_status subq_rope_read_params(const char *fn, const subq_rope_params *in, subq_rope_params *g) {
  if (!in) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: params is NULL", fn);
  subq_rope_params_default(g, sizeof *g);
  /* min_size: the 0.1 layout (through cached_positions); later fields keep their defaults. */
  subq_status st = subq_read_struct(g, sizeof *g, in, in->struct_size, offsetof(subq_rope_params, beta_fast), fn);
  if (st != SUBQ_OK) return st;
  if (g->rot_dim < 2 || g->rot_dim > SUBQ_NN_MAX_ROT_DIM || g->rot_dim % 2 != 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rot_dim (%lld) is not an even number in 2..%d", fn,
                      (long long)g->rot_dim, SUBQ_NN_MAX_ROT_DIM);
  if (!subq_nn_pos_finite(g->theta))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: theta (%g) is not a finite value > 0", fn, g->theta);
  if (g->type != SUBQ_ROPE_DEFAULT && g->type != SUBQ_ROPE_LINEAR && g->type != SUBQ_ROPE_LLAMA3 &&
      g->type != SUBQ_ROPE_YARN && g->type != SUBQ_ROPE_DYNAMIC && g->type != SUBQ_ROPE_LONGROPE)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: type (%d) is not a known subq_rope_type", fn, (int)g->type);
  if (g->type != SUBQ_ROPE_DEFAULT && g->type != SUBQ_ROPE_LONGROPE && !subq_nn_pos_finite(g->factor))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: factor (%g) is not a finite value > 0", fn, g->factor);
  if (g->type == SUBQ_ROPE_LLAMA3) {
    if (!subq_nn_pos_finite(g->low_freq_factor))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: low_freq_factor (%g) is not a finite value > 0", fn,
                        g->low_freq_factor);
    if (!isfinite(g->high_freq_factor) || !(g->high_freq_factor > g->low_freq_factor))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: high_freq_factor (%g) is not finite and > low_freq_factor (%g)",
                        fn, g->high_freq_factor, g->low_freq_factor);
    if (!subq_nn_pos_finite(g->original_max_position_embeddings))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: original_max_position_embeddings (%g) is not a finite value > 0",
                        fn, g->original_max_position_embeddings);
  }
  if (g->type == SUBQ_ROPE_YARN) {
    if (!subq_nn_pos_finite(g->original_max_position_embeddings))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: original_max_position_embeddings (%g) is not a finite value > 0",
                        fn, g->original_max_position_embeddings);
    if (!subq_nn_pos_finite(g->beta_fast))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: beta_fast (%g) is not a finite value > 0", fn, g->beta_fast);
    if (!subq_nn_pos_finite(g->beta_slow))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: beta_slow (%g) is not a finite value > 0", fn, g->beta_slow);
    /* An infinite correction dim (L0 / (2 pi beta) overflowing or reaching 0) makes the ramp NaN
     * (HF raises in math.floor / math.log then). */
    const double cf = subq_rope_yarn_correction_dim(g, g->beta_fast), cs = subq_rope_yarn_correction_dim(g, g->beta_slow);
    if (!isfinite(cf) || !isfinite(cs))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                        "%s: beta_fast (%g) / beta_slow (%g) give no finite correction range for "
                        "original_max_position_embeddings %g", fn, g->beta_fast, g->beta_slow,
                        g->original_max_position_embeddings);
  }
  if (g->type == SUBQ_ROPE_DYNAMIC) {
    if (!subq_nn_pos_finite(g->original_max_position_embeddings))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: original_max_position_embeddings (%g) is not a finite value > 0",
                        fn, g->original_max_position_embeddings);
    if (g->rot_dim == 2) /* HF divides by dim - 2 */
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: DYNAMIC needs rot_dim > 2", fn);
    if (g->dynamic_seq_len < 0)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dynamic_seq_len (%lld) < 0", fn, (long long)g->dynamic_seq_len);
    const float base = subq_rope_dynamic_base(g);
    if (!isfinite(base) || !(base > 0.0f))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dynamic_seq_len (%lld) grows theta to %g (not finite)", fn,
                        (long long)g->dynamic_seq_len, (double)base);
  }
  if (g->type == SUBQ_ROPE_LONGROPE) {
    if (!g->longrope_factors) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: longrope_factors is NULL", fn);
    for (int64_t i = 0; i < g->rot_dim / 2; i++)
      if (!isfinite(g->longrope_factors[i]) || !(g->longrope_factors[i] > 0.0f))
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: longrope_factors[%lld] (%g) is not a finite value > 0", fn,
                          (long long)i, (double)g->longrope_factors[i]);
  }
  if (!isfinite(g->attention_scaling))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: attention_scaling (%g) is not finite", fn, g->attention_scaling);
  if (g->cached_positions < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cached_positions (%lld) < 0", fn, (long long)g->cached_positions);
  int64_t bytes;
  if (!subq_mul_i64(g->cached_positions, g->rot_dim * 4, &bytes) || bytes > ((int64_t)1 << 40))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cached_positions (%lld) makes a table above 2^40 bytes", fn,
                      (long long)g->cached_positions);
  return SUBQ_OK;
}

/* HF's float32 computation (modeling_rope_utils.py), one rounding per torch op.
 * FP contraction is off, so every product and quotient below rounds. */
static void subq_rope_compute_inv_freq(const subq_rope_params *g, float *inv) {
  const int64_t half = g->rot_dim / 2;
  const float base = g->type == SUBQ_ROPE_DYNAMIC ? subq_rope_dynamic_base(g) : (float)g->theta;
  const float dim = (float)g->rot_dim;
  for (int64_t i = 0; i < half; i++) {
    const float e = (float)(2 * i) / dim;
    const float pw = (float)pow((double)base, (double)e); /* correctly rounded f32 power (torch: <= 1 ulp) */
    inv[i] = g->type == SUBQ_ROPE_LONGROPE ? 1.0f / (g->longrope_factors[i] * pw) : 1.0f / pw;
  }
  if (g->type == SUBQ_ROPE_LINEAR) {
    const float f = (float)g->factor;
    for (int64_t i = 0; i < half; i++) inv[i] = inv[i] / f;
  } else if (g->type == SUBQ_ROPE_LLAMA3) {
    const double L0 = g->original_max_position_embeddings, lo = g->low_freq_factor, hi = g->high_freq_factor;
    const float f = (float)g->factor, low_wavelen = (float)(L0 / lo), high_wavelen = (float)(L0 / hi);
    const float two_pi = (float)(2.0 * 3.14159265358979323846), L0f = (float)L0, lof = (float)lo;
    const float span = (float)(hi - lo);
    for (int64_t i = 0; i < half; i++) {
      const float wavelen = two_pi / inv[i];
      const float base_inv = wavelen > low_wavelen ? inv[i] / f : inv[i];
      if (wavelen < high_wavelen || wavelen > low_wavelen) {
        inv[i] = base_inv;
      } else {
        const float s = (L0f / wavelen - lof) / span;
        inv[i] = (1.0f - s) * base_inv / f + s * base_inv;
      }
    }
  } else if (g->type == SUBQ_ROPE_YARN) {
    /* Correction range in double (Python floats); HF's min/max keep ints as ints, which
     * the f32 casts below treat the same. */
    double low = subq_rope_yarn_correction_dim(g, g->beta_fast), high = subq_rope_yarn_correction_dim(g, g->beta_slow);
    if (g->yarn_truncate) low = floor(low), high = ceil(high);
    if (low < 0.0) low = 0.0;
    if (high > (double)(g->rot_dim - 1)) high = (double)(g->rot_dim - 1);
    if (low == high) high += 0.001;
    const float f = (float)g->factor, lowf = (float)low, span = (float)(high - low);
    for (int64_t i = 0; i < half; i++) {
      const float pw = (float)pow((double)base, (double)((float)(2 * i) / dim)); /* as above */
      const float extrap = 1.0f / pw, interp = 1.0f / (f * pw);
      float ramp = ((float)i - lowf) / span;
      ramp = ramp < 0.0f ? 0.0f : (ramp > 1.0f ? 1.0f : ramp);
      const float ef = 1.0f - ramp;
      inv[i] = interp * (1.0f - ef) + extrap * ef;
    }
  }
}

subq_status subq_rope_inv_freq(const subq_rope_params *p, float *inv_freq) {
  static const char fn[] = "subq_rope_inv_freq";
  subq_rope_params g;
  subq_status st = subq_rope_read_params(fn, p, &g);
  if (st != SUBQ_OK) return st;
  if (!inv_freq) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: inv_freq is NULL", fn);
  subq_rope_compute_inv_freq(&g, inv_freq);
  return SUBQ_OK;
}

/* cos/sin at one position: the f32 angle HF forms ((float)pos * inv_freq),
 * then cos/sin of that angle rounded once from double, times the scaling. */
static void subq_rope_cos_sin_row(const subq_rope_table *t, int64_t pos, float *c, float *s) {
  const float fp = (float)pos;
  for (int64_t i = 0; i < t->half; i++) {
    const float a = fp * t->inv_freq[i];
    c[i] = (float)cos((double)a) * t->scale;
    s[i] = (float)sin((double)a) * t->scale;
  }
}

static subq_status subq_rope_fill_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  subq_rope_table *t = arg;
  for (int64_t pos = begin; pos < end; pos++) {
    float *row = t->cache + pos * 2 * t->half;
    subq_rope_cos_sin_row(t, pos, row, row + t->half);
  }
  return SUBQ_OK;
}

void subq_rope_table_destroy(subq_rope_table *t) {
  if (!t) return;
  t->magic = 0;
  subq_free(t->cache);
  subq_free(t->inv_freq);
  free(t);
}

subq_status subq_rope_table_create(subq_context *ctx, const subq_rope_params *p, subq_rope_table **out) {
  static const char fn[] = "subq_rope_table_create";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  subq_rope_params g;
  subq_status st = subq_rope_read_params(fn, p, &g);
  if (st != SUBQ_OK) return st;
  subq_rope_table *t = calloc(1, sizeof *t);
  if (!t) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the table", fn);
  t->magic = SUBQ_ROPE_MAGIC;
  t->p = g;
  t->p.longrope_factors = NULL; /* not retained */
  t->half = g.rot_dim / 2;
  t->scale = (float)g.attention_scaling;
  t->inv_freq = subq_alloc((size_t)t->half * sizeof(float));
  if (g.cached_positions > 0) t->cache = subq_alloc((size_t)g.cached_positions * (size_t)g.rot_dim * sizeof(float));
  if (!t->inv_freq || (g.cached_positions > 0 && !t->cache)) {
    subq_rope_table_destroy(t);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld cached positions", fn,
                      (long long)g.cached_positions);
  }
  subq_rope_compute_inv_freq(&g, t->inv_freq);
  if (g.cached_positions > 0) {
    /* ~20 ns per cos/sin pair: worth threads beyond a few thousand pairs */
    const double cost = (double)g.cached_positions * (double)t->half * 64.0;
    const subq_phase ph = {subq_rope_fill_run, t, g.cached_positions, 0};
    st = subq_parallel_run(subq_ctx_for_work(ctx, cost, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1, 0);
    if (st != SUBQ_OK) {
      subq_rope_table_destroy(t);
      return st;
    }
  }
  *out = t;
  return SUBQ_OK;
}

int64_t subq_rope_table_rot_dim(const subq_rope_table *t) { return t && t->magic == SUBQ_ROPE_MAGIC ? t->p.rot_dim : 0; }

subq_status subq_rope_table_cos_sin(const subq_rope_table *t, int64_t position, float *cos_out, float *sin_out) {
  static const char fn[] = "subq_rope_table_cos_sin";
  if (!t || t->magic != SUBQ_ROPE_MAGIC)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: table is NULL or not a subq_rope_table", fn);
  if (!cos_out || !sin_out)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, cos_out ? "sin_out" : "cos_out");
  if (position < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: position (%lld) < 0", fn, (long long)position);
  if (position < t->p.cached_positions) {
    const float *row = t->cache + position * 2 * t->half;
    memcpy(cos_out, row, (size_t)t->half * sizeof(float));
    memcpy(sin_out, row + t->half, (size_t)t->half * sizeof(float));
  } else {
    subq_rope_cos_sin_row(t, position, cos_out, sin_out);
  }
  return SUBQ_OK;
}

void subq_rope_args_default(subq_rope_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_rope_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

typedef struct subq_rope_job {
  subq_rope_args g;
  const subq_rope_table *t;
  subq_f32_nn_rope_fn rope;
} subq_rope_job;

static subq_status subq_rope_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_rope_job *j = arg;
  const subq_rope_args *g = &j->g;
  const int64_t half = j->t->half;
  float *buf = info->scratch; /* 2 * half floats (cos | sin) for positions beyond the cache */
  for (int64_t tok = begin; tok < end; tok++) {
    const int64_t pos = g->positions[tok];
    const float *c, *s;
    if (pos < j->t->p.cached_positions) {
      c = j->t->cache + pos * 2 * half;
    } else {
      subq_rope_cos_sin_row(j->t, pos, buf, buf + half);
      c = buf;
    }
    s = c + half;
    if (g->q_heads) j->rope(g->q + tok * g->q_token_stride, g->q_heads, g->q_head_stride, half, c, s);
    if (g->k_heads) j->rope(g->k + tok * g->k_token_stride, g->k_heads, g->k_head_stride, half, c, s);
  }
  return SUBQ_OK;
}

/* Validates one of q / k: strides defaulted, the per-token span as a tensor. */
static subq_status subq_rope_operand(const char *fn, const char *name, const float *p, int64_t tokens, int64_t heads,
                                     int64_t D, int64_t *tstride, int64_t *hstride, subq_nn_tensor *t) {
  memset(t, 0, sizeof *t);
  if (heads < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_heads (%lld) < 0", fn, name, (long long)heads);
  if (*tstride < 0 || *hstride < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_%s_stride (%lld) < 0", fn, name,
                      *tstride < 0 ? "token" : "head", (long long)(*tstride < 0 ? *tstride : *hstride));
  if (heads == 0) return SUBQ_OK;
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL with %lld heads", fn, name, (long long)heads);
  if (*hstride == 0) *hstride = D;
  if (heads > 1 && *hstride < D)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_head_stride (%lld) < head_dim (%lld)", fn, name,
                      (long long)*hstride, (long long)D);
  int64_t span;
  if (!subq_mul_i64(heads - 1, *hstride, &span) || !subq_add_i64(span, D, &span))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  if (*tstride == 0) *tstride = span;
  if (tokens > 1 && *tstride < span)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_token_stride (%lld) < the heads' span (%lld)", fn, name,
                      (long long)*tstride, (long long)span);
  int64_t ld = *tstride;
  return subq_nn_tensor_init(fn, name, p, 4, tokens, span, &ld, t);
}

subq_status subq_rope(subq_context *ctx, const subq_rope_args *args) {
  static const char fn[] = "subq_rope";
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_rope_args g;
  subq_rope_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st != SUBQ_OK) return st;
  if (!g.table || g.table->magic != SUBQ_ROPE_MAGIC)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: table is NULL or not a subq_rope_table", fn);
  if (g.tokens < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)g.tokens);
  if (g.head_dim < g.table->p.rot_dim)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: head_dim (%lld) < the table's rot_dim (%lld)", fn,
                      (long long)g.head_dim, (long long)g.table->p.rot_dim);
  subq_nn_tensor tq, tk, tp;
  if ((st = subq_rope_operand(fn, "q", g.q, SUBQ_MAX(g.tokens, 1), g.q_heads, g.head_dim, &g.q_token_stride,
                              &g.q_head_stride, &tq)) ||
      (st = subq_rope_operand(fn, "k", g.k, SUBQ_MAX(g.tokens, 1), g.k_heads, g.head_dim, &g.k_token_stride,
                              &g.k_head_stride, &tk)))
    return st;
  if (g.tokens == 0) return SUBQ_OK;
  int64_t pld = 0;
  if ((st = subq_nn_tensor_init(fn, "positions", g.positions, sizeof(int64_t), 1, g.tokens, &pld, &tp))) return st;
  /* the positions are checked even with no heads (nothing rotated) */
  for (int64_t t = 0; t < g.tokens; t++)
    if (g.positions[t] < 0)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: positions[%lld] (%lld) < 0", fn, (long long)t,
                        (long long)g.positions[t]);
  if (g.q_heads == 0 && g.k_heads == 0) return SUBQ_OK;
  if ((st = subq_nn_check_pair(fn, "q", &tq, "k", &tk, false)) ||
      (st = subq_nn_check_pair(fn, "q", &tq, "positions", &tp, false)) ||
      (st = subq_nn_check_pair(fn, "k", &tk, "positions", &tp, false)))
    return st;
  subq_rope_job job = {g, g.table, subq_nn_pick(ctx)->rope};
  const double bytes = (double)g.tokens * (double)(g.q_heads + g.k_heads) * (double)g.table->p.rot_dim * 8.0;
  const subq_phase ph = {subq_rope_run, &job, g.tokens, 0};
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_NN_PARALLEL_BYTES), &ph, 1,
                           (size_t)g.table->p.rot_dim * sizeof(float));
}
