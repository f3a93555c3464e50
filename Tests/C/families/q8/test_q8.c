/*
 * test_q8.c — int8-weight linear (subq_q8_*), every ISA path of the host:
 *  - quantization: the test re-derives the codes and scales from the rule in
 *    subq_gemm.h (absmax / 127 per row and 32-column block rounded up to
 *    bf16, round half to even) and compares subq_q8_weights_dequantize bit for
 *    bit; ties, zero blocks, one-element tail blocks, a scale that is exactly
 *    bf16 and one that is not; the error bound s / 2;
 *  - products against float64 over the test's own dequantized weights, within
 *    the header's bound, for k a multiple of 32 or not (x copied into
 *    zero-padded rows),
 *    m = 1, 2, 3, 7, n not a multiple of 4, strided x and y (the padding of y
 *    untouched); f32, bf16 and f16 weights; the same bits for 1, 2 and 3
 *    threads and under a shuffled host executor;
 *  - bad input: every argument named in the message, non-finite weights.
 */
#include <stdint.h>

#include "ref/subq_ref_dtype.h"
#include "support/subq_test.h"

/* The quantization rule of subq_gemm.h on one row of floats: fills w' = fl(c * s). */
static void ref_quant_row(const float *w, int64_t k, float *deq) {
  for (int64_t b0 = 0; b0 < k; b0 += 32) {
    const int64_t nb = k - b0 < 32 ? k - b0 : 32;
    float amax = 0.0f;
    for (int64_t j = 0; j < nb; j++) amax = fmaxf(amax, fabsf(w[b0 + j]));
    /* amax / 127 rounded up to bf16: through double, away from the kernel's bit trick */
    const double s127 = (double)(amax / 127.0f);
    double up = s127;
    if (s127 > 0) {
      int e;
      (void)frexp(s127, &e); /* s127 = f 2^e, 0.5 <= f < 1: bf16 keeps 8 significant bits */
      const double ulp = ldexp(1.0, e - 8);
      up = ceil(s127 / ulp) * ulp;
    }
    const float s = (float)up;
    for (int64_t j = 0; j < nb; j++) {
      float c = s > 0.0f ? nearbyintf(w[b0 + j] / s) : 0.0f;
      c = c > 127.0f ? 127.0f : (c < -127.0f ? -127.0f : c);
      deq[b0 + j] = (c + 0.0f) * s; /* codes are integers: no -0 */
    }
  }
}

static void fill(float *x, int64_t n, unsigned long long seed, float scale) {
  subq_fill_random(x, n, seed);
  for (int64_t i = 0; i < n; i++) x[i] *= scale;
}

/* One shape: weights of dtype dt, products for several m, every ISA, thread
 * counts, strides. */
