/*
 * subq_ternary.c — ternary family driver: the SQ2 blob (creation from dense,
 * ternary, HF-packed weights and validated blobs; export), validation of
 * every call, the phases (activation quantization per token row; matmul
 * items = token block (64, wide path 128) x 4-panel group, int32 partials in per-participant
 * scratch, then the epilogue; K in chunks: the panel path (gemm) takes 64
 * K-blocks against groups of 4 tokens, the wide path (from 16 tokens:
 * unpackw + gemmw) unpacks 16 K-blocks of the item's panels once and runs
 * them against 16-token blocks) and the HGRN scan (channel blocks) and gate
 * (token rows). Only the micro-kernels of
 * subq_ternary_impls.inc are per ISA. K is never split across items, so
 * results do not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/ternary/subq_ternary_ukernel.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_half.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "internal/subq_weights.h"
#include "subq/subq_ternary.h"

#define SUBQ_TERN_HEADER 128
#define SUBQ_TERN_TB 64          /* tokens per matmul item (panel path) */
#define SUBQ_TERN_PG 4           /* panels (16 rows) per matmul item */
#define SUBQ_TERN_KC 64          /* K-blocks (16 columns) per chunk: 1024 columns */
/* From this many tokens the matmul runs whole 16-token blocks through the
 * wide kernels (gemmw) and the < 16 left over through gemm: each item unpacks
 * its panels once per K chunk for all its blocks. At 16 tokens both paths
 * take the same time on Zen 3; from 32 on, wide is faster (BENCHMARKS.md,
 * "Ternary GEMM: the wide kernel"). */
#ifndef SUBQ_TERN_WIDE_MIN_T
#define SUBQ_TERN_WIDE_MIN_T 16
#endif
#ifndef SUBQ_TERN_WIDE_TB
#define SUBQ_TERN_WIDE_TB 128    /* tokens per matmul item (wide path): unpacked codes serve this many */
#endif
#define SUBQ_TERN_WIDE_KC (SUBQ_TERNARY_WIDE_NS / 4) /* K-blocks per wide chunk */
#define SUBQ_TERN_WIDE_GLD (SUBQ_TERNARY_WIDE_NS * 16) /* bytes of one row group's chunk stream */
#define SUBQ_TERN_SCAN_CB 64     /* channels per HGRN scan item */
#define SUBQ_TERN_PARALLEL_BYTES (64 * 1024)

struct subq_ternary {
  uint8_t *blob;       /* header, codes, scales; 64-byte aligned (placed: mem's copy 0) */
  size_t size;
  int64_t n, k, n_pad, k_pad;
  subq_ternary_scale mode;
  uint8_t *codes;
  float *row_gamma;    /* n_pad gammas for the epilogue (both modes) */
  bool placed;         /* the blob lives in `mem` (subq_ternary_place), one copy per node under MIRROR */
  subq_weights_mem mem;
};

/* The codes participant `info` reads: its node's copy of a mirrored blob. */
static inline const uint8_t *tern_codes_for(const subq_ternary *w, const subq_task_info *info) {
  return w->placed ? (const uint8_t *)subq_weights_copy_for(&w->mem, info) + SUBQ_TERN_HEADER : w->codes;
}

typedef struct subq_tern_impl {
  subq_isa isa;
  subq_i8wt2_gemm_fn gemm;
  subq_i8wt2_unpackw_fn unpackw;
  subq_i8wt2_gemmw_fn gemmw;
  subq_ternary_actq_fn actq;
  subq_hgrn_scan_fn scan;
  subq_hgrn_gate_fn gate;
} subq_tern_impl;

static const subq_tern_impl subq_tern_impls[] = {
#define SUBQ_TERNARY_UKERNEL(isa, sfx)                                                                       \
  {isa, subq_i8wt2_ternary_gemm_ukernel_4x16__##sfx, subq_i8wt2_ternary_unpackw_ukernel__##sfx,              \
   subq_i8wt2_ternary_gemmw_ukernel_4x16__##sfx, subq_f32_ternary_actq_ukernel__##sfx,                       \
   subq_f32_hgrn_scan_ukernel__##sfx, subq_f32_hgrn_gate_ukernel__##sfx},
#include "families/ternary/subq_ternary_impls.inc"
#undef SUBQ_TERNARY_UKERNEL
};

static const subq_tern_impl *subq_tern_pick(const subq_context *ctx) {
  return SUBQ_ISA_PICK(subq_context_isa_or_default(ctx), subq_tern_impls, subq_tern_impl);
}

/* ---- little-endian header fields ---------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static float get_f32(const uint8_t *p) {
  const uint32_t u = get_u32(p);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* ---- the blob ------------------------------------------------------------------------------ */

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

static subq_status tern_check_shape(const char *fn, int64_t n, int64_t k) {
  if (n < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 1", fn, (long long)n);
  if (k < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) < 1", fn, (long long)k);
  if (k > SUBQ_TERNARY_MAX_K)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) > SUBQ_TERNARY_MAX_K (%d)", fn, (long long)k,
                      SUBQ_TERNARY_MAX_K);
  if (n > (INT64_MAX / 2) / SUBQ_TERNARY_MAX_K)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) * k overflows the packed size", fn, (long long)n);
  return SUBQ_OK;
}

static subq_status tern_check_scale_mode(const char *fn, subq_ternary_scale mode) {
  if (mode != SUBQ_TERNARY_SCALE_TENSOR && mode != SUBQ_TERNARY_SCALE_ROW)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: scale_mode (%d) is not TENSOR or ROW", fn, (int)mode);
  return SUBQ_OK;
}

/* A blob of codes 1 (weight 0) and zero scales; shape already checked. */
static subq_status tern_new(const char *fn, int64_t n, int64_t k, subq_ternary_scale mode, subq_ternary **out) {
  subq_ternary *w = calloc(1, sizeof *w);
  if (!w) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  w->n = n, w->k = k, w->mode = mode;
  w->n_pad = round_up(n, 16), w->k_pad = round_up(k, 64);
  const size_t codes = (size_t)w->n_pad * (size_t)w->k_pad / 4;
  const size_t nsc = mode == SUBQ_TERNARY_SCALE_ROW ? (size_t)w->n_pad : 1;
  const size_t scales_off = SUBQ_TERN_HEADER + codes;
  w->size = scales_off + (size_t)round_up((int64_t)(nsc * 4), 64);
  w->blob = subq_alloc(w->size);
  w->row_gamma = subq_alloc((size_t)w->n_pad * sizeof(float));
  if (!w->blob || !w->row_gamma) {
    const size_t size = w->size;
    subq_free(w->blob), subq_free(w->row_gamma), free(w);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory (%zu bytes of packed weights)", fn, size);
  }
  memset(w->blob, 0, SUBQ_TERN_HEADER);
  w->codes = w->blob + SUBQ_TERN_HEADER;
  memset(w->codes, 0x55, codes);
  memset(w->blob + scales_off, 0, w->size - scales_off);
  memset(w->row_gamma, 0, (size_t)w->n_pad * sizeof(float));
  uint8_t *h = w->blob;
  memcpy(h, "SQT2", 4);
  put_u16(h + 4, 1), put_u16(h + 6, 1);
  put_u64(h + 8, (uint64_t)n), put_u64(h + 16, (uint64_t)k);
  put_u64(h + 24, (uint64_t)w->n_pad), put_u64(h + 32, (uint64_t)w->k_pad);
  put_u32(h + 40, (uint32_t)mode), put_u32(h + 44, 0);
  put_u64(h + 56, SUBQ_TERN_HEADER), put_u64(h + 64, (uint64_t)scales_off);
  *out = w;
  return SUBQ_OK;
}

