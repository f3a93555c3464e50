import numpy as np
import pytest

import subq


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def ssd_ref(x, dt, A, B, C, D=None, dt_bias=None, h0=None):
    """float64 recurrence; x (b, l, h, p), B/C (b, l, g, n); state (b, h, p, n) (HF layout)."""
    b, l, nh, p = x.shape
    g, n = B.shape[2:]
    x, dt, B, C = (v.astype(np.float64) for v in (x, dt, B, C))
    hg = np.arange(nh) // (nh // g)
    h = np.zeros((b, nh, p, n)) if h0 is None else h0.astype(np.float64).copy()
    y = np.zeros_like(x)
    for t in range(l):
        d = softplus(dt[:, t] + (0 if dt_bias is None else dt_bias))  # (b, h)
        a = np.exp(d * A)
        Bt, Ct = B[:, t][:, hg], C[:, t][:, hg]  # (b, h, n)
        h = a[..., None, None] * h + (d[..., None] * x[:, t])[..., None] * Bt[:, :, None, :]
        y[:, t] = np.einsum("bhpn,bhn->bhp", h, Ct)
        if D is not None:
            y[:, t] += (D if D.ndim == 2 else D[:, None]) * x[:, t]
    return y, h


def close(x, r, rtol=1e-4):
    tol = rtol * np.abs(r) + 1e-5 * max(1.0, np.abs(r).max())
    assert x.shape == r.shape and np.all(np.abs(x - r) <= tol), np.abs(x - r).max()


def make(rng, b, l, nh, p, g, n):
    x = rng.standard_normal((b, l, nh, p)).astype(np.float32)
    dt = rng.standard_normal((b, l, nh)).astype(np.float32) - 1
    A = -np.exp(rng.standard_normal(nh)).astype(np.float32)
    B = rng.standard_normal((b, l, g, n)).astype(np.float32)
    C = rng.standard_normal((b, l, g, n)).astype(np.float32)
    return x, dt, A, B, C


@pytest.mark.parametrize("algo", ["auto", "recurrent", "chunked"])
@pytest.mark.parametrize("b,l,nh,p,g,n", [(1, 1, 1, 1, 1, 1), (2, 37, 4, 5, 2, 16), (1, 70, 6, 16, 3, 8)])
def test_ssd_scan_matches_recurrence(ctx, rng, algo, b, l, nh, p, g, n):
    x, dt, A, B, C = make(rng, b, l, nh, p, g, n)
    D = rng.standard_normal(nh).astype(np.float32)
    dtb = rng.standard_normal(nh).astype(np.float32) * 0.1
    h0 = rng.standard_normal((b, nh, p, n)).astype(np.float32)
    s = subq.ssm2_state_import(h0)
    s_out = np.empty_like(s)
    y = subq.ssd_scan(x, dt, A, B, C, D=D, dt_bias=dtb, algo=algo, state=s, state_out=s_out, ctx=ctx)
    ry, rh = ssd_ref(x, dt, A, B, C, D, dtb, h0)
    rtol = 1e-4 if algo == "recurrent" else 2e-3
    close(y, ry, rtol)
    close(subq.ssm2_state_export(s_out), rh, rtol)


def test_ssd_prefill_then_steps_is_bitwise(ctx, rng):
    x, dt, A, B, C = make(rng, 2, 12, 4, 8, 2, 16)
    Dpc = rng.standard_normal((4, 8)).astype(np.float32)  # per-channel D
    full = subq.ssd_scan(x, dt, A, B, C, D=Dpc, algo="recurrent", ctx=ctx)
    close(full, ssd_ref(x, dt, A, B, C, Dpc)[0])
    s = subq.ssm2_state_zeros(2, 4, 8, 16)
    y0 = subq.ssd_scan(x[:, :9], dt[:, :9], A, B[:, :9], C[:, :9], D=Dpc, algo="recurrent", state=s, state_out=s,
                       ctx=ctx)
    assert np.array_equal(y0, full[:, :9])
    for t in range(9, 12):
        yt = subq.ssd_step(x[:, t], dt[:, t], A, B[:, t], C[:, t], s, D=Dpc, ctx=ctx)
        assert np.array_equal(yt, full[:, t])
    # without batch, and A given as A_log
    y1 = subq.ssd_scan(x[0], dt[0], np.log(-A), B[0], C[0], D=Dpc, a_is_log=True, algo="recurrent", ctx=ctx)
    close(y1, full[0])


