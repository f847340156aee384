#!/usr/bin/env python3
"""Bazel's two coverage tools, backed by gcc's gcov JSON and plain lcov files.

Bazel normally downloads a Java CoverageOutputGenerator for these. One script
plays both roles; which one follows from the arguments Bazel passes
(see collect_coverage.sh and CoverageReportActionBuilder in Bazel 4.2.3):

  lcov_merger, once per test, after collect_cc_coverage.sh ran gcov -i:
    --coverage_dir=DIR          *.gcov.json.gz (gcc >= 9) and *.dat files
    --output_file=FILE          the test's lcov report (coverage.dat)
    --filter_sources=REGEX      (repeated) drop sources whose path matches
    --source_file_manifest=FILE keep only sources listed there (if it lists any)

  coverage_report_generator, once per `bazel coverage`:
    --reports_file=FILE         one lcov report path per line
    --output_file=FILE          the combined report (_coverage_report.dat)

Counts for the same file, line, function or branch are summed, as lcov -a does.
Only the standard library is used: the tool runs inside test actions.
"""

import gzip
import json
import os
import re
import sys


class Report:
    """Coverage of many source files: file -> lines, functions, branches."""

    def __init__(self):
        self.files = {}

    def _file(self, path):
        return self.files.setdefault(path, {"lines": {}, "fn_line": {}, "fn_count": {}, "branches": {}})

    def add_line(self, path, line, count):
        lines = self._file(path)["lines"]
        lines[line] = lines.get(line, 0) + count

    def add_function(self, path, name, line, count):
        f = self._file(path)
        f["fn_line"].setdefault(name, line)
        f["fn_count"][name] = f["fn_count"].get(name, 0) + count

    def add_branch(self, path, line, block, branch, count):
        """count None means '-' (the line never ran, so the branch was not taken either)."""
        branches = self._file(path)["branches"]
        key = (line, block, branch)
        old = branches.get(key)
        branches[key] = count if old is None else (old if count is None else old + count)

    def keep_only(self, predicate):
        self.files = {p: d for p, d in self.files.items() if predicate(p)}

    def write(self, out):
        for path in sorted(self.files):
            f = self.files[path]
            if not f["lines"] and not f["fn_line"]:
                continue  # Bazel's baseline reports name files without data.
            out.write("SF:%s\n" % path)
            for name, line in sorted(f["fn_line"].items(), key=lambda kv: (kv[1], kv[0])):
                out.write("FN:%d,%s\n" % (line, name))
            for name in sorted(f["fn_line"], key=lambda n: (f["fn_line"][n], n)):
                out.write("FNDA:%d,%s\n" % (f["fn_count"][name], name))
            out.write("FNF:%d\n" % len(f["fn_line"]))
            out.write("FNH:%d\n" % sum(1 for c in f["fn_count"].values() if c > 0))
            if f["branches"]:
                for (line, block, branch), count in sorted(f["branches"].items()):
                    out.write("BRDA:%d,%d,%d,%s\n" % (line, block, branch, "-" if count is None else count))
                out.write("BRF:%d\n" % len(f["branches"]))
                out.write("BRH:%d\n" % sum(1 for c in f["branches"].values() if c))
            for line, count in sorted(f["lines"].items()):
                out.write("DA:%d,%d\n" % (line, count))
            out.write("LH:%d\n" % sum(1 for c in f["lines"].values() if c > 0))
            out.write("LF:%d\n" % len(f["lines"]))
            out.write("end_of_record\n")


def fail(msg):
    sys.stderr.write("lcov_tool: %s\n" % msg)
    sys.exit(1)


def read_gcov_json(path, report):
    """Adds one gcov JSON intermediate file (gcov -i, gcc >= 9) to report."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: not a gcov JSON file: %s" % (path, e))
    if "files" not in doc:
        fail("%s: no 'files' field; is this gcov -i output?" % path)
    for entry in doc["files"]:
        src = entry["file"]
        for fn in entry.get("functions", []):
            report.add_function(src, fn["name"], fn["start_line"], fn["execution_count"])
        for ln in entry.get("lines", []):
            number, count = ln["line_number"], ln["count"]
            report.add_line(src, number, count)
            for i, br in enumerate(ln.get("branches", [])):
                report.add_branch(src, number, 0, i, br["count"] if count > 0 else None)


def read_lcov(path, report):
    """Adds an lcov tracefile (.dat/.info) to report; file:line on bad input."""
    src = None
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("TN:"):
                continue
            if line == "end_of_record":
                src = None
                continue
            tag, _, value = line.partition(":")
            if tag == "SF":
                src = value
                report._file(src)
                continue
            if src is None:
                fail("%s:%d: %r outside a SF: record" % (path, lineno, line))
            try:
                if tag == "DA":
                    fields = value.split(",")
                    report.add_line(src, int(fields[0]), int(fields[1]))
                elif tag == "FN":
                    number, name = value.split(",", 1)
                    report.add_function(src, name, int(number), 0)
                elif tag == "FNDA":
                    count, name = value.split(",", 1)
                    report.add_function(src, name, report._file(src)["fn_line"].get(name, 0), int(count))
                elif tag == "BRDA":
                    number, block, branch, taken = value.split(",")
                    report.add_branch(src, int(number), int(block), int(branch),
                                      None if taken == "-" else int(taken))
                # FNF/FNH/BRF/BRH/LF/LH are recomputed on output.
            except (ValueError, IndexError):
                fail("%s:%d: malformed %s record: %r" % (path, lineno, tag, line))


def parse_args(argv):
    opts = {"filter_sources": []}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            continue  # Unknown forms are Bazel's business, not ours.
        key, value = arg[2:].split("=", 1)
        if key == "filter_sources":
            opts[key].append(value)
        else:
            opts[key] = value
    return opts


def merge_test(opts):
    coverage_dir = opts.get("coverage_dir")
    if not coverage_dir:
        fail("--coverage_dir=DIR is required")
    report = Report()
    output = os.path.abspath(opts["output_file"])
    for root, _, names in os.walk(coverage_dir):
        for name in sorted(names):
            path = os.path.join(root, name)
            if name.endswith((".gcov.json.gz", ".gcov.json")):
                read_gcov_json(path, report)
            elif name.endswith(".dat") and os.path.abspath(path) != output and os.path.getsize(path):
                read_lcov(path, report)
    filters = [re.compile(r) for r in opts["filter_sources"]]
    report.keep_only(lambda p: not any(r.fullmatch(p) for r in filters))
    manifest = opts.get("source_file_manifest")
    if manifest:
        with open(manifest) as f:
            listed = {l.strip() for l in f if l.strip()}
        sources = {p for p in listed if not p.endswith((".gcno", ".txt"))}
        if sources:
            report.keep_only(lambda p: p in sources)
    return report


def generate_report(opts):
    report = Report()
    with open(opts["reports_file"]) as f:
        for line in f:
            path = line.strip()
            if path and os.path.exists(path) and os.path.getsize(path):
                read_lcov(path, report)
    return report


def main(argv):
    opts = parse_args(argv)
    if "output_file" not in opts:
        fail("--output_file=FILE is required")
    report = generate_report(opts) if "reports_file" in opts else merge_test(opts)
    with open(opts["output_file"], "w") as out:
        report.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
