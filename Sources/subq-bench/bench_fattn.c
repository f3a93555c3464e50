/*
 * bench_fattn.c — fused attention (subq_fattn, f32) at the spec's anchor
 * shapes (attention.md §9):
 *   prefill: causal, B=1, H=16, N=2048, D=64 and H=32, N=4096, D=128 (BSHD);
 *   decode:  1 query, 32 query heads / 8 kv heads, D=128, 32768 cached keys
 *            (automatic split-K), K/V head-major [B][Hkv][S][D] as a cache.
 *   prefill bf16: the same prefill with bf16 q/k/v (f32 out, f32 arithmetic);
 *   decode over a subq_kv_cache (subq_fattn_kv) with f32, f16 and bf16 storage,
 *            the same decode shape.
 *   tiny:    causal Sq = Sk in {1, 4, 16, 64} and decode over 64 keys, a few
 *            heads of D 16-64: the fixed cost of a call (ns/op = ns per call).
 *   window (only with --case window): sliding-window prefill, W = 4096 keys
 *            including self (HF sliding_window 4096 = window (4095, 0)), B=1,
 *            H=16, D=64, N = 4096, 16384, 32768 (issue 3: time linear in N);
 *            GFLOP/s counts the pairs the window allows, sum_i min(i + 1, W).
 * GFLOP/s counts 4 * B * Hq * Sq * Sk * D (halved for causal prefill); GB/s
 * counts the K and V bytes read once (decode, in the storage dtype); %bw is
 * against the measured read bandwidth. Not part of the default suite.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct fattn_case {
  subq_context *ctx;
  subq_fattn_args a;
  subq_kv_cache *cache; /* decode over a cache when set */
} fattn_case;

static subq_status fattn_body(void *varg, char *msg, size_t cap) {
  fattn_case *c = varg;
  subq_status st = c->cache ? subq_fattn_kv(c->ctx, &c->a, c->cache) : subq_fattn(c->ctx, &c->a);
  if (st != SUBQ_OK) snprintf(msg, cap, "%s: %s", c->cache ? "subq_fattn_kv" : "subq_fattn", subq_last_error_message());
  return st;
}

static void fill(float *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(seed >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
  }
}

static const char *dt_name(subq_dtype dt) {
  return dt == SUBQ_DTYPE_BF16 ? "bf16" : dt == SUBQ_DTYPE_F16 ? "f16" : "f32";
}

/* bf16 copy (RNE) of n floats, or NULL. */
static uint16_t *to_bf16(const float *x, size_t n) {
  uint16_t *p = bench_alloc(n * sizeof(uint16_t));
  if (p && subq_f32_to_bf16(x, p, (int64_t)n) != SUBQ_OK) {
    bench_free(p);
    return NULL;
  }
  return p;
}

