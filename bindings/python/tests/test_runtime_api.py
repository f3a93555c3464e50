"""Topology, pause/resume, the log callback, ISA queries and the last error."""
import gc
import os
import threading

import numpy as np
import pytest

import subq


def _synthetic(desc):
    try:
        return subq.Topology.synthetic(desc)
    except subq.SubQError as e:
        if e.status == 3:  # unsupported: libsubq built without hwloc
            pytest.skip("libsubq was built without hwloc: " + e.message)
        raise


def test_host_topology_counts():
    with subq.Topology() as t:
        assert t.num_nodes >= 1 and t.num_cores >= 1 and t.num_pus >= t.num_cores
        assert "nodes=%d" % t.num_nodes in t.describe()
        assert t.cache_size(1) >= 0 and t.cache_size(7) == 0
    with pytest.raises(ValueError, match="after close"):
        t.num_nodes


@pytest.mark.parametrize("desc,nodes,cores,pus", [("node:2 core:2 pu:1", 2, 4, 4),
                                                   ("pack:2 numa:2 core:2 pu:2", 4, 8, 16)])
def test_synthetic_topology(desc, nodes, cores, pus):
    t = _synthetic(desc)
    assert (t.num_nodes, t.num_cores, t.num_pus) == (nodes, cores, pus)
    assert "synthetic" in t.describe() and "nodes=%d" % nodes in t.describe()
    assert repr(t) == "Topology(nodes=%d, cores=%d, pus=%d)" % (nodes, cores, pus)
    s = t.share()  # a second reference (retain): outlives the first
    t.close()
    t.close()
    assert s.num_cores == cores
    s.close()


def test_bad_topology_descriptions_raise():
    _synthetic("pack:1 core:1 pu:1").close()
    with pytest.raises(subq.SubQError) as e:
        subq.Topology.synthetic("this is not hwloc")
    assert e.value.status == 1 and "subq_topology_create_synthetic" in e.value.message
    with pytest.raises(subq.SubQError):
        subq.Topology.from_xml("/nonexistent/topology.xml")
    with pytest.raises(TypeError):
        subq.Topology.synthetic(42)


def test_context_on_a_two_node_synthetic_topology(rng):
    """Multi-node logic on a one-node host: DISTRIBUTE places two workers per
    synthetic node (binding is recorded, never applied) and the results are
    bitwise those of a one-thread context."""
    t = _synthetic("node:2 core:2 pu:1")
    a = rng.standard_normal((70, 90)).astype(np.float32)
    b = rng.standard_normal((90, 50)).astype(np.float32)
    with subq.Context(threads=1) as c1:
        ref = subq.gemm(a, b, ctx=c1)
    with subq.Context(threads=4, numa="distribute", topology=t) as c:
        t.close()  # the context holds its own reference
        d = c.describe()
        assert "nodes=2" in d and "per_node=2,2" in d and "barrier=hierarchical" in d and "synthetic" in d
        assert np.array_equal(subq.gemm(a, b, ctx=c), ref)
    with pytest.raises(subq.SubQError) as e:
        subq.Context(threads=2, numa="isolate", numa_node=5, topology=_synthetic("node:2 core:1 pu:1"))
    assert "numa_node" in e.value.message
    with pytest.raises(TypeError, match="Topology"):
        subq.Context(topology="node:2")


@pytest.mark.parametrize("numa", ["off", "isolate", "distribute", "mirror"])
def test_packed_weights_placed_on_a_two_node_synthetic_topology(rng, numa):
    """PackedB packed on a placing context: same bits as unplaced, mirror holds
    one copy per node (nbytes), places_weights says which modes place."""
    t = _synthetic("node:2 core:2 pu:1")
    w = rng.standard_normal((300, 1100)).astype(np.float32)
    x = rng.standard_normal((3, 300)).astype(np.float32)
    ref_b = subq.PackedB(w)
    ref1, ref3 = ref_b.matmul(x[:1]), ref_b.matmul(x)
    with subq.Context(threads=4, numa=numa, topology=t) as c:
        assert c.places_weights == (numa != "off")
        pb = subq.PackedB(w, ctx=c)
        assert np.array_equal(pb.matmul(x[:1], ctx=c), ref1)
        assert np.array_equal(pb.matmul(x, ctx=c), ref3)
        assert np.array_equal(pb.matmul(x[:1]), ref1)  # read without the context: same bits
        copies = 2 if numa == "mirror" else 1
        extra = pb.nbytes - ref_b.nbytes  # the replicas' data (the header is a few hundred bytes at most)
        assert (copies - 1) * (ref_b.nbytes - 256) <= extra <= (copies - 1) * ref_b.nbytes
    t.close()
    with subq.Context(threads=1) as c1:
        assert not c1.places_weights


@pytest.mark.parametrize("numa", ["off", "distribute", "mirror"])
def test_ternary_weights_placed_on_a_two_node_synthetic_topology(rng, numa):
    t = _synthetic("node:2 core:2 pu:1")
    W = rng.standard_normal((700, 900)).astype(np.float32)
    q = rng.integers(-127, 128, size=(3, 900)).astype(np.int8)
    w = subq.TernaryWeights.quantize(W, scale="row")
    ref, blob = w.matmul_i32(q), w.blob()
    with subq.Context(threads=4, numa=numa, topology=t) as c:
        w.place(c)
        assert w.blob() == blob
        assert np.array_equal(w.matmul_i32(q, ctx=c), ref)
        assert np.array_equal(w.matmul_i32(q[:1], ctx=c), ref[:1])
    assert np.array_equal(w.matmul_i32(q), ref)  # the placed copy outlives the context
    t.close()


