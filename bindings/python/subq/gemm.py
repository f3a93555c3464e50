"""Dense GEMM (f32 / bf16 inputs, f32 output) and prepacked weights."""
from __future__ import annotations

import ctypes
import weakref

import numpy as np

from . import _lib
from ._arrays import BF16Array, as_array, elem_strides, output, ptr, typed
from .context import handle_of
from ._owned import Owned


def _operand(x, name):
    a, dt = typed(x, name, "f32|bf16")
    if a.ndim not in (2, 3):
        raise ValueError("%s: expected a 2-D matrix or a 3-D batch of matrices, got %d dims" % (name, a.ndim))
    return a, dt, elem_strides(a, name, unit_inner=False)


def gemm(a, b, out=None, *, alpha: float = 1.0, beta: float = 0.0, ctx=None):
    """out = alpha * a @ b + beta * out.

    a: (M, K) or (batch, M, K); b: (K, N) or (batch, K, N) (a 2-D b is shared
    by the whole batch); float32 or bf16 (subq.BF16Array); any strides (a.T
    is a free view). out: float32 (M, N) / (batch, M, N), allocated when None
    (then beta must be 0). Returns out."""
    A, adt, ast = _operand(a, "a")
    B, bdt, bst = _operand(b, "b")
    batched = A.ndim == 3 or B.ndim == 3
    if A.ndim == 3 and B.ndim == 3 and A.shape[0] != B.shape[0]:
        raise ValueError("gemm: batch sizes differ: a has %d, b has %d" % (A.shape[0], B.shape[0]))
    batch = A.shape[0] if A.ndim == 3 else (B.shape[0] if B.ndim == 3 else 1)
    m, k = A.shape[-2:]
    k2, n = B.shape[-2:]
    if k != k2:
        raise ValueError("gemm: inner dimensions differ: a is %s, b is %s" % (A.shape, B.shape))
    shape = (batch, m, n) if batched else (m, n)
    if out is None and beta != 0:
        raise ValueError("gemm: beta != 0 needs out=")
    C = output(out, shape, "out")
    cst = elem_strides(C, "out", unit_inner=False)
    p = _lib.new_args(_lib.GemmArgs, _lib.subq_gemm_args_default)
    p.m, p.n, p.k = m, n, k
    p.alpha, p.beta = alpha, beta
    p.a_dtype, p.b_dtype = adt, bdt
    p.a, p.a_rs, p.a_cs = ptr(A), ast[-2], ast[-1]
    p.b, p.b_rs, p.b_cs = ptr(B), bst[-2], bst[-1]
    p.c, p.c_rs, p.c_cs = ptr(C), cst[-2], cst[-1]
    p.batch_count = batch
    p.a_bs = ast[0] if A.ndim == 3 else 0
    p.b_bs = bst[0] if B.ndim == 3 else 0
    p.c_bs = cst[0] if batched else 0
    _lib.check(_lib.subq_gemm(handle_of(ctx), ctypes.byref(p)))
    return C


class PackedB(Owned):
    """A K x N right-hand matrix packed once for the micro-kernels of a
    context's ISA path and reused across calls (weights). From a PyTorch
    Linear weight W[out][in], use PackedB(W.T) (a free view): y = x @ W.T."""

    def __init__(self, b, *, ctx=None):
        B, bdt = typed(b, "b", "f32|bf16")
        if B.ndim != 2:
            raise ValueError("PackedB: b must be 2-D (K, N), got %d dims" % B.ndim)
        st = elem_strides(B, "b", unit_inner=False)
        h = ctypes.c_void_p()
        self.k, self.n = B.shape
        _lib.check(_lib.subq_gemm_pack_b(handle_of(ctx), self.k, self.n, bdt, ptr(B), st[0], st[1], ctypes.byref(h)))
        self._h = h.value
        self._finalizer = weakref.finalize(self, _lib.subq_gemm_packed_b_destroy, self._h)

    @property
    def nbytes(self) -> int:
        return _lib.subq_gemm_packed_b_size(self._handle())

    def _handle(self):
        if self._h is None:
            raise ValueError("PackedB: used after close()")
        return self._h

    def matmul(self, a, out=None, *, alpha: float = 1.0, beta: float = 0.0, ctx=None):
        """out = alpha * a @ B + beta * out with a (M, K) or (batch, M, K)."""
        A, adt = typed(a, "a", "f32|bf16")
        if A.ndim not in (2, 3):
            raise ValueError("PackedB.matmul: a must be 2-D or 3-D, got %d dims" % A.ndim)
        ast = elem_strides(A, "a", unit_inner=False)
        if A.shape[-1] != self.k:
            raise ValueError("PackedB.matmul: a has %d columns, the packed B has K = %d" % (A.shape[-1], self.k))
        batch = A.shape[0] if A.ndim == 3 else 1
        m = A.shape[-2]
        shape = (batch, m, self.n) if A.ndim == 3 else (m, self.n)
        if out is None and beta != 0:
            raise ValueError("PackedB.matmul: beta != 0 needs out=")
        C = output(out, shape, "out")
        cst = elem_strides(C, "out", unit_inner=False)
        p = _lib.new_args(_lib.GemmArgs, _lib.subq_gemm_args_default)
        p.m, p.n, p.k = m, self.n, self.k
        p.alpha, p.beta = alpha, beta
        p.a_dtype = adt
        p.a, p.a_rs, p.a_cs = ptr(A), ast[-2], ast[-1]
        p.c, p.c_rs, p.c_cs = ptr(C), cst[-2], cst[-1]
        p.batch_count = batch
        p.a_bs = ast[0] if A.ndim == 3 else 0
        p.c_bs = cst[0] if A.ndim == 3 else 0
        _lib.check(_lib.subq_gemm_packed(handle_of(ctx), ctypes.byref(p), self._handle()))
        return C

    __call__ = matmul


