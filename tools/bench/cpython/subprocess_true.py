#!/usr/bin/env python3
"""CPython's subprocess.run(['/bin/true']): the counterpart of //mp:subprocess_benchmark's
BM_Run_True.

Prints one JSON line {"figure", "value", "unit"}: the median over 5
repetitions of the mean time per call in microseconds (--quick: 1 short
repetition). tools/bench runs it for the figure subprocess_run_true.
"""
import subprocess
import sys

import benchlib


def main():
    value = benchlib.median_us_per_call(lambda: subprocess.run(['/bin/true']), "--quick" in sys.argv[1:])
    benchlib.report("subprocess_run_true", round(value, 1), "us")


if __name__ == "__main__":
    main()
