"""Zero copy through NumPy, __array_interface__ and DLPack; the GIL is released
during kernel calls; the import-time version check."""
import threading
import time

import numpy as np
import pytest

import subq
from subq import _lib


class OnlyArrayInterface:
    """Exposes nothing but __array_interface__ (as buffer-sharing libraries do)."""

    def __init__(self, a):
        self._a = a
        self.__array_interface__ = a.__array_interface__


class OnlyDLPack:
    """Exposes nothing but the DLPack protocol (as PyTorch / JAX CPU tensors do)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@pytest.mark.parametrize("wrap", [OnlyArrayInterface, OnlyDLPack], ids=["array_interface", "dlpack"])
def test_inputs_and_outputs_are_not_copied(rng, wrap):
    a = rng.standard_normal((6, 5)).astype(np.float32)
    b = rng.standard_normal((5, 4)).astype(np.float32)
    out = np.zeros((6, 4), np.float32)
    got = subq.gemm(wrap(a), wrap(b), out=wrap(out))
    assert np.shares_memory(got, out)  # the result was written into the caller's memory
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    # The library sees the caller's buffers themselves: writing into an input is an overlap.
    with pytest.raises(subq.SubQError, match="overlaps"):
        subq.gemm(wrap(a), wrap(b), out=wrap(a[:, :4]))
    # A strided view (a transposed operand) is passed by its strides, not copied.
    at = np.ascontiguousarray(a.T)
    np.testing.assert_allclose(subq.gemm(wrap(at.T), wrap(b)), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("wrap", [OnlyArrayInterface, OnlyDLPack], ids=["array_interface", "dlpack"])
def test_what_cannot_be_viewed_is_refused(rng, wrap):
    q = rng.standard_normal((1, 4, 2, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="float64 is not"):
        subq.attention(wrap(q.astype(np.float64)), q, q)
    with pytest.raises(ValueError, match="innermost stride"):
        subq.attention(wrap(np.asfortranarray(q)), q, q)
    raw = np.zeros(q.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(q.shape)
    with pytest.raises(ValueError, match="aligned"):
        subq.attention(wrap(raw), q, q)
    with pytest.raises(ValueError, match="dtype"):
        subq.attention(q, q, q, out=wrap(np.zeros(q.shape, np.float64)))


def test_torch_cpu_tensors_in_and_out():
    torch = pytest.importorskip("torch")
    q = torch.randn(1, 5, 4, 16)
    k = torch.randn(1, 5, 2, 16)
    v = torch.randn(1, 5, 2, 16)
    out = torch.empty(1, 5, 4, 16)
    subq.attention(q, k, v, causal=True, out=out)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.repeat_interleave(2, 2).transpose(1, 2), v.repeat_interleave(2, 2).transpose(1, 2),
        is_causal=True).transpose(1, 2)
    assert torch.allclose(out, ref, atol=1e-5)
    with pytest.raises(ValueError, match="float64"):
        subq.attention(q.double(), k, v)
    with pytest.raises(ValueError, match="innermost stride"):
        subq.attention(q.transpose(2, 3), k, v)


def test_gil_is_released_during_kernel_calls():
    """While one thread is inside a long SubQ call, another Python thread keeps
    running: ctypes.CDLL drops the GIL around every foreign call."""
    n = 384
    a = np.random.default_rng(5).standard_normal((n, n)).astype(np.float32)
    state = {"inside": False, "done": False, "spins": 0}
    with subq.Context(threads=1, isa="scalar") as c:
        subq.gemm(a[:64], a, ctx=c)  # warm-up
        t0 = time.perf_counter()
        subq.gemm(a, a, ctx=c)
        one_call = time.perf_counter() - t0

        def work():
            state["inside"] = True
            for _ in range(3):
                subq.gemm(a, a, ctx=c)
            state["done"] = True

        t = threading.Thread(target=work)
        t.start()
        while not state["inside"]:
            time.sleep(0)
        spins = 0
        while not state["done"]:
            spins += 1
        t.join()
    # 3 calls of ~one_call seconds each: a GIL held across them would leave this
    # loop a handful of switch intervals at most (5 ms each, and none inside a call).
    assert one_call > 0.01, "the call is too short to tell (%.4f s)" % one_call
    assert spins > 10000, "main thread made %d iterations during %.2f s of kernel calls" % (spins, 3 * one_call)


def test_version_check():
    v = (_lib.ABI_MAJOR << 16) | (_lib.ABI_MINOR << 8) | 7
    assert _lib.check_version(v, "lib") == (_lib.ABI_MAJOR, _lib.ABI_MINOR, 7)
    assert _lib.check_version(v + (3 << 8), "lib")[1] == _lib.ABI_MINOR + 3  # a newer minor serves us
    with pytest.raises(ImportError, match="need %d.x" % _lib.ABI_MAJOR):
        _lib.check_version(((_lib.ABI_MAJOR + 1) << 16) | (_lib.ABI_MINOR << 8), "lib")
    if _lib.ABI_MINOR > 0:
        with pytest.raises(ImportError, match="x >= %d" % _lib.ABI_MINOR):
            _lib.check_version((_lib.ABI_MAJOR << 16) | ((_lib.ABI_MINOR - 1) << 8), "lib")
    assert (subq.RUNTIME_MAJOR, subq.RUNTIME_MINOR) >= (_lib.ABI_MAJOR, _lib.ABI_MINOR)


def test_outputs_are_allocated_unless_given(rng):
    x = rng.standard_normal((3, 8)).astype(np.float32)
    y1 = subq.silu(x)
    y2 = subq.silu(x)
    assert not np.shares_memory(y1, x) and not np.shares_memory(y1, y2)
    out = np.empty_like(x)
    assert subq.silu(x, out=out) is out


def test_example_compare_torch_runs_and_agrees():
    """The PyTorch comparison example (optional, needs torch) still runs and agrees."""
    pytest.importorskip("torch")
    import os
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "examples", "compare_torch.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(here, ".."), os.environ.get("PYTHONPATH", "")]),
               SUBQ_LIBRARY=_lib.library_path)
    r = subprocess.run([sys.executable, script, "--quick", "--reps", "1", "--threads", "1"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[2:]]
    assert len(rows) == 3
    assert all(float(cols[-1]) < 1e-4 for cols in rows), r.stdout
