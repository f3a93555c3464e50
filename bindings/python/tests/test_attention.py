import numpy as np
import pytest

import subq


def naive(q, k, v, causal=False, window=None, softcap=0.0, scale=None, align="bottom_right"):
    """float64 reference over (B, S, H, D) arrays; fully masked rows give 0."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    b, sq, hq, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    g = hq // hkv
    scale = 1.0 / np.sqrt(d) if scale is None else scale
    off = sk - sq if align == "bottom_right" else 0
    wl, wr = (-1, -1) if window is None else window
    if causal:
        wr = 0 if wr < 0 else min(wr, 0)
    out = np.zeros((b, sq, hq, v.shape[3]))
    for bi in range(b):
        for h in range(hq):
            s = scale * q[bi, :, h] @ k[bi, :, h // g].T
            if softcap:
                s = softcap * np.tanh(s / softcap)
            i = np.arange(sq)[:, None] + off
            j = np.arange(sk)[None, :]
            ok = np.ones((sq, sk), bool)
            if wl >= 0:
                ok &= j >= i - wl
            if wr >= 0:
                ok &= j <= i + wr
            s = np.where(ok, s, -np.inf)
            m = s.max(axis=1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0.0)
            p = np.exp(s - m)
            den = p.sum(axis=1, keepdims=True)
            out[bi, :, h] = np.where(den > 0, (p @ v[bi, :, h // g]) / np.where(den > 0, den, 1), 0.0)
    return out


def close(x, r):
    assert np.all(np.abs(x - r) <= 1e-5 + 1e-5 * np.abs(r)), np.abs(x - r).max()


@pytest.mark.parametrize("sq,sk,hq,hkv,d", [(1, 1, 1, 1, 32), (7, 7, 4, 1, 40), (63, 63, 8, 2, 64),
                                           (1, 257, 8, 1, 128), (5, 300, 4, 4, 80)])
@pytest.mark.parametrize("mask", ["none", "causal", "window", "softcap"])
def test_attention_matches_numpy(ctx, rng, sq, sk, hq, hkv, d, mask):
    q = rng.standard_normal((2, sq, hq, d)).astype(np.float32)
    k = rng.standard_normal((2, sk, hkv, d)).astype(np.float32)
    v = rng.standard_normal((2, sk, hkv, d)).astype(np.float32)
    kw = {"none": {}, "causal": {"causal": True}, "window": {"window": (3, 0)},
          "softcap": {"softcap": 5.0, "causal": True}}[mask]
    close(subq.attention(q, k, v, ctx=ctx, **kw), naive(q, k, v, **kw))


def test_bhsd_layout_views_and_lse(ctx, rng):
    qkv = rng.standard_normal((1, 9, 3, 4, 32)).astype(np.float32)  # fused QKV projection output
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # strided views, no copies
    o, lse = subq.attention(q, k, v, causal=True, return_lse=True, ctx=ctx)
    close(o, naive(q, k, v, causal=True))
    assert lse.shape == (1, 4, 9) and np.all(np.isfinite(lse))
    qb = np.ascontiguousarray(q.transpose(0, 2, 1, 3))
    kb = np.ascontiguousarray(k.transpose(0, 2, 1, 3))
    vb = np.ascontiguousarray(v.transpose(0, 2, 1, 3))
    ob = subq.attention(qb, kb, vb, causal=True, layout="bhsd", ctx=ctx)
    assert ob.shape == (1, 4, 9, 32)
    close(ob.transpose(0, 2, 1, 3), naive(q, k, v, causal=True))


def test_fully_masked_rows_are_zero(ctx, rng):
    q = rng.standard_normal((1, 4, 2, 16)).astype(np.float32)
    k = rng.standard_normal((1, 4, 2, 16)).astype(np.float32)
    o = subq.attention(q, k, k, window=(0, -1), align="top_left", ctx=ctx)  # j >= i only: all rows have keys
    assert np.all(np.isfinite(o))
    o = subq.attention(q, k[:, :0], k[:, :0], ctx=ctx)  # no keys at all
    assert o.shape == (1, 4, 2, 16) and not o.any()


def test_attention_bad_inputs(rng):
    q = rng.standard_normal((1, 4, 3, 16)).astype(np.float32)
    k = rng.standard_normal((1, 4, 2, 16)).astype(np.float32)
    with pytest.raises(subq.SubQError) as e:
        subq.attention(q, k, k)  # 3 query heads over 2 kv heads
    assert "hq" in e.value.message
    with pytest.raises(ValueError, match="head dim"):
        subq.attention(q, k[..., :8], k)
    with pytest.raises(subq.SubQError, match="window_left"):
        subq.attention(q[:, :, :2], k, k, window=(-5, 0))
    with pytest.raises(ValueError, match="innermost stride"):
        subq.attention(q[..., ::2], k[..., ::2], k[..., ::2])


def test_16bit_inputs_and_outputs(ctx, rng):
    q = rng.standard_normal((2, 7, 4, 24)).astype(np.float32)
    k = rng.standard_normal((2, 9, 2, 24)).astype(np.float32)
    v = rng.standard_normal((2, 9, 2, 24)).astype(np.float32)
    qb, kb, vb = subq.to_bf16(q), subq.to_bf16(k), subq.to_bf16(v)
    wq, wk, wv = subq.from_bf16(qb), subq.from_bf16(kb), subq.from_bf16(vb)  # exact widening
    ref = naive(wq, wk, wv, causal=True)
    close(subq.attention(qb, kb, vb, causal=True, ctx=ctx), ref)
    ob = subq.attention(qb, kb, vb, causal=True, out_dtype="bf16", ctx=ctx)
    assert isinstance(ob, subq.BF16Array) and ob.shape == (2, 7, 4, 24)
    assert np.all(np.abs(subq.from_bf16(ob) - ref) <= 2 ** -8 * np.abs(ref) + 1e-6)  # one RNE rounding
    qh, kh, vh = q.astype(np.float16), k.astype(np.float16), v.astype(np.float16)
    oh = subq.attention(qh, kh, vh, out_dtype="f16", ctx=ctx)
    rh = naive(*(x.astype(np.float32) for x in (qh, kh, vh)))
    assert oh.dtype == np.float16 and np.all(np.abs(oh - rh) <= 2 ** -11 * np.abs(rh) + 1e-4)
    close(subq.attention(q, kb, vb, ctx=ctx), naive(q, wk, wv))  # f32 q over bf16 K/V
    with pytest.raises(ValueError, match="one dtype"):
        subq.attention(q, kb, vh)
    with pytest.raises(ValueError, match="out_dtype"):
        subq.attention(q, k, v, out_dtype="f64")


def test_additive_mask(ctx, rng):
    b, sq, sk, hq, d = 2, 5, 8, 4, 16
    q = rng.standard_normal((b, sq, hq, d)).astype(np.float32)
    k = rng.standard_normal((b, sk, 2, d)).astype(np.float32)
    v = rng.standard_normal((b, sk, 2, d)).astype(np.float32)
    bias = rng.standard_normal((b, 1, sq, sk)).astype(np.float32)  # broadcast over heads
    bias[:, :, :, 3] = -np.inf
    kr, vr = k.repeat(2, axis=2).astype(np.float64), v.repeat(2, axis=2).astype(np.float64)
    s = np.einsum("bqhd,bkhd->bhqk", q.astype(np.float64), kr) / np.sqrt(d) + bias
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = np.einsum("bhqk,bkhd->bqhd", p / p.sum(-1, keepdims=True), vr)
    close(subq.attention(q, k, v, mask=bias, ctx=ctx), ref)
    close(subq.attention(q, k, v, mask=np.zeros((1, sq, sk), np.float32), ctx=ctx), naive(q, k, v))  # 3-D, broadcast
    with pytest.raises(ValueError, match="keys dimension"):
        subq.attention(q, k, v, mask=bias[..., :4])
    with pytest.raises(ValueError, match="heads dimension"):
        subq.attention(q, k, v, mask=np.zeros((b, 3, sq, sk), np.float32))
