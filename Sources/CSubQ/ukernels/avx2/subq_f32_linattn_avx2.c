/*
 * subq_f32_linattn_avx2.c — AVX2+FMA linear-attention micro-kernels.
 *
 * gemm: 6 x 16 register tile (12 accumulators, two B vectors and six A
 * broadcasts per k), B rows read in place (the state S or V with its token
 * stride), column tails through lane masks (dv 60, 100, ...), row tails by
 * specialised tiles of 1..5 rows. With k_tri the tile stops at the last k
 * any of its rows needs (the causal chunk product).
 * step: the decode pass, dv in blocks of 32 columns held in registers while
 * d runs over the state rows (S row block loaded, decayed, updated, stored,
 * then folded into y): S is read and written once.
 * Whole file in one target region.
 */
#include "families/linattn/subq_linattn_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_X86_64
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

SUBQ_ISA_BEGIN_AVX2

#include "internal/simd/subq_avx2_lanes.h"

#if defined(__clang__)
#define SUBQ_LA_UNROLL _Pragma("unroll")
#else
#define SUBQ_LA_UNROLL _Pragma("GCC unroll 8")
#endif


static inline __attribute__((always_inline)) void subq_la_tile(const int MR, const int NV, const bool FULL, int64_t K,
                                                               const float *A, int64_t a_rs, int64_t a_cs, const float *B,
                                                               int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                                               __m256i m0, __m256i m1, bool f0, bool f1) {
  if (FULL) f0 = f1 = true; /* a compile-time constant: no lane tests in the k loop */
  __m256 acc[6][2];
  SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
    if (accumulate) {
      acc[r][0] = subq_avx2_ld(C + r * ldc, m0, f0);
      if (NV > 1) acc[r][1] = subq_avx2_ld(C + r * ldc + 8, m1, f1);
    } else {
      acc[r][0] = _mm256_setzero_ps();
      if (NV > 1) acc[r][1] = _mm256_setzero_ps();
    }
  }
  for (int64_t k = 0; k < K; k++) {
    const float *br = B + k * ldb, *ak = A + k * a_cs;
    const __m256 b0 = subq_avx2_ld(br, m0, f0), b1 = NV > 1 ? subq_avx2_ld(br + 8, m1, f1) : _mm256_setzero_ps();
    SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
      const __m256 av = _mm256_broadcast_ss(ak + r * a_rs);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      if (NV > 1) acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  SUBQ_LA_UNROLL for (int r = 0; r < MR; r++) {
    subq_avx2_st(C + r * ldc, m0, f0, acc[r][0]);
    if (NV > 1) subq_avx2_st(C + r * ldc + 8, m1, f1, acc[r][1]);
  }
}

void subq_f32_linattn_gemm_ukernel_6x16__avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                              int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                              int64_t k_tri) {
  for (int64_t i0 = 0; i0 < M; i0 += 6) {
    const int mr = (int)SUBQ_MIN((int64_t)6, M - i0);
    /* rows i0..i0+mr-1 need k <= k_tri + i; terms beyond a row's limit are zero in A */
    const int64_t kl = k_tri >= 0 ? SUBQ_MIN(K, k_tri + i0 + mr) : K;
    const float *ai = A + i0 * a_rs;
    for (int64_t j0 = 0; j0 < N; j0 += 16) {
      const int64_t nc = SUBQ_MIN((int64_t)16, N - j0);
      const int nv = nc > 8 ? 2 : 1;
      const bool f0 = nc >= 8, f1 = nc >= 16;
      const __m256i m0 = subq_avx2_lanes(0, (int32_t)SUBQ_MIN((int64_t)8, nc));
      const __m256i m1 = subq_avx2_lanes(0, (int32_t)(nc > 8 ? nc - 8 : 0));
      float *cij = C + i0 * ldc + j0;
      const float *bj = B + j0;
#define SUBQ_LA_TILE(R)                                                                        \
  case R:                                                                                      \
    if (f1)                                                                                    \
      subq_la_tile(R, 2, true, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, m0, m1, f0, f1);  \
    else if (nv == 2)                                                                          \
      subq_la_tile(R, 2, false, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, m0, m1, f0, f1); \
    else                                                                                       \
      subq_la_tile(R, 1, false, kl, ai, a_rs, a_cs, bj, ldb, cij, ldc, accumulate, m0, m1, f0, f1); \
    break;
      switch (mr) {
        SUBQ_LA_TILE(1)
        SUBQ_LA_TILE(2)
        SUBQ_LA_TILE(3)
        SUBQ_LA_TILE(4)
        SUBQ_LA_TILE(5)
        default:
        SUBQ_LA_TILE(6)
      }
#undef SUBQ_LA_TILE
    }
  }
}

