/*
 * test_nn.c — the nn family (subq_nn.h) on every ISA path the host runs:
 *   RMSNorm (weights f32/bf16/f16/none, fused residual, SiLU gate, groups,
 *     strides, in place) against a float64 oracle;
 *   RoPE inverse frequencies (default, linear, llama3) against the formula
 *     in float64, the attention spec's HF goldens and PyTorch float32 values
 *     (tools/gen_rope_goldens.py), cos/sin against PyTorch; the rotation
 *     (partial rotary, GQA heads, strides, fused qkv rows, cached and
 *     computed positions) against a float64 oracle;
 *   SwiGLU, SiLU, add against float64, with the same bits on every path;
 *   the embedding gather (f32/bf16/f16 tables) and conversions f32 <-> bf16 /
 *     f16 (exhaustive over f16, sweeps over f32) against independent oracles;
 *   bitwise determinism across thread counts, executors and ctx == NULL;
 *   every bad argument gives a status and a message naming it.
 * Sizes: 1, 3, 7, 63, 65, 257, 2049 (and 4096) columns.
 * Tolerances (each derived in the comment where it is used).
 */
#include <float.h>
#include <stdint.h>

#include "families/nn/subq_nn_ukernel.h"
#include "internal/subq_internal.h"
#include "ref/subq_ref_nn.h"
#include "support/subq_test.h"

static int n_cases;

static float gauss(subq_rng *r) {
  float u1 = 0.5f * (subq_rng_float(r) + 1.0f), u2 = subq_rng_float(r);
  if (u1 < 1e-7f) u1 = 1e-7f;
  return sqrtf(-2.0f * logf(u1)) * cosf(3.14159265f * u2);
}

static float *gauss_buf(int64_t n, unsigned long long seed, float scale) {
  subq_rng r = {seed};
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) p[i] = scale * gauss(&r);
  return p;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
/* Distance in ulps between two finite floats of the same sign. */
static int64_t ulp_diff(float a, float b) { return llabs((int64_t)f32_bits(a) - (int64_t)f32_bits(b)); }

static const int64_t k_cols[] = {1, 3, 7, 63, 65, 257, 2049, 4096};
#define N_COLS ((int)(sizeof k_cols / sizeof k_cols[0]))

/* ---- RMSNorm ---------------------------------------------------------------------------- */

typedef struct rms_case {
  int64_t rows, cols, group, pad;
  subq_dtype wdt; /* 0: no weight */
  bool res, gate, sum, inplace;
} rms_case;

static void rms_vs_ref(subq_isa isa, const rms_case *k, unsigned long long seed) {
  subq_context *ctx = subq_test_context(isa, 2);
  const int64_t R = k->rows, C = k->cols, ld = C + k->pad, n = R * ld;
  const float xs = seed % 3 == 0 ? 2e-3f : 2.0f;
  float *x = gauss_buf(n, seed, xs), *res = gauss_buf(n, seed + 1, xs / 2), *gate = gauss_buf(n, seed + 2, 3.0f);
  float *wf = gauss_buf(C, seed + 3, 1.0f);
  uint16_t *w16 = malloc((size_t)C * sizeof(uint16_t));
  double *wd = malloc((size_t)C * sizeof(double));
  for (int64_t i = 0; i < C; i++) {
    if (k->wdt == SUBQ_DTYPE_BF16) w16[i] = subq_f32_to_bf16_1(wf[i]), wd[i] = subq_bf16_to_f32_1(w16[i]);
    else if (k->wdt == SUBQ_DTYPE_F16) w16[i] = subq_f32_to_f16_1(wf[i]), wd[i] = subq_f16_to_f32_1(w16[i]);
    else wd[i] = wf[i];
  }
  float *x0 = malloc((size_t)n * sizeof(float)), *res0 = malloc((size_t)n * sizeof(float));
  float *gate0 = malloc((size_t)n * sizeof(float));
  memcpy(x0, x, (size_t)n * sizeof(float));
  memcpy(res0, res, (size_t)n * sizeof(float));
  memcpy(gate0, gate, (size_t)n * sizeof(float));
  float *y = malloc((size_t)n * sizeof(float)), *sum = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) y[i] = sum[i] = -7.0f; /* padding must survive */
  subq_rmsnorm_args a;
  subq_rmsnorm_args_default(&a, sizeof a);
  a.rows = R, a.cols = C, a.group_size = k->group, a.eps = 1e-5f;
  a.weight_dtype = k->wdt ? k->wdt : SUBQ_DTYPE_F32;
  a.weight = k->wdt == SUBQ_DTYPE_F32 ? (const void *)wf : k->wdt ? (const void *)w16 : NULL;
  a.x = x, a.x_ld = ld, a.residual = k->res ? res : NULL, a.residual_ld = ld;
  a.gate = k->gate ? gate : NULL, a.gate_ld = ld;
  a.sum_out = k->sum ? (k->inplace ? x : sum) : NULL, a.sum_ld = ld;
  /* in place: sum_out over x; else y over the gate (gated cases) or over x */
  a.y = k->inplace && !k->sum ? (k->gate ? gate : x) : y, a.y_ld = ld;
  CHECK_OK(subq_rmsnorm(ctx, &a));
  const float *yo = a.y, *so = a.sum_out;
  double *ref = malloc((size_t)C * sizeof(double));
  const int64_t grp = k->group ? k->group : C;
  bool ok = true;
  /* Error budget: the f32 sum of squares (8-way scalar, 16-way NEON, 32-way
   * AVX2 partial sums; worst case (C/8 + 3) * 2^-24 relative, but rounding
   * errors of random sign grow like sqrt(C/8): ~1e-7 at C = 4096), the sqrt,
   * division and two products (4 * 2^-24), the SiLU gate (< 4 ulp), the bf16 /
   * f16 weights are exact. Measured max 3.2e-7 relative over these cases;
   * bound 1.5e-6 relative + 1e-7 |w| absolute. Small-x cases (x ~ 1e-3, so
   * mean(x^2) ~ eps) check that eps enters as specified. */
  const double rel = 1.5e-6;
  for (int64_t r = 0; r < R && ok; r++) {
    subq_ref_rmsnorm_row(C, grp, (double)1e-5f, x0 + r * ld, k->res ? res0 + r * ld : NULL, k->gate ? gate0 + r * ld : NULL,
                         k->wdt ? wd : NULL, ref);
    for (int64_t c = 0; c < C && ok; c++) {
      const double g = yo[r * ld + c], e = ref[c];
      if (!(fabs(g - e) <= rel * fabs(e) + 1e-7 * (k->wdt ? fabs(wd[c]) : 1.0))) {
        fprintf(stderr, "  rms y[%lld][%lld] got %.9g want %.9g\n", (long long)r, (long long)c, g, e);
        ok = false;
      }
      if (so) {
        const float want = k->res ? x0[r * ld + c] + res0[r * ld + c] : x0[r * ld + c];
        if (f32_bits(so[r * ld + c]) != f32_bits(want)) {
          fprintf(stderr, "  rms sum[%lld][%lld] got %.9g want %.9g\n", (long long)r, (long long)c, so[r * ld + c],
                  want);
          ok = false;
        }
      }
    }
    for (int64_t c = C; c < ld && !k->inplace; c++)
      if (y[r * ld + c] != -7.0f || sum[r * ld + c] != -7.0f) ok = false; /* padding untouched */
  }
  CHECK_MSG(ok, "rmsnorm isa %s R%lld C%lld group %lld pad %lld wdt %d res %d gate %d sum %d inplace %d",
            subq_isa_name(isa), (long long)R, (long long)C, (long long)k->group, (long long)k->pad, (int)k->wdt,
            k->res, k->gate, k->sum, k->inplace);
  n_cases++;
  free(ref), free(x), free(res), free(gate), free(gate0), free(wf), free(w16), free(wd), free(x0), free(res0), free(y), free(sum);
  subq_context_destroy(ctx);
}

static void rms_all(subq_isa isa) {
  unsigned long long seed = 100;
  for (int ci = 0; ci < N_COLS; ci++) {
    const int64_t C = k_cols[ci];
    const rms_case cs[] = {
        {3, C, 0, 0, SUBQ_DTYPE_F32, false, false, false, false},
        {7, C, 0, 5, SUBQ_DTYPE_BF16, true, false, true, false},
        {1, C, 0, 0, SUBQ_DTYPE_F16, false, false, false, true},
        {2, C, 0, 3, 0, true, false, true, true},
        {2, C, 0, 1, SUBQ_DTYPE_F32, false, true, false, false},
    };
    for (size_t j = 0; j < sizeof cs / sizeof cs[0]; j++) rms_vs_ref(isa, &cs[j], seed++);
  }
  /* Mamba-2 grouped gated norm: E = 3072, G = 8 (group 384) and G = 1; a
   * group that is not a multiple of the vector width. */
  const rms_case g[] = {
      {2, 3072, 384, 0, SUBQ_DTYPE_F32, false, true, false, false},
      {1, 3072, 0, 0, SUBQ_DTYPE_BF16, false, true, false, false},
      {3, 63 * 3, 63, 2, SUBQ_DTYPE_F32, true, true, true, false},
      {2, 65 * 4, 65, 0, SUBQ_DTYPE_F16, false, true, false, true},
  };
  for (size_t j = 0; j < sizeof g / sizeof g[0]; j++) rms_vs_ref(isa, &g[j], seed++);
}

/* ---- RoPE frequencies and cos/sin vs goldens ------------------------------------------------ */

/* Printed by tools/gen_rope_goldens.py (PyTorch 2.15.0, float32, a
 * transcription of transformers' _compute_llama3_parameters and
 * LlamaRotaryEmbedding.forward), as f32 bit patterns. */
static const uint32_t torch_llama3_d128[64] = {
    0x3f800000, 0x3f508ac1, 0x3f29e1c6, 0x3f0a6384, 0x3ee177bc, 0x3eb7ab7d, 0x3e959ee3, 0x3e73c461, 0x3e4693b0,
    0x3e21c3a0, 0x3e03c6a0, 0x3dd6b19c, 0x3daee4ad, 0x3d8e7898, 0x3d681e67, 0x3d3d1684, 0x3d1a08c8, 0x3cfaf53f,
    0x3ccc6f49, 0x3ca68939, 0x3c87a9c3, 0x3c5d06ec, 0x3c340d6d, 0x3c12ac7f, 0x3beef74f, 0x3bc2aa76, 0x3b9e9402,
    0x3b812e35, 0x3b527720, 0x3b0dfd06, 0x3ab3d11d, 0x3a60979e, 0x3a0995d2, 0x39a3f108, 0x393b2dd2, 0x38c86886,
    0x38a3418d, 0x3884fdbf, 0x3858ac81, 0x38308199, 0x380fc8f8, 0x37ea426f, 0x37bed4f4, 0x379b7475, 0x377d45c3,
    0x374e51f5, 0x3728126b, 0x3708ea0f, 0x36df10c4, 0x36b5b687, 0x369406cb, 0x36712b80, 0x36447610, 0x36200a69,
    0x36025f34, 0x35d46808, 0x35ad07a7, 0x358cf400, 0x3565a54d, 0x353b12c7, 0x351864a7, 0x34f848c2, 0x34ca41b0,
    0x34a4c2ff};
