"""Mamba-2: the SSD scan (prefill / decode step) and the grouped gated RMSNorm (f32).

Shapes follow mamba_ssm's mamba_chunk_scan_combined: x (batch, L, H, P), dt
(batch, L, H), A (H,), B and C (batch, L, G, N); the batch dimension may be
left out. (H, P) and (G, N) must be contiguous (they are one row of the C
call); other strides are free. The state uses SubQ's layout (batch, H, N, P)
(p innermost): ssm2_state_zeros() makes one, ssm2_state_import() converts
from HF's (batch, H, P, N) and ssm2_state_export() back."""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib
from ._arrays import check_shape, elem_strides, f32, output, ptr
from .context import handle_of
from .mamba import _opt_vec, _set_varlen, _state, _varlen

DT_SOFTPLUS = 0x1
A_LOG = 0x2
D_PER_CHANNEL = 0x4
NORM_BEFORE_GATE = 0x1
_ALGO = {"auto": 0, "recurrent": 1, "chunked": 2}


def _heads(x, nd, name):
    """x with a batch dim, its (batch stride, row stride) and the last two dims' product.
    nd: dims with batch (4 for x/B/C: (b, l, h, p); 3 for dt: (b, l, h))."""
    a = f32(x, name)
    if a.ndim == nd - 1:
        a = a[None]
    if a.ndim != nd:
        raise ValueError("%s: expected %d dims (or %d without batch), got %d" % (name, nd, nd - 1, a.ndim))
    st = elem_strides(a, name)
    if nd == 4 and a.shape[3] > 1 and a.shape[2] > 1 and st[2] != a.shape[3]:
        raise ValueError("%s: its last two dims %s must be contiguous (one row of H*P or G*N values)"
                         % (name, a.shape[2:]))
    return a, st


def ssm2_state_floats(n_heads: int, head_dim: int, d_state: int) -> int:
    n = _lib.subq_ssm2_state_floats(n_heads, head_dim, d_state)
    if n <= 0:
        raise ValueError("ssm2_state_floats: invalid n_heads=%d, head_dim=%d, d_state=%d"
                         % (n_heads, head_dim, d_state))
    return n


def ssm2_state_zeros(batch: int, n_heads: int, head_dim: int, d_state: int) -> np.ndarray:
    """A zero Mamba-2 state in SubQ's layout (batch, H, N, P)."""
    ssm2_state_floats(n_heads, head_dim, d_state)
    return np.zeros((batch, n_heads, d_state, head_dim), dtype=np.float32)


def ssm2_state_import(h) -> np.ndarray:
    """HF / mamba_ssm state (batch, H, P, N), C-contiguous -> SubQ (batch, H, N, P) (new array)."""
    H = f32(h, "h")
    if H.ndim != 4 or not H.flags.c_contiguous:
        raise ValueError("ssm2_state_import: h must be C-contiguous (batch, n_heads, head_dim, d_state), got %s"
                         % (H.shape,))
    b, nh, p, n = H.shape
    out = np.empty((b, nh, n, p), dtype=np.float32)
    _lib.check(_lib.subq_ssm2_state_import(b, nh, p, n, ptr(H), ptr(out)))
    return out


def ssm2_state_export(state) -> np.ndarray:
    """SubQ (batch, H, N, P), C-contiguous -> HF (batch, H, P, N) (new array)."""
    S = f32(state, "state")
    if S.ndim != 4 or not S.flags.c_contiguous:
        raise ValueError("ssm2_state_export: state must be C-contiguous (batch, n_heads, d_state, head_dim), got %s"
                         % (S.shape,))
    b, nh, n, p = S.shape
    out = np.empty((b, nh, p, n), dtype=np.float32)
    _lib.check(_lib.subq_ssm2_state_export(b, nh, p, n, ptr(S), ptr(out)))
    return out


