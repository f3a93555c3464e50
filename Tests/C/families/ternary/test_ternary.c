/*
 * test_ternary.c — the ternary family (subq_ternary.h) on every ISA path the
 * host runs:
 *   SQ2 byte layout (spec §3 vector), HF packed import (spec §2.1 vector and
 *     random round trips), blob round trips and validation;
 *   absmean quantization (per tensor / per row, f32 and bf16) bit-exact against
 *     the spec-literal oracle; ternarized import keeps gamma exactly;
 *   activation quantization (tie vector, both roundings, RMSNorm with and
 *     without weight, all-zero rows, K not a multiple of 16) bitwise against
 *     the oracle;
 *   the int8 x ternary product bitwise equal to an int64 reference on odd
 *     shapes (K not a multiple of 64 / 256, N = 1, 5, 300, tokens 1..65);
 *     overflow stress (|q| = 127 against all +-1 weights, K = 16384, 65536);
 *   BitLinear against a float64 evaluation of the epilogue (rel <= 1e-6),
 *     bitwise across ISAs, thread counts, executors, ctx == NULL;
 *   one context's call workspace reused across token counts, and two threads
 *     calling on one context, equal to fresh contexts bitwise;
 *   every bad argument gives a status and a message naming it.
 */
#include <float.h>
#include <pthread.h>
#include <stdint.h>

#include "ref/subq_ref_ternary.h"
#include "support/subq_test.h"

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
static int8_t *random_codes(int64_t n, unsigned long long seed) {
  subq_rng r = {seed};
  int8_t *t = malloc((size_t)n);
  for (int64_t i = 0; i < n; i++) t[i] = (int8_t)((int)(subq_rng_next(&r) % 3) - 1);
  return t;
}
static int8_t *random_q(int64_t n, unsigned long long seed) {
  subq_rng r = {seed};
  int8_t *q = malloc((size_t)n);
  for (int64_t i = 0; i < n; i++) q[i] = (int8_t)((int)(subq_rng_next(&r) % 255) - 127);
  return q;
}
static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* ---- formats ------------------------------------------------------------------------------- */

static void test_sq2_vector(void) {
  /* spec §3: code(r, k) = (5r + k + k div 7) mod 3 -> unit bytes 0..7 = 44 99 62 88 22 44 19 66 */
  int8_t t[256];
  for (int r = 0; r < 16; r++)
    for (int k = 0; k < 16; k++) t[r * 16 + k] = (int8_t)((5 * r + k + k / 7) % 3 - 1);
  const float g = 0.5f;
  subq_ternary *w = NULL;
  CHECK_OK(subq_ternary_from_codes(16, 16, t, 16, SUBQ_TERNARY_SCALE_TENSOR, &g, &w));
  if (!w) return;
  size_t size = 0;
  const uint8_t *b = subq_ternary_blob(w, &size);
  static const uint8_t want[8] = {0x44, 0x99, 0x62, 0x88, 0x22, 0x44, 0x19, 0x66};
  CHECK(memcmp(b, "SQT2", 4) == 0);
  CHECK(memcmp(b + 128, want, 8) == 0);
  /* header fields: N 16, K 16, N_pad 16, K_pad 64, gamma, offsets */
  int64_t v[4];
  memcpy(v, b + 8, sizeof v);
  CHECK(v[0] == 16 && v[1] == 16 && v[2] == 16 && v[3] == 64);
  float hg;
  memcpy(&hg, b + 48, 4);
  CHECK(hg == 0.5f);
  uint64_t co, so;
  memcpy(&co, b + 56, 8), memcpy(&so, b + 64, 8);
  CHECK(co == 128 && so == 128 + 16 * 64 / 4 && size >= so + 4);
  /* padding columns 16..63 hold code 1 (0x55) */
  CHECK(b[128 + 64] == 0x55 && b[128 + 255] == 0x55);
  subq_ternary_destroy(w);
}

static void test_hf_vector(void) {
  /* spec §2.1: packed (2 x 2) -> t (8 x 2) */
  const uint8_t packed[4] = {0xA1, 0x18, 0x90, 0x0A};
  static const int8_t want[16] = {0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1};
  subq_ternary *w = NULL;
  CHECK_OK(subq_ternary_from_hf(8, 2, packed, 0.25f, SUBQ_TERNARY_HF_DIVIDE, &w));
  if (!w) return;
  int8_t t[16];
  float g = 0.0f;
  CHECK_OK(subq_ternary_to_codes(w, t, 2, &g));
  CHECK(memcmp(t, want, 16) == 0);
  CHECK(g == 4.0f); /* "bitlinear": gamma = 1 / weight_scale */
  subq_ternary_destroy(w);
  CHECK_OK(subq_ternary_from_hf(8, 2, packed, 0.25f, SUBQ_TERNARY_HF_MULTIPLY, &w));
  if (w) {
    CHECK_OK(subq_ternary_to_codes(w, NULL, 0, &g));
    CHECK(g == 0.25f);
    subq_ternary_destroy(w);
  }
  /* random HF round trip: pack t by the HF rule, import, export */
  const int64_t N = 640, K = 257, R = N / 4;
  int8_t *tr = random_codes(N * K, 7), *te = malloc((size_t)(N * K));
  uint8_t *pk = calloc((size_t)(R * K), 1);
  for (int64_t j = 0; j < R; j++)
    for (int64_t k = 0; k < K; k++)
      for (int i = 0; i < 4; i++) pk[j * K + k] |= (uint8_t)((tr[(i * R + j) * K + k] + 1) << (2 * i));
  CHECK_OK(subq_ternary_from_hf(N, K, pk, 2.0f, SUBQ_TERNARY_HF_DIVIDE, &w));
  if (w) {
    CHECK_OK(subq_ternary_to_codes(w, te, K, &g));
    CHECK(memcmp(tr, te, (size_t)(N * K)) == 0);
    CHECK(g == 0.5f);
    subq_ternary_destroy(w);
  }
  free(tr), free(te), free(pk);
}