static void product_case(subq_dtype dt, int64_t n, int64_t k) {
  const int64_t w_rs = k + 3, mmax = 7, x_rs = k + 5, y_rs = n + 2;
  float *wf = malloc((size_t)(n * w_rs) * sizeof(float));
  uint16_t *wh = malloc((size_t)(n * w_rs) * sizeof(uint16_t));
  fill(wf, n * w_rs, 11 + (unsigned long long)k, 1.0f);
  /* some rows with a wide range, a zero block, and exact ties (w / s = x.5) */
  for (int64_t p = 0; p < k; p++) wf[p] = p % 7 == 0 ? 3.0f : 0.001f * (float)(p % 5);
  if (n > 1)
    for (int64_t p = 0; p < k && p < 32; p++) wf[w_rs + p] = 0.0f;
  if (n > 2)
    for (int64_t p = 0; p < k; p++) wf[2 * w_rs + p] = (p % 32 == 0) ? 127.0f : (float)(p % 9) - 4.5f;
  for (int64_t i = 0; i < n * w_rs; i++) {
    if (dt == SUBQ_DTYPE_BF16) wh[i] = subq_ref_f32_to_bf16(wf[i]), wf[i] = (float)subq_ref_bf16_value(wh[i]);
    if (dt == SUBQ_DTYPE_F16) {
      wf[i] = roundf(fminf(fmaxf(wf[i], -1.99f), 1.99f) * 1024.0f) / 1024.0f; /* exact in f16 */
      wh[i] = subq_ref_f32_to_f16(wf[i]);
      CHECK_MSG(subq_ref_f16_value(wh[i]) == wf[i], "f16 test encoding of %g", (double)wf[i]);
    }
  }
  const void *wsrc = dt == SUBQ_DTYPE_F32 ? (const void *)wf : (const void *)wh;
  subq_q8_weights *q = NULL;
  CHECK_OK(subq_q8_weights_create(NULL, n, k, dt, wsrc, w_rs, &q));
  if (!q) goto out_free;
  /* quantization: bit for bit the rule, and within s / 2 of the input */
  float *deq = malloc((size_t)(n * k) * sizeof(float)), *mine = malloc((size_t)(n * k) * sizeof(float));
  CHECK_OK(subq_q8_weights_dequantize(q, 0, n, deq, 0));
  bool same = true, bounded = true;
  for (int64_t r = 0; r < n; r++) {
    ref_quant_row(wf + r * w_rs, k, mine + r * k);
    same = same && memcmp(deq + r * k, mine + r * k, (size_t)k * sizeof(float)) == 0;
    for (int64_t b0 = 0; b0 < k; b0 += 32) {
      float amax = 0.0f;
      for (int64_t j = b0; j < k && j < b0 + 32; j++) amax = fmaxf(amax, fabsf(wf[r * w_rs + j]));
      for (int64_t j = b0; j < k && j < b0 + 32; j++)
        bounded = bounded && fabs((double)deq[r * k + j] - wf[r * w_rs + j]) <= amax / 254.0 * (1.0 + 0x1p-7) + amax * 1e-6; /* s / 2 (s rounded up to bf16) plus the roundings of s and c * s */
    }
  }
  CHECK_MSG(same, "dtype %d n %lld k %lld: quantization differs from the rule", (int)dt, (long long)n, (long long)k);
  CHECK_MSG(bounded, "dtype %d n %lld k %lld: a weight moved more than s / 2", (int)dt, (long long)n, (long long)k);
  if (n > 2 && k >= 32 && dt != SUBQ_DTYPE_F16) { /* row 2: 127 at column 0 makes s = 1, so the .5 values are ties to even */
    CHECK(deq[2 * k + 0] == 127.0f && deq[2 * k + 1] == -4.0f && deq[2 * k + 2] == -2.0f && deq[2 * k + 3] == -2.0f);
  }
  if (n > 1) CHECK(deq[k] == 0.0f); /* the zero block */
  CHECK(subq_q8_weights_size(q) >= (size_t)(n * ((k + 31) / 32) * 34));

  float *x = malloc((size_t)(mmax * x_rs) * sizeof(float));
  float *y = malloc((size_t)(mmax * y_rs) * sizeof(float)), *y2 = malloc((size_t)(mmax * y_rs) * sizeof(float));
  fill(x, mmax * x_rs, 99 + (unsigned long long)n, 1.0f);
  subq_isa isas[8];
  const int n_isa = subq_test_isas(isas);
  const int64_t ms[] = {1, 2, 3, 7};
  for (int ii = 0; ii < n_isa; ii++)
    for (int mi = 0; mi < 4; mi++) {
      const int64_t m = ms[mi];
      subq_context *ctx = subq_test_context(isas[ii], 2);
      memset(y, 0x7f, (size_t)(mmax * y_rs) * sizeof(float));
      CHECK_OK(subq_q8_linear(ctx, m, x, x_rs, q, y, y_rs));
      double worst = 0.0;
      bool pad_ok = true;
      for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
          double ref = 0.0, mag = 0.0;
          for (int64_t p = 0; p < k; p++) {
            ref += (double)x[i * x_rs + p] * (double)mine[j * k + p];
            mag += fabs((double)x[i * x_rs + p] * (double)mine[j * k + p]);
          }
          const double bound = (double)(k + 16) * 0x1p-24 * mag; /* the header's bound */
          const double err = fabs((double)y[i * y_rs + j] - ref) / (bound + 1e-30);
          if (!(err <= worst)) worst = isnan(err) ? INFINITY : err; /* NaN fails */
        }
        for (int64_t j = n; j < y_rs; j++) {
          uint32_t bits;
          memcpy(&bits, y + i * y_rs + j, sizeof bits);
          pad_ok = pad_ok && bits == 0x7f7f7f7fu;
        }
      }
      CHECK_MSG(worst <= 1.0, "isa %s dtype %d n %lld k %lld m %lld: error %.3f of the bound",
                subq_isa_name(isas[ii]), (int)dt, (long long)n, (long long)k, (long long)m, worst);
      CHECK_MSG(pad_ok, "isa %s m %lld: y padding written", subq_isa_name(isas[ii]), (long long)m);
      /* thread counts and a shuffled executor: the same bits */
      for (int t = 1; t <= 4; t++) {
        subq_context *c2 = NULL;
        if (t <= 3) {
          c2 = subq_test_context(isas[ii], t);
        } else {
          subq_context_params p;
          subq_context_params_default(&p, sizeof p);
          p.max_isa = isas[ii];
          subq_executor ex = subq_test_shuffled_executor();
          CHECK_OK(subq_context_create_with_executor(&p, &ex, &c2));
        }
        memset(y2, 0x7f, (size_t)(mmax * y_rs) * sizeof(float));
        CHECK_OK(subq_q8_linear(c2, m, x, x_rs, q, y2, y_rs));
        CHECK_MSG(memcmp(y, y2, (size_t)(m * y_rs) * sizeof(float)) == 0, "isa %s m %lld: %d threads differ",
                  subq_isa_name(isas[ii]), (long long)m, t);
        subq_context_destroy(c2);
      }
      subq_context_destroy(ctx);
    }
  free(x), free(y), free(y2), free(deq), free(mine);
  subq_q8_weights_destroy(q);
