/*
 * subq_f32_ssm_neon.c — AArch64 Advanced SIMD SSM micro-kernels.
 *
 * The same structure and per-lane operation order as the AVX2 file with
 * 4 channels per vector (the 16-channel state block is four quarters):
 * time blocks of 64 tokens, dt / dt*u precomputed per block, chunks of 4
 * states kept in registers across the block, y partials carried in order.
 * Partial quarters go through a zero-padded lane buffer, so the arithmetic of
 * a lane never depends on its position. exp: the shared
 * subq_vexp_f32_core_mid_neon, as on AVX2 (0 below -87.3).
 * NEON is baseline on AArch64: no target region.
 */
#include "families/ssm/subq_ssm2_ukernel.h"
#include "families/ssm/subq_ssm_ukernel.h"
#include "internal/subq_internal.h"

#if SUBQ_ARCH_ARM64
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "internal/simd/subq_vexp_neon.h"

/* exp for the decay, softplus and SiLU: the shared mid-range core
 * (internal/simd/subq_vexp_neon.h) on arguments clamped to [-87.3, 88.3],
 * 0 below -87.3, NaN stays NaN. */
static inline float32x4_t subq_ssm_exp_neon(float32x4_t x) {
  const float32x4_t lo = vdupq_n_f32(SUBQ_SSM_EXP_FLUSH);
  const float32x4_t xc = vminq_f32(vmaxq_f32(x, lo), vdupq_n_f32(SUBQ_SSM_EXP_CLAMP));
  const uint32x4_t under = vcltq_f32(x, lo);
  const float32x4_t y =
      vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(subq_vexp_f32_core_mid_neon(xc)), under));
  const uint32x4_t nan = vmvnq_u32(vceqq_f32(x, x));
  return vbslq_f32(nan, x, y);
}

/* softplus without a log: see SUBQ_SOFTPLUS_Q0 (families/ssm/subq_ssm_ukernel.h). */
static inline float32x4_t subq_vsoftplus_neon(float32x4_t x) {
  const float32x4_t e = subq_ssm_exp_neon(vnegq_f32(vabsq_f32(x)));
  const float32x4_t s = vdivq_f32(e, vaddq_f32(vdupq_n_f32(2.0f), e)), w = vmulq_f32(s, s);
  float32x4_t q = vfmaq_f32(vdupq_n_f32(SUBQ_SOFTPLUS_Q2), vdupq_n_f32(SUBQ_SOFTPLUS_Q3), w);
  q = vfmaq_f32(vdupq_n_f32(SUBQ_SOFTPLUS_Q1), q, w);
  q = vfmaq_f32(vdupq_n_f32(SUBQ_SOFTPLUS_Q0), q, w);
  const float32x4_t at = vfmaq_f32(s, s, vmulq_f32(w, q));
  return vaddq_f32(vmaxq_f32(x, vdupq_n_f32(0.0f)), vaddq_f32(at, at));
}

static inline float32x4_t subq_vsilu_neon(float32x4_t x) {
  const float32x4_t e = subq_ssm_exp_neon(vnegq_f32(vabsq_f32(x)));
  const float32x4_t pos = vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), e));
  const float32x4_t s = vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), vmulq_f32(e, pos), pos);
  return vmulq_f32(x, s);
}

/* Lanes [lo, hi) of p (others 0); full vectors load directly. */
static inline float32x4_t subq_ld4(const float *p, int32_t lo, int32_t hi) {
  if (lo == 0 && hi == 4) return vld1q_f32(p);
  float b[4] = {0, 0, 0, 0};
  for (int32_t i = lo; i < hi; i++) b[i] = p[i];
  return vld1q_f32(b);
}
static inline void subq_st4(float *p, int32_t lo, int32_t hi, float32x4_t v) {
  if (lo == 0 && hi == 4) {
    vst1q_f32(p, v);
    return;
  }
  float b[4];
  vst1q_f32(b, v);
  for (int32_t i = lo; i < hi; i++) p[i] = b[i];
}

