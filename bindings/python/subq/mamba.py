"""Mamba kernels: causal depthwise conv1d and the Mamba-1 selective scan (f32).

Activations are (batch, seqlen, channels) (or (seqlen, channels) without a
batch); rows must be contiguous, other strides are free. The conv state is
(batch, width - 1, channels). The Mamba-1 state uses SubQ's blocked layout,
(batch, ssm1_state_floats(channels, d_state)) floats: make it with
ssm1_state_zeros() or ssm1_state_import() (from the HF (batch, channels,
d_state) layout) and read it back with ssm1_state_export()."""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib
from ._arrays import check_shape, elem_strides, f32, output, ptr
from .context import handle_of

SILU = 0x1
DT_SOFTPLUS = 0x1
A_LOG = 0x2
A_PACKED = 0x4


def _seq(x, name):
    a = f32(x, name)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError("%s: expected (batch, seqlen, features) or (seqlen, features), got %d dims" % (name, a.ndim))
    st = elem_strides(a, name)
    return a, st


def _opt_vec(x, n, name):
    if x is None:
        return None
    a = f32(x, name)
    check_shape(a, (n,), name)
    elem_strides(a, name)
    return a


def conv1d(x, weight, bias=None, *, silu: bool = False, state=None, state_out=None, out=None, cu_seqlens=None,
           state_slots=None, has_initial_state=None, ctx=None):
    """Causal depthwise conv1d (prefill). x: (B, L, C); weight: (C, W), W in
    1..8 (PyTorch conv1d.weight squeezed); bias: (C,) or None; state: the conv
    state (B, W-1, C) before x, or None for zeros; state_out: an array to
    receive the new state (may be `state` itself). Returns y (x's shape).
    Packed variable-length batches: cu_seqlens (int32, n_seq + 1 offsets)
    splits x (total, C) into sequences; state / state_out are then pools
    (n_slots, W-1, C) whose rows state_slots (int32; default identity)
    picks; has_initial_state (uint8/bool) 0 starts a sequence from zeros."""
    squeeze = np.ndim(x) == 2
    X, xs = _seq(x, "x")
    b, l, c = X.shape
    CU, SL, HI, n_seq, pool = _varlen("conv1d", squeeze, b, cu_seqlens, state_slots, has_initial_state, state,
                                      state_out)
    Wt = f32(weight, "weight")
    if Wt.ndim != 2 or Wt.shape[0] != c:
        raise ValueError("conv1d: weight must be (channels=%d, width), got %s" % (c, Wt.shape))
    Wt = Wt if Wt.flags.c_contiguous else _need_contig("weight")
    w = Wt.shape[1]
    Bv = _opt_vec(bias, c, "bias")
    S = _state(state, (pool, w - 1, c), "state")
    So = _state(state_out, (pool, w - 1, c), "state_out", writable=True)
    Y = output(out, X.shape[1:] if squeeze else X.shape, "out")
    Yv = Y[None] if squeeze else Y
    ys = elem_strides(Yv, "out")
    p = _lib.new_args(_lib.Conv1dArgs, _lib.subq_conv1d_args_default)
    p.batch, p.seqlen, p.channels, p.width = b, l, c, w
    p.flags = SILU if silu else 0
    p.x, p.x_ld, p.x_bs = ptr(X), xs[1], xs[0]
    p.weight, p.bias = ptr(Wt), ptr(Bv)
    p.state_in, p.state_out = ptr(S), ptr(So)
    p.state_bs = 0
    p.y, p.y_ld, p.y_bs = ptr(Yv), ys[1], ys[0]
    _set_varlen(p, CU, SL, HI, n_seq, pool)
    _lib.check(_lib.subq_conv1d_f32(handle_of(ctx), ctypes.byref(p)))
    return Y


