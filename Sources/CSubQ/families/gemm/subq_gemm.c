/*
 * subq_gemm.c — dense GEMM driver: validation, blocking, packing, phases.
 *
 * Written once for every ISA; only the micro-kernels of subq_gemm_impls.inc
 * are per ISA. Three execution shapes, chosen from the problem shape only
 * (never the thread count):
 *   small M  — m <= a few rows and B with contiguous columns (dot form) or
 *              rows (rows form, also prepacked panels): B is streamed once,
 *              unpacked, items are column chunks;
 *   private  — batched or m <= MC: each item (matrix, row block, column
 *              group) packs its own A block and B group into its scratch;
 *   shared   — one large product: per (NC, KC) block A and B are packed
 *              into shared buffers (two pairs), and (row block, column
 *              group) tiles computed (BLIS loop order JC, PC, IC, JR, IR);
 *              a phase computes one block and packs the next.
 * Every element of C sums k in increasing order: KC blocks in order, each one
 * FMA chain inside a micro-kernel, so results are bitwise identical for any
 * thread count or executor.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/gemm/subq_gemm_ukernel.h"
#include "internal/subq_byte_range.h"
#include "internal/subq_internal.h"
#include "internal/subq_isa.h"
#include "internal/subq_parallel.h"
#include "internal/subq_topology_internal.h"
#include "internal/subq_weights.h"

/* ---- the micro-kernel list ------------------------------------------------------ */

typedef struct subq_gemm_impl {
  subq_isa isa;
  const char *name;
  int64_t mr, nr;
  subq_f32_gemm_ukernel_fn gemm;
  subq_f32wbf16_gemm_ukernel_fn gemm_bf16; /* the same over bf16 B panels (prepacked bf16 B) */
  subq_f32_gemm_dot_fn dot_f32, dot_bf16;
  subq_f32_gemm_rows_fn rows_f32, rows_bf16;
} subq_gemm_impl;

static const subq_gemm_impl subq_gemm_impls[] = {
#define SUBQ_GEMM_UKERNEL(isa, gemm, g16, mr, nr, d32, d16, r32, r16) {isa, #gemm, mr, nr, gemm, g16, d32, d16, r32, r16},
#include "families/gemm/subq_gemm_impls.inc"
#undef SUBQ_GEMM_UKERNEL
};
#define SUBQ_GEMM_N_IMPLS ((int)(sizeof subq_gemm_impls / sizeof subq_gemm_impls[0]))

_Static_assert(sizeof subq_gemm_impls / sizeof subq_gemm_impls[0] >= 1, "the impl list ends with scalar");

typedef struct subq_gemm_short_tile {
  subq_f32_gemm_ukernel_fn main;
  int64_t rows;
  subq_f32_gemm_ukernel_fn f32;
  subq_f32wbf16_gemm_ukernel_fn bf16;
} subq_gemm_short_tile;

static const subq_gemm_short_tile subq_gemm_short_tiles[] = {
#define SUBQ_GEMM_SHORT_TILE(main, rows, f32, bf16) {main, rows, f32, bf16},
#include "families/gemm/subq_gemm_short_tiles.inc"
#undef SUBQ_GEMM_SHORT_TILE
    {NULL, 0, NULL, NULL}};

/* The smallest short-tile ukernel of `u` that computes `rows` rows, or NULL (the full one). */
static const subq_gemm_short_tile *subq_gemm_short_for(const subq_gemm_impl *u, int64_t rows) {
  for (const subq_gemm_short_tile *s = subq_gemm_short_tiles; s->main; s++)
    if (s->main == u->gemm && rows <= s->rows) return s;
  return NULL;
}

static const subq_gemm_impl *subq_gemm_pick(subq_isa chosen) {
  for (int i = 0; i < SUBQ_GEMM_N_IMPLS; i++)
    if (subq_gemm_impls[i].mr <= SUBQ_GEMM_MAX_MR && subq_gemm_impls[i].nr <= SUBQ_GEMM_MAX_NR &&
        subq_isa_allows(chosen, subq_gemm_impls[i].isa))
      return &subq_gemm_impls[i];
  return &subq_gemm_impls[SUBQ_GEMM_N_IMPLS - 1];
}

/* ---- prepacked B object ------------------------------------------------------------ */

#define SUBQ_GEMM_PACKED_MAGIC 0x53514250u /* "SQBP" */

struct subq_gemm_packed_b {
  uint32_t magic;
  const subq_gemm_impl *impl; /* the ukernel whose panel layout `data` holds */
  int64_t k, n;
  subq_dtype dt;              /* element type of the panels: f32, or bf16 (bf16 B kept as bf16) */
  int64_t n_panels;           /* ceil(n / NR); panel j: k x NR elements at data + j * k * NR */
  size_t bytes;               /* of one copy */
  subq_weights_mem mem;       /* the panels, placed by the packing context's NUMA mode */
};

/* Panels of `p` as participant `info` reads them (its node's replica under MIRROR). */
static inline const void *subq_packed_data(const subq_gemm_packed_b *p, const subq_task_info *info) {
  return subq_weights_copy_for(&p->mem, info);
}

/* ---- args ------------------------------------------------------------------------- */

#define SUBQ_GEMM_ARGS_MIN_SIZE sizeof(subq_gemm_args)

static void subq_gemm_fill_defaults(subq_gemm_args *d) {
  memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
  d->alpha = 1.0f;
  d->beta = 0.0f;
  d->a_dtype = SUBQ_DTYPE_F32;
  d->b_dtype = SUBQ_DTYPE_F32;
  d->batch_count = 1;
}

void subq_gemm_args_default(subq_gemm_args *p, size_t struct_size) {
  if (!p || struct_size == 0) return;
  subq_gemm_args d;
  subq_gemm_fill_defaults(&d);
  subq_write_defaults(p, struct_size, &d, sizeof d);
}

/* The validated, normalised problem. Strides of extent-1 dimensions are 0. */
typedef struct subq_gemm_prob {
  const char *fn;
  int64_t m, n, k, batch;
  float alpha, beta;
  subq_dtype at, bt;
  const void *a;
  int64_t a_rs, a_cs, a_bs;
  const void *b;
  int64_t b_rs, b_cs, b_bs;
  float *c;
  int64_t c_rs, c_cs, c_bs;
  const subq_gemm_packed_b *packed;
  const subq_gemm_impl *impl;
} subq_gemm_prob;

static bool subq_dtype_ok(subq_dtype t) { return t == SUBQ_DTYPE_F32 || t == SUBQ_DTYPE_BF16; }

/* Checks one stride of a dimension of extent d; zeroes it when unused. */
static subq_status subq_gemm_check_stride(const char *fn, const char *name, int64_t *s, int64_t d, const char *dim) {
  if (d <= 1) {
    *s = 0;
    return SUBQ_OK;
  }
  if (*s < 1)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s (%lld) must be >= 1 when %s > 1", fn, name, (long long)*s,
                      dim);
  return SUBQ_OK;
}

static subq_status subq_gemm_check_bstride(const char *fn, const char *name, int64_t *s, int64_t batch,
                                           bool allow_zero) {
  if (batch <= 1) {
    *s = 0;
    return SUBQ_OK;
  }
  if (*s < 0 || (*s == 0 && !allow_zero))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s (%lld) must be %s when batch_count > 1", fn, name,
                      (long long)*s, allow_zero ? ">= 0" : ">= 1");
  return SUBQ_OK;
}

/* Byte range spanned by an operand; errors on int64 overflow. */
static subq_status subq_gemm_extent(const char *fn, const char *what, const void *p, size_t esize, int64_t d1,
                                    int64_t s1, int64_t d2, int64_t s2, int64_t d3, int64_t s3, subq_byte_range *r) {
  int64_t o1, o2, o3, off, n, bytes;
  if (!subq_mul_i64(d1 - 1, s1, &o1) || !subq_mul_i64(d2 - 1, s2, &o2) || !subq_mul_i64(d3 - 1, s3, &o3) ||
      !subq_add_i64(o1, o2, &off) || !subq_add_i64(off, o3, &off) || !subq_add_i64(off, 1, &n) ||
      !subq_mul_i64(n, (int64_t)esize, &bytes) || !subq_byte_range_at(p, bytes, r))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of %s overflows int64 (shape and strides)", fn,
                      what);
  return SUBQ_OK;
}

