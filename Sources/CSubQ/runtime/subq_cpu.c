/*
 * subq_cpu.c — what the CPU and OS can run, and the ISA cap.
 * x86-64: CPUID + XGETBV (the OS must save YMM/ZMM state, not just the CPU
 * support the instructions). arm64: NEON is baseline, dot product from HWCAP.
 */
#include "internal/subq_isa.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if SUBQ_ARCH_X86_64
#include <cpuid.h>
#endif
#if SUBQ_ARCH_ARM64 && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

static const struct {
  subq_isa isa;
  const char *name;
} subq_isa_names[] = {
    {SUBQ_ISA_SCALAR, "scalar"},         {SUBQ_ISA_AVX2, "avx2"},        {SUBQ_ISA_AVX512, "avx512"},
    {SUBQ_ISA_AVX512_VNNI, "avx512vnni"}, {SUBQ_ISA_AVX512_BF16, "avx512bf16"}, {SUBQ_ISA_NEON, "neon"},
    {SUBQ_ISA_NEON_DOT, "neondot"},
};

const char *subq_isa_name(subq_isa isa) {
  if (isa == SUBQ_ISA_AUTO) return "auto";
  for (size_t i = 0; i < sizeof subq_isa_names / sizeof subq_isa_names[0]; i++)
    if (subq_isa_names[i].isa == isa) return subq_isa_names[i].name;
  return "unknown";
}

subq_status subq_isa_from_name(const char *name, subq_isa *out) {
  if (!name) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_isa_from_name: name is NULL");
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "subq_isa_from_name: out is NULL");
  char low[32];
  size_t n = strlen(name);
  if (n >= sizeof low) n = sizeof low - 1;
  for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)name[i]);
  low[n] = 0;
  if (!strcmp(low, "auto") || !strcmp(low, "native")) {
    *out = SUBQ_ISA_AUTO;
    return SUBQ_OK;
  }
  for (size_t i = 0; i < sizeof subq_isa_names / sizeof subq_isa_names[0]; i++)
    if (!strcmp(low, subq_isa_names[i].name)) {
      *out = subq_isa_names[i].isa;
      return SUBQ_OK;
    }
  return subq_error(SUBQ_ERR_INVALID_ARGUMENT,
                    "subq_isa_from_name: unknown ISA '%s' (expected scalar, avx2, avx512, avx512vnni, avx512bf16, neon, "
                    "neondot or auto)",
                    name);
}

bool subq_isa_is_native_arch(subq_isa isa) {
  if (isa == SUBQ_ISA_SCALAR) return true;
#if SUBQ_ARCH_X86_64
  return isa == SUBQ_ISA_AVX2 || isa == SUBQ_ISA_AVX512 || isa == SUBQ_ISA_AVX512_VNNI || isa == SUBQ_ISA_AVX512_BF16;
#elif SUBQ_ARCH_ARM64
  return isa == SUBQ_ISA_NEON || isa == SUBQ_ISA_NEON_DOT;
#else
  return false;
#endif
}

int subq_isa_rank(subq_isa isa) {
  if (!subq_isa_is_native_arch(isa)) return -1;
  return (int)isa; /* enum values are ordered within an architecture */
}

static subq_isa subq_detected_isa = SUBQ_ISA_SCALAR;
static subq_isa subq_env_cap = SUBQ_ISA_AUTO;
static pthread_once_t subq_cpu_once = PTHREAD_ONCE_INIT;

#if SUBQ_ARCH_X86_64
static subq_isa subq_detect_x86(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return SUBQ_ISA_SCALAR;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return SUBQ_ISA_SCALAR;
  unsigned xlo, xhi;
  __asm__ __volatile__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  (void)xhi;
  const bool ymm_ok = (xlo & 0x6) == 0x6, zmm_ok = (xlo & 0xe6) == 0xe6;
  if (!ymm_ok) return SUBQ_ISA_SCALAR;
  if (__get_cpuid_max(0, NULL) < 7) return SUBQ_ISA_SCALAR;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  const bool f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const bool vnni = (c >> 11) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  (void)b1, (void)c1, (void)d1;
  const bool bf16 = (a1 >> 5) & 1;
  if (!(avx2 && fma && f16c && bmi2)) return SUBQ_ISA_SCALAR;
  if (!(zmm_ok && f512 && dq && bw && vl)) return SUBQ_ISA_AVX2;
  if (!vnni) return SUBQ_ISA_AVX512;
  if (!bf16) return SUBQ_ISA_AVX512_VNNI;
  return SUBQ_ISA_AVX512_BF16;
}
#endif

static void subq_cpu_init(void) {
#if SUBQ_ARCH_X86_64
  subq_detected_isa = subq_detect_x86();
#elif SUBQ_ARCH_ARM64
  subq_detected_isa = SUBQ_ISA_NEON;
#if defined(__linux__)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) subq_detected_isa = SUBQ_ISA_NEON_DOT;
#endif
#endif
  const char *env = getenv("SUBQ_MAX_ISA");
  if (env && *env) {
    subq_isa cap;
    if (subq_isa_from_name(env, &cap) == SUBQ_OK && (cap == SUBQ_ISA_AUTO || subq_isa_is_native_arch(cap))) {
      subq_env_cap = cap;
    } else {
      subq_clear_last_error();
      subq_log(SUBQ_LOG_WARN, "SUBQ_MAX_ISA='%s' is not an ISA of this architecture; ignored", env);
    }
  }
}

subq_isa subq_host_isa(void) {
  pthread_once(&subq_cpu_once, subq_cpu_init);
  return subq_detected_isa;
}

bool subq_host_supports_isa(subq_isa isa) {
  if (!subq_isa_is_native_arch(isa)) return false;
  return subq_isa_rank(isa) <= subq_isa_rank(subq_host_isa());
}

subq_isa subq_isa_resolve(subq_isa cap) {
  subq_isa best = subq_host_isa();
  if (subq_env_cap != SUBQ_ISA_AUTO && subq_isa_rank(subq_env_cap) < subq_isa_rank(best)) best = subq_env_cap;
  if (cap != SUBQ_ISA_AUTO && subq_isa_is_native_arch(cap) && subq_isa_rank(cap) < subq_isa_rank(best)) best = cap;
  return best;
}

bool subq_isa_allows(subq_isa chosen, subq_isa have) {
  return subq_isa_is_native_arch(have) && subq_isa_rank(have) <= subq_isa_rank(chosen);
}

const void *subq_isa_pick(subq_isa chosen, const void *table, int n, size_t stride, size_t isa_offset) {
  const unsigned char *t = table;
  for (int i = 0; i < n; i++) {
    subq_isa have;
    memcpy(&have, t + (size_t)i * stride + isa_offset, sizeof have);
    if (subq_isa_allows(chosen, have)) return t + (size_t)i * stride;
  }
  return t + (size_t)(n - 1) * stride;
}
