/*
 * test_ssd.c — the Mamba-2 SSD scan (recurrent and chunked), its decode step
 * and the grouped gated RMSNorm against float64 oracles on every ISA path
 * the host runs; chunked prefill and decode steps bitwise equal to one-shot
 * prefill (recurrent); packed variable-length batches bitwise equal to
 * separate calls; bitwise determinism across thread counts and executors;
 * every bad argument gives a status and a message; HF state layout round
 * trip. Tolerances (mamba spec §10): recurrent |got - ref| <= 1e-4 |ref| +
 * 1e-5 max|ref|; chunked 1e-3 |ref| + 1e-4 max|ref| (vs ref and vs the
 * recurrence); RMSNorm 1e-5 |ref| + 1e-6 max|ref|.
 */
#include <float.h>
#include <stdint.h>

#include "internal/subq_internal.h"
#include "ref/subq_ref_ssm.h"
#include "support/subq_test.h"

static int n_cases;

static float gauss(subq_rng *r) {
  float u1 = 0.5f * (subq_rng_float(r) + 1.0f), u2 = subq_rng_float(r);
  if (u1 < 1e-7f) u1 = 1e-7f;
  return sqrtf(-2.0f * logf(u1)) * cosf(3.14159265f * u2);
}
static float unif01(subq_rng *r) { return 0.5f * (subq_rng_float(r) + 1.0f); }

static float *gauss_buf(int64_t n, unsigned long long seed) {
  subq_rng r = {seed};
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) p[i] = gauss(&r);
  return p;
}

/* got (stride ld per row) against ref (dense rows x cols). */
static bool close_tol(const char *what, const float *got, int64_t ld, const double *ref, int64_t rows, int64_t cols,
                      double rtol, double atol_rel) {
  double mx = 0.0;
  for (int64_t i = 0; i < rows * cols; i++) mx = fmax(mx, fabs(ref[i]));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      const double r = ref[i * cols + j], g = got[i * ld + j];
      if (!(fabs(g - r) <= rtol * fabs(r) + atol_rel * mx)) {
        fprintf(stderr, "  %s[%lld][%lld]: got %.9g want %.9g (max|ref| %.3g)\n", what, (long long)i, (long long)j, g,
                r, mx);
        return false;
      }
    }
  return true;
}

/* ---- SSD scan -------------------------------------------------------------------------- */

typedef struct ssd_case {
  int64_t B, T, H, P, N, G;
  bool a_log, dt_bias, d_skip, d_pc, h_in, clamp;
  int stress;    /* 0 normal, 1 large dt (decays underflow), 2 tiny dt (long memory), 3 dt = +-30, A_log = 80 */
  int64_t chunk; /* 0 = default */
} ssd_case;

typedef struct ssd_data {
  ssd_case k;
  int64_t E, GN, sf;
  float *x, *dt, *b, *c, *a, *dtb, *d, *h0, *h0_hf;
} ssd_data;

static void ssd_make(ssd_data *s, const ssd_case *k, unsigned long long seed) {
  memset(s, 0, sizeof *s);
  s->k = *k;
  s->E = k->H * k->P, s->GN = k->G * k->N, s->sf = subq_ssm2_state_floats(k->H, k->P, k->N);
  const int64_t BT = k->B * k->T;
  subq_rng r = {seed};
  s->x = gauss_buf(BT * s->E, seed + 1);
  s->b = gauss_buf(BT * s->GN, seed + 2);
  s->c = gauss_buf(BT * s->GN, seed + 3);
  s->d = gauss_buf(s->E, seed + 4);
  s->dt = malloc((size_t)(BT * k->H + 1) * sizeof(float));
  s->dtb = malloc((size_t)k->H * sizeof(float));
  s->a = malloc((size_t)k->H * sizeof(float));
  for (int64_t i = 0; i < BT * k->H; i++)
    s->dt[i] = k->stress == 1   ? gauss(&r) + 3.0f
               : k->stress == 2 ? -14.0f
               : k->stress == 3 ? (i % 3 == 0 ? 30.0f : i % 3 == 1 ? -30.0f : gauss(&r))
                                : gauss(&r) - (k->dt_bias ? 0.0f : 4.0f);
  for (int64_t h = 0; h < k->H; h++) {
    s->dtb[h] = unif01(&r) - 4.0f;
    const float u = unif01(&r);
    s->a[h] = k->a_log ? u : -expf(u);
    if (k->stress == 3 && k->a_log && h % 2 == 0) s->a[h] = 80.0f; /* A = -exp(80) ~ -5.5e34: decays of 0 */
  }
  s->h0_hf = gauss_buf(k->B * s->sf, seed + 5);
  s->h0 = malloc((size_t)(k->B * s->sf) * sizeof(float));
  CHECK_OK(subq_ssm2_state_import(k->B, k->H, k->P, k->N, s->h0_hf, s->h0));
}

static void ssd_free(ssd_data *s) {
  free(s->x), free(s->dt), free(s->b), free(s->c), free(s->a), free(s->dtb), free(s->d), free(s->h0), free(s->h0_hf);
}

