#!/usr/bin/env python3
"""Builds the tiny random-weight checkpoints the runner tests load, with transformers' logits.

Run by hand (not by CI); needs torch, transformers (5.23 was used), safetensors:
  TORCHDYNAMO_DISABLE=1 python3 tools/make_tiny_models.py [--out Tests/Models] [--only NAME ...]
(TORCHDYNAMO_DISABLE=1 runs HF BitLinear's @torch.compile methods eagerly on CPU.)

For each architecture it writes Tests/Models/<name>/ with
  config.json, model.safetensors      as save_pretrained writes them (f32 weights; bitnet: packed
                                      uint8 ternary projections + f32 weight_scale, which
                                      from_pretrained, with accelerate installed, reloads to the
                                      same logits)
  tokenizer.json                      a copy of one of the trained tokenizer fixtures
                                      (Tests/SubQTests/Fixtures/tokenizers, tools/make_tokenizer_fixtures.py)
  prompt.json                         {"text": prompt text, "prompt": [ids], "greedy": [ids], ...}
  logits.npy                          float32 [len(prompt), vocab]: logits of every prompt position
                                      from one forward pass (no cache) in float32
The greedy continuation comes from generate(do_sample=False) (prefill, then one token per step
through the cache), so a runner that matches it exercises its decode path too.
Weights are initialised with a larger std than the default so that every block moves the
logits visibly (a wrong RoPE, mask or gate then fails the 1e-4 comparison).
"""
import argparse
import json
import os

import shutil

import numpy as np
import tokenizers
import torch
import transformers
from transformers import (BitNetConfig, BitNetForCausalLM, LlamaConfig, LlamaForCausalLM, Mamba2Config, Mamba2ForCausalLM, MambaConfig,
                          MambaForCausalLM, MistralConfig, MistralForCausalLM)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SubQTests", "Fixtures", "tokenizers")
TEXT = {
    "llama": "The quick brown fox jumps over the lazy dog, again and again.",
    "llama3-tied": "It's a truth universally acknowledged: 1234 numbers, \"quotes\" and déjà vu — with emoji 🎉 too.",
    "mistral": "Hello world, hello there!",
    "mamba": "Whitespace   runs\tand tabs\nnew lines, the of and to in is that.",
    "mamba2": "Café déjà vu, naïve résumé; 日本語のテキスト.",
    # long enough (> 32 tokens) that positions pass the yarn model's original_max_position_embeddings
    "llama-yarn": "Once upon a time, in a small village by the sea, there lived an old fisherman who told stories "
                  "about the stars, the tides and the long winter nights.",
    "bitnet": "The quick brown fox jumps over the lazy dog, again and again.",
    "bitnet-offline": "Hello world, hello there! The quick brown fox.",
    "bitnet-online": "Once upon a time, in a small village by the sea.",
}
ONLY = None  # --only: the names to write (every model is still constructed, so the RNG use is unchanged)


def tokenizer_for(fixture):
    path = os.path.join(FIXTURES, fixture + ".json")
    tok = tokenizers.Tokenizer.from_file(path)
    return tok, path, tok.get_vocab_size(with_added_tokens=True)


def prompt_for(name, tok):
    return [int(i) for i in tok.encode(TEXT[name]).ids]


def perturb(model, std, seed):
    """Re-draw every floating parameter except the Mamba ones whose init carries meaning
    (A_log, D, dt biases) and norm weights (kept near 1, with noise)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(k in name for k in ("A_log", ".D", "dt_bias", "dt_proj.bias")):
                continue
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def bitnet_packed(model, seed, linear_class="bitlinear", mode="offline"):
    """Turns a BitNetForCausalLM into the packed form real checkpoints use (quantization_config
    quant_method "bitnet", linear_class "bitlinear"): every projection becomes HF's BitLinear with a
    random ternary uint8 [N/4, K] weight (integrations/bitnet.py pack_weights) and weight_scale
    = 1/gamma. lm_head stays dense (tied to the embeddings), as HF's quantizer leaves it."""
    from transformers.integrations.bitnet import AutoBitLinear, BitLinear, pack_weights, replace_with_bitnet_linear
    from transformers.utils.quantization_config import BitNetQuantConfig
    qc = BitNetQuantConfig(linear_class=linear_class, quantization_mode=mode)
    replace_with_bitnet_linear(model, modules_to_not_convert=["lm_head"], quantization_config=qc)
    model.config.quantization_config = qc
    g = torch.Generator().manual_seed(seed)
    for name, mod in model.named_modules():
        if isinstance(mod, BitLinear):
            n, k = mod.out_features, mod.in_features
            t = torch.randint(-1, 2, (n, k), generator=g).to(torch.float32)
            gamma = float(0.05 + 0.25 * torch.rand((), generator=g))
            mod._buffers["weight"] = pack_weights(t.clone())
            mod._buffers["weight_scale"] = torch.tensor([1.0 / gamma], dtype=torch.float32)
            mod.dtype = torch.float32
        elif isinstance(mod, AutoBitLinear):
            # AutoBitLinear is an nn.Linear built on the meta device: give it real tensors.
            # offline: the weight holds the ternary values (here t * c, c random, so a loader must
            # keep c) and the output is multiplied by weight_scale; online: float masters,
            # absmean-ternarized in every forward (WeightQuant).
            n, k = mod.out_features, mod.in_features
            if mode == "offline":
                t = torch.randint(-1, 2, (n, k), generator=g).to(torch.float32)
                c = float(0.5 + torch.rand((), generator=g))
                mod.weight = torch.nn.Parameter(t * c, requires_grad=False)
                mod._buffers["weight_scale"] = torch.tensor([float(0.05 + 0.25 * torch.rand((), generator=g)) / c])
            else:
                mod.weight = torch.nn.Parameter(0.15 * torch.randn((n, k), generator=g), requires_grad=False)
    return model


