"""Fused (FlashAttention-style) softmax attention, f32."""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib
from ._arrays import elem_strides, f32, output, ptr
from .context import handle_of

_ALIGN = {"bottom_right": 0, "top_left": 1}


def _bshd(x, name, layout):
    a = f32(x, name)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError("%s: expected 4 dims (batch, seq, heads, dim) or 3 without batch, got %d" % (name, a.ndim))
    if layout == "bhsd":
        a = a.transpose(0, 2, 1, 3)  # a view: SubQ takes the strides
    elif layout != "bshd":
        raise ValueError("attention: layout must be 'bshd' or 'bhsd', got %r" % (layout,))
    st = elem_strides(a, name)
    return a, st


def attention(q, k, v, *, causal: bool = False, window=None, softcap: float = 0.0, scale=None,
              align: str = "bottom_right", layout: str = "bshd", out=None, return_lse: bool = False,
              kv_split: int = 0, ctx=None):
    """softmax(scale * q k^T (+ softcap) + mask) v without materialising scores.

    q: (B, Sq, Hq, DK), k: (B, Sk, Hkv, DK), v: (B, Sk, Hkv, DV) float32 (3-D
    without B also works; layout='bhsd' reads (B, H, S, D)); Hq a multiple of
    Hkv (GQA/MQA, K/V never repeated). Any outer strides (views of a fused QKV
    projection work); rows must be contiguous.
    causal: keys j <= p_i; window=(left, right) as flash-attn window_size
    (-1 = unbounded; HF sliding_window W is (W - 1, 0)); align: where the
    queries sit ('bottom_right': the newest Sq of Sk keys, as with a KV cache).
    Returns out (same layout as q, DV wide), and lse (B, Hq, Sq) when
    return_lse. Fully masked rows give zeros (lse -inf)."""
    squeeze = np.ndim(q) == 3
    Q, qs = _bshd(q, "q", layout)
    K, ks = _bshd(k, "k", layout)
    V, vs = _bshd(v, "v", layout)
    b, sq, hq, dk = Q.shape
    if K.shape[0] != b or V.shape[0] != b:
        raise ValueError("attention: batch sizes differ (q %d, k %d, v %d)" % (b, K.shape[0], V.shape[0]))
    _, sk, hkv, dk2 = K.shape
    if dk2 != dk:
        raise ValueError("attention: q head dim %d != k head dim %d" % (dk, dk2))
    if V.shape[1] != sk or V.shape[2] != hkv:
        raise ValueError("attention: v shape %s does not match k %s in (seq, heads)" % (V.shape, K.shape))
    dv = V.shape[3]
    if layout == "bhsd":
        oshape = (b, hq, sq, dv)
    else:
        oshape = (b, sq, hq, dv)
    if squeeze:
        oshape = oshape[1:]
    O = output(out, oshape, "out")
    Ov = O[None] if squeeze else O
    if layout == "bhsd":
        Ov = Ov.transpose(0, 2, 1, 3)
    os_ = elem_strides(Ov, "out")
    lse = np.empty((b, hq, sq), dtype=np.float32) if return_lse else None
    if align not in _ALIGN:
        raise ValueError("attention: align must be one of %s, got %r" % (sorted(_ALIGN), align))
    p = _lib.new_args(_lib.FattnArgs, _lib.subq_fattn_args_default)
    p.batch, p.hq, p.hkv, p.sq, p.sk, p.dk, p.dv = b, hq, hkv, sq, sk, dk, dv
    p.scale = 0.0 if scale is None else float(scale)
    p.softcap = float(softcap)
    p.align = _ALIGN[align]
    wl, wr = (-1, -1) if window is None else (int(window[0]), int(window[1]))
    if causal:
        wr = 0 if wr < 0 else min(wr, 0)
    p.window_left, p.window_right = wl, wr
    p.q, p.q_bs, p.q_ss, p.q_hs = ptr(Q), qs[0], qs[1], qs[2]
    p.k, p.k_bs, p.k_ss, p.k_hs = ptr(K), ks[0], ks[1], ks[2]
    p.v, p.v_bs, p.v_ss, p.v_hs = ptr(V), vs[0], vs[1], vs[2]
    p.out, p.o_bs, p.o_ss, p.o_hs = ptr(Ov), os_[0], os_[1], os_[2]
    p.lse = ptr(lse)
    p.kv_split = int(kv_split)
    _lib.check(_lib.subq_fattn(handle_of(ctx), ctypes.byref(p)))
    return (O, lse) if return_lse else O
