/*
 * ggml_ternary_peer.c — llama.cpp's (ggml's) CPU ternary matmul (TQ2_0, TQ1_0; Q8_0 and F16 for
 * reference) timed on this machine, for side-by-side comparison with `subq-bench ternary --op gemv /
 * gemm` (issue 6). A peer for measurement only: it is not part of SubQ's build, links nothing of
 * SubQ, and nothing of ggml goes into SubQ.
 *
 * Build (after tools/build_llamacpp_peer.sh, or the steps in BENCHMARKS.md "llama.cpp side by side"):
 *   LC=/work/llama.cpp
 *   gcc -O2 -std=c11 -o /work/llama.cpp/build/ggml-ternary-peer Bench/peers/ggml_ternary_peer.c \
 *       -I$LC/ggml/include -L$LC/build/bin -lggml -lggml-base -lggml-cpu -lm -Wl,-rpath,$LC/build/bin
 *
 * Run:  ggml-ternary-peer [--threads T] [--case NAME[,NAME...]] [--min-reps R] [--seconds S]
 *                         [--n N] [--k K] [--t T]
 * The problem is subq-bench's: out[t][n] = sum_k W[n][k] x[t][k], W N x K = 4096 x 14336 (ggml
 * ne = {K, N}; test-backend-ops' MUL_MAT m = 4096, k = 14336 perf case is the same product), x
 * t x K f32 with t = 1 (gemv) or --t (gemm, default 512). One ggml_mul_mat node, src0 the weight,
 * src1 the f32 activations, f32 output; timed as whole ggml_graph_compute calls on a persistent ggml
 * threadpool, as llama.cpp's CPU backend runs them. For TQ2_0 / TQ1_0 ggml's CPU mul_mat first
 * quantizes src1 to Q8_K (its vec_dot_type; Q8_0 for Q8_0, F16 for F16) inside the op, so every
 * timing includes the activation quantization.
 * Cases: tq2_0_gemv tq2_0_gemm tq1_0_gemv tq1_0_gemm q8_0_gemv q8_0_gemm f16_gemv f16_gemm
 * (default: all), and tq2_0_gemv_q8k / tq2_0_gemm_q8k: src1 is a Q8_K tensor quantized before
 * timing, so the op skips the conversion and times ggml's TQ2_0 x Q8_K vec_dot loop alone (the
 * counterpart of `subq-bench ternary --op qgemv / qgemm`). Weights: subq-bench's fill (seed 1, +-0.05) ternarized with a per-tensor absmean
 * scale gamma, W = t * gamma, t in {-1, 0, 1}; ggml_quantize_chunk stores TQ2_0 / TQ1_0 blocks with
 * d = gamma exactly (256 weights a block). Activations: subq-bench's fill (seed 2, +-2).
 * Output: a JSON array, one object per case: case, type, threads, tokens, weight_bytes, reps,
 * ms_median, ms_min, err (max over 16 sampled outputs of |out - ref| / sum_k |W x|, ref in fp64
 * from the f32 W and x: the activation quantization error, ~1e-3 for Q8_K).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_peer_common.h"

typedef struct {
  const char *name;
  enum ggml_type type;
  int gemm;
  int preq; /* src1 already Q8_K (quantized before timing): the vec_dot loop alone */
} peer_case;

static const peer_case k_cases[] = {
    {"tq2_0_gemv", GGML_TYPE_TQ2_0, 0, 0},     {"tq2_0_gemm", GGML_TYPE_TQ2_0, 1, 0},
    {"tq2_0_gemv_q8k", GGML_TYPE_TQ2_0, 0, 1}, {"tq2_0_gemm_q8k", GGML_TYPE_TQ2_0, 1, 1},
    {"tq1_0_gemv", GGML_TYPE_TQ1_0, 0, 0},     {"tq1_0_gemm", GGML_TYPE_TQ1_0, 1, 0},
    {"q8_0_gemv", GGML_TYPE_Q8_0, 0, 0},       {"q8_0_gemm", GGML_TYPE_Q8_0, 1, 0},
    {"f16_gemv", GGML_TYPE_F16, 0, 0},         {"f16_gemm", GGML_TYPE_F16, 1, 0},
};

static int64_t g_n = 4096, g_k = 14336, g_t = 512;
static float *g_w, *g_x; /* f32 W (N x K, ternary times gamma), x (t x K) */

static void make_inputs(void) {
  const int64_t nk = g_n * g_k;
  g_w = malloc(sizeof(float) * (size_t)nk);
  g_x = malloc(sizeof(float) * (size_t)(g_t * g_k));
  if (!g_w || !g_x) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  peer_fill(g_w, nk, 1, 0.1f, 0.0f);
  double sum = 0;
  for (int64_t i = 0; i < nk; i++) sum += fabs((double)g_w[i]);
  float gamma = (float)(sum / (double)nk);
  if (gamma < 1e-5f) gamma = 1e-5f;
  const float inv = 1.0f / gamma;
  for (int64_t i = 0; i < nk; i++) {
    float t = rintf(g_w[i] * inv);
    t = t > 1.0f ? 1.0f : t < -1.0f ? -1.0f : t;
    g_w[i] = t * gamma;
  }
  peer_fill(g_x, g_t * g_k, 2, 4.0f, 0.0f);
}

