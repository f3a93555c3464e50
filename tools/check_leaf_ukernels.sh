#!/usr/bin/env bash
# check_leaf_ukernels.sh — the GEMM register-tile micro-kernels of a built
# libsubq make no calls.
#
#   tools/check_leaf_ukernels.sh path/to/libsubq.so
#
# Every large product spends its time in subq_f32_gemm_ukernel_* and
# subq_f32wbf16_gemm_ukernel_* (one call per MR x NR tile). A helper the
# compiler stops inlining (as the tile store did in 63efd14, passing
# accumulators on the stack) cost those products ~20% without changing a bit of
# any result, so no correctness test sees it. This check reads the disassembly
# (objdump) and fails when such a kernel contains a call (x86-64 `call`,
# aarch64 `bl` / `blr`), naming the kernel and the callee. The scalar
# reference kernels are not checked: without an FMA target, fmaf is a libm call
# there by design. OBJDUMP names another objdump (a cross build's).
set -euo pipefail
lib="${1:-}"
[[ -n "$lib" && -f "$lib" ]] || { echo "usage: $0 path/to/libsubq.so" >&2; exit 2; }
objdump_bin="${OBJDUMP:-objdump}"
command -v "$objdump_bin" >/dev/null || { echo "check_leaf_ukernels.sh: $objdump_bin not found (binutils)" >&2; exit 2; }
dis="$("$objdump_bin" -d --no-show-raw-insn "$lib")"
report="$(awk '
  /^[0-9a-f]+ <[^>]+>:$/ {
    name = $2; gsub(/[<>:]/, "", name)
    inside = (name ~ /^_?subq_f32(wbf16)?_gemm_ukernel_/ && name !~ /__scalar$/) # _: Mach-O names
    if (inside) kernels++
    next
  }
  inside && ($0 ~ /\t(call|callq|bl|blr)[ \t]/) {
    sub(/^[ \t]*[0-9a-f]+:[ \t]*/, ""); print name ": " $0; bad++
  }
  END { print "kernels " kernels + 0; print "bad " bad + 0 }' <<<"$dis")"
kernels="$(sed -n 's/^kernels //p' <<<"$report")"
bad="$(sed -n 's/^bad //p' <<<"$report")"
if [[ "$kernels" -eq 0 ]]; then
  echo "check_leaf_ukernels.sh: no per-ISA subq_f32*_gemm_ukernel_* function in $lib (stripped, a scalar-only build, or renamed kernels?)" >&2
  exit 1
fi
if [[ "$bad" -ne 0 ]]; then
  grep -v '^kernels \|^bad ' <<<"$report" >&2
  echo "check_leaf_ukernels.sh: $bad call(s) in the GEMM micro-kernels of $lib: inline the helper" >&2
  exit 1
fi
echo "check_leaf_ukernels.sh: $kernels GEMM micro-kernels, no calls"
