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


# YaRN: computed by transformers' own _compute_yarn_parameters on a LlamaConfig (the goldens are
# HF's, not a transcription). Needs transformers (>= 5) in addition to torch.
def yarn(head_dim, theta, max_pos, **rope):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import _compute_yarn_parameters

    cfg = LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim, max_position_embeddings=max_pos,
                      rope_parameters=dict(rope_type="yarn", rope_theta=theta, **rope))
    inv, attention_factor = _compute_yarn_parameters(cfg, "cpu")
    return inv, attention_factor


try:
    import transformers
except ImportError:
    transformers = None
if transformers is not None:
    print("transformers", transformers.__version__)
    y1, af1 = yarn(128, 10000.0, 8192, factor=4.0, original_max_position_embeddings=2048)
    show("yarn D128 theta1e4 f4 L2048 (beta 32/1, truncate): inv_freq[64]; attention_factor %r" % af1, y1)
    y2, af2 = yarn(64, 10000.0, 65536, factor=16.0, original_max_position_embeddings=4096, beta_fast=16.0,
                   beta_slow=2.0, truncate=False)
    show("yarn D64 theta1e4 f16 L4096 beta 16/2 no truncate: inv_freq[32]; attention_factor %r" % af2, y2)
    y3, af3 = yarn(96, 1e6, 4096, factor=40.0, original_max_position_embeddings=4096, mscale=1.0,
                   mscale_all_dim=0.707)
    show("yarn D96 theta1e6 f40 L4096 mscale 1 mscale_all_dim 0.707: inv_freq[48]; attention_factor %r" % af3, y3)
    y4, af4 = yarn(32, 10000.0, 256, factor=None, original_max_position_embeddings=64)
    show("yarn D32 theta1e4 factor None (256 / 64) L64: inv_freq[16]; attention_factor %r" % af4, y4)

    # dynamic / longrope inverse frequencies from transformers' own functions (a tensor seq_len,
    # as dynamic_rope_update passes it)
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import _compute_dynamic_ntk_parameters, _compute_longrope_parameters

    def hf_config(head_dim, max_pos, **rope):
        return LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim,
                           max_position_embeddings=max_pos, rope_parameters=rope)

    for d, theta, f, L, S in ((16, 10000.0, 4.0, 32, 48), (64, 500000.0, 2.0, 4096, 5000)):
        inv, _ = _compute_dynamic_ntk_parameters(hf_config(d, L, rope_type="dynamic", rope_theta=theta, factor=f),
                                                 "cpu", seq_len=torch.tensor(S))
        show("dynamic D%d theta%g f%g L%d S%d: inv_freq[%d]" % (d, theta, f, L, S, d // 2), inv)
    lr = dict(rope_type="longrope", rope_theta=10000.0, original_max_position_embeddings=4096,
              short_factor=[1.0 + 0.01 * i for i in range(32)], long_factor=[1.0 + 0.5 * i for i in range(32)])
    for S in (None, 4097):
        inv, af = _compute_longrope_parameters(hf_config(64, 131072, **lr), "cpu", seq_len=S)
        show("longrope D64 theta1e4 L4096 %s factor (1 + %s i): inv_freq[32]; attention_factor %r"
             % ("long" if S else "short", "0.5" if S else "0.01", af), inv)


# dynamic / longrope: transformers' own LlamaRotaryEmbedding (its dynamic_rope_update wrapper
# included) run over call sequences as a generate loop makes them: one prefill call, then one call
# per decoded token, all on one module (the frequencies it keeps between calls are part of the
# behaviour). Writes Tests/SubQTests/Fixtures/rope_dynamic_longrope.json:
#   python tools/gen_rope_goldens.py --json Tests/SubQTests/Fixtures/rope_dynamic_longrope.json
def rope_calls(head_dim, max_pos, rope, calls):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    cfg = LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim,
                      max_position_embeddings=max_pos, rope_parameters=dict(rope))
    emb = LlamaRotaryEmbedding(cfg)
    x = torch.zeros(1, 1, head_dim)
    out = []
    for positions in calls:
        cos, sin = emb(x, torch.tensor([positions], dtype=torch.int64))
        half = cos.shape[-1] // 2
        out.append(dict(positions=positions, cos=cos[0, :, :half].flatten().tolist(),
                        sin=sin[0, :, :half].flatten().tolist()))
    return dict(head_dim=head_dim, max_position_embeddings=max_pos, rope_parameters=rope,
                attention_scaling=float(emb.attention_scaling), calls=out)


def decode(prefill, steps):
    return [list(range(prefill))] + [[p] for p in range(prefill, prefill + steps)]


def dynamic_longrope_goldens():
    dyn = dict(rope_type="dynamic", rope_theta=10000.0, factor=4.0)
    short = [1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.5, 1.7]
    long = [1.0, 1.25, 1.8, 2.9, 4.6, 7.5, 11.0, 16.0]
    lr = dict(rope_type="longrope", rope_theta=10000.0, short_factor=short, long_factor=long,
              original_max_position_embeddings=32)
    return dict(
        transformers=transformers.__version__, torch=torch.__version__,
        cases=dict(
            # prefill longer than max_position_embeddings (32), then decode steps
            dynamic_long_prefill=rope_calls(16, 32, dyn, decode(48, 3)),
            # short prefill, decode across 32, then a short call (transformers' reset)
            dynamic_short_prefill=rope_calls(16, 32, dyn, decode(20, 20) + [list(range(10)), [40]]),
            longrope_long_prefill=rope_calls(16, 128, lr, decode(48, 2)),
            longrope_short_prefill=rope_calls(16, 128, lr, decode(28, 8) + [list(range(6))]),
        ))


# The tiny llama (Tests/Models/llama) with dynamic / longrope RoPE and max_position_embeddings 16
# below its 28-token prompt, run by transformers' LlamaForCausalLM: one prefill call, then decode
# calls through the KV cache. Keeps the first 64 logits of the last prefill row and of each decode
# row, and each row's argmax.
MODEL_ROPES = dict(
    dynamic=dict(rope_theta=10000.0, rope_type="dynamic", factor=4.0),
    longrope=dict(rope_theta=10000.0, rope_type="longrope", original_max_position_embeddings=16, factor=4.0,
                  short_factor=[1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], long_factor=[1, 2, 3, 5, 8, 13, 21, 34]),
)
DECODE = [5, 7, 300]


def model_goldens(root):
    import json
    import os
    import shutil
    import tempfile

    from transformers import LlamaForCausalLM

    src = os.path.join(root, "Tests", "Models", "llama")
    prompt = json.load(open(os.path.join(src, "prompt.json")))["prompt"]
    out = dict(transformers=transformers.__version__, torch=torch.__version__, prompt=prompt, decode=DECODE, cases={})
    for name, rope in MODEL_ROPES.items():
        with tempfile.TemporaryDirectory() as tmp:
            cfg = json.load(open(os.path.join(src, "config.json")))
            cfg["rope_parameters"] = rope
            cfg["max_position_embeddings"] = 16
            json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"))
            shutil.copy(os.path.join(src, "model.safetensors"), tmp)
            model = LlamaForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
        rows = []
        with torch.no_grad():
            r = model(torch.tensor([prompt]), use_cache=True)
            rows.append(r.logits[0, -1])
            cache = r.past_key_values
            for i, t in enumerate(DECODE):
                pos = torch.tensor([[len(prompt) + i]])
                r = model(torch.tensor([[t]]), past_key_values=cache, position_ids=pos, use_cache=True)
                cache = r.past_key_values
                rows.append(r.logits[0, -1])
        out["cases"][name] = dict(rope_parameters=rope, head=[row[:64].tolist() for row in rows],
                                  argmax=[int(row.argmax()) for row in rows])
    return out


if __name__ == "__main__" and transformers is not None:
    import json
    import sys

    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(dynamic_longrope_goldens(), f, separators=(",", ":"))
            f.write("\n")
    if "--model-json" in sys.argv:  # python tools/gen_rope_goldens.py --model-json Tests/SubQTests/Fixtures/rope_scaled_llama.json
        import os

        with open(sys.argv[sys.argv.index("--model-json") + 1], "w") as f:
            json.dump(model_goldens(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), f)
            f.write("\n")
