"""Linear attention (Include/subq/subq_linattn.h), f32: BASED's Taylor feature
map, identity and elu+1 maps; the normalising denominator, no normalisation or
a per-head RMSNorm; scalar (simple GLA / RetNet) and per-key (GLA) log gates;
chunked causal prefill with state in and out, the decode step, non-causal.

Tensors are (batch, tokens, heads, dim) float32 (decode: (batch, heads, dim));
any non-negative outer strides (views of a fused projection work), contiguous
rows. The state of one sequence is linattn_state_floats(...) floats in the
header's layout: S (heads, D, dim_v) then, with normalize='denom', s (heads,
D); a batch of states is a (batch, floats) array with contiguous rows."""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib
from ._arrays import check_shape, elem_strides, f32, output, ptr
from .context import handle_of

FEATURE_MAPS = {"identity": 0, "elu1": 1, "taylor": 2}
NORMALIZE = {"none": 0, "denom": 1, "rmsnorm": 2}
GATES = {None: 0, "scalar": 1, "per_key": 2}


def _pick(table, value, what):
    if value not in table:
        raise ValueError("linattn: %s must be one of %s, got %r"
                         % (what, ", ".join(repr(k) for k in table), value))
    return table[value]


def _tensor(x, shape, name, inner_unit=True):
    """x checked against shape (batch, tokens, heads[, width]); returns (array, (bs, ss, hs))."""
    a = f32(x, name)
    if a.ndim != len(shape):
        raise ValueError("%s: expected %d dims %s, got %d" % (name, len(shape), shape, a.ndim))
    check_shape(a, shape, name)
    st = elem_strides(a, name, unit_inner=inner_unit)
    outer = st[:3]
    if a.size and outer == [0, 0, 0]:
        # The C API reads three zero strides as "dense": give a size-1 dimension a
        # harmless non-zero stride, or refuse a tensor broadcast along every dim.
        ones = [i for i in range(3) if a.shape[i] == 1]
        if not ones:
            raise ValueError("%s: strides (0, 0, 0) over (batch, tokens, heads) would be read as dense by "
                             "libsubq; materialise the broadcast (np.ascontiguousarray)" % name)
        outer[ones[0]] = 1
    return a, tuple(outer)


def _state(s, batch, sf, name, writable):
    """A (batch, sf) float32 state array with contiguous rows; returns (array, row stride)."""
    if s is None:
        return None, 0
    a = f32(s, name)
    if a.ndim == 1 and batch == 1:
        a = a[None]
    check_shape(a, (batch, sf), name)
    st = elem_strides(a, name)
    if writable and not a.flags.writeable:
        raise ValueError("%s: array is read-only" % name)
    if batch > 1 and st[0] < sf:
        raise ValueError("%s: row stride %d is below the %d state floats" % (name, st[0], sf))
    return a, (st[0] if batch > 1 else sf)


def _fill(p, *, b, t, h, dk, dv, feature_map, normalize, gate, causal, scale, eps, norm_eps, chunk):
    p.batch, p.seqlen, p.n_heads, p.dim_qk, p.dim_v = b, t, h, dk, dv
    p.feature_map = _pick(FEATURE_MAPS, feature_map, "feature_map")
    p.normalize = _pick(NORMALIZE, normalize, "normalize")
    p.gate = _pick(GATES, gate, "gate")
    p.causal = 1 if causal else 0
    p.scale, p.eps, p.norm_eps, p.chunk = float(scale), float(eps), float(norm_eps), int(chunk)


def linattn_feature_dim(feature_map: str, dim_qk: int) -> int:
    """D of a feature map for dim_qk: dim_qk for 'identity' / 'elu1',
    1 + dk + dk(dk+1)/2 for 'taylor' (153 for dk 16; dk <= 32)."""
    n = _lib.subq_linattn_feature_dim(_pick(FEATURE_MAPS, feature_map, "feature_map"), int(dim_qk))
    if n <= 0:
        raise ValueError("linattn_feature_dim: dim_qk=%d is out of range for feature_map %r" % (dim_qk, feature_map))
    return n


