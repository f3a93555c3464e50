/*
 * subq_monarch_project.c — Frobenius-optimal projection of a dense matrix onto
 * the Monarch matrices of a descriptor (spec §4), and the dense matrix of a
 * Monarch (both fp64, real or complex interleaved re/im).
 *
 * The s x p sub-block of M with rows c*l + j and columns of block i has rank
 * <= rho(i,j) = |T(i,j)| and no two sub-blocks share a parameter, so the best
 * approximation is a truncated SVD per sub-block (Eckart–Young). The SVD is
 * ours: power iteration for rho = 1 (alternating B v, B^H u), one-sided
 * Jacobi (Hestenes) otherwise or when power iteration does not settle.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "families/monarch/subq_monarch_internal.h"

/* complex helpers on interleaved pairs (real data: imaginary parts stay 0) */
typedef struct cplx {
  double re, im;
} cplx;

static inline cplx cmul(cplx a, cplx b) { return (cplx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
static inline cplx cconj(cplx a) { return (cplx){a.re, -a.im}; }
static inline double cabs2(cplx a) { return a.re * a.re + a.im * a.im; }

/* One-sided Jacobi on the columns of A (rows x cols, cols <= rows, column-major
 * a[col*rows + row]); V (cols x cols, column-major) accumulates the rotations.
 * On return A = U diag(sigma), sigma[h] = |column h|. Returns false when it did
 * not converge in 80 sweeps. */
static bool subq_jacobi(cplx *a, int64_t rows, int64_t cols, cplx *v, double *sigma) {
  for (int64_t i = 0; i < cols * cols; i++) v[i] = (cplx){0, 0};
  for (int64_t i = 0; i < cols; i++) v[i * cols + i] = (cplx){1, 0};
  bool converged = false;
  for (int sweep = 0; sweep < 80 && !converged; sweep++) {
    converged = true;
    for (int64_t i = 0; i < cols - 1; i++)
      for (int64_t j = i + 1; j < cols; j++) {
        cplx *ai = a + i * rows, *aj = a + j * rows;
        double al = 0, be = 0;
        cplx ga = {0, 0};
        for (int64_t r = 0; r < rows; r++) {
          al += cabs2(ai[r]);
          be += cabs2(aj[r]);
          const cplx t = cmul(cconj(ai[r]), aj[r]);
          ga.re += t.re, ga.im += t.im;
        }
        const double g = sqrt(cabs2(ga));
        if (g == 0.0 || g <= 1e-15 * sqrt(al * be)) continue;
        converged = false;
        const cplx ph = {ga.re / g, -ga.im / g}; /* e^{-i phi} */
        const double zeta = (be - al) / (2.0 * g);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / sqrt(1.0 + t * t), sn = c * t;
        for (int64_t r = 0; r < rows; r++) {
          const cplx x = ai[r], y = cmul(ph, aj[r]);
          ai[r] = (cplx){c * x.re - sn * y.re, c * x.im - sn * y.im};
          aj[r] = (cplx){sn * x.re + c * y.re, sn * x.im + c * y.im};
        }
        cplx *vi = v + i * cols, *vj = v + j * cols;
        for (int64_t r = 0; r < cols; r++) {
          const cplx x = vi[r], y = cmul(ph, vj[r]);
          vi[r] = (cplx){c * x.re - sn * y.re, c * x.im - sn * y.im};
          vj[r] = (cplx){sn * x.re + c * y.re, sn * x.im + c * y.im};
        }
      }
  }
  for (int64_t h = 0; h < cols; h++) {
    double s2 = 0;
    for (int64_t r = 0; r < rows; r++) s2 += cabs2(a[h * rows + r]);
    sigma[h] = sqrt(s2);
  }
  return converged;
}

/* subq_jacobi for real data on plain doubles: a quarter of the complex path's
 * multiplies, contiguous rows the compiler vectorises, and the three column sums
 * split into four interleaved partial sums so they are not one latency-bound
 * chain (the projection of a 5632 x 2048 MLP matrix is mostly this loop). */
static bool subq_jacobi_real(double *a, int64_t rows, int64_t cols, double *v, double *sigma) {
  for (int64_t i = 0; i < cols * cols; i++) v[i] = 0;
  for (int64_t i = 0; i < cols; i++) v[i * cols + i] = 1;
  bool converged = false;
  for (int sweep = 0; sweep < 80 && !converged; sweep++) {
    converged = true;
    for (int64_t i = 0; i < cols - 1; i++)
      for (int64_t j = i + 1; j < cols; j++) {
        double *ai = a + i * rows, *aj = a + j * rows;
        double al0 = 0, al1 = 0, al2 = 0, al3 = 0, be0 = 0, be1 = 0, be2 = 0, be3 = 0;
        double ga0 = 0, ga1 = 0, ga2 = 0, ga3 = 0;
        int64_t r = 0;
        for (; r + 4 <= rows; r += 4) {
          const double x0 = ai[r], x1 = ai[r + 1], x2 = ai[r + 2], x3 = ai[r + 3];
          const double y0 = aj[r], y1 = aj[r + 1], y2 = aj[r + 2], y3 = aj[r + 3];
          al0 += x0 * x0, al1 += x1 * x1, al2 += x2 * x2, al3 += x3 * x3;
          be0 += y0 * y0, be1 += y1 * y1, be2 += y2 * y2, be3 += y3 * y3;
          ga0 += x0 * y0, ga1 += x1 * y1, ga2 += x2 * y2, ga3 += x3 * y3;
        }
        for (; r < rows; r++) {
          al0 += ai[r] * ai[r];
          be0 += aj[r] * aj[r];
          ga0 += ai[r] * aj[r];
        }
        const double al = (al0 + al1) + (al2 + al3), be = (be0 + be1) + (be2 + be3);
        const double ga = (ga0 + ga1) + (ga2 + ga3), g = fabs(ga);
        if (g == 0.0 || g <= 1e-15 * sqrt(al * be)) continue;
        converged = false;
        const double zeta = (be - al) / (2.0 * g);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / sqrt(1.0 + t * t), sn = c * t, ph = ga < 0 ? -1.0 : 1.0;
        for (int64_t q = 0; q < rows; q++) {
          const double x = ai[q], y = ph * aj[q];
          ai[q] = c * x - sn * y;
          aj[q] = sn * x + c * y;
        }
        double *vi = v + i * cols, *vj = v + j * cols;
        for (int64_t q = 0; q < cols; q++) {
          const double x = vi[q], y = ph * vj[q];
          vi[q] = c * x - sn * y;
          vj[q] = sn * x + c * y;
        }
      }
  }
  for (int64_t h = 0; h < cols; h++) {
    double s2 = 0;
    for (int64_t r = 0; r < rows; r++) s2 += a[h * rows + r] * a[h * rows + r];
    sigma[h] = sqrt(s2);
  }
  return converged;
}

/* Workspace of one sub-block SVD. */
typedef struct subq_svd_ws {
  cplx *b;       /* s x p, row-major: the sub-block */
  cplx *a, *v;   /* Jacobi matrices */
  double *sig;
  cplx *u1, *v1; /* leading pair (power iteration) */
  cplx *uk, *vk; /* kept factors: uk[h*s + c], vk[h*p + e] (B = sum_h sig_h uk_h vk_h^H) */
  double *sk;
  double *tau, *rq, *lv; /* real path: Householder scalars (mn), R (mn x mn), one left vector (mx) */
} subq_svd_ws;

/* Top singular triple of B by alternating power iteration, started from the
 * row of B^H (column of B) with the largest norm. false: not settled. */
static bool subq_power1(const cplx *b, int64_t s, int64_t p, cplx *u, cplx *v, double *sigma) {
  int64_t best = 0;
  double bn = -1;
  for (int64_t e = 0; e < p; e++) {
    double n2 = 0;
    for (int64_t c = 0; c < s; c++) n2 += cabs2(b[c * p + e]);
    if (n2 > bn) bn = n2, best = e;
  }
  if (bn <= 0) {
    for (int64_t c = 0; c < s; c++) u[c] = (cplx){0, 0};
    for (int64_t e = 0; e < p; e++) v[e] = (cplx){0, 0};
    *sigma = 0;
    return true;
  }
  for (int64_t e = 0; e < p; e++) v[e] = (cplx){e == best ? 1.0 : 0.0, 0};
  double prev = -1;
  for (int it = 0; it < 400; it++) {
    double un = 0;
    for (int64_t c = 0; c < s; c++) { /* u = B v */
      cplx acc = {0, 0};
      for (int64_t e = 0; e < p; e++) {
        const cplx t = cmul(b[c * p + e], v[e]);
        acc.re += t.re, acc.im += t.im;
      }
      u[c] = acc;
      un += cabs2(acc);
    }
    un = sqrt(un);
    if (un == 0) { /* B v = 0 after a step: B's columns are orthogonal to v; let Jacobi decide */
      return false;
    }
    for (int64_t c = 0; c < s; c++) u[c].re /= un, u[c].im /= un;
    double vn = 0;
    for (int64_t e = 0; e < p; e++) { /* v = B^H u */
      cplx acc = {0, 0};
      for (int64_t c = 0; c < s; c++) {
        const cplx t = cmul(cconj(b[c * p + e]), u[c]);
        acc.re += t.re, acc.im += t.im;
      }
      v[e] = acc;
      vn += cabs2(acc);
    }
    vn = sqrt(vn);
    for (int64_t e = 0; e < p; e++) v[e].re /= vn, v[e].im /= vn;
    *sigma = vn; /* = |B^H u| >= |B v|, converges from below to sigma_1 */
    if (prev >= 0 && fabs(vn - prev) <= 1e-15 * vn) return true;
    prev = vn;
  }
  return false;
}

/* Householder QR of the column-major rows x cols matrix a (rows >= cols), in
 * place as LAPACK's dgeqr2 leaves it: R on and above the diagonal, reflector h
 * (v[h] = 1 implied) below it, scalars in tau. */
static void subq_householder_qr(double *a, int64_t rows, int64_t cols, double *tau) {
  for (int64_t h = 0; h < cols; h++) {
    double *x = a + h * rows + h;
    const int64_t len = rows - h;
    double n2 = 0;
    for (int64_t i = 1; i < len; i++) n2 += x[i] * x[i];
    if (n2 == 0) { /* already upper triangular in this column */
      tau[h] = 0;
      continue;
    }
    const double beta = x[0] >= 0 ? -sqrt(x[0] * x[0] + n2) : sqrt(x[0] * x[0] + n2);
    tau[h] = (beta - x[0]) / beta;
    const double sc = 1.0 / (x[0] - beta);
    for (int64_t i = 1; i < len; i++) x[i] *= sc;
    x[0] = beta;
    for (int64_t j = h + 1; j < cols; j++) { /* a_j -= tau (v^T a_j) v */
      double *y = a + j * rows + h;
      double w = y[0];
      for (int64_t i = 1; i < len; i++) w += x[i] * y[i];
      w *= tau[h];
      y[0] -= w;
      for (int64_t i = 1; i < len; i++) y[i] -= w * x[i];
    }
  }
}

/* y (length rows) = Q y for the Q of subq_householder_qr: H_0 ... H_{cols-1} y. */
static void subq_householder_apply(const double *a, int64_t rows, int64_t cols, const double *tau, double *y) {
  for (int64_t h = cols - 1; h >= 0; h--) {
    if (tau[h] == 0) continue;
    const double *x = a + h * rows + h;
    double *z = y + h;
    double w = z[0];
    for (int64_t i = 1; i < rows - h; i++) w += x[i] * z[i];
    w *= tau[h];
    z[0] -= w;
    for (int64_t i = 1; i < rows - h; i++) z[i] -= w * x[i];
  }
}

/* subq_block_svd for real data, on plain doubles. A tall orientation (rows > cols)
 * is first reduced to its cols x cols R (QR preconditioning, as LAPACK's
 * dgejsv does), so every Jacobi sweep costs cols^3 instead of rows * cols^2;
 * the kept left vectors are Q times R's. */
static int64_t subq_block_svd_real(subq_svd_ws *ws, int64_t s, int64_t p, int64_t keep) {
  const bool tr = p > s;
  const int64_t rows = tr ? p : s, cols = tr ? s : p;
  double *ar = (double *)ws->a, *vr = (double *)ws->v; /* the complex buffers hold twice as many doubles */
  for (int64_t c = 0; c < s; c++)
    for (int64_t e = 0; e < p; e++) {
      const double x = ws->b[c * p + e].re;
      if (tr) ar[c * rows + e] = x; /* B^T: row e, column c */
      else ar[e * rows + c] = x;
    }
  const bool qr = rows > cols;
  double *jm = ar;
  int64_t jrows = rows;
  if (qr) {
    subq_householder_qr(ar, rows, cols, ws->tau);
    for (int64_t j = 0; j < cols; j++)
      for (int64_t i = 0; i < cols; i++) ws->rq[j * cols + i] = i <= j ? ar[j * rows + i] : 0.0;
    jm = ws->rq;
    jrows = cols;
  }
  subq_jacobi_real(jm, jrows, cols, vr, ws->sig);
  for (int64_t h = 0; h < keep; h++) {
    int64_t best = -1; /* the h-th largest sigma */
    for (int64_t q = 0; q < cols; q++)
      if (ws->sig[q] >= 0 && (best < 0 || ws->sig[q] > ws->sig[best])) best = q;
    const double sg = ws->sig[best];
    ws->sig[best] = -1;
    ws->sk[h] = sg;
    for (int64_t r = 0; r < rows; r++) ws->lv[r] = r < jrows && sg > 0 ? jm[best * jrows + r] / sg : 0.0;
    if (qr && sg > 0) subq_householder_apply(ar, rows, cols, ws->tau, ws->lv);
    for (int64_t r = 0; r < rows; r++) {
      if (tr) ws->vk[h * p + r] = (cplx){ws->lv[r], 0}; /* B^T = A' V'^T: B's right vector is A' */
      else ws->uk[h * s + r] = (cplx){ws->lv[r], 0};
    }
    for (int64_t q = 0; q < cols; q++) {
      const double x = vr[best * cols + q];
      if (tr) ws->uk[h * s + q] = (cplx){x, 0};
      else ws->vk[h * p + q] = (cplx){x, 0};
    }
  }
  return keep;
}

/* Best rank-rho factors of the s x p block in ws->b into uk, vk, sk; returns
 * how many (<= rho) were kept. */
static int64_t subq_block_svd(subq_svd_ws *ws, int64_t s, int64_t p, int64_t rho, bool is_complex) {
  const int64_t mn = SUBQ_MIN(s, p), keep = SUBQ_MIN(rho, mn);
  if (keep == 1 && subq_power1(ws->b, s, p, ws->uk, ws->vk, ws->sk)) return 1;
  /* Jacobi on the narrower orientation: columns of B (p <= s) or of B^H */
  const bool tr = p > s;
  const int64_t rows = tr ? p : s, cols = tr ? s : p;
  if (!is_complex) return subq_block_svd_real(ws, s, p, keep);
  for (int64_t c = 0; c < s; c++)
    for (int64_t e = 0; e < p; e++) {
      const cplx x = ws->b[c * p + e];
      if (tr) ws->a[c * rows + e] = cconj(x); /* B^H: row e, column c */
      else ws->a[e * rows + c] = x;
    }
  subq_jacobi(ws->a, rows, cols, ws->v, ws->sig);
  for (int64_t h = 0; h < keep; h++) {
    int64_t best = -1; /* the h-th largest sigma (selection; cols is small) */
    for (int64_t q = 0; q < cols; q++)
      if (ws->sig[q] >= 0 && (best < 0 || ws->sig[q] > ws->sig[best])) best = q;
    const double sg = ws->sig[best];
    ws->sig[best] = -1;
    ws->sk[h] = sg;
    /* the orientation's left vector a_best / sg, right vector v column best */
    for (int64_t r = 0; r < rows; r++) {
      const cplx x = ws->a[best * rows + r];
      const cplx y = sg > 0 ? (cplx){x.re / sg, x.im / sg} : (cplx){0, 0};
      if (tr) ws->vk[h * p + r] = y; /* B^H = A' V'^H: B = V' S A'^H, so B's right vector is A' */
      else ws->uk[h * s + r] = y;
    }
    for (int64_t q = 0; q < cols; q++) {
      const cplx x = ws->v[best * cols + q];
      if (tr) ws->uk[h * s + q] = x;
      else ws->vk[h * p + q] = x;
    }
  }
  return keep;
}

static subq_status subq_project_check(const char *fn, const subq_monarch_desc *desc, subq_monarch_desc *d,
                                      subq_monarch_dims *dm, int64_t m, int64_t n, int64_t ldm, const void *M,
                                      const void *w1, const void *w2) {
  subq_status st = subq_monarch_desc_read(fn, desc, d, dm);
  if (st != SUBQ_OK) return st;
  if (m != dm->m)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: m (%lld) != l*s (%lld) of desc", fn, (long long)m,
                      (long long)dm->m);
  if (n != dm->n)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: n (%lld) != k*p (%lld) of desc", fn, (long long)n,
                      (long long)dm->n);
  if (ldm < n)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: ldm (%lld) is smaller than n (%lld)", fn, (long long)ldm,
                      (long long)n);
  int64_t t;
  if (!subq_mul_i64(m - 1, ldm, &t) || !subq_add_i64(t, n, &t) || t > INT64_MAX / 16)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index arithmetic of M overflows int64", fn);
  if (!M) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: M is NULL", fn);
  if (!w1) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w1 is NULL", fn);
  if (d->kind == SUBQ_MONARCH_KIND_MONARCH && !w2) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: w2 is NULL", fn);
  return SUBQ_OK;
}