static void check_blob_roundtrip(const subq_ternary *w) {
  size_t size = 0;
  const uint8_t *b = subq_ternary_blob(w, &size);
  subq_ternary *w2 = NULL;
  CHECK_OK(subq_ternary_from_blob(b, size, &w2));
  if (!w2) return;
  size_t size2 = 0;
  const uint8_t *b2 = subq_ternary_blob(w2, &size2);
  CHECK(size == size2 && memcmp(b, b2, size) == 0);
  subq_ternary_destroy(w2);
}

static void test_quantize(void) {
  static const int64_t shapes[][2] = {{1, 1}, {5, 63}, {16, 64}, {17, 250}, {300, 257}, {33, 1000}};
  subq_isa isas[8];
  const int n_isas = subq_test_isas(isas);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int per_row = 0; per_row < 2; per_row++)
      for (int bf = 0; bf < 2; bf++) {
        const int64_t N = shapes[s][0], K = shapes[s][1];
        float *wf = gauss_buf(N * K, 100 + s, 0.02f);
        uint16_t *wb = malloc((size_t)(N * K) * 2);
        for (int64_t i = 0; i < N * K; i++) { /* bf16 by truncation, then use the exact widened values */
          uint32_t u = fbits(wf[i]) & 0xffff0000u;
          wb[i] = (uint16_t)(u >> 16);
          if (bf) memcpy(&wf[i], &u, 4);
        }
        if (s == 0) wf[0] = 0.0f, wb[0] = 0; /* an all-zero tensor: gamma = 1e-5 */
        int8_t *tref = malloc((size_t)(N * K)), *t = malloc((size_t)(N * K));
        float *gref = malloc((size_t)N * 4), *g = malloc((size_t)N * 4);
        subq_ref_ternary_absmean(N, K, wf, per_row, tref, gref);
        const subq_ternary_scale mode = per_row ? SUBQ_TERNARY_SCALE_ROW : SUBQ_TERNARY_SCALE_TENSOR;
        subq_context *ctx = subq_test_context(isas[n_isas - 1], 2);
        subq_ternary *w = NULL;
        CHECK_OK(subq_ternary_quantize(ctx, N, K, bf ? SUBQ_DTYPE_BF16 : SUBQ_DTYPE_F32, bf ? (const void *)wb : wf, K,
                                       mode, &w));
        if (w) {
          CHECK(subq_ternary_rows(w) == N && subq_ternary_cols(w) == K && subq_ternary_scale_mode(w) == mode);
          CHECK_OK(subq_ternary_to_codes(w, t, K, g));
          CHECK_MSG(memcmp(t, tref, (size_t)(N * K)) == 0, "codes N %lld K %lld row %d bf %d", (long long)N,
                    (long long)K, per_row, bf);
          CHECK(memcmp(g, gref, (size_t)(per_row ? N : 1) * 4) == 0);
          check_blob_roundtrip(w);
          /* codes + gamma -> the same blob */
          subq_ternary *w2 = NULL;
          CHECK_OK(subq_ternary_from_codes(N, K, t, K, mode, g, &w2));
          if (w2) {
            size_t a, b;
            const void *pa = subq_ternary_blob(w, &a), *pb = subq_ternary_blob(w2, &b);
            CHECK(a == b && memcmp(pa, pb, a) == 0);
            subq_ternary_destroy(w2);
          }
          /* gamma * t (the dequantized tensor) imports without shrinking gamma */
          float *deq = malloc((size_t)(N * K) * 4);
          for (int64_t r = 0; r < N; r++)
            for (int64_t c = 0; c < K; c++) deq[r * K + c] = (float)t[r * K + c] * g[per_row ? r : 0];
          CHECK_OK(subq_ternary_from_ternarized(N, K, SUBQ_DTYPE_F32, deq, K, mode, &w2));
          if (w2) {
            int8_t *t2 = malloc((size_t)(N * K));
            float *g2 = malloc((size_t)N * 4);
            CHECK_OK(subq_ternary_to_codes(w2, t2, K, g2));
            CHECK(memcmp(t2, t, (size_t)(N * K)) == 0);
            /* rows / tensors whose codes are all zero get gamma 1 (nothing to keep) */
            bool gok = true;
            for (int64_t r = 0; r < (per_row ? N : 1); r++) {
              bool any = false;
              for (int64_t c = 0; c < (per_row ? K : N * K); c++) any |= t[(per_row ? r * K : 0) + c] != 0;
              gok &= any ? g2[r] == g[r] : g2[r] == 1.0f;
            }
            CHECK(gok);
            free(t2), free(g2);
            subq_ternary_destroy(w2);
          }
          free(deq);
          subq_ternary_destroy(w);
        }
        subq_context_destroy(ctx);
        free(wf), free(wb), free(tref), free(t), free(gref), free(g);
      }
}

/* Weight quantization at the rounding ties: mean |W| = 2, so W / gamma = W * 0.5 exactly; round half to
 * even sends +-0.5 to 0 and 1.5 to 2 (clamped to 1). Every value is exact in bf16 too. */
