#!/usr/bin/env python3
"""CPython's multiprocessing.Pipe round trip: 8 bytes there and back.

The counterpart of //mp:queue_benchmark BM_Connection_RoundTrip_Duplex. Prints one
JSON line: {"figure": "pipe_round_trip", "value": <microseconds per round trip>, ...}.
"""
import json
import multiprocessing as mp
import sys
import time

# --quick (tools/bench's smoke run) checks that the figure runs, not its speed.
N = 2000 if "--quick" in sys.argv[1:] else \
    int(sys.argv[1]) if len(sys.argv) > 1 else 20_000


def echo(conn, other):
    other.close()  # Inherited by fork: closed so the parent's close is EOF.
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def main():
    mp.set_start_method("fork")
    mine, theirs = mp.Pipe()
    p = mp.Process(target=echo, args=(theirs, mine))
    p.start()
    theirs.close()
    msg = b"x" * 8
    start = time.perf_counter()
    for _ in range(N):
        mine.send_bytes(msg)
        mine.recv_bytes()
    elapsed = time.perf_counter() - start
    mine.close()
    p.join()
    print(json.dumps({"figure": "pipe_round_trip", "value": elapsed / N * 1e6, "unit": "us"}))


if __name__ == "__main__":
    main()
