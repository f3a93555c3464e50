"""Fused (FlashAttention-style) softmax attention, f32."""
from __future__ import annotations

import ctypes
import weakref
from collections import namedtuple

import numpy as np

from . import _lib
from ._arrays import BF16Array, as_array, elem_strides, f32, output, ptr, typed
from .context import handle_of
from ._owned import Closable

_ALIGN = {"bottom_right": 0, "top_left": 1}


def _typed16(x, name):
    """(array, subq dtype): float32, float16, or bf16 (subq.BF16Array / ml_dtypes) as its uint16 bits."""
    if not isinstance(x, BF16Array):
        a = as_array(x, name)
        if a.dtype == np.float16:
            return a, _lib.DTYPE_F16
    return typed(x, name, "f32|bf16")


def _bshd(x, name, layout, sixteen=False):
    a, dt = _typed16(x, name) if sixteen else (f32(x, name), _lib.DTYPE_F32)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError("%s: expected 4 dims (batch, seq, heads, dim) or 3 without batch, got %d" % (name, a.ndim))
    if layout == "bhsd":
        a = a.transpose(0, 2, 1, 3)  # a view: SubQ takes the strides
    elif layout != "bshd":
        raise ValueError("attention: layout must be 'bshd' or 'bhsd', got %r" % (layout,))
    st = elem_strides(a, name)
    return (a, st, dt) if sixteen else (a, st)


_OUT_DTYPES = {"f32": (_lib.DTYPE_F32, np.float32), "bf16": (_lib.DTYPE_BF16, np.uint16),
               "f16": (_lib.DTYPE_F16, np.float16)}


def _mask_view(mask, b, hq, sq, sk):
    """(array, (bs, hs, ss)) of an additive f32 mask broadcastable to (B, Hq, Sq, Sk); size-1 dims broadcast."""
    M = f32(mask, "mask")
    if not 1 <= M.ndim <= 4:
        raise ValueError("mask: expected (B, Hq, Sq, Sk) or fewer leading dims, got %d dims" % M.ndim)
    M = M.reshape((1,) * (4 - M.ndim) + M.shape) if M.ndim < 4 else M
    for i, (n, want, nm) in enumerate(zip(M.shape, (b, hq, sq, sk), ("batch", "heads", "queries", "keys"))):
        if n != want and not (n == 1 and i < 3):
            raise ValueError("mask: %s dimension is %d, expected %d%s" % (nm, n, want, "" if i == 3 else " or 1"))
    st = elem_strides(M, "mask")
    return M, tuple(0 if M.shape[i] == 1 else st[i] for i in range(3))


def attention(q, k, v, *, causal: bool = False, window=None, softcap: float = 0.0, scale=None,
              align: str = "bottom_right", layout: str = "bshd", out=None, return_lse: bool = False,
              kv_split: int = 0, mask=None, out_dtype: str = "f32", ctx=None):
    """softmax(scale * q k^T (+ softcap) + mask) v without materialising scores.

    q: (B, Sq, Hq, DK), k: (B, Sk, Hkv, DK), v: (B, Sk, Hkv, DV) float32 (3-D
    without B also works; layout='bhsd' reads (B, H, S, D)); Hq a multiple of
    Hkv (GQA/MQA, K/V never repeated). Any outer strides (views of a fused QKV
    projection work); rows must be contiguous.
    causal: keys j <= p_i; window=(left, right) as flash-attn window_size
    (-1 = unbounded; HF sliding_window W is (W - 1, 0)); align: where the
    queries sit ('bottom_right': the newest Sq of Sk keys, as with a KV cache).
    q, k, v may also be float16 or bf16 (subq.BF16Array; k and v of one
    dtype): widened exactly, arithmetic in f32. mask: an additive float32
    bias broadcastable to (B, Hq, Sq, Sk) (leading dims of size 1 broadcast;
    -inf excludes a key), added after scale/softcap. out_dtype: 'f32' |
    'bf16' (out is a subq.BF16Array) | 'f16' (float16), rounded once.
    Returns out (same layout as q, DV wide), and lse (B, Hq, Sq) when
    return_lse. Fully masked rows give zeros (lse -inf)."""
    squeeze = np.ndim(q) == 3
    Q, qs, qdt = _bshd(q, "q", layout, True)
    K, ks, kdt = _bshd(k, "k", layout, True)
    V, vs, vdt = _bshd(v, "v", layout, True)
    if kdt != vdt:
        raise ValueError("attention: k and v must have one dtype")
    if out_dtype not in _OUT_DTYPES:
        raise ValueError("attention: out_dtype must be one of %s, got %r" % (sorted(_OUT_DTYPES), out_dtype))
    odt, onp = _OUT_DTYPES[out_dtype]
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
    O = output(out.bits if isinstance(out, BF16Array) else out, oshape, "out", onp)
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
    p.q_dtype, p.kv_dtype, p.out_dtype = qdt, kdt, odt
    if mask is not None:
        M, (p.mask_bs, p.mask_hs, p.mask_ss) = _mask_view(mask, b, hq, sq, sk)
        p.mask = ptr(M)
    _lib.check(_lib.subq_fattn(handle_of(ctx), ctypes.byref(p)))
    if out_dtype == "bf16":
        O = BF16Array(O)
    return (O, lse) if return_lse else O