static void ssd_args(const ssd_data *s, subq_ssm2_args *a, int algo, float *h_out, float *y) {
  const ssd_case *k = &s->k;
  subq_ssm2_args_default(a, sizeof *a);
  a->batch = k->B, a->seqlen = k->T, a->n_heads = k->H, a->head_dim = k->P, a->d_state = k->N, a->n_groups = k->G;
  a->flags = SUBQ_SSM2_DT_SOFTPLUS | (k->a_log ? SUBQ_SSM2_A_LOG : 0) | (k->d_pc ? SUBQ_SSM2_D_PER_CHANNEL : 0);
  a->algo = algo, a->chunk = k->chunk;
  if (k->clamp) a->dt_min = 0.01f, a->dt_max = 0.05f;
  a->x = s->x, a->dt = s->dt, a->b = s->b, a->c = s->c, a->a = s->a;
  a->dt_bias = k->dt_bias ? s->dtb : NULL, a->d_skip = k->d_skip ? s->d : NULL;
  a->h_in = k->h_in ? s->h0 : NULL, a->h_out = h_out, a->y = y;
}

static const char *algo_name(int algo) {
  return algo == SUBQ_SSM2_ALGO_CHUNKED ? "chunked" : algo == SUBQ_SSM2_ALGO_RECURRENT ? "recurrent" : "auto";
}

static void ssd_vs_ref(subq_isa isa, const ssd_case *k, unsigned long long seed) {
  subq_context *ctx = subq_test_context(isa, 2);
  ssd_data s;
  ssd_make(&s, k, seed);
  const int64_t E = s.E, H = k->H, T = k->T, P = k->P, N = k->N, sf = s.sf, nY = k->B * T * E;
  float *y[2], *h[2], *hhf = malloc((size_t)(k->B * sf) * sizeof(float));
  double *rS = malloc((size_t)sf * sizeof(double)), *ry = malloc((size_t)(T * E + 1) * sizeof(double));
  double *ryall = malloc((size_t)(nY + 1) * sizeof(double));
  for (int al = 0; al < 2; al++) {
    const int algo = al ? SUBQ_SSM2_ALGO_CHUNKED : SUBQ_SSM2_ALGO_RECURRENT;
    const double rtol = al ? 1e-3 : 1e-4, atol = al ? 1e-4 : 1e-5;
    y[al] = malloc((size_t)(nY + 1) * sizeof(float)), h[al] = malloc((size_t)(k->B * sf) * sizeof(float));
    subq_ssm2_args a;
    ssd_args(&s, &a, algo, h[al], y[al]);
    CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    CHECK_OK(subq_ssm2_state_export(k->B, H, P, N, h[al], hhf));
    bool ok = true;
    for (int64_t b = 0; b < k->B; b++) {
      for (int64_t i = 0; i < sf; i++) rS[i] = k->h_in ? s.h0_hf[b * sf + i] : 0.0;
      subq_ref_ssm2(T, H, P, N, k->G, true, k->a_log, k->d_pc, k->clamp ? 0.01f : 0.0, k->clamp ? 0.05f : INFINITY,
                    s.x + b * T * E, s.dt + b * T * H, s.b + b * T * s.GN, s.c + b * T * s.GN, s.a,
                    k->dt_bias ? s.dtb : NULL, k->d_skip ? s.d : NULL, rS, ry);
      memcpy(ryall + b * T * E, ry, (size_t)(T * E) * sizeof(double));
      ok = ok && close_tol("ssd y", y[al] + b * T * E, E, ry, T, E, rtol, atol);
      ok = ok && close_tol("ssd h", hhf + b * sf, N, rS, H * P, N, rtol, atol);
    }
    for (int64_t i = 0; i < nY; i++) ok = ok && isfinite(y[al][i]);
    CHECK_MSG(ok, "ssd %s isa %d B%lld T%lld H%lld P%lld N%lld G%lld alog%d dtb%d D%d/%d hin%d clamp%d stress%d Q%lld",
              algo_name(algo), (int)isa, (long long)k->B, (long long)T, (long long)H, (long long)P, (long long)N,
              (long long)k->G, k->a_log, k->dt_bias, k->d_skip, k->d_pc, k->h_in, k->clamp, k->stress,
              (long long)k->chunk);
    n_cases++;
  }
  /* chunked against the recurrence directly */
  {
    double *yr = malloc((size_t)(nY + 1) * sizeof(double));
    for (int64_t i = 0; i < nY; i++) yr[i] = y[0][i];
    CHECK_MSG(close_tol("chunked vs recurrent y", y[1], E, yr, k->B * T, E, 1e-3, 1e-4), "chunked vs recurrent isa %d T%lld",
              (int)isa, (long long)T);
    free(yr);
  }
  /* AUTO equals the algorithm it picks, bitwise */
  {
    float *ya = malloc((size_t)(nY + 1) * sizeof(float)), *ha = malloc((size_t)(k->B * sf) * sizeof(float));
    subq_ssm2_args a;
    ssd_args(&s, &a, SUBQ_SSM2_ALGO_AUTO, ha, ya);
    CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    const bool same_rec = memcmp(ya, y[0], (size_t)nY * sizeof(float)) == 0 && memcmp(ha, h[0], (size_t)(k->B * sf) * 4) == 0;
    const bool same_chk = memcmp(ya, y[1], (size_t)nY * sizeof(float)) == 0 && memcmp(ha, h[1], (size_t)(k->B * sf) * 4) == 0;
    const bool want_chk = subq_context_isa(ctx) != SUBQ_ISA_SCALAR && T >= SUBQ_SSM2_AUTO_MIN_CHUNKED_LEN;
    CHECK_MSG(want_chk ? same_chk : same_rec, "auto isa %d T%lld picks %s", (int)isa, (long long)T,
              want_chk ? "chunked" : "recurrent");
    free(ya), free(ha);
  }
  free(y[0]), free(y[1]), free(h[0]), free(h[1]), free(hhf), free(rS), free(ry), free(ryall);
  ssd_free(&s);
  subq_context_destroy(ctx);
}