/* ---- C aliasing: does i*s1 + j*s2 (+ t*s3) repeat an offset? ----------------------- */

static int64_t subq_gcd_i64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Inverse of a modulo mod (gcd 1, mod >= 1). */
static __int128 subq_modinv(__int128 a, __int128 mod) {
  __int128 r0 = mod, r1 = ((a % mod) + mod) % mod, t0 = 0, t1 = 1;
  while (r1) {
    __int128 q = r0 / r1, tmp = r0 - q * r1;
    r0 = r1, r1 = tmp;
    tmp = t0 - q * t1;
    t0 = t1, t1 = tmp;
  }
  return ((t0 % mod) + mod) % mod;
}

static __int128 subq_floor_div(__int128 a, __int128 b) { /* b > 0 */
  __int128 q = a / b;
  if ((a % b) != 0 && a < 0) q--;
  return q;
}
static __int128 subq_ceil_div(__int128 a, __int128 b) { return -subq_floor_div(-a, b); }

/* Whether x*s1 + y*s2 == t has a solution with |x| < d1, |y| < d2 (and
 * (x, y) != 0 when t == 0). s1, s2 >= 1. */
static bool subq_collide2(int64_t s1, int64_t d1, int64_t s2, int64_t d2, __int128 t) {
  const int64_t g = subq_gcd_i64(s1, s2);
  if (t == 0) return s2 / g < d1 && s1 / g < d2;
  if (t % g) return false;
  const __int128 a = s1 / g, b = s2 / g, tt = t / g;
  /* x = x0 + u*b, y = (tt - x*a)/b = y0 - u*a */
  const __int128 x0 = b == 1 ? 0 : ((tt % b + b) % b) * subq_modinv(a, b) % b;
  const __int128 y0 = (tt - x0 * a) / b;
  __int128 lo = subq_ceil_div(-(__int128)(d1 - 1) - x0, b), hi = subq_floor_div((__int128)(d1 - 1) - x0, b);
  __int128 lo2 = subq_ceil_div(y0 - (__int128)(d2 - 1), a), hi2 = subq_floor_div(y0 + (__int128)(d2 - 1), a);
  if (lo2 > lo) lo = lo2;
  if (hi2 < hi) hi = hi2;
  return lo <= hi;
}

/* Whether two distinct (i, j, t) with i < d[0], j < d[1], t < d[2] share an
 * offset under strides s (dimensions of extent 1 are ignored). */
static bool subq_strides_alias(const int64_t d[3], const int64_t s[3]) {
  int64_t dd[3], ss[3];
  int nd = 0;
  for (int i = 0; i < 3; i++)
    if (d[i] > 1) dd[nd] = d[i], ss[nd] = s[i], nd++;
  if (nd <= 1) return false;
  if (nd == 2) return subq_collide2(ss[0], dd[0], ss[1], dd[1], 0);
  if (subq_collide2(ss[0], dd[0], ss[1], dd[1], 0) || subq_collide2(ss[0], dd[0], ss[2], dd[2], 0) ||
      subq_collide2(ss[1], dd[1], ss[2], dd[2], 0))
    return true;
  /* loop over the shortest dimension; the others solve a 2-variable equation */
  int w = 0;
  for (int i = 1; i < 3; i++)
    if (dd[i] < dd[w]) w = i;
  const int u = w == 0 ? 1 : 0, v = w == 2 ? 1 : 2;
  for (int64_t t = 1; t < dd[w]; t++)
    if (subq_collide2(ss[u], dd[u], ss[v], dd[v], -(__int128)t * ss[w])) return true;
  return false;
}

