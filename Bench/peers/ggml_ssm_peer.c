/*
 * ggml_ssm_peer.c — llama.cpp's (ggml's) CPU Mamba kernels timed on this machine, for side-by-side
 * comparison with `subq-bench ssm / conv1d / ssd`. A peer for measurement only: it is not part of
 * SubQ's build, links nothing of SubQ, and nothing of ggml goes into SubQ.
 *
 * Build (after tools/build_llamacpp_peer.sh, or the steps in BENCHMARKS.md "llama.cpp side by side"):
 *   LC=/work/llama.cpp
 *   gcc -O2 -std=c11 -o /work/llama.cpp/build/ggml-ssm-peer Bench/peers/ggml_ssm_peer.c \
 *       -I$LC/ggml/include -L$LC/build/bin -lggml -lggml-base -lggml-cpu -lm -Wl,-rpath,$LC/build/bin
 *
 * Run:  ggml-ssm-peer [--threads T] [--case NAME[,NAME...]] [--min-reps R] [--seconds S]
 * Cases (each graph built once, inputs filled once, then timed as whole ggml_graph_compute calls on a
 * persistent ggml threadpool, as llama.cpp's CPU backend runs them):
 *   ssm1        GGML_OP_SSM_SCAN alone, Mamba-1 layout (head_dim 1, n_head = D = 1536, N 16, L 1024, 1 seq)
 *   ssm1_fused  what SubQ's ssm call computes, as llama.cpp's Mamba graph spells it: dt + dt_bias,
 *               SSM_SCAN, y + x*D, silu(z)*y (src/models/mamba-base.cpp)
 *   step1536 / step1536_fused, step5120 / step5120_fused   the same at L = 1 (decode step)
 *   conv        GGML_OP_SSM_CONV alone, 1536 channels x 1024 tokens, width 4 (input already in ggml's
 *               {w-1+L, D} layout: the concat/transpose llama.cpp does before it is not timed)
 *   conv_fused  conv + bias + SiLU (what SubQ's conv1d call computes)
 *   ssd         GGML_OP_SSM_SCAN, Mamba-2 layout: 48 heads x P 64, N 128, 1 group, L 512, 1 seq
 *   ssd_fused   dt + dt_bias, SSM_SCAN, y + x*D  (SubQ's ssd call: dt bias, softplus, A, D skip)
 *   ssd_step / ssd_step_fused   the same at L = 1
 * Output: a JSON array, one object per case: case, threads, reps, ms_median, ms_min, checksum.
 * Inputs use the same xorshift fill and ranges as Sources/subq-bench/bench_ssm.c / bench_ssd.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_peer_common.h"

static struct ggml_tensor *new_filled(struct ggml_context *ctx, int nd, const int64_t *ne, unsigned seed, float scale,
                                      float offset) {
  struct ggml_tensor *t = ggml_new_tensor(ctx, GGML_TYPE_F32, nd, ne);
  peer_fill((float *)t->data, ggml_nelements(t), seed, scale, offset);
  return t;
}

static struct ggml_tensor *ids_one(struct ggml_context *ctx) {
  struct ggml_tensor *ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 1);
  ((int32_t *)ids->data)[0] = 0;
  return ids;
}

/* Mamba-1: D channels, N states, L tokens, one sequence. */
static struct ggml_tensor *build_ssm1(struct ggml_context *ctx, int64_t D, int64_t N, int64_t L, int fused) {
  const int64_t ne_x[3] = {D, L, 1}, ne_s[4] = {N, 1, D, 1}, ne_bc[4] = {N, 1, L, 1}, ne_d[1] = {D};
  struct ggml_tensor *x = new_filled(ctx, 3, ne_x, 1, 2.0f, 0.0f);
  struct ggml_tensor *dt = new_filled(ctx, 3, ne_x, 2, 1.0f, -4.0f);
  struct ggml_tensor *z = new_filled(ctx, 3, ne_x, 3, 2.0f, 0.0f);
  struct ggml_tensor *B = new_filled(ctx, 4, ne_bc, 4, 2.0f, 0.0f);
  struct ggml_tensor *C = new_filled(ctx, 4, ne_bc, 5, 2.0f, 0.0f);
  struct ggml_tensor *dtb = new_filled(ctx, 1, ne_d, 6, 0.5f, 0.0f);
  struct ggml_tensor *Dsk = new_filled(ctx, 1, ne_d, 7, 2.0f, 0.0f);
  struct ggml_tensor *s = ggml_new_tensor(ctx, GGML_TYPE_F32, 4, ne_s);
  memset(s->data, 0, ggml_nbytes(s));
  struct ggml_tensor *A = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, N, D);
  for (int64_t d = 0; d < D; d++)
    for (int64_t n = 0; n < N; n++) ((float *)A->data)[d * N + n] = -(float)(n + 1);
  if (fused) dt = ggml_add(ctx, dt, dtb);
  struct ggml_tensor *x4 = ggml_reshape_4d(ctx, x, 1, D, L, 1);
  struct ggml_tensor *out = ggml_ssm_scan(ctx, s, x4, dt, A, B, C, ids_one(ctx), 1);
  if (!fused) return out;
  struct ggml_tensor *y = ggml_view_3d(ctx, out, D, L, 1, x->nb[1], x->nb[2], 0);
  y = ggml_add(ctx, y, ggml_mul(ctx, x, Dsk));
  return ggml_swiglu_split(ctx, z, y);
}

