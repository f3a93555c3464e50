#!/usr/bin/env python3
"""Writes the small hand-made seeds of the Swift harnesses into seeds/ (committed; rerun after edits).
The committed fixtures (Tests/Models/*, Tests/SubQTests/Fixtures/tokenizers/*.json) are seeds too,
passed to the fuzzers as extra corpus directories (see Tests/fuzz/README.md)."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def out(kind, name, data):
    with open(os.path.join(HERE, "seeds", kind, name), "wb") as f:
        f.write(data)

# ---- tokenizer.json: json NUL text NUL ids (Int16 LE) ----
def tok(name, doc, text, ids):
    js = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    out("tokenizer", name, js + b"\0" + text.encode() + b"\0" + b"".join(struct.pack("<h", i) for i in ids))

letters = "abcdefghijklmnopqrstuvwxyz"
def vocab(extra=(), prefix=""):
    v = {}
    for t in list(extra) + [prefix + c for c in letters]:
        v.setdefault(t, len(v))
    return v

def added(i, content, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": i, "content": content, "special": special, "normalized": normalized,
            "lstrip": lstrip, "rstrip": rstrip, "single_word": single_word}

# Byte-level BPE (GPT-2 style) with the GPT-2 regex scanner.
bl = "ĠĊ" + letters
v = {c: i for i, c in enumerate(bl)}
for t in ["Ġa", "ab", "Ġab", "he", "ll", "hell", "hello"]:
    v[t] = len(v)
merges = ["Ġ a", "a b", "Ġa b", "h e", "l l", "he ll", "hell o"]
tok("bytelevel", {
    "version": "1.0", "added_tokens": [added(len(v), "<|endoftext|>")],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": v, "merges": merges}},
    "hello abab<|endoftext|> é 12'll", [0, 5, 40, -1, 32767, -32768])

# SentencePiece-style BPE: Prepend + Replace, byte fallback, unk, fuse_unk, template.
sp = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in (0x41, 0xC3, 0xA9, 0xE2, 0x96, 0x81)] + ["▁"]
v = vocab(sp)
for t in ["▁a", "▁ab", "ab"]:
    v[t] = len(v)
tok("sentencepiece", {
    "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
              "vocab": v, "merges": [["▁", "a"], ["▁a", "b"], ["a", "b"]]}},
    "ab A é ZZ<s>x", [1, 3, 4, 5, 6, 9, 10, 0, 2])

# Metaspace pre-tokenizer and decoder, added tokens with lstrip / rstrip / single_word.
v = vocab(["<unk>", "▁"])
v["▁a"] = len(v)
tok("metaspace", {
    "added_tokens": [added(len(v), "<mask>", lstrip=True), added(len(v) + 1, "end", special=False, normalized=True,
                                                                  rstrip=True, single_word=True)],
    "normalizer": {"type": "Lowercase"},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
    "model": {"type": "BPE", "unk_token": "<unk>", "vocab": v, "merges": ["▁ a"]}},
    "A b  <mask> end, bend end  x", [0, 1, 2, len(v), len(v) + 1])

# Split (regex, string), WhitespaceSplit, Strip, affixes, BPEDecoder, Roberta.
v = {}
for c in letters:
    v[c] = len(v); v["##" + c] = len(v); v[c + "</w>"] = len(v); v["##" + c + "</w>"] = len(v)
v["ab"] = len(v); v["ab</w>"] = len(v)
tok("split", {
    "added_tokens": [added(len(v), "<s>"), added(len(v) + 1, "</s>")],
    "normalizer": {"type": "Strip", "strip_left": True, "strip_right": True},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Split", "pattern": {"Regex": "[0-9]+|\\p{P}"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "(a|b)+c"}, "behavior": "Contiguous", "invert": True}]},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", len(v) + 1], "cls": ["<s>", len(v)],
                       "trim_offsets": True, "add_prefix_space": False},
    "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
    "model": {"type": "BPE", "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>",
              "vocab": v, "merges": ["a ##b</w>"]}},
    "  ab-c, 123 abcab-  ", [0, 1, 4, 104, 105])

# Llama-3 Split regex (the hand scanner) with ByteLevel use_regex false; Bert post-processor.
v = {c: i for i, c in enumerate(bl)}
llama3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
          "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
tok("llama3split", {
    "added_tokens": [added(len(v), "<|begin_of_text|>")],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "BertProcessing", "sep": ["</s>", 1], "cls": ["<s>", len(v)]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": v, "merges": []}},
    "I'LL 12345\r\n\n  x ?!\n", [0, 1, 2, len(v)])

# ---- .npy ----
def npy(name, shape, values, version=1, descr="<f4", fortran=False, pad=True):
    dims = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", dims)
    hl = 4 if version >= 2 else 2
    if pad:
        h += " " * ((64 - (8 + hl + len(h) + 1) % 64) % 64)
    h += "\n"
    head = b"\x93NUMPY" + bytes([version, 0]) + (struct.pack("<I", len(h)) if hl == 4 else struct.pack("<H", len(h)))
    out("npy", name, head + h.encode() + struct.pack("<%df" % len(values), *values))

npy("v1_2x3", [2, 3], [0, 1, -1, 1e30, float("inf"), float("nan")])
npy("v2_4", [4], [1, 2, 3, 4], version=2)
npy("scalar", [], [3.5])
npy("empty", [0, 5], [])
npy("v3_1x1x1", [1, 1, 1], [7], version=3, pad=False)

# ---- config.json: the committed checkpoints' configs are the main seeds; a few extra forms ----
def cfg(name, d):
    out("config", name, json.dumps(d).encode())
base = {"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 128,
        "vocab_size": 300, "max_position_embeddings": 256}
cfg("llama_longrope", dict(base, model_type="llama", head_dim=16, rope_scaling={
    "rope_type": "longrope", "short_factor": [1.0] * 8, "long_factor": [2.0] * 8, "factor": 4.0,
    "original_max_position_embeddings": 64}))
cfg("llama_dynamic", dict(base, model_type="llama", rope_parameters={"rope_type": "dynamic", "factor": 2.0,
                                                                      "rope_theta": 500000.0}))
cfg("llama3_scaling", dict(base, model_type="llama", rope_scaling={"rope_type": "llama3", "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}))
cfg("mistral_linear", dict(base, model_type="mistral", sliding_window=16, num_key_value_heads=2,
                           rope_scaling={"type": "linear", "factor": 2.0}, eos_token_id=[1, 2]))
with open(os.path.join(HERE, "seeds", "config", "nonfinite"), "wb") as f:
    f.write(b'{"model_type": "mamba2", "hidden_size": 64, "num_heads": 2, "n_groups": 1, "num_hidden_layers": 1, '
            b'"time_step_limit": [0.0, Infinity], "layer_norm_epsilon": NaN, "x": -Infinity, '
            b'"y": {"__float__": "Infinity"}, "s": "Infinity\\"NaN"}')
