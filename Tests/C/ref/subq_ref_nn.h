/*
 * subq_ref_nn.h — float64 oracles for the nn family (subq_nn.h), literal
 * transcriptions in double of the math, on contiguous rows; and independent
 * f16 / bf16 rounding oracles built from frexp / ldexp / rint in double.
 */
#ifndef SUBQ_REF_NN_H
#define SUBQ_REF_NN_H

#include <stdbool.h>
#include <stdint.h>

double subq_ref_silu(double x);

/* One row: s = x (+ res); v = s (* silu(gate)); per group of `group` columns
 * y = w * v / sqrt(mean(v^2) + eps) (w NULL: 1). w holds cols doubles. */
void subq_ref_rmsnorm_row(int64_t cols, int64_t group, double eps, const float *x, const float *res,
                          const float *gate, const double *w, double *y);

/* The spec's inverse frequencies in double (attention spec §8.4): type 0
 * default, 1 linear, 2 llama3. */
void subq_ref_rope_inv_freq(int64_t rot_dim, double theta, int type, double factor, double lo, double hi, double L0,
                            double *inv);

/* YaRN inverse frequencies in double (HF _compute_yarn_parameters' formula):
 * a linear ramp over the correction dims of beta_fast / beta_slow blending
 * the default frequency (below) into default / factor (above). */
void subq_ref_rope_yarn_inv_freq(int64_t rot_dim, double theta, double factor, double L0, double beta_fast,
                                 double beta_slow, int truncate, double *inv);

/* One head row of head_dim values rotated at angles[i] (rot_dim / 2 of them),
 * dims >= rot_dim copied. */
void subq_ref_rope_row(int64_t head_dim, int64_t rot_dim, const float *x, const double *angles, double scale,
                       double *y);

/* Nearest-even f16 / bf16 encodings of x (NaN: quiet NaN with the top payload
 * bits and the sign; overflow: Inf), and their exact decodings. */
uint16_t subq_ref_nn_f32_to_f16(float x);
double subq_ref_nn_f16_to_f64(uint16_t h);
uint16_t subq_ref_nn_f32_to_bf16(float x);

#endif
