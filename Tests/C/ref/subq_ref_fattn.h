/*
 * subq_ref_fattn.h — float64 naive attention oracle (slow and readable).
 */
#ifndef SUBQ_REF_FATTN_H
#define SUBQ_REF_FATTN_H

#include "subq.h"

/* Naive attention in float64 on the f32 inputs args describes (the same
 * pointers and strides subq_fattn reads; args->out and args->lse are ignored):
 * S = scale * Q K^T, soft-cap, additive mask tensor (args->mask), window mask
 * (align, window_left/right), row softmax,
 * O = P V. A row with no allowed key gives 0 and lse = -inf.
 * out: dense [B][Sq][Hq][DV]; lse (optional): [B][Hq][Sq];
 * mag (optional): [B][Sq][Hq][DV], sum_j p_ij |v_jd|, the scale of rounding errors. */
void subq_ref_fattn(const subq_fattn_args *args, double *out, double *lse, double *mag);

#endif
