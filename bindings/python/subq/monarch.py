"""Monarch structured matrices and block-diagonal layers (Include/subq/subq_monarch.h).

One convention only, the header's (HazyResearch/fly `blockdiag_butterfly_multiply`):
W1 (k, q, p) is applied first, W2 (l, s, r) second, with n = k*p inputs,
k*q == l*r intermediate and m = l*s outputs; y = P2 . L . P1 . R . x. Weights are
contiguous row-major arrays exactly like fly's `w1_bfly` / `w2_bfly` tensors. A
block-diagonal layer (Monarch Mixer's BlockdiagLinear) has W1 only: (nblocks,
out_blk, in_blk). Activations are float32 (tokens, width) with contiguous rows."""
from __future__ import annotations

import collections
import ctypes
import weakref

import numpy as np

from . import _lib
from ._arrays import as_array, check_shape, elem_strides, f32, output, ptr, typed
from .context import handle_of
from ._owned import Owned

KIND_MONARCH = 0
KIND_BLOCKDIAG = 1

MonarchGrads = collections.namedtuple("MonarchGrads", "x w1 w2 bias")
MonarchGrads.__doc__ = "Gradients from MonarchWeights.backward (None for those not asked)."


def _desc(k, q, p, l=None, s=None, r=None, dtype=_lib.DTYPE_F32):
    d = _lib.new_args(_lib.MonarchDesc, _lib.subq_monarch_desc_default)
    d.k, d.q, d.p = int(k), int(q), int(p)
    if l is None and s is None and r is None:
        d.kind = KIND_BLOCKDIAG
    else:
        if l is None or s is None or r is None:
            raise ValueError("monarch: give all of l, s, r (Monarch) or none of them (block-diagonal)")
        d.l, d.s, d.r = int(l), int(s), int(r)
    d.dtype = dtype
    return d


def _dims(d):
    n, m = ctypes.c_int64(), ctypes.c_int64()
    _lib.check(_lib.subq_monarch_desc_check(ctypes.byref(d), ctypes.byref(n), ctypes.byref(m)))
    return n.value, m.value


def _contiguous(a, name):
    if not a.flags.c_contiguous:
        raise ValueError("%s: must be C-contiguous (the header's (blocks, rows, cols) layout); "
                         "use np.ascontiguousarray" % name)
    elem_strides(a, name)
    return a


def blockdiag_shape(in_features: int, out_features: int, nblocks: int):
    """(k, q, p) = (nblocks, out/nblocks, in/nblocks) of a block-diagonal layer
    (subq_blockdiag_desc); SubQError when nblocks does not divide both."""
    d = _lib.MonarchDesc()
    _lib.check(_lib.subq_blockdiag_desc(int(in_features), int(out_features), int(nblocks), ctypes.byref(d)))
    return d.k, d.q, d.p


def monarch_linear_shapes(in_features: int, out_features: int, nblocks: int):
    """fly MonarchLinear's padded shape rule: returns (w1_shape, w2_shape, in_ext,
    out_ext); callers zero-pad x to in_ext and read y[:, :out_features]."""
    d = _lib.MonarchDesc()
    ie, oe = ctypes.c_int64(), ctypes.c_int64()
    _lib.check(_lib.subq_monarch_linear_shapes(int(in_features), int(out_features), int(nblocks), ctypes.byref(d),
                                               ctypes.byref(ie), ctypes.byref(oe)))
    return (d.k, d.q, d.p), (d.l, d.s, d.r), ie.value, oe.value