/* One-shot vs chunks (state passed in place) vs prefill + decode steps:
 * bitwise for the recurrence; within tolerance for chunked pieces. */
static void ssd_chunks(subq_isa isa, const ssd_case *kp) {
  subq_context *ctx = subq_test_context(isa, 2);
  const ssd_case k = *kp;
  ssd_data s;
  ssd_make(&s, &k, 77);
  const int64_t E = s.E, T = k.T, sf = s.sf, GN = s.GN, H = k.H, nY = k.B * T * E;
  float *y1 = malloc((size_t)nY * sizeof(float)), *y2 = malloc((size_t)nY * sizeof(float));
  float *h1 = malloc((size_t)(k.B * sf) * sizeof(float)), *h2 = malloc((size_t)(k.B * sf) * sizeof(float));
  for (int al = 0; al < 2; al++) {
    const int algo = al ? SUBQ_SSM2_ALGO_CHUNKED : SUBQ_SSM2_ALGO_RECURRENT;
    subq_ssm2_args a;
    ssd_args(&s, &a, algo, h1, y1);
    CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    const int64_t splits[][6] = {{1, 0}, {3, 0}, {17, 1, 1, 1, 0}, {40, 0}, {9, 8, 0}};
    for (int sp = 0; sp < 6; sp++) {
      memcpy(h2, s.h0, (size_t)(k.B * sf) * sizeof(float));
      memset(y2, 0xff, (size_t)nY * sizeof(float));
      int64_t t0 = 0;
      for (int piece = 0; t0 < T; piece++) {
        int64_t len = sp == 5 ? (t0 < 5 ? 5 : 1) : (piece < 6 && splits[sp][piece] ? splits[sp][piece] : T - t0);
        if (len > T - t0) len = T - t0;
        subq_ssm2_args c = a;
        c.seqlen = len, c.x_bs = c.y_bs = T * E, c.dt_bs = T * H, c.b_bs = c.c_bs = T * GN;
        c.x += t0 * E, c.dt += t0 * H, c.y = y2 + t0 * E, c.b += t0 * GN, c.c += t0 * GN;
        c.h_in = h2, c.h_out = h2;
        if (len == 1)
          CHECK_OK(subq_ssm2_step_f32(ctx, &c));
        else
          CHECK_OK(subq_ssm2_scan_f32(ctx, &c));
        t0 += len;
      }
      if (al == 0) {
        CHECK_MSG(memcmp(y1, y2, (size_t)nY * sizeof(float)) == 0, "ssd chunked-prefill y split %d isa %d", sp, (int)isa);
        CHECK_MSG(memcmp(h1, h2, (size_t)(k.B * sf) * sizeof(float)) == 0, "ssd chunked-prefill h split %d isa %d", sp,
                  (int)isa);
      } else {
        double *r = malloc((size_t)(nY + k.B * sf) * sizeof(double));
        for (int64_t i = 0; i < nY; i++) r[i] = y1[i];
        for (int64_t i = 0; i < k.B * sf; i++) r[nY + i] = h1[i];
        CHECK_MSG(close_tol("ssd chunked pieces y", y2, E, r, k.B * T, E, 1e-3, 1e-4) &&
                      close_tol("ssd chunked pieces h", h2, sf, r + nY, k.B, sf, 1e-3, 1e-4),
                  "ssd chunked algorithm in pieces, split %d isa %d", sp, (int)isa);
        free(r);
      }
    }
  }
  /* padded strides: the same bits, padding not written */
  {
    subq_ssm2_args a;
    ssd_args(&s, &a, SUBQ_SSM2_ALGO_RECURRENT, h1, y1);
    CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    const int64_t lde = E + 5, ldg = GN + 3, ldh = H + 2, bse = T * lde + 7, bsg = T * ldg + 2, bsh = T * ldh + 1;
    float *px = malloc((size_t)(k.B * bse) * 4), *py = malloc((size_t)(k.B * bse) * 4);
    float *pdt = malloc((size_t)(k.B * bsh) * 4), *pb = malloc((size_t)(k.B * bsg) * 4), *pc = malloc((size_t)(k.B * bsg) * 4);
    memset(py, 0x7f, (size_t)(k.B * bse) * 4);
    for (int64_t b = 0; b < k.B; b++)
      for (int64_t t = 0; t < T; t++) {
        memcpy(px + b * bse + t * lde, s.x + (b * T + t) * E, (size_t)E * 4);
        memcpy(pdt + b * bsh + t * ldh, s.dt + (b * T + t) * H, (size_t)H * 4);
        memcpy(pb + b * bsg + t * ldg, s.b + (b * T + t) * GN, (size_t)GN * 4);
        memcpy(pc + b * bsg + t * ldg, s.c + (b * T + t) * GN, (size_t)GN * 4);
      }
    for (int al = 0; al < 2; al++) {
      subq_ssm2_args c;
      ssd_args(&s, &c, al ? SUBQ_SSM2_ALGO_CHUNKED : SUBQ_SSM2_ALGO_RECURRENT, h2, py);
      float *yd = malloc((size_t)nY * 4), *hd = malloc((size_t)(k.B * sf) * 4);
      c.h_out = hd, c.y = yd;
      CHECK_OK(subq_ssm2_scan_f32(ctx, &c)); /* dense reference of this algorithm */
      c.h_out = h2, c.y = py;
      c.x = px, c.dt = pdt, c.b = pb, c.c = pc;
      c.x_ld = c.y_ld = lde, c.x_bs = c.y_bs = bse, c.dt_ld = ldh, c.dt_bs = bsh, c.b_ld = c.c_ld = ldg,
      c.b_bs = c.c_bs = bsg;
      CHECK_OK(subq_ssm2_scan_f32(ctx, &c));
      bool same = memcmp(hd, h2, (size_t)(k.B * sf) * 4) == 0, pad_ok = true;
      for (int64_t b = 0; b < k.B; b++)
        for (int64_t t = 0; t < T; t++) {
          same = same && memcmp(py + b * bse + t * lde, yd + (b * T + t) * E, (size_t)E * 4) == 0;
          for (int64_t j = E; j < lde; j++) {
            uint32_t bits;
            memcpy(&bits, py + b * bse + t * lde + j, sizeof bits);
            pad_ok = pad_ok && bits == 0x7f7f7f7fu;
          }
        }
      CHECK_MSG(same, "ssd %s with padded strides differs, isa %d", algo_name(al ? 2 : 1), (int)isa);
      CHECK_MSG(pad_ok, "ssd wrote into y padding, isa %d", (int)isa);
      free(yd), free(hd);
    }
    free(px), free(py), free(pdt), free(pb), free(pc);
  }
  free(y1), free(y2), free(h1), free(h2);
  ssd_free(&s);
  subq_context_destroy(ctx);
}

