#!/usr/bin/env python3
"""CPython's multiprocessing.Event: set->wait wake-up latency across processes.

The counterpart of //mp:sync_benchmark BM_EventWakeup: a ping-pong of two
Events between two processes; each round trip is two wake-ups. Prints one
JSON line: {"figure": "event_wakeup", "value": <microseconds per wake-up>, ...}.
"""
import multiprocessing as mp
import sys
import time

from benchlib import report

N = 500 if "--quick" in sys.argv[1:] else int(sys.argv[1]) if len(sys.argv) > 1 else 20_000


def pong(ping, pong_, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong_.set()


def main():
    mp.set_start_method("fork")
    ping, pong_ = mp.Event(), mp.Event()
    p = mp.Process(target=pong, args=(ping, pong_, N))
    p.start()
    start = time.perf_counter()
    for _ in range(N):
        ping.set()
        pong_.wait()
        pong_.clear()
    elapsed = time.perf_counter() - start
    p.join()
    report("event_wakeup", elapsed / (2 * N) * 1e6, "us")


if __name__ == "__main__":
    main()