static void test_quantize_ties(void) {
  static const float wv[2][8] = {{1, 3, -1, -3, 2, -2, 1, 3}, {-1, -1, 1, 1, 3, -3, 4, -2}};
  static const int8_t want[2][8] = {{0, 1, 0, -1, 1, -1, 0, 1}, {0, 0, 0, 0, 1, -1, 1, -1}};
  for (int bf = 0; bf < 2; bf++) {
    uint16_t wb[16];
    for (int i = 0; i < 16; i++) wb[i] = (uint16_t)(fbits(wv[i / 8][i % 8]) >> 16);
    for (int per_row = 0; per_row < 2; per_row++) {
      subq_ternary *w = NULL;
      CHECK_OK(subq_ternary_quantize(NULL, 2, 8, bf ? SUBQ_DTYPE_BF16 : SUBQ_DTYPE_F32, bf ? (const void *)wb : wv,
                                     8, per_row ? SUBQ_TERNARY_SCALE_ROW : SUBQ_TERNARY_SCALE_TENSOR, &w));
      if (!w) continue;
      int8_t t[16];
      float g[2];
      CHECK_OK(subq_ternary_to_codes(w, t, 8, g));
      CHECK_MSG(memcmp(t, want, 16) == 0 && g[0] == 2.0f && (!per_row || g[1] == 2.0f),
                "quantize ties bf %d per_row %d: codes %d %d %d %d, gamma %g", bf, per_row, t[0], t[1], t[2], t[3],
                (double)g[0]);
      subq_ternary_destroy(w);
    }
  }
}

/* ---- one context's call workspace: reuse across shapes, two threads ------------------------------- */

typedef struct ws_job {
  subq_context *ctx;
  const subq_ternary *w;
  const float *x;
  const float *want; /* T x N, from a fresh context */
  int64_t T, N;
  int iters, fails;
} ws_job;

static int ws_call(const ws_job *j, float *out) {
  subq_bitlinear_args a;
  subq_bitlinear_args_default(&a, sizeof a);
  a.tokens = j->T, a.x = j->x, a.out = out, a.flags = SUBQ_TERNARY_RMSNORM;
  if (subq_bitlinear(j->ctx, j->w, &a) != SUBQ_OK) return 1;
  return j->want && memcmp(out, j->want, (size_t)(j->T * j->N) * 4) != 0;
}

static void *ws_thread(void *arg) {
  ws_job *j = arg;
  float *out = malloc((size_t)(j->T * j->N) * 4);
  for (int it = 0; it < j->iters; it++) j->fails += ws_call(j, out);
  free(out);
  return NULL;
}

/* The matmul's per-call buffers live in the context's shared workspace: calls
 * of growing and shrinking token counts (wide and panel paths) on one context,
 * and two threads calling on one context at once, must give exactly what a
 * fresh context gives. */
static void test_workspace(void) {
  static const int64_t Ts[] = {200, 3, 17, 1, 64, 150};
  const int64_t N = 40, K = 300;
  float *wd = gauss_buf(N * K, 31, 0.05f), *x = gauss_buf(200 * K, 32, 1.0f);
  subq_ternary *w = NULL;
  CHECK_OK(subq_ternary_quantize(NULL, N, K, SUBQ_DTYPE_F32, wd, K, SUBQ_TERNARY_SCALE_TENSOR, &w));
  if (!w) {
    free(wd), free(x);
    return;
  }
  float *want[6], *got = malloc((size_t)(200 * N) * 4);
  for (int i = 0; i < 6; i++) {
    subq_context *fresh = subq_test_context(SUBQ_ISA_AUTO, 2);
    want[i] = malloc((size_t)(Ts[i] * N) * 4);
    const ws_job j = {fresh, w, x, NULL, Ts[i], N, 1, 0};
    CHECK(ws_call(&j, want[i]) == 0);
    subq_context_destroy(fresh);
  }
  subq_context *ctx = subq_test_context(SUBQ_ISA_AUTO, 2);
  int fails = 0;
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 6; i++) {
      const ws_job j = {ctx, w, x, want[i], Ts[i], N, 1, 0};
      fails += ws_call(&j, got);
    }
  CHECK_MSG(fails == 0, "workspace reuse: %d calls differ from a fresh context", fails);
  ws_job ja = {ctx, w, x, want[0], Ts[0], N, 20, 0}, jb = {ctx, w, x, want[2], Ts[2], N, 40, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, ws_thread, &ja) == 0);
  ws_thread(&jb);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_MSG(ja.fails == 0 && jb.fails == 0, "shared context: %d and %d calls differ", ja.fails, jb.fails);
  subq_context_destroy(ctx);
  for (int i = 0; i < 6; i++) free(want[i]);
  subq_ternary_destroy(w);
  free(got), free(wd), free(x);
}

/* ---- activation quantization ---------------------------------------------------------------------- */