static void subq_s6scan_block_neon(const subq_s6scan_params *p) {
  const int64_t N = p->N;
  float *dvb = p->work, *dub = dvb + SUBQ_S6_TC * 4, *yb = dub + SUBQ_S6_TC * 4;
  for (int32_t q = 0; q < 4; q++) {
    const int32_t o = q * 4;
    const int32_t lo = SUBQ_MAX(p->lane0, o) - o, hi = SUBQ_MIN(p->lane0 + p->nl, o + 4) - o;
    if (lo >= hi) continue;
    const float32x4_t bias = p->dt_bias ? subq_ld4(p->dt_bias + o, lo, hi) : vdupq_n_f32(0.0f);
    const float32x4_t dsk = p->d_skip ? subq_ld4(p->d_skip + o, lo, hi) : vdupq_n_f32(0.0f);
    float *hh = p->h + o;
    for (int64_t t0 = 0; t0 < p->T; t0 += SUBQ_S6_TC) {
      const int64_t tc = SUBQ_MIN((int64_t)SUBQ_S6_TC, p->T - t0);
      for (int64_t t = 0; t < tc; t++) {
        float32x4_t dv = vaddq_f32(subq_ld4(p->dt + (t0 + t) * p->dt_ld + o, lo, hi), bias);
        if (p->softplus) dv = subq_vsoftplus_neon(dv);
        const float32x4_t uv = subq_ld4(p->u + (t0 + t) * p->u_ld + o, lo, hi);
        vst1q_f32(dvb + t * 4, dv);
        vst1q_f32(dub + t * 4, vmulq_f32(dv, uv));
        vst1q_f32(yb + t * 4, vdupq_n_f32(0.0f));
      }
      int64_t n0 = 0;
      for (; n0 + 4 <= N; n0 += 4) {
        float32x4_t h0 = subq_ld4(hh + (n0 + 0) * 16, lo, hi), h1 = subq_ld4(hh + (n0 + 1) * 16, lo, hi);
        float32x4_t h2 = subq_ld4(hh + (n0 + 2) * 16, lo, hi), h3 = subq_ld4(hh + (n0 + 3) * 16, lo, hi);
        const float *ap = p->a + n0 * 16 + o;
        for (int64_t t = 0; t < tc; t++) {
          const float32x4_t dv = vld1q_f32(dvb + t * 4), du = vld1q_f32(dub + t * 4);
          const float *br = p->b + (t0 + t) * p->b_ld + n0, *cr = p->c + (t0 + t) * p->c_ld + n0;
          float32x4_t y = vld1q_f32(yb + t * 4);
#define SUBQ_S6_STEP(j, h)                                                     \
  {                                                                            \
    const float32x4_t a = subq_vexp2_f32_decay_neon(vmulq_f32(dv, vld1q_f32(ap + (j) * 16))); \
    h = vfmaq_f32(vmulq_n_f32(du, br[j]), a, h);                               \
    y = vfmaq_n_f32(y, h, cr[j]);                                              \
  }
          SUBQ_S6_STEP(0, h0) SUBQ_S6_STEP(1, h1) SUBQ_S6_STEP(2, h2) SUBQ_S6_STEP(3, h3)
#undef SUBQ_S6_STEP
          vst1q_f32(yb + t * 4, y);
        }
        subq_st4(hh + (n0 + 0) * 16, lo, hi, h0), subq_st4(hh + (n0 + 1) * 16, lo, hi, h1);
        subq_st4(hh + (n0 + 2) * 16, lo, hi, h2), subq_st4(hh + (n0 + 3) * 16, lo, hi, h3);
      }
      for (; n0 < N; n0++) {
        float32x4_t h = subq_ld4(hh + n0 * 16, lo, hi);
        const float32x4_t av = vld1q_f32(p->a + n0 * 16 + o);
        for (int64_t t = 0; t < tc; t++) {
          const float32x4_t dv = vld1q_f32(dvb + t * 4), du = vld1q_f32(dub + t * 4);
          const float *br = p->b + (t0 + t) * p->b_ld + n0, *cr = p->c + (t0 + t) * p->c_ld + n0;
          const float32x4_t a = subq_vexp2_f32_decay_neon(vmulq_f32(dv, av));
          h = vfmaq_f32(vmulq_n_f32(du, br[0]), a, h);
          vst1q_f32(yb + t * 4, vfmaq_n_f32(vld1q_f32(yb + t * 4), h, cr[0]));
        }
        subq_st4(hh + n0 * 16, lo, hi, h);
      }
      for (int64_t t = 0; t < tc; t++) {
        float32x4_t y = vld1q_f32(yb + t * 4);
        if (p->d_skip) y = vfmaq_f32(y, dsk, subq_ld4(p->u + (t0 + t) * p->u_ld + o, lo, hi));
        if (p->z) y = vmulq_f32(y, subq_vsilu_neon(subq_ld4(p->z + (t0 + t) * p->z_ld + o, lo, hi)));
        subq_st4(p->y + (t0 + t) * p->y_ld + o, lo, hi, y);
      }
    }
  }
}

