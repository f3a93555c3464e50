/*
 * subq_fattn_neon.c — AArch64 Advanced SIMD attention micro-kernels.
 *   qk 4x2: 4 query rows x 2 keys, 8 q accumulators over dk (scalar tail for
 *     dk % 4), reduced pairwise (FADDP) per block; key pairs outside row
 *     blocks (decode tiles);
 *   pv 4x16: 4 rows x 16 dv lanes (16 q accumulators), p by lane, keys in
 *     increasing order, scalar columns for dv % 4;
 *   mm 6x16 (the transposed prefill tile): 6 rows x 16 columns, 24 q
 *     accumulators, FMLA by element; colsoftmax: 4 columns a vector, the
 *     mid-range exp core (terms below 1.2e-38 flushed);
 *   exp: the shared subq_vexp_f32_u2_neon (internal/simd/subq_vexp_neon.h);
 *   qkh / pvh: the same with bf16 / f16 K / V widened in registers (decode
 *     over 16-bit caches); widen: 16-bit tiles to f32 for the prefill path.
 * NEON is baseline on AArch64: no target region.
 */
#include "families/fattn/subq_fattn_ukernel.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>

#include "internal/simd/subq_vexp_neon.h"


void subq_fattn_exp__neon(const float *src, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, subq_vexp_f32_u2_neon(vld1q_f32(src + i)));
  for (; i < n; i++) dst[i] = subq_expf_u2(src[i]);
}

float subq_fattn_expsub__neon(float *s, int64_t n, float m) {
  const float32x4_t vm = vdupq_n_f32(m);
  float32x4_t sum = vdupq_n_f32(0.0f);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float32x4_t e = subq_vexp_f32_u2_neon(vsubq_f32(vld1q_f32(s + j), vm));
    vst1q_f32(s + j, e);
    sum = vaddq_f32(sum, e);
  }
  float t = vaddvq_f32(sum);
  for (; j < n; j++) {
    const float e = subq_expf_u2(s[j] - m);
    s[j] = e;
    t += e;
  }
  return t;
}

float subq_fattn_rowmax__neon(const float *s, int64_t n, float init) {
  float32x4_t m = vdupq_n_f32(init);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) m = vmaxq_f32(m, vld1q_f32(s + j));
  float r = vmaxvq_f32(m);
  for (; j < n; j++) r = s[j] > r ? s[j] : r;
  return r;
}

void subq_fattn_scale__neon(float *x, int64_t n, float alpha) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), alpha));
  for (; i < n; i++) x[i] *= alpha;
}

/* The 8 sums of acc[row][key] (4 rows x 2 keys) by pairwise adds: the same
 * ((l0 + l1) + (l2 + l3)) as vaddvq_f32 on each, 6 FADDP instead of 8 reductions.
 * out[c] holds key c of rows 0..3. */
static inline void subq_fattn_reduce8_neon(float32x4_t acc[4][2], float32x4_t out[2]) {
  for (int c = 0; c < 2; c++)
    out[c] = vpaddq_f32(vpaddq_f32(acc[0][c], acc[1][c]), vpaddq_f32(acc[2][c], acc[3][c]));
}

/* 16-bit rows to f32: FCVTL (f16, exact) or a 16-bit left shift (bf16). */
void subq_fattn_widen__neon(int dt, int64_t n, int64_t d_len, const uint16_t *src, int64_t ss, float *dst, int64_t ldd) {
  for (int64_t j = 0; j < n; j++) {
    const uint16_t *sr = src + j * ss;
    float *dr = dst + j * ldd;
    int64_t d = 0;
    if (dt == SUBQ_FATTN_H_F16) {
      for (; d + 4 <= d_len; d += 4) vst1q_f32(dr + d, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(sr + d))));
    } else {
      for (; d + 4 <= d_len; d += 4) vst1q_f32(dr + d, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(sr + d), 16)));
    }
    for (; d < d_len; d++) dr[d] = subq_fattn_h_to_f32(dt, sr[d]);
  }
}

