/*
 * fuzz_kernel_args.c — libFuzzer harness for the argument validation of the
 * kernel families (public entry points only). Not a ctest: build with
 * -DSUBQ_BUILD_FUZZ=ON (and -DSUBQ_SANITIZE=address,undefined).
 *   ./fuzz_kernel_args -max_total_time=300 -timeout=10 -rss_limit_mb=4096 CORPUS
 *
 * Per input the first byte picks an entry point; the rest draws its sizes
 * (mostly 0..40, sometimes negative, huge or not divisible where a divisor
 * is required), strides around the smallest legal value (min - 1, min,
 * min + small, 0, negative, huge), flags and enums (out-of-range values too),
 * occasional NULL pointers and outputs placed inside an input's buffer.
 * Every buffer is allocated with exactly the extent the public header
 * documents for those arguments, so ASan reports any access past it. When
 * the documented extent overflows int64 / the address space, a 0-byte
 * dummy is passed: the call must fail before touching it (or be empty).
 * Extents that are legal but above the harness cap (64 MiB) are skipped.
 *
 * Checks: the status is SUBQ_OK or a known error code; an error carries a
 * message that names the function; a call that the header says must be
 * refused (the harness's must-fail predicate) is refused; GEMM results on
 * tiny shapes match a float64 reference; sanitizer reports. Violations trap
 * after printing the reason.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subq/subq_base.h"
#include "subq/subq_fattn.h"
#include "subq/subq_gemm.h"
#include "subq/subq_linattn.h"
#include "subq/subq_monarch.h"
#include "subq/subq_nn.h"
#include "subq/subq_runtime.h"
#include "subq/subq_ssm.h"
#include "subq/subq_ternary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- input ------------------------------------------------------------------------ */

static const uint8_t *g_in;
static size_t g_left;

static uint8_t u8(void) {
  if (!g_left) return 0;
  g_left--;
  return *g_in++;
}
static uint32_t u16v(void) { return (uint32_t)u8() | (uint32_t)u8() << 8; }
/* true with probability about 1/k */
static bool one_in(unsigned k) { return u8() % k == 0; }

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? ((a < 0) != (b < 0) ? INT64_MIN : INT64_MAX) : r;
}

static int64_t huge_value(void) {
  switch (u8() % 8) {
    case 0: return INT64_MAX;
    case 1: return INT64_MAX / 2 + 1;
    case 2: return (int64_t)1 << 40;
    case 3: return ((int64_t)1 << 31) + (int64_t)(u8() % 3) - 1;
    case 4: return ((int64_t)1 << 62) + 1;
    case 5: return INT64_MAX / 4;
    case 6: return ((int64_t)1 << 32) + 1;
    default: return INT64_MAX - (int64_t)(u8() % 4);
  }
}

/* A size: mostly 0..8, often up to 40, sometimes negative or huge. */
static int64_t fz_size(void) {
  const uint8_t b = u8();
  if (b < 150) return b % 9;
  if (b < 225) return b % 41;
  switch (b % 6) {
    case 0: return -1;
    case 1: return -(int64_t)(u8() % 40) - 2;
    case 2: return INT64_MIN + (int64_t)(u8() % 2);
    case 3: return 41 + u8() % 100;
    default: return huge_value();
  }
}
/* A size that must be in 1..max: around both ends. */
static int64_t fz_bounded(int64_t max) {
  const uint8_t b = u8();
  if (b < 170) return 1 + b % (max < 16 ? max : 16);
  if (b < 200) return 1 + u8() % max;
  switch (b % 7) {
    case 0: return 0;
    case 1: return max;
    case 2: return max + 1;
    case 3: return -1;
    case 4: return max - 1 > 0 ? max - 1 : 1;
    default: return fz_size();
  }
}
/* A stride whose smallest legal value is min. */
static int64_t fz_stride(int64_t min) {
  const uint8_t b = u8();
  if (b < 130) return min;
  if (b < 175) return sat_add(min, b % 5);
  if (b < 195) return sat_add(min, -1);
  if (b < 205) return 0;
  if (b < 215) return -(int64_t)(b % 4) - 1;
  if (b < 222) return min == INT64_MIN ? INT64_MAX : -min;
  if (b < 230) return sat_add(min, (int64_t)u8() * 3);
  if (b < 240) return huge_value();
  return sat_add(min, 1 + (int64_t)(u8() % 64));
}
/* A row stride where 0 means "packed" (= min). */
static int64_t fz_ld0(int64_t min) { return one_in(5) ? 0 : fz_stride(min); }
static subq_dtype fz_dtype(const subq_dtype *ok, int n) {
  const uint8_t b = u8();
  if (b < 230) return ok[b % n];
  static const int32_t bad[] = {0, 4, 5, 6, 99, -1, 0x7fffffff, (int32_t)0x80000000};
  return (subq_dtype)bad[b % 8];
}
static int32_t fz_enum(int32_t n_valid) {
  const uint8_t b = u8();
  if (b < 235) return b % n_valid;
  static const int32_t bad[] = {-1, 2, 3, 7, 64, 0x7fffffff, (int32_t)0x80000000};
  return bad[b % 7] + (bad[b % 7] >= 0 && bad[b % 7] < 100 ? n_valid - 2 : 0);
}
static uint32_t fz_flags(uint32_t valid) {
  const uint8_t b = u8();
  if (b < 235) return (uint32_t)u8() & valid;
  return ((uint32_t)1 << (u8() % 32)) | ((uint32_t)u8() & valid);
}
static float fz_float(void) {
  const uint8_t b = u8();
  if (b < 200) return (float)((int)(b % 33) - 16) / 8.0f;
  switch (b % 8) {
    case 0: return 0.0f;
    case 1: return NAN;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return -1.0f;
    case 5: return 1e30f;
    case 6: return FLT_MIN / 4;
    default: return -0.0f;
  }
}

/* ---- buffers ---------------------------------------------------------------------- */

#define CAP_BYTES ((int64_t)64 << 20)
#define MAX_BUFS 48
static void *g_bufs[MAX_BUFS];
static int g_nbufs;
static int64_t g_total;
static bool g_skip;       /* a legal extent above the cap: do not call */
static bool g_must_fail;  /* the header says the call is refused */
static char g_why[160];   /* the first reason for g_must_fail */
static uint32_t g_rng;

static void must_fail_if(bool c, const char *why) {
  if (!c) return;
  if (!g_must_fail) snprintf(g_why, sizeof g_why, "%s", why);
  g_must_fail = true;
}

static uint32_t rng(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}

/* Extent in elements of a tensor: 1 + sum (d_i - 1) s_i, or 0 when a
 * dimension is 0. -1: a negative stride on a dimension > 1 or overflow past
 * int64 (the documented extent does not exist). */
static int64_t extent(int nd, const int64_t *d, const int64_t *s) {
  for (int i = 0; i < nd; i++)
    if (d[i] <= 0) return 0;
  __int128 last = 0;
  for (int i = 0; i < nd; i++) {
    if (d[i] == 1) continue;
    if (s[i] < 0) return -1;
    last += (__int128)(d[i] - 1) * s[i];
    if (last > INT64_MAX) return -1;
  }
  return last + 1 > INT64_MAX ? -1 : (int64_t)(last + 1);
}
static int64_t ext2(int64_t rows, int64_t ld, int64_t cols) {
  const int64_t d[2] = {rows, cols}, s[2] = {ld, 1};
  return extent(2, d, s);
}
static int64_t mul_or_neg(int64_t a, int64_t b) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return -1;
  return r;
}

/* Fills n bytes of p with finite, fuzz-seeded values of the element size. */
static void fill(void *p, int64_t elems, size_t es, int kind) {
  if ((kind == 1 && es != 4) || ((kind == 2 || kind == 3) && es != 2)) kind = 0;
  if (kind == 1) { /* f32 */
    float *f = p;
    for (int64_t i = 0; i < elems; i++) f[i] = (float)((int)(rng() % 257) - 128) / 64.0f;
  } else if (kind == 2) { /* bf16 */
    uint16_t *h = p;
    for (int64_t i = 0; i < elems; i++) {
      float f = (float)((int)(rng() % 257) - 128) / 64.0f;
      uint32_t u;
      memcpy(&u, &f, 4);
      h[i] = (uint16_t)(u >> 16);
    }
  } else if (kind == 3) { /* f16 */
    uint16_t *h = p;
    for (int64_t i = 0; i < elems; i++) h[i] = (uint16_t)((rng() % 2 ? 0x8000u : 0) | (0x3000u + rng() % 0x1000u));
  } else {
    unsigned char *c = p;
    for (int64_t i = 0; i < (int64_t)es * elems; i++) c[i] = (unsigned char)rng();
  }
}

static int dtype_kind(subq_dtype t) {
  return t == SUBQ_DTYPE_F32 ? 1 : t == SUBQ_DTYPE_BF16 ? 2 : t == SUBQ_DTYPE_F16 ? 3 : 0;
}
/* fill of a buffer of dtype t: finite values, f32 for an unknown dtype */
static int fill_kind(subq_dtype t) { return dtype_kind(t) ? dtype_kind(t) : 1; }
static size_t dtype_es(subq_dtype t) {
  const size_t s = subq_dtype_size(t);
  return s ? s : 4;
}

static int64_t g_sizes[MAX_BUFS];

static void *track(void *p, int64_t bytes) {
  if (!p) abort();
  if (g_nbufs == MAX_BUFS) abort();
  g_sizes[g_nbufs] = bytes;
  g_bufs[g_nbufs++] = p;
  return p;
}
static int64_t tracked_bytes(const void *p) {
  for (int i = 0; i < g_nbufs; i++)
    if (g_bufs[i] == p) return g_sizes[i];
  return 0;
}

/* A buffer of exactly `elems` elements of es bytes (elems < 0: the extent does
 * not exist; a 0-byte dummy, and the call must fail). kind: fill (0 bytes,
 * 1 f32, 2 bf16, 3 f16). Returns NULL with probability about 1/null_in when
 * null_in > 0. */
static void *buf(int64_t elems, size_t es, int kind, unsigned null_in, const char *name) {
  if (null_in && one_in(null_in)) return NULL;
  int64_t bytes = -1;
  if (elems >= 0 && !__builtin_mul_overflow(elems, (int64_t)es, &bytes) && bytes <= PTRDIFF_MAX) {
    if (bytes > CAP_BYTES - g_total) {
      g_skip = true;
      bytes = 0;
    } else {
      g_total += bytes;
    }
  } else { /* the predicates decide whether the call must fail (an empty call need not) */
    (void)name;
    bytes = 0;
  }
  void *p = track(malloc((size_t)bytes), bytes);
  if (bytes) fill(p, bytes / (int64_t)es, es, kind);
  return p;
}

/* An output of out_elems elements of out_es bytes placed inside the buffer of
 * an input (*in, from buf) at a random offset instead of its own; the input's
 * buffer is reallocated (contents kept) to hold both. */
static void *alias_into(void **in, int64_t in_elems, size_t in_es, int64_t out_elems, size_t out_es) {
  (void)in_elems, (void)in_es;
  if (g_skip || !*in || out_elems < 0 || out_elems > CAP_BYTES) return NULL;
  const int64_t in_bytes = tracked_bytes(*in);
  /* *in already points inside another buffer (an output aliased into an input):
   * moving it to a new buffer would shrink its extent to 0 bytes, and the
   * library would write the extent it was promised past the end (a harness bug
   * found as a heap overflow in subq_fattn_zero_rows). No alias then. */
  if (!in_bytes && in_elems > 0) return NULL;
  int64_t off = in_bytes ? (int64_t)(rng() % (uint64_t)in_bytes) : 0;
  off -= off % 4;
  if (u8() % 2) off = 0;
  const int64_t need = off + out_elems * (int64_t)out_es;
  const int64_t total = need > in_bytes ? need : in_bytes;
  if (total > CAP_BYTES - g_total) {
    g_skip = true;
    return NULL;
  }
  g_total += total;
  unsigned char *p = track(malloc((size_t)total), total);
  if (in_bytes) memcpy(p, *in, (size_t)in_bytes);
  if (total > in_bytes) memset(p + in_bytes, 0, (size_t)(total - in_bytes));
  *in = p;
  return p + off;
}

/* whether p is a buffer of at least elems elements of es bytes (harness fills) */
static bool has(const void *p, int64_t elems, int64_t es) {
  int64_t b;
  return p && elems > 0 && !__builtin_mul_overflow(elems, es, &b) && tracked_bytes(p) >= b;
}

/* elems * es bytes, -1 when negative or overflowing (an empty range) */
static int64_t nb(int64_t elems, int64_t es) {
  int64_t r;
  return elems < 0 || __builtin_mul_overflow(elems, es, &r) ? -1 : r;
}

static bool ranges_overlap(const void *a, int64_t abytes, const void *b, int64_t bbytes) {
  if (!a || !b || abytes <= 0 || bbytes <= 0) return false;
  const uintptr_t al = (uintptr_t)a, bl = (uintptr_t)b;
  return al < bl + (uintptr_t)bbytes && bl < al + (uintptr_t)abytes;
}

/* ---- the check --------------------------------------------------------------------- */

static const char *g_fn;

static void fail(const char *what, subq_status st) {
  fprintf(stderr, "\nfuzz_kernel_args: %s: %s (status %d \"%s\", message \"%s\", must-fail reason \"%s\")\n", g_fn,
          what, (int)st, subq_status_string(st), subq_last_error_message(), g_why);
  __builtin_trap();
}

/* Checks the status of a call; returns whether it succeeded. */
static bool check(const char *fn, subq_status st) {
  g_fn = fn;
  if (st == SUBQ_OK) {
    if (g_must_fail) fail("accepted a call the header says is refused", st);
    return true;
  }
  if ((int)st < 1 || (int)st > 8) fail("unknown status", st);
  const char *m = subq_last_error_message();
  if (!m || !m[0]) fail("error without a message", st);
  if (!strstr(m, fn)) fail("message does not name the function", st);
  return false;
}

static void begin_call(void) {
  subq_clear_last_error();
}

/* ---- the context --------------------------------------------------------------------- */

static subq_context *g_ctx;

static subq_context *fz_ctx(void) {
  if (!g_ctx) {
    subq_context_params p;
    subq_context_params_default(&p, sizeof p);
    p.n_threads = 2;
    p.flags |= SUBQ_CONTEXT_NO_SPIN;
    if (subq_context_create(&p, &g_ctx) != SUBQ_OK) abort();
  }
  return one_in(4) ? NULL : g_ctx;
}

/* ====================================================================================== */
/* GEMM                                                                                    */
/* ====================================================================================== */

