import numpy as np
import pytest

import subq


def silu64(x):
    return x / (1.0 + np.exp(-x))


def close(x, r, rtol=2e-6, atol=1e-6):
    assert x.shape == r.shape, (x.shape, r.shape)
    assert np.all(np.abs(x - r) <= atol + rtol * np.abs(r)), np.abs(x - r).max()


def rms_ref(x, w, eps, residual=None, gate=None, group=0):
    s = x.astype(np.float64) + (0 if residual is None else residual)
    v = s * (1 if gate is None else silu64(gate.astype(np.float64)))
    cols = x.shape[-1]
    g = group or cols
    vg = v.reshape(v.shape[:-1] + (cols // g, g))
    y = (vg / np.sqrt((vg ** 2).mean(-1, keepdims=True) + eps)).reshape(v.shape)
    return (y if w is None else y * w), s


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 129), (257,)])
def test_rmsnorm_plain(ctx, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape[-1]).astype(np.float32)
    close(subq.rmsnorm(x, w, eps=1e-5, ctx=ctx), rms_ref(x, w, 1e-5)[0])
    close(subq.rmsnorm(x, None, ctx=ctx), rms_ref(x, None, 1e-6)[0])


def test_rmsnorm_residual_gate_groups(ctx, rng):
    x = rng.standard_normal((5, 48)).astype(np.float32)
    res = rng.standard_normal((5, 48)).astype(np.float32)
    gate = rng.standard_normal((5, 48)).astype(np.float32)
    w = rng.standard_normal(48).astype(np.float32)
    y, s = subq.rmsnorm(x, w, residual=res, gate=gate, group_size=16, sum_out=True, ctx=ctx)
    ry, rs = rms_ref(x, w, 1e-6, res, gate, 16)
    close(y, ry)
    close(s, rs)
    # in place: the new residual stream written over x, y over res
    x2, r2 = x.copy(), res.copy()
    y2, s2 = subq.rmsnorm(x2, w, residual=r2, sum_out=x2, out=r2, ctx=ctx)
    assert y2 is r2 and s2 is x2
    close(s2, x.astype(np.float64) + res)
    close(y2, rms_ref(x, w, 1e-6, res)[0])


def test_rmsnorm_bf16_f16_weight_and_views(ctx, rng):
    wide = rng.standard_normal((4, 3, 40)).astype(np.float32)
    x = wide[:, :, 8:40]  # a column slice of a wider projection: one row stride
    w = rng.standard_normal(32).astype(np.float32)
    wb = subq.to_bf16(w)
    close(subq.rmsnorm(x, wb, ctx=ctx), rms_ref(x, subq.from_bf16(wb).astype(np.float64), 1e-6)[0])
    wh = w.astype(np.float16)
    close(subq.rmsnorm(x, wh, ctx=ctx), rms_ref(x, wh.astype(np.float64), 1e-6)[0])


def test_rmsnorm_bad_inputs(rng):
    x = rng.standard_normal((3, 12)).astype(np.float32)
    with pytest.raises(ValueError, match="float32"):
        subq.rmsnorm(x.astype(np.float64))
    with pytest.raises(ValueError, match="weight"):
        subq.rmsnorm(x, np.ones(11, np.float32))
    with pytest.raises(ValueError, match="innermost stride"):
        subq.rmsnorm(x[:, ::2])
    with pytest.raises(ValueError, match="collapse"):
        subq.rmsnorm(rng.standard_normal((2, 3, 8)).astype(np.float32)[:, :2])
    with pytest.raises(subq.SubQError, match="group_size"):
        subq.rmsnorm(x, group_size=5)
    with pytest.raises(subq.SubQError, match="eps"):
        subq.rmsnorm(x, eps=-1.0)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.empty_like(x)
        ro.flags.writeable = False
        subq.rmsnorm(x, out=ro)


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (2, 3, 100)])
def test_elementwise(ctx, rng, shape):
    a = rng.standard_normal(shape).astype(np.float32) * 4
    b = rng.standard_normal(shape).astype(np.float32)
    a64 = a.astype(np.float64)
    close(subq.silu(a, ctx=ctx), silu64(a64))
    close(subq.add(a, b, ctx=ctx), a64 + b)
    close(subq.swiglu(a, b, ctx=ctx), silu64(a64) * b)
    fused = np.concatenate([a, b], axis=-1)
    close(subq.swiglu(fused, ctx=ctx), silu64(a64) * b)  # [gate | up] halves as views
    c = a.copy()
    assert subq.silu(c, out=c, ctx=ctx) is c
    close(c, silu64(a64))


