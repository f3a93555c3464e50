/*
 * subq_q8.c — int8-weight linear: weights quantized once per row and block of
 * 32 (absmax / 127, kept as bf16 rounded up), activations and accumulation in f32. Validation,
 * quantization, NUMA placement and the split over row blocks; only the dot
 * micro-kernel is per ISA (subq_q8_impls.inc). Items are blocks of weight rows
 * and never split k, so results do not depend on the thread count.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "families/gemm/subq_gemm_ukernel.h"
#include "families/nn/subq_nn_ukernel.h"
#include "families/q8/subq_q8_ukernel.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"
#include "internal/subq_parallel.h"
#include "internal/subq_weights.h"
#include "subq/subq_gemm.h"

typedef struct subq_q8_impl {
  subq_isa isa;
  subq_q8_dot_fn dot;
} subq_q8_impl;

static const subq_q8_impl subq_q8_impls[] = {
#define SUBQ_Q8_UKERNEL(isa, dot) {isa, dot},
#include "families/q8/subq_q8_impls.inc"
#undef SUBQ_Q8_UKERNEL
};

/* Weight rows per item (and per DISTRIBUTE placement unit): 64 rows of a
 * 4096-wide matrix are 288 KiB, so even a 32k-row head gives every one of
 * 16 participants dozens of claims. */
#define SUBQ_Q8_ITEM_ROWS 64
/* Below this many weight bytes a call runs on the calling thread. */
#define SUBQ_Q8_PARALLEL_BYTES (256.0 * 1024.0)

struct subq_q8_weights {
  int64_t n, k, kp, rb; /* rows, columns, padded columns, bytes per row */
  subq_weights_mem mem; /* copy[i]: n * rb bytes (one per node under MIRROR) */
};

/* ---- quantization ------------------------------------------------------------------ */

typedef struct subq_q8_quant_job {
  const void *w;
  subq_dtype dt;
  int64_t w_rs;
  const subq_q8_weights *q;
  /* first non-finite weight found (row * k + col), or -1; written under a race-free rule: smallest wins */
  int64_t bad;
} subq_q8_quant_job;

static inline float subq_q8_load(const void *w, subq_dtype dt, int64_t off) {
  if (dt == SUBQ_DTYPE_BF16) return subq_bf16_to_f32_1(((const uint16_t *)w)[off]);
  if (dt == SUBQ_DTYPE_F16) return subq_f16_to_f32_1(((const uint16_t *)w)[off]);
  return ((const float *)w)[off];
}

/* One row: per block of 32, s = absmax / 127 rounded up to bf16 (so |w| / s
 * stays <= 127 and the scale takes 2 bytes) and code = round-half-even(w / s)
 * (|code| <= 127); an all-zero block has s = 0 and codes 0. Returns the first
 * non-finite column, or -1. No libm call and no early exit inside a block, so
 * the compiler vectorises the division and the rounding: a head of 10^8
 * weights is quantized at every load (BitNet-2B's: 1.8 -> 0.8 s on one core). */
/* x >= 0 and finite, rounded up to the next bf16 value (exact when it is one):
 * the bits below bf16's are cleared and, if any was set, one bf16 ulp added. */
static inline float subq_q8_bf16_up(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = (u & 0xffffu) ? (u & 0xffff0000u) + 0x10000u : u;
  memcpy(&x, &u, sizeof x);
  return x;
}

