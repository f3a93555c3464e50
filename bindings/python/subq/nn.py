"""Layer ops between the GEMMs: RMSNorm (fused residual add, SiLU gate,
groups), SwiGLU, SiLU, add, the embedding gather and RoPE (f32 activations).

Row-wise ops take (rows, cols) arrays, or any N-D array whose leading
dimensions collapse into rows with one row stride (a (batch, seq, hidden)
activation, or a column slice of a wider fused projection); rows must be
contiguous. Outputs may be the inputs themselves (out=x) where the C header
allows it."""
from __future__ import annotations

import ctypes
import weakref

import numpy as np

from . import _lib
from ._arrays import BF16Array, as_array, check_shape, elem_strides, f32, output, ptr, typed
from .context import handle_of
from ._owned import Owned

_ROPE_TYPES = {"default": 0, "linear": 1, "llama3": 2, "yarn": 3, "dynamic": 4, "longrope": 5}


def _rows(a, name):
    """(rows, cols, ld) of a with its leading dims collapsed into rows."""
    if a.ndim == 0:
        raise ValueError("%s: expected at least 1 dimension" % name)
    st = elem_strides(a, name)
    cols = a.shape[-1]
    if a.ndim == 1:
        return 1, cols, cols
    rows = int(np.prod(a.shape[:-1]))
    ld = st[-2]
    for i in range(a.ndim - 2):  # each outer stride must be the next one times its extent
        if a.shape[i] > 1 and st[i] != st[i + 1] * a.shape[i + 1]:
            raise ValueError("%s: leading dimensions do not collapse into rows with one row stride "
                             "(strides %s); pass a 2-D view" % (name, tuple(st)))
    return rows, cols, (ld if rows > 1 else cols)


def _like(x_arr, out, name):
    O = output(out, x_arr.shape, name)
    r, c, ld = _rows(O, name)
    return O, ld


def _weight(weight, cols):
    if weight is None:
        return None, _lib.DTYPE_F32
    if not isinstance(weight, BF16Array) and as_array(weight, "weight").dtype == np.float16:
        W, dt = as_array(weight, "weight"), _lib.DTYPE_F16
    else:
        W, dt = typed(weight, "weight", "f32|bf16")
    check_shape(W, (cols,), "weight")
    elem_strides(W, "weight")
    return W, dt


def rmsnorm(x, weight=None, *, eps: float = 1e-6, residual=None, gate=None, group_size: int = 0,
            sum_out=None, out=None, ctx=None):
    """y = weight * v / sqrt(mean(v^2 over each group) + eps), v = (x + residual) * silu(gate).

    x, residual, gate: (..., cols) float32; weight: (cols,) float32, float16
    or bf16 (subq.BF16Array), or None. group_size: 0 = cols, else divides cols
    (Mamba-2's grouped gated norm). sum_out: an array receiving x + residual
    (the new residual stream; may be x or residual), or True to allocate one.
    Returns y, or (y, sum_out) when sum_out is given."""
    X = f32(x, "x")
    rows, cols, xld = _rows(X, "x")

    def same(a, name):
        if a is None:
            return None, 0
        A = f32(a, name)
        check_shape(A, X.shape, name)
        return A, _rows(A, name)[2]

    R, rld = same(residual, "residual")
    G, gld = same(gate, "gate")
    W, wdt = _weight(weight, cols)
    want_sum = sum_out is not None and sum_out is not False
    S, sld = (None, 0)
    if want_sum:
        S, sld = _like(X, None if sum_out is True else sum_out, "sum_out")
    Y, yld = _like(X, out, "out")
    p = _lib.new_args(_lib.RmsnormArgs, _lib.subq_rmsnorm_args_default)
    p.rows, p.cols, p.group_size, p.eps = rows, cols, int(group_size), float(eps)
    p.weight_dtype, p.weight = wdt, ptr(W)
    p.x, p.x_ld = ptr(X), xld
    p.residual, p.residual_ld = ptr(R), rld
    p.gate, p.gate_ld = ptr(G), gld
    p.sum_out, p.sum_ld = ptr(S), sld
    p.y, p.y_ld = ptr(Y), yld
    _lib.check(_lib.subq_rmsnorm(handle_of(ctx), ctypes.byref(p)))
    return (Y, S) if want_sum else Y


def _binary(fn, a, b, an, bn, out, ctx):
    A = f32(a, an)
    B = f32(b, bn)
    if A.shape != B.shape:
        raise ValueError("%s and %s differ in shape: %s vs %s" % (an, bn, A.shape, B.shape))
    rows, cols, ald = _rows(A, an)
    bld = _rows(B, bn)[2]
    O, old = _like(A, out, "out")
    _lib.check(fn(handle_of(ctx), rows, cols, ptr(A), ald, ptr(B), bld, ptr(O), old))
    return O


