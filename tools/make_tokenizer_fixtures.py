#!/usr/bin/env python3
"""Builds the tokenizer fixtures of Tests/SubQTests/Fixtures/tokenizers/ (run by hand, not by CI).

Trains small BPE tokenizers with the Hugging Face `tokenizers` library, each reproducing the
pipeline of a real model family (the configuration the family's tokenizer.json carries), saves
them as tokenizer.json and records what `tokenizers` returns for a varied text set: ids with and
without special tokens, decodes with and without skipping special tokens, and DecodeStream chunks.
The Swift tests (TokenizerTests.swift) must reproduce every value exactly.

    python3 -m venv .venv-tok && .venv-tok/bin/pip install tokenizers
    .venv-tok/bin/python tools/make_tokenizer_fixtures.py

Nothing is downloaded: the vocabularies are trained here on the text below.
"""

import json
import os
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.decoders import DecodeStream
from tokenizers.trainers import BpeTrainer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SubQTests", "Fixtures", "tokenizers")

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife.",
    "I'm sure you'll agree we've done what they'd asked; don't you think so? WE'RE HERE, THEY'LL SEE, I'D SAY.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 1234 98765 3.14159 2,718,281 1e-9 0xFF 2026-11-23 12:34:56",
    "Whitespace   runs\tand\ttabs\n\nnew lines\r\nwindows lines    trailing   \n  indented code:\n    def f(x):\n        return x + 1\n",
    "Punctuation!!! ... ??? (parentheses) [brackets] {braces} <angles> \"quotes\" 'single' -- dashes — em – en; semi: colon",
    "Café déjà vu, naïve résumé, über Größe, señor niño, façade, Ærø, Łódź, Škoda, İstanbul, ça va? Ça va!",
    "Émile Zola écrit: «Je accuse». Ñandú. Ångström. Øresund. Œuvre.",
    "日本語のテキストです。東京は大きな都市です。中文文本：你好，世界！한국어 텍스트입니다.",
    "Emoji: 😀 😃 🎉 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
    "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 — precomposed: é ä ñ ộ",
    "Greek: Αλφα βήτα γάμμα δέλτα. Cyrillic: Привет, как дела? Arabic: مرحبا بالعالم. Hebrew: שלום.",
    "Math: x² + y² = z², ∑ᵢ aᵢ ≤ ∞, α→β, ½ ¾ ⅓, ①②③, Ⅻ",
    "Code: for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; } // comment\nif x != y && z >= 0: print(f\"{x=}\")",
    "URLs: https://example.com/path?query=1&b=2#frag user@example.org C:\\Windows\\System32",
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you",
    "hello world hello world hello there general kenobi hello again world peace world order",
]

TEST_TEXTS = [
    "",
    " ",
    "   ",
    "\n",
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "trailing spaces   ",
    "a  b   c    d     e",
    "The year 2026 has 365 days; 1234567890 and 3.14159265358979 are numbers.",
    "12345678901234567890",
    "x1y22z333w4444",
    "line one\nline two\n\nline four\r\nwindows\r\n\r\n",
    "tabs\tand\t\tdouble tabs\t",
    " \n \n\n  \t \r\n x",
    "I'm it's you're we've they'll she'd don't",
    "I'M IT'S YOU'RE WE'VE THEY'LL SHE'D DON'T",
    "Mixed 'S and 'Re and 'vE and 'lL and 'quote' 'x",
    "rock'n'roll o'clock ''double'' '",
    "Long s: it'ſt x'ſſ x'St; Kelvin x'\u212ax",
    "Punctuation!!! ... ??? (x) [y] {z} <w> -- — –;:",
    "Café déjà vu, naïve résumé, über Größe, señor niño",
    "İstanbul ǅemal ﬁne ﬀ",
    "日本語のテキストです。你好，世界！",
    "한국어 텍스트입니다",
    "Emoji 😀🎉 👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 heart ❤️",
    "Combining e\u0301 a\u0308 n\u0303 vs é ä ñ; Å vs A\u030a",
    "Greek Αλφα, Cyrillic Привет, Arabic مرحبا, Hebrew שלום",
    "Math x² ∑ᵢ ≤ ∞ ½ ①",
    "Unseen chars: ☃ ♞ ⚡ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000\u0001\u007f \u00a0nbsp \u2003emsp \u3000ideographic \u2028ls \u0085nel",
    "zero\u200bwidth and\ufeffbom and\u200djoiner",
    "<s>Hello</s>",
    "<s> Hello </s>",
    "Hello <s> world </s> again",
    "<|begin_of_text|>Hello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
    "<|endoftext|>start and end<|endoftext|>",
    "text <mask> more <mask>text<mask>",
    "a   <mask>   b\t<mask>\n\nc <mask>",
    "hello world; xhello world, hello world_, a\u0301hello world, hello world1, (hello world)",
    "almost special <s <|endoftext| </s> <|eot_id|",
    "The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged.",
    "    def f(x):\n        return x + 1\n",
    "hello world, helloworld, worldhello, zebra Zebrafish quokka quokkas",
    "\u2581already\u2581metaspace \u2581 x",
    "<0x41> looks like a byte token",
]
# Long texts: one pre-token of several hundred bytes for the SentencePiece pipelines (no pre-tokenizer).
TEST_TEXTS.append(" ".join(TRAIN_TEXT[:8]))
TEST_TEXTS.append("  ".join(t for t in TEST_TEXTS[4:34] if "<" not in t) * 2)