def test_ssm2_state_roundtrip_and_bad_inputs(rng):
    h = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    s = subq.ssm2_state_import(h)
    assert s.shape == (2, 3, 5, 4) and np.array_equal(s, h.transpose(0, 1, 3, 2))
    assert np.array_equal(subq.ssm2_state_export(s), h)
    assert subq.ssm2_state_floats(3, 4, 5) == 60
    x, dt, A, B, C = make(rng, 1, 4, 4, 8, 2, 16)
    with pytest.raises(ValueError, match="algo"):
        subq.ssd_scan(x, dt, A, B, C, algo="fast")
    with pytest.raises(ValueError, match="dt"):
        subq.ssd_scan(x, dt[..., :3], A, B, C)
    with pytest.raises(ValueError, match="float32"):
        subq.ssd_scan(x.astype(np.float64), dt, A, B, C)
    with pytest.raises(ValueError, match="contiguous"):
        subq.ssd_scan(rng.standard_normal((1, 4, 4, 16)).astype(np.float32)[..., :8], dt, A, B, C)
    with pytest.raises(subq.SubQError, match="n_groups"):
        subq.ssd_scan(x, dt, A, B[:, :, :1].repeat(3, axis=2), C[:, :, :1].repeat(3, axis=2))
    with pytest.raises(ValueError, match="state is required"):
        subq.ssd_step(x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], None)
    with pytest.raises(subq.SubQError, match="chunk"):
        subq.ssd_scan(x, dt, A, B, C, algo="chunked", chunk=5000)


def gated_ref(y, z, w, g, eps, before=False):
    y = y.astype(np.float64)
    v = y if (z is None or before) else y * silu(z.astype(np.float64))
    width = y.shape[-1]
    g = g or width
    vg = v.reshape(v.shape[:-1] + (width // g, g))
    o = (vg / np.sqrt((vg ** 2).mean(-1, keepdims=True) + eps)).reshape(v.shape)
    o = o if w is None else o * w
    return o * silu(z.astype(np.float64)) if (before and z is not None) else o


@pytest.mark.parametrize("rows,width,group", [(1, 1, 0), (5, 48, 16), (3, 130, 65)])
def test_gated_rmsnorm(ctx, rng, rows, width, group):
    y = rng.standard_normal((rows, width)).astype(np.float32)
    z = rng.standard_normal((rows, width)).astype(np.float32)
    w = rng.standard_normal(width).astype(np.float32)
    close(subq.gated_rmsnorm(y, z, w, group_size=group, ctx=ctx), gated_ref(y, z, w, group, 1e-5), 2e-5)
    close(subq.gated_rmsnorm(y, z, w, group_size=group, norm_before_gate=True, ctx=ctx),
          gated_ref(y, z, w, group, 1e-5, True), 2e-5)
    close(subq.gated_rmsnorm(y, None, None, eps=1e-3, ctx=ctx), gated_ref(y, None, None, 0, 1e-3), 2e-5)
    y2 = y.copy()
    assert subq.gated_rmsnorm(y2, z, w, group_size=group, out=y2, ctx=ctx) is y2


def test_gated_rmsnorm_bad_inputs(rng):
    y = rng.standard_normal((2, 12)).astype(np.float32)
    with pytest.raises(subq.SubQError, match="group_size"):
        subq.gated_rmsnorm(y, group_size=5)
    with pytest.raises(ValueError, match="z"):
        subq.gated_rmsnorm(y, y[:, :6])
    with pytest.raises(ValueError, match="weight"):
        subq.gated_rmsnorm(y, None, np.ones(3, np.float32))


@pytest.mark.parametrize("algo", ["recurrent", "chunked"])
def test_ssd_varlen_equals_one_call_per_sequence(ctx, rng, algo):
    lens = [5, 0, 21, 1]
    total = sum(lens)
    x, dt, A, B, C = make(rng, 1, total, 4, 8, 2, 16)
    x, dt, B, C = x[0], dt[0], B[0], C[0]
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    slots = np.array([3, 0, 5, 1], np.int32)
    has_init = np.array([True, True, False, True])
    pool = rng.standard_normal((6, 4, 16, 8)).astype(np.float32)
    pool_out = pool.copy()
    y = subq.ssd_scan(x, dt, A, B, C, algo=algo, state=pool, state_out=pool_out, cu_seqlens=cu, state_slots=slots,
                      has_initial_state=has_init, ctx=ctx)
    for s, (a, e) in enumerate(zip(cu[:-1], cu[1:])):
        if a == e:
            assert np.array_equal(pool_out[slots[s]], pool[slots[s]])  # empty sequence: state untouched
            continue
        h0 = pool[slots[s]][None] if has_init[s] else None
        h1 = np.empty((1, 4, 16, 8), np.float32)
        ys = subq.ssd_scan(x[a:e], dt[a:e], A, B[a:e], C[a:e], algo=algo, state=h0, state_out=h1, ctx=ctx)
        assert np.array_equal(y[a:e], ys) and np.array_equal(pool_out[slots[s]], h1[0])
    with pytest.raises(ValueError, match="int32"):
        subq.ssd_scan(x, dt, A, B, C, cu_seqlens=cu.astype(np.int64))
    with pytest.raises(ValueError, match="state_slots"):
        subq.ssd_scan(x, dt, A, B, C, cu_seqlens=cu, state_slots=slots[:2])
    with pytest.raises(ValueError, match="need cu_seqlens"):
        subq.ssd_scan(x, dt, A, B, C, state_slots=slots)
    with pytest.raises(subq.SubQError, match="slot"):
        subq.ssd_scan(x, dt, A, B, C, state=pool, state_out=pool_out, cu_seqlens=cu,
                      state_slots=np.array([3, 0, 9, 1], np.int32))