static float *tern_scales(subq_ternary *w) { return (float *)(void *)(w->blob + get_u64(w->blob + 64)); }

/* Stores the scales (1 or n values) into the blob, the header and row_gamma. */
static void tern_set_gamma(subq_ternary *w, const float *gamma) {
  float *sc = tern_scales(w);
  if (w->mode == SUBQ_TERNARY_SCALE_TENSOR) {
    sc[0] = gamma[0];
    put_u32(w->blob + 48, f32_bits(gamma[0]));
    for (int64_t r = 0; r < w->n; r++) w->row_gamma[r] = gamma[0];
  } else {
    for (int64_t r = 0; r < w->n; r++) sc[r] = w->row_gamma[r] = gamma[r];
  }
}

/* Row r's 4 bytes in its panel's first unit; K-block b's are 64 * b further. */
static inline uint8_t *tern_row_bytes(const subq_ternary *w, int64_t r) {
  return w->codes + (size_t)((r >> 4) * (w->k_pad >> 4)) * 64 + (size_t)(r & 15) * 4;
}
/* Codes c[0..nc) of one row and K-block (column 16b + 4m + j: byte j, bits
 * 2m) into its 4 bytes; columns nc..15 (past K) get code 1 (weight 0). */
static inline void tern_pack16(uint8_t *u, uint8_t *c, int64_t nc) {
  for (int64_t i = nc; i < 16; i++) c[i] = 1;
  for (int j = 0; j < 4; j++) u[j] = (uint8_t)(c[j] | c[4 + j] << 2 | c[8 + j] << 4 | c[12 + j] << 6);
}
static inline void tern_unpack16(const uint8_t *u, uint8_t *c) {
  for (int m = 0; m < 4; m++)
    for (int j = 0; j < 4; j++) c[4 * m + j] = (uint8_t)((u[j] >> (2 * m)) & 3);
}
/* The codes of absmean quantization: round(v) clamped to [-1, 1], plus 1.
 * Equal to rintf + clamp for every v (|v| = 0.5 rounds to 0; NaN gives 1). */
static inline uint8_t tern_code_of(float v) { return (uint8_t)(1 + (v > 0.5f) - (v < -0.5f)); }

void subq_ternary_destroy(subq_ternary *w) {
  if (!w) return;
  if (w->placed)
    subq_weights_free(&w->mem);
  else
    subq_free(w->blob);
  subq_free(w->row_gamma);
  free(w);
}

const void *subq_ternary_blob(const subq_ternary *w, size_t *size) {
  if (size) *size = w->size;
  return w->blob;
}
int64_t subq_ternary_rows(const subq_ternary *w) { return w ? w->n : 0; }
int64_t subq_ternary_cols(const subq_ternary *w) { return w ? w->k : 0; }
subq_ternary_scale subq_ternary_scale_mode(const subq_ternary *w) { return w ? w->mode : SUBQ_TERNARY_SCALE_TENSOR; }

/* ---- dense sources ------------------------------------------------------------------------------ */

static inline float src_at(subq_dtype dt, const void *w, int64_t ld, int64_t r, int64_t c) {
  if (dt == SUBQ_DTYPE_BF16) {
    return subq_bf16_to_f32_1(((const uint16_t *)w)[r * ld + c]);
  }
  return ((const float *)w)[r * ld + c];
}

static subq_status tern_check_src(const char *fn, int64_t n, int64_t k, subq_dtype dtype, const void *w, int64_t ld,
                                  subq_ternary **out) {
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  subq_status st = tern_check_shape(fn, n, k);
  if (st) return st;
  if (dtype != SUBQ_DTYPE_F32 && dtype != SUBQ_DTYPE_BF16)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dtype (%d) is not f32 or bf16", fn, (int)dtype);
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (ld < k) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ld (%lld) < k (%lld)", fn, (long long)ld, (long long)k);
  int64_t e;
  if (!subq_mul_i64(n - 1, ld, &e) || !subq_add_i64(e, k, &e) || !subq_mul_i64(e, 4, &e))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of w overflows int64", fn);
  return SUBQ_OK;
}

typedef struct tern_quant_job {
  subq_ternary *w;
  subq_dtype dt;
  const void *src;
  int64_t ld;
  double *row_sum; /* phase 1 */
  float *inv;      /* n_pad (row mode) or 1 */
} tern_quant_job;

/* sum |w| of R rows from r, each in column order (the oracle's order); the
 * R chains run side by side, since one float64 add chain is latency-bound. */
#define TERN_ROWSUM(R)                                                                   \
  do {                                                                                   \
    double s[R] = {0};                                                                   \
    for (int64_t c = 0; c < j->w->k; c++)                                                \
      for (int i = 0; i < (R); i++) s[i] += fabs((double)src_at(j->dt, j->src, j->ld, r + i, c)); \
    for (int i = 0; i < (R); i++) j->row_sum[r + i] = s[i];                              \
  } while (0)

static subq_status tern_rowsum_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  tern_quant_job *j = arg;
  int64_t r = begin;
  for (; r + 4 <= end; r += 4) TERN_ROWSUM(4);
  for (; r < end; r++) TERN_ROWSUM(1);
  return SUBQ_OK;
}
#undef TERN_ROWSUM

static subq_status tern_pack_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  tern_quant_job *j = arg;
  subq_ternary *w = j->w;
  for (int64_t p = begin; p < end; p++)
    for (int64_t r = p * 16; r < SUBQ_MIN(w->n, p * 16 + 16); r++) {
      const float inv = j->inv[w->mode == SUBQ_TERNARY_SCALE_ROW ? r : 0];
      uint8_t *u = tern_row_bytes(w, r);
      for (int64_t c0 = 0; c0 < w->k; c0 += 16, u += 64) {
        uint8_t c[16];
        const int64_t nc = SUBQ_MIN((int64_t)16, w->k - c0);
        if (j->dt == SUBQ_DTYPE_BF16) {
          const uint16_t *x = (const uint16_t *)j->src + r * j->ld + c0;
          for (int64_t i = 0; i < nc; i++) c[i] = tern_code_of(subq_bf16_to_f32_1(x[i]) * inv);
        } else {
          const float *x = (const float *)j->src + r * j->ld + c0;
          for (int64_t i = 0; i < nc; i++) c[i] = tern_code_of(x[i] * inv);
        }
        tern_pack16(u, c, nc);
      }
    }
  return SUBQ_OK;
}