/* Validates args (packed: B comes from `packed`) into *pr. */
static subq_status subq_gemm_validate(const char *fn, subq_context *ctx, const subq_gemm_args *args,
                                      const subq_gemm_packed_b *packed, bool use_packed, subq_gemm_prob *pr,
                                      bool *empty) {
  *empty = false;
  if (!args) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args is NULL", fn);
  subq_gemm_args g;
  subq_gemm_fill_defaults(&g);
  subq_status st = subq_read_struct(&g, sizeof g, args, args->struct_size, SUBQ_GEMM_ARGS_MIN_SIZE, fn);
  if (st != SUBQ_OK) return st;
  if (g.m < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m (%lld) < 0", fn, (long long)g.m);
  if (g.n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)g.n);
  if (g.k < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) < 0", fn, (long long)g.k);
  if (g.batch_count < 0)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: batch_count (%lld) < 0", fn, (long long)g.batch_count);
  if (!subq_dtype_ok(g.a_dtype))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a_dtype (%d) is not f32 or bf16", fn, (int)g.a_dtype);
  if (use_packed) {
    if (!packed) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed is NULL", fn);
    if (packed->magic != SUBQ_GEMM_PACKED_MAGIC)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed is not a packed B", fn);
    if (g.k != packed->k || g.n != packed->n)
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: args k x n (%lld x %lld) differs from packed (%lld x %lld)",
                        fn, (long long)g.k, (long long)g.n, (long long)packed->k, (long long)packed->n);
    const subq_isa isa = subq_context_isa_or_default(ctx);
    if (!subq_isa_allows(isa, packed->impl->isa))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed was packed for ISA %s, which ctx (%s) does not allow",
                        fn, subq_isa_name(packed->impl->isa), subq_isa_name(isa));
  } else if (!subq_dtype_ok(g.b_dtype)) {
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b_dtype (%d) is not f32 or bf16", fn, (int)g.b_dtype);
  }
  memset(pr, 0, sizeof *pr);
  pr->fn = fn;
  pr->m = g.m, pr->n = g.n, pr->k = g.k, pr->batch = g.batch_count;
  pr->alpha = g.alpha, pr->beta = g.beta;
  pr->at = g.a_dtype, pr->bt = use_packed ? packed->dt : g.b_dtype;
  pr->packed = use_packed ? packed : NULL;
  pr->impl = use_packed ? packed->impl : subq_gemm_pick(subq_context_isa_or_default(ctx));
  if (g.m == 0 || g.n == 0 || g.batch_count == 0) {
    *empty = true;
    return SUBQ_OK;
  }
  if (!g.c) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: c is NULL", fn);
  const bool reads_ab = g.k > 0 && g.alpha != 0.0f;
  const int64_t batch = g.batch_count;
  /* C */
  if ((st = subq_gemm_check_stride(fn, "c_rs", &g.c_rs, g.m, "m")) != SUBQ_OK) return st;
  if ((st = subq_gemm_check_stride(fn, "c_cs", &g.c_cs, g.n, "n")) != SUBQ_OK) return st;
  if ((st = subq_gemm_check_bstride(fn, "c_bs", &g.c_bs, batch, false)) != SUBQ_OK) return st;
  subq_byte_range rc = {0, 0}, ro = {0, 0};
  if ((st = subq_gemm_extent(fn, "c", g.c, sizeof(float), g.m, g.c_rs, g.n, g.c_cs, batch, g.c_bs, &rc)) != SUBQ_OK)
    return st;
  {
    const int64_t d[3] = {g.m, g.n, batch}, s[3] = {g.c_rs, g.c_cs, g.c_bs};
    if (subq_strides_alias(d, s))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                        "%s: c strides (c_rs %lld, c_cs %lld, c_bs %lld) map two elements of c to one address", fn,
                        (long long)g.c_rs, (long long)g.c_cs, (long long)g.c_bs);
  }
  /* A */
  if (g.k > 0) {
    if (!g.a) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a is NULL", fn);
    if ((st = subq_gemm_check_stride(fn, "a_rs", &g.a_rs, g.m, "m")) != SUBQ_OK) return st;
    if ((st = subq_gemm_check_stride(fn, "a_cs", &g.a_cs, g.k, "k")) != SUBQ_OK) return st;
    if ((st = subq_gemm_check_bstride(fn, "a_bs", &g.a_bs, batch, true)) != SUBQ_OK) return st;
    if ((st = subq_gemm_extent(fn, "a", g.a, subq_dtype_size(g.a_dtype), g.m, g.a_rs, g.k, g.a_cs, batch, g.a_bs, &ro)) !=
        SUBQ_OK)
      return st;
    if (reads_ab && subq_byte_ranges_overlap(rc, ro)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: c overlaps a", fn);
  }
  /* B */
  if (g.k > 0 && !use_packed) {
    if (!g.b) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b is NULL", fn);
    if ((st = subq_gemm_check_stride(fn, "b_rs", &g.b_rs, g.k, "k")) != SUBQ_OK) return st;
    if ((st = subq_gemm_check_stride(fn, "b_cs", &g.b_cs, g.n, "n")) != SUBQ_OK) return st;
    if ((st = subq_gemm_check_bstride(fn, "b_bs", &g.b_bs, batch, true)) != SUBQ_OK) return st;
    if ((st = subq_gemm_extent(fn, "b", g.b, subq_dtype_size(g.b_dtype), g.k, g.b_rs, g.n, g.b_cs, batch, g.b_bs, &ro)) !=
        SUBQ_OK)
      return st;
    if (reads_ab && subq_byte_ranges_overlap(rc, ro)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: c overlaps b", fn);
  }
  pr->a = g.a, pr->a_rs = g.a_rs, pr->a_cs = g.a_cs, pr->a_bs = g.a_bs;
  if (!use_packed) pr->b = g.b, pr->b_rs = g.b_rs, pr->b_cs = g.b_cs, pr->b_bs = g.b_bs;
  pr->c = g.c, pr->c_rs = g.c_rs, pr->c_cs = g.c_cs, pr->c_bs = g.c_bs;
  return SUBQ_OK;
}

/* ---- blocking ----------------------------------------------------------------------- */

typedef struct subq_gemm_blocking {
  int64_t kc, mc, nc, ng; /* ng: columns per compute item (a multiple of NR) */
  size_t l3;
} subq_gemm_blocking;

static int64_t subq_round_down(int64_t x, int64_t m) { return x / m * m; }
static int64_t subq_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
/* a >= 0, b >= 1; no overflow for any a (pack_b with k == 0 takes n up to INT64_MAX) */
static int64_t subq_ceil_div64(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* c_bytes: size of one C matrix. When C does not fit in half of L3, every KC
 * block re-reads and re-writes C from memory (4096^2 f32: 64 MiB x 16 blocks
 * = 2 GiB, ~10% of the run time on 2 Zen 3 cores); KC is doubled there (the
 * B micro-panel then fills L1; measured neutral on 2048^2 with 1 thread). */
static subq_gemm_blocking subq_gemm_block_sizes(const subq_gemm_impl *u, double c_bytes) {
  const subq_topology *t = subq_host_topology();
  size_t l1 = t ? subq_topology_cache_size(t, 1) : 0, l2 = t ? subq_topology_cache_size(t, 2) : 0,
         l3 = t ? subq_topology_cache_size(t, 3) : 0;
  if (l1 < 8192 || l1 > ((size_t)1 << 22)) l1 = 32768;
  if (l2 < 65536 || l2 > ((size_t)1 << 26)) l2 = (size_t)512 << 10;
  if (l3 < l2 || l3 > ((size_t)1 << 31)) l3 = (size_t)8 << 20;
  subq_gemm_blocking b;
  /* a B micro-panel (KC x NR) fills half of L1 */
  b.kc = SUBQ_MAX(64, SUBQ_MIN(1024, subq_round_down((int64_t)(l1 / 2) / (u->nr * 4), 8)));
  if (c_bytes > (double)(l3 / 2)) b.kc = SUBQ_MIN(2 * b.kc, 1024);
  /* an A block (MC x KC) fills half of L2 */
  b.mc = SUBQ_MAX(u->mr, subq_round_down(SUBQ_MIN((int64_t)(l2 / 2) / (b.kc * 4), 480), u->mr));
  /* a shared B block (KC x NC) takes a quarter of L3 */
  b.nc = SUBQ_MAX(u->nr * 16, subq_round_down(SUBQ_MIN((int64_t)(l3 / 4) / (b.kc * 4), 8192), u->nr));
  b.ng = subq_round_up(256, u->nr);
  b.l3 = l3;
  return b;
}

/* ---- packing (any strides, f32 or bf16, exact widening) ----------------------------- */

static inline float subq_load_elem(const void *p, subq_dtype t, int64_t off) {
  return t == SUBQ_DTYPE_BF16 ? subq_bf16_to_f32_1(((const uint16_t *)p)[off]) : ((const float *)p)[off];
}

/* rows x kc of a matrix (element (i, p) at x[i*rs + p*cs]) into one micro-panel
 * of `mr` rows: dst[p*mr + i], zero rows past `rows`. */
/* Full f32 panels with the panel width a compile-time constant, so the copies
 * vectorise (contiguous rows: one vector copy per k; contiguous k: MRC
 * sequential streams). */
#define SUBQ_PACK_FULL(MRC)                                                                                        \
  static void subq_pack_full_##MRC(float *restrict dst, const float *restrict s, int64_t rs, int64_t cs,           \
                                   int64_t kc) {                                                                   \
    if (rs == 1) {                                                                                                 \
      for (int64_t p = 0; p < kc; p++)                                                                             \
        for (int i = 0; i < MRC; i++) dst[p * MRC + i] = s[p * cs + i];                                            \
    } else if (cs == 1) {                                                                                          \
      for (int64_t p = 0; p < kc; p++)                                                                             \
        for (int i = 0; i < MRC; i++) dst[p * MRC + i] = s[i * rs + p];                                            \
    } else {                                                                                                       \
      for (int64_t p = 0; p < kc; p++)                                                                             \
        for (int i = 0; i < MRC; i++) dst[p * MRC + i] = s[i * rs + p * cs];                                       \
    }                                                                                                              \
  }
SUBQ_PACK_FULL(4)
SUBQ_PACK_FULL(6)
SUBQ_PACK_FULL(8)
SUBQ_PACK_FULL(12)
SUBQ_PACK_FULL(16)

static void subq_pack_panel(float *dst, const void *x, subq_dtype t, int64_t rs, int64_t cs, int64_t rows,
                            int64_t kc, int64_t mr) {
  if (t == SUBQ_DTYPE_F32 && rows == mr) {
    switch (mr) {
      case 4: subq_pack_full_4(dst, x, rs, cs, kc); return;
      case 6: subq_pack_full_6(dst, x, rs, cs, kc); return;
      case 8: subq_pack_full_8(dst, x, rs, cs, kc); return;
      case 12: subq_pack_full_12(dst, x, rs, cs, kc); return;
      case 16: subq_pack_full_16(dst, x, rs, cs, kc); return;
      default: break;
    }
  }
  if (t == SUBQ_DTYPE_F32 && rs == 1) {
    const float *s = x;
    for (int64_t p = 0; p < kc; p++) {
      const float *sp = s + p * cs;
      float *d = dst + p * mr;
      int64_t i = 0;
      for (; i < rows; i++) d[i] = sp[i];
      for (; i < mr; i++) d[i] = 0.0f;
    }
    return;
  }
  if (t == SUBQ_DTYPE_BF16 && rs == 1) { /* panel rows contiguous (row-major bf16 B): widen k row by k row */
    const uint16_t *s = x;
    for (int64_t p = 0; p < kc; p++) {
      const uint16_t *sp = s + p * cs;
      float *d = dst + p * mr;
      int64_t i = 0;
      for (; i < rows; i++) d[i] = subq_bf16_to_f32_1(sp[i]);
      for (; i < mr; i++) d[i] = 0.0f;
    }
    return;
  }
  if (t == SUBQ_DTYPE_BF16 && cs == 1) { /* k contiguous: one sequential stream per panel row */
    const uint16_t *s = x;
    for (int64_t i = 0; i < rows; i++)
      for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = subq_bf16_to_f32_1(s[i * rs + p]);
  } else if (t == SUBQ_DTYPE_F32) {
    const float *s = x;
    for (int64_t i = 0; i < rows; i++) {
      const float *si = s + i * rs;
      if (cs == 1)
        for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = si[p];
      else
        for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = si[p * cs];
    }
  } else {
    for (int64_t i = 0; i < rows; i++)
      for (int64_t p = 0; p < kc; p++) dst[p * mr + i] = subq_load_elem(x, t, i * rs + p * cs);
  }
  for (int64_t p = 0; p < kc && rows < mr; p++)
    for (int64_t i = rows; i < mr; i++) dst[p * mr + i] = 0.0f;
}

static inline const void *subq_offset(const void *p, subq_dtype t, int64_t off) {
  return (const char *)p + off * (int64_t)subq_dtype_size(t);
}

/* A block rows [i0, i0+mc) x cols [p0, p0+kc) of matrix t into MR panels. */
static void subq_pack_a_block(const subq_gemm_prob *pr, const void *a, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                              float *dst) {
  const int64_t mr = pr->impl->mr;
  for (int64_t ir = 0; ir < mc; ir += mr)
    subq_pack_panel(dst + ir * kc, subq_offset(a, pr->at, (i0 + ir) * pr->a_rs + p0 * pr->a_cs), pr->at, pr->a_rs,
                    pr->a_cs, SUBQ_MIN(mr, mc - ir), kc, mr);
}

/* B block rows [p0, p0+kc) x cols [j0, j0+nc) into NR panels (B^T panels). */
static void subq_pack_b_panel(const subq_gemm_prob *pr, const void *b, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                              float *dst) {
  const int64_t nr = pr->impl->nr;
  subq_pack_panel(dst, subq_offset(b, pr->bt, p0 * pr->b_rs + j0 * pr->b_cs), pr->bt, pr->b_cs, pr->b_rs,
                  SUBQ_MIN(nr, nc), kc, nr);
}

/* B block rows [p0, p0+kc) x cols [j0, j0+nc) into consecutive NR panels
 * (panel q at dst + q * kc * NR). Rows of B contiguous in f32: one pass over
 * k copying whole row segments (long sequential reads instead of one cache
 * line per row and panel). */
static void subq_pack_b_block(const subq_gemm_prob *pr, const void *b, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                              float *dst, int64_t bps) {
  const int64_t nr = pr->impl->nr, nfull = nc / nr;
  if (pr->bt == SUBQ_DTYPE_BF16 && pr->b_cs == 1 && nfull > 1) { /* the same, widening on the way */
    const uint16_t *src = (const uint16_t *)b + p0 * pr->b_rs + j0;
    for (int64_t p = 0; p < kc; p++) {
      const uint16_t *row = src + p * pr->b_rs;
      float *d = dst + p * nr;
      if (nr == 16) {
        for (int64_t q = 0; q < nfull; q++)
          for (int jj = 0; jj < 16; jj++) d[q * bps + jj] = subq_bf16_to_f32_1(row[q * 16 + jj]);
      } else {
        for (int64_t q = 0; q < nfull; q++)
          for (int64_t jj = 0; jj < nr; jj++) d[q * bps + jj] = subq_bf16_to_f32_1(row[q * nr + jj]);
      }
    }
    if (nfull * nr < nc) subq_pack_b_panel(pr, b, p0, kc, j0 + nfull * nr, nc - nfull * nr, dst + nfull * bps);
    return;
  }
  if (pr->bt == SUBQ_DTYPE_F32 && pr->b_cs == 1 && nfull > 1) {
    const float *src = (const float *)b + p0 * pr->b_rs + j0;
    for (int64_t p = 0; p < kc; p++) {
      const float *row = src + p * pr->b_rs;
      float *d = dst + p * nr;
      if (nr == 16) { /* constant-size copies compile to vector moves */
        for (int64_t q = 0; q < nfull; q++) memcpy(d + q * bps, row + q * 16, 16 * sizeof(float));
      } else {
        for (int64_t q = 0; q < nfull; q++) memcpy(d + q * bps, row + q * nr, (size_t)nr * sizeof(float));
      }
    }
    if (nfull * nr < nc) subq_pack_b_panel(pr, b, p0, kc, j0 + nfull * nr, nc - nfull * nr, dst + nfull * bps);
    return;
  }
  for (int64_t jr = 0; jr < nc; jr += nr) subq_pack_b_panel(pr, b, p0, kc, j0 + jr, nc - jr, dst + (jr / nr) * bps);
}

/* Lines of a 2-D block (rows of row_bytes, stride apart) to pull into cache
 * while the ukernels work: the next item's B, so that its packing does not
 * wait on memory. */
typedef struct subq_prefetch {
  const char *base;
  int64_t stride, rows, lines_per_row, next, total;
  int64_t r, l; /* position of line `next` */
} subq_prefetch;

static void subq_prefetch_init(subq_prefetch *pf, const void *base, int64_t stride, int64_t rows, int64_t row_bytes) {
  pf->base = base;
  pf->stride = stride;
  pf->rows = rows;
  pf->lines_per_row = (row_bytes + 63) / 64;
  pf->next = 0;
  pf->r = pf->l = 0;
  pf->total = base ? rows * pf->lines_per_row : 0;
}

static inline void subq_prefetch_some(subq_prefetch *pf, int64_t count) {
  for (; count > 0 && pf->next < pf->total; count--, pf->next++) {
    __builtin_prefetch(pf->base + pf->r * pf->stride + pf->l * 64, 0, 2);
    if (++pf->l == pf->lines_per_row) pf->l = 0, pf->r++;
  }
}

/* mc x nc of C from packed A (MR panels, kc deep) and B panels of type bt (f32, or
 * bf16 from a prepacked bf16 B; panel stride bps and row stride ldb in elements). */
static void subq_gemm_macro(const subq_gemm_impl *u, int64_t mc, int64_t nc, int64_t kc, const float *pa,
                            const void *pb, subq_dtype bt, int64_t bps, int64_t ldb, float *c, int64_t c_rs,
                            int64_t c_cs, float alpha, float beta, subq_prefetch *pf) {
  const int64_t mr = u->mr, nr = u->nr;
  const int64_t calls = ((nc + nr - 1) / nr) * ((mc + mr - 1) / mr);
  const int64_t per_call = pf && pf->total ? (pf->total + calls - 1) / calls : 0;
  /* only the last row tile can be short: its ukernels, chosen once */
  const subq_gemm_short_tile *st = mc % mr ? subq_gemm_short_for(u, mc % mr) : NULL;
  const subq_f32_gemm_ukernel_fn last32 = st ? st->f32 : u->gemm;
  const subq_f32wbf16_gemm_ukernel_fn last16 = st ? st->bf16 : u->gemm_bf16;
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const void *bp = subq_offset(pb, bt, (jr / nr) * bps);
    const int64_t nn = SUBQ_MIN(nr, nc - jr);
    for (int64_t ir = 0; ir < mc; ir += mr) {
      const int64_t mm = SUBQ_MIN(mr, mc - ir);
      if (bt == SUBQ_DTYPE_BF16)
        (mm < mr ? last16 : u->gemm_bf16)(kc, pa + ir * kc, bp, ldb, c + ir * c_rs + jr * c_cs, c_rs, c_cs, mm, nn,
                                          alpha, beta);
      else
        (mm < mr ? last32 : u->gemm)(kc, pa + ir * kc, bp, ldb, c + ir * c_rs + jr * c_cs, c_rs, c_cs, mm, nn, alpha,
                                     beta);
      if (per_call) subq_prefetch_some(pf, per_call);
    }
  }
}

