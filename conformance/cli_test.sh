#!/usr/bin/env bash
# The CLI's contract: exit statuses, result codes, --runs counts, JUnit XML.
set -u
cli="$1"
cd "${TEST_SRCDIR}/mp" || exit 1
tmp="${TEST_TMPDIR:-/tmp}"
fails=0
check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what="$1"
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fails=$((fails + 1)); fi
}

out=$("$cli" --impl=cpython --scenario=process --junit="$tmp/pass.xml"); rc=$?
check "PASS exits 0" test $rc -eq 0
check "progress line names the scenario and result" grep -q '^\[1/1\] process  *PASS' <<<"$out"
check "JUnit has one testcase, no failure" bash -c "grep -q 'tests=\"1\" failures=\"0\"' '$tmp/pass.xml' && grep -q 'name=\"process\"' '$tmp/pass.xml'"

out=$("$cli" --impl=conformance/expected-fail/missing_join --scenario=process --runs=2 --junit="$tmp/fail.xml"); rc=$?
check "FAIL exits 1" test $rc -eq 1
check "--runs shows how many runs failed" grep -q 'FAIL  *2 of 2 runs failed' <<<"$out"
check "FAIL names the rule and its spec line" grep -q 'violated: exited child before end  (conformance/scenarios/process.spec:[0-9]*)' <<<"$out"
check "FAIL shows the offending line with its pid" grep -q '#[0-9]* \[pid [0-9]*\] Child process end\.' <<<"$out"
check "JUnit records the failure" grep -q '<failure message="2 of 2 runs failed"' "$tmp/fail.xml"

mkdir -p "$tmp/empty"
out=$("$cli" --impl="$tmp/empty" --junit="$tmp/unsupported.xml"); rc=$?
check "all UNSUPPORTED exits 0" test $rc -eq 0
check "missing executables are UNSUPPORTED" grep -q '0 PASS, 0 FAIL, 0 UNRESOLVED, 6 UNSUPPORTED' <<<"$out"
check "JUnit marks UNSUPPORTED as skipped" grep -q 'skipped="6"' "$tmp/unsupported.xml"

printf '#!/bin/sh\nexit 0\n' > "$tmp/empty/fork" && chmod +x "$tmp/empty/fork"
out=$("$cli" --impl="$tmp/empty" --scenario=fork); rc=$?
check "a program printing nothing FAILs for missing lines" bash -c "test $rc -eq 1 && grep -q 'violated: line start' <<<'$out'"

"$cli" --bogus >/dev/null 2>&1; rc=$?
check "unknown flag exits 2" test $rc -eq 2
"$cli" --impl=cpython --scenario=nonesuch >/dev/null 2>&1; rc=$?
check "unknown scenario is UNRESOLVED, not FAIL" test $rc -eq 0
"$cli" --transcript=conformance/transcripts/fork.txt >/dev/null 2>&1; rc=$?
check "--transcript without --scenario exits 2" test $rc -eq 2
printf 'spec 1\nscenario x\nline a by nobody "x"\n' > "$tmp/bad.spec"
err=$("$cli" --spec="$tmp/bad.spec" -- /bin/true 2>&1); rc=$?
check "a malformed --spec gives file:line and exits 2" bash -c "test $rc -eq 2 && grep -q 'bad.spec:3: error: unknown process' <<<'$err'"
printf 'spec 1\nscenario x\nprocess root is root\nline a by root "hello"\nexit root code 0\n' > "$tmp/hello.spec"
out=$("$cli" --spec="$tmp/hello.spec" -- /bin/echo hello); rc=$?
check "--spec PASSes a matching program" bash -c "test $rc -eq 0 && grep -q PASS <<<'$out'"
out=$("$cli" --spec="$tmp/hello.spec" -- /bin/echo goodbye); rc=$?
check "--spec FAILs a different output" test $rc -eq 1
exit $((fails > 0))
