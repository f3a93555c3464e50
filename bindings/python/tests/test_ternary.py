"""Ternary bindings against NumPy references: absmean quantization and activation
quantization exactly (f32 arithmetic), the int32 product exactly (int64 NumPy),
the BitLinear epilogue exactly, HGRN against float64."""
import numpy as np
import pytest

import subq
from subq import SubQError

F = np.float32


def ref_quantize(W, per_row):
    W = np.asarray(W, np.float32)
    m = np.abs(W.astype(np.float64)).mean(axis=1 if per_row else None)
    gamma = np.maximum(m, 1e-5).astype(F).reshape(-1)
    inv = F(1) / gamma
    prod = (W * (inv[:, None] if per_row else inv[0])).astype(F)
    return np.clip(np.rint(prod), -1, 1).astype(np.int8), gamma


def ref_act_quant(x, half_away=False):
    a = np.maximum(np.abs(x).max(axis=1), F(1e-5)).astype(F)
    s = (F(127) / a).astype(F)
    y = (x * s[:, None]).astype(F).astype(np.float64)
    r = np.sign(y) * np.floor(np.abs(y) + 0.5) if half_away else np.rint(y)
    q = np.clip(r, -127, 127).astype(np.int8)
    return q, q.astype(np.int32).sum(1), a


def ref_epilogue(D, gamma, a, residual=None):
    comb = (gamma[None, :] * (a / F(127)).astype(F)[:, None]).astype(F)
    out = (D.astype(F) * comb).astype(F)
    return out if residual is None else (out + residual).astype(F)


@pytest.mark.parametrize("n", [1, 5, 300])
@pytest.mark.parametrize("k", [7, 64, 131])
@pytest.mark.parametrize("scale", ["tensor", "row"])
def test_quantize_and_codes_round_trip(ctx, rng, n, k, scale):
    W = rng.standard_normal((n, k)).astype(F)
    with subq.TernaryWeights.quantize(W, scale=scale, ctx=ctx) as w:
        assert (w.rows, w.cols, w.shape, w.scale) == (n, k, (n, k), scale)
        t, g = w.to_codes()
        rt, rg = ref_quantize(W, scale == "row")
        assert np.array_equal(t, rt) and np.array_equal(g, rg)
        blob = w.blob()
        assert blob[:4] == b"SQT2"
        w2 = subq.TernaryWeights.from_blob(blob)
        assert w2.blob() == blob
        w3 = subq.TernaryWeights.from_codes(t, g if scale == "row" else g[0])
        assert w3.blob() == blob
        # dequantized weights import back exactly (gamma kept)
        deq = (t.astype(F) * (g[:, None] if scale == "row" else g[0])).astype(F)
        t4, g4 = subq.TernaryWeights.from_ternarized(deq, scale=scale).to_codes()
        assert np.array_equal(t4, t)


def test_bf16_quantize_uses_the_widened_values(rng):
    W = subq.to_bf16(rng.standard_normal((5, 70)).astype(F))
    t, g = subq.TernaryWeights.quantize(W, scale="row").to_codes()
    rt, rg = ref_quantize(subq.from_bf16(W), True)
    assert np.array_equal(t, rt) and np.array_equal(g, rg)


