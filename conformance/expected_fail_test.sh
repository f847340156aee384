#!/usr/bin/env bash
# Runs a negative control under each observer (BPF, ptrace) and passes iff
# the suite FAILs it for exactly the rules listed in its EXPECTED file, both
# times.
set -u
cli="$1"
dir="${TEST_SRCDIR}/mp/$2"
cd "${TEST_SRCDIR}/mp" || exit 1
id=$(cd "$dir" && ls | grep -v '^EXPECTED$')
want=$(sort -u "$dir/EXPECTED")
status=0
for observer in bpf ptrace; do
  out=$("$cli" --observer="$observer" --impl="$dir" --scenario="$id")
  rc=$?
  echo "$out"
  if [[ $rc -ne 1 ]]; then
    echo "expected-fail: $2 did not FAIL under $observer (exit status $rc)"
    status=1
    continue
  fi
  got=$(echo "$out" | sed -n 's/^  violated: \(.*\)  (.*)$/\1/p' | sort -u)
  if [[ "$got" != "$want" ]]; then
    echo "expected-fail: $2 FAILed for the wrong rules under $observer"
    echo "--- wanted:"; echo "$want"
    echo "--- got:"; echo "$got"
    status=1
    continue
  fi
  echo "expected-fail: $2 FAILed for exactly its intended rule(s) under $observer"
done
exit $status