def conv1d_update(x, weight, state, bias=None, *, silu: bool = False, out=None, ctx=None):
    """One decode token: x (B, C); state (B, W-1, C) updated in place. Returns y (B, C)."""
    X = f32(x, "x")
    if X.ndim != 2:
        raise ValueError("conv1d_update: x must be (batch, channels), got %d dims" % X.ndim)
    b, c = X.shape
    Wt = f32(weight, "weight")
    if Wt.ndim != 2 or Wt.shape[0] != c:
        raise ValueError("conv1d_update: weight must be (channels=%d, width), got %s" % (c, Wt.shape))
    Wt = Wt if Wt.flags.c_contiguous else _need_contig("weight")
    w = Wt.shape[1]
    S = _state(state, (b, w - 1, c), "state", writable=True)
    if S is None:
        raise ValueError("conv1d_update: state is required (it is updated in place)")
    Bv = _opt_vec(bias, c, "bias")
    Y = output(out, (b, c), "out")
    xs, ys = elem_strides(X, "x"), elem_strides(Y, "out")
    p = _lib.new_args(_lib.Conv1dArgs, _lib.subq_conv1d_args_default)
    p.batch, p.seqlen, p.channels, p.width = b, 1, c, w
    p.flags = SILU if silu else 0
    p.x, p.x_ld, p.x_bs = ptr(X), c, xs[0]
    p.weight, p.bias = ptr(Wt), ptr(Bv)
    p.state_in = p.state_out = ptr(S)
    p.y, p.y_ld, p.y_bs = ptr(Y), c, ys[0]
    _lib.check(_lib.subq_conv1d_update_f32(handle_of(ctx), ctypes.byref(p)))
    return Y


def _int_vec(x, n, dtype, name):
    """A 1-D array of exactly `dtype` (ndarrays are never converted; sequences are)."""
    if x is None:
        return None
    a = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=dtype)
    if dtype == np.uint8 and a.dtype == np.bool_:
        a = a.view(np.uint8)  # same bytes, 0 / 1
    if a.dtype != dtype:
        raise ValueError("%s: dtype %s is not %s; convert it explicitly" % (name, a.dtype, np.dtype(dtype)))
    if a.ndim != 1 or (n is not None and a.shape[0] != n) or not a.flags.c_contiguous:
        raise ValueError("%s: must be a C-contiguous 1-D array%s, got shape %s"
                         % (name, "" if n is None else " of %d" % n, a.shape))
    return a


def _varlen(fn, squeeze, b, cu_seqlens, state_slots, has_initial_state, state, state_out):
    """(cu_seqlens, state_slots, has_initial_state arrays, n_seq, state pool rows) of a packed
    variable-length call, or (None, None, None, b, b) without cu_seqlens."""
    CU = _int_vec(cu_seqlens, None, np.int32, "cu_seqlens")
    if CU is None:
        if state_slots is not None or has_initial_state is not None:
            raise ValueError("%s: state_slots and has_initial_state need cu_seqlens" % fn)
        return None, None, None, b, b
    if not squeeze:
        raise ValueError("%s: with cu_seqlens, activations are the packed (total_tokens, ...) tensors (no batch dim)"
                         % fn)
    if CU.shape[0] < 1:
        raise ValueError("cu_seqlens: needs n_sequences + 1 >= 1 entries")
    n_seq = CU.shape[0] - 1
    SL = _int_vec(state_slots, n_seq, np.int32, "state_slots")
    HI = _int_vec(has_initial_state, n_seq, np.uint8, "has_initial_state")
    pools = [a for a in (state, state_out) if a is not None]  # pools: any number of rows, picked by state_slots
    return CU, SL, HI, n_seq, (np.shape(pools[0])[0] if pools else n_seq)


def _set_varlen(p, CU, SL, HI, n_seq, pool):
    if CU is not None:
        p.batch = n_seq
        p.cu_seqlens, p.state_slots, p.has_initial_state = ptr(CU), ptr(SL), ptr(HI)
        p.n_slots = pool


def _need_contig(name):
    raise ValueError("%s: must be C-contiguous" % name)


def _state(s, shape, name, writable=False):
    if s is None:
        return None
    a = f32(s, name)
    check_shape(a, shape, name)
    if not a.flags.c_contiguous:
        _need_contig(name)
    if writable and not a.flags.writeable:
        raise ValueError("%s: array is read-only" % name)
    return a


def ssm1_state_floats(channels: int, d_state: int) -> int:
    n = _lib.subq_ssm1_state_floats(channels, d_state)
    if n <= 0:
        raise ValueError("ssm1_state_floats: invalid channels=%d, d_state=%d" % (channels, d_state))
    return n


