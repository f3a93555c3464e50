"""Linear attention against a float64 quadratic reference of subq_linattn.h's math.

Tolerances are the header's / spec §10: rel-RMS <= 1e-5 and every element
within 1e-4 * max|ref| + 1e-6 against fp64; split calls vs one call rel-RMS <= 1e-5."""
import math

import numpy as np
import pytest

import subq
from subq import SubQError


# ---- float64 reference ------------------------------------------------------------------------
def phi(x, fmap, scale, is_query):
    """The header's feature maps on (..., dk) float64."""
    x = np.asarray(x, np.float64)
    dk = x.shape[-1]
    sc = scale if scale > 0 else dk ** -0.5
    if fmap == "identity":
        return sc * x if is_query else x.copy()
    if fmap == "elu1":
        return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
    xt = math.sqrt(sc) * x
    iu, ju = np.triu_indices(dk, 1)
    return np.concatenate([np.ones(x.shape[:-1] + (1,)), xt, xt * xt / math.sqrt(2.0), xt[..., iu] * xt[..., ju]],
                          axis=-1)


def reference(q, k, v, *, fmap="taylor", norm="denom", norm_weight=None, gate=None, log_gate=None, causal=True,
              scale=0.0, eps=1e-6, norm_eps=1e-5, state=None):
    """out (B, T, H, dv) and the state after the tokens (B, floats) in the header's layout,
    by the quadratic form: weights w_{t,j} = exp(G_t - G_j), G the inclusive cumsum of the log gates."""
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    Pq, Pk = phi(q, fmap, scale, True), phi(k, fmap, scale, False)  # (B, T, H, D)
    D = Pq.shape[-1]
    if gate is None:
        G = np.zeros((B, T, H, 1))
    else:
        g = np.asarray(log_gate, np.float64)
        G = np.cumsum(g[..., None] if gate == "scalar" else g, axis=1)  # (B, T, H, 1 or dk)
    denom = norm == "denom"
    sf = H * D * dv + (H * D if denom else 0)
    out = np.zeros((B, T, H, dv))
    st_out = np.zeros((B, sf))
    mask = np.tril(np.ones((T, T))) if causal else np.ones((T, T))
    for b in range(B):
        for h in range(H):
            Gh = np.broadcast_to(G[b, :, h], (T, D))
            S0 = np.zeros((D, dv)) if state is None else state[b, h * D * dv:(h + 1) * D * dv].reshape(D, dv)
            s0 = np.zeros(D) if state is None or not denom else state[b, H * D * dv + h * D:H * D * dv + (h + 1) * D]
            qt = Pq[b, :, h] * np.exp(Gh)             # phi_q(q_t) * exp(G_t)
            kj = Pk[b, :, h] * np.exp(-Gh)            # phi_k(k_j) * exp(-G_j)
            A = (qt @ kj.T) * mask                    # kappa_{t,j} w_{t,j}
            y = A @ v[b, :, h] + qt @ S0
            z = A.sum(axis=1) + qt @ s0
            if norm == "denom":
                o = y / (z + eps)[:, None]
            elif norm == "rmsnorm":
                o = y / np.sqrt((y * y).mean(axis=1, keepdims=True) + norm_eps)
                if norm_weight is not None:
                    o = o * norm_weight
            else:
                o = y
            out[b, :, h] = o
            decay = np.exp(Gh[-1] - Gh)               # prod_{s=j+1..T-1} a_s per feature
            S = (Pk[b, :, h] * decay).T @ v[b, :, h] + np.exp(Gh[-1])[:, None] * S0
            st_out[b, h * D * dv:(h + 1) * D * dv] = S.reshape(-1)
            if denom:
                st_out[b, H * D * dv + h * D:H * D * dv + (h + 1) * D] = (Pk[b, :, h] * decay).sum(0) + \
                    np.exp(Gh[-1]) * s0
    return out, st_out


def rel_rms(got, ref):
    ref = np.asarray(ref, np.float64)
    d = np.asarray(got, np.float64) - ref
    return math.sqrt((d * d).sum() / max((ref * ref).sum(), 1e-300))


