"""Loading libsubq, the version check, status -> exception, and the C prototypes.

Only the public C ABI (Include/subq.h) is used. Structs mirror the headers field
for field; every args struct starts with size_t struct_size and is filled by the
library's defaults getter, so fields this module does not know keep their
defaults (runtime.md 2.5).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# The C ABI version this module was written against (SUBQ_VERSION_MAJOR/MINOR).
ABI_MAJOR = 0
ABI_MINOR = 1

# subq_status values (fixed forever; appended only).
OK = 0
STATUS_NAMES = {
    0: "ok",
    1: "invalid argument",
    2: "out of memory",
    3: "unsupported",
    4: "invalid state",
    5: "buffer too small",
    6: "aborted",
    7: "system",
    8: "internal",
}

# subq_dtype
DTYPE_F32 = 1
DTYPE_BF16 = 2
DTYPE_F16 = 3
DTYPE_I8 = 4
DTYPE_I32 = 5


class SubQError(RuntimeError):
    """A SubQ call failed: `status` is the subq_status code, `message` the
    library's subq_last_error_message() text naming the offending argument."""

    def __init__(self, status: int, message: str):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "unknown status %d" % self.status)
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message) if message else self.status_name)


def _candidates():
    env = os.environ.get("SUBQ_LIBRARY")
    if env:
        if os.path.isdir(env):
            yield os.path.join(env, "libsubq.so")
        else:
            yield env
        return  # an explicit choice is never second-guessed
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libsubq.so", "libsubq.dylib"):
        p = os.path.join(here, name)
        if os.path.exists(p):
            yield p
    found = ctypes.util.find_library("subq")
    if found:
        yield found
    yield "libsubq.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:  # try the next candidate, report all at the end
            errors.append("%s: %s" % (path, e))
    raise ImportError(
        "subq: cannot load libsubq (set SUBQ_LIBRARY to the library file or its build directory). Tried:\n  "
        + "\n  ".join(errors)
    )


lib, library_path = _load()

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# ---- base -------------------------------------------------------------------------------------
subq_version = _fn("subq_version", ctypes.c_uint32)
subq_version_string = _fn("subq_version_string", ctypes.c_char_p)
subq_build_info = _fn("subq_build_info", ctypes.c_char_p)
subq_last_error_message = _fn("subq_last_error_message", ctypes.c_char_p)
subq_clear_last_error = _fn("subq_clear_last_error", None)
subq_status_string = _fn("subq_status_string", ctypes.c_char_p, ctypes.c_int32)
subq_isa_name = _fn("subq_isa_name", ctypes.c_char_p, ctypes.c_int32)
subq_isa_from_name = _fn("subq_isa_from_name", ctypes.c_int32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32))
subq_host_isa = _fn("subq_host_isa", ctypes.c_int32)
subq_host_supports_isa = _fn("subq_host_supports_isa", ctypes.c_bool, ctypes.c_int32)

def check_version(v: int, path: str):
    """(major, minor, patch) of a packed SUBQ_VERSION; ImportError unless the
    major equals ABI_MAJOR and the minor is at least ABI_MINOR (subq_base.h)."""
    major, minor, patch = (v >> 16) & 0xFFFF, (v >> 8) & 0xFF, v & 0xFF
    if major != ABI_MAJOR or minor < ABI_MINOR:
        raise ImportError(
            "subq: %s is libsubq %d.%d.%d but these bindings need %d.x with x >= %d"
            % (path, major, minor, patch, ABI_MAJOR, ABI_MINOR)
        )
    return major, minor, patch


RUNTIME_MAJOR, RUNTIME_MINOR, RUNTIME_PATCH = check_version(subq_version(), library_path)

# ctypes releases the GIL during the call; the message is thread-local in C, so
# check() reads it right after the call on the same OS thread.


def check(status: int) -> None:
    if status != OK:
        msg = subq_last_error_message()
        raise SubQError(status, msg.decode("utf-8", "replace") if msg else "")


# ---- runtime ----------------------------------------------------------------------------------
class ContextParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("n_threads", ctypes.c_int32),
        ("numa", ctypes.c_int32),
        ("numa_node", ctypes.c_int32),
        ("bind", ctypes.c_int32),
        ("spin_us", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("max_isa", ctypes.c_int32),
        ("verbose", ctypes.c_int32),
        ("topology", ctypes.c_void_p),
    ]


subq_context_params_default = _fn("subq_context_params_default", None, ctypes.POINTER(ContextParams), ctypes.c_size_t)
subq_context_create = _fn("subq_context_create", ctypes.c_int32, ctypes.POINTER(ContextParams),
                          ctypes.POINTER(ctypes.c_void_p))
