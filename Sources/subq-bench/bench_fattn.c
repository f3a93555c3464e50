/*
 * bench_fattn.c — fused attention (subq_fattn, f32) at the spec's anchor
 * shapes (attention.md §9):
 *   prefill: causal, B=1, H=16, N=2048, D=64 (BSHD);
 *   decode:  1 query, 32 query heads / 8 kv heads, D=128, 32768 cached keys
 *            (automatic split-K), K/V head-major [B][Hkv][S][D] as a cache.
 * GFLOP/s counts 4 * B * Hq * Sq * Sk * D (halved for causal prefill); GB/s
 * counts the K and V bytes read once (decode). Not part of the default suite.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct fattn_case {
  subq_context *ctx;
  subq_fattn_args a;
} fattn_case;

static subq_status fattn_body(void *varg, char *msg, size_t cap) {
  fattn_case *c = varg;
  subq_status st = subq_fattn(c->ctx, &c->a);
  if (st != SUBQ_OK) snprintf(msg, cap, "subq_fattn: %s", subq_last_error_message());
  return st;
}

static void fill(float *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(seed >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
  }
}

static void fattn_case_run(const bench_opts *opts, int32_t threads, bool decode) {
  bench_result r;
  bench_result_init(&r, "fattn", "", threads, "");
  const int64_t hq = decode ? 32 : 16, hkv = decode ? 8 : 16, sq = decode ? 1 : 2048, sk = decode ? 32768 : 2048;
  const int64_t d = decode ? 128 : 64;
  snprintf(r.vars, sizeof r.vars, "%s:b1hq%lldhkv%lldsq%lldsk%lldd%lld:f32%s", decode ? "decode" : "prefill",
           (long long)hq, (long long)hkv, (long long)sq, (long long)sk, (long long)d, decode ? "" : ":causal");
  snprintf(r.params_json, sizeof r.params_json,
           "{\"mode\": \"%s\", \"b\": 1, \"hq\": %lld, \"hkv\": %lld, \"sq\": %lld, \"sk\": %lld, \"d\": %lld, "
           "\"causal\": %s}",
           decode ? "decode" : "prefill", (long long)hq, (long long)hkv, (long long)sq, (long long)sk, (long long)d,
           decode ? "false" : "true");
  fattn_case c;
  memset(&c, 0, sizeof c);
  subq_fattn_args_default(&c.a, sizeof c.a);
  c.a.batch = 1, c.a.hq = hq, c.a.hkv = hkv, c.a.sq = sq, c.a.sk = sk, c.a.dk = d, c.a.dv = d;
  if (!decode) c.a.window_right = 0;
  subq_fattn_args_dense_bshd(&c.a);
  if (decode) { /* a KV cache is head-major: K [B][Hkv][S][D] (spec §4.1) */
    c.a.k_ss = d, c.a.k_hs = sk * d;
    c.a.v_ss = d, c.a.v_hs = sk * d;
  }
  const size_t qn = (size_t)(sq * hq * d), kn = (size_t)(sk * hkv * d);
  float *q = bench_alloc(qn * sizeof(float)), *k = bench_alloc(kn * sizeof(float));
  float *v = bench_alloc(kn * sizeof(float)), *o = bench_alloc(qn * sizeof(float));
  c.ctx = bench_context(opts, threads, 0, &r);
  if (!q || !k || !v || !o) {
    r.status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r.message, sizeof r.message, "cannot allocate the operands");
  } else if (c.ctx) {
    fill(q, qn, 1), fill(k, kn, 2), fill(v, kn, 3);
    c.a.q = q, c.a.k = k, c.a.v = v, c.a.out = o;
    bench_time(opts, fattn_body, &c, 3, &r);
    if (r.status == SUBQ_OK && r.ms_median > 0) {
      const double sec = r.ms_median * 1e-3;
      double flops = 4.0 * (double)hq * (double)sq * (double)sk * (double)d;
      if (!decode) flops *= 0.5;
      r.gflops = flops / sec * 1e-9;
      if (decode) {
        r.gbps = 2.0 * (double)kn * sizeof(float) / sec * 1e-9;
        const double bw = opts->no_peak ? -1.0 : bench_peak_gbps(opts, threads, false);
        if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
      } else {
        const double peak = opts->no_peak ? -1.0 : bench_peak_gflops(opts, threads, false);
        if (peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
      }
      bench_sink += o[0];
    }
  }
  bench_output_result(opts, &r);
  subq_context_destroy(c.ctx);
  bench_free(q), bench_free(k), bench_free(v), bench_free(o);
}

int bench_fattn_main(const bench_opts *opts) {
  bench_output_section(opts, "fused attention (f32)");
  for (int t = 0; t < opts->n_threads; t++) {
    fattn_case_run(opts, opts->threads[t], false);
    fattn_case_run(opts, opts->threads[t], true);
  }
  return 0;
}

void bench_fattn_list(void) {
  printf("fattn shapes: prefill causal b1 h16 n2048 d64; decode hq32 hkv8 d128 sk32768 (not in the default suite)\n");
}
