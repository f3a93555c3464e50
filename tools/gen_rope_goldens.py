"""Prints the RoPE golden values of Tests/C/families/nn/test_nn.c.

A transcription of transformers' modeling_rope_utils.py (_compute_default_rope_parameters,
_compute_linear_scaling_rope_parameters, _compute_llama3_parameters) and of LlamaRotaryEmbedding.forward,
run with PyTorch in float32 exactly as HF runs them. Needs only torch (run by hand; the C tests
carry the printed numbers as literals and never need torch).
    python tools/gen_rope_goldens.py
"""
import math
import struct

import torch


def default_inv_freq(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))


def llama3_inv_freq(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len):
    inv_freq = default_inv_freq(base, dim)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def cos_sin(inv_freq, positions, attention_scaling=1.0):
    inv_freq_expanded = inv_freq[None, :, None].float().expand(1, -1, 1)
    position_ids_expanded = torch.tensor([positions], dtype=torch.int64)[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[0] * attention_scaling, emb.sin()[0] * attention_scaling


def hexes(t):
    return ", ".join("0x%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0] for v in t.flatten().tolist())


def show(name, t):
    print("/* %s */\n{%s}," % (name, hexes(t)))


print("torch", torch.__version__)
a = llama3_inv_freq(500000.0, 128, 8.0, 1.0, 4.0, 8192)
show("llama3 D128 theta5e5 f8 lo1 hi4 L8192: inv_freq[64]", a)
b = llama3_inv_freq(500000.0, 64, 32.0, 1.0, 4.0, 8192)
show("llama3 D64 theta5e5 f32 lo1 hi4 L8192: inv_freq[32]", b)
c = default_inv_freq(10000.0, 128)
show("default D128 theta1e4: inv_freq[64]", c)
d = default_inv_freq(10000.0, 96) / 4.0
show("linear f4 D96 theta1e4: inv_freq[48]", d)
for pos in (1000, 131071):
    cs, sn = cos_sin(a, [pos])
    show("llama3 D128 pos %d cos[0..63]" % pos, cs[0, :64])
    show("llama3 D128 pos %d sin[0..63]" % pos, sn[0, :64])
