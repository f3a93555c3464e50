"""Ternary (1.58-bit) weights (Include/subq/subq_ternary.h): absmean quantization
into the SQ2 packed format, imports (codes, already-ternarized, HF packed BitNet,
SQ2 blob), per-token int8 activation quantization with optional fused RMSNorm,
the exact int32 ternary matmul, fused BitLinear, and the HGRN-Bit recurrence.

Weights are a PyTorch Linear weight W (N out, K in); activations float32
(tokens, K) with contiguous rows (any row stride). Results of the quantizer and
the matmul are bitwise identical on every ISA path and thread count."""
from __future__ import annotations

import ctypes
import weakref

import numpy as np

from . import _lib
from ._arrays import as_array, check_shape, elem_strides, f32, output, ptr, typed
from .context import handle_of
from ._owned import Owned

SCALES = {"tensor": 0, "row": 1}
ROUNDING = {"half_even": 0, "half_away": 1}
HF_RULES = {"divide": 0, "multiply": 1}


def _pick(table, value, what):
    if value not in table:
        raise ValueError("ternary: %s must be one of %s, got %r" % (what, ", ".join(repr(k) for k in table), value))
    return table[value]


def _matrix(a, name, ncols=None):
    """A 2-D array with a unit inner stride; returns (array, row stride in elements)."""
    if a.ndim != 2:
        raise ValueError("%s: expected a 2-D array, got %d dims" % (name, a.ndim))
    if ncols is not None and a.shape[1] != ncols:
        raise ValueError("%s: has %d columns, expected %d" % (name, a.shape[1], ncols))
    st = elem_strides(a, name)
    return a, max(st[0], a.shape[1])


def _rows(x, name, ncols):
    """x (tokens, ncols) or a single token (ncols,) float32; returns (orig, 2-D, ld)."""
    a = f32(x, name)
    if a.ndim not in (1, 2):
        raise ValueError("%s: expected (tokens, %d) or (%d,), got %d dims" % (name, ncols, ncols, a.ndim))
    a2, ld = _matrix(a[None] if a.ndim == 1 else a, name, ncols)
    return a, a2, ld


def _vec(v, name, n):
    if v is None:
        return None
    a = f32(v, name)
    check_shape(a, (n,), name)
    elem_strides(a, name)
    return a


def _new(fn, *args):
    h = ctypes.c_void_p()
    _lib.check(fn(*args, ctypes.byref(h)))
    return TernaryWeights(_handle=h.value)


