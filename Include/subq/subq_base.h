/*
 * subq_base.h — versions, export and nullability macros, status codes, the
 * thread-local error message, dtypes and ISA tokens.
 *
 * Thread-safety: every function here is safe to call from any thread.
 * subq_last_error_message() is per thread.
 */
#ifndef SUBQ_BASE_H
#define SUBQ_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- version ------------------------------------------------------------ */
#define SUBQ_VERSION_MAJOR 0
#define SUBQ_VERSION_MINOR 1
#define SUBQ_VERSION_PATCH 0
#define SUBQ_VERSION_ENCODE(major, minor, patch) \
  ((uint32_t)(((uint32_t)(major) << 16) | ((uint32_t)(minor) << 8) | (uint32_t)(patch)))
#define SUBQ_VERSION SUBQ_VERSION_ENCODE(SUBQ_VERSION_MAJOR, SUBQ_VERSION_MINOR, SUBQ_VERSION_PATCH)

/* ---- export ------------------------------------------------------------- */
#if defined(_WIN32)
#  if defined(SUBQ_BUILD) && defined(SUBQ_SHARED)
#    define SUBQ_API __declspec(dllexport)
#  elif defined(SUBQ_SHARED)
#    define SUBQ_API __declspec(dllimport)
#  else
#    define SUBQ_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define SUBQ_API __attribute__((visibility("default")))
#else
#  define SUBQ_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define SUBQ_WARN_UNUSED __attribute__((warn_unused_result))
#  define SUBQ_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#  define SUBQ_WARN_UNUSED
#  define SUBQ_DEPRECATED(msg)
#endif

/* ---- nullability (clang only; Swift imports non-null pointers as non-optional) */
#if defined(__clang__)
#  define SUBQ_NULLABLE _Nullable
#  define SUBQ_NONNULL _Nonnull
/* -pedantic calls nullability a Clang extension; scope the waiver to our declarations. */
#  define SUBQ_ASSUME_NONNULL_BEGIN \
    _Pragma("clang diagnostic push") _Pragma("clang diagnostic ignored \"-Wnullability-extension\"") \
    _Pragma("clang assume_nonnull begin")
#  define SUBQ_ASSUME_NONNULL_END _Pragma("clang assume_nonnull end") _Pragma("clang diagnostic pop")
#else
#  define SUBQ_NULLABLE
#  define SUBQ_NONNULL
#  define SUBQ_ASSUME_NONNULL_BEGIN
#  define SUBQ_ASSUME_NONNULL_END
#endif

/* ---- enums: 32-bit, open for extension --------------------------------- */
#if defined(__swift__) || defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ > 201710L)
#  if defined(__clang__)
#    define SUBQ_ENUM(name) enum __attribute__((enum_extensibility(open))) name : int32_t
#  else
#    define SUBQ_ENUM(name) enum name : int32_t
#  endif
#elif defined(__clang__)
#  define SUBQ_ENUM(name) enum __attribute__((enum_extensibility(open))) name
#else
#  define SUBQ_ENUM(name) enum name
#endif
#if defined(__clang__)
#  define SUBQ_SWIFT_NAME(x) __attribute__((swift_name(#x)))
#else
#  define SUBQ_SWIFT_NAME(x)
#endif

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* ---- status ------------------------------------------------------------- */
/* Values are fixed forever; new codes are appended. */
typedef SUBQ_ENUM(subq_status) {
  SUBQ_OK SUBQ_SWIFT_NAME(ok) = 0,
  SUBQ_ERR_INVALID_ARGUMENT SUBQ_SWIFT_NAME(invalidArgument) = 1,
  SUBQ_ERR_OUT_OF_MEMORY SUBQ_SWIFT_NAME(outOfMemory) = 2,
  SUBQ_ERR_UNSUPPORTED SUBQ_SWIFT_NAME(unsupported) = 3,      /* no implementation for this shape/dtype/ISA */
  SUBQ_ERR_INVALID_STATE SUBQ_SWIFT_NAME(invalidState) = 4,   /* e.g. a context created before fork() */
  SUBQ_ERR_BUFFER_TOO_SMALL SUBQ_SWIFT_NAME(bufferTooSmall) = 5,
  SUBQ_ERR_ABORTED SUBQ_SWIFT_NAME(aborted) = 6,
  SUBQ_ERR_SYSTEM SUBQ_SWIFT_NAME(system) = 7,                /* an OS call failed; errno text in the message */
  SUBQ_ERR_INTERNAL SUBQ_SWIFT_NAME(internal) = 8
} subq_status;