void subq_f32_ssm_s6scan_ukernel_d16__neon(const subq_s6scan_params *p) {
  subq_s6scan_params q = *p;
  for (int64_t k = 0; k < p->nblk; k++, subq_s6scan_next_block(&q)) subq_s6scan_block_neon(&q);
}

void subq_f32_ssm_conv1d_ukernel_c256__neon(int64_t T, int64_t nc, int32_t W, const float *x, int64_t x_ld,
                                           const float *w, const float *bias, const float *state_in,
                                           float *state_out, int64_t s_ld, float *y, int64_t y_ld, bool silu,
                                           float *work) {
  float(*wt)[8][4] = (float(*)[8][4])work;
  float(*bt)[4] = (float(*)[4])(work + SUBQ_CONV_BLOCK * 8);
  memset(work, 0, SUBQ_CONV_WORK_FLOATS * sizeof(float));
  const int64_t nch = (nc + 3) / 4;
  for (int64_t ch = 0; ch < nc; ch++) {
    for (int32_t k = 0; k < W; k++) wt[ch / 4][k][ch % 4] = w[ch * W + k];
    if (bias) bt[ch / 4][ch % 4] = bias[ch];
  }
  for (int64_t t = 0; t < T; t++)
    for (int64_t q = 0; q < nch; q++) {
      const int32_t hi = (int32_t)SUBQ_MIN((int64_t)4, nc - q * 4);
      const int64_t c0 = q * 4;
      float32x4_t acc = vld1q_f32(bt[q]);
      for (int32_t k = 0; k < W; k++) {
        const int64_t r = t + k - (W - 1);
        const float32x4_t v = r >= 0 ? subq_ld4(x + r * x_ld + c0, 0, hi)
                                     : (state_in ? subq_ld4(state_in + (W - 1 + r) * s_ld + c0, 0, hi)
                                                 : vdupq_n_f32(0.0f));
        acc = vfmaq_f32(acc, vld1q_f32(wt[q][k]), v);
      }
      subq_st4(y + t * y_ld + c0, 0, hi, silu ? subq_vsilu_neon(acc) : acc);
    }
  if (state_out)
    for (int32_t k = 0; k < W - 1; k++) { /* ascending k reads rows > k only: in place is safe */
      const int64_t r = T + k - (W - 1);
      for (int64_t q = 0; q < nch; q++) {
        const int32_t hi = (int32_t)SUBQ_MIN((int64_t)4, nc - q * 4);
        const int64_t c0 = q * 4;
        const float32x4_t v = r >= 0 ? subq_ld4(x + r * x_ld + c0, 0, hi)
                                     : (state_in ? subq_ld4(state_in + (W - 1 + r) * s_ld + c0, 0, hi)
                                                 : vdupq_n_f32(0.0f));
        subq_st4(state_out + k * s_ld + c0, 0, hi, v);
      }
    }
}

/* ---- Mamba-2 (SSD): the AVX2 kernels' structure with 4 head_dim lanes --------------- */

/* Decode step, states 4q..4q+3 of a tile for 8 head_dim lanes (x0, x1: dt*x):
 * each B and C value is one lane of a register (by-element mul / fma, no
 * broadcasts). Sets the chain's sums r0, r1 (one mul, then fmas) as the
 * general path below. Written out, no arrays over the vectors. */
#define SUBQ_SSD_QUAD(sp, P, a, x0, x1, b, c, r0, r1) \
  SUBQ_SSD_ROW(sp, P, 0, a, x0, x1, b, c, r0, r1)      \
  SUBQ_SSD_ROW(sp, P, 1, a, x0, x1, b, c, r0, r1)      \
  SUBQ_SSD_ROW(sp, P, 2, a, x0, x1, b, c, r0, r1)      \
  SUBQ_SSD_ROW(sp, P, 3, a, x0, x1, b, c, r0, r1)
#define SUBQ_SSD_ROW(sp, P, j, a, x0, x1, b, c, r0, r1) \
  {                                                    \
    float *const rp = (sp) + (j) * (P);                \
    SUBQ_SSD_LANES(rp, 0, j, a, x0, b, c, r0)          \
    SUBQ_SSD_LANES(rp, 1, j, a, x1, b, c, r1)          \
  }