static void test_tie_vector(subq_isa isa) {
  /* spec §1.2: s = 1 -> even (127,2,-2,4,0,0,126), away (127,3,-3,4,1,-1,127) */
  static const float x[7] = {127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, 126.5f};
  static const int8_t even[7] = {127, 2, -2, 4, 0, 0, 126}, away[7] = {127, 3, -3, 4, 1, -1, 127};
  subq_context *ctx = subq_test_context(isa, 1);
  for (int rnd = 0; rnd < 2; rnd++) {
    /* the same 7 values repeated to 70 so the SIMD bodies see ties too */
    float xx[70];
    int8_t q[70];
    for (int i = 0; i < 70; i++) xx[i] = x[i % 7];
    subq_ternary_act_args a;
    subq_ternary_act_args_default(&a, sizeof a);
    int32_t S = 0;
    float sc = 0.0f;
    a.rows = 1, a.cols = 70, a.x = xx, a.q = q, a.sums = &S, a.scales = &sc, a.rounding = (subq_round)rnd;
    CHECK_OK(subq_ternary_act_quant(ctx, &a));
    bool ok = sc == 127.0f;
    int32_t want_S = 0;
    for (int i = 0; i < 70; i++) {
      const int8_t wv = rnd ? away[i % 7] : even[i % 7];
      ok &= q[i] == wv;
      want_S += wv;
    }
    CHECK_MSG(ok && S == want_S, "tie vector isa %s rounding %d", subq_isa_name(isa), rnd);
  }
  subq_context_destroy(ctx);
}

static void test_actq(subq_isa isa) {
  static const int64_t ks[] = {1, 7, 16, 33, 64, 250, 257, 1000, 4099};
  subq_context *ctx = subq_test_context(isa, 2);
  bool ok = true;
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
    for (int norm = 0; norm < 3; norm++) /* 0 none, 1 RMSNorm without weight, 2 with weight */
      for (int rnd = 0; rnd < 2; rnd++) {
        const int64_t K = ks[ki], R = 5, ld = K + 3;
        float *x = gauss_buf(R * ld, 1000 + ki * 7 + (unsigned)norm, ki % 2 ? 3.0f : 0.01f);
        for (int64_t c = 0; c < K; c++) x[2 * ld + c] = 0.0f; /* row 2 all zero: a = 1e-5 */
        float *w = gauss_buf(K, 77 + ki, 1.0f);
        int8_t *q = malloc((size_t)(R * ld)), *qr = malloc((size_t)K);
        int32_t S[5];
        float sc[5];
        subq_ternary_act_args a;
        subq_ternary_act_args_default(&a, sizeof a);
        a.rows = R, a.cols = K, a.x = x, a.x_ld = ld, a.q = q, a.q_ld = ld, a.sums = S, a.scales = sc;
        a.flags = norm ? SUBQ_TERNARY_RMSNORM : 0, a.norm_weight = norm == 2 ? w : NULL, a.eps = 1e-5f;
        a.rounding = (subq_round)rnd;
        CHECK_OK(subq_ternary_act_quant(ctx, &a));
        for (int64_t r = 0; r < R && ok; r++) {
          int32_t Sr;
          float ar;
          subq_ref_ternary_actq(x + r * ld, norm == 2 ? w : NULL, K, norm != 0, 1e-5f, rnd, qr, &Sr, &ar);
          if (memcmp(q + r * ld, qr, (size_t)K) != 0 || S[r] != Sr || fbits(sc[r]) != fbits(ar)) {
            fprintf(stderr, "  actq %s K %lld norm %d rnd %d row %lld: S %d/%d a %.9g/%.9g\n", subq_isa_name(isa),
                    (long long)K, norm, rnd, (long long)r, S[r], Sr, sc[r], ar);
            ok = false;
          }
          if (r == 2 && !(sc[r] == 1e-5f && S[r] == 0)) ok = false;
        }
        free(x), free(w), free(q), free(qr);
      }
  CHECK_MSG(ok, "actq bitwise vs the oracle on %s", subq_isa_name(isa));
  subq_context_destroy(ctx);
}

/* ---- the integer product ----------------------------------------------------------------------------- */

static void test_matmul_i32(subq_isa isa) {
  static const int64_t Ns[] = {1, 5, 16, 17, 300};
  static const int64_t Ks[] = {1, 63, 64, 250, 257, 1000, 4100};
  /* 17, 65, 150: whole 16-token blocks on the wide kernels, the rest (in the same item for 150) on gemm */
  static const int64_t Ts[] = {1, 2, 3, 4, 5, 16, 17, 65, 150};
  subq_context *ctx = subq_test_context(isa, 3);
  bool ok = true;
  int cases = 0;
  for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
      const int64_t N = Ns[ni], K = Ks[ki];
      int8_t *t = random_codes(N * K, 31 * ni + ki);
      const float g = 1.0f;
      subq_ternary *w = NULL;
      CHECK_OK(subq_ternary_from_codes(N, K, t, K, SUBQ_TERNARY_SCALE_TENSOR, &g, &w));
      if (!w) {
        free(t);
        continue;
      }
      for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        const int64_t T = Ts[ti];
        if (N * K * T > 3000000) continue;
        int8_t *q = random_q(T * K, 900 + ti);
        int64_t *dr = malloc((size_t)(T * N) * 8);
        int32_t *d = malloc((size_t)(T * (N + 2)) * 4);
        subq_ref_ternary_dot(T, N, K, t, q, dr);
        for (int64_t i = 0; i < T * (N + 2); i++) d[i] = 0x7eadbeef;
        CHECK_OK(subq_ternary_matmul_i32(ctx, w, T, q, K, d, N + 2));
        for (int64_t tt = 0; tt < T && ok; tt++) {
          for (int64_t r = 0; r < N && ok; r++)
            if (d[tt * (N + 2) + r] != dr[tt * N + r]) {
              fprintf(stderr, "  i32 %s N %lld K %lld T %lld [%lld][%lld]: %d want %lld\n", subq_isa_name(isa),
                      (long long)N, (long long)K, (long long)T, (long long)tt, (long long)r, d[tt * (N + 2) + r],
                      (long long)dr[tt * N + r]);
              ok = false;
            }
          if (d[tt * (N + 2) + N] != 0x7eadbeef || d[tt * (N + 2) + N + 1] != 0x7eadbeef) ok = false; /* ld padding */
        }
        cases++;
        free(q), free(dr), free(d);
      }
      subq_ternary_destroy(w);
      free(t);
    }
  CHECK_MSG(ok && cases > 100, "int8 x ternary bitwise vs int64 on %s (%d cases)", subq_isa_name(isa), cases);
  subq_context_destroy(ctx);
}