void subq_f32_linattn_step_ukernel__avx2(int64_t D, int64_t dv, const float *phiq, const float *phik,
                                         const float *v, const float *decay, float *S, float *y) {
  for (int64_t j0 = 0; j0 < dv; j0 += 32) {
    const int64_t nc = SUBQ_MIN((int64_t)32, dv - j0);
    const int nv = (int)((nc + 7) / 8);
    __m256i m[4];
    bool f[4];
    __m256 vv[4], acc[4];
    for (int u = 0; u < 4; u++) {
      const int64_t n = SUBQ_MAX((int64_t)0, SUBQ_MIN((int64_t)8, nc - 8 * u));
      m[u] = subq_avx2_lanes(0, (int32_t)n), f[u] = n == 8;
      vv[u] = u < nv ? subq_avx2_ld(v + j0 + 8 * u, m[u], f[u]) : _mm256_setzero_ps();
      acc[u] = _mm256_setzero_ps();
    }
    if (nv == 4 && f[3]) { /* full 32-column block: no masks, fully unrolled */
      for (int64_t d = 0; d < D; d++) {
        float *sd = S + d * dv + j0;
        const __m256 pk = _mm256_broadcast_ss(phik + d), pq = _mm256_broadcast_ss(phiq + d);
        const __m256 a = decay ? _mm256_broadcast_ss(decay + d) : _mm256_set1_ps(1.0f);
        SUBQ_LA_UNROLL for (int u = 0; u < 4; u++) {
          __m256 s = _mm256_loadu_ps(sd + 8 * u);
          s = decay ? _mm256_fmadd_ps(pk, vv[u], _mm256_mul_ps(a, s)) : _mm256_fmadd_ps(pk, vv[u], s);
          _mm256_storeu_ps(sd + 8 * u, s);
          acc[u] = _mm256_fmadd_ps(pq, s, acc[u]);
        }
      }
    } else {
      for (int64_t d = 0; d < D; d++) {
        float *sd = S + d * dv + j0;
        const __m256 pk = _mm256_broadcast_ss(phik + d), pq = _mm256_broadcast_ss(phiq + d);
        const __m256 a = decay ? _mm256_broadcast_ss(decay + d) : _mm256_set1_ps(1.0f);
        for (int u = 0; u < nv; u++) {
          __m256 s = subq_avx2_ld(sd + 8 * u, m[u], f[u]);
          s = decay ? _mm256_fmadd_ps(pk, vv[u], _mm256_mul_ps(a, s)) : _mm256_fmadd_ps(pk, vv[u], s);
          subq_avx2_st(sd + 8 * u, m[u], f[u], s);
          acc[u] = _mm256_fmadd_ps(pq, s, acc[u]);
        }
      }
    }
    for (int u = 0; u < nv; u++) subq_avx2_st(y + j0 + 8 * u, m[u], f[u], acc[u]);
  }
}

/* ---- per-chunk elementwise kernels ------------------------------------------------------------ */

/* Rows r[0..7] become columns. */
static inline void subq_la_tr8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* 8 x 8 blocks through register transposes, the rest element by element. */
void subq_f32_linattn_tload__avx2(int64_t c, int64_t dk, const float *x, int64_t ld, float scale, float *XT,
                                  int64_t ldx) {
  const __m256 sc = _mm256_set1_ps(scale);
  const int64_t c8 = c / 8 * 8, d8 = dk / 8 * 8;
  for (int64_t i0 = 0; i0 < c8; i0 += 8) {
    for (int64_t d0 = 0; d0 < d8; d0 += 8) {
      __m256 r[8];
      SUBQ_LA_UNROLL for (int k = 0; k < 8; k++) r[k] = _mm256_mul_ps(sc, _mm256_loadu_ps(x + (i0 + k) * ld + d0));
      subq_la_tr8(r);
      SUBQ_LA_UNROLL for (int k = 0; k < 8; k++) _mm256_storeu_ps(XT + (d0 + k) * ldx + i0, r[k]);
    }
    for (int64_t d = d8; d < dk; d++)
      for (int64_t i = i0; i < i0 + 8; i++) XT[d * ldx + i] = scale * x[i * ld + d];
  }
  for (int64_t i = c8; i < c; i++)
    for (int64_t d = 0; d < dk; d++) XT[d * ldx + i] = scale * x[i * ld + d];
}