class MonarchWeights(Owned):
    """Monarch (w1 and w2) or block-diagonal (w1 only) weights packed once for a
    context's ISA path (subq_monarch_weights). w1: (k, q, p), w2: (l, s, r),
    both float32 or both bf16 (subq.BF16Array; widened exactly at pack time),
    C-contiguous; the arrays are not referenced afterwards. Immutable: share it
    between threads. close() (or a with-block) frees it early."""

    def __init__(self, w1, w2=None, *, ctx=None):
        W1, dt1 = typed(w1, "w1", "f32|bf16")
        if W1.ndim != 3:
            raise ValueError("MonarchWeights: w1 must be 3-D (k, q, p), got %d dims" % W1.ndim)
        _contiguous(W1, "w1")
        W2 = None
        if w2 is not None:
            W2, dt2 = typed(w2, "w2", "f32|bf16")
            if W2.ndim != 3:
                raise ValueError("MonarchWeights: w2 must be 3-D (l, s, r), got %d dims" % W2.ndim)
            if dt2 != dt1:
                raise ValueError("MonarchWeights: w1 and w2 must have the same dtype")
            _contiguous(W2, "w2")
            d = _desc(*W1.shape, *W2.shape, dtype=dt1)
        else:
            d = _desc(*W1.shape, dtype=dt1)
        self.n, self.m = _dims(d)
        self.stage1_width = d.k * d.q  # N: the stage-1 result per token
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_monarch_weights_create(handle_of(ctx), ctypes.byref(d), ptr(W1), ptr(W2),
                                                    ctypes.byref(h)))
        self._h = h.value
        self._finalizer = weakref.finalize(self, _lib.subq_monarch_weights_destroy, self._h)
        self.w1_shape = tuple(W1.shape)
        self.w2_shape = None if W2 is None else tuple(W2.shape)
        self.dtype = "bf16" if dt1 == _lib.DTYPE_BF16 else "f32"

    @classmethod
    def blockdiag(cls, w, *, ctx=None):
        """A block-diagonal layer from W (nblocks, out_blk, in_blk)."""
        return cls(w, None, ctx=ctx)

    @property
    def is_blockdiag(self) -> bool:
        return self.w2_shape is None

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed copy."""
        return _lib.subq_monarch_weights_size(self._handle())

    @property
    def ukernel(self) -> str:
        """The micro-kernel the weights were packed for."""
        return _lib.subq_monarch_weights_ukernel(self._handle()).decode()

    def _handle(self):
        if self._h is None:
            raise ValueError("MonarchWeights: used after close()")
        return self._h

    def _rows(self, x, width, name):
        a = f32(x, name)
        if a.ndim not in (1, 2):
            raise ValueError("%s: expected (tokens, %d) or (%d,), got %d dims" % (name, width, width, a.ndim))
        a2 = a[None] if a.ndim == 1 else a
        if a2.shape[1] != width:
            raise ValueError("%s: has %d columns, expected %d" % (name, a2.shape[1], width))
        st = elem_strides(a2, name)
        return a, a2, max(st[0], width)

    def forward(self, x, bias=None, out=None, *, save_stage1=False, ctx=None):
        """y = M x (+ bias) per token: x (tokens, n) or (n,) float32; bias (m,)
        in output order; out (tokens, m) float32, allocated when None.
        save_stage1=True (Monarch only) returns (y, stage1) with stage1 the
        stage-1 result (tokens, N) float32, N = k*q ((N,) for a 1-D x), for
        backward(stage1=...)."""
        h = self._handle()
        X, X2, ldx = self._rows(x, self.n, "x")
        T = X2.shape[0]
        B = None
        if bias is not None:
            B = f32(bias, "bias")
            check_shape(B, (self.m,), "bias")
            elem_strides(B, "bias")
        Y = output(out, (T, self.m) if X.ndim == 2 else (self.m,), "out")
        Y2 = Y[None] if Y.ndim == 1 else Y
        ldy = max(elem_strides(Y2, "out")[0], self.m)
        a = _lib.new_args(_lib.MonarchArgs, _lib.subq_monarch_args_default)
        a.tokens = T
        a.x, a.ldx, a.y, a.ldy, a.bias = ptr(X2), ldx, ptr(Y2), ldy, ptr(B)
        U = None
        if save_stage1:
            # at least one row, so that a block-diagonal layer gets the C library's error
            U = np.empty((max(T, 1), self.stage1_width), np.float32)
            a.stage1, a.ldstage1 = ptr(U), self.stage1_width
        _lib.check(_lib.subq_monarch_forward(handle_of(ctx), h, ctypes.byref(a)))
        if U is None:
            return Y
        return Y, (U[:T] if X.ndim == 2 else U[0])

    __call__ = forward

    def backward(self, x, grad_y, *, grad_x=True, grad_w=True, grad_bias=True, stage1=None,
                 ctx=None) -> MonarchGrads:
        """Gradients of y = M x + bias for dL/dy = grad_y (tokens, m): returns
        MonarchGrads(x (tokens, n), w1 (k, q, p), w2 (l, s, r) or None for a
        block-diagonal layer, bias (m,)), float32, None where not asked. x is the
        forward input (read when weight gradients are asked). stage1: the
        forward's (tokens, N) stage-1 result (forward(save_stage1=True)), so that
        it is not recomputed; the gradients are the same bits either way."""
        h = self._handle()
        X, X2, ldx = self._rows(x, self.n, "x")
        G, G2, ldg = self._rows(grad_y, self.m, "grad_y")
        if X2.shape[0] != G2.shape[0]:
            raise ValueError("MonarchWeights.backward: x has %d tokens, grad_y %d" % (X2.shape[0], G2.shape[0]))
        T = X2.shape[0]
        gx = np.empty((T, self.n), np.float32) if grad_x else None
        gw1 = np.empty(self.w1_shape, np.float32) if grad_w else None
        gw2 = np.empty(self.w2_shape, np.float32) if grad_w and not self.is_blockdiag else None
        gb = np.empty((self.m,), np.float32) if grad_bias else None
        a = _lib.new_args(_lib.MonarchBackwardArgs, _lib.subq_monarch_backward_args_default)
        a.tokens = T
        a.x, a.ldx, a.grad_y, a.ldgy = ptr(X2), ldx, ptr(G2), ldg
        a.grad_x, a.ldgx = ptr(gx), self.n
        a.grad_w1, a.grad_w2, a.grad_bias = ptr(gw1), ptr(gw2), ptr(gb)
        if stage1 is not None:
            U, U2, ldu = self._rows(stage1, self.stage1_width, "stage1")
            if U2.shape[0] != T:
                raise ValueError("MonarchWeights.backward: stage1 has %d tokens, x %d" % (U2.shape[0], T))
            a.stage1, a.ldstage1 = ptr(U2), ldu
        _lib.check(_lib.subq_monarch_backward(handle_of(ctx), h, ctypes.byref(a)))
        if gx is not None and X.ndim == 1:
            gx = gx[0]
        return MonarchGrads(gx, gw1, gw2, gb)

    def __repr__(self):
        if self.is_blockdiag:
            return "MonarchWeights.blockdiag(w1=%s, %s)" % (self.w1_shape, self.dtype)
        return "MonarchWeights(w1=%s, w2=%s, %s)" % (self.w1_shape, self.w2_shape, self.dtype)


def _f64_matrix(a, name):
    A = as_array(a, name)
    if A.dtype not in (np.float64, np.complex128):
        raise ValueError("%s: dtype %s is not float64 or complex128" % (name, A.dtype))
    return A


def monarch_project(M, k: int, q: int, p: int, l: int = None, s: int = None, r: int = None):
    """Best Monarch (k, q, p, l, s, r) or block-diagonal (k, q, p; l, s, r
    omitted) approximation of the dense (m, n) matrix M in the Frobenius norm
    (subq_monarch_project_f64, fp64; complex128 M gives complex factors).
    Returns (w1, w2, resid_fro2): w2 is None for block-diagonal; resid_fro2 is
    |M - dense(w1, w2)|_F^2."""
    A = _f64_matrix(M, "M")
    if A.ndim != 2:
        raise ValueError("M: expected a 2-D matrix, got %d dims" % A.ndim)
    cplx = A.dtype == np.complex128
    d = _desc(k, q, p, l, s, r)
    st = elem_strides(A, "M")
    w1 = np.empty((d.k, d.q, d.p), A.dtype)
    w2 = None if d.kind == KIND_BLOCKDIAG else np.empty((d.l, d.s, d.r), A.dtype)
    res = ctypes.c_double()
    _lib.check(_lib.subq_monarch_project_f64(ptr(A), A.shape[0], A.shape[1], max(st[0], A.shape[1]), ctypes.byref(d),
                                             bool(cplx), ptr(w1), ptr(w2), ctypes.byref(res)))
    return w1, w2, res.value


def monarch_to_dense(w1, w2=None) -> np.ndarray:
    """The dense (m, n) matrix of w1 (k, q, p) and w2 (l, s, r) (None: block-
    diagonal), float64 or complex128 (subq_monarch_to_dense_f64)."""
    W1 = _contiguous(_f64_matrix(w1, "w1"), "w1")
    if W1.ndim != 3:
        raise ValueError("w1: expected 3-D (k, q, p), got %d dims" % W1.ndim)
    W2 = None
    if w2 is not None:
        W2 = _contiguous(_f64_matrix(w2, "w2"), "w2")
        if W2.ndim != 3:
            raise ValueError("w2: expected 3-D (l, s, r), got %d dims" % W2.ndim)
        if W2.dtype != W1.dtype:
            raise ValueError("w1 and w2 must have the same dtype")
        d = _desc(*W1.shape, *W2.shape)
    else:
        d = _desc(*W1.shape)
    n, m = _dims(d)
    M = np.empty((m, n), W1.dtype)
    _lib.check(_lib.subq_monarch_to_dense_f64(ctypes.byref(d), W1.dtype == np.complex128, ptr(W1), ptr(W2), ptr(M),
                                              n))
    return M
