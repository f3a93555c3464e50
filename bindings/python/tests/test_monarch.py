"""Monarch / block-diagonal bindings against a NumPy float64 implementation of the
header's operator (stage 1, P1, stage 2, P2) and of its dense matrix."""
import numpy as np
import pytest

import subq
from subq import SubQError

# (k, q, p, l, s, r) with k*q == l*r: square, non-square blocks, k != l, nblocks 1/2/4
SHAPES = [(1, 5, 7, 1, 3, 5), (2, 6, 3, 4, 5, 3), (4, 3, 5, 2, 7, 6), (4, 4, 4, 4, 4, 4), (2, 2, 9, 4, 1, 1)]


def ref_apply(w1, w2, x):
    """float64 y = P2 L P1 R x for x (T, n); w2 None: block-diagonal."""
    x = np.asarray(x, np.float64)
    T = x.shape[0]
    k, q, p = w1.shape
    u = np.einsum("iae,tie->tia", np.asarray(w1, np.float64), x.reshape(T, k, p))
    if w2 is None:
        return u.reshape(T, k * q)
    l, s, r = w2.shape
    v = u.reshape(T, r, l).transpose(0, 2, 1)  # v[j*r + t] = u[t*l + j]
    z = np.einsum("jct,Tjt->Tjc", np.asarray(w2, np.float64), v)
    return z.transpose(0, 2, 1).reshape(T, s * l)  # y[c*l + j] = z[j*s + c]


def ref_dense(w1, w2):
    n = w1.shape[0] * w1.shape[2]
    return np.ascontiguousarray(ref_apply(w1, w2, np.eye(n)).T)


def close(got, want, x_abs_scale):
    tol = 2e-6 * x_abs_scale + 1e-6
    assert np.max(np.abs(np.asarray(got, np.float64) - want)) <= tol


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("tokens", [1, 3, 37])
def test_forward_matches_the_float64_operator(ctx, rng, shape, tokens):
    k, q, p, l, s, r = shape
    w1 = rng.standard_normal((k, q, p)).astype(np.float32)
    w2 = rng.standard_normal((l, s, r)).astype(np.float32)
    x = rng.standard_normal((tokens, k * p)).astype(np.float32)
    bias = rng.standard_normal(l * s).astype(np.float32)
    with subq.MonarchWeights(w1, w2, ctx=ctx) as W:
        assert (W.n, W.m) == (k * p, l * s) and W.nbytes > 0 and "monarch" in W.ukernel
        y = W.forward(x, bias, ctx=ctx)
        want = ref_apply(w1, w2, x) + bias
        scale = ref_apply(np.abs(w1), np.abs(w2), np.abs(x)).max()
        close(y, want, scale)
        # the dense matrix agrees with the operator
        assert np.allclose(ref_dense(w1, w2) @ x.T.astype(np.float64), ref_apply(w1, w2, x).T)
        # strided rows (a view of a wider buffer) and a caller's out
        buf = np.zeros((tokens, k * p + 3), np.float32)
        buf[:, 1:1 + k * p] = x
        out = np.full((tokens, l * s), np.nan, np.float32)
        assert W(buf[:, 1:1 + k * p], out=out, ctx=ctx) is out
        close(out, ref_apply(w1, w2, x), scale)
        # a single token as a 1-D vector
        y1 = W.forward(x[0], ctx=ctx)
        assert y1.shape == (l * s,)
        close(y1, ref_apply(w1, w2, x[:1])[0], scale)


@pytest.mark.parametrize("nblocks", [1, 2, 4])
def test_blockdiag_forward(ctx, rng, nblocks):
    k, q, p = subq.blockdiag_shape(4 * 3, 4 * 5, nblocks)
    assert (k, q * k, p * k) == (nblocks, 20, 12)
    w = rng.standard_normal((k, q, p)).astype(np.float32)
    x = rng.standard_normal((17, k * p)).astype(np.float32)
    W = subq.MonarchWeights.blockdiag(w, ctx=ctx)
    assert W.is_blockdiag and (W.n, W.m) == (12, 20)
    close(W.forward(x, ctx=ctx), ref_apply(w, None, x), ref_apply(np.abs(w), None, np.abs(x)).max())
    dense = subq.monarch_to_dense(w.astype(np.float64))
    assert np.allclose(dense, ref_dense(w, None), rtol=0, atol=1e-12)