def assert_close(got, ref, what="out"):
    e = rel_rms(got, ref)
    assert e <= 1e-5, "%s: rel-RMS %.3g" % (what, e)
    bound = 1e-4 * np.abs(ref).max() + 1e-6
    worst = np.abs(np.asarray(got, np.float64) - ref).max()
    assert worst <= bound, "%s: max error %.3g > %.3g" % (what, worst, bound)


def make(rng, B, T, H, dk, dv, gate=None, qk_scale=1.0):
    q = (rng.standard_normal((B, T, H, dk)) * qk_scale).astype(np.float32)
    k = (rng.standard_normal((B, T, H, dk)) * qk_scale).astype(np.float32)
    v = rng.standard_normal((B, T, H, dv)).astype(np.float32)
    g = None
    if gate == "scalar":
        g = -rng.uniform(0.0, 0.4, (B, T, H)).astype(np.float32)
    elif gate == "per_key":
        g = -rng.uniform(0.0, 0.4, (B, T, H, dk)).astype(np.float32)
    return q, k, v, g


# (feature map, normalize, gate, causal). IDENTITY with DENOM is left out: the header calls it unsafe (z crosses 0).
CONFIGS = [
    ("taylor", "denom", None, True), ("taylor", "none", None, True), ("taylor", "rmsnorm", "scalar", True),
    ("taylor", "denom", "scalar", True), ("identity", "none", "per_key", True), ("identity", "rmsnorm", "scalar", True),
    ("elu1", "denom", "per_key", True), ("elu1", "denom", "scalar", True), ("identity", "none", None, False),
    ("elu1", "denom", None, False), ("taylor", "denom", None, False),
]
SHAPES = [(2, 1, 3, 8, 12), (1, 5, 2, 16, 64), (2, 70, 2, 8, 12), (1, 70, 1, 16, 64)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B%dT%dH%ddk%ddv%d" % s)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "%s-%s-%s-%s" % (c[0], c[1], c[2], "causal" if c[3] else "full"))
def test_prefill_matches_the_reference(ctx, rng, cfg, shape):
    fmap, norm, gate, causal = cfg
    B, T, H, dk, dv = shape
    q, k, v, g = make(rng, B, T, H, dk, dv, gate, qk_scale=0.5 if fmap == "identity" else 1.0)
    w = rng.uniform(0.5, 1.5, dv).astype(np.float32) if norm == "rmsnorm" else None
    so = subq.linattn_state_zeros(B, H, dk, dv, feature_map=fmap, normalize=norm)
    so[:] = np.nan  # every float must be written
    chunk = 16 if T == 70 and dk == 8 else 0  # several chunks of 16 and the default 64 (one full + a tail)
    out = subq.linattn_prefill(q, k, v, feature_map=fmap, normalize=norm, norm_weight=w, gate=gate, log_gate=g,
                               causal=causal, chunk=chunk, state_out=so, ctx=ctx)
    assert out.shape == (B, T, H, dv) and out.dtype == np.float32
    ro, rs = reference(q, k, v, fmap=fmap, norm=norm, norm_weight=w, gate=gate, log_gate=g, causal=causal)
    assert_close(out, ro)
    assert_close(so, rs, "state")


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[3]], ids=lambda c: "%s-%s-%s" % c[:3])
def test_prefill_then_decode_equals_one_prefill(ctx, rng, cfg):
    fmap, norm, gate, _ = cfg
    B, T, H, dk, dv, T0 = 2, 23, 2, 8, 12, 17
    q, k, v, g = make(rng, B, T, H, dk, dv, gate, qk_scale=0.5 if fmap == "identity" else 1.0)
    kw = dict(feature_map=fmap, normalize=norm, gate=gate, ctx=ctx)
    whole_st = subq.linattn_state_zeros(B, H, dk, dv, feature_map=fmap, normalize=norm)
    whole = subq.linattn_prefill(q, k, v, log_gate=g, state_out=whole_st, **kw)
    st = subq.linattn_state_zeros(B, H, dk, dv, feature_map=fmap, normalize=norm)
    parts = [subq.linattn_prefill(q[:, :T0], k[:, :T0], v[:, :T0], log_gate=None if g is None else g[:, :T0],
                                  state=st, state_out=st, chunk=8, **kw)]
    for t in range(T0, T):
        parts.append(subq.linattn_decode(q[:, t], k[:, t], v[:, t], st, log_gate=None if g is None else g[:, t],
                                         **kw)[:, None])
    split = np.concatenate(parts, axis=1)
    assert rel_rms(split, whole) <= 1e-5
    assert rel_rms(st, whole_st) <= 1e-5
    ro, rs = reference(q, k, v, fmap=fmap, norm=norm, gate=gate, log_gate=g)
    assert_close(split, ro)
    assert_close(st, rs, "state")