def linattn_state_floats(n_heads: int, dim_qk: int, dim_v: int, *, feature_map: str = "taylor",
                         normalize: str = "denom") -> int:
    """Floats of one sequence's state: heads * D * dim_v (+ heads * D with 'denom')."""
    p = _lib.new_args(_lib.LinattnArgs, _lib.subq_linattn_args_default)
    _fill(p, b=1, t=1, h=int(n_heads), dk=int(dim_qk), dv=int(dim_v), feature_map=feature_map, normalize=normalize,
          gate=None, causal=True, scale=0.0, eps=1e-6, norm_eps=1e-5, chunk=0)
    n = _lib.subq_linattn_state_floats(ctypes.byref(p))
    if n <= 0:
        raise ValueError("linattn_state_floats: invalid n_heads=%d, dim_qk=%d, dim_v=%d for %r"
                         % (n_heads, dim_qk, dim_v, feature_map))
    return n


def linattn_state_zeros(batch: int, n_heads: int, dim_qk: int, dim_v: int, *, feature_map: str = "taylor",
                        normalize: str = "denom") -> np.ndarray:
    """A zero state for `batch` sequences: (batch, linattn_state_floats(...)) float32."""
    sf = linattn_state_floats(n_heads, dim_qk, dim_v, feature_map=feature_map, normalize=normalize)
    return np.zeros((batch, sf), dtype=np.float32)


def linattn_feature_map(x, feature_map: str = "taylor", *, is_query: bool, scale: float = 0.0, out=None):
    """phi of rows of dim_qk floats: x (..., dk) float32 (leading dims collapse
    into rows with one row stride) -> (..., D). is_query selects the q side
    (the identity map multiplies it by scale; scale 0 = dk^-1/2)."""
    from .nn import _rows
    X = f32(x, "x")
    rows, dk, xld = _rows(X, "x")
    d = linattn_feature_dim(feature_map, dk)
    O = output(out, X.shape[:-1] + (d,), "out")
    oldd = _rows(O, "out")[2]
    _lib.check(_lib.subq_linattn_feature_map_f32(FEATURE_MAPS[feature_map], dk, float(scale), bool(is_query), rows,
                                                 ptr(X), xld, ptr(O), oldd))
    return O


def _call(decode, q, k, v, feature_map, normalize, norm_weight, gate, log_gate, causal, scale, eps, norm_eps, chunk,
          state, state_out, out, ctx):
    fn = "linattn_decode" if decode else "linattn_prefill"
    if decode:  # (batch, heads, dim) viewed as one token
        for nm, x in (("q", q), ("k", k), ("v", v)):
            if np.ndim(x) != 3:
                raise ValueError("%s: %s must be (batch, heads, dim), got %d dims" % (fn, nm, np.ndim(x)))
        q, k, v = f32(q, "q")[:, None], f32(k, "k")[:, None], f32(v, "v")[:, None]
    Q = f32(q, "q")
    if Q.ndim != 4:
        raise ValueError("%s: q must be (batch, tokens, heads, dim_qk), got %d dims" % (fn, Q.ndim))
    b, t, h, dk = Q.shape
    V = f32(v, "v")
    if V.ndim != 4:
        raise ValueError("%s: v must be (batch, tokens, heads, dim_v), got %d dims" % (fn, V.ndim))
    dv = V.shape[3]
    Q, qs = _tensor(Q, (b, t, h, dk), "q")
    K, ks = _tensor(k, (b, t, h, dk), "k")
    V, vs = _tensor(V, (b, t, h, dv), "v")
    gcode = _pick(GATES, gate, "gate")
    G, gs = None, (0, 0, 0)
    if gcode == 0:
        if log_gate is not None:
            raise ValueError("%s: log_gate is given but gate is None (say gate='scalar' or 'per_key')" % fn)
    else:
        if log_gate is None:
            raise ValueError("%s: gate=%r needs log_gate" % (fn, gate))
        lg = f32(log_gate, "log_gate")
        if decode:
            lg = lg[:, None]
        if gcode == 1:  # (b, t, h): the heads are the last, width-1 dim's rows
            G, gs = _tensor(lg, (b, t, h), "log_gate", inner_unit=False)
        else:
            G, gs = _tensor(lg, (b, t, h, dk), "log_gate")
    W = None
    if norm_weight is not None:
        if normalize != "rmsnorm":
            raise ValueError("%s: norm_weight is used with normalize='rmsnorm' only" % fn)
        W = f32(norm_weight, "norm_weight")
        check_shape(W, (dv,), "norm_weight")
        elem_strides(W, "norm_weight")
    p = _lib.new_args(_lib.LinattnArgs, _lib.subq_linattn_args_default)
    _fill(p, b=b, t=t, h=h, dk=dk, dv=dv, feature_map=feature_map, normalize=normalize, gate=gate, causal=causal,
          scale=scale, eps=eps, norm_eps=norm_eps, chunk=chunk)
    sf = _lib.subq_linattn_state_floats(ctypes.byref(p))
    S, sbs = (None, 0)
    So, sobs = (None, 0)
    if sf > 0:
        S, sbs = _state(state, b, sf, "state", writable=decode and state_out is None)
        So, sobs = _state(state_out, b, sf, "state_out", writable=True)
    else:  # invalid fields: the library refuses them (with its message) before touching any state
        S = None if state is None else f32(state, "state")
        So = None if state_out is None else f32(state_out, "state_out")
    if decode:
        if S is None:
            raise ValueError("linattn_decode: state is required (updated in place unless state_out is given)")
        if So is None:
            So, sobs = S, sbs
    if S is not None and So is not None and sbs != sobs:
        raise ValueError("%s: state and state_out must have one row stride (%d != %d)" % (fn, sbs, sobs))
    oshape = (b, h, dv) if decode else (b, t, h, dv)
    O = output(out, oshape, "out")
    Ov, os_ = _tensor(O[:, None] if decode else O, (b, t, h, dv), "out")
    p.q, (p.q_bs, p.q_ss, p.q_hs) = ptr(Q), qs
    p.k, (p.k_bs, p.k_ss, p.k_hs) = ptr(K), ks
    p.v, (p.v_bs, p.v_ss, p.v_hs) = ptr(V), vs
    p.log_gate, (p.g_bs, p.g_ss, p.g_hs) = ptr(G), gs
    p.norm_weight = ptr(W)
    p.state_in, p.state_out, p.state_bs = ptr(S), ptr(So), (sbs or sobs)
    p.out, (p.o_bs, p.o_ss, p.o_hs) = ptr(Ov), os_
    cfn = _lib.subq_linattn_decode_f32 if decode else _lib.subq_linattn_prefill_f32
    _lib.check(cfn(handle_of(ctx), ctypes.byref(p)))
    return O


