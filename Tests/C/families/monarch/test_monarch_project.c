/*
 * test_monarch_project.c — dense -> Monarch projection (subq_monarch_project_f64)
 * and subq_monarch_to_dense_f64: exact round trips (real and complex), the
 * Walsh–Hadamard and permuted-DFT matrices recovered to fp64 precision,
 * optimality (Pythagoras and random perturbations never do better), bad input.
 */
#include <stdint.h>

#include "ref/subq_ref_monarch.h"
#include "support/subq_test.h"

static const double PI = 3.14159265358979323846;

static subq_monarch_desc mk(int64_t k, int64_t q, int64_t p, int64_t l, int64_t s, int64_t r) {
  subq_monarch_desc d;
  subq_monarch_desc_default(&d, sizeof d);
  d.k = k, d.q = q, d.p = p, d.l = l, d.s = s, d.r = r;
  return d;
}

static double rnd(subq_rng *g) { return (double)subq_rng_float(g); }

static double norm2(const double *a, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * a[i];
  return s;
}
static double diff2(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

static const int64_t shapes[][6] = {
    {4, 4, 4, 4, 4, 4}, {2, 4, 4, 2, 4, 4}, {4, 6, 3, 4, 5, 6}, {6, 2, 3, 4, 5, 3}, {3, 6, 5, 2, 7, 9},
    {5, 3, 7, 3, 2, 5}, {1, 9, 7, 1, 6, 9}, {4, 16, 16, 4, 32, 16}, {8, 24, 12, 6, 10, 32}, {13, 6, 5, 13, 7, 6},
};
#define NS ((int)(sizeof shapes / sizeof shapes[0]))

/* Random (W1, W2) -> dense -> project -> dense: exact, residual ~ 0; the
 * library's dense equals the oracle's closed form. */
static void round_trips(void) {
  for (int si = 0; si < NS; si++)
    for (int cx = 0; cx < 2; cx++) {
      const int64_t *h = shapes[si];
      subq_monarch_desc d = mk(h[0], h[1], h[2], h[3], h[4], h[5]);
      const int64_t n = h[0] * h[2], m = h[3] * h[4], cw = cx ? 2 : 1;
      const int64_t e1 = h[0] * h[1] * h[2], e2 = h[3] * h[4] * h[5];
      double *w1 = malloc((size_t)(e1 * cw) * 8), *w2 = malloc((size_t)(e2 * cw) * 8);
      double *p1 = malloc((size_t)(e1 * cw) * 8), *p2 = malloc((size_t)(e2 * cw) * 8);
      double *M = malloc((size_t)(m * n * cw) * 8), *M2 = malloc((size_t)(m * n * cw) * 8);
      subq_rng g = {(unsigned long long)(si * 7 + cx + 1)};
      for (int64_t i = 0; i < e1 * cw; i++) w1[i] = rnd(&g);
      for (int64_t i = 0; i < e2 * cw; i++) w2[i] = rnd(&g);
      CHECK_OK(subq_monarch_to_dense_f64(&d, cx, w1, w2, M, n));
      if (!cx) {
        subq_ref_monarch_shape rs = {h[0], h[1], h[2], h[3], h[4], h[5]};
        subq_ref_monarch_dense(&rs, w1, w2, M2);
        CHECK_MSG(diff2(M, M2, m * n) <= 1e-26 * norm2(M, m * n), "to_dense vs oracle, shape %d", si);
      }
      double resid = -1;
      CHECK_OK(subq_monarch_project_f64(M, m, n, n, &d, cx, p1, p2, &resid));
      CHECK_OK(subq_monarch_to_dense_f64(&d, cx, p1, p2, M2, n));
      const double mm = norm2(M, m * n * cw), e = diff2(M, M2, m * n * cw);
      CHECK_MSG(e <= 1e-24 * mm, "round trip shape %d complex %d: |dM|^2 %.3g of %.3g", si, cx, e, mm);
      CHECK_MSG(resid >= 0 && resid <= 1e-24 * mm, "round trip shape %d complex %d: resid %.3g", si, cx, resid);
      free(w1), free(w2), free(p1), free(p2), free(M), free(M2);
    }
}

/* Random dense M: resid = |M - Mhat|^2, |M|^2 = |Mhat|^2 + resid (orthogonal
 * residual), projecting Mhat again is exact (idempotent), and 10 random
 * perturbations of the factors (rank-1 changes of every sub-block) never do better. */
static void optimality(void) {
  for (int si = 0; si < NS; si++)
    for (int cx = 0; cx < 2; cx++) {
      const int64_t *h = shapes[si];
      subq_monarch_desc d = mk(h[0], h[1], h[2], h[3], h[4], h[5]);
      const int64_t n = h[0] * h[2], m = h[3] * h[4], cw = cx ? 2 : 1;
      const int64_t e1 = h[0] * h[1] * h[2] * cw, e2 = h[3] * h[4] * h[5] * cw, mn = m * n * cw;
      double *M = malloc((size_t)mn * 8), *Mh = malloc((size_t)mn * 8), *M3 = malloc((size_t)mn * 8);
      double *p1 = malloc((size_t)e1 * 8), *p2 = malloc((size_t)e2 * 8);
      double *q1 = malloc((size_t)e1 * 8), *q2 = malloc((size_t)e2 * 8);
      subq_rng g = {(unsigned long long)(100 + si * 3 + cx)};
      for (int64_t i = 0; i < mn; i++) M[i] = rnd(&g);
      double resid = -1, r2 = -1;
      CHECK_OK(subq_monarch_project_f64(M, m, n, n, &d, cx, p1, p2, &resid));
      CHECK_OK(subq_monarch_to_dense_f64(&d, cx, p1, p2, Mh, n));
      const double mm = norm2(M, mn), direct = diff2(M, Mh, mn);
      CHECK_MSG(fabs(direct - resid) <= 1e-12 * mm, "shape %d cx %d: resid %.15g vs direct %.15g", si, cx, resid, direct);
      CHECK_MSG(fabs(mm - norm2(Mh, mn) - resid) <= 1e-12 * mm, "shape %d cx %d: not orthogonal", si, cx);
      CHECK_OK(subq_monarch_project_f64(Mh, m, n, n, &d, cx, q1, q2, &r2));
      CHECK_MSG(r2 <= 1e-24 * mm, "shape %d cx %d: not idempotent (%.3g)", si, cx, r2);
      int better = 0;
      for (int trial = 0; trial < 10; trial++) {
        const double eps = trial < 5 ? 1e-3 : 1e-1;
        for (int64_t i = 0; i < e1; i++) q1[i] = p1[i] + eps * rnd(&g);
        for (int64_t i = 0; i < e2; i++) q2[i] = p2[i] + eps * rnd(&g);
        CHECK_OK(subq_monarch_to_dense_f64(&d, cx, q1, q2, M3, n));
        if (diff2(M, M3, mn) < resid - 1e-13 * mm) better++;
      }
      CHECK_MSG(better == 0, "shape %d cx %d: %d perturbations beat the projection", si, cx, better);
      free(M), free(Mh), free(M3), free(p1), free(p2), free(q1), free(q2);
    }
}

/* H_{2^(u+v)} = H_{2^u} (x) H_{2^v} is an exact Monarch (the real-valued
 * analogue of the DFT factorization): recovered to fp64 precision. */
static void hadamard(void) {
  static const int lg[][2] = {{2, 2}, {4, 4}, {5, 5}, {3, 6}};
  for (int ci = 0; ci < 4; ci++) {
    const int64_t a = (int64_t)1 << lg[ci][0], b = (int64_t)1 << lg[ci][1], n = a * b;
    /* A (x) B: k = a2 = a, q = b1 = b, p = b2 = b, l = b, s = a1 = a, r = a */
    subq_monarch_desc d = mk(a, b, b, b, a, a);
    double *H = malloc((size_t)(n * n) * 8), *H2 = malloc((size_t)(n * n) * 8);
    double *w1 = malloc((size_t)(a * b * b) * 8), *w2 = malloc((size_t)(b * a * a) * 8);
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) H[i * n + j] = (__builtin_popcountll((unsigned long long)(i & j)) & 1) ? -1.0 : 1.0;
    double resid = -1;
    CHECK_OK(subq_monarch_project_f64(H, n, n, n, &d, false, w1, w2, &resid));
    CHECK_OK(subq_monarch_to_dense_f64(&d, false, w1, w2, H2, n));
    const double e = diff2(H, H2, n * n);
    CHECK_MSG(resid <= 1e-24 * (double)(n * n) && e <= 1e-24 * (double)(n * n), "hadamard %lld: resid %.3g diff %.3g",
              (long long)n, resid, e);
    free(H), free(H2), free(w1), free(w2);
  }
}