static int64_t subq_q8_quant_row(const void *w, subq_dtype dt, int64_t off, int64_t k, int64_t kp, uint8_t *row) {
  int8_t *codes = (int8_t *)row;
  for (int64_t b0 = 0; b0 < kp; b0 += SUBQ_Q8_BLOCK) {
    float v[SUBQ_Q8_BLOCK], amax = 0.0f;
    const int64_t nb = SUBQ_MIN((int64_t)SUBQ_Q8_BLOCK, k - b0);
    if (dt == SUBQ_DTYPE_F32 && nb == SUBQ_Q8_BLOCK) {
      memcpy(v, (const float *)w + off + b0, sizeof v);
    } else if (dt == SUBQ_DTYPE_BF16 && nb == SUBQ_Q8_BLOCK) {
      for (int64_t j = 0; j < SUBQ_Q8_BLOCK; j++) v[j] = subq_bf16_to_f32_1(((const uint16_t *)w)[off + b0 + j]);
    } else
      for (int64_t j = 0; j < SUBQ_Q8_BLOCK; j++) v[j] = j < nb ? subq_q8_load(w, dt, off + b0 + j) : 0.0f;
    bool finite = true;
    for (int64_t j = 0; j < SUBQ_Q8_BLOCK; j++) {
      const float a = fabsf(v[j]);
      finite = finite & (a <= FLT_MAX); /* false for NaN and infinities */
      amax = a > amax ? a : amax;
    }
    if (!finite)
      for (int64_t j = 0; j < SUBQ_Q8_BLOCK; j++)
        if (!isfinite(v[j])) return b0 + j;
    const float s = subq_q8_bf16_up(amax / 127.0f);
    for (int64_t j = 0; j < SUBQ_Q8_BLOCK; j++) {
      /* round half to even by the 1.5 * 2^23 shift (exact for |x| < 2^22 in the default rounding mode, as
       * nearbyintf); |w / s| <= 127 up to rounding, and the clamp keeps a 127.0000x inside */
      float c = s > 0.0f ? (v[j] / s + 0x1.8p23f) - 0x1.8p23f : 0.0f;
      c = c > 127.0f ? 127.0f : c;
      c = c < -127.0f ? -127.0f : c;
      codes[b0 + j] = (int8_t)c;
    }
    uint32_t sb;
    memcpy(&sb, &s, sizeof sb);
    const uint16_t h = (uint16_t)(sb >> 16);
    memcpy(row + kp + b0 / SUBQ_Q8_BLOCK * (int64_t)sizeof h, &h, sizeof h);
  }
  return -1;
}

static subq_status subq_q8_quant_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  subq_q8_quant_job *j = arg;
  const subq_q8_weights *q = j->q;
  uint8_t *dst = subq_weights_copy_for(&q->mem, info);
  const int64_t r1 = SUBQ_MIN(q->n, end * SUBQ_Q8_ITEM_ROWS);
  for (int64_t r = begin * SUBQ_Q8_ITEM_ROWS; r < r1; r++) {
    const int64_t c = subq_q8_quant_row(j->w, j->dt, r * j->w_rs, q->k, q->kp, dst + r * q->rb);
    if (c >= 0) {
      int64_t at = r * q->k + c, cur = __atomic_load_n(&j->bad, __ATOMIC_RELAXED);
      while ((cur < 0 || at < cur) && !__atomic_compare_exchange_n(&j->bad, &cur, at, true, __ATOMIC_RELAXED,
                                                                    __ATOMIC_RELAXED)) {
      }
      return SUBQ_OK; /* the rest of this item is not needed: the call fails */
    }
  }
  return SUBQ_OK;
}