static float ld_elem(const void *p, subq_dtype t, int64_t i) {
  if (t == SUBQ_DTYPE_BF16) {
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  return ((const float *)p)[i];
}

/* Whether two distinct elements of a d0 x d1 x d2 tensor share an offset
 * (brute force, small tensors only; -1 when too large to check). */
static int brute_alias(const int64_t d[3], const int64_t s[3]) {
  const int64_t n = sat_mul(sat_mul(d[0], d[1]), d[2]);
  if (n > 4096 || n <= 1) return n <= 1 ? 0 : -1;
  int64_t *o = malloc((size_t)n * sizeof *o);
  int64_t c = 0;
  for (int64_t i = 0; i < d[0]; i++)
    for (int64_t j = 0; j < d[1]; j++)
      for (int64_t t = 0; t < d[2]; t++)
        o[c++] = (d[0] > 1 ? i * s[0] : 0) + (d[1] > 1 ? j * s[1] : 0) + (d[2] > 1 ? t * s[2] : 0);
  int hit = 0;
  for (int64_t i = 0; i < n && !hit; i++)
    for (int64_t j = i + 1; j < n; j++)
      if (o[i] == o[j]) {
        hit = 1;
        break;
      }
  free(o);
  return hit;
}

static void gemm_reference_check(const subq_gemm_args *g, const float *c0) {
  if (sat_mul(sat_mul(sat_mul(g->m, g->n), g->k > 0 ? g->k : 1), g->batch_count) > 20000) return;
  for (int64_t t = 0; t < g->batch_count; t++)
    for (int64_t i = 0; i < g->m; i++)
      for (int64_t j = 0; j < g->n; j++) {
        double acc = 0, mag = 0;
        for (int64_t p = 0; p < g->k; p++) {
          const double a = ld_elem(g->a, g->a_dtype, t * g->a_bs + i * g->a_rs + p * g->a_cs);
          const double b = ld_elem(g->b, g->b_dtype, t * g->b_bs + p * g->b_rs + j * g->b_cs);
          acc += a * b, mag += fabs(a * b);
        }
        const int64_t ci = t * g->c_bs + i * g->c_rs + j * g->c_cs;
        const double c_old = g->beta != 0.0f ? c0[ci] : 0.0;
        const double ref = (g->k ? (double)g->alpha * acc : 0.0) + (double)g->beta * c_old;
        const double tol = (double)(g->k + 8) * 1.2e-7 * (fabs(g->alpha) * mag + fabs(g->beta * c_old)) + 1e-30;
        if (!(fabs(g->c[ci] - ref) <= tol)) {
          fprintf(stderr, "gemm mismatch at (%lld,%lld,%lld): got %.9g want %.9g\n", (long long)t, (long long)i,
                  (long long)j, (double)g->c[ci], ref);
          fail("result differs from the float64 reference", SUBQ_OK);
        }
      }
}

/* The strided/batched GEMM args, B optional (packed call). */
static void gemm_fill_args(subq_gemm_args *g, bool with_b, int64_t *ea, int64_t *eb, int64_t *ec) {
  subq_gemm_args_default(g, sizeof *g);
  g->m = fz_size(), g->n = fz_size(), g->k = fz_size();
  g->batch_count = one_in(3) ? fz_size() : 1;
  g->alpha = one_in(6) ? fz_float() : 1.0f;
  g->beta = one_in(3) ? fz_float() : 0.0f;
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16};
  g->a_dtype = fz_dtype(dts, 2), g->b_dtype = fz_dtype(dts, 2);
  /* layouts: row-major or column-major, then perturbed */
  const bool at = u8() % 2, bt = u8() % 2, ct = one_in(4);
  g->a_rs = at ? 1 : fz_stride(g->k), g->a_cs = at ? fz_stride(g->m) : 1;
  if (one_in(5)) g->a_rs = fz_stride(1), g->a_cs = fz_stride(1);
  g->b_rs = bt ? 1 : fz_stride(g->n), g->b_cs = bt ? fz_stride(g->k) : 1;
  g->c_rs = ct ? 1 : fz_stride(g->n), g->c_cs = ct ? fz_stride(g->m) : 1;
  if (one_in(5)) g->c_rs = fz_stride(1), g->c_cs = fz_stride(1);
  int64_t asz = 0, bsz = 0, csz = 0;
  {
    const int64_t d[2] = {g->m, g->k}, s[2] = {g->a_rs, g->a_cs};
    asz = extent(2, d, s);
  }
  {
    const int64_t d[2] = {g->k, g->n}, s[2] = {g->b_rs, g->b_cs};
    bsz = extent(2, d, s);
  }
  {
    const int64_t d[2] = {g->m, g->n}, s[2] = {g->c_rs, g->c_cs};
    csz = extent(2, d, s);
  }
  g->a_bs = one_in(4) ? 0 : fz_stride(asz < 0 ? 1 : asz);
  g->b_bs = one_in(3) ? 0 : fz_stride(bsz < 0 ? 1 : bsz);
  g->c_bs = fz_stride(csz < 0 ? 1 : csz);
  if (one_in(6)) g->c_bs = fz_stride(1);
  {
    const int64_t d[3] = {g->m, g->k, g->batch_count}, s[3] = {g->a_rs, g->a_cs, g->a_bs};
    *ea = extent(3, d, s);
  }
  {
    const int64_t d[3] = {g->k, g->n, g->batch_count}, s[3] = {g->b_rs, g->b_cs, g->b_bs};
    *eb = with_b ? extent(3, d, s) : 0;
  }
  {
    const int64_t d[3] = {g->m, g->n, g->batch_count}, s[3] = {g->c_rs, g->c_cs, g->c_bs};
    *ec = extent(3, d, s);
  }
}

/* must-fail predicate of subq_gemm for everything but B (A and C) */
static void gemm_predicate(const subq_gemm_args *g, bool with_b, int64_t ea, int64_t eb, int64_t ec) {
  must_fail_if(g->m < 0 || g->n < 0 || g->k < 0 || g->batch_count < 0, "negative size");
  must_fail_if(g->a_dtype != SUBQ_DTYPE_F32 && g->a_dtype != SUBQ_DTYPE_BF16, "a_dtype");
  if (with_b) must_fail_if(g->b_dtype != SUBQ_DTYPE_F32 && g->b_dtype != SUBQ_DTYPE_BF16, "b_dtype");
  if (g_must_fail || g->m == 0 || g->n == 0 || g->batch_count == 0) return;
  must_fail_if(!g->c, "c NULL");
  must_fail_if((g->m > 1 && g->c_rs < 1) || (g->n > 1 && g->c_cs < 1), "c stride < 1");
  must_fail_if(g->batch_count > 1 && g->c_bs < 1, "c_bs < 1");
  must_fail_if(ec < 0, "c extent overflows");
  if (!g_must_fail) {
    const int64_t d[3] = {g->m, g->n, g->batch_count}, s[3] = {g->c_rs, g->c_cs, g->c_bs};
    must_fail_if(brute_alias(d, s) == 1, "c elements alias");
  }
  if (g->k > 0) {
    must_fail_if(!g->a, "a NULL");
    must_fail_if((g->m > 1 && g->a_rs < 1) || (g->k > 1 && g->a_cs < 1), "a stride < 1");
    must_fail_if(g->batch_count > 1 && g->a_bs < 0, "a_bs < 0");
    must_fail_if(ea < 0, "a extent overflows");
    if (with_b) {
      must_fail_if(!g->b, "b NULL");
      must_fail_if((g->k > 1 && g->b_rs < 1) || (g->n > 1 && g->b_cs < 1), "b stride < 1");
      must_fail_if(g->batch_count > 1 && g->b_bs < 0, "b_bs < 0");
      must_fail_if(eb < 0, "b extent overflows");
    }
    if (g->alpha != 0.0f && ec > 0) {
      must_fail_if(ranges_overlap(g->c, nb(ec, 4), g->a, nb(ea, (int64_t)dtype_es(g->a_dtype))), "c overlaps a");
      if (with_b) must_fail_if(ranges_overlap(g->c, nb(ec, 4), g->b, nb(eb, (int64_t)dtype_es(g->b_dtype))), "c overlaps b");
    }
  }
}

static void fuzz_gemm(void) {
  subq_gemm_args g;
  int64_t ea, eb, ec;
  gemm_fill_args(&g, true, &ea, &eb, &ec);
  void *a = buf(g.k > 0 ? ea : 0, dtype_es(g.a_dtype), dtype_kind(g.a_dtype), 30, "a");
  void *b = buf(g.k > 0 ? eb : 0, dtype_es(g.b_dtype), dtype_kind(g.b_dtype), 30, "b");
  float *c = NULL;
  const uint8_t al = u8();
  if (al < 12 && g.k > 0 && a)
    c = alias_into(&a, ea, dtype_es(g.a_dtype), ec, 4);
  else if (al < 24 && g.k > 0 && b)
    c = alias_into(&b, eb, dtype_es(g.b_dtype), ec, 4);
  else
    c = buf(ec, 4, 1, 30, "c");
  if (g_skip) return;
  g.a = a, g.b = b, g.c = c;
  gemm_predicate(&g, true, ea, eb, ec);
  if (one_in(40)) g.struct_size = u8() % sizeof g, g_must_fail = false; /* a shorter struct reads defaults */
  float *c0 = NULL;
  const bool ref = ec > 0 && ec < 100000 && c && fabsf(g.alpha) <= 16 && fabsf(g.beta) <= 16 && !ranges_overlap(c, nb(ec, 4), a, nb(ea, 4)) && !ranges_overlap(c, nb(ec, 4), b, nb(eb, 4));
  if (ref) {
    c0 = malloc((size_t)ec * 4);
    memcpy(c0, c, (size_t)ec * 4);
  }
  begin_call();
  const subq_status st = subq_gemm(fz_ctx(), &g);
  if (check("subq_gemm", st) && ref && g.struct_size == sizeof g) gemm_reference_check(&g, c0);
  free(c0);
}