/* Eight 8-lane partial sums reduced to one vector of their totals (lane r =
 * the sum of v[r], a fixed order). */
static inline __m256 subq_la_hsum8x8(const __m256 v[8]) {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Up to eight feature rows at once, tokens outer: row r is (xa[r] * xb[r]) *
 * w[r] (NULL = ones; w is 1 or 1/sqrt2, so the products round as the scalar
 * formulas do), with eight independent lane-sum chains. */
static inline __attribute__((always_inline)) void subq_la_fgroup(const bool GENERAL, int nr, int64_t c,
                                                                 const float *const *xa, const float *const *xb,
                                                                 const float *w, float *P, int64_t ldp, __m256 *acc) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 8 <= c; t += 8)
    SUBQ_LA_UNROLL for (int r = 0; r < 8; r++) {
      if (r >= nr) break;
      const __m256 a = !GENERAL || xa[r] ? _mm256_loadu_ps(xa[r] + t) : one;
      const __m256 b = !GENERAL || xb[r] ? _mm256_loadu_ps(xb[r] + t) : one;
      /* pairs-only groups (the bulk) skip the exact multiply by 1 */
      const __m256 v = GENERAL ? _mm256_mul_ps(_mm256_mul_ps(a, b), _mm256_broadcast_ss(w + r)) : _mm256_mul_ps(a, b);
      _mm256_storeu_ps(P + r * ldp + t, v);
      acc[r] = _mm256_add_ps(acc[r], v);
    }
  if (t < c) { /* masked lanes are zero: they add nothing */
    const __m256i m = subq_avx2_lanes(0, (int32_t)(c - t));
    const __m256 onem = _mm256_and_ps(one, _mm256_castsi256_ps(m));
    for (int r = 0; r < nr; r++) {
      const __m256 a = xa[r] ? _mm256_maskload_ps(xa[r] + t, m) : onem;
      const __m256 b = xb[r] ? _mm256_maskload_ps(xb[r] + t, m) : onem;
      const __m256 v = _mm256_mul_ps(_mm256_mul_ps(a, b), _mm256_broadcast_ss(w + r));
      _mm256_maskstore_ps(P + r * ldp + t, m, v);
      acc[r] = _mm256_add_ps(acc[r], v);
    }
  }
}

/* Eight product rows (x_a * x_b) * w over c (a multiple of 8) tokens, every
 * pointer and accumulator fixed at compile time; W false: w == 1 (skipped). */
