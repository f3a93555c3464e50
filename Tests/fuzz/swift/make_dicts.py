#!/usr/bin/env python3
"""Writes the Swift harnesses' libFuzzer dictionaries (config.dict, tokenizer.dict, npy.dict) from
the string literals of the parser sources plus JSON edge values. Run from the repository root."""
import re

def esc(b):  # bytes -> a libFuzzer dictionary entry
    o = ""
    for c in b:
        if c == 0x5C: o += "\\\\"
        elif c == 0x22: o += '\\"'
        elif 0x20 <= c < 0x7F: o += chr(c)
        else: o += "\\x%02X" % c
    return '"' + o + '"'

def lits(files):
    out = set()
    for f in files:
        for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', open(f).read()):
            t = m.group(1)
            if "\\" in t or not t or len(t) > 40 or t.startswith(".") or " " in t: continue
            if re.fullmatch(r"[A-Za-z0-9_.<>|/#▁Ġ+-]+", t): out.add(t)
    return out

def write(path, keys, extra, head):
    lines = ["# " + head] + [esc(('"%s"' % t).encode()) for t in sorted(keys)]
    lines += [esc(x if isinstance(x, bytes) else x.encode()) for x in extra]
    open(path, "w").write("\n".join(lines) + "\n")

edge = ["null", "true", "false", "0", "-1", "-0", "1e308", "-1e308", "1e-320", "4611686018427387904",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "2147483647", "2147483648",
        "4294967296", "16777216", "1.5", "[]", "{}", '""', "[0]", "Infinity", "-Infinity", "NaN",
        '{"__float__": "Infinity"}', "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u0001subq-inf"]
head = ("libFuzzer dictionary: quoted string literals of the parser sources (keys, type names) and JSON "
        "edge values (Tests/fuzz/swift/make_dicts.py)")
M, T = "Sources/SubQ/Model/", "Sources/SubQ/Tokenizer/"
write("Tests/fuzz/swift/config.dict",
      lits([M + "ModelConfig.swift", M + "BasedConfig.swift", M + "JSONValue.swift"]), edge, head)
write("Tests/fuzz/swift/tokenizer.dict",
      lits([T + "Tokenizer.swift", T + "Components.swift", T + "BPE.swift"]),
      edge + ["\\\\p{L}", "\\\\p{N}", "\\\\s", "(?!\\\\S)", "(?i:", "+", "*", "{1,3}", "|", "[^", b"\x00", b"\x80",
              b"\xff", "▁", "Ġ", "<0x41>", "\\u2581"], head)
write("Tests/fuzz/swift/npy.dict", [],
      [b"\x93NUMPY", b"\x01\x00", b"\x02\x00", b"\x03\x00", "'descr': '<f4'", "'fortran_order': False",
       "'fortran_order': True", "'shape': (", ")", ",)", ", ", "4611686018427387904", "9223372036854775807", "-1",
       "0", "2305843009213693952", "(0,)", "()", "{", "}"],
      "libFuzzer dictionary for .npy headers (Tests/fuzz/swift/make_dicts.py)")