/* Causal prefill B1 H16 N2048 D64 with bf16 q/k/v (f32 out). */
static void fattn_prefill_bf16(const bench_opts *opts, int32_t threads) {
  bench_result r;
  bench_result_init(&r, "fattn", "prefill:b1hq16hkv16sq2048sk2048d64:bf16:causal", threads, "");
  snprintf(r.params_json, sizeof r.params_json,
           "{\"mode\": \"prefill\", \"b\": 1, \"hq\": 16, \"hkv\": 16, \"sq\": 2048, \"sk\": 2048, \"d\": 64, "
           "\"causal\": true, \"dtype\": \"bf16\"}");
  fattn_case c;
  memset(&c, 0, sizeof c);
  subq_fattn_args_default(&c.a, sizeof c.a);
  c.a.batch = 1, c.a.hq = 16, c.a.hkv = 16, c.a.sq = 2048, c.a.sk = 2048, c.a.dk = 64, c.a.dv = 64;
  c.a.window_right = 0;
  c.a.q_dtype = c.a.kv_dtype = SUBQ_DTYPE_BF16;
  subq_fattn_args_dense_bshd(&c.a);
  const size_t n = (size_t)2048 * 16 * 64;
  float *x = bench_alloc(n * sizeof(float)), *o = bench_alloc(n * sizeof(float));
  uint16_t *q = NULL, *k = NULL, *v = NULL;
  if (x) {
    fill(x, n, 1), q = to_bf16(x, n);
    fill(x, n, 2), k = to_bf16(x, n);
    fill(x, n, 3), v = to_bf16(x, n);
  }
  c.ctx = bench_context(opts, threads, 0, &r);
  if (!x || !o || !q || !k || !v) {
    r.status = SUBQ_ERR_OUT_OF_MEMORY;
    snprintf(r.message, sizeof r.message, "cannot allocate the operands");
  } else if (c.ctx) {
    c.a.q = (const float *)(const void *)q, c.a.k = (const float *)(const void *)k;
    c.a.v = (const float *)(const void *)v, c.a.out = o;
    bench_time(opts, fattn_body, &c, 3, &r);
    if (r.status == SUBQ_OK && r.ms_median > 0) {
      r.gflops = 0.5 * 4.0 * 16 * 2048.0 * 2048.0 * 64 / (r.ms_median * 1e-3) * 1e-9;
      const double peak = opts->no_peak ? -1.0 : bench_peak_gflops(opts, threads, false);
      if (peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
      bench_sink += o[0];
    }
  }
  bench_output_result(opts, &r);
  subq_context_destroy(c.ctx);
  bench_free(x), bench_free(o), bench_free(q), bench_free(k), bench_free(v);
}

/* Decode 1 query, Hq 32 / Hkv 8, D 128 over a cache of 32768 positions. */
static void fattn_decode_cache(const bench_opts *opts, int32_t threads, subq_dtype dt) {
  enum { HQ = 32, HKV = 8, D = 128, SK = 32768 };
  bench_result r;
  bench_result_init(&r, "fattn", "", threads, "");
  snprintf(r.vars, sizeof r.vars, "decode:b1hq32hkv8sq1sk32768d128:kvcache-%s", dt_name(dt));
  snprintf(r.params_json, sizeof r.params_json,
           "{\"mode\": \"decode\", \"b\": 1, \"hq\": 32, \"hkv\": 8, \"sq\": 1, \"sk\": 32768, \"d\": 128, "
           "\"cache\": \"%s\"}",
           dt_name(dt));
  fattn_case c;
  memset(&c, 0, sizeof c);
  subq_kv_cache_args ca;
  subq_kv_cache_args_default(&ca, sizeof ca);
  ca.dtype = dt, ca.batch = 1, ca.hkv = HKV, ca.dk = D, ca.dv = D, ca.capacity = SK;
  const size_t chunk = 4096, cn = chunk * HKV * D;
  float *kv = bench_alloc(cn * sizeof(float)), *q = bench_alloc((size_t)HQ * D * sizeof(float));
  float *o = bench_alloc((size_t)HQ * D * sizeof(float));
  subq_status st = kv && q && o ? subq_kv_cache_create(&ca, &c.cache) : SUBQ_ERR_OUT_OF_MEMORY;
  for (int64_t t = 0; st == SUBQ_OK && t < SK; t += (int64_t)chunk) { /* fill the cache in chunks */
    fill(kv, cn, 2 + (uint64_t)t);
    st = subq_kv_cache_append(NULL, c.cache, 0, 1, (int64_t)chunk, kv, 0, HKV * D, D, kv, 0, HKV * D, D);
  }
  c.ctx = bench_context(opts, threads, 0, &r);
  if (st != SUBQ_OK) {
    r.status = st;
    snprintf(r.message, sizeof r.message, "cache setup: %s", subq_last_error_message());
  } else if (c.ctx) {
    fill(q, (size_t)HQ * D, 1);
    subq_fattn_args_default(&c.a, sizeof c.a);
    c.a.batch = 1, c.a.hq = HQ, c.a.hkv = HKV, c.a.sq = 1, c.a.dk = D, c.a.dv = D, c.a.window_right = 0;
    subq_fattn_args_dense_bshd(&c.a);
    c.a.q = q, c.a.out = o;
    bench_time(opts, fattn_body, &c, 3, &r);
    if (r.status == SUBQ_OK && r.ms_median > 0) {
      const double sec = r.ms_median * 1e-3;
      r.gflops = 4.0 * HQ * (double)SK * D / sec * 1e-9;
      r.gbps = 2.0 * SK * HKV * D * (double)subq_dtype_size(dt) / sec * 1e-9;
      const double bw = opts->no_peak ? -1.0 : bench_peak_gbps(opts, threads, false);
      if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
      bench_sink += o[0];
    }
  }
  bench_output_result(opts, &r);
  subq_context_destroy(c.ctx);
  subq_kv_cache_destroy(c.cache);
  bench_free(kv), bench_free(q), bench_free(o);
}

/* f32 tensors: causal prefill (BSHD; % of FMA peak), decode (one query; K/V
 * head-major [B][Hkv][S][D] as a cache; GB/s and % of read bandwidth) or a
 * tiny causal call (BSHD; ns per call). */
typedef enum fattn_mode { FATTN_PREFILL, FATTN_DECODE, FATTN_TINY, FATTN_WINDOW } fattn_mode;
#define FATTN_W 4096 /* keys of the sliding window, self included */

static void fattn_case_run(const bench_opts *opts, int32_t threads, fattn_mode mode, int64_t hq, int64_t hkv,
                           int64_t sq, int64_t sk, int64_t d) {
  static const char *names[] = {"prefill", "decode", "tiny", "window"};
  static const char *suffix[] = {":f32:causal", ":f32", "", ":f32:causal:w4096"};
  const bool decode = mode == FATTN_DECODE;
  bench_result r;
  bench_result_init(&r, "fattn", "", threads, "");
  snprintf(r.vars, sizeof r.vars, "%s:b1hq%lldhkv%lldsq%lldsk%lldd%lld%s", names[mode], (long long)hq, (long long)hkv,
           (long long)sq, (long long)sk, (long long)d, suffix[mode]);
  snprintf(r.params_json, sizeof r.params_json,
           "{\"mode\": \"%s\", \"b\": 1, \"hq\": %lld, \"hkv\": %lld, \"sq\": %lld, \"sk\": %lld, \"d\": %lld, "
           "\"causal\": %s}",
           names[mode], (long long)hq, (long long)hkv, (long long)sq, (long long)sk, (long long)d,
           decode ? "false" : "true");
  fattn_case c;
  memset(&c, 0, sizeof c);
  subq_fattn_args_default(&c.a, sizeof c.a);
  c.a.batch = 1, c.a.hq = hq, c.a.hkv = hkv, c.a.sq = sq, c.a.sk = sk, c.a.dk = d, c.a.dv = d;
  if (!decode) c.a.window_right = 0;
  if (mode == FATTN_WINDOW) c.a.window_left = FATTN_W - 1;
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
      if (mode == FATTN_PREFILL) flops *= 0.5;
      if (mode == FATTN_WINDOW) { /* Sq = Sk: row i sees min(i + 1, W) keys */
        const double w = (double)(sq < FATTN_W ? sq : FATTN_W), pairs = w * (w + 1) / 2 + (double)(sq - (int64_t)w) * w;
        flops = 4.0 * (double)hq * (double)d * pairs;
      }
      r.gflops = flops / sec * 1e-9;
      if (decode) {
        r.gbps = 2.0 * (double)kn * sizeof(float) / sec * 1e-9;
        const double bw = opts->no_peak ? -1.0 : bench_peak_gbps(opts, threads, false);
        if (bw > 0) r.pct_bw = 100.0 * r.gbps / bw;
      } else if (mode == FATTN_PREFILL || mode == FATTN_WINDOW) {
        const double peak = opts->no_peak ? -1.0 : bench_peak_gflops(opts, threads, false);
        if (peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
      } else {
        r.ns_per_op = r.ms_median * 1e6; /* ns per call */
      }
      bench_sink += o[0];
    }
  }
  bench_output_result(opts, &r);
  subq_context_destroy(c.ctx);
  bench_free(q), bench_free(k), bench_free(v), bench_free(o);
}