subq_context_destroy = _fn("subq_context_destroy", None, ctypes.c_void_p)
subq_context_num_threads = _fn("subq_context_num_threads", ctypes.c_int32, ctypes.c_void_p)
subq_context_isa = _fn("subq_context_isa", ctypes.c_int32, ctypes.c_void_p)
subq_context_places_weights = _fn("subq_context_places_weights", ctypes.c_bool, ctypes.c_void_p)
subq_context_describe = _fn("subq_context_describe", ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
subq_context_pause = _fn("subq_context_pause", ctypes.c_int32, ctypes.c_void_p)
subq_context_resume = _fn("subq_context_resume", ctypes.c_int32, ctypes.c_void_p)

# Context flags (subq_context_params.flags).
CONTEXT_START_PAUSED = 0x4

# topology (immutable, reference counted; shareable between threads)
subq_topology_create = _fn("subq_topology_create", ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p))
subq_topology_create_synthetic = _fn("subq_topology_create_synthetic", ctypes.c_int32, ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_void_p))
subq_topology_create_xml = _fn("subq_topology_create_xml", ctypes.c_int32, ctypes.c_char_p,
                               ctypes.POINTER(ctypes.c_void_p))
subq_topology_retain = _fn("subq_topology_retain", ctypes.c_void_p, ctypes.c_void_p)
subq_topology_release = _fn("subq_topology_release", None, ctypes.c_void_p)
subq_topology_num_nodes = _fn("subq_topology_num_nodes", ctypes.c_int32, ctypes.c_void_p)
subq_topology_num_cores = _fn("subq_topology_num_cores", ctypes.c_int32, ctypes.c_void_p)
subq_topology_num_pus = _fn("subq_topology_num_pus", ctypes.c_int32, ctypes.c_void_p)
subq_topology_cache_size = _fn("subq_topology_cache_size", ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int32)
subq_topology_describe = _fn("subq_topology_describe", ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p,
                             ctypes.c_size_t)

# logging: void (*)(void *user, subq_log_level level, const char *message)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
subq_set_log_callback = _fn("subq_set_log_callback", None, LOG_FN, ctypes.c_void_p)

# ---- GEMM -------------------------------------------------------------------------------------
class GemmArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("m", ctypes.c_int64), ("n", ctypes.c_int64), ("k", ctypes.c_int64),
        ("alpha", ctypes.c_float), ("beta", ctypes.c_float),
        ("a_dtype", ctypes.c_int32), ("b_dtype", ctypes.c_int32),
        ("a", ctypes.c_void_p), ("a_rs", ctypes.c_int64), ("a_cs", ctypes.c_int64),
        ("b", ctypes.c_void_p), ("b_rs", ctypes.c_int64), ("b_cs", ctypes.c_int64),
        ("c", ctypes.c_void_p), ("c_rs", ctypes.c_int64), ("c_cs", ctypes.c_int64),
        ("batch_count", ctypes.c_int64),
        ("a_bs", ctypes.c_int64), ("b_bs", ctypes.c_int64), ("c_bs", ctypes.c_int64),
    ]