static inline __attribute__((always_inline)) void subq_la_fpairs8(const bool W, int64_t c, const float *const *xa,
                                                                  const float *const *xb, const float *w, float *P,
                                                                  int64_t ldp, __m256 *acc) {
  const float *a0 = xa[0], *a1 = xa[1], *a2 = xa[2], *a3 = xa[3], *a4 = xa[4], *a5 = xa[5], *a6 = xa[6], *a7 = xa[7];
  const float *b0 = xb[0], *b1 = xb[1], *b2 = xb[2], *b3 = xb[3], *b4 = xb[4], *b5 = xb[5], *b6 = xb[6], *b7 = xb[7];
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (int64_t t = 0; t < c; t += 8) {
    __m256 v;
#define SUBQ_LA_PR(r)                                                              \
  v = _mm256_mul_ps(_mm256_loadu_ps(a##r + t), _mm256_loadu_ps(b##r + t));         \
  if (W) v = _mm256_mul_ps(v, _mm256_broadcast_ss(w + r));                         \
  _mm256_storeu_ps(P + r * ldp + t, v);                                            \
  s##r = _mm256_add_ps(s##r, v);
    SUBQ_LA_PR(0) SUBQ_LA_PR(1) SUBQ_LA_PR(2) SUBQ_LA_PR(3) SUBQ_LA_PR(4) SUBQ_LA_PR(5) SUBQ_LA_PR(6) SUBQ_LA_PR(7)
#undef SUBQ_LA_PR
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3, acc[4] = s4, acc[5] = s5, acc[6] = s6, acc[7] = s7;
}

void subq_f32_linattn_taylor__avx2(int64_t dk, int64_t c, const float *XT, int64_t ldx, int64_t n0, int64_t n1,
                                   float *P, int64_t ldp, float *rs) {
  const float r2 = 0.70710678118654752f;
  float ones[1024]; /* c <= SUBQ_LINATTN_MAX_CHUNK: the factor of the constant and linear rows */
  const bool fast = c % 8 == 0 && c <= 1024;
  if (fast)
    for (int64_t t = 0; t < c; t += 8) _mm256_storeu_ps(ones + t, _mm256_set1_ps(1.0f));
  for (int64_t g0 = n0; g0 < n1; g0 += 8) {
    const int nr = (int)SUBQ_MIN((int64_t)8, n1 - g0);
    const float *xa[8], *xb[8];
    float w[8];
    bool general = false, anysq = false;
    int64_t a, b;
    bool sq;
    subq_la_feature(dk, g0, &a, &b, &sq);
    for (int r = 0; r < nr; r++) {
      if (r > 0) { /* the next feature: pairs advance along their row, else look it up */
        if (a >= 0 && b > a && b + 1 < dk)
          b++;
        else
          subq_la_feature(dk, g0 + r, &a, &b, &sq);
      }
      xa[r] = a >= 0 ? XT + a * ldx : NULL, xb[r] = b >= 0 ? XT + b * ldx : NULL, w[r] = sq ? r2 : 1.0f;
      general = general || !xa[r] || !xb[r];
      anysq = anysq || sq;
    }
    __m256 acc[8];
    if (nr < 8 || !fast) {
      subq_la_fgroup(true, nr, c, xa, xb, w, P + (g0 - n0) * ldp, ldp, acc);
    } else {
      if (general)
        for (int r = 0; r < 8; r++) { /* x * 1 and 1 * 1 are exact */
          if (!xa[r]) xa[r] = ones;
          if (!xb[r]) xb[r] = ones;
        }
      if (anysq)
        subq_la_fpairs8(true, c, xa, xb, w, P + (g0 - n0) * ldp, ldp, acc);
      else
        subq_la_fpairs8(false, c, xa, xb, w, P + (g0 - n0) * ldp, ldp, acc);
    }
    if (rs) {
      float tt[8];
      _mm256_storeu_ps(tt, subq_la_hsum8x8(acc));
      for (int r = 0; r < nr; r++) rs[g0 - n0 + r] = tt[r];
    }
  }
}

/* The 24-token panel: x vectors staged once (masked: only m columns exist),
 * every feature three products and three stores; then z in four chains per
 * vector, in registers. */
void subq_f32_linattn_qpanel__avx2(int64_t dk, const float *XT, int64_t ldx, int64_t i0, int m, float *P,
                                   const float *s, float *z8) {
  enum { L = SUBQ_LA_QPANEL, NV = SUBQ_LA_QPANEL / 8 };
  float xs[32 * L]; /* dk <= SUBQ_LINATTN_MAX_TAYLOR_DK (32) */
  __m256i mk[NV];
  bool fl[NV];
  for (int u = 0; u < NV; u++) {
    const int n = m - 8 * u < 0 ? 0 : m - 8 * u > 8 ? 8 : m - 8 * u;
    mk[u] = subq_avx2_lanes(0, n), fl[u] = n == 8;
  }
  for (int64_t d = 0; d < dk; d++)
    for (int u = 0; u < NV; u++) _mm256_storeu_ps(xs + d * L + 8 * u, subq_avx2_ld(XT + d * ldx + i0 + 8 * u, mk[u], fl[u]));
  const __m256 vr2 = _mm256_set1_ps(0.70710678118654752f), one = _mm256_set1_ps(1.0f);
  float *p = P;
  for (int u = 0; u < NV; u++) _mm256_storeu_ps(p + 8 * u, one);
  p += L;
  for (int64_t d = 0; d < dk; d++, p += L)
    for (int u = 0; u < NV; u++) _mm256_storeu_ps(p + 8 * u, _mm256_loadu_ps(xs + d * L + 8 * u));
  for (int64_t d = 0; d < dk; d++, p += L)
    for (int u = 0; u < NV; u++) {
      const __m256 x = _mm256_loadu_ps(xs + d * L + 8 * u);
      _mm256_storeu_ps(p + 8 * u, _mm256_mul_ps(_mm256_mul_ps(x, x), vr2));
    }
  for (int64_t i = 0; i < dk; i++) {
    const __m256 x0 = _mm256_loadu_ps(xs + i * L), x1 = _mm256_loadu_ps(xs + i * L + 8),
                 x2 = _mm256_loadu_ps(xs + i * L + 16);
    for (int64_t jj = i + 1; jj < dk; jj++, p += L) {
      const float *y = xs + jj * L;
      _mm256_storeu_ps(p, _mm256_mul_ps(x0, _mm256_loadu_ps(y)));
      _mm256_storeu_ps(p + 8, _mm256_mul_ps(x1, _mm256_loadu_ps(y + 8)));
      _mm256_storeu_ps(p + 16, _mm256_mul_ps(x2, _mm256_loadu_ps(y + 16)));
    }
  }
  if (!s) return;
  const int64_t n = (p - P) / L;
  for (int u = 0; u < NV; u++) {
    if (8 * u >= m) break;
    /* feature k into chain k % 4, in registers: one chain would serialise
     * 153 fma latencies */
    __m256 z0 = _mm256_setzero_ps(), z1 = z0, z2 = z0, z3 = z0;
    const float *q = P + 8 * u;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
      z0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k * L), _mm256_broadcast_ss(s + k), z0);
      z1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + (k + 1) * L), _mm256_broadcast_ss(s + k + 1), z1);
      z2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + (k + 2) * L), _mm256_broadcast_ss(s + k + 2), z2);
      z3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + (k + 3) * L), _mm256_broadcast_ss(s + k + 3), z3);
    }
    if (k < n) z0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k * L), _mm256_broadcast_ss(s + k), z0), k++;
    if (k < n) z1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k * L), _mm256_broadcast_ss(s + k), z1), k++;
    if (k < n) z2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + k * L), _mm256_broadcast_ss(s + k), z2), k++;
    subq_avx2_st(z8 + 8 * u, mk[u], fl[u], _mm256_add_ps(_mm256_add_ps(z0, z1), _mm256_add_ps(z2, z3)));
  }
}

