#!/usr/bin/env python3
"""The MatMul-free LM (model_type "hgrn_bit") test checkpoint and its float64 reference goldens, and
random full-size checkpoints for benchmarks.

Run by hand (not by CI); needs numpy, tokenizers, safetensors (and torch for --bench):
  python3 tools/make_tiny_hgrn_bit.py [--out Tests/Models]
  python3 tools/make_tiny_hgrn_bit.py --bench DIR [--layers 24 --hidden 1024 --intermediate 2816 --vocab 32000]

There is no CPU implementation upstream (matmulfreellm's kernels are Triton / CUDA only), so the
reference is this file's float64 NumPy evaluation of ternary spec §7.3 / §7.5 with the released
fused BitLinear's numerics (§6): every projection, lm_head included, is RMSNorm(own weight, eps 1e-6)
→ per-token absmax int8 with ties away from zero → ternary weights (absmean per tensor of the f32
masters, §1.1, computed as SubQ does: mean |W| in float64 rounded to f32, t = rint(W · (1/γ)) in f32).

Tests/Models/hgrn_bit/ gets
  config.json          as matmulfreellm's HGRNBitConfig.save_pretrained writes it (model_type hgrn_bit)
  model.safetensors    f32 masters under the names of spec §7.2
  tokenizer.json       a copy of the llama2 SentencePiece-style tokenizer fixture
  prompt.json          {"text", "prompt": [ids], "greedy": [ids], margins}
  logits.npy           float32 [len(prompt), vocab]: the reference logits of every prompt position
Spec §11.20: a float32 implementation agrees with the reference to ~1e-6 relative until an int8
activation code sits within float noise of a rounding edge and flips. So the per-channel norm
weight in front of each quantizer is nudged (in forward order, over the prompt and the greedy
continuation) until every pre-rounding value y·s is at least MARGIN from an edge k + 0.5, and
master weights are kept at least MARGIN (relative) away from ±γ/2.
"""
import argparse
import json
import os
import shutil

import numpy as np
import tokenizers
from safetensors.numpy import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOKENIZER = os.path.join(ROOT, "Tests", "SubQTests", "Fixtures", "tokenizers", "llama2.json")
TEXT = "The tiny recurrent model never multiplied a matrix, again and again."
MARGIN = 1e-3
BL_EPS = 1e-6  # the fused BitLinear's default eps (spec §11.9)


def config_json(vocab, hidden, layers, intermediate, bos, eos, dtype="float32"):
    """HGRNBitConfig's keys and defaults (spec §7.1) as the released MMfreeLM config.json has them."""
    return {
        "architectures": ["HGRNBitForCausalLM"], "attn_mode": "fused_recurrent", "bos_token_id": bos, "conv_size": 4,
        "eos_token_id": eos, "expand_ratio": 1, "fuse_cross_entropy": True, "hidden_act": "swish", "hidden_ratio": 4,
        "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": intermediate,
        "max_position_embeddings": 2048, "model_type": "hgrn_bit", "num_heads": 1, "num_hidden_layers": layers,
        "rms_norm_eps": 1e-06, "share_conv_kernel": True, "tie_word_embeddings": False, "torch_dtype": dtype,
        "transformers_version": "4.40.2", "use_cache": True, "use_lower_bound": True, "use_short_conv": False,
        "vocab_size": vocab,
    }


def projections(layers, hidden, inter, vocab):
    """(name, out, in) of every BitLinear (spec §7.2)."""
    out = []
    for l in range(layers):
        p = "model.layers.%d." % l
        out += [(p + "attn.i_proj", hidden, hidden), (p + "attn.f_proj", hidden, hidden),
                (p + "attn.g_proj", hidden, hidden), (p + "attn.o_proj", hidden, hidden),
                (p + "mlp.gate_proj", 2 * inter, hidden), (p + "mlp.down_proj", hidden, inter)]
    return out + [("lm_head", vocab, hidden)]


def ternarize(w):
    """absmean per tensor as SubQ computes it (spec §1.1): γ = f32(mean |W| in f64), t = rint(W · f32(1/γ))."""
    gamma = np.float32(max(np.abs(w.astype(np.float64)).mean(), 1e-5))
    inv = np.float32(1) / gamma
    u = w * inv  # float32 product
    return np.clip(np.rint(u), -1, 1).astype(np.int8), gamma, u


def keep_off_edges(w):
    """Shrinks master weights whose w/γ lies within MARGIN of ±0.5 (float32 ties of the ternarizer)."""
    for _ in range(50):
        _, _, u = ternarize(w)
        bad = np.abs(np.abs(u) - 0.5) < MARGIN
        if not bad.any():
            return w
        w[bad] *= np.float32(0.99)
    raise SystemExit("keep_off_edges did not converge")


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


