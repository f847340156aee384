#!/usr/bin/env python3
"""Proportional set size of CPython's Pool(4) after it has run tasks.

"value" is the total: the sum of /proc/<pid>/smaps_rollup Pss over the
parent and its 4 workers, in KiB; "workers_kb" is the workers' part alone.
Same definitions as BM_PoolPss (total_kb, workers_kb) in //mp:pool_benchmark.
"""
import json
import multiprocessing
import os
from multiprocessing import get_context


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def inc(x):
    return x + 1


def main():
    with get_context("fork").Pool(4) as pool:
        pool.map(inc, range(1000), chunksize=1)  # Every worker has run tasks.
        workers = sum(pss_kb(p.pid) for p in multiprocessing.active_children())
        total = workers + pss_kb(os.getpid())
    print(json.dumps({"figure": "pool_pss", "value": total, "unit": "kb", "workers_kb": workers}))


if __name__ == "__main__":
    main()