static const uint32_t torch_llama3_d64_f32[32] = {
    0x3f800000, 0x3f29e1c6, 0x3ee177bc, 0x3e959ee3, 0x3e4693b0, 0x3e03c6a0, 0x3daee4ad, 0x3d681e67,
    0x3d1a08c8, 0x3ccc6f49, 0x3c87a9c3, 0x3c340d6d, 0x3beef74f, 0x3b9e9402, 0x3b527720, 0x3aa9279b,
    0x39e13620, 0x38cb98f7, 0x37a3418d, 0x3758ac81, 0x370fc8f8, 0x36bed4f4, 0x367d45c3, 0x3628126b,
    0x35df10c4, 0x359406cb, 0x35447610, 0x35025f34, 0x34ad07a7, 0x3465a54d, 0x341864a7, 0x33ca41b0};
static const uint32_t torch_default_d128[64] = {
    0x3f800000, 0x3f5dafd7, 0x3f3ff911, 0x3f263de0, 0x3f0ff59a, 0x3ef953cf, 0x3ed7e89b, 0x3ebaf81b, 0x3ea1e89b,
    0x3e8c3504, 0x3e72d423, 0x3e5247ed, 0x3e361887, 0x3e1db040, 0x3e088d77, 0x3dec7fd6, 0x3dcccccd, 0x3db15978,
    0x3d99940d, 0x3d84fe4d, 0x3d6655c2, 0x3d47763f, 0x3d2cba15, 0x3d159348, 0x3d0186e3, 0x3ce054d2, 0x3cc2434f,
    0x3ca8398b, 0x3c91ad39, 0x3c7c4d33, 0x3c5a7bf2, 0x3c3d3311, 0x3c23d70a, 0x3c0de12d, 0x3bf5b9b0, 0x3bd4ca15,
    0x3bb8449c, 0x3b9f91cc, 0x3b8a2e77, 0x3b6f520e, 0x3b4f3e38, 0x3b33770f, 0x3b1b690d, 0x3b06946f, 0x3ae91528,
    0x3ac9d75c, 0x3aaec98e, 0x3a975c0e, 0x3a83126f, 0x3a6301e2, 0x3a44948c, 0x3a2a3b44, 0x3a136a16, 0x39ff4fac,
    0x39dd1725, 0x39bf74d7, 0x39a5cb60, 0x398f9272, 0x3978a815, 0x395753e4, 0x393a7753, 0x39217916, 0x390bd472,
    0x38f22ce2};
static const uint32_t torch_linear_d96_f4[48] = {
    0x3e800000, 0x3e534db0, 0x3e2e6928, 0x3e0ff59a, 0x3deda63c, 0x3dc42822, 0x3da1e89b, 0x3d85a3da, 0x3d5c9d35,
    0x3d361887, 0x3d164d7a, 0x3cf81eef, 0x3ccccccd, 0x3ca90af3, 0x3c8b8754, 0x3c6655c2, 0x3c3e1e95, 0x3c1cece9,
    0x3c0186e3, 0x3bd5d2f6, 0x3bb07dc7, 0x3b91ad39, 0x3b707bf6, 0x3b467f28, 0x3b23d70a, 0x3b073bf8, 0x3adf3ee9,
    0x3ab8449c, 0x3a98187a, 0x3a7b14a3, 0x3a4f3e38, 0x3a2b0f2e, 0x3a0d3169, 0x39e91528, 0x39c0632e, 0x399ecc1d,
    0x3983126f, 0x39585ff2, 0x393298ba, 0x39136a16, 0x38f35a5c, 0x38c8dd4f, 0x38a5cb60, 0x3888d8f2, 0x3861e8a7,
    0x383a7753, 0x3819e8f2, 0x37fe1363};
static const uint32_t torch_cos_1000[64] = {
    0x3f0ff813, 0xbf1603b3, 0xbf3f94a5, 0x3f796de4, 0x3f5b16df, 0x3f54e943, 0xbf7f8b24, 0x3f429a67, 0x3f27cd3b,
    0x3f207f30, 0xbf7e38e1, 0xbecd3798, 0xbf56f556, 0x3f6669bc, 0x3f7e2134, 0xbf12dadd, 0x3f7ee44b, 0x3f35bda0,
    0x3f7bfc3e, 0x3dba9d48, 0xbf287a93, 0x3f1a439a, 0xbbc61a20, 0xbf63f2df, 0x3f0844e5, 0x3f712289, 0x3e01bb43,
    0xbf323b3c, 0xbf7f602c, 0xbf0fa784, 0x3e4a5605, 0x3f27a742, 0x3f5d8aed, 0x3f73960e, 0x3f7bee9e, 0x3f7ed4fc,
    0x3f7f3986, 0x3f7f7c45, 0x3f7fa893, 0x3f7fc5fb, 0x3f7fd97f, 0x3f7fe672, 0x3f7fef0b, 0x3f7ff4bf, 0x3f7ff888,
    0x3f7ffb0b, 0x3f7ffcb6, 0x3f7ffdd1, 0x3f7ffe8d, 0x3f7fff0a, 0x3f7fff5d, 0x3f7fff94, 0x3f7fffb8, 0x3f7fffd0,
    0x3f7fffe0, 0x3f7fffeb, 0x3f7ffff2, 0x3f7ffff7, 0x3f7ffffa, 0x3f7ffffc, 0x3f7ffffd, 0x3f7ffffe, 0x3f7fffff,
    0x3f7fffff};
static const uint32_t torch_sin_1000[64] = {
    0x3f53ae61, 0xbf4f70d5, 0xbf29cd6b, 0x3e668392, 0x3f046c4c, 0x3f0e24c9, 0xbd747f8c, 0xbf265471, 0xbf4155e0,
    0x3f4770ee, 0x3df0f150, 0xbf6a8967, 0xbf0b0749, 0x3edf1f31, 0x3df71b91, 0x3f51b07a, 0xbdbe5b82, 0xbf344b89,
    0xbe34a38e, 0x3f7eef5d, 0xbf40bee4, 0x3f4c4cde, 0xbf7ffecd, 0x3ee906e1, 0x3f58b7d4, 0xbeabee04, 0xbf7defed,
    0xbf37c3d7, 0xbd8ef185, 0x3f53e514, 0x3f7af3e4, 0x3f4176ce, 0x3f0046c3, 0x3e9d80bc, 0x3e35d29f, 0x3dc369da,
    0x3d9f44ce, 0x3d81c985, 0x3d53805f, 0x3d2c5189, 0x3d0c6338, 0x3ce4bd43, 0x3cba57d9, 0x3c97cd81, 0x3c7753b8,
    0x3c497abc, 0x3c242148, 0x3c05b432, 0x3bd9d5f6, 0x3bb17407, 0x3b908e83, 0x3b6b845a, 0x3b3fdb3a, 0x3b1c4a21,
    0x3afea1e8, 0x3acf6d92, 0x3aa8f976, 0x3a89a646, 0x3a60436b, 0x3a36b055, 0x3a14d24a, 0x39f2770c, 0x39c58426,
    0x39a0e66d};
static const uint32_t torch_cos_131071[64] = {
    0xbf51675e, 0xbf51361b, 0x3f3b8e39, 0x3f0cc7e7, 0xbebed56b, 0xbeed8bb5, 0x3f74dba8, 0x3f70bc74, 0xbf0f7ef4,
    0xbf55baa6, 0xbf7fe777, 0x3f04242a, 0xbf6ab7b1, 0x3ec45931, 0x3f064862, 0x3f7f87a3, 0xbf7ec04d, 0x3f712d97,
    0xbf5c8f00, 0x3f626843, 0xbf783ab7, 0xbf5eeecf, 0x3c3f1245, 0xbb55ee16, 0x3f2fff76, 0x3f65adcd, 0x3f75059c,
    0x3d975c49, 0x3f7fbacf, 0x3eaa87fd, 0xbf3c3c4e, 0x3f31fa4d, 0x3f72c412, 0xbf7d5643, 0xbe27f15f, 0x3f7fc911,
    0xbf363cba, 0xbee25701, 0x3f6223a4, 0x3f383f1f, 0xbe5e9bcf, 0xbf5e5432, 0xbf7cbc4f, 0xbf41b38e, 0xbecb1790,
    0xbd282a51, 0x3e828240, 0x3ef5fcd4, 0x3f24d00c, 0x3f422c14, 0x3f56621b, 0x3f641f2d, 0x3f6d625b, 0x3f739868,
    0x3f77bee2, 0x3f7a832e, 0x3f7c5aa2, 0x3f7d941f, 0x3f7e646e, 0x3f7eeec9, 0x3f7f4aa7, 0x3f7f87a3, 0x3f7fb01f,
    0x3f7fcafd};
static const uint32_t torch_sin_131071[64] = {
    0xbf13430a, 0x3f1388fd, 0x3f2e3cf4, 0xbf55d093, 0x3f6d8dad, 0x3f62c797, 0x3e9567f8, 0xbeae268f, 0x3f54008f,
    0x3f0ce92f, 0x3ce021fe, 0xbf5b4268, 0x3ecc637d, 0x3f6c6d5e, 0x3f59f457, 0x3d782124, 0x3dca0b31, 0x3eabaff1,
    0xbf01f60f, 0x3eeef65a, 0x3e7a61b5, 0x3efbb09a, 0x3f7ffb8b, 0xbf7fffa7, 0x3f39e7bb, 0xbee2210f, 0xbe9453da,
    0x3f7f4cc5, 0xbd3c2b42, 0x3f716210, 0xbf2d80d4, 0xbf3802bb, 0xbea27d5a, 0xbe13510b, 0xbf7c8897, 0xbd27aca3,
    0xbf33cb10, 0x3f65a084, 0x3eeff9b5, 0xbf31bbc7, 0xbf79e0ad, 0xbefdd15b, 0x3e230211, 0x3f27610e, 0x3f6affad,
    0x3f7fc8be, 0x3f778b2d, 0x3f6084b8, 0x3f43e3c4, 0x3f26d52f, 0x3f0be9e5, 0x3ee85935, 0x3ebfac95, 0x3e9d7231,
    0x3e80f776, 0x3e52e288, 0x3e2c34d4, 0x3e0c81e3, 0x3de529bc, 0x3dbacfd7, 0x3d98405d, 0x3d78215c, 0x3d4a2c41,
    0x3d24b74d};

/* YaRN inverse frequencies from transformers 5.23's own _compute_yarn_parameters on a
 * LlamaConfig (tools/gen_rope_goldens.py), f32 bit patterns. */
/* HF yarn D128 theta1e4 f4 L2048 (beta 32/1, truncate); inv_freq[64]; attention_factor 1.138629436111989 */
static const uint32_t hf_yarn_d128_f4[64] = {
    0x3f800000, 0x3f5dafd7, 0x3f3ff911, 0x3f263de0, 0x3f0ff59a, 0x3ef953cf, 0x3ed7e89b, 0x3ebaf81b, 0x3ea1e89b,
    0x3e8c3504, 0x3e72d423, 0x3e5247ed, 0x3e361887, 0x3e1db040, 0x3e088d77, 0x3dec7fd6, 0x3dcccccd, 0x3dac076d,
    0x3d905d16, 0x3d720c44, 0x3d4ab1de, 0x3d298ae9, 0x3d0da2d4, 0x3cec5439, 0x3cc4e182, 0x3ca3c30a, 0x3c87fbeb,
    0x3c616bd4, 0x3c3a7753, 0x3c19e76a, 0x3bfd710f, 0x3bd01e92, 0x3baa64c3, 0x3b8b0ac1, 0x3b62113a, 0x3b36ffb6,
    0x3b136a16, 0x3aec29b4, 0x3abbed46, 0x3a9460f4, 0x3a681cbb, 0x3a33770f, 0x3a1b690d, 0x3a06946f, 0x39e91528,
    0x39c9d75c, 0x39aec98e, 0x39975c0e, 0x3983126f, 0x396301e2, 0x3944948c, 0x392a3b44, 0x39136a16, 0x38ff4fac,
    0x38dd1725, 0x38bf74d7, 0x38a5cb60, 0x388f9272, 0x3878a815, 0x385753e4, 0x383a7753, 0x38217916, 0x380bd472,
    0x37f22ce2};