def _ssd(step, x, dt, A, B, C, D, dt_bias, dt_softplus, a_is_log, dt_limit, algo, chunk, state, state_out, out,
         ctx, cu_seqlens=None, state_slots=None, has_initial_state=None):
    if step:  # one token: (batch, H, P) etc. viewed as L = 1
        X = f32(x, "x")
        if X.ndim != 3:
            raise ValueError("ssd_step: x must be (batch, n_heads, head_dim), got %d dims" % X.ndim)
        X, xs = _heads(X[:, None], 4, "x")
        squeeze = False
    else:
        squeeze = np.ndim(x) == 3
        X, xs = _heads(x, 4, "x")
    b, l, nh, hp = X.shape
    CU, SL, HI, n_seq, pool = _varlen("ssd_scan", squeeze, b, cu_seqlens, state_slots, has_initial_state, state,
                                      state_out)
    Av = _opt_vec(A, nh, "A")
    if Av is None:
        raise ValueError("ssd: A is required")

    def seq_in(v, nd, name):
        a = f32(v, name)
        a = a[:, None] if step else a
        a, st = _heads(a, nd, name)
        if a.shape[:2] != (b, l):
            raise ValueError("%s: (batch, seqlen) %s differ from x's %s" % (name, a.shape[:2], (b, l)))
        return a, st

    DT, dts = seq_in(dt, 3, "dt")
    check_shape(DT, (b, l, nh), "dt")
    Bm, bs = seq_in(B, 4, "B")
    Cm, cs = seq_in(C, 4, "C")
    if Bm.shape != Cm.shape:
        raise ValueError("ssd: B %s and C %s differ in shape" % (Bm.shape, Cm.shape))
    g, n = Bm.shape[2:]
    flags = (DT_SOFTPLUS if dt_softplus else 0) | (A_LOG if a_is_log else 0)
    Dv = None
    if D is not None:
        Dv = f32(D, "D")
        if Dv.shape == (nh, hp):
            Dv = Dv.reshape(-1) if Dv.flags.c_contiguous else _no("D")
            flags |= D_PER_CHANNEL
        check_shape(Dv, (nh * hp,) if flags & D_PER_CHANNEL else (nh,), "D")
        elem_strides(Dv, "D")
    DTB = _opt_vec(dt_bias, nh, "dt_bias")
    sshape = (pool, nh, n, hp)
    S = _state(state, sshape, "state", writable=step and state_out is None)
    So = _state(state_out, sshape, "state_out", writable=True)
    if step:
        if S is None:
            raise ValueError("ssd_step: state is required (it is updated in place unless state_out is given)")
        if So is None:
            So = S
    if algo not in _ALGO:
        raise ValueError("ssd_scan: algo must be one of %s, got %r" % (sorted(_ALGO), algo))
    oshape = (b, nh, hp) if step else ((l, nh, hp) if squeeze else (b, l, nh, hp))
    Y = output(out, oshape, "out")
    Yv, ys = _heads(Y[:, None] if step else Y, 4, "out")
    p = _lib.new_args(_lib.Ssm2Args, _lib.subq_ssm2_args_default)
    p.batch, p.seqlen, p.n_heads, p.head_dim, p.d_state, p.n_groups = b, l, nh, hp, n, g
    p.flags, p.algo, p.chunk = flags, _ALGO[algo], int(chunk)
    if dt_limit is not None:
        p.dt_min, p.dt_max = float(dt_limit[0]), float(dt_limit[1])
    p.x, p.x_ld, p.x_bs = ptr(X), xs[1], xs[0]
    p.dt, p.dt_ld, p.dt_bs = ptr(DT), dts[1], dts[0]
    p.b, p.b_ld, p.b_bs = ptr(Bm), bs[1], bs[0]
    p.c, p.c_ld, p.c_bs = ptr(Cm), cs[1], cs[0]
    p.a, p.dt_bias, p.d_skip = ptr(Av), ptr(DTB), ptr(Dv)
    p.h_in, p.h_out, p.h_bs = ptr(S), ptr(So), 0
    p.y, p.y_ld, p.y_bs = ptr(Yv), ys[1], ys[0]
    _set_varlen(p, CU, SL, HI, n_seq, pool)
    fn = _lib.subq_ssm2_step_f32 if step else _lib.subq_ssm2_scan_f32
    _lib.check(fn(handle_of(ctx), ctypes.byref(p)))
    return Y