/* Packed variable-length batch == one call per sequence, bitwise (every
 * algorithm), with permuted slots, mixed has_initial_state and lengths 0
 * and 1; unused slots untouched. Then a packed decode step. */
static void ssd_varlen(subq_isa isa) {
  subq_context *ctx = subq_test_context(isa, 3);
  const int32_t lens[] = {0, 1, 5, 200, 3, 130, 64, 0, 17};
  const int64_t ns = 9, n_slots = 12, H = 4, P = 24, N = 32, G = 2, E = H * P, GN = G * N;
  const int32_t slots[] = {3, 0, 11, 7, 1, 5, 9, 2, 4};
  const uint8_t has_init[] = {1, 0, 1, 1, 0, 1, 1, 1, 0};
  int32_t cu[10];
  cu[0] = 0;
  for (int s = 0; s < ns; s++) cu[s + 1] = cu[s] + lens[s];
  const int64_t R = cu[ns], sf = subq_ssm2_state_floats(H, P, N);
  float *x = gauss_buf(R * E, 1), *b = gauss_buf(R * GN, 2), *c = gauss_buf(R * GN, 3), *dt = gauss_buf(R * H, 4);
  float *A = gauss_buf(H, 5), *dtb = gauss_buf(H, 6), *D = gauss_buf(H, 7), *pool0 = gauss_buf(n_slots * sf, 8);
  for (int64_t i = 0; i < R * H; i++) dt[i] -= 3.0f;
  float *pool = malloc((size_t)(n_slots * sf) * 4), *y = malloc((size_t)(R * E + 1) * 4);
  float *ys = malloc((size_t)(R * E + 1) * 4), *hs = malloc((size_t)sf * 4);
  for (int al = 0; al < 3; al++) {
    subq_ssm2_args a;
    subq_ssm2_args_default(&a, sizeof a);
    a.batch = ns, a.n_heads = H, a.head_dim = P, a.d_state = N, a.n_groups = G, a.flags |= SUBQ_SSM2_A_LOG;
    a.algo = al, a.chunk = 32;
    a.x = x, a.dt = dt, a.b = b, a.c = c, a.a = A, a.dt_bias = dtb, a.d_skip = D;
    a.cu_seqlens = cu, a.state_slots = slots, a.has_initial_state = has_init, a.n_slots = n_slots;
    memcpy(pool, pool0, (size_t)(n_slots * sf) * 4);
    a.h_in = pool, a.h_out = pool, a.y = y;
    CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    for (int s = 0; s < ns; s++) {
      if (lens[s] == 0) {
        CHECK_MSG(memcmp(pool + slots[s] * sf, pool0 + slots[s] * sf, (size_t)sf * 4) == 0,
                  "varlen: empty sequence %d touched its state", s);
        continue;
      }
      subq_ssm2_args o = a;
      o.batch = 1, o.seqlen = lens[s], o.cu_seqlens = NULL, o.state_slots = NULL, o.has_initial_state = NULL,
      o.n_slots = 0;
      o.x = x + cu[s] * E, o.dt = dt + cu[s] * H, o.b = b + cu[s] * GN, o.c = c + cu[s] * GN;
      o.h_in = has_init[s] ? pool0 + slots[s] * sf : NULL, o.h_out = hs, o.y = ys;
      CHECK_OK(subq_ssm2_scan_f32(ctx, &o));
      CHECK_MSG(memcmp(ys, y + cu[s] * E, (size_t)(lens[s] * E) * 4) == 0, "varlen y seq %d %s isa %d", s,
                algo_name(al), (int)isa);
      CHECK_MSG(memcmp(hs, pool + slots[s] * sf, (size_t)sf * 4) == 0, "varlen h seq %d %s isa %d", s, algo_name(al),
                (int)isa);
    }
    const int unused[] = {6, 8, 10};
    for (int u = 0; u < 3; u++)
      CHECK_MSG(memcmp(pool + unused[u] * sf, pool0 + unused[u] * sf, (size_t)sf * 4) == 0, "varlen: slot %d touched",
                unused[u]);
    n_cases++;
  }
  /* a packed decode step (lengths 0 and 1) == per-sequence steps */
  {
    const int32_t cu1[] = {0, 1, 1, 2, 3};
    const int32_t sl1[] = {4, 0, 9, 2};
    subq_ssm2_args a;
    subq_ssm2_args_default(&a, sizeof a);
    a.batch = 4, a.n_heads = H, a.head_dim = P, a.d_state = N, a.n_groups = G;
    a.x = x, a.dt = dt, a.b = b, a.c = c, a.a = A, a.dt_bias = dtb, a.d_skip = D, a.a = dtb;
    for (int64_t h = 0; h < H; h++) A[h] = -fabsf(A[h]) - 0.1f;
    a.a = A;
    a.cu_seqlens = cu1, a.state_slots = sl1, a.n_slots = n_slots;
    memcpy(pool, pool0, (size_t)(n_slots * sf) * 4);
    a.h_in = pool, a.h_out = pool, a.y = y;
    CHECK_OK(subq_ssm2_step_f32(ctx, &a));
    for (int s = 0; s < 4; s++) {
      if (cu1[s + 1] == cu1[s]) continue;
      subq_ssm2_args o = a;
      o.batch = 1, o.seqlen = 1, o.cu_seqlens = NULL, o.state_slots = NULL, o.n_slots = 0;
      o.x = x + cu1[s] * E, o.dt = dt + cu1[s] * H, o.b = b + cu1[s] * GN, o.c = c + cu1[s] * GN;
      memcpy(hs, pool0 + sl1[s] * sf, (size_t)sf * 4);
      o.h_in = hs, o.h_out = hs, o.y = ys;
      CHECK_OK(subq_ssm2_step_f32(ctx, &o));
      CHECK_MSG(memcmp(ys, y + cu1[s] * E, (size_t)E * 4) == 0 && memcmp(hs, pool + sl1[s] * sf, (size_t)sf * 4) == 0,
                "varlen step seq %d isa %d", s, (int)isa);
    }
    CHECK(memcmp(pool + 0 * sf, pool0 + 0 * sf, (size_t)sf * 4) == 0); /* slot of the empty sequence */
  }
  free(x), free(b), free(c), free(dt), free(A), free(dtb), free(D), free(pool0), free(pool), free(y), free(ys), free(hs);
  subq_context_destroy(ctx);
}