subq_status subq_monarch_project_f64(const double *M, int64_t m, int64_t n, int64_t ldm, const subq_monarch_desc *desc,
                                     bool is_complex, double *w1, double *w2, double *resid_fro2) {
  const char *fn = "subq_monarch_project_f64";
  subq_monarch_desc d;
  subq_monarch_dims dm;
  subq_status st = subq_project_check(fn, desc, &d, &dm, m, n, ldm, M, w1, w2);
  if (st != SUBQ_OK) return st;
  const int64_t cw = is_complex ? 2 : 1;
  const int64_t k = d.k, q = d.q, p = d.p;
  double resid = 0;
#define MEL(row, col) \
  (is_complex ? (cplx){M[2 * ((row) * ldm + (col))], M[2 * ((row) * ldm + (col)) + 1]} : (cplx){M[(row) * ldm + (col)], 0})
  if (d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG) {
    /* the diagonal blocks are free parameters: copy them, the rest is the residual */
    for (int64_t row = 0; row < m; row++)
      for (int64_t col = 0; col < n; col++) {
        const cplx x = MEL(row, col);
        const int64_t i = row / q;
        if (col / p == i) {
          double *o = w1 + cw * (row * p + col % p);
          o[0] = x.re;
          if (is_complex) o[1] = x.im;
        } else {
          resid += cabs2(x);
        }
      }
    if (resid_fro2) *resid_fro2 = resid;
    return SUBQ_OK;
  }
  const int64_t l = d.l, s = d.s, r = d.r, mx = SUBQ_MAX(s, p), mn = SUBQ_MIN(s, p);
  subq_svd_ws ws;
  memset(&ws, 0, sizeof ws);
  int64_t *ts = malloc((size_t)r * sizeof *ts);
  ws.b = malloc((size_t)(s * p) * sizeof(cplx));
  ws.a = malloc((size_t)(s * p) * sizeof(cplx));
  ws.v = malloc((size_t)(mn * mn) * sizeof(cplx));
  ws.sig = malloc((size_t)mn * sizeof(double));
  ws.uk = malloc((size_t)(mn * s + mx) * sizeof(cplx));
  ws.vk = malloc((size_t)(mn * p + mx) * sizeof(cplx));
  ws.sk = malloc((size_t)(mn + 1) * sizeof(double));
  ws.tau = malloc((size_t)mn * sizeof(double));
  ws.rq = malloc((size_t)(mn * mn) * sizeof(double));
  ws.lv = malloc((size_t)mx * sizeof(double));
  if (!ts || !ws.b || !ws.a || !ws.v || !ws.sig || !ws.uk || !ws.vk || !ws.sk || !ws.tau || !ws.rq || !ws.lv) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the SVD workspace", fn);
    goto out;
  }
  memset(w1, 0, (size_t)(dm.w1_elems * cw) * sizeof(double));
  memset(w2, 0, (size_t)(dm.w2_elems * cw) * sizeof(double));
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < l; j++) {
      int64_t rho = 0;
      for (int64_t t = 0; t < r; t++) {
        const int64_t g = t * l + j;
        if (g >= i * q && g < (i + 1) * q) ts[rho++] = t;
      }
      for (int64_t c = 0; c < s; c++)
        for (int64_t e = 0; e < p; e++) ws.b[c * p + e] = MEL(c * l + j, i * p + e);
      int64_t kept = rho ? subq_block_svd(&ws, s, p, rho, is_complex) : 0;
      /* W2[j][c][t] = U[c][h] sqrt(sig), W1[i][a][e] = sqrt(sig) conj(V[e][h]) */
      for (int64_t h = 0; h < kept; h++) {
        const int64_t t = ts[h], a = t * l + j - i * q;
        const double rs = sqrt(ws.sk[h]);
        for (int64_t c = 0; c < s; c++) {
          double *o = w2 + cw * ((j * s + c) * r + t);
          o[0] = ws.uk[h * s + c].re * rs;
          if (is_complex) o[1] = ws.uk[h * s + c].im * rs;
        }
        for (int64_t e = 0; e < p; e++) {
          double *o = w1 + cw * ((i * q + a) * p + e);
          o[0] = ws.vk[h * p + e].re * rs;
          if (is_complex) o[1] = -ws.vk[h * p + e].im * rs;
        }
      }
      /* residual measured directly (no cancellation): |B - sum_h sig u v^H|^2 */
      for (int64_t c = 0; c < s; c++)
        for (int64_t e = 0; e < p; e++) {
          cplx x = ws.b[c * p + e];
          for (int64_t h = 0; h < kept; h++) {
            const cplx t = cmul(ws.uk[h * s + c], cconj(ws.vk[h * p + e]));
            x.re -= ws.sk[h] * t.re, x.im -= ws.sk[h] * t.im;
          }
          resid += cabs2(x);
        }
    }
  if (resid_fro2) *resid_fro2 = resid;