/* HF yarn D64 theta1e4 f16 L4096 beta 16/2 no truncate; inv_freq[32]; attention_factor 1.2772588722239782 */
static const uint32_t hf_yarn_d64_f16_b16_2_notrunc[32] = {
    0x3f800000, 0x3f3ff911, 0x3f0ff59a, 0x3ed7e89b, 0x3ea1e89b, 0x3e72d423, 0x3e361887, 0x3e088d77, 0x3dcccccd,
    0x3d99940d, 0x3d6655c2, 0x3d2cba15, 0x3d0186e3, 0x3cbf4004, 0x3c790721, 0x3c1e64b7, 0x3bc30932, 0x3b64bd99,
    0x3af76b00, 0x3a63a0c6, 0x397c823e, 0x391b690d, 0x38e91528, 0x38aec98e, 0x3883126f, 0x3844948c, 0x38136a16,
    0x37dd1725, 0x37a5cb60, 0x3778a815, 0x373a7753, 0x370bd472};
/* HF yarn D96 theta1e6 f40 L4096 mscale 1 mscale_all_dim 0.707; inv_freq[48]; attention_factor 1.0857263992561355 */
static const uint32_t hf_yarn_d96_f40_mscale[48] = {
    0x3f800000, 0x3f3ff911, 0x3f0ff59a, 0x3ed7e89b, 0x3ea1e89b, 0x3e72d425, 0x3e361887, 0x3e088d78, 0x3dcccccc,
    0x3d99940d, 0x3d6655c4, 0x3d1fc5b9, 0x3cdc321b, 0x3c968dc3, 0x3c4bf285, 0x3c088d77, 0x3bb43958, 0x3b697067,
    0x3b136a16, 0x3ab3a2cc, 0x3a4f3e38, 0x39d99312, 0x393a7751, 0x380bd473, 0x37d1b717, 0x379d43a6, 0x376bdced,
    0x3730df51, 0x3704a2b5, 0x36c6ecd9, 0x36952c42, 0x365fba54, 0x3627c5a9, 0x35fb9f6c, 0x35bcb0c4, 0x358d7f72,
    0x35543784, 0x351f23e6, 0x34eead32, 0x34b2fb72, 0x348637c0, 0x34494c52, 0x3416f3cd, 0x33e2658b, 0x33a9c600,
    0x337e9fd3, 0x333ef0fc, 0x330f2f8c};
/* HF yarn D32 theta1e4 factor None (256 / 64) L64; inv_freq[16]; attention_factor 1.138629436111989 */
static const uint32_t hf_yarn_d32_factor_none[16] = {
    0x3f800000, 0x3ef4bb1f, 0x3e62ac0c, 0x3dc84e2e, 0x3d23d70a, 0x3c6655c2, 0x3c0186e3, 0x3b91ad39, 0x3b23d70a,
    0x3ab8449c, 0x3a4f3e38, 0x39e91528, 0x3983126f, 0x39136a16, 0x38a5cb60, 0x383a7753};

static void check_inv_freq(const char *what, const subq_rope_params *p, const uint32_t *torch_bits, int type) {
  const int64_t half = p->rot_dim / 2;
  float *inv = malloc((size_t)half * sizeof(float));
  double *ref = malloc((size_t)half * sizeof(double));
  CHECK_OK(subq_rope_inv_freq(p, inv));
  if (type == 3)
    subq_ref_rope_yarn_inv_freq(p->rot_dim, p->theta, p->factor, p->original_max_position_embeddings, p->beta_fast,
                                p->beta_slow, p->yarn_truncate, ref);
  else
    subq_ref_rope_inv_freq(p->rot_dim, p->theta, type, p->factor, p->low_freq_factor, p->high_freq_factor,
                           p->original_max_position_embeddings, ref);
  /* f32 emulation of HF vs the formula in double: a handful of f32
   * roundings (power, reciprocal, wavelength, smoothing), each 2^-24, and the
   * f32 exponent 2i/D (relative error 2^-24 times ln(theta) * 2i/D <= 13).
   * (Plain loops, one reduction each: aarch64 gcc 12 ICEs vectorising the
   * fused form.) */
  double worst_rel = 0.0;
  for (int64_t i = 0; i < half; i++) {
    const double e = fabs(inv[i] - ref[i]) / ref[i];
    if (e > worst_rel) worst_rel = e;
  }
  int64_t worst = 0, exact = 0;
  for (int64_t i = 0; torch_bits && i < half; i++) {
    const int64_t d = ulp_diff(inv[i], bits_f32(torch_bits[i]));
    if (d > worst) worst = d;
    if (d == 0) exact++;
  }
  /* YaRN adds the f32 ramp ((i - low) / span, rounded low and span: ~3 roundings
   * of a value <= 1) whose error the blend scales by (extrap - interp) / inv
   * <= factor - 1. */
  const double tol = type == 3 ? 1.5e-6 + 3.0 * 0x1p-24 * (p->factor - 1.0) : 1.5e-6;
  CHECK_MSG(worst_rel < tol, "%s: inv_freq vs float64 formula: max relative %.3g", what, worst_rel);
  if (torch_bits) /* torch's powf is a <= 1 ulp SLEEF/libm pow; ours is correctly rounded */
    CHECK_MSG(worst <= 1 && exact >= half * 3 / 4, "%s: inv_freq vs PyTorch: max %lld ulp, %lld of %lld exact", what,
              (long long)worst, (long long)exact, (long long)half);
  n_cases++;
  free(inv), free(ref);
}

static void rope_freqs(void) {
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 128, p.theta = 500000.0, p.type = SUBQ_ROPE_LLAMA3, p.factor = 8.0;
  check_inv_freq("llama3 D128 f8", &p, torch_llama3_d128, 2);
  /* attention spec §8.4 goldens (HF fp32): indices 0..28 kept, 29..34
   * smoothed, 35..63 divided. */
  float inv[64];
  CHECK_OK(subq_rope_inv_freq(&p, inv));
  CHECK(fabs(inv[29] - 2.166570630e-03) <= 2.166570630e-03 * 1e-9 + 5e-13);
  CHECK(fabs(inv[34] - 1.785077911e-04) <= 1.785077911e-04 * 1e-9 + 5e-14);
  CHECK(fabs(inv[63] - 3.068925878e-07) <= 3.068925878e-07 * 1e-9 + 5e-17);
  {
    subq_rope_params d = p;
    d.type = SUBQ_ROPE_DEFAULT;
    float raw[64];
    CHECK_OK(subq_rope_inv_freq(&d, raw));
    bool bands = true;
    for (int i = 0; i < 64; i++) {
      if (i <= 28) bands &= f32_bits(inv[i]) == f32_bits(raw[i]);
      if (i >= 35) bands &= f32_bits(inv[i]) == f32_bits(raw[i] / 8.0f);
      if (i >= 29 && i <= 34) bands &= inv[i] < raw[i] && inv[i] > raw[i] / 8.0f;
    }
    CHECK_MSG(bands, "llama3 D128: bands 0..28 kept, 29..34 smoothed, 35..63 divided");
  }
  p.rot_dim = 64, p.factor = 32.0;
  check_inv_freq("llama3 D64 f32", &p, torch_llama3_d64_f32, 2);
  CHECK_OK(subq_rope_inv_freq(&p, inv));
  CHECK(fabs(inv[15] - 1.290548011e-03) <= 1.290548011e-03 * 1e-9 + 5e-13);
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 128;
  check_inv_freq("default D128", &p, torch_default_d128, 0);
  p.rot_dim = 96, p.type = SUBQ_ROPE_LINEAR, p.factor = 4.0;
  check_inv_freq("linear D96 f4", &p, torch_linear_d96_f4, 1);
  p.rot_dim = 2, p.type = SUBQ_ROPE_DEFAULT;
  check_inv_freq("default D2", &p, NULL, 0);
  p.rot_dim = 128, p.theta = 1e6, p.type = SUBQ_ROPE_LLAMA3, p.factor = 16.0, p.low_freq_factor = 2.0,
  p.high_freq_factor = 8.0, p.original_max_position_embeddings = 4096.0;
  check_inv_freq("llama3 odd params", &p, NULL, 2);

  /* cos/sin at positions 1000 and 131071 vs PyTorch float32 (cosf/sinf of the
   * same f32 angle, <= 1 ulp each, so |diff| <= 2 ulp(1) = 1.2e-7), with
   * and without the cache. Spec §8.4: pos 1000, cos[0..2] = 0.5623791,
   * -0.5859939, -0.7483619; sin[0..2] = 0.8268796, -0.8103154, -0.6632907. */
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 128, p.theta = 500000.0, p.type = SUBQ_ROPE_LLAMA3, p.factor = 8.0;
  for (int cached = 0; cached < 2; cached++) {
    p.cached_positions = cached ? 131072 : 0;
    subq_rope_table *t = NULL;
    subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
    CHECK_OK(subq_rope_table_create(ctx, &p, &t));
    subq_context_destroy(ctx);
    CHECK(subq_rope_table_rot_dim(t) == 128);
    float c[64], s[64];
    CHECK_OK(subq_rope_table_cos_sin(t, 1000, c, s));
    const double sc[3] = {0.5623791, -0.5859939, -0.7483619}, ss[3] = {0.8268796, -0.8103154, -0.6632907};
    for (int i = 0; i < 3; i++) CHECK(fabs(c[i] - sc[i]) < 6e-8 && fabs(s[i] - ss[i]) < 6e-8);
    const int64_t pos[2] = {1000, 131071};
    const uint32_t *gc[2] = {torch_cos_1000, torch_cos_131071}, *gs[2] = {torch_sin_1000, torch_sin_131071};
    for (int k = 0; k < 2; k++) {
      CHECK_OK(subq_rope_table_cos_sin(t, pos[k], c, s));
      double worst = 0.0;
      for (int i = 0; i < 64; i++) {
        const double dc = fabs(c[i] - bits_f32(gc[k][i])), ds = fabs(s[i] - bits_f32(gs[k][i]));
        if (dc > worst) worst = dc;
        if (ds > worst) worst = ds;
      }
      CHECK_MSG(worst <= 1.2e-7, "cos/sin at %lld vs PyTorch: max diff %.3g (cached %d)", (long long)pos[k], worst,
                cached);
    }
    subq_rope_table_destroy(t);
    n_cases++;
  }
}

/* YaRN against transformers' own _compute_yarn_parameters, the float64 formula
 * and the band structure; HF's inferred attention_factor. */