/* The permuted DFT D = F[:, perm] (spec §4) is an exact complex Monarch with
 * (k, q, p, l, s, r) = (R, K, K, K, R, R); its projection reproduces D and the
 * orthonormal DFT of x as dense(W) x[perm]. */
static void dft(void) {
  static const int64_t ns[] = {15, 27, 36, 42, 48, 85, 168, 196, 512};
  for (int ci = 0; ci < 9; ci++) {
    const int64_t n = ns[ci];
    int64_t K = 1;
    for (int64_t f = 1; f * f <= n; f++)
      if (n % f == 0) K = f;
    const int64_t R = n / K;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    for (int64_t j = 0; j < R; j++)
      for (int64_t i = 0; i < K; i++) perm[j * K + i] = i * R + j;
    double *D = malloc((size_t)(2 * n * n) * 8), *D2 = malloc((size_t)(2 * n * n) * 8);
    for (int64_t u = 0; u < n; u++)
      for (int64_t v = 0; v < n; v++) {
        const double ang = -2.0 * PI * (double)((u * perm[v]) % n) / (double)n;
        D[2 * (u * n + v)] = cos(ang) / sqrt((double)n);
        D[2 * (u * n + v) + 1] = sin(ang) / sqrt((double)n);
      }
    subq_monarch_desc d = mk(R, K, K, K, R, R);
    double *w1 = malloc((size_t)(2 * R * K * K) * 8), *w2 = malloc((size_t)(2 * K * R * R) * 8);
    double resid = -1;
    CHECK_OK(subq_monarch_project_f64(D, n, n, n, &d, true, w1, w2, &resid));
    CHECK_OK(subq_monarch_to_dense_f64(&d, true, w1, w2, D2, n));
    const double dd = (double)n; /* |D|_F^2 */
    CHECK_MSG(resid <= 1e-24 * dd, "dft %lld: resid %.3g", (long long)n, resid);
    CHECK_MSG(diff2(D, D2, 2 * n * n) <= 1e-24 * dd, "dft %lld: dense differs", (long long)n);
    /* apply(x[perm]) == DFT(x) for one x */
    double worst = 0;
    for (int64_t u = 0; u < n; u++) {
      double yr = 0, yi = 0, fr = 0, fi = 0;
      for (int64_t v = 0; v < n; v++) {
        const double xv = sin(0.37 * (double)perm[v] + 1.0); /* x[perm[v]] */
        yr += D2[2 * (u * n + v)] * xv, yi += D2[2 * (u * n + v) + 1] * xv;
        const double ang = -2.0 * PI * (double)((u * v) % n) / (double)n, xo = sin(0.37 * (double)v + 1.0);
        fr += cos(ang) * xo / sqrt((double)n), fi += sin(ang) * xo / sqrt((double)n);
      }
      worst = fmax(worst, fmax(fabs(yr - fr), fabs(yi - fi)));
    }
    CHECK_MSG(worst < 1e-12, "dft %lld: apply differs by %.3g", (long long)n, worst);
    free(perm), free(D), free(D2), free(w1), free(w2);
  }
}