def swiglu(gate, up=None, *, out=None, ctx=None):
    """silu(gate) * up. With up=None, gate is one fused [gate | up] projection
    (..., 2 * cols) and its two halves are used as views (no copies)."""
    if up is None:
        G = f32(gate, "gate")
        if G.ndim == 0 or G.shape[-1] % 2:
            raise ValueError("swiglu: a fused [gate | up] input needs an even last dimension, got %s" % (G.shape,))
        h = G.shape[-1] // 2
        gate, up = G[..., :h], G[..., h:]
    return _binary(_lib.subq_swiglu, gate, up, "gate", "up", out, ctx)


def add(a, b, *, out=None, ctx=None):
    """a + b (the residual add); out may be a or b."""
    return _binary(_lib.subq_add, a, b, "a", "b", out, ctx)


def silu(x, *, out=None, ctx=None):
    """x / (1 + exp(-x)); out may be x."""
    X = f32(x, "x")
    rows, cols, xld = _rows(X, "x")
    O, old = _like(X, out, "out")
    _lib.check(_lib.subq_silu(handle_of(ctx), rows, cols, ptr(X), xld, ptr(O), old))
    return O


def embedding(table, ids, *, out=None, ctx=None):
    """table[ids] widened to float32. table: (vocab, dim) float32, float16 or
    bf16 (subq.BF16Array), rows contiguous; ids: int64 array of any shape
    (or a sequence). Returns (*ids.shape, dim) float32. An out-of-range id
    raises SubQError naming it, before anything is written."""
    if isinstance(table, BF16Array):
        T, tdt = table.bits, _lib.DTYPE_BF16
    else:
        T = as_array(table, "table")
        if T.dtype == np.float16:
            tdt = _lib.DTYPE_F16
        else:
            T, tdt = typed(T, "table", "f32|bf16")
    if T.ndim != 2:
        raise ValueError("embedding: table must be (vocab, dim), got %d dims" % T.ndim)
    ts = elem_strides(T, "table")
    vocab, dim = T.shape
    I = as_array(ids, "ids") if isinstance(ids, np.ndarray) else np.asarray(ids, dtype=np.int64)
    if I.dtype != np.int64:
        raise ValueError("embedding: ids dtype %s is not int64; convert it explicitly" % I.dtype)
    if not I.flags.c_contiguous:
        raise ValueError("embedding: ids must be C-contiguous")
    O = output(out, I.shape + (dim,), "out")
    old = _rows(O, "out")[2]
    _lib.check(_lib.subq_embedding(handle_of(ctx), tdt, ptr(T), vocab, dim, ts[0] if vocab > 1 else dim,
                                   ptr(I), I.size, ptr(O), old))
    return O


def yarn_attention_factor(factor: float, mscale: float = 0.0, mscale_all_dim: float = 0.0) -> float:
    """HF's inferred YaRN attention_factor (subq_rope_yarn_attention_factor):
    get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when both
    are nonzero, else get_mscale(factor); 0 means not given. ValueError for a
    factor that is not finite and > 0 or a non-finite mscale."""
    v = _lib.subq_rope_yarn_attention_factor(float(factor), float(mscale), float(mscale_all_dim))
    if v != v:
        raise ValueError("yarn_attention_factor: factor (%r) must be finite and > 0, mscale (%r) and "
                         "mscale_all_dim (%r) finite" % (factor, mscale, mscale_all_dim))
    return v


