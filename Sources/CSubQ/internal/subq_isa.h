/*
 * subq_isa.h — ISA tokens, runtime checks and the target-region macros that
 * let one C file hold AVX2 or NEON code without per-file compiler flags
 * (SwiftPM forbids them). Include every header a ukernel file needs first,
 * then open the region, then include the ISA's SIMD vocabulary inside it so
 * its static inline helpers inherit the target.
 *
 *   #include "internal/subq_isa.h"
 *   #if SUBQ_ARCH_X86_64
 *   #include <immintrin.h>
 *   SUBQ_ISA_BEGIN_AVX2
 *   ... kernels ...
 *   SUBQ_ISA_END
 *   #endif
 */
#ifndef SUBQ_ISA_H
#define SUBQ_ISA_H

#include <stddef.h>

#include "subq_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#define SUBQ_ARCH_X86_64 1
#else
#define SUBQ_ARCH_X86_64 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define SUBQ_ARCH_ARM64 1
#else
#define SUBQ_ARCH_ARM64 0
#endif

#define SUBQ_TARGET_AVX2 "avx2,fma,f16c,bmi2"
#define SUBQ_TARGET_AVX512 "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl"
#define SUBQ_TARGET_AVX512VNNI SUBQ_TARGET_AVX512 ",avx512vnni"
#define SUBQ_TARGET_AVX512BF16 SUBQ_TARGET_AVX512 ",avx512vnni,avx512bf16"

#define SUBQ_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define SUBQ_ISA_BEGIN(isa_target) \
  SUBQ_PRAGMA(clang attribute push(__attribute__((target(isa_target))), apply_to = function))
#define SUBQ_ISA_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SUBQ_ISA_BEGIN(isa_target) _Pragma("GCC push_options") SUBQ_PRAGMA(GCC target(isa_target))
#define SUBQ_ISA_END _Pragma("GCC pop_options")
#endif
#define SUBQ_ISA_BEGIN_AVX2 SUBQ_ISA_BEGIN(SUBQ_TARGET_AVX2)
#define SUBQ_ISA_BEGIN_AVX512 SUBQ_ISA_BEGIN(SUBQ_TARGET_AVX512)
/* NEON is baseline on AArch64: no region needed. */

/* Whether an ISA token belongs to the architecture this library was built for. */
bool subq_isa_is_native_arch(subq_isa isa);
/* Rank order within one architecture; -1 for foreign or unknown tokens. */
int subq_isa_rank(subq_isa isa);
/* min(cap, host best) as an ISA of this architecture (SUBQ_ISA_AUTO = no cap).
 * Also applies the process-wide SUBQ_MAX_ISA cap. */
subq_isa subq_isa_resolve(subq_isa cap);
/* Whether a ukernel of ISA `have` may run under the resolved choice `chosen`. */
bool subq_isa_allows(subq_isa chosen, subq_isa have);
/* The first of n ukernel records (stride bytes apart, each with its subq_isa at
 * isa_offset) that `chosen` allows; the last one (the scalar fallback every
 * table ends with) when none does. Family tables list the best ISA first. */
const void *subq_isa_pick(subq_isa chosen, const void *table, int n, size_t stride, size_t isa_offset);
/* subq_isa_pick over a whole array `table` of records of type `type` (field `isa`). */
#define SUBQ_ISA_PICK(chosen, table, type)                                                         \
  ((const type *)subq_isa_pick((chosen), (table), (int)(sizeof(table) / sizeof((table)[0])), sizeof(type), \
                               offsetof(type, isa)))

#endif /* SUBQ_ISA_H */