class TernaryWeights(Owned):
    """Ternary weights W (rows N, cols K) in SQ2 (subq_ternary): immutable,
    shareable between threads. Make one with quantize / from_codes /
    from_ternarized / from_hf / from_blob; close() (or a with-block) frees it."""

    def __init__(self, *, _handle):
        self._h = _handle
        self._finalizer = weakref.finalize(self, _lib.subq_ternary_destroy, _handle)
        self.rows = _lib.subq_ternary_rows(_handle)
        self.cols = _lib.subq_ternary_cols(_handle)

    @classmethod
    def quantize(cls, w, *, scale: str = "tensor", ctx=None) -> "TernaryWeights":
        """absmean quantization of W (N, K) float32 or bf16 (subq.BF16Array) with
        one gamma per tensor (scale='tensor') or per row ('row')."""
        W, dt = typed(w, "w", "f32|bf16")
        W, ld = _matrix(W, "w")
        return _new(_lib.subq_ternary_quantize, handle_of(ctx) if ctx is not None else None, W.shape[0], W.shape[1],
                    dt, ptr(W), ld, _pick(SCALES, scale, "scale"))

    @classmethod
    def from_codes(cls, codes, gamma) -> "TernaryWeights":
        """Codes t (N, K) int8 in {-1, 0, 1} and gamma: a scalar / shape (1,)
        (per tensor) or shape (N,) (per row), finite and > 0. No re-quantization."""
        T = as_array(codes, "codes")
        if T.dtype != np.int8:
            raise ValueError("codes: dtype %s is not int8" % T.dtype)
        T, ld = _matrix(T, "codes")
        g = np.ascontiguousarray(np.asarray(gamma, dtype=np.float32).reshape(-1))
        if g.size == 1 and T.shape[0] != 1 or np.ndim(gamma) == 0:
            mode = SCALES["tensor"]
        else:
            check_shape(g, (T.shape[0],), "gamma")
            mode = SCALES["row"]
        return _new(_lib.subq_ternary_from_codes, T.shape[0], T.shape[1], ptr(T), ld, mode, ptr(g))

    @classmethod
    def from_ternarized(cls, w, *, scale: str = "tensor") -> "TernaryWeights":
        """Already-ternarized dense W (every value 0 or +-gamma per tensor / row),
        float32 or bf16; gamma kept exactly."""
        W, dt = typed(w, "w", "f32|bf16")
        W, ld = _matrix(W, "w")
        return _new(_lib.subq_ternary_from_ternarized, W.shape[0], W.shape[1], dt, ptr(W), ld,
                    _pick(SCALES, scale, "scale"))

    @classmethod
    def from_hf(cls, packed, weight_scale: float, *, rule: str = "divide") -> "TernaryWeights":
        """An HF transformers packed BitNet weight: packed uint8 (N/4, K) (N =
        4 * packed.shape[0]); weight_scale the checkpoint's `.weight_scale`;
        rule 'divide' (linear_class "bitlinear": gamma = 1/ws) or 'multiply'."""
        P = as_array(packed, "packed")
        if P.dtype != np.uint8:
            raise ValueError("packed: dtype %s is not uint8" % P.dtype)
        if P.ndim != 2 or not P.flags.c_contiguous:
            raise ValueError("packed: expected a C-contiguous 2-D (N/4, K) uint8 array")
        return _new(_lib.subq_ternary_from_hf, 4 * P.shape[0], P.shape[1], ptr(P), float(weight_scale),
                    _pick(HF_RULES, rule, "rule"))

    @classmethod
    def from_blob(cls, blob) -> "TernaryWeights":
        """Validates and copies an SQ2 blob (bytes, bytearray or a uint8 array)."""
        if isinstance(blob, (bytes, bytearray, memoryview)):
            b = np.frombuffer(blob, dtype=np.uint8)
        else:
            b = as_array(blob, "blob")
            if b.dtype != np.uint8 or b.ndim != 1 or not b.flags.c_contiguous:
                raise ValueError("blob: expected bytes or a contiguous 1-D uint8 array")
        return _new(_lib.subq_ternary_from_blob, ptr(b) if b.size else None, b.size)

    def _handle(self):
        if self._h is None:
            raise ValueError("TernaryWeights: used after close()")
        return self._h

    @property
    def scale(self) -> str:
        return "row" if _lib.subq_ternary_scale_mode(self._handle()) == SCALES["row"] else "tensor"

    @property
    def shape(self):
        return (self.rows, self.cols)

    def place(self, ctx) -> None:
        """Moves the weights into memory placed by ctx's NUMA mode (a no-op
        unless ctx.places_weights; mirror keeps a copy per node). Results never
        change. Call it before other threads use the weights."""
        _lib.check(_lib.subq_ternary_place(handle_of(ctx), self._handle()))

    def blob(self) -> bytes:
        """A copy of the SQ2 blob (128-byte header, codes, scales)."""
        n = ctypes.c_size_t()
        p = _lib.subq_ternary_blob(self._handle(), ctypes.byref(n))
        return ctypes.string_at(p, n.value)

    def to_codes(self):
        """(codes int8 (N, K), gamma float32 (1,) or (N,))."""
        t = np.empty((self.rows, self.cols), np.int8)
        g = np.empty((self.rows if self.scale == "row" else 1,), np.float32)
        _lib.check(_lib.subq_ternary_to_codes(self._handle(), ptr(t), self.cols, ptr(g)))
        return t, g

    def matmul_i32(self, q, out=None, *, ctx=None):
        return matmul_i32(self, q, out, ctx=ctx)

    def bitlinear(self, x, **kw):
        return bitlinear(x, self, **kw)

    __call__ = bitlinear

    def __repr__(self):
        return "TernaryWeights(%d x %d, scale=%s)" % (self.rows, self.cols, self.scale if self._h else "closed")


def ternary_act_quant(x, *, rmsnorm: bool = False, norm_weight=None, eps: float = 1e-6,
                      rounding: str = "half_even", ctx=None):
    """Per-token int8 quantization (optionally after RMSNorm with norm_weight
    (K,)) of x (tokens, K) float32: returns (q int8 (tokens, K), sums int32
    (tokens,) = sum of q, scales float32 (tokens,) = max(max |y|, 1e-5))."""
    X, X2, ld = _rows(x, "x", f32(x, "x").shape[-1])
    T, K = X2.shape
    W = _vec(norm_weight, "norm_weight", K)
    q = np.empty((T, K), np.int8)
    sums = np.empty((T,), np.int32)
    scales = np.empty((T,), np.float32)
    a = _lib.new_args(_lib.TernaryActArgs, _lib.subq_ternary_act_args_default)
    a.rows, a.cols = T, K
    a.flags = _lib.TERNARY_RMSNORM if rmsnorm else 0
    a.eps, a.rounding = float(eps), _pick(ROUNDING, rounding, "rounding")
    a.x, a.x_ld, a.norm_weight = ptr(X2), ld, ptr(W)
    a.q, a.q_ld, a.sums, a.scales = ptr(q), K, ptr(sums), ptr(scales)
    _lib.check(_lib.subq_ternary_act_quant(handle_of(ctx), ctypes.byref(a)))
    if X.ndim == 1:
        return q[0], sums, scales
    return q, sums, scales


def matmul_i32(w: TernaryWeights, q, out=None, *, ctx=None):
    """D = q @ t.T exactly in int32: q int8 (tokens, K) in [-127, 127]; out
    int32 (tokens, N), allocated when None."""
    h = w._handle()
    Q = as_array(q, "q")
    if Q.dtype != np.int8:
        raise ValueError("q: dtype %s is not int8" % Q.dtype)
    Q, ld = _matrix(Q, "q", w.cols)
    D = output(out, (Q.shape[0], w.rows), "out", dtype=np.int32)
    _lib.check(_lib.subq_ternary_matmul_i32(handle_of(ctx), h, Q.shape[0], ptr(Q), ld, ptr(D),
                                            max(elem_strides(D, "out")[0], w.rows)))
    return D


