import numpy as np
import pytest

import subq


def ref(a, b, alpha=1.0, beta=0.0, c=None):
    r = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if c is not None and beta:
        r += beta * c.astype(np.float64)
    return r


def assert_close(x, r, k):
    # Per-element bound of the header: about (k + 8) * 2^-24 * sum |a||b|; use the max as scale.
    tol = (k + 8) * 2.0 ** -24 * 4 * max(1.0, np.abs(r).max()) + 1e-6
    assert np.abs(x - r).max() <= tol


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 5, 7), (63, 65, 67), (257, 33, 130), (1, 1000, 300)])
def test_gemm_matches_numpy(ctx, rng, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = subq.gemm(a, b, ctx=ctx)
    assert c.dtype == np.float32 and c.shape == (m, n)
    assert_close(c, ref(a, b), k)


def test_gemm_transposed_views_without_copy(ctx, rng):
    at = rng.standard_normal((40, 30)).astype(np.float32)  # used as a = at.T (30 x 40)
    bt = rng.standard_normal((20, 40)).astype(np.float32)  # b = bt.T (40 x 20)
    c = subq.gemm(at.T, bt.T, ctx=ctx)
    assert_close(c, ref(at.T, bt.T), 40)
    # padded rows (a slice of a wider array) and a strided output view
    big = rng.standard_normal((30, 64)).astype(np.float32)
    out = np.zeros((30, 50), dtype=np.float32)
    subq.gemm(big[:, :40], bt.T, out=out[:, 5:25], ctx=ctx)
    assert_close(out[:, 5:25], ref(big[:, :40], bt.T), 40)
    assert not out[:, :5].any() and not out[:, 25:].any()


def test_gemm_alpha_beta_and_batch(ctx, rng):
    a = rng.standard_normal((4, 9, 11)).astype(np.float32)
    b = rng.standard_normal((4, 11, 6)).astype(np.float32)
    c0 = rng.standard_normal((4, 9, 6)).astype(np.float32)
    c = c0.copy()
    subq.gemm(a, b, out=c, alpha=0.5, beta=2.0, ctx=ctx)
    assert_close(c, 0.5 * np.einsum("bmk,bkn->bmn", a.astype(np.float64), b) + 2.0 * c0, 11)
    shared = rng.standard_normal((11, 6)).astype(np.float32)
    assert_close(subq.gemm(a, shared, ctx=ctx), a.astype(np.float64) @ shared, 11)


def test_bf16_roundtrip_and_gemm(ctx, rng):
    x = rng.standard_normal((33, 17)).astype(np.float32)
    xb = subq.to_bf16(x)
    assert isinstance(xb, subq.BF16Array) and xb.bits.dtype == np.uint16
    back = subq.from_bf16(xb)
    # round to nearest even on the upper 16 bits: relative error <= 2^-9
    assert np.all(np.abs(back - x) <= np.abs(x) * 2.0 ** -8)
    assert np.array_equal(subq.from_bf16(subq.to_bf16(back)), back)  # exact on representable values
    a = rng.standard_normal((5, 33)).astype(np.float32)
    c = subq.gemm(a, xb, ctx=ctx)
    assert_close(c, ref(a, back), 33)


def test_packed_b(ctx, rng):
    w = rng.standard_normal((48, 64)).astype(np.float32)  # a Linear weight [out][in]
    x = rng.standard_normal((7, 64)).astype(np.float32)
    p = subq.PackedB(w.T, ctx=ctx)
    assert p.nbytes >= 48 * 64 * 4
    assert_close(p(x, ctx=ctx), ref(x, w.T), 64)
    # the packed and unpacked paths may block k differently (small-M rows path): close, not bitwise
    assert_close(p(x, ctx=ctx), subq.gemm(x, w.T, ctx=ctx).astype(np.float64), 64)
    with pytest.raises(ValueError, match="columns"):
        p(x[:, :10], ctx=ctx)
    p.close()
    with pytest.raises(ValueError, match="after close"):
        p(x)


def test_gemm_rejects_what_it_cannot_view(rng):
    a = rng.standard_normal((4, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="float64 is not"):
        subq.gemm(a.astype(np.float64), a)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros((4, 4), dtype=np.float32)
        ro.flags.writeable = False
        subq.gemm(a, a, out=ro)
    with pytest.raises(ValueError, match="shape"):
        subq.gemm(a, a, out=np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="beta"):
        subq.gemm(a, a, beta=1.0)
    with pytest.raises(ValueError, match="2-D"):
        subq.gemm(a[0], a)
    raw = np.zeros(4 * 4 * 4 + 1, dtype=np.uint8)[1:].view(np.float32).reshape(4, 4)
    with pytest.raises(ValueError, match="aligned"):
        subq.gemm(raw, a)


def test_torch_tensors_through_dlpack(rng):
    torch = pytest.importorskip("torch")
    a = torch.randn(8, 12)
    b = torch.randn(12, 5)
    out = torch.zeros(8, 5)
    subq.gemm(a, b, out=out)  # writes into the tensor's memory
    assert torch.allclose(out, a @ b, atol=1e-5)


def test_f16_conversions_match_numpy(rng):
    # Normal, subnormal, overflowing, tie and special values: the library's rounding equals
    # NumPy's astype(float16) (both round to nearest even) bit for bit, NaN aside.
    x = np.concatenate([
        rng.standard_normal(4099).astype(np.float32) * 100,
        np.array([0.0, -0.0, 1e-8, -3e-6, 6.1e-5, 65504.0, 65520.0, 1e6, -1e6, np.inf, -np.inf,
                  1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11], dtype=np.float32)])
    h = subq.to_f16(x)
    assert h.dtype == np.float16 and h.shape == x.shape
    with np.errstate(over="ignore"):  # the overflow to Inf is the point
        ref = x.astype(np.float16)
    assert np.array_equal(h.view(np.uint16), ref.view(np.uint16))
    back = subq.from_f16(h)
    assert back.dtype == np.float32
    assert np.array_equal(back, h.astype(np.float32))
    n = subq.from_f16(subq.to_f16(np.array([np.nan], dtype=np.float32)))
    assert np.isnan(n[0])
    with pytest.raises(ValueError, match="float32"):
        subq.to_f16(np.zeros(3))
    with pytest.raises(ValueError, match="float16"):
        subq.from_f16(np.zeros(3, dtype=np.float32))


def test_int8_weights():
    rng = np.random.default_rng(7)
    n, k, m = 37, 70, 3
    w = rng.standard_normal((n, k)).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    q = subq.Int8Weights(w)
    deq = q.dequantize()
    # each weight within scale / 2 of its value (scale = the block's absmax / 127, rounded up to bf16)
    for b0 in range(0, k, 32):
        blk = slice(b0, min(k, b0 + 32))
        amax = np.abs(w[:, blk]).max(axis=1, keepdims=True)
        assert np.all(np.abs(deq[:, blk] - w[:, blk]) <= amax / 254 * (1 + 2.0**-7) + amax * 1e-6)
    y = q(x)
    ref = x.astype(np.float64) @ deq.astype(np.float64).T
    mag = np.abs(x.astype(np.float64)) @ np.abs(deq.astype(np.float64)).T
    assert np.all(np.abs(y - ref) <= (k + 16) * 2.0**-24 * mag)
    assert q.nbytes >= n * 3 * 34
    # bf16 weights quantize like their exact f32 widening
    wb = subq.to_bf16(w)
    assert np.array_equal(subq.Int8Weights(wb).dequantize(), subq.Int8Weights(subq.from_bf16(wb)).dequantize())
    w[5, 7] = np.nan
    with pytest.raises(subq.SubQError, match="row 5, column 7"):
        subq.Int8Weights(w)
    with pytest.raises(ValueError):
        q(x[:, :-1])
    q.close()
    with pytest.raises(ValueError, match="after close"):
        q(x)