/* Same bits for 1, 2, 3, 5, 8 threads, the shuffled executor and ctx == NULL. */
static void ssd_determinism(void) {
  const ssd_case k = {2, 150, 6, 20, 16, 2, true, true, true, true, true, false, 0, 32};
  ssd_data s;
  ssd_make(&s, &k, 99);
  const int64_t nY = k.B * k.T * s.E, nH = k.B * s.sf, tot = 2 * (nY + nH);
  float *ref = NULL;
  const int threads[] = {1, 2, 3, 5, 8};
  for (int run = 0; run < 7; run++) {
    subq_context *ctx = NULL;
    if (run == 5) {
      subq_executor ex = subq_test_shuffled_executor();
      CHECK_OK(subq_context_create_with_executor(NULL, &ex, &ctx));
    } else if (run < 5) {
      ctx = subq_test_context(SUBQ_ISA_AUTO, threads[run]);
    }
    float *out = malloc((size_t)tot * sizeof(float));
    for (int al = 0; al < 2; al++) {
      subq_ssm2_args a;
      float *base = out + al * (nY + nH);
      ssd_args(&s, &a, al ? SUBQ_SSM2_ALGO_CHUNKED : SUBQ_SSM2_ALGO_RECURRENT, base + nY, base);
      CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
    }
    if (!ref) {
      ref = out;
    } else {
      int64_t bad = -1;
      for (int64_t i = 0; i < tot && bad < 0; i++)
        if (memcmp(ref + i, out + i, sizeof(float))) bad = i;
      CHECK_MSG(bad < 0, "ssd determinism run %d: first difference at %lld of %lld", run, (long long)bad,
                (long long)tot);
      free(out);
    }
    subq_context_destroy(ctx);
  }
  /* the recurrence gives the same bits on every ISA path (shared dt code, the
   * same mul / fma sequence per element) */
  {
    subq_isa isas[8];
    const int n_isa = subq_test_isas(isas);
    float *r0 = NULL;
    for (int i = 0; i < n_isa; i++) {
      subq_context *ctx = subq_test_context(isas[i], 2);
      float *out = malloc((size_t)(nY + nH) * sizeof(float));
      subq_ssm2_args a;
      ssd_args(&s, &a, SUBQ_SSM2_ALGO_RECURRENT, out + nY, out);
      CHECK_OK(subq_ssm2_scan_f32(ctx, &a));
      if (!r0) {
        r0 = out;
      } else {
        CHECK_MSG(memcmp(r0, out, (size_t)(nY + nH) * sizeof(float)) == 0, "recurrence differs between ISA %d and %d",
                  (int)isas[0], (int)isas[i]);
        free(out);
      }
      subq_context_destroy(ctx);
    }
    free(r0);
  }
  free(ref);
  ssd_free(&s);
}

/* ---- gated RMSNorm ------------------------------------------------------------------------ */