static void fuzz_sgemm(void) {
  const bool ta = u8() % 2, tb = u8() % 2;
  const int64_t m = fz_size(), n = fz_size(), k = fz_size();
  const int64_t a_row = ta ? m : k, a_rows = ta ? k : m, b_row = tb ? k : n, b_rows = tb ? n : k;
  const int64_t lda = fz_stride(a_row > 1 ? a_row : 1), ldb = fz_stride(b_row > 1 ? b_row : 1),
                ldc = fz_stride(n > 1 ? n : 1);
  const float alpha = one_in(5) ? fz_float() : 1.0f, beta = one_in(3) ? fz_float() : 0.0f;
  must_fail_if(m < 0 || n < 0 || k < 0, "negative size");
  if (!g_must_fail) {
    must_fail_if(lda < (a_row > 1 ? a_row : 1), "lda");
    must_fail_if(ldb < (b_row > 1 ? b_row : 1), "ldb");
    must_fail_if(ldc < (n > 1 ? n : 1), "ldc");
  }
  const int64_t ea = k > 0 ? ext2(a_rows, lda, a_row) : 0, eb = k > 0 ? ext2(b_rows, ldb, b_row) : 0,
                ec = ext2(m, ldc, n);
  float *a = buf(ea, 4, 1, 30, "a"), *b = buf(eb, 4, 1, 30, "b");
  void *av = a;
  float *c = one_in(12) && a && k > 0 ? alias_into(&av, ea, 4, ec, 4) : buf(ec, 4, 1, 30, "c");
  a = av;
  if (g_skip) return;
  if (!g_must_fail && m > 0 && n > 0) {
    must_fail_if(!c || ec < 0, "c");
    if (k > 0) {
      must_fail_if(!a || !b || ea < 0 || eb < 0, "a/b NULL or overflow");
      if (alpha != 0.0f)
        must_fail_if(ranges_overlap(c, nb(ec, 4), a, nb(ea, 4)) || ranges_overlap(c, nb(ec, 4), b, nb(eb, 4)), "c overlaps");
    }
  }
  begin_call();
  (void)check("subq_sgemm", subq_sgemm(fz_ctx(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}

static void fuzz_gemm_packed(void) {
  const int64_t k = fz_size(), n = fz_size();
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16};
  const subq_dtype bt = fz_dtype(dts, 2);
  const bool tr = u8() % 2;
  const int64_t b_rs = tr ? 1 : fz_stride(n), b_cs = tr ? fz_stride(k) : 1;
  const int64_t d[2] = {k, n}, s[2] = {b_rs, b_cs};
  const int64_t eb = extent(2, d, s);
  const void *b = buf(eb, dtype_es(bt), dtype_kind(bt), 30, "b");
  if (g_skip) return;
  must_fail_if(k < 0 || n < 0, "negative size");
  must_fail_if(bt != SUBQ_DTYPE_F32 && bt != SUBQ_DTYPE_BF16, "b_dtype");
  if (!g_must_fail && k > 0 && n > 0) {
    must_fail_if(!b, "b NULL");
    must_fail_if((k > 1 && b_rs < 1) || (n > 1 && b_cs < 1), "b stride < 1");
    must_fail_if(eb < 0, "b extent overflows");
  }
  subq_gemm_packed_b *pk = NULL;
  subq_context *ctx = fz_ctx();
  begin_call();
  const subq_status st = subq_gemm_pack_b(ctx, k, n, bt, b, b_rs, b_cs, &pk);
  if (!check("subq_gemm_pack_b", st)) {
    if (pk) fail("out written on error", st);
    return;
  }
  g_must_fail = false;
  g_why[0] = 0;
  /* the packed product */
  subq_gemm_args g;
  int64_t ea, ebx, ec;
  gemm_fill_args(&g, false, &ea, &ebx, &ec);
  if (!one_in(8)) g.k = k, g.n = n;
  {
    const int64_t d2[3] = {g.m, g.k, g.batch_count}, s2[3] = {g.a_rs, g.a_cs, g.a_bs};
    ea = extent(3, d2, s2);
  }
  {
    const int64_t d2[3] = {g.m, g.n, g.batch_count}, s2[3] = {g.c_rs, g.c_cs, g.c_bs};
    ec = extent(3, d2, s2);
  }
  void *a = buf(g.k > 0 ? ea : 0, dtype_es(g.a_dtype), dtype_kind(g.a_dtype), 30, "a");
  float *c = one_in(12) && a && g.k > 0 ? alias_into(&a, ea, dtype_es(g.a_dtype), ec, 4) : buf(ec, 4, 1, 30, "c");
  if (!g_skip) {
    g.a = a, g.c = c;
    gemm_predicate(&g, false, ea, 0, ec);
    must_fail_if(g.k != k || g.n != n, "shape differs from the packed one");
    begin_call();
    (void)check("subq_gemm_packed", subq_gemm_packed(one_in(3) ? NULL : ctx, &g, one_in(30) ? NULL : pk));
  }
  subq_gemm_packed_b_destroy(pk);
}

static void fuzz_convert(void) {
  const int which = u8() % 5;
  const int64_t n = fz_size();
  static const subq_dtype all[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  subq_dtype sd = SUBQ_DTYPE_F32, dd = SUBQ_DTYPE_BF16;
  if (which == 1) sd = SUBQ_DTYPE_BF16, dd = SUBQ_DTYPE_F32;
  if (which == 2) dd = SUBQ_DTYPE_F16;
  if (which == 3) sd = SUBQ_DTYPE_F16, dd = SUBQ_DTYPE_F32;
  if (which == 4) sd = fz_dtype(all, 3), dd = fz_dtype(all, 3);
  void *src = buf(n, dtype_es(sd), dtype_kind(sd), 25, "src");
  void *dst = one_in(8) && src ? alias_into(&src, n, dtype_es(sd), n, dtype_es(dd)) : buf(n, dtype_es(dd), 0, 25, "dst");
  if (g_skip) return;
  must_fail_if(n < 0, "n < 0");
  if (which == 4) {
    const bool sok = sd == SUBQ_DTYPE_F32 || sd == SUBQ_DTYPE_BF16 || sd == SUBQ_DTYPE_F16;
    const bool dok = dd == SUBQ_DTYPE_F32 || dd == SUBQ_DTYPE_BF16 || dd == SUBQ_DTYPE_F16;
    must_fail_if(!sok || !dok || (sd != SUBQ_DTYPE_F32 && dd != SUBQ_DTYPE_F32), "dtypes");
  }
  if (n > 0) {
    must_fail_if(!src || !dst, "NULL");
    must_fail_if(ranges_overlap(src, nb(n, (int64_t)dtype_es(sd)), dst, nb(n, (int64_t)dtype_es(dd))), "dst overlaps src");
  }
  begin_call();
  switch (which) {
    case 0: (void)check("subq_f32_to_bf16", subq_f32_to_bf16(src, dst, n)); break;
    case 1: (void)check("subq_bf16_to_f32", subq_bf16_to_f32(src, dst, n)); break;
    case 2: (void)check("subq_f32_to_f16", subq_f32_to_f16(src, dst, n)); break;
    case 3: (void)check("subq_f16_to_f32", subq_f16_to_f32(src, dst, n)); break;
    default: (void)check("subq_convert", subq_convert(fz_ctx(), n, sd, src, dd, dst)); break;
  }
}

static void fuzz_q8(void) {
  const int64_t n = fz_size(), k = fz_size();
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  const subq_dtype dt = fz_dtype(dts, 3);
  const int64_t w_rs = one_in(4) ? 0 : fz_stride(k);
  const int64_t ew = ext2(n, w_rs == 0 ? k : w_rs, k);
  const void *w = buf(ew, dtype_es(dt), dtype_kind(dt), 30, "w");
  if (g_skip) return;
  must_fail_if(n < 1 || k < 1, "n or k < 1");
  must_fail_if(dt != SUBQ_DTYPE_F32 && dt != SUBQ_DTYPE_BF16 && dt != SUBQ_DTYPE_F16, "dtype");
  must_fail_if(!w, "w NULL");
  if (!g_must_fail) must_fail_if((w_rs != 0 && w_rs < k) || ew < 0, "w_rs < k or overflow");
  subq_q8_weights *q = NULL;
  subq_context *ctx = fz_ctx();
  begin_call();
  if (!check("subq_q8_weights_create", subq_q8_weights_create(ctx, n, k, dt, w, w_rs, &q))) return;
  g_must_fail = false;
  g_why[0] = 0;
  if (u8() % 2) {
    const int64_t m = fz_size(), x_rs = fz_ld0(k), y_rs = fz_ld0(n);
    const int64_t ex = ext2(m, x_rs ? x_rs : k, k), ey = ext2(m, y_rs ? y_rs : n, n);
    void *x = buf(ex, 4, 1, 30, "x");
    float *y = one_in(10) && x ? alias_into(&x, ex, 4, ey, 4) : buf(ey, 4, 0, 30, "y");
    if (!g_skip) {
      must_fail_if(m < 0, "m < 0");
      if (m > 0) {
        must_fail_if(!x || !y, "NULL x or y");
        must_fail_if((x_rs && x_rs < k) || (y_rs && y_rs < n) || ex < 0 || ey < 0, "x_rs/y_rs");
        must_fail_if(ranges_overlap(x, nb(ex, 4), y, nb(ey, 4)), "y overlaps x");
      }
      begin_call();
      (void)check("subq_q8_linear", subq_q8_linear(ctx, m, x, x_rs, q, y, y_rs));
    }
  } else {
    const int64_t row0 = one_in(3) ? fz_size() : 0, rows = one_in(2) ? n - (row0 > 0 ? row0 : 0) : fz_size();
    const int64_t dst_rs = fz_ld0(k);
    const int64_t ed = ext2(rows, dst_rs ? dst_rs : k, k);
    float *dst = buf(ed, 4, 0, 30, "dst");
    if (!g_skip) {
      must_fail_if(rows < 0 || row0 < 0 || row0 > n || rows > n - row0, "rows outside [0, n)");
      if (rows > 0) must_fail_if(!dst || (dst_rs && dst_rs < k) || ed < 0, "dst");
      begin_call();
      (void)check("subq_q8_weights_dequantize", subq_q8_weights_dequantize(q, row0, rows, dst, dst_rs));
    }
  }
  subq_q8_weights_destroy(q);
}

/* ====================================================================================== */
/* fused attention                                                                         */
/* ====================================================================================== */

/* strides (bs, ss, hs) of a [B][S][H][D] tensor, BSHD or BHSD, perturbed */
static void attn_strides(int64_t B, int64_t S, int64_t H, int64_t D, int64_t *bs, int64_t *ss, int64_t *hs) {
  (void)B;
  if (u8() % 2) { /* BSHD */
    *hs = fz_stride(D);
    *ss = fz_stride(sat_add(H > 0 ? sat_mul(H - 1, *hs > 0 ? *hs : 0) : 0, D));
    *bs = fz_stride(S > 0 && *ss > 0 && S < INT64_MAX / *ss ? S * *ss : 1);
  } else { /* BHSD */
    *ss = fz_stride(D);
    *hs = fz_stride(S > 0 && *ss > 0 && S < INT64_MAX / *ss ? S * *ss : 1);
    *bs = fz_stride(H > 0 && *hs > 0 && H < INT64_MAX / *hs ? H * *hs : 1);
  }
  if (one_in(8)) *bs = 0;
}
static int64_t attn_extent(int64_t B, int64_t S, int64_t H, int64_t D, int64_t bs, int64_t ss, int64_t hs) {
  const int64_t d[4] = {B, S, H, D}, s[4] = {bs, ss, hs, 1};
  return extent(4, d, s);
}
/* fattn's rule: strides >= 0; >= 1 where the extent exceeds one (batch of an
 * input may be 0); dimensions nest without overlap. */
static bool attn_strides_bad(int64_t B, int64_t S, int64_t H, int64_t D, int64_t bs, int64_t ss, int64_t hs,
                             bool input) {
  const int64_t e[3] = {B, S, H}, st[3] = {bs, ss, hs};
  for (int i = 0; i < 3; i++)
    if (st[i] < 0) return true;
  for (int i = 0; i < 3; i++)
    if (e[i] > 1 && st[i] == 0 && !(input && i == 0)) return true;
  const int64_t d[3] = {e[0] > 1 && st[0] ? e[0] : 1, e[1], e[2]};
  /* nesting: no two elements (including the D elements of a row) overlap */
  if (sat_mul(sat_mul(sat_mul(d[0], d[1]), d[2]), D) <= 20000) {
    const int64_t dd[3] = {d[0] * d[1], d[2], D};
    (void)dd;
    /* brute force over rows: offsets of row starts must be >= D apart */
    int64_t n = d[0] * d[1] * d[2];
    int64_t *o = malloc((size_t)(n ? n : 1) * sizeof *o);
    int64_t c = 0;
    for (int64_t b = 0; b < d[0]; b++)
      for (int64_t s = 0; s < d[1]; s++)
        for (int64_t h = 0; h < d[2]; h++) o[c++] = sat_add(sat_add(sat_mul(b, bs), sat_mul(s, ss)), sat_mul(h, hs));
    bool bad = false;
    for (int64_t i = 0; i < n && !bad; i++)
      for (int64_t j = i + 1; j < n; j++)
        if ((o[i] > o[j] ? (__int128)o[i] - o[j] : (__int128)o[j] - o[i]) < D) {
          bad = true;
          break;
        }
    free(o);
    return bad;
  }
  return false;
}

static void fuzz_fattn(void) {
  subq_fattn_args a;
  subq_fattn_args_default(&a, sizeof a);
  a.batch = fz_size(), a.sq = fz_size(), a.sk = fz_size();
  a.hkv = fz_bounded(8);
  a.hq = one_in(6) ? fz_bounded(16) : sat_mul(a.hkv, 1 + u8() % 4);
  a.dk = fz_bounded(SUBQ_FATTN_MAX_HEAD_DIM), a.dv = one_in(2) ? a.dk : fz_bounded(SUBQ_FATTN_MAX_HEAD_DIM);
  if (one_in(4)) a.scale = fz_float();
  if (one_in(4)) a.softcap = fz_float();
  if (one_in(3)) a.align = fz_enum(2);
  if (one_in(2)) a.window_left = (int64_t)(u8() % 12) - 2;
  if (one_in(2)) a.window_right = (int64_t)(u8() % 12) - 2;
  if (one_in(8)) a.window_left = huge_value();
  if (one_in(4)) a.kv_split = (int64_t)(u8() % 12) - 2;
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  if (one_in(3)) a.q_dtype = fz_dtype(dts, 3);
  if (one_in(3)) a.kv_dtype = fz_dtype(dts, 3);
  if (one_in(3)) a.out_dtype = fz_dtype(dts, 3);
  if (one_in(50)) { /* a caller of the first (shorter) layout: everything after kv_split is F32 / NULL */
    a.struct_size = offsetof(subq_fattn_args, q_dtype);
    a.q_dtype = a.kv_dtype = a.out_dtype = SUBQ_DTYPE_F32;
  }
  attn_strides(a.batch, a.sq, a.hq, a.dk, &a.q_bs, &a.q_ss, &a.q_hs);
  attn_strides(a.batch, a.sk, a.hkv, a.dk, &a.k_bs, &a.k_ss, &a.k_hs);
  attn_strides(a.batch, a.sk, a.hkv, a.dv, &a.v_bs, &a.v_ss, &a.v_hs);
  attn_strides(a.batch, a.sq, a.hq, a.dv, &a.o_bs, &a.o_ss, &a.o_hs);
  const int64_t eq = attn_extent(a.batch, a.sq, a.hq, a.dk, a.q_bs, a.q_ss, a.q_hs);
  const int64_t ek = attn_extent(a.batch, a.sk, a.hkv, a.dk, a.k_bs, a.k_ss, a.k_hs);
  const int64_t ev = attn_extent(a.batch, a.sk, a.hkv, a.dv, a.v_bs, a.v_ss, a.v_hs);
  const int64_t eo = attn_extent(a.batch, a.sq, a.hq, a.dv, a.o_bs, a.o_ss, a.o_hs);
  const int64_t el = mul_or_neg(mul_or_neg(a.batch, a.hq), a.sq);
  const bool valid_shape = a.batch >= 0 && a.sq >= 0 && a.sk >= 0 && a.hq >= 1 && a.hkv >= 1 && a.dk >= 1 &&
                           a.dk <= 256 && a.dv >= 1 && a.dv <= 256;
  const size_t qes = dtype_es(a.q_dtype), kes = dtype_es(a.kv_dtype), oes = dtype_es(a.out_dtype);
  void *q = buf(valid_shape ? eq : 0, qes, fill_kind(a.q_dtype), 40, "q");
  void *k = buf(valid_shape ? ek : 0, kes, fill_kind(a.kv_dtype), 40, "k");
  void *v = buf(valid_shape ? ev : 0, kes, fill_kind(a.kv_dtype), 40, "v");
  void *out = NULL;
  const uint8_t al = u8();
  if (al < 6 && q)
    out = alias_into(&q, eq, qes, eo, oes);
  else if (al < 10 && k)
    out = alias_into(&k, ek, kes, eo, oes);
  else
    out = buf(valid_shape ? eo : 0, oes, 0, 40, "out");
  float *lse = NULL;
  if (one_in(3)) lse = (al >= 10 && al < 14 && q) ? alias_into(&q, eq, qes, el, 4) : buf(valid_shape ? el : 0, 4, 0, 0, "lse");
  float *mask = NULL;
  int64_t em = 0;
  if (a.struct_size == sizeof a && one_in(3)) {
    a.mask_ss = one_in(4) ? 0 : fz_stride(a.sk);
    a.mask_hs = one_in(4) ? 0 : fz_stride(a.sq > 0 && a.mask_ss > 0 ? sat_add(sat_mul(a.sq - 1, a.mask_ss), a.sk) : a.sk);
    a.mask_bs = one_in(4) ? 0 : fz_stride(a.hq > 0 && a.mask_hs > 0 ? sat_add(sat_mul(a.hq - 1, a.mask_hs), a.sk) : a.sk);
    const int64_t d[4] = {a.batch, a.hq, a.sq, a.sk}, s[4] = {a.mask_bs, a.mask_hs, a.mask_ss, 1};
    em = extent(4, d, s);
    const uint8_t ma = u8();
    if (ma < 8 && lse && el > 0) {
      void *lv = lse;
      mask = alias_into(&lv, el, 4, em, 4);
      lse = lv;
    } else if (ma < 16 && out) {
      mask = alias_into(&out, eo, oes, em, 4);
    } else {
      mask = buf(valid_shape && a.mask_bs >= 0 && a.mask_hs >= 0 && a.mask_ss >= 0 ? em : 0, 4, 1, 0, "mask");
    }
  }
  if (g_skip) return;
  a.q = q, a.k = k, a.v = v, a.out = out, a.lse = lse, a.mask = mask;
  /* predicate */
  must_fail_if(!valid_shape, "shape");
  if (a.hq >= 1 && a.hkv >= 1) must_fail_if(a.hq % a.hkv != 0, "hq % hkv");
  must_fail_if(a.window_left < -1 || a.window_right < -1, "window");
  must_fail_if(a.align != 0 && a.align != 1, "align");
  must_fail_if(!isfinite(a.scale) || !(a.softcap >= 0) || isinf(a.softcap), "scale/softcap");
  must_fail_if(a.kv_split < -1, "kv_split");
  /* fattn reads a dtype of 0 as F32 (callers of the shorter struct) */
  const bool dtok = (dtype_kind(a.q_dtype) || !a.q_dtype) && (dtype_kind(a.kv_dtype) || !a.kv_dtype) &&
                    (dtype_kind(a.out_dtype) || !a.out_dtype);
  must_fail_if(!dtok, "dtype");
  must_fail_if(mask && (a.mask_bs < 0 || a.mask_hs < 0 || a.mask_ss < 0), "mask stride < 0");
  if (!g_must_fail && a.batch > 0 && a.sq > 0) {
    must_fail_if(!q || !out || (a.sk > 0 && (!k || !v)), "NULL q/k/v/out");
    must_fail_if(attn_strides_bad(a.batch, a.sq, a.hq, a.dk, a.q_bs, a.q_ss, a.q_hs, true), "q strides");
    must_fail_if(attn_strides_bad(a.batch, a.sq, a.hq, a.dv, a.o_bs, a.o_ss, a.o_hs, false), "o strides");
    if (a.sk > 0) {
      must_fail_if(attn_strides_bad(a.batch, a.sk, a.hkv, a.dk, a.k_bs, a.k_ss, a.k_hs, true), "k strides");
      must_fail_if(attn_strides_bad(a.batch, a.sk, a.hkv, a.dv, a.v_bs, a.v_ss, a.v_hs, true), "v strides");
    }
    must_fail_if(eq < 0 || eo < 0 || (a.sk > 0 && (ek < 0 || ev < 0)) || (lse && el < 0) || (mask && a.sk > 0 && em < 0),
                 "extent overflows");
    if (!g_must_fail) {
      const int64_t bo = nb(eo, (int64_t)oes), bq = nb(eq, (int64_t)qes), bk = a.sk ? nb(ek, (int64_t)kes) : 0,
                    bv = a.sk ? nb(ev, (int64_t)kes) : 0, bl = lse ? nb(el, 4) : 0, bm = mask && a.sk ? nb(em, 4) : 0;
      must_fail_if(ranges_overlap(out, bo, q, bq) || ranges_overlap(out, bo, k, bk) || ranges_overlap(out, bo, v, bv) ||
                       ranges_overlap(out, bo, lse, bl),
                   "out overlaps an input or lse");
      must_fail_if(ranges_overlap(lse, bl, q, bq) || ranges_overlap(lse, bl, k, bk) || ranges_overlap(lse, bl, v, bv),
                   "lse overlaps q/k/v");
      must_fail_if(ranges_overlap(out, bo, mask, bm), "out overlaps mask");
      must_fail_if(ranges_overlap(lse, bl, mask, bm), "lse overlaps mask");
    }
  }
  begin_call();
  (void)check("subq_fattn", subq_fattn(fz_ctx(), &a));
}

static void fuzz_kv(void) {
  subq_kv_cache_args ca;
  subq_kv_cache_args_default(&ca, sizeof ca);
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  ca.dtype = fz_dtype(dts, 3);
  ca.mode = fz_enum(2);
  ca.batch = fz_bounded(4), ca.hkv = fz_bounded(4), ca.dk = fz_bounded(256), ca.dv = fz_bounded(256);
  ca.capacity = fz_bounded(40);
  {
    const int64_t e = mul_or_neg(mul_or_neg(mul_or_neg(ca.batch, ca.hkv), ca.capacity), sat_add(ca.dk, ca.dv));
    if (e > 0 && e > CAP_BYTES / 4) return; /* the cache allocates it */
  }
  must_fail_if(!dtype_kind(ca.dtype) || (ca.mode != 0 && ca.mode != 1), "dtype/mode");
  must_fail_if(ca.batch < 1 || ca.hkv < 1 || ca.capacity < 1 || ca.dk < 1 || ca.dk > 256 || ca.dv < 1 || ca.dv > 256,
               "sizes");
  subq_kv_cache *cache = NULL;
  begin_call();
  if (!check("subq_kv_cache_create", subq_kv_cache_create(&ca, &cache))) return;
  subq_context *ctx = fz_ctx();
  const int rounds = 1 + u8() % 3;
  for (int r = 0; r < rounds && g_left; r++) {
    g_must_fail = false, g_why[0] = 0;
    const uint8_t op = u8() % 4;
    if (op <= 1) { /* append */
      const int64_t b0 = one_in(6) ? fz_size() : 0, nb = one_in(3) ? fz_size() : ca.batch - (b0 > 0 ? b0 : 0);
      const int64_t n_new = fz_size();
      int64_t k_bs, k_ss, k_hs, v_bs, v_ss, v_hs;
      attn_strides(nb, n_new, ca.hkv, ca.dk, &k_bs, &k_ss, &k_hs);
      attn_strides(nb, n_new, ca.hkv, ca.dv, &v_bs, &v_ss, &v_hs);
      const int64_t ek = attn_extent(nb, n_new, ca.hkv, ca.dk, k_bs, k_ss, k_hs);
      const int64_t ev = attn_extent(nb, n_new, ca.hkv, ca.dv, v_bs, v_ss, v_hs);
      const float *k = buf(ek, 4, 1, 30, "k"), *v = buf(ev, 4, 1, 30, "v");
      if (g_skip) break;
      int64_t end0 = 0;
      must_fail_if(b0 < 0 || nb < 0 || b0 > ca.batch || nb > ca.batch - b0, "b0/nb");
      must_fail_if(n_new < 0, "n_new < 0");
      if (!g_must_fail && nb > 0 && n_new > 0) {
        must_fail_if(!k || !v, "NULL k/v");
        must_fail_if(k_bs < 0 || k_ss < 0 || k_hs < 0 || v_bs < 0 || v_ss < 0 || v_hs < 0, "stride < 0");
        must_fail_if(ek < 0 || ev < 0, "overflow");
        if (!g_must_fail && ca.mode == SUBQ_KV_LINEAR)
          for (int64_t b = b0; b < b0 + nb; b++) {
            int64_t f, e;
            if (subq_kv_cache_positions(cache, b, &f, &e) != SUBQ_OK) fail("positions", SUBQ_OK);
            must_fail_if(n_new > ca.capacity - e, "cache full");
            end0 = e;
          }
      }
      (void)end0;
      begin_call();
      (void)check("subq_kv_cache_append",
                  subq_kv_cache_append(ctx, cache, b0, nb, n_new, k, k_bs, k_ss, k_hs, v, v_bs, v_ss, v_hs));
    } else if (op == 2) { /* attention over the cache */
      subq_fattn_args a;
      subq_fattn_args_default(&a, sizeof a);
      a.batch = one_in(8) ? fz_size() : ca.batch, a.hkv = one_in(8) ? fz_bounded(4) : ca.hkv;
      a.hq = sat_mul(a.hkv, 1 + u8() % 3);
      if (one_in(8)) a.hq = fz_bounded(8);
      a.dk = one_in(8) ? fz_bounded(256) : ca.dk, a.dv = one_in(8) ? fz_bounded(256) : ca.dv;
      a.sq = u8() % 4;
      if (one_in(8)) a.sq = fz_size();
      if (one_in(2)) a.window_left = (int64_t)(u8() % 10) - 1;
      if (one_in(2)) a.window_right = (int64_t)(u8() % 4) - 1;
      if (one_in(10)) a.align = fz_enum(2);
      if (one_in(4)) a.kv_split = (int64_t)(u8() % 10) - 1;
      if (one_in(4)) a.q_dtype = fz_dtype(dts, 3);
      if (one_in(4)) a.out_dtype = fz_dtype(dts, 3);
      attn_strides(a.batch, a.sq, a.hq, a.dk, &a.q_bs, &a.q_ss, &a.q_hs);
      attn_strides(a.batch, a.sq, a.hq, a.dv, &a.o_bs, &a.o_ss, &a.o_hs);
      const bool shape_ok = a.batch >= 0 && a.sq >= 0 && a.hq >= 1 && a.hkv >= 1 && a.dk >= 1 && a.dk <= 256 &&
                            a.dv >= 1 && a.dv <= 256;
      const int64_t eq = attn_extent(a.batch, a.sq, a.hq, a.dk, a.q_bs, a.q_ss, a.q_hs);
      const int64_t eo = attn_extent(a.batch, a.sq, a.hq, a.dv, a.o_bs, a.o_ss, a.o_hs);
      const int64_t el = mul_or_neg(mul_or_neg(a.batch, a.hq), a.sq);
      const size_t qes = dtype_es(a.q_dtype), oes = dtype_es(a.out_dtype);
      void *q = buf(shape_ok ? eq : 0, qes, fill_kind(a.q_dtype), 40, "q");
      void *out = one_in(12) && q ? alias_into(&q, eq, qes, eo, oes) : buf(shape_ok ? eo : 0, oes, 0, 40, "out");
      float *lse = one_in(3) ? buf(shape_ok ? el : 0, 4, 0, 0, "lse") : NULL;
      if (one_in(30)) a.mask = lse ? lse : (const float *)q;
      if (g_skip) break;
      a.q = q, a.out = out, a.lse = lse;
      must_fail_if(!shape_ok || (a.hq >= 1 && a.hkv >= 1 && a.hq % a.hkv), "shape");
      must_fail_if(a.window_left < -1 || a.window_right < -1 || a.kv_split < -1, "window/split");
      must_fail_if(a.align != SUBQ_FATTN_ALIGN_BOTTOM_RIGHT, "align");
      must_fail_if((!dtype_kind(a.q_dtype) && a.q_dtype) || (!dtype_kind(a.out_dtype) && a.out_dtype), "dtype");
      must_fail_if(a.mask != NULL, "mask over a cache");
      must_fail_if(a.batch != ca.batch || a.hkv != ca.hkv || a.dk != ca.dk || a.dv != ca.dv, "cache mismatch");
      if (!g_must_fail) {
        for (int64_t b = 0; b < a.batch; b++) {
          int64_t f, e;
          if (subq_kv_cache_positions(cache, b, &f, &e) != SUBQ_OK) fail("positions", SUBQ_OK);
          must_fail_if(e < a.sq, "fewer than sq positions");
          const int64_t need = a.window_left >= 0 ? (e - a.sq - a.window_left > 0 ? e - a.sq - a.window_left : 0) : 0;
          must_fail_if(need < f, "ring overwrote a needed key");
        }
      }
      if (!g_must_fail && a.batch > 0 && a.sq > 0) {
        must_fail_if(!q || !out, "NULL q/out");
        must_fail_if(attn_strides_bad(a.batch, a.sq, a.hq, a.dk, a.q_bs, a.q_ss, a.q_hs, true), "q strides");
        must_fail_if(attn_strides_bad(a.batch, a.sq, a.hq, a.dv, a.o_bs, a.o_ss, a.o_hs, false), "o strides");
        must_fail_if(eq < 0 || eo < 0 || (lse && el < 0), "overflow");
        if (!g_must_fail)
          must_fail_if(ranges_overlap(out, nb(eo, (int64_t)oes), q, nb(eq, (int64_t)qes)) ||
                           ranges_overlap(out, nb(eo, (int64_t)oes), lse, lse ? nb(el, 4) : 0) ||
                           ranges_overlap(lse, lse ? nb(el, 4) : 0, q, nb(eq, (int64_t)qes)),
                       "overlap");
      }
      begin_call();
      (void)check("subq_fattn_kv", subq_fattn_kv(ctx, &a, one_in(40) ? NULL : cache));
    } else { /* truncate / positions / get_info */
      const int64_t b = one_in(4) ? fz_size() : (int64_t)(u8() % (uint64_t)ca.batch);
      int64_t f = 0, e = 0;
      const bool in = b >= 0 && b < ca.batch;
      if (in && subq_kv_cache_positions(cache, b, &f, &e) != SUBQ_OK) fail("positions", SUBQ_OK);
      const int64_t end = one_in(3) ? fz_size() : (e ? (int64_t)(u8() % (uint64_t)(e + 1)) : 0);
      must_fail_if(!in || end < 0 || end > e, "b/end");
      begin_call();
      (void)check("subq_kv_cache_truncate", subq_kv_cache_truncate(cache, b, end));
      g_must_fail = false;
      subq_kv_cache_info info;
      memset(&info, 0, sizeof info);
      info.struct_size = one_in(8) ? u8() % sizeof info : sizeof info;
      must_fail_if(info.struct_size < sizeof(size_t), "info struct_size");
      begin_call();
      if (check("subq_kv_cache_get_info", subq_kv_cache_get_info(cache, &info)) && info.struct_size == sizeof info) {
        if (info.batch != ca.batch || info.capacity != ca.capacity || !info.k || !info.v) fail("info", SUBQ_OK);
      }
    }
  }
  subq_kv_cache_destroy(cache);
}

static void fuzz_expf(void) {
  const int64_t n = fz_size();
  float *src = buf(n, 4, 1, 25, "src");
  float *dst = one_in(4) ? src : buf(n, 4, 0, 25, "dst");
  if (g_skip) return;
  must_fail_if(n < 0, "n < 0");
  if (n > 0) must_fail_if(!src || !dst, "NULL");
  begin_call();
  (void)check("subq_fattn_expf", subq_fattn_expf(fz_ctx(), src, dst, n));
}

/* ====================================================================================== */
/* SSM                                                                                     */
/* ====================================================================================== */

/* Variable-length sequence descriptors (mostly valid). rows: the total rows
 * the activations need (batch x seqlen or cu_seqlens[batch]); -1 when invalid. */
typedef struct ssm_seqs {
  int32_t *cu, *slots;
  uint8_t *init;
  int64_t tb, tr;     /* batches and rows per batch of the activation tensors */
  int64_t max_len;
  int64_t n_slots;    /* effective */
  bool cu_bad, slots_oob, slots_dup;
} ssm_seqs;

static bool g_ssm_cu; /* the current call has cu_seqlens */

static void ssm_draw_seqs(ssm_seqs *q, int64_t batch, int64_t seqlen, bool step, int64_t *n_slots_field) {
  memset(q, 0, sizeof *q);
  g_ssm_cu = false;
  q->tb = batch, q->tr = seqlen, q->max_len = batch > 0 ? seqlen : 0;
  *n_slots_field = one_in(4) ? fz_size() : 0;
  if (batch < 0 || batch > 64) {
    q->n_slots = *n_slots_field ? *n_slots_field : batch;
    return;
  }
  if (one_in(3)) { /* cu_seqlens */
    q->cu = buf(batch + 1, 4, 0, 0, "cu_seqlens");
    int32_t at = one_in(8) ? (int32_t)(u8() % 4) : 0;
    if (one_in(20)) at = -1;
    q->cu[0] = at;
    int64_t mx = 0;
    for (int64_t b = 0; b < batch; b++) {
      int32_t len = (int32_t)(u8() % (step ? 2 : 9));
      if (one_in(25)) len = -1;
      if (one_in(40)) len = step ? 2 : 40;
      at += len;
      q->cu[b + 1] = at;
      if (len < 0) q->cu_bad = true;
      mx = len > mx ? len : mx;
    }
    if (q->cu[0] < 0) q->cu_bad = true;
    q->tb = 1, q->tr = q->cu[batch] > 0 ? q->cu[batch] : 0, q->max_len = mx;
    g_ssm_cu = true;
  }
  q->n_slots = *n_slots_field ? *n_slots_field : batch;
  if (one_in(3)) {
    q->slots = buf(batch, 4, 0, 0, "state_slots");
    for (int64_t b = 0; b < batch; b++) {
      int64_t sl = q->n_slots > 0 ? (b % q->n_slots) : 0;
      if (one_in(3) && q->n_slots > 0) sl = (int64_t)(u8() % (uint64_t)q->n_slots);
      if (one_in(30)) sl = one_in(2) ? -1 : q->n_slots;
      q->slots[b] = (int32_t)sl;
      if (sl < 0 || sl >= q->n_slots) q->slots_oob = true;
      for (int64_t c = 0; c < b; c++)
        if (q->slots[c] == q->slots[b]) q->slots_dup = true;
    }
  }
  if (one_in(3)) {
    q->init = buf(batch, 1, 0, 0, "has_initial_state");
    for (int64_t b = 0; b < batch; b++) q->init[b] = u8() % 2;
  }
}

/* A token-major activation tensor: ld 0 = cols, bs 0 = rows * ld. Returns its
 * extent; *bad when the header says ld/bs are invalid. */
static int64_t ssm_act(int64_t tb, int64_t tr, int64_t cols, int64_t *ld, int64_t *bs, bool *bad) {
  *ld = fz_ld0(cols);
  *bs = one_in(2) ? 0 : fz_stride(tr > 0 && *ld > 0 ? sat_add(mul_or_neg(tr - 1, *ld), cols) : 1);
  const int64_t l = *ld ? *ld : cols;
  const int64_t b = *bs ? *bs : mul_or_neg(tr, l);
  if (l < cols || (*bs < 0 && !g_ssm_cu)) *bad = true; /* with cu_seqlens the bs are ignored */
  if (g_ssm_cu) {
    const int64_t d[2] = {tr, cols}, s[2] = {l, 1};
    return extent(2, d, s);
  }
  const int64_t d[3] = {tb, tr, cols}, s[3] = {b, l, 1};
  if (tb > 1 && b < 0) return -1;
  return extent(3, d, s);
}

static void fuzz_conv1d(void) {
  subq_conv1d_args g;
  subq_conv1d_args_default(&g, sizeof g);
  const bool step = u8() % 2;
  g.batch = fz_size(), g.seqlen = step && !one_in(6) ? 1 : fz_size(), g.channels = fz_size();
  g.width = one_in(6) ? (int32_t)fz_bounded(8) : (int32_t)(1 + u8() % 8);
  g.flags = fz_flags(SUBQ_CONV1D_SILU);
  ssm_seqs q;
  ssm_draw_seqs(&q, g.batch, g.seqlen, step, &g.n_slots);
  bool bad = false;
  const int64_t E = g.channels;
  const int64_t ex = ssm_act(q.tb, q.tr, E, &g.x_ld, &g.x_bs, &bad);
  const int64_t ey = ssm_act(q.tb, q.tr, E, &g.y_ld, &g.y_bs, &bad);
  const int64_t srows = (int64_t)g.width - 1 > 0 ? (int64_t)g.width - 1 : 0; /* int64: width may be INT32_MIN */
  const int64_t span = mul_or_neg(srows, E);
  g.state_bs = one_in(2) ? 0 : fz_stride(span > 0 ? span : 1);
  const int64_t sbs = g.state_bs ? g.state_bs : span;
  const int64_t es = span <= 0 ? 0 : (q.n_slots > 1 && sbs < 0 ? -1 : ext2(q.n_slots, sbs, span));
  void *x = buf(ex, 4, 1, 30, "x");
  const float *w = buf(mul_or_neg(E, g.width), 4, 1, 30, "weight");
  const float *bias = one_in(2) ? buf(E, 4, 1, 0, "bias") : NULL;
  float *si = one_in(2) ? buf(es, 4, 1, 0, "state_in") : NULL;
  float *so = NULL;
  const uint8_t o = u8() % 8;
  if (o < 3) so = si;
  else if (o < 6) so = buf(es, 4, 0, 0, "state_out");
  float *y = one_in(12) && x ? alias_into(&x, ex, 4, ey, 4) : buf(ey, 4, 0, 30, "y");
  if (g_skip) return;
  g.x = x, g.weight = w, g.bias = bias, g.state_in = si, g.state_out = so, g.y = y;
  g.cu_seqlens = q.cu, g.state_slots = q.slots, g.has_initial_state = q.init;
  must_fail_if(g.batch < 0 || g.seqlen < 0 || g.channels < 0, "negative size");
  must_fail_if(g.width < 1 || g.width > 8, "width");
  must_fail_if(g.flags & ~SUBQ_CONV1D_SILU, "flags");
  must_fail_if(step && !q.cu && g.seqlen != 1, "step seqlen");
  must_fail_if(step && !so, "step without state_out");
  must_fail_if(g.n_slots < 0, "n_slots");
  if (!g_must_fail && g.batch > 0 && g.channels > 0) {
    must_fail_if(q.cu_bad, "cu_seqlens");
    if (!g_must_fail && q.max_len > 0) {
      must_fail_if(!x || !w || !y, "NULL x/weight/y");
      must_fail_if(bad || ex < 0 || ey < 0, "x/y ld/bs");
      if (srows > 0) {
        must_fail_if(g.state_bs < 0 || ((si || so) && es < 0), "state_bs");
        must_fail_if((si || so) && !q.slots && g.batch > q.n_slots, "batch > n_slots");
        must_fail_if(q.slots && q.slots_oob, "slot out of range");
        must_fail_if(q.slots && so && q.slots_dup, "slot repeated");
      }
      if (!g_must_fail) {
        const int64_t bx = nb(ex, 4), by = nb(ey, 4), bs_ = srows > 0 ? nb(es, 4) : 0;
        must_fail_if(ranges_overlap(y, by, x, bx) || ranges_overlap(y, by, w, nb(mul_or_neg(E, g.width), 4)) ||
                         ranges_overlap(y, by, bias, bias ? nb(E, 4) : 0) || ranges_overlap(y, by, si, si ? bs_ : 0) ||
                         ranges_overlap(y, by, so, so ? bs_ : 0),
                     "y overlaps");
        must_fail_if(so != si && ranges_overlap(so, so ? bs_ : 0, si, si ? bs_ : 0), "state_out overlaps state_in");
      }
    }
  }
  begin_call();
  if (step)
    (void)check("subq_conv1d_update_f32", subq_conv1d_update_f32(fz_ctx(), &g));
  else
    (void)check("subq_conv1d_f32", subq_conv1d_f32(fz_ctx(), &g));
}

static void fuzz_ssm1(void) {
  subq_ssm1_args g;
  subq_ssm1_args_default(&g, sizeof g);
  const bool step = u8() % 2;
  g.batch = fz_size(), g.seqlen = step && !one_in(6) ? 1 : fz_size();
  g.channels = fz_size(), g.d_state = fz_bounded(SUBQ_SSM1_MAX_D_STATE);
  g.n_groups = one_in(3) ? fz_bounded(4) : 1;
  g.flags = fz_flags(SUBQ_SSM1_DT_SOFTPLUS | SUBQ_SSM1_A_LOG | SUBQ_SSM1_A_PACKED);
  ssm_seqs q;
  ssm_draw_seqs(&q, g.batch, g.seqlen, step, &g.n_slots);
  const int64_t E = g.channels, N = g.d_state, gn = mul_or_neg(g.n_groups, N);
  const int64_t sf = subq_ssm1_state_floats(E, N);
  bool bad = false;
  const int64_t eu = ssm_act(q.tb, q.tr, E, &g.u_ld, &g.u_bs, &bad);
  const int64_t edt = ssm_act(q.tb, q.tr, E, &g.dt_ld, &g.dt_bs, &bad);
  const int64_t eb = ssm_act(q.tb, q.tr, gn, &g.b_ld, &g.b_bs, &bad);
  const int64_t ec = ssm_act(q.tb, q.tr, gn, &g.c_ld, &g.c_bs, &bad);
  bool zbad = false;
  const int64_t ez = ssm_act(q.tb, q.tr, E, &g.z_ld, &g.z_bs, &zbad);
  const int64_t ey = ssm_act(q.tb, q.tr, E, &g.y_ld, &g.y_bs, &bad);
  g.h_bs = one_in(2) ? 0 : fz_stride(sf > 0 ? sf : 1);
  const int64_t hbs = g.h_bs ? g.h_bs : sf;
  const int64_t eh = sf <= 0 ? 0 : ext2(q.n_slots, hbs, sf);
  const int64_t ea = (g.flags & SUBQ_SSM1_A_PACKED) ? sf : mul_or_neg(E, N);
  void *u = buf(eu, 4, 1, 30, "u");
  const float *dt = buf(edt, 4, 1, 30, "dt"), *b = buf(eb, 4, 1, 30, "b"), *c = buf(ec, 4, 1, 30, "c");
  const float *z = one_in(2) ? buf(ez, 4, 1, 0, "z") : NULL;
  const float *a = buf(ea, 4, 1, 30, "a");
  const float *dtb = one_in(2) ? buf(E, 4, 1, 0, "dt_bias") : NULL, *dsk = one_in(2) ? buf(E, 4, 1, 0, "d_skip") : NULL;
  float *hi = one_in(2) ? buf(eh, 4, 1, 0, "h_in") : NULL;
  const uint8_t o = u8() % 8;
  float *ho = o < 3 ? hi : o < 6 ? buf(eh, 4, 0, 0, "h_out") : NULL;
  float *y = one_in(12) && u ? alias_into(&u, eu, 4, ey, 4) : buf(ey, 4, 0, 30, "y");
  if (g_skip) return;
  g.u = u, g.dt = dt, g.b = b, g.c = c, g.z = z, g.a = a, g.dt_bias = dtb, g.d_skip = dsk, g.h_in = hi, g.h_out = ho,
  g.y = y;
  g.cu_seqlens = q.cu, g.state_slots = q.slots, g.has_initial_state = q.init;
  must_fail_if(g.batch < 0 || g.seqlen < 0 || g.channels < 0 || g.d_state < 0 || g.d_state > 256, "sizes");
  must_fail_if(g.flags & ~7u, "flags");
  must_fail_if((g.flags & SUBQ_SSM1_A_LOG) && (g.flags & SUBQ_SSM1_A_PACKED), "A_LOG with A_PACKED");
  must_fail_if(step && !q.cu && g.seqlen != 1, "step seqlen");
  must_fail_if(step && !ho, "step without h_out");
  must_fail_if(g.n_slots < 0, "n_slots");
  if (!g_must_fail && g.batch > 0) {
    must_fail_if(q.cu_bad, "cu_seqlens");
    if (!g_must_fail && q.max_len > 0) {
      must_fail_if(E < 1 || N < 1 || g.n_groups < 1 || E % g.n_groups, "channels/d_state/n_groups");
      must_fail_if(!u || !dt || !b || !c || !a || !y, "NULL");
      must_fail_if(bad || (z && zbad) || eu < 0 || edt < 0 || eb < 0 || ec < 0 || ey < 0 || (z && ez < 0), "ld/bs");
      must_fail_if(g.h_bs < 0 || (g.h_bs > 0 && g.h_bs < sf && q.n_slots > 1), "h_bs");
      must_fail_if((hi || ho) && eh < 0, "h extent");
      must_fail_if(!q.slots && g.batch > q.n_slots, "batch > n_slots");
      must_fail_if(q.slots && q.slots_oob, "slot out of range");
      must_fail_if(q.slots && ho && q.slots_dup, "slot repeated");
      if (!g_must_fail) {
        const int64_t by = nb(ey, 4), bh = nb(eh, 4);
        const void *ins[] = {u, dt, b, c, z, a, dtb, dsk, hi};
        const int64_t inb[] = {nb(eu, 4), nb(edt, 4), nb(eb, 4), nb(ec, 4), nb(ez, 4), nb(ea, 4), nb(E, 4), nb(E, 4), bh};
        for (int i = 0; i < 9; i++) {
          must_fail_if(ranges_overlap(y, by, ins[i], inb[i]), "y overlaps an input");
          if (!(i == 8 && ho == hi)) must_fail_if(ranges_overlap(ho, ho ? bh : 0, ins[i], inb[i]), "h_out overlaps");
        }
        must_fail_if(ranges_overlap(y, by, ho, ho ? bh : 0), "y overlaps h_out");
      }
    }
  }
  begin_call();
  if (step)
    (void)check("subq_ssm1_step_f32", subq_ssm1_step_f32(fz_ctx(), &g));
  else
    (void)check("subq_ssm1_scan_f32", subq_ssm1_scan_f32(fz_ctx(), &g));
}

static void fuzz_ssm2(void) {
  subq_ssm2_args g;
  subq_ssm2_args_default(&g, sizeof g);
  const bool step = u8() % 2;
  g.batch = fz_size(), g.seqlen = step && !one_in(6) ? 1 : fz_size();
  g.n_heads = fz_bounded(8), g.head_dim = fz_bounded(64), g.d_state = fz_bounded(SUBQ_SSM2_MAX_D_STATE);
  g.n_groups = one_in(3) ? fz_bounded(4) : 1;
  g.flags = fz_flags(SUBQ_SSM2_DT_SOFTPLUS | SUBQ_SSM2_A_LOG | SUBQ_SSM2_D_PER_CHANNEL);
  g.algo = fz_enum(3);
  if (one_in(3)) g.chunk = one_in(2) ? (int64_t)(u8() % 40) : fz_bounded(SUBQ_SSM2_MAX_CHUNK);
  if (one_in(6)) g.dt_min = fz_float(), g.dt_max = fz_float();
  ssm_seqs q;
  ssm_draw_seqs(&q, g.batch, g.seqlen, step, &g.n_slots);
  const int64_t H = g.n_heads, P = g.head_dim, N = g.d_state, E = mul_or_neg(H, P), gn = mul_or_neg(g.n_groups, N);
  const int64_t sf = subq_ssm2_state_floats(H, P, N);
  bool bad = false;
  const int64_t ex = ssm_act(q.tb, q.tr, E, &g.x_ld, &g.x_bs, &bad);
  const int64_t edt = ssm_act(q.tb, q.tr, H, &g.dt_ld, &g.dt_bs, &bad);
  const int64_t eb = ssm_act(q.tb, q.tr, gn, &g.b_ld, &g.b_bs, &bad);
  const int64_t ec = ssm_act(q.tb, q.tr, gn, &g.c_ld, &g.c_bs, &bad);
  const int64_t ey = ssm_act(q.tb, q.tr, E, &g.y_ld, &g.y_bs, &bad);
  g.h_bs = one_in(2) ? 0 : fz_stride(sf > 0 ? sf : 1);
  const int64_t hbs = g.h_bs ? g.h_bs : sf;
  const int64_t eh = sf <= 0 ? 0 : ext2(q.n_slots, hbs, sf);
  const int64_t ed = (g.flags & SUBQ_SSM2_D_PER_CHANNEL) ? E : H;
  void *x = buf(ex, 4, 1, 30, "x");
  const float *dt = buf(edt, 4, 1, 30, "dt"), *b = buf(eb, 4, 1, 30, "b"), *c = buf(ec, 4, 1, 30, "c");
  const float *a = buf(H, 4, 1, 30, "a");
  const float *dtb = one_in(2) ? buf(H, 4, 1, 0, "dt_bias") : NULL, *dsk = one_in(2) ? buf(ed, 4, 1, 0, "d_skip") : NULL;
  float *hi = one_in(2) ? buf(eh, 4, 1, 0, "h_in") : NULL;
  const uint8_t o = u8() % 8;
  float *ho = o < 3 ? hi : o < 6 ? buf(eh, 4, 0, 0, "h_out") : NULL;
  float *y = one_in(12) && x ? alias_into(&x, ex, 4, ey, 4) : buf(ey, 4, 0, 30, "y");
  if (g_skip) return;
  g.x = x, g.dt = dt, g.b = b, g.c = c, g.a = a, g.dt_bias = dtb, g.d_skip = dsk, g.h_in = hi, g.h_out = ho, g.y = y;
  g.cu_seqlens = q.cu, g.state_slots = q.slots, g.has_initial_state = q.init;
  must_fail_if(g.batch < 0 || g.seqlen < 0 || H < 1 || P < 1 || N < 1 || N > 256, "sizes");
  must_fail_if(g.n_groups < 1 || (H >= 1 && g.n_groups >= 1 && H % g.n_groups), "n_groups");
  must_fail_if(g.flags & ~7u, "flags");
  must_fail_if(g.algo < 0 || g.algo > 2, "algo");
  must_fail_if(g.chunk < 0 || g.chunk > SUBQ_SSM2_MAX_CHUNK, "chunk");
  must_fail_if(!(g.dt_min <= g.dt_max), "dt_min/dt_max");
  must_fail_if(step && !ho, "step without h_out");
  must_fail_if(g.n_slots < 0, "n_slots");
  if (!g_must_fail && g.batch > 0) {
    must_fail_if(q.cu_bad, "cu_seqlens");
    must_fail_if(step && !q.cu && g.seqlen != 1, "step seqlen");
    if (!g_must_fail && q.max_len > 0) {
      must_fail_if(!x || !dt || !b || !c || !a || !y, "NULL");
      must_fail_if(bad || ex < 0 || edt < 0 || eb < 0 || ec < 0 || ey < 0, "ld/bs");
      must_fail_if(g.h_bs < 0 || (g.h_bs > 0 && g.h_bs < sf && q.n_slots > 1), "h_bs");
      must_fail_if((hi || ho) && eh < 0, "h extent");
      must_fail_if(!q.slots && g.batch > q.n_slots, "batch > n_slots");
      must_fail_if(q.slots && q.slots_oob, "slot out of range");
      must_fail_if(q.slots && ho && q.slots_dup, "slot repeated");
      if (!g_must_fail) {
        const int64_t by = nb(ey, 4), bh = nb(eh, 4);
        const void *ins[] = {x, dt, b, c, a, dtb, dsk, hi};
        const int64_t inb[] = {nb(ex, 4), nb(edt, 4), nb(eb, 4), nb(ec, 4), nb(H, 4), nb(H, 4), nb(ed, 4), bh};
        for (int i = 0; i < 8; i++) {
          must_fail_if(ranges_overlap(y, by, ins[i], inb[i]), "y overlaps an input");
          if (!(i == 7 && ho == hi)) must_fail_if(ranges_overlap(ho, ho ? bh : 0, ins[i], inb[i]), "h_out overlaps");
        }
        must_fail_if(ranges_overlap(y, by, ho, ho ? bh : 0), "y overlaps h_out");
      }
    }
  }
  begin_call();
  if (step)
    (void)check("subq_ssm2_step_f32", subq_ssm2_step_f32(fz_ctx(), &g));
  else
    (void)check("subq_ssm2_scan_f32", subq_ssm2_scan_f32(fz_ctx(), &g));
}

static void fuzz_ssm_misc(void) {
  const int which = u8() % 6;
  if (which == 0) { /* gated rmsnorm */
    subq_gated_rmsnorm_args g;
    subq_gated_rmsnorm_args_default(&g, sizeof g);
    g.rows = fz_size(), g.width = fz_size();
    g.group_size = one_in(2) ? 0 : fz_size();
    if (one_in(6)) g.eps = fz_float();
    g.flags = fz_flags(SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE);
    g.y_ld = fz_ld0(g.width), g.z_ld = fz_ld0(g.width), g.out_ld = fz_ld0(g.width);
    const int64_t ey = ext2(g.rows, g.y_ld ? g.y_ld : g.width, g.width);
    const int64_t ez = ext2(g.rows, g.z_ld ? g.z_ld : g.width, g.width);
    const int64_t eo = ext2(g.rows, g.out_ld ? g.out_ld : g.width, g.width);
    void *y = buf(ey, 4, 1, 30, "y");
    const float *z = one_in(2) ? buf(ez, 4, 1, 0, "z") : NULL, *w = one_in(2) ? buf(g.width, 4, 1, 0, "weight") : NULL;
    float *out = one_in(4) ? y : one_in(10) && y ? alias_into(&y, ey, 4, eo, 4) : buf(eo, 4, 0, 30, "out");
    if (g_skip) return;
    g.y = y, g.z = z, g.weight = w, g.out = out;
    must_fail_if(g.rows < 0 || g.width < 0, "sizes");
    must_fail_if(g.group_size < 0 || (g.group_size > 0 && g.width >= 0 && g.width % g.group_size), "group_size");
    must_fail_if(!(g.eps >= 0), "eps");
    must_fail_if(g.flags & ~1u, "flags");
    if (!g_must_fail && g.rows > 0 && g.width > 0) {
      must_fail_if(!y || !out, "NULL");
      must_fail_if((g.y_ld && g.y_ld < g.width) || (g.out_ld && g.out_ld < g.width) || (z && g.z_ld && g.z_ld < g.width),
                   "ld");
      must_fail_if(ey < 0 || eo < 0 || (z && ez < 0), "overflow");
      if (!g_must_fail) {
        if (out == y)
          must_fail_if((g.out_ld ? g.out_ld : g.width) != (g.y_ld ? g.y_ld : g.width), "out == y with another ld");
        else
          must_fail_if(ranges_overlap(out, nb(eo, 4), y, nb(ey, 4)), "out overlaps y");
        must_fail_if(ranges_overlap(out, nb(eo, 4), z, z ? nb(ez, 4) : 0) || ranges_overlap(out, nb(eo, 4), w, w ? nb(g.width, 4) : 0),
                     "out overlaps");
      }
    }
    begin_call();
    (void)check("subq_gated_rmsnorm_f32", subq_gated_rmsnorm_f32(fz_ctx(), &g));
    return;
  }
  if (which == 1) { /* pack_a */
    const int64_t E = fz_size(), N = fz_bounded(256);
    const int64_t sf = subq_ssm1_state_floats(E, N);
    void *a = buf(mul_or_neg(E, N), 4, 1, 30, "a");
    float *dst = one_in(10) && a ? alias_into(&a, mul_or_neg(E, N), 4, sf, 4) : buf(sf, 4, 0, 30, "dst");
    if (g_skip) return;
    must_fail_if(E < 1 || N < 1 || N > 256 || !a || !dst, "sizes/NULL");
    if (!g_must_fail) must_fail_if(ranges_overlap(a, nb(mul_or_neg(E, N), 4), dst, nb(sf, 4)), "overlap");
    begin_call();
    (void)check("subq_ssm1_pack_a", subq_ssm1_pack_a(E, N, a, u8() % 2, dst));
    return;
  }
  /* state import / export */
  const int64_t batch = fz_size(), E = fz_size(), N = fz_bounded(256), P = fz_bounded(16);
  const bool two = which >= 4, imp = which % 2 == 0;
  const int64_t hf = two ? mul_or_neg(mul_or_neg(mul_or_neg(batch, E), P), N) : mul_or_neg(mul_or_neg(batch, E), N);
  const int64_t sf = two ? subq_ssm2_state_floats(E, P, N) : subq_ssm1_state_floats(E, N);
  const int64_t ours = mul_or_neg(batch, sf);
  const int64_t es = imp ? hf : ours, ed = imp ? ours : hf;
  void *src = buf(es, 4, 1, 30, "src");
  float *dst = one_in(10) && src ? alias_into(&src, es, 4, ed, 4) : buf(ed, 4, 0, 30, "dst");
  if (g_skip) return;
  must_fail_if(batch < 0 || E < 0 || N < 0 || (two && P < 0), "sizes");
  if (!g_must_fail && batch > 0 && E > 0 && N > 0 && (!two || P > 0)) {
    must_fail_if(!src || !dst, "NULL");
    must_fail_if(es < 0 || ed < 0, "overflow");
    if (!g_must_fail) must_fail_if(ranges_overlap(src, nb(es, 4), dst, nb(ed, 4)), "overlap");
  }
  begin_call();
  if (!two)
    (void)check(imp ? "subq_ssm1_state_import" : "subq_ssm1_state_export",
                imp ? subq_ssm1_state_import(batch, E, N, src, dst) : subq_ssm1_state_export(batch, E, N, src, dst));
  else
    (void)check(imp ? "subq_ssm2_state_import" : "subq_ssm2_state_export",
                imp ? subq_ssm2_state_import(batch, E, P, N, src, dst) : subq_ssm2_state_export(batch, E, P, N, src, dst));
}

/* ====================================================================================== */
/* Monarch                                                                                 */
/* ====================================================================================== */

/* Draws a descriptor (mostly valid) and packs weights; NULL when refused. */
static subq_monarch_weights *monarch_make(subq_context *ctx, subq_monarch_desc *d) {
  subq_monarch_desc_default(d, sizeof *d);
  d->kind = (subq_monarch_kind)fz_enum(2);
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16};
  d->dtype = fz_dtype(dts, 2);
  d->k = fz_bounded(6), d->q = fz_bounded(12), d->p = fz_bounded(12);
  d->l = fz_bounded(6);
  const int64_t kq = mul_or_neg(d->k, d->q);
  d->r = (d->l > 0 && kq > 0 && kq % d->l == 0 && !one_in(10)) ? kq / d->l : fz_bounded(12);
  d->s = fz_bounded(12);
  if (d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG && u8() % 2) d->l = d->s = d->r = 0;
  const bool bd = d->kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t e1 = mul_or_neg(kq, d->p), e2 = bd ? 0 : mul_or_neg(mul_or_neg(d->l, d->s), d->r);
  const void *w1 = buf(e1, dtype_es(d->dtype), fill_kind(d->dtype), 30, "w1");
  const void *w2 = bd && u8() % 2 ? NULL : buf(e2, dtype_es(d->dtype), fill_kind(d->dtype), 30, "w2");
  if (g_skip) return NULL;
  int64_t n = 0, m = 0;
  begin_call();
  const bool desc_ok = subq_monarch_desc_check(d, &n, &m) == SUBQ_OK;
  /* the descriptor rule, recomputed */
  bool ok = d->dtype == SUBQ_DTYPE_F32 || d->dtype == SUBQ_DTYPE_BF16;
  ok = ok && (d->kind == 0 || d->kind == 1) && d->k > 0 && d->q > 0 && d->p > 0;
  if (ok && !bd) ok = d->l > 0 && d->s > 0 && d->r > 0 && kq == mul_or_neg(d->l, d->r) && e2 > 0;
  ok = ok && e1 > 0 && e1 <= INT64_MAX / 8 && e2 <= INT64_MAX / 8 && mul_or_neg(d->k, d->p) > 0; /* counts in bytes */
  if (ok != desc_ok) {
    g_must_fail = !ok;
    snprintf(g_why, sizeof g_why, "desc check disagrees (harness says %d)", ok);
    fail("subq_monarch_desc_check disagrees with the documented rule", desc_ok ? SUBQ_OK : SUBQ_ERR_INVALID_ARGUMENT);
  }
  must_fail_if(!ok, "desc");
  must_fail_if(!w1 || (!bd && !w2), "NULL w1/w2");
  subq_monarch_weights *w = NULL;
  begin_call();
  if (!check("subq_monarch_weights_create", subq_monarch_weights_create(ctx, d, w1, w2, &w))) return NULL;
  g_must_fail = false, g_why[0] = 0;
  return w;
}

static void fuzz_monarch_fwd(void) {
  subq_context *ctx = fz_ctx();
  subq_monarch_desc d;
  subq_monarch_weights *w = monarch_make(ctx, &d);
  if (!w) return;
  const bool bd = d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t n = d.k * d.p, m = bd ? d.k * d.q : d.l * d.s, N = d.k * d.q;
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  a.tokens = fz_size();
  a.ldx = fz_stride(n), a.ldy = fz_stride(m);
  const int64_t ex = ext2(a.tokens, a.ldx, n), ey = ext2(a.tokens, a.ldy, m);
  void *x = buf(ex, 4, 1, 30, "x");
  const float *bias = one_in(2) ? buf(m, 4, 1, 0, "bias") : NULL;
  float *y = one_in(12) && x ? alias_into(&x, ex, 4, ey, 4) : buf(ey, 4, 0, 30, "y");
  float *s1 = NULL;
  int64_t es = 0;
  if (one_in(3)) {
    a.ldstage1 = fz_stride(N);
    es = ext2(a.tokens, a.ldstage1, N);
    s1 = one_in(10) && x ? alias_into(&x, ex, 4, es, 4) : buf(es, 4, 0, 0, "stage1");
  }
  if (!g_skip) {
    a.x = x, a.y = y, a.bias = bias, a.stage1 = s1;
    must_fail_if(a.tokens < 0, "tokens < 0");
    must_fail_if(s1 && bd, "stage1 for BLOCKDIAG");
    if (!g_must_fail && a.tokens > 0) {
      must_fail_if(!x || !y || a.ldx < n || a.ldy < m || ex < 0 || ey < 0, "x/y");
      if (s1) must_fail_if(a.ldstage1 < N || es < 0, "stage1 ld");
      if (!g_must_fail) {
        must_fail_if(ranges_overlap(y, nb(ey, 4), x, nb(ex, 4)) || ranges_overlap(y, nb(ey, 4), bias, bias ? nb(m, 4) : 0),
                     "y overlaps");
        must_fail_if(ranges_overlap(s1, s1 ? nb(es, 4) : 0, x, nb(ex, 4)) ||
                         ranges_overlap(s1, s1 ? nb(es, 4) : 0, y, nb(ey, 4)) ||
                         ranges_overlap(s1, s1 ? nb(es, 4) : 0, bias, bias ? nb(m, 4) : 0),
                     "stage1 overlaps");
      }
    }
    begin_call();
    (void)check("subq_monarch_forward", subq_monarch_forward(ctx, w, &a));
  }
  subq_monarch_weights_destroy(w);
}

static void fuzz_monarch_bwd(void) {
  subq_context *ctx = fz_ctx();
  subq_monarch_desc d;
  subq_monarch_weights *w = monarch_make(ctx, &d);
  if (!w) return;
  const bool bd = d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG;
  const int64_t n = d.k * d.p, m = bd ? d.k * d.q : d.l * d.s, N = d.k * d.q;
  const int64_t e1 = d.k * d.q * d.p, e2 = bd ? 0 : d.l * d.s * d.r;
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  a.tokens = fz_size();
  a.ldx = fz_stride(n), a.ldgy = fz_stride(m), a.ldgx = fz_stride(n);
  const int64_t ex = ext2(a.tokens, a.ldx, n), eg = ext2(a.tokens, a.ldgy, m), egx = ext2(a.tokens, a.ldgx, n);
  void *x = u8() % 4 ? buf(ex, 4, 1, 0, "x") : NULL;
  void *gy = buf(eg, 4, 1, 30, "grad_y");
  float *gx = u8() % 2 ? (one_in(10) && gy ? alias_into(&gy, eg, 4, egx, 4) : buf(egx, 4, 0, 0, "grad_x")) : NULL;
  float *gw1 = u8() % 2 ? buf(e1, 4, 0, 0, "grad_w1") : NULL;
  float *gw2 = (bd ? one_in(10) : u8() % 2) ? buf(e2 ? e2 : 1, 4, 0, 0, "grad_w2") : NULL;
  float *gb = u8() % 2 ? (one_in(10) && x ? alias_into(&x, ex, 4, m, 4) : buf(m, 4, 0, 0, "grad_bias")) : NULL;
  float *s1 = NULL;
  int64_t es = 0;
  if ((bd && one_in(10)) || (!bd && one_in(3))) {
    a.ldstage1 = fz_stride(N);
    es = ext2(a.tokens, a.ldstage1, N);
    s1 = buf(es, 4, 1, 0, "stage1");
  }
  if (!g_skip) {
    a.x = x, a.grad_y = gy, a.grad_x = gx, a.grad_w1 = gw1, a.grad_w2 = gw2, a.grad_bias = gb, a.stage1 = s1;
    must_fail_if(a.tokens < 0, "tokens < 0");
    must_fail_if(bd && (gw2 || s1), "grad_w2/stage1 for BLOCKDIAG");
    const bool need_x = gw1 || (gw2 && !s1);
    if (!g_must_fail && a.tokens > 0) {
      must_fail_if(!gy || a.ldgy < m || eg < 0, "grad_y");
      must_fail_if(need_x && (!x || a.ldx < n || ex < 0), "x");
      must_fail_if(gx && (a.ldgx < n || egx < 0), "grad_x");
      must_fail_if(s1 && (a.ldstage1 < N || es < 0), "stage1");
    }
    if (!g_must_fail) {
      const void *ps[7] = {gy, need_x ? x : NULL, s1, gx, gw1, gw2, gb};
      const int64_t bs[7] = {a.tokens > 0 ? nb(eg, 4) : 0, a.tokens > 0 ? nb(ex, 4) : 0, a.tokens > 0 ? nb(es, 4) : 0,
                             a.tokens > 0 ? nb(egx, 4) : 0, nb(e1, 4), nb(e2, 4), nb(m, 4)};
      for (int o = 3; o < 7; o++)
        for (int q = 0; q < 7; q++)
          if (q != o) must_fail_if(ranges_overlap(ps[o], bs[o], ps[q], bs[q]), "outputs overlap");
    }
    begin_call();
    (void)check("subq_monarch_backward", subq_monarch_backward(ctx, w, &a));
  }
  subq_monarch_weights_destroy(w);
}

/* ====================================================================================== */
/* ternary                                                                                 */
/* ====================================================================================== */

static subq_ternary *ternary_make(subq_context *ctx, int64_t *N, int64_t *K) {
  const int64_t n = fz_size(), k = one_in(8) ? fz_bounded(SUBQ_TERNARY_MAX_K) : fz_size();
  const subq_ternary_scale mode = (subq_ternary_scale)fz_enum(2);
  const int64_t ld = fz_ld0(k);
  const int64_t ew = ext2(n, ld ? ld : k, k);
  subq_ternary *w = NULL;
  const int how = u8() % 3;
  must_fail_if(n < 1 || k < 1 || k > SUBQ_TERNARY_MAX_K, "n/k");
  must_fail_if(mode != 0 && mode != 1, "scale_mode");
  if (how == 0) {
    static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16};
    const subq_dtype dt = fz_dtype(dts, 2);
    const void *src = buf(ew, dtype_es(dt), fill_kind(dt), 30, "w");
    if (g_skip) return NULL;
    must_fail_if(dt != SUBQ_DTYPE_F32 && dt != SUBQ_DTYPE_BF16, "dtype");
    if (!g_must_fail) must_fail_if(!src || (ld && ld < k) || ew < 0, "w/ld");
    begin_call();
    if (!check("subq_ternary_quantize", subq_ternary_quantize(ctx, n, k, dt, src, ld, mode, &w))) return NULL;
  } else {
    int8_t *t = buf(ew, 1, 0, 30, "t");
    const int64_t ng = mode == SUBQ_TERNARY_SCALE_ROW ? n : 1;
    float *gamma = buf(ng, 4, 0, 30, "gamma");
    if (g_skip) return NULL;
    bool bad_code = false, bad_gamma = false;
    if (has(t, ew, 1))
      for (int64_t i = 0; i < ew; i++) {
        t[i] = (int8_t)((int)(rng() % 3) - 1);
        if (one_in(200)) t[i] = 2, bad_code = true;
      }
    if (has(gamma, ng, 4))
      for (int64_t i = 0; i < ng; i++) {
        gamma[i] = 0.25f + (float)(rng() % 8) / 8.0f;
        if (one_in(60)) gamma[i] = fz_float(), bad_gamma |= !(gamma[i] > 0) || isinf(gamma[i]);
      }
    if (!g_must_fail) {
      must_fail_if(!t || !gamma || (ld && ld < k) || ew < 0, "t/gamma/ld");
      /* a bad code in a padding column (j >= k) of a row is not read */
      bool real_bad = false;
      if (bad_code && !g_must_fail)
        for (int64_t r = 0; r < n; r++)
          for (int64_t c = 0; c < k; c++)
            if (t[r * (ld ? ld : k) + c] == 2) real_bad = true;
      must_fail_if(real_bad || bad_gamma, "code or gamma");
    }
    begin_call();
    if (!check("subq_ternary_from_codes", subq_ternary_from_codes(n, k, t, ld, mode, gamma, &w))) return NULL;
  }
  g_must_fail = false, g_why[0] = 0;
  *N = n, *K = k;
  return w;
}

static void fuzz_ternary(void) {
  subq_context *ctx = fz_ctx();
  int64_t N = 0, K = 0;
  subq_ternary *w = ternary_make(ctx, &N, &K);
  if (!w) return;
  const int64_t tokens = fz_size();
  if (u8() % 2) { /* int32 product */
    const int64_t q_ld = fz_ld0(K), d_ld = fz_ld0(N);
    const int64_t eq = ext2(tokens, q_ld ? q_ld : K, K), ed = ext2(tokens, d_ld ? d_ld : N, N);
    void *q = buf(eq, 1, 0, 30, "q");
    int32_t *d = one_in(10) && q ? alias_into(&q, eq, 1, ed, 4) : buf(ed, 4, 0, 30, "d");
    if (!g_skip) {
      bool has128 = false;
      if (has(q, eq, 1))
        for (int64_t i = 0; i < eq; i++) {
          ((int8_t *)q)[i] = (int8_t)((int)(rng() % 255) - 127);
          if (one_in(100)) ((int8_t *)q)[i] = -128, has128 = true;
        }
      must_fail_if(tokens < 0, "tokens < 0");
      if (!g_must_fail && tokens > 0) {
        must_fail_if(!q || !d || (q_ld && q_ld < K) || (d_ld && d_ld < N) || eq < 0 || ed < 0, "q/d");
        if (!g_must_fail) {
          bool real128 = false;
          for (int64_t r = 0; r < tokens && has128; r++)
            for (int64_t c = 0; c < K; c++)
              if (((int8_t *)q)[r * (q_ld ? q_ld : K) + c] == -128) real128 = true;
          must_fail_if(real128, "q holds -128");
          must_fail_if(ranges_overlap(d, nb(ed, 4), q, eq), "d overlaps q");
        }
      }
      begin_call();
      (void)check("subq_ternary_matmul_i32", subq_ternary_matmul_i32(ctx, w, tokens, q, q_ld, d, d_ld));
    }
  } else { /* BitLinear */
    subq_bitlinear_args a;
    subq_bitlinear_args_default(&a, sizeof a);
    a.tokens = tokens;
    a.flags = fz_flags(SUBQ_TERNARY_RMSNORM);
    if (one_in(8)) a.eps = fz_float();
    a.rounding = (subq_round)fz_enum(2);
    a.x_ld = fz_ld0(K), a.residual_ld = fz_ld0(N), a.out_ld = fz_ld0(N);
    const int64_t ex = ext2(tokens, a.x_ld ? a.x_ld : K, K), er = ext2(tokens, a.residual_ld ? a.residual_ld : N, N),
                  eo = ext2(tokens, a.out_ld ? a.out_ld : N, N);
    void *x = buf(ex, 4, 1, 30, "x");
    const float *nw = one_in(2) ? buf(K, 4, 1, 0, "norm_weight") : NULL;
    float *res = one_in(2) ? buf(er, 4, 1, 0, "residual") : NULL;
    float *out = res && one_in(3) ? res : one_in(10) && x ? alias_into(&x, ex, 4, eo, 4) : buf(eo, 4, 0, 30, "out");
    if (!g_skip) {
      a.x = x, a.norm_weight = nw, a.residual = res, a.out = out;
      must_fail_if(tokens < 0, "tokens < 0");
      must_fail_if(a.flags & ~SUBQ_TERNARY_RMSNORM, "flags");
      must_fail_if(a.rounding != 0 && a.rounding != 1, "rounding");
      must_fail_if(!(a.eps >= 0) || isinf(a.eps), "eps");
      if (!g_must_fail && tokens > 0) {
        must_fail_if(!x || !out || (a.x_ld && a.x_ld < K) || (a.out_ld && a.out_ld < N) || ex < 0 || eo < 0, "x/out");
        if (res) must_fail_if((a.residual_ld && a.residual_ld < N) || er < 0, "residual");
        if (!g_must_fail) {
          must_fail_if(ranges_overlap(out, nb(eo, 4), x, nb(ex, 4)) ||
                           ranges_overlap(out, nb(eo, 4), nw, nw ? nb(K, 4) : 0),
                       "out overlaps x/norm_weight");
          const bool same = out == res && (a.out_ld ? a.out_ld : N) == (a.residual_ld ? a.residual_ld : N);
          if (!same) must_fail_if(ranges_overlap(out, nb(eo, 4), res, res ? nb(er, 4) : 0), "out overlaps residual");
        }
      }
      begin_call();
      (void)check("subq_bitlinear", subq_bitlinear(ctx, w, &a));
    }
  }
  subq_ternary_destroy(w);
}

static void fuzz_ternary_act(void) {
  subq_ternary_act_args a;
  subq_ternary_act_args_default(&a, sizeof a);
  a.rows = fz_size(), a.cols = one_in(10) ? fz_bounded(SUBQ_TERNARY_MAX_K) : fz_size();
  a.flags = fz_flags(SUBQ_TERNARY_RMSNORM);
  if (one_in(8)) a.eps = fz_float();
  a.rounding = (subq_round)fz_enum(2);
  a.x_ld = fz_ld0(a.cols), a.q_ld = fz_ld0(a.cols);
  const int64_t ex = ext2(a.rows, a.x_ld ? a.x_ld : a.cols, a.cols), eq = ext2(a.rows, a.q_ld ? a.q_ld : a.cols, a.cols);
  void *x = buf(ex, 4, 1, 30, "x");
  const float *nw = one_in(2) ? buf(a.cols, 4, 1, 0, "norm_weight") : NULL;
  int8_t *q = one_in(10) && x ? alias_into(&x, ex, 4, eq, 1) : buf(eq, 1, 0, 30, "q");
  int32_t *sums = one_in(2) ? buf(a.rows, 4, 0, 0, "sums") : NULL;
  float *scales = one_in(2) ? (one_in(8) && sums ? (float *)(void *)sums : buf(a.rows, 4, 0, 0, "scales")) : NULL;
  if (g_skip) return;
  a.x = x, a.norm_weight = nw, a.q = q, a.sums = sums, a.scales = scales;
  must_fail_if(a.rows < 0 || a.cols < 1 || a.cols > SUBQ_TERNARY_MAX_K, "rows/cols");
  must_fail_if(a.flags & ~SUBQ_TERNARY_RMSNORM, "flags");
  must_fail_if(a.rounding != 0 && a.rounding != 1, "rounding");
  must_fail_if(!(a.eps >= 0) || isinf(a.eps), "eps");
  if (!g_must_fail && a.rows > 0) {
    must_fail_if(!x || !q || (a.x_ld && a.x_ld < a.cols) || (a.q_ld && a.q_ld < a.cols) || ex < 0 || eq < 0, "x/q");
    if (!g_must_fail) {
      const int64_t bx = nb(ex, 4), bq = eq, bs = sums ? nb(a.rows, 4) : 0, bsc = scales ? nb(a.rows, 4) : 0,
                    bw = nw ? nb(a.cols, 4) : 0;
      must_fail_if(ranges_overlap(q, bq, x, bx) || ranges_overlap(q, bq, nw, bw), "q overlaps");
      must_fail_if(ranges_overlap(sums, bs, x, bx) || ranges_overlap(sums, bs, nw, bw) || ranges_overlap(sums, bs, q, bq),
                   "sums overlaps");
      must_fail_if(ranges_overlap(scales, bsc, x, bx) || ranges_overlap(scales, bsc, nw, bw) ||
                       ranges_overlap(scales, bsc, q, bq) || ranges_overlap(scales, bsc, sums, bs),
                   "scales overlaps");
    }
  }
  begin_call();
  (void)check("subq_ternary_act_quant", subq_ternary_act_quant(fz_ctx(), &a));
}

static void fuzz_hgrn(void) {
  subq_hgrn_args a;
  subq_hgrn_args_default(&a, sizeof a);
  const bool step = u8() % 2;
  a.tokens = step && !one_in(6) ? 1 : fz_size(), a.channels = fz_size();
  const int64_t C = a.channels;
  a.i_ld = fz_ld0(C), a.f_ld = fz_ld0(C), a.gate_ld = fz_ld0(C), a.out_ld = fz_ld0(C);
  if (one_in(8)) a.eps = fz_float();
  const int64_t ei = ext2(a.tokens, a.i_ld ? a.i_ld : C, C), ef = ext2(a.tokens, a.f_ld ? a.f_ld : C, C),
                eg = ext2(a.tokens, a.gate_ld ? a.gate_ld : C, C), eo = ext2(a.tokens, a.out_ld ? a.out_ld : C, C);
  void *i = buf(ei, 4, 1, 30, "i");
  const float *f = buf(ef, 4, 1, 30, "f");
  const float *lb = one_in(2) ? buf(C, 4, 1, 0, "lower_bound") : NULL;
  float *si = one_in(2) ? buf(C, 4, 1, 0, "state_in") : NULL;
  const uint8_t o = u8() % 6;
  float *so = o < 2 ? si : o < 4 ? buf(C, 4, 0, 0, "state_out") : NULL;
  const float *gate = one_in(2) ? buf(eg, 4, 1, 0, "gate") : NULL;
  const float *gnw = one_in(2) ? buf(C, 4, 1, 0, "gate_norm_weight") : NULL;
  float *out = one_in(10) && i ? alias_into(&i, ei, 4, eo, 4) : buf(eo, 4, 0, 30, "out");
  if (g_skip) return;
  a.i = i, a.f = f, a.lower_bound = lb, a.state_in = si, a.state_out = so, a.gate = gate, a.gate_norm_weight = gnw,
  a.out = out;
  must_fail_if(a.tokens < 0, "tokens < 0");
  must_fail_if(step && (a.tokens != 1 || !so), "step");
  must_fail_if(!(a.eps >= 0), "eps");
  if (!g_must_fail && a.tokens > 0) {
    must_fail_if(C < 1, "channels < 1");
    must_fail_if(!i || !f || !out, "NULL i/f/out");
    must_fail_if((a.i_ld && a.i_ld < C) || (a.f_ld && a.f_ld < C) || (a.out_ld && a.out_ld < C) ||
                     (gate && a.gate_ld && a.gate_ld < C),
                 "ld");
    must_fail_if(ei < 0 || ef < 0 || eo < 0 || (gate && eg < 0), "overflow");
    if (!g_must_fail) {
      const void *ins[] = {i, f, lb, si, gate, gnw};
      const int64_t inb[] = {nb(ei, 4), nb(ef, 4), lb ? nb(C, 4) : 0, si ? nb(C, 4) : 0, gate ? nb(eg, 4) : 0, gnw ? nb(C, 4) : 0};
      for (int k = 0; k < 6; k++) {
        must_fail_if(ranges_overlap(out, nb(eo, 4), ins[k], inb[k]), "out overlaps an input");
        if (!(k == 3 && so == si)) must_fail_if(ranges_overlap(so, so ? nb(C, 4) : 0, ins[k], inb[k]), "state_out overlaps");
      }
      must_fail_if(ranges_overlap(out, nb(eo, 4), so, so ? nb(C, 4) : 0), "out overlaps state_out");
    }
  }
  begin_call();
  if (step)
    (void)check("subq_hgrn_step_f32", subq_hgrn_step_f32(fz_ctx(), &a));
  else
    (void)check("subq_hgrn_f32", subq_hgrn_f32(fz_ctx(), &a));
}

/* ====================================================================================== */
/* nn                                                                                      */
/* ====================================================================================== */

/* subq_nn.h's overlap rule for rows x cols f32 tensors: equal row strides are
 * checked element by element (brute force on small shapes), others by range. */
static bool nn_overlap(const void *a, int64_t lda, const void *b, int64_t ldb, int64_t rows, int64_t cols) {
  if (!a || !b || rows <= 0 || cols <= 0) return false;
  const int64_t ea = ext2(rows, lda, cols), eb = ext2(rows, ldb, cols);
  if (!ranges_overlap(a, nb(ea, 4), b, nb(eb, 4))) return false;
  if (lda != ldb) return true;
  const intptr_t db = (intptr_t)((uintptr_t)b - (uintptr_t)a);
  if (db % 4) return true;
  const int64_t d = (int64_t)(db / 4);
  if (rows > 100000) return true; /* ranges overlap; too long to walk */
  /* b's row q starts d + (q - r) * ld elements after a's row r: walk k = q - r */
  for (int64_t k = -(rows - 1); k <= rows - 1; k++) {
    const __int128 o = (__int128)d + (__int128)k * lda;
    if (o < cols && -o < cols) return true;
  }
  return false;
}

static void fuzz_nn_elementwise(void) {
  const int which = u8() % 3; /* swiglu, silu, add */
  const int64_t rows = fz_size(), cols = fz_size();
  int64_t lda = fz_ld0(cols), ldb = fz_ld0(cols), ldo = fz_ld0(cols);
  const int64_t la = lda ? lda : cols, lb = ldb ? ldb : cols, lo = ldo ? ldo : cols;
  const int64_t ea = ext2(rows, la, cols), eb = ext2(rows, lb, cols), eo = ext2(rows, lo, cols);
  float *a = buf(ea, 4, 1, 30, "a");
  float *b = which != 1 ? buf(eb, 4, 1, 30, "b") : NULL;
  if (which == 0 && a && one_in(4) && ea >= 0) { /* fused [gate | up] halves of one row */
    lda = ldb = sat_mul(2, cols) > cols ? sat_mul(2, cols) : cols;
    const int64_t e2 = ext2(rows, lda, sat_mul(2, cols));
    a = buf(e2, 4, 1, 0, "gate_up");
    /* the up half starts cols floats in, inside the buffer when it really holds e2 floats; else
     * (a negative or huge cols: a 0-byte stand-in, the call must be refused) pass a itself */
    b = a && cols >= 0 && e2 > cols && e2 <= (int64_t)(CAP_BYTES / 4) && !g_skip ? a + cols : a;
  }
  const int64_t lax = lda ? lda : cols, lbx = ldb ? ldb : cols;
  float *out = NULL;
  const uint8_t o = u8() % 16;
  if (o < 2) out = a, ldo = lda;
  else if (o < 4 && which != 1) out = b, ldo = ldb;
  else if (o < 5 && a) {
    void *av = a;
    out = alias_into(&av, 0, 4, eo, 4);
    a = av;
    if (b && which == 0 && lda == sat_mul(2, cols)) b = a + cols;
  } else
    out = buf(eo, 4, 0, 30, "out");
  const int64_t lox = ldo ? ldo : cols;
  if (g_skip) return;
  must_fail_if(rows < 0 || cols < 0, "sizes");
  must_fail_if(lda < 0 || (which != 1 && ldb < 0) || ldo < 0, "ld < 0");
  if (!g_must_fail && rows > 0 && cols > 0) {
    must_fail_if(!a || !out || (which != 1 && !b), "NULL");
    must_fail_if(lax < cols || lox < cols || (which != 1 && lbx < cols), "ld < cols");
    must_fail_if(ext2(rows, lax, cols) < 0 || ext2(rows, lox, cols) < 0 || (which != 1 && ext2(rows, lbx, cols) < 0),
                 "overflow");
    if (!g_must_fail) {
      const bool id_a = out == a && lox == lax, id_b = which != 1 && out == b && lox == lbx;
      if (!id_a) must_fail_if(nn_overlap(out, lox, a, lax, rows, cols), "out overlaps a");
      if (which != 1 && !id_b) must_fail_if(nn_overlap(out, lox, b, lbx, rows, cols), "out overlaps b");
    }
  }
  if (getenv("FUZZ_KERNEL_ARGS_DEBUG"))
    fprintf(stderr, "elementwise %d: rows %lld cols %lld a %p ld %lld b %p ld %lld out %p ld %lld\n", which,
            (long long)rows, (long long)cols, (void *)a, (long long)lda, (void *)b, (long long)ldb, (void *)out,
            (long long)ldo);
  begin_call();
  subq_context *ctx = fz_ctx();
  if (which == 0)
    (void)check("subq_swiglu", subq_swiglu(ctx, rows, cols, a, lda, b, ldb, out, ldo));
  else if (which == 1)
    (void)check("subq_silu", subq_silu(ctx, rows, cols, a, lda, out, ldo));
  else
    (void)check("subq_add", subq_add(ctx, rows, cols, a, lda, b, ldb, out, ldo));
}

static void fuzz_rmsnorm(void) {
  subq_rmsnorm_args g;
  subq_rmsnorm_args_default(&g, sizeof g);
  g.rows = fz_size(), g.cols = fz_size();
  g.group_size = one_in(2) ? 0 : fz_size();
  if (one_in(6)) g.eps = fz_float();
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  g.weight_dtype = fz_dtype(dts, 3);
  const int64_t C = g.cols;
  g.x_ld = fz_ld0(C), g.residual_ld = fz_ld0(C), g.gate_ld = fz_ld0(C), g.sum_ld = fz_ld0(C), g.y_ld = fz_ld0(C);
#define LDX(f) (g.f ? g.f : C)
  const int64_t ex = ext2(g.rows, LDX(x_ld), C), er = ext2(g.rows, LDX(residual_ld), C),
                eg = ext2(g.rows, LDX(gate_ld), C), es = ext2(g.rows, LDX(sum_ld), C), ey = ext2(g.rows, LDX(y_ld), C);
  float *x = buf(ex, 4, 1, 30, "x");
  float *res = one_in(2) ? buf(er, 4, 1, 0, "residual") : NULL;
  const float *gate = one_in(3) ? buf(eg, 4, 1, 0, "gate") : NULL;
  const void *w = one_in(3) ? NULL : buf(C, dtype_es(g.weight_dtype), fill_kind(g.weight_dtype), 0, "weight");
  float *so = NULL;
  const uint8_t o = u8() % 8;
  if (o == 0) so = x, g.sum_ld = g.x_ld;
  else if (o == 1 && res) so = res, g.sum_ld = g.residual_ld;
  else if (o < 4) so = buf(es, 4, 0, 0, "sum_out");
  float *y = NULL;
  const uint8_t p = u8() % 10;
  if (p == 0) y = x, g.y_ld = g.x_ld;
  else if (p == 1 && res) y = res, g.y_ld = g.residual_ld;
  else if (p == 2 && so) y = so, g.y_ld = g.sum_ld;
  else y = buf(ey, 4, 0, 30, "y");
  if (g_skip) return;
  g.x = x, g.residual = res, g.gate = gate, g.weight = w, g.sum_out = so, g.y = y;
  must_fail_if(g.rows < 0 || g.cols < 0, "sizes");
  must_fail_if(!(g.eps >= 0) || isinf(g.eps), "eps");
  must_fail_if(!dtype_kind(g.weight_dtype), "weight_dtype");
  must_fail_if(g.group_size < 0, "group_size");
  if (!g_must_fail && g.rows > 0) {
    must_fail_if(C < 1, "cols 0");
    if (!g_must_fail) must_fail_if(g.group_size > 0 && C % g.group_size, "group_size divides");
    must_fail_if(!x || !y, "NULL x/y");
    if (!g_must_fail) {
      const float *ts[5] = {x, res, gate, so, y};
      const int64_t lds[5] = {LDX(x_ld), LDX(residual_ld), LDX(gate_ld), LDX(sum_ld), LDX(y_ld)};
      for (int t = 0; t < 5; t++)
        if (ts[t]) must_fail_if(lds[t] < C || ext2(g.rows, lds[t], C) < 0, "ld/overflow");
      if (!g_must_fail) {
        /* y may be identical to x, residual or gate; sum_out to x or residual; y and sum_out never overlap */
        for (int t = 0; t < 3; t++) {
          if (!(ts[t] == y && lds[t] == lds[4])) must_fail_if(nn_overlap(y, lds[4], ts[t], lds[t], g.rows, C), "y overlaps");
          if (so && t < 2 && !(ts[t] == so && lds[t] == lds[3]))
            must_fail_if(nn_overlap(so, lds[3], ts[t], lds[t], g.rows, C), "sum_out overlaps");
          if (so && t == 2) must_fail_if(nn_overlap(so, lds[3], gate, lds[2], g.rows, C), "sum_out overlaps gate");
        }
        if (so) must_fail_if(nn_overlap(y, lds[4], so, lds[3], g.rows, C), "y overlaps sum_out");
        must_fail_if(ranges_overlap(y, nb(ext2(g.rows, lds[4], C), 4), w, w ? nb(C, (int64_t)dtype_es(g.weight_dtype)) : 0),
                     "y overlaps weight");
      }
    }
  }
#undef LDX
  begin_call();
  (void)check("subq_rmsnorm", subq_rmsnorm(fz_ctx(), &g));
}

static void fuzz_embedding(void) {
  static const subq_dtype dts[] = {SUBQ_DTYPE_F32, SUBQ_DTYPE_BF16, SUBQ_DTYPE_F16};
  const subq_dtype dt = fz_dtype(dts, 3);
  const int64_t vocab = fz_size(), dim = fz_size(), n_ids = fz_size();
  const int64_t tld = fz_ld0(dim), old = fz_ld0(dim);
  const int64_t et = ext2(vocab, tld ? tld : dim, dim), eo = ext2(n_ids, old ? old : dim, dim);
  void *table = buf(et, dtype_es(dt), fill_kind(dt), 30, "table");
  int64_t *ids = buf(n_ids, 8, 0, 30, "ids");
  float *out = one_in(10) && table ? alias_into(&table, et, dtype_es(dt), eo, 4) : buf(eo, 4, 0, 30, "out");
  if (g_skip) return;
  bool bad_id = false;
  if (has(ids, n_ids, 8))
    for (int64_t t = 0; t < n_ids; t++) {
      ids[t] = vocab > 0 ? (int64_t)(rng() % (uint64_t)vocab) : 0;
      if (one_in(30)) ids[t] = one_in(2) ? -1 : vocab;
      if (ids[t] < 0 || ids[t] >= vocab) bad_id = true;
    }
  must_fail_if(!dtype_kind(dt) || vocab < 0 || dim < 0 || n_ids < 0 || tld < 0 || old < 0, "dtype/sizes");
  if (!g_must_fail && n_ids > 0 && dim > 0) { /* dim 0: nothing is read or written */
    must_fail_if(!ids || vocab == 0 || (dim > 0 && (!table || !out)), "NULL/vocab 0");
    must_fail_if(bad_id, "id out of range");
    if (dim > 0) {
      must_fail_if((tld && tld < dim) || (old && old < dim) || et < 0 || eo < 0, "ld");
      if (!g_must_fail)
        must_fail_if(ranges_overlap(out, nb(eo, 4), table, nb(et, (int64_t)dtype_es(dt))) ||
                         ranges_overlap(out, nb(eo, 4), ids, nb(n_ids, 8)),
                     "out overlaps");
    }
  }
  begin_call();
  (void)check("subq_embedding", subq_embedding(fz_ctx(), dt, table, vocab, dim, tld, ids, n_ids, out, old));
}

static void fuzz_rope(void) {
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 2 * (1 + (int64_t)(u8() % 16));
  if (one_in(10)) p.rot_dim = fz_bounded(70000);
  p.type = (subq_rope_type)fz_enum(6);
  if (one_in(4)) p.factor = (double)fz_float();
  if (one_in(8)) p.theta = (double)fz_float();
  p.cached_positions = one_in(2) ? (int64_t)(u8() % 64) : 0;
  if (one_in(20)) p.cached_positions = fz_size();
  if (p.type == SUBQ_ROPE_DYNAMIC) p.dynamic_seq_len = u8() % 2 ? 0 : (int64_t)u16v() * 4;
  float *lf = NULL;
  if (p.type == SUBQ_ROPE_LONGROPE && !one_in(10) && p.rot_dim > 0 && p.rot_dim < 70000) {
    lf = buf(p.rot_dim / 2, 4, 0, 0, "longrope_factors");
    for (int64_t i = 0; has(lf, p.rot_dim / 2, 4) && i < p.rot_dim / 2; i++) lf[i] = 1.0f + (float)(rng() % 8);
  }
  p.longrope_factors = lf;
  if (p.cached_positions > 0 && p.cached_positions < INT64_MAX / 4 && p.rot_dim > 0 &&
      sat_mul(p.cached_positions, p.rot_dim) > CAP_BYTES / 4)
    return;
  subq_context *ctx = fz_ctx();
  subq_rope_table *t = NULL;
  begin_call();
  if (!check("subq_rope_table_create", subq_rope_table_create(ctx, &p, &t))) return;
  const int64_t rot = subq_rope_table_rot_dim(t);
  subq_rope_args a;
  subq_rope_args_default(&a, sizeof a);
  a.table = one_in(40) ? NULL : t;
  a.tokens = fz_size();
  a.head_dim = one_in(8) ? fz_size() : rot + (int64_t)(u8() % 6);
  a.q_heads = fz_bounded(6), a.k_heads = one_in(4) ? 0 : fz_bounded(4);
  const int64_t hd = a.head_dim;
  a.q_head_stride = one_in(3) ? 0 : fz_stride(hd);
  a.k_head_stride = one_in(3) ? 0 : fz_stride(hd);
  const int64_t qhs = a.q_head_stride ? a.q_head_stride : hd, khs = a.k_head_stride ? a.k_head_stride : hd;
  const int64_t qspan = sat_add(sat_mul(sat_add(a.q_heads, -1), qhs), hd);
  const int64_t kspan = sat_add(sat_mul(sat_add(a.k_heads, -1), khs), hd);
  a.q_token_stride = one_in(3) ? 0 : fz_stride(qspan);
  a.k_token_stride = one_in(3) ? 0 : fz_stride(kspan);
  /* packed defaults: head stride head_dim, token stride the heads' span */
  const int64_t qts = a.q_token_stride ? a.q_token_stride : qspan;
  const int64_t kts = a.k_token_stride ? a.k_token_stride : kspan;
  int64_t eq = 0, ek = 0;
  {
    const int64_t d[3] = {a.tokens, a.q_heads, hd}, s[3] = {qts, qhs, 1};
    eq = extent(3, d, s);
  }
  {
    const int64_t d[3] = {a.tokens, a.k_heads, hd}, s[3] = {kts, khs, 1};
    ek = extent(3, d, s);
  }
  int64_t *pos = buf(a.tokens, 8, 0, 30, "positions");
  bool bad_pos = false;
  if (has(pos, a.tokens, 8))
    for (int64_t i = 0; i < a.tokens; i++) {
      pos[i] = (int64_t)(rng() % 200);
      if (one_in(40)) pos[i] = one_in(2) ? -1 : huge_value();
      if (pos[i] < 0) bad_pos = true;
    }
  float *q = a.q_heads > 0 ? buf(eq, 4, 1, 30, "q") : NULL;
  float *k = NULL;
  if (a.k_heads > 0) {
    if (q && one_in(10)) {
      void *qv = q;
      k = alias_into(&qv, eq, 4, ek, 4);
      q = qv;
    } else {
      k = buf(ek, 4, 1, 30, "k");
    }
  }
  if (!g_skip) {
    a.positions = pos, a.q = q, a.k = k;
    must_fail_if(!a.table, "table NULL");
    must_fail_if(a.tokens < 0, "tokens < 0");
    must_fail_if(a.head_dim < rot, "head_dim < rot_dim");
    must_fail_if(a.q_heads < 0 || a.k_heads < 0, "heads < 0");
    if (!g_must_fail && a.tokens > 0) {
      must_fail_if((a.q_heads > 0 || a.k_heads > 0) && (!pos || bad_pos), "positions"); /* no heads: nothing read */
      must_fail_if(a.q_heads > 0 && (!q || eq < 0), "q");
      must_fail_if(a.k_heads > 0 && (!k || ek < 0), "k");
      must_fail_if(a.q_head_stride < 0 || a.k_head_stride < 0 || a.q_token_stride < 0 || a.k_token_stride < 0,
                   "stride < 0");
      must_fail_if(a.q_heads > 1 && (qhs < hd || (a.q_token_stride && a.q_token_stride < qspan)), "q strides");
      must_fail_if(a.k_heads > 1 && (khs < hd || (a.k_token_stride && a.k_token_stride < kspan)), "k strides");
      if (!g_must_fail && q && k && a.q_heads > 0 && a.k_heads > 0 && ranges_overlap(q, nb(eq, 4), k, nb(ek, 4))) {
        /* element-exact: any shared element is an error */
        bool share = false;
        const int64_t dq = (int64_t)(((intptr_t)k - (intptr_t)q) / 4);
        if (sat_mul(sat_mul(a.tokens, a.q_heads + a.k_heads), hd) < 4000) {
          for (int64_t t1 = 0; t1 < a.tokens && !share; t1++)
            for (int64_t h1 = 0; h1 < a.q_heads && !share; h1++)
              for (int64_t t2 = 0; t2 < a.tokens && !share; t2++)
                for (int64_t h2 = 0; h2 < a.k_heads && !share; h2++) {
                  const int64_t s1 = t1 * qts + h1 * qhs, s2 = dq + t2 * kts + h2 * khs;
                  if (s1 < s2 + hd && s2 < s1 + hd) share = true;
                }
          must_fail_if(share, "q and k share elements");
        }
      }
    }
    if (getenv("FUZZ_KERNEL_ARGS_DEBUG"))
      fprintf(stderr, "rope: rot %lld tokens %lld head_dim %lld q %p heads %lld ts %lld hs %lld (ext %lld) k %p heads %lld ts %lld hs %lld (ext %lld)\n",
              (long long)rot, (long long)a.tokens, (long long)a.head_dim, (void *)q, (long long)a.q_heads,
              (long long)a.q_token_stride, (long long)a.q_head_stride, (long long)eq, (void *)k, (long long)a.k_heads,
              (long long)a.k_token_stride, (long long)a.k_head_stride, (long long)ek);
    begin_call();
    (void)check("subq_rope", subq_rope(ctx, &a));
  }
  subq_rope_table_destroy(t);
}

/* ====================================================================================== */
/* linear attention                                                                        */
/* ====================================================================================== */

static void fuzz_linattn(void) {
  subq_linattn_args a;
  subq_linattn_args_default(&a, sizeof a);
  const bool decode = u8() % 3 == 0;
  a.batch = fz_size(), a.seqlen = decode && !one_in(6) ? 1 : fz_size(), a.n_heads = fz_bounded(4);
  a.feature_map = fz_enum(3), a.normalize = fz_enum(3), a.gate = fz_enum(3);
  a.dim_qk = a.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2 && !one_in(10) ? fz_bounded(SUBQ_LINATTN_MAX_TAYLOR_DK)
                                                                      : fz_bounded(SUBQ_LINATTN_MAX_DK);
  a.dim_v = one_in(10) ? fz_bounded(SUBQ_LINATTN_MAX_DV) : fz_bounded(48);
  if (one_in(6)) a.causal = (int32_t)fz_enum(2);
  if (one_in(6)) a.scale = fz_float();
  if (one_in(8)) a.eps = fz_float();
  if (one_in(8)) a.norm_eps = fz_float();
  if (one_in(4)) a.chunk = one_in(2) ? (int64_t)(u8() % 40) : fz_bounded(SUBQ_LINATTN_MAX_CHUNK);
  const int64_t B = a.batch, T = a.seqlen, H = a.n_heads, dk = a.dim_qk, dv = a.dim_v;
  const int64_t gd = a.gate == SUBQ_LINATTN_GATE_PER_KEY ? dk : 1;
  /* strides: all zero = dense, else BSHD perturbed */
  const bool dense = u8() % 2;
  if (!dense) {
    attn_strides(B, T, H, dk, &a.q_bs, &a.q_ss, &a.q_hs);
    attn_strides(B, T, H, dk, &a.k_bs, &a.k_ss, &a.k_hs);
    attn_strides(B, T, H, dv, &a.v_bs, &a.v_ss, &a.v_hs);
    attn_strides(B, T, H, dv, &a.o_bs, &a.o_ss, &a.o_hs);
    if (a.gate) attn_strides(B, T, H, gd, &a.g_bs, &a.g_ss, &a.g_hs);
  }
  subq_linattn_args d = a;
  subq_linattn_args_dense(&d);
#define ST(t) (a.t##_bs || a.t##_ss || a.t##_hs)
  const int64_t qbs = ST(q) ? a.q_bs : d.q_bs, qss = ST(q) ? a.q_ss : d.q_ss, qhs = ST(q) ? a.q_hs : d.q_hs;
  const int64_t kbs = ST(k) ? a.k_bs : d.k_bs, kss = ST(k) ? a.k_ss : d.k_ss, khs = ST(k) ? a.k_hs : d.k_hs;
  const int64_t vbs = ST(v) ? a.v_bs : d.v_bs, vss = ST(v) ? a.v_ss : d.v_ss, vhs = ST(v) ? a.v_hs : d.v_hs;
  const int64_t obs = ST(o) ? a.o_bs : d.o_bs, oss = ST(o) ? a.o_ss : d.o_ss, ohs = ST(o) ? a.o_hs : d.o_hs;
  const int64_t gbs = ST(g) ? a.g_bs : d.g_bs, gss = ST(g) ? a.g_ss : d.g_ss, ghs = ST(g) ? a.g_hs : d.g_hs;
#undef ST
  const int64_t eq = attn_extent(B, T, H, dk, qbs, qss, qhs), ek = attn_extent(B, T, H, dk, kbs, kss, khs),
                ev = attn_extent(B, T, H, dv, vbs, vss, vhs), eo = attn_extent(B, T, H, dv, obs, oss, ohs),
                eg = a.gate ? attn_extent(B, T, H, gd, gbs, gss, ghs) : 0;
  const int64_t sf = subq_linattn_state_floats(&a);
  a.state_bs = one_in(2) ? 0 : fz_stride(sf > 0 ? sf : 1);
  const int64_t sbs = a.state_bs ? a.state_bs : sf;
  const int64_t es = sf > 0 ? ext2(B, sbs, sf) : 0;
  const bool shape_ok = B >= 0 && T >= 0 && H >= 1 && dk >= 1 && dv >= 1 && dk <= 256 && dv <= 1024;
  void *q = buf(shape_ok ? eq : 0, 4, 1, 30, "q");
  const float *k = buf(shape_ok ? ek : 0, 4, 1, 30, "k"), *v = buf(shape_ok ? ev : 0, 4, 1, 30, "v");
  float *lg = NULL;
  if (a.gate && shape_ok) {
    lg = buf(eg, 4, 0, 20, "log_gate");
    if (has(lg, eg, 4))
      for (int64_t i = 0; i < eg; i++) lg[i] = -(float)(rng() % 64) / 16.0f;
    if (has(lg, eg, 4) && one_in(20)) lg[rng() % (uint64_t)eg] = one_in(2) ? 0.5f : NAN;
  }
  const float *nw = one_in(3) ? buf(dv, 4, 1, 0, "norm_weight") : NULL;
  float *si = one_in(2) ? buf(es, 4, 1, 0, "state_in") : NULL;
  const uint8_t o = u8() % 6;
  float *so = o < 2 ? si : o < 4 ? buf(es, 4, 0, 0, "state_out") : NULL;
  float *out = one_in(10) && q ? alias_into(&q, eq, 4, eo, 4) : buf(shape_ok ? eo : 0, 4, 0, 30, "out");
  if (g_skip) return;
  a.q = q, a.k = k, a.v = v, a.log_gate = lg, a.norm_weight = nw, a.state_in = si, a.state_out = so, a.out = out;
  must_fail_if(!shape_ok, "shape");
  must_fail_if(a.feature_map < 0 || a.feature_map > 2 || a.normalize < 0 || a.normalize > 2 || a.gate < 0 || a.gate > 2,
               "enum");
  must_fail_if(a.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2 && dk > SUBQ_LINATTN_MAX_TAYLOR_DK, "taylor dk");
  must_fail_if(a.gate == SUBQ_LINATTN_GATE_PER_KEY && a.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2, "per-key with taylor");
  must_fail_if(a.gate && a.causal == 0, "gate with causal 0");
  must_fail_if(!isfinite(a.scale) || a.scale < 0 || !isfinite(a.eps) || a.eps < 0 || !isfinite(a.norm_eps) ||
                   a.norm_eps < 0,
               "scale/eps");
  must_fail_if(a.chunk < 0 || a.chunk > SUBQ_LINATTN_MAX_CHUNK, "chunk");
  must_fail_if(decode && (T != 1 || !so), "decode");
  if (!g_must_fail && B > 0 && T > 0) {
    must_fail_if(!q || !k || !v || !out || (a.gate && !lg), "NULL");
    must_fail_if(eq < 0 || ek < 0 || ev < 0 || eo < 0 || (a.gate && eg < 0) || ((si || so) && es < 0), "overflow");
    must_fail_if(a.state_bs < 0, "state_bs");
    if (!g_must_fail) {
      must_fail_if(attn_strides_bad(B, T, H, dv, obs, oss, ohs, false), "out rows overlap");
      const int64_t bo = nb(eo, 4), bst = nb(es, 4);
      must_fail_if(ranges_overlap(out, bo, q, nb(eq, 4)) || ranges_overlap(out, bo, k, nb(ek, 4)) ||
                       ranges_overlap(out, bo, v, nb(ev, 4)) || ranges_overlap(out, bo, lg, lg ? nb(eg, 4) : 0) ||
                       ranges_overlap(out, bo, nw, nw ? nb(dv, 4) : 0) || ranges_overlap(out, bo, si, si ? bst : 0) ||
                       ranges_overlap(out, bo, so, so ? bst : 0),
                   "out overlaps");
    }
  }
  begin_call();
  if (decode)
    (void)check("subq_linattn_decode_f32", subq_linattn_decode_f32(fz_ctx(), &a));
  else
    (void)check("subq_linattn_prefill_f32", subq_linattn_prefill_f32(fz_ctx(), &a));
}

/* ====================================================================================== */

typedef void (*fuzz_fn)(void);
static const fuzz_fn g_entries[] = {
    fuzz_gemm, fuzz_sgemm, fuzz_gemm_packed, fuzz_convert, fuzz_q8,   fuzz_fattn, fuzz_kv,
    fuzz_expf, fuzz_conv1d, fuzz_ssm1,  fuzz_ssm2,        fuzz_ssm_misc, fuzz_monarch_fwd, fuzz_monarch_bwd,
    fuzz_ternary, fuzz_ternary_act, fuzz_hgrn, fuzz_nn_elementwise, fuzz_rmsnorm, fuzz_embedding, fuzz_rope,
    fuzz_linattn,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  g_in = data + 1, g_left = size - 1;
  g_nbufs = 0, g_total = 0, g_skip = false, g_must_fail = false, g_why[0] = 0;
  g_rng = 0x9e3779b9u ^ (uint32_t)size;
  for (size_t i = 1; i < size && i < 9; i++) g_rng = g_rng * 31u + data[i];
  const size_t n = sizeof g_entries / sizeof g_entries[0];
  g_entries[data[0] % n]();
  for (int i = 0; i < g_nbufs; i++) free(g_bufs[i]);
  g_nbufs = 0;
  return 0;
}
