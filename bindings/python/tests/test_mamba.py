import numpy as np
import pytest

import subq


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def conv_ref(x, w, bias, state, act):
    b, l, c = x.shape
    width = w.shape[1]
    st = np.zeros((b, width - 1, c)) if state is None else state.astype(np.float64)
    win = np.concatenate([st, x.astype(np.float64)], axis=1)
    y = np.zeros((b, l, c))
    for t in range(l):
        y[:, t] = np.einsum("bkc,ck->bc", win[:, t:t + width], w)
    if bias is not None:
        y += bias
    return (silu(y) if act else y), win[:, -(width - 1):] if width > 1 else st


def scan_ref(u, dt, A, B, C, D, z, dt_bias, h0):
    b, l, c = u.shape
    n = A.shape[1]
    g = B.shape[2] // n
    h = np.zeros((b, c, n)) if h0 is None else h0.astype(np.float64).copy()
    y = np.zeros((b, l, c))
    grp = np.arange(c) // (c // g)
    for t in range(l):
        d = softplus(dt[:, t].astype(np.float64) + (0 if dt_bias is None else dt_bias))
        Bt = B[:, t].reshape(b, g, n)[:, grp]
        Ct = C[:, t].reshape(b, g, n)[:, grp]
        h = np.exp(d[..., None] * A) * h + (d * u[:, t])[..., None] * Bt
        y[:, t] = (Ct * h).sum(-1) + (0 if D is None else D * u[:, t])
        if z is not None:
            y[:, t] *= silu(z[:, t].astype(np.float64))
    return y, h


def close(x, r):
    tol = 1e-4 * np.abs(r) + 1e-5 * max(1.0, np.abs(r).max())
    assert np.all(np.abs(x - r) <= tol), np.abs(x - r).max()


