#!/usr/bin/env python3
"""mp against CPython and the raw system calls, side by side (issue 7).

    tools/bazel run //tools:bench [-- --quick] [--json FILE] [--plot FILE.png]
                                  [--markdown FILE] [--repetitions N] [--figures REGEX]

Each figure has three measurements: mp and raw come from one Google Benchmark
binary (the same memory image, since fork's cost grows with it), CPython from
tools/bench/cpython/<figure>.py run by python3. Every round runs every figure's
three measurements back to back, so a noisy neighbour hits all three alike;
the table reports, over the rounds, the median with min-max, and the ratios
per round (median, min-max).

Ratios compare costs: time and memory as they are, rates inverted, so a ratio
above 1 always means the left-hand side is slower or bigger.

A figure whose benchmark binary is not in BENCH_BINARIES (tools/bench/BUILD) yet, or whose
binary lacks the benchmark, prints "n/a (...)" instead of failing.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time


class Figure:
    """One row: what to run for mp, raw and CPython, and which number to read.

    binary: runfiles path of the Google Benchmark binary (//mp:x -> "mp/x");
    mp, raw: benchmark names in it (raw None: no raw baseline);
    field: what to read from a benchmark run: "real_time" (us),
      "items_per_second" (per_s), "bytes_per_second" (GB_per_s),
      "us_per_item" (1e6 / items_per_second, for a rate-reporting benchmark of
      a time figure), or a user counter name (as it is, e.g. kB);
    cpython: the script in tools/bench/cpython/; quick_args: its arguments
      under --quick.
    """

    FIELDS = {"us": "real_time", "per_s": "items_per_second", "GB_per_s": "bytes_per_second", "kB": "pss_kB"}

    def __init__(self, key, title, unit, binary, mp, raw, cpython, field=None, quick_args=("--quick",)):
        self.key, self.title, self.unit = key, title, unit
        self.binary, self.mp, self.raw = binary, mp, raw
        self.field = field or self.FIELDS[unit]
        self.cpython = "tools/bench/cpython/" + cpython
        self.quick_args = list(quick_args)

    def cost(self, value):
        """Bigger is worse, whatever the unit."""
        return 1.0 / value if self.unit in ("per_s", "GB_per_s") else value


# The table of figures. Names follow the primitives' benchmark binaries and
# CPython scripts as their authors wrote them.
FIGURES = [
    Figure("process_start_join", "Process start+join", "us",
           "mp/process_benchmark", "BM_ProcessStartJoin", "BM_RawForkExitWaitpid",
           "process_start_join.py"),
    Figure("subprocess_run_true", "subprocess run /bin/true", "us",
           "mp/subprocess_benchmark", "BM_Run_True", "BM_RawVforkExecWaitpid_True",
           "subprocess_true.py", quick_args=()),
    Figure("subprocess_echo_capture", "subprocess echo, stdout captured", "us",
           "mp/subprocess_benchmark", "BM_Run_EchoCaptured", "BM_RawPosixSpawnPipeRead_Echo",
           "subprocess_echo.py", quick_args=()),
    Figure("pool_apply_async", "Pool(4) apply_async, trivial tasks", "per_s",
           "mp/pool_benchmark", "BM_PoolApplyAsync", "BM_RawApplyOnePipeMessagePerTask",
           "pool_apply_async.py", quick_args=()),
    Figure("pool_map_1m", "Pool(4) map over 1M ints", "per_s",
           "mp/pool_benchmark", "BM_PoolMap", "BM_RawMapChunked",
           "pool_map.py", quick_args=()),
    Figure("queue_small_items", "Queue small items, 1 to 1", "per_s",
           "mp/queue_benchmark", "BM_MpQueue_Small_1to1", "BM_RawShmRing_Small",
           "queue_small.py", quick_args=("2000",)),
    Figure("queue_1mib_items", "Queue 1 MiB items", "GB_per_s",
           "mp/queue_benchmark", "BM_MpQueue_1MiB", "BM_RawShmRing_1MiB",
           "queue_1mib.py", quick_args=("20",)),
    Figure("pipe_round_trip", "Pipe round trip, 8 bytes", "us",
           "mp/queue_benchmark", "BM_Connection_RoundTrip_Duplex", "BM_RawPipe_RoundTrip",
           "pipe_roundtrip.py", field="us_per_item", quick_args=("500",)),
    Figure("pool4_pss", "Pool(4) memory, PSS summed", "kB",
           "mp/pool_benchmark", "BM_PoolPss", "BM_RawForkedChildrenPss",
           "pool_pss.py", field="total_kb", quick_args=()),
    # Issue 19. The raw lock is a robust process-shared pthread mutex, the
    # mechanism that survives a killed holder; //mp:sync_benchmark also has
    # the plain one (BM_RawPthreadMutex*), see BENCHMARKS.md.
    Figure("lock_uncontended", "Lock acquire+release, uncontended", "per_s",
           "mp/sync_benchmark", "BM_LockUncontended", "BM_RawRobustMutexUncontended",
           "lock_uncontended.py"),
    Figure("lock_contended", "Lock acquire+release, 2 processes", "per_s",
           "mp/sync_benchmark", "BM_LockContended2", "BM_RawRobustMutexContended2",
           "lock_contended.py"),
    Figure("event_wakeup", "Event set->wait wake-up across processes", "us",
           "mp/sync_benchmark", "BM_EventWakeup", "BM_RawFutexWakeup",
           "event_wakeup.py", field="us_per_item", quick_args=("--quick",)),
    Figure("value_increments", "Value += 1 under get_lock(), 4 processes", "per_s",
           "mp/sync_benchmark", "BM_ValueIncrements4", "BM_RawMutexIncrements4",
           "value_increments.py"),
]

# Units the CPython scripts may report, as (unit of the table, factor).
UNIT_ALIASES = {
    "us": ("us", 1.0), "per_s": ("per_s", 1.0), "items_per_s": ("per_s", 1.0),
    "GB_per_s": ("GB_per_s", 1.0), "bytes_per_s": ("GB_per_s", 1e-9),
    "kB": ("kB", 1.0), "kb": ("kB", 1.0),
}
TIME_UNITS_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
TIMEOUT_S = 600


class Unavailable(Exception):
    """A measurement that cannot run on this build: shown as n/a, not an error."""


class MeasurementError(Exception):
    """A measurement that should have run but failed."""


def runfiles_root():
    for var in ("RUNFILES_DIR", "TEST_SRCDIR"):
        if os.environ.get(var):
            return os.environ[var]
    here = os.path.abspath(sys.argv[0])
    if os.path.isdir(here + ".runfiles"):
        return here + ".runfiles"
    # Run from a source tree: tools/bench/bench.py -> the workspace root.
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))


def workspace_path(root, path):
    for candidate in (os.path.join(root, "mp", path), os.path.join(root, path)):
        if os.path.exists(candidate):
            return candidate
    return None


def user_path(path):
    """Output paths are relative to where the user typed `bazel run`."""
    return os.path.join(os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd()), path)


class Runner:
    def __init__(self, args):
        self.args = args
        self.root = runfiles_root()
        self.listed = {}  # binary path -> set of benchmark names

    def binary(self, fig):
        path = workspace_path(self.root, fig.binary)
        if path is None:
            raise Unavailable("not built")
        if path not in self.listed:
            out = self._run([path, "--benchmark_list_tests=true"], "%s --benchmark_list_tests" % fig.binary)
            # "BM_X/real_time", "BM_X/1024": the part before the first '/'.
            self.listed[path] = {name.split("/")[0] for name in out.split()}
        return path

    def google_benchmark(self, fig):
        """One run of fig's mp and raw benchmarks: {"mp": value, "raw": value}."""
        path = self.binary(fig)
        names = {impl: name for impl, name in (("mp", fig.mp), ("raw", fig.raw))
                 if name and name in self.listed[path]}
        if not names:
            return {}
        cmd = [path, "--benchmark_filter=^(%s)(/.*)?$" % "|".join(names.values()),
               "--benchmark_repetitions=1", "--benchmark_format=json"]
        if self.args.quick:
            cmd.append("--benchmark_min_time=0.01")
        doc = json.loads(self._run(cmd, fig.binary))
        values = {}
        for impl, name in names.items():
            runs = [b for b in doc.get("benchmarks", []) if b["name"].split("/")[0] == name]
            if not runs:
                raise MeasurementError("%s: no result for %s" % (fig.binary, name))
            run = runs[0]
            if run.get("error_occurred"):
                raise MeasurementError("%s %s: %s" % (fig.binary, name, run.get("error_message")))
            if fig.field == "real_time":
                values[impl] = run["real_time"] * TIME_UNITS_US[run["time_unit"]]
            elif fig.field == "us_per_item" and run.get("items_per_second"):
                values[impl] = 1e6 / float(run["items_per_second"])
            elif fig.field not in run:
                raise MeasurementError("%s %s: no %r in its output" % (fig.binary, name, fig.field))
            else:
                scale = 1e-9 if fig.unit == "GB_per_s" else 1.0
                values[impl] = float(run[fig.field]) * scale
        return values

    def missing_reason(self, fig, impl):
        path = workspace_path(self.root, fig.binary)
        if path is None:
            return "not built"
        name = fig.mp if impl == "mp" else fig.raw
        if not name:
            return "no baseline"
        return "no %s" % name if name not in self.listed.get(path, ()) else None

    def cpython(self, fig):
        script = workspace_path(self.root, fig.cpython)
        if script is None:
            raise Unavailable("no script")
        cmd = [self.args.python, script] + (fig.quick_args if self.args.quick else [])
        out = self._run(cmd, fig.cpython)
        lines = [l for l in out.splitlines() if l.strip()]
        try:
            doc = json.loads(lines[-1])
            value, unit = float(doc["value"]), doc["unit"]
        except (IndexError, ValueError, KeyError, TypeError) as e:
            raise MeasurementError("%s: last line is not {\"figure\",\"value\",\"unit\"} JSON (%s): %r"
                                   % (fig.cpython, e, lines[-1:]))
        if UNIT_ALIASES.get(unit, (None,))[0] != fig.unit:
            raise MeasurementError("%s: unit %r, expected %s (or one of %s)"
                                   % (fig.cpython, unit, fig.unit, ", ".join(sorted(UNIT_ALIASES))))
        value *= UNIT_ALIASES[unit][1]
        return value

    def _run(self, cmd, what):
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise MeasurementError("%s: timed out after %ds" % (what, TIMEOUT_S))
        except OSError as e:
            raise MeasurementError("%s: %s" % (what, e))
        if p.returncode != 0:
            tail = (p.stderr.strip().splitlines() or [""])[-1]
            raise MeasurementError("%s: exit status %d: %s" % (what, p.returncode, tail))
        return p.stdout


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(v):
    if v >= 1000:
        return "{:,.0f}".format(v)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 0.1:
        return "%.2f" % v
    return "%.3g" % v


def cell(samples, note):
    if not samples:
        return note or "—"
    s = summary(samples)
    if len(samples) == 1:
        return fmt(s["median"])
    return "%s (%s–%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))


def measure(args, figures):
    runner = Runner(args)
    samples = {(f.key, impl): [] for f in figures for impl in ("mp", "cpython", "raw")}
    ratios = {(f.key, r): [] for f in figures for r in ("mp_raw", "cpython_mp")}
    notes, errors = {}, []
    for rnd in range(args.repetitions):
        for fig in figures:
            got = {}
            steps = [("gbench", runner.google_benchmark), ("cpython", runner.cpython)]
            if rnd % 2:
                steps.reverse()  # Neither side always runs right after the other figure.
            for which, fn in steps:
                try:
                    result = fn(fig)
                    got.update(result if which == "gbench" else {"cpython": result})
                except Unavailable as e:
                    impls = ("mp", "raw") if which == "gbench" else ("cpython",)
                    for impl in impls:
                        notes[(fig.key, impl)] = "n/a (%s)" % e
                except MeasurementError as e:
                    errors.append(str(e))
                    impls = ("mp", "raw") if which == "gbench" else ("cpython",)
                    for impl in impls:
                        notes[(fig.key, impl)] = "error"
            for impl, value in got.items():
                samples[(fig.key, impl)].append(value)
            if "mp" in got and "raw" in got:
                ratios[(fig.key, "mp_raw")].append(fig.cost(got["mp"]) / fig.cost(got["raw"]))
            if "mp" in got and "cpython" in got:
                ratios[(fig.key, "cpython_mp")].append(fig.cost(got["cpython"]) / fig.cost(got["mp"]))
        sys.stderr.write("bench: round %d/%d done\n" % (rnd + 1, args.repetitions))
    for fig in figures:
        for impl in ("mp", "raw"):
            if not samples[(fig.key, impl)] and (fig.key, impl) not in notes:
                notes[(fig.key, impl)] = "n/a (%s)" % (runner.missing_reason(fig, impl) or "no result")
    return samples, ratios, notes, errors


def table(figures, samples, ratios, notes):
    rows = ["| figure | unit | mp | CPython | raw | mp÷raw | CPython÷mp |",
            "|---|---|---|---|---|---|---|"]
    for f in figures:
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            f.title, f.unit,
            cell(samples[(f.key, "mp")], notes.get((f.key, "mp"))),
            cell(samples[(f.key, "cpython")], notes.get((f.key, "cpython"))),
            cell(samples[(f.key, "raw")], notes.get((f.key, "raw"))),
            cell(ratios[(f.key, "mp_raw")], None),
            cell(ratios[(f.key, "cpython_mp")], None)))
    return "\n".join(rows)