def bitlinear(x, w: TernaryWeights, *, rmsnorm: bool = False, norm_weight=None, eps: float = 1e-6,
              rounding: str = "half_even", residual=None, out=None, ctx=None):
    """Fused BitLinear: (RMSNorm ->) per-token int8 quantization -> ternary
    matmul -> out = D * (gamma_n * (a / 127)) (+ residual). x (tokens, K) or
    (K,) float32; residual and out (tokens, N) float32 (out may be residual)."""
    h = w._handle()
    X, X2, ldx = _rows(x, "x", w.cols)
    T = X2.shape[0]
    oshape = (T, w.rows) if X.ndim == 2 else (w.rows,)
    R = None
    ldr = 0
    if residual is not None:
        R = f32(residual, "residual")
        check_shape(R, oshape, "residual")
        R, ldr = _matrix(R[None] if R.ndim == 1 else R, "residual")
    O = output(out, oshape, "out")
    O2, ldo = _matrix(O[None] if O.ndim == 1 else O, "out")
    a = _lib.new_args(_lib.BitlinearArgs, _lib.subq_bitlinear_args_default)
    a.tokens = T
    a.flags = _lib.TERNARY_RMSNORM if rmsnorm else 0
    a.eps, a.rounding = float(eps), _pick(ROUNDING, rounding, "rounding")
    a.x, a.x_ld, a.norm_weight = ptr(X2), ldx, ptr(_vec(norm_weight, "norm_weight", w.cols))
    a.residual, a.residual_ld = ptr(R), ldr
    a.out, a.out_ld = ptr(O2), ldo
    _lib.check(_lib.subq_bitlinear(handle_of(ctx), h, ctypes.byref(a)))
    return O


def _hgrn(fn, i, f, state, *, lower_bound, gate, gate_norm_weight, eps, out, ctx, step):
    I, I2, ldi = _rows(i, "i", f32(i, "i").shape[-1])
    T, C = I2.shape
    F, F2, ldf = _rows(f, "f", C)
    if F2.shape[0] != T:
        raise ValueError("f: has %d tokens, i has %d" % (F2.shape[0], T))
    G2, ldg = None, 0
    if gate is not None:
        _, G2, ldg = _rows(gate, "gate", C)
        if G2.shape[0] != T:
            raise ValueError("gate: has %d tokens, i has %d" % (G2.shape[0], T))
    if state is None:
        if step:
            raise ValueError("hgrn_step: state is required (updated in place)")
        s_in, s_out = None, np.zeros((C,), np.float32)
    else:
        s_in = s_out = _vec(state, "state", C)
        if not s_out.flags.writeable:
            raise ValueError("state: array is read-only")
    O = output(out, I.shape, "out")
    O2, ldo = _matrix(O[None] if O.ndim == 1 else O, "out")
    a = _lib.new_args(_lib.HgrnArgs, _lib.subq_hgrn_args_default)
    a.tokens, a.channels = T, C
    a.i, a.i_ld, a.f, a.f_ld = ptr(I2), ldi, ptr(F2), ldf
    a.lower_bound = ptr(_vec(lower_bound, "lower_bound", C))
    a.state_in, a.state_out = ptr(s_in), ptr(s_out)
    a.gate, a.gate_ld = ptr(G2), ldg
    a.gate_norm_weight = ptr(_vec(gate_norm_weight, "gate_norm_weight", C))
    a.eps = float(eps)
    a.out, a.out_ld = ptr(O2), ldo
    _lib.check(fn(handle_of(ctx), ctypes.byref(a)))
    return O, s_out


def hgrn(i, f, state=None, *, lower_bound=None, gate=None, gate_norm_weight=None, eps: float = 1e-6, out=None,
         ctx=None):
    """HGRN-Bit recurrence over i, f (tokens, channels) float32 (f: forget
    pre-activation). state (channels,) is read and updated in place; None
    starts from zeros. gate (tokens, channels) adds the RMSNorm(gate) * silu(s)
    output gate. Returns (out (tokens, channels), state)."""
    return _hgrn(_lib.subq_hgrn_f32, i, f, state, lower_bound=lower_bound, gate=gate,
                 gate_norm_weight=gate_norm_weight, eps=eps, out=out, ctx=ctx, step=False)


def hgrn_step(i, f, state, *, lower_bound=None, gate=None, gate_norm_weight=None, eps: float = 1e-6, out=None,
              ctx=None):
    """One decode token: i, f (channels,) or (1, channels); state (channels,)
    updated in place. Returns out (shaped like i)."""
    return _hgrn(_lib.subq_hgrn_step_f32, i, f, state, lower_bound=lower_bound, gate=gate,
                 gate_norm_weight=gate_norm_weight, eps=eps, out=out, ctx=ctx, step=True)[0]