@pytest.mark.parametrize("l,c,width", [(1, 3, 4), (63, 17, 4), (130, 40, 2), (5, 8, 8)])
def test_conv1d_prefill_and_decode(ctx, rng, l, c, width):
    x = rng.standard_normal((2, l, c)).astype(np.float32)
    w = rng.standard_normal((c, width)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    s0 = rng.standard_normal((2, width - 1, c)).astype(np.float32)
    s1 = np.empty_like(s0)
    y = subq.conv1d(x, w, bias, silu=True, state=s0, state_out=s1, ctx=ctx)
    ry, rs = conv_ref(x, w, bias, s0, True)
    close(y, ry)
    close(s1, rs)
    # decode: one more token through the update equals a longer prefill
    xt = rng.standard_normal((2, c)).astype(np.float32)
    st = s1.copy()
    yt = subq.conv1d_update(xt, w, st, bias, silu=True, ctx=ctx)
    yl = subq.conv1d(np.concatenate([x, xt[:, None]], 1), w, bias, silu=True, state=s0, ctx=ctx)
    assert np.array_equal(yt, yl[:, -1])


@pytest.mark.parametrize("l,c,n,g", [(1, 5, 1, 1), (63, 33, 16, 1), (40, 24, 8, 3)])
def test_ssm1_scan_chunks_and_steps(ctx, rng, l, c, n, g):
    b = 2
    u = rng.standard_normal((b, l, c)).astype(np.float32)
    dt = (rng.standard_normal((b, l, c)) * 0.5 - 1).astype(np.float32)
    A = -np.exp(rng.standard_normal((c, n)) * 0.5).astype(np.float32)
    B = rng.standard_normal((b, l, g * n)).astype(np.float32)
    C = rng.standard_normal((b, l, g * n)).astype(np.float32)
    D = rng.standard_normal(c).astype(np.float32)
    z = rng.standard_normal((b, l, c)).astype(np.float32)
    dtb = (rng.standard_normal(c) * 0.1).astype(np.float32)
    h0 = rng.standard_normal((b, c, n)).astype(np.float32)
    s0 = subq.ssm1_state_import(h0)
    assert np.array_equal(subq.ssm1_state_export(s0, c, n), h0)
    s1 = subq.ssm1_state_zeros(b, c, n)
    y = subq.ssm1_scan(u, dt, A, B, C, D=D, z=z, dt_bias=dtb, n_groups=g, state=s0, state_out=s1, ctx=ctx)
    ry, rh = scan_ref(u, dt, A, B, C, D, z, dtb, h0)
    close(y, ry)
    close(subq.ssm1_state_export(s1, c, n), rh)
    # A_log form gives the same A
    y2 = subq.ssm1_scan(u, dt, np.log(-A), B, C, D=D, z=z, dt_bias=dtb, n_groups=g, a_is_log=True, state=s0,
                        ctx=ctx)
    close(y2, ry)
    # prefill(l-1) then one step == prefill(l), bitwise
    if l > 1:
        s = subq.ssm1_state_zeros(b, c, n)
        subq.ssm1_scan(u[:, :-1], dt[:, :-1], A, B[:, :-1], C[:, :-1], D=D, z=z[:, :-1], dt_bias=dtb, n_groups=g,
                       state=s0, state_out=s, ctx=ctx)
        yt = subq.ssm1_step(u[:, -1], dt[:, -1], A, B[:, -1], C[:, -1], s, D=D, z=z[:, -1], dt_bias=dtb,
                            n_groups=g, ctx=ctx)
        assert np.array_equal(yt, y[:, -1])
        assert np.array_equal(s, s1)
    # A packed once (from A and from A_log) gives the bits of the same A passed per call, prefill and step
    for Af, is_log in ((A, False), (np.log(-A), True)):
        pa = subq.ssm1_pack_a(Af, a_is_log=is_log)
        assert (pa.channels, pa.d_state) == (c, n)
        kw = dict(D=D, z=z, dt_bias=dtb, n_groups=g, ctx=ctx)
        sr, sp = subq.ssm1_state_zeros(b, c, n), subq.ssm1_state_zeros(b, c, n)
        yr = subq.ssm1_scan(u, dt, Af, B, C, a_is_log=is_log, state=s0, state_out=sr, **kw)
        yp = subq.ssm1_scan(u, dt, pa, B, C, state=s0, state_out=sp, **kw)
        assert np.array_equal(yp, yr) and np.array_equal(sp, sr)
        kw1 = dict(D=D, z=z[:, 0], dt_bias=dtb, n_groups=g, ctx=ctx)
        st, st2 = s0.copy(), s0.copy()
        assert np.array_equal(subq.ssm1_step(u[:, 0], dt[:, 0], pa, B[:, 0], C[:, 0], st, **kw1),
                              subq.ssm1_step(u[:, 0], dt[:, 0], Af, B[:, 0], C[:, 0], st2, a_is_log=is_log, **kw1))
        assert np.array_equal(st, st2)
    with pytest.raises(ValueError, match="channels"):
        subq.ssm1_scan(u[..., :-1], dt[..., :-1], subq.ssm1_pack_a(A), B, C, n_groups=g, ctx=ctx)


def test_mamba_bad_inputs(rng):
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    with pytest.raises(subq.SubQError, match="width"):
        subq.conv1d(x, np.zeros((8, 9), np.float32))
    with pytest.raises(ValueError, match="weight"):
        subq.conv1d(x, np.zeros((7, 4), np.float32))
    A = -np.ones((8, 4), np.float32)
    B = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(subq.SubQError, match="n_groups"):
        subq.ssm1_scan(x, x, A, np.zeros((1, 4, 12), np.float32), np.zeros((1, 4, 12), np.float32), n_groups=3)
    with pytest.raises(ValueError, match="state is required"):
        subq.ssm1_step(x[:, 0], x[:, 0], A, B[:, 0], B[:, 0], None)
    with pytest.raises(ValueError, match="float32"):
        subq.ssm1_scan(x.astype(np.float64), x, A, B, B)


def test_conv1d_and_ssm1_varlen_equal_one_call_per_sequence(ctx, rng):
    lens, c, n, width = [4, 0, 19, 1], 12, 8, 4
    total = sum(lens)
    cu = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    slots = np.array([2, 0, 4, 1], np.int32)
    has_init = np.array([1, 1, 0, 1], np.uint8)
    x = rng.standard_normal((total, c)).astype(np.float32)
    w = rng.standard_normal((c, width)).astype(np.float32)
    cpool = rng.standard_normal((5, width - 1, c)).astype(np.float32)
    cpool_out = cpool.copy()
    y = subq.conv1d(x, w, silu=True, state=cpool, state_out=cpool_out, cu_seqlens=cu, state_slots=slots,
                    has_initial_state=has_init, ctx=ctx)
    dt = rng.standard_normal((total, c)).astype(np.float32)
    A = -np.exp(rng.standard_normal((c, n))).astype(np.float32)
    B = rng.standard_normal((total, n)).astype(np.float32)
    C = rng.standard_normal((total, n)).astype(np.float32)
    sf = subq.ssm1_state_floats(c, n)
    spool = subq.ssm1_state_import(rng.standard_normal((5, c, n)).astype(np.float32))
    spool_out = spool.copy()
    ys = subq.ssm1_scan(y, dt, A, B, C, state=spool, state_out=spool_out, cu_seqlens=cu, state_slots=slots,
                        has_initial_state=has_init, ctx=ctx)
    for s, (a, e) in enumerate(zip(cu[:-1], cu[1:])):
        k = slots[s]
        if a == e:  # empty sequence: its states untouched
            assert np.array_equal(cpool_out[k], cpool[k]) and np.array_equal(spool_out[k], spool[k])
            continue
        c1 = np.empty((1, width - 1, c), np.float32)
        y1 = subq.conv1d(x[a:e], w, silu=True, state=cpool[k][None] if has_init[s] else None, state_out=c1, ctx=ctx)
        assert np.array_equal(y[a:e], y1) and np.array_equal(cpool_out[k], c1[0])
        s1 = np.empty((1, sf), np.float32)
        z1 = subq.ssm1_scan(y1, dt[a:e], A, B[a:e], C[a:e], state=spool[k][None] if has_init[s] else None,
                            state_out=s1, ctx=ctx)
        assert np.array_equal(ys[a:e], z1) and np.array_equal(spool_out[k], s1[0])
    with pytest.raises(ValueError, match="no batch dim"):
        subq.conv1d(x[None], w, cu_seqlens=cu)
    with pytest.raises(ValueError, match="has_initial_state"):
        subq.ssm1_scan(y, dt, A, B, C, cu_seqlens=cu, has_initial_state=np.ones(4, np.int64))