static void test_overflow(subq_isa isa) {
  /* |q| = 127 on all +-1 weights: every int16 partial at its bound */
  static const int64_t Ks[] = {16384, 65536};
  subq_context *ctx = subq_test_context(isa, 2);
  for (size_t ki = 0; ki < 2; ki++) {
    const int64_t K = Ks[ki], N = 17, T = 18; /* tokens 1, 5 (panel kernels) and 17 (wide kernels) */
    int8_t *t = malloc((size_t)(N * K)), *q = malloc((size_t)(T * K));
    for (int64_t r = 0; r < N; r++)
      for (int64_t c = 0; c < K; c++) t[r * K + c] = r % 2 ? -1 : 1;
    for (int64_t tt = 0; tt < T; tt++)
      for (int64_t c = 0; c < K; c++) q[tt * K + c] = tt % 2 ? -127 : 127;
    const float g = 1.0f;
    subq_ternary *w = NULL;
    CHECK_OK(subq_ternary_from_codes(N, K, t, K, SUBQ_TERNARY_SCALE_TENSOR, &g, &w));
    int32_t *d = malloc((size_t)(T * N) * 4);
    for (int64_t T1 = 1; T1 <= T && w; T1 += 4) { /* the GEMV (1 token) and both GEMM paths */
      CHECK_OK(subq_ternary_matmul_i32(ctx, w, T1, q, K, d, N));
      bool ok = true;
      for (int64_t tt = 0; tt < T1; tt++)
        for (int64_t r = 0; r < N; r++) {
          const int64_t want = (int64_t)(r % 2 ? -1 : 1) * (tt % 2 ? -127 : 127) * K;
          ok &= d[tt * N + r] == want;
        }
      CHECK_MSG(ok, "overflow stress %s K %lld tokens %lld: d[0] %d", subq_isa_name(isa), (long long)K, (long long)T1,
                d[0]);
    }
    /* the same through the fused path: x = +-1 rows quantize to +-127 */
    if (w) {
      float *x = malloc((size_t)(T * K) * 4), *out = malloc((size_t)(T * N) * 4);
      for (int64_t i = 0; i < T * K; i++) x[i] = q[i] > 0 ? 1.0f : -1.0f;
      subq_bitlinear_args a;
      subq_bitlinear_args_default(&a, sizeof a);
      a.tokens = T, a.x = x, a.out = out;
      CHECK_OK(subq_bitlinear(ctx, w, &a));
      bool ok = true;
      for (int64_t tt = 0; tt < T; tt++)
        for (int64_t r = 0; r < N; r++) {
          const float want = (float)((r % 2 ? -1 : 1) * (tt % 2 ? -127 : 127) * K) * (1.0f * (1.0f / 127.0f));
          ok &= out[tt * N + r] == want;
        }
      CHECK_MSG(ok, "overflow stress bitlinear %s K %lld: %g", subq_isa_name(isa), (long long)K, out[0]);
      free(x), free(out);
    }
    subq_ternary_destroy(w);
    free(t), free(q), free(d);
  }
  subq_context_destroy(ctx);
}

/* ---- BitLinear ------------------------------------------------------------------------------------------ */

typedef struct bl_case {
  int64_t N, K, T;
  bool per_row, norm, weight, residual;
  int rounding;
} bl_case;

/* Runs the case on ctx; returns out (T x (N + 1)) for bitwise comparisons. */
static float *run_bl(subq_context *ctx, const bl_case *c, const subq_ternary *w, const float *x, const float *nw,
                     const float *res) {
  float *out = malloc((size_t)(c->T * (c->N + 1)) * 4);
  for (int64_t i = 0; i < c->T * (c->N + 1); i++) out[i] = -3.0f;
  subq_bitlinear_args a;
  subq_bitlinear_args_default(&a, sizeof a);
  a.tokens = c->T, a.x = x, a.x_ld = c->K + 1, a.out = out, a.out_ld = c->N + 1;
  a.flags = c->norm ? SUBQ_TERNARY_RMSNORM : 0, a.norm_weight = c->weight ? nw : NULL, a.eps = 1e-6f;
  a.rounding = (subq_round)c->rounding;
  a.residual = c->residual ? res : NULL, a.residual_ld = c->N;
  CHECK_OK(subq_bitlinear(ctx, w, &a));
  return out;
}