_KV_DTYPES = {"f32": _lib.DTYPE_F32, "bf16": _lib.DTYPE_BF16, "f16": _lib.DTYPE_F16}
_KV_MODES = {"linear": 0, "ring": 1}
_KV_DTYPE_NAMES = {v: k for k, v in _KV_DTYPES.items()}
_KV_MODE_NAMES = {v: k for k, v in _KV_MODES.items()}
_KV_NUMPY = {_lib.DTYPE_F32: np.float32, _lib.DTYPE_BF16: np.uint16, _lib.DTYPE_F16: np.float16}

KVCacheInfo = namedtuple("KVCacheInfo", "dtype mode batch hkv dk dv capacity k_strides v_strides")


class _CacheOwner:
    """Holds the C handle; storage views keep it alive, so close() never
    leaves a view pointing at freed memory."""

    def __init__(self, h):
        self.h = h
        weakref.finalize(self, _lib.subq_kv_cache_destroy, h)


class _StorageView:
    def __init__(self, owner, addr, shape, strides, dtype):
        self.owner = owner
        self.__array_interface__ = {"data": (addr, True), "shape": shape, "strides": strides,
                                    "typestr": dtype.str, "version": 3}


class KVCache(Closable):
    """One layer's K/V for `batch` sequences (subq_kv_cache), stored as
    dtype 'f32' | 'bf16' | 'f16' (appends round f32 to nearest even).

    mode 'linear' keeps every position up to `capacity` (appending past it
    raises); 'ring' keeps the last `capacity` positions (sliding-window
    layers: capacity >= window_left + tokens per call). Positions are
    absolute, so masks stay exact after a ring wraps. Append the new tokens'
    K/V, then attend with attention_kv(q, cache). close() frees it (also freed
    when collected)."""

    def __init__(self, batch: int, hkv: int, dk: int, capacity: int, *, dv=None, dtype: str = "f32",
                 mode: str = "linear"):
        if dtype not in _KV_DTYPES:
            raise ValueError("KVCache: dtype must be one of %s, got %r" % (sorted(_KV_DTYPES), dtype))
        if mode not in _KV_MODES:
            raise ValueError("KVCache: mode must be one of %s, got %r" % (sorted(_KV_MODES), mode))
        p = _lib.new_args(_lib.KvCacheArgs, _lib.subq_kv_cache_args_default)
        p.dtype, p.mode = _KV_DTYPES[dtype], _KV_MODES[mode]
        p.batch, p.hkv, p.dk, p.dv, p.capacity = batch, hkv, dk, dk if dv is None else dv, capacity
        h = ctypes.c_void_p()
        _lib.check(_lib.subq_kv_cache_create(ctypes.byref(p), ctypes.byref(h)))
        self.batch, self.hkv, self.dk, self.dv, self.capacity = p.batch, p.hkv, p.dk, p.dv, p.capacity
        self.dtype, self.mode = dtype, mode
        self._owner = _CacheOwner(h.value)

    @property
    def handle(self):
        if self._owner is None:
            raise ValueError("KVCache: used after close()")
        return self._owner.h

    def info(self) -> KVCacheInfo:
        """The cache's description as the library reports it (subq_kv_cache_get_info):
        dtype, mode, batch, hkv, dk, dv, capacity and the element strides
        (batch, head, slot) of the K and V storage."""
        i = self._info()
        return KVCacheInfo(_KV_DTYPE_NAMES[i.dtype], _KV_MODE_NAMES[i.mode], i.batch, i.hkv, i.dk, i.dv, i.capacity,
                           (i.k_bs, i.k_hs, i.k_ss), (i.v_bs, i.v_hs, i.v_ss))

    def _info(self):
        i = _lib.KvCacheInfo()
        i.struct_size = ctypes.sizeof(i)
        _lib.check(_lib.subq_kv_cache_get_info(self.handle, ctypes.byref(i)))
        return i

    def storage(self):
        """(k, v): read-only NumPy views (no copy) of the storage, shaped
        (batch, hkv, capacity, dk) and (batch, hkv, capacity, dv); float32,
        float16, or bf16 as uint16 bits. Slot s of a 'linear' cache holds
        position s; a 'ring' keeps position p in slot p % capacity. The views
        are live (later appends show through) and keep the storage alive past
        close()."""
        i = self._info()
        dt = np.dtype(_KV_NUMPY[i.dtype])
        out = []
        for ptr_, d, st in ((i.k, i.dk, (i.k_bs, i.k_hs, i.k_ss)), (i.v, i.dv, (i.v_bs, i.v_hs, i.v_ss))):
            shape = (i.batch, i.hkv, i.capacity, d)
            strides = tuple(x * dt.itemsize for x in st) + (dt.itemsize,)
            out.append(np.asarray(_StorageView(self._owner, ptr_, shape, strides, dt)))
        return tuple(out)

    def append(self, k, v, *, b0: int = 0, ctx=None) -> None:
        """Appends the same number of new tokens to sequences b0 .. b0 + nb - 1.
        k: (nb, n_new, hkv, dk), v: (nb, n_new, hkv, dv) float32 (3-D without
        nb for one sequence); rows contiguous, any outer strides."""
        K, ks = _bshd(k, "k", "bshd")
        V, vs = _bshd(v, "v", "bshd")
        if K.shape[:3] != V.shape[:3]:
            raise ValueError("KVCache.append: k %s and v %s differ in (batch, tokens, heads)" % (K.shape, V.shape))
        if K.shape[2:] != (self.hkv, self.dk) or V.shape[3] != self.dv:
            raise ValueError("KVCache.append: k/v heads and dims %s/%s do not match the cache (hkv=%d, dk=%d, dv=%d)"
                             % (K.shape[2:], V.shape[2:], self.hkv, self.dk, self.dv))
        nb, n = K.shape[:2]
        _lib.check(_lib.subq_kv_cache_append(handle_of(ctx), self.handle, int(b0), nb,
                                             n, ptr(K), ks[0], ks[1], ks[2], ptr(V), vs[0], vs[1], vs[2]))

    def positions(self, b: int = 0):
        """(first, end): the absolute positions [first, end) sequence b holds."""
        first, end = ctypes.c_int64(), ctypes.c_int64()
        _lib.check(_lib.subq_kv_cache_positions(self.handle, int(b), ctypes.byref(first), ctypes.byref(end)))
        return first.value, end.value

    def truncate(self, b: int, end: int) -> None:
        """Drops the positions >= end of sequence b."""
        _lib.check(_lib.subq_kv_cache_truncate(self.handle, int(b), int(end)))

    def reset(self) -> None:
        """Empties every sequence (positions restart at 0)."""
        _lib.subq_kv_cache_reset(self.handle)

    def close(self) -> None:
        """Frees the cache (once no storage() view is left)."""
        self._owner = None

    def __repr__(self):
        if self._owner is None:
            return "KVCache(closed)"
        return "KVCache(batch=%d, hkv=%d, dk=%d, dv=%d, capacity=%d, dtype=%s, mode=%s)" % (
            self.batch, self.hkv, self.dk, self.dv, self.capacity, self.dtype, self.mode)