static int run_case(const peer_case *pc, const peer_opts *opt, struct ggml_threadpool *tp, int first) {
  const int64_t N = g_n, K = g_k, T = pc->gemm ? g_t : 1;
  const size_t wbytes = ggml_row_size(pc->type, K) * (size_t)N;
  struct ggml_init_params ip = {wbytes + (size_t)(T * (K + N)) * 4 + ((size_t)4 << 20), NULL, false};
  struct ggml_context *ctx = ggml_init(ip);
  if (!ctx) {
    fprintf(stderr, "ggml_init failed\n");
    return 1;
  }
  struct ggml_tensor *w = ggml_new_tensor_2d(ctx, pc->type, K, N);
  struct ggml_tensor *x = ggml_new_tensor_2d(ctx, pc->preq ? GGML_TYPE_Q8_K : GGML_TYPE_F32, K, T);
  if (!w || !x) {
    fprintf(stderr, "%s: tensor allocation failed\n", pc->name);
    return 1;
  }
  const size_t q = ggml_quantize_chunk(pc->type, g_w, w->data, 0, N, K, NULL);
  if (q != ggml_nbytes(w)) {
    fprintf(stderr, "%s: ggml_quantize_chunk wrote %zu bytes, want %zu\n", pc->name, q, ggml_nbytes(w));
    return 1;
  }
  if (pc->preq) {
    const struct ggml_type_traits_cpu *tr = ggml_get_type_traits_cpu(GGML_TYPE_Q8_K);
    for (int64_t r = 0; r < T; r++) tr->from_float(g_x + r * K, (char *)x->data + r * x->nb[1], K);
  } else {
    memcpy(x->data, g_x, sizeof(float) * (size_t)(T * K));
  }
  struct ggml_tensor *out = ggml_mul_mat(ctx, w, x);
  struct ggml_cgraph *gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, out);
  peer_timing tm;
  if (peer_time_graph(pc->name, gf, opt, tp, 2, &tm)) return 1;
  /* sampled outputs against fp64 of the f32 operands (ggml: out ne = {N, T}, row t holds N outputs) */
  double err = 0;
  const float *o = (const float *)out->data;
  for (int s = 0; s < 16; s++) {
    const int64_t tt = (s * 7919) % T, r = (s * 104729) % N;
    double ref = 0, mag = 0;
    for (int64_t c = 0; c < K; c++) {
      const double p = (double)g_w[r * K + c] * (double)g_x[tt * K + c];
      ref += p, mag += fabs(p);
    }
    const double e = fabs((double)o[tt * N + r] - ref) / (mag > 0 ? mag : 1);
    if (!(e <= err)) err = e; /* NaN propagates */
  }
  printf("%s  {\"case\": \"%s\", \"type\": \"%s\", \"threads\": %d, \"n\": %lld, \"k\": %lld, \"tokens\": %lld, "
         "\"weight_bytes\": %zu, \"reps\": %d, \"ms_median\": %.6f, \"ms_min\": %.6f, \"err\": %.3g, \"src1\": \"%s\"}",
         first ? "" : ",\n", pc->name, ggml_type_name(pc->type), opt->threads, (long long)N, (long long)K, (long long)T,
         wbytes, tm.reps, tm.ms_median, tm.ms_min, err, ggml_type_name(x->type));
  fflush(stdout);
  ggml_free(ctx);
  return !(err < 0.05); /* a wrong product is a failure, not a timing */
}

int main(int argc, char **argv) {
  peer_opts opt = {2, 10, 1.0, NULL};
  for (int i = 1; i < argc; i++) {
    if (peer_common_arg(argc, argv, &i, &opt)) continue;
    if (!strcmp(argv[i], "--n") && i + 1 < argc) g_n = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--k") && i + 1 < argc) g_k = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--t") && i + 1 < argc) g_t = atoll(argv[++i]);
    else {
      fprintf(stderr,
              "usage: %s [--threads T] [--case a,b] [--min-reps R] [--seconds S] [--n N] [--k K] [--t T]\ncases:",
              argv[0]);
      for (size_t c = 0; c < sizeof k_cases / sizeof *k_cases; c++) fprintf(stderr, " %s", k_cases[c].name);
      fprintf(stderr, "\n");
      return 2;
    }
  }
  if (opt.threads < 1 || opt.min_reps < 1 || g_n < 1 || g_t < 1 || g_k < 256 || g_k % 256) {
    fprintf(stderr, "need threads, min-reps, n, t >= 1 and k a multiple of 256 (QK_K)\n");
    return 2;
  }
  ggml_cpu_init();
  make_inputs();
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
  free(g_w), free(g_x);
  if (!matched) {
    fprintf(stderr, "no case matched '%s'\n", opt.only ? opt.only : "");
    return 2;
  }
  return rc;
}