subq_status subq_ternary_quantize(subq_context *ctx, int64_t n, int64_t k, subq_dtype dtype, const void *src,
                                  int64_t ld, subq_ternary_scale mode, subq_ternary **out) {
  static const char fn[] = "subq_ternary_quantize";
  subq_status st = tern_check_src(fn, n, k, dtype, src, ld, out);
  if (st || (st = tern_check_scale_mode(fn, mode))) return st;
  subq_ternary *w;
  if ((st = tern_new(fn, n, k, mode, &w))) return st;
  double *row_sum = malloc((size_t)n * sizeof(double));
  float *gamma = malloc((size_t)n * sizeof(float)), *inv = malloc((size_t)n * sizeof(float));
  if (!row_sum || !gamma || !inv) {
    free(row_sum), free(gamma), free(inv), subq_ternary_destroy(w);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  tern_quant_job job = {w, dtype, src, ld, row_sum, inv};
  const double bytes = (double)n * (double)k * (double)subq_dtype_size(dtype);
  const subq_phase p1 = {tern_rowsum_run, &job, n, 0};
  st = subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_TERN_PARALLEL_BYTES), &p1, 1, 0);
  if (!st) {
    /* gamma = max(mean |W|, 1e-5): the mean in float64 (rows summed in
     * order), rounded once to f32. */
    if (mode == SUBQ_TERNARY_SCALE_TENSOR) {
      double s = 0.0;
      for (int64_t r = 0; r < n; r++) s += row_sum[r];
      float g = (float)(s / ((double)n * (double)k));
      gamma[0] = g > 1e-5f ? g : 1e-5f;
      inv[0] = 1.0f / gamma[0];
    } else {
      for (int64_t r = 0; r < n; r++) {
        float g = (float)(row_sum[r] / (double)k);
        gamma[r] = g > 1e-5f ? g : 1e-5f;
        inv[r] = 1.0f / gamma[r];
      }
    }
    const subq_phase p2 = {tern_pack_run, &job, w->n_pad / 16, 0};
    st = subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_TERN_PARALLEL_BYTES), &p2, 1, 0);
  }
  if (!st) tern_set_gamma(w, gamma);
  free(row_sum), free(gamma), free(inv);
  if (st) {
    subq_ternary_destroy(w);
    return st;
  }
  *out = w;
  return SUBQ_OK;
}

static subq_status tern_check_gamma(const char *fn, const char *name, int64_t idx, float g) {
  if (!(g > 0.0f) || isinf(g))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s[%lld] (%g) is not a finite value > 0", fn, name,
                      (long long)idx, (double)g);
  return SUBQ_OK;
}

subq_status subq_ternary_from_codes(int64_t n, int64_t k, const int8_t *t, int64_t ld, subq_ternary_scale mode,
                                    const float *gamma, subq_ternary **out) {
  static const char fn[] = "subq_ternary_from_codes";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  subq_status st = tern_check_shape(fn, n, k);
  if (st || (st = tern_check_scale_mode(fn, mode))) return st;
  if (!t) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: t is NULL", fn);
  if (!gamma) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: gamma is NULL", fn);
  if (ld < k) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ld (%lld) < k (%lld)", fn, (long long)ld, (long long)k);
  int64_t e;
  if (!subq_mul_i64(n - 1, ld, &e) || !subq_add_i64(e, k, &e))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of t overflows int64", fn);
  for (int64_t i = 0; i < (mode == SUBQ_TERNARY_SCALE_ROW ? n : 1); i++)
    if ((st = tern_check_gamma(fn, "gamma", i, gamma[i]))) return st;
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < k; c++)
      if (t[r * ld + c] < -1 || t[r * ld + c] > 1)
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: t[%lld][%lld] (%d) is not -1, 0 or 1", fn, (long long)r,
                          (long long)c, (int)t[r * ld + c]);
  subq_ternary *w;
  if ((st = tern_new(fn, n, k, mode, &w))) return st;
  for (int64_t r = 0; r < n; r++) {
    uint8_t *u = tern_row_bytes(w, r);
    for (int64_t c0 = 0; c0 < k; c0 += 16, u += 64) {
      uint8_t c[16];
      const int64_t nc = SUBQ_MIN((int64_t)16, k - c0);
      for (int64_t i = 0; i < nc; i++) c[i] = (uint8_t)(t[r * ld + c0 + i] + 1);
      tern_pack16(u, c, nc);
    }
  }
  tern_set_gamma(w, gamma);
  *out = w;
  return SUBQ_OK;
}

subq_status subq_ternary_from_ternarized(int64_t n, int64_t k, subq_dtype dtype, const void *src, int64_t ld,
                                         subq_ternary_scale mode, subq_ternary **out) {
  static const char fn[] = "subq_ternary_from_ternarized";
  subq_status st = tern_check_src(fn, n, k, dtype, src, ld, out);
  if (st || (st = tern_check_scale_mode(fn, mode))) return st;
  const int64_t ng = mode == SUBQ_TERNARY_SCALE_ROW ? n : 1;
  float *gamma = calloc((size_t)ng, sizeof(float));
  if (!gamma) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < k; c++) {
      const float a = fabsf(src_at(dtype, src, ld, r, c));
      float *g = &gamma[mode == SUBQ_TERNARY_SCALE_ROW ? r : 0];
      if (!(a <= INFINITY)) { /* NaN */
        free(gamma);
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w[%lld][%lld] is NaN", fn, (long long)r, (long long)c);
      }
      if (a > *g) *g = a;
    }
  for (int64_t i = 0; i < ng; i++) {
    if (gamma[i] == 0.0f) gamma[i] = 1.0f;
    if (isinf(gamma[i])) {
      free(gamma);
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w holds an infinite value", fn);
    }
  }
  subq_ternary *w;
  if ((st = tern_new(fn, n, k, mode, &w))) {
    free(gamma);
    return st;
  }
  for (int64_t r = 0; r < n; r++) {
    const float g = gamma[mode == SUBQ_TERNARY_SCALE_ROW ? r : 0];
    uint8_t *u = tern_row_bytes(w, r);
    for (int64_t c0 = 0; c0 < k; c0 += 16, u += 64) {
      uint8_t cd[16];
      const int64_t nc = SUBQ_MIN((int64_t)16, k - c0);
      for (int64_t i = 0; i < nc; i++) {
        const float v = src_at(dtype, src, ld, r, c0 + i);
        if (v != 0.0f && v != g && v != -g) {
          subq_ternary_destroy(w), free(gamma);
          return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                            "%s: w[%lld][%lld] (%g) is neither 0 nor +-%g: not a ternarized tensor (use "
                            "subq_ternary_quantize)",
                            fn, (long long)r, (long long)(c0 + i), (double)v, (double)g);
        }
        cd[i] = (uint8_t)(v == 0.0f ? 1 : v == g ? 2 : 0);
      }
      tern_pack16(u, cd, nc);
    }
  }
  tern_set_gamma(w, gamma);
  free(gamma);
  *out = w;
  return SUBQ_OK;
}