subq_gemm_args_default = _fn("subq_gemm_args_default", None, ctypes.POINTER(GemmArgs), ctypes.c_size_t)
subq_gemm = _fn("subq_gemm", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(GemmArgs))
subq_gemm_pack_b = _fn("subq_gemm_pack_b", ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                       ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                       ctypes.POINTER(ctypes.c_void_p))
subq_gemm_packed_b_destroy = _fn("subq_gemm_packed_b_destroy", None, ctypes.c_void_p)
subq_gemm_packed_b_size = _fn("subq_gemm_packed_b_size", ctypes.c_size_t, ctypes.c_void_p)
subq_gemm_packed = _fn("subq_gemm_packed", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(GemmArgs), ctypes.c_void_p)
subq_q8_weights_create = _fn("subq_q8_weights_create", ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                             ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p))
subq_q8_weights_destroy = _fn("subq_q8_weights_destroy", None, ctypes.c_void_p)
subq_q8_weights_size = _fn("subq_q8_weights_size", ctypes.c_size_t, ctypes.c_void_p)
subq_q8_weights_dequantize = _fn("subq_q8_weights_dequantize", ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)
subq_q8_linear = _fn("subq_q8_linear", ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                     ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
subq_f32_to_bf16 = _fn("subq_f32_to_bf16", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
subq_bf16_to_f32 = _fn("subq_bf16_to_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
subq_f32_to_f16 = _fn("subq_f32_to_f16", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
subq_f16_to_f32 = _fn("subq_f16_to_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
subq_convert = _fn("subq_convert", ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p,
                   ctypes.c_int32, ctypes.c_void_p)

# ---- fused attention --------------------------------------------------------------------------
class FattnArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int64), ("hq", ctypes.c_int64), ("hkv", ctypes.c_int64),
        ("sq", ctypes.c_int64), ("sk", ctypes.c_int64), ("dk", ctypes.c_int64), ("dv", ctypes.c_int64),
        ("scale", ctypes.c_float), ("softcap", ctypes.c_float),
        ("align", ctypes.c_int32),
        ("window_left", ctypes.c_int64), ("window_right", ctypes.c_int64),
        ("q", ctypes.c_void_p), ("q_bs", ctypes.c_int64), ("q_ss", ctypes.c_int64), ("q_hs", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_bs", ctypes.c_int64), ("k_ss", ctypes.c_int64), ("k_hs", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("v_bs", ctypes.c_int64), ("v_ss", ctypes.c_int64), ("v_hs", ctypes.c_int64),
        ("out", ctypes.c_void_p), ("o_bs", ctypes.c_int64), ("o_ss", ctypes.c_int64), ("o_hs", ctypes.c_int64),
        ("lse", ctypes.c_void_p),
        ("kv_split", ctypes.c_int64),
        ("q_dtype", ctypes.c_int32), ("kv_dtype", ctypes.c_int32), ("out_dtype", ctypes.c_int32),
        ("mask", ctypes.c_void_p), ("mask_bs", ctypes.c_int64), ("mask_hs", ctypes.c_int64),
        ("mask_ss", ctypes.c_int64),
    ]


subq_fattn_args_default = _fn("subq_fattn_args_default", None, ctypes.POINTER(FattnArgs), ctypes.c_size_t)
subq_fattn = _fn("subq_fattn", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(FattnArgs))
subq_fattn_expf = _fn("subq_fattn_expf", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                      ctypes.c_int64)

# ---- Mamba (conv1d, Mamba-1 scan) -------------------------------------------------------------
class Conv1dArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int64), ("seqlen", ctypes.c_int64), ("channels", ctypes.c_int64),
        ("width", ctypes.c_int32), ("flags", ctypes.c_uint32),
        ("x", ctypes.c_void_p), ("x_ld", ctypes.c_int64), ("x_bs", ctypes.c_int64),
        ("weight", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("state_in", ctypes.c_void_p),
        ("state_out", ctypes.c_void_p),
        ("state_bs", ctypes.c_int64),
        ("y", ctypes.c_void_p), ("y_ld", ctypes.c_int64), ("y_bs", ctypes.c_int64),
        ("cu_seqlens", ctypes.c_void_p), ("state_slots", ctypes.c_void_p),
        ("has_initial_state", ctypes.c_void_p), ("n_slots", ctypes.c_int64),
    ]


class Ssm1Args(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int64), ("seqlen", ctypes.c_int64),
        ("channels", ctypes.c_int64), ("d_state", ctypes.c_int64), ("n_groups", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("u", ctypes.c_void_p), ("u_ld", ctypes.c_int64), ("u_bs", ctypes.c_int64),
        ("dt", ctypes.c_void_p), ("dt_ld", ctypes.c_int64), ("dt_bs", ctypes.c_int64),
        ("b", ctypes.c_void_p), ("b_ld", ctypes.c_int64), ("b_bs", ctypes.c_int64),
        ("c", ctypes.c_void_p), ("c_ld", ctypes.c_int64), ("c_bs", ctypes.c_int64),
        ("z", ctypes.c_void_p), ("z_ld", ctypes.c_int64), ("z_bs", ctypes.c_int64),
        ("a", ctypes.c_void_p),
        ("dt_bias", ctypes.c_void_p),
        ("d_skip", ctypes.c_void_p),
        ("h_in", ctypes.c_void_p),
        ("h_out", ctypes.c_void_p),
        ("h_bs", ctypes.c_int64),
        ("y", ctypes.c_void_p), ("y_ld", ctypes.c_int64), ("y_bs", ctypes.c_int64),
        ("cu_seqlens", ctypes.c_void_p), ("state_slots", ctypes.c_void_p),
        ("has_initial_state", ctypes.c_void_p), ("n_slots", ctypes.c_int64),
    ]


subq_conv1d_args_default = _fn("subq_conv1d_args_default", None, ctypes.POINTER(Conv1dArgs), ctypes.c_size_t)
subq_conv1d_f32 = _fn("subq_conv1d_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Conv1dArgs))
subq_conv1d_update_f32 = _fn("subq_conv1d_update_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Conv1dArgs))
subq_ssm1_args_default = _fn("subq_ssm1_args_default", None, ctypes.POINTER(Ssm1Args), ctypes.c_size_t)
subq_ssm1_scan_f32 = _fn("subq_ssm1_scan_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Ssm1Args))
subq_ssm1_step_f32 = _fn("subq_ssm1_step_f32", ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Ssm1Args))
subq_ssm1_state_floats = _fn("subq_ssm1_state_floats", ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)
subq_ssm1_pack_a = _fn("subq_ssm1_pack_a", ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_bool, ctypes.c_void_p)
subq_ssm1_state_import = _fn("subq_ssm1_state_import", ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                             ctypes.c_void_p, ctypes.c_void_p)
subq_ssm1_state_export = _fn("subq_ssm1_state_export", ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                             ctypes.c_void_p, ctypes.c_void_p)


# ---- nn (RMSNorm, RoPE, elementwise, embedding) -----------------------------------------------
class RmsnormArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("rows", ctypes.c_int64), ("cols", ctypes.c_int64), ("group_size", ctypes.c_int64),
        ("eps", ctypes.c_float), ("weight_dtype", ctypes.c_int32),
        ("weight", ctypes.c_void_p),
        ("x", ctypes.c_void_p), ("x_ld", ctypes.c_int64),
        ("residual", ctypes.c_void_p), ("residual_ld", ctypes.c_int64),
        ("gate", ctypes.c_void_p), ("gate_ld", ctypes.c_int64),
        ("sum_out", ctypes.c_void_p), ("sum_ld", ctypes.c_int64),
        ("y", ctypes.c_void_p), ("y_ld", ctypes.c_int64),
    ]


class RopeParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("rot_dim", ctypes.c_int64),
        ("theta", ctypes.c_double),
        ("type", ctypes.c_int32),
        ("factor", ctypes.c_double), ("low_freq_factor", ctypes.c_double), ("high_freq_factor", ctypes.c_double),
        ("original_max_position_embeddings", ctypes.c_double),
        ("attention_scaling", ctypes.c_double),
        ("cached_positions", ctypes.c_int64),
        # appended after the first layout
        ("beta_fast", ctypes.c_double), ("beta_slow", ctypes.c_double), ("yarn_truncate", ctypes.c_int32),
        # appended after YaRN's fields
        ("dynamic_seq_len", ctypes.c_int64), ("longrope_factors", ctypes.c_void_p),
    ]


class RopeArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tokens", ctypes.c_int64), ("head_dim", ctypes.c_int64),
        ("table", ctypes.c_void_p), ("positions", ctypes.c_void_p),
        ("q", ctypes.c_void_p), ("q_heads", ctypes.c_int64), ("q_token_stride", ctypes.c_int64),
        ("q_head_stride", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_heads", ctypes.c_int64), ("k_token_stride", ctypes.c_int64),
        ("k_head_stride", ctypes.c_int64),
    ]


_i64, _vp, _i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int32
subq_rmsnorm_args_default = _fn("subq_rmsnorm_args_default", None, ctypes.POINTER(RmsnormArgs), ctypes.c_size_t)
subq_rmsnorm = _fn("subq_rmsnorm", _i32, _vp, ctypes.POINTER(RmsnormArgs))
subq_rope_params_default = _fn("subq_rope_params_default", None, ctypes.POINTER(RopeParams), ctypes.c_size_t)
subq_rope_inv_freq = _fn("subq_rope_inv_freq", _i32, ctypes.POINTER(RopeParams), _vp)
subq_rope_table_create = _fn("subq_rope_table_create", _i32, _vp, ctypes.POINTER(RopeParams),
                             ctypes.POINTER(ctypes.c_void_p))
subq_rope_table_destroy = _fn("subq_rope_table_destroy", None, _vp)
subq_rope_table_rot_dim = _fn("subq_rope_table_rot_dim", _i64, _vp)
subq_rope_table_cos_sin = _fn("subq_rope_table_cos_sin", _i32, _vp, _i64, _vp, _vp)
subq_rope_yarn_attention_factor = _fn("subq_rope_yarn_attention_factor", ctypes.c_double, ctypes.c_double,
                                      ctypes.c_double, ctypes.c_double)
subq_rope_args_default = _fn("subq_rope_args_default", None, ctypes.POINTER(RopeArgs), ctypes.c_size_t)
subq_rope = _fn("subq_rope", _i32, _vp, ctypes.POINTER(RopeArgs))
subq_swiglu = _fn("subq_swiglu", _i32, _vp, _i64, _i64, _vp, _i64, _vp, _i64, _vp, _i64)
subq_silu = _fn("subq_silu", _i32, _vp, _i64, _i64, _vp, _i64, _vp, _i64)
subq_add = _fn("subq_add", _i32, _vp, _i64, _i64, _vp, _i64, _vp, _i64, _vp, _i64)
subq_embedding = _fn("subq_embedding", _i32, _vp, _i32, _vp, _i64, _i64, _i64, _vp, _i64, _vp, _i64)


def new_args(struct_type, default_fn):
    """An args struct filled by the library's defaults getter."""
    s = struct_type()
    default_fn(ctypes.byref(s), ctypes.sizeof(s))
    return s


# ---- Mamba-2 (SSD scan, grouped gated RMSNorm) ------------------------------------------------
class Ssm2Args(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int64), ("seqlen", ctypes.c_int64),
        ("n_heads", ctypes.c_int64), ("head_dim", ctypes.c_int64),
        ("d_state", ctypes.c_int64), ("n_groups", ctypes.c_int64),
        ("flags", ctypes.c_uint32), ("algo", ctypes.c_int32),
        ("chunk", ctypes.c_int64),
        ("dt_min", ctypes.c_float), ("dt_max", ctypes.c_float),
        ("x", ctypes.c_void_p), ("x_ld", ctypes.c_int64), ("x_bs", ctypes.c_int64),
        ("dt", ctypes.c_void_p), ("dt_ld", ctypes.c_int64), ("dt_bs", ctypes.c_int64),
        ("b", ctypes.c_void_p), ("b_ld", ctypes.c_int64), ("b_bs", ctypes.c_int64),
        ("c", ctypes.c_void_p), ("c_ld", ctypes.c_int64), ("c_bs", ctypes.c_int64),
        ("a", ctypes.c_void_p),
        ("dt_bias", ctypes.c_void_p),
        ("d_skip", ctypes.c_void_p),
        ("h_in", ctypes.c_void_p),
        ("h_out", ctypes.c_void_p),
        ("h_bs", ctypes.c_int64),
        ("y", ctypes.c_void_p), ("y_ld", ctypes.c_int64), ("y_bs", ctypes.c_int64),
        ("cu_seqlens", ctypes.c_void_p), ("state_slots", ctypes.c_void_p),
        ("has_initial_state", ctypes.c_void_p), ("n_slots", ctypes.c_int64),
    ]


class GatedRmsnormArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("rows", ctypes.c_int64), ("width", ctypes.c_int64), ("group_size", ctypes.c_int64),
        ("eps", ctypes.c_float), ("flags", ctypes.c_uint32),
        ("y", ctypes.c_void_p), ("y_ld", ctypes.c_int64),
        ("z", ctypes.c_void_p), ("z_ld", ctypes.c_int64),
        ("weight", ctypes.c_void_p),
        ("out", ctypes.c_void_p), ("out_ld", ctypes.c_int64),
    ]


subq_ssm2_args_default = _fn("subq_ssm2_args_default", None, ctypes.POINTER(Ssm2Args), ctypes.c_size_t)
subq_ssm2_scan_f32 = _fn("subq_ssm2_scan_f32", _i32, _vp, ctypes.POINTER(Ssm2Args))
subq_ssm2_step_f32 = _fn("subq_ssm2_step_f32", _i32, _vp, ctypes.POINTER(Ssm2Args))
subq_ssm2_state_floats = _fn("subq_ssm2_state_floats", _i64, _i64, _i64, _i64)
subq_ssm2_state_import = _fn("subq_ssm2_state_import", _i32, _i64, _i64, _i64, _i64, _vp, _vp)
subq_ssm2_state_export = _fn("subq_ssm2_state_export", _i32, _i64, _i64, _i64, _i64, _vp, _vp)
subq_gated_rmsnorm_args_default = _fn("subq_gated_rmsnorm_args_default", None, ctypes.POINTER(GatedRmsnormArgs),
                                      ctypes.c_size_t)
subq_gated_rmsnorm_f32 = _fn("subq_gated_rmsnorm_f32", _i32, _vp, ctypes.POINTER(GatedRmsnormArgs))


# ---- KV cache ---------------------------------------------------------------------------------
class KvCacheArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dtype", ctypes.c_int32), ("mode", ctypes.c_int32),
        ("batch", ctypes.c_int64), ("hkv", ctypes.c_int64),
        ("dk", ctypes.c_int64), ("dv", ctypes.c_int64),
        ("capacity", ctypes.c_int64),
    ]


