"""Context: SubQ's thread pool, NUMA mode and ISA cap."""
from __future__ import annotations

import ctypes
import threading
import weakref

from . import _lib
from .runtime import Topology, isa_value
from ._owned import Owned

_NUMA = {"off": 0, "isolate": 1, "distribute": 2, "inherit": 3, "mirror": 4}


def _isa_value(isa):
    return None if isa is None else isa_value(isa)


class Context(Owned):
    """A SubQ context: a persistent worker pool (the calling thread is participant 0).

    threads: participants incl. the caller; 0 = the physical cores SubQ may use.
    numa: 'off' | 'isolate' | 'distribute' | 'inherit' | 'mirror'.
    isa: highest ISA path allowed ('scalar', 'avx2', 'neon', ...; None = best).
    topology: a subq.Topology to plan for (None = this machine; the context
    keeps its own reference). verbose: 0..3 log level (None = SUBQ_VERBOSE);
    messages go to subq.set_log_callback's function or stderr.
    start_paused: workers start parked (see pause()).
    Calls from several Python threads on one context are serialised by the
    library; use one context per thread to run them concurrently.
    Close it with close() or a with-block; it is also closed when collected.
    """

    def __init__(self, threads: int = 0, numa: str = "off", isa=None, numa_node: int = -1, *, topology=None,
                 verbose=None, start_paused: bool = False):
        if numa not in _NUMA:
            raise ValueError("Context: numa must be one of %s, got %r" % (sorted(_NUMA), numa))
        p = _lib.new_args(_lib.ContextParams, _lib.subq_context_params_default)
        p.n_threads = int(threads)
        p.numa = _NUMA[numa]
        p.numa_node = int(numa_node)
        v = _isa_value(isa)
        if v is not None:
            p.max_isa = v
        if topology is not None:
            if not isinstance(topology, Topology):
                raise TypeError("Context: topology must be a subq.Topology, got %s" % type(topology).__name__)
            p.topology = topology.handle
        if verbose is not None:
            p.verbose = int(verbose)
        if start_paused:
            p.flags |= _lib.CONTEXT_START_PAUSED
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_context_create(ctypes.byref(p), ctypes.byref(h)))
        self._h = h.value
        self._finalizer = weakref.finalize(self, _lib.subq_context_destroy, self._h)

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("Context: used after close()")
        return self._h

    @property
    def threads(self) -> int:
        return _lib.subq_context_num_threads(self.handle)

    @property
    def places_weights(self) -> bool:
        """Whether PackedB objects packed with this context are placed on NUMA
        nodes (isolate / distribute / mirror on a topology with several nodes;
        mirror keeps a copy per node): read weights through them rather than
        straight from a memory-mapped file (subq_context_places_weights)."""
        return bool(_lib.subq_context_places_weights(self.handle))

    @property
    def isa(self) -> str:
        return _lib.subq_isa_name(_lib.subq_context_isa(self.handle)).decode()

    def describe(self) -> str:
        n = _lib.subq_context_describe(self.handle, None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        _lib.subq_context_describe(self.handle, buf, n + 1)
        return buf.value.decode()

    def pause(self) -> None:
        """Parks the workers asleep (no spinning) until resume() or the next
        kernel call on this context (which wakes them; results are unchanged).
        For a context that will sit idle while other work needs the cores."""
        _lib.check(_lib.subq_context_pause(self.handle))

    def resume(self) -> None:
        """Wakes parked workers ahead of the next call."""
        _lib.check(_lib.subq_context_resume(self.handle))

    def __repr__(self):
        return "Context(closed)" if self._h is None else "Context(threads=%d, isa=%s)" % (self.threads, self.isa)


_default = None
_default_lock = threading.Lock()


def default_context() -> Context:
    """The process-wide context every call uses when ctx is not given
    (all physical cores; SUBQ_NUM_THREADS / SUBQ_MAX_ISA / SUBQ_NUMA apply)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Context()
        return _default


def handle_of(ctx):
    return (ctx if ctx is not None else default_context()).handle
