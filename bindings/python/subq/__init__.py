"""subq — Python bindings over libsubq's C ABI (ctypes; NumPy zero-copy).

    import numpy as np, subq
    a = np.random.rand(256, 512).astype(np.float32)
    b = np.random.rand(512, 128).astype(np.float32)
    c = subq.gemm(a, b)                      # float32 (256, 128)
    with subq.Context(threads=2) as ctx:
        o = subq.attention(q, k, v, causal=True, ctx=ctx)
"""
from ._lib import SubQError, library_path
from ._lib import RUNTIME_MAJOR, RUNTIME_MINOR, RUNTIME_PATCH
from ._arrays import BF16Array
from .context import Context, default_context
from .runtime import (Topology, clear_last_error, host_supports_isa, last_error_message, set_log_callback)
from .gemm import Int8Weights, PackedB, convert, from_bf16, from_f16, gemm, to_bf16, to_f16
from .attention import KVCache, KVCacheInfo, attention, attention_kv
from .mamba import (PackedA, conv1d, conv1d_update, ssm1_pack_a, ssm1_scan, ssm1_state_export, ssm1_state_floats, ssm1_state_import,
                    ssm1_state_zeros, ssm1_step)
from .nn import RopeTable, add, embedding, rmsnorm, silu, swiglu, yarn_attention_factor
from .mamba2 import (gated_rmsnorm, ssd_scan, ssd_step, ssm2_state_export, ssm2_state_floats, ssm2_state_import,
                     ssm2_state_zeros)
from .linattn import (linattn_decode, linattn_feature_dim, linattn_feature_map, linattn_prefill,
                      linattn_state_floats, linattn_state_zeros)
from .monarch import (MonarchGrads, MonarchWeights, blockdiag_shape, monarch_linear_shapes, monarch_project,
                      monarch_to_dense)
from .ternary import TernaryWeights, bitlinear, hgrn, hgrn_step, matmul_i32, ternary_act_quant
from .safetensors import SafetensorsFile, TensorInfo
from . import _lib as _l

__version__ = "%d.%d.%d" % (RUNTIME_MAJOR, RUNTIME_MINOR, RUNTIME_PATCH)


def version() -> str:
    """Version string of the loaded libsubq."""
    return _l.subq_version_string().decode()


def build_info() -> str:
    return _l.subq_build_info().decode()


def host_isa() -> str:
    """Best ISA path of this CPU ('avx2', 'neon', ...)."""
    return _l.subq_isa_name(_l.subq_host_isa()).decode()


__all__ = [
    "SubQError", "BF16Array", "Context", "default_context", "PackedB", "Int8Weights", "gemm", "to_bf16", "from_bf16",
    "to_f16", "from_f16", "convert",
    "Topology", "set_log_callback", "host_supports_isa", "clear_last_error", "last_error_message",
    "attention", "KVCache", "KVCacheInfo", "attention_kv",
    "conv1d", "conv1d_update", "ssm1_scan", "ssm1_step", "ssm1_state_zeros", "ssm1_state_floats",
    "ssm1_state_import", "ssm1_state_export",
    "rmsnorm", "swiglu", "silu", "add", "embedding", "RopeTable", "yarn_attention_factor",
    "ssd_scan", "ssd_step", "ssm2_state_zeros", "ssm2_state_floats", "ssm2_state_import", "ssm2_state_export",
    "gated_rmsnorm", "linattn_prefill", "linattn_decode", "linattn_state_floats", "linattn_state_zeros",
    "linattn_feature_dim", "linattn_feature_map",
    "MonarchWeights", "MonarchGrads", "blockdiag_shape", "monarch_linear_shapes", "monarch_project", "monarch_to_dense",
    "TernaryWeights", "ternary_act_quant", "bitlinear", "matmul_i32", "hgrn", "hgrn_step",
    "SafetensorsFile", "TensorInfo", "version", "build_info",
    "host_isa", "library_path",
]