/* ---- C = beta * C (k == 0 or alpha == 0) ------------------------------------------- */

static subq_status subq_gemm_scale_rows(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_gemm_prob *pr = arg;
  for (int64_t r = begin; r < end; r++) {
    const int64_t t = r / pr->m, i = r % pr->m;
    float *c = pr->c + t * pr->c_bs + i * pr->c_rs;
    for (int64_t j = 0; j < pr->n; j++) {
      float *cj = c + j * pr->c_cs;
      *cj = pr->beta == 0.0f ? 0.0f : pr->beta * *cj;
    }
  }
  return SUBQ_OK;
}

/* ---- private mode: every item packs its own A block and B group --------------------- */

/* Floats between consecutive packed B panels beyond kc x NR in private mode:
 * one cache line, so that the panels do not start 4 KiB apart (kc = 64:
 * 4 KiB panels; the row-by-row pack then writes 16 lines of one L1 set per
 * row). Measured (1 Zen 3 core, 64 x (64x64)(64x1024)): 66.3 -> 69.1
 * GFLOP/s; 32 floats: 68.2. */
#define SUBQ_GEMM_BPAD 16

typedef struct subq_gemm_plan {
  const subq_gemm_prob *pr;
  subq_gemm_blocking bl;
  int64_t mc;         /* rows per item (multiple of MR) */
  int64_t n_ib, n_jg; /* row blocks, column groups (per matrix / per NC block) */
  /* shared mode */
  int64_t n_apanels;  /* MR panels of A */
  /* small M */
  const float *a32;   /* contiguous f32 copy of A (or A itself) */
  int64_t lda32, a32_bs;
  float *a_copy;
} subq_gemm_plan;