/* dynamic NTK and LongRoPE inverse frequencies from transformers 5.23's own
 * _compute_dynamic_ntk_parameters (tensor seq_len S, as dynamic_rope_update passes it) and
 * _compute_longrope_parameters (tools/gen_rope_goldens.py), f32 bit patterns. */
static const uint32_t hf_dynamic_d16_f4_l32_s48[8] = {
    0x3f800000, 0x3e8a6441, 0x3d95a07b, 0x3ca1c635, 0x3baee867, 0x3abd1b8d, 0x39cc75d2, 0x38dd0f2b};
static const uint32_t hf_dynamic_d64_t5e5_f2_l4096_s5000[32] = {
    0x3f800000, 0x3f27e3dc, 0x3edc3627, 0x3e906b54, 0x3e3d6d1e, 0x3df87593, 0x3da2f1d7, 0x3d55b997,
    0x3d0c2a4d, 0x3cb7d8b4, 0x3c712400, 0x3c1e251f, 0x3bcf6df3, 0x3b88095a, 0x3b326e5d, 0x3aea09a0,
    0x3a997c97, 0x3a4951c6, 0x3a040789, 0x39ad2cdd, 0x396324cf, 0x3914f72f, 0x38c363ad, 0x388023ef,
    0x382812fe, 0x37dc73fa, 0x379093df, 0x373da24b, 0x36f8bb53, 0x36a31f96, 0x3655f598, 0x360c51a6};
static const uint32_t hf_longrope_d64_short[32] = {
    0x3f800000, 0x3f3e127b, 0x3f0d22fc, 0x3ed19eb9, 0x3e9bae6e, 0x3e6743f2, 0x3e2bc9dd, 0x3dff3d0d,
    0x3dbda12f, 0x3d8ce5c6, 0x3d51653c, 0x3d1b9c1c, 0x3ce74c4b, 0x3cabea02, 0x3c7f92b5, 0x3c3dfc79,
    0x3c0d3dcb, 0x3bd2058b, 0x3b9c28ca, 0x3b683ce2, 0x3b2cb3d8, 0x3b007035, 0x3abf0d25, 0x3a8e1a7f,
    0x3a53680d, 0x3a1d43a3, 0x39e9fdba, 0x39ae1641, 0x398186e3, 0x3940c1cd, 0x390f6f7c, 0x38d57b10};
static const uint32_t hf_longrope_d64_long[32] = {
    0x3f800000, 0x3efff6c0, 0x3e8ff59a, 0x3e2cba15, 0x3dd7e0ce, 0x3d8ac25d, 0x3d361887, 0x3cf2c29a,
    0x3ca3d70a, 0x3c5f62fc, 0x3c198e82, 0x3bd49641, 0x3b9407de, 0x3b4f36bc, 0x3b11ad39, 0x3acda1d5,
    0x3a91a2b4, 0x3a4eed36, 0x3a136a16, 0x39d28ff3, 0x3996b8e2, 0x3958391d, 0x391b6370, 0x38dfba4f,
    0x38a151c3, 0x3868fbe9, 0x3828793e, 0x37f3f63b, 0x37b0d8ee, 0x378056c1, 0x373a7753, 0x370797b4};

/* inv_freq of p vs torch's bits: its pow is <= 1 ulp, ours correctly rounded, and the reciprocal
 * can turn 1 ulp of the power into 2 ulp (seen at D64 S5000 index 27), so <= 2 ulp with most
 * entries exact; and within 1e-6 relative of the float64 formula (the f32 base and power). */
static void check_scaled_inv_freq(const char *what, const subq_rope_params *p, const uint32_t *torch_bits,
                                  const double *want) {
  float inv[32];
  const int half = (int)(p->rot_dim / 2);
  CHECK_OK(subq_rope_inv_freq(p, inv));
  long long worst = 0, exact = 0;
  double worst_rel = 0.0;
  for (int i = 0; i < half; i++) {
    long long du = (long long)f32_bits(inv[i]) - (long long)torch_bits[i];
    if (du < 0) du = -du;
    if (du > worst) worst = du;
    exact += du == 0;
    const double rel = fabs((double)inv[i] - want[i]) / want[i];
    if (rel > worst_rel) worst_rel = rel;
  }
  CHECK_MSG(worst <= 2 && exact >= half * 3 / 4, "%s: inv_freq vs transformers: max %lld ulp, %lld of %d exact", what,
            worst, exact, half);
  CHECK_MSG(worst_rel < 1e-6, "%s: inv_freq vs float64 formula: max relative %.3g", what, worst_rel);
  n_cases++;
}

static void rope_dynamic_longrope(void) {
  subq_rope_params p;
  double want[32];
  const struct { int64_t d; double theta, f, L; int64_t S; const uint32_t *bits; } dyn[] = {
      {16, 10000.0, 4.0, 32.0, 48, hf_dynamic_d16_f4_l32_s48},
      {64, 500000.0, 2.0, 4096.0, 5000, hf_dynamic_d64_t5e5_f2_l4096_s5000}};
  for (int k = 0; k < 2; k++) {
    subq_rope_params_default(&p, sizeof p);
    p.rot_dim = dyn[k].d, p.theta = dyn[k].theta, p.type = SUBQ_ROPE_DYNAMIC, p.factor = dyn[k].f;
    p.original_max_position_embeddings = dyn[k].L, p.dynamic_seq_len = dyn[k].S;
    const double d = (double)dyn[k].d;
    const double base = dyn[k].theta * pow(dyn[k].f * (double)dyn[k].S / dyn[k].L - (dyn[k].f - 1.0), d / (d - 2.0));
    for (int i = 0; i < d / 2; i++) want[i] = 1.0 / pow(base, 2.0 * i / d);
    check_scaled_inv_freq(k ? "dynamic D64 S5000" : "dynamic D16 S48", &p, dyn[k].bits, want);
    /* S at or below L: the default schedule, bit for bit */
    float a[32], b[32];
    subq_rope_params q = p;
    q.dynamic_seq_len = (int64_t)dyn[k].L;
    CHECK_OK(subq_rope_inv_freq(&q, a));
    q.type = SUBQ_ROPE_DEFAULT;
    CHECK_OK(subq_rope_inv_freq(&q, b));
    CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)(d / 2)) == 0, "dynamic with S <= L is the default schedule");
  }
  float fs[32], fl[32];
  for (int i = 0; i < 32; i++) fs[i] = (float)(1.0 + 0.01 * i), fl[i] = (float)(1.0 + 0.5 * i);
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 64, p.type = SUBQ_ROPE_LONGROPE, p.attention_scaling = 1.1902380714238083;
  for (int k = 0; k < 2; k++) {
    const float *f = k ? fl : fs;
    p.longrope_factors = f;
    for (int i = 0; i < 32; i++) want[i] = 1.0 / ((double)f[i] * pow(10000.0, 2.0 * i / 64.0));
    check_scaled_inv_freq(k ? "longrope long" : "longrope short", &p, k ? hf_longrope_d64_long : hf_longrope_d64_short,
                          want);
  }
  /* the table does not keep the caller's factors; cos/sin carry attention_scaling */
  subq_rope_table *t = NULL;
  float lf[32], c0[32], s0[32], c1[32], s1[32];
  memcpy(lf, fl, sizeof lf);
  p.longrope_factors = lf, p.cached_positions = 8;
  CHECK_OK(subq_rope_table_create(NULL, &p, &t));
  CHECK_OK(subq_rope_table_cos_sin(t, 5, c0, s0));
  CHECK_OK(subq_rope_table_cos_sin(t, 9, c1, s1));
  for (int i = 0; i < 32; i++) lf[i] = -1.0f;
  float c2[32], s2[32], inv[32];
  CHECK_OK(subq_rope_table_cos_sin(t, 9, c2, s2));
  CHECK(memcmp(c1, c2, sizeof c1) == 0 && memcmp(s1, s2, sizeof s1) == 0);
  p.longrope_factors = fl;
  CHECK_OK(subq_rope_inv_freq(&p, inv));
  bool scaled = true;
  for (int i = 0; i < 32; i++) {
    const float a = 5.0f * inv[i];
    scaled &= f32_bits(c0[i]) == f32_bits((float)cos((double)a) * (float)p.attention_scaling);
    scaled &= f32_bits(s0[i]) == f32_bits((float)sin((double)a) * (float)p.attention_scaling);
  }
  CHECK_MSG(scaled, "longrope table: cos/sin of the long schedule times attention_scaling");
  subq_rope_table_destroy(t);
}

