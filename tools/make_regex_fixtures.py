#!/usr/bin/env python3
"""Builds Tests/SubQTests/Fixtures/tokenizers/split_regex.expected.json (run by hand, not by CI).

For each Split pattern below (the families' pre-tokenizer regexes and patterns that exercise one
construct each of LinearRegex's syntax), every behavior (and invert for some), and a text set, it
records the pieces the Hugging Face `tokenizers` library (Oniguruma) returns. TokenizerRegexTests
must reproduce every piece.

    python3 -m venv .venv-tok && .venv-tok/bin/pip install tokenizers
    .venv-tok/bin/python tools/make_regex_fixtures.py
"""

import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import Regex, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import LLAMA3_PATTERN, TEST_TEXTS  # noqa: E402

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SubQTests", "Fixtures", "tokenizers",
    "split_regex.expected.json")

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN2 = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")
O200K = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# DeepSeek-V3's Sequence of Splits (its pre_tokenizer), one pattern each.
DEEPSEEK = [
    r"\p{N}{1,3}",
    r"[一-龥\u3040-ゟ゠-ヿ]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
]

# (pattern, behaviors): every construct of LinearRegex's syntax at least once.
PATTERNS = [
    (GPT2, ["isolated"]),
    (LLAMA3_PATTERN, ["isolated"]),
    (QWEN2, ["isolated"]),
    (O200K, ["isolated", "removed"]),
] + [(p, ["isolated"]) for p in DEEPSEEK] + [
    (r"\d", ["isolated", "removed", "merged_with_previous", "merged_with_next", "contiguous"]),
    (r"x*", ["isolated", "removed", "merged_with_previous", "merged_with_next", "contiguous"]),
    (r"\b", ["isolated", "merged_with_next"]),
    (r"(a+)+$", ["isolated"]),
    (r"(?:ab|a)(?:bc|c)?", ["isolated"]),
    (r"(?i)hello|WORLD|ǅemal|(?-i:ÉTÉ)", ["isolated"]),
    (r"(?i:[a-f]+)x|K", ["isolated"]),
    (r"\bfoo\b|\Bo\B", ["isolated"]),
    (r"^\s+|\s+$", ["isolated", "removed"]),
    (r"\A\s+|\s+\z|x\Z", ["isolated"]),
    (r"x*?y|a+?", ["isolated"]),
    (r"a{2,3}?|b{2}|c{,2}|d{2,}|e{1}+", ["isolated"]),
    (r"[^\p{L}\p{N}\s]+", ["isolated", "removed"]),
    (r"\h+|\H", ["isolated"]),
    (r"(?<=\s)\w+|(?<!a)b", ["isolated"]),
    (r"\w+(?=\s)|\d(?!\d)", ["isolated"]),
    (r"\p{Alpha}+|\p{Emoji}+|\p{Punct}+", ["isolated", "removed"]),
    (r"\p{Upper}\p{Lower}*|\p{Cntrl}|\p{Blank}+|\p{XDigit}{2}|\p{Alnum}", ["isolated", "removed"]),
    (r"\p{Graph}+|\p{^Print}", ["isolated", "removed"]),
    (r"\p{ASCII}+|\p{Word}|\p{Digit}|\p{Space}", ["isolated", "removed"]),
    (r"(?m).+|\n", ["isolated"]),
    (r".+", ["isolated"]),
    (r"\u00e9|\x{1F600}|\x41|\t", ["isolated"]),
    (r"[a-c-]+|[-x]|[]y]|[\]z]", ["isolated"]),
    (r"\p{^L}+|\P{N}\p{N}", ["isolated"]),
    (r"\p{Lu}\p{Ll}*|\p{Punctuation}|\p{S}", ["isolated"]),
    (r"\s*\n|\S+", ["isolated", "merged_with_previous"]),
    (r"(|a)+b|(?#comment)c", ["isolated"]),
    (r"(?<word>\w)\w*|(?'p'\p{P})", ["isolated"]),
    (r"(?i)k|s|σ", ["isolated"]),
    (r"(?i:[^a-z])+", ["isolated"]),
    (r"[\s\d]+|[\W]", ["isolated"]),
    (r"(?-i:a)(?i)b|(?i-m:.)c", ["isolated"]),
    (r"é|e\u0301|\p{M}", ["isolated"]),
]