#define SUBQ_SSD_LANES(rp, v, j, a, xv, b, c, r)                                           \
  {                                                                                       \
    const float32x4_t s_ = vfmaq_f32(vmulq_laneq_f32(xv, b, j), a, vld1q_f32((rp) + (v) * 4)); \
    r = (j) == 0 ? vmulq_laneq_f32(s_, c, j) : vfmaq_laneq_f32(r, s_, c, j);               \
    vst1q_f32((rp) + (v) * 4, s_);                                                        \
  }

/* One token, P % 8 == 0, N % 8 == 0 (Mamba-2 decode): the AVX2 fast path's
 * structure, with the operations of the general path below in the same order
 * per lane (same bits: xd = x * dt; S = fma(decay, S, xd * B); states 0-3
 * and 4-7 of a tile in two chains, added; y = 0 + the tile sums in order;
 * then fma(Dskip, x, y)). B and C are loaded once per tile and pass of 8
 * lanes, y stays in registers, no xd / y scratch round trips. 8 lanes per
 * pass, not 16: with 16, gcc and clang spill y and the decay in the tile loop
 * (about 30 live vectors once they schedule the state loads early); with 8
 * the B/C loads per state load are the same as 16 lanes on AVX2 and nothing
 * spills. */
static void subq_ssd_step_p8_neon(const subq_ssd_rec_params *p) {
  const int64_t N = p->N, P = p->P;
  const float32x4_t a = vdupq_n_f32(p->decay[0]);
  const float dt = p->dtv[0], *const B = p->b, *const C = p->c;
  float *const S = p->S;
  for (int64_t pb = 0; pb < P; pb += 8) {
    const float *xp = p->x + pb;
    const float32x4_t x0 = vmulq_n_f32(vld1q_f32(xp), dt), x1 = vmulq_n_f32(vld1q_f32(xp + 4), dt);
    float32x4_t y0 = vdupq_n_f32(0.0f), y1 = y0;
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
      float *sp = S + n0 * P + pb;
      const float32x4_t blo = vld1q_f32(B + n0), bhi = vld1q_f32(B + n0 + 4);
      const float32x4_t clo = vld1q_f32(C + n0), chi = vld1q_f32(C + n0 + 4);
      float32x4_t l0, l1, h0, h1;
      SUBQ_SSD_QUAD(sp, P, a, x0, x1, blo, clo, l0, l1)
      SUBQ_SSD_QUAD(sp + 4 * P, P, a, x0, x1, bhi, chi, h0, h1)
      y0 = vaddq_f32(y0, vaddq_f32(l0, h0)), y1 = vaddq_f32(y1, vaddq_f32(l1, h1));
    }
    if (p->d_skip) {
      const float *dp = p->d_skip + pb;
      y0 = vfmaq_f32(y0, vld1q_f32(dp), vld1q_f32(xp)), y1 = vfmaq_f32(y1, vld1q_f32(dp + 4), vld1q_f32(xp + 4));
    }
    vst1q_f32(p->y + pb, y0), vst1q_f32(p->y + pb + 4, y1);
  }
}
#undef SUBQ_SSD_QUAD
#undef SUBQ_SSD_ROW
#undef SUBQ_SSD_LANES

