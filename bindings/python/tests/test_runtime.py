import gc
import threading

import numpy as np
import pytest

import subq


def test_version_matches_library():
    assert subq.version() == subq.__version__
    assert subq.host_isa() in ("scalar", "avx2", "avx512", "avx512vnni", "avx512bf16", "neon", "neondot")
    assert "subq" in subq.build_info().lower() or len(subq.build_info()) > 0


def test_context_properties_and_close():
    c = subq.Context(threads=2, isa="scalar")
    assert c.threads == 2
    assert c.isa == "scalar"
    assert "threads" in c.describe()
    c.close()
    c.close()  # idempotent
    with pytest.raises(ValueError, match="after close"):
        c.threads


def test_context_bad_arguments_raise_subq_error():
    with pytest.raises(subq.SubQError) as e:
        subq.Context(threads=-3)
    assert e.value.status == 1 and "n_threads" in e.value.message
    with pytest.raises(subq.SubQError) as e:
        subq.Context(isa="not-an-isa")
    assert "not-an-isa" in e.value.message
    with pytest.raises(ValueError, match="numa"):
        subq.Context(numa="everywhere")


def test_library_error_message_reaches_python():
    # An error only the C side detects: C overlapping A (out aliases a).
    a = np.ones((4, 4), dtype=np.float32)
    with pytest.raises(subq.SubQError) as e:
        subq.gemm(a, a, out=a)
    assert e.value.status == 1
    assert "overlap" in e.value.message


def test_threads_on_separate_contexts_agree(rng):
    a = rng.standard_normal((96, 80)).astype(np.float32)
    b = rng.standard_normal((80, 72)).astype(np.float32)
    ref = subq.gemm(a, b, ctx=subq.Context(threads=1))
    results, errors = [None] * 4, []

    def work(i):
        try:
            with subq.Context(threads=1) as c:
                for _ in range(20):
                    results[i] = subq.gemm(a, b, ctx=c)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for r in results:
        assert np.array_equal(r, ref)  # bitwise: threads never change results


def test_shared_default_context_from_threads(rng):
    a = rng.standard_normal((64, 64)).astype(np.float32)
    ref = subq.gemm(a, a)
    out, errors = [], []

    def work():
        try:
            for _ in range(10):
                out.append(subq.gemm(a, a))
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(3)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors and len(out) == 30
    assert all(np.array_equal(o, ref) for o in out)


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_no_leaks_over_many_calls(rng):
    a = rng.standard_normal((32, 64)).astype(np.float32)
    b = rng.standard_normal((64, 48)).astype(np.float32)

    def churn(n):
        for _ in range(n):
            with subq.Context(threads=1) as c:
                p = subq.PackedB(b, ctx=c)
                p.matmul(a, ctx=c)
                p.close()
            q = subq.PackedB(b)  # closed by the finalizer when collected
            q(a)
            del q
            try:
                subq.gemm(a, a)
            except ValueError:
                pass
        gc.collect()

    churn(200)  # warm-up: allocator pools, lazily created default context
    before = _rss_kib()
    churn(2000)
    grown = _rss_kib() - before
    # 2000 contexts + 4000 packed B (12 KiB each) leaked would be > 40 MiB.
    assert grown < 4096, "RSS grew by %d KiB over 2000 iterations" % grown