subq_status subq_ternary_from_hf(int64_t n, int64_t k, const uint8_t *packed, float weight_scale,
                                 subq_ternary_hf_scale rule, subq_ternary **out) {
  static const char fn[] = "subq_ternary_from_hf";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  subq_status st = tern_check_shape(fn, n, k);
  if (st) return st;
  if (n % 4 != 0)
    return subq_error(SUBQ_ERR_UNSUPPORTED, "%s: n (%lld) is not a multiple of 4 (HF packs (n / 4, k))", fn,
                      (long long)n);
  if (!packed) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed is NULL", fn);
  if (rule != SUBQ_TERNARY_HF_DIVIDE && rule != SUBQ_TERNARY_HF_MULTIPLY)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rule (%d) is not DIVIDE or MULTIPLY", fn, (int)rule);
  if ((st = tern_check_gamma(fn, "weight_scale", 0, weight_scale))) return st;
  const float g = rule == SUBQ_TERNARY_HF_DIVIDE ? 1.0f / weight_scale : weight_scale;
  if ((st = tern_check_gamma(fn, "gamma (1 / weight_scale)", 0, g))) return st;
  const int64_t R = n / 4;
  for (int64_t j = 0; j < R; j++)
    for (int64_t c = 0; c < k; c++)
      for (int i = 0; i < 4; i++)
        if (((packed[j * k + c] >> (2 * i)) & 3) == 3)
          return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed[%lld][%lld] bits %d..%d hold 3 (not a ternary code)",
                            fn, (long long)j, (long long)c, 2 * i, 2 * i + 1);
  subq_ternary *w;
  if ((st = tern_new(fn, n, k, SUBQ_TERNARY_SCALE_TENSOR, &w))) return st;
  for (int64_t j = 0; j < R; j++)
    for (int i = 0; i < 4; i++) { /* row i * R + j is bits 2i of packed row j */
      uint8_t *u = tern_row_bytes(w, i * R + j);
      for (int64_t c0 = 0; c0 < k; c0 += 16, u += 64) {
        uint8_t cd[16];
        const int64_t nc = SUBQ_MIN((int64_t)16, k - c0);
        for (int64_t x = 0; x < nc; x++) cd[x] = (uint8_t)((packed[j * k + c0 + x] >> (2 * i)) & 3);
        tern_pack16(u, cd, nc);
      }
    }
  tern_set_gamma(w, &g);
  *out = w;
  return SUBQ_OK;
}

