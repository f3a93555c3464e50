/*
 * subq_monarch_project.c — Frobenius-optimal projection of a dense matrix onto
 * the Monarch matrices of a descriptor (spec §4), and the dense matrix of a
 * Monarch (both fp64, real or complex interleaved re/im).
 *
 * The s x p sub-block of M with rows c*l + j and columns of block i has rank
 * <= rho(i,j) = |T(i,j)| and no two sub-blocks share a parameter, so the best
 * approximation is a truncated SVD per sub-block (Eckart–Young). The SVD is
 * ours: power iteration for rho = 1 (alternating B v, B^H u); otherwise, for
 * real data, the top eigenvectors of the Gram matrix (tridiagonal QL) with
 * sigma u = B v taken from B itself, and for complex data (or when QL does not
 * settle) one-sided Jacobi (Hestenes).
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

/* Workspace of one sub-block SVD. */
typedef struct subq_svd_ws {
  cplx *b;       /* s x p, row-major: the sub-block */
  cplx *a, *v;   /* Jacobi matrices */
  double *sig;
  cplx *u1, *v1; /* leading pair (power iteration) */
  cplx *uk, *vk; /* kept factors: uk[h*s + c], vk[h*p + e] (B = sum_h sig_h uk_h vk_h^H) */
  double *sk;
  double *tau, *rq, *lv; /* real path: off-diagonal + Householder scalars (2 mn), Q^T (mn x mn), one vector (mx) */
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

/* Householder reduction of the symmetric n x n row-major matrix a to tridiagonal
 * T = Q^T A Q: diagonal d, off-diagonal e (e[i] couples i and i+1, e[n-1] = 0),
 * and zt = Q^T (row-major). a is destroyed (reflector k is kept in row k). */
static void subq_sym_tridiag(double *a, int64_t n, double *d, double *e, double *tau, double *zt, double *w) {
  for (int64_t k = 0; k + 2 < n; k++) {
    double *x = a + k * n + k + 1; /* column k below the diagonal = row k right of it */
    const int64_t len = n - k - 1;
    double a2 = 0;
    for (int64_t i = 1; i < len; i++) a2 += x[i] * x[i];
    if (a2 == 0) {
      tau[k] = 0, e[k] = x[0];
      continue;
    }
    const double beta = x[0] >= 0 ? -sqrt(x[0] * x[0] + a2) : sqrt(x[0] * x[0] + a2);
    const double t = (beta - x[0]) / beta, sc = 1.0 / (x[0] - beta);
    for (int64_t i = 1; i < len; i++) x[i] *= sc;
    x[0] = 1;
    tau[k] = t, e[k] = beta;
    /* S -= v w^T + w v^T on the trailing block, w = p - (t/2)(p.v) v, p = t S v */
    double *sub = a + (k + 1) * n + k + 1;
    double pv = 0;
    for (int64_t r = 0; r < len; r++) {
      const double *row = sub + r * n;
      double acc = 0;
      for (int64_t c = 0; c < len; c++) acc += row[c] * x[c];
      w[r] = t * acc;
      pv += w[r] * x[r];
    }
    const double kk = 0.5 * t * pv;
    for (int64_t r = 0; r < len; r++) w[r] -= kk * x[r];
    for (int64_t r = 0; r < len; r++) {
      double *row = sub + r * n;
      const double xr = x[r], wr = w[r];
      for (int64_t c = 0; c < len; c++) row[c] -= xr * w[c] + wr * x[c];
    }
  }
  for (int64_t i = 0; i < n; i++) d[i] = a[i * n + i];
  if (n >= 2) e[n - 2] = a[(n - 2) * n + n - 1];
  e[n - 1] = 0;
  /* Q^T = H_{n-3} ... H_0: rows k+1.. of zt -= t v (v^T zt) */
  for (int64_t i = 0; i < n * n; i++) zt[i] = 0;
  for (int64_t i = 0; i < n; i++) zt[i * n + i] = 1;
  for (int64_t k = 0; k + 2 < n; k++) {
    if (tau[k] == 0) continue;
    const double *x = a + k * n + k + 1;
    const int64_t len = n - k - 1;
    for (int64_t c = 0; c < n; c++) w[c] = 0;
    for (int64_t i = 0; i < len; i++) {
      const double *row = zt + (k + 1 + i) * n;
      for (int64_t c = 0; c < n; c++) w[c] += x[i] * row[c];
    }
    for (int64_t i = 0; i < len; i++) {
      double *row = zt + (k + 1 + i) * n;
      const double f = tau[k] * x[i];
      for (int64_t c = 0; c < n; c++) row[c] -= f * w[c];
    }
  }
}

/* Eigenvalues (into d) and eigenvectors (rows of zt, rotated in) of the
 * tridiagonal (d, e) by implicit-shift QL. false: an eigenvalue took more than
 * 60 iterations. */
static bool subq_tridiag_ql(double *d, double *e, int64_t n, double *zt) {
  for (int64_t l = 0; l < n; l++) {
    for (int iter = 0;; iter++) {
      int64_t m = l;
      for (; m + 1 < n; m++) {
        const double dd = fabs(d[m]) + fabs(d[m + 1]);
        if (fabs(e[m]) <= 1e-16 * dd) break;
      }
      if (m == l) break;
      if (iter == 60) return false;
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      double sn = 1, c = 1, p = 0;
      int64_t i = m - 1;
      bool split = false;
      for (; i >= l; i--) {
        const double f = sn * e[i], b = c * e[i];
        r = hypot(f, g);
        e[i + 1] = r;
        if (r == 0) { /* underflow: the matrix split, restart on the smaller part */
          d[i + 1] -= p;
          e[m] = 0;
          split = true;
          break;
        }
        sn = f / r, c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * sn + 2.0 * c * b;
        p = sn * r;
        d[i + 1] = g + p;
        g = c * r - b;
        double *z0 = zt + i * n, *z1 = z0 + n;
        for (int64_t k = 0; k < n; k++) {
          const double zf = z1[k];
          z1[k] = sn * z0[k] + c * zf;
          z0[k] = c * z0[k] - sn * zf;
        }
      }
      if (split) continue;
      d[l] -= p, e[l] = g, e[m] = 0;
    }
  }
  return true;
}

/* subq_block_svd for real data, on plain doubles: the right singular vectors are
 * the top eigenvectors of the Gram matrix A^T A of the narrow orientation
 * (Householder tridiagonalisation + implicit QL: a few cols^3 flops in all,
 * where one-sided Jacobi spends about that per sweep), and each kept triple is
 * sigma u = A v, computed from A itself. So the approximation is A P_V for an
 * orthonormal V: the residual stays orthogonal and is measured directly, and
 * only the choice of V carries the Gram matrix's squared conditioning (its top
 * eigenvectors are what matter). Returns -1 when QL does not settle. */
static int64_t subq_block_svd_real(subq_svd_ws *ws, int64_t s, int64_t p, int64_t keep) {
  const bool tr = p > s;
  const int64_t rows = tr ? p : s, cols = tr ? s : p;
  double *ar = (double *)ws->a, *g = (double *)ws->v; /* the complex buffers hold twice as many doubles */
  for (int64_t c = 0; c < s; c++)
    for (int64_t e = 0; e < p; e++) {
      const double x = ws->b[c * p + e].re;
      if (tr) ar[c * rows + e] = x; /* B^T: row e, column c */
      else ar[e * rows + c] = x;
    }
  for (int64_t i = 0; i < cols; i++) /* G = A^T A, four interleaved partial sums per entry */
    for (int64_t j = i; j < cols; j++) {
      const double *x = ar + i * rows, *y = ar + j * rows;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t r = 0;
      for (; r + 4 <= rows; r += 4) s0 += x[r] * y[r], s1 += x[r + 1] * y[r + 1], s2 += x[r + 2] * y[r + 2], s3 += x[r + 3] * y[r + 3];
      for (; r < rows; r++) s0 += x[r] * y[r];
      g[i * cols + j] = g[j * cols + i] = (s0 + s1) + (s2 + s3);
    }
  double *d = ws->sig, *e = ws->tau, *tau = ws->tau + cols, *zt = ws->rq, *w = ws->lv;
  subq_sym_tridiag(g, cols, d, e, tau, zt, w);
  if (!subq_tridiag_ql(d, e, cols, zt)) return -1; /* the caller falls back to complex Jacobi */
  for (int64_t h = 0; h < keep; h++) {
    int64_t best = -1; /* the h-th largest eigenvalue (taken ones are marked -inf) */
    for (int64_t q = 0; q < cols; q++)
      if (d[q] != -INFINITY && (best < 0 || d[q] > d[best])) best = q;
    d[best] = -INFINITY;
    const double *v = zt + best * cols; /* row best: its eigenvector */
    for (int64_t r = 0; r < rows; r++) w[r] = 0;
    for (int64_t q = 0; q < cols; q++) { /* w = A v */
      const double vq = v[q], *col = ar + q * rows;
      for (int64_t r = 0; r < rows; r++) w[r] += vq * col[r];
    }
    double n2 = 0;
    for (int64_t r = 0; r < rows; r++) n2 += w[r] * w[r];
    const double sg = sqrt(n2);
    ws->sk[h] = sg;
    for (int64_t r = 0; r < rows; r++) {
      const cplx y = {sg > 0 ? w[r] / sg : 0.0, 0};
      if (tr) ws->vk[h * p + r] = y; /* B^T = A: A's left vector is B's right one */
      else ws->uk[h * s + r] = y;
    }
    for (int64_t q = 0; q < cols; q++) {
      if (tr) ws->uk[h * s + q] = (cplx){v[q], 0};
      else ws->vk[h * p + q] = (cplx){v[q], 0};
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
  if (!is_complex) {
    const int64_t kept = subq_block_svd_real(ws, s, p, keep);
    if (kept >= 0) return kept;
  }
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
  ws.tau = malloc((size_t)(2 * mn) * sizeof(double));
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