/* ---- K/V in f32, or 16-bit widened in registers: FCVTL (f16) or a 16-bit left shift (bf16) ---- */

#define SUBQ_FATTN_NEON_INLINE static inline __attribute__((always_inline))
#define SUBQ_FATTN_NEON_F32 (-1) /* element type of f32 K/V for the shared bodies (16-bit: SUBQ_FATTN_H_*) */

/* 4 elements of x[i..i+3] as f32; dt is a constant where this is inlined. */
SUBQ_FATTN_NEON_INLINE float32x4_t subq_fattn_ld4(int dt, const void *x, int64_t i) {
  if (dt == SUBQ_FATTN_NEON_F32) return vld1q_f32((const float *)x + i);
  const uint16_t *h = (const uint16_t *)x + i;
  if (dt == SUBQ_FATTN_H_F16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h), 16));
}
SUBQ_FATTN_NEON_INLINE float subq_fattn_ld1(int dt, const void *x, int64_t i) {
  if (dt == SUBQ_FATTN_NEON_F32) return ((const float *)x)[i];
  return subq_fattn_h_to_f32(dt, ((const uint16_t *)x)[i]);
}

/* S = Q K^T for 4 query rows x 2 keys at a time: 8 q accumulators over dk,
 * reduced pairwise; key pairs outside the row blocks (a pair stays in L1 across
 * them); K row j starts at element j * k_ss of k. */
SUBQ_FATTN_NEON_INLINE void subq_fattn_qk_impl(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q,
                                               int64_t ldq, const void *k, int64_t k_ss, float *s, int64_t lds) {
  for (int64_t j = 0; j < nk; j += 2) {
    const int kb = (int)SUBQ_MIN(2, nk - j);
    const int64_t k0 = j * k_ss, k1 = kb > 1 ? k0 + k_ss : k0;
    for (int64_t r = 0; r < nr; r += 4) {
      const int rb = (int)SUBQ_MIN(4, nr - r);
      const float *qr[4];
      for (int i = 0; i < 4; i++) qr[i] = q + (r + (i < rb ? i : 0)) * ldq;
      float32x4_t acc[4][2];
      for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
      int64_t d = 0;
      for (; d + 4 <= dk; d += 4) {
        const float32x4_t kv0 = subq_fattn_ld4(dt, k, k0 + d), kv1 = subq_fattn_ld4(dt, k, k1 + d);
        for (int i = 0; i < 4; i++) {
          const float32x4_t qv = vld1q_f32(qr[i] + d);
          acc[i][0] = vfmaq_f32(acc[i][0], qv, kv0);
          acc[i][1] = vfmaq_f32(acc[i][1], qv, kv1);
        }
      }
      float32x4_t red[2];
      subq_fattn_reduce8_neon(acc, red);
      float t4[2][4];
      vst1q_f32(t4[0], red[0]), vst1q_f32(t4[1], red[1]);
      for (int i = 0; i < rb; i++)
        for (int c = 0; c < kb; c++) {
          float t = t4[c][i];
          const int64_t kc = c ? k1 : k0;
          for (int64_t dd = d; dd < dk; dd++) t = fmaf(qr[i][dd], subq_fattn_ld1(dt, k, kc + dd), t);
          s[(r + i) * lds + j + c] = t;
        }
    }
  }
}

void subq_fattn_qk_4x2__neon(int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq, const float *k,
                             int64_t k_ss, float *s, int64_t lds) {
  subq_fattn_qk_impl(SUBQ_FATTN_NEON_F32, nr, nk, dk, q, ldq, k, k_ss, s, lds);
}

