#!/usr/bin/env python3
"""CPython's Pool(4).map of x+1 over 1M ints with the default chunksize.

Prints one JSON line: the median rate over 5 runs, in items per second.
The C++ counterpart is BM_PoolMap in //mp:pool_benchmark.
"""
import json
import statistics
import time
from multiprocessing import get_context

ITEMS = 1_000_000


def inc(x):
    return x + 1


def main():
    items = list(range(ITEMS))
    with get_context("fork").Pool(4) as pool:
        pool.map(inc, range(1000))  # Warm up.
        rates = []
        for _ in range(5):
            start = time.perf_counter()
            out = pool.map(inc, items)
            elapsed = time.perf_counter() - start
            assert len(out) == ITEMS and out[-1] == ITEMS
            rates.append(ITEMS / elapsed)
    print(json.dumps({"figure": "pool_map", "value": round(statistics.median(rates)), "unit": "items_per_s"}))


if __name__ == "__main__":
    main()