subq_kv_cache_args_default = _fn("subq_kv_cache_args_default", None, ctypes.POINTER(KvCacheArgs), ctypes.c_size_t)
subq_kv_cache_create = _fn("subq_kv_cache_create", _i32, ctypes.POINTER(KvCacheArgs), ctypes.POINTER(ctypes.c_void_p))
subq_kv_cache_destroy = _fn("subq_kv_cache_destroy", None, _vp)
subq_kv_cache_append = _fn("subq_kv_cache_append", _i32, _vp, _vp, _i64, _i64, _i64, _vp, _i64, _i64, _i64,
                           _vp, _i64, _i64, _i64)
subq_kv_cache_truncate = _fn("subq_kv_cache_truncate", _i32, _vp, _i64, _i64)
subq_kv_cache_reset = _fn("subq_kv_cache_reset", None, _vp)
subq_kv_cache_positions = _fn("subq_kv_cache_positions", _i32, _vp, _i64, c_int64_p, c_int64_p)
class KvCacheInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dtype", ctypes.c_int32), ("mode", ctypes.c_int32),
        ("batch", ctypes.c_int64), ("hkv", ctypes.c_int64),
        ("dk", ctypes.c_int64), ("dv", ctypes.c_int64), ("capacity", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_bs", ctypes.c_int64), ("k_hs", ctypes.c_int64), ("k_ss", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("v_bs", ctypes.c_int64), ("v_hs", ctypes.c_int64), ("v_ss", ctypes.c_int64),
    ]