def test_state_round_trip(ctx, rng):
    """prefill(A) -> state -> prefill(B, state) == prefill(A + B); the state matches the
    header layout (S (H, D, dv) then s (H, D)); state_out may be state; NumPy copies of it work."""
    B, T, H, dk, dv = 2, 40, 3, 16, 12
    q, k, v, g = make(rng, B, T, H, dk, dv, "scalar")
    kw = dict(gate="scalar", ctx=ctx)
    sa = np.empty((B, subq.linattn_state_floats(H, dk, dv)), np.float32)
    assert sa.shape[1] == H * 153 * (dv + 1)
    subq.linattn_prefill(q[:, :25], k[:, :25], v[:, :25], log_gate=g[:, :25], state_out=sa, **kw)
    assert_close(sa, reference(q[:, :25], k[:, :25], v[:, :25], gate="scalar", log_gate=g[:, :25])[1], "state A")
    saved = sa.copy()
    ob = subq.linattn_prefill(q[:, 25:], k[:, 25:], v[:, 25:], log_gate=g[:, 25:], state=saved, **kw)
    ro, rs = reference(q, k, v, gate="scalar", log_gate=g)
    assert_close(ob, ro[:, 25:])
    assert np.array_equal(saved, sa)  # state without state_out is read only
    subq.linattn_prefill(q[:, 25:], k[:, 25:], v[:, 25:], log_gate=g[:, 25:], state=sa, state_out=sa, **kw)
    assert_close(sa, rs, "state A+B")
    # the reference also takes the state in: an arbitrary (decayed) state continues the same way
    ro2, rs2 = reference(q[:, 25:], k[:, 25:], v[:, 25:], gate="scalar", log_gate=g[:, 25:], state=saved)
    assert_close(ob, ro2)
    assert_close(sa, rs2, "state B from A")


def test_strided_views_and_out(ctx, rng):
    """q, k, v as views of one fused projection (B, T, H, 2 dk + dv), out= a view of a wider array,
    a batch of states with padded rows: zero copy, same values as dense inputs."""
    B, T, H, dk, dv = 2, 9, 2, 8, 12
    qkv = rng.standard_normal((B, T, H, 2 * dk + dv)).astype(np.float32)
    q, k, v = qkv[..., :dk], qkv[..., dk:2 * dk], qkv[..., 2 * dk:]
    big = np.zeros((B, T, H, dv + 4), np.float32)
    sf = subq.linattn_state_floats(H, dk, dv)
    pool = np.full((B, sf + 7), -5.0, np.float32)
    got = subq.linattn_prefill(q, k, v, out=big[..., 2:2 + dv], state_out=pool[:, :sf], ctx=ctx)
    assert np.shares_memory(got, big)
    assert np.all(big[..., :2] == 0) and np.all(big[..., 2 + dv:] == 0) and np.all(pool[:, sf:] == -5.0)
    dense_st = np.empty((B, sf), np.float32)
    dense = subq.linattn_prefill(np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v),
                                 state_out=dense_st, ctx=ctx)
    assert np.array_equal(got, dense) and np.array_equal(pool[:, :sf], dense_st)
    # (B, H, T, d) storage transposed to (B, T, H, d): another outer-stride order
    qt = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    assert np.array_equal(subq.linattn_prefill(qt, k, v, ctx=ctx), dense)
    # a query broadcast over the heads (stride 0) is read, not copied
    qb = np.broadcast_to(q[:, :, :1], q.shape)
    assert_close(subq.linattn_prefill(qb, k, v, ctx=ctx), reference(qb, k, v)[0])