subq_status subq_q8_weights_create(subq_context *ctx, int64_t n, int64_t k, subq_dtype dtype, const void *w,
                                   int64_t w_rs, subq_q8_weights **out) {
  static const char fn[] = "subq_q8_weights_create";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (n < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 1", fn, (long long)n);
  if (k < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) < 1", fn, (long long)k);
  if (dtype != SUBQ_DTYPE_F32 && dtype != SUBQ_DTYPE_BF16 && dtype != SUBQ_DTYPE_F16)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dtype (%d) is not f32, bf16 or f16", fn, (int)dtype);
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (w_rs == 0) w_rs = k;
  if (w_rs < k)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w_rs (%lld) < k (%lld)", fn, (long long)w_rs, (long long)k);
  int64_t kp, rb, bytes, last, wbytes;
  if (k > INT64_MAX - SUBQ_Q8_BLOCK || !subq_mul_i64(n - 1, w_rs, &last) || !subq_add_i64(last, k, &last) ||
      !subq_mul_i64(last, (int64_t)subq_dtype_size(dtype), &wbytes) || (uint64_t)wbytes > (uint64_t)PTRDIFF_MAX ||
      (uintptr_t)w > UINTPTR_MAX - (uintptr_t)wbytes)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n, k and w_rs overflow the address range of w", fn);
  kp = (k + SUBQ_Q8_BLOCK - 1) / SUBQ_Q8_BLOCK * SUBQ_Q8_BLOCK;
  if (!subq_mul_i64(kp / SUBQ_Q8_BLOCK, (int64_t)sizeof(uint16_t), &rb) || !subq_add_i64(rb, kp, &rb) ||
      !subq_mul_i64(n, rb, &bytes) || (uint64_t)bytes > (uint64_t)PTRDIFF_MAX / 2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n x k int8 weights overflow the address range", fn);
  subq_q8_weights *q = subq_alloc(sizeof *q);
  if (!q) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  memset(q, 0, sizeof *q);
  q->n = n, q->k = k, q->kp = kp, q->rb = rb;
  subq_status st = subq_weights_alloc(ctx, fn, (size_t)bytes, (size_t)(rb * SUBQ_Q8_ITEM_ROWS), &q->mem);
  if (st != SUBQ_OK) {
    subq_free(q);
    return st;
  }
  subq_q8_quant_job job = {w, dtype, w_rs, q, -1};
  const subq_phase ph = {subq_q8_quant_run, &job, (n + SUBQ_Q8_ITEM_ROWS - 1) / SUBQ_Q8_ITEM_ROWS, 0};
  st = q->mem.n_copies > 1 ? subq_parallel_run_per_node(ctx, &ph) : subq_parallel_run(ctx, &ph, 1, 0);
  if (st == SUBQ_OK && job.bad >= 0)
    st = subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w has a non-finite value at row %lld, column %lld", fn,
                    (long long)(job.bad / k), (long long)(job.bad % k));
  if (st != SUBQ_OK) {
    subq_q8_weights_destroy(q);
    return st;
  }
  *out = q;
  return SUBQ_OK;
}

void subq_q8_weights_destroy(subq_q8_weights *w) {
  if (!w) return;
  subq_weights_free(&w->mem);
  subq_free(w);
}

size_t subq_q8_weights_size(const subq_q8_weights *w) {
  return w ? (size_t)w->mem.n_copies * w->mem.bytes + sizeof *w : 0;
}

subq_status subq_q8_weights_dequantize(const subq_q8_weights *w, int64_t row0, int64_t rows, float *dst,
                                       int64_t dst_rs) {
  static const char fn[] = "subq_q8_weights_dequantize";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (row0 < 0 || rows < 0 || row0 > w->n - rows)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows [%lld, %lld + %lld) are not inside [0, %lld)", fn,
                      (long long)row0, (long long)row0, (long long)rows, (long long)w->n);
  if (rows == 0) return SUBQ_OK;
  if (!dst) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst is NULL", fn);
  if (dst_rs == 0) dst_rs = w->k;
  int64_t last;
  if (dst_rs < w->k || !subq_mul_i64(rows - 1, dst_rs, &last) || !subq_add_i64(last, w->k, &last) ||
      (uint64_t)last > (uint64_t)PTRDIFF_MAX / sizeof(float))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst_rs (%lld) is < k (%lld) or overflows", fn,
                      (long long)dst_rs, (long long)w->k);
  const uint8_t *base = w->mem.copy[0];
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *row = base + (row0 + r) * w->rb;
    for (int64_t p = 0; p < w->k; p++) {
      dst[r * dst_rs + p] = (float)(int8_t)row[p] * subq_q8_scale(row, w->kp, p / SUBQ_Q8_BLOCK);
    }
  }
  return SUBQ_OK;
}

/* ---- y = x W^T ------------------------------------------------------------------- */

typedef struct subq_q8_job {
  const subq_q8_weights *w;
  const subq_q8_impl *im;
  int64_t m;
  const float *x;
  int64_t x_rs;
  float *y;
  int64_t y_rs;
  /* k % 32 != 0: phase 0 copies x into m rows of kp floats (zero tail) here, in
   * the context's shared workspace (set by subq_parallel_run_shared) */
  void *x_pad;
} subq_q8_job;

