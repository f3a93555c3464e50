import numpy as np
import pytest

import subq


def rounded(x, dtype):
    if dtype == "bf16":
        return subq.from_bf16(subq.to_bf16(x))
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    return x


def close(x, r, tol=2e-5):
    assert x.shape == r.shape and np.all(np.abs(x - r) <= tol + tol * np.abs(r)), np.abs(x - r).max()


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("b,hq,hkv,dk,dv,prompt", [(1, 1, 1, 8, 8, 1), (2, 6, 2, 40, 24, 13)])
def test_prefill_then_decode_equals_full_attention(ctx, rng, dtype, b, hq, hkv, dk, dv, prompt):
    total = prompt + 5
    q = rng.standard_normal((b, total, hq, dk)).astype(np.float32)
    k = rng.standard_normal((b, total, hkv, dk)).astype(np.float32)
    v = rng.standard_normal((b, total, hkv, dv)).astype(np.float32)
    full = subq.attention(q, rounded(k, dtype), rounded(v, dtype), causal=True, ctx=ctx)
    with subq.KVCache(b, hkv, dk, total + 3, dv=dv, dtype=dtype) as cache:
        cache.append(k[:, :prompt], v[:, :prompt], ctx=ctx)
        assert cache.positions(b - 1) == (0, prompt)
        o = subq.attention_kv(q[:, :prompt], cache, ctx=ctx)
        close(o, full[:, :prompt])
        for t in range(prompt, total):
            cache.append(k[:, t:t + 1], v[:, t:t + 1], ctx=ctx)
            o, lse = subq.attention_kv(q[:, t:t + 1], cache, return_lse=True, ctx=ctx)
            close(o, full[:, t:t + 1])
            assert lse.shape == (b, hq, 1) and np.all(np.isfinite(lse))
        assert cache.positions(0) == (0, total)
        cache.truncate(0, 2)
        assert cache.positions(0) == (0, 2)
        cache.reset()
        assert cache.positions(0) == (0, 0)


def test_ring_cache_sliding_window(ctx, rng):
    w, total, cap = 4, 20, 6  # window_left 4, one token per call: capacity >= 5
    q = rng.standard_normal((total, 2, 16)).astype(np.float32)
    k = rng.standard_normal((total, 1, 16)).astype(np.float32)
    v = rng.standard_normal((total, 1, 16)).astype(np.float32)
    full = subq.attention(q, k, v, window=(w, 0), ctx=ctx)
    cache = subq.KVCache(1, 1, 16, cap, mode="ring")
    for t in range(total):
        cache.append(k[t:t + 1], v[t:t + 1], ctx=ctx)  # 3-D: one sequence
        close(subq.attention_kv(q[t:t + 1], cache, window=(w, 0), ctx=ctx), full[t:t + 1])
    assert cache.positions() == (total - cap, total)
    with pytest.raises(subq.SubQError):  # no window: key 0 is needed but the ring overwrote it
        subq.attention_kv(q[-1:], cache, ctx=ctx)
    with pytest.raises(subq.SubQError):  # 20 queries, but the ring holds 6 positions
        subq.attention_kv(q, cache, window=(w, 0), ctx=ctx)
    cache.close()
    cache.close()
    with pytest.raises(ValueError, match="after close"):
        cache.positions()


def test_kvcache_bad_inputs(rng):
    with pytest.raises(ValueError, match="dtype"):
        subq.KVCache(1, 1, 8, 4, dtype="f64")
    with pytest.raises(ValueError, match="mode"):
        subq.KVCache(1, 1, 8, 4, mode="paged")
    with pytest.raises(subq.SubQError, match="capacity"):
        subq.KVCache(1, 1, 8, 0)
    cache = subq.KVCache(1, 2, 8, 4)
    k = rng.standard_normal((1, 3, 2, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="do not match"):
        cache.append(k[..., :4], k[..., :4])
    with pytest.raises(ValueError, match="float32"):
        cache.append(k.astype(np.float64), k)
    cache.append(k, k)
    with pytest.raises(subq.SubQError, match="full"):
        cache.append(k, k)
    with pytest.raises(ValueError, match="batch"):
        subq.attention_kv(rng.standard_normal((2, 1, 2, 8)).astype(np.float32), cache)
    with pytest.raises(subq.SubQError):  # 5 queries but the sequence holds 3 positions
        subq.attention_kv(rng.standard_normal((1, 5, 2, 8)).astype(np.float32), cache)


def test_bf16_queries_and_output_over_cache(ctx, rng):
    q = subq.to_bf16(rng.standard_normal((1, 3, 4, 32)).astype(np.float32))
    k = rng.standard_normal((1, 3, 2, 32)).astype(np.float32)
    v = rng.standard_normal((1, 3, 2, 32)).astype(np.float32)
    cache = subq.KVCache(1, 2, 32, 8)
    cache.append(k, v, ctx=ctx)
    o = subq.attention_kv(q, cache, out_dtype="bf16", ctx=ctx)
    ref = subq.attention(subq.from_bf16(q), k, v, causal=True, ctx=ctx)
    assert isinstance(o, subq.BF16Array)
    assert np.all(np.abs(subq.from_bf16(o) - ref) <= 2 ** -8 * np.abs(ref) + 1e-6)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
def test_info_and_storage_views(rng, dtype):
    b, hkv, dk, dv, cap = 2, 3, 8, 5, 6
    with subq.KVCache(b, hkv, dk, cap, dv=dv, dtype=dtype) as cache:
        info = cache.info()
        assert (info.dtype, info.mode, info.batch, info.hkv, info.dk, info.dv, info.capacity) == (
            dtype, "linear", b, hkv, dk, dv, cap)
        k = rng.standard_normal((b, 4, hkv, dk)).astype(np.float32)
        v = rng.standard_normal((b, 4, hkv, dv)).astype(np.float32)
        cache.append(k, v)
        ks, vs = cache.storage()
        assert ks.shape == (b, hkv, cap, dk) and vs.shape == (b, hkv, cap, dv)
        assert not ks.flags.writeable and not vs.flags.writeable
        stored_k = ks[:, :, :4].transpose(0, 2, 1, 3)  # (b, pos, h, d)
        stored_v = vs[:, :, :4].transpose(0, 2, 1, 3)
        if dtype == "bf16":
            assert np.array_equal(stored_k, subq.to_bf16(k).bits) and np.array_equal(stored_v, subq.to_bf16(v).bits)
        elif dtype == "f16":
            assert np.array_equal(stored_k, k.astype(np.float16)) and np.array_equal(stored_v, v.astype(np.float16))
        else:
            assert np.array_equal(stored_k, k) and np.array_equal(stored_v, v)
        cache.append(k[:, :1], v[:, :1])  # live views: later appends show through
        assert np.array_equal(ks[:, :, 4], ks[:, :, 0])
        assert info.k_strides[2] >= dk  # slot stride covers a head row
        snapshot = ks.copy()
    # The views keep the storage alive past close().
    assert np.array_equal(ks, snapshot)
    with pytest.raises(ValueError, match="after close"):
        cache.info()


def test_ring_storage_slots(rng):
    with subq.KVCache(1, 1, 4, 3, mode="ring") as cache:
        assert cache.info().mode == "ring"
        k = rng.standard_normal((1, 5, 1, 4)).astype(np.float32)
        cache.append(k, k)
        ks, _ = cache.storage()
        for p in range(2, 5):  # positions 2..4 survive, position p in slot p % 3
            assert np.array_equal(ks[0, 0, p % 3], k[0, p, 0])