def quant_margin(model, ids, n_new):
    """Smallest distance of any activation x*s (HF BitLinear.activation_quant, fp32) to a rounding
    edge k+0.5, over the prompt forward and the greedy steps: an implementation whose float32 norm
    differs in the last ulp flips a code only where this is tiny (spec ternary.md §11.20)."""
    from transformers.integrations.bitnet import AutoBitLinear, BitLinear
    worst = [1.0]

    def hook(mod, inp):
        x = inp[0].detach().to(torch.float64)
        s = 127.0 / inp[0].detach().abs().amax(dim=-1, keepdim=True).clamp(min=1e-5).to(torch.float64)
        v = (x * s).abs()
        worst[0] = min(worst[0], float((v - v.floor() - 0.5).abs().min()))

    hs = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, (BitLinear, AutoBitLinear))]
    with torch.no_grad():
        model(ids, use_cache=False)
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False,
                       min_new_tokens=n_new, eos_token_id=None)
    for h in hs:
        h.remove()
    return worst[0]


def build(name, model, out_dir, tok_path, prompt, n_new):
    if ONLY and name not in ONLY:
        return
    model.eval()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    shutil.copyfile(tok_path, os.path.join(d, "tokenizer.json"))
    ids = torch.tensor([prompt])
    with torch.no_grad():
        logits = model(ids, use_cache=False).logits[0].float().numpy()
        # An explicit all-ones mask: generate would otherwise treat prompt tokens equal to
        # pad_token_id (a BOS id 0, say) as left padding and shift the positions.
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False,
                             min_new_tokens=n_new, eos_token_id=None, output_scores=True,
                             return_dict_in_generate=True)
    greedy = [int(x) for x in gen.sequences[0, len(prompt):]]
    # top-1 minus top-2 logit per generated step: a runner within 1e-4 of these logits must pick
    # the same tokens only where the margin is clearly larger than that
    margins = [float(torch.topk(s_[0].float(), 2).values.diff().abs()) for s_ in gen.scores]
    np.save(os.path.join(d, "logits.npy"), logits.astype(np.float32))
    with open(os.path.join(d, "prompt.json"), "w") as f:
        json.dump({"text": TEXT[name], "prompt": prompt, "greedy": greedy, "transformers": transformers.__version__,
                   "torch": torch.__version__, "max_abs_logit": float(np.abs(logits).max()),
                   "greedy_margins": margins}, f, indent=1)
    for junk in ("generation_config.json",):
        p = os.path.join(d, junk)
        if os.path.exists(p):
            os.remove(p)
    print("%-16s prompt %d tokens, greedy %s, min margin %.2e, max|logit| %.3f, files %s"
          % (name, len(prompt), greedy, min(margins), np.abs(logits).max(), sorted(os.listdir(d))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Models"))
    ap.add_argument("--only", nargs="+", help="write only these models")
    args = ap.parse_args()
    global ONLY
    ONLY = set(args.only) if args.only else None
    torch.manual_seed(0)

    def common(vocab, tok):
        # bos/eos as the tokenizer defines them; pad = eos (none of these models has a pad token)
        ids = {t: tok.token_to_id(t) for t in ("<s>", "</s>", "<|begin_of_text|>", "<|end_of_text|>", "<|endoftext|>")}
        bos = ids["<s>"] if ids["<s>"] is not None else (ids["<|begin_of_text|>"] if ids["<|begin_of_text|>"] is not None else ids["<|endoftext|>"])
        eos = ids["</s>"] if ids["</s>"] is not None else (ids["<|end_of_text|>"] if ids["<|end_of_text|>"] is not None else ids["<|endoftext|>"])
        return dict(vocab_size=vocab, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)

    tok, tp, v = tokenizer_for("llama2")
    llama = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5,
                        rope_theta=10000.0, tie_word_embeddings=False, **common(v, tok))
    m = LlamaForCausalLM(llama)
    perturb(m, 0.15, 1)
    build("llama", m, args.out, tp, prompt_for("llama", tok), 8)

    tok, tp, v = tokenizer_for("llama3")
    llama3 = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=1, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5,
                         rope_theta=500000.0, tie_word_embeddings=True, attention_bias=True,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                         **common(v, tok))
    m = LlamaForCausalLM(llama3)
    perturb(m, 0.15, 2)
    build("llama3-tied", m, args.out, tp, prompt_for("llama3-tied", tok), 8)

    tok, tp, v = tokenizer_for("mistral")
    mistral = MistralConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5,
                            sliding_window=4, tie_word_embeddings=False, **common(v, tok))
    m = MistralForCausalLM(mistral)
    perturb(m, 0.15, 3)
    build("mistral", m, args.out, tp, prompt_for("mistral", tok), 8)

    # Mamba checkpoints pad the vocabulary (50280 rows for 50277 tokens): pad to a multiple of 16 here too.
    tok, tp, v = tokenizer_for("neox")
    mamba = MambaConfig(hidden_size=64, state_size=16, num_hidden_layers=2, expand=2, conv_kernel=4,
                        time_step_rank="auto", use_bias=False, use_conv_bias=True, layer_norm_epsilon=1e-5,
                        tie_word_embeddings=True, **common((v + 15) // 16 * 16, tok))
    m = MambaForCausalLM(mamba)
    perturb(m, 0.15, 4)
    build("mamba", m, args.out, tp, prompt_for("mamba", tok), 8)

    tok, tp, v = tokenizer_for("gpt2")
    mamba2 = Mamba2Config(hidden_size=64, num_heads=8, head_dim=16, expand=2, state_size=16, n_groups=2,
                          num_hidden_layers=2, conv_kernel=4, chunk_size=8, use_bias=False, use_conv_bias=True,
                          layer_norm_epsilon=1e-5, tie_word_embeddings=False, **common((v + 15) // 16 * 16, tok))
    m = Mamba2ForCausalLM(mamba2)
    perturb(m, 0.15, 5)
    build("mamba2", m, args.out, tp, prompt_for("mamba2", tok), 8)

    # YaRN (v5 rope_parameters): factor 4 over an original context of 32 (max 128, so HF's implicit
    # factor agrees), head_dim 32: correction range [0, 3] of 16 frequencies, attention_factor
    # inferred (0.1 ln 4 + 1). The prompt runs past position 32.
    tok, tp, v = tokenizer_for("llama2")
    yarn = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, head_dim=32, max_position_embeddings=128, rms_norm_eps=1e-5,
                       tie_word_embeddings=False,
                       rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                        "original_max_position_embeddings": 32},
                       **common(v, tok))
    m = LlamaForCausalLM(yarn)
    perturb(m, 0.15, 6)
    build("llama-yarn", m, args.out, tp, prompt_for("llama-yarn", tok), 8)

    # BitNet b1.58 in the packed HF form (uint8 weights + weight_scale, linear_class "bitlinear"),
    # tied embeddings like bitnet-b1.58-2B-4T, relu2. Of a few weight seeds, the one whose
    # activations stay farthest from int8 rounding edges (see quant_margin).
    tok, tp, v = tokenizer_for("llama2")
    bitnet = BitNetConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
                          rope_theta=10000.0, tie_word_embeddings=True, hidden_act="relu2", **common(v, tok))
    # bitnet-offline: AutoBitLinear offline (float ternary values x weight_scale); bitnet-online:
    # AutoBitLinear online (float masters, ternarized per forward)
    for name, lc, mode in (("bitnet", "bitlinear", "offline"), ("bitnet-offline", "autobitlinear", "offline"),
                           ("bitnet-online", "autobitlinear", "online")):
        if ONLY and name not in ONLY:
            continue
        ids = torch.tensor([prompt_for(name, tok)])
        best = None
        for seed in range(70, 90):
            torch.manual_seed(seed)
            m = BitNetForCausalLM(bitnet)
            perturb(m, 0.15, seed)
            bitnet_packed(m, seed, lc, mode).eval()
            margin = quant_margin(m, ids, 8)
            if best is None or margin > best[0]:
                best = (margin, seed)
        torch.manual_seed(best[1])
        m = BitNetForCausalLM(bitnet)
        perturb(m, 0.15, best[1])
        bitnet_packed(m, best[1], lc, mode)
        print("%s seed %d: smallest distance of x*s to a rounding edge %.2e" % (name, best[1], best[0]))
        build(name, m, args.out, tp, prompt_for(name, tok), 8)


if __name__ == "__main__":
    main()
