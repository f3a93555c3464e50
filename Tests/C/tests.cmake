# tests.cmake — packaging tests, included by CMakeLists.txt when SUBQ_BUILD_TESTS.
#   ctest -L headers   each public header alone as C11 and C++17, -Wall -Wextra -Werror
#                      -pedantic (gcc/g++, and clang/clang++ with -Wnullability-completeness)
#   ctest -L exports   nm -D of libsubq.so against abi/exports.txt; the per-ISA GEMM
#                      micro-kernels of libsubq.so make no calls (tools/check_leaf_ukernels.sh)
#   ctest -L install   install into a temp prefix (shared and static), consume with
#                      find_package(SubQ CONFIG) and pkg-config from C and C++
#   ctest -L bench     subq-bench's command line on small real cases
#   ctest -L python    the Python binding tests (only with -DSUBQ_BUILD_PYTHON=ON)
#   ctest -L cpp       bindings/cpp/subq.hpp's test program (C++20; native builds with a C++ compiler)
# The header and install tests use host compilers and rebuild SubQ themselves, so
# they are defined for native, non-sanitizer builds only.
set(_subq_root "${CMAKE_CURRENT_LIST_DIR}/../..")
get_filename_component(_subq_root "${_subq_root}" ABSOLUTE)

find_program(SUBQ_BASH bash)
if(NOT SUBQ_BASH)
  message(WARNING "bash not found: header, export and install tests are not defined")
  return()
endif()

if(NOT CMAKE_CROSSCOMPILING)
  # ---- one test per public header ----
  foreach(_h IN LISTS SUBQ_PUBLIC_HEADERS)
    file(RELATIVE_PATH _rel "${_subq_root}/Include" "${_h}")
    string(REGEX REPLACE "[/.]" "_" _tname "headers_${_rel}")
    add_test(NAME ${_tname} COMMAND ${SUBQ_BASH} "${_subq_root}/tools/check_headers.sh" -I "${_subq_root}/Include" "${_rel}")
    set_tests_properties(${_tname} PROPERTIES LABELS "headers" TIMEOUT 120)
  endforeach()
endif()

if(NOT CMAKE_CROSSCOMPILING AND NOT SUBQ_SANITIZE)
  # ---- exported symbols ----
  if(BUILD_SHARED_LIBS)
    add_test(NAME exports COMMAND ${SUBQ_BASH} "${_subq_root}/tools/check_exports.sh"
      --list "${_subq_root}/abi/exports.txt" --include "${_subq_root}/Include" "$<TARGET_FILE:subq>")
    set_tests_properties(exports PROPERTIES LABELS "exports" TIMEOUT 60)
    find_program(SUBQ_OBJDUMP objdump)
    if(SUBQ_OBJDUMP)
      add_test(NAME leaf_ukernels COMMAND ${SUBQ_BASH} "${_subq_root}/tools/check_leaf_ukernels.sh" "$<TARGET_FILE:subq>")
      set_tests_properties(leaf_ukernels PROPERTIES LABELS "exports" TIMEOUT 60 ENVIRONMENT "OBJDUMP=${SUBQ_OBJDUMP}")
    endif()
  endif()

  # ---- install then consume (builds and installs SubQ twice: slow, run alone with -L install) ----
  add_test(NAME install_consume COMMAND ${SUBQ_BASH} "${_subq_root}/Tests/C/consumer/run.sh"
    "${_subq_root}" "${CMAKE_CURRENT_BINARY_DIR}/consumer-work")
  set_tests_properties(install_consume PROPERTIES LABELS "install" TIMEOUT 1200
    ENVIRONMENT "CC=${CMAKE_C_COMPILER}" RUN_SERIAL TRUE)
endif()

# ---- subq-bench command line (real small cases, exit codes, JSON shape) ----
if(TARGET subq-bench AND NOT CMAKE_CROSSCOMPILING)
  add_test(NAME bench_cli COMMAND ${SUBQ_BASH} "${_subq_root}/tools/check_bench_cli.sh" "$<TARGET_FILE:subq-bench>")
  set_tests_properties(bench_cli PROPERTIES LABELS "bench" TIMEOUT 300)
endif()

# ---- C++ header-only bindings ----
if(NOT CMAKE_CROSSCOMPILING)
  include(CheckLanguage)
  check_language(CXX)
  if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    add_executable(test_cpp_bindings "${_subq_root}/bindings/cpp/test_subq_hpp.cpp")
    target_compile_features(test_cpp_bindings PRIVATE cxx_std_20)
    target_include_directories(test_cpp_bindings PRIVATE "${_subq_root}/bindings/cpp")
    target_compile_options(test_cpp_bindings PRIVATE -Wall -Wextra -pedantic)
    target_link_libraries(test_cpp_bindings PRIVATE subq)
    add_test(NAME cpp_bindings COMMAND test_cpp_bindings)
    set_tests_properties(cpp_bindings PROPERTIES LABELS "cpp" TIMEOUT 120)
  else()
    message(STATUS "no C++ compiler: the subq.hpp test (ctest -L cpp) is not defined")
  endif()
endif()

# ---- Python bindings ----
if(SUBQ_BUILD_PYTHON)
  if(NOT BUILD_SHARED_LIBS)
    message(FATAL_ERROR "SUBQ_BUILD_PYTHON needs the shared library (BUILD_SHARED_LIBS=ON)")
  endif()
  if(NOT EXISTS "${_subq_root}/bindings/python/tests")
    message(FATAL_ERROR "SUBQ_BUILD_PYTHON: ${_subq_root}/bindings/python/tests does not exist")
  endif()
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  add_test(NAME python_bindings COMMAND Python3::Interpreter -m pytest -q "${_subq_root}/bindings/python/tests")
  set_tests_properties(python_bindings PROPERTIES LABELS "python" TIMEOUT 900
    ENVIRONMENT "SUBQ_LIBRARY=$<TARGET_FILE:subq>;PYTHONPATH=${_subq_root}/bindings/python")
endif()

# ---- emulated runs (cross builds): tell the tests, so that they can avoid known
# emulator limits (qemu-user before 8.1 aborts when a forked child of a
# multi-threaded process starts threads). ----
if(CMAKE_CROSSCOMPILING_EMULATOR)
  get_property(_subq_all_tests DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY TESTS)
  foreach(_t IN LISTS _subq_all_tests)
    set_property(TEST ${_t} APPEND PROPERTY ENVIRONMENT "SUBQ_TEST_EMULATOR=qemu")
  endforeach()
endif()