subq_kv_cache_get_info = _fn("subq_kv_cache_get_info", _i32, _vp, ctypes.POINTER(KvCacheInfo))
subq_fattn_kv = _fn("subq_fattn_kv", _i32, _vp, ctypes.POINTER(FattnArgs), _vp)


# ---- safetensors ------------------------------------------------------------------------------
class SafetensorsTensor(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("name", ctypes.c_char_p), ("name_len", ctypes.c_size_t),
        ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 8),
        ("n_elements", ctypes.c_int64), ("n_bytes", ctypes.c_int64),
        ("data", ctypes.c_void_p),
        ("file_index", ctypes.c_int32), ("data_alignment", ctypes.c_uint32),
        ("file_offset", ctypes.c_int64),
    ]


_tp = ctypes.POINTER(ctypes.POINTER(SafetensorsTensor))
subq_safetensors_dtype_name = _fn("subq_safetensors_dtype_name", ctypes.c_char_p, _i32)
subq_safetensors_open = _fn("subq_safetensors_open", _i32, ctypes.c_char_p, ctypes.c_uint32,
                            ctypes.POINTER(ctypes.c_void_p))
subq_safetensors_open_dir = _fn("subq_safetensors_open_dir", _i32, ctypes.c_char_p, ctypes.c_uint32,
                                ctypes.POINTER(ctypes.c_void_p))