# Single-scalar classes whose membership is recorded over U+0000..U+1FFFF.
CLASSES = [
    r"\w", r"[\w]", r"\W", r"[\W]", r"\d", r"\D", r"\s", r"\S", r"\h", r"\H", r".", r"(?m:.)",
    r"\p{L}", r"\p{Lu}", r"\p{Ll}", r"\p{Lt}", r"\p{Lm}", r"\p{Lo}", r"\p{LC}", r"\p{M}", r"\p{Mn}", r"\p{Mc}",
    r"\p{Me}", r"\p{N}", r"\p{Nd}", r"\p{Nl}", r"\p{No}", r"\p{P}", r"\p{Pc}", r"\p{Pd}", r"\p{Ps}", r"\p{Pe}",
    r"\p{Pi}", r"\p{Pf}", r"\p{Po}", r"\p{S}", r"\p{Sm}", r"\p{Sc}", r"\p{Sk}", r"\p{So}", r"\p{Z}", r"\p{Zs}",
    r"\p{Zl}", r"\p{Zp}", r"\p{C}", r"\p{Cc}", r"\p{Cf}", r"\p{Co}", r"\p{Letter}", r"\p{Decimal_Number}",
    r"\P{L}", r"\p{^N}", r"[^\p{L}\p{N}]", r"[\p{L}\p{N}\s]", r"\p{Alpha}", r"\p{Upper}", r"\p{Lower}",
    r"\p{Emoji}", r"\p{Alnum}", r"\p{Punct}", r"\p{Cntrl}", r"\p{Blank}", r"\p{XDigit}", r"\p{ASCII}",
    r"\p{Graph}", r"\p{Print}", r"\p{Word}", r"[\p{Word}]", r"\P{Word}", r"\p{Digit}", r"\p{Space}",
    r"(?i)[a-z]", r"(?i)[^a-z]", r"(?i)k", r"(?i)σ", r"(?i)[\p{Lu}]", r"(?i)\p{Ll}", r"(?i)[à-þ]", r"(?i)ǅ",
    r"[\x{100}-\x{17F}\t-\r]", r"[^\x00-\x7F]",
]
LIMIT = 0x20000


def ranges(flags):
    """[a0, b0, a1, b1, ...]: the inclusive runs of True in flags."""
    out = []
    v = 0
    while v < len(flags):
        if flags[v]:
            w = v
            while w + 1 < len(flags) and flags[w + 1]:
                w += 1
            out += [v, w]
            v = w + 1
        else:
            v += 1
    return out


def class_members(pattern):
    """Which scalars below LIMIT (surrogates excluded) Oniguruma's `pattern` matches on its own."""
    chars = [c for c in range(LIMIT) if not 0xD800 <= c < 0xE000]
    text = "".join(map(chr, chars))
    flags = [False] * LIMIT
    for c in chars:
        flags[c] = True
    for _, (a, b) in pre_tokenizers.Split(Regex(pattern), "removed").pre_tokenize_str(text):
        for k in range(a, b):
            flags[chars[k]] = False
    return ranges(flags)


ALPHABET = list("aAbBcxyzK 1279\t\n\r'!.-_/") + [
    "é", "É", "ſ", "\u212a", "ß", "σ", "ς", "Σ", "٣", "½", "\u3000", "\u00a0", "\u0301", "日", "本", "カ", "ひ",
    "한", "Ω", "ж", "م", "😀", "𝔘", "\u200b", "\u0085",
]


def random_texts(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randrange(0, 20)
        out.append("".join(rng.choice(ALPHABET) for _ in range(length)))
    return out


def pieces(split, text):
    """The pieces, or None where Oniguruma gives up (its retry limit: `(a+)+$` on a long run of a's)."""
    try:
        return [piece for piece, _ in split.pre_tokenize_str(text)]
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if "retry-limit" not in str(e):
            raise
        return None


def main():
    texts = [t for t in TEST_TEXTS if len(t) < 400] + [
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "aaaa", "abc abcx", "foo foo. xfoo fooo oo",
        "hello HELLO HeLLo world STRASSE straße", "ff00 Kk ſs", "  x  \n  y  \n", "x\n", "\n\nx\n\n",
    ] + random_texts(80, 7)
    cases = []
    for pattern, behaviors in PATTERNS:
        for behavior in behaviors:
            for invert in (False, True) if behavior == "isolated" and len(cases) % 3 == 0 else (False,):
                split = pre_tokenizers.Split(Regex(pattern), behavior, invert=invert)
                results = [pieces(split, t) for t in texts]
                cases.append({"pattern": pattern, "behavior": behavior, "invert": invert, "pieces": results})
    # Membership is compared where this Python's Unicode (older than Oniguruma's and Swift's) has the
    # scalar assigned, so a scalar assigned since then does not count as a difference.
    assigned = ranges([unicodedata.category(chr(v)) != "Cn" for v in range(LIMIT)])
    classes = [{"pattern": p, "members": class_members(p)} for p in CLASSES]
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"tokenizers": tokenizers.__version__, "unicode": unicodedata.unidata_version, "texts": texts,
                   "cases": cases, "assigned": assigned, "classes": classes}, f, ensure_ascii=False,
                  separators=(",", ":"))
        f.write("\n")
    print(f"{len(cases)} cases x {len(texts)} texts -> {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    sys.exit(main())