void subq_fattn_qkh_4x2__neon(int dt, int64_t nr, int64_t nk, int64_t dk, const float *q, int64_t ldq,
                              const uint16_t *k, int64_t k_ss, float *s, int64_t lds) {
  if (dt == SUBQ_FATTN_H_F16)
    subq_fattn_qk_impl(SUBQ_FATTN_H_F16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
  else
    subq_fattn_qk_impl(SUBQ_FATTN_H_BF16, nr, nk, dk, q, ldq, k, k_ss, s, lds);
}

/* subq_fattn_live (bit j: some row i < rb has p[i * ldp + j] != 0, NaN
 * included) by vector compares, 4 keys at a time. */
static inline uint64_t subq_fattn_live_neon(int rb, int64_t n, const float *p, int64_t ldp) {
  static const uint32_t bits[4] = {1, 2, 4, 8};
  const uint32x4_t bit = vld1q_u32(bits);
  uint64_t live = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    uint32x4_t zero = vceqzq_f32(vld1q_f32(p + j)); /* all ones where p == 0 (NaN compares unequal) */
    for (int i = 1; i < rb; i++) zero = vandq_u32(zero, vceqzq_f32(vld1q_f32(p + i * ldp + j)));
    live |= (uint64_t)vaddvq_u32(vbicq_u32(bit, zero)) << j;
  }
  if (j < n) live |= subq_fattn_live(rb, n - j, p + j, ldp) << j; /* the last n % vector keys */
  return live;
}

/* The 16 accumulators of a 4 x 16 block as named variables (x<row><quarter>):
 * gcc 12 kept a float32x4_t[4][4] in memory, loading and storing all 16 on
 * every key (the GEMM 8x12 kernels' note). */
#define SUBQ_PV_EACH4(X) X(0) X(1) X(2) X(3)
#define SUBQ_PV_LOAD(i)                                                                       \
  float32x4_t x##i##0 = vld1q_f32(ar[i] + d), x##i##1 = vld1q_f32(ar[i] + d + 4),             \
              x##i##2 = vld1q_f32(ar[i] + d + 8), x##i##3 = vld1q_f32(ar[i] + d + 12);
#define SUBQ_PV_FMA(i)                         \
  {                                            \
    const float pi = pr[i][j];                 \
    x##i##0 = vfmaq_n_f32(x##i##0, v0, pi);    \
    x##i##1 = vfmaq_n_f32(x##i##1, v1, pi);    \
    x##i##2 = vfmaq_n_f32(x##i##2, v2, pi);    \
    x##i##3 = vfmaq_n_f32(x##i##3, v3, pi);    \
  }
#define SUBQ_PV_KEY                                                                               \
  {                                                                                               \
    const int64_t vj = j * v_ss + d;                                                              \
    const float32x4_t v0 = subq_fattn_ld4(dt, v, vj), v1 = subq_fattn_ld4(dt, v, vj + 4);         \
    const float32x4_t v2 = subq_fattn_ld4(dt, v, vj + 8), v3 = subq_fattn_ld4(dt, v, vj + 12);    \
    SUBQ_PV_EACH4(SUBQ_PV_FMA)                                                                    \
  }
