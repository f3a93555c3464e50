#!/usr/bin/env python3
"""Builds Tests/Models/based: a tiny random BASED checkpoint (HazyResearch/based GPTLMHeadModel,
linear_attention spec §6 and §11) with reference logits from a float64 PyTorch re-implementation.

Run by hand (not by CI); needs torch, numpy, safetensors, tokenizers:
  python3 tools/make_tiny_based.py [--out Tests/Models]

The reference is written from the spec, not from the based repo or fla (which need CUDA): naive
quadratic forms in float64 on the CPU —
  LinearAttention  the repo's 273-term TaylorExp map [1, x / dk^1/4, (x ⊗ x) / (sqrt2 sqrt dk)] and its
                   "quadratic" parallel form y = tril(phi(Q) phi(K)^T) V, z = phi(q_t)·cumsum phi(k),
                   out = y / (z + eps) (the runner's kernel uses the compact 153-term map: a
                   different route to the same numbers);
  SlidingAttention rotate_half RoPE (theta rotary_emb_base) on the whole head, softmax(q k^T / sqrt D)
                   over keys t - window_size // 2 ... t;
  BaseConv         in_proj, depthwise conv1d (padding 2, first T outputs: w[:, 2] multiplies the
                   current token), silu(conv) * second half, out_proj;
  MLP              fc1 -> (a, g) halves, fc2(a * silu(g)) (the second half is the gate);
with RMSNorm pre-norms, ln_f and the tied head. The greedy continuation re-runs the whole forward
for every new token (no state), so a runner whose decode matches it also carries its states right.

Writes Tests/Models/based/ with
  config.json        the hub's GPT2Config dump as SubQ's converter writes it: model_type "based"
                     (the hub file says "gpt2"), vocab_size unpadded + pad_vocab_size_multiple 8
  model.safetensors  f32 weights under the spec's names (tied: no lm_head.weight)
  tokenizer.json     the GPT-2-style byte-level BPE fixture (Tests/SubQTests/Fixtures/tokenizers/gpt2.json)
  prompt.json        {"text", "prompt", "greedy", "greedy_margins", "max_abs_logit", ...}
  logits.npy         float32 [len(prompt), padded vocab]: every prompt position's logits
"""
import argparse
import json
import math
import os
import shutil

import numpy as np
import tokenizers
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOKENIZER = os.path.join(ROOT, "Tests", "SubQTests", "Fixtures", "tokenizers", "gpt2.json")
TEXT = ("Short convolutions, linear attention and a sliding window: the quick brown fox jumps over the lazy dog, "
        "then it naps by the river bank.")  # > 64 tokens: one prefill crosses a linear-attention chunk
N_NEW = 12

D, N_LAYER, N_HEAD, N_INNER = 64, 6, 4, 96
FEATURE_DIM, LIN_HEADS = 16, 4
WINDOW = 8  # -> (4, 0): every query sees itself and the 4 keys before it
LINEAR_LAYERS, SLIDING_LAYERS = [1, 4], [2, 5]
EPS, LIN_EPS, THETA = 1e-5, 1e-12, 10000.0


def config(vocab):
    return {
        "activation_function": "swiglu",
        "alt_mixer": {"_target_": "based.models.mixers.linear_attention.LinearAttention", "feature_dim": FEATURE_DIM,
                      "feature_map": {"_target_": "based.models.mixers.linear_attention.TaylorExp", "input_dim": FEATURE_DIM},
                      "l_max": 2048, "num_heads": LIN_HEADS, "parallel_implementation": "fla_parallel"},
        "alt_mixer_2": {"_target_": "based.models.mixers.slide_attention.SlidingAttention", "causal": True,
                        "num_heads": N_HEAD, "window_size": WINDOW},
        "alt_mixer_2_layers": SLIDING_LAYERS,
        "alt_mixer_layers": LINEAR_LAYERS,
        "attn_pdrop": 0, "bos_token_id": 0, "embd_pdrop": 0, "eos_token_id": 0,
        "fused_bias_fc": True, "fused_dropout_add_ln": True, "fused_mlp": False, "initializer_range": 0.02,
        "layer_norm_epsilon": EPS,
        "mixer": {"_target_": "based.models.mixers.convolution.BaseConv", "expand_proj": 4, "kernel_sizes": 3,
                  "l_max": 2048, "use_bias": True},
        "mlp_fc1_bias": False, "mlp_fc2_bias": False,
        "model_type": "based",
        "n_embd": D, "n_head": N_HEAD, "n_inner": N_INNER, "n_layer": N_LAYER, "n_positions": 0,
        "out_proj_bias": False, "pad_vocab_size_multiple": 8, "qkv_proj_bias": False,
        "reorder_and_upcast_attn": False, "resid_pdrop": 0, "residual_in_fp32": True, "rms_norm": True,
        "rotary_emb_fraction": 1, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "special_initializer": True, "tie_word_embeddings": True, "use_cache": True, "use_flash_attn": True,
        "vocab_size": vocab,
    }