def test_feature_map_and_sizes(rng):
    assert subq.linattn_feature_dim("taylor", 16) == 153
    assert subq.linattn_feature_dim("identity", 40) == 40 and subq.linattn_feature_dim("elu1", 7) == 7
    with pytest.raises(ValueError, match="out of range"):
        subq.linattn_feature_dim("taylor", 33)
    assert subq.linattn_state_floats(4, 16, 64, normalize="none") == 4 * 153 * 64
    assert subq.linattn_state_floats(4, 8, 12, feature_map="elu1") == 4 * 8 * 13
    x = rng.standard_normal((3, 5, 16)).astype(np.float32)
    for fmap in ("taylor", "identity", "elu1"):
        for is_q in (True, False):
            got = subq.linattn_feature_map(x, fmap, is_query=is_q, scale=0.3)
            ref = phi(x, fmap, 0.3, is_q)
            assert got.shape == ref.shape
            assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()
    # the Taylor kernel: phi(q).phi(k) = 1 + s + s^2/2, s = dk^-1/2 q.k
    pq = subq.linattn_feature_map(x[0], is_query=True).astype(np.float64)
    pk = subq.linattn_feature_map(x[1], is_query=False).astype(np.float64)
    s = (x[0].astype(np.float64) * x[1]).sum(-1) / 4.0
    assert np.allclose((pq * pk).sum(-1), 1 + s + s * s / 2, rtol=1e-5)


def test_empty_batch_and_tokens_touch_nothing(ctx):
    st = np.full((2, subq.linattn_state_floats(1, 4, 3)), 7.0, np.float32)
    z = np.zeros((2, 0, 1, 4), np.float32)
    out = subq.linattn_prefill(z, z, np.zeros((2, 0, 1, 3), np.float32), state_out=st, ctx=ctx)
    assert out.shape == (2, 0, 1, 3) and np.all(st == 7.0)


def test_bad_python_arguments_raise_valueerror(rng):
    q, k, v, g = make(rng, 1, 4, 2, 8, 12, "scalar")
    with pytest.raises(ValueError, match="q: dtype float64"):
        subq.linattn_prefill(q.astype(np.float64), k, v)
    with pytest.raises(ValueError, match=r"k: shape \(1, 4, 2, 7\), expected \(1, 4, 2, 8\)"):
        subq.linattn_prefill(q, k[..., :7], v)
    with pytest.raises(ValueError, match=r"v must be \(batch, tokens, heads, dim_v\), got 3 dims"):
        subq.linattn_prefill(q, k, v[0])
    with pytest.raises(ValueError, match="q: innermost stride"):
        subq.linattn_prefill(np.repeat(q, 2, axis=-1)[..., ::2], k, v)
    with pytest.raises(ValueError, match="would be read as dense"):
        q2 = np.zeros((2, 4, 2, 8), np.float32)
        subq.linattn_prefill(q2, q2, np.broadcast_to(np.ones(12, np.float32), (2, 4, 2, 12)))
    # with a size-1 dimension the same broadcast is fine (that dimension gets a non-zero stride)
    vb = np.broadcast_to(np.ones(12, np.float32), (1, 4, 2, 12))
    assert_close(subq.linattn_prefill(q, k, vb), reference(q, k, vb)[0])
    with pytest.raises(ValueError, match="feature_map must be one of"):
        subq.linattn_prefill(q, k, v, feature_map="taylor2")
    with pytest.raises(ValueError, match="needs log_gate"):
        subq.linattn_prefill(q, k, v, gate="scalar")
    with pytest.raises(ValueError, match="gate is None"):
        subq.linattn_prefill(q, k, v, log_gate=g)
    with pytest.raises(ValueError, match=r"log_gate: expected 4 dims \(1, 4, 2, 8\), got 3"):
        subq.linattn_prefill(q, k, v, gate="per_key", log_gate=g, feature_map="elu1")
    with pytest.raises(ValueError, match="norm_weight is used with normalize='rmsnorm' only"):
        subq.linattn_prefill(q, k, v, norm_weight=np.ones(12, np.float32))
    with pytest.raises(ValueError, match=r"state: shape \(1, 5\)"):
        subq.linattn_prefill(q, k, v, state=np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="out: array is read-only"):
        o = np.empty((1, 4, 2, 12), np.float32)
        o.flags.writeable = False
        subq.linattn_prefill(q, k, v, out=o)
    st = subq.linattn_state_zeros(1, 2, 8, 12)
    with pytest.raises(ValueError, match=r"q must be \(batch, heads, dim\)"):
        subq.linattn_decode(q, k, v, st)
    ro = st.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="state: array is read-only"):
        subq.linattn_decode(q[:, 0], k[:, 0], v[:, 0], ro)


