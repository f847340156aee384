#!/usr/bin/env python3
"""CPython's multiprocessing.Queue, small items, 1 producer -> 1 consumer.

The counterpart of //mp:queue_benchmark BM_MpQueue_Small_1to1. Prints one
JSON line: {"figure": "queue_small_items", "value": <items per second>, ...}.
"""
import json
import multiprocessing as mp
import sys
import time

# --quick (tools/bench's smoke run) checks that the figure runs, not its speed.
N = 20000 if "--quick" in sys.argv[1:] else \
    int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def produce(q, n):
    for i in range(n):
        q.put(42)


def main():
    mp.set_start_method("fork")
    q = mp.Queue()
    start = time.perf_counter()
    p = mp.Process(target=produce, args=(q, N))
    p.start()
    for _ in range(N):
        q.get()
    elapsed = time.perf_counter() - start
    p.join()
    print(json.dumps({"figure": "queue_small_items", "value": N / elapsed, "unit": "per_s"}))


if __name__ == "__main__":
    main()