/* Horizontal sum in the fixed tree ((0+1)+(2+3))+((4+5)+(6+7)). */
static inline float subq_la_hsum8(__m256 v) {
  float a[8];
  _mm256_storeu_ps(a, v);
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

void subq_f32_linattn_intra__avx2(int64_t c, float *A, int64_t lda, bool poly, float *z) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
  const int64_t c8 = c / 8 * 8;
  __m256 accs[8]; /* lane sums of eight rows, reduced together (same tree as subq_la_hsum8) */
  for (int64_t i = 0; i < c; i++) {
    float *ai = A + i * lda;
    __m256 acc = zero;
    int64_t j = 0;
    /* blocks with every lane on or below the diagonal (j + 7 <= i) */
    for (; j + 8 <= i + 1; j += 8) {
      __m256 a = _mm256_loadu_ps(ai + j);
      if (poly) a = _mm256_add_ps(_mm256_add_ps(one, a), _mm256_mul_ps(half, _mm256_mul_ps(a, a)));
      _mm256_storeu_ps(ai + j, a);
      acc = _mm256_add_ps(acc, a);
    }
    /* the diagonal block: lanes j..i kept, the rest zero */
    const int64_t r = i + 1 - j; /* 1..8 lanes, 0 when the row ended on a block */
    if (r > 0) {
      const __m256i m = subq_avx2_lanes(0, (int32_t)r);
      if (j + 8 <= c) {
        __m256 a = _mm256_loadu_ps(ai + j);
        if (poly) a = _mm256_add_ps(_mm256_add_ps(one, a), _mm256_mul_ps(half, _mm256_mul_ps(a, a)));
        a = _mm256_and_ps(a, _mm256_castsi256_ps(m));
        _mm256_storeu_ps(ai + j, a);
        acc = _mm256_add_ps(acc, a);
        j += 8;
      } else { /* the row's last partial block */
        for (int64_t jj = j; jj <= i; jj++) {
          const float a = ai[jj];
          ai[jj] = poly ? (1.0f + a) + 0.5f * (a * a) : a;
        }
        for (int64_t jj = i + 1; jj < c; jj++) ai[jj] = 0.0f;
        acc = _mm256_add_ps(acc, _mm256_maskload_ps(ai + j, m));
        j = c;
      }
    }
    for (; j < c8; j += 8) _mm256_storeu_ps(ai + j, zero);
    for (; j < c; j++) ai[j] = 0.0f;
    if (!z) continue;
    const int64_t l = i & 7;
    accs[l] = acc;
    if (l == 7 || i == c - 1) {
      for (int64_t r2 = l + 1; r2 < 8; r2++) accs[r2] = zero;
      float t[8];
      _mm256_storeu_ps(t, subq_la_hsum8x8(accs));
      for (int64_t r2 = 0; r2 <= l; r2++) z[i - l + r2] = t[r2];
    }
  }
}