def test_library_errors_surface_as_subqerror(rng):
    q, k, v, g = make(rng, 1, 4, 2, 8, 12, "scalar")
    bad = g.copy()
    bad[0, 2, 1] = 0.25
    with pytest.raises(SubQError) as e:
        subq.linattn_prefill(q, k, v, gate="scalar", log_gate=bad)
    assert e.value.status == 1 and "subq_linattn_prefill_f32" in e.value.message and "log_gate" in e.value.message
    assert "token 2, head 1" in e.value.message
    with pytest.raises(SubQError, match="PER_KEY needs a feature_map with D == dim_qk"):
        subq.linattn_prefill(q, k, v, gate="per_key", log_gate=np.zeros((1, 4, 2, 8), np.float32))
    with pytest.raises(SubQError, match="gate needs causal == 1"):
        subq.linattn_prefill(q, k, v, gate="scalar", log_gate=g, causal=False)
    with pytest.raises(SubQError, match=r"chunk \(2000\) is not in 0..1024"):
        subq.linattn_prefill(q, k, v, chunk=2000)
    with pytest.raises(SubQError, match=r"scale \(-1\) is negative"):
        subq.linattn_prefill(q, k, v, scale=-1.0)
    with pytest.raises(SubQError, match=r"dim_qk \(40\) is not in 1..32"):
        subq.linattn_prefill(np.zeros((1, 1, 1, 40), np.float32), np.zeros((1, 1, 1, 40), np.float32),
                             np.zeros((1, 1, 1, 4), np.float32))
    with pytest.raises(SubQError, match="out overlaps v"):
        buf = np.zeros((1, 4, 2, 12), np.float32)
        subq.linattn_prefill(q, k, buf, out=buf)
    with pytest.raises(SubQError, match="subq_linattn_decode_f32: log_gate"):
        st = subq.linattn_state_zeros(1, 2, 8, 12)
        subq.linattn_decode(q[:, 0], k[:, 0], v[:, 0], st, gate="scalar", log_gate=np.full((1, 2), 1.0, np.float32))


def test_decode_with_state_out_and_out(ctx, rng):
    """decode(state, state_out=other) leaves state alone; out= is written in place."""
    B, H, dk, dv = 3, 2, 8, 12
    q, k, v, g = make(rng, B, 7, H, dk, dv, "per_key")
    kw = dict(feature_map="elu1", gate="per_key", ctx=ctx)
    st = subq.linattn_state_zeros(B, H, dk, dv, feature_map="elu1")
    subq.linattn_prefill(q[:, :6], k[:, :6], v[:, :6], log_gate=g[:, :6], state_out=st, **kw)
    before, st2, o = st.copy(), np.empty_like(st), np.empty((B, H, dv), np.float32)
    got = subq.linattn_decode(q[:, 6], k[:, 6], v[:, 6], st, log_gate=g[:, 6], state_out=st2, out=o, **kw)
    assert got is o and np.array_equal(st, before)
    ro, rs = reference(q, k, v, fmap="elu1", gate="per_key", log_gate=g)
    assert_close(o, ro[:, 6])
    assert_close(st2, rs, "state")
