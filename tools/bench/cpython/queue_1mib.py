#!/usr/bin/env python3
"""CPython's multiprocessing.Queue, 1 MiB bytes items, 1 producer -> 1 consumer.

The counterpart of //mp:queue_benchmark BM_MpQueue_1MiB. Prints one JSON
line: {"figure": "queue_1mib_items", "value": <GB per second>, ...}.
"""
import json
import multiprocessing as mp
import sys
import time

# --quick (tools/bench's smoke run) checks that the figure runs, not its speed.
N = 50 if "--quick" in sys.argv[1:] else \
    int(sys.argv[1]) if len(sys.argv) > 1 else 500
ITEM = b"x" * (1 << 20)


def produce(q, n):
    for _ in range(n):
        q.put(ITEM)


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
    print(json.dumps({"figure": "queue_1mib_items", "value": N * len(ITEM) / elapsed / 1e9, "unit": "GB_per_s"}))


if __name__ == "__main__":
    main()