def _no(name):
    raise ValueError("%s: must be C-contiguous" % name)


def ssd_scan(x, dt, A, B, C, *, D=None, dt_bias=None, dt_softplus: bool = True, a_is_log: bool = False,
             dt_limit=None, algo: str = "auto", chunk: int = 0, state=None, state_out=None, out=None,
             cu_seqlens=None, state_slots=None, has_initial_state=None, ctx=None):
    """Mamba-2 SSD scan (prefill). x: (B, L, H, P); dt: (B, L, H); A: (H,)
    (A_log when a_is_log); B, C: (B, L, G, N), G divides H; D: (H,) or (H, P);
    dt_bias: (H,); dt_limit: (min, max) clamp after softplus. algo: 'auto' |
    'recurrent' (exact; chunked prefill == one call bitwise) | 'chunked' (SSD
    block form, within 1e-3). state / state_out: (B, H, N, P) SubQ-layout
    states, None = zeros / not written; state_out may be state. Returns y like x.
    Packed variable-length batches: cu_seqlens (int32, n_seq + 1 offsets)
    splits x (total, H, P), dt (total, H), B, C (total, G, N) into sequences
    (equal to one call per sequence, bitwise); state / state_out are then
    pools (n_slots, H, N, P) whose rows state_slots (int32, n_seq; default
    identity) picks; has_initial_state (uint8/bool, n_seq) 0 starts a
    sequence from zeros."""
    return _ssd(False, x, dt, A, B, C, D, dt_bias, dt_softplus, a_is_log, dt_limit, algo, chunk, state, state_out,
                out, ctx, cu_seqlens, state_slots, has_initial_state)


def ssd_step(x, dt, A, B, C, state, *, D=None, dt_bias=None, dt_softplus: bool = True, a_is_log: bool = False,
             dt_limit=None, state_out=None, out=None, ctx=None):
    """One decode token: x (batch, H, P); dt (batch, H); B, C (batch, G, N);
    state (batch, H, N, P) updated in place (or written to state_out).
    Returns y (batch, H, P)."""
    return _ssd(True, x, dt, A, B, C, D, dt_bias, dt_softplus, a_is_log, dt_limit, "auto", 0, state, state_out,
                out, ctx)


def gated_rmsnorm(y, z=None, weight=None, *, group_size: int = 0, eps: float = 1e-5, norm_before_gate: bool = False,
                  out=None, ctx=None):
    """Mamba-2's grouped gated RMSNorm (HF MambaRMSNormGated): v = y * silu(z),
    out = weight * v / sqrt(mean over each group of v^2 + eps) (z None: no
    gate; norm_before_gate: gate applied after the norm). y, z: (..., width)
    float32 (leading dims collapse into rows); weight: (width,) or None;
    group_size 0 = width. out may be y. Returns out."""
    from .nn import _rows  # the shared (..., cols) -> (rows, cols, ld) view
    Y = f32(y, "y")
    rows, width, yld = _rows(Y, "y")
    Z, zld = None, 0
    if z is not None:
        Z = f32(z, "z")
        check_shape(Z, Y.shape, "z")
        zld = _rows(Z, "z")[2]
    W = _opt_vec(weight, width, "weight")
    O = output(out, Y.shape, "out")
    old = _rows(O, "out")[2]
    p = _lib.new_args(_lib.GatedRmsnormArgs, _lib.subq_gated_rmsnorm_args_default)
    p.rows, p.width, p.group_size, p.eps = rows, width, int(group_size), float(eps)
    p.flags = NORM_BEFORE_GATE if norm_before_gate else 0
    p.y, p.y_ld, p.z, p.z_ld = ptr(Y), yld, ptr(Z), zld
    p.weight, p.out, p.out_ld = ptr(W), ptr(O), old
    _lib.check(_lib.subq_gated_rmsnorm_f32(handle_of(ctx), ctypes.byref(p)))
    return O