subq_safetensors_open_memory = _fn("subq_safetensors_open_memory", _i32, _vp, ctypes.c_size_t, ctypes.c_uint32,
                                   ctypes.POINTER(ctypes.c_void_p))
subq_safetensors_destroy = _fn("subq_safetensors_destroy", None, _vp)
subq_safetensors_count = _fn("subq_safetensors_count", _i64, _vp)
subq_safetensors_tensor_at = _fn("subq_safetensors_tensor_at", _i32, _vp, _i64, _tp)
subq_safetensors_get = _fn("subq_safetensors_get", _i32, _vp, ctypes.c_char_p, _tp)
subq_safetensors_find = _fn("subq_safetensors_find", _i64, _vp, ctypes.c_char_p)
subq_safetensors_file_count = _fn("subq_safetensors_file_count", _i32, _vp)
subq_safetensors_file_path = _fn("subq_safetensors_file_path", ctypes.c_char_p, _vp, _i32)
subq_safetensors_metadata_count = _fn("subq_safetensors_metadata_count", _i64, _vp, _i32)
subq_safetensors_metadata_at = _fn("subq_safetensors_metadata_at", _i32, _vp, _i32, _i64,
                                   ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p))


# ---- linear attention -------------------------------------------------------------------------
class LinattnArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int64), ("seqlen", ctypes.c_int64), ("n_heads", ctypes.c_int64),
        ("dim_qk", ctypes.c_int64), ("dim_v", ctypes.c_int64),
        ("feature_map", ctypes.c_int32), ("normalize", ctypes.c_int32),
        ("gate", ctypes.c_int32), ("causal", ctypes.c_int32),
        ("scale", ctypes.c_float), ("eps", ctypes.c_float), ("norm_eps", ctypes.c_float),
        ("chunk", ctypes.c_int64),
        ("q", ctypes.c_void_p), ("q_bs", ctypes.c_int64), ("q_ss", ctypes.c_int64), ("q_hs", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_bs", ctypes.c_int64), ("k_ss", ctypes.c_int64), ("k_hs", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("v_bs", ctypes.c_int64), ("v_ss", ctypes.c_int64), ("v_hs", ctypes.c_int64),
        ("log_gate", ctypes.c_void_p), ("g_bs", ctypes.c_int64), ("g_ss", ctypes.c_int64), ("g_hs", ctypes.c_int64),
        ("norm_weight", ctypes.c_void_p),
        ("state_in", ctypes.c_void_p),
        ("state_out", ctypes.c_void_p),
        ("state_bs", ctypes.c_int64),
        ("out", ctypes.c_void_p), ("o_bs", ctypes.c_int64), ("o_ss", ctypes.c_int64), ("o_hs", ctypes.c_int64),
    ]


