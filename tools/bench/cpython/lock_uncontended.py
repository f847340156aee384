#!/usr/bin/env python3
"""CPython's multiprocessing.Lock: acquire+release, uncontended.

The counterpart of //mp:sync_benchmark BM_LockUncontended. Prints one JSON
line: {"figure": "lock_uncontended", "value": <pairs per second>, ...}.
"""
import multiprocessing as mp
import sys
import time

from benchlib import report

N = 20_000 if "--quick" in sys.argv[1:] else int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def main():
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    start = time.process_time()
    for _ in range(N):
        acquire()
        release()
    # CPU time, as Google Benchmark's items_per_second on the mp side.
    report("lock_uncontended", N / (time.process_time() - start), "per_s")


if __name__ == "__main__":
    main()
