#!/usr/bin/env python3
"""CPython's multiprocessing.Queue, 1 MiB bytes items, 1 producer -> 1 consumer.

The counterpart of //mp:queue_benchmark BM_MpQueue_1MiB. Prints one JSON
line: {"figure": "queue_1mib_items", "value": <GB per second>, ...}.
"""
import sys

import benchlib

# --quick (tools/bench's smoke run) checks that the figure runs, not its speed.
N = 50 if "--quick" in sys.argv[1:] else \
    int(sys.argv[1]) if len(sys.argv) > 1 else 500
ITEM = b"x" * (1 << 20)


def main():
    elapsed = benchlib.queue_transfer_seconds(ITEM, N)
    benchlib.report("queue_1mib_items", N * len(ITEM) / elapsed / 1e9, "GB_per_s")


if __name__ == "__main__":
    main()
