/*
 * subq_isa_probe.c — used by tools/test_all.sh: asks the built libsubq what the
 * host supports and which ISA path a default context takes (after the
 * SUBQ_MAX_ISA cap). Prints one line:
 *   host=<isa> avx2=<0|1> context=<isa>
 * Exit status 1 when the context cannot be created.
 */
#include <stdio.h>

#include <subq.h>

int main(void) {
  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = 1;
  subq_context *ctx = NULL;
  subq_status st = subq_context_create(&p, &ctx);
  if (st != SUBQ_OK) {
    fprintf(stderr, "subq_isa_probe: subq_context_create: %s: %s\n", subq_status_string(st),
            subq_last_error_message());
    return 1;
  }
  printf("host=%s avx2=%d context=%s\n", subq_isa_name(subq_host_isa()), subq_host_supports_isa(SUBQ_ISA_AVX2) ? 1 : 0,
         subq_isa_name(subq_context_isa(ctx)));
  subq_context_destroy(ctx);
  return 0;
}