#define SUBQ_PV_STORE(i)                                                              \
  {                                                                                   \
    vst1q_f32(ar[i] + d, x##i##0), vst1q_f32(ar[i] + d + 4, x##i##1);                 \
    vst1q_f32(ar[i] + d + 8, x##i##2), vst1q_f32(ar[i] + d + 12, x##i##3);            \
  }

/* acc += P V over nk <= 64 keys: 4 rows x 16 dv lanes (16 accumulators), p by
 * lane, keys in increasing order, one liveness word per row block (keys no row
 * uses are skipped), scalar columns for dv % 4; V row j starts at j * v_ss. */
SUBQ_FATTN_NEON_INLINE void subq_fattn_pv_impl(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p,
                                               int64_t ldp, const void *v, int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t r = 0; r < nr; r += 4) {
    const int rb = (int)SUBQ_MIN(4, nr - r);
    const float *pr[4];
    float *ar[4];
    for (int i = 0; i < 4; i++) {
      pr[i] = p + (r + (i < rb ? i : 0)) * ldp;
      ar[i] = acc + (r + (i < rb ? i : 0)) * ldacc;
    }
    const uint64_t live = subq_fattn_live_neon(rb, nk, p + r * ldp, ldp);
    if (!live) continue;
    const bool all = live == (nk == 64 ? ~(uint64_t)0 : ((uint64_t)1 << nk) - 1); /* no key to skip */
    int64_t d = 0;
    for (; d + 16 <= dv; d += 16) {
      SUBQ_PV_EACH4(SUBQ_PV_LOAD)
      if (all) {
        for (int64_t j = 0; j < nk; j++) SUBQ_PV_KEY
      } else {
        for (int64_t j = 0; j < nk; j++)
          if (live >> j & 1) SUBQ_PV_KEY
      }
      /* rows past rb alias row 0 (and hold its values): not stored again */
      if (rb > 3) SUBQ_PV_STORE(3)
      if (rb > 2) SUBQ_PV_STORE(2)
      if (rb > 1) SUBQ_PV_STORE(1)
      SUBQ_PV_STORE(0)
    }
    for (; d + 4 <= dv; d += 4) {
      float32x4_t x[4];
      for (int i = 0; i < 4; i++) x[i] = vld1q_f32(ar[i] + d);
      for (int64_t j = 0; j < nk; j++) {
        if (!(live >> j & 1)) continue;
        const float32x4_t vv = subq_fattn_ld4(dt, v, j * v_ss + d);
        for (int i = 0; i < 4; i++) x[i] = vfmaq_n_f32(x[i], vv, pr[i][j]);
      }
      for (int i = rb - 1; i >= 0; i--) vst1q_f32(ar[i] + d, x[i]);
    }
    for (; d < dv; d++)
      for (int i = 0; i < rb; i++) {
        float t = ar[i][d];
        for (int64_t j = 0; j < nk; j++)
          if (pr[i][j] != 0.0f) t = fmaf(pr[i][j], subq_fattn_ld1(dt, v, j * v_ss + d), t);
        ar[i][d] = t;
      }
  }
}

#undef SUBQ_PV_EACH4
#undef SUBQ_PV_LOAD
#undef SUBQ_PV_FMA
#undef SUBQ_PV_STORE
#undef SUBQ_PV_KEY

void subq_fattn_pv_4x16__neon(int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp, const float *v,
                              int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t j0 = 0; j0 < nk; j0 += 64)
    subq_fattn_pv_impl(SUBQ_FATTN_NEON_F32, nr, SUBQ_MIN(64, nk - j0), dv, p + j0, ldp, v + j0 * v_ss, v_ss, acc,
                       ldacc);
}

void subq_fattn_pvh_4x16__neon(int dt, int64_t nr, int64_t nk, int64_t dv, const float *p, int64_t ldp,
                               const uint16_t *v, int64_t v_ss, float *acc, int64_t ldacc) {
  for (int64_t j0 = 0; j0 < nk; j0 += 64) {
    const int64_t n = SUBQ_MIN(64, nk - j0);
    if (dt == SUBQ_FATTN_H_F16)
      subq_fattn_pv_impl(SUBQ_FATTN_H_F16, nr, n, dv, p + j0, ldp, v + j0 * v_ss, v_ss, acc, ldacc);
    else
      subq_fattn_pv_impl(SUBQ_FATTN_H_BF16, nr, n, dv, p + j0, ldp, v + j0 * v_ss, v_ss, acc, ldacc);
  }
}

/* ---- the transposed prefill tile ----------------------------------------------- */

/* R (6, 4 or 2) rows x 16 columns of c, 4R accumulators; per l, 4 loads of b
 * and R scalar loads of a (FMLA by element). Rows past rb alias row 0. */
