#!/usr/bin/env python3
"""CPython's subprocess.run(['/bin/echo', 'hi'], stdout=PIPE): the counterpart
of //mp:subprocess_benchmark's BM_Run_EchoCaptured. Prints one JSON line with
the median of 5 repetitions, in microseconds per call."""
import json
import statistics
import subprocess
import time


def rep(n):
    t = time.perf_counter()
    for _ in range(n):
        r = subprocess.run(['/bin/echo', 'hi'], stdout=subprocess.PIPE)
        assert r.stdout == b'hi\n'
    return (time.perf_counter() - t) / n * 1e6


rep(20)  # Warm up.
print(json.dumps({"figure": "subprocess_run_echo_captured",
                  "value": round(statistics.median(rep(300) for _ in range(5)), 1),
                  "unit": "us"}))