/* Mamba-2 SSD: H heads x P, N states, 1 group, L tokens, one sequence. */
static struct ggml_tensor *build_ssd(struct ggml_context *ctx, int64_t H, int64_t P, int64_t N, int64_t L, int fused) {
  const int64_t ne_x[4] = {P, H, L, 1}, ne_dt[3] = {H, L, 1}, ne_s[4] = {N, P, H, 1}, ne_bc[4] = {N, 1, L, 1};
  const int64_t ne_h[1] = {H}, ne_d[2] = {1, H};
  struct ggml_tensor *x = new_filled(ctx, 4, ne_x, 1, 2.0f, 0.0f);
  struct ggml_tensor *dt = new_filled(ctx, 3, ne_dt, 2, 2.0f, 0.0f);
  struct ggml_tensor *B = new_filled(ctx, 4, ne_bc, 3, 2.0f, 0.0f);
  struct ggml_tensor *C = new_filled(ctx, 4, ne_bc, 4, 2.0f, 0.0f);
  struct ggml_tensor *dtb = new_filled(ctx, 1, ne_h, 5, 1.0f, -4.0f);
  struct ggml_tensor *Dsk = new_filled(ctx, 2, ne_d, 6, 2.0f, 0.0f);
  struct ggml_tensor *A = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, H);
  float alog[256];
  peer_fill(alog, H, 7, 1.0f, 0.5f); /* A_log in [0, 1), A = -exp(A_log) as the converter stores it */
  for (int64_t h = 0; h < H; h++) ((float *)A->data)[h] = -expf(alog[h]);
  struct ggml_tensor *s = ggml_new_tensor(ctx, GGML_TYPE_F32, 4, ne_s);
  memset(s->data, 0, ggml_nbytes(s));
  if (fused) dt = ggml_add(ctx, dt, dtb);
  struct ggml_tensor *out = ggml_ssm_scan(ctx, s, x, dt, A, B, C, ids_one(ctx), 1);
  if (!fused) return out;
  struct ggml_tensor *y = ggml_view_4d(ctx, out, P, H, L, 1, x->nb[1], x->nb[2], x->nb[3], 0);
  return ggml_add(ctx, y, ggml_mul(ctx, x, Dsk));
}

/* conv: D channels, L tokens, width W; input {W-1+L, D, 1} (state columns then tokens, per channel). */
static struct ggml_tensor *build_conv(struct ggml_context *ctx, int64_t D, int64_t L, int64_t W, int fused) {
  const int64_t ne_sx[3] = {W - 1 + L, D, 1}, ne_w[2] = {W, D}, ne_b[1] = {D};
  struct ggml_tensor *sx = new_filled(ctx, 3, ne_sx, 1, 2.0f, 0.0f);
  struct ggml_tensor *w = new_filled(ctx, 2, ne_w, 2, 1.0f, 0.0f);
  struct ggml_tensor *b = new_filled(ctx, 1, ne_b, 3, 1.0f, 0.0f);
  struct ggml_tensor *y = ggml_ssm_conv(ctx, sx, w);
  if (!fused) return y;
  return ggml_silu(ctx, ggml_add(ctx, y, b));
}