def ssm1_state_zeros(batch: int, channels: int, d_state: int) -> np.ndarray:
    """A zero Mamba-1 state in SubQ's layout: (batch, ssm1_state_floats)."""
    return np.zeros((batch, ssm1_state_floats(channels, d_state)), dtype=np.float32)


def ssm1_state_import(h) -> np.ndarray:
    """HF / mamba_ssm state (batch, channels, d_state) -> SubQ layout (new array)."""
    H = np.ascontiguousarray(f32(h, "h"))
    if H.ndim != 3:
        raise ValueError("ssm1_state_import: h must be (batch, channels, d_state), got %d dims" % H.ndim)
    b, c, n = H.shape
    out = np.empty((b, ssm1_state_floats(c, n)), dtype=np.float32)
    _lib.check(_lib.subq_ssm1_state_import(b, c, n, ptr(H), ptr(out)))
    return out


def ssm1_state_export(state, channels: int, d_state: int) -> np.ndarray:
    """SubQ layout -> HF (batch, channels, d_state) (new array)."""
    S = f32(state, "state")
    if S.ndim != 2 or S.shape[1] != ssm1_state_floats(channels, d_state) or not S.flags.c_contiguous:
        raise ValueError("ssm1_state_export: state must be C-contiguous (batch, %d), got %s"
                         % (ssm1_state_floats(channels, d_state), S.shape))
    out = np.empty((S.shape[0], channels, d_state), dtype=np.float32)
    _lib.check(_lib.subq_ssm1_state_export(S.shape[0], channels, d_state, ptr(S), ptr(out)))
    return out


class PackedA:
    """Mamba-1's A packed once for the kernels (subq_ssm1_pack_a): pass it as A to
    ssm1_scan / ssm1_step to skip the per-call packing (decode steps); results are
    bitwise those of the unpacked A."""

    def __init__(self, A, *, a_is_log: bool = False):
        Av = f32(A, "A")
        if Av.ndim != 2 or not Av.flags.c_contiguous:
            raise ValueError("ssm1_pack_a: A must be C-contiguous (channels, d_state), got %s" % (Av.shape,))
        self.channels, self.d_state = int(Av.shape[0]), int(Av.shape[1])
        self.data = np.empty(ssm1_state_floats(self.channels, self.d_state), dtype=np.float32)
        _lib.check(_lib.subq_ssm1_pack_a(self.channels, self.d_state, ptr(Av), bool(a_is_log), ptr(self.data)))

    def __repr__(self):
        return "subq.PackedA(channels=%d, d_state=%d)" % (self.channels, self.d_state)


def ssm1_pack_a(A, *, a_is_log: bool = False) -> PackedA:
    """Packs A (or A_log when a_is_log), (channels, d_state), once: see PackedA."""
    return PackedA(A, a_is_log=a_is_log)