static void norm_vs_ref(subq_isa isa, int64_t rows, int64_t width, int64_t G, bool nbg, bool use_z, bool use_w,
                        bool in_place) {
  subq_context *ctx = subq_test_context(isa, 2);
  const int64_t ld = width + 3;
  float *y = gauss_buf(rows * ld, 11), *z = gauss_buf(rows * ld, 12), *w = gauss_buf(width, 13);
  float *yd = malloc((size_t)(rows * width) * 4), *zd = malloc((size_t)(rows * width) * 4);
  for (int64_t r = 0; r < rows; r++) {
    if (r % 7 == 3)
      for (int64_t i = 0; i < width; i++) z[r * ld + i] = i % 2 ? 100.0f : -100.0f; /* saturated gates */
    memcpy(yd + r * width, y + r * ld, (size_t)width * 4), memcpy(zd + r * width, z + r * ld, (size_t)width * 4);
  }
  float *out = in_place ? y : malloc((size_t)(rows * ld) * 4);
  double *ref = malloc((size_t)(rows * width) * sizeof(double));
  subq_ref_gated_rmsnorm(rows, width, width / G, 1e-5, nbg, yd, use_z ? zd : NULL, use_w ? w : NULL, ref);
  subq_gated_rmsnorm_args a;
  subq_gated_rmsnorm_args_default(&a, sizeof a);
  a.rows = rows, a.width = width, a.group_size = G == 1 ? 0 : width / G, a.flags = nbg ? SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE : 0;
  a.y = y, a.y_ld = ld, a.z = use_z ? z : NULL, a.z_ld = ld, a.weight = use_w ? w : NULL, a.out = out, a.out_ld = ld;
  CHECK_OK(subq_gated_rmsnorm_f32(ctx, &a));
  CHECK_MSG(close_tol("rmsnorm", out, ld, ref, rows, width, 1e-5, 1e-6), "rmsnorm isa %d rows %lld width %lld G%lld nbg%d z%d w%d inplace%d",
            (int)isa, (long long)rows, (long long)width, (long long)G, nbg, use_z, use_w, in_place);
  n_cases++;
  free(y), free(z), free(w), free(yd), free(zd), free(ref);
  if (!in_place) free(out);
  subq_context_destroy(ctx);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void errors(void) {
  static float buf[8192];
  memset(buf, 0, sizeof buf);
  subq_ssm2_args s;
  subq_ssm2_args_default(&s, sizeof s);
  CHECK(s.n_groups == 1 && s.flags == SUBQ_SSM2_DT_SOFTPLUS && s.dt_min == 0.0f && isinf(s.dt_max) &&
        s.struct_size == sizeof s);
  s.batch = 1, s.seqlen = 2, s.n_heads = 2, s.head_dim = 4, s.d_state = 4;
  s.x = buf, s.dt = buf + 16, s.b = buf + 32, s.c = buf + 48, s.a = buf + 64, s.y = buf + 200;
  CHECK_OK(subq_ssm2_scan_f32(NULL, &s));
  CHECK_STATUS(subq_ssm2_scan_f32(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "args");
  subq_ssm2_args f;
  const int32_t cu_bad[] = {0, 3, 2}, cu_neg[] = {-1, 1}, cu2[] = {0, 2, 2}, cu_step[] = {0, 2};
  const int32_t slots_dup[] = {1, 1}, slots_oob[] = {0, 5};
#define BAD(stmt, fn, needle) \
  f = s;                      \
  stmt;                       \
  CHECK_STATUS(fn(NULL, &f), SUBQ_ERR_INVALID_ARGUMENT, needle)
  BAD(f.x = NULL, subq_ssm2_scan_f32, "x is NULL");
  BAD(f.dt = NULL, subq_ssm2_scan_f32, "dt is NULL");
  BAD(f.b = NULL, subq_ssm2_scan_f32, "b is NULL");
  BAD(f.c = NULL, subq_ssm2_scan_f32, "c is NULL");
  BAD(f.a = NULL, subq_ssm2_scan_f32, "a is NULL");
  BAD(f.y = NULL, subq_ssm2_scan_f32, "y is NULL");
  BAD(f.batch = -1, subq_ssm2_scan_f32, "batch");
  BAD(f.seqlen = -1, subq_ssm2_scan_f32, "seqlen");
  BAD(f.n_heads = 0, subq_ssm2_scan_f32, "n_heads");
  BAD(f.head_dim = 0, subq_ssm2_scan_f32, "head_dim");
  BAD(f.d_state = 257, subq_ssm2_scan_f32, "d_state");
  BAD(f.d_state = 0, subq_ssm2_scan_f32, "d_state");
  BAD(f.n_groups = 3, subq_ssm2_scan_f32, "n_groups");
  BAD(f.n_groups = 0, subq_ssm2_scan_f32, "n_groups");
  BAD(f.flags = 0x80, subq_ssm2_scan_f32, "flags");
  BAD(f.algo = 3, subq_ssm2_scan_f32, "algo");
  BAD(f.algo = -1, subq_ssm2_scan_f32, "algo");
  BAD(f.chunk = -1, subq_ssm2_scan_f32, "chunk");
  BAD(f.chunk = 4096, subq_ssm2_scan_f32, "chunk");
  BAD(f.dt_min = 1.0f; f.dt_max = 0.5f, subq_ssm2_scan_f32, "dt_min");
  BAD(f.dt_max = NAN, subq_ssm2_scan_f32, "dt_min");
  BAD(f.x_ld = 4, subq_ssm2_scan_f32, "x_ld");
  BAD(f.dt_ld = 1, subq_ssm2_scan_f32, "dt_ld");
  BAD(f.b_ld = 3, subq_ssm2_scan_f32, "b_ld");
  BAD(f.y_bs = -1, subq_ssm2_scan_f32, "y_bs");
  BAD(f.h_bs = -1, subq_ssm2_scan_f32, "h_bs");
  BAD(f.n_slots = -1, subq_ssm2_scan_f32, "n_slots");
  BAD(f.y = buf + 18, subq_ssm2_scan_f32, "y overlaps dt");
  BAD(f.h_out = buf + 60, subq_ssm2_scan_f32, "h_out overlaps");
  BAD(f.h_in = buf + 1000; f.h_out = buf + 1010, subq_ssm2_scan_f32, "h_out overlaps h_in");
  BAD(f.h_out = buf + 190, subq_ssm2_scan_f32, "y overlaps h_out");
  BAD(f.d_skip = buf + 66; f.flags |= SUBQ_SSM2_D_PER_CHANNEL; f.y = buf + 70, subq_ssm2_scan_f32, "y overlaps d_skip");
  BAD(f.seqlen = INT64_MAX / 4, subq_ssm2_scan_f32, "overflows");
  /* output sequences must not overlap (span of y: 1 * 8 + 8 = 16) */
  BAD(f.batch = 2; f.y_bs = 8, subq_ssm2_scan_f32, "y_bs (8) lets the sequences of y overlap");
  BAD(f.batch = 2; f.y_bs = 8; f.y_ld = 15, subq_ssm2_scan_f32, "y_bs (8)");
  BAD(f.batch = 2; f.seqlen = 1; f.y_bs = 4; f.h_out = buf + 1000, subq_ssm2_step_f32, "y_bs (4)");
  BAD(f.batch = 2; f.cu_seqlens = cu_bad, subq_ssm2_scan_f32, "decreases");
  BAD(f.batch = 1; f.cu_seqlens = cu_neg, subq_ssm2_scan_f32, "cu_seqlens[0]");
  BAD(f.batch = 2; f.cu_seqlens = cu2; f.h_out = buf + 1000; f.state_slots = slots_dup, subq_ssm2_scan_f32,
      "used twice");
  BAD(f.batch = 2; f.cu_seqlens = cu2; f.state_slots = slots_oob, subq_ssm2_scan_f32, "state_slots[1]");
  BAD(f.batch = 2; f.cu_seqlens = cu2; f.n_slots = 1, subq_ssm2_scan_f32, "n_slots");
  BAD(f.h_out = buf + 1000, subq_ssm2_step_f32, "seqlen");
  BAD(f.seqlen = 1, subq_ssm2_step_f32, "h_out is NULL");
  BAD(f.batch = 1; f.cu_seqlens = cu_step; f.h_out = buf + 1000, subq_ssm2_step_f32, "decode step takes <= 1");
#undef BAD
  f = s, f.batch = 2, f.y_bs = 16; /* stacked */
  CHECK_OK(subq_ssm2_scan_f32(NULL, &f));
  f = s, f.batch = 2, f.y_bs = 8, f.y_ld = 16; /* interleaved */
  CHECK_OK(subq_ssm2_scan_f32(NULL, &f));
  f = s, f.batch = 2, f.x_bs = 8, f.b_bs = 0; /* inputs may overlap each other */
  CHECK_OK(subq_ssm2_scan_f32(NULL, &f));
  {
    unsigned char big[sizeof(subq_ssm2_args) + 8];
    memset(big, 0, sizeof big);
    f = s, f.struct_size = sizeof f + 8;
    memcpy(big, &f, sizeof f);
    big[sizeof f] = 1;
    CHECK_STATUS(subq_ssm2_scan_f32(NULL, (const subq_ssm2_args *)(void *)big), SUBQ_ERR_UNSUPPORTED, "");
  }
  f = s, f.seqlen = 1, f.h_in = buf + 1000, f.h_out = buf + 1000;
  CHECK_OK(subq_ssm2_step_f32(NULL, &f)); /* in place */
  f = s, f.seqlen = 0, f.x = NULL;
  CHECK_OK(subq_ssm2_scan_f32(NULL, &f));
  f = s, f.batch = 0, f.x = NULL;
  CHECK_OK(subq_ssm2_scan_f32(NULL, &f));
  CHECK(subq_ssm2_state_floats(3, 5, 7) == 105 && subq_ssm2_state_floats(0, 4, 4) == 0 &&
        subq_ssm2_state_floats(INT64_MAX, 2, 2) == 0);
  CHECK_STATUS(subq_ssm2_state_import(1, 2, 4, 4, buf, buf + 10), SUBQ_ERR_INVALID_ARGUMENT, "overlaps");
  CHECK_STATUS(subq_ssm2_state_import(-1, 2, 4, 4, buf, buf + 1000), SUBQ_ERR_INVALID_ARGUMENT, "batch");
  CHECK_STATUS(subq_ssm2_state_export(1, 2, 4, 4, buf, NULL), SUBQ_ERR_INVALID_ARGUMENT, "dst");

  subq_gated_rmsnorm_args n;
  subq_gated_rmsnorm_args_default(&n, sizeof n);
  CHECK(n.eps == 1e-5f && n.struct_size == sizeof n);
  n.rows = 2, n.width = 8, n.group_size = 4, n.y = buf, n.z = buf + 100, n.weight = buf + 200, n.out = buf + 300;
  CHECK_OK(subq_gated_rmsnorm_f32(NULL, &n));
  subq_gated_rmsnorm_args e;
#define BADN(stmt, needle) \
  e = n;                   \
  stmt;                    \
  CHECK_STATUS(subq_gated_rmsnorm_f32(NULL, &e), SUBQ_ERR_INVALID_ARGUMENT, needle)
  CHECK_STATUS(subq_gated_rmsnorm_f32(NULL, NULL), SUBQ_ERR_INVALID_ARGUMENT, "args");
  BADN(e.y = NULL, "y is NULL");
  BADN(e.out = NULL, "out is NULL");
  BADN(e.rows = -1, "rows");
  BADN(e.width = -1, "width");
  BADN(e.group_size = 3, "group_size");
  BADN(e.eps = -1.0f, "eps");
  BADN(e.eps = NAN, "eps");
  BADN(e.flags = 4, "flags");
  BADN(e.y_ld = 7, "y_ld");
  BADN(e.out = buf + 4, "out overlaps y");
  BADN(e.out = buf + 104, "out overlaps z");
  BADN(e.out = buf + 198, "out overlaps weight");
  BADN(e.out = buf; e.out_ld = 9, "out_ld");
  BADN(e.rows = INT64_MAX / 2, "overflows");
#undef BADN
  e = n, e.out = buf, e.z = NULL;
  CHECK_OK(subq_gated_rmsnorm_f32(NULL, &e)); /* in place */
}

static void state_round_trip(void) {
  const int64_t B = 2, H = 3, P = 5, N = 7, sf = subq_ssm2_state_floats(H, P, N);
  float *hf = gauss_buf(B * sf, 3), *sq = malloc((size_t)(B * sf) * 4), *back = malloc((size_t)(B * sf) * 4);
  CHECK_OK(subq_ssm2_state_import(B, H, P, N, hf, sq));
  CHECK(sq[sf + (2 * N + 6) * P + 4] == hf[sf + (2 * P + 4) * N + 6]); /* (b1, h2, p4, n6) */
  CHECK_OK(subq_ssm2_state_export(B, H, P, N, sq, back));
  CHECK(memcmp(hf, back, (size_t)(B * sf) * 4) == 0);
  free(hf), free(sq), free(back);
}

int main(void) {
  errors();
  state_round_trip();
  subq_isa isas[8];
  const int n_isa = subq_test_isas(isas);
  for (int i = 0; i < n_isa; i++) {
    const subq_isa isa = isas[i];
    /* B, T, H, P, N, G, a_log, dt_bias, d_skip, d_pc, h_in, clamp, stress, chunk */
    const ssd_case sc[] = {
        {2, 1, 3, 5, 16, 1, true, true, true, false, true, false, 0, 0},
        {2, 3, 4, 13, 1, 2, false, true, true, true, false, false, 0, 0},
        {1, 63, 3, 7, 64, 3, true, false, true, false, true, false, 0, 16},
        {1, 1000, 2, 9, 16, 1, true, true, true, true, true, true, 0, 0},
        {1, 130, 4, 64, 128, 2, true, true, true, false, true, false, 0, 64},
        {1, 200, 2, 8, 24, 1, true, true, false, false, true, false, 1, 128},
        {1, 100, 2, 11, 16, 2, false, false, true, false, true, false, 2, 37},
        {1, 65, 8, 16, 8, 4, true, true, true, false, false, false, 0, 256},
        {1, 40, 48, 64, 128, 1, true, true, true, false, true, false, 0, 0}, /* the benchmark head shape */
        {1, 70, 4, 10, 16, 2, true, false, true, false, true, false, 3, 16}, /* numerics edges (spec #14) */
        /* one token, d_state % 8 == 0 and head_dim % 16 == 0 (AVX2, NEON) or % 8 == 0 (NEON): the SIMD
           kernels' decode fast paths against the oracle and the 1-token chunked scan (1, 2, 16 state tiles;
           head_dim 32, 24, 64; no D) */
        {2, 1, 4, 32, 8, 2, true, true, true, true, true, false, 0, 0},
        {1, 1, 3, 24, 16, 1, false, true, false, false, true, false, 0, 0},
        {1, 1, 48, 64, 128, 1, true, true, true, false, true, false, 0, 0}, /* the benchmark head shape */
    };
    for (size_t j = 0; j < sizeof sc / sizeof sc[0]; j++) ssd_vs_ref(isa, &sc[j], 2000 + j);
    /* head_dim 13: the general recurrence; 32 x 16 states: the one-token fast path of SIMD kernels;
       24 x 24: NEON's (head_dim % 8), AVX2's general path */
    const ssd_case odd = {2, 41, 6, 13, 16, 3, true, true, true, false, true, false, 0, 8};
    const ssd_case p16 = {2, 41, 4, 32, 16, 2, true, true, true, true, true, false, 0, 8};
    const ssd_case p8 = {2, 41, 3, 24, 24, 1, true, true, true, false, true, false, 0, 8};
    ssd_chunks(isa, &odd);
    ssd_chunks(isa, &p16);
    ssd_chunks(isa, &p8);
    ssd_varlen(isa);
    norm_vs_ref(isa, 5, 64, 1, false, true, true, false);
    norm_vs_ref(isa, 3, 3072, 2, false, true, true, true);
    norm_vs_ref(isa, 2, 8192, 8, true, true, true, false);
    norm_vs_ref(isa, 4, 100, 4, false, false, true, false);
    norm_vs_ref(isa, 3, 45, 3, true, true, false, true);
  }
  ssd_determinism();
  printf("test_ssd: %d cases on %d ISA paths\n", n_cases, n_isa);
  return subq_test_finish("test_ssd");
}