@pytest.mark.parametrize("rule", ["divide", "multiply"])
def test_from_hf_packed(rng, rule):
    n, k = 300, 37
    codes = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    packed = np.zeros((n // 4, k), np.uint8)
    for i in range(4):
        packed |= ((codes[i * (n // 4):(i + 1) * (n // 4)] + 1).astype(np.uint8) << (2 * i))
    ws = F(2.5)
    t, g = subq.TernaryWeights.from_hf(packed, ws, rule=rule).to_codes()
    assert np.array_equal(t, codes)
    assert g[0] == pytest.approx(1 / 2.5 if rule == "divide" else 2.5, rel=1e-7)
    bad = packed.copy()
    bad[3, 4] = 0b11
    with pytest.raises(SubQError):
        subq.TernaryWeights.from_hf(bad, ws)


@pytest.mark.parametrize("tokens", [1, 3, 17])
@pytest.mark.parametrize("nk", [(1, 7), (5, 64), (300, 131)])
def test_matmul_i32_and_bitlinear_exact(ctx, rng, tokens, nk):
    n, k = nk
    W = rng.standard_normal((n, k)).astype(F)
    w = subq.TernaryWeights.quantize(W, scale="row")
    t, g = w.to_codes()
    x = (rng.standard_normal((tokens, k)) * 3).astype(F)
    q, sums, a = subq.ternary_act_quant(x, ctx=ctx)
    rq, rs, ra = ref_act_quant(x)
    assert np.array_equal(q, rq) and np.array_equal(sums, rs) and np.array_equal(a, ra)
    D = subq.matmul_i32(w, q, ctx=ctx)
    assert D.dtype == np.int32 and np.array_equal(D, q.astype(np.int64) @ t.astype(np.int64).T)
    # extreme activations: the whole [-127, 127] range
    qx = rng.integers(-127, 128, size=(tokens, k)).astype(np.int8)
    assert np.array_equal(w.matmul_i32(qx, ctx=ctx), qx.astype(np.int64) @ t.astype(np.int64).T)
    out = subq.bitlinear(x, w, ctx=ctx)
    assert np.array_equal(out, ref_epilogue(D, g, a))
    res = rng.standard_normal((tokens, n)).astype(F)
    assert np.array_equal(w.bitlinear(x, residual=res, ctx=ctx), ref_epilogue(D, g, a, res))
    # out == residual (in place), and a strided x view
    buf = np.zeros((tokens, k + 5), F)
    buf[:, 2:2 + k] = x
    r2 = res.copy()
    assert subq.bitlinear(buf[:, 2:2 + k], w, residual=r2, out=r2, ctx=ctx) is r2
    assert np.array_equal(r2, ref_epilogue(D, g, a, res))


@pytest.mark.parametrize("tokens", [1, 3, 17])
def test_fused_rmsnorm(ctx, rng, tokens):
    n, k = 5, 131
    w = subq.TernaryWeights.quantize(rng.standard_normal((n, k)).astype(F))
    t, g = w.to_codes()
    x = rng.standard_normal((tokens, k)).astype(F)
    nw = (1 + 0.1 * rng.standard_normal(k)).astype(F)
    q, sums, a = subq.ternary_act_quant(x, rmsnorm=True, norm_weight=nw, eps=1e-5, ctx=ctx)
    x64 = x.astype(np.float64)
    y = x64 / np.sqrt((x64 ** 2).mean(1, keepdims=True) + 1e-5) * nw
    ya = np.abs(y).max(1)
    assert np.allclose(a, ya, rtol=1e-5)
    assert np.abs(q.astype(np.float64) - y * (127 / ya)[:, None]).max() <= 0.5 + 1e-3
    assert np.array_equal(sums, q.astype(np.int32).sum(1))
    D = q.astype(np.int64) @ t.astype(np.int64).T
    out = subq.bitlinear(x, w, rmsnorm=True, norm_weight=nw, eps=1e-5, ctx=ctx)
    assert np.array_equal(out, ref_epilogue(D, np.repeat(g, n), a))
    # without the norm the result differs (the flag is honoured)
    assert not np.array_equal(subq.bitlinear(x, w, ctx=ctx), out)


def test_rounding_modes(rng):
    x = np.array([[0.5, 1.5, 2.5, -2.5, 127.0, 3.5]], F)  # scale 1: exact ties
    q_even = subq.ternary_act_quant(x)[0]
    q_away = subq.ternary_act_quant(x, rounding="half_away")[0]
    assert q_even.tolist() == [[0, 2, 2, -2, 127, 4]]
    assert q_away.tolist() == [[1, 2, 3, -3, 127, 4]]
    assert np.array_equal(q_away, ref_act_quant(x, half_away=True)[0])
    assert subq.ternary_act_quant(x[0])[0].shape == (6,)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def ref_hgrn(i, f, s, lb=None, gate=None, gw=None, eps=1e-6):
    i, f = i.astype(np.float64), f.astype(np.float64)
    s = np.zeros(i.shape[1]) if s is None else s.astype(np.float64).copy()
    outs = []
    for t in range(i.shape[0]):
        ft = sigmoid(f[t])
        if lb is not None:
            ft = lb + (1 - lb) * ft
        s = ft * s + i[t] * sigmoid(i[t]) * (1 - ft)
        o = s.copy()
        if gate is not None:
            g = gate[t].astype(np.float64)
            o = g / np.sqrt((g ** 2).mean() + eps) * (1 if gw is None else gw) * s * sigmoid(s)
        outs.append(o)
    return np.array(outs), s


@pytest.mark.parametrize("tokens", [1, 3, 17])
@pytest.mark.parametrize("gated", [False, True])
def test_hgrn_against_float64_and_steps(ctx, rng, tokens, gated):
    C = 37
    i, f = (rng.standard_normal((tokens + 2, C)).astype(F) for _ in range(2))
    lb = rng.uniform(0, 0.5, C).astype(F)
    gate = rng.standard_normal((tokens + 2, C)).astype(F) if gated else None
    gw = rng.uniform(0.5, 1.5, C).astype(F) if gated else None
    s0 = rng.standard_normal(C).astype(F)
    state = s0.copy()
    out, st = subq.hgrn(i[:tokens], f[:tokens], state, lower_bound=lb,
                        gate=None if gate is None else gate[:tokens], gate_norm_weight=gw, ctx=ctx)
    assert st is state
    ro, rs = ref_hgrn(i[:tokens], f[:tokens], s0, lb, None if gate is None else gate[:tokens], gw)
    assert np.allclose(out, ro, rtol=1e-5, atol=1e-5) and np.allclose(state, rs, rtol=1e-5, atol=1e-5)
    # two decode steps continue the prefill bitwise
    steps = [subq.hgrn_step(i[t], f[t], state, lower_bound=lb, gate=None if gate is None else gate[t],
                            gate_norm_weight=gw, ctx=ctx) for t in (tokens, tokens + 1)]
    full, fs = subq.hgrn(i, f, s0.copy(), lower_bound=lb, gate=gate, gate_norm_weight=gw, ctx=ctx)
    assert np.array_equal(np.stack(steps), full[tokens:]) and np.array_equal(state, fs)
    # no state: starts from zeros
    z, zs = subq.hgrn(i, f, ctx=ctx)
    assert np.allclose(z, ref_hgrn(i, f, None)[0], rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise(rng):
    W = rng.standard_normal((5, 70)).astype(F)
    with pytest.raises(ValueError, match="float32"):
        subq.TernaryWeights.quantize(W.astype(np.float64))
    with pytest.raises(ValueError, match="scale"):
        subq.TernaryWeights.quantize(W, scale="col")
    with pytest.raises(SubQError):  # codes outside {-1, 0, 1}
        subq.TernaryWeights.from_codes(np.full((2, 3), 2, np.int8), 1.0)
    with pytest.raises(SubQError):  # non-positive gamma
        subq.TernaryWeights.from_codes(np.zeros((2, 3), np.int8), -1.0)
    with pytest.raises(ValueError, match="gamma"):
        subq.TernaryWeights.from_codes(np.zeros((3, 3), np.int8), [1.0, 2.0])
    with pytest.raises(SubQError):  # neither 0 nor +-gamma
        subq.TernaryWeights.from_ternarized(np.array([[1.0, 0.5]], F))
    with pytest.raises(SubQError):
        subq.TernaryWeights.from_blob(b"SQT2" + bytes(60))
    w = subq.TernaryWeights.quantize(W)
    with pytest.raises(ValueError, match="columns"):
        subq.bitlinear(np.zeros((2, 69), F), w)
    with pytest.raises(SubQError):  # -128 is not a valid activation
        subq.matmul_i32(w, np.full((1, 70), -128, np.int8))
    with pytest.raises(ValueError, match="int8"):
        subq.matmul_i32(w, np.zeros((1, 70), np.int16))
    with pytest.raises(ValueError, match="residual"):
        subq.bitlinear(np.zeros((2, 70), F), w, residual=np.zeros((2, 4), F))
    with pytest.raises(ValueError, match="state"):
        subq.hgrn_step(np.zeros(4, F), np.zeros(4, F), None)
    with pytest.raises(ValueError, match="tokens"):
        subq.hgrn(np.zeros((2, 4), F), np.zeros((3, 4), F))
    with pytest.raises(SubQError):  # eps < 0
        subq.hgrn(np.zeros((2, 4), F), np.zeros((2, 4), F), gate=np.ones((2, 4), F), eps=-1.0)
    w.close()
    with pytest.raises(ValueError, match="close"):
        w.to_codes()