typedef struct {
  const char *name;
  int kind; /* 0 ssm1, 1 ssd, 2 conv */
  int64_t a, b, c, d;
  int fused;
} peer_case;

static const peer_case k_cases[] = {
    {"ssm1", 0, 1536, 16, 1024, 0, 0},        {"ssm1_fused", 0, 1536, 16, 1024, 0, 1},
    {"step1536", 0, 1536, 16, 1, 0, 0},       {"step1536_fused", 0, 1536, 16, 1, 0, 1},
    {"step5120", 0, 5120, 16, 1, 0, 0},       {"step5120_fused", 0, 5120, 16, 1, 0, 1},
    {"conv", 2, 1536, 1024, 4, 0, 0},         {"conv_fused", 2, 1536, 1024, 4, 0, 1},
    {"ssd", 1, 48, 64, 128, 512, 0},          {"ssd_fused", 1, 48, 64, 128, 512, 1},
    {"ssd_step", 1, 48, 64, 128, 1, 0},       {"ssd_step_fused", 1, 48, 64, 128, 1, 1},
};

static int run_case(const peer_case *pc, const peer_opts *opt, struct ggml_threadpool *tp, int first) {
  struct ggml_init_params ip = {(size_t)512 << 20, NULL, false};
  struct ggml_context *ctx = ggml_init(ip);
  if (!ctx) {
    fprintf(stderr, "ggml_init failed\n");
    return 1;
  }
  struct ggml_tensor *out = pc->kind == 0   ? build_ssm1(ctx, pc->a, pc->b, pc->c, pc->fused)
                            : pc->kind == 1 ? build_ssd(ctx, pc->a, pc->b, pc->c, pc->d, pc->fused)
                                            : build_conv(ctx, pc->a, pc->b, pc->c, pc->fused);
  struct ggml_cgraph *gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, out);
  peer_timing tm;
  if (peer_time_graph(pc->name, gf, opt, tp, 3, &tm)) return 1;
  double sum = 0;
  const float *o = (const float *)out->data;
  for (int64_t i = 0; i < ggml_nelements(out); i += 997) sum += o[i];
  printf("%s  {\"case\": \"%s\", \"threads\": %d, \"nodes\": %d, \"reps\": %d, \"ms_median\": %.6f, \"ms_min\": %.6f, "
         "\"checksum\": %.6g}",
         first ? "" : ",\n", pc->name, opt->threads, ggml_graph_n_nodes(gf), tm.reps, tm.ms_median, tm.ms_min, sum);
  fflush(stdout);
  ggml_free(ctx);
  return 0;
}

int main(int argc, char **argv) {
  peer_opts opt = {2, 20, 1.0, NULL};
  for (int i = 1; i < argc; i++) {
    if (peer_common_arg(argc, argv, &i, &opt)) continue;
    fprintf(stderr, "usage: %s [--threads T] [--case a,b] [--min-reps R] [--seconds S]\ncases:", argv[0]);
    for (size_t c = 0; c < sizeof k_cases / sizeof *k_cases; c++) fprintf(stderr, " %s", k_cases[c].name);
    fprintf(stderr, "\n");
    return 2;
  }
  if (opt.threads < 1 || opt.min_reps < 1) return 2;
  ggml_cpu_init();
  struct ggml_threadpool_params tpp = ggml_threadpool_params_default(opt.threads);
  struct ggml_threadpool *tp = ggml_threadpool_new(&tpp);
  printf("[\n");
  int first = 1, rc = 0, matched = 0;
  for (size_t c = 0; c < sizeof k_cases / sizeof *k_cases; c++) {
    if (opt.only && !peer_name_in(opt.only, k_cases[c].name)) continue;
    matched++;
    rc |= run_case(&k_cases[c], &opt, tp, first);
    first = 0;
  }
  printf("\n]\n");
  ggml_threadpool_free(tp);
  if (!matched) {
    fprintf(stderr, "no case matched '%s'\n", opt.only ? opt.only : "");
    return 2;
  }
  return rc;
}