static void rope_yarn(void) {
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  CHECK(p.beta_fast == 32.0 && p.beta_slow == 1.0 && p.yarn_truncate == 1);
  p.rot_dim = 128, p.theta = 10000.0, p.type = SUBQ_ROPE_YARN, p.factor = 4.0, p.original_max_position_embeddings = 2048;
  check_inv_freq("yarn D128 f4 L2048", &p, hf_yarn_d128_f4, 3);
  {
    /* truncated range [floor(c(32)), ceil(c(1))] = [16, 41] for these params: dims up to 16
     * keep the default frequency bit for bit, dims from 41 on are default / factor. */
    float inv[64], raw[64];
    subq_rope_params d = p;
    d.type = SUBQ_ROPE_DEFAULT;
    CHECK_OK(subq_rope_inv_freq(&p, inv));
    CHECK_OK(subq_rope_inv_freq(&d, raw));
    bool bands = true;
    for (int i = 0; i < 64; i++) {
      const float div = 1.0f / (4.0f * (1.0f / raw[i]));
      if (i <= 16) bands &= f32_bits(inv[i]) == f32_bits(raw[i]);
      if (i >= 41) bands &= fabsf(inv[i] - div) <= div * 2.5e-7f;
      if (i > 16 && i < 41) bands &= inv[i] < raw[i] && inv[i] > div;
    }
    CHECK_MSG(bands, "yarn D128: dims 0..16 kept, 17..40 ramped, 41..63 divided");
  }
  p.rot_dim = 64, p.factor = 16.0, p.original_max_position_embeddings = 4096, p.beta_fast = 16.0, p.beta_slow = 2.0;
  p.yarn_truncate = 0;
  check_inv_freq("yarn D64 f16 beta 16/2 no truncate", &p, hf_yarn_d64_f16_b16_2_notrunc, 3);
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 96, p.theta = 1e6, p.type = SUBQ_ROPE_YARN, p.factor = 40.0, p.original_max_position_embeddings = 4096;
  check_inv_freq("yarn D96 theta1e6 f40", &p, hf_yarn_d96_f40_mscale, 3);
  p.rot_dim = 32, p.theta = 10000.0, p.factor = 4.0, p.original_max_position_embeddings = 64;
  check_inv_freq("yarn D32 f4 L64", &p, hf_yarn_d32_factor_none, 3);
  /* beta_fast == beta_slow with truncate off: low == high, HF's +0.001 step. */
  p.rot_dim = 64, p.beta_fast = p.beta_slow = 2.0, p.yarn_truncate = 0;
  check_inv_freq("yarn low == high", &p, NULL, 3);
  /* beta_fast < beta_slow (HF warns, computes): a reversed ramp, still the formula. */
  p.beta_fast = 1.0, p.beta_slow = 32.0, p.yarn_truncate = 1;
  check_inv_freq("yarn reversed betas", &p, NULL, 3);

  /* attention_factor: the first three printed by tools/gen_rope_goldens.py (HF), the rest
   * HF get_mscale by hand: factor <= 1 gives 1, one mscale alone falls back to m(factor, 1). */
  const struct { double f, m, mad, want; } af[] = {
      {4.0, 0.0, 0.0, 1.138629436111989},    {16.0, 0.0, 0.0, 1.2772588722239782},
      {40.0, 1.0, 0.707, 1.0857263992561355}, {1.0, 0.0, 0.0, 1.0},
      {0.5, 2.0, 1.0, 1.0},                  {40.0, 1.0, 0.0, 1.3688879454113936},
  };
  for (size_t i = 0; i < sizeof af / sizeof af[0]; i++) {
    const double got = subq_rope_yarn_attention_factor(af[i].f, af[i].m, af[i].mad);
    CHECK_MSG(fabs(got - af[i].want) <= 4e-16 * af[i].want, "yarn attention factor (%g, %g, %g): %.17g, HF %.17g",
              af[i].f, af[i].m, af[i].mad, got, af[i].want);
  }
  CHECK(isnan(subq_rope_yarn_attention_factor(0.0, 0.0, 0.0)) && isnan(subq_rope_yarn_attention_factor(4.0, NAN, 1.0)));

  /* cos/sin carry attention_scaling: one table with HF's factor vs the unscaled one. */
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = 32, p.type = SUBQ_ROPE_YARN, p.factor = 4.0, p.original_max_position_embeddings = 64;
  p.attention_scaling = subq_rope_yarn_attention_factor(4.0, 0.0, 0.0);
  subq_rope_table *t = NULL, *u = NULL;
  CHECK_OK(subq_rope_table_create(NULL, &p, &t));
  p.attention_scaling = 1.0;
  CHECK_OK(subq_rope_table_create(NULL, &p, &u));
  float c[16], s[16], c1[16], s1[16];
  CHECK_OK(subq_rope_table_cos_sin(t, 200, c, s));
  CHECK_OK(subq_rope_table_cos_sin(u, 200, c1, s1));
  bool scaled = true;
  const float sc = (float)1.138629436111989;
  for (int i = 0; i < 16; i++) scaled &= f32_bits(c[i]) == f32_bits(c1[i] * sc) && f32_bits(s[i]) == f32_bits(s1[i] * sc);
  CHECK_MSG(scaled, "yarn table: cos/sin times (float)attention_factor");
  subq_rope_table_destroy(t), subq_rope_table_destroy(u);

  /* A caller built against the 0.1 header (struct ends at cached_positions) is accepted and
   * gets the YaRN defaults (beta 32 / 1, truncate). */
  {
    unsigned char old[offsetof(subq_rope_params, beta_fast)];
    subq_rope_params o;
    subq_rope_params_default(&o, sizeof o);
    o.rot_dim = 128, o.type = SUBQ_ROPE_YARN, o.factor = 4.0, o.original_max_position_embeddings = 2048;
    o.struct_size = sizeof old;
    memcpy(old, &o, sizeof old);
    float inv[64];
    CHECK_OK(subq_rope_inv_freq((const subq_rope_params *)(const void *)old, inv));
    bool same = true;
    for (int i = 0; i < 64; i++) same &= f32_bits(inv[i]) == hf_yarn_d128_f4[i] || ulp_diff(inv[i], bits_f32(hf_yarn_d128_f4[i])) <= 1;
    CHECK_MSG(same, "0.1-sized subq_rope_params: YaRN defaults");
    subq_rope_params_default((subq_rope_params *)(void *)old, sizeof old);
    memcpy(&o, old, sizeof old);
    CHECK(o.struct_size == sizeof old && o.theta == 10000.0);
  }
  n_cases++;
}

/* ---- RoPE application ----------------------------------------------------------------------- */

typedef struct rope_case {
  int64_t tokens, D, rot, hq, hk;
  int64_t q_hs, q_ts, k_hs, k_ts; /* 0 = packed */
  int64_t cached;                 /* table positions */
  bool fused;                     /* q and k inside one qkv row */
  subq_rope_type type;
  double scaling;
} rope_case;

static void rope_vs_ref(subq_isa isa, const rope_case *k, unsigned long long seed) {
  subq_context *ctx = subq_test_context(isa, 2);
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = k->rot, p.theta = 500000.0, p.type = k->type, p.factor = 8.0, p.cached_positions = k->cached;
  p.attention_scaling = k->scaling;
  subq_rope_table *t = NULL;
  CHECK_OK(subq_rope_table_create(ctx, &p, &t));
  float *inv = malloc((size_t)(k->rot / 2) * sizeof(float));
  CHECK_OK(subq_rope_inv_freq(&p, inv));
  const int64_t T = k->tokens, D = k->D;
  const int64_t qhs = k->q_hs ? k->q_hs : D, khs = k->k_hs ? k->k_hs : D;
  int64_t qts = k->q_ts ? k->q_ts : (k->hq - 1) * qhs + D, kts = k->k_ts ? k->k_ts : (k->hk - 1) * khs + D;
  float *buf, *q, *kk;
  int64_t nbuf;
  if (k->fused) { /* [q heads | k heads | v heads], one row per token */
    qts = kts = (k->hq + 2 * k->hk) * D;
    nbuf = T * qts;
    buf = gauss_buf(nbuf, seed, 1.0f);
    q = buf, kk = buf + k->hq * D;
  } else {
    nbuf = T * qts + T * kts;
    buf = gauss_buf(nbuf, seed, 1.0f);
    q = buf, kk = buf + T * qts;
  }
  float *orig = malloc((size_t)nbuf * sizeof(float));
  memcpy(orig, buf, (size_t)nbuf * sizeof(float));
  int64_t *pos = malloc((size_t)T * sizeof(int64_t));
  subq_rng r = {seed * 7 + 1};
  for (int64_t i = 0; i < T; i++) pos[i] = (int64_t)(subq_rng_next(&r) % (i % 3 == 0 ? 200000u : 5000u));
  subq_rope_args a;
  subq_rope_args_default(&a, sizeof a);
  a.tokens = T, a.head_dim = D, a.table = t, a.positions = pos;
  a.q = k->hq ? q : NULL, a.q_heads = k->hq, a.q_token_stride = k->fused || k->q_ts ? qts : 0, a.q_head_stride = k->q_hs;
  a.k = k->hk ? kk : NULL, a.k_heads = k->hk, a.k_token_stride = k->fused || k->k_ts ? kts : 0, a.k_head_stride = k->k_hs;
  CHECK_OK(subq_rope(ctx, &a));
  /* Oracle: the same f32 angle HF forms ((float)pos * inv_freq, the
   * documented HF property), then everything in double. The kernel adds the
   * cos/sin rounding (2^-24 each) and two products and a sum in f32:
   * |diff| <= 4 * 2^-24 * (|x_i| + |x_j|) * scale; bound 3e-7 * (|a| + |b| + 1e-3). */
  double *ang = malloc((size_t)(k->rot / 2) * sizeof(double)), *ref = malloc((size_t)D * sizeof(double));
  bool ok = true;
  const float *oq = orig + (q - buf), *ok_ = orig + (kk - buf);
  for (int64_t tok = 0; tok < T && ok; tok++) {
    for (int64_t i = 0; i < k->rot / 2; i++) ang[i] = (double)((float)pos[tok] * inv[i]);
    for (int side = 0; side < 2 && ok; side++) {
      const int64_t H = side ? k->hk : k->hq, hs = side ? khs : qhs, ts = side ? kts : qts;
      const float *src = side ? ok_ : oq, *got = side ? kk : q;
      for (int64_t h = 0; h < H && ok; h++) {
        const float *xr = src + tok * ts + h * hs, *gr = got + tok * ts + h * hs;
        subq_ref_rope_row(D, k->rot, xr, ang, k->scaling, ref);
        for (int64_t d = 0; d < D && ok; d++) {
          const int64_t pd = d < k->rot / 2 ? d + k->rot / 2 : d - k->rot / 2;
          const double tol = d < k->rot ? 3e-7 * fabs(k->scaling) * (fabs(xr[d]) + fabs(xr[pd]) + 1e-3) : 0.0;
          if (!(fabs(gr[d] - ref[d]) <= tol)) {
            fprintf(stderr, "  rope tok %lld side %d head %lld dim %lld: got %.9g want %.9g\n", (long long)tok, side,
                    (long long)h, (long long)d, gr[d], ref[d]);
            ok = false;
          }
        }
      }
    }
  }
  /* Everything outside the heads' rot dims (gaps, pass-through dims, v) is untouched. */
  for (int64_t i = 0; i < nbuf && ok; i++) {
    bool inside = false;
    for (int side = 0; side < 2 && !inside; side++) {
      const float *base = side ? kk : q;
      const int64_t H = side ? k->hk : k->hq, hs = side ? khs : qhs, ts = side ? kts : qts;
      const int64_t off = i - (base - buf);
      if (off < 0 || H == 0) continue;
      const int64_t tok = off / ts, in = off % ts;
      if (tok < T && in < (H - 1) * hs + D && in % hs < k->rot && in / hs < H) inside = true;
    }
    if (!inside && f32_bits(buf[i]) != f32_bits(orig[i])) {
      fprintf(stderr, "  rope touched element %lld outside the rotated dims\n", (long long)i);
      ok = false;
    }
  }
  CHECK_MSG(ok, "rope isa %s T%lld D%lld rot%lld hq%lld hk%lld fused %d cached %lld", subq_isa_name(isa),
            (long long)T, (long long)D, (long long)k->rot, (long long)k->hq, (long long)k->hk, k->fused,
            (long long)k->cached);
  n_cases++;
  free(ang), free(ref), free(pos), free(orig), free(buf), free(inv);
  subq_rope_table_destroy(t);
  subq_context_destroy(ctx);
}

static void rope_all(subq_isa isa) {
  const rope_case cs[] = {
      {1, 2, 2, 1, 1, 0, 0, 0, 0, 0, false, SUBQ_ROPE_DEFAULT, 1.0},
      {3, 64, 64, 4, 2, 0, 0, 0, 0, 1024, false, SUBQ_ROPE_LLAMA3, 1.0},
      {7, 128, 128, 32, 8, 0, 0, 0, 0, 0, true, SUBQ_ROPE_LLAMA3, 1.0},   /* Llama-3.1 shape, fused qkv */
      {63, 64, 32, 3, 1, 70, 0, 0, 100, 4096, false, SUBQ_ROPE_DEFAULT, 1.0}, /* partial rotary, gaps */
      {65, 10, 6, 2, 0, 0, 0, 0, 0, 0, false, SUBQ_ROPE_LINEAR, 1.0},    /* q only, half = 3 */
      {5, 18, 18, 0, 3, 0, 0, 0, 0, 0, false, SUBQ_ROPE_DEFAULT, 1.25},  /* k only, half = 9, scaling */
      {257, 128, 128, 4, 4, 0, 0, 0, 0, 100000, true, SUBQ_ROPE_DEFAULT, 1.0},
  };
  for (size_t j = 0; j < sizeof cs / sizeof cs[0]; j++) rope_vs_ref(isa, &cs[j], 500 + j);
}

/* ---- elementwise ------------------------------------------------------------------------- */

/* Results of one ISA path for the cross-path bitwise comparison. */
static float *ew_first[3][N_COLS];

