#include "ref/subq_ref_monarch.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void ref_one(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, const double *x, double *y,
                    bool absval) {
  const int64_t k = sh->k, q = sh->q, p = sh->p, l = sh->l, s = sh->s, r = sh->r, N = k * q;
  double *u = malloc((size_t)N * sizeof *u), *v = malloc((size_t)N * sizeof *v);
  /* stage 1 */
  for (int64_t i = 0; i < k; i++)
    for (int64_t a = 0; a < q; a++) {
      double acc = 0;
      for (int64_t e = 0; e < p; e++) {
        const double wv = w1[(i * q + a) * p + e], xv = x[i * p + e];
        acc += absval ? fabs(wv) * fabs(xv) : wv * xv;
      }
      u[i * q + a] = acc;
    }
  if (l == 0) {
    memcpy(y, u, (size_t)N * sizeof *u);
  } else {
    /* P1: v[j r + t] = u[t l + j] */
    for (int64_t j = 0; j < l; j++)
      for (int64_t t = 0; t < r; t++) v[j * r + t] = u[t * l + j];
    /* stage 2 and P2: y[c l + j] = z[j s + c] */
    for (int64_t j = 0; j < l; j++)
      for (int64_t c = 0; c < s; c++) {
        double acc = 0;
        for (int64_t t = 0; t < r; t++) {
          const double wv = w2[(j * s + c) * r + t];
          acc += absval ? fabs(wv) * v[j * r + t] : wv * v[j * r + t];
        }
        y[c * l + j] = acc;
      }
  }
  free(u);
  free(v);
}

void subq_ref_monarch_apply(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, int64_t T,
                            const double *x, double *y, double *mag) {
  const int64_t n = sh->k * sh->p, m = sh->l ? sh->l * sh->s : sh->k * sh->q;
  for (int64_t t = 0; t < T; t++) {
    ref_one(sh, w1, w2, x + t * n, y + t * m, false);
    if (mag) ref_one(sh, w1, w2, x + t * n, mag + t * m, true);
  }
}

void subq_ref_monarch_dense(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, double *M) {
  const int64_t k = sh->k, q = sh->q, p = sh->p, l = sh->l, s = sh->s, r = sh->r, n = k * p;
  memset(M, 0, (size_t)(l * s * n) * sizeof *M);
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < l; j++)
      for (int64_t t = 0; t < r; t++) {
        const int64_t g = t * l + j;
        if (g < i * q || g >= (i + 1) * q) continue; /* t not in T(i, j) */
        const int64_t a = g - i * q;
        for (int64_t c = 0; c < s; c++)
          for (int64_t e = 0; e < p; e++)
            M[(c * l + j) * n + i * p + e] += w2[(j * s + c) * r + t] * w1[(i * q + a) * p + e];
      }
}

void subq_ref_monarch_backward(const subq_ref_monarch_shape *sh, const double *w1, const double *w2, int64_t T,
                               const double *x, const double *g, double *gx, double *gw1, double *gw2, double *gb) {
  const int64_t k = sh->k, q = sh->q, p = sh->p, l = sh->l, s = sh->s, r = sh->r, N = k * q, n = k * p;
  const int64_t m = l ? l * s : N;
  double *u = malloc((size_t)N * sizeof *u), *du = malloc((size_t)N * sizeof *du);
  if (gw1) memset(gw1, 0, (size_t)(k * q * p) * sizeof *gw1);
  if (gw2 && l) memset(gw2, 0, (size_t)(l * s * r) * sizeof *gw2);
  if (gb) memset(gb, 0, (size_t)m * sizeof *gb);
  for (int64_t tok = 0; tok < T; tok++) {
    const double *xr = x + tok * n, *gr = g + tok * m;
    if (gb)
      for (int64_t o = 0; o < m; o++) gb[o] += gr[o];
    if (l) {
      for (int64_t i = 0; i < k; i++)
        for (int64_t a = 0; a < q; a++) {
          double acc = 0;
          for (int64_t e = 0; e < p; e++) acc += w1[(i * q + a) * p + e] * xr[i * p + e];
          u[i * q + a] = acc;
        }
      /* dZ_j[c] = g[c l + j]; dW2[j][c][t] += dZ_j[c] v_j[t]; dV_j[t] = sum_c dZ_j[c] W2[j][c][t] */
      for (int64_t j = 0; j < l; j++)
        for (int64_t t = 0; t < r; t++) {
          double acc = 0;
          for (int64_t c = 0; c < s; c++) {
            const double dz = gr[c * l + j];
            acc += dz * w2[(j * s + c) * r + t];
            if (gw2) gw2[(j * s + c) * r + t] += dz * u[t * l + j];
          }
          du[t * l + j] = acc; /* P1^T */
        }
    } else {
      memcpy(du, gr, (size_t)N * sizeof *du);
    }
    for (int64_t i = 0; i < k; i++)
      for (int64_t e = 0; e < p; e++) {
        double acc = 0;
        for (int64_t a = 0; a < q; a++) {
          acc += du[i * q + a] * w1[(i * q + a) * p + e];
          if (gw1) gw1[(i * q + a) * p + e] += du[i * q + a] * xr[i * p + e];
        }
        if (gx) gx[tok * n + i * p + e] = acc;
      }
  }
  free(u);
  free(du);
}
