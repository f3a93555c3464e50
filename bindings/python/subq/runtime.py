"""Topology snapshots, the log callback and ISA queries (subq_runtime.h, subq_base.h).

    with subq.Topology.synthetic("pack:2 numa:2 core:2 pu:1") as t:   # plan for another machine
        print(t.num_nodes, t.num_cores, t.describe())
        with subq.Context(threads=4, numa="distribute", topology=t) as ctx:
            ...

Why there is no Python binding of subq_context_create_with_executor: a host
executor must run every one of n_tasks C tasks before its parallel_for
returns, and parallel_for returns void, so it cannot report failure. A Python
executor would take the GIL for each task dispatch and could raise, time out
or skip a task; SubQ would then return success over partly written outputs
and half-built scratch state. A Python thread pool also gives no concurrency
SubQ's own pool lacks. Contexts here always use SubQ's own worker pool.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
import weakref

from . import _lib
from ._owned import Owned

LOG_LEVELS = ("error", "warn", "info", "debug")


class Topology(Owned):
    """An immutable snapshot of a machine (subq_topology): NUMA nodes, cores,
    PUs and cache sizes. Topology() is this process's machine (its affinity
    mask and cpuset); Topology.synthetic(desc) and Topology.from_xml(path)
    describe other machines through hwloc (tests, planning) and raise
    SubQError 'unsupported' when libsubq was built without hwloc. Threads are
    never bound to a synthetic topology's PUs.

    Pass it to Context(topology=...); the context keeps its own reference, so
    the Topology may be closed right after. Safe to share between threads.
    close() or a with-block releases this reference (also released when
    collected)."""

    def __init__(self, *, _handle=None):
        if _handle is None:
            h = ctypes.c_void_p()
            _lib.check(_lib.subq_topology_create(ctypes.byref(h)))
            _handle = h.value
        self._h = _handle
        self._finalizer = weakref.finalize(self, _lib.subq_topology_release, self._h)

    @classmethod
    def synthetic(cls, description: str) -> "Topology":
        """From an hwloc synthetic description such as 'pack:2 numa:2 core:4 pu:1'."""
        if not isinstance(description, str):
            raise TypeError("Topology.synthetic: description must be str, got %s" % type(description).__name__)
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_topology_create_synthetic(description.encode(), ctypes.byref(h)))
        return cls(_handle=h.value)

    @classmethod
    def from_xml(cls, path) -> "Topology":
        """From an hwloc XML export (fixtures with asymmetric nodes)."""
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_topology_create_xml(os.fsencode(path), ctypes.byref(h)))
        return cls(_handle=h.value)

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("Topology: used after close()")
        return self._h

    def share(self) -> "Topology":
        """A second owner of the same immutable topology (subq_topology_retain)."""
        return Topology(_handle=_lib.subq_topology_retain(self.handle))

    @property
    def num_nodes(self) -> int:
        return _lib.subq_topology_num_nodes(self.handle)

    @property
    def num_cores(self) -> int:
        return _lib.subq_topology_num_cores(self.handle)

    @property
    def num_pus(self) -> int:
        return _lib.subq_topology_num_pus(self.handle)

    def cache_size(self, level: int) -> int:
        """Bytes of the level-`level` data cache (per core for L1d/L2, per L3
        domain for L3); 0 when unknown."""
        return _lib.subq_topology_cache_size(self.handle, int(level))

    def describe(self) -> str:
        n = _lib.subq_topology_describe(self.handle, None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        _lib.subq_topology_describe(self.handle, buf, n + 1)
        return buf.value.decode()

    def __repr__(self):
        if self._h is None:
            return "Topology(closed)"
        return "Topology(nodes=%d, cores=%d, pus=%d)" % (self.num_nodes, self.num_cores, self.num_pus)


# ---- log callback ---------------------------------------------------------------------------
# One C trampoline for the life of the process: the pointer SubQ holds never
# dangles, and swapping the Python handler is a plain assignment under the GIL.
# ctypes takes the GIL for the call, so SubQ may log from any thread.
_handler = None
_handler_lock = threading.Lock()


def _trampoline(user, level, message):
    h = _handler
    if h is None:
        return
    name = LOG_LEVELS[level] if 0 <= level < len(LOG_LEVELS) else str(level)
    try:
        h(name, message.decode("utf-8", "replace") if message else "")
    except Exception:  # never unwind into C; report it as Python does for other callbacks
        sys.unraisablehook(_unraisable(sys.exc_info(), h))


class _Unraisable:
    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")


def _unraisable(info, obj):
    u = _Unraisable()
    u.exc_type, u.exc_value, u.exc_traceback = info
    u.err_msg = "Exception ignored in the subq log callback"
    u.object = obj
    return u


_c_trampoline = _lib.LOG_FN(_trampoline)
_NULL_LOG_FN = _lib.LOG_FN()  # a NULL subq_log_fn


def set_log_callback(fn) -> None:
    """Sends SubQ's log messages to fn(level, message) with level one of
    'error', 'warn', 'info', 'debug'; None restores the default (silent, or
    stderr when SUBQ_VERBOSE is set). Process-global, as subq_set_log_callback:
    set it before other threads use SubQ. Messages come from contexts created
    with verbose >= 1 (Context(verbose=...)) and from warnings. fn may run on
    any thread; an exception it raises is reported (sys.unraisablehook) and
    dropped, never propagated into the kernel call."""
    global _handler
    if fn is not None and not callable(fn):
        raise TypeError("set_log_callback: fn must be callable or None, got %s" % type(fn).__name__)
    with _handler_lock:
        _handler = fn
        if fn is None:
            _lib.subq_set_log_callback(_NULL_LOG_FN, None)
        else:
            _lib.subq_set_log_callback(_c_trampoline, None)


@atexit.register
def _unset_at_exit():
    # Contexts finalized during interpreter shutdown must not call into a dying interpreter.
    global _handler
    _handler = None
    _lib.subq_set_log_callback(_NULL_LOG_FN, None)


# ---- ISA queries -----------------------------------------------------------------------------
def isa_value(isa) -> int:
    """The subq_isa value of a name ('scalar', 'avx2', 'neon', 'native', ...) or an int."""
    if isinstance(isa, int):
        return isa
    out = ctypes.c_int32()
    _lib.check(_lib.subq_isa_from_name(str(isa).encode(), ctypes.byref(out)))
    return out.value


def host_supports_isa(isa) -> bool:
    """Whether this CPU and OS can run SubQ's code path for `isa` (a name or value)."""
    return bool(_lib.subq_host_supports_isa(isa_value(isa)))


def clear_last_error() -> None:
    """Clears this thread's last SubQ error message (SubQError already carries it)."""
    _lib.subq_clear_last_error()


def last_error_message() -> str:
    """This thread's last SubQ error message ('' when none since clear_last_error)."""
    return _lib.subq_last_error_message().decode("utf-8", "replace")