def machine(args):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    py = subprocess.run([args.python, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True).stdout.strip()
    return ("%s, %d CPUs, Linux %s; CPython: %s (%s); load average %.2f; %s UTC"
            % (model, os.cpu_count() or 0, platform.release(), py, args.python, os.getloadavg()[0],
               time.strftime("%Y-%m-%d %H:%M", time.gmtime())))


def write_json(path, figures, samples):
    with open(path, "w") as out:
        for f in figures:
            for impl in ("mp", "cpython", "raw"):
                values = samples[(f.key, impl)]
                if values:
                    out.write(json.dumps(dict(figure=f.key, impl=impl, unit=f.unit, repetitions=len(values),
                                              **summary(values))) + "\n")


def write_plot(path, figures, ratios):
    rows = [f for f in figures if ratios[(f.key, "mp_raw")] or ratios[(f.key, "cpython_mp")]]
    if not rows:
        sys.stderr.write("bench: no ratios to plot; %s not written\n" % path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w") as out:
            for f in rows:
                cols = []
                for r in ("mp_raw", "cpython_mp"):
                    v = ratios[(f.key, r)]
                    cols += ["%g %g %g" % (statistics.median(v), min(v), max(v))] if v else ["NaN NaN NaN"]
                out.write('"%s" %s\n' % (f.title, " ".join(cols)))
        script = """
set terminal pngcairo noenhanced size 1100,520 font "sans,10"
set output '%s'
set title "Cost ratios, median with min-max over rounds: mp ÷ raw is mp's overhead, CPython ÷ mp is mp's speed-up"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set logscale y 2
set grid ytics
set ylabel "ratio (log scale)"
set xtics rotate by -20 left
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "black"
plot '%s' using 2:3:4:xtic(1) title "mp ÷ raw" lc rgb "#3070b0", \\
     '' using 5:6:7 title "CPython ÷ mp" lc rgb "#e08020"
""" % (path, data)
        p = subprocess.run(["gnuplot"], input=script, text=True, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise SystemExit("bench: gnuplot failed: %s" % p.stderr.strip())


MARKDOWN = """# Benchmarks

mp against CPython (`multiprocessing`, `subprocess`) and against the raw
system calls each primitive wraps, measured by one command:

```sh
tools/bazel run //tools:bench                      # the table below, ~minutes
tools/bazel run //tools:bench -- --quick           # under a minute; checks it runs, not speed
tools/bazel run //tools:bench -- --json out.jsonl --plot docs/bench_ratios.png --markdown BENCHMARKS.md
```

`//tools:bench` builds the benchmark binaries with `-c opt` by itself. Each of
{repetitions} rounds runs every figure's mp, raw and CPython measurement back to
back; cells are the median over rounds with (min–max). Ratios are per round
and compare costs (times and memory as they are, rates inverted), so a ratio
above 1 means the left-hand side is slower or bigger: **mp÷raw** is mp's
overhead over the bare system calls, **CPython÷mp** how many times faster mp
is than CPython.

## Latest run

Machine: {machine}

{table}

{image}"n/a (not built)": the primitive's benchmark binary is not yet listed in
`BENCH_BINARIES` in `tools/bench/BUILD`; "n/a (no BM_X)": the binary has no benchmark
of that name; "n/a (no script)": the figure's CPython script is missing.

## Reading the figures

- **Process start+join**: after fork(2) every page the parent or the child
  writes is a page fault (the child's a copy), and the child faults on each
  64 KiB window of code it runs; on a VM a fault costs as much as several
  system calls (15-19 us on the PVM guest of the table, where a raw
  fork+_exit+waitpid takes ~650-1200 us). The benchmark reports the faults
  per round trip (`self_faults`, `child_faults`): raw 2 and 7, mp 3 and 8-9
  (31 in all before issue 18's work): one page of static storage that holds
  the registries and the process states, written by each side, and at times
  one more window of code. The child nearly always runs on its parent's CPU
  (98% of forks on that VM), so it starts only once the parent blocks in
  Join: the parent's work after the fork, mostly its copy of that page
  (~25 us), adds to the child's rather than overlapping it. The rest is
  system calls: the child's close(0) and open("/dev/null") (~25 us in a new
  child there; CPython's child opens /dev/null too, for sys.stdin), getpid
  in the constructor, Start and Join (CPython's asserts call os.getpid
  there too) and a waitid before the reap, so that a signal never reaches a
  recycled pid. On that VM these alone come to about 1.09x raw, a floor for
  CPython's semantics; the figure is 1.13-1.17x.
- **subprocess run /bin/true**: clone3 with CLONE_CLEAR_SIGHAND (Linux 5.5)
  lets the kernel reset the child's signal handlers; without it the child
  makes 64 rt_sigaction calls and the parent blocks signals around the
  clone, about 1-3% of this figure.
- **Queue small items**: the raw baseline is a lock-free single-producer
  single-consumer ring of fixed slots with spinning counters: an upper bound,
  not an equivalent. mp's Queue is multi-producer multi-consumer, sleeps when
  idle and survives a process killed inside it. The baseline's rate depends
  on the machine far more than the queue's (42 M items/s on an Intel VM, 8.5
  M/s on the AMD one of this table, where mp does 7.4 M/s), so this ratio
  moves with the machine.
- **Queue 1 MiB items**: mp's queue gets the raw ring's 16 MiB buffer.
  `BM_MpQueue_1MiB_DefaultCapacity` in `//mp:queue_benchmark` measures the
  default 64 MiB, which is slower (a producer running ahead walks twice the
  L3 cache, and a fresh queue takes 4x the page faults).
- **Pipe round trip**: mp's Connection polls without blocking (yielding the
  CPU, up to 50 us) before it sleeps in read(); the raw ping-pong blocks at
  once. With the two processes on different CPUs, the raw one pays a
  cross-CPU wake-up per message (~30 us on the 2-vCPU development VM) and mp
  usually does not. Pinned to one CPU (`taskset -c 0`) there is no such
  advantage: the duplex Pipe (a socketpair, as CPython's) then costs about 2x
  a raw pipe and 1x a raw socketpair (`BM_RawSocketpair_RoundTrip`), the
  simplex one (pipes) about 1.5x a raw pipe.
- **Lock, uncontended**: the raw baseline is a robust process-shared
  pthread mutex, the mechanism that lets the next acquirer survive a killed
  holder; mp adds the holder's pid and thread id (four relaxed stores and a
  check). A plain (non-robust) process-shared mutex, `BM_RawPthreadMutex*`
  in `//mp:sync_benchmark`, is about 1.2x faster than the robust one, so
  mp is about 1.3x the plain one. CPython's Lock is a C semaphore call
  (sem_trywait/sem_post), about 40-90 ns a pair, so mp is only a few times
  faster there; the contended and Value figures are where CPython's
  interpreter and its blocking sem_wait cost it the most. Uncontended rates
  are per CPU second on both sides (Google Benchmark's default; the CPython
  script uses process_time), so a loaded machine moves them less.
- **Event wake-up**: half a round trip of a ping-pong between two processes
  through two Events (CPython: two multiprocessing.Events); the raw baseline
  is the same ping-pong on two futex words, waking with FUTEX_WAKE. Neither
  side spins before it sleeps.
- **Value += 1, 4 processes**: `with v.get_lock(): v.value += 1` on both
  sides (mp: `Guard` on `get_lock()`, an RLock as CPython's), against an int
  beside a plain process-shared pthread mutex.
- **The conformance runner** has its own benchmark,
  `tools/bazel run -c opt //conformance/runner:tracer_benchmark`: a stress
  program (100 processes, 10k one-write lines) observed by the runner, under
  each observer, against the same program writing into a plain pipe (and
  the runner untraced). Medians of 15 interleaved repetitions, four rounds
  on the 2-vCPU VM (2026-12-01, pipe 25-28 ms): BPF 1.23-1.30x the pipe
  (median of rounds 1.28x; the goal is at most 1.5x), ptrace 1.90-2.20x
  (1.97x). A CPython equivalent costs 1.10x under BPF and 1.65x under
  ptrace; `python3 -c pass` 1.10x and 1.38x. Loading the BPF observer takes
  ~50 ms, once per process. (The spike that measured the capture
  mechanisms alone before the BPF observer existed is in the history:
  `git show e06a4db`.)

  **Terminal mode** (`Stdio::kPty`; each benchmark's `Pty` twin): two
  interleaved runs of 9 and 15 repetitions (2026-12-07) on the same VM, but
  shared with other builds (load average 5-9): the pipe baseline took
  158-176 ms instead of 25-28 ms and the coefficients of variation were
  30-40%, so only large ratios mean anything. Medians, as ratios to the
  pipe (run 1 / run 2):

  | program | Bpf | PtyBpf | Ptrace | PtyPtrace | PtyPtrace÷Ptrace |
  |---|---|---|---|---|---|
  | C++ stress (10k writes) | 1.49 / 1.26 | 1.22 / 1.73 | 1.07 / 1.38 | **4.06 / 5.40** | 3.8 / 3.9 |
  | CPython stress (10k os.write) | 1.00 / 1.06 | 1.68 / 1.05 | 1.16 / 1.08 | **2.10 / 2.18** | 1.8 / 2.0 |
  | `python3 -c pass` | 0.94 / 1.41 | 1.07 / 1.16 | 1.27 / 1.63 | 1.24 / 1.48 | 1.0 / 0.9 |

  Under BPF a terminal costs what a pipe does (within the noise): nothing
  stops. Under ptrace each write to a terminal stops twice (seccomp entry,
  syscall exit), with a stat of the fd and a read of the bytes: ~4x the
  ptrace-on-sockets run for the C++ stress, ~50 us a write on the loaded
  VM, ~2x for CPython (whose own work per line dilutes it); a program that
  does not write (start-up) pays nothing more. Untraced, a terminal costs
  about what the sockets do.

{kept}## The figures and what measures them

| key | figure | unit | binary | mp benchmark | raw benchmark | CPython script |
|---|---|---|---|---|---|---|
{figures}

## Adding a figure as its primitive lands

Figures live in the `FIGURES` table at the top of `tools/bench/bench.py`: a
key, a title, a unit (`us`, `per_s`, `GB_per_s` or `kB`), the benchmark
binary, and the names of the mp and raw benchmarks in it. To enable one:

1. Write the Google Benchmark binary (cc_binary in `mp/`) with both
   benchmarks, under the names in the table (or change the table). Times are
   read from `real_time` (use `->UseRealTime()`), rates from
   `items_per_second` (`state.SetItemsProcessed`), bandwidth from
   `bytes_per_second` (`state.SetBytesProcessed`), memory from a counter
   `pss_kB`.
2. Add the binary to `BENCH_BINARIES` in `tools/bench/BUILD`.
3. Add the CPython script named in the table to `tools/bench/cpython/`: it
   measures the same thing with python3 and prints one JSON line
   `{{"figure": ..., "value": ..., "unit": ...}}` (units as above, or
   `items_per_s`, `bytes_per_s`, `kb`); under `--quick` it gets the
   figure's `quick_args` and must finish in a few seconds.

`tools/bazel test //tools:bench_smoke_test` runs `--quick` and checks the JSON.
"""


# Sections of BENCHMARKS.md measured by other tools (the conformance runner's
# perturbation benchmark): written by hand between these lines, kept as they
# are when bench.py rewrites the file.
KEPT_BEGIN = "<!-- Kept by tools/bench/bench.py --markdown: measured by other tools. -->"
KEPT_END = "<!-- End of the kept sections. -->"


def kept_sections(path):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    begin, end = old.find(KEPT_BEGIN), old.find(KEPT_END)
    if begin < 0 or end < begin:
        return ""
    return old[begin:end + len(KEPT_END)] + "\n\n"


def write_markdown(path, args, text, machine_line):
    image = ""
    if args.plot:
        image = "![ratios](%s)\n\n" % os.path.relpath(user_path(args.plot), os.path.dirname(path))
    figures = "\n".join("| `%s` | %s | %s | `//%s` | `%s` | `%s` | `%s` |" % (
        f.key, f.title, f.unit, ":".join(f.binary.rsplit("/", 1)), f.mp, f.raw or "—",
        os.path.basename(f.cpython)) for f in FIGURES)
    kept = kept_sections(path)
    with open(path, "w") as out:
        out.write(MARKDOWN.format(repetitions=args.repetitions, machine=machine_line, table=text, image=image,
                                  figures=figures, kept=kept))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round: checks that all runs, not speed")
    parser.add_argument("--repetitions", type=int, help="rounds (default 5, 1 with --quick)")
    parser.add_argument("--json", metavar="FILE", help="write JSON lines, one per figure and implementation")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the ratios with gnuplot")
    parser.add_argument("--markdown", metavar="FILE", help="write BENCHMARKS.md: machine, table, how to rerun")
    parser.add_argument("--figures", metavar="REGEX", default="", help="only figures whose key matches")
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3",
                        help="the CPython to compare with (default: Debian's /usr/bin/python3)")
    args = parser.parse_args()
    if args.repetitions is None:
        args.repetitions = 1 if args.quick else 5
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1, got %d" % args.repetitions)
    figures = [f for f in FIGURES if re.search(args.figures, f.key)]
    if not figures:
        parser.error("--figures %r matches none of: %s" % (args.figures, ", ".join(f.key for f in FIGURES)))

    machine_line = machine(args)
    samples, ratios, notes, errors = measure(args, figures)
    text = table(figures, samples, ratios, notes)
    print("Machine: " + machine_line)
    print(text)
    if args.json:
        write_json(user_path(args.json), figures, samples)
    if args.plot:
        write_plot(user_path(args.plot), figures, ratios)
    if args.markdown:
        write_markdown(user_path(args.markdown), args, text, machine_line)
    for e in errors:
        sys.stderr.write("bench: error: %s\n" % e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
