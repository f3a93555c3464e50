"""Read-only, zero-copy access to safetensors checkpoints (subq_safetensors).

    with subq.SafetensorsFile("model_dir") as st:       # a file or a model directory
        w = st.tensor("model.embed_tokens.weight")       # read-only NumPy view of the mapping
"""
from __future__ import annotations

import ctypes
import os
import weakref
from collections import namedtuple

import numpy as np

from . import _lib
from ._owned import Closable

NO_MMAP = 1

# dtype name -> NumPy dtype of the view (BF16 as its uint16 bit patterns).
_NUMPY = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16, "F16": np.float16,
    "BF16": np.uint16, "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64, "I64": np.int64,
    "F64": np.float64,
}

TensorInfo = namedtuple("TensorInfo", "name dtype shape n_bytes file_index file_offset")


class _Owner:
    """Holds the C handle; views keep it alive, so close() never leaves a
    NumPy view pointing at unmapped memory (the handle is destroyed when the
    file is closed and its last view is gone)."""

    def __init__(self, h):
        self.h = h
        self._finalizer = weakref.finalize(self, _lib.subq_safetensors_destroy, h)


class _View:
    def __init__(self, owner, addr, shape, dtype):
        self.owner = owner
        self.__array_interface__ = {"data": (addr, True), "shape": tuple(shape),
                                    "typestr": np.dtype(dtype).str, "version": 3}


class SafetensorsFile(Closable):
    """A safetensors file, or a model directory (model.safetensors, or the
    shards of model.safetensors.index.json), validated in full at open and
    memory-mapped read-only (no_mmap=True reads it into memory instead).

    names() / info(name) / tensor(name) (a read-only NumPy view: BOOL, U*,
    I*, F16, F32, F64; BF16 as uint16 bits, wrap in subq.BF16Array to use it
    as bf16) / raw(name) (the bytes, any dtype) / metadata(). close() or a
    with-block releases it; views taken earlier stay valid until they go."""

    def __init__(self, path, *, no_mmap: bool = False):
        p = os.fsencode(path)
        h = ctypes.c_void_p()
        fn = _lib.subq_safetensors_open_dir if os.path.isdir(p) else _lib.subq_safetensors_open
        _lib.check(fn(p, NO_MMAP if no_mmap else 0, ctypes.byref(h)))
        self._owner = _Owner(h.value)

    @classmethod
    def from_bytes(cls, data) -> "SafetensorsFile":
        """Parses a safetensors file image held in memory (bytes, bytearray,
        memoryview, a uint8 NumPy array: any C-contiguous buffer) through
        subq_safetensors_open_memory, which copies the bytes: the result does
        not depend on `data` afterwards (it may be changed or freed)."""
        if isinstance(data, str):
            raise TypeError("SafetensorsFile.from_bytes: data must be a bytes-like buffer, got str")
        try:
            buf = np.frombuffer(data, dtype=np.uint8)  # a view: no copy here either
        except (TypeError, ValueError, BufferError) as e:
            raise TypeError("SafetensorsFile.from_bytes: data must be a C-contiguous bytes-like buffer (%s)" % e)
        h = ctypes.c_void_p()
        # `buf` (and through it `data`) stays referenced until the call returns.
        _lib.check(_lib.subq_safetensors_open_memory(buf.ctypes.data if buf.size else None, buf.size, 0,
                                                     ctypes.byref(h)))
        self = cls.__new__(cls)
        self._owner = _Owner(h.value)
        return self

    @property
    def handle(self):
        if self._owner is None:
            raise ValueError("SafetensorsFile: used after close()")
        return self._owner.h

    def __len__(self):
        return _lib.subq_safetensors_count(self.handle)

    def __contains__(self, name):
        return _lib.subq_safetensors_find(self.handle, name.encode()) >= 0

    def _at(self, i):
        t = ctypes.POINTER(_lib.SafetensorsTensor)()
        _lib.check(_lib.subq_safetensors_tensor_at(self.handle, i, ctypes.byref(t)))
        return t.contents

    def _get(self, name):
        if not isinstance(name, str):
            raise TypeError("SafetensorsFile: tensor names are str, got %s" % type(name).__name__)
        t = ctypes.POINTER(_lib.SafetensorsTensor)()
        _lib.check(_lib.subq_safetensors_get(self.handle, name.encode(), ctypes.byref(t)))
        return t.contents

    def names(self):
        """Tensor names in file-then-offset order (the order to read them sequentially)."""
        return [self._at(i).name.decode() for i in range(len(self))]

    def info(self, name) -> TensorInfo:
        t = self._get(name)
        return TensorInfo(t.name.decode(), _lib.subq_safetensors_dtype_name(t.dtype).decode(),
                          tuple(t.shape[:t.rank]), t.n_bytes, t.file_index, t.file_offset)

    def tensor(self, name) -> np.ndarray:
        """A read-only NumPy view of the tensor's data (no copy)."""
        t = self._get(name)
        dt = _lib.subq_safetensors_dtype_name(t.dtype).decode()
        if dt not in _NUMPY:
            raise ValueError("SafetensorsFile.tensor: %r is %s, which NumPy cannot view; use raw()" % (name, dt))
        a = np.asarray(_View(self._owner, t.data, t.shape[:t.rank], np.dtype(_NUMPY[dt]).newbyteorder("<")))
        return a

    def raw(self, name) -> np.ndarray:
        """The tensor's bytes as a read-only uint8 view (any dtype, e.g. FP8 or packed FP4)."""
        t = self._get(name)
        return np.asarray(_View(self._owner, t.data, (t.n_bytes,), np.uint8))

    def files(self):
        h = self.handle
        return [_lib.subq_safetensors_file_path(h, i).decode() for i in range(_lib.subq_safetensors_file_count(h))]

    def metadata(self, file: int = 0) -> dict:
        """The __metadata__ of file `file` (shard index) as a dict of str."""
        h, out = self.handle, {}
        for i in range(_lib.subq_safetensors_metadata_count(h, file)):
            k, v = ctypes.c_char_p(), ctypes.c_char_p()
            _lib.check(_lib.subq_safetensors_metadata_at(h, file, i, ctypes.byref(k), ctypes.byref(v)))
            out[k.value.decode()] = v.value.decode()
        return out

    def close(self) -> None:
        self._owner = None

    def __repr__(self):
        return "SafetensorsFile(closed)" if self._owner is None else "SafetensorsFile(%d tensors)" % len(self)
