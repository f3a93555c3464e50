/*
 * subq_ref_fattn.c — float64 naive attention oracle, see subq_ref_fattn.h.
 */
#include "ref/subq_ref_fattn.h"

#include <math.h>
#include <stdlib.h>

void subq_ref_fattn(const subq_fattn_args *a, double *out, double *lse, double *mag) {
  const int64_t G = a->hq / a->hkv;
  const int64_t off = a->align == SUBQ_FATTN_ALIGN_BOTTOM_RIGHT ? a->sk - a->sq : 0;
  const double scale = a->scale != 0.0f ? (double)a->scale : 1.0 / sqrt((double)a->dk);
  double *s = malloc((size_t)(a->sk + 1) * sizeof(double));
  for (int64_t b = 0; b < a->batch; b++)
    for (int64_t h = 0; h < a->hq; h++) {
      const int64_t kh = h / G;
      for (int64_t i = 0; i < a->sq; i++) {
        const float *q = a->q + b * a->q_bs + i * a->q_ss + h * a->q_hs;
        const int64_t p = i + off;
        double m = -INFINITY;
        for (int64_t j = 0; j < a->sk; j++) {
          const bool ok = (a->window_left < 0 || j >= p - a->window_left) &&
                          (a->window_right < 0 || j <= p + a->window_right);
          if (!ok) {
            s[j] = -INFINITY;
            continue;
          }
          const float *k = a->k + b * a->k_bs + j * a->k_ss + kh * a->k_hs;
          double dot = 0.0;
          for (int64_t d = 0; d < a->dk; d++) dot += (double)q[d] * (double)k[d];
          double x = scale * dot;
          if (a->softcap > 0.0f) x = (double)a->softcap * tanh(x / (double)a->softcap);
          if (a->mask) x += (double)a->mask[b * a->mask_bs + h * a->mask_hs + i * a->mask_ss + j];
          s[j] = x;
          if (x > m) m = x;
        }
        double l = 0.0;
        if (m != -INFINITY)
          for (int64_t j = 0; j < a->sk; j++) l += s[j] == -INFINITY ? 0.0 : exp(s[j] - m);
        double *o = out + ((b * a->sq + i) * a->hq + h) * a->dv;
        double *mg = mag ? mag + ((b * a->sq + i) * a->hq + h) * a->dv : NULL;
        for (int64_t d = 0; d < a->dv; d++) {
          o[d] = 0.0;
          if (mg) mg[d] = 0.0;
        }
        if (l > 0.0)
          for (int64_t j = 0; j < a->sk; j++) {
            if (s[j] == -INFINITY) continue;
            const double pj = exp(s[j] - m) / l;
            const float *v = a->v + b * a->v_bs + j * a->v_ss + kh * a->v_hs;
            for (int64_t d = 0; d < a->dv; d++) {
              o[d] += pj * (double)v[d];
              if (mg) mg[d] += pj * fabs((double)v[d]);
            }
          }
        if (lse) lse[(b * a->hq + h) * a->sq + i] = l > 0.0 ? m + log(l) : -INFINITY;
      }
    }
  free(s);
}
