#!/usr/bin/env bash
# Runs a negative control and passes iff the suite FAILs it for exactly the
# rules listed in its EXPECTED file.
set -u
cli="$1"
dir="${TEST_SRCDIR}/mp/$2"
cd "${TEST_SRCDIR}/mp" || exit 1
id=$(cd "$dir" && ls | grep -v '^EXPECTED$')
out=$("$cli" --impl="$dir" --scenario="$id")
rc=$?
echo "$out"
if [[ $rc -ne 1 ]]; then
  echo "expected-fail: $2 did not FAIL (exit status $rc)"
  exit 1
fi
got=$(echo "$out" | sed -n 's/^  violated: \(.*\)  (.*)$/\1/p' | sort -u)
want=$(sort -u "$dir/EXPECTED")
if [[ "$got" != "$want" ]]; then
  echo "expected-fail: $2 FAILed for the wrong rules"
  echo "--- wanted:"; echo "$want"
  echo "--- got:"; echo "$got"
  exit 1
fi
echo "expected-fail: $2 FAILed for exactly its intended rule(s)"
