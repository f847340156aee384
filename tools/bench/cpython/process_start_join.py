#!/usr/bin/env python3
"""CPython's side of "Process start+join": multiprocessing.Process with the
fork start method (what mp::Process is), target a no-op, start() then join().

Prints one JSON line {"figure", "value", "unit"}: the mean time per
start+join in microseconds over about half a second (--quick: a few runs), as
Google Benchmark reports mp's side.
"""
import json
import multiprocessing
import sys
import time


def noop():
    pass


def main():
    quick = "--quick" in sys.argv[1:]
    ctx = multiprocessing.get_context("fork")
    min_time, min_iters = (0.01, 3) if quick else (0.5, 20)
    for _ in range(3):  # Warm up: imports, first-fork page faults.
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    iters, start = 0, time.perf_counter()
    while True:
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            sys.exit("process_start_join: child exited with %r" % p.exitcode)
        iters += 1
        elapsed = time.perf_counter() - start
        if iters >= min_iters and elapsed >= min_time:
            break
    print(json.dumps({"figure": "process_start_join", "value": elapsed / iters * 1e6, "unit": "us"}))


if __name__ == "__main__":
    main()