out:
#undef MEL
  free(ts), free(ws.b), free(ws.a), free(ws.v), free(ws.sig), free(ws.uk), free(ws.vk), free(ws.sk);
  free(ws.tau), free(ws.rq), free(ws.lv);
  return st;
}

subq_status subq_monarch_to_dense_f64(const subq_monarch_desc *desc, bool is_complex, const double *w1,
                                      const double *w2, double *M, int64_t ldm) {
  const char *fn = "subq_monarch_to_dense_f64";
  subq_monarch_desc d;
  subq_monarch_dims dm;
  subq_status st = subq_monarch_desc_read(fn, desc, &d, &dm);
  if (st != SUBQ_OK) return st;
  st = subq_project_check(fn, desc, &d, &dm, dm.m, dm.n, ldm, M, w1, w2);
  if (st != SUBQ_OK) return st;
  const int64_t cw = is_complex ? 2 : 1, k = d.k, q = d.q, p = d.p, n = dm.n;
  for (int64_t row = 0; row < dm.m; row++) memset(M + cw * row * ldm, 0, (size_t)(cw * n) * sizeof(double));
#define W(ptr, idx) (is_complex ? (cplx){(ptr)[2 * (idx)], (ptr)[2 * (idx) + 1]} : (cplx){(ptr)[idx], 0})
  if (d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG) {
    for (int64_t i = 0; i < k; i++)
      for (int64_t a = 0; a < q; a++)
        for (int64_t e = 0; e < p; e++) {
          const cplx x = W(w1, (i * q + a) * p + e);
          double *o = M + cw * ((i * q + a) * ldm + i * p + e);
          o[0] = x.re;
          if (is_complex) o[1] = x.im;
        }
    return SUBQ_OK;
  }
  const int64_t l = d.l, s = d.s, r = d.r;
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < l; j++)
      for (int64_t t = 0; t < r; t++) {
        const int64_t g = t * l + j;
        if (g < i * q || g >= (i + 1) * q) continue;
        const int64_t a = g - i * q;
        for (int64_t c = 0; c < s; c++) {
          const cplx w2v = W(w2, (j * s + c) * r + t);
          double *o = M + cw * ((c * l + j) * ldm + i * p);
          for (int64_t e = 0; e < p; e++) {
            const cplx x = cmul(w2v, W(w1, (i * q + a) * p + e));
            o[cw * e] += x.re;
            if (is_complex) o[cw * e + 1] += x.im;
          }
        }
      }
#undef W
  return SUBQ_OK;
}
