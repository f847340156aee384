#!/usr/bin/env python3
"""CPython's multiprocessing.Lock contended by two processes.

The counterpart of //mp:sync_benchmark BM_LockContended2: two forked
processes each acquire and release the lock N times. Prints one JSON line:
{"figure": "lock_contended", "value": <pairs per second, both together>, ...}.
"""
import multiprocessing as mp
import sys
import time

from benchlib import report

N = 5_000 if "--quick" in sys.argv[1:] else int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def hammer(lock, n):
    acquire, release = lock.acquire, lock.release
    for _ in range(n):
        acquire()
        release()


def main():
    mp.set_start_method("fork")
    lock = mp.Lock()
    procs = [mp.Process(target=hammer, args=(lock, N)) for _ in range(2)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    report("lock_contended", 2 * N / (time.perf_counter() - start), "per_s")


if __name__ == "__main__":
    main()