/* Static English text for a status ("ok", "invalid argument", ...); never NULL. */
SUBQ_API const char *subq_status_string(subq_status status);

/* The message of the last failing SubQ call on this thread, naming the
 * offending argument ("subq_gemm: lda (3) is smaller than k (4)").
 * Never NULL; "" when no call has failed. Successful calls leave it unchanged.
 * Valid until the next SubQ call on this thread. */
SUBQ_API const char *subq_last_error_message(void);

/* Clears this thread's last error message. */
SUBQ_API void subq_clear_last_error(void);

/* ---- version ------------------------------------------------------------ */
/* SUBQ_VERSION of the library actually loaded. Bindings check: runtime major ==
 * header major and runtime minor >= header minor. */
SUBQ_API uint32_t subq_version(void);
/* "0.1.0". Static storage. */
SUBQ_API const char *subq_version_string(void);
/* Compiler, compiled ISA paths, hwloc/libnuma presence. Static storage. */
SUBQ_API const char *subq_build_info(void);

/* ---- data types ----------------------------------------------------------- */
/* bf16 and f16 are carried as uint16_t storage; no _Float16 in the ABI. */
typedef SUBQ_ENUM(subq_dtype) {
  SUBQ_DTYPE_F32 SUBQ_SWIFT_NAME(f32) = 1,
  SUBQ_DTYPE_BF16 SUBQ_SWIFT_NAME(bf16) = 2,
  SUBQ_DTYPE_F16 SUBQ_SWIFT_NAME(f16) = 3,
  SUBQ_DTYPE_I8 SUBQ_SWIFT_NAME(i8) = 4,
  SUBQ_DTYPE_I32 SUBQ_SWIFT_NAME(i32) = 5
} subq_dtype;

/* Bytes per element of a dtype; 0 for an unknown value. */
SUBQ_API size_t subq_dtype_size(subq_dtype dtype);

/* ---- instruction sets ------------------------------------------------------ */
/* Tokens of the per-ISA micro-kernel paths. On x86-64 the order is
 * SCALAR < AVX2 < AVX512 < AVX512_VNNI < AVX512_BF16; on arm64
 * SCALAR < NEON < NEON_DOT. A cap admits every path of the same architecture
 * whose rank is not above it (and always SCALAR). SUBQ_ISA_AUTO means "the best
 * the host supports". The environment variable SUBQ_MAX_ISA takes the lower-case
 * names returned by subq_isa_name ("scalar", "avx2", "avx512", "avx512vnni",
 * "avx512bf16", "neon", "neondot"). */
typedef SUBQ_ENUM(subq_isa) {
  SUBQ_ISA_AUTO SUBQ_SWIFT_NAME(auto) = -1,
  SUBQ_ISA_SCALAR SUBQ_SWIFT_NAME(scalar) = 0,
  SUBQ_ISA_AVX2 SUBQ_SWIFT_NAME(avx2) = 10,        /* AVX2 + FMA + F16C */
  SUBQ_ISA_AVX512 SUBQ_SWIFT_NAME(avx512) = 20,    /* AVX-512 F, BW, DQ, VL */
  SUBQ_ISA_AVX512_VNNI SUBQ_SWIFT_NAME(avx512vnni) = 21,
  SUBQ_ISA_AVX512_BF16 SUBQ_SWIFT_NAME(avx512bf16) = 22,
  SUBQ_ISA_NEON SUBQ_SWIFT_NAME(neon) = 100,       /* AArch64 Advanced SIMD */
  SUBQ_ISA_NEON_DOT SUBQ_SWIFT_NAME(neondot) = 101 /* + SDOT/UDOT */
} subq_isa;

/* Lower-case token of an ISA ("avx2"); "unknown" for other values. */
SUBQ_API const char *subq_isa_name(subq_isa isa);
/* Parses a token (case-insensitive, also "auto"/"native"). Errors:
 * SUBQ_ERR_INVALID_ARGUMENT for NULL or an unknown name. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_isa_from_name(const char *name, subq_isa *out);
/* The best ISA this CPU and OS support (what SUBQ_ISA_AUTO resolves to,
 * before any cap). */
SUBQ_API subq_isa subq_host_isa(void);
/* Whether the host can execute code of this ISA. */
SUBQ_API bool subq_host_supports_isa(subq_isa isa);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_BASE_H */
