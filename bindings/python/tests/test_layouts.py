"""The ctypes structs mirror the C headers field for field: a C probe compiled
against Include/ prints sizeof and every offsetof and member size, compared with ctypes."""
import ctypes
import math
import os
import shutil
import subprocess

import pytest

from subq import _lib

STRUCTS = {
    "subq_context_params": _lib.ContextParams, "subq_gemm_args": _lib.GemmArgs, "subq_fattn_args": _lib.FattnArgs,
    "subq_conv1d_args": _lib.Conv1dArgs, "subq_ssm1_args": _lib.Ssm1Args, "subq_ssm2_args": _lib.Ssm2Args,
    "subq_gated_rmsnorm_args": _lib.GatedRmsnormArgs, "subq_rmsnorm_args": _lib.RmsnormArgs,
    "subq_rope_params": _lib.RopeParams, "subq_rope_args": _lib.RopeArgs, "subq_kv_cache_args": _lib.KvCacheArgs,
    "subq_safetensors_tensor": _lib.SafetensorsTensor, "subq_linattn_args": _lib.LinattnArgs,
    "subq_monarch_desc": _lib.MonarchDesc, "subq_monarch_args": _lib.MonarchArgs,
    "subq_monarch_backward_args": _lib.MonarchBackwardArgs, "subq_ternary_act_args": _lib.TernaryActArgs,
    "subq_bitlinear_args": _lib.BitlinearArgs, "subq_hgrn_args": _lib.HgrnArgs,
    "subq_kv_cache_info": _lib.KvCacheInfo,
}
INCLUDE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Include")


def test_struct_layouts_match_the_c_headers(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if not cc or not os.path.exists(os.path.join(INCLUDE, "subq.h")):
        pytest.skip("no C compiler or no Include/ next to the bindings")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "subq.h"', "int main(void) {"]
    for cname, st in STRUCTS.items():
        lines.append('printf("%s sizeof %%zu\\n", sizeof(%s));' % (cname, cname))
        for f in st._fields_:
            lines.append('printf("%s %s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                         % (cname, f[0], cname, f[0], cname, f[0]))
    lines.append("return 0; }")
    src = tmp_path / "probe.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "probe"
    subprocess.run([cc, "-std=c11", "-I", INCLUDE, str(src), "-o", str(exe)], check=True)
    got = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines():
        s, f, *v = line.split()
        got[(s, f)] = tuple(int(x) for x in v)
    for cname, st in STRUCTS.items():
        assert (ctypes.sizeof(st),) == got[(cname, "sizeof")], cname
        for f in st._fields_:
            d = getattr(st, f[0])
            assert (d.offset, d.size) == got[(cname, f[0])], (cname, f[0])


def test_defaults_land_in_the_documented_fields():
    f = _lib.new_args(_lib.FattnArgs, _lib.subq_fattn_args_default)
    assert (f.window_left, f.window_right, f.q_dtype, f.kv_dtype, f.out_dtype) == (-1, -1, 1, 1, 1)
    s = _lib.new_args(_lib.Ssm2Args, _lib.subq_ssm2_args_default)
    assert (s.n_groups, s.flags, s.dt_min, s.dt_max) == (1, 1, 0.0, math.inf)
    r = _lib.new_args(_lib.RopeParams, _lib.subq_rope_params_default)
    assert (r.theta, r.factor, r.low_freq_factor, r.high_freq_factor, r.original_max_position_embeddings,
            r.attention_scaling) == (10000.0, 1.0, 1.0, 4.0, 8192.0, 1.0)
    g = _lib.new_args(_lib.GatedRmsnormArgs, _lib.subq_gated_rmsnorm_args_default)
    assert g.eps == pytest.approx(1e-5)
    n = _lib.new_args(_lib.RmsnormArgs, _lib.subq_rmsnorm_args_default)
    assert n.eps == pytest.approx(1e-6) and n.weight_dtype == 1
    assert _lib.new_args(_lib.KvCacheArgs, _lib.subq_kv_cache_args_default).dtype == 1
    assert _lib.new_args(_lib.Conv1dArgs, _lib.subq_conv1d_args_default).width == 4
    la = _lib.new_args(_lib.LinattnArgs, _lib.subq_linattn_args_default)
    assert (la.feature_map, la.normalize, la.gate, la.causal, la.scale, la.chunk) == (2, 1, 0, 1, 0.0, 0)
    assert la.eps == pytest.approx(1e-6) and la.norm_eps == pytest.approx(1e-5)
    md = _lib.new_args(_lib.MonarchDesc, _lib.subq_monarch_desc_default)
    assert (md.dtype, md.kind, md.k, md.r) == (1, 0, 0, 0)
    for st, fn in ((_lib.TernaryActArgs, _lib.subq_ternary_act_args_default),
                   (_lib.BitlinearArgs, _lib.subq_bitlinear_args_default),
                   (_lib.HgrnArgs, _lib.subq_hgrn_args_default)):
        a = _lib.new_args(st, fn)
        assert a.eps == pytest.approx(1e-6) and a.struct_size == ctypes.sizeof(st)
