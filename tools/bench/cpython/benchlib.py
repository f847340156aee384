"""What the CPython benchmark scripts share: timing harnesses and the one
JSON line each prints for tools/bench ({"figure", "value", "unit"}).

Not a figure itself: tools/bench runs only the scripts its FIGURES table names.
"""
import json
import multiprocessing
import statistics
import time


def report(figure, value, unit):
    print(json.dumps({"figure": figure, "value": value, "unit": unit}))


def median_us_per_call(call, quick):
    """The median over 5 repetitions (1 short one if quick) of the mean time
    per call() in microseconds, after a warm-up."""
    reps, n = (1, 5) if quick else (5, 300)

    def rep(count):
        start = time.perf_counter()
        for _ in range(count):
            call()
        return (time.perf_counter() - start) / count * 1e6

    rep(3 if quick else 20)  # Warm up.
    return statistics.median(rep(n) for _ in range(reps))


def _produce(q, item, n):
    for _ in range(n):
        q.put(item)


def queue_transfer_seconds(item, n):
    """Seconds for a forked producer to put `item` n times on a
    multiprocessing.Queue while this process gets them all."""
    multiprocessing.set_start_method("fork")
    q = multiprocessing.Queue()
    start = time.perf_counter()
    p = multiprocessing.Process(target=_produce, args=(q, item, n))
    p.start()
    for _ in range(n):
        q.get()
    elapsed = time.perf_counter() - start
    p.join()
    return elapsed
