#!/usr/bin/env python3
"""Table of an attention_side_by_side.sh log: per (case, threads), the median over rounds of PyTorch SDPA's and
SubQ's per-round medians and their ratio (torch / SubQ > 1: SubQ faster). Only the f32 cases both sides run
(subq-bench's 16-bit and KV-cache cases have no peer here).

    python3 Bench/peers/attention_side_by_side.py LOG
"""
import sys, json, statistics, collections
rows = collections.defaultdict(list)  # (side, problem, thr) -> [ms]
rnd = None; buf = None
for line in open(sys.argv[1]):
    s = line.strip()
    if s.startswith('round'):
        rnd = s; continue
    if buf is not None:
        buf.append(s)
        if s == ']':
            for x in json.loads('\n'.join(buf)):
                if x.get('status', 'ok') == 'ok' and x['problem'].endswith(('causal', ':f32')) and 'cache' not in x['problem']:
                    rows[('subq', x['problem'], x['threads'])].append(x['ms_median'])
            buf = None
        continue
    if s == '[':
        buf = [s]; continue
    if s.startswith('[{'):
        for x in json.loads(s):
            rows[('torch', x['problem'], x['threads'])].append(x['ms_median'])
probs = sorted({(p, t) for (_, p, t) in rows})
for p, t in probs:
    # decode-repeat (transformers' repeat_kv copy) is compared with SubQ's one decode
    tt = rows.get(('torch', p, t), []); ss = rows.get(('subq', p.replace('decode-repeat', 'decode'), t), [])
    if not tt: 
        continue
    mt = statistics.median(tt); ms = statistics.median(ss) if ss else float('nan')
    print(f"{p:50s} thr {t}  torch {mt:9.2f} ms {[round(v,1) for v in tt]}  subq {ms:9.2f} ms {[round(v,1) for v in ss]}  torch/subq {mt/ms:5.2f}x")