static subq_status subq_gemm_private_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_gemm_plan *pl = arg;
  const subq_gemm_prob *pr = pl->pr;
  const subq_gemm_impl *u = pr->impl;
  const int64_t kcmax = pl->bl.kc;
  float *pa = info->scratch;
  float *pb = pa + pl->mc * kcmax;
  int64_t packed_t = -1, packed_i0 = -1; /* A block already in pa (single k block only) */
  for (int64_t it = begin; it < end; it++) {
    const int64_t t = it / (pl->n_ib * pl->n_jg), rem = it % (pl->n_ib * pl->n_jg);
    const int64_t i0 = (rem / pl->n_jg) * pl->mc, j0 = (rem % pl->n_jg) * pl->bl.ng;
    const int64_t mc = SUBQ_MIN(pl->mc, pr->m - i0), nc = SUBQ_MIN(pl->bl.ng, pr->n - j0);
    const void *a = subq_offset(pr->a, pr->at, t * pr->a_bs);
    const void *b = pr->packed ? NULL : subq_offset(pr->b, pr->bt, t * pr->b_bs);
    float *c = pr->c + t * pr->c_bs + i0 * pr->c_rs + j0 * pr->c_cs;
    for (int64_t p0 = 0; p0 < pr->k; p0 += kcmax) {
      const int64_t kc = SUBQ_MIN(kcmax, pr->k - p0);
      const bool a_shared = pr->batch > 1 && pr->a_bs == 0;
      if (kc != pr->k || i0 != packed_i0 || (t != packed_t && !a_shared)) {
        subq_pack_a_block(pr, a, i0, mc, p0, kc, pa);
        packed_t = kc == pr->k ? t : -1;
        packed_i0 = kc == pr->k ? i0 : -1;
      }
      const float beta = p0 == 0 ? pr->beta : 1.0f;
      if (pr->packed) {
        const int64_t off = (j0 / u->nr) * pr->k * u->nr + p0 * u->nr; /* elements, of the packed type pr->bt */
        subq_gemm_macro(u, mc, nc, kc, pa, subq_offset(subq_packed_data(pr->packed, info), pr->bt, off), pr->bt,
                        pr->k * u->nr, u->nr, c, pr->c_rs, pr->c_cs, pr->alpha, beta, NULL);
      } else {
        const int64_t bps = kc * u->nr + SUBQ_GEMM_BPAD;
        subq_pack_b_block(pr, b, p0, kc, j0, nc, pb, bps);
        /* single k block: fetch the next item's B block meanwhile */
        subq_prefetch pf;
        subq_prefetch_init(&pf, NULL, 0, 0, 0);
        if (kc == pr->k && it + 1 < end) {
          const int64_t t2 = (it + 1) / (pl->n_ib * pl->n_jg), r2 = (it + 1) % (pl->n_ib * pl->n_jg);
          const int64_t j2 = (r2 % pl->n_jg) * pl->bl.ng, nc2 = SUBQ_MIN(pl->bl.ng, pr->n - j2);
          const int64_t es = (int64_t)subq_dtype_size(pr->bt);
          const void *b2 = subq_offset(pr->b, pr->bt, t2 * pr->b_bs + j2 * pr->b_cs);
          if (r2 / pl->n_jg == 0 && pr->b_cs == 1)
            subq_prefetch_init(&pf, b2, pr->b_rs * es, pr->k, nc2 * es);
          else if (r2 / pl->n_jg == 0 && pr->b_rs == 1)
            subq_prefetch_init(&pf, b2, pr->b_cs * es, nc2, pr->k * es);
        }
        subq_gemm_macro(u, mc, nc, kc, pa, pb, SUBQ_DTYPE_F32, bps, u->nr, c, pr->c_rs, pr->c_cs, pr->alpha, beta, &pf);
      }
    }
  }
  return SUBQ_OK;
}

/* B panels, A panels per pack item in shared mode. */
#define SUBQ_GEMM_BPACK 4
#define SUBQ_GEMM_APACK 4

/* ---- shared mode: per phase, compute one (NC, KC) block and pack the next ------------ */

/* One (NC, KC) block of shared mode: its packed A (m x kc) and B (kc x nc). */
typedef struct subq_gemm_sblock {
  const subq_gemm_plan *pl;
  float *pa, *pb;
  int64_t j0, ncb, p0, kcb;
  int64_t n_aitems, n_bitems, n_jg; /* pack items of A and B, column groups */
} subq_gemm_sblock;

/* A phase computes block `cmp` (items [0, n_cmp)) and packs block `pack`
 * (the following items) into the other buffer pair: the packing of the next
 * block fills the gaps at the end of the compute items, one barrier per block. */
typedef struct subq_gemm_sphase {
  const subq_gemm_sblock *cmp, *pack;
  int64_t n_cmp;
} subq_gemm_sphase;

static void subq_gemm_shared_pack_item(const subq_gemm_sblock *bk, int64_t it) {
  const subq_gemm_plan *pl = bk->pl;
  const subq_gemm_prob *pr = pl->pr;
  const int64_t mr = pr->impl->mr, nr = pr->impl->nr;
  if (it < bk->n_bitems) {
    const int64_t jr = it * nr * SUBQ_GEMM_BPACK;
    subq_pack_b_block(pr, pr->b, bk->p0, bk->kcb, bk->j0 + jr, SUBQ_MIN(nr * SUBQ_GEMM_BPACK, bk->ncb - jr),
                      bk->pb + jr * bk->kcb, bk->kcb * nr);
    return;
  }
  const int64_t q0 = (it - bk->n_bitems) * SUBQ_GEMM_APACK, q1 = SUBQ_MIN(q0 + SUBQ_GEMM_APACK, pl->n_apanels);
  for (int64_t q = q0; q < q1; q++) {
    const int64_t i0 = q * mr;
    subq_pack_panel(bk->pa + i0 * bk->kcb, subq_offset(pr->a, pr->at, i0 * pr->a_rs + bk->p0 * pr->a_cs), pr->at,
                    pr->a_rs, pr->a_cs, SUBQ_MIN(mr, pr->m - i0), bk->kcb, mr);
  }
}

static void subq_gemm_shared_compute_item(const subq_gemm_sblock *bk, int64_t it) {
  const subq_gemm_plan *pl = bk->pl;
  const subq_gemm_prob *pr = pl->pr;
  const subq_gemm_impl *u = pr->impl;
  const int64_t i0 = (it / bk->n_jg) * pl->mc, jj = (it % bk->n_jg) * pl->bl.ng;
  const int64_t mc = SUBQ_MIN(pl->mc, pr->m - i0), nc = SUBQ_MIN(pl->bl.ng, bk->ncb - jj);
  subq_gemm_macro(u, mc, nc, bk->kcb, bk->pa + i0 * bk->kcb, bk->pb + jj * bk->kcb, SUBQ_DTYPE_F32, bk->kcb * u->nr,
                  u->nr, pr->c + i0 * pr->c_rs + (bk->j0 + jj) * pr->c_cs, pr->c_rs, pr->c_cs, pr->alpha,
                  bk->p0 == 0 ? pr->beta : 1.0f, NULL);
}

static subq_status subq_gemm_shared_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_gemm_sphase *sp = arg;
  for (int64_t it = begin; it < end; it++) {
    if (it < sp->n_cmp)
      subq_gemm_shared_compute_item(sp->cmp, it);
    else
      subq_gemm_shared_pack_item(sp->pack, it - sp->n_cmp);
  }
  return SUBQ_OK;
}

/* ---- small M ------------------------------------------------------------------------- */

/* Columns per small-M item: dot form (measured on 2 Zen 3 cores, 1 x 4096 x
 * 14336: 256 columns 8.5 ms, 128: 9.4, 64: 9.5), rows form (the rows
 * ukernels take at most SUBQ_GEMM_ROWS_MAX_W columns). */
#define SUBQ_GEMM_DOT_COLS 256
#define SUBQ_GEMM_SMALL_COLS SUBQ_GEMM_ROWS_MAX_W
/* Columns of one rows-form item over prepacked B: whole panels. */
static inline int64_t subq_gemm_packed_item_cols(const subq_gemm_impl *u) {
  return SUBQ_MAX(1, SUBQ_GEMM_SMALL_COLS / u->nr) * u->nr;
}