subq_linattn_args_default = _fn("subq_linattn_args_default", None, ctypes.POINTER(LinattnArgs), ctypes.c_size_t)
subq_linattn_args_dense = _fn("subq_linattn_args_dense", None, ctypes.POINTER(LinattnArgs))
subq_linattn_feature_dim = _fn("subq_linattn_feature_dim", _i64, _i32, _i64)
subq_linattn_state_floats = _fn("subq_linattn_state_floats", _i64, ctypes.POINTER(LinattnArgs))
subq_linattn_feature_map_f32 = _fn("subq_linattn_feature_map_f32", _i32, _i32, _i64, ctypes.c_float, ctypes.c_bool,
                                   _i64, _vp, _i64, _vp, _i64)
subq_linattn_prefill_f32 = _fn("subq_linattn_prefill_f32", _i32, _vp, ctypes.POINTER(LinattnArgs))
subq_linattn_decode_f32 = _fn("subq_linattn_decode_f32", _i32, _vp, ctypes.POINTER(LinattnArgs))


# ---- Monarch / block-diagonal -----------------------------------------------------------------
class MonarchDesc(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("k", ctypes.c_int64), ("q", ctypes.c_int64), ("p", ctypes.c_int64),
        ("l", ctypes.c_int64), ("s", ctypes.c_int64), ("r", ctypes.c_int64),
        ("dtype", ctypes.c_int32), ("kind", ctypes.c_int32),
    ]


class MonarchArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tokens", ctypes.c_int64),
        ("x", ctypes.c_void_p), ("ldx", ctypes.c_int64),
        ("y", ctypes.c_void_p), ("ldy", ctypes.c_int64),
        ("bias", ctypes.c_void_p),
        ("stage1", ctypes.c_void_p), ("ldstage1", ctypes.c_int64),
    ]


class MonarchBackwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tokens", ctypes.c_int64),
        ("x", ctypes.c_void_p), ("ldx", ctypes.c_int64),
        ("grad_y", ctypes.c_void_p), ("ldgy", ctypes.c_int64),
        ("grad_x", ctypes.c_void_p), ("ldgx", ctypes.c_int64),
        ("grad_w1", ctypes.c_void_p),
        ("grad_w2", ctypes.c_void_p),
        ("grad_bias", ctypes.c_void_p),
        ("stage1", ctypes.c_void_p), ("ldstage1", ctypes.c_int64),
    ]


_mdp = ctypes.POINTER(MonarchDesc)
subq_monarch_desc_default = _fn("subq_monarch_desc_default", None, _mdp, ctypes.c_size_t)
subq_monarch_desc_check = _fn("subq_monarch_desc_check", _i32, _mdp, c_int64_p, c_int64_p)
subq_blockdiag_desc = _fn("subq_blockdiag_desc", _i32, _i64, _i64, _i64, _mdp)
subq_monarch_linear_shapes = _fn("subq_monarch_linear_shapes", _i32, _i64, _i64, _i64, _mdp, c_int64_p, c_int64_p)
subq_monarch_weights_create = _fn("subq_monarch_weights_create", _i32, _vp, _mdp, _vp, _vp,
                                  ctypes.POINTER(ctypes.c_void_p))
subq_monarch_weights_destroy = _fn("subq_monarch_weights_destroy", None, _vp)
subq_monarch_weights_get_desc = _fn("subq_monarch_weights_get_desc", None, _vp, _mdp)
subq_monarch_weights_size = _fn("subq_monarch_weights_size", ctypes.c_size_t, _vp)
subq_monarch_weights_ukernel = _fn("subq_monarch_weights_ukernel", ctypes.c_char_p, _vp)
subq_monarch_args_default = _fn("subq_monarch_args_default", None, ctypes.POINTER(MonarchArgs), ctypes.c_size_t)
subq_monarch_forward = _fn("subq_monarch_forward", _i32, _vp, _vp, ctypes.POINTER(MonarchArgs))
subq_monarch_backward_args_default = _fn("subq_monarch_backward_args_default", None,
                                         ctypes.POINTER(MonarchBackwardArgs), ctypes.c_size_t)
subq_monarch_backward = _fn("subq_monarch_backward", _i32, _vp, _vp, ctypes.POINTER(MonarchBackwardArgs))
subq_monarch_project_f64 = _fn("subq_monarch_project_f64", _i32, _vp, _i64, _i64, _i64, _mdp, ctypes.c_bool,
                               _vp, _vp, ctypes.POINTER(ctypes.c_double))