static void bad_inputs(void) {
  subq_monarch_desc d = mk(4, 6, 3, 4, 5, 6);
  double M[20 * 12], w1[72], w2[120], r;
  memset(M, 0, sizeof M);
  CHECK_STATUS(subq_monarch_project_f64(M, 21, 12, 12, &d, false, w1, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "m (21) != l*s (20)");
  CHECK_STATUS(subq_monarch_project_f64(M, 20, 13, 13, &d, false, w1, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "n (13) != k*p (12)");
  CHECK_STATUS(subq_monarch_project_f64(M, 20, 12, 11, &d, false, w1, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "ldm (11)");
  double *volatile nul = NULL;
  CHECK_STATUS(subq_monarch_project_f64(nul, 20, 12, 12, &d, false, w1, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "M is NULL");
  CHECK_STATUS(subq_monarch_project_f64(M, 20, 12, 12, &d, false, nul, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "w1 is NULL");
  CHECK_STATUS(subq_monarch_project_f64(M, 20, 12, 12, &d, false, w1, NULL, &r), SUBQ_ERR_INVALID_ARGUMENT, "w2 is NULL");
  d.r = 5;
  CHECK_STATUS(subq_monarch_project_f64(M, 20, 12, 12, &d, false, w1, w2, &r), SUBQ_ERR_INVALID_ARGUMENT, "k*q (24) != l*r (20)");
  CHECK_STATUS(subq_monarch_to_dense_f64(&d, false, w1, w2, M, 12), SUBQ_ERR_INVALID_ARGUMENT, "k*q (24) != l*r (20)");
  d.r = 6;
  CHECK_STATUS(subq_monarch_to_dense_f64(&d, false, w1, w2, M, 3), SUBQ_ERR_INVALID_ARGUMENT, "ldm (3)");
  /* zero matrix: zero factors, zero residual */
  CHECK_OK(subq_monarch_project_f64(M, 20, 12, 12, &d, false, w1, w2, &r));
  CHECK(r == 0.0 && norm2(w1, 72) == 0.0 && norm2(w2, 120) == 0.0);
  /* block-diagonal: diagonal blocks copied, the rest is the residual */
  subq_monarch_desc bd;
  CHECK_OK(subq_blockdiag_desc(12, 20, 4, &bd));
  for (int i = 0; i < 240; i++) M[i] = (double)(i % 7) - 3.0;
  double wb[60], rb;
  CHECK_OK(subq_monarch_project_f64(M, 20, 12, 12, &bd, false, wb, NULL, &rb));
  double Mb[240];
  CHECK_OK(subq_monarch_to_dense_f64(&bd, false, wb, NULL, Mb, 12));
  CHECK(fabs(diff2(M, Mb, 240) - rb) < 1e-9 && fabs(norm2(M, 240) - norm2(Mb, 240) - rb) < 1e-9);
}

/* Random orthogonal n x n (row-major): a product of four Householder reflections. */
static void orthogonal(double *Q, int64_t n, subq_rng *g) {
  for (int64_t i = 0; i < n * n; i++) Q[i] = i % (n + 1) == 0;
  double *v = malloc((size_t)n * 8);
  for (int t = 0; t < 4; t++) {
    double vv = 0;
    for (int64_t i = 0; i < n; i++) v[i] = rnd(g), vv += v[i] * v[i];
    for (int64_t c = 0; c < n; c++) { /* Q = (I - 2 v v^T / v^T v) Q */
      double w = 0;
      for (int64_t i = 0; i < n; i++) w += v[i] * Q[i * n + c];
      for (int64_t i = 0; i < n; i++) Q[i * n + c] -= 2 * v[i] * w / vv;
    }
  }
  free(v);
}

/* Every sub-block built as U diag(sigma) V^T with known, graded singular values
 * (1 down to 1e-9): the residual must be exactly the sum of the dropped sigma^2
 * (Eckart–Young), on MonarchLinear-like shapes with tall and wide sub-blocks and
 * rank >= 2 per block (the real path's Gram-matrix eigenvectors). */
static void known_spectrum(void) {
  static const int64_t sh[][6] = {{2, 8, 8, 2, 20, 8}, {2, 6, 12, 2, 5, 6}, {3, 12, 9, 3, 7, 12}, {4, 16, 16, 4, 44, 16}};
  for (int si = 0; si < 4; si++) {
    const int64_t *h = sh[si];
    const int64_t k = h[0], q = h[1], p = h[2], l = h[3], s = h[4], r = h[5], n = k * p, m = l * s;
    const int64_t mn = s < p ? s : p;
    subq_monarch_desc d = mk(k, q, p, l, s, r);
    double *M = calloc((size_t)(m * n), 8), *U = malloc((size_t)(s * s) * 8), *V = malloc((size_t)(p * p) * 8);
    double *w1 = malloc((size_t)(k * q * p) * 8), *w2 = malloc((size_t)(l * s * r) * 8), *Mh = malloc((size_t)(m * n) * 8);
    subq_rng g = {(unsigned long long)(500 + si)};
    double want = 0, mm = 0;
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = 0; j < l; j++) {
        int64_t rho = 0;
        for (int64_t t = 0; t < r; t++) rho += t * l + j >= i * q && t * l + j < (i + 1) * q;
        orthogonal(U, s, &g), orthogonal(V, p, &g);
        for (int64_t t = 0; t < mn; t++) {
          const double sg = pow(10.0, -9.0 * (double)t / (double)(mn - 1)) * (1 + 0.01 * (double)(i + j));
          mm += sg * sg;
          if (t >= rho) want += sg * sg;
          for (int64_t c = 0; c < s; c++)
            for (int64_t e = 0; e < p; e++) M[(c * l + j) * n + i * p + e] += U[c * s + t] * sg * V[e * p + t];
        }
      }
    double resid = -1;
    CHECK_OK(subq_monarch_project_f64(M, m, n, n, &d, false, w1, w2, &resid));
    CHECK_OK(subq_monarch_to_dense_f64(&d, false, w1, w2, Mh, n));
    CHECK_MSG(fabs(resid - want) <= 1e-12 * mm, "shape %d: resid %.15g, Eckart-Young %.15g", si, resid, want);
    CHECK_MSG(fabs(diff2(M, Mh, m * n) - want) <= 1e-12 * mm, "shape %d: |M - Mhat|^2 %.15g, want %.15g", si,
              diff2(M, Mh, m * n), want);
    free(M), free(U), free(V), free(w1), free(w2), free(Mh);
  }
}

int main(void) {
  round_trips();
  optimality();
  known_spectrum();
  hadamard();
  dft();
  bad_inputs();
  return subq_test_finish("test_monarch_project");
}