def attention_kv(q, cache: KVCache, *, causal: bool = True, window=None, softcap: float = 0.0, scale=None,
                 out=None, return_lse: bool = False, kv_split: int = 0, out_dtype: str = "f32", ctx=None):
    """Attention of the newest queries over a KVCache (subq_fattn_kv): q
    (B, Sq, Hq, DK) float32 (3-D without B for a batch-1 cache) are the last
    Sq positions of each sequence (append their K/V first). causal and
    window=(left, right) use absolute positions. Returns out (B, Sq, Hq, DV)
    (and lse (B, Hq, Sq) when return_lse). q and out_dtype may be 16-bit
    as in attention()."""
    squeeze = np.ndim(q) == 3
    Q, qs, qdt = _bshd(q, "q", "bshd", True)
    if out_dtype not in _OUT_DTYPES:
        raise ValueError("attention_kv: out_dtype must be one of %s, got %r" % (sorted(_OUT_DTYPES), out_dtype))
    odt, onp = _OUT_DTYPES[out_dtype]
    b, sq, hq, dk = Q.shape
    if b != cache.batch:
        raise ValueError("attention_kv: q batch %d != cache batch %d" % (b, cache.batch))
    oshape = (b, sq, hq, cache.dv)
    O = output(out.bits if isinstance(out, BF16Array) else out, oshape[1:] if squeeze else oshape, "out", onp)
    Ov = O[None] if squeeze else O
    os_ = elem_strides(Ov, "out")
    lse = np.empty((b, hq, sq), dtype=np.float32) if return_lse else None
    p = _lib.new_args(_lib.FattnArgs, _lib.subq_fattn_args_default)
    p.batch, p.hq, p.hkv, p.sq, p.sk, p.dk, p.dv = b, hq, cache.hkv, sq, 0, dk, cache.dv
    p.scale = 0.0 if scale is None else float(scale)
    p.softcap = float(softcap)
    wl, wr = (-1, -1) if window is None else (int(window[0]), int(window[1]))
    if causal:
        wr = 0 if wr < 0 else min(wr, 0)
    p.window_left, p.window_right = wl, wr
    p.q, p.q_bs, p.q_ss, p.q_hs = ptr(Q), qs[0], qs[1], qs[2]
    p.out, p.o_bs, p.o_ss, p.o_hs = ptr(Ov), os_[0], os_[1], os_[2]
    p.lse = ptr(lse)
    p.kv_split = int(kv_split)
    p.q_dtype, p.out_dtype = qdt, odt
    _lib.check(_lib.subq_fattn_kv(handle_of(ctx), ctypes.byref(p), cache.handle))
    if out_dtype == "bf16":
        O = BF16Array(O)
    return (O, lse) if return_lse else O