void subq_f32_ssd_rec_ukernel_p4__neon(const subq_ssd_rec_params *p) {
  const int64_t N = p->N, P = p->P, T = p->T;
  if (T == 1 && P % 8 == 0 && N % 8 == 0) {
    subq_ssd_step_p8_neon(p);
    return;
  }
  float *xdb = p->work, *yb = xdb + SUBQ_SSD_TC * 4;
  for (int64_t p0 = 0; p0 < P; p0 += 4) {
    const int32_t np = (int32_t)SUBQ_MIN((int64_t)4, P - p0);
    for (int64_t t = 0; t < T; t++) {
      vst1q_f32(xdb + t * 4, vmulq_n_f32(subq_ld4(p->x + t * p->x_ld + p0, 0, np), p->dtv[t]));
      vst1q_f32(yb + t * 4, vdupq_n_f32(0.0f));
    }
    float *sp = p->S + p0;
    int64_t n0 = 0;
    for (; n0 + 8 <= N; n0 += 8) {
      float32x4_t s[8];
      for (int j = 0; j < 8; j++) s[j] = subq_ld4(sp + (n0 + j) * P, 0, np);
      for (int64_t t = 0; t < T; t++) {
        const float32x4_t a = vdupq_n_f32(p->decay[t]), xd = vld1q_f32(xdb + t * 4);
        const float *br = p->b + t * p->b_ld + n0, *cr = p->c + t * p->c_ld + n0;
        s[0] = vfmaq_f32(vmulq_n_f32(xd, br[0]), a, s[0]);
        float32x4_t acc = vmulq_n_f32(s[0], cr[0]);
        s[4] = vfmaq_f32(vmulq_n_f32(xd, br[4]), a, s[4]);
        float32x4_t acc2 = vmulq_n_f32(s[4], cr[4]);
        for (int j = 1; j < 4; j++) {
          s[j] = vfmaq_f32(vmulq_n_f32(xd, br[j]), a, s[j]);
          acc = vfmaq_n_f32(acc, s[j], cr[j]);
          s[j + 4] = vfmaq_f32(vmulq_n_f32(xd, br[j + 4]), a, s[j + 4]);
          acc2 = vfmaq_n_f32(acc2, s[j + 4], cr[j + 4]);
        }
        acc = vaddq_f32(acc, acc2);
        vst1q_f32(yb + t * 4, vaddq_f32(vld1q_f32(yb + t * 4), acc));
      }
      for (int j = 0; j < 8; j++) subq_st4(sp + (n0 + j) * P, 0, np, s[j]);
    }
    if (n0 < N)
      for (int64_t t = 0; t < T; t++) {
        const float32x4_t a = vdupq_n_f32(p->decay[t]), xd = vld1q_f32(xdb + t * 4);
        const float *br = p->b + t * p->b_ld, *cr = p->c + t * p->c_ld;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t n = n0; n < N; n++) {
          float32x4_t sv = subq_ld4(sp + n * P, 0, np);
          sv = vfmaq_f32(vmulq_n_f32(xd, br[n]), a, sv);
          acc = n == n0 ? vmulq_n_f32(sv, cr[n]) : vfmaq_n_f32(acc, sv, cr[n]);
          subq_st4(sp + n * P, 0, np, sv);
        }
        vst1q_f32(yb + t * 4, vaddq_f32(vld1q_f32(yb + t * 4), acc));
      }
    for (int64_t t = 0; t < T; t++) {
      float32x4_t y = vld1q_f32(yb + t * 4);
      if (p->d_skip) y = vfmaq_f32(y, subq_ld4(p->d_skip + p0, 0, np), subq_ld4(p->x + t * p->x_ld + p0, 0, np));
      subq_st4(p->y + t * p->y_ld + p0, 0, np, y);
    }
  }
}

/* Full 6 x 8 tiles keep their 12 accumulators in named variables (c<row><half>):
 * gcc 12 kept the float32x4_t[6][2] in memory and stored it on every k step (the
 * GEMM 8x12 kernels' note). The first k multiplies, the rest fuse, as on the edge
 * path, so every accumulator takes the same operations. */
#define SUBQ_SSD_EACH6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define SUBQ_SSD_MUL(r) \
  float32x4_t c##r##0 = vmulq_n_f32(b0, ai[r * a_rs]), c##r##1 = vmulq_n_f32(b1, ai[r * a_rs]);
#define SUBQ_SSD_FMA(r) \
  c##r##0 = vfmaq_n_f32(c##r##0, b0, ak[r * a_rs]), c##r##1 = vfmaq_n_f32(c##r##1, b1, ak[r * a_rs]);
