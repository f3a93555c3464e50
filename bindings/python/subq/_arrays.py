"""Array views for the C calls: zero copy, or a clear error saying why not.

SubQ takes element strides with a unit innermost stride (runtime.md 2.7). An
input that is already an array (NumPy, or anything with __dlpack__ such as a
PyTorch CPU tensor) is never silently copied or converted: a wrong dtype, a
non-unit innermost stride or a misaligned buffer raises ValueError. Plain
Python sequences are converted (there is nothing to share with them).
"""
from __future__ import annotations

import numpy as np

from . import _lib


class BF16Array:
    """bf16 data carried in a uint16 NumPy array (NumPy has no bfloat16).

    `subq.to_bf16(x)` makes one from floats; arrays whose dtype is named
    'bfloat16' (ml_dtypes) are accepted directly wherever a BF16Array is."""

    __slots__ = ("bits",)

    def __init__(self, bits):
        bits = as_array(bits, "bits")
        if bits.dtype != np.uint16:
            raise ValueError("BF16Array: bits must be a uint16 array, got %s" % bits.dtype)
        self.bits = bits

    @property
    def shape(self):
        return self.bits.shape

    @property
    def ndim(self):
        return self.bits.ndim

    def __repr__(self):
        return "BF16Array(shape=%s)" % (self.bits.shape,)


def as_array(x, name):
    """x as an ndarray sharing its memory when it is an array already."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__") and not isinstance(x, (list, tuple)):
        try:
            return np.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError) as e:
            raise ValueError("%s: cannot view %s through DLPack without a copy (%s)" % (name, type(x).__name__, e))
    if hasattr(x, "__array_interface__"):
        return np.asarray(x)
    return np.asarray(x, dtype=np.float32)


def typed(x, name, kind="f32"):
    """(ndarray, subq dtype) for an input of the given kind: 'f32', or
    'f32|bf16' which also admits BF16Array / ml_dtypes bfloat16."""
    if isinstance(x, BF16Array):
        if "bf16" not in kind:
            raise ValueError("%s: bf16 is not accepted here (float32 only)" % name)
        return x.bits, _lib.DTYPE_BF16
    a = as_array(x, name)
    if a.dtype.name == "bfloat16" and a.dtype.itemsize == 2:
        if "bf16" not in kind:
            raise ValueError("%s: bf16 is not accepted here (float32 only)" % name)
        return a.view(np.uint16), _lib.DTYPE_BF16
    if a.dtype != np.float32:
        allowed = "float32 or bf16 (subq.BF16Array)" if "bf16" in kind else "float32"
        raise ValueError("%s: dtype %s is not %s; convert it explicitly (SubQ never converts silently)"
                         % (name, a.dtype, allowed))
    return a, _lib.DTYPE_F32


def f32(x, name):
    return typed(x, name, "f32")[0]


def elem_strides(a, name, unit_inner=True):
    """Element strides of a (unit innermost stride required unless unit_inner
    is False, as for GEMM operands, which take any positive strides)."""
    item = a.dtype.itemsize
    if a.ctypes.data % item:
        raise ValueError("%s: data pointer is not aligned to its %d-byte elements" % (name, item))
    st = [0] * a.ndim
    if a.size == 0:  # nothing is read or written: packed strides (NumPy may report 0)
        for i in range(a.ndim - 1, -1, -1):
            st[i] = 1 if i == a.ndim - 1 else st[i + 1] * max(a.shape[i + 1], 1)
        return st
    # Size-1 dimensions get the packed stride: NumPy leaves arbitrary values
    # there and the C side validates strides against extents.
    for i in range(a.ndim - 1, -1, -1):
        s, n = a.strides[i], a.shape[i]
        if n <= 1:
            st[i] = 1 if i == a.ndim - 1 else st[i + 1] * max(a.shape[i + 1], 1)
            continue
        if s % item:
            raise ValueError("%s: byte stride %d is not a multiple of the element size %d" % (name, s, item))
        st[i] = s // item
    if unit_inner and a.ndim and a.shape[-1] > 1 and st[-1] != 1:
        raise ValueError("%s: innermost stride is %d elements; SubQ needs contiguous rows (stride 1)" % (name, st[-1]))
    if any(s < 0 for s, n in zip(st, a.shape) if n > 1):
        raise ValueError("%s: negative strides are not supported" % name)
    return st


def ptr(a):
    """Address of a's first element, or None for None."""
    return None if a is None else a.ctypes.data


def check_shape(a, shape, name):
    if tuple(a.shape) != tuple(shape):
        raise ValueError("%s: shape %s, expected %s" % (name, tuple(a.shape), tuple(shape)))


def output(out, shape, name, dtype=np.float32):
    """`out` checked (writable, dtype, shape, unit inner stride) or a new array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    o = as_array(out, name)
    if o.dtype != dtype:
        raise ValueError("%s: dtype %s, expected %s" % (name, o.dtype, np.dtype(dtype)))
    if not o.flags.writeable:
        raise ValueError("%s: array is read-only" % name)
    check_shape(o, shape, name)
    elem_strides(o, name)
    return o
