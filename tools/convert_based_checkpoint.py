#!/usr/bin/env python3
"""Converts a HazyResearch BASED hub checkpoint (hazyresearch/based-360m, based-1b, based-1b-50b, the
older based-1.3b) into the layout SubQ's runner loads (linear_attention spec §11; Sources/SubQ/Model/
BasedConfig.swift and Based.swift).

Run by hand (not by CI; the library and its tests never need torch); needs torch and safetensors:
  python3 tools/convert_based_checkpoint.py SRC DST [--dtype keep|float32|bfloat16|float16]
                                            [--max-shard-size 4GB]

SRC holds the hub's config.json and pytorch_model.bin (a torch pickle of the state dict; a
pytorch_model.bin.index.json with its shards works too). DST receives
  config.json        the hub config with model_type "based" and, for based-1.3b, the older mixer
                     classes rewritten to the ones the runner accepts (same math, see below);
  model.safetensors  the weights under the spec's names, or model-0000i-of-0000n.safetensors plus
                     model.safetensors.index.json when they exceed --max-shard-size;
  tokenizer files    copied when SRC has them (the BASED hub repos do not: they use the GPT-2
                     tokenizer, so put GPT-2's tokenizer.json into DST for text prompts).

What it does, as the based repo's `GPTLMHeadModel.from_pretrained_hf` loads the file:
- strips a leading `model.` from every key and drops keys containing "metrics";
- drops non-parameter buffers (`*.rotary_emb.inv_freq`, rotary cos/sin caches, `transformer.decay.decay`
  which based-1b builds for `fixed_decay` and never uses);
- based-1.3b: `mixer.conv1.conv.*` -> `mixer.conv.conv.*`; `base_conv.BaseConvWithSiLU4` ->
  `convolution.BaseConv` (kernel_size = kernel_sizes[0]); `linear_attn.LinearAttention` with
  feature_name taylor_exp -> `linear_attention.LinearAttention` with a `TaylorExp` feature map and an
  explicit head_dim (d_model / num_key_value_heads, as the old class computes it);
  `slide_fa2.SlidingsMHA` -> `slide_attention.SlidingAttention` (both use window (window_size // 2, 0));
  options of the old classes that change the math (GQA, rotary on q/k, decay, gating, initial conv,
  another feature map) are refused;
- tied embeddings (`tie_word_embeddings`, default true): the table is written once, as
  `transformer.embeddings.word_embeddings.weight` (safetensors cannot store a shared tensor twice);
  a tied config whose lm_head.weight differs from the embedding table is refused;
- keeps each tensor's dtype (F32, BF16, F16) unless --dtype casts every tensor;
- checks every tensor's name and shape against the config before writing anything; a missing,
  unexpected or misshapen tensor fails with a message naming it.
Memory: the whole state dict is loaded, and safetensors copies each shard while writing it: plan for
about the checkpoint's size plus one shard (--max-shard-size) of RAM.
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

CONV = "based.models.mixers.convolution.BaseConv"
LINEAR = "based.models.mixers.linear_attention.LinearAttention"
TAYLOR = "based.models.mixers.linear_attention.TaylorExp"
SLIDING = "based.models.mixers.slide_attention.SlidingAttention"
OLD_CONV = "based.models.mixers.base_conv.BaseConvWithSiLU4"
OLD_LINEAR = "based.models.mixers.linear_attn.LinearAttention"
OLD_SLIDING = "based.models.mixers.slide_fa2.SlidingsMHA"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WORD = "transformer.embeddings.word_embeddings.weight"


class ConvertError(Exception):
    pass


def fail(msg):
    raise ConvertError(msg)


def positive(cfg, key, where="config.json"):
    v = cfg.get(key)
    if v is None:
        fail("%s: '%s' is missing or null (BASED needs it)" % (where, key))
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        fail("%s: '%s' is %r, not a positive integer" % (where, key, v))
    return v


def mixer_section(cfg, key, need):
    """cfg[key] as a dict (fails naming what needs it) and its _target_."""
    m = cfg.get(key)
    if not isinstance(m, dict):
        fail("config.json: '%s' is missing (%s)" % (key, need))
    return m, m.get("_target_")


def normalise_config(cfg):
    """Returns (config for the runner, notes). Raises ConvertError naming what is missing or unsupported."""
    cfg = json.loads(json.dumps(cfg))  # deep copy
    notes = []
    mt = cfg.get("model_type")
    if mt not in (None, "gpt2", "based"):
        fail("config.json: model_type '%s' is not a BASED config (gpt2 or based expected)" % mt)
    d = positive(cfg, "n_embd")
    n_layer = positive(cfg, "n_layer")
    positive(cfg, "n_head")
    positive(cfg, "vocab_size")
    positive(cfg, "n_inner")
    if cfg.get("rms_norm") is not True:
        fail("config.json: 'rms_norm' is %r; BASED checkpoints use RMSNorm (true)" % cfg.get("rms_norm"))
    for key in ("alt_mixer_layers", "alt_mixer_2_layers"):
        if key not in cfg or cfg[key] is None:
            cfg[key] = []
            notes.append("'%s' absent: no such layers" % key)
    cfg["model_type"] = "based"
    layers = set(range(n_layer))
    lin, sw = set(cfg["alt_mixer_layers"]), set(cfg["alt_mixer_2_layers"])
    original = {}

    if layers - lin - sw:
        m, t = mixer_section(cfg, "mixer", "the BaseConv layers need it")
        if t == OLD_CONV:
            original["mixer"] = dict(m)
            ks = m.pop("kernel_sizes", [3])
            ks = ks if isinstance(ks, list) else [ks]
            m["kernel_size"] = int(ks[0])
            m["_target_"] = CONV
        elif t != CONV:
            fail("config.json: mixer._target_ '%s' is not supported (%s or %s)" % (t, CONV, OLD_CONV))

    if lin - sw:
        a, t = mixer_section(cfg, "alt_mixer", "the linear-attention layers need it")
        if t == OLD_LINEAR:
            original["alt_mixer"] = dict(a)
            name = a.get("feature_name", "taylor_exp")
            if name != "taylor_exp":
                fail("config.json: alt_mixer.feature_name '%s' is not supported (taylor_exp)" % name)
            heads = a.get("num_heads", 16)
            kv = a.get("num_key_value_heads", 16)
            if heads != kv:
                fail("config.json: alt_mixer num_heads %s != num_key_value_heads %s (grouped linear attention) is not "
                     "supported" % (heads, kv))
            for flag in ("use_rotary_apply", "initial_conv", "use_decay_proj", "use_output_gating", "use_proj_g", "use_act",
                         "use_exp_combo", "use_positive"):
                if a.get(flag):
                    fail("config.json: alt_mixer.%s true changes the model; not supported" % flag)
            if a.get("scale_dim") is not None:
                fail("config.json: alt_mixer.scale_dim %r is not supported (the Taylor map scales by feature_dim)"
                     % a["scale_dim"])
            fdim = a.get("feature_dim", 16)
            head_dim = a.get("head_dim") or d // kv
            a = {"_target_": LINEAR, "num_heads": heads, "feature_dim": fdim, "head_dim": head_dim,
                 "eps": a.get("eps", 1e-12), "l_max": a.get("l_max", 2048), "parallel_implementation": "quadratic",
                 "feature_map": {"_target_": TAYLOR, "input_dim": fdim}}
            cfg["alt_mixer"] = a
        elif t != LINEAR:
            fail("config.json: alt_mixer._target_ '%s' is not supported (%s or %s)" % (t, LINEAR, OLD_LINEAR))
        elif a.get("num_key_value_heads", a.get("num_heads", 16)) != a.get("num_heads", 16):
            fail("config.json: alt_mixer num_heads %s != num_key_value_heads %s (grouped linear attention) is not "
                 "supported" % (a.get("num_heads", 16), a["num_key_value_heads"]))

    if sw:
        s, t = mixer_section(cfg, "alt_mixer_2", "the sliding-window layers need it")
        if t == OLD_SLIDING:
            original["alt_mixer_2"] = dict(s)
            if s.get("num_heads_kv") not in (None, cfg["n_head"]):
                fail("config.json: alt_mixer_2.num_heads_kv %s != n_head (GQA) is not supported" % s["num_heads_kv"])
            s["_target_"] = SLIDING
            s.setdefault("window_size", 128)  # SlidingsMHA's default
        elif t != SLIDING:
            fail("config.json: alt_mixer_2._target_ '%s' is not supported (%s or %s)" % (t, SLIDING, OLD_SLIDING))
        if "window_size" not in s:
            fail("config.json: alt_mixer_2.window_size is missing (the window is (window_size // 2, 0))")
    if original:
        cfg["subq_converted_from"] = original
        notes.append("older mixer classes rewritten: %s" % ", ".join(sorted(original)))
    return cfg, notes


def expected_shapes(cfg, vocab_rows):
    """name -> shape (optional tensors: value (shape, False))."""
    d, inner, n_layer, heads = cfg["n_embd"], cfg["n_inner"], cfg["n_layer"], cfg["n_head"]
    lin, sw = set(cfg["alt_mixer_layers"]), set(cfg["alt_mixer_2_layers"])
    e = {WORD: ([vocab_rows, d], True), "transformer.ln_f.weight": ([d], True)}
    if not cfg.get("tie_word_embeddings", True):
        e["lm_head.weight"] = ([vocab_rows, d], True)
    for i in range(n_layer):
        p = "transformer.layers.%d." % i
        e[p + "norm1.weight"] = ([d], True)
        e[p + "norm2.weight"] = ([d], True)
        e[p + "mlp.fc1.weight"] = ([2 * inner, d], True)
        e[p + "mlp.fc2.weight"] = ([d, inner], True)
        if cfg.get("mlp_fc1_bias", True):
            e[p + "mlp.fc1.bias"] = ([2 * inner], True)
        if cfg.get("mlp_fc2_bias", True):
            e[p + "mlp.fc2.bias"] = ([d], True)
        if i in sw:
            hd = d // heads
            e[p + "mixer.Wqkv.weight"] = ([3 * heads * hd, d], True)
            e[p + "mixer.out_proj.weight"] = ([d, heads * hd], True)
            if cfg.get("qkv_proj_bias", True):
                e[p + "mixer.Wqkv.bias"] = ([3 * heads * hd], True)
            if cfg.get("out_proj_bias", True):
                e[p + "mixer.out_proj.bias"] = ([d], True)
        elif i in lin:
            a = cfg["alt_mixer"]
            h, f = a.get("num_heads", 16), a.get("feature_dim", 16)
            dv = a.get("head_dim") or d // h
            e[p + "mixer.proj_q.weight"] = ([h * f, d], True)
            e[p + "mixer.proj_k.weight"] = ([h * f, d], True)
            e[p + "mixer.proj_v.weight"] = ([h * dv, d], True)
            e[p + "mixer.out_proj.weight"] = ([d, h * dv], True)
        else:
            m = cfg["mixer"]
            di = m.get("expand_proj", 2) * d // 2
            k = m.get("kernel_size", 3)
            e[p + "mixer.in_proj.weight"] = ([2 * di, d], True)
            e[p + "mixer.out_proj.weight"] = ([d, di], True)
            if m.get("use_bias", True):
                e[p + "mixer.in_proj.bias"] = ([2 * di], True)
                e[p + "mixer.out_proj.bias"] = ([d], True)
            e[p + "mixer.conv.conv.weight"] = ([di, 1, k], True)
            e[p + "mixer.conv.conv.bias"] = ([di], False)  # only when trained with causal_conv1d (use_cuda)
    return e


def is_buffer(name):
    return (name.endswith("rotary_emb.inv_freq") or name.endswith("rotary_emb._cos_cached")
            or name.endswith("rotary_emb._sin_cached") or name == "transformer.decay.decay")


def load_state(src):
    single = os.path.join(src, "pytorch_model.bin")
    index = os.path.join(src, "pytorch_model.bin.index.json")
    if os.path.isfile(single):
        files = [single]
    elif os.path.isfile(index):
        with open(index) as f:
            files = [os.path.join(src, n) for n in sorted(set(json.load(f)["weight_map"].values()))]
    else:
        fail("%s holds neither pytorch_model.bin nor pytorch_model.bin.index.json" % src)
    state = {}
    for path in files:
        part = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(part, dict):
            fail("%s: not a state dict (got %s)" % (path, type(part).__name__))
        for k, v in part.items():
            if k in state:
                fail("%s: tensor '%s' appears twice" % (path, k))
            state[k] = v
    return state


def convert_state(state, cfg, dtype):
    """Returns (tensors to write, notes)."""
    notes = []
    out = {}
    dropped = []
    for key, v in state.items():
        name = key[len("model."):] if key.startswith("model.") else key
        if "metrics" in name or is_buffer(name):
            dropped.append(name)
            continue
        if not isinstance(v, torch.Tensor):
            fail("checkpoint entry '%s' is a %s, not a tensor" % (key, type(v).__name__))
        name = name.replace(".mixer.conv1.conv.", ".mixer.conv.conv.")
        if name in out:
            fail("tensor '%s' appears twice after renaming (from '%s')" % (name, key))
        out[name] = v
    if dropped:
        notes.append("dropped %d buffers/metrics: %s" % (len(dropped), ", ".join(sorted(dropped)[:6])
                                                          + (" ..." if len(dropped) > 6 else "")))
    tied = cfg.get("tie_word_embeddings", True)
    if tied:
        head = out.pop("lm_head.weight", None)
        if WORD not in out:
            if head is None:
                fail("tensor '%s' (or the tied lm_head.weight) is missing" % WORD)
            out[WORD] = head
        elif head is not None and not torch.equal(head, out[WORD]):
            fail("config says tie_word_embeddings but lm_head.weight differs from %s" % WORD)
    for name, v in out.items():
        if v.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            fail("tensor '%s' has dtype %s (float32, bfloat16 or float16 expected)" % (name, v.dtype))

    # vocabulary rows: vocab_size padded to pad_vocab_size_multiple; infer the multiple when absent
    vocab = cfg["vocab_size"]
    if WORD not in out:
        fail("tensor '%s' is missing" % WORD)
    rows = out[WORD].shape[0]
    mult = cfg.get("pad_vocab_size_multiple")
    if mult is None:
        for m in (1, 8, 16, 32, 64, 128):
            if (vocab + m - 1) // m * m == rows:
                cfg["pad_vocab_size_multiple"] = mult = m
                notes.append("pad_vocab_size_multiple absent: %d inferred from %s rows %d" % (m, WORD, rows))
                break
        else:
            fail("tensor '%s' has %d rows; vocab_size %d padded to no multiple in 1..128 gives that" % (WORD, rows, vocab))
    padded = (vocab + mult - 1) // mult * mult

    want = expected_shapes(cfg, padded)
    for name, v in out.items():
        if name not in want:
            fail("tensor '%s' %s is not part of a BASED model with this config (unexpected; flags such as "
                 "mlp_fc1_bias / use_bias or a ThunderKittens g_norm?)" % (name, list(v.shape)))
        shape = want[name][0]
        if list(v.shape) != shape:
            fail("tensor '%s' has shape %s; the config needs %s" % (name, list(v.shape), shape))
    for name, (shape, required) in want.items():
        if required and name not in out:
            fail("tensor '%s' %s is missing" % (name, shape))

    # contiguous, own storage (safetensors refuses tensors sharing memory), optional cast
    seen = set()
    for name in sorted(out):
        v = out[name]
        if dtype is not None and v.dtype != dtype:
            v = v.to(dtype)
        v = v.contiguous()
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen:
            v = v.clone()
        seen.add(v.untyped_storage().data_ptr())
        out[name] = v
    return out, notes


def parse_size(s):
    s = s.strip().upper()
    for suffix, mul in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)):
        if s.endswith(suffix):
            return int(float(s[:-len(suffix)]) * mul)
    return int(s)


def write(tensors, dst, max_shard):
    for old in os.listdir(dst):
        if old == "model.safetensors" or old == "model.safetensors.index.json" or (
                old.startswith("model-") and old.endswith(".safetensors")):
            os.remove(os.path.join(dst, old))
    names = sorted(tensors)
    total = sum(tensors[n].numel() * tensors[n].element_size() for n in names)
    meta = {"format": "pt"}
    if total <= max_shard:
        save_file({n: tensors[n] for n in names}, os.path.join(dst, "model.safetensors"), metadata=meta)
        return ["model.safetensors"]
    shards, cur, size = [], [], 0
    for n in names:
        b = tensors[n].numel() * tensors[n].element_size()
        if cur and size + b > max_shard:
            shards.append(cur)
            cur, size = [], 0
        cur.append(n)
        size += b
    shards.append(cur)
    files, weight_map = [], {}
    for i, group in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        save_file({n: tensors[n] for n in group}, os.path.join(dst, fn), metadata=meta)
        files.append(fn)
        weight_map.update({n: fn for n in group})
    with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")
    return files + ["model.safetensors.index.json"]


def convert(src, dst, dtype=None, max_shard=4 << 30):
    if os.path.abspath(src) == os.path.abspath(dst):
        fail("DST must differ from SRC (config.json would be overwritten)")
    with open(os.path.join(src, "config.json")) as f:
        hub = json.load(f)
    cfg, notes = normalise_config(hub)
    tensors, more = convert_state(load_state(src), cfg, dtype)
    notes += more
    os.makedirs(dst, exist_ok=True)
    files = write(tensors, dst, max_shard)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for fn in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(src, fn)):
            shutil.copyfile(os.path.join(src, fn), os.path.join(dst, fn))
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in tensors.values()})
    notes.append("%d tensors (%s) -> %s" % (len(tensors), "/".join(dtypes), ", ".join(files)))
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="directory with the hub's config.json and pytorch_model.bin")
    ap.add_argument("dst", help="output directory (created)")
    ap.add_argument("--dtype", default="keep", choices=["keep"] + sorted(DTYPES),
                    help="cast every tensor (default: keep each tensor's stored dtype)")
    ap.add_argument("--max-shard-size", default="4GB",
                    help="write shards + model.safetensors.index.json above this size (default 4GB; e.g. 500MB)")
    args = ap.parse_args()
    try:
        notes = convert(args.src, args.dst, None if args.dtype == "keep" else DTYPES[args.dtype],
                        parse_size(args.max_shard_size))
    except ConvertError as e:
        print("convert_based_checkpoint: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    for n in notes:
        print("convert_based_checkpoint: " + n)


if __name__ == "__main__":
    main()