/* Phase 0: A (any strides/dtype) into contiguous f32 rows. Items: (t, i). */
static subq_status subq_gemm_copy_a(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_gemm_plan *pl = arg;
  const subq_gemm_prob *pr = pl->pr;
  for (int64_t r = begin; r < end; r++) {
    const int64_t t = r / pr->m, i = r % pr->m;
    float *d = pl->a_copy + r * pr->k;
    const int64_t base = t * pr->a_bs + i * pr->a_rs;
    for (int64_t p = 0; p < pr->k; p++) d[p] = subq_load_elem(pr->a, pr->at, base + p * pr->a_cs);
  }
  return SUBQ_OK;
}

static subq_status subq_gemm_small_dot(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  (void)info;
  const subq_gemm_plan *pl = arg;
  const subq_gemm_prob *pr = pl->pr;
  const subq_f32_gemm_dot_fn dot = pr->bt == SUBQ_DTYPE_BF16 ? pr->impl->dot_bf16 : pr->impl->dot_f32;
  for (int64_t it = begin; it < end; it++) {
    const int64_t t = it / pl->n_jg, j0 = (it % pl->n_jg) * SUBQ_GEMM_DOT_COLS;
    const int64_t nc = SUBQ_MIN(SUBQ_GEMM_DOT_COLS, pr->n - j0);
    dot(pr->m, nc, pr->k, pl->a32 + t * pl->a32_bs, pl->lda32, subq_offset(pr->b, pr->bt, t * pr->b_bs + j0 * pr->b_cs),
        pr->b_cs, pr->c + t * pr->c_bs + j0 * pr->c_cs, pr->c_rs, pr->c_cs, pr->alpha, pr->beta);
  }
  return SUBQ_OK;
}

static subq_status subq_gemm_small_rows(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_gemm_plan *pl = arg;
  const subq_gemm_prob *pr = pl->pr;
  const subq_gemm_impl *u = pr->impl;
  const subq_f32_gemm_rows_fn rows = pr->bt == SUBQ_DTYPE_BF16 ? u->rows_bf16 : u->rows_f32;
  const int64_t per_item = pr->packed ? subq_gemm_packed_item_cols(u) : SUBQ_GEMM_SMALL_COLS;
  for (int64_t it = begin; it < end; it++) {
    const int64_t t = it / (pr->m * pl->n_jg), rem = it % (pr->m * pl->n_jg);
    const int64_t i = rem / pl->n_jg, j0 = (rem % pl->n_jg) * per_item;
    const int64_t nc = SUBQ_MIN(per_item, pr->n - j0);
    const float *a = pl->a32 + t * pl->a32_bs + i * pl->lda32;
    float *c = pr->c + t * pr->c_bs + i * pr->c_rs + j0 * pr->c_cs;
    if (pr->packed) /* the item's panels stream side by side */
      rows(nc, pr->k, a, subq_offset(subq_packed_data(pr->packed, info), pr->bt, (j0 / u->nr) * pr->k * u->nr), u->nr,
           u->nr, pr->k * u->nr, c, pr->c_cs, pr->alpha, pr->beta);
    else
      rows(nc, pr->k, a, subq_offset(pr->b, pr->bt, t * pr->b_bs + j0 * pr->b_cs), pr->b_rs, nc, 0, c, pr->c_cs,
           pr->alpha, pr->beta);
  }
  return SUBQ_OK;
}

/* Prepacked B and at most this many rows of A: one k block of at most
 * SUBQ_GEMM_PACKED_FULL_K_MAX (the A block then takes <= 16 x 16384 x 4 B = 1 MiB). */
#define SUBQ_GEMM_PACKED_FULL_K_M 16
#define SUBQ_GEMM_PACKED_FULL_K_MAX 16384

/* Rows of A at most this many use the dot-form (B columns contiguous) path:
 * measured on Zen 3 (1 thread, B = W^T 4096 x 4096): m = 8: 42 vs 21 GFLOP/s
 * for packing B; m = 16: 54 vs 34; beyond that packing wins (m = 32: 50). */
#define SUBQ_GEMM_SMALL_M_DOT 16
/* ... and the rows-form (B rows contiguous or prepacked) path. */
#define SUBQ_GEMM_SMALL_M_ROWS 1

static subq_status subq_gemm_run_small(subq_context *ctx, subq_gemm_plan *pl, bool dot_form) {
  const subq_gemm_prob *pr = pl->pr;
  subq_phase ph[2];
  int nph = 0;
  if (pr->at == SUBQ_DTYPE_F32 && (pr->a_cs == 1 || pr->k == 1)) {
    pl->a32 = pr->a;
    pl->lda32 = pr->a_rs;
    pl->a32_bs = pr->a_bs;
  } else {
    size_t bytes;
    if (!subq_mul_size((size_t)pr->batch * (size_t)pr->m, (size_t)pr->k, &bytes) ||
        !subq_mul_size(bytes, sizeof(float), &bytes))
      return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: a is too large", pr->fn);
    pl->a_copy = subq_alloc(bytes);
    if (!pl->a_copy) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes for a", pr->fn, bytes);
    pl->a32 = pl->a_copy;
    pl->lda32 = pr->k;
    pl->a32_bs = pr->m * pr->k;
    ph[nph++] = (subq_phase){subq_gemm_copy_a, pl, pr->batch * pr->m, 0};
  }
  if (dot_form) {
    pl->n_jg = subq_ceil_div64(pr->n, SUBQ_GEMM_DOT_COLS);
    ph[nph++] = (subq_phase){subq_gemm_small_dot, pl, pr->batch * pl->n_jg, 1};
  } else {
    const int64_t per_item = pr->packed ? subq_gemm_packed_item_cols(pr->impl) : SUBQ_GEMM_SMALL_COLS;
    pl->n_jg = subq_ceil_div64(pr->n, per_item);
    ph[nph++] = (subq_phase){subq_gemm_small_rows, pl, pr->batch * pr->m * pl->n_jg, 1};
  }
  subq_status st = subq_parallel_run(ctx, ph, nph, 0);
  subq_free(pl->a_copy);
  pl->a_copy = NULL;
  return st;
}

/* ---- the driver ------------------------------------------------------------------------ */

/* SUBQ_VERBOSE >= 1 (or the context's verbose): one line per call naming the plan. */
static void subq_gemm_log_plan(subq_context *ctx, const subq_gemm_plan *pl, const char *mode) {
  const int v = subq_context_verbosity(ctx);
  if (v < 1) return;
  const subq_gemm_prob *pr = pl->pr;
  subq_log_at(v, SUBQ_LOG_INFO,
              "%s: m=%lld n=%lld k=%lld batch=%lld a=%s b=%s%s impl=%s mode=%s kc=%lld mc=%lld nc=%lld threads=%d",
              pr->fn, (long long)pr->m, (long long)pr->n, (long long)pr->k, (long long)pr->batch,
              pr->at == SUBQ_DTYPE_BF16 ? "bf16" : "f32", pr->bt == SUBQ_DTYPE_BF16 ? "bf16" : "f32",
              pr->packed ? "(prepacked)" : "", pr->impl->name, mode, (long long)pl->bl.kc, (long long)pl->bl.mc,
              (long long)pl->bl.nc, (int)subq_parallel_width(ctx));
}

