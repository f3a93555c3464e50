# A/B timing of subq_monarch_project_f64 between two builds of libsubq (alternating runs, medians):
#   python3 tools/monarch_project_ab.py OLD_BUILD_DIR NEW_BUILD_DIR   (run from bindings/python)
import sys, time, subprocess, statistics
code = r'''
import sys, time; sys.path.insert(0,'.')
import numpy as np
from subq.monarch import monarch_linear_shapes, monarch_project
o, n, nb = %d, %d, %d
M = np.random.default_rng(0).standard_normal((o, n))
a, b, ie, oe = monarch_linear_shapes(n, o, nb)
t = time.perf_counter(); w1, w2, r = monarch_project(M, *a, *b); print(time.perf_counter() - t)
'''
libs = {"old": sys.argv[1], "new": sys.argv[2]}
for shape in [(1408, 512, 4), (512, 1408, 4), (2816, 1024, 4)]:
    res = {k: [] for k in libs}
    for rnd in range(3):
        for k, lib in libs.items():
            out = subprocess.run([sys.executable, "-c", code % shape], env={"SUBQ_LIBRARY": lib, "PATH": "/usr/bin"}, capture_output=True, text=True)
            res[k].append(float(out.stdout.strip()))
    mo, mn = statistics.median(res["old"]), statistics.median(res["new"])
    print("out %d in %d blocks %d: old %.2f s, new %.2f s, old/new %.2fx" % (*shape, mo, mn, mo / mn), flush=True)