def test_bf16_weights_are_widened_exactly(ctx, rng):
    k, q, p, l, s, r = SHAPES[2]
    w1 = subq.to_bf16(rng.standard_normal((k, q, p)).astype(np.float32))
    w2 = subq.to_bf16(rng.standard_normal((l, s, r)).astype(np.float32))
    x = rng.standard_normal((5, k * p)).astype(np.float32)
    W = subq.MonarchWeights(w1, w2, ctx=ctx)
    assert W.dtype == "bf16"
    f1, f2 = subq.from_bf16(w1), subq.from_bf16(w2)
    y = W.forward(x, ctx=ctx)
    # bf16 widening is exact, so the f32 weights of the same values give the same bits
    assert np.array_equal(y, subq.MonarchWeights(f1, f2, ctx=ctx).forward(x, ctx=ctx))
    close(y, ref_apply(f1, f2, x), ref_apply(np.abs(f1), np.abs(f2), np.abs(x)).max())


@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[2], (3, 4, 2)], ids=["mon-a", "mon-b", "blockdiag"])
def test_backward_matches_float64_gradients(ctx, rng, shape):
    T = 7
    w1 = rng.standard_normal(shape[:3]).astype(np.float32)
    w2 = rng.standard_normal(shape[3:]).astype(np.float32) if len(shape) == 6 else None
    k, q, p = w1.shape
    W = subq.MonarchWeights(w1, w2, ctx=ctx)
    x = rng.standard_normal((T, W.n)).astype(np.float32)
    g = rng.standard_normal((T, W.m)).astype(np.float32)
    gr = W.backward(x, g, ctx=ctx)
    M = ref_dense(w1, w2)
    G, X = g.astype(np.float64), x.astype(np.float64)
    tol = 1e-4 * (1 + np.abs(G).max() * np.abs(X).max() * T)
    assert np.allclose(gr.x, G @ M, atol=1e-4 * np.abs(G).sum(1).max() * 10)
    assert np.allclose(gr.bias, G.sum(0), atol=1e-5 * T)
    if w2 is None:
        dw1 = np.einsum("Tia,Tie->iae", G.reshape(T, k, q), X.reshape(T, k, p))
        assert gr.w2 is None
    else:
        l, s, r = w2.shape
        u = np.einsum("iae,tie->tia", w1.astype(np.float64), X.reshape(T, k, p)).reshape(T, k * q)
        v = u.reshape(T, r, l).transpose(0, 2, 1)
        dz = G.reshape(T, s, l).transpose(0, 2, 1)
        assert np.allclose(gr.w2, np.einsum("Tjc,Tjt->jct", dz, v), atol=tol)
        dv = np.einsum("Tjc,jct->Tjt", dz, w2.astype(np.float64))
        du = dv.transpose(0, 2, 1).reshape(T, k, q)
        dw1 = np.einsum("Tia,Tie->iae", du, X.reshape(T, k, p))
    assert np.allclose(gr.w1, dw1, atol=tol)
    only = W.backward(x, g, grad_w=False, grad_bias=False, ctx=ctx)
    assert only.w1 is None and only.bias is None and np.array_equal(only.x, gr.x)
    if w2 is not None:  # the forward's saved stage 1 gives the same bits, without recomputing it
        y, u1 = W.forward(x, save_stage1=True, ctx=ctx)
        assert np.array_equal(y, W.forward(x, ctx=ctx))
        assert np.allclose(u1, u, rtol=1e-5, atol=1e-5 * np.abs(u).max())
        saved = W.backward(x, g, stage1=u1, ctx=ctx)
        for a, b in zip(saved, gr):
            assert np.array_equal(a, b)
        with pytest.raises(ValueError, match="stage1 has 2 tokens"):
            W.backward(x, g, stage1=u1[:2], ctx=ctx)
        y0, u0 = W.forward(x[0], save_stage1=True, ctx=ctx)  # one token as a 1-D row
        assert y0.shape == (W.m,) and u0.shape == (W.stage1_width,) and np.array_equal(u0, u1[0])
    else:
        with pytest.raises(subq.SubQError, match="stage1 must be NULL for a block-diagonal layer"):
            W.forward(x, save_stage1=True, ctx=ctx)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_projection_recovers_an_exact_monarch_matrix(rng, shape):
    k, q, p, l, s, r = shape
    w1 = rng.standard_normal((k, q, p))
    w2 = rng.standard_normal((l, s, r))
    M = ref_dense(w1, w2)
    assert np.allclose(subq.monarch_to_dense(w1, w2), M, rtol=0, atol=1e-12)
    p1, p2, resid = subq.monarch_project(M, k, q, p, l, s, r)
    assert p1.shape == w1.shape and p2.shape == w2.shape
    assert resid <= 1e-18 * max(1.0, np.sum(M * M))
    assert np.allclose(subq.monarch_to_dense(p1, p2), M, rtol=0, atol=1e-9 * np.abs(M).max())
    # a generic matrix: the residual is what the reconstruction leaves
    D = rng.standard_normal(M.shape)
    d1, d2, res2 = subq.monarch_project(D, k, q, p, l, s, r)
    assert res2 == pytest.approx(np.sum((D - subq.monarch_to_dense(d1, d2)) ** 2), rel=1e-9)