static subq_status subq_gemm_execute(subq_context *ctx, const subq_gemm_prob *pr) {
  if (pr->k == 0 || pr->alpha == 0.0f) {
    subq_phase ph = {subq_gemm_scale_rows, (void *)pr, pr->batch * pr->m, 0};
    return subq_parallel_run(ctx, &ph, 1, 0);
  }
  subq_gemm_plan pl;
  memset(&pl, 0, sizeof pl);
  pl.pr = pr;
  const subq_gemm_impl *u = pr->impl;
  pl.bl = subq_gemm_block_sizes(u, (double)pr->m * (double)pr->n * sizeof(float));

  /* small M: stream B once */
  if (!pr->packed && pr->m <= SUBQ_GEMM_SMALL_M_DOT && (pr->b_rs == 1 || pr->k == 1)) {
    subq_gemm_log_plan(ctx, &pl, "small-m-dot");
    return subq_gemm_run_small(ctx, &pl, true);
  }
  if (pr->m <= SUBQ_GEMM_SMALL_M_ROWS && (pr->packed || pr->b_cs == 1 || pr->n == 1)) {
    subq_gemm_log_plan(ctx, &pl, "small-m-rows");
    return subq_gemm_run_small(ctx, &pl, false);
  }

  /* Prepacked B times a few rows of A: one k block, so that a tile streams whole
   * panels (k x NR, contiguous) rather than KC-row pieces of panels k x NR apart;
   * the A block (at most SUBQ_GEMM_PACKED_FULL_K_M rows) stays in L2. */
  if (pr->packed && pr->m <= SUBQ_GEMM_PACKED_FULL_K_M)
    pl.bl.kc = SUBQ_MAX(1, SUBQ_MIN(pr->k, SUBQ_GEMM_PACKED_FULL_K_MAX));

  /* row blocks of (nearly) equal height, a multiple of MR */
  const int64_t n_ib = subq_ceil_div64(pr->m, pl.bl.mc);
  pl.mc = subq_round_up(subq_ceil_div64(pr->m, n_ib), u->mr);
  pl.n_ib = subq_ceil_div64(pr->m, pl.mc);

  if (pr->batch > 1 || pl.n_ib == 1 || pr->packed) {
    pl.n_jg = subq_ceil_div64(pr->n, pl.bl.ng);
    const int64_t n_items = pr->batch * pl.n_ib * pl.n_jg;
    /* the A block, and B's packed group unless B is prepacked */
    size_t scratch = (size_t)(pl.mc * pl.bl.kc) * sizeof(float) + 64;
    if (!pr->packed) scratch += (size_t)(pl.bl.kc * pl.bl.ng + (pl.bl.ng / u->nr) * SUBQ_GEMM_BPAD) * sizeof(float);
    /* Claims of several items let an item prefetch its successor's B (the
     * first item of a claim packs a cold B): about 4 claims per participant
     * (claims only decide who runs an item, never its result). Measured on 2
     * Zen 3 cores, 64 x (64x64)(64x1024): 4 items per claim 121 GFLOP/s, 8:
     * 126, 16: 130, 32: 132 (+ the padded panels: 135). */
    const int64_t grain = SUBQ_MAX(4, n_items / (4 * (int64_t)subq_parallel_width(ctx)));
    subq_phase ph = {subq_gemm_private_items, &pl, n_items, grain};
    subq_gemm_log_plan(ctx, &pl, "private");
    return subq_parallel_run(ctx, &ph, 1, scratch);
  }

  /* shared mode: blocks in order (JC, then PC); phase q computes block q - 1
   * and packs block q into buffer pair q % 2, when both pairs fit in half of
   * L3; otherwise (4096^3: 2 x 16 MiB; measured 180 -> 168 GFLOP/s on 2 Zen 3
   * cores with two pairs, the packing evicting the B being computed) one pair,
   * phase 2q packs block q and phase 2q + 1 computes it. */
  const int64_t ncmax = SUBQ_MIN(pl.bl.nc, subq_round_up(pr->n, u->nr));
  const int64_t m_pad = subq_round_up(pr->m, u->mr);
  const int64_t n_jb = subq_ceil_div64(pr->n, ncmax), n_pb = subq_ceil_div64(pr->k, pl.bl.kc);
  const int64_t nb = n_jb * n_pb;
  size_t a_bytes, b_bytes, total;
  if (!subq_mul_size((size_t)m_pad, (size_t)pl.bl.kc * sizeof(float), &a_bytes) ||
      !subq_mul_size((size_t)ncmax, (size_t)pl.bl.kc * sizeof(float), &b_bytes) ||
      !subq_add_size(a_bytes, 63, &a_bytes) || !subq_add_size((a_bytes & ~(size_t)63), b_bytes, &total) ||
      !subq_add_size(total, 63, &total) || !subq_mul_size(total & ~(size_t)63, 2, &total) ||
      nb >= INT32_MAX / 2)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: problem too large", pr->fn);
  a_bytes &= ~(size_t)63;
  const size_t pair = total / 2;
  const bool overlap = total <= pl.bl.l3 / 2;
  if (!overlap) total = pair;
  float *bufs = subq_alloc(total);
  subq_gemm_sblock *bk = calloc((size_t)nb, sizeof *bk);
  subq_gemm_sphase *sp = calloc(2 * (size_t)nb + 1, sizeof *sp);
  subq_phase *ph = calloc(2 * (size_t)nb + 1, sizeof *ph);
  subq_status st = SUBQ_OK;
  if (!bufs || !bk || !sp || !ph) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of packing buffers", pr->fn, total);
  } else {
    pl.n_apanels = m_pad / u->mr;
    int64_t q = 0;
    for (int64_t j0 = 0; j0 < pr->n; j0 += ncmax)
      for (int64_t p0 = 0; p0 < pr->k; p0 += pl.bl.kc, q++) {
        char *base = (char *)bufs + (size_t)(overlap ? q % 2 : 0) * pair;
        bk[q].pl = &pl;
        bk[q].pa = (float *)(void *)base;
        bk[q].pb = (float *)(void *)(base + a_bytes);
        bk[q].j0 = j0;
        bk[q].ncb = SUBQ_MIN(ncmax, pr->n - j0);
        bk[q].p0 = p0;
        bk[q].kcb = SUBQ_MIN(pl.bl.kc, pr->k - p0);
        bk[q].n_bitems = subq_ceil_div64(bk[q].ncb, u->nr * SUBQ_GEMM_BPACK);
        bk[q].n_aitems = subq_ceil_div64(pl.n_apanels, SUBQ_GEMM_APACK);
        bk[q].n_jg = subq_ceil_div64(bk[q].ncb, pl.bl.ng);
      }
    int64_t nph = 0;
    for (q = 0; q <= nb; q++) {
      const subq_gemm_sblock *cmp = q > 0 ? &bk[q - 1] : NULL, *pack = q < nb ? &bk[q] : NULL;
      if (overlap) {
        sp[nph++] = (subq_gemm_sphase){cmp, pack, cmp ? pl.n_ib * cmp->n_jg : 0};
      } else {
        if (cmp) sp[nph++] = (subq_gemm_sphase){cmp, NULL, pl.n_ib * cmp->n_jg};
        if (pack) sp[nph++] = (subq_gemm_sphase){NULL, pack, 0};
      }
    }
    for (q = 0; q < nph; q++)
      ph[q] = (subq_phase){subq_gemm_shared_items, &sp[q],
                           sp[q].n_cmp + (sp[q].pack ? sp[q].pack->n_bitems + sp[q].pack->n_aitems : 0), 1};
    subq_gemm_log_plan(ctx, &pl, "shared");
    st = subq_parallel_run(ctx, ph, (int)nph, 0);
  }
  free(ph);
  free(sp);
  free(bk);
  subq_free(bufs);
  return st;
}

subq_status subq_gemm(subq_context *ctx, const subq_gemm_args *args) {
  subq_gemm_prob pr;
  bool empty;
  subq_status st = subq_gemm_validate("subq_gemm", ctx, args, NULL, false, &pr, &empty);
  if (st != SUBQ_OK || empty) return st;
  return subq_gemm_execute(ctx, &pr);
}

subq_status subq_gemm_packed(subq_context *ctx, const subq_gemm_args *args, const subq_gemm_packed_b *packed) {
  subq_gemm_prob pr;
  bool empty;
  subq_status st = subq_gemm_validate("subq_gemm_packed", ctx, args, packed, true, &pr, &empty);
  if (st != SUBQ_OK || empty) return st;
  return subq_gemm_execute(ctx, &pr);
}

subq_status subq_sgemm(subq_context *ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  const char *fn = "subq_sgemm";
  if (m < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m (%lld) < 0", fn, (long long)m);
  if (n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)n);
  if (k < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) < 0", fn, (long long)k);
  const int64_t a_row = trans_a ? m : k, b_row = trans_b ? k : n;
  if (lda < SUBQ_MAX(1, a_row))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: lda (%lld) is smaller than %s (%lld)", fn, (long long)lda,
                      trans_a ? "m" : "k", (long long)a_row);
  if (ldb < SUBQ_MAX(1, b_row))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ldb (%lld) is smaller than %s (%lld)", fn, (long long)ldb,
                      trans_b ? "k" : "n", (long long)b_row);
  if (ldc < SUBQ_MAX(1, n))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ldc (%lld) is smaller than n (%lld)", fn, (long long)ldc,
                      (long long)n);
  subq_gemm_args g;
  subq_gemm_args_default(&g, sizeof g);
  g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
  g.a = a, g.a_rs = trans_a ? 1 : lda, g.a_cs = trans_a ? lda : 1;
  g.b = b, g.b_rs = trans_b ? 1 : ldb, g.b_cs = trans_b ? ldb : 1;
  g.c = c, g.c_rs = ldc, g.c_cs = 1;
  subq_gemm_prob pr;
  bool empty;
  subq_status st = subq_gemm_validate(fn, ctx, &g, NULL, false, &pr, &empty);
  if (st != SUBQ_OK || empty) return st;
  return subq_gemm_execute(ctx, &pr);
}