static void ew_vs_ref(subq_isa isa, int ci) {
  subq_context *ctx = subq_test_context(isa, 2);
  const int64_t C = k_cols[ci], R = 3, ld = C + 2, n = R * ld;
  float *g = gauss_buf(n, 900 + (unsigned)C, 4.0f), *u = gauss_buf(n, 901 + (unsigned)C, 1.0f);
  for (int64_t i = 0; i < n; i += 17) g[i] = (i / 17) % 2 ? 100.0f : -100.0f; /* saturated SiLU */
  if (n > 40) g[5] = 88.8f, g[6] = -88.8f, g[7] = -1e30f, g[8] = 1e30f;       /* exp over/underflow */
  float *o[3];
  for (int op = 0; op < 3; op++) {
    o[op] = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) o[op][i] = -3.0f;
  }
  CHECK_OK(subq_swiglu(ctx, R, C, g, ld, u, ld, o[0], ld));
  CHECK_OK(subq_silu(ctx, R, C, g, ld, o[1], ld));
  CHECK_OK(subq_add(ctx, R, C, g, ld, u, ld, o[2], ld));
  /* exp < 2 ulp, 1 + e and the division, the product: SiLU within 4 ulp
   * (6 for SwiGLU); add is exact-rounded. */
  bool ok = true;
  for (int64_t r = 0; r < R && ok; r++)
    for (int64_t c = 0; c < C && ok; c++) {
      const int64_t i = r * ld + c;
      const double s = subq_ref_silu((double)g[i]);
      const double want[3] = {s * (double)u[i], s, (double)g[i] + (double)u[i]};
      /* below x = -88.72 exp(-x) overflows and SiLU gives -0 (PyTorch's form
       * does the same), the true value being < 3e-37 in magnitude */
      const double tol[3] = {6 * 6e-8 * fabs(want[0]) + 1e-36, 4 * 6e-8 * fabs(want[1]) + 1e-36,
                             6e-8 * fabs(want[2])};
      for (int op = 0; op < 3; op++)
        if (!(fabs(o[op][i] - want[op]) <= tol[op]) || isnan(o[op][i])) {
          fprintf(stderr, "  ew op %d [%lld][%lld] x %.9g: got %.9g want %.9g\n", op, (long long)r, (long long)c,
                  g[i], o[op][i], want[op]);
          ok = false;
        }
    }
  for (int op = 0; op < 3; op++)
    for (int64_t r = 0; r < R; r++)
      for (int64_t c = C; c < ld; c++) ok &= o[op][r * ld + c] == -3.0f;
  CHECK_MSG(ok, "swiglu/silu/add isa %s C%lld", subq_isa_name(isa), (long long)C);
  /* The same bits on every ISA path (shared exp bits, no reductions). */
  for (int op = 0; op < 3; op++) {
    if (!ew_first[op][ci]) {
      ew_first[op][ci] = o[op];
      o[op] = NULL;
    } else {
      CHECK_MSG(memcmp(ew_first[op][ci], o[op], (size_t)n * sizeof(float)) == 0,
                "op %d C%lld: isa %s differs in bits from the first path", op, (long long)C, subq_isa_name(isa));
    }
  }
  /* In place: out identical to gate, to up; y identical to x; out identical to a. */
  float *g2 = malloc((size_t)n * sizeof(float)), *u2 = malloc((size_t)n * sizeof(float));
  memcpy(g2, g, (size_t)n * sizeof(float));
  memcpy(u2, u, (size_t)n * sizeof(float));
  CHECK_OK(subq_swiglu(ctx, R, C, g2, ld, u, ld, g2, ld));
  CHECK_OK(subq_swiglu(ctx, R, C, g, ld, u2, ld, u2, ld));
  bool same = true;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = r * ld + c;
      same &= f32_bits(g2[i]) == f32_bits(ew_first[0][ci][i]) && f32_bits(u2[i]) == f32_bits(ew_first[0][ci][i]);
    }
  memcpy(g2, g, (size_t)n * sizeof(float));
  CHECK_OK(subq_silu(ctx, R, C, g2, ld, g2, ld));
  memcpy(u2, u, (size_t)n * sizeof(float));
  CHECK_OK(subq_add(ctx, R, C, g, ld, u2, ld, u2, ld));
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = r * ld + c;
      same &= f32_bits(g2[i]) == f32_bits(ew_first[1][ci][i]) && f32_bits(u2[i]) == f32_bits(ew_first[2][ci][i]);
    }
  CHECK_MSG(same, "in-place elementwise isa %s C%lld", subq_isa_name(isa), (long long)C);
  /* Fused [gate | up] rows. */
  float *gu = malloc((size_t)(R * 2 * C) * sizeof(float)), *fo = malloc((size_t)(R * C) * sizeof(float));
  for (int64_t r = 0; r < R; r++) {
    memcpy(gu + r * 2 * C, g + r * ld, (size_t)C * sizeof(float));
    memcpy(gu + r * 2 * C + C, u + r * ld, (size_t)C * sizeof(float));
  }
  CHECK_OK(subq_swiglu(ctx, R, C, gu, 2 * C, gu + C, 2 * C, fo, C));
  same = true;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) same &= f32_bits(fo[r * C + c]) == f32_bits(ew_first[0][ci][r * ld + c]);
  CHECK_OK(subq_swiglu(ctx, R, C, gu, 2 * C, gu + C, 2 * C, gu, 2 * C)); /* out over the gate halves */
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) same &= f32_bits(gu[r * 2 * C + c]) == f32_bits(fo[r * C + c]);
  CHECK_MSG(same, "fused [gate|up] swiglu isa %s C%lld", subq_isa_name(isa), (long long)C);
  n_cases++;
  free(gu), free(fo), free(g2), free(u2);
  for (int op = 0; op < 3; op++) free(o[op]);
  free(g), free(u);
  subq_context_destroy(ctx);
}

/* ---- conversions and the gather ------------------------------------------------------------ */

static void conversions(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  /* f16 -> f32: all 65536 patterns vs the exact decoding (NaN -> NaN). */
  uint16_t *h = malloc(65536 * sizeof(uint16_t));
  float *f = malloc(65536 * sizeof(float));
  for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  CHECK_OK(subq_convert(ctx, 65536, SUBQ_DTYPE_F16, h, SUBQ_DTYPE_F32, f));
  int bad = 0;
  for (int i = 0; i < 65536; i++) {
    const double want = subq_ref_nn_f16_to_f64((uint16_t)i);
    if (isnan(want) ? !(isnan(f[i]) && (f32_bits(f[i]) >> 31) == (unsigned)(i >> 15) &&
                        ((f32_bits(f[i]) >> 13) & 0x3ffu) == (((unsigned)i & 0x3ffu) | 0x200u))
                    : (double)f[i] != want || !signbit(f[i]) != !signbit(want))
      bad++;
  }
  CHECK_MSG(bad == 0, "f16 -> f32 isa %s: %d of 65536 wrong", subq_isa_name(isa), bad);
  /* f32 -> f16 and -> bf16: specials and a sweep over 2^32 / 4093 patterns
   * (every exponent, mantissas with ties) vs independent rounding oracles. */
  const int64_t n = (int64_t)((1ull << 32) / 4093) + 64;
  float *x = malloc((size_t)n * sizeof(float));
  uint16_t *y16 = malloc((size_t)n * sizeof(uint16_t)), *yb = malloc((size_t)n * sizeof(uint16_t));
  const uint32_t special[64] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u,
                                0x7fbfe000u, 0x477fe000u, 0x477fefffu, 0x477ff000u, 0x477ff001u, 0x38800000u,
                                0x387fe000u, 0x387ff000u, 0x33000000u, 0x33000001u, 0x337fffffu, 0x33800000u,
                                0x33c00000u, 0x34000000u, 0x3f801000u, 0x3f803000u, 0x3f800fffu, 0x3f808000u,
                                0x3f818000u, 0x3f817fffu, 0x7f7fffffu, 0x7f7f8000u, 0x7f7f7fffu, 0x00000001u,
                                0x00400000u, 0x00008000u, 0x00018000u, 0x807fffffu, 0xc77ff000u, 0xb3000001u};
  for (int i = 0; i < 64; i++) x[i] = bits_f32(special[i]);
  for (int64_t i = 64; i < n; i++) x[i] = bits_f32((uint32_t)((uint64_t)(i - 64) * 4093u));
  CHECK_OK(subq_convert(ctx, n, SUBQ_DTYPE_F32, x, SUBQ_DTYPE_F16, y16));
  CHECK_OK(subq_convert(ctx, n, SUBQ_DTYPE_F32, x, SUBQ_DTYPE_BF16, yb));
  int bad16 = 0, badb = 0;
  for (int64_t i = 0; i < n; i++) {
    if (y16[i] != subq_ref_nn_f32_to_f16(x[i]) && bad16++ < 5)
      fprintf(stderr, "  f32 0x%08x -> f16 got 0x%04x want 0x%04x\n", f32_bits(x[i]), y16[i],
              subq_ref_nn_f32_to_f16(x[i]));
    if (yb[i] != subq_ref_nn_f32_to_bf16(x[i]) && badb++ < 5)
      fprintf(stderr, "  f32 0x%08x -> bf16 got 0x%04x want 0x%04x\n", f32_bits(x[i]), yb[i],
              subq_ref_nn_f32_to_bf16(x[i]));
  }
  CHECK_MSG(bad16 == 0 && badb == 0, "f32 -> f16 / bf16 isa %s: %d / %d wrong of %lld", subq_isa_name(isa), bad16,
            badb, (long long)n);
  /* bf16 -> f32 is a shift; f32 -> f32 a copy; the f16 twins equal subq_convert. */
  float *back = malloc((size_t)n * sizeof(float));
  CHECK_OK(subq_convert(ctx, n, SUBQ_DTYPE_BF16, yb, SUBQ_DTYPE_F32, back));
  bad = 0;
  for (int64_t i = 0; i < n; i++) bad += f32_bits(back[i]) != (uint32_t)yb[i] << 16;
  CHECK_OK(subq_convert(ctx, n, SUBQ_DTYPE_F32, x, SUBQ_DTYPE_F32, back));
  bad += memcmp(back, x, (size_t)n * sizeof(float)) != 0;
  uint16_t *t16 = malloc((size_t)n * sizeof(uint16_t));
  CHECK_OK(subq_f32_to_f16(x, t16, n));
  bad += memcmp(t16, y16, (size_t)n * sizeof(uint16_t)) != 0;
  CHECK_OK(subq_f16_to_f32(h, back, 65536));
  bad += memcmp(back, f, 65536 * sizeof(float)) != 0;
  uint16_t *gb = malloc((size_t)n * sizeof(uint16_t));
  CHECK_OK(subq_f32_to_bf16(x, gb, n)); /* the GEMM family's converter agrees */
  bad += memcmp(gb, yb, (size_t)n * sizeof(uint16_t)) != 0;
  CHECK_MSG(bad == 0, "bf16 widen / copy / twins isa %s: %d", subq_isa_name(isa), bad);
  n_cases++;
  free(gb), free(t16), free(back), free(x), free(y16), free(yb), free(h), free(f);
  subq_context_destroy(ctx);
}

