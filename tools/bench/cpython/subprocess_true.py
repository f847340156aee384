#!/usr/bin/env python3
"""CPython's subprocess.run(['/bin/true']): the counterpart of
//mp:subprocess_benchmark's BM_Run_True. Prints one JSON line with the median
of 5 repetitions, in microseconds per call."""
import json
import statistics
import subprocess
import time


def rep(n):
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(['/bin/true'])
    return (time.perf_counter() - t) / n * 1e6


rep(20)  # Warm up.
print(json.dumps({"figure": "subprocess_run_true",
                  "value": round(statistics.median(rep(300) for _ in range(5)), 1),
                  "unit": "us"}))