class Int8Weights(Owned):
    """A Linear weight W (N outputs, K inputs: PyTorch's [out][in]) quantized once
    to int8 per row and 32-column block (subq_q8_*: scale = absmax / 127 rounded
    up to bf16, round half to even; 1.0625 bytes a weight) for memory-bound
    products; y = x @ W_int8.T with f32 x and y.
    Changes the numerics (each weight moves by at most scale / 2): an opt-in."""

    def __init__(self, w, *, ctx=None):
        W, wdt = typed(w, "w", "f32|bf16")
        if W.ndim != 2:
            raise ValueError("Int8Weights: w must be 2-D (N, K), got %d dims" % W.ndim)
        W = np.ascontiguousarray(W)
        h = ctypes.c_void_p()
        self.n, self.k = W.shape
        _lib.check(_lib.subq_q8_weights_create(handle_of(ctx), self.n, self.k, wdt, ptr(W), self.k, ctypes.byref(h)))
        self._h = h.value
        self._finalizer = weakref.finalize(self, _lib.subq_q8_weights_destroy, self._h)

    @property
    def nbytes(self) -> int:
        return _lib.subq_q8_weights_size(self._handle())

    def _handle(self):
        if self._h is None:
            raise ValueError("Int8Weights: used after close()")
        return self._h

    def dequantize(self) -> np.ndarray:
        """The weights the products use (code * scale), float32 (N, K)."""
        out = np.empty((self.n, self.k), dtype=np.float32)
        _lib.check(_lib.subq_q8_weights_dequantize(self._handle(), 0, self.n, ptr(out), self.k))
        return out

    def __call__(self, x, out=None, *, ctx=None):
        """out (M, N) = x (M, K) float32 @ W_int8.T."""
        X = np.ascontiguousarray(as_array(x, "x"))
        if X.dtype != np.float32 or X.ndim != 2 or X.shape[1] != self.k:
            raise ValueError("Int8Weights: x must be float32 (M, %d), got %s %s" % (self.k, X.dtype, X.shape))
        C = output(out, (X.shape[0], self.n), "out")
        if not C.flags["C_CONTIGUOUS"]:
            raise ValueError("Int8Weights: out must be C-contiguous")
        _lib.check(_lib.subq_q8_linear(handle_of(ctx), X.shape[0], ptr(X), self.k, self._handle(), ptr(C), self.n))
        return C


def to_bf16(x) -> BF16Array:
    """float32 -> bf16 (round to nearest even, NaN kept) as a new BF16Array."""
    X = np.ascontiguousarray(as_array(x, "x"))
    if X.dtype != np.float32:
        raise ValueError("to_bf16: x must be float32, got %s" % X.dtype)
    bits = np.empty(X.shape, dtype=np.uint16)
    _lib.check(_lib.subq_f32_to_bf16(ptr(X), ptr(bits), X.size))
    return BF16Array(bits)


def from_bf16(x) -> np.ndarray:
    """bf16 (BF16Array or uint16 bits) -> float32 (exact) as a new array."""
    bits = x.bits if isinstance(x, BF16Array) else as_array(x, "x")
    if bits.dtype != np.uint16:
        raise ValueError("from_bf16: expected a BF16Array or uint16 bits, got %s" % bits.dtype)
    bits = np.ascontiguousarray(bits)
    out = np.empty(bits.shape, dtype=np.float32)
    _lib.check(_lib.subq_bf16_to_f32(ptr(bits), ptr(out), bits.size))
    return out