def linattn_prefill(q, k, v, *, feature_map: str = "taylor", normalize: str = "denom", norm_weight=None, gate=None,
                    log_gate=None, causal: bool = True, scale: float = 0.0, eps: float = 1e-6, norm_eps: float = 1e-5,
                    chunk: int = 0, state=None, state_out=None, out=None, ctx=None):
    """Linear attention over the tokens of a batch (subq_linattn_prefill_f32).

    q, k: (B, T, H, dk); v: (B, T, H, dv) float32. feature_map: 'taylor'
    (BASED, dk <= 32) | 'identity' (phi_q = scale q, phi_k = k) | 'elu1'.
    normalize: 'denom' (y / (z + eps)) | 'none' | 'rmsnorm' (per head over dv,
    times norm_weight (dv,) or 1, eps norm_eps). gate: None | 'scalar' with
    log_gate (B, T, H) | 'per_key' with log_gate (B, T, H, dk) (identity / elu1
    only); log gates are natural logs <= 0 and need causal. causal=False: every
    token sees every token of the call. scale 0 = dk^-1/2; chunk 0 = 64.
    state: (B, linattn_state_floats(...)) before the tokens (None = zeros);
    state_out: receives the state after them (may be `state`). Returns out
    (B, T, H, dv). Splitting the tokens over calls with the state carried
    equals one call within f32 rounding (rel-RMS 1e-5), not bitwise."""
    return _call(False, q, k, v, feature_map, normalize, norm_weight, gate, log_gate, causal, scale, eps, norm_eps,
                 chunk, state, state_out, out, ctx)


def linattn_decode(q, k, v, state, *, feature_map: str = "taylor", normalize: str = "denom", norm_weight=None,
                   gate=None, log_gate=None, scale: float = 0.0, eps: float = 1e-6, norm_eps: float = 1e-5,
                   state_out=None, out=None, ctx=None):
    """One decode token (subq_linattn_decode_f32): q, k (B, H, dk), v (B, H,
    dv), log_gate (B, H) or (B, H, dk); state (B, floats) updated in place
    (or written to state_out). The token sees itself. Returns out (B, H, dv)."""
    return _call(True, q, k, v, feature_map, normalize, norm_weight, gate, log_gate, True, scale, eps, norm_eps, 0,
                 state, state_out, out, ctx)