out_free:
  free(wf), free(wh);
}

static void errors(void) {
  float w[64 * 3] = {0}, x[64] = {0}, y[8] = {0};
  subq_q8_weights *q = NULL;
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, 64, SUBQ_DTYPE_F32, w, 0, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_q8_weights_create(NULL, 0, 64, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT, "n (0) < 1");
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, -1, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT, "k (-1) < 1");
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, 64, SUBQ_DTYPE_I8, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT, "dtype");
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, 64, SUBQ_DTYPE_F32, NULL, 0, &q), SUBQ_ERR_INVALID_ARGUMENT,
               "w is NULL");
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, 64, SUBQ_DTYPE_F32, w, 63, &q), SUBQ_ERR_INVALID_ARGUMENT, "w_rs (63)");
  CHECK_STATUS(subq_q8_weights_create(NULL, INT64_MAX / 2, 64, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT,
               "overflow");
  CHECK_STATUS(subq_q8_weights_create(NULL, 2, INT64_MAX - 3, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT,
               "overflow");
  w[64 + 40] = NAN;
  CHECK_STATUS(subq_q8_weights_create(NULL, 3, 64, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT,
               "non-finite value at row 1, column 40");
  CHECK(q == NULL);
  w[64 + 40] = 0.0f, w[2 * 64 + 3] = -INFINITY;
  CHECK_STATUS(subq_q8_weights_create(NULL, 3, 64, SUBQ_DTYPE_F32, w, 0, &q), SUBQ_ERR_INVALID_ARGUMENT,
               "row 2, column 3");
  w[2 * 64 + 3] = 1.0f;
  CHECK_OK(subq_q8_weights_create(NULL, 3, 64, SUBQ_DTYPE_F32, w, 0, &q));
  if (!q) return;
  CHECK_STATUS(subq_q8_linear(NULL, 1, x, 0, NULL, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "w is NULL");
  CHECK_STATUS(subq_q8_linear(NULL, -1, x, 0, q, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "m (-1) < 0");
  CHECK_STATUS(subq_q8_linear(NULL, 1, NULL, 0, q, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "x is NULL");
  CHECK_STATUS(subq_q8_linear(NULL, 1, x, 0, q, NULL, 0), SUBQ_ERR_INVALID_ARGUMENT, "y is NULL");
  CHECK_STATUS(subq_q8_linear(NULL, 1, x, 10, q, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "x_rs (10) < k (64)");
  CHECK_STATUS(subq_q8_linear(NULL, 1, x, 0, q, y, 2), SUBQ_ERR_INVALID_ARGUMENT, "y_rs (2) < n (3)");
  CHECK_STATUS(subq_q8_linear(NULL, INT64_MAX / 4, x, 0, q, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "overflow");
  CHECK_STATUS(subq_q8_linear(NULL, 1, x, 0, q, x + 1, 0), SUBQ_ERR_INVALID_ARGUMENT, "y overlaps x");
  CHECK_OK(subq_q8_linear(NULL, 0, NULL, 0, q, NULL, 0)); /* empty */
  /* a NaN (an infinity) in a row of x: NaN (non-finite values) in that row of y only; an all-zero row: zeros */
  {
    float x3[3 * 64], y3[3 * 3];
    for (int i = 0; i < 3 * 64; i++) x3[i] = (float)(i % 7) - 3.0f;
    for (int r = 0; r < 2; r++) {
      x3[64 + 5] = r ? INFINITY : NAN;
      memset(x3 + 128, 0, 64 * sizeof(float));
      CHECK_OK(subq_q8_linear(NULL, 3, x3, 0, q, y3, 0));
      CHECK(!isnan(y3[0]) && !isnan(y3[1]) && !isnan(y3[2]));
      CHECK(r ? !isfinite(y3[3]) && !isfinite(y3[4]) && !isfinite(y3[5]) : isnan(y3[3]) && isnan(y3[4]) && isnan(y3[5]));
      CHECK(y3[6] == 0.0f && y3[7] == 0.0f && y3[8] == 0.0f);
    }
  }
  CHECK_STATUS(subq_q8_weights_dequantize(NULL, 0, 1, y, 0), SUBQ_ERR_INVALID_ARGUMENT, "w is NULL");
  CHECK_STATUS(subq_q8_weights_dequantize(q, 2, 2, x, 0), SUBQ_ERR_INVALID_ARGUMENT, "not inside [0, 3)");
  CHECK_STATUS(subq_q8_weights_dequantize(q, -1, 1, x, 0), SUBQ_ERR_INVALID_ARGUMENT, "not inside");
  CHECK_STATUS(subq_q8_weights_dequantize(q, 0, 1, NULL, 0), SUBQ_ERR_INVALID_ARGUMENT, "dst is NULL");
  CHECK_STATUS(subq_q8_weights_dequantize(q, 0, 1, x, 5), SUBQ_ERR_INVALID_ARGUMENT, "dst_rs (5)");
  CHECK_OK(subq_q8_weights_dequantize(q, 3, 0, NULL, 0));
  subq_q8_weights_destroy(q);
  subq_q8_weights_destroy(NULL);
  CHECK(subq_q8_weights_size(NULL) == 0);
}

int main(void) {
  errors();
  product_case(SUBQ_DTYPE_F32, 37, 64);   /* whole blocks, rows not a multiple of 4 */
  product_case(SUBQ_DTYPE_F32, 130, 257); /* a one-column tail block: x is padded */
  product_case(SUBQ_DTYPE_BF16, 9, 96);
  product_case(SUBQ_DTYPE_F16, 5, 33);
  product_case(SUBQ_DTYPE_F32, 1, 1);
  product_case(SUBQ_DTYPE_F32, 200, 2048); /* many items: the pool splits the rows */
  return subq_test_finish("test_q8");
}