def to_f16(x) -> np.ndarray:
    """float32 -> IEEE half (round to nearest even, overflow to Inf, subnormals exact, NaN kept)
    as a new numpy float16 array, through the library's converter (the one its f16 KV caches
    and weights use; F16C where the CPU has it)."""
    X = np.ascontiguousarray(as_array(x, "x"))
    if X.dtype != np.float32:
        raise ValueError("to_f16: x must be float32, got %s" % X.dtype)
    out = np.empty(X.shape, dtype=np.float16)
    _lib.check(_lib.subq_f32_to_f16(ptr(X), ptr(out), X.size))
    return out


def from_f16(x) -> np.ndarray:
    """IEEE half (numpy float16) -> float32 (exact) as a new array."""
    X = np.ascontiguousarray(as_array(x, "x"))
    if X.dtype != np.float16:
        raise ValueError("from_f16: x must be float16, got %s" % X.dtype)
    out = np.empty(X.shape, dtype=np.float32)
    _lib.check(_lib.subq_f16_to_f32(ptr(X), ptr(out), X.size))
    return out


_CONVERT_TARGETS = {"f32": (_lib.DTYPE_F32, np.float32), "bf16": (_lib.DTYPE_BF16, np.uint16),
                    "f16": (_lib.DTYPE_F16, np.float16)}


def _flat(a, name):
    if not a.flags.c_contiguous:
        raise ValueError("%s: must be C-contiguous (subq.convert reads and writes flat buffers; "
                         "SubQ never copies silently; use np.ascontiguousarray)" % name)
    if a.ctypes.data % a.dtype.itemsize:
        raise ValueError("%s: data pointer is not aligned to its %d-byte elements" % (name, a.dtype.itemsize))
    return a


def convert(x, dtype: str, *, out=None, ctx=None):
    """Converts x between float32 and bf16 / float16 (subq_convert), one side
    float32: float32 -> 'bf16' (a subq.BF16Array) or 'f16' (numpy float16),
    round to nearest even, overflow to Inf, NaN kept quiet; bf16 / float16 ->
    'f32' exactly; float32 -> 'f32' copies. x: a C-contiguous float32 or
    float16 array, or bf16 (subq.BF16Array / ml_dtypes bfloat16). out: a
    C-contiguous array of the target's storage dtype and x's shape (float32,
    uint16 bits or a BF16Array, float16), allocated when None. The same bits
    on every ISA path. Returns out."""
    if dtype not in _CONVERT_TARGETS:
        raise ValueError("convert: dtype must be one of %s, got %r" % (sorted(_CONVERT_TARGETS), dtype))
    if isinstance(x, BF16Array):
        X, sdt = x.bits, _lib.DTYPE_BF16
    else:
        X = as_array(x, "x")
        if X.dtype.name == "bfloat16" and X.dtype.itemsize == 2:
            X, sdt = X.view(np.uint16), _lib.DTYPE_BF16
        elif X.dtype == np.float32:
            sdt = _lib.DTYPE_F32
        elif X.dtype == np.float16:
            sdt = _lib.DTYPE_F16
        else:
            raise ValueError("convert: x dtype %s is not float32, float16 or bf16 (subq.BF16Array)" % X.dtype)
    ddt, dnp = _CONVERT_TARGETS[dtype]
    if sdt != _lib.DTYPE_F32 and ddt != _lib.DTYPE_F32:
        raise ValueError("convert: one side must be f32 (got %s -> %s)"
                         % ({_lib.DTYPE_BF16: "bf16", _lib.DTYPE_F16: "f16"}[sdt], dtype))
    _flat(X, "x")
    if out is None:
        O = np.empty(X.shape, dtype=dnp)
    else:
        O = as_array(out.bits if isinstance(out, BF16Array) else out, "out")
        if O.dtype != dnp:
            raise ValueError("out: dtype %s, expected %s for %r" % (O.dtype, np.dtype(dnp), dtype))
        if not O.flags.writeable:
            raise ValueError("out: array is read-only")
        if O.shape != X.shape:
            raise ValueError("out: shape %s, expected %s" % (O.shape, X.shape))
        _flat(O, "out")
    _lib.check(_lib.subq_convert(handle_of(ctx), X.size, sdt, ptr(X), ddt, ptr(O)))
    if isinstance(out, BF16Array):
        return out
    return BF16Array(O) if dtype == "bf16" else O
