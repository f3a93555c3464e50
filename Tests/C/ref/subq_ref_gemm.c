#include "ref/subq_ref_gemm.h"

#include <math.h>
#include <string.h>

void subq_ref_gemm(int64_t m, int64_t n, int64_t k, double alpha, const double *a, const double *b, double beta,
                   const double *c0, double *out, double *mag) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0.0, sa = 0.0;
      for (int64_t p = 0; p < k; p++) {
        const double t = a[i * k + p] * b[p * n + j];
        s += t;
        sa += fabs(t);
      }
      double v = alpha * s, mg = fabs(alpha) * sa;
      if (beta != 0.0) {
        v += beta * c0[i * n + j];
        mg += fabs(beta * c0[i * n + j]);
      }
      out[i * n + j] = v;
      if (mag) mag[i * n + j] = mg;
    }
}