subq_status subq_ternary_from_blob(const void *src, size_t size, subq_ternary **out) {
  static const char fn[] = "subq_ternary_from_blob";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!src) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  const uint8_t *h = src;
  if (size < SUBQ_TERN_HEADER)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: size (%zu) is smaller than the 128-byte header", fn, size);
  if (memcmp(h, "SQT2", 4) != 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: bad magic (not \"SQT2\")", fn);
  if (get_u16(h + 4) != 1 || get_u16(h + 6) != 1)
    return subq_error(SUBQ_ERR_UNSUPPORTED, "%s: version %u layout %u (this library reads version 1 layout 1)", fn,
                      get_u16(h + 4), get_u16(h + 6));
  const int64_t n = (int64_t)get_u64(h + 8), k = (int64_t)get_u64(h + 16);
  subq_status st = tern_check_shape(fn, n, k);
  if (st) return st;
  const uint32_t mode = get_u32(h + 40);
  if ((st = tern_check_scale_mode(fn, (subq_ternary_scale)mode))) return st;
  if ((int64_t)get_u64(h + 24) != round_up(n, 16) || (int64_t)get_u64(h + 32) != round_up(k, 64))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: N_pad / K_pad do not match N, K", fn);
  if (get_u32(h + 44) != 0) return subq_error(SUBQ_ERR_UNSUPPORTED, "%s: unknown flags 0x%x", fn, get_u32(h + 44));
  subq_ternary *w;
  if ((st = tern_new(fn, n, k, (subq_ternary_scale)mode, &w))) return st;
  const uint64_t co = get_u64(h + 56), so = get_u64(h + 64);
  const size_t codes = (size_t)w->n_pad * (size_t)w->k_pad / 4, nsc = mode ? (size_t)w->n_pad : 1;
  if (co % 64 || so % 64 || co < SUBQ_TERN_HEADER || co > size || size - co < codes || so < co + codes || so > size ||
      size - so < nsc * 4) {
    subq_ternary_destroy(w);
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: codes_offset / scales_offset out of range or misaligned", fn);
  }
  memcpy(w->codes, h + co, codes);
  for (size_t i = 0; i < codes; i++) {
    const uint8_t b = w->codes[i];
    if (((b & (b >> 1)) & 0x55) != 0) {
      subq_ternary_destroy(w);
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: code byte %zu holds a code 3", fn, i);
    }
  }
  float *gamma = malloc(nsc * sizeof(float));
  if (!gamma) {
    subq_ternary_destroy(w);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  for (size_t i = 0; i < nsc; i++) gamma[i] = get_f32(h + so + 4 * i);
  for (int64_t i = 0; i < (mode ? n : 1); i++)
    if ((st = tern_check_gamma(fn, "scales", i, gamma[i]))) {
      free(gamma), subq_ternary_destroy(w);
      return st;
    }
  if (mode == 0 && f32_bits(get_f32(h + 48)) != f32_bits(gamma[0])) {
    free(gamma), subq_ternary_destroy(w);
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: header gamma differs from the scales region", fn);
  }
  tern_set_gamma(w, gamma);
  free(gamma);
  *out = w;
  return SUBQ_OK;
}

subq_status subq_ternary_to_codes(const subq_ternary *w, int8_t *t, int64_t ld, float *gamma) {
  static const char fn[] = "subq_ternary_to_codes";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (t) {
    if (ld < w->k)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ld (%lld) < k (%lld)", fn, (long long)ld, (long long)w->k);
    int64_t e;
    if (!subq_mul_i64(w->n - 1, ld, &e) || !subq_add_i64(e, w->k, &e))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of t overflows int64", fn);
    for (int64_t r = 0; r < w->n; r++) {
      const uint8_t *u = tern_row_bytes(w, r);
      for (int64_t c0 = 0; c0 < w->k; c0 += 16, u += 64) {
        uint8_t cd[16];
        tern_unpack16(u, cd);
        int8_t *dst = t + r * ld + c0;
        if (c0 + 16 <= w->k)
          for (int i = 0; i < 16; i++) dst[i] = (int8_t)(cd[i] - 1);
        else
          for (int64_t i = 0; i < w->k - c0; i++) dst[i] = (int8_t)(cd[i] - 1);
      }
    }
  }
  if (gamma) {
    if (w->mode == SUBQ_TERNARY_SCALE_TENSOR) gamma[0] = w->row_gamma[0];
    else memcpy(gamma, w->row_gamma, (size_t)w->n * sizeof(float));
  }
  return SUBQ_OK;
}

/* ---- argument helpers ----------------------------------------------------------------------------- */

/* Checks a rows x cols operand of esz-byte elements with row stride *ld (0:
 * cols) and gives its byte range. */
static subq_status tern_tensor(const char *fn, const char *name, const void *p, size_t esz, int64_t rows, int64_t cols,
                               int64_t *ld, subq_byte_range *r) {
  r->lo = r->hi = 0;
  if (!p) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (*ld == 0) *ld = cols;
  if (*ld < cols)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s_ld (%lld) < row length %lld", fn, name, (long long)*ld,
                      (long long)cols);
  if (!subq_byte_range_rows(p, rows, cols, *ld, (int64_t)esz, r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64", fn, name);
  return SUBQ_OK;
}

static subq_status tern_check_disjoint(const char *fn, const char *out_name, subq_byte_range o, const char *in_name,
                                       subq_byte_range in) {
  if (subq_byte_ranges_overlap(o, in)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, out_name, in_name);
  return SUBQ_OK;
}

static subq_status tern_check_round(const char *fn, subq_round r) {
  if (r != SUBQ_ROUND_HALF_EVEN && r != SUBQ_ROUND_HALF_AWAY)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rounding (%d) is not HALF_EVEN or HALF_AWAY", fn, (int)r);
  return SUBQ_OK;
}
static subq_status tern_check_eps(const char *fn, float eps) {
  if (!(eps >= 0.0f) || isinf(eps))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: eps (%g) is not a finite value >= 0", fn, (double)eps);
  return SUBQ_OK;
}

/* ---- activation quantization ------------------------------------------------------------------------- */

void subq_ternary_act_args_default(subq_ternary_act_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_ternary_act_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.eps = 1e-6f;
  d.rounding = SUBQ_ROUND_HALF_EVEN;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

/* A matmul's per-call buffers, carved from one block: the context's shared
 * workspace (subq_parallel_run_shared: no allocation or page faults once a
 * call of this size has run on the context). base is set before the first
 * phase runs; the phases take their pointers from it. */
typedef struct tern_ws {
  unsigned char *base;
  size_t qv, s, a, size; /* offsets of qv, S and a (q at 0), total bytes */
} tern_ws;

typedef struct tern_actq_job {
  subq_ternary_actq_fn fn;
  const float *x, *w;
  int64_t x_ld, k, k_pad, q_ld;
  bool norm;
  float eps;
  int rounding;
  int8_t *q;
  int32_t *sums;
  float *amax;
  const tern_ws *ws; /* non-NULL (subq_bitlinear): q, sums, amax are its buffers */
} tern_actq_job;

static subq_status tern_actq_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  tern_actq_job jl = *(const tern_actq_job *)arg, *j = &jl;
  if (j->ws) {
    j->q = (int8_t *)j->ws->base;
    j->sums = (int32_t *)(void *)(j->ws->base + j->ws->s), j->amax = (float *)(void *)(j->ws->base + j->ws->a);
  }
  for (int64_t r = begin; r < end; r++) {
    int32_t S;
    float a;
    j->fn(j->x + r * j->x_ld, j->w, j->k, j->k_pad, j->norm, j->eps, j->rounding, j->q + r * j->q_ld, &S, &a);
    if (j->sums) j->sums[r] = S;
    if (j->amax) j->amax[r] = a;
  }
  (void)info;
  return SUBQ_OK;
}

subq_status subq_ternary_act_quant(subq_context *ctx, const subq_ternary_act_args *args) {
  static const char fn[] = "subq_ternary_act_quant";
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_ternary_act_args g;
  subq_ternary_act_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st) return st;
  if (g.rows < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: rows (%lld) < 0", fn, (long long)g.rows);
  if (g.cols < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cols (%lld) < 1", fn, (long long)g.cols);
  if (g.cols > SUBQ_TERNARY_MAX_K)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: cols (%lld) > SUBQ_TERNARY_MAX_K (%d)", fn, (long long)g.cols,
                      SUBQ_TERNARY_MAX_K);
  if (g.flags & ~SUBQ_TERNARY_RMSNORM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, (unsigned)g.flags);
  if ((st = tern_check_round(fn, g.rounding)) || (st = tern_check_eps(fn, g.eps))) return st;
  if (g.rows == 0) return SUBQ_OK;
  subq_byte_range rx, rq, rw = {0, 0}, rs = {0, 0}, ra = {0, 0};
  int64_t one = 0;
  if ((st = tern_tensor(fn, "x", g.x, 4, g.rows, g.cols, &g.x_ld, &rx)) ||
      (st = tern_tensor(fn, "q", g.q, 1, g.rows, g.cols, &g.q_ld, &rq)) ||
      (g.norm_weight && (st = tern_tensor(fn, "norm_weight", g.norm_weight, 4, 1, g.cols, &one, &rw))) ||
      (g.sums && (one = 0, st = tern_tensor(fn, "sums", g.sums, 4, 1, g.rows, &one, &rs))) ||
      (g.scales && (one = 0, st = tern_tensor(fn, "scales", g.scales, 4, 1, g.rows, &one, &ra))))
    return st;
  if ((st = tern_check_disjoint(fn, "q", rq, "x", rx)) || (st = tern_check_disjoint(fn, "q", rq, "norm_weight", rw)) ||
      (st = tern_check_disjoint(fn, "sums", rs, "x", rx)) || (st = tern_check_disjoint(fn, "sums", rs, "q", rq)) ||
      (st = tern_check_disjoint(fn, "scales", ra, "x", rx)) || (st = tern_check_disjoint(fn, "scales", ra, "q", rq)) ||
      (st = tern_check_disjoint(fn, "scales", ra, "sums", rs)) ||
      (st = tern_check_disjoint(fn, "sums", rs, "norm_weight", rw)) ||
      (st = tern_check_disjoint(fn, "scales", ra, "norm_weight", rw)))
    return st;
  tern_actq_job job = {subq_tern_pick(ctx)->actq, g.x, g.norm_weight, g.x_ld, g.cols, g.cols, g.q_ld,
                       (g.flags & SUBQ_TERNARY_RMSNORM) != 0, g.eps, (int)g.rounding, g.q, g.sums, g.scales, NULL};
  const subq_phase ph = {tern_actq_run, &job, g.rows, 0};
  const double work = (double)g.rows * (double)g.cols * 5.0;
  return subq_parallel_run(subq_ctx_for_work(ctx, work, (double)SUBQ_TERN_PARALLEL_BYTES), &ph, 1, 0);
}

/* ---- NUMA placement ---------------------------------------------------------------------------------------- */

typedef struct tern_place_job {
  const uint8_t *src;
  subq_weights_mem *mem;
  size_t size, unit;
} tern_place_job;

/* Copies units of the blob into the participant's copy: each node's workers write the pages they own. */
static subq_status tern_place_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const tern_place_job *j = arg;
  uint8_t *dst = subq_weights_copy_for(j->mem, info);
  const size_t b = (size_t)begin * j->unit, e = SUBQ_MIN((size_t)end * j->unit, j->size);
  memcpy(dst + b, j->src + b, e - b);
  return SUBQ_OK;
}

subq_status subq_ternary_place(subq_context *ctx, subq_ternary *w) {
  static const char fn[] = "subq_ternary_place";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (w->placed || !subq_context_places_weights(ctx)) return SUBQ_OK;
  /* a unit = one decode item's panels, so DISTRIBUTE binds each node's rows to it */
  const size_t unit = (size_t)SUBQ_TERN_PG * (size_t)(w->k_pad / 16) * 64;
  subq_weights_mem mem;
  subq_status st = subq_weights_alloc(ctx, fn, w->size, unit, &mem);
  if (st != SUBQ_OK) return st;
  tern_place_job job = {w->blob, &mem, w->size, unit};
  const subq_phase ph = {tern_place_run, &job, (int64_t)((w->size + unit - 1) / unit), 0};
  st = mem.n_copies > 1 ? subq_parallel_run_per_node(ctx, &ph) : subq_parallel_run(ctx, &ph, 1, 0);
  if (st != SUBQ_OK) {
    subq_weights_free(&mem);
    return st;
  }
  subq_free(w->blob);
  w->mem = mem;
  w->placed = true;
  w->blob = mem.copy[0];
  w->codes = w->blob + SUBQ_TERN_HEADER;
  return SUBQ_OK;
}

/* ---- matmul --------------------------------------------------------------------------------------------- */

typedef struct tern_mm_job {
  const subq_ternary *w;
  const subq_tern_impl *im;
  int64_t nw;          /* tokens [0, nw) (whole 16-token blocks) run gemmw on qv, the rest gemm on q */
  int64_t T;
  tern_ws ws;          /* q, qv, S and a live here; the run functions resolve them */
  bool fused;          /* subq_bitlinear: f32 output with the activation scales a; else int32 d */
  const int8_t *q;     /* T x k_pad, zero padded */
  int8_t *qv;          /* nw / 16 blocks of 16 tokens, [s][t][4] (subq_ternary_ukernel.h) */
  const int32_t *S;
  const float *a;      /* NULL: int32 output */
  int32_t *d;          /* int32 output */
  float *out;
  const float *res;
  int64_t out_ld, res_ld;
  int64_t tb, n_pg, n_tb; /* tokens per item, panel groups, token blocks */
} tern_mm_job;

/* A run function's copy of the job with its buffer pointers set. */
static inline tern_mm_job tern_mm_resolve(const tern_mm_job *j) {
  tern_mm_job r = *j;
  r.q = (const int8_t *)r.ws.base, r.qv = (int8_t *)r.ws.base + r.ws.qv;
  r.S = (const int32_t *)(const void *)(r.ws.base + r.ws.s);
  r.a = r.fused ? (const float *)(const void *)(r.ws.base + r.ws.a) : NULL;
  return r;
}

/* The panel path: K chunks of the panels against groups of up to 4 tokens;
 * acc[(p * nt + t) * 16 + i]. */
static void tern_mm_panels(const tern_mm_job *j, const uint8_t *codes, int64_t t0, int64_t nt, int64_t p0, int64_t np,
                           int32_t *acc) {
  const subq_ternary *w = j->w;
  const int64_t kblocks = w->k_pad / 16;
  /* One token group streams each panel whole; more tokens reuse a K chunk
   * of the panels (L1) across the token groups. */
  const int64_t kc = nt <= SUBQ_TERNARY_MR ? kblocks : SUBQ_TERN_KC;
  if (nt == 1) { /* the panels of an item are contiguous: start the stream (SUBQ_TERNARY_PF_BYTES) */
    const uint8_t *w0 = codes + p0 * kblocks * 64;
    const int64_t nb = SUBQ_MIN(np * kblocks * 64, (int64_t)SUBQ_TERNARY_PF_BYTES);
    for (int64_t o = 0; o < nb; o += 64) __builtin_prefetch(w0 + o, 0, 3);
  }
  memset(acc, 0, (size_t)(np * nt * 16) * sizeof(int32_t));
  for (int64_t kb0 = 0; kb0 < kblocks; kb0 += kc) {
    const int64_t nkb = SUBQ_MIN(kc, kblocks - kb0);
    for (int64_t p = 0; p < np; p++) {
      const uint8_t *wp = codes + ((p0 + p) * kblocks + kb0) * 64;
      for (int64_t tg = 0; tg < nt; tg += SUBQ_TERNARY_MR)
        j->im->gemm(nkb, wp, j->q + (t0 + tg) * w->k_pad + kb0 * 16, w->k_pad, SUBQ_MIN(SUBQ_TERNARY_MR, nt - tg),
                    acc + (p * nt + tg) * 16);
    }
  }
}

/* The wide path: per K chunk, unpack the item's panels into row-group
 * streams (u) once, then run every 16-token block against every row group;
 * acc[r * SUBQ_TERN_WIDE_TB + t] for the item's rows r and tokens t (t0 and
 * nt are multiples of 16: qv holds whole blocks only). */
static void tern_mm_wide(const tern_mm_job *j, const uint8_t *codes, int64_t t0, int64_t nt, int64_t p0, int64_t np,
                         uint8_t *u, int32_t *acc) {
  const subq_ternary *w = j->w;
  const int64_t kblocks = w->k_pad / 16, nv = nt / 16;
  memset(acc, 0, (size_t)(np * 16 * SUBQ_TERN_WIDE_TB) * sizeof(int32_t));
  for (int64_t kb0 = 0; kb0 < kblocks; kb0 += SUBQ_TERN_WIDE_KC) {
    const int64_t nkb = SUBQ_MIN((int64_t)SUBQ_TERN_WIDE_KC, kblocks - kb0);
    for (int64_t p = 0; p < np; p++)
      j->im->unpackw(nkb, codes + ((p0 + p) * kblocks + kb0) * 64, u + p * 4 * SUBQ_TERN_WIDE_GLD, SUBQ_TERN_WIDE_GLD);
    for (int64_t v = 0; v < nv; v++) {
      const int8_t *qb = j->qv + (t0 / 16 + v) * 16 * w->k_pad + kb0 * 4 * 64;
      for (int64_t g = 0; g < np * 4; g++)
        j->im->gemmw(4 * nkb, u + g * SUBQ_TERN_WIDE_GLD, qb, acc + g * 4 * SUBQ_TERN_WIDE_TB + v * 16,
                    SUBQ_TERN_WIDE_TB);
    }
  }
}

/* D = acc - S; out = (float)D * (gamma * (a / 127)) (+ residual) for tokens
 * t0..t0+nt and the item's panels; element (token t0 + t, row 16 (p0 + p) +
 * i) is acc[p * p_step + t * t_step + i * i_step]. */
static void tern_mm_epilogue(const tern_mm_job *j, int64_t t0, int64_t nt, int64_t p0, int64_t np, const int32_t *acc,
                             int64_t p_step, int64_t t_step, int64_t i_step) {
  const subq_ternary *w = j->w;
  for (int64_t t = 0; t < nt; t++) {
    const int32_t S = j->S[t0 + t];
    const float a127 = j->a ? j->a[t0 + t] / 127.0f : 0.0f;
    for (int64_t p = 0; p < np; p++) {
      const int64_t r0 = (p0 + p) * 16, nr = SUBQ_MIN(16, w->n - r0);
      const int32_t *ac = acc + p * p_step + t * t_step;
      if (!j->a) {
        int32_t *d = j->d + (t0 + t) * j->out_ld + r0;
        for (int64_t i = 0; i < nr; i++) d[i] = ac[i * i_step] - S;
        continue;
      }
      float *o = j->out + (t0 + t) * j->out_ld + r0;
      const float *res = j->res ? j->res + (t0 + t) * j->res_ld + r0 : NULL;
      for (int64_t i = 0; i < nr; i++) {
        const float comb = w->row_gamma[r0 + i] * a127;
        float v = (float)(ac[i * i_step] - S) * comb;
        if (res) v = res[i] + v;
        o[i] = v;
      }
    }
  }
}

/* Scratch of one participant: the int32 tile of the wide path or the panel
 * path, the panel path's tile for the last item's < 16 leftover tokens, the
 * wide path's row-group streams (subq_ternary_ukernel.h). */
#define SUBQ_TERN_TILE_I32 (SUBQ_TERN_PG * 16 * SUBQ_TERN_WIDE_TB)
#define SUBQ_TERN_REST_I32 (SUBQ_TERN_PG * 16 * 15)
static size_t tern_mm_scratch(const tern_mm_job *j) {
  if (!j->nw) return (size_t)SUBQ_TERN_PG * SUBQ_TERN_TB * 16 * sizeof(int32_t);
  return (size_t)(SUBQ_TERN_TILE_I32 + SUBQ_TERN_REST_I32) * sizeof(int32_t) +
         (size_t)SUBQ_TERN_PG * 4 * SUBQ_TERN_WIDE_GLD;
}

static subq_status tern_mm_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const tern_mm_job jl = tern_mm_resolve(arg), *j = &jl;
  const int64_t panels = j->w->n_pad / 16;
  const uint8_t *codes = tern_codes_for(j->w, info);
  int32_t *acc = info->scratch;
  for (int64_t it = begin; it < end; it++) {
    const int64_t tb = it / j->n_pg, pg = it % j->n_pg;
    const int64_t t0 = tb * j->tb, nt = SUBQ_MIN(j->tb, j->T - t0);
    const int64_t p0 = pg * SUBQ_TERN_PG, np = SUBQ_MIN(SUBQ_TERN_PG, panels - p0);
    /* the first nw tokens (whole 16-token blocks) take the wide path, the rest the panel path */
    const int64_t nwi = SUBQ_MAX((int64_t)0, SUBQ_MIN(nt, j->nw - t0)), rest = nt - nwi;
    if (nwi) {
      int32_t *rest_acc = acc + SUBQ_TERN_TILE_I32;
      tern_mm_wide(j, codes, t0, nwi, p0, np, (uint8_t *)(rest_acc + SUBQ_TERN_REST_I32), acc);
      tern_mm_epilogue(j, t0, nwi, p0, np, acc, 16 * SUBQ_TERN_WIDE_TB, 1, SUBQ_TERN_WIDE_TB);
      acc = rest_acc;
    }
    if (rest) {
      tern_mm_panels(j, codes, t0 + nwi, rest, p0, np, acc);
      tern_mm_epilogue(j, t0 + nwi, rest, p0, np, acc, rest * 16, 16, 1);
    }
    acc = info->scratch;
  }
  return SUBQ_OK;
}