def test_pause_resume_keep_results(rng):
    a = rng.standard_normal((64, 48)).astype(np.float32)
    with subq.Context(threads=2) as c:
        ref = subq.gemm(a, a.T, ctx=c)
        c.pause()
        c.pause()
        assert np.array_equal(subq.gemm(a, a.T, ctx=c), ref)  # a call wakes parked workers
        c.resume()
        assert np.array_equal(subq.gemm(a, a.T, ctx=c), ref)
    with pytest.raises(ValueError, match="after close"):
        c.pause()
    with subq.Context(threads=2, start_paused=True) as c:
        assert np.array_equal(subq.gemm(a, a.T, ctx=c), ref)


quiet_env = pytest.mark.skipif(bool(os.environ.get("SUBQ_VERBOSE")),
                               reason="SUBQ_VERBOSE makes every context log (read once per process)")


@quiet_env
def test_log_callback_receives_context_and_plan_lines():
    got = []
    subq.set_log_callback(lambda level, msg: got.append((level, msg)))
    try:
        with subq.Context(threads=2, isa="scalar", verbose=0):
            pass
        assert got == []  # a silent context says nothing
        with subq.Context(threads=2, isa="scalar", verbose=1) as c:
            assert len(got) == 1 and got[0][0] == "info"
            assert "threads=2" in got[0][1] and "isa=scalar" in got[0][1]
            subq.gemm(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), ctx=c)
        assert any("subq_gemm: m=2 n=2 k=3" in m for _, m in got[1:])
    finally:
        subq.set_log_callback(None)
    n = len(got)
    with subq.Context(threads=2, verbose=1):
        pass
    assert len(got) == n  # detached
    with pytest.raises(TypeError):
        subq.set_log_callback(42)


@quiet_env
def test_log_callback_exception_is_reported_not_raised(monkeypatch):
    seen = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: seen.append(u.exc_value))

    def bad(level, msg):
        raise RuntimeError("boom")

    subq.set_log_callback(bad)
    try:
        with subq.Context(threads=1, verbose=1):  # creation still succeeds
            pass
    finally:
        subq.set_log_callback(None)
    assert len(seen) == 1 and str(seen[0]) == "boom"


@quiet_env
def test_log_callback_from_several_threads():
    got, lock = [], threading.Lock()

    def sink(level, msg):
        with lock:
            got.append(msg)

    subq.set_log_callback(sink)
    try:
        def work():
            for _ in range(5):
                with subq.Context(threads=2, verbose=1):
                    pass

        ts = [threading.Thread(target=work) for _ in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]
    finally:
        subq.set_log_callback(None)
    assert len(got) == 20 and all(m.startswith("context: threads=2") for m in got)


def test_isa_queries():
    host = subq.host_isa()
    assert subq.host_supports_isa(host) and subq.host_supports_isa("scalar")
    arm = host in ("neon", "neondot")
    if not arm:  # every x86-64 path above scalar implies AVX2 + FMA + F16C
        assert subq.host_supports_isa("avx2") is (host != "scalar")
    assert subq.host_supports_isa("avx2" if arm else "neon") is False  # another architecture
    with pytest.raises(subq.SubQError):
        subq.host_supports_isa("pentium")


def test_last_error_and_clear():
    subq.clear_last_error()
    assert subq.last_error_message() == ""
    with pytest.raises(subq.SubQError) as e:
        subq.Context(threads=-1)
    assert subq.last_error_message() == e.value.message
    subq.clear_last_error()
    assert subq.last_error_message() == ""


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_every_topology_reference_is_released():
    # A leaked topology is ~1 KiB (too small for an RSS bound): check that each owner's
    # release (subq_topology_release) ran exactly when the owner went.
    fins = []
    for i in range(100):
        t = subq.Topology.synthetic("pack:1 core:2 pu:1") if i % 2 else subq.Topology()
        s = t.share()  # subq_topology_retain
        fins += [t._finalizer, s._finalizer]
        t.close()
        t.close()  # idempotent: one release per owner
        assert fins[-2].alive is False and fins[-1].alive is True
        del s  # released by the finalizer
    gc.collect()
    assert not any(f.alive for f in fins)


def test_no_leaks_kv_caches_and_views():
    kv = np.ones((1, 64, 2, 16), np.float32)  # fills a cache: its pages are touched, so a leak shows in RSS

    def churn(n):
        for i in range(n):
            kc = subq.KVCache(1, 2, 16, 64)
            kc.append(kv, kv, ctx=None)
            k, v = kc.storage()
            kc.close()  # freed when the views go
            del k, v
            c2 = subq.KVCache(1, 2, 16, 64)
            c2.append(kv, kv)
            c2.info()
            del c2  # freed when collected
        gc.collect()

    churn(200)
    before = _rss_kib()
    churn(2000)
    grown = _rss_kib() - before
    # 4000 leaked caches of 16 KiB each would be > 60 MiB.
    assert grown < 4096, "RSS grew by %d KiB" % grown