static void test_bitlinear(void) {
  static const bl_case cases[] = {
      {1, 1, 1, false, false, false, false, 0},     {5, 63, 3, true, true, true, false, 1},
      {300, 257, 1, false, true, false, true, 0},  {17, 1000, 17, true, true, true, true, 0},
      {16, 4100, 2, false, false, false, false, 1}, {300, 250, 65, true, true, true, false, 0},
      {64, 2048, 130, false, true, true, true, 1},
  };
  subq_isa isas[8];
  const int n_isas = subq_test_isas(isas);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const bl_case *c = &cases[ci];
    const int64_t N = c->N, K = c->K, T = c->T;
    float *wd = gauss_buf(N * K, 500 + ci, 0.05f), *x = gauss_buf(T * (K + 1), 600 + ci, 1.5f);
    float *nw = gauss_buf(K, 700 + ci, 1.0f), *res = gauss_buf(T * N, 800 + ci, 1.0f);
    subq_ternary *w = NULL;
    CHECK_OK(subq_ternary_quantize(NULL, N, K, SUBQ_DTYPE_F32, wd, K,
                                   c->per_row ? SUBQ_TERNARY_SCALE_ROW : SUBQ_TERNARY_SCALE_TENSOR, &w));
    if (!w) continue;
    int8_t *t = malloc((size_t)(N * K)), *q = malloc((size_t)(T * K));
    float *g = malloc((size_t)N * 4), *a = malloc((size_t)T * 4);
    int32_t *S = malloc((size_t)T * 4);
    int64_t *D = malloc((size_t)(T * N) * 8);
    CHECK_OK(subq_ternary_to_codes(w, t, K, g));
    for (int64_t tt = 0; tt < T; tt++)
      subq_ref_ternary_actq(x + tt * (K + 1), c->weight ? nw : NULL, K, c->norm, 1e-6f, c->rounding, q + tt * K,
                            &S[tt], &a[tt]);
    subq_ref_ternary_dot(T, N, K, t, q, D);
    float *first = NULL;
    for (int ii = 0; ii < n_isas; ii++) {
      subq_context *ctx = subq_test_context(isas[ii], 2);
      float *out = run_bl(ctx, c, w, x, nw, res);
      /* float64 epilogue on the oracle's q: D * gamma * a / 127 (+ residual).
       * The kernel rounds twice (comb, then the product) and once more with a
       * residual: |err| <= 2^-23 |D comb| + 2^-24 |out|, so 1e-6 relative to
       * |D comb| + |out|. */
      bool ok = true;
      for (int64_t tt = 0; tt < T && ok; tt++)
        for (int64_t r = 0; r < N && ok; r++) {
          const double prod = (double)D[tt * N + r] * (double)g[c->per_row ? r : 0] * (double)a[tt] / 127.0;
          const double e = prod + (c->residual ? res[tt * N + r] : 0.0), got = out[tt * (N + 1) + r];
          if (!(fabs(got - e) <= 1e-6 * (fabs(prod) + fabs(e)) + 1e-30)) {
            fprintf(stderr, "  bitlinear case %zu %s out[%lld][%lld] %.9g want %.9g\n", ci, subq_isa_name(isas[ii]),
                    (long long)tt, (long long)r, got, e);
            ok = false;
          }
          if (r == N - 1 && out[tt * (N + 1) + N] != -3.0f) ok = false; /* ld padding untouched */
        }
      CHECK_MSG(ok, "bitlinear case %zu vs float64 on %s", ci, subq_isa_name(isas[ii]));
      if (!first) first = out;
      else {
        CHECK_MSG(memcmp(first, out, (size_t)(T * (N + 1)) * 4) == 0, "bitlinear case %zu: %s differs from %s", ci,
                  subq_isa_name(isas[ii]), subq_isa_name(isas[0]));
        free(out);
      }
      subq_context_destroy(ctx);
    }
    /* determinism on the host's best path: threads 1, 3, 5, shuffled executor, ctx NULL */
    {
      subq_context *c1 = subq_test_context(isas[n_isas - 1], 1);
      float *base = run_bl(c1, c, w, x, nw, res);
      subq_context_destroy(c1);
      static const int thr[] = {2, 3, 5};
      bool same = true;
      for (int k = 0; k < 3; k++) {
        subq_context *c2 = subq_test_context(isas[n_isas - 1], thr[k]);
        float *o2 = run_bl(c2, c, w, x, nw, res);
        same &= memcmp(base, o2, (size_t)(T * (N + 1)) * 4) == 0;
        subq_context_destroy(c2);
        free(o2);
      }
      subq_executor ex = subq_test_shuffled_executor();
      subq_context *ce = NULL;
      CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ce));
      if (ce) {
        float *o2 = run_bl(ce, c, w, x, nw, res);
        same &= memcmp(base, o2, (size_t)(T * (N + 1)) * 4) == 0;
        free(o2);
        subq_context_destroy(ce);
      }
      float *o3 = run_bl(NULL, c, w, x, nw, res);
      same &= memcmp(base, o3, (size_t)(T * (N + 1)) * 4) == 0;
      free(o3);
      CHECK_MSG(same, "bitlinear case %zu: bits depend on threads / executor", ci);
      free(base);
    }
    /* out == residual (in place) gives the same bits */
    if (c->residual) {
      subq_context *c1 = subq_test_context(isas[n_isas - 1], 2);
      float *o1 = run_bl(c1, c, w, x, nw, res);
      float *io = malloc((size_t)(T * N) * 4);
      memcpy(io, res, (size_t)(T * N) * 4);
      subq_bitlinear_args ba;
      subq_bitlinear_args_default(&ba, sizeof ba);
      ba.tokens = T, ba.x = x, ba.x_ld = K + 1, ba.out = io, ba.residual = io;
      ba.flags = c->norm ? SUBQ_TERNARY_RMSNORM : 0, ba.norm_weight = c->weight ? nw : NULL;
      ba.rounding = (subq_round)c->rounding;
      CHECK_OK(subq_bitlinear(c1, w, &ba));
      bool same = true;
      for (int64_t tt = 0; tt < T; tt++) same &= memcmp(io + tt * N, o1 + tt * (N + 1), (size_t)N * 4) == 0;
      CHECK_MSG(same, "bitlinear case %zu: in-place residual differs", ci);
      free(o1), free(io);
      subq_context_destroy(c1);
    }
    free(first);
    subq_ternary_destroy(w);
    free(wd), free(x), free(nw), free(res), free(t), free(q), free(g), free(a), free(S), free(D);
  }
}