class Reference:
    """float64 forward of spec §7.5 over float32 parameters P (dict name -> np.float32 array)."""

    def __init__(self, P, cfg, rng):
        self.P, self.cfg, self.rng = P, cfg, rng
        self.nudge = False
        self.worst = 1.0  # smallest distance of a pre-rounding value to an edge in the last forward
        self.tern = {}

    def ternary(self, name):
        if name not in self.tern:
            t, gamma, _ = ternarize(self.P[name + ".weight"])
            self.tern[name] = (t.astype(np.float64), np.float64(gamma))
        return self.tern[name]

    def bitlinear(self, name, x):
        key = name + ".norm.weight"
        for _ in range(200):
            w = self.P[key].astype(np.float64)
            y = (x * (1.0 / np.sqrt((x * x).mean(-1, keepdims=True) + BL_EPS))) * w
            a = np.maximum(np.abs(y).max(-1, keepdims=True), 1e-5)
            v = y * (127.0 / a)
            dist = np.abs(np.abs(v) - np.floor(np.abs(v)) - 0.5)
            bad = (dist < MARGIN).any(0)
            if not (self.nudge and bad.any()):
                break
            # move the offending channels' norm weights by a few parts in 1e3 (float32 values)
            f = 1 + 4e-3 * self.rng.uniform(-1, 1, bad.sum())
            self.P[key][bad] = (self.P[key][bad] * f).astype(np.float32)
        else:
            raise SystemExit("nudging %s did not converge" % key)
        self.worst = min(self.worst, float(dist.min()))
        q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -127, 127)  # ties away from zero
        t, gamma = self.ternary(name)
        return (q @ t.T) * gamma * (a / 127.0)

    def forward(self, ids, state=None):
        """Logits [T, vocab] of ids after `state` (per-layer D vectors; None = zeros); returns (logits, state)."""
        P, c = self.P, self.cfg
        L, eps, inter = c["num_hidden_layers"], c["rms_norm_eps"], c["intermediate_size"]
        h = P["model.embeddings.weight"][ids].astype(np.float64)
        lb = P["model.lower_bounds"].astype(np.float64)
        lb = np.exp(lb - lb.max(0))
        lb = lb / lb.sum(0)
        lb = np.cumsum(lb, 0) - lb[0]
        state = [np.zeros(h.shape[1]) for _ in range(L)] if state is None else [s.copy() for s in state]
        for l in range(L):
            p = "model.layers.%d." % l
            x = rmsnorm(h, P[p + "attn_norm.weight"], eps)
            i = self.bitlinear(p + "attn.i_proj", x)
            f = sigmoid(self.bitlinear(p + "attn.f_proj", x))
            g = self.bitlinear(p + "attn.g_proj", x)
            if c["use_lower_bound"] and l > 0:
                f = lb[l] + (1 - lb[l]) * f
            cc = silu(i) * (1 - f)
            u = np.empty_like(cc)
            s = state[l]
            for t in range(len(ids)):
                s = f[t] * s + cc[t]
                u[t] = s
            state[l] = s
            o = rmsnorm(g, P[p + "attn.g_norm.weight"], eps) * silu(u)
            h = h + self.bitlinear(p + "attn.o_proj", o)
            z = self.bitlinear(p + "mlp.gate_proj", rmsnorm(h, P[p + "mlp_norm.weight"], eps))
            h = h + self.bitlinear(p + "mlp.down_proj", silu(z[:, :inter]) * z[:, inter:])
        return self.bitlinear("lm_head", rmsnorm(h, P["model.norm.weight"], eps)), state

    def greedy(self, prompt, n):
        """Prefill, then one token per step through the recurrent state (the decode path)."""
        logits, st = self.forward(prompt)
        out, margins = [], []
        for _ in range(n):
            top = np.sort(logits[-1])[-2:]
            margins.append(float(top[1] - top[0]))
            out.append(int(np.argmax(logits[-1])))
            logits, st = self.forward([out[-1]], st)
        return out, margins


