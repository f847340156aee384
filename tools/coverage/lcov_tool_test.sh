#!/usr/bin/env bash
# Proves that the coverage tools behind `bazel coverage` turn gcc's gcov JSON
# into correct lcov, and that Debian's lcov reads what they write.
# testdata/sample.gcda.gcov.json is real `gcov -i -b` output (gcc 12) of a
# small program, with its path rewritten to mp/sample.cc and three more
# sources added that the filters and the manifest must drop.
set -euo pipefail

tool="$TEST_SRCDIR/remote_coverage_tools/lcov_merger"
generator="$TEST_SRCDIR/remote_coverage_tools/coverage_report_generator"
data="$TEST_SRCDIR/mp/tools/coverage/testdata"
work="$TEST_TMPDIR/work"
mkdir -p "$work/coverage_dir/sub"

fail() { echo "FAIL: $*" >&2; exit 1; }

# collect_cc_coverage.sh leaves gzipped JSON, one per .gcda; mix both forms.
gzip -c "$data/sample.gcda.gcov.json" > "$work/coverage_dir/sample.gcda.gcov.json.gz"
cp "$data/other.gcda.gcov.json" "$work/coverage_dir/sub/"

# The exact arguments collect_coverage.sh (Bazel 4.2.3) passes.
"$tool" --coverage_dir="$work/coverage_dir" \
  --output_file="$work/coverage.dat" \
  --filter_sources=/usr/bin/.+ \
  --filter_sources=/usr/lib/.+ \
  --filter_sources=/usr/include.+ \
  --filter_sources='.*external/.+' \
  --source_file_manifest="$data/manifest.txt"
diff -u "$data/expected_test.dat" "$work/coverage.dat" || fail "merger output differs"

# Debian's lcov must accept it: 7 of 9 lines, 2 of 3 functions.
summary=$(lcov --summary "$work/coverage.dat" 2>&1)
grep -q 'lines......: 77.8% (7 of 9 lines)' <<<"$summary" || fail "lcov summary: $summary"
grep -q 'functions..: 66.7% (2 of 3 functions)' <<<"$summary" || fail "lcov summary: $summary"

# The report generator sums per-test reports: two copies double each count.
printf '%s\n%s\n' "$work/coverage.dat" "$work/coverage.dat" > "$work/reports.txt"
"$generator" --reports_file="$work/reports.txt" --output_file="$work/combined.dat"
grep -qx 'DA:2,10' "$work/combined.dat" || fail "combined DA:2 not summed"
grep -qx 'DA:3,0' "$work/combined.dat" || fail "combined DA:3 changed"
grep -qx 'FNDA:10,_Z5twicei' "$work/combined.dat" || fail "combined FNDA not summed"
grep -qx 'BRDA:9,0,1,2' "$work/combined.dat" || fail "combined BRDA not summed"
grep -qx 'LH:7' "$work/combined.dat" || fail "combined LH wrong"

# Bad input is named by file and line.
printf 'SF:x.cc\nDA:1\nend_of_record\n' > "$work/bad.dat"
echo "$work/bad.dat" > "$work/bad_reports.txt"
if err=$("$generator" --reports_file="$work/bad_reports.txt" --output_file="$work/x.dat" 2>&1); then
  fail "malformed input accepted"
fi
grep -q "bad.dat:2: malformed DA record" <<<"$err" || fail "unclear error: $err"
echo PASS
