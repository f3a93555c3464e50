/*
 * main.c — subq-bench: command line, the standard suite, machine summary.
 *
 *   subq-bench [options]                 the standard suite (peak, gemm, pool)
 *   subq-bench peak [options]            f32 FMA peak and memory read bandwidth
 *   subq-bench gemm [options] [PROBLEM...] GEMM at given shapes (see bench_gemm.c)
 *   subq-bench pool [--spin on|off|both] pool kickoff / barrier cost
 *   subq-bench list                      subcommands and standard shapes
 *
 * Exit status: 0 all cases ran, 1 some case failed (reported in its row),
 * 2 bad command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f) {
  fputs(
      "usage: subq-bench [COMMAND] [OPTIONS]\n"
      "\n"
      "commands:\n"
      "  (none) | suite  the standard suite: peak, gemm at standard shapes, pool\n"
      "  peak            f32 FMA peak per thread count; memory read bandwidth (1 GiB, 1 and N threads)\n"
      "  gemm            GEMM; shapes from flags, problem strings or batch files; no shape = standard shapes\n"
      "  pool            ns per kickoff and per barrier of the worker pool, spin and no-spin\n"
      "  fattn           fused attention at the spec anchor shapes: causal prefill (f32, bf16), GQA split-K decode (f32; KV cache f32/f16/bf16); tiny calls\n"
      "  ssm             Mamba-1 selective scan; --l 1 times the decode step (ns/op = ns per channel x state x token)\n"
      "  conv1d          causal depthwise conv1d + bias + SiLU (GB/s of x read + y written)\n"
      "  nn              RMSNorm, add+RMSNorm, SwiGLU, RoPE of a Llama block (GB/s, % of read bandwidth)\n"
      "  ssd             Mamba-2 SSD scan, recurrent / chunked / auto (GFLOP/s at 5 flops per token x head x p x n)\n"
      "  ssd-step        Mamba-2 decode step (GB/s of the state read + written)\n"
      "  gated-rmsnorm   grouped gated RMSNorm of Mamba-2 (GB/s of y, z read + out written)\n"
      "  linattn         BASED Taylor / linear attention chunked prefill (GFLOP/s of the chunked algorithm)\n"
      "  linattn-step    linear attention decode step after a prefill of --pos tokens (GB/s of the state)\n"
      "  linattn-hybrid  BASED-style hybrid (linear + SWA 128 + short conv) vs full causal attention per T\n"
      "  monarch         Monarch product y = P2 L P1 R x (n 4096 / 64 blocks / 1024 tokens vs dense; decode n 1024, 16384)\n"
      "  ternary         ternary BitLinear GEMV / GEMM, fused RMSNorm+int8 quant, HGRN recurrence (--op)\n"
      "  q8              int8-weight linear (subq_q8_linear) beside the bf16-weight product of the same shape\n"
      "  list            print the commands and the standard gemm shapes\n"
      "\n"
      "options (all commands):\n"
      "  --threads LIST  comma-separated thread counts, one case each (default 1,2[,cores])\n"
      "  --isa ISA       scalar | avx2 | auto (context max_isa; default auto)\n"
      "  --reps N        timed repetitions per case (default: adaptive, >= 3, ~1 s per case)\n"
      "  --warmup N      untimed calls before timing, 1..100 (default 1)\n"
      "  --flush         evict the caches (write 2 x L3) before every timed call (not timed)\n"
      "  --json          one JSON array, one object per case\n"
      "  --csv           CSV with a header line\n"
      "  --no-peak       do not measure peak/bandwidth; leave the % columns empty\n"
      "\n"
      "gemm options:\n"
      "  --m M --n N --k K   shape (all three required when any shape flag is given)\n"
      "  --batch N           batch count (a number); --batch FILE reads problems from FILE\n"
      "  --batch-count N, --batch-file FILE   the unambiguous spellings\n"
      "  --dtype f32|bf16    A and B element type (C is f32)\n"
      "  --layout nn|nt|tn|tt  A then B; t = stored transposed (nt: B = W^T of a Linear weight W[n][k])\n"
      "  --packed            prepack B once (subq_gemm_pack_b) and time subq_gemm_packed\n"
      "  PROBLEM             e.g. b1m1n4096k4096:bf16:nt:packed (also the batch-file line format)\n"
      "\n"
      "fattn options:  --case prefill|decode|tiny|window|all  (default all = prefill, decode, tiny)\n"
      "ssm options:    --b B --d D --n N --l L --g G   (default b1 d1536 n16 l1024 g1)\n"
      "conv1d options: --b B --d D --w W --l L         (default b1 d1536 w4 l1024)\n"
      "ssd options:    --b B --h H --p P --n N --g G --l L --algo auto|rec|chunked|all --chunk Q\n"
      "                (default b1 h48 p64 n128 g1 l512 all, chunk 0 = library default)\n"
      "ssd-step options: --b B --h H --p P --n N --g G (default b1 h48 p64 n128 g1)\n"
      "gated-rmsnorm options: --rows R --width W --g G (default rows 512 width 3072 g1)\n"
      "linattn options: --b B --h H --dk K --dv V --l L --map taylor|identity|elu1 --chunk C\n"
      "                --gate none|scalar|perkey --norm denom|none\n"
      "                (default b1 h16 dk16 dv64 l8192 taylor, chunk 0 = 64)\n"
      "linattn-step options: --b B --h H --dk K --dv V --pos LIST (default b1 h16 dk16 dv64 pos 1024,65536)\n"
      "linattn-hybrid options: --l LIST (default 2048,8192,32768) --no-full (skip full attention) --parts (time each mixer too)\n"
      "monarch options: --n N --blocks B --tokens T [--dtype f32|bf16] [--dense] [--backward] [--project]  (square blocks N/B)\n"
      "ternary options: --op gemv|gemm|actq|hgrn|all|qgemv|qgemm --n N --k K --t T --d D --l L --norm rmsnorm|none\n"
      "                (default all = gemv,gemm,actq,hgrn; n4096 k14336, gemm/actq t512, hgrn d2048 l1024;\n"
      "                qgemv/qgemm: the int8 x ternary product alone; --norm none: BitLinear without RMSNorm)\n"
      "q8 options:      --n N --k K --m M   (default n128256 k2560 m1: BitNet-2B's tied LM head, one token)\n"
      "\n"
      "pool options:\n"
      "  --spin on|off|both  (default both)\n"
      "\n"
      "exit status: 0 ok, 1 a case failed (its row says why), 2 bad command line\n",
      f);
}

static void parse_threads(const char *s, bench_opts *o) {
  o->n_threads = 0;
  const char *p = s;
  if (!*p) bench_usage_error("--threads: empty list");
  while (*p) {
    char num[32];
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= sizeof num) bench_usage_error("--threads: bad list '%s' (expected e.g. 1,2,4)", s);
    memcpy(num, p, len);
    num[len] = '\0';
    int64_t v;
    if (!bench_parse_i64(num, 1, 256, &v)) bench_usage_error("--threads: '%s' is not a thread count in 1..256", num);
    if (o->n_threads >= BENCH_MAX_THREADS) bench_usage_error("--threads: at most %d entries", BENCH_MAX_THREADS);
    o->threads[o->n_threads++] = (int32_t)v;
    p += len;
    if (*p == ',') {
      p++;
      if (!*p) bench_usage_error("--threads: trailing comma in '%s'", s);
    }
  }
}

static void cpu_model(char *buf, size_t cap) {
  snprintf(buf, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10)) {
      char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ' || *c == '\t') c++;
        c[strcspn(c, "\n")] = '\0';
        snprintf(buf, cap, "%s", c);
      }
      break;
    }
  }
  fclose(f);
}

static void machine_summary(const bench_opts *o) {
  if (o->format != BENCH_TABLE) return;
  char model[256];
  cpu_model(model, sizeof model);
  printf("subq-bench — SubQ %s\n", subq_version_string());
  printf("cpu: %s; host ISA: %s; cores: %d\n", model, subq_isa_name(subq_host_isa()), (int)bench_host_cores());
  printf("build: %s\n", subq_build_info());
#if !defined(__OPTIMIZE__)
  printf("WARNING: subq-bench was built without optimisation; its figures do not represent SubQ\n"
         "         (build with CMake Release or 'swift build -c release')\n");
#endif
  printf("threads:");
  for (int i = 0; i < o->n_threads; i++) printf("%s%d", i ? "," : " ", (int)o->threads[i]);
  printf("; isa cap: %s; reps: %s; caches: %s\n", subq_isa_name(o->isa), o->reps > 0 ? "fixed" : "adaptive",
         o->flush ? "flushed before each timed call" : "warm (not flushed)");
}

int main(int argc, char **argv) {
  bench_opts o;
  memset(&o, 0, sizeof o);
  o.isa = SUBQ_ISA_AUTO;
  o.warmup = 1;
  o.budget_s = 1.0;
  bool threads_given = false;
  const char *cmd = NULL;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest) {
    fputs("subq-bench: out of memory\n", stderr);
    return 1;
  }
  int n_rest = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define VALUE(name) (a[strlen(name)] == '=' ? a + strlen(name) + 1 : (i + 1 < argc ? argv[++i] : (bench_usage_error("%s needs a value", name), "")))
#define IS(name) (!strncmp(a, name, strlen(name)) && (a[strlen(name)] == '\0' || a[strlen(name)] == '='))
    int64_t v;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      free(rest);
      return 0;
    } else if (!strcmp(a, "--version")) {
      printf("subq-bench %s\n", subq_version_string());
      free(rest);
      return 0;
    } else if (IS("--threads")) {
      parse_threads(VALUE("--threads"), &o);
      threads_given = true;
    } else if (IS("--isa")) {
      const char *val = VALUE("--isa");
      subq_isa isa;
      if (subq_isa_from_name(val, &isa) != SUBQ_OK) bench_usage_error("--isa: unknown ISA '%s' (scalar, avx2, auto)", val);
      if (isa != SUBQ_ISA_AUTO && !subq_host_supports_isa(isa))
        bench_usage_error("--isa: this machine cannot run '%s' (host best: %s)", val, subq_isa_name(subq_host_isa()));
      o.isa = isa;
    } else if (IS("--reps")) {
      const char *val = VALUE("--reps");
      if (!bench_parse_i64(val, 1, 200, &v)) bench_usage_error("--reps: '%s' is not an integer in 1..200", val);
      o.reps = (int)v;
    } else if (IS("--warmup")) {
      const char *val = VALUE("--warmup");
      if (!bench_parse_i64(val, 1, 100, &v)) bench_usage_error("--warmup: '%s' is not an integer in 1..100", val);
      o.warmup = (int)v;
    } else if (!strcmp(a, "--json")) {
      if (o.format == BENCH_CSV) bench_usage_error("--json and --csv are exclusive");
      o.format = BENCH_JSON;
    } else if (!strcmp(a, "--csv")) {
      if (o.format == BENCH_JSON) bench_usage_error("--json and --csv are exclusive");
      o.format = BENCH_CSV;
    } else if (!strcmp(a, "--no-peak")) {
      o.no_peak = true;
    } else if (!strcmp(a, "--flush")) {
      o.flush = true;
    } else if (!cmd && a[0] != '-') {
      cmd = a;
    } else if (!cmd) {
      bench_usage_error("'%s' is not a global option; options of a command come after the command", a);
    } else {
      rest[n_rest++] = argv[i]; /* the subcommand's own arguments */
    }