class RopeTable(Owned):
    """A rotary-embedding schedule (subq_rope_table): HF's inv_freq and
    attention scaling, with cos/sin cached for positions [0, cached_positions).

    rope_type: 'default' | 'linear' | 'llama3' | 'yarn' | 'dynamic' | 'longrope'
    (factor, low/high_freq_factor, original_max_position_embeddings, beta_fast,
    beta_slow, truncate as in HF's rope_parameters). 'dynamic' (dynamic NTK) grows
    theta for the sequence length seq_len (>= 0; HF's seq_len) against
    original_max_position_embeddings (HF's max_position_embeddings here; seq_len
    at most that keeps theta); a table is fixed to one seq_len. 'longrope' divides
    the default frequencies by longrope_factors (rot_dim / 2 values, each finite
    and > 0: HF's short_factor or long_factor, chosen by the caller; pass HF's
    attention_factor as attention_scaling). attention_scaling multiplies cos and sin; None (the
    default) is 1, or for 'yarn' HF's inferred attention_factor from factor,
    mscale and mscale_all_dim (yarn_attention_factor). Immutable and
    shareable across threads; close() frees it (also freed when collected)."""

    def __init__(self, rot_dim: int, theta: float = 10000.0, *, rope_type: str = "default", factor: float = 1.0,
                 low_freq_factor: float = 1.0, high_freq_factor: float = 4.0,
                 original_max_position_embeddings: float = 8192.0, attention_scaling: float | None = None,
                 beta_fast: float = 32.0, beta_slow: float = 1.0, truncate: bool = True, mscale: float = 0.0,
                 mscale_all_dim: float = 0.0, seq_len: int = 0, longrope_factors=None, cached_positions: int = 0,
                 ctx=None):
        if rope_type not in _ROPE_TYPES:
            raise ValueError("RopeTable: rope_type must be one of %s, got %r" % (sorted(_ROPE_TYPES), rope_type))
        if attention_scaling is None:
            attention_scaling = (yarn_attention_factor(factor, mscale, mscale_all_dim) if rope_type == "yarn"
                                 else 1.0)
        p = _lib.new_args(_lib.RopeParams, _lib.subq_rope_params_default)
        p.rot_dim, p.theta, p.type = int(rot_dim), float(theta), _ROPE_TYPES[rope_type]
        p.factor, p.low_freq_factor, p.high_freq_factor = float(factor), float(low_freq_factor), float(high_freq_factor)
        p.original_max_position_embeddings = float(original_max_position_embeddings)
        p.beta_fast, p.beta_slow, p.yarn_truncate = float(beta_fast), float(beta_slow), 1 if truncate else 0
        p.attention_scaling = float(attention_scaling)
        p.cached_positions = int(cached_positions)
        p.dynamic_seq_len = int(seq_len)
        self._factors = None  # kept alive: inv_freq() passes the params again
        if rope_type == "longrope" and longrope_factors is not None:
            f = np.ascontiguousarray(longrope_factors, dtype=np.float32)
            # C reads rot_dim / 2 entries; another count would be read out of bounds
            if f.ndim != 1 or (p.rot_dim >= 2 and p.rot_dim % 2 == 0 and f.size != p.rot_dim // 2):
                raise ValueError("RopeTable: longrope_factors must be 1-D with rot_dim / 2 = %d entries, got shape %s"
                                 % (p.rot_dim // 2, f.shape))
            self._factors = f
            p.longrope_factors = f.ctypes.data if f.size else None
        self._params = p
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_rope_table_create(handle_of(ctx), ctypes.byref(p), ctypes.byref(h)))
        self._h = h.value
        self._finalizer = weakref.finalize(self, _lib.subq_rope_table_destroy, self._h)

    @property
    def handle(self):
        if self._h is None:
            raise ValueError("RopeTable: used after close()")
        return self._h

    @property
    def rot_dim(self) -> int:
        return _lib.subq_rope_table_rot_dim(self.handle)

    def inv_freq(self) -> np.ndarray:
        """The rot_dim / 2 inverse frequencies (float32, as HF computes them)."""
        out = np.empty(self._params.rot_dim // 2, dtype=np.float32)
        _lib.check(_lib.subq_rope_inv_freq(ctypes.byref(self._params), ptr(out)))
        return out

    def cos_sin(self, position: int):
        """(cos, sin), rot_dim / 2 float32 each, exactly as apply() uses them."""
        h = self.rot_dim // 2
        c, s = np.empty(h, dtype=np.float32), np.empty(h, dtype=np.float32)
        _lib.check(_lib.subq_rope_table_cos_sin(self.handle, int(position), ptr(c), ptr(s)))
        return c, s

    def apply(self, q=None, k=None, positions=None, *, ctx=None):
        """Rotates q and/or k in place (HF rotate_half layout; dims past
        rot_dim unchanged). q: (tokens, q_heads, head_dim), k: (tokens,
        k_heads, head_dim) float32, writable, head rows contiguous, any outer
        strides (views of a fused qkv projection work); positions: int64
        (tokens,). Returns (q, k)."""
        if q is None and k is None:
            raise ValueError("RopeTable.apply: give q, k or both")
        P = as_array(positions, "positions") if isinstance(positions, np.ndarray) else \
            np.asarray(positions, dtype=np.int64)
        if P.dtype != np.int64 or P.ndim != 1 or not P.flags.c_contiguous:
            raise ValueError("RopeTable.apply: positions must be a C-contiguous 1-D int64 array, got %s %s"
                             % (P.dtype, P.shape))
        tokens, head_dim = P.shape[0], None
        views = []
        for x, name in ((q, "q"), (k, "k")):
            if x is None:
                views.append((None, 0, 0, 0))
                continue
            A = f32(x, name)
            if A.ndim != 3:
                raise ValueError("%s: expected (tokens, heads, head_dim), got %d dims" % (name, A.ndim))
            if A.shape[0] != tokens:
                raise ValueError("%s: %d tokens but %d positions" % (name, A.shape[0], tokens))
            if head_dim is not None and A.shape[2] != head_dim:
                raise ValueError("RopeTable.apply: q head_dim %d != k head_dim %d" % (head_dim, A.shape[2]))
            head_dim = A.shape[2]
            if not A.flags.writeable:
                raise ValueError("%s: array is read-only (rotated in place)" % name)
            st = elem_strides(A, name)
            views.append((A, A.shape[1], st[0], st[1]))
        p = _lib.new_args(_lib.RopeArgs, _lib.subq_rope_args_default)
        p.tokens, p.head_dim, p.table, p.positions = tokens, head_dim, self.handle, ptr(P)
        (Q, p.q_heads, p.q_token_stride, p.q_head_stride), (K, p.k_heads, p.k_token_stride, p.k_head_stride) = views
        p.q, p.k = ptr(Q), ptr(K)
        _lib.check(_lib.subq_rope(handle_of(ctx), ctypes.byref(p)))
        return q, k

    def __repr__(self):
        return "RopeTable(closed)" if self._h is None else "RopeTable(rot_dim=%d)" % self.rot_dim
