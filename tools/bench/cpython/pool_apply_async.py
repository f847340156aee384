#!/usr/bin/env python3
"""CPython's Pool(4).apply_async of x+1: 100k tasks, all results collected.

Prints one JSON line: the median rate over 5 runs, in tasks per second.
The C++ counterpart is BM_PoolApplyAsync in //mp:pool_benchmark.
"""
import json
import statistics
import time
from multiprocessing import get_context

TASKS = 100_000


def inc(x):
    return x + 1


def main():
    with get_context("fork").Pool(4) as pool:
        pool.map(inc, range(1000))  # Warm up: every worker has started.
        rates = []
        for _ in range(5):
            start = time.perf_counter()
            results = [pool.apply_async(inc, (i,)) for i in range(TASKS)]
            total = sum(r.get() for r in results)
            elapsed = time.perf_counter() - start
            assert total == TASKS * (TASKS + 1) // 2
            rates.append(TASKS / elapsed)
    print(json.dumps({"figure": "pool_apply_async", "value": round(statistics.median(rates)), "unit": "per_s"}))


if __name__ == "__main__":
    main()