SPECIALS_SP = ["<unk>", "<s>", "</s>"]


def trainer(vocab_size, specials, **kw):
    return BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False, **kw)


def vocab_merges(tok):
    """The trained model's vocab and merges, read back from its JSON."""
    m = json.loads(tok.to_str())["model"]
    merges = [tuple(x) if isinstance(x, list) else tuple(x.split(" ")) for x in m["merges"]]
    return m["vocab"], merges


def train_bytelevel(normalizer, pre_tok, specials, vocab_size):
    t = Tokenizer(models.BPE())
    if normalizer is not None:
        t.normalizer = normalizer
    t.pre_tokenizer = pre_tok
    t.train_from_iterator(
        TRAIN_TEXT * 3, trainer(vocab_size, specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    )
    return t


def add_unreachable(tok, words):
    """Adds whole-word vocab entries that no merge sequence produces (exercises ignore_merges)."""
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    nxt = max(max(vocab.values()), max(a["id"] for a in d["added_tokens"]) if d["added_tokens"] else 0) + 1
    for w in words:
        if w not in vocab:
            vocab[w] = nxt
            nxt += 1
    return Tokenizer.from_str(json.dumps(d))


def gpt2():
    t = train_bytelevel(None, pre_tokenizers.ByteLevel(add_prefix_space=False), ["<|endoftext|>"], 800)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=True)
    t.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)])
    t = add_unreachable(t, ["Ġzebra", "Ġquokka"])  # never used: GPT-2 has no ignore_merges
    return t


def roberta_like():
    # ByteLevel with add_prefix_space, the Roberta/BART pre-tokenizer; merges saved in the old "a b" format.
    t = train_bytelevel(None, pre_tokenizers.ByteLevel(add_prefix_space=True), ["<s>", "<pad>", "</s>", "<unk>"], 700)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.RobertaProcessing(("</s>", t.token_to_id("</s>")), ("<s>", t.token_to_id("<s>")))
    t.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, special=True, normalized=False)])
    t.add_tokens([AddedToken("hello world", single_word=True, normalized=True)])
    return t


def neox():
    t = train_bytelevel(
        normalizers.NFC(), pre_tokenizers.ByteLevel(add_prefix_space=False), ["<|endoftext|>", "<|padding|>"], 1000
    )
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=True)
    # GPT-NeoX adds whitespace runs as normalized, non-special added tokens.
    t.add_tokens([AddedToken(" " * n, normalized=True) for n in (2, 4, 8)] + [AddedToken("\t\t", normalized=True)])
    return t


def llama3():
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    t = train_bytelevel(None, pre, specials, 1200)
    v, m = vocab_merges(t)
    bpe = models.BPE(vocab=v, merges=m, ignore_merges=True)
    u = Tokenizer(bpe)
    u.pre_tokenizer = pre
    u.decoder = decoders.ByteLevel()
    u.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    u.add_special_tokens([AddedToken("<|reserved_special_token_0|>", special=True, normalized=False)])
    bos = u.token_to_id("<|begin_of_text|>")
    u.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1",
                special_tokens=[("<|begin_of_text|>", bos)],
            ),
        ]
    )
    return add_unreachable(u, ["Ġzebra", "Ġquokka", "helloworld", "worldhello"])


def train_sp(vocab_size, limit_alphabet):
    """SentencePiece-like BPE: pieces never cross a ▁ boundary; returns (vocab, merges) of the learned pieces."""
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    t.train_from_iterator(TRAIN_TEXT * 3, trainer(vocab_size, [], limit_alphabet=limit_alphabet))
    return vocab_merges(t)


def sp_vocab(byte_tokens, limit_alphabet=60, vocab_size=700):
    """Llama-2 layout: <unk>=0, <s>=1, </s>=2, then <0x00>..<0xFF>, then the learned pieces."""
    learned, merges = train_sp(vocab_size, limit_alphabet)
    vocab = {s: i for i, s in enumerate(SPECIALS_SP)}
    if byte_tokens:
        for b in range(256):
            vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(learned.items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    return vocab, merges


def sp_common(t):
    t.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS_SP])
    t.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", t.token_to_id("<s>"))]
    )
    return t


