"""subq.convert (subq_convert) against NumPy references, bit for bit."""
import numpy as np
import pytest

import subq


def bf16_rne_bits(x):
    """float32 -> bf16 bits, round to nearest even; NaN kept quiet with its sign and leading payload."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def specials():
    f16_sub = np.float32(2.0 ** -24)  # smallest f16 subnormal
    return np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 1e30, -1e-30,
                     f16_sub, 3 * f16_sub, 1.0000001, 3.4e38, 1.17549435e-38, 1e-45], dtype=np.float32)


@pytest.mark.parametrize("n", [0, 1, 7, 16, 33, 1000, 4099])
def test_f32_to_bf16_and_back(ctx, rng, n):
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)).astype(np.float32)
    b = subq.convert(x, "bf16", ctx=ctx)
    assert isinstance(b, subq.BF16Array) and b.shape == x.shape
    assert np.array_equal(b.bits, bf16_rne_bits(x))
    back = subq.convert(b, "f32", ctx=ctx)
    assert back.dtype == np.float32
    assert np.array_equal(back.view(np.uint32), b.bits.astype(np.uint32) << 16)  # exact widening


def test_specials_bf16_and_f16(ctx):
    x = specials()
    b = subq.convert(x, "bf16", ctx=ctx)
    assert np.array_equal(b.bits, bf16_rne_bits(x))
    h = subq.convert(x, "f16", ctx=ctx)
    assert h.dtype == np.float16
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)  # NumPy rounds to nearest even, overflow to inf, subnormals exact
    same = (h.view(np.uint16) == ref.view(np.uint16)) | (np.isnan(h) & np.isnan(ref))
    assert same.all(), (x[~same], h[~same], ref[~same])
    assert np.array_equal(subq.convert(h, "f32", ctx=ctx), ref.astype(np.float32), equal_nan=True)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 129), (0, 4)])
def test_f16_round_trip_shapes(ctx, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 300
    h = subq.convert(x, "f16", ctx=ctx)
    assert h.shape == shape and np.array_equal(h, x.astype(np.float16))
    assert np.array_equal(subq.convert(h, "f32", ctx=ctx), x.astype(np.float16).astype(np.float32))
    assert np.array_equal(subq.convert(x, "f32", ctx=ctx), x)  # f32 -> f32 copies


def test_every_f16_value_widens_exactly(ctx):
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    h = bits.view(np.float16)
    got = subq.convert(h, "f32", ctx=ctx)
    ref = h.astype(np.float32)
    assert np.array_equal(got, ref, equal_nan=True)


def test_out_is_filled_in_place(rng):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    out = np.zeros((4, 8), np.float16)
    assert subq.convert(x, "f16", out=out) is out and np.array_equal(out, x.astype(np.float16))
    ob = subq.BF16Array(np.zeros((4, 8), np.uint16))
    assert subq.convert(x, "bf16", out=ob) is ob and np.array_equal(ob.bits, bf16_rne_bits(x))
    raw = np.zeros((4, 8), np.uint16)  # bf16 bits given as a plain uint16 array
    assert isinstance(subq.convert(x, "bf16", out=raw), subq.BF16Array) and np.array_equal(raw, ob.bits)


def test_errors(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="dtype must be one of"):
        subq.convert(x, "f64")
    with pytest.raises(ValueError, match="not float32, float16 or bf16"):
        subq.convert(x.astype(np.float64), "bf16")
    with pytest.raises(ValueError, match="one side must be f32"):
        subq.convert(x.astype(np.float16), "bf16")
    with pytest.raises(ValueError, match="C-contiguous"):
        subq.convert(x.T, "f16")  # no silent copy of a strided view
    with pytest.raises(ValueError, match="C-contiguous"):
        subq.convert(x, "f16", out=np.empty((6, 4), np.float16).T)
    with pytest.raises(ValueError, match="shape"):
        subq.convert(x, "f16", out=np.empty((4, 5), np.float16))
    with pytest.raises(ValueError, match="dtype"):
        subq.convert(x, "f16", out=np.empty((4, 6), np.float32))
    ro = np.empty((4, 6), np.float16)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        subq.convert(x, "f16", out=ro)
    buf = np.zeros(4 * 6 + 1, np.float32)
    with pytest.raises(subq.SubQError, match="overlap"):
        subq.convert(buf[:24], "f32", out=buf[1:].reshape(24))
