/*
 * subq.h — umbrella header of SubQ, the CPU kernel library for
 * post-Transformer language-model architectures.
 *
 * Include this, link libsubq (CMake: find_package(SubQ) -> SubQ::subq;
 * pkg-config: subq). Each family has its own header under subq/.
 */
#ifndef SUBQ_H
#define SUBQ_H

#include "subq/subq_base.h"
#include "subq/subq_runtime.h"
#include "subq/subq_gemm.h"
#include "subq/subq_fattn.h"
#include "subq/subq_ssm.h"
#include "subq/subq_safetensors.h"
#include "subq/subq_nn.h"
#include "subq/subq_linattn.h"
#include "subq/subq_ternary.h"

#endif /* SUBQ_H */