/* Wide path: the first nw tokens of q in 16-token blocks, interleaved as qv[s][t][4]. */
static subq_status tern_qv_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const tern_mm_job jl = tern_mm_resolve(arg), *j = &jl;
  const int64_t k_pad = j->w->k_pad;
  for (int64_t bk = begin; bk < end; bk++)
    for (int64_t t = 0; t < 16; t++) {
      int8_t *dst = j->qv + bk * 16 * k_pad + 4 * t;
      const int8_t *src = j->q + (bk * 16 + t) * k_pad;
      for (int64_t c = 0; c < k_pad; c += 4) memcpy(dst + c * 16, src + c, 4);
    }
  return SUBQ_OK;
}

/* int8 activations of subq_ternary_matmul_i32: checked (no -128), zero padded
 * to k_pad, summed per token (the epilogue subtracts the sums). */
typedef struct tern_q_job {
  const int8_t *q;
  int64_t q_ld, k, k_pad;
  const tern_ws *ws; /* qp and S are its buffers */
} tern_q_job;

static subq_status tern_q_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const tern_q_job *j = arg;
  int32_t *S = (int32_t *)(void *)(j->ws->base + j->ws->s);
  for (int64_t t = begin; t < end; t++) {
    const int8_t *src = j->q + t * j->q_ld;
    int8_t *dst = (int8_t *)j->ws->base + t * j->k_pad;
    int32_t s = 0;
    for (int64_t c = 0; c < j->k; c++) {
      if (src[c] == -128)
        return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                          "subq_ternary_matmul_i32: q[%lld][%lld] is -128 (activations are in [-127, 127])",
                          (long long)t, (long long)c);
      s += dst[c] = src[c];
    }
    memset(dst + j->k, 0, (size_t)(j->k_pad - j->k));
    S[t] = s;
  }
  return SUBQ_OK;
}