def _ssm1(step, u, dt, A, B, C, D, z, dt_bias, dt_softplus, a_is_log, n_groups, state, state_out, out, ctx,
          cu_seqlens=None, state_slots=None, has_initial_state=None):
    squeeze = np.ndim(u) == 2 and not step
    if step:
        U = f32(u, "u")
        if U.ndim != 2:
            raise ValueError("ssm1_step: u must be (batch, channels), got %d dims" % U.ndim)
        U = U[:, None, :]
    else:
        U, _ = _seq(u, "u")
    b, l, c = U.shape
    CU, SL, HI, n_seq, pool = _varlen("ssm1_scan", squeeze, b, cu_seqlens, state_slots, has_initial_state, state,
                                      state_out)
    packed = isinstance(A, PackedA)
    if packed:
        if A.channels != c:
            raise ValueError("ssm1: PackedA has %d channels, u has %d" % (A.channels, c))
        if a_is_log:
            raise ValueError("ssm1: a_is_log applies when packing (ssm1_pack_a), not to a PackedA")
        Av, n = A.data, A.d_state
    else:
        Av = f32(A, "A")
        if Av.ndim != 2 or Av.shape[0] != c or not Av.flags.c_contiguous:
            raise ValueError("ssm1: A must be C-contiguous (channels=%d, d_state), got %s" % (c, Av.shape))
        n = Av.shape[1]

    def seq_in(x, width, name):
        if x is None:
            return None, (0, 0)
        a = f32(x, name)
        a = a[:, None, :] if step else (a[None] if a.ndim == 2 else a)
        check_shape(a, (b, l, width), name)
        st = elem_strides(a, name)
        return a, st

    Us = elem_strides(U, "u")
    DT, dts = seq_in(dt, c, "dt")
    if DT is None:
        raise ValueError("ssm1: dt is required")
    Bm, bs = seq_in(B, n_groups * n, "B")
    Cm, cs = seq_in(C, n_groups * n, "C")
    if Bm is None or Cm is None:
        raise ValueError("ssm1: B and C are required")
    Z, zs = seq_in(z, c, "z")
    Dv = _opt_vec(D, c, "D")
    DTB = _opt_vec(dt_bias, c, "dt_bias")
    sf = ssm1_state_floats(c, n)
    S = _state(state, (pool, sf), "state", writable=step and state_out is None)
    So = _state(state_out, (pool, sf), "state_out", writable=True)
    if step:
        if S is None:
            raise ValueError("ssm1_step: state is required (it is updated in place unless state_out is given)")
        if So is None:
            So = S
    oshape = (b, c) if step else ((l, c) if squeeze else (b, l, c))
    Y = output(out, oshape, "out")
    Yv = Y[:, None, :] if step else (Y[None] if squeeze else Y)
    ys = elem_strides(Yv, "out")
    p = _lib.new_args(_lib.Ssm1Args, _lib.subq_ssm1_args_default)
    p.batch, p.seqlen, p.channels, p.d_state, p.n_groups = b, l, c, n, n_groups
    p.flags = (DT_SOFTPLUS if dt_softplus else 0) | (A_LOG if a_is_log else 0) | (A_PACKED if packed else 0)
    p.u, p.u_ld, p.u_bs = ptr(U), Us[1], Us[0]
    p.dt, p.dt_ld, p.dt_bs = ptr(DT), dts[1], dts[0]
    p.b, p.b_ld, p.b_bs = ptr(Bm), bs[1], bs[0]
    p.c, p.c_ld, p.c_bs = ptr(Cm), cs[1], cs[0]
    if Z is not None:
        p.z, p.z_ld, p.z_bs = ptr(Z), zs[1], zs[0]
    p.a, p.dt_bias, p.d_skip = ptr(Av), ptr(DTB), ptr(Dv)
    p.h_in, p.h_out, p.h_bs = ptr(S), ptr(So), 0
    p.y, p.y_ld, p.y_bs = ptr(Yv), ys[1], ys[0]
    _set_varlen(p, CU, SL, HI, n_seq, pool)
    fn = _lib.subq_ssm1_step_f32 if step else _lib.subq_ssm1_scan_f32
    _lib.check(fn(handle_of(ctx), ctypes.byref(p)))
    return Y


def ssm1_scan(u, dt, A, B, C, *, D=None, z=None, dt_bias=None, dt_softplus: bool = True, a_is_log: bool = False,
              n_groups: int = 1, state=None, state_out=None, out=None, cu_seqlens=None, state_slots=None,
              has_initial_state=None, ctx=None):
    """Mamba-1 selective scan (prefill). u, dt, z: (B, L, C); B, C: (B, L,
    n_groups * d_state); A: (C, d_state) (A_log when a_is_log); D, dt_bias:
    (C,). state / state_out: SubQ-layout states (see ssm1_state_zeros), None
    = zeros / not written; state_out may be state. Returns y like u.
    Packed variable-length batches (u etc. (total, ...)): cu_seqlens,
    state_slots, has_initial_state as for conv1d, over state pools
    (n_slots, ssm1_state_floats)."""
    return _ssm1(False, u, dt, A, B, C, D, z, dt_bias, dt_softplus, a_is_log, n_groups, state, state_out, out, ctx,
                 cu_seqlens, state_slots, has_initial_state)


def ssm1_step(u, dt, A, B, C, state, *, D=None, z=None, dt_bias=None, dt_softplus: bool = True,
              a_is_log: bool = False, n_groups: int = 1, state_out=None, out=None, ctx=None):
    """One decode token: u, dt, z (batch, C); B, C (batch, n_groups * d_state);
    the state is updated in place (or written to state_out). Returns y (batch, C)."""
    return _ssm1(True, u, dt, A, B, C, D, z, dt_bias, dt_softplus, a_is_log, n_groups, state, state_out, out, ctx)