def llama2():
    vocab, merges = sp_vocab(byte_tokens=True)
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    t.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return sp_common(t)


def mistral():
    vocab, merges = sp_vocab(byte_tokens=True, limit_alphabet=70, vocab_size=800)
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    t.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return sp_common(t)


def metaspace_split():
    # Older Metaspace layout (prepend always, split on ▁) with the Metaspace decoder.
    vocab, merges = sp_vocab(byte_tokens=True)
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    t.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="always")])
    return sp_common(t)


def sp_unk():
    # No byte fallback: unknown characters become <unk>, fused.
    vocab, merges = sp_vocab(byte_tokens=False)
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=False, fuse_unk=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    return sp_common(t)


def bpe_affix():
    # OpenAI-GPT/CLIP-like word BPE: end_of_word_suffix, lowercasing and stripping normalizers,
    # WhitespaceSplit, the BPEDecoder and BERT's post-processor.
    norm = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase(), normalizers.Strip()])
    t = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    t.normalizer = norm
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    t.train_from_iterator(
        TRAIN_TEXT * 3, trainer(600, ["<unk>", "[CLS]", "[SEP]"], end_of_word_suffix="</w>", limit_alphabet=80)
    )
    t.decoder = decoders.BPEDecoder(suffix="</w>")
    t.post_processor = processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")), ("[CLS]", t.token_to_id("[CLS]")))
    return t


def split_behaviors():
    # Every Split behavior, String and Regex patterns, invert, and a continuing_subword_prefix; no decoder.
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(" ", behavior="merged_with_next"),
            pre_tokenizers.Split(Regex("[0-9]"), behavior="contiguous"),
            pre_tokenizers.Split("-", behavior="merged_with_previous"),
            pre_tokenizers.Split(Regex("[.,;:!?]"), behavior="removed"),
            pre_tokenizers.Split(Regex("[a-z]+"), behavior="isolated", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    t = Tokenizer(models.BPE(continuing_subword_prefix="##"))
    t.pre_tokenizer = pre
    t.train_from_iterator(
        TRAIN_TEXT * 3,
        trainer(700, ["<|sep|>"], continuing_subword_prefix="##", initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    return t


def to_string_merges(js):
    """Rewrites the merges in the old "a b" string format (tokenizers < 0.20 wrote them so)."""
    d = json.loads(js)
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    return json.dumps(d, ensure_ascii=False, indent=2)


def stream_chunks(tok, ids, skip):
    ds = DecodeStream(skip_special_tokens=skip)
    return [ds.step(tok, i) for i in ids]


def record(name, tok, string_merges=False):
    js = tok.to_str(pretty=True)
    if string_merges:
        js = to_string_merges(js)
    tok = Tokenizer.from_str(js)  # what we record is what the saved file gives
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        f.write(js)
    cases = []
    for text in TEST_TEXTS:
        with_special = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        cases.append(
            {
                "text": text,
                "ids": plain,
                "ids_special": with_special,
                "decode": tok.decode(with_special, skip_special_tokens=False),
                "decode_skip": tok.decode(with_special, skip_special_tokens=True),
                "stream": stream_chunks(tok, with_special, False),
            }
        )
    # Decodes of arbitrary id runs (partial UTF-8, byte tokens alone, unknown ids are skipped).
    n = tok.get_vocab_size(with_added_tokens=True)
    id_runs = [[i] for i in range(0, n, 7)] + [list(range(s, min(s + 13, n))) for s in range(0, n, 97)]
    id_runs.append([n + 5, 0, n + 100])
    decodes = [{"ids": r, "text": tok.decode(r, skip_special_tokens=False)} for r in id_runs]
    with open(os.path.join(OUT, name + ".expected.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": tokenizers.__version__, "cases": cases, "decodes": decodes}, f,
                  ensure_ascii=False)
    print(f"{name}: vocab {n}, {sum(len(c['ids']) for c in cases)} test ids")


def main():
    os.makedirs(OUT, exist_ok=True)
    record("gpt2", gpt2())
    record("roberta", roberta_like(), string_merges=True)
    record("neox", neox())
    record("llama3", llama3())
    record("llama2", llama2())
    record("mistral", mistral())
    record("metaspace_split", metaspace_split(), string_merges=True)
    record("sp_unk", sp_unk())
    record("bpe_affix", bpe_affix())
    record("split_behaviors", split_behaviors())


if __name__ == "__main__":
    sys.exit(main())