void subq_f32_linattn_zstate__avx2(int64_t D, int64_t c, const float *P, int64_t ldp, const float *s, float *z) {
  int64_t i0 = 0;
  for (; i0 + 32 <= c; i0 += 32) {
    __m256 a0 = _mm256_loadu_ps(z + i0), a1 = _mm256_loadu_ps(z + i0 + 8), a2 = _mm256_loadu_ps(z + i0 + 16),
           a3 = _mm256_loadu_ps(z + i0 + 24);
    for (int64_t d = 0; d < D; d++) {
      const float *p = P + d * ldp + i0;
      const __m256 sd = _mm256_broadcast_ss(s + d);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), sd, a0), a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8), sd, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 16), sd, a2), a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 24), sd, a3);
    }
    _mm256_storeu_ps(z + i0, a0), _mm256_storeu_ps(z + i0 + 8, a1);
    _mm256_storeu_ps(z + i0 + 16, a2), _mm256_storeu_ps(z + i0 + 24, a3);
  }
  for (; i0 < c; i0 += 8) {
    const int64_t n = SUBQ_MIN((int64_t)8, c - i0);
    const __m256i m = subq_avx2_lanes(0, (int32_t)n);
    __m256 a = subq_avx2_ld(z + i0, m, n == 8);
    for (int64_t d = 0; d < D; d++)
      a = _mm256_fmadd_ps(subq_avx2_ld(P + d * ldp + i0, m, n == 8), _mm256_broadcast_ss(s + d), a);
    subq_avx2_st(z + i0, m, n == 8, a);
  }
}

void subq_f32_linattn_rowsum__avx2(int64_t D, int64_t c, const float *P, int64_t ldp, float *s) {
  const int64_t c8 = c / 8 * 8;
  const __m256i m = subq_avx2_lanes(0, (int32_t)(c - c8));
  for (int64_t d = 0; d < D; d++) {
    const float *p = P + d * ldp;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < c8; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(p + i));
    if (c8 < c) acc = _mm256_add_ps(acc, _mm256_maskload_ps(p + c8, m));
    s[d] += subq_la_hsum8(acc);
  }
}

void subq_f32_linattn_outrows__avx2(int64_t c, int64_t dv, const float *O, int64_t ldo, const float *z, float eps,
                                    float *out, int64_t ld, bool stream) {
  const int64_t d8 = dv / 8 * 8;
  /* non-temporal stores when every row is whole aligned vectors: no read for
   * ownership of lines that are overwritten entirely (a third of the DRAM
   * traffic of a long prefill) */
  if (stream && d8 == dv && ((uintptr_t)out & 31) == 0 && (ld & 7) == 0) {
    for (int64_t i = 0; i < c; i++) {
      const float *r = O + i * ldo;
      float *o = out + i * ld;
      const __m256 inv = _mm256_set1_ps(z ? 1.0f / (z[i] + eps) : 1.0f);
      for (int64_t d = 0; d < dv; d += 8) _mm256_stream_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(r + d), inv));
    }
    if (c == 0) _mm_sfence(); /* the caller's closing call */
    return;
  }
  if (c == 0 && stream) _mm_sfence();
  const __m256i m = subq_avx2_lanes(0, (int32_t)(dv - d8));
  for (int64_t i = 0; i < c; i++) {
    const float *r = O + i * ldo;
    float *o = out + i * ld;
    const __m256 inv = _mm256_set1_ps(z ? 1.0f / (z[i] + eps) : 1.0f);
    int64_t d = 0;
    for (; d < d8; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(r + d), inv));
    if (d < dv) _mm256_maskstore_ps(o + d, m, _mm256_mul_ps(_mm256_maskload_ps(r + d, m), inv));
  }
}

SUBQ_ISA_END
#endif