static int g_fattn_cases = 7; /* --case: bit 0 prefill, 1 decode, 2 tiny, 3 window (not in all: about a minute) */

void bench_fattn_parse(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--case")) bench_usage_error("fattn: unknown argument '%s' (--case)", a);
    if (i + 1 >= argc) bench_usage_error("fattn: %s needs a value", a);
    const char *v = argv[++i];
    if (!strcmp(v, "prefill")) g_fattn_cases = 1;
    else if (!strcmp(v, "decode")) g_fattn_cases = 2;
    else if (!strcmp(v, "tiny")) g_fattn_cases = 4;
    else if (!strcmp(v, "window")) g_fattn_cases = 8;
    else if (!strcmp(v, "all")) g_fattn_cases = 7;
    else bench_usage_error("fattn: --case: '%s' is not prefill, decode, tiny, window or all", v);
  }
}

int bench_fattn_main(const bench_opts *opts) {
  bench_output_section(opts, "fused attention (f32; bf16 inputs; decode over f32 / f16 / bf16 KV caches)");
  for (int t = 0; t < opts->n_threads; t++) {
    if (g_fattn_cases & 1) {
      fattn_case_run(opts, opts->threads[t], FATTN_PREFILL, 16, 16, 2048, 2048, 64);
      fattn_case_run(opts, opts->threads[t], FATTN_PREFILL, 32, 32, 4096, 4096, 128); /* issue 3's second shape */
      fattn_prefill_bf16(opts, opts->threads[t]);
    }
    if (g_fattn_cases & 2) {
      fattn_case_run(opts, opts->threads[t], FATTN_DECODE, 32, 8, 1, 32768, 128);
      fattn_decode_cache(opts, opts->threads[t], SUBQ_DTYPE_F32);
      fattn_decode_cache(opts, opts->threads[t], SUBQ_DTYPE_F16);
      fattn_decode_cache(opts, opts->threads[t], SUBQ_DTYPE_BF16);
    }
    if (g_fattn_cases & 8)
      for (int64_t n = 4096; n <= 32768; n *= 2)
        if (n != 8192) fattn_case_run(opts, opts->threads[t], FATTN_WINDOW, 16, 16, n, n, 64);
    if (g_fattn_cases & 4) {
      static const int64_t tiny[][5] = {{1, 1, 1, 1, 16}, {4, 4, 4, 4, 32}, {8, 8, 16, 16, 64},
                                        {8, 2, 1, 64, 64}, {8, 8, 64, 64, 64}};
      for (int i = 0; i < 5; i++)
        fattn_case_run(opts, opts->threads[t], FATTN_TINY, tiny[i][0], tiny[i][1], tiny[i][2], tiny[i][3],
                       tiny[i][4]);
    }
  }
  return 0;
}

void bench_fattn_list(void) {
  printf("fattn shapes: prefill causal b1 h16 n2048 d64 (f32, bf16 inputs) and b1 h32 n4096 d128 (f32); decode hq32 hkv8 d128 sk32768 (f32 "
         "tensors; subq_kv_cache f32 / f16 / bf16); tiny calls (Sq = Sk 1-64, decode over 64 keys, D 16-64); --case window: sliding window W 4096, "
         "b1 h16 d64, n 4096 / 16384 / 32768 (not in the default suite)\n");
}