def tiny(out_dir, seed=11):
    tok = tokenizers.Tokenizer.from_file(TOKENIZER)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    L, d, inter, n_new = 3, 64, 128, 8
    cfg = config_json(vocab, d, L, inter, bos, eos)
    prompt = [int(i) for i in tok.encode(TEXT).ids]
    rng = np.random.default_rng(seed)
    P = {"model.embeddings.weight": rng.standard_normal((vocab, d)),
         "model.lower_bounds": rng.standard_normal((L, d)),
         "model.norm.weight": 1 + 0.1 * rng.standard_normal(d)}
    for l in range(L):
        p = "model.layers.%d." % l
        for k, n in (("attn_norm.weight", d), ("attn.g_norm.weight", d), ("mlp_norm.weight", d)):
            P[p + k] = 1 + 0.1 * rng.standard_normal(n)
    for name, n, k in projections(L, d, inter, vocab):
        P[name + ".weight"] = (0.5 if name == "lm_head" else 0.15) * rng.standard_normal((n, k))
        P[name + ".norm.weight"] = 1 + 0.1 * rng.standard_normal(k)
    P = {k: v.astype(np.float32) for k, v in P.items()}
    for name, _, _ in projections(L, d, inter, vocab):
        P[name + ".weight"] = keep_off_edges(P[name + ".weight"])
    ref = Reference(P, cfg, rng)
    # nudge over prompt + greedy continuation until the continuation no longer changes
    greedy = None
    for _ in range(20):
        g, _ = ref.greedy(prompt, n_new)
        if g == greedy:
            break
        greedy = g
        ref.nudge = True
        ref.forward(prompt + greedy)
        ref.nudge = False
    else:
        raise SystemExit("the greedy continuation did not settle")
    ref.worst = 1.0
    logits, _ = ref.forward(prompt + greedy)
    logits = logits[:len(prompt)]
    greedy2, margins = ref.greedy(prompt, n_new)
    assert greedy2 == greedy and ref.worst >= MARGIN, (greedy2, greedy, ref.worst)
    # decode after prefill equals one long prefill (the reference is consistent with itself)
    full, _ = ref.forward(prompt + greedy)
    assert np.abs(full[:len(prompt)] - logits).max() < 1e-9
    d_out = os.path.join(out_dir, "hgrn_bit")
    os.makedirs(d_out, exist_ok=True)
    save_file(dict(sorted(P.items())), os.path.join(d_out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d_out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copyfile(TOKENIZER, os.path.join(d_out, "tokenizer.json"))
    np.save(os.path.join(d_out, "logits.npy"), logits.astype(np.float32))
    with open(os.path.join(d_out, "prompt.json"), "w") as f:
        json.dump({"text": TEXT, "prompt": prompt, "greedy": greedy,
                   "reference": "float64 NumPy, tools/make_tiny_hgrn_bit.py (ternary spec 7.5)",
                   "max_abs_logit": float(np.abs(logits).max()), "greedy_margins": margins,
                   "min_distance_to_rounding_edge": ref.worst}, f, indent=1)
    print("hgrn_bit: prompt %d tokens, greedy %s, min margin %.3f, max|logit| %.3f, min edge distance %.2e"
          % (len(prompt), greedy, min(margins), np.abs(logits).max(), ref.worst))


def bench_checkpoint(path, layers, hidden, inter, vocab, seed=0):
    """A random bf16 checkpoint of the given shape (MMfreeLM-370M: 24, 1024, 2816, 32000) for timing."""
    import torch
    from safetensors.torch import save_file as save_torch

    g = torch.Generator().manual_seed(seed)
    T = {"model.embeddings.weight": torch.randn((vocab, hidden), generator=g),
         "model.lower_bounds": torch.randn((layers, hidden), generator=g),
         "model.norm.weight": 1 + 0.1 * torch.randn(hidden, generator=g)}
    for l in range(layers):
        p = "model.layers.%d." % l
        for k in ("attn_norm.weight", "attn.g_norm.weight", "mlp_norm.weight"):
            T[p + k] = 1 + 0.1 * torch.randn(hidden, generator=g)
    for name, n, k in projections(layers, hidden, inter, vocab):
        T[name + ".weight"] = 0.02 * torch.randn((n, k), generator=g)
        T[name + ".norm.weight"] = 1 + 0.1 * torch.randn(k, generator=g)
    os.makedirs(path, exist_ok=True)
    save_torch({k: v.to(torch.bfloat16).contiguous() for k, v in T.items()}, os.path.join(path, "model.safetensors"),
               metadata={"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config_json(vocab, hidden, layers, inter, 1, 2, "bfloat16"), f, indent=2, sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "Models"))
    ap.add_argument("--bench", help="write a random benchmark checkpoint to this directory instead")
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--intermediate", type=int, default=2816)
    ap.add_argument("--vocab", type=int, default=32000)
    args = ap.parse_args()
    if args.bench:
        bench_checkpoint(args.bench, args.layers, args.hidden, args.intermediate, args.vocab)
    else:
        tiny(args.out)


if __name__ == "__main__":
    main()