def mixer_of(i):
    return "sliding" if i in SLIDING_LAYERS else ("linear" if i in LINEAR_LAYERS else "conv")


def weights(vocab_padded, vocab, seed):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=0.15):
        return std * torch.randn(shape, generator=g, dtype=torch.float64)

    w = {}
    emb = randn(vocab_padded, D)
    emb[vocab:] *= 0.05  # padding rows: small, so their logits never win (the runner returns them)
    w["transformer.embeddings.word_embeddings.weight"] = emb
    for i in range(N_LAYER):
        p = "transformer.layers.%d." % i
        w[p + "norm1.weight"] = 1 + randn(D, std=0.1)
        w[p + "norm2.weight"] = 1 + randn(D, std=0.1)
        w[p + "mlp.fc1.weight"] = randn(2 * N_INNER, D)
        w[p + "mlp.fc2.weight"] = randn(D, N_INNER)
        m = mixer_of(i)
        if m == "conv":
            w[p + "mixer.in_proj.weight"] = randn(4 * D, D)
            w[p + "mixer.in_proj.bias"] = randn(4 * D, std=0.1)
            w[p + "mixer.conv.conv.weight"] = randn(2 * D, 1, 3, std=0.5)
            w[p + "mixer.out_proj.weight"] = randn(D, 2 * D)
            w[p + "mixer.out_proj.bias"] = randn(D, std=0.1)
        elif m == "linear":
            w[p + "mixer.proj_q.weight"] = randn(FEATURE_DIM * LIN_HEADS, D)
            w[p + "mixer.proj_k.weight"] = randn(FEATURE_DIM * LIN_HEADS, D)
            w[p + "mixer.proj_v.weight"] = randn(D, D)
            w[p + "mixer.out_proj.weight"] = randn(D, D)
        else:
            w[p + "mixer.Wqkv.weight"] = randn(3 * D, D)
            w[p + "mixer.out_proj.weight"] = randn(D, D)
    w["transformer.ln_f.weight"] = 1 + randn(D, std=0.1)
    # the reference computes in float64 from the float32 values the checkpoint stores
    return {k: v.to(torch.float32).to(torch.float64) for k, v in w.items()}


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def taylor273(x):
    rd = math.sqrt(x.shape[-1])
    x2 = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(start_dim=-2) / math.sqrt(2)
    return torch.cat([torch.ones_like(x[..., :1]), x / math.sqrt(rd), x2 / rd], dim=-1)