static void embedding(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 2);
  const int64_t V = 50, dims[] = {1, 7, 65, 2049};
  for (int di = 0; di < 4; di++) {
    const int64_t D = dims[di], tld = D + 3, T = 37;
    float *tf = gauss_buf(V * tld, 77 + (unsigned)D, 1.0f);
    uint16_t *tb = malloc((size_t)(V * tld) * sizeof(uint16_t)), *th = malloc((size_t)(V * tld) * sizeof(uint16_t));
    for (int64_t i = 0; i < V * tld; i++) tb[i] = subq_f32_to_bf16_1(tf[i]), th[i] = subq_f32_to_f16_1(tf[i]);
    int64_t ids[37];
    subq_rng r = {(unsigned long long)D};
    for (int64_t t = 0; t < T; t++) ids[t] = (int64_t)(subq_rng_next(&r) % (uint64_t)V);
    ids[0] = 0, ids[1] = V - 1;
    const int64_t old = D + 1;
    float *out = malloc((size_t)(T * old) * sizeof(float));
    bool ok = true;
    for (int dt = 0; dt < 3; dt++) {
      const subq_dtype d = dt == 0 ? SUBQ_DTYPE_F32 : dt == 1 ? SUBQ_DTYPE_BF16 : SUBQ_DTYPE_F16;
      const void *tab = dt == 0 ? (const void *)tf : dt == 1 ? (const void *)tb : (const void *)th;
      for (int64_t i = 0; i < T * old; i++) out[i] = -5.0f;
      CHECK_OK(subq_embedding(ctx, d, tab, V, D, tld, ids, T, out, old));
      for (int64_t t = 0; t < T; t++) {
        for (int64_t c = 0; c < D; c++) {
          const int64_t s = ids[t] * tld + c;
          const float want = dt == 0 ? tf[s] : dt == 1 ? subq_bf16_to_f32_1(tb[s]) : (float)subq_ref_nn_f16_to_f64(th[s]);
          ok &= f32_bits(out[t * old + c]) == f32_bits(want);
        }
        ok &= out[t * old + D] == -5.0f;
      }
    }
    /* An id out of range: an error naming it, nothing written. */
    for (int64_t i = 0; i < T * old; i++) out[i] = -5.0f;
    ids[5] = V;
    CHECK_STATUS(subq_embedding(ctx, SUBQ_DTYPE_F32, tf, V, D, tld, ids, T, out, old), SUBQ_ERR_INVALID_ARGUMENT,
                 "ids[5] (50) is outside [0, 50)");
    ids[5] = -1;
    CHECK_STATUS(subq_embedding(ctx, SUBQ_DTYPE_BF16, tb, V, D, tld, ids, T, out, old), SUBQ_ERR_INVALID_ARGUMENT,
                 "ids[5] (-1)");
    for (int64_t i = 0; i < T * old; i++) ok &= out[i] == -5.0f;
    CHECK_MSG(ok, "embedding isa %s D%lld", subq_isa_name(isa), (long long)D);
    n_cases++;
    free(out), free(tf), free(tb), free(th);
  }
  subq_context_destroy(ctx);
}

/* ---- determinism ----------------------------------------------------------------------------- */

