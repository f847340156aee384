#!/usr/bin/env python3
"""CPython's subprocess.run(['/bin/true']): the counterpart of //mp:subprocess_benchmark's
BM_Run_True.

Prints one JSON line {"figure", "value", "unit"}: the median over 5
repetitions of the mean time per call in microseconds (--quick: 1 short
repetition). tools/bench runs it for the figure subprocess_run_true.
"""
import json
import statistics
import subprocess
import sys
import time


def rep(n):
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(['/bin/true'])
    return (time.perf_counter() - start) / n * 1e6


def main():
    quick = "--quick" in sys.argv[1:]
    reps, n = (1, 5) if quick else (5, 300)
    rep(3 if quick else 20)  # Warm up.
    value = statistics.median(rep(n) for _ in range(reps))
    print(json.dumps({"figure": "subprocess_run_true", "value": round(value, 1), "unit": "us"}))


if __name__ == "__main__":
    main()
