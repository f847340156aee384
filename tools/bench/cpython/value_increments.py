#!/usr/bin/env python3
"""CPython's multiprocessing.Value incremented under its lock by 4 processes.

The counterpart of //mp:sync_benchmark BM_ValueIncrements4: each of 4 forked
processes does `with v.get_lock(): v.value += 1` N times. Prints one JSON
line: {"figure": "value_increments", "value": <increments per second>, ...}.
"""
import multiprocessing as mp
import sys
import time

from benchlib import report

N = 2_000 if "--quick" in sys.argv[1:] else int(sys.argv[1]) if len(sys.argv) > 1 else 50_000


def bump(v, n):
    lock = v.get_lock()
    for _ in range(n):
        with lock:
            v.value += 1


def main():
    mp.set_start_method("fork")
    v = mp.Value("i", 0)
    procs = [mp.Process(target=bump, args=(v, N)) for _ in range(4)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    assert v.value == 4 * N, v.value
    report("value_increments", 4 * N / elapsed, "per_s")


if __name__ == "__main__":
    main()
