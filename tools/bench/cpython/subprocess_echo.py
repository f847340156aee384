#!/usr/bin/env python3
"""CPython's subprocess.run(['/bin/echo', 'hi'], stdout=PIPE): the counterpart of //mp:subprocess_benchmark's
BM_Run_EchoCaptured.

Prints one JSON line {"figure", "value", "unit"}: the median over 5
repetitions of the mean time per call in microseconds (--quick: 1 short
repetition). tools/bench runs it for the figure subprocess_echo_capture.
"""
import subprocess
import sys

import benchlib


def echo():
    r = subprocess.run(['/bin/echo', 'hi'], stdout=subprocess.PIPE)
    if r.stdout != b'hi\n':
        sys.exit("subprocess_echo.py: unexpected output %r" % r.stdout)


def main():
    value = benchlib.median_us_per_call(echo, "--quick" in sys.argv[1:])
    benchlib.report("subprocess_echo_capture", round(value, 1), "us")


if __name__ == "__main__":
    main()
