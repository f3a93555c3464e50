# Cross-compile SubQ for 64-bit Arm Linux with Debian's cross gcc and run the
# tests under qemu-user:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
#   cmake -S . -B build-aarch64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#     -DSUBQ_WITH_HWLOC=OFF -DSUBQ_WITH_NUMA=OFF -DSUBQ_BUILD_BENCH=OFF
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64
# (ctest runs each test through CMAKE_CROSSCOMPILING_EMULATOR.)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

set(SUBQ_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${SUBQ_AARCH64_SYSROOT}")

# Headers and libraries come from the cross sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH ${SUBQ_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Keep pkg-config from handing host (x86-64) hwloc/numa to the cross build
# (with SUBQ_WITH_HWLOC/NUMA=AUTO they are then simply not found).
set(ENV{PKG_CONFIG_LIBDIR} "${SUBQ_AARCH64_SYSROOT}/lib/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