static subq_status subq_q8_pad_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_q8_job *j = arg;
  const int64_t k = j->w->k, kp = j->w->kp;
  float *xp = j->x_pad;
  for (int64_t i = begin; i < end; i++) {
    memcpy(xp + i * kp, j->x + i * j->x_rs, (size_t)k * sizeof(float));
    memset(xp + i * kp + k, 0, (size_t)(kp - k) * sizeof(float));
  }
  return SUBQ_OK;
}

static subq_status subq_q8_mm_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_q8_job *j = arg;
  const subq_q8_weights *w = j->w;
  const uint8_t *base = subq_weights_copy_for(&w->mem, info);
  const float *x = j->x_pad ? (const float *)j->x_pad : j->x;
  const int64_t ldx = j->x_pad ? w->kp : j->x_rs;
  const int64_t r0 = begin * SUBQ_Q8_ITEM_ROWS, r1 = SUBQ_MIN(w->n, end * SUBQ_Q8_ITEM_ROWS);
  for (int64_t r = r0; r < r1; r += SUBQ_Q8_NR) {
    const int64_t nr = SUBQ_MIN((int64_t)SUBQ_Q8_NR, r1 - r);
    for (int64_t i = 0; i < j->m; i += SUBQ_Q8_MR)
      j->im->dot(SUBQ_MIN((int64_t)SUBQ_Q8_MR, j->m - i), nr, w->kp, x + i * ldx, ldx, base + r * w->rb, w->rb,
                 j->y + i * j->y_rs + r, j->y_rs);
  }
  return SUBQ_OK;
}

subq_status subq_q8_linear(subq_context *ctx, int64_t m, const float *x, int64_t x_rs, const subq_q8_weights *w,
                           float *y, int64_t y_rs) {
  static const char fn[] = "subq_q8_linear";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (m < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m (%lld) < 0", fn, (long long)m);
  if (m == 0) return SUBQ_OK;
  if (!x) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: x is NULL", fn);
  if (!y) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: y is NULL", fn);
  if (x_rs == 0) x_rs = w->k;
  if (y_rs == 0) y_rs = w->n;
  if (x_rs < w->k)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: x_rs (%lld) < k (%lld)", fn, (long long)x_rs, (long long)w->k);
  if (y_rs < w->n)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: y_rs (%lld) < n (%lld)", fn, (long long)y_rs, (long long)w->n);
  subq_byte_range rx, ry;
  if (!subq_byte_range_rows(x, m, w->k, x_rs, sizeof(float), &rx))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m and x_rs overflow the address range of x", fn);
  if (!subq_byte_range_rows(y, m, w->n, y_rs, sizeof(float), &ry))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m and y_rs overflow the address range of y", fn);
  if (subq_byte_ranges_overlap(rx, ry)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: y overlaps x", fn);
  for (int32_t c = 0; c < w->mem.n_copies; c++) {
    const subq_byte_range rw = {(uintptr_t)w->mem.copy[c], (uintptr_t)w->mem.copy[c] + w->mem.bytes};
    if (subq_byte_ranges_overlap(rw, ry)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: y overlaps the weights", fn);
  }
  subq_q8_job job = {w, SUBQ_ISA_PICK(subq_context_isa_or_default(ctx), subq_q8_impls, subq_q8_impl), m, x, x_rs,
                     y, y_rs, NULL};
  const double work = (double)w->n * (double)w->rb * (double)((m + SUBQ_Q8_MR - 1) / SUBQ_Q8_MR);
  subq_context *run = subq_ctx_for_work(ctx, work, SUBQ_Q8_PARALLEL_BYTES);
  const subq_phase ph[2] = {{subq_q8_pad_run, &job, m, 0},
                            {subq_q8_mm_run, &job, (w->n + SUBQ_Q8_ITEM_ROWS - 1) / SUBQ_Q8_ITEM_ROWS, 0}};
  if (w->kp == w->k) return subq_parallel_run(run, ph + 1, 1, 0);
  int64_t pad_floats;
  if (!subq_mul_i64(m, w->kp, &pad_floats) || (uint64_t)pad_floats > (uint64_t)PTRDIFF_MAX / sizeof(float))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m x k overflows", fn);
  return subq_parallel_run_shared(run, ph, 2, 0, (size_t)pad_floats * sizeof(float), &job.x_pad);
}