/* The job and its workspace layout; false when a size overflows. */
static bool tern_mm_init(tern_mm_job *j, const subq_ternary *w, const subq_tern_impl *im, int64_t T, bool fused) {
  memset(j, 0, sizeof *j);
  j->w = w, j->im = im, j->T = T, j->fused = fused, j->nw = T >= SUBQ_TERN_WIDE_MIN_T ? T / 16 * 16 : 0;
  j->n_pg = (w->n_pad / 16 + SUBQ_TERN_PG - 1) / SUBQ_TERN_PG;
  j->tb = j->nw ? SUBQ_TERN_WIDE_TB : SUBQ_TERN_TB;
  j->n_tb = (T + j->tb - 1) / j->tb;
  size_t qb, qvb, sb;
  if (!subq_mul_size((size_t)T, (size_t)w->k_pad, &qb) || !subq_mul_size((size_t)j->nw, (size_t)w->k_pad, &qvb) ||
      !subq_mul_size((size_t)T, 4, &sb) || qb > SIZE_MAX / 4 || qvb > SIZE_MAX / 4 || sb > SIZE_MAX / 8)
    return false;
  const size_t al = 64;
  j->ws.qv = (qb + al - 1) / al * al;
  j->ws.s = j->ws.qv + (qvb + al - 1) / al * al;
  j->ws.a = j->ws.s + (sb + al - 1) / al * al;
  j->ws.size = j->ws.a + (fused ? sb : 0);
  return true;
}

/* Runs `first` (which fills q, S and a in the workspace), the interleave
 * into qv when some tokens take the wide path, and the product, with the
 * workspace of the context that runs them. */
static subq_status tern_mm_launch(subq_context *ctx, tern_mm_job *j, subq_phase first) {
  const double bytes = (double)j->w->n_pad * (double)j->w->k_pad / 4.0 * (double)j->T;
  subq_context *run_ctx = subq_ctx_for_work(ctx, bytes, (double)SUBQ_TERN_PARALLEL_BYTES);
  const subq_phase ph[3] = {first, {tern_qv_run, j, j->nw / 16, 0}, {tern_mm_run, j, j->n_pg * j->n_tb, 1}};
  const subq_phase two[2] = {first, ph[2]};
  return subq_parallel_run_shared(run_ctx, j->nw ? ph : two, j->nw ? 3 : 2, tern_mm_scratch(j), j->ws.size,
                                  (void **)&j->ws.base);
}


subq_status subq_ternary_matmul_i32(subq_context *ctx, const subq_ternary *w, int64_t tokens, const int8_t *q,
                                    int64_t q_ld, int32_t *d, int64_t d_ld) {
  static const char fn[] = "subq_ternary_matmul_i32";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (tokens < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)tokens);
  if (tokens == 0) return SUBQ_OK;
  subq_byte_range rq, rd;
  subq_status st;
  if ((st = tern_tensor(fn, "q", q, 1, tokens, w->k, &q_ld, &rq)) ||
      (st = tern_tensor(fn, "d", d, 4, tokens, w->n, &d_ld, &rd)) || (st = tern_check_disjoint(fn, "d", rd, "q", rq)))
    return st;
  /* Phase 1 checks, pads and sums each token's activations (a -128 fails the
   * call before a later phase writes d); then the product. */
  tern_mm_job job;
  if (!tern_mm_init(&job, w, subq_tern_pick(ctx), tokens, false))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens * K overflows", fn);
  job.d = d, job.out_ld = d_ld;
  tern_q_job qj = {q, q_ld, w->k, w->k_pad, &job.ws};
  return tern_mm_launch(ctx, &job, (subq_phase){tern_q_run, &qj, tokens, 0});
}