SUBQ_FATTN_NEON_INLINE void subq_fattn_mm_rows_neon(const int R, int rb, int64_t k, const float *a, int64_t a_rs,
                                                    int64_t a_ks, const float *b, int64_t ldb, float *c,
                                                    int64_t ldc, bool accumulate, const float *scale,
                                                    const uint64_t *live) {
  int64_t off[6];
  float *cr[6];
  for (int i = 0; i < R; i++) off[i] = rb > i ? i * a_rs : 0, cr[i] = c + (rb > i ? i * ldc : 0);
  float32x4_t x[6][4];
  for (int q = 0; q < 4; q++) {
    const float32x4_t sc = scale ? vld1q_f32(scale + 4 * q) : vdupq_n_f32(1.0f);
    for (int i = 0; i < R; i++) x[i][q] = accumulate ? vmulq_f32(vld1q_f32(cr[i] + 4 * q), sc) : vdupq_n_f32(0.0f);
  }
  const float *ap = a, *bp = b;
  for (int64_t l = 0; l < k; l++, ap += a_ks, bp += ldb) {
    if (live && !(live[l >> 6] >> (l & 63) & 1)) continue;
    const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8), b3 = vld1q_f32(bp + 12);
    for (int i = 0; i < R; i++) {
      const float ai = ap[off[i]];
      x[i][0] = vfmaq_n_f32(x[i][0], b0, ai), x[i][1] = vfmaq_n_f32(x[i][1], b1, ai);
      x[i][2] = vfmaq_n_f32(x[i][2], b2, ai), x[i][3] = vfmaq_n_f32(x[i][3], b3, ai);
    }
  }
  for (int i = R - 1; i >= 0; i--) {
    if (i > 0 && rb <= i) continue;
    for (int q = 0; q < 4; q++) vst1q_f32(cr[i] + 4 * q, x[i][q]);
  }
}

void subq_fattn_mm_6x16__neon(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs, int64_t a_ks,
                              const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate, const float *scale,
                              const uint64_t *live) {
  for (int64_t i = 0; i < m; i += 6) {
    const int rb = (int)SUBQ_MIN(6, m - i);
    const float *ai = a + i * a_rs;
    for (int64_t j = 0; j < n; j += 16) {
      const float *sj = scale ? scale + j : NULL;
      if (rb > 4)
        subq_fattn_mm_rows_neon(6, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
      else if (rb > 2)
        subq_fattn_mm_rows_neon(4, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
      else
        subq_fattn_mm_rows_neon(2, rb, k, ai, a_rs, a_ks, b + j, ldb, c + i * ldc + j, ldc, accumulate, sj, live);
    }
  }
}

void subq_fattn_colsoftmax__neon(int64_t nk, int64_t ncol, float *s, int64_t lds, float *m, float *l, float *alpha) {
  const float32x4_t ninf = vdupq_n_f32(-INFINITY);
  for (int64_t c = 0; c < ncol; c += 4) {
    const float32x4_t mold = vld1q_f32(m + c);
    float32x4_t mx = mold;
    for (int64_t j = 0; j < nk; j++) mx = vmaxq_f32(mx, vld1q_f32(s + j * lds + c));
    const uint32x4_t none = vceqq_f32(mx, ninf);
    const float32x4_t msafe = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(mx), none));
    const uint32x4_t first = vceqq_f32(mold, ninf);
    const float32x4_t al = vreinterpretq_f32_u32(
        vbicq_u32(vreinterpretq_u32_f32(subq_vexp_f32_nonpos_neon(vsubq_f32(mold, msafe))), first));
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (int64_t j = 0; j < nk; j++) {
      const float32x4_t p = subq_vexp_f32_nonpos_neon(vsubq_f32(vld1q_f32(s + j * lds + c), msafe));
      vst1q_f32(s + j * lds + c, p);
      sum = vaddq_f32(sum, p);
    }
    vst1q_f32(l + c, vfmaq_f32(sum, al, vld1q_f32(l + c)));
    vst1q_f32(m + c, mx);
    vst1q_f32(alpha + c, al);
  }
}

#endif