def test_elementwise_bad_inputs(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="differ in shape"):
        subq.add(a, a[:, :3])
    with pytest.raises(ValueError, match="even"):
        subq.swiglu(a[:, :3])
    with pytest.raises(ValueError, match="out"):
        subq.silu(a, out=np.empty((3, 5), np.float32))
    with pytest.raises(ValueError, match="float32"):
        subq.silu(a.astype(np.float16))


def test_embedding(ctx, rng):
    table = rng.standard_normal((50, 24)).astype(np.float32)
    ids = np.array([[0, 49, 7], [7, 3, 1]], dtype=np.int64)
    close(subq.embedding(table, ids, ctx=ctx), table[ids].astype(np.float64), 0, 0)
    tb = subq.to_bf16(table)
    close(subq.embedding(tb, ids, ctx=ctx), subq.from_bf16(tb)[ids].astype(np.float64), 0, 0)
    th = table.astype(np.float16)
    close(subq.embedding(th, [3, 4], ctx=ctx), th[[3, 4]].astype(np.float64), 0, 0)
    assert subq.embedding(table, np.zeros(0, np.int64), ctx=ctx).shape == (0, 24)
    with pytest.raises(subq.SubQError, match=r"ids\[1\] \(50\)"):
        subq.embedding(table, [1, 50])
    with pytest.raises(ValueError, match="int64"):
        subq.embedding(table, np.array([1, 2], np.int32))


def rope_ref(x, pos, rot, theta, scaling=1.0):
    x = x.astype(np.float64).copy()
    inv = 1.0 / theta ** (np.arange(0, rot, 2) / rot)
    ang = pos[:, None] * inv[None]
    c, s = np.cos(ang)[:, None] * scaling, np.sin(ang)[:, None] * scaling
    h = rot // 2
    a, b = x[..., :h].copy(), x[..., h:rot].copy()
    x[..., :h] = a * c - b * s
    x[..., h:rot] = b * c + a * s
    return x