def linear_attention(w, p, h):
    t = h.shape[0]
    dv = D // LIN_HEADS
    q = (h @ w[p + "mixer.proj_q.weight"].T).view(t, LIN_HEADS, FEATURE_DIM).transpose(0, 1)
    k = (h @ w[p + "mixer.proj_k.weight"].T).view(t, LIN_HEADS, FEATURE_DIM).transpose(0, 1)
    v = (h @ w[p + "mixer.proj_v.weight"].T).view(t, LIN_HEADS, dv).transpose(0, 1)
    fq, fk = taylor273(q), taylor273(k)  # (H, T, 273)
    a = torch.tril(fq @ fk.transpose(1, 2))  # current token included
    y = a @ v
    z = (fq * fk.cumsum(1)).sum(-1)
    y = y / (z.unsqueeze(-1) + LIN_EPS)
    return y.transpose(0, 1).reshape(t, D) @ w[p + "mixer.out_proj.weight"].T


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def sliding_attention(w, p, h):
    t, hd = h.shape[0], D // N_HEAD
    qkv = (h @ w[p + "mixer.Wqkv.weight"].T).view(t, 3, N_HEAD, hd)  # (three, head, dim)
    q, k, v = (qkv[:, j].transpose(0, 1) for j in range(3))  # (H, T, hd)
    inv = 1.0 / THETA ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    s = (q @ k.transpose(1, 2)) / math.sqrt(hd)
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    allowed = (j <= i) & (j >= i - WINDOW // 2)
    s = s.masked_fill(~allowed, float("-inf"))
    o = torch.softmax(s, dim=-1) @ v
    return o.transpose(0, 1).reshape(t, D) @ w[p + "mixer.out_proj.weight"].T


def base_conv(w, p, h):
    t = h.shape[0]
    u = h @ w[p + "mixer.in_proj.weight"].T + w[p + "mixer.in_proj.bias"]
    u1, u2 = u[:, :2 * D], u[:, 2 * D:]
    c = F.conv1d(u1.T.unsqueeze(0), w[p + "mixer.conv.conv.weight"], padding=2, groups=2 * D)[0, :, :t].T
    return (F.silu(c) * u2) @ w[p + "mixer.out_proj.weight"].T + w[p + "mixer.out_proj.bias"]


def forward(w, ids):
    e = w["transformer.embeddings.word_embeddings.weight"]
    x = e[torch.tensor(ids)]
    for i in range(N_LAYER):
        p = "transformer.layers.%d." % i
        h = rmsnorm(x, w[p + "norm1.weight"])
        x = x + {"conv": base_conv, "linear": linear_attention, "sliding": sliding_attention}[mixer_of(i)](w, p, h)
        y = rmsnorm(x, w[p + "norm2.weight"]) @ w[p + "mlp.fc1.weight"].T
        a, gate = y[:, :N_INNER], y[:, N_INNER:]
        x = x + (a * F.silu(gate)) @ w[p + "mlp.fc2.weight"].T
    return rmsnorm(x, w["transformer.ln_f.weight"]) @ e.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "Models"))
    ap.add_argument("--seed", type=int, default=None, help="weight seed (default: the best of 11..30)")
    args = ap.parse_args()
    tok = tokenizers.Tokenizer.from_file(TOKENIZER)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    padded = (vocab + 7) // 8 * 8
    prompt = [int(i) for i in tok.encode(TEXT).ids]

    def run(seed):
        w = weights(padded, vocab, seed)
        with torch.no_grad():
            seq, greedy, margins = list(prompt), [], []
            for _ in range(N_NEW):
                row = forward(w, seq)[-1]
                top = torch.topk(row, 2)
                nxt = int(top.indices[0])
                greedy.append(nxt)
                margins.append(float(top.values[0] - top.values[1]))
                seq.append(nxt)
        return w, greedy, margins

    # of a few weight seeds, the one whose greedy steps are decided by the widest top-1/top-2 gap
    # (a runner within 1e-4 of the logits must then pick the same tokens)
    seeds = [args.seed] if args.seed is not None else range(11, 31)
    best = max(seeds, key=lambda s_: min(run(s_)[2]))
    w, greedy, margins = run(best)
    # the runner's logits include the padding columns: they must not be the argmax
    assert all(t < vocab for t in greedy), "a padding column won"
    with torch.no_grad():
        logits = forward(w, prompt)
    d = os.path.join(args.out, "based")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config(vocab), f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({k: v.to(torch.float32).contiguous() for k, v in w.items()}, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt"})
    shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.json"))
    lg = logits.to(torch.float32).numpy()
    np.save(os.path.join(d, "logits.npy"), lg)
    with open(os.path.join(d, "prompt.json"), "w") as f:
        json.dump({"text": TEXT, "prompt": prompt, "greedy": greedy, "reference": "tools/make_tiny_based.py float64", "seed": best,
                   "torch": torch.__version__, "max_abs_logit": float(np.abs(lg).max()), "greedy_margins": margins},
                  f, indent=1)
    print("based: seed %d, prompt %d tokens, greedy %s, min margin %.2e, max|logit| %.3f, vocab %d padded %d"
          % (best, len(prompt), greedy, min(margins), np.abs(lg).max(), vocab, padded))


if __name__ == "__main__":
    main()