/* ---- prepacked B ----------------------------------------------------------------------- */

typedef struct subq_pack_b_job {
  subq_gemm_prob pr;
  subq_gemm_packed_b *out;
} subq_pack_b_job;

/* NR columns of a bf16 B (element (p, j) at b[p * b_rs + j * b_cs]) as one bf16
 * panel, k x NR (zero columns past n): the bits are copied, nothing is rounded. */
static void subq_pack_b_panel_bf16(const subq_gemm_prob *pr, int64_t j0, uint16_t *dst) {
  const int64_t nr = pr->impl->nr, w = SUBQ_MIN(nr, pr->n - j0), k = pr->k;
  const uint16_t *b = (const uint16_t *)pr->b + j0 * pr->b_cs;
  if (pr->b_rs == 1) { /* W[out][in]: each column of B is a contiguous row of W */
    for (int64_t j = 0; j < w; j++) {
      const uint16_t *src = b + j * pr->b_cs;
      for (int64_t p = 0; p < k; p++) dst[p * nr + j] = src[p];
    }
  } else {
    for (int64_t p = 0; p < k; p++)
      for (int64_t j = 0; j < w; j++) dst[p * nr + j] = b[p * pr->b_rs + j * pr->b_cs];
  }
  for (int64_t p = 0; p < k && w < nr; p++)
    for (int64_t j = w; j < nr; j++) dst[p * nr + j] = 0;
}

static subq_status subq_gemm_pack_b_items(void *arg, int64_t begin, int64_t end, const subq_task_info *info) {
  const subq_pack_b_job *j = arg;
  const int64_t nr = j->pr.impl->nr, k = j->pr.k;
  void *data = subq_weights_copy_for(&j->out->mem, info);
  for (int64_t it = begin; it < end; it++) {
    if (j->out->dt == SUBQ_DTYPE_BF16)
      subq_pack_b_panel_bf16(&j->pr, it * nr, (uint16_t *)data + it * k * nr);
    else
      subq_pack_b_panel(&j->pr, j->pr.b, 0, k, it * nr, j->pr.n - it * nr, (float *)data + it * k * nr);
  }
  return SUBQ_OK;
}

subq_status subq_gemm_pack_b(subq_context *ctx, int64_t k, int64_t n, subq_dtype b_dtype, const void *b, int64_t b_rs,
                             int64_t b_cs, subq_gemm_packed_b **out) {
  const char *fn = "subq_gemm_pack_b";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (k < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: k (%lld) < 0", fn, (long long)k);
  if (n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)n);
  if (!subq_dtype_ok(b_dtype))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b_dtype (%d) is not f32 or bf16", fn, (int)b_dtype);
  subq_status st;
  if (k > 0 && n > 0) {
    if (!b) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: b is NULL", fn);
    if ((st = subq_gemm_check_stride(fn, "b_rs", &b_rs, k, "k")) != SUBQ_OK) return st;
    if ((st = subq_gemm_check_stride(fn, "b_cs", &b_cs, n, "n")) != SUBQ_OK) return st;
    subq_byte_range rb;
    if ((st = subq_gemm_extent(fn, "b", b, subq_dtype_size(b_dtype), k, b_rs, n, b_cs, 1, 0, &rb)) != SUBQ_OK)
      return st;
  }
  const subq_gemm_impl *u = subq_gemm_pick(subq_context_isa_or_default(ctx));
  const int64_t n_panels = subq_ceil_div64(n, u->nr);
  /* bf16 stays bf16: every gemm ukernel has a bf16-panel twin, so the copy keeps half the bytes */
  const subq_dtype dt = b_dtype == SUBQ_DTYPE_BF16 ? SUBQ_DTYPE_BF16 : SUBQ_DTYPE_F32;
  const size_t es = subq_dtype_size(dt);
  size_t elems, bytes;
  if (!subq_mul_size((size_t)n_panels, (size_t)u->nr, &elems) || !subq_mul_size(elems, (size_t)k, &elems) ||
      !subq_mul_size(elems, es, &bytes) || bytes > (size_t)PTRDIFF_MAX)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: packed size of k x n (%lld x %lld) overflows", fn,
                      (long long)k, (long long)n);
  subq_gemm_packed_b *p = calloc(1, sizeof *p);
  if (!p) return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  p->magic = SUBQ_GEMM_PACKED_MAGIC;
  p->impl = u;
  p->k = k, p->n = n, p->dt = dt, p->n_panels = n_panels, p->bytes = bytes;
  if (bytes) {
    /* Units of the decode (m = 1) GEMV's items, so DISTRIBUTE puts each node's columns on that node. */
    const size_t unit = (size_t)subq_gemm_packed_item_cols(u) * (size_t)k * es;
    if ((st = subq_weights_alloc(ctx, fn, bytes, unit, &p->mem)) != SUBQ_OK) {
      free(p);
      return st;
    }
    subq_pack_b_job job;
    memset(&job, 0, sizeof job);
    job.pr.fn = fn, job.pr.k = k, job.pr.n = n, job.pr.bt = b_dtype, job.pr.b = b, job.pr.b_rs = b_rs,
    job.pr.b_cs = b_cs, job.pr.impl = u;
    job.out = p;
    /* Packing is the first touch: each node's workers write the pages they will read. */
    subq_phase ph = {subq_gemm_pack_b_items, &job, n_panels, 0};
    st = p->mem.n_copies > 1 ? subq_parallel_run_per_node(ctx, &ph) : subq_parallel_run(ctx, &ph, 1, 0);
    if (st != SUBQ_OK) {
      subq_weights_free(&p->mem);
      free(p);
      return st;
    }
  }
  *out = p;
  return SUBQ_OK;
}

void subq_gemm_packed_b_destroy(subq_gemm_packed_b *packed) {
  if (!packed) return;
  packed->magic = 0;
  subq_weights_free(&packed->mem);
  free(packed);
}

size_t subq_gemm_packed_b_size(const subq_gemm_packed_b *packed) {
  return packed ? packed->bytes * (size_t)(packed->mem.n_copies > 1 ? packed->mem.n_copies : 1) + sizeof *packed : 0;
}

/* ---- bf16 conversion --------------------------------------------------------------------- */

static subq_status subq_convert_check(const char *fn, const void *src, size_t ssize, const void *dst, size_t dsize,
                                      int64_t n) {
  if (n < 0) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) < 0", fn, (long long)n);
  if (n == 0) return SUBQ_OK;
  if (!src) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  if (!dst) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst is NULL", fn);
  subq_byte_range rs, rd;
  if (!subq_byte_range_rows(src, 1, n, n, (int64_t)ssize, &rs) || !subq_byte_range_rows(dst, 1, n, n, (int64_t)dsize, &rd))
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) overflows the address range", fn, (long long)n);
  if (subq_byte_ranges_overlap(rs, rd)) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dst overlaps src", fn);
  return SUBQ_OK;
}

subq_status subq_f32_to_bf16(const float *src, uint16_t *dst, int64_t n) {
  subq_status st = subq_convert_check("subq_f32_to_bf16", src, sizeof(float), dst, sizeof(uint16_t), n);
  if (st != SUBQ_OK) return st;
  for (int64_t i = 0; i < n; i++) dst[i] = subq_f32_to_bf16_1(src[i]);
  return SUBQ_OK;
}

subq_status subq_bf16_to_f32(const uint16_t *src, float *dst, int64_t n) {
  subq_status st = subq_convert_check("subq_bf16_to_f32", src, sizeof(uint16_t), dst, sizeof(float), n);
  if (st != SUBQ_OK) return st;
  for (int64_t i = 0; i < n; i++) dst[i] = subq_bf16_to_f32_1(src[i]);
  return SUBQ_OK;
}