@pytest.mark.parametrize("tokens,hq,hkv,d,rot", [(1, 1, 1, 2, 2), (9, 4, 2, 64, 64), (5, 3, 1, 80, 40)])
def test_rope(ctx, rng, tokens, hq, hkv, d, rot):
    qkv = rng.standard_normal((tokens, hq + 2 * hkv, d)).astype(np.float32)
    q, k = qkv[:, :hq], qkv[:, hq:hq + hkv]  # views of a fused projection: rotated in place
    q0, k0 = q.copy(), k.copy()
    pos = np.arange(100, 100 + tokens, dtype=np.int64)[::-1].copy()
    with subq.RopeTable(rot, 10000.0, cached_positions=50, ctx=ctx) as t:
        assert t.rot_dim == rot
        t.apply(q, k, pos, ctx=ctx)
        close(q, rope_ref(q0, pos, rot, 10000.0), 2e-5, 2e-5)
        close(k, rope_ref(k0, pos, rot, 10000.0), 2e-5, 2e-5)
        assert np.array_equal(qkv[:, hq + hkv:], qkv[:, hq + hkv:])
        c, s = t.cos_sin(3)
        close(c, np.cos(3 * (1.0 / 10000.0 ** (np.arange(0, rot, 2) / rot))), 1e-5, 1e-6)
        assert t.inv_freq().shape == (rot // 2,)
    with pytest.raises(ValueError, match="after close"):
        t.apply(q, None, pos)


def test_rope_linear_scaling_and_bad_inputs(ctx, rng):
    q = rng.standard_normal((3, 2, 16)).astype(np.float32)
    pos = np.array([0, 5, 70], np.int64)
    t = subq.RopeTable(16, 500.0, rope_type="linear", factor=2.0, attention_scaling=0.5)
    q0 = q.copy()
    t.apply(q, None, pos, ctx=ctx)
    close(q, rope_ref(q0, pos / 2.0, 16, 500.0, 0.5), 2e-5, 2e-5)
    with pytest.raises(subq.SubQError, match="rot_dim"):
        subq.RopeTable(7)
    with pytest.raises(ValueError, match="rope_type"):
        subq.RopeTable(8, rope_type="ntk")
    with pytest.raises(ValueError, match="positions"):
        t.apply(q, None, [0, 1])
    with pytest.raises(subq.SubQError, match="position"):
        t.apply(q, None, np.array([0, -1, 2], np.int64))
    with pytest.raises(subq.SubQError, match="head_dim"):
        t.apply(q[:, :, :8], None, pos)
    t.close()
    t.close()  # idempotent


def yarn_inv_freq_f32(rot, theta, factor, orig, beta_fast=32.0, beta_slow=1.0, truncate=True):
    """NumPy transcription of transformers' _compute_yarn_parameters in float32, one rounding
    per torch op (the power rounded once from float64, as the C library documents)."""
    import math
    f32 = np.float32
    e = np.arange(0, rot, 2).astype(f32) / f32(rot)
    pw = (float(f32(theta)) ** e.astype(np.float64)).astype(f32)
    extrap = f32(1) / pw
    interp = f32(1) / (f32(factor) * pw)

    def corr(b):
        return (rot * math.log(orig / (b * 2 * math.pi))) / (2 * math.log(theta))

    low, high = corr(beta_fast), corr(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rot - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(rot // 2).astype(f32) - f32(low)) / f32(high - low), f32(0), f32(1))
    ef = f32(1) - ramp
    return interp * (f32(1) - ef) + extrap * ef


# transformers 5.23 _compute_yarn_parameters, D128 theta 1e4 factor 4 original 2048 (Tests/C golden)
HF_YARN_D128_F4 = [
    0x3f800000, 0x3f5dafd7, 0x3f3ff911, 0x3f263de0, 0x3f0ff59a, 0x3ef953cf, 0x3ed7e89b, 0x3ebaf81b, 0x3ea1e89b,
    0x3e8c3504, 0x3e72d423, 0x3e5247ed, 0x3e361887, 0x3e1db040, 0x3e088d77, 0x3dec7fd6, 0x3dcccccd, 0x3dac076d,
    0x3d905d16, 0x3d720c44, 0x3d4ab1de, 0x3d298ae9, 0x3d0da2d4, 0x3cec5439, 0x3cc4e182, 0x3ca3c30a, 0x3c87fbeb,
    0x3c616bd4, 0x3c3a7753, 0x3c19e76a, 0x3bfd710f, 0x3bd01e92, 0x3baa64c3, 0x3b8b0ac1, 0x3b62113a, 0x3b36ffb6,
    0x3b136a16, 0x3aec29b4, 0x3abbed46, 0x3a9460f4, 0x3a681cbb, 0x3a33770f, 0x3a1b690d, 0x3a06946f, 0x39e91528,
    0x39c9d75c, 0x39aec98e, 0x39975c0e, 0x3983126f, 0x396301e2, 0x3944948c, 0x392a3b44, 0x39136a16, 0x38ff4fac,
    0x38dd1725, 0x38bf74d7, 0x38a5cb60, 0x388f9272, 0x3878a815, 0x385753e4, 0x383a7753, 0x38217916, 0x380bd472,
    0x37f22ce2]


def test_rope_yarn(ctx, rng):
    t = subq.RopeTable(128, 10000.0, rope_type="yarn", factor=4.0, original_max_position_embeddings=2048)
    inv = t.inv_freq()
    hf = np.array(HF_YARN_D128_F4, np.uint32).view(np.float32)
    ulps = np.abs(inv.view(np.int32).astype(np.int64) - hf.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and (ulps == 0).sum() >= 48, (ulps.max(), (ulps == 0).sum())
    assert np.array_equal(inv.view(np.uint32), yarn_inv_freq_f32(128, 1e4, 4.0, 2048).view(np.uint32))
    for kw in (dict(rot=64, theta=1e4, factor=16.0, orig=4096, beta_fast=16.0, beta_slow=2.0, truncate=False),
               dict(rot=96, theta=1e6, factor=40.0, orig=4096),
               dict(rot=32, theta=1e4, factor=4.0, orig=64, beta_fast=2.0, beta_slow=2.0, truncate=False)):
        u = subq.RopeTable(kw["rot"], kw["theta"], rope_type="yarn", factor=kw["factor"],
                           original_max_position_embeddings=kw["orig"], beta_fast=kw.get("beta_fast", 32.0),
                           beta_slow=kw.get("beta_slow", 1.0), truncate=kw.get("truncate", True))
        assert np.array_equal(u.inv_freq().view(np.uint32), yarn_inv_freq_f32(**kw).view(np.uint32)), kw
    # attention_factor inferred as HF does (get_mscale), and applied to cos/sin
    assert abs(subq.yarn_attention_factor(4.0) - 1.138629436111989) < 1e-15
    assert abs(subq.yarn_attention_factor(40.0, 1.0, 0.707) - 1.0857263992561355) < 1e-15
    assert subq.yarn_attention_factor(0.5) == 1.0
    with pytest.raises(ValueError, match="factor"):
        subq.yarn_attention_factor(0.0)
    one = subq.RopeTable(128, 10000.0, rope_type="yarn", factor=4.0, original_max_position_embeddings=2048,
                         attention_scaling=1.0)
    c1, s1 = one.cos_sin(3000)
    c, s = t.cos_sin(3000)
    af = np.float32(1.138629436111989)
    assert np.array_equal(c, c1 * af) and np.array_equal(s, s1 * af)
    # apply vs float64 rotation with the transcribed frequencies
    q = rng.standard_normal((4, 2, 128)).astype(np.float32)
    q0, pos = q.copy(), np.array([0, 63, 64, 5000], np.int64)
    t.apply(q, None, pos, ctx=ctx)
    ang = (pos.astype(np.float32)[:, None] * inv[None]).astype(np.float64)  # HF's f32 angle
    c, s = np.cos(ang)[:, None] * 1.138629436111989, np.sin(ang)[:, None] * 1.138629436111989
    a, b = q0[..., :64].astype(np.float64), q0[..., 64:].astype(np.float64)
    close(q, np.concatenate([a * c - b * s, b * c + a * s], -1), 1e-4, 1e-5)
    with pytest.raises(subq.SubQError, match="beta_fast"):
        subq.RopeTable(8, rope_type="yarn", factor=4.0, beta_fast=0.0)
    with pytest.raises(subq.SubQError, match="beta_slow"):
        subq.RopeTable(8, rope_type="yarn", factor=4.0, beta_slow=float("nan"))


def test_rope_params_old_struct_size():
    """A caller with the 0.1 subq_rope_params (ending at cached_positions) keeps working."""
    import ctypes
    from subq import _lib
    p = _lib.new_args(_lib.RopeParams, _lib.subq_rope_params_default)
    p.rot_dim, p.type, p.factor, p.original_max_position_embeddings = 128, 3, 4.0, 2048.0
    p.beta_fast = 1e300  # beyond the old size: must be ignored (defaults 32 / 1 / truncate)
    p.struct_size = _lib.RopeParams.beta_fast.offset
    out = np.empty(64, np.float32)
    _lib.check(_lib.subq_rope_inv_freq(ctypes.byref(p), out.ctypes.data))
    assert np.array_equal(out.view(np.uint32), yarn_inv_freq_f32(128, 1e4, 4.0, 2048).view(np.uint32))


def default_inv_freq_f32(rot, base):
    """1 / base^(2i / rot) in float32, the power rounded once from float64 (subq_nn.h)."""
    f32 = np.float32
    e = np.arange(0, rot, 2).astype(f32) / f32(rot)
    return f32(1) / (float(f32(base)) ** e.astype(np.float64)).astype(f32)


def test_rope_dynamic(ctx, rng):
    f32 = np.float32
    rot, theta, factor, L, S = 16, 10000.0, 2.0, 32.0, 48
    b = f32(factor) * f32(S) / f32(L) - f32(factor - 1.0)
    base = f32(f32(theta) * f32(float(b) ** (rot / (rot - 2.0))))  # the header's grown base
    t = subq.RopeTable(rot, theta, rope_type="dynamic", factor=factor, original_max_position_embeddings=L,
                       seq_len=S, cached_positions=4)
    inv = t.inv_freq()
    assert np.array_equal(inv.view(np.uint32), default_inv_freq_f32(rot, base).view(np.uint32))
    assert not np.array_equal(inv, default_inv_freq_f32(rot, theta))
    kept = subq.RopeTable(rot, theta, rope_type="dynamic", factor=factor, original_max_position_embeddings=L,
                          seq_len=20)
    assert np.array_equal(kept.inv_freq().view(np.uint32), default_inv_freq_f32(rot, theta).view(np.uint32))
    for pos in (2, 41):  # a cached row and one computed per call
        c, s = t.cos_sin(pos)
        ang = (f32(pos) * inv).astype(np.float64)
        assert np.array_equal(c, np.cos(ang).astype(f32)) and np.array_equal(s, np.sin(ang).astype(f32)), pos
    q = rng.standard_normal((2, 1, rot)).astype(np.float32)
    q0, pos = q.copy(), np.array([3, 47], np.int64)
    t.apply(q, None, pos, ctx=ctx)
    ang = (pos.astype(f32)[:, None] * inv[None]).astype(np.float64)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    a, bb = q0[..., :rot // 2].astype(np.float64), q0[..., rot // 2:].astype(np.float64)
    close(q, np.concatenate([a * c - bb * s, bb * c + a * s], -1), 1e-5, 1e-6)
    with pytest.raises(subq.SubQError, match=r"dynamic_seq_len \(-1\) < 0"):
        subq.RopeTable(rot, rope_type="dynamic", factor=2.0, original_max_position_embeddings=L, seq_len=-1)
    with pytest.raises(subq.SubQError, match="rot_dim > 2"):
        subq.RopeTable(2, rope_type="dynamic", factor=2.0)


def test_rope_longrope():
    f32 = np.float32
    rot, theta = 8, 10000.0
    factors = [1.0, 1.5, 3.25, 7.0]
    t = subq.RopeTable(rot, theta, rope_type="longrope", longrope_factors=factors, attention_scaling=1.25)
    e = np.arange(0, rot, 2).astype(f32) / f32(rot)
    pw = (float(f32(theta)) ** e.astype(np.float64)).astype(f32)
    want = f32(1) / (np.array(factors, f32) * pw)
    inv = t.inv_freq()
    assert np.array_equal(inv.view(np.uint32), want.view(np.uint32))
    c, s = t.cos_sin(5)
    ang = (f32(5) * inv).astype(np.float64)
    assert np.array_equal(c, np.cos(ang).astype(f32) * f32(1.25))
    assert np.array_equal(s, np.sin(ang).astype(f32) * f32(1.25))
    with pytest.raises(ValueError, match="rot_dim / 2 = 4"):
        subq.RopeTable(rot, rope_type="longrope", longrope_factors=[1.0, 1.0, 1.0])
    with pytest.raises(subq.SubQError, match=r"longrope_factors\[2\] \(-1\) is not a finite value > 0"):
        subq.RopeTable(rot, rope_type="longrope", longrope_factors=[1.0, 1.0, -1.0, 1.0])
    with pytest.raises(subq.SubQError, match="longrope_factors is NULL"):
        subq.RopeTable(rot, rope_type="longrope")