subq_monarch_to_dense_f64 = _fn("subq_monarch_to_dense_f64", _i32, _mdp, ctypes.c_bool, _vp, _vp, _vp, _i64)


# ---- ternary (1.58-bit) -----------------------------------------------------------------------
TERNARY_RMSNORM = 0x1


class TernaryActArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("rows", ctypes.c_int64), ("cols", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("eps", ctypes.c_float),
        ("rounding", ctypes.c_int32),
        ("x", ctypes.c_void_p), ("x_ld", ctypes.c_int64),
        ("norm_weight", ctypes.c_void_p),
        ("q", ctypes.c_void_p), ("q_ld", ctypes.c_int64),
        ("sums", ctypes.c_void_p),
        ("scales", ctypes.c_void_p),
    ]


class BitlinearArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tokens", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("eps", ctypes.c_float),
        ("rounding", ctypes.c_int32),
        ("x", ctypes.c_void_p), ("x_ld", ctypes.c_int64),
        ("norm_weight", ctypes.c_void_p),
        ("residual", ctypes.c_void_p), ("residual_ld", ctypes.c_int64),
        ("out", ctypes.c_void_p), ("out_ld", ctypes.c_int64),
    ]


class HgrnArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("tokens", ctypes.c_int64), ("channels", ctypes.c_int64),
        ("i", ctypes.c_void_p), ("i_ld", ctypes.c_int64),
        ("f", ctypes.c_void_p), ("f_ld", ctypes.c_int64),
        ("lower_bound", ctypes.c_void_p),
        ("state_in", ctypes.c_void_p),
        ("state_out", ctypes.c_void_p),
        ("gate", ctypes.c_void_p), ("gate_ld", ctypes.c_int64),
        ("gate_norm_weight", ctypes.c_void_p),
        ("eps", ctypes.c_float),
        ("out", ctypes.c_void_p), ("out_ld", ctypes.c_int64),
    ]


_hp = ctypes.POINTER(ctypes.c_void_p)
subq_ternary_quantize = _fn("subq_ternary_quantize", _i32, _vp, _i64, _i64, _i32, _vp, _i64, _i32, _hp)
subq_ternary_from_codes = _fn("subq_ternary_from_codes", _i32, _i64, _i64, _vp, _i64, _i32, _vp, _hp)
subq_ternary_from_ternarized = _fn("subq_ternary_from_ternarized", _i32, _i64, _i64, _i32, _vp, _i64, _i32, _hp)
subq_ternary_from_hf = _fn("subq_ternary_from_hf", _i32, _i64, _i64, _vp, ctypes.c_float, _i32, _hp)
subq_ternary_from_blob = _fn("subq_ternary_from_blob", _i32, _vp, ctypes.c_size_t, _hp)
subq_ternary_destroy = _fn("subq_ternary_destroy", None, _vp)
subq_ternary_place = _fn("subq_ternary_place", ctypes.c_int32, _vp, _vp)
subq_ternary_blob = _fn("subq_ternary_blob", _vp, _vp, ctypes.POINTER(ctypes.c_size_t))
subq_ternary_rows = _fn("subq_ternary_rows", _i64, _vp)
subq_ternary_cols = _fn("subq_ternary_cols", _i64, _vp)
subq_ternary_scale_mode = _fn("subq_ternary_scale_mode", _i32, _vp)
subq_ternary_to_codes = _fn("subq_ternary_to_codes", _i32, _vp, _vp, _i64, _vp)
subq_ternary_act_args_default = _fn("subq_ternary_act_args_default", None, ctypes.POINTER(TernaryActArgs),
                                    ctypes.c_size_t)
subq_ternary_act_quant = _fn("subq_ternary_act_quant", _i32, _vp, ctypes.POINTER(TernaryActArgs))
subq_ternary_matmul_i32 = _fn("subq_ternary_matmul_i32", _i32, _vp, _vp, _i64, _vp, _i64, _vp, _i64)
subq_bitlinear_args_default = _fn("subq_bitlinear_args_default", None, ctypes.POINTER(BitlinearArgs), ctypes.c_size_t)
subq_bitlinear = _fn("subq_bitlinear", _i32, _vp, _vp, ctypes.POINTER(BitlinearArgs))
subq_hgrn_args_default = _fn("subq_hgrn_args_default", None, ctypes.POINTER(HgrnArgs), ctypes.c_size_t)
subq_hgrn_f32 = _fn("subq_hgrn_f32", _i32, _vp, ctypes.POINTER(HgrnArgs))
subq_hgrn_step_f32 = _fn("subq_hgrn_step_f32", _i32, _vp, ctypes.POINTER(HgrnArgs))