#define SUBQ_SSD_SAVE(r) acc[r][0] = c##r##0, acc[r][1] = c##r##1;
void subq_f32_ssd_gemm_ukernel_6x8__neon(int64_t M, int64_t Nc, int64_t K, const float *A, int64_t a_rs,
                                         int64_t a_cs, const float *B, int64_t ldb, float *C, int64_t ldc,
                                         const float *row_scale, float beta, int64_t k_tri) {
  for (int64_t i0 = 0; i0 < M; i0 += 6) {
    const int64_t mr = SUBQ_MIN((int64_t)6, M - i0);
    const int64_t kl = K < 1 ? 0 : k_tri >= 0 ? SUBQ_MIN(K, k_tri + i0 + mr) : K;
    for (int64_t j0 = 0; j0 < Nc; j0 += 8) {
      const int32_t n0 = (int32_t)SUBQ_MIN((int64_t)4, Nc - j0), n1 = (int32_t)SUBQ_MAX((int64_t)0, SUBQ_MIN((int64_t)4, Nc - j0 - 4));
      float32x4_t acc[6][2];
      if (mr == 6 && n1 == 4 && kl > 0) { /* full tile: named accumulators */
        const float *ai = A + i0 * a_rs;
        float32x4_t b0 = vld1q_f32(B + j0), b1 = vld1q_f32(B + j0 + 4);
        SUBQ_SSD_EACH6(SUBQ_SSD_MUL)
        for (int64_t k = 1; k < kl; k++) {
          const float *ak = ai + k * a_cs;
          b0 = vld1q_f32(B + k * ldb + j0), b1 = vld1q_f32(B + k * ldb + j0 + 4);
          SUBQ_SSD_EACH6(SUBQ_SSD_FMA)
        }
        SUBQ_SSD_EACH6(SUBQ_SSD_SAVE)
      } else {
        for (int64_t r = 0; r < mr; r++) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
        for (int64_t k = 0; k < kl; k++) {
          const float32x4_t b0 = subq_ld4(B + k * ldb + j0, 0, n0), b1 = subq_ld4(B + k * ldb + j0 + 4, 0, n1);
          for (int64_t r = 0; r < mr; r++) {
            const float av = A[(i0 + r) * a_rs + k * a_cs];
            if (k == 0) {
              acc[r][0] = vmulq_n_f32(b0, av), acc[r][1] = vmulq_n_f32(b1, av);
            } else {
              acc[r][0] = vfmaq_n_f32(acc[r][0], b0, av), acc[r][1] = vfmaq_n_f32(acc[r][1], b1, av);
            }
          }
        }
      }
      for (int64_t r = 0; r < mr; r++) {
        float *cr = C + (i0 + r) * ldc + j0;
        if (row_scale) acc[r][0] = vmulq_n_f32(acc[r][0], row_scale[i0 + r]), acc[r][1] = vmulq_n_f32(acc[r][1], row_scale[i0 + r]);
        if (beta != 0.0f) {
          acc[r][0] = vfmaq_n_f32(acc[r][0], subq_ld4(cr, 0, n0), beta);
          acc[r][1] = vfmaq_n_f32(acc[r][1], subq_ld4(cr + 4, 0, n1), beta);
        }
        subq_st4(cr, 0, n0, acc[r][0]);
        if (n1 > 0) subq_st4(cr + 4, 0, n1, acc[r][1]);
      }
    }
  }
}

#undef SUBQ_SSD_EACH6
#undef SUBQ_SSD_MUL
#undef SUBQ_SSD_FMA
#undef SUBQ_SSD_SAVE

void subq_f32_gated_rmsnorm_ukernel__neon(int64_t width, int64_t gs, float eps, bool norm_before_gate,
                                          const float *y, const float *z, const float *weight, float *out) {
  const bool gate_first = z && !norm_before_gate;
  for (int64_t g0 = 0; g0 < width; g0 += gs) {
    const int64_t g1 = g0 + gs;
    float32x4_t ss = vdupq_n_f32(0.0f);
    for (int64_t i = g0; i < g1; i += 4) {
      const int32_t nl = (int32_t)SUBQ_MIN((int64_t)4, g1 - i);
      float32x4_t v = subq_ld4(y + i, 0, nl);
      if (gate_first) {
        v = vmulq_f32(v, subq_vsilu_neon(subq_ld4(z + i, 0, nl)));
        subq_st4(out + i, 0, nl, v); /* the gated value, read back by the second pass */
      }
      ss = vfmaq_f32(ss, v, v);
    }
    const float sum = ((vgetq_lane_f32(ss, 0) + vgetq_lane_f32(ss, 1)) + vgetq_lane_f32(ss, 2)) + vgetq_lane_f32(ss, 3);
    const float r = 1.0f / sqrtf(sum / (float)gs + eps);
    for (int64_t i = g0; i < g1; i += 4) {
      const int32_t nl = (int32_t)SUBQ_MIN((int64_t)4, g1 - i);
      float32x4_t v = gate_first ? subq_ld4(out + i, 0, nl) : subq_ld4(y + i, 0, nl);
      v = vmulq_n_f32(v, r);
      if (weight) v = vmulq_f32(subq_ld4(weight + i, 0, nl), v);
      if (z && norm_before_gate) v = vmulq_f32(v, subq_vsilu_neon(subq_ld4(z + i, 0, nl)));
      subq_st4(out + i, 0, nl, v);
    }
  }
}

#endif