def test_complex_projection_round_trip(rng):
    k, q, p, l, s, r = SHAPES[1]
    w1 = rng.standard_normal((k, q, p)) + 1j * rng.standard_normal((k, q, p))
    w2 = rng.standard_normal((l, s, r)) + 1j * rng.standard_normal((l, s, r))
    M = subq.monarch_to_dense(w1, w2)
    assert M.dtype == np.complex128 and np.allclose(M, ref_dense(w1.real, w2.real) - ref_dense(w1.imag, w2.imag)
                                                    + 1j * (ref_dense(w1.real, w2.imag) + ref_dense(w1.imag, w2.real)))
    p1, p2, resid = subq.monarch_project(M, k, q, p, l, s, r)
    assert resid <= 1e-18 * np.sum(np.abs(M) ** 2)
    assert np.allclose(subq.monarch_to_dense(p1, p2), M, atol=1e-9)


def test_linear_shapes_rule():
    w1s, w2s, ie, oe = subq.monarch_linear_shapes(10, 30, 4)
    # in_blk = 3, out_blk = 8: in_ext 12 < out_ext 32 -> W1 (4, 3, 3), W2 (4, 8, 3)
    assert (w1s, w2s, ie, oe) == ((4, 3, 3), (4, 8, 3), 12, 32)


def test_bad_inputs_raise(rng):
    w1 = rng.standard_normal((2, 6, 3)).astype(np.float32)
    with pytest.raises(SubQError, match="k\\*q"):
        subq.MonarchWeights(w1, rng.standard_normal((4, 5, 4)).astype(np.float32))  # 12 != 16
    with pytest.raises(ValueError, match="3-D"):
        subq.MonarchWeights(w1[0])
    with pytest.raises(ValueError, match="dtype"):
        subq.MonarchWeights(w1.astype(np.float64))
    with pytest.raises(ValueError, match="contiguous"):
        subq.MonarchWeights(np.ascontiguousarray(w1.transpose(0, 2, 1)).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="same dtype"):
        subq.MonarchWeights(w1, subq.to_bf16(rng.standard_normal((4, 5, 3)).astype(np.float32)))
    with pytest.raises(SubQError, match="nblocks"):
        subq.blockdiag_shape(1000, 12, 3)
    W = subq.MonarchWeights(w1, rng.standard_normal((4, 5, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="columns"):
        W.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="bias"):
        W.forward(np.zeros((2, 6), np.float32), bias=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="out"):
        W.forward(np.zeros((2, 6), np.float32), out=np.zeros((2, 20), np.float64))
    with pytest.raises(ValueError, match="tokens"):
        W.backward(np.zeros((2, 6), np.float32), np.zeros((3, 20), np.float32))
    W.close()
    W.close()
    with pytest.raises(ValueError, match="close"):
        W.forward(np.zeros((1, 6), np.float32))
    with pytest.raises(SubQError):  # m != l*s
        subq.monarch_project(np.zeros((19, 6)), 2, 6, 3, 4, 5, 3)
    with pytest.raises(ValueError, match="float64"):
        subq.monarch_project(np.zeros((20, 6), np.float32), 2, 6, 3, 4, 5, 3)
    with pytest.raises(ValueError, match="l, s, r"):
        subq.monarch_project(np.zeros((20, 6)), 2, 6, 3, 4)
