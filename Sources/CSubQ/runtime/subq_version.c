/* subq_version.c — runtime version and build description. */
#include "internal/subq_internal.h"

uint32_t subq_version(void) { return SUBQ_VERSION; }

#define SUBQ_STR2(x) #x
#define SUBQ_STR(x) SUBQ_STR2(x)

const char *subq_version_string(void) {
  return SUBQ_STR(SUBQ_VERSION_MAJOR) "." SUBQ_STR(SUBQ_VERSION_MINOR) "." SUBQ_STR(SUBQ_VERSION_PATCH);
}

const char *subq_build_info(void) {
  return "SubQ " SUBQ_STR(SUBQ_VERSION_MAJOR) "." SUBQ_STR(SUBQ_VERSION_MINOR) "." SUBQ_STR(SUBQ_VERSION_PATCH)
#if defined(__clang__)
         "; compiler clang " __clang_version__
#elif defined(__GNUC__)
         "; compiler gcc " __VERSION__
#endif
#if defined(__x86_64__)
         "; isa paths scalar,avx2"
#elif defined(__aarch64__)
         "; isa paths scalar,neon"
#else
         "; isa paths scalar"
#endif
#if defined(SUBQ_HAVE_HWLOC)
         "; hwloc yes"
#else
         "; hwloc no"
#endif
#if defined(SUBQ_HAVE_NUMA)
         "; libnuma yes"
#else
         "; libnuma no"
#endif
      ;
}
