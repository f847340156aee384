#!/usr/bin/env python3
"""CPython's multiprocessing.Queue, small items, 1 producer -> 1 consumer.

The counterpart of //mp:queue_benchmark BM_MpQueue_Small_1to1. Prints one
JSON line: {"figure": "queue_small_items", "value": <items per second>, ...}.
"""
import sys

import benchlib

# --quick (tools/bench's smoke run) checks that the figure runs, not its speed.
N = 20000 if "--quick" in sys.argv[1:] else \
    int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def main():
    elapsed = benchlib.queue_transfer_seconds(42, N)
    benchlib.report("queue_small_items", N / elapsed, "per_s")


if __name__ == "__main__":
    main()