#undef VALUE
#undef IS
  }
  if (!threads_given) {
    o.threads[o.n_threads++] = 1;
    o.threads[o.n_threads++] = 2;
    int32_t cores = bench_host_cores();
    if (cores > 2) o.threads[o.n_threads++] = cores;
  }
  if (!cmd) cmd = "suite";
  bool known = !strcmp(cmd, "suite") || !strcmp(cmd, "peak") || !strcmp(cmd, "gemm") || !strcmp(cmd, "pool") ||
               !strcmp(cmd, "fattn") || !strcmp(cmd, "ssm") || !strcmp(cmd, "conv1d") || !strcmp(cmd, "nn") ||
               !strcmp(cmd, "ssd") || !strcmp(cmd, "ssd-step") || !strcmp(cmd, "gated-rmsnorm") || !strcmp(cmd, "list") ||
               !strcmp(cmd, "linattn") || !strcmp(cmd, "linattn-step") || !strcmp(cmd, "linattn-hybrid") ||
               !strcmp(cmd, "monarch") || !strcmp(cmd, "ternary") || !strcmp(cmd, "q8");
  if (!known)
    bench_usage_error("unknown command '%s' (suite, peak, gemm, pool, fattn, ssm, conv1d, nn, ssd, ssd-step, "
                      "gated-rmsnorm, linattn, linattn-step, linattn-hybrid, monarch, ternary, q8, list)", cmd);
  if (n_rest > 0 && strcmp(cmd, "gemm") && strcmp(cmd, "pool") && strcmp(cmd, "fattn") && strcmp(cmd, "ssm") && strcmp(cmd, "conv1d") &&
      strcmp(cmd, "nn") && strcmp(cmd, "ssd") && strcmp(cmd, "ssd-step") && strcmp(cmd, "gated-rmsnorm") &&
      strcmp(cmd, "linattn") && strcmp(cmd, "linattn-step") && strcmp(cmd, "linattn-hybrid") && strcmp(cmd, "monarch") &&
      strcmp(cmd, "ternary") && strcmp(cmd, "q8"))
    bench_usage_error("%s: unexpected argument '%s'", cmd, rest[0]);

  if (!strcmp(cmd, "list")) {
    printf("commands: suite (default), peak, gemm, pool, fattn, ssm, conv1d, nn, ssd, ssd-step, gated-rmsnorm, linattn, "
           "linattn-step, linattn-hybrid, monarch, ternary, q8, list\n");
    bench_gemm_list();
    bench_fattn_list();
    free(rest);
    return 0;
  }

  /* Every argument is checked before the first line of output. */
  if (!strcmp(cmd, "gemm")) bench_gemm_parse(n_rest, rest);
  if (!strcmp(cmd, "pool")) bench_pool_parse(n_rest, rest);
  if (!strcmp(cmd, "fattn")) bench_fattn_parse(n_rest, rest);
  if (!strcmp(cmd, "ssm")) bench_ssm_parse(n_rest, rest);
  if (!strcmp(cmd, "conv1d")) bench_conv1d_parse(n_rest, rest);
  if (!strcmp(cmd, "nn")) bench_nn_parse(n_rest, rest);
  if (!strcmp(cmd, "ssd")) bench_ssd_parse(n_rest, rest);
  if (!strcmp(cmd, "ssd-step")) bench_ssd_step_parse(n_rest, rest);
  if (!strcmp(cmd, "gated-rmsnorm")) bench_gated_rmsnorm_parse(n_rest, rest);
  if (!strcmp(cmd, "linattn")) bench_linattn_parse(n_rest, rest);
  if (!strcmp(cmd, "linattn-step")) bench_linattn_step_parse(n_rest, rest);
  if (!strcmp(cmd, "linattn-hybrid")) bench_linattn_hybrid_parse(n_rest, rest);
  if (!strcmp(cmd, "monarch")) bench_monarch_parse(n_rest, rest);
  if (!strcmp(cmd, "ternary")) bench_ternary_parse(n_rest, rest);
  if (!strcmp(cmd, "q8")) bench_q8_parse(n_rest, rest);

  int rc = 0;
  double t0 = bench_now_s();
  machine_summary(&o);
  bench_output_begin(&o);
  if (!strcmp(cmd, "suite")) {
    if (!o.no_peak) rc |= bench_peak_main(&o);
    rc |= bench_gemm_suite(&o);
    rc |= bench_pool_main(&o);
  } else if (!strcmp(cmd, "peak")) {
    rc = bench_peak_main(&o);
  } else if (!strcmp(cmd, "gemm")) {
    rc = bench_gemm_main(&o);
  } else if (!strcmp(cmd, "pool")) {
    rc = bench_pool_main(&o);
  } else if (!strcmp(cmd, "fattn")) {
    rc = bench_fattn_main(&o);
  } else if (!strcmp(cmd, "ssm")) {
    rc = bench_ssm_main(&o);
  } else if (!strcmp(cmd, "conv1d")) {
    rc = bench_conv1d_main(&o);
  } else if (!strcmp(cmd, "nn")) {
    rc = bench_nn_main(&o);
  } else if (!strcmp(cmd, "ssd")) {
    rc = bench_ssd_main(&o);
  } else if (!strcmp(cmd, "ssd-step")) {
    rc = bench_ssd_step_main(&o);
  } else if (!strcmp(cmd, "gated-rmsnorm")) {
    rc = bench_gated_rmsnorm_main(&o);
  } else if (!strcmp(cmd, "linattn")) {
    rc = bench_linattn_main(&o);
  } else if (!strcmp(cmd, "linattn-step")) {
    rc = bench_linattn_step_main(&o);
  } else if (!strcmp(cmd, "linattn-hybrid")) {
    rc = bench_linattn_hybrid_main(&o);
  } else if (!strcmp(cmd, "monarch")) {
    rc = bench_monarch_main(&o);
  } else if (!strcmp(cmd, "ternary")) {
    rc = bench_ternary_main(&o);
  } else if (!strcmp(cmd, "q8")) {
    rc = bench_q8_main(&o);
  }
  bench_output_end(&o);
  double elapsed = bench_now_s() - t0;
  int failed = bench_failures();
  FILE *summary = o.format == BENCH_TABLE ? stdout : stderr;
  fprintf(summary, "%s%s: %d case(s) failed; wall time %.1f s\n", o.format == BENCH_TABLE ? "\n" : "", cmd, failed,
          elapsed);
  free(rest);
  return (rc || failed) ? 1 : 0;
}
