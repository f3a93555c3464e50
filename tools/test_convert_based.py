#!/usr/bin/env python3
"""End-to-end check of tools/convert_based_checkpoint.py against the runner. Run by hand (not by CI);
needs torch, safetensors, numpy and a release subq-run:
  swift build -c release --product subq-run
  python3 tools/test_convert_based.py [--subq-run .build/release/subq-run] [--keep DIR]

From the tiny BASED fixture (Tests/Models/based, written by tools/make_tiny_based.py in SubQ's own
layout) it rebuilds hub-style checkpoints — config.json as the hub's GPT2Config dump (model_type
"gpt2"), pytorch_model.bin with keys under `model.`, lm_head.weight sharing the embedding's storage,
a "metrics" entry, rotary inv_freq buffers and transformer.decay.decay — in these variants:
  hub       based-360m/1b style names, f32;
  hub-shard the same, converted with a tiny --max-shard-size (index + shards);
  old-1.3b  based-1.3b style: BaseConvWithSiLU4 (mixer.conv1.conv.weight), linear_attn.LinearAttention
            (feature_name taylor_exp, num_key_value_heads), slide_fa2.SlidingsMHA;
  hub-bf16  the hub bin stored in bf16 (dtype kept), and the f32 bin converted with --dtype bfloat16;
  untied    tie_word_embeddings false: lm_head.weight written separately (compared within 1e-5);
converts each, runs subq-run --logits on the fixture and on every converted directory, and requires
bitwise-identical logits (bf16 variants against the fixture re-saved in bf16). Then checks that the
converter refuses broken input with a message naming the problem (a misshapen tensor, a missing
config key, an unexpected tensor, a tied head that differs from the embeddings).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURE = os.path.join(ROOT, "Tests", "Models", "based")
CONVERTER = os.path.join(ROOT, "tools", "convert_based_checkpoint.py")


def hub_state(tensors, old_names=False, dtype=None):
    s = {}
    for k, v in tensors.items():
        v = v.clone() if dtype is None else v.to(dtype)
        if old_names:
            k = k.replace(".mixer.conv.conv.", ".mixer.conv1.conv.")
        s["model." + k] = v
    emb = s["model.transformer.embeddings.word_embeddings.weight"]
    s["model.lm_head.weight"] = emb  # tied: the same tensor, as torch.save writes a tied model
    s["model.metrics.train_loss"] = torch.tensor(3.25)
    s["model.transformer.decay.decay"] = torch.ones(4, 8, 8)
    for i in json.load(open(os.path.join(FIXTURE, "config.json")))["alt_mixer_2_layers"]:
        s["model.transformer.layers.%d.mixer.rotary_emb.inv_freq" % i] = torch.ones(8)
    return s


def hub_config(old=False):
    c = json.load(open(os.path.join(FIXTURE, "config.json")))
    c["model_type"] = "gpt2"
    if old:
        c["mixer"] = {"_target_": "based.models.mixers.base_conv.BaseConvWithSiLU4", "expand_proj": 4,
                      "kernel_sizes": [3], "l_max": 2048, "use_bias": True}
        a = c["alt_mixer"]
        c["alt_mixer"] = {"_target_": "based.models.mixers.linear_attn.LinearAttention", "feature_dim": a["feature_dim"],
                          "feature_name": "taylor_exp", "l_max": 2048, "num_heads": a["num_heads"],
                          "num_key_value_heads": a["num_heads"], "train_view": "linear"}
        c["alt_mixer_2"] = {"_target_": "based.models.mixers.slide_fa2.SlidingsMHA",
                            "window_size": c["alt_mixer_2"]["window_size"]}
    return c


def make_hub(d, state, config):
    os.makedirs(d, exist_ok=True)
    torch.save(state, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copyfile(os.path.join(FIXTURE, "tokenizer.json"), os.path.join(d, "tokenizer.json"))


def convert(src, dst, *extra, expect_ok=True):
    r = subprocess.run([sys.executable, CONVERTER, src, dst, *extra], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise SystemExit("conversion of %s failed:\n%s%s" % (src, r.stdout, r.stderr))
    return r


def logits(subq_run, model, tokens, out):
    r = subprocess.run([subq_run, model, "--tokens", ",".join(map(str, tokens)), "--logits", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("subq-run on %s failed:\n%s%s" % (model, r.stdout, r.stderr))
    return np.load(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subq-run", default=os.path.join(ROOT, ".build", "release", "subq-run"))
    ap.add_argument("--keep", help="work in this directory and keep it")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="subq-based-conv-")
    os.makedirs(work, exist_ok=True)
    tensors = load_file(os.path.join(FIXTURE, "model.safetensors"))
    tokens = json.load(open(os.path.join(FIXTURE, "prompt.json")))["prompt"]
    failures = []
    checks = []

    def check(name, cond, msg):
        checks.append(name)
        print("%-28s %s  %s" % (name, "ok  " if cond else "FAIL", msg))
        if not cond:
            failures.append(name)

    ref = logits(args.subq_run, FIXTURE, tokens, os.path.join(work, "ref.npy"))
    golden = np.load(os.path.join(FIXTURE, "logits.npy"))
    err = float(np.abs(ref - golden).max() / np.abs(golden).max())
    check("fixture vs float64", err < 1e-4, "rel max err %.2e" % err)

    # bf16 reference: the fixture's tensors rounded to bf16 in SubQ's layout
    bf = os.path.join(work, "ref-bf16")
    os.makedirs(bf, exist_ok=True)
    save_file({k: v.to(torch.bfloat16) for k, v in tensors.items()}, os.path.join(bf, "model.safetensors"))
    for fn in ("config.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(FIXTURE, fn), os.path.join(bf, fn))
    ref_bf = logits(args.subq_run, bf, tokens, os.path.join(work, "ref-bf16.npy"))

    make_hub(os.path.join(work, "hub"), hub_state(tensors), hub_config())
    make_hub(os.path.join(work, "old"), hub_state(tensors, old_names=True), hub_config(old=True))
    make_hub(os.path.join(work, "hub-bf16"), hub_state(tensors, dtype=torch.bfloat16), hub_config())
    cases = [("hub", "hub", [], ref), ("hub-shard", "hub", ["--max-shard-size", "200KB"], ref),
             ("old-1.3b", "old", [], ref), ("hub-bf16 (kept)", "hub-bf16", [], ref_bf),
             ("hub --dtype bfloat16", "hub", ["--dtype", "bfloat16"], ref_bf)]
    for i, (name, src, extra, want) in enumerate(cases):
        dst = os.path.join(work, "out%d" % i)
        r = convert(os.path.join(work, src), dst, *extra)
        files = sorted(os.listdir(dst))
        got = logits(args.subq_run, dst, tokens, os.path.join(work, "out%d.npy" % i))
        same = got.shape == want.shape and np.array_equal(got.view(np.uint32), want.view(np.uint32))
        check(name, same, "bitwise %s; files %s" % ("equal" if same else "DIFFERENT (max %.3e)" % float(np.abs(got - want).max()),
                                                    ", ".join(f for f in files if f != "tokenizer.json")))
        if name == "hub-shard":
            check("hub-shard sharded", "model.safetensors.index.json" in files and "model.safetensors" not in files,
                  "index written")
        if name == "old-1.3b":
            c = json.load(open(os.path.join(dst, "config.json")))
            check("old-1.3b config", c["alt_mixer"]["_target_"].endswith("linear_attention.LinearAttention")
                  and "subq_converted_from" in c, "mixers rewritten, originals kept under subq_converted_from")
        print("    " + r.stdout.strip().replace("\n", "\n    "))

    # untied config: lm_head.weight (here sharing the embedding's storage) is written as its own
    # tensor and read through the head's own path, so compare within rounding, not bitwise
    c = hub_config()
    c["tie_word_embeddings"] = False
    make_hub(os.path.join(work, "untied"), hub_state(tensors), c)
    convert(os.path.join(work, "untied"), os.path.join(work, "out-untied"))
    st = load_file(os.path.join(work, "out-untied", "model.safetensors"))
    got = logits(args.subq_run, os.path.join(work, "out-untied"), tokens, os.path.join(work, "out-untied.npy"))
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    check("untied head", "lm_head.weight" in st and err < 1e-5, "lm_head.weight written; rel max diff %.2e" % err)

    # refusals, each naming the problem
    def refuse(name, state, config, needle):
        src = os.path.join(work, "bad-" + name)
        shutil.rmtree(src, ignore_errors=True)
        make_hub(src, state, config)
        r = convert(src, os.path.join(work, "bad-out-" + name), expect_ok=False)
        check("refuses " + name, r.returncode != 0 and needle in r.stderr, r.stderr.strip()[:150])

    s = hub_state(tensors)
    s["model.transformer.layers.1.mixer.proj_k.weight"] = s["model.transformer.layers.1.mixer.proj_k.weight"][:-1]
    refuse("shape", s, hub_config(), "transformer.layers.1.mixer.proj_k.weight")
    c = hub_config()
    del c["n_inner"]
    refuse("config-key", hub_state(tensors), c, "'n_inner'")
    s = hub_state(tensors)
    s["model.transformer.layers.1.mixer.g_norm.weight"] = torch.ones(16)
    refuse("unexpected", s, hub_config(), "transformer.layers.1.mixer.g_norm.weight")
    s = hub_state(tensors)
    s["model.lm_head.weight"] = s["model.lm_head.weight"] * 2
    refuse("untied-head", s, hub_config(), "lm_head.weight differs")
    c = hub_config(old=True)
    c["alt_mixer"]["num_key_value_heads"] = 2
    refuse("old-gqa", hub_state(tensors, old_names=True), c, "num_key_value_heads 2")
    s = hub_state(tensors)
    del s["model.transformer.ln_f.weight"]
    refuse("missing", s, hub_config(), "transformer.ln_f.weight")

    if not args.keep:
        shutil.rmtree(work)
    if failures:
        raise SystemExit("FAILED: " + ", ".join(failures))
    print("all %d checks passed" % len(checks))


if __name__ == "__main__":
    main()
