/*
 * gemm_placeholder.c — TEMPORARY. The GEMM kernels are being written on
 * branch `gemm` and are not in the library yet, so subq-bench could not link
 * against the subq_gemm* entry points declared in Include/subq/subq_gemm.h.
 * These stand-ins report SUBQ_ERR_UNSUPPORTED with a message saying so; every
 * GEMM case then shows as failed (status + message) and the run exits 1.
 *
 * DELETE THIS FILE in the commit that merges the GEMM implementation: with
 * SwiftPM both definitions would collide at link time, and with CMake's
 * static subq_internal these would silently shadow the real kernels.
 */
#include <string.h>

#include "internal/subq_internal.h"

#define PLACEHOLDER_MSG "GEMM is not in this build yet (subq-bench links Sources/subq-bench/gemm_placeholder.c)"

void subq_gemm_args_default(subq_gemm_args *p, size_t struct_size) {
  if (!p) return;
  memset(p, 0, struct_size < sizeof *p ? struct_size : sizeof *p);
  if (struct_size < sizeof *p) return;
  p->struct_size = struct_size;
  p->alpha = 1.0f;
  p->a_dtype = p->b_dtype = SUBQ_DTYPE_F32;
  p->batch_count = 1;
}

subq_status subq_gemm(subq_context *ctx, const subq_gemm_args *args) {
  (void)ctx, (void)args;
  return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_gemm: " PLACEHOLDER_MSG);
}

subq_status subq_gemm_pack_b(subq_context *ctx, int64_t k, int64_t n, subq_dtype b_dtype, const void *b, int64_t b_rs,
                             int64_t b_cs, subq_gemm_packed_b **out) {
  (void)ctx, (void)k, (void)n, (void)b_dtype, (void)b, (void)b_rs, (void)b_cs;
  if (out) *out = NULL;
  return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_gemm_pack_b: " PLACEHOLDER_MSG);
}

void subq_gemm_packed_b_destroy(subq_gemm_packed_b *packed) { (void)packed; }

size_t subq_gemm_packed_b_size(const subq_gemm_packed_b *packed) {
  (void)packed;
  return 0;
}

subq_status subq_gemm_packed(subq_context *ctx, const subq_gemm_args *args, const subq_gemm_packed_b *packed) {
  (void)ctx, (void)args, (void)packed;
  return subq_error(SUBQ_ERR_UNSUPPORTED, "subq_gemm_packed: " PLACEHOLDER_MSG);
}