void subq_bitlinear_args_default(subq_bitlinear_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_bitlinear_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.eps = 1e-6f;
  d.rounding = SUBQ_ROUND_HALF_EVEN;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

subq_status subq_bitlinear(subq_context *ctx, const subq_ternary *w, const subq_bitlinear_args *args) {
  static const char fn[] = "subq_bitlinear";
  if (!w) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w is NULL", fn);
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_bitlinear_args g;
  subq_bitlinear_args_default(&g, sizeof g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, sizeof g, fn);
  if (st) return st;
  if (g.tokens < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)g.tokens);
  if (g.flags & ~SUBQ_TERNARY_RMSNORM)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, (unsigned)g.flags);
  if ((st = tern_check_round(fn, g.rounding)) || (st = tern_check_eps(fn, g.eps))) return st;
  if (g.tokens == 0) return SUBQ_OK;
  subq_byte_range rx, ro, rw = {0, 0}, rr = {0, 0};
  int64_t one = 0;
  if ((st = tern_tensor(fn, "x", g.x, 4, g.tokens, w->k, &g.x_ld, &rx)) ||
      (st = tern_tensor(fn, "out", g.out, 4, g.tokens, w->n, &g.out_ld, &ro)) ||
      (g.norm_weight && (st = tern_tensor(fn, "norm_weight", g.norm_weight, 4, 1, w->k, &one, &rw))) ||
      (g.residual && (st = tern_tensor(fn, "residual", g.residual, 4, g.tokens, w->n, &g.residual_ld, &rr))))
    return st;
  if ((st = tern_check_disjoint(fn, "out", ro, "x", rx)) || (st = tern_check_disjoint(fn, "out", ro, "norm_weight", rw)))
    return st;
  if (g.residual && !(g.residual == g.out && g.residual_ld == g.out_ld) &&
      (st = tern_check_disjoint(fn, "out", ro, "residual", rr)))
    return st;
  const subq_tern_impl *im = subq_tern_pick(ctx);
  tern_mm_job mj;
  if (!tern_mm_init(&mj, w, im, g.tokens, true))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens * K overflows", fn);
  mj.out = g.out, mj.out_ld = g.out_ld, mj.res = g.residual, mj.res_ld = g.residual_ld;
  tern_actq_job aj = {im->actq, g.x, g.norm_weight, g.x_ld, w->k, w->k_pad, w->k_pad,
                      (g.flags & SUBQ_TERNARY_RMSNORM) != 0, g.eps, (int)g.rounding, NULL, NULL, NULL, &mj.ws};
  return tern_mm_launch(ctx, &mj, (subq_phase){tern_actq_run, &aj, g.tokens, 0});
}

/* ---- HGRN ------------------------------------------------------------------------------------------------ */

void subq_hgrn_args_default(subq_hgrn_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_hgrn_args d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.eps = 1e-6f;
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

typedef struct tern_hgrn_job {
  subq_hgrn_args g;
  const subq_tern_impl *im;
} tern_hgrn_job;

static subq_status tern_scan_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const tern_hgrn_job *j = arg;
  const subq_hgrn_args *g = &j->g;
  for (int64_t it = begin; it < end; it++) {
    const int64_t c0 = it * SUBQ_TERN_SCAN_CB, nc = SUBQ_MIN(SUBQ_TERN_SCAN_CB, g->channels - c0);
    j->im->scan(g->tokens, nc, g->i + c0, g->i_ld, g->f + c0, g->f_ld, g->lower_bound ? g->lower_bound + c0 : NULL,
                g->state_in ? g->state_in + c0 : NULL, g->state_out ? g->state_out + c0 : NULL, g->out + c0,
                g->out_ld);
  }
  return SUBQ_OK;
}

static subq_status tern_gate_run(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const tern_hgrn_job *j = arg;
  const subq_hgrn_args *g = &j->g;
  for (int64_t t = begin; t < end; t++)
    j->im->gate(g->channels, g->gate + t * g->gate_ld, g->gate_norm_weight, g->eps, g->out + t * g->out_ld);
  return SUBQ_OK;
}

static subq_status tern_hgrn(subq_context *ctx, const subq_hgrn_args *args, const char *fn, bool step) {
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  tern_hgrn_job job;
  subq_hgrn_args *g = &job.g;
  subq_hgrn_args_default(g, sizeof *g);
  subq_status st = subq_read_struct(g, sizeof *g, args, args->struct_size, sizeof *g, fn);
  if (st) return st;
  if (g->tokens < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) < 0", fn, (long long)g->tokens);
  if (step && g->tokens != 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tokens (%lld) != 1 for a decode step", fn, (long long)g->tokens);
  if (step && !g->state_out)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: state_out is NULL for a decode step", fn);
  if (g->channels < 1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: channels (%lld) < 1", fn, (long long)g->channels);
  if ((st = tern_check_eps(fn, g->eps))) return st;
  if (g->tokens == 0) return SUBQ_OK;
  subq_byte_range ri, rf, ro, rg = {0, 0}, rl = {0, 0}, rsi = {0, 0}, rso = {0, 0}, rw = {0, 0};
  int64_t z1 = 0, z2 = 0, z3 = 0, z4 = 0;
  const int64_t T = g->tokens, C = g->channels;
  if ((st = tern_tensor(fn, "i", g->i, 4, T, C, &g->i_ld, &ri)) ||
      (st = tern_tensor(fn, "f", g->f, 4, T, C, &g->f_ld, &rf)) ||
      (st = tern_tensor(fn, "out", g->out, 4, T, C, &g->out_ld, &ro)) ||
      (g->gate && (st = tern_tensor(fn, "gate", g->gate, 4, T, C, &g->gate_ld, &rg))) ||
      (g->lower_bound && (st = tern_tensor(fn, "lower_bound", g->lower_bound, 4, 1, C, &z1, &rl))) ||
      (g->state_in && (st = tern_tensor(fn, "state_in", g->state_in, 4, 1, C, &z2, &rsi))) ||
      (g->state_out && (st = tern_tensor(fn, "state_out", g->state_out, 4, 1, C, &z3, &rso))) ||
      (g->gate_norm_weight && (st = tern_tensor(fn, "gate_norm_weight", g->gate_norm_weight, 4, 1, C, &z4, &rw))))
    return st;
  const char *in_names[] = {"i", "f", "gate", "lower_bound", "state_in", "gate_norm_weight"};
  const subq_byte_range ins[] = {ri, rf, rg, rl, rsi, rw};
  for (int k = 0; k < 6; k++) {
    if ((st = tern_check_disjoint(fn, "out", ro, in_names[k], ins[k]))) return st;
    if (k != 4 && (st = tern_check_disjoint(fn, "state_out", rso, in_names[k], ins[k]))) return st;
  }
  if ((st = tern_check_disjoint(fn, "state_out", rso, "out", ro))) return st;
  if (g->state_out && g->state_in && g->state_out != g->state_in &&
      (st = tern_check_disjoint(fn, "state_out", rso, "state_in", rsi)))
    return st;
  job.im = subq_tern_pick(ctx);
  const subq_phase ph[2] = {{tern_scan_run, &job, (C + SUBQ_TERN_SCAN_CB - 1) / SUBQ_TERN_SCAN_CB, 0},
                            {tern_gate_run, &job, T, 0}};
  const double bytes = (double)T * (double)C * 4.0 * (g->gate ? 5.0 : 3.0);
  return subq_parallel_run(subq_ctx_for_work(ctx, bytes, (double)SUBQ_TERN_PARALLEL_BYTES), ph, g->gate ? 2 : 1, 0);
}

subq_status subq_hgrn_f32(subq_context *ctx, const subq_hgrn_args *args) {
  return tern_hgrn(ctx, args, "subq_hgrn_f32", false);
}
subq_status subq_hgrn_step_f32(subq_context *ctx, const subq_hgrn_args *args) {
  return tern_hgrn(ctx, args, "subq_hgrn_step_f32", true);
}