static void determinism(void) {
  const int64_t R = 97, C = 2049, n = R * C;
  float *x = gauss_buf(n, 11, 1.0f), *res = gauss_buf(n, 12, 1.0f), *w = gauss_buf(C, 13, 1.0f);
  const int64_t T = 300, H = 6, D = 64;
  float *qk0 = gauss_buf(T * H * D, 14, 1.0f);
  int64_t *pos = malloc((size_t)T * sizeof(int64_t));
  for (int64_t t = 0; t < T; t++) pos[t] = (t * 7919) % 9000;
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  p.rot_dim = D, p.theta = 500000.0, p.type = SUBQ_ROPE_LLAMA3, p.factor = 8.0, p.cached_positions = 4500;
  subq_rope_table *tab = NULL;
  CHECK_OK(subq_rope_table_create(NULL, &p, &tab));
  const size_t out_floats = (size_t)(3 * n + T * H * D + n);
  float *first = NULL;
  const int threads[] = {1, 2, 3, 5, 8};
  for (int run = 0; run < 7; run++) {
    subq_context *ctx = NULL;
    if (run == 5) {
      subq_executor ex = subq_test_shuffled_executor();
      CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
    } else if (run < 5) {
      ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run]);
    }
    float *out = calloc(out_floats, sizeof(float)); /* the f16 tail fills only half of its n floats */
    subq_rmsnorm_args a;
    subq_rmsnorm_args_default(&a, sizeof a);
    a.rows = R, a.cols = C, a.eps = 1e-5f, a.weight = w, a.x = x, a.residual = res, a.sum_out = out, a.y = out + n;
    CHECK_OK(subq_rmsnorm(ctx, &a));
    CHECK_OK(subq_swiglu(ctx, R, C, x, C, res, C, out + 2 * n, C));
    float *qk = out + 3 * n;
    memcpy(qk, qk0, (size_t)(T * H * D) * sizeof(float));
    subq_rope_args ra;
    subq_rope_args_default(&ra, sizeof ra);
    ra.tokens = T, ra.head_dim = D, ra.table = tab, ra.positions = pos, ra.q = qk, ra.q_heads = 4, ra.k = qk + 4 * D;
    ra.k_heads = 2, ra.q_token_stride = ra.k_token_stride = H * D;
    CHECK_OK(subq_rope(ctx, &ra));
    CHECK_OK(subq_convert(ctx, n, SUBQ_DTYPE_F32, x, SUBQ_DTYPE_F16, (uint16_t *)(void *)(qk + T * H * D)));
    if (!first) {
      first = out;
    } else {
      CHECK_MSG(memcmp(first, out, out_floats * sizeof(float)) == 0, "run %d differs in bits from run 0", run);
      free(out);
    }
    subq_context_destroy(ctx);
  }
  n_cases++;
  free(first), free(x), free(res), free(w), free(qk0), free(pos);
  subq_rope_table_destroy(tab);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void errors(void) {
  float buf[256] = {0}, out[256];
  subq_rmsnorm_args a;
  subq_rmsnorm_args_default(&a, sizeof a);
  a.rows = 2, a.cols = 8, a.x = buf, a.y = out;
  CHECK_OK(subq_rmsnorm(NULL, &a));
  CHECK_STATUS(subq_rmsnorm(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_rmsnorm: args is NULL");
  subq_rmsnorm_args b = a;
  b.struct_size = 8;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
  b = a, b.rows = -1;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "subq_rmsnorm: rows (-1) < 0");
  b = a, b.cols = 0;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "cols is 0");
  b = a, b.eps = -1.0f;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "eps");
  b = a, b.eps = NAN;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "eps");
  b = a, b.weight_dtype = SUBQ_DTYPE_I8;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "weight_dtype");
  b = a, b.group_size = 3;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "group_size (3) does not divide cols (8)");
  b = a, b.group_size = -2;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "group_size (-2) < 0");
  b = a, b.x = NULL;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "subq_rmsnorm: x is NULL");
  b = a, b.y = NULL;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "subq_rmsnorm: y is NULL");
  b = a, b.x_ld = 5;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "x_ld (5) < row length 8");
  b = a, b.y = buf + 1;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps x");
  b = a, b.y = buf, b.y_ld = 9;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps x");
  b = a, b.residual = buf + 64, b.sum_out = out + 4;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps sum_out");
  b = a, b.weight = out;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps weight");
  b = a, b.gate = buf + 64, b.sum_out = buf + 64;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "sum_out overlaps gate");
  b = a, b.x_ld = INT64_MAX / 2;
  CHECK_STATUS(subq_rmsnorm(NULL, &b), SUBQ_ERR_INVALID_ARGUMENT, "overflows");
  b = a, b.rows = 0, b.x = NULL;
  CHECK_OK(subq_rmsnorm(NULL, &b));
  b = a, b.y = buf; /* in place, identical: fine */
  CHECK_OK(subq_rmsnorm(NULL, &b));
  {
    unsigned char big[sizeof(subq_rmsnorm_args) + 8];
    memset(big, 0, sizeof big);
    memcpy(big, &a, sizeof a);
    size_t sz = sizeof big;
    memcpy(big, &sz, sizeof sz);
    CHECK_OK(subq_rmsnorm(NULL, (const subq_rmsnorm_args *)(const void *)big));
    big[sizeof a + 3] = 1;
    CHECK_STATUS(subq_rmsnorm(NULL, (const subq_rmsnorm_args *)(const void *)big), SUBQ_ERR_UNSUPPORTED,
                 "newer than this library");
  }

  /* elementwise */
  CHECK_STATUS(subq_swiglu(NULL, -1, 4, buf, 4, buf, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "subq_swiglu: rows (-1) < 0");
  CHECK_STATUS(subq_swiglu(NULL, 2, -4, buf, 4, buf, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "cols (-4) < 0");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, NULL, 4, buf, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "subq_swiglu: gate is NULL");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, buf, 4, NULL, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "up is NULL");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, buf, 4, buf, 4, NULL, 4), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, buf, 3, buf, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "gate_ld (3) < row length 4");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, buf, -1, buf, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "gate_ld (-1) < 0");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, buf, 8, buf + 4, 8, buf + 2, 8), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps gate");
  CHECK_STATUS(subq_swiglu(NULL, 2, 4, out, 4, buf, 8, buf + 2, 8), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps up");
  CHECK_OK(subq_swiglu(NULL, 2, 4, buf, 8, buf + 4, 8, buf + 4, 8));
  CHECK_OK(subq_swiglu(NULL, 0, 4, NULL, 0, NULL, 0, NULL, 0));
  CHECK_STATUS(subq_add(NULL, 2, 4, buf, 4, buf, 4, buf + 1, 4), SUBQ_ERR_INVALID_ARGUMENT, "subq_add: out overlaps a");
  CHECK_STATUS(subq_add(NULL, 2, 4, buf, 4, NULL, 4, out, 4), SUBQ_ERR_INVALID_ARGUMENT, "subq_add: b is NULL");
  CHECK_STATUS(subq_silu(NULL, 2, 4, buf, 4, out, 2), SUBQ_ERR_INVALID_ARGUMENT, "subq_silu: y_ld (2) < row length 4");
  CHECK_STATUS(subq_silu(NULL, 1, INT64_MAX, buf, 0, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "overflows");

  /* conversions and the gather */
  uint16_t h[16];
  CHECK_STATUS(subq_convert(NULL, -1, SUBQ_DTYPE_F32, buf, SUBQ_DTYPE_F16, h), SUBQ_ERR_INVALID_ARGUMENT, "n (-1) < 0");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_I32, buf, SUBQ_DTYPE_F16, h), SUBQ_ERR_INVALID_ARGUMENT, "src_dtype (5)");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_F32, buf, (subq_dtype)99, h), SUBQ_ERR_INVALID_ARGUMENT, "dst_dtype (99)");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_BF16, h, SUBQ_DTYPE_F16, h + 8), SUBQ_ERR_INVALID_ARGUMENT, "must be f32");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_F32, NULL, SUBQ_DTYPE_F16, h), SUBQ_ERR_INVALID_ARGUMENT, "src is NULL");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_F32, buf, SUBQ_DTYPE_F16, NULL), SUBQ_ERR_INVALID_ARGUMENT, "dst is NULL");
  CHECK_STATUS(subq_convert(NULL, 4, SUBQ_DTYPE_F32, buf, SUBQ_DTYPE_F16, buf + 1), SUBQ_ERR_INVALID_ARGUMENT,
               "dst overlaps src");
  CHECK_STATUS(subq_f32_to_f16(buf, NULL, 3), SUBQ_ERR_INVALID_ARGUMENT, "subq_f32_to_f16: dst is NULL");
  CHECK_STATUS(subq_f16_to_f32(NULL, buf, 3), SUBQ_ERR_INVALID_ARGUMENT, "subq_f16_to_f32: src is NULL");
  CHECK_STATUS(subq_convert(NULL, INT64_MAX / 2, SUBQ_DTYPE_F32, buf, SUBQ_DTYPE_F16, h), SUBQ_ERR_INVALID_ARGUMENT,
               "overflows");
  CHECK_OK(subq_convert(NULL, 0, SUBQ_DTYPE_F32, NULL, SUBQ_DTYPE_F16, NULL));
  int64_t ids[3] = {0, 1, 2};
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_I8, buf, 4, 4, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT,
               "subq_embedding: table_dtype (4)");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, -4, 4, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "vocab (-4) < 0");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, -1, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "dim (-1) < 0");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, 4, 0, ids, -3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "n_ids (-3) < 0");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, 4, 2, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "table_ld (2) < row length 4");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, NULL, 4, 4, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "table is NULL");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, 4, 0, NULL, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "ids is NULL");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, 4, 0, ids, 3, NULL, 0), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 4, 4, 0, ids, 3, buf + 8, 0), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps table");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 0, 4, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT, "vocab is 0");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 2, 4, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT,
               "subq_embedding: ids[2] (2) is outside [0, 2)");
  /* dim 0 gathers nothing but still checks the ids (found by fuzz_kernel_args); table and out are
   * not read or written then and may be NULL */
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, buf, 2, 0, 0, ids, 3, out, 0), SUBQ_ERR_INVALID_ARGUMENT,
               "subq_embedding: ids[2] (2) is outside [0, 2)");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, NULL, 2, 0, 0, NULL, 3, NULL, 0), SUBQ_ERR_INVALID_ARGUMENT,
               "ids is NULL");
  CHECK_STATUS(subq_embedding(NULL, SUBQ_DTYPE_F32, NULL, 0, 0, 0, ids, 3, NULL, 0), SUBQ_ERR_INVALID_ARGUMENT,
               "vocab is 0");
  CHECK_OK(subq_embedding(NULL, SUBQ_DTYPE_F32, NULL, 3, 0, 0, ids, 3, NULL, 0));
  CHECK_OK(subq_embedding(NULL, SUBQ_DTYPE_F32, NULL, 0, 4, 0, NULL, 0, NULL, 0)); /* no ids: nothing to check */

  /* RoPE parameters and tables */
  subq_rope_params p;
  subq_rope_params_default(&p, sizeof p);
  float inv[64];
  subq_rope_table *t = (subq_rope_table *)(void *)buf;
  CHECK_STATUS(subq_rope_inv_freq(&p, inv), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope_inv_freq: rot_dim (0)");
  p.rot_dim = 7;
  CHECK_STATUS(subq_rope_table_create(NULL, &p, &t), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope_table_create: rot_dim (7)");
  CHECK(t == NULL);
  p.rot_dim = 1 << 20;
  CHECK_STATUS(subq_rope_inv_freq(&p, inv), SUBQ_ERR_INVALID_ARGUMENT, "rot_dim (1048576)");
  p.rot_dim = 64;
  CHECK_STATUS(subq_rope_inv_freq(&p, NULL), SUBQ_ERR_INVALID_ARGUMENT, "inv_freq is NULL");
  CHECK_STATUS(subq_rope_inv_freq(NULL, inv), SUBQ_ERR_INVALID_ARGUMENT, "params is NULL");
  CHECK_STATUS(subq_rope_table_create(NULL, &p, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  subq_rope_params q = p;
  q.theta = 0.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "theta (0)");
  q = p, q.theta = INFINITY;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "theta (inf)");
  q = p, q.type = (subq_rope_type)7;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "type (7)");
  q = p, q.type = SUBQ_ROPE_LINEAR, q.factor = 0.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "factor (0)");
  q = p, q.type = SUBQ_ROPE_LLAMA3, q.factor = 8.0, q.high_freq_factor = 1.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "high_freq_factor (1)");
  q = p, q.type = SUBQ_ROPE_LLAMA3, q.low_freq_factor = -1.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "low_freq_factor (-1)");
  q = p, q.type = SUBQ_ROPE_LLAMA3, q.original_max_position_embeddings = NAN;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "original_max_position_embeddings");
  q = p, q.attention_scaling = NAN;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "attention_scaling");
  q = p, q.cached_positions = -1;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "cached_positions (-1)");
  q = p, q.cached_positions = INT64_MAX / 4;
  CHECK_STATUS(subq_rope_table_create(NULL, &q, &t), SUBQ_ERR_INVALID_ARGUMENT, "above 2^40 bytes");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_fast = 0.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope_inv_freq: beta_fast (0)");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_fast = NAN;
  CHECK_STATUS(subq_rope_table_create(NULL, &q, &t), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope_table_create: beta_fast (nan)");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_slow = -1.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "beta_slow (-1)");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_slow = INFINITY;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "beta_slow (inf)");
  q = p, q.type = SUBQ_ROPE_YARN, q.factor = -4.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "factor (-4)");
  q = p, q.type = SUBQ_ROPE_YARN, q.original_max_position_embeddings = 0.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "original_max_position_embeddings (0)");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_fast = 1e-320;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "no finite correction range");
  q = p, q.type = SUBQ_ROPE_YARN, q.beta_fast = 1e-320;
  q.type = SUBQ_ROPE_DEFAULT; /* YaRN fields are not checked for other types */
  CHECK_OK(subq_rope_inv_freq(&q, inv));
  q = p, q.type = SUBQ_ROPE_DYNAMIC, q.factor = -2.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope_inv_freq: factor (-2)");
  q = p, q.type = SUBQ_ROPE_DYNAMIC, q.factor = 2.0, q.original_max_position_embeddings = 0.0;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "original_max_position_embeddings (0)");
  q = p, q.type = SUBQ_ROPE_DYNAMIC, q.factor = 2.0, q.rot_dim = 2;
  CHECK_STATUS(subq_rope_table_create(NULL, &q, &t), SUBQ_ERR_INVALID_ARGUMENT, "DYNAMIC needs rot_dim > 2");
  q = p, q.type = SUBQ_ROPE_DYNAMIC, q.factor = 2.0, q.dynamic_seq_len = -1;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "dynamic_seq_len (-1) < 0");
  q = p, q.type = SUBQ_ROPE_DYNAMIC, q.factor = 1e30, q.original_max_position_embeddings = 1.0,
  q.dynamic_seq_len = INT64_MAX, q.theta = 1e30;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "grows theta to inf");
  q = p, q.type = SUBQ_ROPE_LONGROPE;
  CHECK_STATUS(subq_rope_table_create(NULL, &q, &t), SUBQ_ERR_INVALID_ARGUMENT,
               "subq_rope_table_create: longrope_factors is NULL");
  float lf[32];
  for (int i = 0; i < 32; i++) lf[i] = 1.0f + (float)i;
  lf[17] = 0.0f;
  q = p, q.type = SUBQ_ROPE_LONGROPE, q.longrope_factors = lf;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "longrope_factors[17] (0)");
  lf[17] = NAN;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "longrope_factors[17] (nan)");
  q = p, q.struct_size = offsetof(subq_rope_params, beta_fast) - 1;
  CHECK_STATUS(subq_rope_inv_freq(&q, inv), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK_OK(subq_rope_table_create(NULL, &p, &t));
  float c[32], s[32];
  CHECK_STATUS(subq_rope_table_cos_sin(t, -1, c, s), SUBQ_ERR_INVALID_ARGUMENT, "position (-1) < 0");
  CHECK_STATUS(subq_rope_table_cos_sin(t, 1, NULL, s), SUBQ_ERR_INVALID_ARGUMENT, "cos_out is NULL");
  CHECK_STATUS(subq_rope_table_cos_sin(NULL, 1, c, s), SUBQ_ERR_INVALID_ARGUMENT, "table is NULL");
  CHECK(subq_rope_table_rot_dim(NULL) == 0);
  subq_rope_table_destroy(NULL);

  /* RoPE application: 4 tokens, 2 q heads, 1 k head of 64 */
  static float qkv[4 * 4 * 64];
  int64_t pos[4] = {0, 1, 2, 3};
  subq_rope_args r;
  subq_rope_args_default(&r, sizeof r);
  r.tokens = 4, r.head_dim = 64, r.table = t, r.positions = pos;
  r.q = qkv, r.q_heads = 2, r.k = qkv + 128, r.k_heads = 1, r.q_token_stride = r.k_token_stride = 256;
  CHECK_OK(subq_rope(NULL, &r));
  CHECK_STATUS(subq_rope(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope: args is NULL");
  subq_rope_args e = r;
  e.table = NULL;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "table is NULL");
  e = r, e.tokens = -1;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "tokens (-1) < 0");
  e = r, e.head_dim = 32;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "head_dim (32) < the table's rot_dim (64)");
  e = r, e.q_heads = -2;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "q_heads (-2) < 0");
  e = r, e.q = NULL;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "q is NULL with 2 heads");
  e = r, e.q_head_stride = 32;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "q_head_stride (32) < head_dim (64)");
  e = r, e.k_token_stride = 32;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "k_token_stride (32) < the heads' span (64)");
  e = r, e.k_head_stride = -64;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "k_head_stride (-64) < 0");
  e = r, e.k = qkv + 64;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "q overlaps k");
  e = r, e.k = qkv + 256 + 64; /* k of token t = q head 1 of token t + 1 */
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "q overlaps k");
  e = r, e.positions = NULL;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "positions is NULL");
  pos[2] = -5;
  CHECK_STATUS(subq_rope(NULL, &r), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope: positions[2] (-5) < 0");
  /* no heads rotates nothing but still checks the positions (found by fuzz_kernel_args) */
  e = r, e.q = e.k = NULL, e.q_heads = e.k_heads = 0;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "subq_rope: positions[2] (-5) < 0");
  e.positions = NULL;
  CHECK_STATUS(subq_rope(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, "positions is NULL");
  pos[2] = 2;
  e.positions = pos;
  CHECK_OK(subq_rope(NULL, &e));
  pos[2] = -5;
  e = r, e.tokens = 0, e.positions = NULL;
  CHECK_OK(subq_rope(NULL, &e));
  subq_rope_table_destroy(t);
}

int main(void) {
  errors();
  rope_freqs();
  rope_dynamic_longrope();
  rope_yarn();
  subq_isa isas[8];
  const int n_isa = subq_test_isas(isas);
  for (int i = 0; i < n_isa; i++) {
    rms_all(isas[i]);
    rope_all(isas[i]);
    for (int ci = 0; ci < N_COLS; ci++) ew_vs_ref(isas[i], ci);
    conversions(isas[i]);
    embedding(isas[i]);
  }
  for (int op = 0; op < 3; op++)
    for (int ci = 0; ci < N_COLS; ci++) free(ew_first[op][ci]);
  determinism();
  printf("test_nn: %d cases on %d ISA paths\n", n_cases, n_isa);
  return subq_test_finish("test_nn");
}