/* ---- errors --------------------------------------------------------------------------------------------- */

static void test_errors(void) {
  float wf[64] = {0};
  int8_t t[64] = {0}, q[64] = {0};
  int32_t d[64];
  float out[64], g = 1.0f, gneg = -1.0f;
  subq_ternary *w = NULL;
  CHECK_STATUS(subq_ternary_quantize(NULL, 0, 4, SUBQ_DTYPE_F32, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "subq_ternary_quantize: n (0) < 1");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 0, SUBQ_DTYPE_F32, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "k (0) < 1");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 4, SUBQ_DTYPE_I8, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "dtype");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 4, SUBQ_DTYPE_F32, NULL, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "w is NULL");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 4, SUBQ_DTYPE_F32, wf, 3, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "ld (3) < k (4)");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 4, SUBQ_DTYPE_F32, wf, 4, (subq_ternary_scale)7, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "scale_mode (7)");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, SUBQ_TERNARY_MAX_K + 1, SUBQ_DTYPE_F32, wf, SUBQ_TERNARY_MAX_K + 1,
                                     SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "SUBQ_TERNARY_MAX_K");
  CHECK_STATUS(subq_ternary_quantize(NULL, INT64_MAX / 2, 4, SUBQ_DTYPE_F32, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "overflows");
  CHECK_STATUS(subq_ternary_quantize(NULL, 4, 4, SUBQ_DTYPE_F32, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, NULL),
               SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  t[5] = 2;
  CHECK_STATUS(subq_ternary_from_codes(2, 4, t, 4, SUBQ_TERNARY_SCALE_TENSOR, &g, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "t[1][1] (2) is not -1, 0 or 1");
  t[5] = 0;
  CHECK_STATUS(subq_ternary_from_codes(2, 4, t, 4, SUBQ_TERNARY_SCALE_TENSOR, &gneg, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "gamma[0] (-1)");
  CHECK_STATUS(subq_ternary_from_codes(2, 4, t, 4, SUBQ_TERNARY_SCALE_TENSOR, NULL, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "gamma is NULL");
  wf[0] = 0.5f, wf[1] = -0.5f, wf[2] = 0.25f;
  CHECK_STATUS(subq_ternary_from_ternarized(1, 4, SUBQ_DTYPE_F32, wf, 4, SUBQ_TERNARY_SCALE_TENSOR, &w),
               SUBQ_ERR_INVALID_ARGUMENT, "w[0][2] (0.25) is neither 0 nor +-0.5");
  const uint8_t hf[8] = {0x03, 0, 0, 0, 0, 0, 0, 0};
  CHECK_STATUS(subq_ternary_from_hf(6, 2, hf, 1.0f, SUBQ_TERNARY_HF_DIVIDE, &w), SUBQ_ERR_UNSUPPORTED,
               "n (6) is not a multiple of 4");
  CHECK_STATUS(subq_ternary_from_hf(8, 2, hf, 1.0f, SUBQ_TERNARY_HF_DIVIDE, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "packed[0][0] bits 0..1 hold 3");
  CHECK_STATUS(subq_ternary_from_hf(8, 2, hf + 1, 0.0f, SUBQ_TERNARY_HF_DIVIDE, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "weight_scale[0] (0)");
  CHECK_STATUS(subq_ternary_from_hf(8, 2, hf + 1, 1.0f, (subq_ternary_hf_scale)9, &w), SUBQ_ERR_INVALID_ARGUMENT,
               "rule (9)");
  CHECK_STATUS(subq_ternary_from_blob(wf, 64, &w), SUBQ_ERR_INVALID_ARGUMENT, "smaller than the 128-byte header");
  /* blob corruption: magic, a code 3, truncation */
  int8_t t2[32] = {0};
  t2[0] = 1;
  CHECK_OK(subq_ternary_from_codes(2, 16, t2, 16, SUBQ_TERNARY_SCALE_TENSOR, &g, &w));
  if (w) {
    size_t size;
    const uint8_t *b = subq_ternary_blob(w, &size);
    uint8_t *cp = malloc(size);
    subq_ternary *w2 = NULL;
    memcpy(cp, b, size);
    cp[0] = 'X';
    CHECK_STATUS(subq_ternary_from_blob(cp, size, &w2), SUBQ_ERR_INVALID_ARGUMENT, "bad magic");
    memcpy(cp, b, size);
    cp[128] = 0xff;
    CHECK_STATUS(subq_ternary_from_blob(cp, size, &w2), SUBQ_ERR_INVALID_ARGUMENT, "code 3");
    memcpy(cp, b, size);
    CHECK_STATUS(subq_ternary_from_blob(cp, size - 64, &w2), SUBQ_ERR_INVALID_ARGUMENT, "out of range");
    free(cp);
    CHECK_STATUS(subq_ternary_to_codes(w, t2, 3, NULL), SUBQ_ERR_INVALID_ARGUMENT, "ld (3) < k (16)");
    /* matmul and bitlinear arguments */
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, -1, q, 16, d, 2), SUBQ_ERR_INVALID_ARGUMENT, "tokens (-1) < 0");
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, 1, NULL, 16, d, 2), SUBQ_ERR_INVALID_ARGUMENT, "q is NULL");
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, 1, q, 8, d, 2), SUBQ_ERR_INVALID_ARGUMENT, "q_ld (8) < row length 16");
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, 1, q, 16, d, 1), SUBQ_ERR_INVALID_ARGUMENT, "d_ld (1) < row length 2");
    q[3] = -128;
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, 1, q, 16, d, 2), SUBQ_ERR_INVALID_ARGUMENT, "q[0][3] is -128");
    q[3] = 0;
    { /* a -128 deep in a threaded call (the check runs in the pool's first phase): nothing written to d */
      const int64_t N = 700, K = 300, T = 40;
      int8_t *codes = malloc((size_t)(N * K)), *qq = malloc((size_t)(T * K));
      int32_t *dd = malloc((size_t)(T * N) * sizeof(int32_t));
      for (int64_t i = 0; i < N * K; i++) codes[i] = (int8_t)(i % 3 - 1);
      for (int64_t i = 0; i < T * K; i++) qq[i] = (int8_t)(i % 255 - 127);
      qq[33 * K + 17] = -128;
      const float g1 = 1.0f;
      subq_ternary *wb = NULL;
      CHECK_OK(subq_ternary_from_codes(N, K, codes, K, SUBQ_TERNARY_SCALE_TENSOR, &g1, &wb));
      subq_context *c2 = subq_test_context(SUBQ_ISA_AUTO, 2);
      memset(dd, 0x5a, (size_t)(T * N) * sizeof(int32_t));
      CHECK_STATUS(subq_ternary_matmul_i32(c2, wb, T, qq, K, dd, N), SUBQ_ERR_INVALID_ARGUMENT, "q[33][17] is -128");
      bool untouched = true;
      for (int64_t i = 0; i < T * N; i++) untouched = untouched && dd[i] == 0x5a5a5a5a;
      CHECK_MSG(untouched, "matmul_i32 wrote d before failing on -128");
      subq_context_destroy(c2);
      subq_ternary_destroy(wb);
      free(codes), free(qq), free(dd);
    }
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, w, 1, q, 16, (int32_t *)(void *)q, 2), SUBQ_ERR_INVALID_ARGUMENT,
                 "d overlaps q");
    CHECK_STATUS(subq_ternary_matmul_i32(NULL, NULL, 1, q, 16, d, 2), SUBQ_ERR_INVALID_ARGUMENT, "w is NULL");
    subq_bitlinear_args a;
    subq_bitlinear_args_default(&a, sizeof a);
    a.tokens = 1, a.x = wf, a.out = out;
    CHECK_STATUS(subq_bitlinear(NULL, w, NULL), SUBQ_ERR_INVALID_ARGUMENT, "subq_bitlinear: args is NULL");
    a.flags = 8;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "unknown flags 0x8");
    a.flags = 0, a.rounding = (subq_round)5;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "rounding (5)");
    a.rounding = SUBQ_ROUND_HALF_EVEN, a.eps = -1.0f;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "eps (-1)");
    a.eps = 1e-6f, a.x = NULL;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "x is NULL");
    a.x = wf, a.out = wf + 8;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps x");
    a.out = out, a.residual = out + 1;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "out overlaps residual");
    a.residual = NULL, a.struct_size = 8;
    CHECK_STATUS(subq_bitlinear(NULL, w, &a), SUBQ_ERR_INVALID_ARGUMENT, "struct_size");
    subq_ternary_act_args aq;
    subq_ternary_act_args_default(&aq, sizeof aq);
    aq.rows = 1, aq.cols = 0, aq.x = wf, aq.q = q;
    CHECK_STATUS(subq_ternary_act_quant(NULL, &aq), SUBQ_ERR_INVALID_ARGUMENT, "cols (0) < 1");
    aq.cols = 16, aq.q = NULL;
    CHECK_STATUS(subq_ternary_act_quant(NULL, &aq), SUBQ_ERR_INVALID_ARGUMENT, "q is NULL");
    aq.q = (int8_t *)(void *)wf;
    CHECK_STATUS(subq_ternary_act_quant(NULL, &aq), SUBQ_ERR_INVALID_ARGUMENT, "q overlaps x");
    { /* K above SUBQ_TERNARY_MAX_K is refused here too, as everywhere K is (fuzz_kernel_args) */
      float *bx = calloc(SUBQ_TERNARY_MAX_K + 1, sizeof(float));
      int8_t *bq = calloc(SUBQ_TERNARY_MAX_K + 1, 1);
      aq.cols = SUBQ_TERNARY_MAX_K + 1, aq.x = bx, aq.q = bq;
      CHECK_STATUS(subq_ternary_act_quant(NULL, &aq), SUBQ_ERR_INVALID_ARGUMENT, "cols (131073)");
      aq.cols = SUBQ_TERNARY_MAX_K;
      CHECK_OK(subq_ternary_act_quant(NULL, &aq));
      free(bx), free(bq);
    }
    subq_ternary_destroy(w);
  }
  subq_ternary_destroy(NULL);
}

int main(void) {
  test_sq2_vector();
  test_hf_vector();
  test_quantize();
  test_quantize_ties();
  test_workspace();
  subq_isa isas[8];
  const int n = subq_test_isas(isas);
  for (int i = 0; i < n; i++) {
    test_tie_vector(isas[i]);
    test_actq(isas[i]);
    test_matmul_i32(isas[i]);
    test_overflow(isas[i]);
  }
  test_bitlinear();
  test_errors();
  return subq_test_finish("test_ternary");
}
